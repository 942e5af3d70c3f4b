"""The production server: cheroot's threaded WSGI server, with TLS when certFile and keyFile are set.

Bottle's default (wsgiref) serves one request at a time, so one pcap download would freeze the
UI; cheroot serves each connection on a pool thread.
"""

from __future__ import annotations

import logging
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


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def serve_until_stopped(server: Any) -> None:
    """Serve until Ctrl-C or SIGTERM, then stop cleanly.

    stop() called from inside the signal handler would wait for serve(), which runs on this very
    thread: the handler leaves serve() by an exception instead, and stop() runs in ``finally``.
    """
    import signal

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
