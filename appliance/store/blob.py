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

``PACKED`` (with ``INTS | DELTA``, what the writer makes now) keeps the count and the first value
as varints and puts the steps in a bit stream, padded to a whole byte at the end. A byte says how:
its top bit picks the code, its low five bits are ``k``.

- Rice code: a step ``s`` is ``s >> k`` in unary (that many 1 bits, then a 0) and its low ``k``
  bits. A quotient of ``ESCAPE_Q`` or more, or a value that does not go up, is escaped: ``ESCAPE_Q``
  1 bits, a flag bit (1: a step up, 0: the value itself, zigzagged) and its varint, 8 bits a byte.
- Recent steps: a step equal to one of the last three different steps is 1, 2 or 3 bits (``0``,
  ``10``, ``110`` for the most recent first); any other is ``111`` and the Rice code.

On a busy link the steps are the sizes of the packets between a session's own, spread evenly
(60-1600 bytes: ~11 bits each in Rice code, 16 as varints). On a home link they repeat: a
download's steps are its full-size records (1,530 bytes) and the ACKs between them (82). Three
steps in four equal one of the last three, ~5 bits a step on average. The writer counts both
codes' bits and keeps the smaller: the home capture's packetPos takes half the bytes of ``STEPS``.

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
# Deflate's window and hash table for a blob (most are 0.3-5 KB): an 8 KiB window and memLevel 6
# instead of zlib's 32 KiB and 8. zlib sets up (and clears) its tables at every call; with the
# defaults that was ~200,000 instructions a blob and 260 KiB allocated and freed, which, where
# the heap's top was free, glibc gave back and faulted in again each time (18 page faults a blob
# in a loop). This way: -21 % instructions, ~70 KiB, output +0.02 % on the session-heavy capture's
# blobs. Any raw-deflate reader (wbits -15) reads them.
_DEFLATE_WBITS: Final = -13
_DEFLATE_MEM_LEVEL: Final = 6

INT: Final = 0
INTS: Final = 1
TERM: Final = 2
STR: Final = 3
JSON: Final = 4
HEX: Final = 5
TREE: Final = 6
DELTA: Final = 0x10
STEPS: Final = 0x20
PACKED: Final = 0x40

# The PACKED bit stream (see the docstring).
ESCAPE_Q: Final = 6  # a Rice quotient this large is escaped: a long run of 1 bits costs more than a varint
MAX_K: Final = 24
RECENT_CODE: Final = 0x80  # in the PACKED header byte: steps are coded against the recent ones

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
        if key in deltas:
            if type(value) is bytes and value and value[0] == INTS | DELTA | PACKED:
                out.append(value)  # packed_positions made it, in the import process
                continue
            if type(value) is list and all(type(v) is int for v in value):
                _differences(out, value)
                continue
        _value(out, value)
    body = b"".join(out)
    if len(body) > DEFLATE_OVER:
        deflater = zlib.compressobj(1, zlib.DEFLATED, _DEFLATE_WBITS, _DEFLATE_MEM_LEVEL)
        packed = deflater.compress(memoryview(body)[1:]) + deflater.flush()
        if len(packed) + 1 < len(body):
            return _NEW_DEFLATED + packed
    return body


def packed_positions(values: list[int]) -> bytes:
    """An integer list (packetPos) as ``encode`` stores it under a key in ``deltas``: the tag
    byte, the count, the first value and the steps. ``encode`` takes these bytes in the list's
    place as they are. The import process packs its documents' packet positions before it hands
    them to its store process when that is the slower half (``shapes.ShapeEncoder``): the
    encoding then runs on the less busy core, and the pipe and ``marshal`` carry a few bytes
    instead of an int object for every packet."""
    out: list[bytes] = []
    _differences(out, values)
    return b"".join(out)


def _differences(out: list[bytes], values: list[int]) -> None:
    out.append(_PACKED_TAG)
    _varint(out, len(values))
    if not values:
        return
    _varint(out, _zigzag(values[0]))
    if len(values) == 1:
        return
    rice_k, rice_bits, recent_k, recent_bits = _costs(values)
    if recent_bits < rice_bits:
        out.append(_BYTE[RECENT_CODE | recent_k])
        _bit_stream(out, values, recent_k, True)
    else:
        out.append(_BYTE[rice_k])
        _bit_stream(out, values, rice_k, False)


def _step(value: int, before: int) -> int:
    """A step up (> 0), or a value that does not go up as -1 - zigzag(value). The passes over
    the values work this out as they go: a list of steps cost more than the rest (each step
    above 256 an int object made and read back)."""
    return value - before if value > before else -1 - _zigzag(value)


def _costs(values: list[int]) -> tuple[int, int, int, int]:
    """The Rice parameter and bits of each code: plain Rice code, then the recent-steps code
    (whose Rice code spells out only the steps that are not repeats). Big jumps are left out of
    the mean step: they are escaped anyway."""
    total = n = literal_total = literal_n = 0
    r0 = r1 = r2 = 0  # the last three different steps, most recent first (0: none yet)
    before = values[0]
    for i in range(1, len(values)):
        v = values[i]
        step = _step(v, before)
        before = v
        if step <= 0:
            continue
        small = step < 1 << 20
        if small:
            total += step
            n += 1
        where, r0, r1, r2 = _recent(step, r0, r1, r2)
        if where == 3 and small:
            literal_total += step
            literal_n += 1
    # floor(log2(mean)) or one less (a geometric spread's best is log2(mean * ln 2)).
    k = _log2(total // n if n else 0)
    m = _log2(literal_total // literal_n if literal_n else 0)
    k0, m0 = max(k - 1, 0), max(m - 1, 0)
    rice0 = rice1 = recent0 = recent1 = 0
    r0 = r1 = r2 = 0
    before = values[0]
    for i in range(1, len(values)):
        v = values[i]
        step = _step(v, before)
        before = v
        rice0 += _rice_size(step, k0)
        rice1 += _rice_size(step, k)
        where = 3
        if step > 0:
            where, r0, r1, r2 = _recent(step, r0, r1, r2)
        if where < 3:
            recent0 += where + 1
            recent1 += where + 1
        else:
            recent0 += 3 + _rice_size(step, m0)
            recent1 += 3 + _rice_size(step, m)
    rice_k, rice_bits = (k0, rice0) if rice0 < rice1 else (k, rice1)
    recent_k, recent_bits = (m0, recent0) if recent0 < recent1 else (m, recent1)
    return rice_k, rice_bits, recent_k, recent_bits


def _recent(step: int, r0: int, r1: int, r2: int) -> tuple[int, int, int, int]:
    """Where a step up is among the last three different steps, most recent first (0-2; 3: not
    there, so the code spells it out), and those three after it. 0 stands for none yet."""
    if step == r0:
        return 0, r0, r1, r2
    if step == r1:
        return 1, step, r0, r2
    if step == r2:
        return 2, step, r0, r1
    return 3, step, r0, r1


def _log2(n: int) -> int:
    """floor(log2(n)) for n >= 1, 0 for 0; at most MAX_K."""
    k = 0
    while n > 1 and k < MAX_K:
        n >>= 1
        k += 1
    return k


def _rice_size(step: int, k: int) -> int:
    if step > 0:
        q = step >> k
        if q < ESCAPE_Q:
            return q + 1 + k
    n = step if step > 0 else -1 - step
    size = ESCAPE_Q + 9  # the 1 bits, the flag and a varint's first byte
    while n >= 0x80:
        n >>= 7
        size += 8
    return size


def _bit_stream(out: list[bytes], values: list[int], k: int, recent: bool) -> None:
    """The steps in Rice code, or against the recent steps, most significant bit first, the last
    byte padded with 0 bits. Each step is one write of at most 33 bits (``acc`` stays a machine
    word), an escape is one more per varint byte."""
    acc = 0
    n = 0
    r0 = r1 = r2 = 0
    low_mask = (1 << k) - 1
    before = values[0]
    for i in range(1, len(values)):
        v = values[i]
        step = _step(v, before)
        before = v
        code = 0
        width = 0
        if recent:
            where = 3
            if step > 0:
                where, r0, r1, r2 = _recent(step, r0, r1, r2)
            # where 1 bits, then a 0 for a repeat: 0, 10, 110; 111 and the Rice code otherwise.
            code, width = ((1 << (where + 1)) - 2, where + 1) if where < 3 else (7, 3)
        if width and code != 7:
            acc = (acc << width) | code
            n += width
        elif step > 0 and step >> k < ESCAPE_Q:
            q = step >> k
            size = q + 1 + k
            acc = (acc << (width + size)) | (code << size) | (((1 << (q + 1)) - 2) << k) | (step & low_mask)
            n += width + size
        else:
            # Escaped: the 1 bits, the flag, then the varint a byte at a time.
            value = step if step > 0 else -1 - step
            flag = 1 if step > 0 else 0
            acc = (acc << (width + ESCAPE_Q + 1)) | (code << (ESCAPE_Q + 1)) | ((1 << ESCAPE_Q) - 1) << 1 | flag
            n += width + ESCAPE_Q + 1
            while True:
                while n >= 8:
                    n -= 8
                    out.append(_BYTE[(acc >> n) & 0xFF])
                acc &= (1 << n) - 1
                if value < 0x80:
                    acc = (acc << 8) | value
                    n += 8
                    break
                acc = (acc << 8) | (value & 0x7F) | 0x80
                n += 8
                value >>= 7
        while n >= 8:
            n -= 8
            out.append(_BYTE[(acc >> n) & 0xFF])
        acc &= (1 << n) - 1
    if n:
        out.append(_BYTE[(acc << (8 - n)) & 0xFF])


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
_PACKED_TAG: Final = _BYTE[INTS | DELTA | PACKED]


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
        if (tag & ~(0x0F | DELTA | STEPS | PACKED) or tag & STEPS and tag != INTS | DELTA | STEPS
                or tag & PACKED and tag != INTS | DELTA | PACKED):
            raise ValueError(f"session blob has an unknown tag {tag}")
        kind = tag & 0x0F
        value: Any
        if kind == INT or kind == TERM:
            n, pos = _read_varint(body, pos)
            value = _unzigzag(n) if kind == INT else {"t": _unzigzag(n)}
        elif tag & PACKED:
            value, pos = _read_packed(body, pos)
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


def _read_first(body: bytes, pos: int) -> tuple[int, list[int], int]:
    """The count and the first value (zigzag) that both layouts of steps begin with."""
    count, pos = _read_varint(body, pos)
    values: list[int] = []
    if count:
        n, pos = _read_varint(body, pos)
        values.append(_unzigzag(n))
    return count, values, pos


def _read_packed(body: bytes, pos: int) -> tuple[list[int], int]:
    count, values, pos = _read_first(body, pos)
    if count <= 1:
        return values, pos
    before = values[0]
    header = body[pos]
    k = header & 0x1F
    if header & ~(RECENT_CODE | 0x1F) or k > MAX_K:
        raise ValueError(f"session blob has an unknown step code {header}")
    recent = bool(header & RECENT_CODE)
    bit = (pos + 1) * 8
    r0 = r1 = r2 = 0
    for _ in range(count - 1):
        if recent:
            ones = 0
            while ones < 3 and (body[bit >> 3] >> (7 - (bit & 7))) & 1:  # IndexError when cut
                ones += 1
                bit += 1
            if ones < 3:
                bit += 1  # the 0 that ends them
                step = r0 if ones == 0 else r1 if ones == 1 else r2
                if not step:
                    raise ValueError("session blob repeats a step it has not had")
                _, r0, r1, r2 = _recent(step, r0, r1, r2)
                before += step
                values.append(before)
                continue
        step, bit = _read_rice(body, bit, k)
        if step > 0:
            before += step
            if recent:
                _, r0, r1, r2 = _recent(step, r0, r1, r2)
        else:  # the value itself: it did not go up
            before = _unzigzag(-1 - step)
        values.append(before)
    return values, (bit + 7) >> 3


def _read_rice(body: bytes, bit: int, k: int) -> tuple[int, int]:
    """A step as ``_bit_stream`` wrote it (a value that does not go up as -1 - zigzag), and the
    bit after it."""
    q = 0
    while q < ESCAPE_Q and (body[bit >> 3] >> (7 - (bit & 7))) & 1:
        q += 1
        bit += 1
    if q < ESCAPE_Q:
        bit += 1
        step, bit = _read_bits(body, bit, k)
        step |= q << k
        if not step:
            raise ValueError("session blob has a step of 0")
        return step, bit
    up, bit = _read_bits(body, bit, 1)
    n = 0
    shift = 0
    while True:
        byte, bit = _read_bits(body, bit, 8)
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
    if up and not n:
        raise ValueError("session blob has a step of 0")
    return (n if up else -1 - n), bit


def _read_bits(body: bytes, bit: int, width: int) -> tuple[int, int]:
    value = 0
    while width:
        take = 8 - (bit & 7)  # what is left of this byte
        if take > width:
            take = width
        value = (value << take) | ((body[bit >> 3] >> (8 - (bit & 7) - take)) & ((1 << take) - 1))
        bit += take
        width -= take
    return value, bit


def _read_steps(body: bytes, pos: int) -> tuple[list[int], int]:
    count, values, pos = _read_first(body, pos)
    if not count:
        return values, pos
    before = values[0]
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
