"""Retention on a store spanning 90 days: exactly what is older than the limits goes, and the space comes back."""

from __future__ import annotations

import copy
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from appliance import retention
from appliance.commands.demo import sample_capture
from appliance.pcapstore.writer import pcap_file_header
from appliance.settings import FreeSpace, Settings
from appliance.store import layout
from appliance.store.db import open_database
from appliance.store.sessions import SessionStore

NOW = 1_790_000_000.0  # a fixed "now" (2026-09-21): the test does not depend on the clock
NOW_MS = int(NOW * 1000)
DAY_MS = 86_400_000
PER_DAY = 24
GIB = 1 << 30


def sample_documents() -> list[dict[str, Any]]:
    from appliance.documents import flat_document
    from appliance.pipeline import parse_capture

    docs: list[dict[str, Any]] = []
    parse_capture(sample_capture(), Settings(), lambda s: docs.append(flat_document(s)))
    return docs


def at(doc: dict[str, Any], last_ms: int, day: int) -> dict[str, Any]:
    """A copy of ``doc`` that ended at ``last_ms``, tagged with its day (a term only that day has)."""
    out = copy.deepcopy(doc)
    length = int(out.get("length", 0))
    out["lastPacket"], out["firstPacket"] = last_ms, last_ms - length
    if "packetRange" in out:
        out["packetRange"] = {"gte": last_ms - length, "lte": last_ms}
    out["tags"] = [f"day-{day}", "every-day"]
    return out


def fill(conn: Any, days: int = 90) -> list[int]:
    """Sessions over ``days`` days back from NOW, plus two on each side of the 30-day boundary."""
    store = SessionStore(conn)
    base = sample_documents()
    lasts = [NOW_MS - d * DAY_MS - i * (DAY_MS // PER_DAY) - 500 for d in range(days) for i in range(PER_DAY)]
    cutoff = NOW_MS - 30 * DAY_MS
    lasts += [cutoff, cutoff + 1, cutoff - 1, cutoff - 2]
    for n, last in enumerate(lasts):
        store.add(at(base[n % len(base)], last, (NOW_MS - last) // DAY_MS))
    store.flush()
    return lasts


def settings(tmp: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {"pcapDir": str(tmp / "pcap"), "dbPath": str(tmp / "db.sqlite"), "sessionRetentionDays": 30,
                              "pcapRetentionDays": 0, "freeSpaceG": FreeSpace(0.0, False), **extra}
    return Settings().replace(**values)


def check_consistent(conn: Any) -> None:
    """Every posting has its session, every term counts exactly its postings, the FTS index matches terms."""
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    orphans = conn.execute("SELECT count(*) FROM postings WHERE session_id NOT IN (SELECT id FROM sessions)")
    assert orphans.fetchall()[0][0] == 0
    wrong = conn.execute("SELECT count(*) FROM terms t WHERE t.sessions != "
                         "(SELECT count(*) FROM postings p WHERE p.term_id = t.id)").fetchall()[0][0]
    assert wrong == 0
    # Only text terms are indexed, so FTS5's own integrity-check against `terms` does not apply; its
    # docsize table lists the indexed rows: none may be a deleted term, every text term must be there.
    stale = conn.execute("SELECT count(*) FROM terms_fts_docsize WHERE id NOT IN (SELECT id FROM terms)")
    assert stale.fetchall()[0][0] == 0
    missing = conn.execute("SELECT count(*) FROM terms WHERE typeof(value) = 'text' AND field_id IN "
                           "(SELECT id FROM fields WHERE path = 'tags') AND id NOT IN (SELECT id FROM terms_fts_docsize)")
    assert missing.fetchall()[0][0] == 0


@pytest.fixture
def store90(tmp_path: Path) -> tuple[Any, Settings, list[int]]:
    s = settings(tmp_path)
    conn = open_database(s.dbPath)
    lasts = fill(conn)
    return conn, s, lasts


def test_sessions_older_than_the_limit_go_and_nothing_else(store90: tuple[Any, Settings, list[int]]) -> None:
    conn, s, lasts = store90
    cutoff_ms = NOW_MS - 30 * DAY_MS
    expected_gone = sum(1 for last in lasts if last < cutoff_ms)
    check_consistent(conn)

    dry = retention.expire(conn, s, now=NOW, dry_run=True)
    assert dry.sessions == expected_gone
    assert conn.execute("SELECT count(*) FROM sessions").fetchall()[0][0] == len(lasts)  # dry run: untouched

    report = retention.expire(conn, s, now=NOW)
    assert report.sessions == expected_gone
    assert report.postings == dry.postings > 0
    kept = sorted(layout.last_packet(r[0]) for r in conn.execute("SELECT id FROM sessions"))
    assert kept == sorted(last for last in lasts if last >= cutoff_ms)  # the boundary ms itself stays
    check_consistent(conn)
    # Terms of expired days are gone (and out of the FTS index), the shared one counts what is left.
    tags = dict(conn.execute("SELECT value, sessions FROM terms WHERE value LIKE 'day-%' OR value = 'every-day'"))
    assert tags["every-day"] == len(kept)
    assert sorted(tags) == sorted([f"day-{d}" for d in range(31)] + ["every-day"])
    assert report.terms_pruned >= 90 - 31
    hits = [r[0] for r in conn.execute("SELECT t.value FROM terms_fts f JOIN terms t ON t.id = f.rowid "
                                       "WHERE f.value LIKE '%day-8%'")]
    assert hits == ["day-8"]  # day-80..89 were expired

    # The scan and device counters of the expired days go with them; per-minute totals follow.
    first_day = cutoff_ms // DAY_MS
    assert report.aggregate_rows > 0
    for table in ("scan_days", "device_days"):
        days = [r[0] for r in conn.execute(f"SELECT day FROM {table}")]
        assert days and min(days) == first_day, table
    assert conn.execute("SELECT min(last_ms) FROM device_hosts").fetchall()[0][0] >= first_day * DAY_MS
    minutes = conn.execute("SELECT sum(sessions), min(sessions) FROM session_minutes").fetchall()[0]
    assert minutes[0] == len(kept) and minutes[1] > 0  # no emptied minute is left behind
    hours = conn.execute("SELECT sum(sessions), min(sessions) FROM session_hours").fetchall()[0]
    assert hours[0] == len(kept) and hours[1] > 0

    again = retention.expire(conn, s, now=NOW)
    assert (again.sessions, again.postings, again.terms_pruned, again.aggregate_rows) == (0, 0, 0, 0)


def test_space_is_reclaimed(store90: tuple[Any, Settings, list[int]]) -> None:
    conn, s, _ = store90
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    size_before = os.path.getsize(s.dbPath)
    assert conn.execute("PRAGMA auto_vacuum").fetchall()[0][0] == 2  # incremental, set by open_database
    report = retention.expire(conn, s, now=NOW)
    assert report.db_bytes_after < report.db_bytes_before * 0.6  # 2/3 of the sessions went
    assert conn.execute("PRAGMA freelist_count").fetchall()[0][0] == 0
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    assert os.path.getsize(s.dbPath) < size_before * 0.6


def test_search_sees_only_what_is_kept(store90: tuple[Any, Settings, list[int]]) -> None:
    from appliance.query import Searcher

    conn, s, lasts = store90
    retention.expire(conn, s, now=NOW)
    searcher = Searcher(SessionStore(conn))
    assert searcher.count(None) == sum(1 for last in lasts if last >= NOW_MS - 30 * DAY_MS)
    assert searcher.count("tags == day-45") == 0
    assert searcher.count("tags == day-3") == PER_DAY


def make_pcap_files(conn: Any, pcap_dir: Path) -> list[tuple[int, int]]:
    """One closed file per day for 90 days, two at the 10-day boundary, and the open one: [(num, last_us)]."""
    pcap_dir.mkdir(exist_ok=True)
    cutoff = int((NOW - 10 * 86400) * 1_000_000)
    lasts = sorted([int((NOW - d * 86400 - 3600) * 1_000_000) for d in range(90)] + [cutoff, cutoff - 1])
    rows = []
    with conn:
        for num, last in enumerate(lasts, start=1):
            name = f"fukurou-x-{num:08d}.pcap"
            (pcap_dir / name).write_bytes(pcap_file_header(16384, 1))
            conn.execute("INSERT INTO pcap_files (num, name, node, first_us, last_us, size, snaplen, state, opened_at) "
                         "VALUES (?, ?, 'fukurou', ?, ?, ?, 16384, 'closed', 0)", (num, name, last - 3600, last, GIB))
            rows.append((num, last))
        conn.execute("INSERT INTO pcap_files (num, name, node, first_us, last_us, size, snaplen, state, opened_at) "
                     "VALUES (999, 'open.pcap', 'fukurou', 0, 0, 24, 16384, 'open', 0)")
    return rows


def fake_statvfs(pcap_dir: Path, base_free: int, files: int) -> Any:
    """A filesystem of 100 GiB where each of our (tiny) files stands for 1 GiB."""
    def statvfs(_: str) -> os.statvfs_result:
        present = sum(1 for n in os.listdir(pcap_dir) if n.startswith("fukurou-"))
        free = base_free + (files - present) * GIB
        return os.statvfs_result((4096, 4096, 100 * GIB // 4096, free // 4096, free // 4096, 0, 0, 0, 0, 255))
    return statvfs


def test_pcap_files_by_age_then_by_free_space(tmp_path: Path) -> None:
    s = settings(tmp_path, pcapRetentionDays=10, freeSpaceG=FreeSpace(10.0, False), sessionRetentionDays=0)
    conn = open_database(s.dbPath)
    pcap_dir = Path(s.pcapDir)
    files = make_pcap_files(conn, pcap_dir)
    cutoff = int((NOW - 10 * 86400) * 1_000_000)
    old = [num for num, last in files if last < cutoff]
    young = [num for num, last in files if last >= cutoff]
    statvfs = fake_statvfs(pcap_dir, 8 * GIB - len(old) * GIB, len(files))  # 8 GiB free once the old ones went

    dry = retention.expire(conn, s, now=NOW, dry_run=True, statvfs=statvfs)
    assert dry.pcap_files == len(old)
    assert len(os.listdir(pcap_dir)) == len(files)

    report = retention.expire(conn, s, now=NOW, statvfs=statvfs)
    assert report.pcap_files == len(old) == 81  # days 10..89 and the file one microsecond too old
    assert report.freespace_files == 2  # 8 GiB free, 10 wanted: the two oldest remaining files
    states = dict(conn.execute("SELECT num, state FROM pcap_files"))
    gone = set(old) | set(young[:2])
    assert {n for n, st in states.items() if st == "deleted"} == gone
    assert states[999] == "open"  # the file being written is never touched
    assert sorted(os.listdir(pcap_dir)) == sorted(f"fukurou-x-{n:08d}.pcap" for n in young[2:])


def test_expire_while_a_writer_adds_sessions(store90: tuple[Any, Settings, list[int]]) -> None:
    """As under `fukurou run`: another connection keeps committing while expire deletes."""
    conn, s, lasts = store90
    base = sample_documents()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            other = open_database(s.dbPath)
            store = SessionStore(other, batch_size=50)
            for n in range(1500):
                store.add(at(base[n % len(base)], NOW_MS - n, 0))
            store.flush()
            other.close()
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    writer = threading.Thread(target=write)
    writer.start()
    report = retention.expire(conn, s, now=NOW, prune=False)  # the writer caches term ids: no pruning
    writer.join()
    assert not errors
    assert report.terms_pruning.startswith("left to")
    kept = sum(1 for last in lasts if last >= NOW_MS - 30 * DAY_MS)
    assert conn.execute("SELECT count(*) FROM sessions").fetchall()[0][0] == kept + 1500
    check_consistent(conn)


def test_expire_command_prints_what_it_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from appliance.cli import main

    cfg = tmp_path / "config.ini"
    cfg.write_text(f"[default]\npcapDir = {tmp_path / 'pcap'}\ndbPath = {tmp_path / 'db.sqlite'}\n"
                   "sessionRetentionDays = 1\nfreeSpaceG = 0\n")
    conn = open_database(str(tmp_path / "db.sqlite"))
    store = SessionStore(conn)
    base = sample_documents()
    now_ms = int(__import__("time").time() * 1000)
    for n, doc in enumerate(base):
        store.add(at(doc, now_ms - (n % 2) * 3 * DAY_MS, 0))  # every other one is 3 days old
    store.flush()
    conn.close()
    assert main(["--config", str(cfg), "expire", "--dry-run"]) == 0
    assert f"would delete {len(base) // 2:,}" in capsys.readouterr().out
    assert main(["--config", str(cfg), "expire"]) == 0
    out = capsys.readouterr().out
    assert f"sessions: deleted {len(base) // 2:,}" in out and "database:" in out
