"""Postings in blocks: each term's session ids, packed a few hundred bytes to a row.

A row of ``posting_blocks`` holds session ids of one term (``BLOCK_IDS`` when written at once,
more as a batch at a time is added to the newest block, up to ``TAIL_BYTES``): the newest is the
key (``last_id``), the others are in ``ids``, newest first, each as its distance from the one
before. A row per (term, session) pair cost ~15 bytes (two integers, a record header, a cell
pointer); a gap costs 2-3. The blocks of a term cover disjoint, increasing ranges of ids, so
"the block that could hold session S" is the first with ``last_id >= S``: one index seek.

A gap is stored in milliseconds, as session ids are (``layout.session_id``): an unsigned LEB128
varint of ``gap_ms << 1 | has_seq``, then the id's sequence byte when it is not 0 (sessions that
end in the same millisecond; rare). Shifting the sequence out saves a byte on most gaps.

SQL reads the blocks through functions registered on every connection (``register``):
``fk_postings(ids, last_id[, lo, hi])`` is a table of the ids (within ``[lo, hi]``),
``fk_has(ids, last_id, id)`` tests one id, ``fk_count(ids, last_id, lo, hi)`` counts, and the
aggregate ``fk_pack(id)`` builds a block's ``ids`` (for the migration from the old table).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any, Final

import apsw

from appliance.store.db import insert_rows

BLOCK_IDS: Final = 128  # ids per block: a dense term's block is ~300 bytes, a rare one's ≤ 900
# A tail block takes new ids while its ids stay within this (SQLite keeps ~1000 bytes of a
# WITHOUT ROWID row in its page at 4 KiB pages; a longer one spills to an overflow page).
TAIL_BYTES: Final = 768
SEQ_BITS: Final = 8
SEQ_MASK: Final = (1 << SEQ_BITS) - 1
LOWEST: Final = -(1 << 63)
HIGHEST: Final = (1 << 63) - 1


# --- the codec ------------------------------------------------------------------------------------

def pack(ids: list[int]) -> tuple[int, bytes]:
    """(last_id, ids blob) of a block of distinct session ids given in increasing order."""
    out: list[int] = []  # a list, not a bytearray: compiled, its append is a C call
    newer = ids[-1]
    for i in range(len(ids) - 2, -1, -1):
        _put_gap(out, newer, ids[i])
        newer = ids[i]
    return ids[-1], bytes(out)


def _put_gap(out: list[int], newer: int, older: int) -> None:
    seq = older & SEQ_MASK
    value = ((newer >> SEQ_BITS) - (older >> SEQ_BITS)) << 1 | (1 if seq else 0)
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    if seq:
        out.append(seq)


def unpack(last: int, blob: bytes, lo: int = LOWEST, hi: int = HIGHEST) -> list[int]:
    """The block's ids within [lo, hi], newest first."""
    out: list[int] = [last] if lo <= last <= hi else []
    ms = last >> SEQ_BITS
    pos, end = 0, len(blob)
    while pos < end:
        value, shift = 0, 0
        byte = 0x80
        while byte & 0x80:
            byte = blob[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
        ms -= value >> 1
        seq = 0
        if value & 1:
            seq = blob[pos]
            pos += 1
        sid = (ms << SEQ_BITS) | seq
        if sid < lo:
            break  # older ones are lower still
        if sid <= hi:
            out.append(sid)
    return out


# The last block ``holds`` decoded, as one (last, blob, ids) tuple so that threads sharing it
# always see a matching set: a scan tests sessions in id order, so one block answers for the few
# hundred sessions in a row that its range covers (measured: 4 -> ~1.5 µs a test).
_decoded: list[tuple[int, bytes, set[int]]] = [(0, b"", set())]


def holds(blob: bytes, last: int, sid: int) -> bool:
    """Whether the block holds ``sid``."""
    if sid == last:
        return True
    seen = _decoded[0]
    if last != seen[0] or blob != seen[1]:
        seen = (last, blob, set(unpack(last, blob)))
        _decoded[0] = seen
    return sid in seen[2]


def count(blob: bytes, last: int, lo: int, hi: int) -> int:
    """How many of the block's ids are within [lo, hi]."""
    return len(unpack(last, blob, lo, hi))


def count_among(blob: bytes, last: int, lo: int, hi: int, wanted: set[int]) -> int:
    """How many of the block's ids within [lo, hi] are in ``wanted``."""
    n = 0
    for sid in unpack(last, blob, lo, hi):
        if sid in wanted:
            n += 1
    return n


def term_blocks(lo: int, hi: int) -> tuple[str, list[int]]:
    """SQL joining terms ``t`` to their blocks ``b`` that can hold ids within [lo, hi], and its
    parameters: the blocks ending at or after ``lo``, up to the first that ends at or after ``hi``
    (the next hold only newer ids). Both bounds depend on the term alone, so SQLite reads them as
    one index range per term."""
    return ("terms t JOIN posting_blocks b ON b.term_id = t.id AND b.last_id >= ? AND b.last_id <= "
            "coalesce((SELECT min(c.last_id) FROM posting_blocks c WHERE c.term_id = t.id AND c.last_id >= ?), ?)",
            [lo, hi, HIGHEST])


# --- writing --------------------------------------------------------------------------------------

_TAIL: Final = "SELECT last_id, ids FROM posting_blocks WHERE term_id = ? ORDER BY last_id DESC LIMIT 1"
_COVERING: Final = ("SELECT last_id, ids FROM posting_blocks WHERE term_id = ? AND last_id >= ? "
                    "ORDER BY last_id LIMIT 1")
# OR FAIL: a failing row fails the batch's whole transaction anyway, and without the default
# (ABORT) SQLite keeps no statement journal of the pages changed (see db.insert_each).
_INSERT: Final = "INSERT OR FAIL INTO posting_blocks (term_id, last_id, ids) VALUES "


def add(conn: apsw.Connection, by_term: dict[int, list[int]]) -> None:
    """Add each term's session ids (distinct, in any order; sorted here, in place) inside the
    caller's transaction. A writer gathers them per term as it goes: pairs sorted and grouped
    at the end cost ~5 µs a session more (a tuple per posting, a sort, a set per term)."""
    deletes: list[tuple[int, int]] = []
    inserts: list[tuple[int, int, bytes]] = []
    for term in sorted(by_term):  # in term order: neighbouring terms' blocks share pages
        sids = by_term[term]
        sids.sort()
        _add_term(conn, term, sids, deletes, inserts)
    conn.executemany("DELETE FROM posting_blocks WHERE term_id = ? AND last_id = ?", deletes)
    insert_rows(conn, _INSERT, inserts)


def _add_term(conn: apsw.Connection, term: int, sids: list[int], deletes: list[tuple[int, int]],
              inserts: list[tuple[int, int, bytes]]) -> None:
    tail: list[Any] = conn.execute(_TAIL, (term,)).fetchall()
    if not tail or sids[0] > tail[0][0]:
        _append(term, sids, tail[0] if tail else None, deletes, inserts)
        return
    # Ids at or below the newest block's end (a capture saves sessions in the order they close,
    # not quite in lastPacket order): each goes into the block whose range covers it.
    i = 0
    while i < len(sids):
        row: list[Any] = conn.execute(_COVERING, (term, sids[i])).fetchall()
        if not row:
            _append(term, sids[i:], tail[0], deletes, inserts)
            return
        last, blob = int(row[0][0]), bytes(row[0][1])
        # The newest block also takes the ids newer than it (it is the one they would extend).
        j = len(sids) if last == tail[0][0] else bisect_right(sids, last, i)
        merged = _merge(unpack(last, blob), sids, i, j)
        deletes.append((term, last))
        _new_blocks(term, merged, inserts)
        i = j


def _merge(stored: list[int], sids: list[int], i: int, j: int) -> list[int]:
    """The distinct ids of ``stored`` (a block's, newest first) and ``sids[i:j]`` (increasing), in
    increasing order. One pass over both: a set and a sort cost ~150,000 instructions for a block
    of a few hundred ids, and a capture's late sessions send some batches here for many terms."""
    out: list[int] = []
    k = len(stored) - 1  # the stored ids oldest first
    while k >= 0 or i < j:
        if i >= j or (k >= 0 and stored[k] < sids[i]):
            sid = stored[k]
            k -= 1
        else:
            sid = sids[i]
            i += 1
        if not out or out[-1] != sid:
            out.append(sid)
    return out


def _append(term: int, sids: list[int], tail: Any, deletes: list[tuple[int, int]],
            inserts: list[tuple[int, int, bytes]]) -> None:
    """Ids newer than every stored one: onto the newest block while it is short, else new blocks.
    The block's blob is newest first, so the new ids' gaps go in front of the stored bytes."""
    if tail is not None and len(sids) < BLOCK_IDS:
        last, blob = int(tail[0]), bytes(tail[1])
        new_last, front = pack([last, *sids])
        if len(front) + len(blob) <= TAIL_BYTES:
            deletes.append((term, last))
            inserts.append((term, new_last, front + blob))
            return
    _new_blocks(term, sids, inserts)


def _new_blocks(term: int, sids: list[int], inserts: list[tuple[int, int, bytes]]) -> None:
    for start in range(0, len(sids), BLOCK_IDS):
        last, blob = pack(sids[start:start + BLOCK_IDS])
        inserts.append((term, last, blob))


# --- retention ------------------------------------------------------------------------------------

_BEFORE: Final = "SELECT last_id, ids FROM posting_blocks WHERE term_id = ? AND last_id < ?"


def count_before(conn: apsw.Connection, term: int, cutoff: int) -> int:
    """How many of a term's postings are of sessions below ``cutoff``."""
    return _before(conn, term, cutoff)[0]


def drop_before(conn: apsw.Connection, term: int, cutoff: int) -> int:
    """Delete a term's postings of sessions below ``cutoff``; returns how many went."""
    gone, straddling, kept = _before(conn, term, cutoff)
    if gone:
        conn.execute("DELETE FROM posting_blocks WHERE term_id = ? AND last_id < ?", (term, cutoff))
    if straddling is not None:  # the block that straddles the cutoff keeps its newer ids
        conn.execute("UPDATE posting_blocks SET ids = ? WHERE term_id = ? AND last_id = ?",
                     (pack(kept[::-1])[1], term, straddling))
    return gone


def _before(conn: apsw.Connection, term: int, cutoff: int) -> tuple[int, int | None, list[int]]:
    """(postings below ``cutoff``, the key of the block that straddles it if it holds some of
    them, that block's ids from the cutoff on, newest first)."""
    total = 0
    rows: list[Any] = conn.execute(_BEFORE, (term, cutoff)).fetchall()
    for last, blob in rows:
        total += count(bytes(blob), int(last), LOWEST, HIGHEST)
    row: list[Any] = conn.execute(_COVERING, (term, cutoff)).fetchall()
    if not row:
        return total, None, []
    last, every = int(row[0][0]), unpack(int(row[0][0]), bytes(row[0][1]))
    kept = [sid for sid in every if sid >= cutoff]
    if len(kept) == len(every):
        return total, None, kept
    return total + len(every) - len(kept), last, kept


# --- SQL functions --------------------------------------------------------------------------------

def register(conn: apsw.Connection) -> None:
    """The functions the store's SQL reads blocks with (see the module docstring)."""
    db: Any = conn  # apsw's stubs type callbacks more narrowly than its runtime takes them
    db.create_module("fk_postings", _PostingsTable(), eponymous=True, eponymous_only=True,
                       use_bestindex_object=True, read_only=True)
    db.create_scalar_function("fk_has", holds, 3, deterministic=True)
    db.create_scalar_function("fk_count", count, 4, deterministic=True)
    db.create_aggregate_function("fk_pack", _Pack)


class _Pack:
    """Aggregate: the ``ids`` blob of a block, from its session ids in any order."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    def step(self, sid: int) -> None:
        self.ids.append(sid)

    def final(self) -> bytes:
        return pack(sorted(set(self.ids)))[1] if self.ids else b""


# fk_postings's columns: the id, then the hidden arguments in call order.
_SCHEMA: Final = "CREATE TABLE x(value INTEGER, ids HIDDEN, last HIDDEN, lo HIDDEN, hi HIDDEN)"
_ARGUMENTS: Final = 4


class _PostingsTable:
    """An eponymous virtual table: ``fk_postings(ids, last_id[, lo, hi])``."""

    def Connect(self, *args: Any) -> tuple[str, _PostingsTable]:  # noqa: N802 - apsw's names
        return _SCHEMA, self

    def Create(self, *args: Any) -> tuple[str, _PostingsTable]:  # noqa: N802
        return _SCHEMA, self

    def BestIndexObject(self, info: Any) -> bool:  # noqa: N802
        """Use the arguments given (ids and last are required); the table is the block's size."""
        slots: dict[int, int] = {}
        for c in range(info.nConstraint):
            column = info.get_aConstraint_iColumn(c)
            if column < 1 or info.get_aConstraint_op(c) != apsw.SQLITE_INDEX_CONSTRAINT_EQ:
                continue
            if not info.get_aConstraint_usable(c):
                if column <= 2:
                    return False  # another plan must supply the block first
                continue
            slots[column] = c
        if 1 not in slots or 2 not in slots:
            return False
        mask = 0
        for n, column in enumerate(sorted(slots), 1):
            info.set_aConstraintUsage_argvIndex(slots[column], n)
            info.set_aConstraintUsage_omit(slots[column], True)
            mask |= 1 << column
        info.idxNum = mask
        info.estimatedCost = float(BLOCK_IDS)
        info.estimatedRows = BLOCK_IDS
        return True

    def Open(self) -> _PostingsCursor:  # noqa: N802
        return _PostingsCursor()

    def Disconnect(self) -> None:  # noqa: N802
        pass

    def Destroy(self) -> None:  # noqa: N802
        pass


class _PostingsCursor:
    def __init__(self) -> None:
        self.rows: list[int] = []
        self.at = 0
        self.args: list[Any] = []

    def Filter(self, mask: int, name: Any, args: tuple[Any, ...]) -> None:  # noqa: N802
        self.args = [None, None, None, LOWEST, HIGHEST]  # by column; lo and hi are optional
        given = [column for column in range(1, _ARGUMENTS + 1) if mask & (1 << column)]
        for column, value in zip(given, args, strict=True):
            self.args[column] = value
        blob, last, lo, hi = self.args[1:]
        ok = isinstance(blob, bytes) and isinstance(last, int) and isinstance(lo, int) and isinstance(hi, int)
        self.rows = unpack(last, blob, lo, hi) if ok else []
        self.at = 0

    def Eof(self) -> bool:  # noqa: N802
        return self.at >= len(self.rows)

    def Column(self, n: int) -> Any:  # noqa: N802
        return self.rows[self.at] if n <= 0 else self.args[n]

    def Rowid(self) -> int:  # noqa: N802
        return self.at

    def Next(self) -> None:  # noqa: N802
        self.at += 1

    def Close(self) -> None:  # noqa: N802
        pass
