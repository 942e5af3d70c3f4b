#!/usr/bin/env python3
"""The scan finder and device inventory: page latency over 30 days, and what the aggregates cost.

    python3 benchmarks/scans.py                       # 2,000,000 sessions over 30 days
    python3 benchmarks/scans.py --sessions 200000     # quicker

1. Import cost: the same ``--cost-sessions`` generated documents (benchmarks/store.py's home mix)
   go through ``SessionStore.add`` + commits with the aggregates off, then on (best of
   ``--rounds``); with ``--pcap`` the whole import path (parse + store) is timed as well.
2. Latency: ``--sessions`` documents over 30 days (the home mix, plus internet background noise:
   one-packet SYNs from 20,000 addresses, and three scanners: a slow one over 5 days, an nmap-like
   sweep, a telnet sweep of a /24) fill the aggregate tables; then the scans ranking and the device
   inventory are timed (5 runs each). Only the scanners' own sessions are written to the
   sessions table (the answered-probes lookup needs them); the aggregates do not read it.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from store import generated  # noqa: E402

from appliance.insights import aggregates, devices, scans  # noqa: E402
from appliance.store.db import open_database  # noqa: E402
from appliance.store.sessions import SessionStore  # noqa: E402
from appliance.store.shapes import document  # noqa: E402

DAY_MS = 86_400_000
SCANNERS = ("198.51.100.7", "203.0.113.66", "192.0.2.23")


def probe(src: str, dst: str, dport: int, t: int, answered: bool, sport: int) -> dict[str, Any]:
    """A SYN answered by RST, or (open port) by SYN-ACK then reset by the scanner."""
    sp, dp = (2, 1) if answered else (1, 1)
    return {"node": "fukurou", "firstPacket": t, "lastPacket": t + 1, "length": 1,
            "packetRange": {"gte": t, "lte": t + 1}, "ipProtocol": 6, "segmentCnt": 1, "protocol": ["tcp"],
            "source.packets": sp, "destination.packets": dp, "source.bytes": 60 * sp, "destination.bytes": 60 * dp,
            "network.packets": sp + dp, "network.bytes": 60 * (sp + dp), "client.bytes": 0, "server.bytes": 0,
            "totDataBytes": 0, "ethertype": 2048, "source.ip": src, "destination.ip": dst, "source.port": sport,
            "destination.port": dport, "source.mac": ["02:00:00:00:00:01"],
            "destination.mac": ["02:00:00:00:01:05"], "tcpflags.syn": 1, "tcpflags.syn-ack": int(answered),
            "tcpflags.ack": 0, "tcpflags.psh": 0, "tcpflags.fin": 0, "tcpflags.rst": 1, "tcpflags.urg": 0,
            "tcpflags.srcZero": 0, "tcpflags.dstZero": 0}


def scanner_docs(now_ms: int, rnd: random.Random) -> list[dict[str, Any]]:
    start = now_ms - 20 * DAY_MS
    docs = []
    t = start
    for port in _ports(rnd, (22, 8080)):  # slow: 5-15 minutes apart (about 7 days)
        docs.append(probe(SCANNERS[0], "192.168.1.5", port, t, port in (22, 8080), rnd.randint(32768, 60999)))
        t += rnd.randint(300_000, 900_000)
    t = start + 3 * DAY_MS
    for port in _ports(rnd, (22, 443)):  # nmap -sS: one source port, 2 ms apart
        docs.append(probe(SCANNERS[1], "192.168.1.5", port, t, port in (22, 443), 54321))
        t += 2
    for host in range(1, 255):  # telnet sweep of the /24
        docs.append(probe(SCANNERS[2], f"192.168.1.{host}", 23, t + host * 50, False, 40000 + host))
    return docs


def _ports(rnd: random.Random, open_ports: tuple[int, ...]) -> list[int]:
    """1,000 random ports, the open ones among them."""
    others = [p for p in rnd.sample(range(1, 65536), 1000) if p not in open_ports][:1000 - len(open_ports)]
    ports = others + list(open_ports)
    rnd.shuffle(ports)
    return ports


def noise(rnd: random.Random, now_ms: int, n: int) -> Iterator[dict[str, Any]]:
    """Background radiation: a SYN or two from each of many addresses, to random ports."""
    pool = [f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
            for _ in range(20_000)]
    for _ in range(n):
        t = now_ms - rnd.randrange(30 * DAY_MS)
        doc = probe(rnd.choice(pool), "192.168.1.1", rnd.choice((22, 23, 80, 443, 3389, 8080, 5555)), t, False,
                    rnd.randint(1024, 65535))
        doc["destination.packets"] = doc["network.packets"] = doc["source.packets"] = 1
        yield doc


def import_cost(n: int, rounds: int, now_ms: int) -> tuple[float, float, float]:
    """(sessions/s without, with the aggregates, share of the time spent in them): best of
    ``rounds`` each, alternating."""
    docs = list(generated(n, now_ms))
    best = {False: 0.0, True: 0.0}
    share = 1.0
    for _ in range(rounds):
        for on in (False, True):
            folder = tempfile.mkdtemp(prefix="fukurou-bench-")
            conn = open_database(os.path.join(folder, "s.db"))
            store = SessionStore(conn)
            if not on:
                store.insights = None
            with Stopwatch() as watch:
                t0 = time.perf_counter()
                for doc in docs:
                    store.add(doc)
                store.flush()
                total = time.perf_counter() - t0
            best[on] = max(best[on], n / total)
            if on:
                share = min(share, watch.spent / total)
            conn.close()
            shutil.rmtree(folder)
    return best[False], best[True], share


class Stopwatch:
    """Wraps aggregates.record and aggregates.write (SessionStore calls them through the module)
    and adds up their time: a direct measure, steadier than the difference of two noisy runs."""

    def __init__(self) -> None:
        self.spent = 0.0
        self.saved = (aggregates.record, aggregates.write)

    def __enter__(self) -> Stopwatch:
        record, write = self.saved

        def timed_record(batch: Any, doc: Any) -> None:
            t0 = time.perf_counter()
            record(batch, doc)
            self.spent += time.perf_counter() - t0

        def timed_write(conn: Any, batch: Any) -> None:
            t0 = time.perf_counter()
            write(conn, batch)
            self.spent += time.perf_counter() - t0

        aggregates.record, aggregates.write = timed_record, timed_write  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: Any) -> None:
        aggregates.record, aggregates.write = self.saved  # type: ignore[assignment]


def pcap_cost(path: str, rounds: int) -> tuple[float, float, float]:
    """(packets/s without, with the aggregates, share of the import spent in them) of parse + store."""
    from appliance.documents import flat_document
    from appliance.pipeline import parse_capture
    from appliance.settings import Settings

    best = {False: 0.0, True: 0.0}
    share = 1.0
    for _ in range(rounds):
        for on in (False, True):
            folder = tempfile.mkdtemp(prefix="fukurou-bench-")
            conn = open_database(os.path.join(folder, "s.db"))
            store = SessionStore(conn)
            if not on:
                store.insights = None
            with Stopwatch() as watch:
                t0 = time.perf_counter()
                stats = parse_capture(path, Settings(), lambda s, st=store: st.add(flat_document(s)))
                store.flush()
                total = time.perf_counter() - t0
            best[on] = max(best[on], stats.packets / total)
            if on:
                share = min(share, watch.spent / total)
            conn.close()
            shutil.rmtree(folder)
    return best[False], best[True], share


def fill(conn: Any, n: int, now_ms: int) -> float:
    """Aggregates of ``n`` sessions (home mix + noise + scanners), in store-sized batches; seconds."""
    rnd = random.Random(5)
    extra = scanner_docs(now_ms, rnd)
    home = generated(max(n - len(extra) - n // 20, 0), now_ms)
    store = SessionStore(conn)
    for doc in extra:
        store.add(doc)
    store.flush()
    spent, done = 0.0, len(extra)
    stream = iter([*home, *noise(rnd, now_ms, n // 20)]) if n <= 200_000 else _chain(home, noise(rnd, now_ms, n // 20))
    while True:
        chunk = [d for _, d in zip(range(5000), stream, strict=False)]
        if not chunk:
            return spent
        t0 = time.perf_counter()
        batch = aggregates.Batch()
        for doc in chunk:
            aggregates.record(batch, document(doc))
        with conn:
            aggregates.write(conn, batch)
        spent += time.perf_counter() - t0
        done += len(chunk)
        print(f"\r  {done:,} sessions", end="", file=sys.stderr, flush=True)


def _chain(*parts: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for part in parts:
        yield from part


def latency(fn: Any, repeat: int = 5) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=2_000_000, help="sessions over 30 days for the latency test")
    ap.add_argument("--cost-sessions", type=int, default=20_000, help="sessions for the import-cost test")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pcap", help="also time parse + store of this capture, aggregates off and on")
    args = ap.parse_args(argv)
    now_ms = int(time.time() * 1000)

    off, on, share = import_cost(args.cost_sessions, args.rounds, now_ms)
    print(f"store import    {off:,.0f} sessions/s without aggregates, {on:,.0f} with ({100 * (off - on) / off:.1f} % "
          f"fewer); time in the aggregates {100 * share:.1f} % ({args.cost_sessions:,} sessions, best of {args.rounds})")
    if args.pcap:
        off, on, share = pcap_cost(args.pcap, args.rounds)
        print(f"pcap import     {off:,.0f} packets/s without aggregates, {on:,.0f} with ({100 * (off - on) / off:.1f} % "
              f"fewer); time in the aggregates {100 * share:.1f} %")

    folder = tempfile.mkdtemp(prefix="fukurou-bench-")
    path = os.path.join(folder, "scans.db")
    conn = open_database(path)
    spent = fill(conn, args.sessions, now_ms)
    print(file=sys.stderr)
    rows = conn.execute("SELECT count(*), count(DISTINCT src) FROM scan_days").fetchall()[0]
    print(f"aggregates      {args.sessions:,} sessions in {spent:.1f} s ({args.sessions / spent:,.0f}/s); "
          f"scan_days {rows[0]:,} rows, {rows[1]:,} sources; {os.path.getsize(path) / 1e6:.1f} MB")
    found: list[Any] = []
    times = latency(lambda: found.__setitem__(slice(None), scans.find_scanners(conn, 30, 50)[0]))
    print(f"scans page      p50 {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms (30 days, top 50)")
    for s in found[:5]:
        print(f"  {'!' if s.flagged else ' '} {s.src:<16} score {s.score:5.1f}  sessions {s.sessions:>6}  "
              f"ports {s.ports:>5}  hosts {s.hosts:>4}  answered {len(s.answered_probes)}")
    flagged = [s.src for s in found if s.flagged]
    print(f"  flagged: {', '.join(flagged)} ({'the three scanners' if sorted(flagged) == sorted(SCANNERS) else 'UNEXPECTED'})")
    times = latency(lambda: devices.inventory(conn, None, 30))
    print(f"devices page    p50 {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms "
          f"({len(devices.inventory(conn, None, 30))} devices)")
    conn.close()
    shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
