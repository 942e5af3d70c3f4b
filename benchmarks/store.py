#!/usr/bin/env python3
"""Size and speed of the SQLite session store: insert rate, bytes per session, search latency.

    python3 benchmarks/store.py --sessions 200000            # quick check
    python3 benchmarks/store.py --sessions 2000000 --pcap /tmp/bench-home.pcap

Sessions come from ``--pcap`` (parse_capture + flat_document, as the capture path would make
them) and, to reach ``--sessions`` quickly, generated documents that vary addresses, ports,
hosts, JA3s and times over 30 days with a home network's mix (TLS, DNS, QUIC, HTTP, other).
Generation is not timed; ``SessionStore.add`` + commits are (the store is flushed at the end of
each generated chunk, so no write runs on into untimed work). With two cores the batches are
written by a second process, as ``fukurou run`` writes them with ``dbWriterProcess``
(``--one-process``: in this one, as it does by default).
Searches are run 5 times each and p50/p95 taken over all runs of the 20 expressions; top-10
counts likewise for 10 fields.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.query import Searcher, TimeRange  # noqa: E402
from appliance.store.db import open_database  # noqa: E402
from appliance.store.layout import last_packet  # noqa: E402
from appliance.store.sessions import SessionStore  # noqa: E402
from appliance.store.writer_process import BatchWriter, can_overlap  # noqa: E402

DAY_MS = 86_400_000
CHUNK = 200_000  # documents generated at a time (untimed); the store is flushed after each
# Sessions per batch: a chunk is twenty, so a writer process writes one while the next is built
# (the flush at each chunk's end waits for the last).
BATCH_SESSIONS = 10_000
SPAN_DAYS = 30
HOSTS = [f"{w}.{d}" for w in ("www", "api", "cdn", "img", "static", "mail", "login", "edge")
         for d in ("example.com", "google.com", "netflix.com", "apple.com", "cloudflare.net",
                   "github.com", "youtube.com", "amazonaws.com", "microsoft.com", "spotify.com")]
HOSTS += [f"host{i}.tracker{i % 97}.net" for i in range(3000)]
JA3 = [f"{random.Random(i).getrandbits(128):032x}" for i in range(40)]
JA4 = [f"t13d{1500 + i}h2_8daaf6152771_{random.Random(-i).getrandbits(48):012x}" for i in range(40)]
SEARCHES = [
    "", "ip == 192.168.1.23", "ip.dst == 10.20.30.40", "host.http == *example*", "host.http == www.google.com",
    "port.dst == 22 && packets >= 3", "ip.dst == 172.16.0.0/12", "ip == 10.1", "protocols == tls",
    f"tls.ja3 == {JA3[3]}", "protocols == dns && host.dns == api.github.com", "port == 443 && bytes > 100000",
    "ip.protocol == udp && port.dst == 123", "host.dns == *tracker1*", "http.method == POST",
    "ip.src == 192.168.1.7 && protocols == quic", "tls.ja4 == t13d1503*", "ip == 192.168.1.0/24 && port.dst == 53",
    "databytes.dst > 1000000", "!protocols == tls && port.dst == 443",
]
TOP_FIELDS = ["protocols", "ip.dst", "port.dst", "host.http", "host.dns", "tls.ja3", "ip.src",
              "tls.ja4", "http.method", "dns.query.type"]


def generated(n: int, now_ms: int, seed: int = 1) -> Any:
    """Flat documents over the last 30 days, in time order (as a live capture saves them)."""
    rnd = random.Random(seed)
    start = now_ms - SPAN_DAYS * DAY_MS
    step = SPAN_DAYS * DAY_MS / max(n, 1)
    externals = [f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
                 for _ in range(20000)] + ["10.20.30.40", "172.16.5.9"]
    for i in range(n):
        last = int(start + i * step + rnd.random() * step)
        yield _doc(rnd, last, externals, (last - start) // 3_600_000 + 1)


def _doc(rnd: random.Random, last: int, externals: list[str], file: int) -> dict[str, Any]:
    """One session; ``file`` is the number of the PCAP file holding it (one file an hour)."""
    kind = rnd.random()
    src = f"192.168.1.{rnd.randint(2, 60)}"
    dst = rnd.choice(externals)
    length = rnd.randint(0, 120_000)
    pk = (rnd.randint(1, 40), rnd.randint(1, 60))
    dbytes = (rnd.randint(0, 3000) * pk[0], rnd.randint(0, 1400) * pk[1])
    proto, dport, protocols = 6, 443, ["tcp", "tls"]
    extra: dict[str, Any] = {}
    if kind < 0.45:
        host = rnd.choice(HOSTS)
        ja = rnd.randrange(len(JA3))
        extra = {"http.host": [host], "tls.version": ["TLSv1.3"], "tls.cipher": ["TLS_AES_128_GCM_SHA256"],
                 "tls.ja3": [JA3[ja]], "tls.ja4": [JA4[ja]], "tls.ja3s": [JA3[(ja * 7) % 40]]}
    elif kind < 0.75:
        proto, dport, protocols = 17, 53, ["dns", "udp"]
        host = rnd.choice(HOSTS)
        dst = "192.168.1.1"
        pk = (1, 1)
        extra = {"dns": [{"opcode": "QUERY", "queryHost": host, "qc": "IN", "qt": rnd.choice(("A", "AAAA", "HTTPS")),
                          "host": [host], "hostCnt": 1, "status": "NOERROR", "ip": [rnd.choice(externals)]}]}
    elif kind < 0.85:
        proto, protocols = 17, ["quic", "udp"]
        extra = {"http.host": [rnd.choice(HOSTS)], "tls.ja4": [rnd.choice(JA4)]}
    elif kind < 0.92:
        dport, protocols = 80, ["http", "tcp"]
        host = rnd.choice(HOSTS)
        path = f"/p/{rnd.randint(0, 5000)}"
        extra = {"http.host": [host], "http.method": [rnd.choice(("GET", "GET", "POST"))], "http.uri": [host + path],
                 "http.path": [path], "http.useragent": ["Mozilla/5.0 (X11; Linux x86_64)"], "http.statuscode": [200]}
    else:
        proto, dport, protocols = rnd.choice(((6, 22, ["ssh", "tcp"]), (17, 123, ["ntp", "udp"]), (6, 8443, ["tcp"])))
    sport = rnd.randint(32768, 60999)
    doc: dict[str, Any] = {
        "node": "fukurou", "firstPacket": last - length, "lastPacket": last, "length": length,
        "packetRange": {"gte": last - length, "lte": last}, "ipProtocol": proto, "segmentCnt": 1,
        "protocol": sorted(protocols), "source.packets": pk[0], "destination.packets": pk[1],
        "source.bytes": dbytes[0] + 66 * pk[0], "destination.bytes": dbytes[1] + 66 * pk[1],
        "network.packets": sum(pk), "network.bytes": sum(dbytes) + 66 * sum(pk),
        "client.bytes": dbytes[0], "server.bytes": dbytes[1], "totDataBytes": sum(dbytes), "ethertype": 2048,
        "source.ip": src, "destination.ip": dst, "source.port": sport, "destination.port": dport,
        "source.mac": [f"02:00:00:00:01:{int(src.rsplit('.', 1)[1]):02x}"], "destination.mac": ["02:00:00:00:00:01"],
        "srcTTL": [64], "dstTTL": [rnd.choice((54, 57, 118))],
        "fileId": [file], "packetPos": _positions(rnd, sum(pk), file),
    }
    from appliance.community_id import community_id
    from appliance.store.layout import ip_key, packed
    doc["network.community_id"] = community_id(packed(ip_key(src)), packed(ip_key(dst)), proto, sport, dport)
    if proto == 6:
        doc.update({"tcpflags.syn": 1, "tcpflags.syn-ack": 1, "tcpflags.ack": 1, "tcpflags.psh": pk[0] // 2,
                    "tcpflags.fin": 1, "tcpflags.rst": 0, "tcpflags.urg": 0, "tcpflags.srcZero": 0,
                    "tcpflags.dstZero": 0, "initRTT": rnd.randint(1, 80)})
    doc.update(extra)
    return doc


def _positions(rnd: random.Random, packets: int, file: int) -> list[int]:
    """Arkime's packetPos: the file's marker, then offsets that grow within it."""
    pos = rnd.randint(24, 1 << 30)
    out = [-file, pos]
    for _ in range(min(packets, 50) - 1):
        pos += rnd.randint(60, 1600)
        out.append(pos)
    return out


def capture_docs(path: str) -> list[dict[str, Any]]:
    from appliance.documents import flat_document
    from appliance.pipeline import parse_capture
    from appliance.settings import Settings

    docs: list[dict[str, Any]] = []
    parse_capture(path, Settings(), lambda s: docs.append(flat_document(s)))
    return docs


def fill(store: SessionStore, n: int, pcap: str | None, now_ms: int) -> tuple[int, float]:
    """Insert; returns (sessions, seconds spent in add/flush)."""
    batch: list[dict[str, Any]] = capture_docs(pcap) if pcap else []
    # Capture sessions keep their own times; shift them into the last day so searches see them.
    if batch:
        shift = now_ms - DAY_MS - batch[0]["firstPacket"]
        for d in batch:
            for k in ("firstPacket", "lastPacket"):
                d[k] += shift
            d["packetRange"] = {"gte": d["firstPacket"], "lte": d["lastPacket"]}
    spent, done = 0.0, 0
    gen = generated(max(0, n - len(batch)), now_ms)
    while True:
        chunk = batch or [d for _, d in zip(range(CHUNK), gen, strict=False)]
        batch = []
        if not chunk:
            break
        t0 = time.perf_counter()
        for doc in chunk:
            store.add(doc)
        store.flush()
        spent += time.perf_counter() - t0
        done += len(chunk)
        print(f"\r  {done:,} sessions, {done / spent:,.0f}/s", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return done, spent


def timed(fn: Any, repeat: int = 5) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def report(label: str, times: list[float]) -> None:
    q = statistics.quantiles(times, n=20)
    print(f"{label:<34} p50 {statistics.median(times):8.1f} ms   p95 {q[18]:8.1f} ms   max {max(times):8.1f} ms")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=2_000_000)
    ap.add_argument("--pcap", help="a bench capture whose sessions go in first")
    ap.add_argument("--db", help="database path (default: a temporary file, removed after)")
    ap.add_argument("--keep", action="store_true", help="keep the database")
    ap.add_argument("--verbose", action="store_true", help="print each search's timings")
    ap.add_argument("--batch", type=int, default=BATCH_SESSIONS,
                    help=f"sessions per batch (default {BATCH_SESSIONS:,}; fukurou run's is 5,000)")
    ap.add_argument("--one-process", action="store_true",
                    help="write the batches in this process (no writer process)")
    ap.add_argument("--search-only", action="store_true",
                    help="only the searches, over an existing --db (e.g. after changing the query code)")
    args = ap.parse_args(argv)
    path = args.db or os.path.join(tempfile.mkdtemp(prefix="fukurou-bench-"), "store.db")
    now_ms = int(time.time() * 1000)
    conn = open_database(path)
    # As `fukurou run` stores: batches written by a second process while the next is built,
    # when there is a second core (--one-process: all in this one).
    writer = None if args.one_process or args.search_only or not can_overlap() else BatchWriter(path)
    store = SessionStore(conn, batch_size=args.batch, max_delay=3600, writer=writer)
    if args.search_only:
        n = conn.execute("SELECT count(*) FROM sessions").fetchall()[0][0]
        newest = conn.execute("SELECT max(id) FROM sessions").fetchall()[0][0]
        now_ms = last_packet(newest) if newest is not None else now_ms  # "24 hours" as when it was built
        print(f"sessions        {n:,} (existing store)")
    else:
        n, spent = fill(store, args.sessions, args.pcap, now_ms)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = os.path.getsize(path)
        print(f"sessions        {n:,}")
        how = "a writer process" if writer is not None else "one process"
        print(f"insert rate     {n / spent:,.0f} sessions/s ({spent:.1f} s, {how})")
        print(f"database        {size / 1e6:,.1f} MB, {size / n:,.0f} bytes/session")
        _table_sizes(conn, n)
    store.close()
    search_phase(Searcher(store), now_ms, args.verbose)
    conn.close()
    if not args.keep and not args.db:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    return 0


def _table_sizes(conn: Any, n: int) -> None:
    try:
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    except Exception:  # noqa: BLE001 - dbstat is a compile-time option
        return
    print("  " + ", ".join(f"{name} {size / n:.0f}" for name, size in rows if size / n >= 1) + " (B/session)")


def search_phase(searcher: Searcher, now_ms: int, verbose: bool) -> None:
    day = TimeRange(now_ms - DAY_MS, now_ms)
    every = TimeRange()
    all_times: list[float] = []
    for expr in SEARCHES:
        t = timed(lambda e=expr: searcher.search(e, every, limit=100))
        all_times += t
        if verbose:
            print(f"  {expr or '(newest 100)':<50} {statistics.median(t):8.1f} ms")
    report("search, newest 100, all time", all_times)
    for label, times in (("top-10, 24 hours", day), ("top-10, all time", every)):
        tops: list[float] = []
        for name in TOP_FIELDS:
            t = timed(lambda f=name, r=times: searcher.spiview(f, None, r), repeat=3)
            tops += t
            if verbose:
                print(f"  {label} {name:<20} {statistics.median(t):8.1f} ms")
        report(label, tops)
    tops = []
    for name in TOP_FIELDS[:5]:
        tops += timed(lambda f=name: searcher.spiview(f, "protocols == tls", day), repeat=3)
    report("top-10, 24 h, with an expression", tops)


if __name__ == "__main__":
    sys.exit(main())
