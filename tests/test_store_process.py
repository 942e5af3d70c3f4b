"""Storing sessions in a second process (``appliance/store/writer_process.py``).

Real child processes on real SQLite files: the child stores what one process stores, small work
stays in process, refusals and a failed commit are reported, and a child or an import that dies
is an error, never a hang or a late commit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pcapgen as g
import pytest
from conftest import corpus_documents

from appliance.store.blob import packed_positions
from appliance.store.db import StoreError, open_database
from appliance.store.sessions import SessionStore
from appliance.store.writer_process import CHUNK_DOCS, StoreProcess, framed

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_600_000_000_000_000


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    found = [doc for docs in corpus_documents().values() for doc in docs]
    if not found:
        pytest.skip("the shared corpus is absent")
    assert len(found) > 2 * CHUNK_DOCS
    return found


def stored(db_path: Path) -> dict[int, dict[str, Any]]:
    store = SessionStore(open_database(str(db_path)))
    ids = [r[0] for r in store.conn.execute("SELECT id FROM sessions ORDER BY id")]
    return {sid: store.get_flat(sid) for sid in ids}  # type: ignore[misc]


def alive(pid: int) -> bool:
    """Running (a zombie that nobody reaped yet is not running)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_child_stores_what_one_process_stores(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    one = SessionStore(open_database(str(tmp_path / "one.db")))
    for doc in docs:
        one.add(doc)
    one.flush()
    writer = StoreProcess(open_database(str(tmp_path / "two.db")), str(tmp_path / "two.db"))
    for doc in docs:
        writer.add(doc)
    writer.flush()
    child = writer._child
    assert child is not None and alive(child.pid)  # the work went to a second process
    # The child gets its packet positions packed; the documents handed over keep their lists.
    assert all(type(doc["packetPos"]) is list for doc in docs)
    writer.close()
    assert child.returncode == 0 and writer.refused == 0
    assert stored(tmp_path / "two.db") == stored(tmp_path / "one.db")  # same ids, same documents


def test_a_child_that_falls_behind_gets_its_packet_positions_packed(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    """Once the import process has waited for the child (here: stopped for a second) for a tenth
    of its recent time, it packs the packet positions itself and sends shapes and values
    (``shapes``); the child stores them as it stores lists and dicts, file markers and fileId
    included, byte for byte."""
    with_files = [{**doc, "fileId": [3, 4], "packetPos": [-3, *doc["packetPos"], -4, 24]} for doc in docs * 4]
    one = SessionStore(open_database(str(tmp_path / "one.db")))
    for doc in with_files:
        one.add(doc)
    one.flush()
    chunks = [with_files[i:i + CHUNK_DOCS] for i in range(0, len(with_files), CHUNK_DOCS)]
    writer = StoreProcess(open_database(str(tmp_path / "two.db")), str(tmp_path / "two.db"))
    add_all(writer, chunks[0])  # starts the child
    child = writer._child
    assert child is not None and not writer._child_is_behind()
    os.kill(child.pid, signal.SIGSTOP)
    resume = threading.Timer(1.0, os.kill, (child.pid, signal.SIGCONT))
    resume.start()
    n = 1
    try:
        while n < len(chunks) and not writer._child_is_behind():
            add_all(writer, chunks[n])  # ~2 MB in all: a write waits for the stopped child
            n += 1
    finally:
        resume.join()
    assert writer._child_is_behind() and n < len(chunks)
    for chunk in chunks[n:]:
        add_all(writer, chunk)  # packed, as shapes and values
    assert writer._shapes.numbers  # the shapes went over
    writer.flush()
    writer.close()
    assert child.returncode == 0 and writer.refused == 0
    assert stored(tmp_path / "two.db") == stored(tmp_path / "one.db")
    # Byte for byte, blobs included: packed or not, the same rows (and no fileId kept apart).
    rows = "SELECT * FROM sessions ORDER BY id"
    assert (open_database(str(tmp_path / "two.db")).execute(rows).fetchall()
            == open_database(str(tmp_path / "one.db")).execute(rows).fetchall())


def test_packed_positions_are_stored_byte_for_byte_as_lists(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    given = [{**doc, "fileId": [3, 4], "packetPos": [-3, *doc["packetPos"], -4, 24]} for doc in docs]
    given.append({**docs[0], "packetPos": []})  # nothing to pack
    packed = [{**doc, "packetPos": packed_positions(doc["packetPos"])} if doc["packetPos"] else doc for doc in given]
    assert all(type(doc["packetPos"]) is bytes for doc in packed[:-1]) and packed[-1]["packetPos"] == []
    assert all(type(doc["packetPos"]) is list for doc in given)  # the caller's documents keep their lists
    rows = []
    for name, batch in (("given", given), ("packed", packed)):
        store = SessionStore(open_database(str(tmp_path / f"{name}.db")))
        for doc in batch:
            store.add(doc)
        store.flush()
        rows.append(store.conn.execute("SELECT * FROM sessions ORDER BY id").fetchall())
    assert rows[0] == rows[1]


def add_all(writer: StoreProcess, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        writer.add(doc)


def test_the_child_takes_the_fields_from_its_parent_and_imports_no_parser(
        tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    """The registry comes first on the pipe (R); the child stores parser fields (http, dns, tls
    objects) the same without the parsers' modules, which cost it 6.6 MiB."""
    import marshal

    from appliance import fields as registry

    one = SessionStore(open_database(str(tmp_path / "one.db")))
    for doc in docs:
        one.add(doc)
    one.flush()
    open_database(str(tmp_path / "two.db")).close()

    registry.load_protocol_fields()
    feed = framed(b"R", marshal.dumps(registry.definitions())) + framed(b"D", marshal.dumps(docs, 4))
    feed += framed(b"F") + framed(b"Q")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from appliance.store.writer_process import serve; "
            "rc = serve(sys.argv[2], sys.stdin.buffer, sys.stdout.buffer); "
            "print(sorted(m for m in sys.modules if m.startswith('appliance.protocols')), file=sys.stderr); "
            "sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, str(ROOT), str(tmp_path / "two.db")], input=feed,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.decode().strip().splitlines()[-1] == "[]"  # no parser module was imported
    assert marshal.loads(done.stdout[4:]) == (0, "")  # the answer to F: nothing refused
    assert stored(tmp_path / "two.db") == stored(tmp_path / "one.db")


def test_small_work_stays_in_process(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    writer = StoreProcess(open_database(str(tmp_path / "s.db")), str(tmp_path / "s.db"))
    for doc in docs[:10]:
        writer.add(doc)
    writer.tick()
    writer.flush()
    assert writer._child is None
    writer.close()
    assert len(stored(tmp_path / "s.db")) == 10


def test_in_process_work_then_the_child_gives_distinct_ids(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    """A small file stored in process, then a big one by the child: one store, no id reused."""
    writer = StoreProcess(open_database(str(tmp_path / "s.db")), str(tmp_path / "s.db"))
    for doc in docs[:5]:
        writer.add(doc)
    writer.flush()
    for doc in docs:
        writer.add(doc)
    writer.close()
    assert len(stored(tmp_path / "s.db")) == len(docs) + 5


def test_refused_documents_are_counted_and_the_rest_stored(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    writer = StoreProcess(open_database(str(tmp_path / "s.db")), str(tmp_path / "s.db"))
    good = docs[: CHUNK_DOCS + 40]
    for i, doc in enumerate(good):
        writer.add(doc)
        if i == 100:
            writer.add({"lastPacket": doc["lastPacket"], "no.such.field": 1})
    writer.flush()
    assert writer._child is not None and writer.refused == 1
    writer.close()
    assert len(stored(tmp_path / "s.db")) == len(good)


def test_a_commit_that_fails_is_an_error_at_flush(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    path = tmp_path / "s.db"
    conn = open_database(str(path))
    writer = StoreProcess(conn, str(path))
    for doc in docs[:CHUNK_DOCS]:
        writer.add(doc)
    writer.flush()
    conn.execute("CREATE TRIGGER no_more BEFORE INSERT ON sessions BEGIN SELECT RAISE(ABORT, 'the disk says no'); END")
    for doc in docs[CHUNK_DOCS: 2 * CHUNK_DOCS]:
        writer.add(doc)
    with pytest.raises(StoreError, match="could not commit: .*the disk says no"):
        writer.flush()
    conn.execute("DROP TRIGGER no_more")
    for doc in docs[2 * CHUNK_DOCS:]:  # the child goes on after a failed batch
        writer.add(doc)
    writer.close()
    assert len(stored(path)) == len(docs) - CHUNK_DOCS


def test_a_child_that_dies_is_an_error_not_a_hang(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    path = tmp_path / "s.db"
    writer = StoreProcess(open_database(str(path)), str(path))
    for doc in docs[:CHUNK_DOCS]:
        writer.add(doc)
    writer.flush()
    assert writer._child is not None
    os.kill(writer._child.pid, signal.SIGKILL)
    for doc in docs[CHUNK_DOCS:]:
        writer.add(doc)  # lost with the child, and no second child takes over
    with pytest.raises(StoreError, match=r"store process ended \(exit code -9\)"):
        writer.flush()
    with pytest.raises(StoreError, match="store process ended"):
        writer.flush()  # and again: nothing after the death may look stored
    assert writer._child is None
    writer.close()
    assert len(stored(path)) == CHUNK_DOCS  # what was committed stays


def short_flows(count: int) -> list[tuple[int, bytes]]:
    """``count`` UDP flows of 3 packets, one starting every 20 ms."""
    records = []
    for n in range(count):
        frame = g.ethernet(g.ipv4(g.udp(1024 + n % 60000, 53, bytes(40)), f"10.4.{n // 250 % 250}.{n % 250 + 1}",
                                  "10.9.9.9"))
        records += [(T0 + n * 20_000 + k * 100_000, frame) for k in range(3)]
    return sorted(records, key=lambda r: r[0])


def import_command(folder: Path, *args: str) -> list[str]:
    """``fukurou import ARGS`` into a store in ``folder`` (its config.ini, pcap/ and db.sqlite)."""
    folder.mkdir(exist_ok=True)
    config = folder / "config.ini"
    config.write_text(f"[default]\npcapDir = {folder / 'pcap'}\ndbPath = {folder / 'db.sqlite'}\n")
    return [sys.executable, "-m", "appliance", "--config", str(config), "import", *args]


def import_into(tmp: Path, capture: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(import_command(tmp, capture, *extra), cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_import_stores_the_same_sessions_with_and_without_the_child(tmp_path: Path) -> None:
    capture = g.write_pcap(tmp_path / "flows.pcap", short_flows(3000))
    two = import_into(tmp_path / "two", capture)
    one = import_into(tmp_path / "one", capture, "--one-process")
    assert two.returncode == 0 and one.returncode == 0, two.stderr + one.stderr
    assert "3,000 sessions" in two.stdout
    assert stored(tmp_path / "two" / "db.sqlite") == stored(tmp_path / "one" / "db.sqlite")


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def store_process_of(proc: subprocess.Popen[str]) -> list[int]:
    """The running import's store process (waiting for it to start)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not children(proc.pid):
        time.sleep(0.01)
    kids = children(proc.pid)
    assert proc.poll() is None and kids, "the import ended before its store process started"
    return kids


def test_a_killed_import_takes_its_store_process_with_it(tmp_path: Path) -> None:
    capture = g.write_pcap(tmp_path / "flows.pcap", short_flows(60_000))
    proc = subprocess.Popen(import_command(tmp_path, capture), cwd=ROOT, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids = store_process_of(proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(k) for k in kids):
        time.sleep(0.01)
    assert not any(alive(k) for k in kids)


def test_a_document_marshal_cannot_write_is_refused_alone(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    writer = StoreProcess(open_database(str(tmp_path / "s.db")), str(tmp_path / "s.db"))
    odd = dict(docs[0], **{"tags": [object()]})
    for doc in [odd, *docs[: CHUNK_DOCS + 10]]:
        writer.add(doc)
    writer.flush()
    assert writer._child is not None and writer.refused == 1
    writer.close()
    assert len(stored(tmp_path / "s.db")) == CHUNK_DOCS + 10


def test_a_document_marshal_cannot_write_is_refused_alone_while_shapes_go_over(
        tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    """The chunk that cannot be written as shapes goes over as dicts without the odd document;
    the shapes it had numbered never reached the child, so the next chunk numbers them anew."""
    given = docs[: 3 * CHUNK_DOCS]
    one = SessionStore(open_database(str(tmp_path / "one.db")))
    for doc in given:
        one.add(doc)
    one.flush()
    writer = StoreProcess(open_database(str(tmp_path / "two.db")), str(tmp_path / "two.db"))
    add_all(writer, given[:CHUNK_DOCS])  # starts the child
    writer._waited = writer._elapsed = 1.0  # as if it had waited for the child all the time
    assert writer._child_is_behind()
    odd = dict(given[CHUNK_DOCS], **{"tags": [object()]})
    add_all(writer, [odd, *given[CHUNK_DOCS:]])
    writer.flush()
    assert writer.refused == 1 and writer._shapes.numbers
    writer.close()
    assert stored(tmp_path / "two.db") == stored(tmp_path / "one.db")


def test_ctrl_c_and_sigterm_are_left_to_the_import_process(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    writer = StoreProcess(open_database(str(tmp_path / "s.db")), str(tmp_path / "s.db"))
    for doc in docs[:CHUNK_DOCS]:
        writer.add(doc)
    writer.flush()
    assert writer._child is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        os.kill(writer._child.pid, sig)
    time.sleep(0.2)
    for doc in docs[CHUNK_DOCS:]:
        writer.add(doc)
    writer.close()  # the child kept going, and commits everything at the end
    assert len(stored(tmp_path / "s.db")) == len(docs)


def test_sigterm_stops_an_import_part_way_and_the_next_goes_on(tmp_path: Path) -> None:
    """The signal reaches the import process and its store process alike (a service manager
    signals the whole group): the sessions so far are committed and the rest follow later."""
    records = short_flows(60_000)
    capture = g.write_pcap(tmp_path / "flows.pcap", records)
    db = tmp_path / "db.sqlite"
    cmd = import_command(tmp_path, capture)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    store_process_of(proc)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, out + err
    assert "stopped by SIGTERM" in err
    conn = open_database(str(db))
    assert conn.execute("SELECT count(*) FROM sessions").fetchall()[0][0] > 0
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    packets = conn.execute("SELECT sum(src_packets + dst_packets) FROM sessions").fetchall()[0][0]
    assert packets == len(records)  # every packet in a session once; a session cut by the stop is two


def test_an_import_whose_store_process_dies_fails_and_the_next_stores_every_session_once(tmp_path: Path) -> None:
    """Never a new child that would make the import look complete: the import fails, the file
    stays to be imported again, and that import skips the sessions the first one committed."""
    records = short_flows(60_000)
    capture = g.write_pcap(tmp_path / "flows.pcap", records)
    db = tmp_path / "db.sqlite"
    cmd = import_command(tmp_path, capture)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kids = store_process_of(proc)
    time.sleep(0.3)
    os.kill(kids[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, out + err
    assert err.count("the store process ended") == 1, err
    conn = open_database(str(db))
    assert conn.execute("SELECT state FROM imported_files").fetchall() == [("started",)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    packets = conn.execute("SELECT sum(src_packets + dst_packets) FROM sessions").fetchall()[0][0]
    assert packets == len(records)  # every session once: the second import skipped what the first stored


def test_import_watch_stores_through_the_child_and_stops_cleanly(tmp_path: Path) -> None:
    """``fukurou import --watch``: a long-running import; a dropped capture with thousands of
    sessions is stored by the store process, and SIGTERM ends both with everything committed."""
    folder = tmp_path / "incoming"
    folder.mkdir()
    db = tmp_path / "db.sqlite"
    proc = subprocess.Popen(import_command(tmp_path, "--watch", str(folder), "--settle", "0.3"), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("watching")
    g.write_pcap(tmp_path / "flows.pcap", short_flows(3000))
    os.rename(tmp_path / "flows.pcap", folder / "flows.pcap")  # appears whole
    line = proc.stdout.readline()
    assert line.startswith("done: ") and "9000 packets" in line, line
    kids = children(proc.pid)
    assert kids, "the watch stored its sessions without the store process"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert not any(alive(k) for k in kids)
    conn = open_database(str(db))
    assert conn.execute("SELECT count(*) FROM sessions").fetchall()[0][0] == 3000


# --- a SessionStore whose batches a writer process writes (BatchWriter) -------------------------


def shifted(docs: list[dict[str, Any]], times: int) -> list[dict[str, Any]]:
    """The corpus ``times`` over, each copy a day later: many batches, many milliseconds."""
    out = []
    for n in range(times):
        for doc in docs:
            copy = dict(doc)
            for key in ("firstPacket", "lastPacket"):
                copy[key] = doc[key] + n * 86_400_000
            copy["packetRange"] = {"gte": copy["firstPacket"], "lte": copy["lastPacket"]}
            out.append(copy)
    return out


def test_a_writer_process_stores_what_one_process_stores(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    """Small batches, so that many are built while the one before is in the writer, and more
    milliseconds than the writer keeps sequence numbers for: the same ids and documents."""
    from appliance.store.writer_process import BatchWriter

    many = shifted(docs, 40)
    assert len({d["lastPacket"] for d in many}) > 20_000
    one = SessionStore(open_database(str(tmp_path / "one.db")), batch_size=700)
    one_ids = [one.add(doc) for doc in many]
    one.flush()
    writer = BatchWriter(str(tmp_path / "two.db"))
    two = SessionStore(open_database(str(tmp_path / "two.db")), batch_size=700, writer=writer)
    two_ids = [two.add(doc) for doc in many]
    assert two._in_writer  # a batch was in the writer while this one was built
    two.forget_terms()  # waits for the writer, keeps the batch's new terms
    two_ids += [two.add(doc) for doc in docs]
    one_ids += [one.add(doc) for doc in docs]
    two.close()
    one.flush()
    assert writer._child is None  # closed with the store
    assert two_ids == one_ids
    assert stored(tmp_path / "two.db") == stored(tmp_path / "one.db")


def test_a_batch_the_writer_cannot_commit_is_an_error_and_the_next_are_stored(
        tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    from appliance.store.writer_process import BatchWriter

    path = str(tmp_path / "s.db")
    store = SessionStore(open_database(path), batch_size=100, writer=BatchWriter(path))
    for doc in docs[:300]:
        store.add(doc)
    store.flush()
    store.conn.execute("CREATE TRIGGER no_more BEFORE INSERT ON sessions BEGIN SELECT RAISE(ABORT, 'the disk says no'); "
                       "END")
    with pytest.raises(StoreError, match="could not commit a batch: .*the disk says no"):
        for doc in docs[300:600]:
            store.add(doc)
        store.flush()
    store.conn.execute("DROP TRIGGER no_more")
    for doc in docs[600:]:
        store.add(doc)
    store.close()
    found = stored(tmp_path / "s.db")
    assert 300 + len(docs) - 600 <= len(found) < len(docs)  # the failed batches alone are missing
    assert all(store.get_flat(sid) for sid in found)


def test_a_writer_process_that_dies_is_an_error_once_then_the_store_writes_itself(
        tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    from appliance.store.writer_process import BatchWriter

    path = str(tmp_path / "s.db")
    writer = BatchWriter(path)
    store = SessionStore(open_database(path), batch_size=100, writer=writer)
    for doc in docs[:300]:
        store.add(doc)
    store.flush()
    assert writer._child is not None
    writer._child.kill()
    with pytest.raises(StoreError, match="writer process ended"):
        for doc in docs[300:600]:
            store.add(doc)
        store.flush()
    assert store.writer is None and writer.broken
    for doc in docs[600:]:
        store.add(doc)
    store.close()
    found = stored(tmp_path / "s.db")
    assert len(found) >= 300 + len(docs) - 600
    assert len(found) == len(set(found))


def test_checkpoints_run_beside_the_writer_and_keep_the_wal_bounded(tmp_path: Path) -> None:
    """The writer process's Checkpointer: with SQLite's own checkpoints replaced, the data still
    reaches the database file, and the WAL file never grows past its bound (plus a commit)."""
    from appliance.store.writer_process import CHECKPOINT_PAGES, WAL_MAX_PAGES, Checkpointer

    path = str(tmp_path / "s.db")
    conn = open_database(path)
    conn.execute("CREATE TABLE filler (blob BLOB)")
    checkpoints = Checkpointer(conn, path)
    commit = 2 << 20
    largest = 0
    for _ in range((4 * WAL_MAX_PAGES * 4096) // commit):
        checkpoints.before_write()
        with conn:
            conn.executemany("INSERT INTO filler VALUES (randomblob(?))", [(64 << 10,)] * (commit // (64 << 10)))
        largest = max(largest, os.path.getsize(path + "-wal"))
    checkpoints.close()
    assert CHECKPOINT_PAGES * 4096 < largest <= WAL_MAX_PAGES * 4096 + 2 * commit
    assert os.path.getsize(path) > 3 * WAL_MAX_PAGES * 4096  # copied into the database file


def test_a_store_and_its_writer_process_open_a_new_database_together(tmp_path: Path) -> None:
    """Both give the registry's fields their ids on open; neither may fail because the other
    added them a moment before (fukurou run's database thread once died of that in CI)."""
    from appliance.store.writer_process import BatchWriter

    for n in range(8):
        path = str(tmp_path / f"s{n}.db")
        open_database(path).close()  # migrated, as fukurou run's start leaves it
        writer = BatchWriter(path)
        store = SessionStore(open_database(path), writer=writer)
        store.close()
        assert writer._child is None


def test_the_store_process_exits_cleanly_at_every_close(tmp_path: Path, docs: list[dict[str, Any]]) -> None:
    """Its input thread has seen the end of the input before it exits: an interpreter shutting
    down while that thread held stdin's lock aborted (SIGABRT, once in CI)."""
    for n in range(10):
        path = str(tmp_path / f"s{n}.db")
        writer = StoreProcess(open_database(path), path)
        for doc in docs[: CHUNK_DOCS + 1]:
            writer.add(doc)
        child = writer._child
        writer.close()
        assert child is not None and child.returncode == 0, n
