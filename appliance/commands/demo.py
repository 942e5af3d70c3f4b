"""``fukurou demo``: the appliance on its bundled sample capture, with nothing configured.

Needs no interface, no settings file and no root: it reads ``appliance/data/sample.pcap`` (a
few real captures from Arkime's test suite, Apache-2.0, see ``appliance/data/NOTICE``) and
shows the sessions it finds.
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources
from typing import Any

from appliance.commands._common import EXIT_OK


def sample_capture() -> str:
    """Path of the bundled sample capture."""
    return str(resources.files("appliance") / "data" / "sample.pcap")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="show the appliance working on a bundled sample capture")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Any) -> int:
    from appliance.output import SessionWriter
    from appliance.pipeline import parse_capture

    path = sample_capture()
    print(f"Fukurou demo: sessions of the bundled capture {path}\n")
    started = time.perf_counter()
    writer = SessionWriter("table", sys.stdout, settings.nodeName)
    stats = parse_capture(path, settings, writer.write)
    writer.close()
    elapsed = time.perf_counter() - started
    print(f"\n{stats.packets} packets, {stats.sessions} sessions in {elapsed:.2f} s. "
          "Try: fukurou parse --format jsonl YOUR.pcap")
    return EXIT_OK
