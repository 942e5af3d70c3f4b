"""The session store: every corpus document comes back as it went in; batching; bytes per row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import corpus_documents

from appliance.store.db import open_database
from appliance.store.sessions import SessionStore


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[dict[str, Any]]]:
    docs = corpus_documents()
    if not docs:
        pytest.skip("the shared corpus is absent")
    return docs


def test_round_trip_of_every_corpus_capture(tmp_path: Path, corpus: dict[str, list[dict[str, Any]]]) -> None:
    store = SessionStore(open_database(str(tmp_path / "s.db")))
    added = [(store.add(doc), doc, path) for path, docs in corpus.items() for doc in docs]
    store.flush()
    assert len(added) >= 600
    for sid, doc, path in added:
        assert store.get_flat(sid) == doc, path
    assert store.count() == len(added)


def test_get_gives_the_nested_arkime_document(corpus_store: Any) -> None:
    store, by_id = corpus_store
    sid, doc = next((i, d) for i, d in by_id.items() if "http.host" in d)
    nested = store.get(sid)
    assert nested["http"]["host"] == doc["http.host"]
    assert nested["http"]["hostCnt"] == len(doc["http.host"])
    assert nested["source"]["ip"] == doc["source.ip"]
    assert store.get(12345) is None


def test_sessions_are_visible_after_the_batch_delay(tmp_path: Path, corpus: dict[str, list[dict[str, Any]]]) -> None:
    path = str(tmp_path / "s.db")
    store = SessionStore(open_database(path), batch_size=1000, max_delay=0.0)
    docs = next(iter(corpus.values()))
    store.add(docs[0])  # max_delay 0: committed at once
    reader = open_database(path, readonly=True)
    assert reader.execute("SELECT count(*) FROM sessions").fetchall()[0][0] == 1


def test_batch_size_commits(tmp_path: Path, corpus: dict[str, list[dict[str, Any]]]) -> None:
    path = str(tmp_path / "s.db")
    store = SessionStore(open_database(path), batch_size=3, max_delay=3600)
    docs = [d for ds in corpus.values() for d in ds][:7]
    for doc in docs:
        store.add(doc)
    reader = open_database(path, readonly=True)
    assert reader.execute("SELECT count(*) FROM sessions").fetchall()[0][0] == 6
    store.flush()
    assert reader.execute("SELECT count(*) FROM sessions").fetchall()[0][0] == 7


def test_same_millisecond_sessions_get_distinct_ids(tmp_path: Path,
                                                    corpus: dict[str, list[dict[str, Any]]]) -> None:
    store = SessionStore(open_database(str(tmp_path / "s.db")), max_delay=3600)
    doc = next(iter(corpus.values()))[0]
    ids = [store.add(dict(doc)) for _ in range(300)]  # more than the 256 ids of one ms
    store.flush()
    assert len(set(ids)) == 300
    assert all(store.get_flat(i)["lastPacket"] == doc["lastPacket"] for i in ids)


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    store = SessionStore(open_database(str(tmp_path / "s.db")))
    with pytest.raises(KeyError):
        store.add({"lastPacket": 1, "no.such.field": 1})


def test_new_registry_fields_get_ids_on_open(tmp_path: Path) -> None:
    from appliance import fields

    path = str(tmp_path / "s.db")
    SessionStore(open_database(path))
    spec = fields.field("zz.test", "zz.test", "termfield", "test", "test only", multi=True)
    fields.register(spec)
    try:
        store = SessionStore(open_database(path))
        assert "zz.test" in store.fields.by_path
    finally:
        fields.BY_PATH.pop("zz.test")
        fields.BY_EXPR.pop("zz.test")
        fields.FIELDS = tuple(f for f in fields.FIELDS if f.path != "zz.test")
