"""Retention: expire old sessions and PCAP files, keep free disk space, keep the database small.

Safe while ``fukurou run`` writes: WAL lets it go on writing while we read, every change is a
short transaction (``CHUNK`` rows or terms), and the busy timeout of ``open_database`` waits out
the writer's commits.

Sessions. Session ids are time-ordered by lastPacket (``store.layout``), so "older than N days"
is ``id < cutoff``: an index range, no scan. Their postings cannot be found by session (a
term's postings are blocks keyed by ``(term_id, last_id)``, ``store/postings.py``), but for one
term they are its first blocks; so we walk the terms and, per term, count and delete the blocks
below the cutoff and trim the one that straddles it: an index range per term, instead of a scan
of every posting. The count is subtracted from ``terms.sessions``. Sessions go first: if we
are stopped half-way, what is left is postings of deleted sessions (which match nothing) and the
next run finishes the job.

Terms left with no session are deleted (with their FTS rows) only when no other process can have
their ids cached: the SessionStore writer keeps a (field, value) -> id cache, and would otherwise
write postings to a deleted id. ``fukurou run`` prunes inside its database thread; a stand-alone
``fukurou expire`` prunes only when the appliance is not running.

Space. Databases created by ``open_database`` use ``auto_vacuum=INCREMENTAL``: freed pages are
handed back with ``PRAGMA incremental_vacuum`` (no VACUUM, no second copy of the file). An older
database keeps its free pages for reuse; ``vacuum=True`` converts it once (a full VACUUM).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import apsw

from appliance.insights import aggregates
from appliance.store import layout, postings

log = logging.getLogger(__name__)

CHUNK = 2000  # rows or terms per transaction: the writer never waits long for us
DAY_MS = 86_400_000
VACUUM_PAGES = 2048  # pages handed back per transaction (8 MiB at 4 KiB pages)


@dataclass
class ExpireReport:
    """What ``expire`` did (or, with dry_run, would do)."""

    dry_run: bool = False
    sessions: int = 0
    postings: int = 0
    aggregate_rows: int = 0
    terms_pruned: int = 0
    terms_pruning: str = "done"
    pcap_files: int = 0
    pcap_bytes: int = 0
    freespace_files: int = 0
    freespace_bytes: int = 0
    db_bytes_before: int = 0
    db_bytes_after: int = 0
    free_pages_left: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        out = [f"sessions: {verb} {self.sessions:,} (and {self.postings:,} postings)"
               + (f"; {self.aggregate_rows:,} scan, device and per-minute rows of those days"
                  if self.aggregate_rows else ""),
               f"pcap files past pcapRetentionDays: {verb} {self.pcap_files:,} ({self.pcap_bytes:,} bytes)",
               f"pcap files for freeSpaceG: {verb} {self.freespace_files:,} ({self.freespace_bytes:,} bytes)"]
        if not self.dry_run:
            out.append(f"terms without sessions: {self.terms_pruning}"
                       + (f", {self.terms_pruned:,} deleted" if self.terms_pruning == "done" else ""))
            out.append(f"database: {self.db_bytes_before:,} -> {self.db_bytes_after:,} bytes"
                       + (f" ({self.free_pages_left:,} free pages kept for reuse)" if self.free_pages_left else ""))
        return out + self.notes + [f"took {self.seconds:.1f} s"]


def session_cutoff_id(days: int, now: float) -> int:
    """Sessions with an id below this have lastPacket more than ``days`` days before ``now``."""
    return layout.session_id(int(now * 1000) - days * DAY_MS, 0)


def expire(conn: apsw.Connection, settings: Any, now: float | None = None, dry_run: bool = False,
           prune: bool = True, vacuum: bool = False,
           statvfs: Callable[[str], os.statvfs_result] = os.statvfs) -> ExpireReport:
    """Apply sessionRetentionDays, pcapRetentionDays and freeSpaceG; then reclaim the space."""
    started = time.monotonic()
    now = time.time() if now is None else now
    report = ExpireReport(dry_run=dry_run, db_bytes_before=database_bytes(conn))
    if settings.sessionRetentionDays:
        cutoff = session_cutoff_id(settings.sessionRetentionDays, now)
        if dry_run:
            report.sessions = _count_sessions(conn, cutoff)
            report.postings = count_old_postings(conn, cutoff)
        else:
            report.sessions = delete_sessions(conn, cutoff)
            report.postings = delete_postings(conn, cutoff) if report.sessions else 0
            report.aggregate_rows = expire_aggregates(conn, layout.last_packet(cutoff))
    if settings.pcapRetentionDays:
        cutoff_us = int((now - settings.pcapRetentionDays * 86400) * 1_000_000)
        report.pcap_files, report.pcap_bytes = expire_pcap_files(conn, settings, cutoff_us, dry_run)
    report.freespace_files, report.freespace_bytes = enforce_free_space(conn, settings, dry_run, statvfs)
    if not dry_run:
        if prune:
            report.terms_pruned = prune_terms(conn)
        else:
            report.terms_pruning = "left to the running appliance (it prunes them in its nightly run)"
        report.free_pages_left = reclaim(conn, vacuum)
        report.db_bytes_after = database_bytes(conn)
    report.seconds = time.monotonic() - started
    return report


@contextlib.contextmanager
def _write_transaction(conn: apsw.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE: for a transaction that reads and then writes. A deferred one would hold a
    read snapshot, and if the capture's writer commits before our first write SQLite refuses the
    upgrade at once (SQLITE_BUSY_SNAPSHOT, no busy-timeout wait). IMMEDIATE waits for the lock first."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# --- sessions -------------------------------------------------------------------------------------

def _count_sessions(conn: apsw.Connection, cutoff: int) -> int:
    return int(conn.execute("SELECT count(*) FROM sessions WHERE id < ?", (cutoff,)).fetchall()[0][0])


def delete_sessions(conn: apsw.Connection, cutoff: int) -> int:
    """Delete sessions with ``id < cutoff``, oldest first, CHUNK per transaction."""
    total = 0
    while True:
        with conn:
            conn.execute("DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE id < ? ORDER BY id LIMIT ?)",
                         (cutoff, CHUNK))
            done = conn.changes()
        total += done
        if done < CHUNK:
            return total


def expire_aggregates(conn: apsw.Connection, before_ms: int) -> int:
    """The scan and device counters of the days that are gone, and emptied per-minute totals.

    The per-minute and per-hour totals follow deleted sessions by themselves (a trigger); rows
    left at zero are dropped here. Devices and their addresses stay: the inventory outlives the sessions."""
    dropped = aggregates.expire(conn, before_ms)
    with conn:
        for table in ("session_minutes", "session_hours"):
            conn.execute(f"DELETE FROM {table} WHERE sessions <= 0")
            dropped += conn.changes()
    return dropped


def _term_batches(conn: apsw.Connection) -> Any:
    """Term ids in ascending batches of CHUNK (keyset paging: each batch is its own statement)."""
    last = -1
    while True:
        ids = [r[0] for r in conn.execute("SELECT id FROM terms WHERE id > ? ORDER BY id LIMIT ?", (last, CHUNK))]
        if not ids:
            return
        yield ids
        last = ids[-1]


def count_old_postings(conn: apsw.Connection, cutoff: int) -> int:
    total = 0
    for ids in _term_batches(conn):
        total += sum(postings.count_before(conn, t, cutoff) for t in ids)
    return total


def delete_postings(conn: apsw.Connection, cutoff: int) -> int:
    """Delete postings of sessions below ``cutoff`` and take them off their terms' session counts."""
    total = 0
    for ids in _term_batches(conn):
        with _write_transaction(conn):
            counts = [(n, t) for t in ids if (n := postings.drop_before(conn, t, cutoff))]
            # max(): a count must never go below zero, even after a crash between two passes
            conn.executemany("UPDATE terms SET sessions = max(sessions - ?, 0) WHERE id = ?", counts)
        total += sum(n for n, _ in counts)
    return total


def prune_terms(conn: apsw.Connection) -> int:
    """Delete terms that no session holds any more (not as a posting, not as its node)."""
    total = 0
    # Read once: pruning runs where no session can be added meanwhile (see the module docstring).
    node_ids = {r[0] for r in conn.execute("SELECT DISTINCT node FROM sessions WHERE node IS NOT NULL")}
    for ids in _term_batches(conn):
        with _write_transaction(conn):
            rows = [r for r in conn.execute(
                f"SELECT t.id, t.value FROM terms t WHERE t.id IN ({','.join('?' * len(ids))}) AND t.sessions <= 0 "
                "AND NOT EXISTS (SELECT 1 FROM posting_blocks p WHERE p.term_id = t.id)", ids) if r[0] not in node_ids]
            # External-content FTS5: a row is removed by giving it the value it was indexed with.
            # Deleting a value that was never indexed (an ip or number term) does no harm.
            conn.executemany("INSERT INTO terms_fts (terms_fts, rowid, value) VALUES ('delete', ?, ?)",
                             [(t, v) for t, v in rows if isinstance(v, str)])
            conn.executemany("DELETE FROM terms WHERE id = ?", [(t,) for t, _ in rows])
        total += len(rows)
    return total


# --- pcap files ------------------------------------------------------------------------------------

def expire_pcap_files(conn: apsw.Connection, settings: Any, cutoff_us: int, dry_run: bool) -> tuple[int, int]:
    """Delete closed files whose newest packet is older than ``cutoff_us``; (files, bytes)."""
    rows = conn.execute("SELECT num, name, size FROM pcap_files WHERE state = 'closed' AND last_us < ? ORDER BY num",
                        (cutoff_us,)).fetchall()
    if dry_run:
        return len(rows), sum(r[2] for r in rows)
    for num, name, _ in rows:
        _delete_pcap(conn, settings.pcapDir, num, name, "pcapRetentionDays")
    return len(rows), sum(r[2] for r in rows)


def _delete_pcap(conn: apsw.Connection, pcap_dir: str, num: int, name: str, why: str) -> None:
    try:
        os.unlink(os.path.join(pcap_dir, name))
    except FileNotFoundError:
        log.warning("pcap file %s was already gone", name)
    with conn:  # the row stays (state 'deleted'): file numbers are never reused
        conn.execute("UPDATE pcap_files SET state='deleted', deleted_at=?, note=? WHERE num=?", (time.time(), why, num))
    log.info("deleted %s (%s)", name, why)


def enforce_free_space(conn: apsw.Connection, settings: Any, dry_run: bool,
                       statvfs: Callable[[str], os.statvfs_result] = os.statvfs) -> tuple[int, int]:
    """freeSpaceG: the same rule as the capture's FreeSpaceGuard; (files, bytes) deleted."""
    from appliance.pcapstore.freespace import FreeSpaceGuard

    if not os.path.isdir(settings.pcapDir):
        return 0, 0
    guard = FreeSpaceGuard(conn, settings, statvfs=statvfs)
    if dry_run:
        return _free_space_plan(conn, guard)
    guard.check()
    return guard.stats.files_deleted, guard.stats.bytes_deleted


def _free_space_plan(conn: apsw.Connection, guard: Any) -> tuple[int, int]:
    free, total = guard._free()
    short = guard.rule.threshold_bytes(total) - free
    files = nbytes = 0
    for (size,) in conn.execute("SELECT size FROM pcap_files WHERE state='closed' AND node=? ORDER BY num",
                                (guard.node,)):
        if nbytes >= short:
            break
        files, nbytes = files + 1, nbytes + size
    return files, nbytes


# --- space -----------------------------------------------------------------------------------------

def database_bytes(conn: apsw.Connection) -> int:
    """Bytes of the database file (pages in use and free), without its WAL."""
    page = conn.execute("PRAGMA page_size").fetchall()[0][0]
    return int(conn.execute("PRAGMA page_count").fetchall()[0][0]) * int(page)


def reclaim(conn: apsw.Connection, vacuum: bool = False) -> int:
    """Optimise the FTS index and give free pages back; returns the free pages that stay."""
    with conn:
        conn.execute("INSERT INTO terms_fts (terms_fts) VALUES ('optimize')")
    mode = conn.execute("PRAGMA auto_vacuum").fetchall()[0][0]
    if mode != 2 and vacuum:
        # Once, on a database made before auto_vacuum: VACUUM applies the new mode.
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
        mode = 2
    while mode == 2 and conn.execute("PRAGMA freelist_count").fetchall()[0][0]:
        # In steps, so that each transaction is short; the pragma yields one row per page freed.
        conn.execute(f"PRAGMA incremental_vacuum({VACUUM_PAGES})").fetchall()
    # PASSIVE never blocks the capture's writer; once it has copied the whole WAL the
    # database file is cut to its new size.
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return int(conn.execute("PRAGMA freelist_count").fetchall()[0][0])
