"""Aggregates kept as sessions are stored: per (source, day) scan counters and per-device facts.

``SessionStore`` owns one :class:`Batch`, calls :func:`record` for each document it queues and
:func:`write` inside the transaction that writes the batch, so the aggregates commit (or roll
back) with their sessions. ``record`` only touches dicts and sets; the hashing, sketch merging
and upserts happen once per batch and per distinct key, which keeps the cost per session small.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Final

import apsw

from appliance.insights.sketch import Sketch, value_hash
from appliance.memo import remembered
from appliance.store.db import compact, insert_each
from appliance.store.shapes import Document

DAY_MS: Final = 86_400_000
_PORTED: Final = (6, 17, 132)
_NO_SOURCE: Final = ("0.0.0.0", "::")  # DHCP clients before they have an address
# Addresses and MACs remembered: a home network has hundreds; random ones rarely repeat, and at
# 20,000 the store process held ~2 MiB of them on session-heavy traffic.
_LOCAL_CACHE_MAX: Final = 4_096
# One row each per scanning source and batch, through executemany: compact text (db.compact).
_REPLACE_SCAN_DAY: Final = compact(
    "INSERT OR REPLACE INTO scan_days (src, day, sessions, probes, answered, first_ms, last_ms, "
    "gap_n, gap_sum, gap_sumsq, ports_n, hosts_n, ports, hosts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_REPLACE_SCAN_LAST: Final = compact("INSERT OR REPLACE INTO scan_last (src, start_ms) VALUES (?, ?)")


class Batch:
    """What the sessions of one store batch add to the aggregates."""

    def __init__(self) -> None:
        # (src, day) -> [sessions, probes, answered, first_ms, last_ms, ports, hosts]; ports and
        # hosts are lists, not sets (a set is 216 bytes even with one value, and most sources of
        # a batch have one): repeats are dropped as they come in a row, the rest when written.
        self.scans: dict[tuple[str, int], list[Any]] = {}
        self.starts: defaultdict[str, list[int]] = defaultdict(list)
        # (source MACs, destination MACs, local source ip, local destination ip, day)
        #   -> [sessions, bytes, first, last]
        self.flows: dict[tuple[Any, ...], list[int]] = {}
        self.devices: dict[str, list[Any]] = {}  # mac -> [first, last, dhcp host, dhcp class]
        self.ips: dict[tuple[str, str], list[int]] = {}  # (mac, ip) -> [first, last]
        self.days: dict[tuple[str, int], list[int]] = {}  # (mac, day) -> [sessions, bytes]
        self.hosts: dict[tuple[str, str], list[int]] = {}  # (mac, host) -> [sessions, last]
        self.skipped = 0  # documents whose values did not fit (see record)

    def __bool__(self) -> bool:
        return bool(self.scans or self.flows or self.devices)

    def state(self) -> tuple[Any, ...]:
        """The batch as plain values (for marshal: a store's writer process writes it)."""
        return (self.scans, dict(self.starts), self.flows, self.devices, self.ips, self.days, self.hosts,
                self.skipped)

    @classmethod
    def from_state(cls, state: tuple[Any, ...]) -> Batch:
        batch = cls()
        batch.scans, starts, batch.flows, batch.devices, batch.ips, batch.days, batch.hosts, batch.skipped = state
        batch.starts.update(starts)
        return batch


def record(batch: Batch, doc: Document) -> None:
    """Add one flat session document (``documents.flat_document``) to the batch."""
    if doc.get("network.packets", 1) == 0:
        return  # an empty trailing segment of a session already counted: not traffic
    try:
        last = doc["lastPacket"]
        first = doc.get("firstPacket", last)
        src = doc.get("source.ip")
        if src is not None and src not in _NO_SOURCE:
            _record_scan(batch, doc, src, first, last)
        _record_devices(batch, doc, first, last)
    except (TypeError, ValueError, AttributeError):
        # A document not made by flat_document (a string where a count goes): the session is
        # stored as given; it just does not count towards scans and devices.
        batch.skipped += 1


# --- scans -------------------------------------------------------------------------------------

def is_probe(sp: int, dp: int, doc: Document) -> bool:
    """One packet, or a SYN that was never answered with a SYN-ACK (a RST answer is still a probe)."""
    if sp + dp == 1:
        return not is_group(doc.get("destination.ip", ""))  # DHCP, mDNS, SSDP: not probes
    return (doc.get("tcpflags.syn", 0) > 0 and doc.get("tcpflags.syn-ack", 0) == 0
            and doc.get("client.bytes", 0) == 0)


def is_answered(sp: int, dp: int, doc: Document) -> bool:
    """The other side replied, and with data both ways or at least 3 packets in all."""
    if dp == 0:  # three retransmitted SYNs are not an answer
        return False
    return sp + dp >= 3 or (doc.get("client.bytes", 0) > 0 and doc.get("server.bytes", 0) > 0)


def _record_scan(batch: Batch, doc: Document, src: str, first: int, last: int) -> None:
    key = (src, last // DAY_MS)
    agg = batch.scans.get(key)
    if agg is None:
        agg = batch.scans[key] = [0, 0, 0, first, last, [], []]
    sp, dp = doc.get("source.packets", 0), doc.get("destination.packets", 0)
    agg[0] += 1
    if sp <= 3 and is_probe(sp, dp, doc):  # a probe is a SYN (and its retries), maybe a RST back
        agg[1] += 1
    if dp and is_answered(sp, dp, doc):
        agg[2] += 1
    if first < agg[3]:
        agg[3] = first
    if last > agg[4]:
        agg[4] = last
    if doc.get("ipProtocol") in _PORTED:
        _add_new(agg[5], doc.get("destination.port", 0))
    dst = doc.get("destination.ip")
    if dst is not None:
        _add_new(agg[6], dst)
    batch.starts[src].append(first)


def _add_new(values: list[Any], value: Any) -> None:
    if not values or values[-1] != value:
        values.append(value)


def is_group(ip: str) -> bool:
    """Broadcast or multicast destinations (one-packet sessions to them are announcements)."""
    if ip.startswith(("255.", "ff")) or ip.endswith(".255"):
        return True
    head = ip.split(".", 1)[0]
    return head.isdigit() and 224 <= int(head) <= 239


# --- devices -----------------------------------------------------------------------------------

_local_cache: dict[str, bool] = {}


def is_local(ip: str) -> bool:
    """Private, link-local or ULA: an address that names a device on this network."""
    found: bool = remembered(_local_cache, ip, _local, _LOCAL_CACHE_MAX)
    return found


def _local(ip: str) -> bool:
    if ip.startswith(("10.", "192.168.", "169.254.", "fe80:", "fd", "fc")):
        return True
    if ip.startswith("172."):
        second = ip.split(".")[1]
        return second.isdigit() and 16 <= int(second) <= 31
    return False


def is_unicast(mac: Any) -> bool:
    """The group bit (lowest bit of the first octet) is clear; all-zero MACs are no device."""
    if not isinstance(mac, str) or len(mac) != 17:
        return False
    try:
        return not int(mac[:2], 16) & 1 and mac != "00:00:00:00:00:00"
    except ValueError:  # not hex: no MAC address
        return False


_unicast_cache: dict[str, bool] = {}


def _unicast(mac: Any) -> bool:
    found: bool = remembered(_unicast_cache, mac, is_unicast, _LOCAL_CACHE_MAX)
    return found


def _record_devices(batch: Batch, doc: Document, first: int, last: int) -> None:
    # The hottest code here: one coarse key per session (MACs, local addresses, day), expanded to
    # devices, addresses and days once per key at write time. A home network repeats these keys
    # all day, so most sessions cost one dict update.
    smacs, dmacs = doc.get("source.mac"), doc.get("destination.mac")
    if smacs or dmacs:
        sip, dip = doc.get("source.ip"), doc.get("destination.ip")
        if sip is not None and not is_local(sip):
            sip = None
        if dip is not None and not is_local(dip):
            dip = None
        key = (_macs(smacs) if smacs else (), _macs(dmacs) if dmacs else (), sip, dip, last // DAY_MS)
        flow = batch.flows.get(key)
        if flow is None:
            batch.flows[key] = [1, doc.get("network.bytes", 0), first, last]
        else:
            flow[0] += 1
            flow[1] += doc.get("network.bytes", 0)
            if first < flow[2]:
                flow[2] = first
            if last > flow[3]:
                flow[3] = last
        if smacs and ("http.host" in doc or "dns" in doc or "quic.host" in doc):
            for mac in smacs:
                if _unicast(mac):
                    _destinations(batch, doc, mac, last)
    if "dhcp.mac" in doc:
        _record_dhcp(batch, doc, first, last)
    if "arp.mac" in doc:
        _record_arp(batch, doc, first, last)


_one_mac: dict[Any, tuple[Any, ...]] = {}


def _macs(macs: Any) -> tuple[Any, ...]:
    """The MACs of one side as a tuple for a flow key; one tuple shared by all the keys of a MAC
    (most sides have one, and a network has few): 114 bytes less for each key of a batch."""
    if len(macs) != 1:
        return tuple(macs)
    found: tuple[Any, ...] = remembered(_one_mac, macs[0], _single, _LOCAL_CACHE_MAX)
    return found


def _single(mac: Any) -> tuple[Any, ...]:
    return (mac,)


def _expand_flows(batch: Batch) -> None:
    """Devices, addresses and bytes per day from the batch's flow keys."""
    for (smacs, dmacs, sip, dip, day), (n, nbytes, first, last) in batch.flows.items():
        src = [m for m in smacs if _unicast(m)]
        dst = [m for m in dmacs if _unicast(m)]
        for mac in src + [m for m in dst if m not in src]:  # ARP lists both MACs on both sides
            dev = batch.devices.setdefault(mac, [first, last, None, None])
            dev[0], dev[1] = min(dev[0], first), max(dev[1], last)
            per_day = batch.days.setdefault((mac, day), [0, 0])
            per_day[0] += n
            per_day[1] += nbytes
        # With two MACs on one side (a router's both legs) the address could be either's.
        for macs, ip in ((src, sip), (dst, dip)):
            if len(macs) == 1 and ip is not None:
                _ip(batch, macs[0], ip, first, last)


def _ip(batch: Batch, mac: str, ip: str, first: int, last: int) -> None:
    span = batch.ips.get((mac, ip))
    if span is None:
        batch.ips[(mac, ip)] = [first, last]
    else:
        span[0], span[1] = min(span[0], first), max(span[1], last)


def _destinations(batch: Batch, doc: Document, mac: str, last: int) -> None:
    hosts = batch.hosts
    names = [*(doc.get("http.host") or ()), *(doc.get("quic.host") or ())]
    for query in doc.get("dns") or ():
        if isinstance(query, dict) and query.get("queryHost"):
            names.append(query["queryHost"])
    for name in names:
        entry = hosts.get((mac, name))
        if entry is None:
            hosts[(mac, name)] = [1, last]
        else:
            entry[0] += 1
            if last > entry[1]:
                entry[1] = last


def _record_dhcp(batch: Batch, doc: Document, first: int, last: int) -> None:
    hosts, classes = doc.get("dhcp.host") or [None], doc.get("dhcp.classId") or [None]
    requested = [ip for ip in doc.get("dhcp.requestIp") or () if ip != "0.0.0.0"]
    for mac in doc["dhcp.mac"]:
        if not is_unicast(mac):
            continue
        dev = batch.devices.setdefault(mac, [first, last, None, None])
        dev[2] = hosts[-1] or dev[2]
        dev[3] = classes[-1] or dev[3]
        for ip in requested:
            _ip(batch, mac, ip, first, last)


def _record_arp(batch: Batch, doc: Document, first: int, last: int) -> None:
    # One ARP session per address asked about: a MAC that answered owns that address.
    ips = doc.get("arp.ip") or []
    if len(ips) != 1:
        return
    for mac in doc["arp.mac"]:
        if is_unicast(mac):
            dev = batch.devices.setdefault(mac, [first, last, None, None])
            dev[0], dev[1] = min(dev[0], first), max(dev[1], last)
            _ip(batch, mac, ips[0], first, last)


# --- writing -----------------------------------------------------------------------------------

def write(conn: apsw.Connection, batch: Batch) -> None:
    """Fold the batch into the tables (call inside the store's batch transaction)."""
    if batch.scans:
        _write_scans(conn, batch)
    _expand_flows(batch)
    if batch.devices:
        _write_devices(conn, batch)


def _write_scans(conn: apsw.Connection, batch: Batch) -> None:
    gaps = _gaps(conn, batch)
    # In key order, reads and writes alike (see _write_devices): ~1.8 µs a session less on
    # traffic from ~90,000 sources.
    keys = sorted(batch.scans)
    stored = _stored_scans(conn, keys)
    rows = []
    for src, day in keys:
        n, probes, answered, first, last, ports, hosts = batch.scans[(src, day)]
        o = stored.get((src, day))
        gn, gs, gq = gaps.get((src, day), (0, 0.0, 0.0))
        port_sketch, host_sketch = Sketch(), Sketch()
        if o is not None:
            n, probes, answered = n + o[0], probes + o[1], answered + o[2]
            first, last = min(first, o[3]), max(last, o[4])
            gn, gs, gq = gn + o[5], gs + o[6], gq + o[7]
            port_sketch, host_sketch = Sketch.decode(o[8]), Sketch.decode(o[9])
        port_sketch.add_hashes(value_hash(p) for p in set(ports))
        host_sketch.add_hashes(value_hash(h) for h in set(hosts))
        rows.append((src, day, n, probes, answered, first, last, gn, gs, gq, port_sketch.count(),
                     host_sketch.count(), port_sketch.encode(), host_sketch.encode()))
    conn.executemany(_REPLACE_SCAN_DAY, rows)


def _gaps(conn: apsw.Connection, batch: Batch) -> dict[tuple[str, int], tuple[int, float, float]]:
    """(count, sum, sum of squares) of the gaps in seconds between each source's session starts,
    by the day of the later start; the last start is kept so gaps continue across batches.
    Sessions are saved when they end, so a start older than the previous one is skipped."""
    out: defaultdict[tuple[str, int], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    ends = []
    sources = sorted(batch.starts)
    last_starts = _last_starts(conn, sources)
    for src in sources:
        starts = batch.starts[src]
        prev = last_starts.get(src)
        for t in sorted(starts):
            if prev is not None and t >= prev:
                gap = (t - prev) / 1000.0
                acc = out[(src, t // DAY_MS)]
                acc[0] += 1
                acc[1] += gap
                acc[2] += gap * gap
            prev = t if prev is None else max(prev, t)
        ends.append((src, prev))
    conn.executemany(_REPLACE_SCAN_LAST, ends)
    return {k: (int(v[0]), v[1], v[2]) for k, v in out.items()}


# Rows are read for a whole batch at once, a few hundred keys per query: one statement per
# source cost more than the rest of the batch's aggregates on traffic with many sources.
_KEYS_PER_QUERY: Final = 400


def _rows_for(conn: apsw.Connection, select: str, keys: list[tuple[Any, ...]]) -> list[Any]:
    """The rows of ``select`` (a query ending in ``IN``) for the given key tuples."""
    rows: list[Any] = []
    for i in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = keys[i:i + _KEYS_PER_QUERY]
        one = "(" + ", ".join(["?"] * len(chunk[0])) + ")"
        params = [part for key in chunk for part in key]
        rows += conn.execute(f"{select} (VALUES {', '.join([one] * len(chunk))})", params).fetchall()
    return rows


def _stored_scans(conn: apsw.Connection, keys: list[tuple[str, int]]) -> dict[tuple[str, int], list[Any]]:
    """(src, day) -> [sessions, probes, answered, first_ms, last_ms, gap_n, gap_sum, gap_sumsq,
    ports, hosts] of the keys already stored."""
    rows = _rows_for(conn, "SELECT src, day, sessions, probes, answered, first_ms, last_ms, gap_n, gap_sum, "
                           "gap_sumsq, ports, hosts FROM scan_days WHERE (src, day) IN", list(keys))
    return {(row[0], row[1]): list(row[2:]) for row in rows}


def _last_starts(conn: apsw.Connection, sources: list[str]) -> dict[str, int]:
    rows = _rows_for(conn, "SELECT src, start_ms FROM scan_last WHERE src IN", [(src,) for src in sources])
    return {src: start for src, start in rows}


def _write_devices(conn: apsw.Connection, batch: Batch) -> None:
    # Each table's rows in key order: consecutive upserts then land in neighbouring pages, which
    # SQLite's cache still holds. In arrival order, (device, host) pairs of a store with months
    # of them hit a page of their own each: a third of this function's time, sorting included.
    # Sorted by key, then looked up: sorting the (key, value) items compared tuples of tuples
    # generically, where keys of strings sort with CPython's string fast path.
    devices, ips, days, hosts = batch.devices, batch.ips, batch.days, batch.hosts
    insert_each(
        conn, "INSERT INTO devices (mac, first_ms, last_ms, dhcp_host, dhcp_class) VALUES ",
        [(mac, *devices[mac]) for mac in sorted(devices)],
        " ON CONFLICT (mac) DO UPDATE SET first_ms = min(first_ms, excluded.first_ms), "
        "last_ms = max(last_ms, excluded.last_ms), dhcp_host = coalesce(excluded.dhcp_host, dhcp_host), "
        "dhcp_class = coalesce(excluded.dhcp_class, dhcp_class)")
    insert_each(
        conn, "INSERT INTO device_ips (mac, ip, first_ms, last_ms) VALUES ", [(*k, *ips[k]) for k in sorted(ips)],
        " ON CONFLICT (mac, ip) DO UPDATE SET first_ms = min(first_ms, excluded.first_ms), "
        "last_ms = max(last_ms, excluded.last_ms)")
    insert_each(
        conn, "INSERT INTO device_days (mac, day, sessions, bytes) VALUES ", [(*k, *days[k]) for k in sorted(days)],
        " ON CONFLICT (mac, day) DO UPDATE SET sessions = sessions + excluded.sessions, bytes = bytes + excluded.bytes")
    insert_each(
        conn, "INSERT INTO device_hosts (mac, host, sessions, last_ms) VALUES ",
        [(*k, *hosts[k]) for k in sorted(hosts)],
        " ON CONFLICT (mac, host) DO UPDATE SET sessions = sessions + excluded.sessions, "
        "last_ms = max(last_ms, excluded.last_ms)")


def expire(conn: apsw.Connection, before_ms: int) -> int:
    """Drop aggregate rows of days wholly before ``before_ms`` (for retention); returns rows dropped.

    Devices themselves are kept (an inventory outlives the sessions), as are their addresses.
    """
    day = before_ms // DAY_MS
    with conn:
        dropped = 0
        for sql in ("DELETE FROM scan_days WHERE day < ?", "DELETE FROM device_days WHERE day < ?"):
            conn.execute(sql, (day,))
            dropped += conn.changes()
        conn.execute("DELETE FROM device_hosts WHERE last_ms < ?", (day * DAY_MS,))
        dropped += conn.changes()
    return dropped
