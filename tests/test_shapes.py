"""Documents as shapes and values (``appliance/store/shapes.py``): what goes over the pipe to the
store's process decodes to the documents that were sent, across chunks and table resets, and
reads like the dicts they came from."""

from __future__ import annotations

import marshal
from pathlib import Path
from typing import Any

import pytest
from conftest import corpus_documents

from appliance.store.db import open_database
from appliance.store.sessions import SessionStore
from appliance.store.shapes import SHAPES_MAX, Document, ShapeDecoder, ShapeEncoder, Shapes, document


def over_the_pipe(encoder: ShapeEncoder, decoder: ShapeDecoder, docs: list[dict[str, Any]]) -> list[Document]:
    return decoder.decode(marshal.loads(marshal.dumps(encoder.encode(docs), 4)))


def test_documents_come_back_and_each_shape_goes_over_once() -> None:
    docs = [{"a": i, "b": [i, "x"]} if i % 3 else {"b": i, "a": None, "c": {"k": i}} for i in range(30)]
    encoder, decoder = ShapeEncoder(), ShapeDecoder()
    first, second = encoder.encode(docs[:10]), encoder.encode(docs[10:])
    assert first[0] is False and sorted(first[1]) == [("a", "b"), ("b", "a", "c")]
    assert second[1] == []  # both shapes are known already
    got = decoder.decode(first) + decoder.decode(second)
    assert [doc.to_dict() for doc in got] == docs
    assert [list(doc.to_dict()) for doc in got] == [list(doc) for doc in docs]  # in their order


def test_more_shapes_than_the_table_holds() -> None:
    docs = [{f"field{i}": i, "shared": 1} for i in range(3 * SHAPES_MAX)]
    encoder, decoder = ShapeEncoder(), ShapeDecoder()
    resets = 0
    for i in range(0, len(docs), 256):
        chunk = encoder.encode(docs[i:i + 256])
        resets += chunk[0]
        got = decoder.decode(marshal.loads(marshal.dumps(chunk, 4)))
        assert [doc.to_dict() for doc in got] == docs[i:i + 256]
        assert len(decoder.shapes) <= SHAPES_MAX and len(encoder.numbers) <= SHAPES_MAX
    assert resets == 2


def test_a_forgotten_numbering_starts_again() -> None:
    docs = [{"a": 1}, {"b": 2}]
    encoder, decoder = ShapeEncoder(), ShapeDecoder()
    over_the_pipe(encoder, decoder, docs)
    encoder.encode([{"c": 3}])  # numbered, never delivered
    encoder.forget()
    chunk = encoder.encode([{"c": 3}, {"a": 1}])
    assert chunk[0] is True
    assert [doc.to_dict() for doc in decoder.decode(chunk)] == [{"c": 3}, {"a": 1}]


def test_a_document_reads_like_its_dict() -> None:
    doc = Shapes().document({"a": 1, "b": None})
    assert doc.get("a") == 1 and doc.get("b", 5) is None and doc.get("c") is None and doc.get("c", 7) == 7
    assert doc["a"] == 1 and "b" in doc and "c" not in doc
    with pytest.raises(KeyError):
        doc["c"]
    assert document({"x": [1]}).to_dict() == {"x": [1]}


def test_a_store_shares_shapes_and_keeps_few() -> None:
    shapes = Shapes()
    one, two = shapes.document({"a": 1, "b": 2}), shapes.document({"a": 3, "b": 4})
    assert one.shape is two.shape and shapes.document({"b": 1, "a": 2}).shape is not one.shape
    for i in range(2 * SHAPES_MAX):
        shapes.document({f"k{i}": i})
    assert len(shapes.by_keys) <= SHAPES_MAX


def test_shapes_and_dicts_store_the_same_rows(tmp_path: Path) -> None:
    docs = [doc for found in corpus_documents().values() for doc in found]
    if not docs:
        pytest.skip("the shared corpus is absent")
    encoder, decoder = ShapeEncoder(), ShapeDecoder()
    as_dicts = SessionStore(open_database(str(tmp_path / "dicts.db")))
    as_shapes = SessionStore(open_database(str(tmp_path / "shapes.db")))
    for doc in docs:
        as_dicts.add(doc)
    for i in range(0, len(docs), 256):
        for doc in over_the_pipe(encoder, decoder, docs[i:i + 256]):
            as_shapes.add_document(doc)
    unknown = {**docs[0], "no.such.field": 1}  # refused alike, and the next of its shape too
    for store in (as_dicts, as_shapes):
        for _ in range(2):
            with pytest.raises(KeyError):
                if store is as_dicts:
                    store.add(unknown)
                else:
                    store.add_document(over_the_pipe(encoder, decoder, [unknown])[0])
        store.flush()
    rows = "SELECT * FROM sessions ORDER BY id"
    assert as_dicts.conn.execute(rows).fetchall() == as_shapes.conn.execute(rows).fetchall()


def test_packet_positions_go_packed_and_the_caller_keeps_its_lists() -> None:
    from appliance.store.blob import packed_positions

    docs = [{"a": 1, "packetPos": [-3, 24, 100, 2000]}, {"packetPos": []}, {"packetPos": [1, "x"]}]
    encoder, decoder = ShapeEncoder(), ShapeDecoder()
    got = over_the_pipe(encoder, decoder, docs)
    assert got[0]["packetPos"] == packed_positions([-3, 24, 100, 2000])
    assert got[1]["packetPos"] == [] and got[2]["packetPos"] == [1, "x"]  # nothing to pack, or not ints
    assert docs[0]["packetPos"] == [-3, 24, 100, 2000]
