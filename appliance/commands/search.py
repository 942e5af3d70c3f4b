"""``fukurou search`` and ``fukurou spiview``: Arkime expressions over the session store."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from appliance.commands._common import EXIT_OK, EXIT_USAGE

DEFAULT_FIELDS = ("lastPacket", "ipProtocol", "source.ip", "source.port", "destination.ip",
                  "destination.port", "network.packets", "network.bytes", "protocol")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("search", help="sessions matching an Arkime expression, newest first")
    p.add_argument("expression", nargs="?", default="", help='e.g. "ip.src == 10.0.0.0/8 && port.dst == 443"')
    _common(p)
    p.add_argument("--fields", help="comma-separated fields to show (expression names or paths)")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=run_search)
    s = sub.add_parser("spiview", help="top values (with session counts) of fields")
    s.add_argument("fields", nargs="+", metavar="FIELD")
    s.add_argument("--expression", "-e", default="", help="only sessions matching this expression")
    s.add_argument("--size", type=int, default=10, help="values per field (default 10)")
    _common(s)
    s.set_defaults(func=run_spiview)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--date", type=float, default=None, help="hours back from now (-1: all time, the default)")
    p.add_argument("--start", help="start time (YYYY/MM/DD HH:mm:ss, ISO 8601, epoch s or -1d)")
    p.add_argument("--stop", help="stop time (same forms)")
    p.add_argument("--db", help="database file (default: the dbPath setting)")


def _open(args: argparse.Namespace, settings: Any) -> Any:
    from appliance.query import Searcher
    from appliance.store.db import open_database
    from appliance.store.sessions import SessionStore

    conn = open_database(args.db or settings.dbPath)
    try:
        limit = float(settings.queryTimeLimitS)
    except (AttributeError, KeyError):  # the setting does not exist (yet): the default
        limit = 10.0
    return Searcher(SessionStore(conn), time_limit=limit)


def _times(args: argparse.Namespace) -> Any:
    from appliance.query import TimeRange

    return TimeRange.from_args(args.date, args.start, args.stop)


def run_search(args: argparse.Namespace, settings: Any) -> int:
    from appliance.query import QueryError, QueryTimeout
    from appliance.store.db import StoreError

    try:
        searcher = _open(args, settings)
        rows = searcher.search(args.expression, _times(args), limit=args.limit)
        paths = _paths(searcher, args.fields)
    except (QueryError, QueryTimeout, StoreError) as err:
        print(f"fukurou: {err}", file=sys.stderr)
        return EXIT_USAGE
    _print(rows, ["id", *paths], args.format)
    return EXIT_OK


def _paths(searcher: Any, fields: str | None) -> list[str]:
    if not fields:
        return list(DEFAULT_FIELDS)
    from appliance.query import Compiler

    compiler = Compiler(searcher.store.fields)
    return [compiler.resolve(name.strip(), 0)[0].path for name in fields.split(",") if name.strip()]


def _print(rows: list[dict[str, Any]], paths: list[str], fmt: str) -> None:
    if fmt == "json":
        for row in rows:
            print(json.dumps(row, separators=(",", ":")))
        return
    cells = [[_cell(row.get(p)) for p in paths] for row in rows]
    if fmt == "csv":
        out = csv.writer(sys.stdout)
        out.writerow(paths)
        out.writerows(cells)
        return
    widths = [max([len(p)] + [len(c[i]) for c in cells]) for i, p in enumerate(paths)]
    print("  ".join(p.ljust(w) for p, w in zip(paths, widths, strict=True)).rstrip())
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def run_spiview(args: argparse.Namespace, settings: Any) -> int:
    from appliance.query import QueryError, QueryTimeout
    from appliance.store.db import StoreError

    try:
        searcher = _open(args, settings)
        times = _times(args)
        for name in args.fields:
            top = searcher.spiview(name, args.expression or None, times, args.size)
            print(name)
            for value, count in top:
                print(f"  {count:>10}  {value}")
    except (QueryError, QueryTimeout, StoreError) as err:
        print(f"fukurou: {err}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
