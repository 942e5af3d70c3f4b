"""The session doc blob (appliance/store/blob.py): what goes in comes back, in both formats."""

from __future__ import annotations

import json
import random
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.store import blob
from appliance.store.sessions import decode_doc

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


def _items(pairs: list[tuple[int, Any]]) -> list[Any]:
    return [x for pair in pairs for x in pair]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-5000, 5000), json_values), max_size=12))
def test_any_document_part_comes_back(pairs: list[tuple[int, Any]]) -> None:
    encoded = blob.encode(_items(pairs))
    assert blob.decode(encoded) == pairs


def test_each_kind_round_trips_and_says_what_it_is() -> None:
    pairs: list[tuple[int, Any]] = [
        (12, 64), (13, [64, 57, 0, -1, 2**70]), (-14, [42, 34]), (-15, {"t": 7}), (16, "a session id"),
        (17, [{"opcode": "QUERY", "host": ["example.com"]}]), (18, 1.5), (19, True), (20, [True, 1]),
        (21, None), (22, {"t": "x"}), (23, []), (24, "caf\u00e9 \udcff"),
    ]
    assert blob.decode(blob.encode(_items(pairs))) == pairs
    # A bool is not an int, and {"t": id} only with an integer id: each keeps its JSON type.
    assert blob.decode(blob.encode([19, True]))[0][1] is True


@pytest.mark.parametrize("positions", [
    [-3, 1_000_000, 1_000_400, 1_001_900], [-1, 500, 400, 900], [700, -2, 24, 100, -3, 24], [], [5],
    [-1, 2**40, 24, 2**63, -(2**63)]])
def test_differences_give_back_any_integer_list(positions: list[int]) -> None:
    encoded = blob.encode([5, [64], 9, positions], deltas=frozenset({9}))
    assert blob.decode(encoded) == [(5, [64]), (9, positions)]
    assert decode_doc(encoded) == [(5, [64]), (9, positions)]


def test_differences_only_for_integer_lists() -> None:
    mixed = [-1, 24, "x", 90]
    assert blob.decode(blob.encode([9, mixed], deltas=frozenset({9}))) == [(9, mixed)]


def test_small_blobs_skip_deflate_and_large_ones_use_it() -> None:
    small = blob.encode([9, list(range(0, 2000, 70)), 38, "45484c4f20787878"])
    assert small is not None and small[0] == blob.NEW
    # The hex payload is kept as its 8 bytes: key, tag, length and 8 bytes.
    assert len(small) - len(blob.encode([9, list(range(0, 2000, 70))]) or b"") == 11
    large = blob.encode([17, [{"subject": "CN=www.example.com", "alt": ["a.example.com"] * 40}]])
    assert large is not None and large[0] == blob.NEW_DEFLATED
    assert blob.decode(large)[0][1][0]["alt"] == ["a.example.com"] * 40
    noise = blob.encode([16, bytes(range(256)).hex() * 3])  # hex does not deflate below itself
    assert noise is not None and blob.decode(noise)[0][1] == bytes(range(256)).hex() * 3


def test_blobs_of_the_first_format_still_decode() -> None:
    """Stores written before this format: raw-deflated JSON, a "d<id>" key for gaps."""
    old = zlib.compress(json.dumps([-14, [42, 34], 8, [98175], "d9", [-1, 500, 20]]).encode(), 1, -15)
    assert old[0] & 7 not in (6, 7)  # deflate never starts with the reserved block type
    assert decode_doc(old) == [(-14, [42, 34]), (8, [98175]), (9, [-1, 500, 520])]


def test_packet_positions_take_no_more_room_than_deflated_json() -> None:
    """Gaps between a session's packets in a busy file vary: their varints are about as small as
    the first format's deflated digits, without deflate's cost."""
    rnd = random.Random(7)
    positions = [-1, 510387393]
    for _ in range(40):
        positions.append(positions[-1] + rnd.randint(60, 1600))
    gaps = [-1, positions[1]] + [b - a for a, b in zip(positions[1:], positions[2:], strict=False)]
    old = zlib.compress(json.dumps(["d9", gaps], separators=(",", ":")).encode(), 1, -15)
    new = blob.encode([9, positions], deltas=frozenset({9}))
    assert new is not None and len(new) <= len(old)
    assert blob.decode(new) == decode_doc(old) == [(9, positions)]


@pytest.mark.parametrize("damaged", [b"\xff\x02", b"\xff\x02\x03\x09ab", b"\xff\x02\x0f", b"\xff\x02\x40\x00",
                                     b"\xfe\x00\x01"])
def test_a_damaged_blob_is_an_error_not_a_wrong_value(damaged: bytes) -> None:
    with pytest.raises((ValueError, IndexError, zlib.error)):
        blob.decode(damaged)


def test_nothing_to_keep_is_no_blob() -> None:
    assert blob.encode([]) is None
    assert blob.decode(None) == [] and blob.decode(b"") == []


tree_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    | st.integers(0, 2**40).map(blob.TermRef),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.integers(0, 5000) | st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(tree_values)
def test_an_object_tree_comes_back_with_its_term_ids(value: Any) -> None:
    """Trees (an object field's value as the writer makes it): maps keyed by field id or by
    text, term references and any JSON leaf come back, and the reader is told every term id."""
    decoded = blob.decode(blob.encode([17, blob.Tree(value)]))
    assert decoded == [(17, blob.Tree(value))]
    refs: list[int] = []

    def walk(v: Any) -> None:
        if isinstance(v, blob.TermRef):
            refs.append(v.id)
        elif isinstance(v, list):
            for item in v:
                walk(item)
        elif isinstance(v, dict):
            for item in v.values():
                walk(item)

    walk(value)
    assert sorted(decoded[0][1].refs) == sorted(refs)


@pytest.mark.parametrize("damaged", [b"\xff\x22\x06", b"\xff\x22\x06\x09", b"\xff\x22\x06\x00\x01\x07a",
                                     b"\xff\x22\x06\x04\x05ab"])
def test_a_damaged_tree_is_an_error(damaged: bytes) -> None:
    with pytest.raises((ValueError, IndexError)):
        blob.decode(damaged)


def test_positions_are_steps_up_and_the_previous_layout_still_decodes() -> None:
    """packetPos steps up within a file: each step is a plain varint (an ACK's 82-byte record
    takes one byte, not two), a file marker or any drop is escaped. Blobs of the layout before
    (signed differences, tag INTS | DELTA) decode as they did."""
    positions = [-1, 24, 106, 188, 1702, -2, 24, 90, 90, 5]
    encoded = blob.encode([9, positions], deltas=frozenset({9}))
    assert encoded is not None and blob.decode(encoded) == [(9, positions)]
    acks = [-1, 24] + [24 + 82 * i for i in range(1, 41)]
    size = len(blob.encode([9, acks], deltas=frozenset({9})) or b"")
    assert size == 1 + 1 + 1 + 1 + 1 + 1 + 40  # marker, key, tag, count, -1, 24, one byte a step
    before = bytes([blob.NEW, 18, blob.INTS | blob.DELTA, 3, 1, 50, 0xA4, 0x01])  # [-1, 24, 106]
    assert blob.decode(before) == [(9, [-1, 24, 106])]
    with pytest.raises(ValueError):
        blob.decode(bytes([blob.NEW, 18, blob.INT | blob.STEPS, 1]))
