"""``fukurou config``: every effective setting and where it came from."""

from __future__ import annotations

import argparse
from typing import Any

from appliance.commands._common import EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("config", help="print every effective setting and where it came from")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    from appliance.settings import format_effective

    print(format_effective(settings))
    return EXIT_OK
