"""``fukurou serve``: run the web viewer on viewHost:viewPort (HTTPS when certFile and keyFile are set)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from appliance.commands._common import EXIT_OK, EXIT_USAGE


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the web viewer")
    p.add_argument("--host", help="listen address (default: viewHost; empty means all)")
    p.add_argument("--port", type=int, help="listen port (default: viewPort, 8005)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    from appliance.store.db import StoreError, open_database
    from appliance.web.server import build_server, scheme, serve_until_stopped
    from appliance.web.users import Users

    logging.basicConfig(level=getattr(logging, settings.logLevel.upper()), stream=sys.stderr,
                        format="fukurou: %(message)s")
    try:
        conn = open_database(settings.dbPath)  # migrate once, before the threads open their own
    except StoreError as err:
        print(f"fukurou serve: {err}", file=sys.stderr)
        return EXIT_USAGE
    if Users(conn).count() == 0:
        print("fukurou serve: no users yet; add one with `fukurou user add NAME --admin`", file=sys.stderr)
    conn.close()
    try:
        server = build_server(settings, args.host, args.port)
        server.prepare()
    except (OSError, ImportError) as err:
        print(f"fukurou serve: {err}", file=sys.stderr)
        return EXIT_USAGE
    host, port = server.bind_addr[:2]
    print(f"viewer on {scheme(settings)}://{host}:{port}/", flush=True)
    serve_until_stopped(server)
    return EXIT_OK
