"""The scan finder: sources ranked by how scan-like they were over the last N days.

Read from ``scan_days`` (see aggregates.py). A source's score is its probe share (one-packet or
SYN-only sessions) times the breadth of what it touched, log2(1 + distinct ports) + log2(1 +
distinct hosts): a scanner probes many ports or hosts and is rarely answered, while a busy device
talks to many hosts but completes its connections. Distinct counts over days need the day
sketches merged, so the ranking first orders sources by an upper bound (the per-day counts
summed), then merges sketches only while a source could still enter the top ``limit``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import apsw

from appliance.insights.aggregates import DAY_MS
from appliance.insights.sketch import Sketch
from appliance.store import layout

MIN_PROBES = 20  # fewer probes than this is a few failed connections, not a scan
FLAG_SCORE = 6.0  # e.g. 90 % probes over 100 ports of one host, or one port of 100 hosts
MAX_ANSWERED = 50  # answered probes listed per flagged source
_ANSWERED_SQL = ("dst_packets >= 1 AND (src_packets + dst_packets >= 3 "
                 "OR (src_databytes > 0 AND dst_databytes > 0))")
ANSWERED_EXPR = "packets.dst >= 1 && (packets >= 3 || (databytes.src > 0 && databytes.dst > 0))"


@dataclass
class Scanner:
    """One source over the window (times in ms, gaps in seconds)."""

    src: str
    sessions: int
    probes: int
    answered: int
    ports: int
    hosts: int
    first_ms: int
    last_ms: int
    gap_mean: float | None
    gap_sd: float | None
    score: float = 0.0
    flagged: bool = False
    expression: str = ""
    answered_expression: str = ""
    answered_probes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def probe_share(self) -> float:
        return self.probes / self.sessions if self.sessions else 0.0


def score(probes: int, sessions: int, ports: int, hosts: int) -> float:
    """Probe share times breadth (monotonic in ports and hosts, which the ranking relies on)."""
    share = probes / sessions if sessions else 0.0
    return share * (math.log2(1 + ports) + math.log2(1 + hosts))


def window(conn: apsw.Connection, days: int, end_day: int | None = None) -> tuple[int, int]:
    """(first day, last day): the last ``days`` days ending with the newest day that has data
    (so an imported old capture is shown as of its own time, not as of today)."""
    if end_day is None:
        top = conn.execute("SELECT max(day) FROM scan_days").fetchall()[0][0]
        end_day = int(top) if top is not None else 0
    return end_day - max(days, 1) + 1, end_day


def find_scanners(conn: apsw.Connection, days: int = 30, limit: int = 50,
                  end_day: int | None = None) -> tuple[list[Scanner], tuple[int, int]]:
    """The ``limit`` most scan-like sources of the window, best first, and the window.

    Sources with at least MIN_PROBES probes (the only ones that can be flagged) come first; the
    internet's background noise (thousands of addresses with a SYN or two each) only fills the
    remaining rows, so its sketches are merged for at most ``limit`` sources.
    """
    lo, hi = window(conn, days, end_day)
    candidates = sorted(_candidates(conn, lo, hi), key=lambda c: -c[0])
    top = _best(conn, [c for c in candidates if c[1][2] >= MIN_PROBES], limit, lo, hi)
    if len(top) < limit:
        rest = [_exact(conn, row, lo, hi) for _, row in
                [c for c in candidates if c[1][2] < MIN_PROBES][:limit - len(top)]]
        top += sorted(rest, key=lambda s: (-s.score, -s.probes, s.src))
    for s in top:
        _describe(conn, s, lo, hi)
    return top, (lo, hi)


def _best(conn: apsw.Connection, candidates: list[tuple[float, tuple[Any, ...]]], limit: int,
          lo: int, hi: int) -> list[Scanner]:
    """Exact scores in upper-bound order, until no later source can beat the last place."""
    top: list[Scanner] = []
    for bound, row in candidates:
        if len(top) >= limit and bound < top[-1].score:
            break
        top.append(_exact(conn, row, lo, hi))
        top.sort(key=lambda s: (-s.score, -s.probes, s.src))
        del top[limit:]
    return top


_TOTALS = ("SELECT src, sum(sessions), sum(probes), sum(answered), min(first_ms), max(last_ms), sum(gap_n), "
           "sum(gap_sum), sum(gap_sumsq), sum(ports_n), sum(hosts_n), count(*), max(ports_n), max(hosts_n) "
           "FROM scan_days {} WHERE day BETWEEN ? AND ? GROUP BY src")


def _candidates(conn: apsw.Connection, lo: int, hi: int) -> list[tuple[float, tuple[Any, ...]]]:
    try:  # the covering index keeps the sketches (most of the bytes) out of the scan
        rows = conn.execute(_TOTALS.format("INDEXED BY scan_days_totals"), (lo, hi)).fetchall()
    except apsw.SQLError:  # a development database migrated before the index existed
        rows = conn.execute(_TOTALS.format(""), (lo, hi)).fetchall()
    return [(score(r[2], r[1], r[9], r[10]), r) for r in rows]


def _exact(conn: apsw.Connection, row: tuple[Any, ...], lo: int, hi: int) -> Scanner:
    src, n, probes, answered, first, last, gn, gs, gq, _, _, ndays, ports, hosts = row
    if ndays > 1:  # one day's counts are already exact for the window
        port_sketch, host_sketch = Sketch(), Sketch()
        for pblob, hblob in conn.execute("SELECT ports, hosts FROM scan_days WHERE src = ? AND day BETWEEN ? AND ?",
                                         (src, lo, hi)):
            port_sketch.merge(Sketch.decode(pblob))
            host_sketch.merge(Sketch.decode(hblob))
        ports, hosts = port_sketch.count(), host_sketch.count()
    mean = gs / gn if gn else None
    sd = math.sqrt(max(gq / gn - mean * mean, 0.0)) if gn and mean is not None else None
    s = Scanner(src, n, probes, answered, ports, hosts, first, last, mean, sd)
    s.score = score(probes, n, ports, hosts)
    s.flagged = probes >= MIN_PROBES and s.score >= FLAG_SCORE
    return s


def _describe(conn: apsw.Connection, s: Scanner, lo: int, hi: int) -> None:
    """The Sessions expressions of the row and, for flagged sources, the answered probes."""
    bounds = f"stoptime >= {lo * DAY_MS // 1000} && stoptime < {(hi + 1) * DAY_MS // 1000}"
    s.expression = f"ip.src == {s.src} && packets >= 1 && {bounds}"  # as counted: no empty segments
    s.answered_expression = f"{s.expression} && {ANSWERED_EXPR}"
    if s.flagged and s.answered:
        s.answered_probes = answered_probes(conn, s.src, lo, hi)


def answered_probes(conn: apsw.Connection, src: str, lo: int, hi: int) -> list[dict[str, Any]]:
    """(destination, port) pairs that answered ``src`` in the window, from the sessions table
    (by the source index and id range: only ever run for the few flagged sources)."""
    id_lo, id_hi = layout.id_range(lo * DAY_MS, (hi + 1) * DAY_MS - 1)
    rows = conn.execute(
        f"SELECT dst_ip, dst_port, proto, count(*), min(id), max(id) FROM sessions "
        f"WHERE src_ip = ? AND id BETWEEN ? AND ? AND {_ANSWERED_SQL} "
        "GROUP BY dst_ip, dst_port, proto ORDER BY min(id) LIMIT ?",
        (layout.ip_key(src), id_lo, id_hi, MAX_ANSWERED)).fetchall()
    return [{"dst": layout.ip_text(d), "port": p, "proto": pr, "sessions": c,
             "first_ms": layout.last_packet(a), "last_ms": layout.last_packet(b)} for d, p, pr, c, a, b in rows]


def as_json(scanners: list[Scanner], span: tuple[int, int]) -> dict[str, Any]:
    """The API's answer: rows with the derived share, and the window in ms."""
    data = [{**asdict(s), "probe_share": round(s.probe_share, 4), "score": round(s.score, 3)} for s in scanners]
    return {"data": data, "start_ms": span[0] * DAY_MS, "stop_ms": (span[1] + 1) * DAY_MS}
