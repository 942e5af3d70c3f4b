"""Importing capture files (pcap, pcapng, gzip) into the store, exactly once.

An imported capture is *copied* into the PCAP store (docs/PCAP_STORE.md says why): its packets go
through the same writer as live traffic, so one retention mechanism covers everything.

Exactly once: each file is identified by path, size, mtime and the SHA-256 of its first MiB, and
recorded in ``imported_files`` as 'started' before and 'done' after (once its packets are fsync'ed
and its sessions flushed). A file already 'done' is skipped; one left 'started' by a crash is
imported again from the start, skipping the sessions that the first try had stored (its packets
stay in the store: at least once for an interrupted file, exactly once for a finished one).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import apsw

from appliance.capture.sink import PacketSink
from appliance.digests import sha256_hex
from appliance.documents import flat_document
from appliance.pcapstore.freespace import FreeSpaceGuard
from appliance.readers import CaptureError, open_capture
from appliance.sessions import Session

log = logging.getLogger(__name__)

HEAD_BYTES = 1 << 20
CHUNK_PACKETS = 4096  # between progress updates, writer ticks and free-space checks


@dataclass(frozen=True)
class FileIdentity:
    path: str
    size: int
    mtime_ns: int
    head_sha256: str


def identify(path: str) -> FileIdentity:
    """What makes a file 'the same file' for exactly-once importing."""
    st = os.stat(path)
    with open(path, "rb") as fh:
        head = sha256_hex(fh.read(HEAD_BYTES))
    return FileIdentity(os.path.abspath(path), st.st_size, st.st_mtime_ns, head)


@dataclass
class FileResult:
    """The outcome of importing one file: done, skipped (already imported), failed, or stopped
    part-way by the process stopping (resumed at the next start, from packet ``resumed_at``)."""

    path: str
    status: str
    packets: int = 0
    bytes: int = 0
    sessions: int = 0
    message: str = ""
    resumed_at: int = 0


@dataclass
class ImportTotals:
    files: list[FileResult] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def summary(self) -> str:
        seconds = max(time.monotonic() - self.started, 1e-9)
        packets = sum(f.packets for f in self.files)
        nbytes = sum(f.bytes for f in self.files)
        sessions = sum(f.sessions for f in self.files)
        return (f"{self.count('done')} imported, {self.count('skipped')} already imported, "
                f"{self.count('failed')} failed: {packets:,} packets, {nbytes / 1e6:,.1f} MB, {sessions:,} sessions "
                f"in {seconds:.1f} s ({packets / seconds:,.0f} packets/s, {nbytes / 1e6 / seconds:,.1f} MB/s)")


class Progress:
    """A one-line progress bar on a terminal (packets/s, MB/s, ETA); silent when not a tty."""

    def __init__(self, total_bytes: int, out: TextIO | None = None, interval: float = 0.25) -> None:
        self.out = out or sys.stdout
        self.enabled = self.out.isatty()
        self.total = max(total_bytes, 1)
        self.interval = interval
        self.started = time.monotonic()
        self.next_draw = 0.0
        self.drawn = False

    def update(self, done_bytes: int, packets: int, nbytes: int, label: str = "") -> None:
        now = time.monotonic()
        if not self.enabled or now < self.next_draw:
            return
        self.next_draw = now + self.interval
        elapsed = max(now - self.started, 1e-9)
        fraction = min(done_bytes / self.total, 1.0)
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else 0
        bar = "#" * int(fraction * 20)
        self.out.write(f"\r[{bar:<20}] {fraction:4.0%} {packets / elapsed:>9,.0f} pkt/s "
                       f"{nbytes / 1e6 / elapsed:6.1f} MB/s ETA {int(eta) // 60}:{int(eta) % 60:02d} {label[-30:]}\x1b[K")
        self.out.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            self.out.write("\r\x1b[K")
            self.out.flush()


class Importer:
    """Imports files one by one through a PacketSink, recording each in ``imported_files``."""

    def __init__(self, conn: apsw.Connection, sink: PacketSink, freespace: FreeSpaceGuard | None = None,
                 flush_sessions: Callable[[], None] = lambda: None,
                 tick_sessions: Callable[[], None] = lambda: None,
                 stop: threading.Event | None = None) -> None:
        self.conn = conn
        self.sink = sink
        self.freespace = freespace
        self.flush_sessions = flush_sessions
        self.tick_sessions = tick_sessions
        # Set when the process stops: the file in hand is left part-way, saved up to there and
        # recorded, so that the next start resumes it instead of importing its start twice.
        self.stop = stop or threading.Event()
        self.done_bytes = 0  # input bytes read by finished files, for the progress bar

    def already_imported(self, ident: FileIdentity) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM imported_files WHERE path=? AND size=? AND mtime_ns=? AND head_sha256=? AND state='done'",
            (ident.path, ident.size, ident.mtime_ns, ident.head_sha256)).fetchone()
        return row is not None

    def import_file(self, path: str, force: bool = False, progress: Progress | None = None) -> FileResult:
        """Import one capture; never raises for a bad capture (the result says 'failed' and why)."""
        try:
            ident = identify(path)
        except OSError as err:
            return FileResult(path, "failed", message=str(err))
        if not force and self.already_imported(ident):
            self.done_bytes += ident.size
            return FileResult(path, "skipped", message="already imported")
        row_id, resume, crashed = self._record_start(ident)
        writer = self.sink.writer
        files_before, current = len(writer.opened), writer.current_num
        skipped0 = self.sink.skipped
        if crashed:
            self.sink.skip = self._stored_before
        try:
            result = self._copy(path, ident, progress, resume)
        except (CaptureError, OSError) as err:
            result = FileResult(path, "failed", message=str(err))
        self.sink.flush()
        self.sink.skip = None
        if self.sink.skipped > skipped0:
            result.message = (f"{self.sink.skipped - skipped0} sessions that an interrupted import had stored "
                              "were not stored again" + (f"; {result.message}" if result.message else ""))
        writer.sync()
        self.flush_sessions()
        files = ([current] if current is not None else []) + writer.opened[files_before:]
        self._record_end(row_id, result, files if result.packets else [])
        self.done_bytes += ident.size
        return result

    def _copy(self, path: str, ident: FileIdentity, progress: Progress | None, resume: int = 0) -> FileResult:
        sink, packets0, bytes0, sessions0 = self.sink, self.sink.packets, self.sink.bytes, self.sink.sessions
        interrupted = False
        with open_capture(path) as reader:
            raw = getattr(reader.stream, "raw", reader.stream)  # compressed position for gzip
            for _ in range(resume):  # packets a stopped import kept
                if reader.next_record()[1] < 0:
                    break
            while sink.feed_from(reader, CHUNK_PACKETS):
                sink.writer.tick()
                self.tick_sessions()
                if self.freespace is not None:
                    self.freespace.tick()
                if progress is not None:
                    progress.update(self.done_bytes + raw.tell(), sink.packets, sink.bytes, os.path.basename(path))
                if self.stop.is_set():
                    interrupted = True
                    break
            damage = reader.damage
        sink.flush()  # a file's sessions end with the file, as in `fukurou parse`
        result = FileResult(path, "stopped" if interrupted else "done", sink.packets - packets0, sink.bytes - bytes0, 0)
        result.sessions = sink.sessions - sessions0
        result.resumed_at = resume
        if interrupted:
            result.message = f"stopped after {resume + result.packets} packets; the next start goes on from there"
        elif damage is not None:
            result.message = f"damaged at {damage}; packets up to there were imported"
        return result

    def _stored_before(self, session: Session) -> bool:
        from appliance.store.sessions import stored_twin  # the store is optional in this layer

        return stored_twin(self.conn, flat_document(session))

    def _record_start(self, ident: FileIdentity) -> tuple[int, int, bool]:
        """(row id, packets already imported, crashed): a file a stop left part-way goes on from
        there; one a crash left 'started' starts over, skipping the sessions the first try saved."""
        old = self.conn.execute(
            "SELECT message, packets FROM imported_files WHERE path=? AND size=? AND mtime_ns=? AND head_sha256=? "
            "AND state='started'", (ident.path, ident.size, ident.mtime_ns, ident.head_sha256)).fetchall()
        resume = old[0][1] if old and (old[0][0] or "").startswith(STOPPED) else 0
        crashed = bool(old) and not resume
        # Write first: a transaction that reads and then writes fails at once (it cannot wait)
        # when the appliance's database thread has committed in between.
        with self.conn:
            self.conn.execute(
                "INSERT INTO imported_files (path, size, mtime_ns, head_sha256, state, started_at) "
                "VALUES (?, ?, ?, ?, 'started', ?) ON CONFLICT (path, size, mtime_ns, head_sha256) "
                "DO UPDATE SET state='started', started_at=excluded.started_at, message=NULL",
                (ident.path, ident.size, ident.mtime_ns, ident.head_sha256, time.time()))
            row = self.conn.execute(
                "SELECT id FROM imported_files WHERE path=? AND size=? AND mtime_ns=? AND head_sha256=?",
                (ident.path, ident.size, ident.mtime_ns, ident.head_sha256)).fetchone()
            if not resume:  # from the start: forget what an earlier (forced, crashed) run counted
                self.conn.execute("UPDATE imported_files SET packets=0, sessions=0, first_file=NULL, last_file=NULL "
                                  "WHERE id=?", (row[0],))
        return int(row[0]), resume, crashed

    def _record_end(self, row_id: int, result: FileResult, files: list[int]) -> None:
        state = {"failed": "failed", "stopped": "started"}.get(result.status, "done")
        with self.conn:
            self.conn.execute(
                "UPDATE imported_files SET state=?, finished_at=?, packets=packets+?, sessions=sessions+?, "
                "first_file=coalesce(first_file, ?), last_file=coalesce(?, last_file), message=? WHERE id=?",
                (state, time.time(), result.packets, result.sessions, files[0] if files else None,
                 files[-1] if files else None, (STOPPED if result.status == "stopped" else result.message) or None,
                 row_id))
        if result.status == "failed":
            log.error("import of %s failed: %s", result.path, result.message)
        elif result.message:
            log.warning("%s: %s", result.path, result.message)


STOPPED = "stopped part-way"  # imported_files.message of a file to resume

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz", ".gz")


def expand_paths(paths: list[str]) -> list[str]:
    """Files as given, and the capture files inside directories (sorted, not recursive)."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            found += sorted(os.path.join(path, n) for n in os.listdir(path)
                            if n.lower().endswith(CAPTURE_SUFFIXES) and not n.startswith(".")
                            and os.path.isfile(os.path.join(path, n)))
        else:
            found.append(path)
    return found
