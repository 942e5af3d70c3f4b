"""``fukurou demo``: the appliance on its bundled sample capture, with nothing configured.

Needs no interface, no settings file and no root. It imports ``appliance/data/sample.pcap`` (a few
real captures from Arkime's test suite, Apache-2.0, see ``appliance/data/NOTICE``) into a
temporary data folder, adds a ``demo`` user with a random password (printed once) and serves the
viewer on 127.0.0.1 until Ctrl-C, which removes the folder. ``--no-serve`` prints the sessions
table instead and exits.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import time
from importlib import resources
from typing import Any

from appliance.commands._common import EXIT_OK, EXIT_USAGE

DEMO_USER = "demo"


def sample_capture() -> str:
    """Path of the bundled sample capture."""
    return str(resources.files("appliance") / "data" / "sample.pcap")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="the appliance on a bundled sample capture: import it and serve the viewer")
    p.add_argument("--no-serve", action="store_true", help="print the sessions table and exit")
    p.add_argument("--port", type=int, help="viewer port (default: viewPort if free, else any free port)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    folder = tempfile.mkdtemp(prefix="fukurou-demo-")
    demo = settings.replace(pcapDir=os.path.join(folder, "pcap"), dbPath=os.path.join(folder, "fukurou.db"),
                            interface=(), pcapImportDir="", viewHost="127.0.0.1", certFile="", keyFile="")
    try:
        _import(demo, table=args.no_serve)
        if args.no_serve:
            return EXIT_OK
        return _serve(demo, args.port)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the demo leaves nothing behind


def _import(settings: Any, table: bool) -> None:
    """Import the sample into the demo store; with ``table``, print each session as it is saved."""
    from appliance.capture.importer import Importer
    from appliance.capture.sink import PacketSink, SessionOutput
    from appliance.output import SessionWriter
    from appliance.pcapstore.writer import PcapWriter
    from appliance.store.db import open_database

    path = sample_capture()
    started = time.perf_counter()
    conn = open_database(settings.dbPath)
    writer = SessionWriter("table", sys.stdout, settings.nodeName) if table else None
    output = SessionOutput(conn, settings.nodeName, callback=writer.write if writer else None)
    pcap = PcapWriter(conn, settings)
    sink = PacketSink(settings, pcap, output)
    if table:
        print(f"Fukurou demo: sessions of the bundled capture {path}\n")
    Importer(conn, sink, None, output.flush, output.tick).import_file(path)
    pcap.close()
    output.flush()
    if writer is not None:
        writer.close()
    conn.close()
    print(f"\n{sink.packets} packets, {sink.sessions} sessions imported in {time.perf_counter() - started:.2f} s.",
          flush=True)


def _free_port(preferred: int) -> int:
    """``preferred`` if nothing listens there on 127.0.0.1, else a port the kernel picks."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    return 0


def _serve(settings: Any, port: int | None) -> int:
    import secrets  # here, not at the top: it loads OpenSSL (hmac), which no other command needs

    from appliance.store.db import open_database
    from appliance.web.server import build_server, serve_until_stopped
    from appliance.web.users import Users

    password = secrets.token_urlsafe(12)
    conn = open_database(settings.dbPath)
    Users(conn).add(DEMO_USER, password, "admin")
    conn.close()
    try:
        server = build_server(settings, "127.0.0.1", port or _free_port(settings.viewPort))
        server.prepare()
    except (OSError, ImportError) as err:
        print(f"fukurou demo: cannot serve the viewer: {err}", file=sys.stderr)
        return EXIT_USAGE
    host, bound = server.bind_addr[:2]
    print(f"\nData folder (deleted at the end): {os.path.dirname(settings.dbPath)}")
    print(f"The viewer: http://{host}:{bound}/\nLog in as {DEMO_USER} with password {password}\n"
          "(the password is shown only now; Ctrl-C stops the demo and deletes its data)", flush=True)
    serve_until_stopped(server)
    return EXIT_OK
