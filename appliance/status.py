"""The running appliance's state, for ``fukurou status``: a lock file and a small status record.

``fukurou run`` (or ``fukurou import``: one process writes a store) holds an exclusive ``flock``
on ``{dbPath}.pid`` (which holds its pid) for as long as it lives, so "is it running" is answered
by the kernel, not by a pid that may have been reused after a crash. Every few seconds it rewrites
``{dbPath}.status`` (JSON, written to a temporary name and renamed, so a reader never sees half a
record) with its rates and counters. A file rather than a table: the status must be readable
while the database is busy or damaged.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from typing import Any

STALE_SECONDS = 30.0  # a record older than this means the writer thread is stuck
EXIT_RUNNING, EXIT_NOT_RUNNING = 0, 3  # as `systemctl status`


def lock_path(settings: Any) -> str:
    return f"{settings.dbPath}.pid"


def spool_path(settings: Any) -> str:
    """Sessions a stop had no time to store (appliance.Spool); the next start stores them."""
    return f"{settings.dbPath}.spool"


def status_path(settings: Any) -> str:
    return f"{settings.dbPath}.status"


class AlreadyRunning(RuntimeError):
    """Another ``fukurou run`` or ``fukurou import`` holds the lock on the same database."""


class RunLock:
    """The exclusive lock of a running appliance; released by the kernel when the process dies."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(f"another fukurou process (run or import, pid {read_pid(self.path)}) "
                                 "is writing this database") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            os.close(self.fd)
            self.fd = None


def read_pid(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            return int(fh.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def is_running(settings: Any) -> bool:
    """True while some process holds the run lock of this database."""
    try:
        fd = os.open(lock_path(settings), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops our probe lock if we got it
    return False


def write_record(settings: Any, record: dict[str, Any]) -> None:
    """Replace the status record atomically."""
    path = status_path(settings)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record, fh, separators=(",", ":"))
    os.replace(tmp, path)


def read_record(settings: Any) -> dict[str, Any] | None:
    try:
        with open(status_path(settings), encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


@dataclass
class Status:
    """What ``fukurou status`` prints."""

    running: bool
    record: dict[str, Any] | None
    free_bytes: int | None
    disk_bytes: int | None
    db_bytes: int
    oldest_session_ms: int | None
    oldest_packet_us: int | None
    sessions: int | None
    spool_bytes: int = 0  # sessions a stop spooled, stored at the next start of `fukurou run`

    @property
    def stale(self) -> bool:
        return self.running and (self.record is None or time.time() - self.record.get("updated", 0) > STALE_SECONDS)


def collect(settings: Any) -> Status:
    """Everything ``status`` reports, read without disturbing a running appliance."""
    free = disk = None
    with contextlib.suppress(OSError):
        st = os.statvfs(settings.pcapDir)
        free, disk = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
    db_bytes = sum(os.path.getsize(settings.dbPath + s) for s in ("", "-wal") if os.path.exists(settings.dbPath + s))
    oldest_session, oldest_packet, sessions = _oldest(settings.dbPath)
    spool = spool_path(settings)
    return Status(is_running(settings), read_record(settings), free, disk, db_bytes, oldest_session,
                  oldest_packet, sessions, os.path.getsize(spool) if os.path.exists(spool) else 0)


def _oldest(db_path: str) -> tuple[int | None, int | None, int | None]:
    """(oldest lastPacket in ms, oldest kept packet in us, session count); Nones if unreadable."""
    if not os.path.exists(db_path):
        return None, None, None
    from appliance.store import layout
    from appliance.store.db import open_database

    try:
        conn = open_database(db_path, readonly=True)
    except Exception:
        return None, None, None
    try:
        first = conn.execute("SELECT min(id), count(*) FROM sessions").fetchall()[0]
        packet = conn.execute("SELECT min(first_us) FROM pcap_files WHERE state != 'deleted'").fetchall()[0][0]
    except Exception:  # a database from before the store existed, or a locked one
        return None, None, None
    finally:
        conn.close()
    oldest = layout.last_packet(first[0]) if first[0] is not None else None
    return oldest, packet, first[1]


def format_status(status: Status, now: float | None = None) -> str:
    """The lines ``fukurou status`` prints."""
    now = time.time() if now is None else now
    rec = status.record or {}
    if status.running:
        state = f"running (pid {rec.get('pid', '?')}, since {_when(rec.get('started'))})"
        if status.stale:
            state += f"; no status update for {_ago(rec.get('updated'), now)} (stuck?)"
    else:
        state = "not running" + (f" (last seen {_when(rec.get('updated'))})" if rec else "")
    lines = [f"state:          {state}"]
    if status.running and rec:
        lines += [f"packets/s:      {rec.get('packets_per_s', 0):,.0f}",
                  f"drops:          {rec.get('dropped', 0):,} (kernel), {rec.get('queue_waits', 0):,} queue stalls",
                  f"sessions/s:     {rec.get('sessions_per_s', 0):,.1f} ({rec.get('open_sessions', 0):,} open, "
                  f"{rec.get('compressed_sessions', 0):,} of them compressed)",
                  f"memory:         {rec.get('rss_bytes', 0) / 2**20:,.0f} MiB"]
        for iface in rec.get("interfaces", []):
            lines.append(f"interface:      {iface['name']} {iface['state']}, {iface['packets']:,} packets, "
                         f"{iface['dropped']:,} dropped" + (f" ({iface['error']})" if iface.get("error") else ""))
    if status.free_bytes is not None and status.disk_bytes:
        lines.append(f"free disk:      {_size(status.free_bytes)} of {_size(status.disk_bytes)} "
                     f"({100 * status.free_bytes / status.disk_bytes:.0f}%)")
    lines.append(f"database:       {_size(status.db_bytes)}"
                 + (f", {status.sessions:,} sessions" if status.sessions is not None else ""))
    if status.spool_bytes:
        lines.append(f"spooled:        {_size(status.spool_bytes)} of sessions saved at the last stop, "
                     "not yet searchable: the next start of `fukurou run` stores them")
    lines.append(f"oldest session: {_when(status.oldest_session_ms / 1000 if status.oldest_session_ms else None)}")
    lines.append(f"oldest packet:  {_when(status.oldest_packet_us / 1e6 if status.oldest_packet_us else None)}")
    return "\n".join(lines) + "\n"


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "none"


def _ago(ts: float | None, now: float) -> str:
    return f"{now - ts:.0f} s" if ts else "ever"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
