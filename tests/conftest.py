"""Shared fixtures: the Arkime corpus parsed once, and stores filled from it."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "pcaps" / "arkime"


def corpus_captures() -> list[str]:
    return sorted(glob.glob(str(CORPUS / "*.pcap")))


def corpus_documents() -> dict[str, list[dict[str, Any]]]:
    """{capture: [flat documents]} of every corpus capture, through the real pipeline."""
    from appliance.documents import flat_document
    from appliance.pipeline import parse_capture
    from appliance.settings import Settings

    out: dict[str, list[dict[str, Any]]] = {}
    for path in corpus_captures():
        docs: list[dict[str, Any]] = []
        parse_capture(path, Settings(), lambda s, d=docs: d.append(flat_document(s)))
        out[path] = docs
    return out


@pytest.fixture(scope="module")
def corpus_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[int, dict[str, Any]]]]:
    """(SessionStore, {session id: flat document}) over all corpus captures, stored once."""
    if not corpus_captures():
        pytest.skip("the shared corpus is absent")
    from appliance.store.db import open_database
    from appliance.store.sessions import SessionStore

    conn = open_database(str(tmp_path_factory.mktemp("corpus") / "store.db"))
    store = SessionStore(conn)
    by_id = {}
    for docs in corpus_documents().values():
        for doc in docs:
            by_id[store.add(doc)] = doc
    store.flush()
    yield store, by_id
    conn.close()


def corpus_sessions(name: str) -> list[Any]:
    """The sessions of one corpus capture (real Session objects, parsers on); skip if absent."""
    from appliance.pipeline import parse_capture
    from appliance.settings import Settings

    path = CORPUS / f"{name}.pcap"
    if not path.exists():
        pytest.skip(f"{path} not available")
    out: list[Any] = []
    parse_capture(str(path), Settings(), out.append)
    return out


def back_to_version(conn: Any, version: int) -> None:
    """Make a newest store (with its sessions) look as a build at ``version`` left it, for
    migration tests: the parts of later migrations that change stored data are undone."""
    with conn:
        if version < 13:  # time-led indexes with buckets of 4.7 hours
            for column, key in (("dst_ip", "dst_ip"), ("src_port", "src_port"), ("cid", "cid >> 32")):
                conn.execute(f"DROP INDEX sessions_{column}")
                conn.execute(f"CREATE INDEX sessions_{column} ON sessions (id >> 32, {key})")
            conn.execute("UPDATE sqlite_stat1 SET stat = replace(stat, ' 300 ', ' 5000 ') "
                         "WHERE idx IN ('sessions_dst_ip', 'sessions_src_port', 'sessions_cid')")
        if version < 12:  # column indexes not led by the time bucket, no statistics
            for column in ("dst_ip", "src_port"):
                conn.execute(f"DROP INDEX sessions_{column}")
                conn.execute(f"CREATE INDEX sessions_{column} ON sessions ({column})")
            conn.execute("DROP INDEX sessions_cid")
            conn.execute("CREATE INDEX sessions_cid ON sessions (cid >> 32)")
            conn.execute("DROP TABLE sqlite_stat1")
        if version < 11:  # postings one row per (term, session), not in blocks
            conn.execute("CREATE TABLE old_postings (term_id INTEGER NOT NULL, session_id INTEGER NOT NULL, "
                         "PRIMARY KEY (term_id, session_id)) WITHOUT ROWID")
            conn.execute("INSERT INTO old_postings SELECT term_id, session_id FROM postings")
            conn.execute("DROP VIEW postings")
            conn.execute("DROP TABLE posting_blocks")
            conn.execute("ALTER TABLE old_postings RENAME TO postings")
        if version < 10:  # the community id index on the whole key
            conn.execute("DROP INDEX sessions_cid")
            conn.execute("CREATE INDEX sessions_cid ON sessions (cid)")
        conn.execute(f"PRAGMA user_version = {int(version)}")
