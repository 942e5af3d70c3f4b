"""Migrations: a database of every earlier version is brought to the newest; a broken one is refused."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from appliance.store import db


def test_every_earlier_version_migrates_to_newest(tmp_path: Path) -> None:
    steps = db.migrations()
    newest = steps[-1][0]
    for number, _, _ in [(0, "", ""), *steps]:
        path = str(tmp_path / f"v{number}.db")
        conn = db.open_database(path, migrate=False)
        assert db.apply_migrations(conn, upto=number) == number
        conn.close()
        conn = db.open_database(path)  # opening migrates the rest of the way
        assert db.schema_version(conn) == newest
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"sessions", "terms", "posting_blocks", "fields"} <= tables
        conn.close()


def test_numbers_are_unique_and_ordered() -> None:
    numbers = [n for n, _, _ in db.migrations()]
    assert numbers == sorted(set(numbers)) and numbers[0] == 1


def test_broken_migration_is_refused_and_leaves_the_old_version(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "sql"
    folder.mkdir()
    for _, name, sql in db.migrations():
        (folder / name).write_text(sql)
    last = db.migrations()[-1][0]
    (folder / f"{last + 1:03d}_broken.sql").write_text("CREATE TABLE ok (x);\nCREATE TABLE sessions (y);")
    monkeypatch.setattr(db, "sql_dir", lambda: folder)
    path = str(tmp_path / "x.db")
    with pytest.raises(db.StoreError, match="broken"):
        db.open_database(path)
    conn = apsw.Connection(path)
    assert db.schema_version(conn) == last
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "ok" not in names  # the failed migration's first statement was rolled back too


def test_sessions_stored_before_the_community_id_prefix_index_are_found(tmp_path: Path) -> None:
    """sql/010 rebuilds the community id index on the key's first 4 bytes: sessions stored under
    version 9 are found by their community id afterwards, through the index."""
    from conftest import back_to_version, corpus_documents

    from appliance.query import Searcher
    from appliance.store.sessions import SessionStore

    docs = [d for ds in corpus_documents().values() for d in ds if "network.community_id" in d][:50]
    if not docs:
        pytest.skip("the shared corpus is absent")
    path = str(tmp_path / "v9.db")
    store = SessionStore(db.open_database(path))
    ids = [store.add(d) for d in docs]
    store.flush()
    back_to_version(store.conn, 9)
    store.conn.close()
    searcher = Searcher(SessionStore(db.open_database(path)))
    for sid, doc in zip(ids, docs, strict=True):
        cid = doc["network.community_id"]
        assert sid in searcher.ids(f'communityId == "{cid}"')
        assert all(docs[ids.index(i)]["network.community_id"] == cid for i in searcher.ids(f'communityId == "{cid}"'))


def test_postings_stored_one_row_each_are_packed_into_blocks(tmp_path: Path) -> None:
    """sql/011 packs a version-10 store's (term, session) rows into blocks: the same pairs come
    back, term searches find the same sessions, and the writer goes on adding to the blocks."""
    from conftest import back_to_version, corpus_documents

    from appliance.query import Searcher
    from appliance.store.sessions import SessionStore

    docs = [d for ds in corpus_documents().values() for d in ds]
    if not docs:
        pytest.skip("the shared corpus is absent")
    path = str(tmp_path / "v10.db")
    store = SessionStore(db.open_database(path))
    for d in docs:
        store.add(d)
    store.flush()
    queries = ["protocols == tls", "protocols == dns && host.dns == *.com", "host.http == EXISTS!", "tls.ja3 == EXISTS!"]
    before = {q: Searcher(store).ids(q) for q in queries}
    back_to_version(store.conn, 10)
    pairs = sorted(store.conn.execute("SELECT term_id, session_id FROM postings").fetchall())
    assert len(pairs) > len(docs)
    store.conn.close()

    store = SessionStore(db.open_database(path))
    assert db.schema_version(store.conn) >= 11
    assert sorted(store.conn.execute("SELECT term_id, session_id FROM postings").fetchall()) == pairs
    assert {q: Searcher(store).ids(q) for q in queries} == before
    assert all(before.values())
    sid = store.add(next(d for d in docs if "tls" in d.get("protocol", [])))
    store.flush()
    assert sid in Searcher(store).ids("protocols == tls")
