"""The ``fukurou`` command: one subcommand per job.

Exit codes: 0 done; 1 damaged input under ``--strict`` (a truncated or corrupt capture: every
session up to the damage is still printed, and without ``--strict`` the damage is only reported
on stderr, because a capture cut short by a crash or a full disk is normal and still useful);
2 the command could not run (bad arguments, bad settings, a file that is not a capture).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from appliance import __version__
from appliance.settings import SettingsError, format_effective, load_settings

EXIT_OK, EXIT_DAMAGED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fukurou`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        settings = load_settings(args.config)
    except SettingsError as err:
        print(f"fukurou: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args, settings))
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fukurou", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"fukurou {__version__}")
    parser.add_argument("--config", metavar="FILE", help="settings file (default /etc/fukurou/config.ini)")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("parse", help="print the sessions of capture files")
    p.add_argument("captures", nargs="+", metavar="CAPTURE", help="pcap, pcapng or gzip-compressed file")
    p.add_argument("--format", choices=("table", "arkime", "jsonl"), default="table",
                   help="table (default), arkime ({\"sessions3\": [{\"body\": ...}]}) or jsonl")
    p.add_argument("--no-parsers", action="store_true", help="sessions from L2-L4 only, no protocol parsers")
    p.add_argument("--strict", action="store_true", help="exit 1 when a capture is damaged or truncated")
    p.set_defaults(func=cmd_parse)

    c = sub.add_parser("config", help="print every effective setting and where it came from")
    c.set_defaults(func=cmd_config)
    return parser


def cmd_config(args: argparse.Namespace, settings: Any) -> int:
    print(format_effective(settings))
    return EXIT_OK


def cmd_parse(args: argparse.Namespace, settings: Any) -> int:
    from appliance.output import SessionWriter
    from appliance.pipeline import parse_capture
    from appliance.readers import CaptureError

    status = EXIT_OK
    writer = SessionWriter(args.format, sys.stdout, settings.nodeName)
    for path in args.captures:
        try:
            stats = parse_capture(path, settings, writer.write, parsers=not args.no_parsers)
        except (CaptureError, OSError) as err:
            print(f"fukurou: {err}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        if stats.damage is not None:
            print(f"fukurou: {path}: damaged at {stats.damage}; sessions up to there were kept",
                  file=sys.stderr)
            if args.strict:
                status = max(status, EXIT_DAMAGED)
    writer.close()
    return status


def print_json(obj: Any, out: TextIO = sys.stdout) -> None:
    json.dump(obj, out, separators=(",", ":"))
    out.write("\n")
