"""``fukurou run``: capture, store, expire and serve in one process, until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from appliance.commands._common import EXIT_USAGE


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run the appliance: live capture, PCAP store, sessions, viewer")
    p.add_argument("--no-viewer", action="store_true", help="do not serve the web viewer")
    p.add_argument("--interface", action="append", metavar="NAME",
                   help="capture on NAME instead of the configured interfaces (repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    from appliance.appliance import run as run_appliance
    from appliance.appliance import setup_logging

    setup_logging(settings.logLevel)
    interfaces = args.interface or list(settings.interface)
    if not interfaces:
        print("fukurou run: no interface to capture on: set interface= in the settings "
              "(`fukurou init` picks one) or give --interface", file=sys.stderr)
        return EXIT_USAGE
    return run_appliance(settings, args.config, viewer=not args.no_viewer, interfaces=interfaces)
