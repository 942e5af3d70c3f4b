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


@pytest.mark.parametrize("positions", [
    [-3, 1_000_000, 1_000_400, 1_001_900], [-1, 500, 400, 900], [700, -2, 24, 100, -3, 24], [5],
    [-1, 2**40, 24, 2**63, -(2**63)], [-1, *range(24, 150_000, 1530)]])
def test_positions_packed_before_hand_make_the_same_blob(positions: list[int]) -> None:
    """What the import process sends its store process (packed positions) is stored byte for
    byte as the list would have been."""
    packed = blob.packed_positions(positions)
    assert type(packed) is bytes
    as_list = blob.encode([5, [64], 9, positions], deltas=frozenset({9}))
    assert blob.encode([5, [64], 9, packed], deltas=frozenset({9})) == as_list
    assert blob.decode(as_list) == [(5, [64]), (9, positions)]


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
    # Longer than deflate's 8 KiB window here: repeats further back than that are not found,
    # and the blob still reads back whole.
    far = [f"value {i} " + "x" * (i % 7) for i in range(1500)]
    wide = blob.encode([17, far + far])
    assert wide is not None and wide[0] == blob.NEW_DEFLATED and blob.decode(wide)[0][1] == far + far
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


def test_positions_of_the_earlier_layouts_still_decode() -> None:
    """Blobs written before the bit-packed steps: steps up as plain varints (tag INTS | DELTA |
    STEPS, a 0 before a value that does not go up) and signed differences (INTS | DELTA)."""
    steps = bytes([blob.NEW, 18, blob.INTS | blob.DELTA | blob.STEPS, 5, 1, 25, 82, 0, 3, 66])
    assert blob.decode(steps) == [(9, [-1, 24, 106, -2, 64])]
    before = bytes([blob.NEW, 18, blob.INTS | blob.DELTA, 3, 1, 50, 0xA4, 0x01])  # [-1, 24, 106]
    assert blob.decode(before) == [(9, [-1, 24, 106])]
    with pytest.raises(ValueError):
        blob.decode(bytes([blob.NEW, 18, blob.INT | blob.STEPS, 1]))
    with pytest.raises(ValueError):
        blob.decode(bytes([blob.NEW, 18, blob.INT | blob.PACKED, 1]))


def _steps_layout_size(positions: list[int]) -> int:
    """Bytes of the STEPS layout (the one before PACKED) for these positions, under key 9."""
    out: list[bytes] = [b"\xff\x12\x31"]
    blob._varint(out, len(positions))
    blob._varint(out, blob._zigzag(positions[0]))
    for before, v in zip(positions, positions[1:], strict=False):
        if v > before:
            blob._varint(out, v - before)
        else:
            out.append(b"\x00")
            blob._varint(out, blob._zigzag(v))
    return len(b"".join(out))


def test_positions_are_packed_steps_in_fewer_bytes() -> None:
    """A download's steps repeat (full-size records and the ACKs between): each repeat of one of
    the last three steps takes 1-3 bits. A busy link's steps vary: Rice code, ~11 bits not 16."""
    positions = [-1, 24, 106, 188, 1702, -2, 24, 90, 90, 5, 2**40, 0]
    encoded = blob.encode([9, positions], deltas=frozenset({9}))
    assert encoded is not None and encoded[2] == blob.INTS | blob.DELTA | blob.PACKED
    assert blob.decode(encoded) == [(9, positions)]
    download = [-1, 24]
    for _ in range(60):
        download += [download[-1] + 1530, download[-1] + 1530 + 82] if len(download) % 3 else [download[-1] + 82]
    packed = len(blob.encode([9, download], deltas=frozenset({9})) or b"")
    assert blob.decode(blob.encode([9, download], deltas=frozenset({9}))) == [(9, download)]
    assert packed * 4 < _steps_layout_size(download)
    rnd = random.Random(3)
    busy = [-1, 510387393]
    for _ in range(49):
        busy.append(busy[-1] + rnd.randint(60, 1600))
    packed = len(blob.encode([9, busy], deltas=frozenset({9})) or b"")
    assert blob.decode(blob.encode([9, busy], deltas=frozenset({9}))) == [(9, busy)]
    assert packed < 0.8 * _steps_layout_size(busy)


position_steps = st.lists(st.sampled_from([66, 82, 1530, 1514]) | st.integers(1, 70_000) | st.just(-1),
                          max_size=80)


@settings(max_examples=300, deadline=None)
@given(st.integers(-5, 2**33), position_steps)
def test_packed_steps_give_back_any_positions(first: int, steps: list[int]) -> None:
    positions = [first]
    for step in steps:  # -1: a file marker, then a first offset
        positions += [-2, 24] if step == -1 else [positions[-1] + step]
    encoded = blob.encode([9, positions, 10, [64]], deltas=frozenset({9}))
    assert blob.decode(encoded) == [(9, positions), (10, [64])]


@pytest.mark.parametrize("damaged", [
    bytes([blob.NEW, 18, 0x51, 3, 1, 48]),  # cut before the code byte
    bytes([blob.NEW, 18, 0x51, 3, 1, 48, 0x09]),  # cut inside the bit stream
    bytes([blob.NEW, 18, 0x51, 3, 1, 48, 0x3F, 0xFF, 0xFF]),  # a code byte with unknown bits
    bytes([blob.NEW, 18, 0x51, 2, 1, 0x00, 0x00]),  # a step of 0
    bytes([blob.NEW, 18, 0x51, 2, 1, 0x80, 0x40]),  # recent steps before any step was seen
])
def test_damaged_packed_steps_are_an_error(damaged: bytes) -> None:
    with pytest.raises((ValueError, IndexError)):
        blob.decode(damaged)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40), st.integers(1, 60))
def test_any_bytes_as_packed_steps_decode_or_fail_cleanly(stream: bytes, count: int) -> None:
    """A damaged stream of packed steps gives positions or a clean error, never another exception."""
    damaged = bytes([blob.NEW, 18, blob.INTS | blob.DELTA | blob.PACKED, count, 48]) + stream
    try:
        items = blob.decode(damaged)
    except (ValueError, IndexError):
        return
    assert all(type(v) is int for _, values in items[:1] for v in values)
