"""``fukurou status``: is the appliance running, how is it doing; exit 0 running, 3 not (as systemctl)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("status", help="is `fukurou run` running; rates, drops, disk, oldest data kept")
    p.add_argument("--json", action="store_true", help="print the status as one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    from dataclasses import asdict

    from appliance.status import EXIT_NOT_RUNNING, EXIT_RUNNING, collect, format_status

    status = collect(settings)
    if args.json:
        print(json.dumps({**asdict(status), "stale": status.stale}, indent=1))
    else:
        print(format_status(status), end="")
    return EXIT_RUNNING if status.running else EXIT_NOT_RUNNING
