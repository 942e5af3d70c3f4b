"""``fukurou scans``: sources ranked by how scan-like they were (appliance/insights/scans.py)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from appliance.commands._common import EXIT_OK, EXIT_USAGE, open_store_or_complain, print_table


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("scans", help="sources ranked by how scan-like they were over the last days")
    p.add_argument("--days", type=int, default=30, help="days back from the newest data (default 30)")
    p.add_argument("--limit", type=int, default=20, help="rows to show (default 20)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--db", help="database file (default: the dbPath setting)")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace, settings: Any) -> int:
    from appliance.insights import scans
    conn = open_store_or_complain(args.db or settings.dbPath)
    if conn is None:
        return EXIT_USAGE
    found, span = scans.find_scanners(conn, max(args.days, 1), max(args.limit, 1))
    if args.format == "json":
        print(json.dumps(scans.as_json(found, span), separators=(",", ":")))
        return EXIT_OK
    _table(found)
    return EXIT_OK


def _table(found: list[Any]) -> None:
    head = ("", "source", "score", "sessions", "probe%", "ports", "hosts", "answered", "gap mean/sd (s)")
    rows = [("!" if s.flagged else "", s.src, f"{s.score:.1f}", str(s.sessions), f"{100 * s.probe_share:.0f}",
             str(s.ports), str(s.hosts), str(s.answered), _gaps(s)) for s in found]
    print_table(head, rows)
    for s in found:
        if s.flagged:
            print(f"\n{s.src}: sessions: {s.expression}")
            for a in s.answered_probes:
                print(f"  answered: {a['dst']}:{a['port']} ({a['sessions']} sessions)")


def _gaps(s: Any) -> str:
    if s.gap_mean is None:
        return ""
    return f"{s.gap_mean:.0f}/{s.gap_sd:.0f}"
