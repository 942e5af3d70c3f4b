"""The production server: cheroot's threaded WSGI server, with TLS when certFile and keyFile are set.

Bottle's default (wsgiref) serves one request at a time, so one pcap download would freeze the
UI; cheroot serves each connection on a pool thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import apsw

from appliance.store.db import open_database
from appliance.web.app import make_app

log = logging.getLogger(__name__)
THREADS = 8  # a home router has 2-4 cores; 8 threads cover slow clients and downloads


def conn_factory(settings: Any) -> Any:
    """A function opening one connection to the store per server thread."""
    def open_conn() -> apsw.Connection:
        return open_database(settings.dbPath)
    return open_conn


def build_server(settings: Any, host: str | None = None, port: int | None = None) -> Any:
    """A ready (not yet started) cheroot server for the viewer."""
    from cheroot import wsgi

    app = make_app(settings, conn_factory(settings))
    bind = (host if host is not None else (settings.viewHost or "0.0.0.0"),
            port if port is not None else settings.viewPort)
    server = wsgi.Server(bind, app, numthreads=THREADS, server_name="fukurou")
    if settings.certFile and settings.keyFile:
        from cheroot.ssl.builtin import BuiltinSSLAdapter

        server.ssl_adapter = BuiltinSSLAdapter(settings.certFile, settings.keyFile)
    return server


def scheme(settings: Any) -> str:
    return "https" if settings.certFile and settings.keyFile else "http"


def serve_until_stopped(server: Any) -> None:
    """Serve until Ctrl-C or SIGTERM, then stop cleanly.

    The signal handler only sets a flag; a helper thread then calls ``stop()``, the way cheroot
    is meant to be stopped (from another thread: ``serve()`` returns once the server is no longer
    ready). An exception raised by the handler into ``serve()`` could land anywhere in cheroot's
    connection handling, and once in a while shutting down then hung.
    """
    import signal

    stopping = threading.Event()

    def request_stop(*_: Any) -> None:
        stopping.set()

    def stop_when_asked() -> None:
        stopping.wait()
        server.stop()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    stopper = threading.Thread(target=stop_when_asked, name="viewer-stop", daemon=True)
    stopper.start()
    try:
        server.serve()
    finally:
        stopping.set()  # serve() ended on its own (an error): stop what it started
        stopper.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
