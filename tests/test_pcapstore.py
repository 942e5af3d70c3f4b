"""The PCAP store: rotation, registry, crash repair, free space on a small disk, retrieval.

Real files, real ``fukurou import`` processes (one is killed with SIGKILL mid-import), a real tmpfs.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import apsw
import pcapgen as g
import pytest

from appliance.capture.importer import Importer, Progress
from appliance.capture.sink import PacketSink
from appliance.capture.watch import ImportWatcher
from appliance.documents import file_numbers, flat_document
from appliance.fields import nest
from appliance.pcapstore import FILE_SHIFT, WriterError
from appliance.pcapstore.freespace import FreeSpaceGuard
from appliance.pcapstore.reader import PacketsGone, StoreReader, positions_from_document
from appliance.pcapstore.writer import PcapWriter, hidden_path, next_file_number
from appliance.readers import open_capture
from appliance.settings import FreeSpace, Settings
from appliance.store.db import open_database
from appliance.store.sessions import SessionStore

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_600_000_000_000_000
MIN_FILE_G = 0.0001  # the smallest maxFileSizeG the settings allow: 107374 bytes


# --- helpers ------------------------------------------------------------------------------------

def traffic(count: int, seed: int = 1, flows: int = 50) -> list[tuple[int, bytes]]:
    """``count`` UDP packets of varied sizes over ``flows`` flows, 1 ms apart (built once, reused)."""
    rng = random.Random(seed)
    shapes = []
    for n in range(flows):
        for size in (40, 300, 900, 1400):
            payload = bytes(rng.getrandbits(8) for _ in range(size))
            shapes.append(g.ethernet(g.ipv4(g.udp(20000 + n, 5000 + n, payload), f"10.1.{n}.1", f"10.2.{n}.2")))
    return [(T0 + i * 1000, shapes[rng.randrange(len(shapes))]) for i in range(count)]


def settings_for(tmp: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {"pcapDir": str(tmp / "pcap"), "dbPath": str(tmp / "db.sqlite"),
                              "maxFileSizeG": MIN_FILE_G, "maxFileTimeM": 0}
    values.update(changes)
    return Settings().replace(**values)


def write_config(tmp: Path, settings: Settings) -> Path:
    path = tmp / "config.ini"
    lines = ["[default]"] + [f"{k} = {settings.as_dict()[k]}" for k in
                             ("pcapDir", "dbPath", "maxFileSizeG", "maxFileTimeM", "freeSpaceG", "snapLen")]
    path.write_text("\n".join(lines) + "\n")
    return path


class Store:
    """An in-process store: writer + sink + importer, collecting every saved session."""

    def __init__(self, settings: Settings, parsers: bool = False) -> None:
        self.settings = settings
        self.conn = open_database(settings.dbPath)
        self.sessions: list[Any] = []
        self.writer = PcapWriter(self.conn, settings)
        self.guard = FreeSpaceGuard(self.conn, settings, lambda: self.writer.current_num)
        self.sink = PacketSink(settings, self.writer, self.saved, parsers=parsers)
        self.importer = Importer(self.conn, self.sink, self.guard)

    def saved(self, session: Any) -> None:
        self.sessions.append((session, list(session.positions), flat_document(session)))

    def close(self) -> None:
        self.writer.close()
        self.conn.close()


def stored_files(pcap_dir: str) -> list[str]:
    return sorted(n for n in os.listdir(pcap_dir) if n.endswith(".pcap") and not n.startswith("."))


def records_of(path: str) -> list[tuple[int, int, int, bytes]]:
    with open_capture(path) as reader:
        out = [(ts, caplen, wirelen, data) for ts, caplen, wirelen, data, _, _ in reader]
        assert reader.damage is None, f"{path}: {reader.damage}"
    return out


def store_records(pcap_dir: str) -> list[tuple[int, int, int, bytes]]:
    out = []
    for name in stored_files(pcap_dir):
        out += records_of(os.path.join(pcap_dir, name))
    return out


def fukurou(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "appliance", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


# --- rotation and the registry --------------------------------------------------------------------

def test_rotation_at_size_every_packet_in_exactly_one_file(tmp_path: Path) -> None:
    records = traffic(3000)
    capture = g.write_pcap(tmp_path / "in.pcap", records)
    settings = settings_for(tmp_path)
    store = Store(settings)
    result = store.importer.import_file(capture)
    store.close()
    assert result.status == "done" and result.packets == 3000
    limit = int(MIN_FILE_G * (1 << 30))
    names = stored_files(settings.pcapDir)
    assert len(names) > 5
    conn = open_database(settings.dbPath)
    rows = conn.execute("SELECT num, name, size, packets, state FROM pcap_files ORDER BY num").fetchall()
    assert [r[1] for r in rows] == names and all(r[4] == "closed" for r in rows)
    nums = [r[0] for r in rows]
    assert nums == sorted(nums) and len(set(nums)) == len(nums)
    for num, name, size, packets, _ in rows:
        path = os.path.join(settings.pcapDir, name)
        recs = records_of(path)
        assert os.path.getsize(path) == size and len(recs) == packets
        assert name.startswith("fukurou-200913-") and name.endswith(f"-{num:08d}.pcap")
        if num != nums[-1]:  # rotated by size: the packet that reached the limit is the last one
            assert size >= limit and size - (16 + recs[-1][1]) < limit
    assert store_records(settings.pcapDir) == [(ts, len(d), len(d), d) for ts, d in records]


def test_rotation_by_packet_time(tmp_path: Path) -> None:
    records = [(T0 + i * 20_000_000, d) for i, (_, d) in enumerate(traffic(30))]  # 20 s apart, 10 min
    capture = g.write_pcap(tmp_path / "in.pcap", records)
    settings = settings_for(tmp_path, maxFileSizeG=1, maxFileTimeM=2)
    store = Store(settings)
    store.importer.import_file(capture)
    store.close()
    assert [len(records_of(os.path.join(settings.pcapDir, n))) for n in stored_files(settings.pcapDir)] == [6] * 5


def test_progress_is_not_waited_for_while_another_connection_writes(tmp_path: Path) -> None:
    """The once-a-second update of the open file's row is skipped while the store (another
    connection) holds the database, instead of stalling the packet path; the next tick writes it."""
    settings = settings_for(tmp_path, maxFileSizeG=1)
    conn = open_database(settings.dbPath)
    writer = PcapWriter(conn, settings)
    for ts, data in traffic(20):
        writer.write(ts, len(data), len(data), data)
    store = open_database(settings.dbPath, migrate=False)  # a second writer, as the store's child
    store.execute("BEGIN IMMEDIATE")
    writer.last_flush = 0.0
    writer.tick()  # with the default busy timeout this would wait 10 s, then fail
    assert writer.progress_skipped == 1
    assert conn.execute("SELECT packets FROM pcap_files").fetchall() == [(0,)]
    store.execute("COMMIT")
    writer.last_flush = 0.0
    writer.tick()
    assert writer.progress_skipped == 1
    assert conn.execute("SELECT packets FROM pcap_files").fetchall() == [(20,)]
    store.execute("BEGIN IMMEDIATE")
    threading.Timer(0.2, lambda: store.execute("COMMIT")).start()
    writer.close()  # the closing row update still waits for the database: it is no mere progress
    assert conn.execute("SELECT packets, state FROM pcap_files").fetchall() == [(20, "closed")]


def test_a_rotation_does_not_wait_while_another_connection_writes(tmp_path: Path) -> None:
    """While the store (another connection) holds the database, a full file takes more packets
    instead of the packet path waiting for the next file's row; once the database is free the
    file rotates, and every packet is in exactly one file."""
    settings = settings_for(tmp_path)
    limit = int(MIN_FILE_G * (1 << 30))
    conn = open_database(settings.dbPath)
    writer = PcapWriter(conn, settings)
    records = traffic(900)
    store = open_database(settings.dbPath, migrate=False)  # a second writer, as the store's child
    for ts, data in records[:100]:
        writer.write(ts, len(data), len(data), data)
    store.execute("BEGIN IMMEDIATE")
    for ts, data in records[100:400]:  # with the default busy timeout this would wait 10 s, then fail
        writer.write(ts, len(data), len(data), data)
    assert len(writer.opened) == 1 and writer.rotations_postponed >= 1
    assert writer.file is not None and writer.file.size > limit
    store.execute("COMMIT")
    writer.last_flush = 0.0
    writer.tick()  # the put-off rotation is tried at the next packet
    for ts, data in records[400:]:
        writer.write(ts, len(data), len(data), data)
    writer.close()
    rows = conn.execute("SELECT name, size, packets, state FROM pcap_files ORDER BY num").fetchall()
    assert len(rows) > 3 and all(r[3] == "closed" for r in rows)
    assert [r[0] for r in rows] == stored_files(settings.pcapDir)
    first = records_of(os.path.join(settings.pcapDir, rows[0][0]))
    assert len(first) >= 400 and rows[0][1] > limit  # it took the packets while the database was busy
    assert store_records(settings.pcapDir) == [(ts, len(d), len(d), d) for ts, d in records]


def test_a_full_file_on_an_idle_link_is_closed_by_the_tick(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    conn = open_database(settings.dbPath)
    writer = PcapWriter(conn, settings)
    for ts, data in traffic(400):
        writer.write(ts, len(data), len(data), data)
        if writer.file is not None and writer.file.size >= int(MIN_FILE_G * (1 << 30)):
            break  # the packet that reached the limit: nothing more comes
    for _ in range(2):  # the first tick sees the last packets arrive, the second an idle file
        writer.last_flush = 0.0
        writer.tick()
    assert writer.file is None
    assert conn.execute("SELECT state FROM pcap_files").fetchall() == [("closed",)]
    writer.close()


def _resident_bytes(path: str) -> int:
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", path],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


@pytest.mark.skipif(shutil.which("fincore") is None, reason="util-linux fincore")
def test_written_packets_leave_the_page_cache_once_on_disk(tmp_path: Path) -> None:
    """Each tick starts the disk writes of the open file and drops its pages already written, so
    the rotation's fsync finds little to wait for and the page cache is left to the database."""
    kind = subprocess.run(["stat", "-f", "-c", "%T", str(tmp_path)], capture_output=True, text=True).stdout
    if kind.strip() == "tmpfs":
        pytest.skip("tmpfs pages are the file itself: nothing to write back or drop")
    settings = settings_for(tmp_path, maxFileSizeG=1)
    writer = PcapWriter(open_database(settings.dbPath), settings)
    for ts, data in traffic(6000):
        writer.write(ts, len(data), len(data), data)
    assert writer.file is not None
    path = hidden_path(settings.pcapDir, writer.file.name)
    writer.last_flush = 0.0
    writer.tick()  # the buffer reaches the kernel, and its writeback starts
    os.sync()  # all of it on disk: clean pages
    written = os.path.getsize(path)
    assert written > 2_000_000
    writer.last_flush = 0.0
    writer.tick()
    assert _resident_bytes(path) < written // 20
    writer.close()


def test_numbers_increase_across_restarts_and_lost_database(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    capture = g.write_pcap(tmp_path / "in.pcap", traffic(1000))
    seen = []
    for _ in range(2):
        store = Store(settings)
        store.importer.import_file(capture, force=True)
        store.close()
        seen.append(stored_files(settings.pcapDir))
    first, both = seen
    assert set(first) < set(both) and both == sorted(both)
    assert len(both) == 2 * len(first)
    os.unlink(settings.dbPath)  # a lost database must not make numbers start again at 1
    conn = open_database(settings.dbPath)
    assert next_file_number(conn, settings.pcapDir) == len(both) + 1


def test_import_is_exactly_once(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, maxFileSizeG=1)
    capture = g.write_pcap(tmp_path / "in.pcap", traffic(200))
    store = Store(settings)
    assert store.importer.import_file(capture).status == "done"
    assert store.importer.import_file(capture).status == "skipped"
    store.close()
    store = Store(settings)  # a restart
    assert store.importer.import_file(capture).status == "skipped"
    os.utime(capture, ns=(1, 1))  # touched: a different file as far as we can tell
    assert store.importer.import_file(capture).status == "done"
    store.close()


# --- crash repair -------------------------------------------------------------------------------

def test_kill_9_mid_import_then_restart_repairs(tmp_path: Path) -> None:
    records = traffic(150_000, flows=200)
    capture = g.write_pcap(tmp_path / "big.pcap", records)
    settings = settings_for(tmp_path)
    config = write_config(tmp_path, settings)
    proc = fukurou("--config", str(config), "import", "--no-parsers", capture)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.isdir(settings.pcapDir) and len(stored_files(settings.pcapDir)) >= 5:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the import finished before it could be killed; make the capture bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    closed_before = stored_files(settings.pcapDir)
    conn = open_database(settings.dbPath)
    rows_before = dict(conn.execute("SELECT name, packets FROM pcap_files WHERE state='closed'").fetchall())
    # Rows that say open: at most one file being written (hidden name), at most one registered by
    # a rotation that the kill stopped before it created the file, and any files already closed
    # and published whose rows were to be marked closed at the next tick (the store's process held
    # the database). Repair closes them all like any open file.
    open_rows = [name for (name,) in conn.execute("SELECT name FROM pcap_files WHERE state='open'").fetchall()]
    still_open = len(open_rows)
    hidden = [n for n in open_rows if os.path.exists(hidden_path(settings.pcapDir, n))]
    assert len(hidden) <= 1
    assert len([n for n in open_rows if n not in hidden and n not in closed_before]) <= 1
    conn.close()

    writer = PcapWriter(open_database(settings.dbPath), settings)  # what every start-up does
    assert len(writer.repaired) == still_open
    # "missing" only if the kill fell between inserting the row and creating the file: no packets then.
    assert all(r.packets == 0 for r in writer.repaired if r.missing)
    writer.close()

    conn = open_database(settings.dbPath)
    assert conn.execute("SELECT count(*) FROM pcap_files WHERE state='open'").fetchone()[0] == 0
    # No packet of a closed file lost. (A kill between the rename and the registry update leaves a
    # published file whose row still says open: repair handles that one like any open file.)
    assert set(rows_before) <= set(closed_before)
    for name, packets in rows_before.items():
        assert len(records_of(os.path.join(settings.pcapDir, name))) == packets
    stored = store_records(settings.pcapDir)  # everything reads back, torn tail cut: a prefix of the input
    assert len(stored) >= sum(rows_before.values())
    assert stored == [(ts, len(d), len(d), d) for ts, d in records[: len(stored)]]
    assert not [n for n in os.listdir(settings.pcapDir) if n.startswith(".")]

    done = fukurou("--config", str(config), "import", "--no-parsers", capture)  # the restart finishes it
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    again = store_records(settings.pcapDir)
    assert again[len(stored):] == [(ts, len(d), len(d), d) for ts, d in records]


def short_flows(count: int) -> list[tuple[int, bytes]]:
    """``count`` UDP flows of 5 packets 200 ms apart, one starting every 50 ms: each times out
    (udpTimeout, on packet time) long before the file ends, so an import stores sessions early."""
    records = []
    for n in range(count):
        frame = g.ethernet(g.ipv4(g.udp(1024 + n, 53, bytes(60)), f"10.3.{n // 250}.{n % 250 + 1}", "10.9.9.9"))
        records += [(T0 + n * 50_000 + k * 200_000, frame) for k in range(5)]
    return sorted(records, key=lambda r: r[0])


def session_keys(docs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((d["lastPacket"], d["source"]["ip"], d["source"]["port"], d["network"]["packets"]) for d in docs)


def stored_sessions(db_path: str) -> int:
    try:
        conn = apsw.Connection(db_path, flags=apsw.SQLITE_OPEN_READONLY)
        return int(conn.execute("SELECT count(*) FROM sessions").fetchall()[0][0])
    except apsw.Error:  # not created yet
        return 0


def test_kill_9_mid_import_then_restart_stores_each_session_once(tmp_path: Path) -> None:
    """The re-import of a file a crash left half done skips the sessions its first try stored."""
    capture = g.write_pcap(tmp_path / "flows.pcap", short_flows(40_000))
    settings = settings_for(tmp_path, maxFileSizeG=0.01)
    config = write_config(tmp_path, settings)
    proc = fukurou("--config", str(config), "import", "--no-parsers", capture)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and stored_sessions(settings.dbPath) < 2000:
        time.sleep(0.01)
    assert proc.poll() is None, "the import finished before it could be killed; make the capture bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = stored_sessions(settings.dbPath)
    assert before >= 2000

    done = fukurou("--config", str(config), "import", "--no-parsers", capture)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert f"{before} sessions that an interrupted import had stored were not stored again" in out + err

    parsed = fukurou("parse", "--no-parsers", "--format", "jsonl", capture)
    lines, _ = parsed.communicate(timeout=120)
    expected = session_keys([json.loads(line) for line in lines.splitlines()])
    store = SessionStore(open_database(settings.dbPath))
    ids = [r[0] for r in store.conn.execute("SELECT id FROM sessions")]
    assert session_keys([nest(d) for d in store.get_many(ids)]) == expected  # every session once, none twice


# --- free space ---------------------------------------------------------------------------------

@pytest.fixture
def tmpfs(tmp_path: Path) -> Any:
    if os.geteuid() != 0:
        pytest.skip("mounting a 64 MB tmpfs needs root (CI runs as root)")
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
                            capture_output=True, text=True)
    if result.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_free_space_on_a_64_mb_tmpfs(tmp_path: Path, tmpfs: Path) -> None:
    records = traffic(50_000, flows=100)
    capture = g.write_pcap(tmp_path / "chunk.pcap", records)  # ~41 MB; imported 12 times: ~500 MB
    settings = settings_for(tmp_path, pcapDir=str(tmpfs / "pcap"), maxFileSizeG=0.004, freeSpaceG="10%")
    config = write_config(tmp_path, settings)
    st = os.statvfs(tmpfs)
    threshold = FreeSpace(10, True).threshold_bytes(st.f_blocks * st.f_frsize)
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            s = os.statvfs(tmpfs)
            samples.append(s.f_bavail * s.f_frsize)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        proc = fukurou("--config", str(config), "import", "--no-parsers", "--force", *[capture] * 12)
        out, err = proc.communicate(timeout=600)
    finally:
        stop.set()
        sampler.join()
    assert proc.returncode == 0, err
    assert "12 imported" in out
    # Never below the threshold by more than the record being written when a sample was taken.
    assert min(samples) >= threshold - 70_000, (min(samples), threshold)
    conn = open_database(settings.dbPath)
    states = conn.execute("SELECT num, state FROM pcap_files ORDER BY num").fetchall()
    deleted = [n for n, s in states if s == "deleted"]
    kept = [n for n, s in states if s == "closed"]
    assert deleted and kept and max(deleted) < min(kept)  # oldest went first, newest kept
    assert stored_files(settings.pcapDir) == [n for n, in conn.execute(
        "SELECT name FROM pcap_files WHERE state='closed' ORDER BY num")]
    tail = store_records(settings.pcapDir)
    assert len(tail) < 2 * len(records)  # the newest data is there, whole (it may span two imports)
    assert tail == [(ts, len(d), len(d), d) for ts, d in (records * 2)[-len(tail):]]


def test_a_full_disk_mid_buffer_frees_space_and_loses_no_packet(tmp_path: Path, tmpfs: Path) -> None:
    """A buffer's write fails with ENOSPC part-way: the writer frees space (on_full) and writes
    the rest of that buffer before any later one."""
    ballast = tmpfs / "ballast"
    with open(ballast, "wb") as fh:  # fill the tmpfs to its last ~300 KB
        free = os.statvfs(tmpfs).f_bavail * os.statvfs(tmpfs).f_frsize
        fh.write(b"\0" * (free - 300_000))
    settings = settings_for(tmp_path, pcapDir=str(tmpfs / "pcap"), maxFileSizeG=1)
    conn = open_database(settings.dbPath)
    writer = PcapWriter(conn, settings)
    freed: list[int] = []
    writer.on_full = lambda: freed.append(ballast.stat().st_size) or ballast.unlink()
    records = traffic(4000)  # ~2.7 MB: buffers fail part-way once the 300 KB are gone
    for ts, data in records:
        writer.write(ts, len(data), len(data), data)
    writer.close()
    assert len(freed) == 1
    assert [(ts, data) for ts, _, _, data in store_records(settings.pcapDir)] == records
    # Without a way to free space, the failure reaches the packet path as a WriterError.
    writer = PcapWriter(conn, settings)
    with open(ballast, "wb") as fh:
        fh.write(b"\0" * (os.statvfs(tmpfs).f_bavail * os.statvfs(tmpfs).f_frsize - 300_000))
    with pytest.raises(WriterError, match="No space left"):
        for ts, data in records:
            writer.write(ts, len(data), len(data), data)
        writer.sync()
    conn.close()


def test_free_space_deletes_oldest_never_current(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, freeSpaceG=1)
    store = Store(settings)
    store.importer.import_file(g.write_pcap(tmp_path / "in.pcap", traffic(2000)))
    store.writer.write(T0, 60, 60, b"\0" * 60)  # a file is open now
    closed = len(stored_files(settings.pcapDir))
    free = [0]  # a disk that is always full: everything closed goes, the open file stays
    fake = os.statvfs_result((4096, 4096, 1000, 0, free[0], 1000, 0, 0, 0, 255))
    guard = FreeSpaceGuard(store.conn, settings, lambda: store.writer.current_num, statvfs=lambda _: fake)
    deleted = guard.check()
    assert deleted == closed > 1 and guard.stats.short_of_space == 1
    assert stored_files(settings.pcapDir) == []
    assert os.path.exists(os.path.join(settings.pcapDir, "." + store.conn.execute(
        "SELECT name FROM pcap_files WHERE state='open'").fetchone()[0]))
    store.close()


# --- retrieval ----------------------------------------------------------------------------------

def tcp_traffic() -> list[tuple[int, bytes]]:
    """20 TCP flows, interleaved packet by packet, so each session's packets span several files."""
    flows = []
    for n in range(20):
        flow = g.TcpFlow(f"192.168.1.{n + 2}", "10.0.0.1", 40000 + n, 80)
        packets = flow.handshake() + [flow.data(0, b"GET / HTTP/1.1\r\n\r\n")]
        packets += [flow.data(1, bytes([n]) * 1400) for _ in range(10)] + flow.close()
        flows.append(packets)
    return g.timed([p for group in zip(*flows, strict=True) for p in group])


def test_retrieval_is_byte_identical(tmp_path: Path) -> None:
    records = tcp_traffic()
    capture = g.write_pcap(tmp_path / "in.pcap", records)
    raw = Path(capture).read_bytes()
    settings = settings_for(tmp_path, maxFileSizeG=0.0001)
    store = Store(settings, parsers=True)
    store.importer.import_file(capture)
    reader = StoreReader(store.conn, settings.pcapDir)
    assert len(store.sessions) == 20
    everything = b"".join(reader.sessions_pcap([positions for _, positions, _ in store.sessions]))
    assert everything[24:] == raw[24:]  # every record, header and data, byte for byte, in time order
    for session, positions, doc in store.sessions:
        assert positions_from_document(doc["fileId"], doc["packetPos"]) == positions
        assert file_numbers(doc["packetPos"]) == doc["fileId"]  # what the store derives fileId from
        one = b"".join(reader.session_pcap(positions))
        got = records_of(g.write(tmp_path / "one.pcap", one))
        assert len(got) == sum(session.packets) and all(rec[3] in raw for rec in got)
        assert len({p >> FILE_SHIFT for p in positions}) > 1  # a session spanning files reads back whole
    store.close()


def test_every_input_format_gives_the_same_store_files(tmp_path: Path) -> None:
    """Records of a little-endian microsecond pcap go into the store with their own headers
    (readers.record_header); every other format's are packed. Either way, the same bytes."""
    records: list[Any] = [(ts, data) for ts, data in tcp_traffic()[:60]]
    records[5] = (records[5][0], records[5][1] + bytes(300))  # longer than snapLen: cut, header packed
    made = {
        "little-us": g.pcap_bytes(records),
        "big-us": g.pcap_bytes(records, endian=">"),
        "little-ns": g.pcap_bytes(records, nanos=True),
        "pcapng": g.pcapng_bytes(records),
    }
    stored = {}
    for name, content in made.items():
        settings = settings_for(tmp_path / name, snapLen=len(records[5][1]) - 100, maxFileSizeG=1)
        store = Store(settings)
        store.importer.import_file(g.write(tmp_path / f"{name}.in", content))
        store.close()
        stored[name] = [Path(settings.pcapDir, f).read_bytes() for f in stored_files(settings.pcapDir)]
    assert stored["little-us"] == stored["big-us"] == stored["little-ns"] == stored["pcapng"]
    assert records_of(os.path.join(tmp_path / "little-us" / "pcap", stored_files(str(tmp_path / "little-us" / "pcap"))[0]))[5][1] == len(records[5][1]) - 100


def test_search_by_file_finds_the_sessions_with_packets_in_it(tmp_path: Path) -> None:
    """Arkime's ``file`` expression: by a stored file's name, its full path or a wildcard; the
    sessions whose fileId lists the file, no more, no fewer (sessions span files here)."""
    from appliance.query import Searcher

    batches = []
    for first in (0, 10):  # ten flows, then ten more: the first files hold only the first ten
        flows = []
        for n in range(first, first + 10):
            flow = g.TcpFlow(f"192.168.1.{n + 2}", "10.0.0.1", 40000 + n, 80)
            flows.append(flow.handshake() + [flow.data(1, bytes([n]) * 1400) for _ in range(10)] + flow.close())
        batches += [p for group in zip(*flows, strict=True) for p in group]
    capture = g.write_pcap(tmp_path / "in.pcap", g.timed(batches))
    settings = settings_for(tmp_path, maxFileSizeG=MIN_FILE_G)
    store = Store(settings, parsers=True)
    store.importer.import_file(capture)
    sessions = SessionStore(store.conn)
    ids = {sessions.add(doc): doc for _, _, doc in store.sessions}
    sessions.flush()
    files = store.conn.execute("SELECT num, name FROM pcap_files ORDER BY num").fetchall()
    assert len(files) > 2
    searcher = Searcher(sessions)
    wants = []
    for num, name in files:
        want = {sid for sid, doc in ids.items() if num in doc["fileId"]}
        wants.append(want)
        assert set(searcher.ids(f"file == {name}")) == want
        assert set(searcher.ids(f"file == {os.path.join(settings.pcapDir, name)}")) == want
        assert set(searcher.ids(f"file != {name}")) == set(ids) - want
    assert all(wants) and min(len(w) for w in wants) < len(ids)  # not every session in every file
    last_two = {num for num, _ in files[-2:]}
    assert set(searcher.ids(f"file == [{','.join(n for _, n in files[-2:])}]")) == \
        {sid for sid, doc in ids.items() if last_two & set(doc["fileId"])}
    assert set(searcher.ids(f"file == *-{files[0][0]:08d}.pcap")) == \
        {sid for sid, doc in ids.items() if files[0][0] in doc["fileId"]}
    assert set(searcher.ids("file == no-such-file.pcap")) == set()
    store.close()


def test_retrieval_names_a_deleted_file(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    store = Store(settings)
    store.importer.import_file(g.write_pcap(tmp_path / "in.pcap", traffic(1000)))
    store.close()
    conn = open_database(settings.dbPath)
    fake = os.statvfs_result((4096, 4096, 1000, 0, 0, 1000, 0, 0, 0, 255))
    FreeSpaceGuard(conn, settings, statvfs=lambda _: fake).check()
    first = conn.execute("SELECT name FROM pcap_files WHERE num=1").fetchone()[0]
    with pytest.raises(PacketsGone, match=first):
        list(StoreReader(conn, settings.pcapDir).session_pcap([(1 << FILE_SHIFT) | 24]))
    with pytest.raises(PacketsGone, match="999"):
        list(StoreReader(conn, settings.pcapDir).session_pcap([(999 << FILE_SHIFT) | 24]))


# --- import command and folder ------------------------------------------------------------------

def test_import_command_summary_and_no_progress_when_piped(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    config = write_config(tmp_path, settings)
    good = g.write_pcap(tmp_path / "a.pcap", traffic(500))
    gz = g.write(tmp_path / "b.pcap.gz", g.gzipped(g.pcap_bytes(traffic(300, seed=2))))
    bad = g.write(tmp_path / "c.pcap", b"this is not a capture at all")
    proc = fukurou("--config", str(config), "import", good, gz, bad)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "c.pcap" in err
    assert "\r" not in out and out.count("\n") == 1
    assert out.startswith("2 imported, 0 already imported, 1 failed: 800 packets")
    proc = fukurou("--config", str(config), "import", str(tmp_path))
    out, _ = proc.communicate(timeout=60)
    assert out.startswith("0 imported, 2 already imported, 1 failed")


def test_progress_bar_on_a_terminal() -> None:
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    progress = Progress(1000, out, interval=0)
    progress.update(500, 1000, 2_000_000, "x.pcap")
    progress.finish()
    text = out.getvalue()
    assert "50%" in text and "pkt/s" in text and "MB/s" in text and "ETA" in text


def test_watch_folder_imports_once_and_moves_bad_files_aside(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, maxFileSizeG=1)
    folder = tmp_path / "incoming"
    folder.mkdir()
    g.write_pcap(folder / "early.pcap", traffic(100))  # there before the watcher starts
    store = Store(settings)
    watcher = ImportWatcher(str(folder), store.importer, settle=0.3)
    watcher.start()
    try:
        growing = open(folder / "growing.pcap", "wb")  # noqa: SIM115 - a writer still busy
        growing.write(g.pcap_bytes(traffic(50, seed=3))[:1000])
        growing.flush()
        g.write(folder / "bad.pcap", b"garbage" * 10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(watcher.results) < 2:
            watcher.poll()
            time.sleep(0.05)
        assert sorted((Path(r.path).name, r.status) for r in watcher.results) == [
            ("bad.pcap", "failed"), ("early.pcap", "done")]
        assert (folder / "failed" / "bad.pcap").exists() and not (folder / "bad.pcap").exists()
        growing.write(g.pcap_bytes(traffic(50, seed=3))[1000:])
        growing.close()
        while time.monotonic() < deadline and len(watcher.results) < 3:
            watcher.poll()
            time.sleep(0.05)
        assert watcher.results[-1].status == "done" and watcher.results[-1].packets == 50
    finally:
        watcher.stop()
    store.close()
    store = Store(settings)  # a restart: nothing is imported twice
    again = ImportWatcher(str(folder), store.importer, settle=0.1)
    again.start()
    try:
        time.sleep(0.3)
        again.poll()
        time.sleep(0.2)
        assert {r.status for r in again.poll() + again.results} <= {"skipped"}
    finally:
        again.stop()
    assert store.conn.execute("SELECT count(*) FROM imported_files WHERE state='done'").fetchone()[0] == 2
    store.close()
