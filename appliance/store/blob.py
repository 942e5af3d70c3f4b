"""The ``sessions.doc`` blob: the part of a session document that has no column or postings.

A blob holds (key, value) items: the key is a field id (negative for a reference to postings,
whose value is a list of term ids or ``{"t": id}``), the value is what the document had.
Integer lists of the fields named in ``deltas`` (packetPos: offsets that grow within a file)
are stored as the differences between neighbours, a few bits where the offsets take thirty.

Format (first byte decides; older blobs stay readable):

- ``0xFF`` then the items, ``0xFE`` then the items raw-deflated (only blobs over
  ``DEFLATE_OVER`` bytes, and only when that makes them smaller). Neither byte can start a raw
  deflate stream (their block type bits are 11, which deflate reserves), so they never clash
  with the first format.
- anything else: the first format, raw-deflated JSON ``[key, value, ...]`` where a key
  ``"d<id>"`` holds packetPos as gaps that restart after each file marker.

An item is ``zigzag-varint(key)``, a tag byte and the value:

==========  ==================================================================
``INT``     one zigzag varint
``INTS``    varint count, then a zigzag varint each (TTLs, file numbers, packetPos)
``TERM``    ``{"t": id}``: one zigzag varint
``STR``     varint byte length, UTF-8
``HEX``     varint byte length, the bytes of a lowercase hex string (srcPayload8)
``JSON``    varint byte length, UTF-8 JSON (objects, floats, booleans, mixed lists)
``TREE``    an object field's value (``dns``) as a tree, see below
==========  ==================================================================

``DELTA`` added to ``INTS`` marks a list stored as its first value and then the difference
from the value before (any integers: a file marker's jump is just a large negative step).
``STEPS`` added to that (what the writer makes now) stores the first value as a zigzag varint
and every later one as its step up from the value before, a plain varint, or, when it does not
go up (a file marker), a 0 and then the value itself as a zigzag varint. Positions grow within
a file, so their steps need no sign bit: a gap of 64-127 bytes (an ACK's record) takes one byte
instead of two, ~20 % less for the packet positions of real traffic.

A ``TREE`` is a node: a kind byte, then ``MAP`` (varint count, then each key and its node),
``LIST`` (varint count, then the nodes), ``REF`` (varint term id), ``NUM`` (zigzag varint),
``TEXT`` (varint byte length, UTF-8) or ``ANY`` (varint byte length, JSON: floats, booleans,
null). A key is a varint: even, ``field id << 1`` of the registered path that ends in the key
(``dns.queryHost`` for ``queryHost``); odd, ``length << 1 | 1`` and the key's UTF-8 bytes. The
writer makes the tree (``Tree``, with ``TermRef`` leaves) so that a DNS object's names, types
and addresses, which are terms already (they have postings), are stored as term ids: a typical
query object takes ~40 bytes instead of ~160 as JSON.

Why not deflated JSON for all: deflating each ~300-byte document cost ~45 µs, a third of a
session's store time (zlib sets up and clears its tables on every call), and decimal digits
compress worse than varints: a typical blob is ~40 % smaller this way.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, Final

NEW: Final = 0xFF
NEW_DEFLATED: Final = 0xFE
DEFLATE_OVER: Final = 256  # smaller blobs are stored as they are: deflating them costs more than it saves

INT: Final = 0
INTS: Final = 1
TERM: Final = 2
STR: Final = 3
JSON: Final = 4
HEX: Final = 5
TREE: Final = 6
DELTA: Final = 0x10
STEPS: Final = 0x20

# Node kinds inside a TREE.
MAP: Final = 0
LIST: Final = 1
REF: Final = 2
NUM: Final = 3
TEXT: Final = 4
ANY: Final = 5


class TermRef:
    """A value stored as its term id (the reader swaps the term's value in)."""

    __slots__ = ("id",)

    def __init__(self, term_id: int) -> None:
        self.id = term_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TermRef) and other.id == self.id

    def __hash__(self) -> int:
        return hash(("TermRef", self.id))

    def __repr__(self) -> str:
        return f"TermRef({self.id})"


class Tree:
    """An object field's value as the writer hands it over and the reader gets it back: maps keyed
    by a field id (int) or a literal key (str), lists, ``TermRef`` and plain leaves. ``refs`` are
    the term ids inside (filled by ``decode``), so a reader can look them all up at once."""

    __slots__ = ("value", "refs")

    def __init__(self, value: Any, refs: list[int] | None = None) -> None:
        self.value = value
        self.refs: list[int] = [] if refs is None else refs

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tree) and other.value == self.value

    def __repr__(self) -> str:
        return f"Tree({self.value!r})"




def _not_json(value: Any) -> Any:
    raise TypeError(f"a session field value of type {type(value).__name__} cannot be stored")


# json's C encoder made once: JSONEncoder.encode builds it again, in Python, on every call (half
# the time of a small object). No circular check: documents are trees built by the parsers.
_MAKE_C_ENCODER: Final[Any] = getattr(json.encoder, "c_make_encoder", None)  # absent without _json
_C_STRING: Final[Any] = getattr(json.encoder, "c_encode_basestring", None)
_C_ENCODER: Final[Any] = (_MAKE_C_ENCODER(None, _not_json, _C_STRING, None, ":", ",", False, False, True)
                          if _MAKE_C_ENCODER is not None and _C_STRING is not None else None)
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_not_json)


def _json_text(value: Any) -> str:
    if _C_ENCODER is not None:
        return "".join(_C_ENCODER(value, 0))
    return _ENCODER.encode(value)


def encode(items: list[Any], deltas: frozenset[int] = frozenset()) -> bytes | None:
    """Items as ``sessions._split`` lists them (key, value, key, value...) to a blob; None when
    there are none. Integer lists under a key in ``deltas`` are stored as differences."""
    if not items:
        return None
    out: list[bytes] = [_NEW]
    for i in range(0, len(items), 2):
        key: int = items[i]
        value = items[i + 1]
        _varint(out, _zigzag(key))
        if key in deltas and type(value) is list and all(type(v) is int for v in value):
            _differences(out, value)
        else:
            _value(out, value)
    body = b"".join(out)
    if len(body) > DEFLATE_OVER:
        packed = zlib.compress(memoryview(body)[1:], 1, -15)
        if len(packed) + 1 < len(body):
            return _NEW_DEFLATED + packed
    return body


def _differences(out: list[bytes], values: list[int]) -> None:
    out.append(_BYTE[INTS | DELTA | STEPS])
    _varint(out, len(values))
    if not values:
        return
    before = values[0]
    _varint(out, _zigzag(before))
    for v in values[1:]:
        if v > before:
            _varint(out, v - before)
        else:
            out.append(_BYTE[0])
            _varint(out, _zigzag(v))
        before = v


def _value(out: list[bytes], value: Any) -> None:
    if type(value) is int:
        out.append(_BYTE[INT])
        _varint(out, _zigzag(value))
    elif type(value) is list and all(type(v) is int for v in value):
        out.append(_BYTE[INTS])
        _varint(out, len(value))
        for v in value:
            _varint(out, _zigzag(v))
    elif type(value) is str:
        raw = _hex_bytes(value)
        if raw is None:
            out.append(_BYTE[STR])
            _text(out, value)
        else:
            out.append(_BYTE[HEX])
            _varint(out, len(raw))
            out.append(raw)
    elif type(value) is dict and len(value) == 1 and type(value.get("t")) is int:
        out.append(_BYTE[TERM])
        _varint(out, _zigzag(value["t"]))
    elif isinstance(value, Tree):
        out.append(_BYTE[TREE])
        _node(out, value.value)
    else:
        out.append(_BYTE[JSON])
        _text(out, _json_text(value))


def _node(out: list[bytes], value: Any) -> None:
    if type(value) is dict:
        out.append(_BYTE[MAP])
        _varint(out, len(value))
        for key, item in value.items():
            if type(key) is int:
                _varint(out, key << 1)
            else:
                raw = str(key).encode("utf-8", "surrogatepass")  # JSON would make a key text too
                _varint(out, len(raw) << 1 | 1)
                out.append(raw)
            _node(out, item)
    elif type(value) is list:
        out.append(_BYTE[LIST])
        _varint(out, len(value))
        for item in value:
            _node(out, item)
    elif isinstance(value, TermRef):
        out.append(_BYTE[REF])
        _varint(out, value.id)
    elif type(value) is int:
        out.append(_BYTE[NUM])
        _varint(out, _zigzag(value))
    elif type(value) is str:
        out.append(_BYTE[TEXT])
        _text(out, value)
    else:
        out.append(_BYTE[ANY])
        _text(out, _json_text(value))


def _text(out: list[bytes], text: str) -> None:
    raw = text.encode("utf-8", "surrogatepass")  # parsers may hand on undecodable bytes as surrogates
    _varint(out, len(raw))
    out.append(raw)


def _hex_bytes(text: str) -> bytes | None:
    """The bytes a lowercase hex string spells (half its length), None for any other string."""
    if len(text) % 2 or not text:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return raw if raw.hex() == text else None  # "AB" or "a b" would not come back as given


def _zigzag(n: int) -> int:
    return n << 1 if n >= 0 else ((-n) << 1) - 1


def _varint_bytes(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# One-byte bytes objects (CPython keeps one of each): a varint below 2**14 is appended as one or
# two of them and all are joined once at the end, several times cheaper than building each.
_BYTE: Final[list[bytes]] = [bytes((b,)) for b in range(256)]
_NEW: Final = _BYTE[NEW]
_NEW_DEFLATED: Final = _BYTE[NEW_DEFLATED]


def _varint(out: list[bytes], n: int) -> None:
    if n < 0x80:
        out.append(_BYTE[n])
    elif n < 0x4000:
        out.append(_BYTE[(n & 0x7F) | 0x80])
        out.append(_BYTE[n >> 7])
    else:
        out.append(_varint_bytes(n))


def decode(blob: bytes | None) -> list[tuple[int, Any]]:
    """(key, value) items of a blob of either format."""
    if not blob:
        return []
    first = blob[0]
    if first == NEW:
        return _items(blob, 1)
    if first == NEW_DEFLATED:
        return _items(zlib.decompress(blob[1:], -15), 0)
    return _old_items(blob)


def _old_items(blob: bytes) -> list[tuple[int, Any]]:
    items = json.loads(zlib.decompress(blob, -15))
    out: list[tuple[int, Any]] = []
    for i in range(0, len(items), 2):
        key = items[i]
        if isinstance(key, str):  # "d<id>": gaps
            out.append((int(key[1:]), _old_gaps(items[i + 1])))
        else:
            out.append((key, items[i + 1]))
    return out


def _old_gaps(gaps: list[Any]) -> list[Any]:
    """The first format's packetPos gaps back to offsets: a negative item (a file marker) or a
    non-number is kept and restarts the sum."""
    out: list[Any] = []
    total = 0
    for gap in gaps:
        if not isinstance(gap, int) or gap < 0:
            out.append(gap)
            total = 0
        else:
            total += gap
            out.append(total)
    return out


def _items(body: bytes, pos: int) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    end = len(body)
    while pos < end:
        key, pos = _read_varint(body, pos)
        tag = body[pos]
        pos += 1
        if tag & ~(0x0F | DELTA | STEPS) or tag & STEPS and tag != INTS | DELTA | STEPS:
            raise ValueError(f"session blob has an unknown tag {tag}")
        kind = tag & 0x0F
        value: Any
        if kind == INT or kind == TERM:
            n, pos = _read_varint(body, pos)
            value = _unzigzag(n) if kind == INT else {"t": _unzigzag(n)}
        elif tag & STEPS:
            value, pos = _read_steps(body, pos)
        elif kind == INTS:
            count, pos = _read_varint(body, pos)
            values: list[int] = []
            total = 0
            differences = bool(tag & DELTA)
            for _ in range(count):
                n, pos = _read_varint(body, pos)
                if differences:
                    total += _unzigzag(n)
                    values.append(total)
                else:
                    values.append(_unzigzag(n))
            value = values
        elif kind == HEX:
            size, pos = _read_varint(body, pos)
            if pos + size > end:
                raise ValueError("session blob is cut short")
            value = body[pos:pos + size].hex()
            pos += size
        elif kind == STR or kind == JSON:
            size, pos = _read_varint(body, pos)
            if pos + size > end:
                raise ValueError("session blob is cut short")
            text = body[pos:pos + size].decode("utf-8", "surrogatepass")
            pos += size
            value = text if kind == STR else json.loads(text)
        elif kind == TREE:
            refs: list[int] = []
            tree, pos = _read_node(body, pos, refs)
            value = Tree(tree, refs)
        else:
            raise ValueError(f"session blob has an unknown tag {tag}")
        out.append((_unzigzag(key), value))
    return out


def _read_steps(body: bytes, pos: int) -> tuple[list[int], int]:
    count, pos = _read_varint(body, pos)
    values: list[int] = []
    if not count:
        return values, pos
    n, pos = _read_varint(body, pos)
    before = _unzigzag(n)
    values.append(before)
    for _ in range(count - 1):
        n, pos = _read_varint(body, pos)
        if n:
            before += n
        else:  # the value itself: it did not go up
            n, pos = _read_varint(body, pos)
            before = _unzigzag(n)
        values.append(before)
    return values, pos


def _read_node(body: bytes, pos: int, refs: list[int]) -> tuple[Any, int]:
    kind = body[pos]
    pos += 1
    if kind == MAP:
        count, pos = _read_varint(body, pos)
        out: dict[Any, Any] = {}
        for _ in range(count):
            code, pos = _read_varint(body, pos)
            key: Any
            if code & 1:
                size = code >> 1
                if pos + size > len(body):
                    raise ValueError("session blob is cut short")
                key = body[pos:pos + size].decode("utf-8", "surrogatepass")
                pos += size
            else:
                key = code >> 1
            out[key], pos = _read_node(body, pos, refs)
        return out, pos
    if kind == LIST:
        count, pos = _read_varint(body, pos)
        items: list[Any] = []
        for _ in range(count):
            item, pos = _read_node(body, pos, refs)
            items.append(item)
        return items, pos
    if kind == REF:
        term_id, pos = _read_varint(body, pos)
        refs.append(term_id)
        return TermRef(term_id), pos
    if kind == NUM:
        n, pos = _read_varint(body, pos)
        return _unzigzag(n), pos
    if kind == TEXT or kind == ANY:
        size, pos = _read_varint(body, pos)
        if pos + size > len(body):
            raise ValueError("session blob is cut short")
        text = body[pos:pos + size].decode("utf-8", "surrogatepass")
        return (text if kind == TEXT else json.loads(text)), pos + size
    raise ValueError(f"session blob has an unknown tree node {kind}")


def _read_varint(body: bytes, pos: int) -> tuple[int, int]:
    n = 0
    shift = 0
    while True:
        byte = body[pos]  # IndexError on a cut blob
        pos += 1
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            return n, pos
        shift += 7


def _unzigzag(n: int) -> int:
    return n >> 1 if not n & 1 else -((n + 1) >> 1)
