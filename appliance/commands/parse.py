"""``fukurou parse``: print the sessions of capture files (no store, nothing written)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from appliance.commands._common import EXIT_DAMAGED, EXIT_OK, EXIT_USAGE


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("parse", help="print the sessions of capture files")
    p.add_argument("captures", nargs="+", metavar="CAPTURE", help="pcap, pcapng or gzip-compressed file")
    p.add_argument("--format", choices=("table", "arkime", "jsonl", "summary"), default="table",
                   help="table (default), arkime ({\"sessions3\": [{\"body\": ...}]}), jsonl, or summary "
                        "(only the counts: sessions are built and discarded, for benchmarks)")
    p.add_argument("--no-parsers", action="store_true", help="sessions from L2-L4 only, no protocol parsers")
    p.add_argument("--strict", action="store_true", help="exit 1 when a capture is damaged or truncated")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    from appliance.memory import collect_cycles_less_often
    from appliance.output import SessionWriter
    from appliance.pipeline import parse_capture
    from appliance.readers import CaptureError

    collect_cycles_less_often()
    status = EXIT_OK
    writer = SessionWriter(args.format, sys.stdout, settings.nodeName)
    for path in args.captures:
        try:
            stats = parse_capture(path, settings, writer.write, parsers=not args.no_parsers)
        except BrokenPipeError:
            raise
        except (CaptureError, OSError) as err:
            print(f"fukurou: {err}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        if args.format == "summary":
            errors, corrupt = sum(stats.decode_errors.values()), sum(stats.corrupt.values())
            print(f"{path}: {stats.packets} packets, {stats.bytes} bytes, {stats.sessions} sessions, "
                  f"{errors} undecodable packets, {corrupt} in corrupt-ip sessions")
        if stats.damage is not None:
            print(f"fukurou: {path}: damaged at {stats.damage}; sessions up to there were kept",
                  file=sys.stderr)
            if args.strict:
                status = max(status, EXIT_DAMAGED)
    writer.close()
    return status
