"""``fukurou devices``: the device inventory (appliance/insights/devices.py)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from appliance.commands._common import EXIT_OK, EXIT_USAGE, open_store_or_complain, print_table


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("devices", help="every local device seen (by MAC): vendor, DHCP name, addresses")
    p.add_argument("--days", type=int, default=30, help="traffic and destinations over each device's last days")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--db", help="database file (default: the dbPath setting)")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace, settings: Any) -> int:
    from appliance.insights import devices
    conn = open_store_or_complain(args.db or settings.dbPath)
    if conn is None:
        return EXIT_USAGE
    found = devices.inventory(conn, getattr(settings, "ouiFile", "") or None, max(args.days, 1))
    if args.format == "json":
        print(json.dumps(devices.as_json(found), separators=(",", ":")))
        return EXIT_OK
    head = ("", "mac", "vendor", "dhcp host", "addresses", "first seen", "last seen", "bytes", "top hosts")
    rows = [("new" if d.new else "", d.mac, d.vendor or "", d.dhcp_host or "", ",".join(i["ip"] for i in d.ips),
             _time(d.first_ms), _time(d.last_ms), str(d.bytes), ",".join(h["host"] for h in d.top_hosts[:3]))
            for d in found]
    print_table(head, rows)
    return EXIT_OK


def _time(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))
