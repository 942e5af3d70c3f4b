"""Rotating PCAP writer: every packet into ``{pcapDir}/{nodeName}-{YYMMDD}-{num:08d}.pcap``.

Files are classic pcap (little-endian, microseconds, snaplen = snapLen). A file is written under a
hidden name (``.name``) and renamed when it is closed, as stenographer does, so a name without a dot
is always a complete file. Each file has a row in ``pcap_files`` (sql/002_pcap_files.sql) inserted
*before* the file is created, so a crash can never leave a file the registry does not know.

``write()`` returns the packet's position, ``file_number << 40 | offset of its record header``,
which is what sessions keep (Arkime's fileId/packetPos). File numbers only ever grow, across
restarts too, because a position must never point at another file's bytes.

Rotation (Arkime's rules): after the packet that takes the file to maxFileSizeG, and when the file
is maxFileTimeM old, measured in packet time by ``write()`` (so an imported capture is cut into
files by its own clock) and in wall-clock time by ``tick()`` (so an idle link still rotates).

A rotation on the packet path never waits for the database. The store commits through another
connection, and a commit holds the database for up to a few tenths of a second: a capture at
1 Gbit/s has ~0.2 s of buffers. So the next file's row is inserted without waiting, and when the
database is busy the full file takes the next packets and the rotation is tried again an eighth
of maxFileSizeG (at most 1 MiB) later or after the next tick (a file then ends a little past
maxFileSizeG). The closed file's row is marked closed the same way, or at the next tick; a crash
before that leaves a row start-up repair closes. Only the first file, a new link type and
``close``/``sync`` wait.
Writes are buffered and reach the kernel at least once a second (``tick``) and on rotation; a
closed file has also been fsync'ed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import apsw

from appliance.pcapstore import FILE_SHIFT, WriterError
from appliance.store.db import BUSY_TIMEOUT_MS

log = logging.getLogger(__name__)

PCAP_HEADER: Final = struct.Struct("<IHHiIII")
RECORD_HEADER: Final = struct.Struct("<IIII")
PCAP_MAGIC_US: Final = 0xA1B2C3D4
BUFFER_BYTES: Final = 256 * 1024  # Arkime's pcapWriteSize: big enough to amortise a write() per packet
# Pieces per writev(): Linux's IOV_MAX. A buffer of small packets (~1,600 of them, two pieces each)
# takes a few calls.
WRITEV_PIECES: Final = 1024
FLUSH_SECONDS: Final = 1.0
# A rotation that finds the database busy (another connection committing) is tried again after
# this many more bytes (or at the next tick): the packets go on into the full file meanwhile.
RETRY_BYTES: Final = 1 << 20
_CLOSE_ROW: Final = ("UPDATE pcap_files SET state='closed', closed_at=?, size=?, packets=?, first_us=?, last_us=? "
                     "WHERE num=?")
_NUM_RE: Final = re.compile(r"-(\d{8,})\.pcap$")


def pcap_file_header(snaplen: int, linktype: int) -> bytes:
    return PCAP_HEADER.pack(PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, linktype)


def file_name(node: str, num: int, ts_us: int) -> str:
    """``{node}-{YYMMDD}-{num:08d}.pcap``; the date is the UTC day of the file's first packet."""
    day = time.strftime("%y%m%d", time.gmtime(max(ts_us, 0) // 1_000_000))
    return f"{node}-{day}-{num:08d}.pcap"


@contextlib.contextmanager
def _without_waiting(conn: apsw.Connection) -> Iterator[None]:
    """Statements that fail at once (apsw.BusyError) while another connection writes."""
    conn.setbusytimeout(0)
    try:
        yield
    finally:
        conn.setbusytimeout(BUSY_TIMEOUT_MS)


def hidden_path(pcap_dir: str, name: str) -> str:
    return os.path.join(pcap_dir, "." + name)


@dataclass
class _OpenFile:
    num: int
    name: str
    fd: int
    linktype: int
    first_us: int
    last_us: int
    opened_wall: float
    size: int = 24  # bytes handed out so far (buffered ones included)
    packets: int = 0


class FileNumbers:
    """Hands out file numbers; writers of one process that share a pcapDir share one of these."""

    def __init__(self, first: int) -> None:
        self.next = first
        self.lock = threading.Lock()

    def take(self) -> int:
        with self.lock:
            num = self.next
            self.next += 1
            return num


class PcapWriter:
    """Writes packets into rotating pcap files and keeps the file registry up to date.

    One process writes a pcapDir (``fukurou run`` or ``fukurou import`` holds the run lock); inside
    it, writers share ``numbers`` (live capture and the import folder each write their own files).
    Only the first writer repairs files a crash left open (``repair``): later ones would take the
    first one's open file for a crashed one. A writer uses ``conn`` from the thread that calls it.
    ``on_rotate(closed_num)`` runs after each file is closed (the free-space check hooks in there);
    ``on_full()`` runs when a write fails with ENOSPC, before one retry.
    """

    def __init__(self, conn: apsw.Connection, settings: Any,
                 on_rotate: Callable[[int], None] | None = None,
                 on_full: Callable[[], None] | None = None,
                 numbers: FileNumbers | None = None, repair: bool = True) -> None:
        self.conn = conn
        self.dir = settings.pcapDir
        self.node = settings.nodeName
        # Typed: compiled, the per-packet comparisons are then on machine integers.
        self.snaplen: int = settings.snapLen
        self.max_bytes = max(int(settings.maxFileSizeG * (1 << 30)), 25)
        self.max_age_us: int = int(settings.maxFileTimeM * 60_000_000)
        self.on_rotate = on_rotate
        self.on_full = on_full
        os.makedirs(self.dir, exist_ok=True)
        self.repaired = repair_open_files(conn, self.dir) if repair else []
        self.numbers = numbers or FileNumbers(next_file_number(conn, self.dir))
        self.opened: list[int] = []  # numbers of the files this writer started, in order
        self.file: _OpenFile | None = None
        # What is not yet written, as the pieces themselves (record headers and packets, in order),
        # handed to writev(): ~140 instructions a packet less than copying both into a bytearray
        # (writev's work per piece included), and the bytes are copied once, by the kernel.
        self.pieces: list[bytes] = []
        self.pending = 0  # their bytes
        # The bound method, looked up once: a module constant is a dict lookup in compiled code.
        self._record_header: Callable[[int, int, int, int], bytes] = RECORD_HEADER.pack
        self.last_flush = time.monotonic()
        self.files_written = 0
        self.packets = 0
        self.progress_skipped = 0  # once-a-second row updates left out while the database was busy
        self.rotations_postponed = 0  # rotations put off because the database was busy
        self._unrecorded: list[tuple[float, int, int, int, int, int]] = []  # closed files' rows not yet closed
        self._reserved = 0  # the next file's number, taken by a rotation that was put off (0: none)
        self._next_try = 0  # bytes the current file must reach before a put-off rotation is tried again
        self._packets_at_tick = -1  # the current file's packets at the last tick (an idle link's full file)

    @property
    def next_num(self) -> int:
        """The number the next file of this process will get (another writer may take it first)."""
        return self.numbers.next

    @property
    def current_num(self) -> int | None:
        """Number of the file being written (never deleted by the free-space check)."""
        return self.file.num if self.file else None

    # --- the packet path ----------------------------------------------------------------------

    def write(self, ts_us: int, caplen: int, wirelen: int, data: bytes, linktype: int = 1,
              header: bytes | None = None) -> int:
        """Append one packet; returns its position (file_number << 40 | record offset).
        ``header``: the packet's record header when the caller has it as this writer would pack
        it (an imported PCAP file's own: packing four fields again cost ~1,000 instructions a
        packet)."""
        f = self.file
        if f is None or f.linktype != linktype:
            f = self._start(ts_us, linktype)
        elif ((f.size >= self.max_bytes or (self.max_age_us and ts_us - f.first_us >= self.max_age_us))
              and f.size >= self._next_try):
            f = self._roll(ts_us, linktype)
        if caplen > self.snaplen:  # the file header promises snapLen; imports may carry more
            data, caplen, header = data[: self.snaplen], self.snaplen, None
        position = (f.num << FILE_SHIFT) | f.size
        pieces = self.pieces
        if header is None:
            header = self._record_header(ts_us // 1_000_000, ts_us % 1_000_000, caplen, wirelen)
        pieces.append(header)
        pieces.append(data)
        self.pending += 16 + caplen
        f.size += 16 + caplen
        f.packets += 1
        f.last_us = ts_us
        if self.pending >= BUFFER_BYTES:
            self._flush_buffer()
        return position

    def tick(self, now: float | None = None) -> None:
        """Call about once a second: pushes buffered packets to the kernel, rotates old files."""
        mono = time.monotonic()
        if mono - self.last_flush < FLUSH_SECONDS:
            return
        self.last_flush = mono
        self._next_try = 0  # a rotation put off is tried again at the next packet
        self._record_closed(wait=False)
        f = self.file
        if f is None:
            return
        wall = time.time() if now is None else now
        idle = f.packets == self._packets_at_tick
        self._packets_at_tick = f.packets
        # A full file is closed here only when no packet came since the last tick: on a busy link
        # the next packet rotates it (without waiting for the database, which a close followed by
        # a new file's start on the next packet would do).
        if (self.max_age_us and (wall - f.opened_wall) * 1_000_000 >= self.max_age_us) or (
                idle and f.size >= self.max_bytes):
            self.rotate()
            return
        self._flush_buffer()
        _start_writeback(f.fd)
        self._note_progress(f)

    def rotate(self) -> None:
        """Close the current file (flush, fsync, publish under its real name, mark closed)."""
        f = self.file
        if f is None:
            return
        self._flush_buffer()
        os.fsync(f.fd)
        os.close(f.fd)
        self.file = None
        os.rename(hidden_path(self.dir, f.name), os.path.join(self.dir, f.name))
        _fsync_dir(self.dir)
        self._unrecorded.append((time.time(), f.size, f.packets, f.first_us, f.last_us, f.num))
        self._record_closed(wait=False)
        self.files_written += 1
        self.packets += f.packets
        if self.on_rotate is not None:
            self.on_rotate(f.num)

    def sync(self) -> None:
        """Everything written so far is on disk and in the registry (end of an import)."""
        f = self.file
        if f is None:
            return
        self._flush_buffer()
        os.fsync(f.fd)
        self._update_row(f)
        self._record_closed(wait=True)

    def close(self) -> None:
        self.rotate()
        self._record_closed(wait=True)

    # --- internals ----------------------------------------------------------------------------

    def _start(self, ts_us: int, linktype: int) -> _OpenFile:
        """A new file (the first, or for a new link type): its row is inserted, waiting if need be."""
        self.rotate()
        num = self._take_number()
        name = file_name(self.node, num, ts_us)
        self._register(num, name, ts_us, linktype)
        return self._open(num, name, ts_us, linktype)

    def _roll(self, ts_us: int, linktype: int) -> _OpenFile:
        """The next file for a full or old one, if its row goes in without waiting; else the
        current file, which takes the packet, and the rotation is tried again later."""
        num = self._take_number()
        name = file_name(self.node, num, ts_us)
        try:
            with _without_waiting(self.conn):
                self._register(num, name, ts_us, linktype)
        except apsw.BusyError:
            self._reserved = num
            f = self.file
            assert f is not None
            self._next_try = f.size + min(RETRY_BYTES, self.max_bytes // 8)
            self.rotations_postponed += 1
            return f
        self.rotate()
        return self._open(num, name, ts_us, linktype)

    def _take_number(self) -> int:
        num, self._reserved = self._reserved, 0
        return num or self.numbers.take()

    def _register(self, num: int, name: str, ts_us: int, linktype: int) -> None:
        with self.conn:  # the row first: a crash then leaves a row to repair, never an unknown file
            self.conn.execute(
                "INSERT INTO pcap_files (num, name, node, first_us, last_us, size, packets, linktype, snaplen, "
                "state, opened_at) VALUES (?, ?, ?, ?, ?, 24, 0, ?, ?, 'open', ?)",
                (num, name, self.node, ts_us, ts_us, linktype, self.snaplen, time.time()))

    def _open(self, num: int, name: str, ts_us: int, linktype: int) -> _OpenFile:
        self.opened.append(num)
        self._next_try = 0
        self._packets_at_tick = -1
        fd = os.open(hidden_path(self.dir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        self.file = _OpenFile(num, name, fd, linktype, ts_us, ts_us, time.time())
        self.pieces.append(pcap_file_header(self.snaplen, linktype))
        self.pending += 24
        return self.file

    def _flush_buffer(self) -> None:
        f = self.file
        pieces = self.pieces
        if f is None or not pieces:
            return
        first = 0  # the first piece not yet written in full
        retried = False
        while first < len(pieces):
            try:
                written = os.writev(f.fd, pieces[first : first + WRITEV_PIECES])
            except OSError as err:
                if err.errno != errno.ENOSPC or retried or self.on_full is None:
                    del pieces[:first]  # kept: what was not written; never what was
                    raise WriterError(err.errno, f"cannot write {f.name}: {err.strerror}") from err
                retried = True
                log.warning("pcapDir is full while writing %s; freeing space and retrying", f.name)
                self._record_closed(wait=True)  # a closed file still marked open could not be freed
                self.on_full()
                continue
            while written:  # a short write (a full disk) leaves the rest of a piece for the next call
                size = len(pieces[first])
                if written < size:
                    pieces[first] = pieces[first][written:]
                    break
                written -= size
                first += 1
        pieces.clear()
        self.pending = 0

    def _note_progress(self, f: _OpenFile) -> None:
        """The open file's row brought up to date, once a second. It is only progress (how far the
        file got, for `fukurou status` and the viewer), so it is skipped rather than waited for
        while another connection writes: the store committing a batch holds the database for up to
        a few tenths of a second, and the packet path must not stand still for that (an import's
        store process: ~0.4 s of waiting per GB; live capture: a filling ring). The next tick, the
        rotation or the close writes it."""
        try:
            with _without_waiting(self.conn):
                self._update_row(f)
        except apsw.BusyError:
            self.progress_skipped += 1

    def _record_closed(self, wait: bool) -> None:
        """Mark the closed files' rows closed; without ``wait``, only if the database is free now
        (else at the next tick, rotation or close)."""
        if not self._unrecorded:
            return
        if wait:
            self._write_closed_rows()
            return
        with contextlib.suppress(apsw.BusyError), _without_waiting(self.conn):
            self._write_closed_rows()

    def _write_closed_rows(self) -> None:
        with self.conn:
            self.conn.executemany(_CLOSE_ROW, self._unrecorded)
        self._unrecorded = []

    def _update_row(self, f: _OpenFile) -> None:
        with self.conn:
            self.conn.execute("UPDATE pcap_files SET size=?, packets=?, first_us=?, last_us=? WHERE num=?",
                              (f.size, f.packets, f.first_us, f.last_us, f.num))


def _start_writeback(fd: int) -> None:
    """Have the kernel start writing the file's new pages to disk now, and forget the written ones.

    Otherwise the pages wait in memory until the rotation's fsync, and the packet path waits on
    that fsync for a whole file's worth of disk writes at once (importing the 1 GB home capture:
    0.45 s in fsync; now 0.13 s, plus 0.2 s spent here in pieces of ~25 ms). Packets are seldom
    read back soon after they are written, so the page cache is better left to the database
    (Arkime writes its pcap with direct I/O for the same reason). Linux starts the writeback
    without waiting for it to finish; pages still being written stay cached until the next call."""
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:  # a filesystem without it: the fsync at rotation does all the work, as before
        pass


def _fsync_dir(path: str) -> None:
    """Make a rename durable: the directory entry lives in the directory's own blocks."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def next_file_number(conn: apsw.Connection, pcap_dir: str) -> int:
    """One more than any number in the registry or on disk (a lost database must not reuse numbers)."""
    row = conn.execute("SELECT max(num) FROM pcap_files").fetchone()
    highest = row[0] if row and row[0] is not None else 0
    for entry in os.listdir(pcap_dir):
        match = _NUM_RE.search(entry)
        if match:
            highest = max(highest, int(match.group(1)))
    return highest + 1


# --- crash repair -------------------------------------------------------------------------------

@dataclass
class Repair:
    """What start-up did to a file a crash left open."""

    num: int
    name: str
    packets: int
    size: int
    cut_bytes: int
    missing: bool = False


def scan_records(path: str, snaplen: int) -> tuple[int, int, int | None, int | None]:
    """(packets, end of the last whole record, first ts, last ts) of a pcap file we wrote.

    A record whose header or data runs past the end (a torn write) or whose length is beyond the
    file's snaplen (garbage after a torn header) ends the scan.
    """
    packets, first, last = 0, None, None
    with open(path, "rb") as fh:
        header = fh.read(24)
        if len(header) < 24:
            return 0, 0, None, None
        end = 24
        size = os.fstat(fh.fileno()).st_size
        while True:
            head = fh.read(16)
            if len(head) < 16:
                break
            sec, usec, caplen, _ = RECORD_HEADER.unpack(head)
            if caplen > snaplen or end + 16 + caplen > size:
                break
            fh.seek(caplen, os.SEEK_CUR)
            ts = sec * 1_000_000 + usec
            first = ts if first is None else first
            last = ts
            packets += 1
            end += 16 + caplen
    return packets, end, first, last


def repair_open_files(conn: apsw.Connection, pcap_dir: str) -> list[Repair]:
    """Close every file the registry says is open: cut a torn last record, publish it, mark it closed.

    Run at start-up, before any new file is opened; every whole record of such a file is kept.
    """
    repairs = []
    rows: list[Any] = conn.execute(
        "SELECT num, name, snaplen, linktype FROM pcap_files WHERE state='open' ORDER BY num").fetchall()
    for num, name, snaplen, linktype in rows:
        repairs.append(_repair_one(conn, pcap_dir, num, name, snaplen, linktype))
    return repairs


def _repair_one(conn: apsw.Connection, pcap_dir: str, num: int, name: str, snaplen: int, linktype: int) -> Repair:
    final, hidden = os.path.join(pcap_dir, name), hidden_path(pcap_dir, name)
    path = hidden if os.path.exists(hidden) else final
    if not os.path.exists(path):
        with conn:
            conn.execute("UPDATE pcap_files SET state='deleted', deleted_at=?, packets=0, size=0, "
                         "note='missing at start-up after a crash' WHERE num=?", (time.time(), num))
        log.warning("pcap file %s was open at a crash and is missing", name)
        return Repair(num, name, 0, 0, 0, missing=True)
    packets, end, first, last = scan_records(path, snaplen)
    size = os.path.getsize(path)
    with open(path, "r+b") as fh:
        if end < 24:  # not even a whole file header: write one, so the file reads as empty
            fh.truncate(0)
            fh.write(pcap_file_header(snaplen, linktype))
            end = 24
        fh.truncate(end)
        os.fsync(fh.fileno())
    if path != final:
        os.rename(path, final)
        _fsync_dir(pcap_dir)
    cut = max(size - end, 0)
    with conn:
        conn.execute(
            "UPDATE pcap_files SET state='closed', closed_at=?, size=?, packets=?, first_us=coalesce(?, first_us), "
            "last_us=coalesce(?, last_us), note=? WHERE num=?",
            (time.time(), end, packets, first, last, f"repaired after a crash: {cut} torn bytes cut", num))
    log.warning("repaired %s after a crash: %d packets kept, %d torn bytes cut", name, packets, cut)
    return Repair(num, name, packets, end, cut)
