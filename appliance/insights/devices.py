"""The device inventory: every unicast MAC seen, with what DHCP, ARP and its sessions say.

Read from the ``devices``, ``device_ips``, ``device_days`` and ``device_hosts`` tables (see
aggregates.py). "New" is relative to the newest data, not the wall clock, so an imported capture
shows its own new devices: first seen within ``NEW_MS`` of the newest sighting, and not present
since the start of the data (otherwise every device of a short capture would be new).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import apsw

from appliance.insights.aggregates import DAY_MS
from appliance.insights.oui import Vendors

NEW_MS = DAY_MS
TOP_HOSTS = 10


@dataclass
class Device:
    mac: str
    vendor: str | None
    dhcp_host: str | None
    dhcp_class: str | None
    first_ms: int
    last_ms: int
    new: bool = False
    ips: list[dict[str, Any]] = field(default_factory=list)
    bytes_per_day: list[dict[str, int]] = field(default_factory=list)
    sessions: int = 0
    bytes: int = 0
    top_hosts: list[dict[str, Any]] = field(default_factory=list)
    expression: str = ""


def inventory(conn: apsw.Connection, oui_file: str | None = None, days: int = 30) -> list[Device]:
    """Every device, newest sighting first; traffic and destinations over its last ``days`` days."""
    vendors = Vendors(oui_file)
    rows = conn.execute("SELECT mac, dhcp_host, dhcp_class, first_ms, last_ms FROM devices "
                        "ORDER BY last_ms DESC, mac").fetchall()
    if not rows:
        return []
    devices = {r[0]: Device(r[0], vendors.vendor(r[0]), r[1], r[2], r[3], r[4]) for r in rows}
    _mark_new(list(devices.values()))
    _add_ips(conn, devices)
    _add_days(conn, devices, days)
    _add_hosts(conn, devices, days)
    for d in devices.values():
        d.expression = f"(mac.src == {d.mac} || mac.dst == {d.mac}) && packets >= 1"
    return list(devices.values())


def _mark_new(devices: list[Device]) -> None:
    earliest = min(d.first_ms for d in devices)
    newest = max(d.last_ms for d in devices)
    for d in devices:
        d.new = d.first_ms >= newest - NEW_MS and d.first_ms > earliest + NEW_MS


def _add_ips(conn: apsw.Connection, devices: dict[str, Device]) -> None:
    for mac, ip, first, last in conn.execute("SELECT mac, ip, first_ms, last_ms FROM device_ips ORDER BY first_ms"):
        if mac in devices:
            devices[mac].ips.append({"ip": ip, "first_ms": first, "last_ms": last})


def _add_days(conn: apsw.Connection, devices: dict[str, Device], days: int) -> None:
    # Each device's own last ``days`` days: a device gone last month still shows its traffic.
    for mac, day, sessions, nbytes in conn.execute(
            "SELECT g.mac, g.day, g.sessions, g.bytes FROM device_days g JOIN devices d USING (mac) "
            "WHERE g.day > d.last_ms / ? - ? ORDER BY g.day", (DAY_MS, max(days, 1))):
        d = devices.get(mac)
        if d is not None:
            d.bytes_per_day.append({"day_ms": day * DAY_MS, "sessions": sessions, "bytes": nbytes})
            d.sessions += sessions
            d.bytes += nbytes


def _add_hosts(conn: apsw.Connection, devices: dict[str, Device], days: int) -> None:
    # The top names of each device in one query (a window function), not one query per device.
    top: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for mac, host, sessions, last in conn.execute(
            "SELECT mac, host, sessions, last_ms FROM (SELECT h.mac, h.host, h.sessions, h.last_ms, row_number() "
            "OVER (PARTITION BY h.mac ORDER BY h.sessions DESC, h.host) AS n FROM device_hosts h "
            "JOIN devices d USING (mac) WHERE h.last_ms >= d.last_ms - ?) WHERE n <= ?",
            (max(days, 1) * DAY_MS, TOP_HOSTS)):
        top[mac].append({"host": host, "sessions": sessions, "last_ms": last})
    for mac, hosts in top.items():
        if mac in devices:
            devices[mac].top_hosts = hosts


def as_json(devices: list[Device]) -> dict[str, Any]:
    return {"data": [asdict(d) for d in devices], "recordsTotal": len(devices)}
