"""``fukurou expire``: apply the retention settings now (``fukurou run`` also does it nightly)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from appliance.commands._common import EXIT_OK, EXIT_USAGE

log = logging.getLogger("fukurou.expire")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("expire", help="delete sessions and pcap files past their retention; reclaim space")
    p.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    p.add_argument("--vacuum", action="store_true",
                   help="once, for a database made before auto_vacuum: VACUUM it (needs its size free on disk)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    import apsw

    from appliance.appliance import setup_logging
    from appliance.retention import expire
    from appliance.status import is_running
    from appliance.store.db import StoreError, open_database

    setup_logging(settings.logLevel)
    running = is_running(settings)
    if args.vacuum and running:
        print("fukurou expire: --vacuum needs the appliance stopped (VACUUM blocks its writer)", file=sys.stderr)
        return EXIT_USAGE
    try:
        conn = open_database(settings.dbPath)
    except StoreError as err:
        print(f"fukurou expire: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        # A running appliance caches term ids in its writer: it prunes terms itself.
        report = expire(conn, settings, dry_run=args.dry_run, prune=not running, vacuum=args.vacuum)
    except apsw.Error as err:
        print(f"fukurou expire: {err}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        conn.close()
    for line in report.lines():
        print(line)
        log.info("%s%s", "dry run: " if args.dry_run else "", line)
    return EXIT_OK
