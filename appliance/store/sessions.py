"""The session store: flat Arkime documents in, searchable rows out (one writer, many readers).

``SessionStore.add`` takes ``documents.flat_document(session)`` and splits it by ``layout``:
scalar core fields into typed columns, searchable list and protocol fields into ``terms`` and
their postings (``postings.py``), and whatever is left into ``sessions.doc`` (``blob.py``).
Values that a column can derive (lastPacket from the id, network.bytes from the two sides, the
community id from the 5-tuple) are checked on the way in, so ``get`` gives back exactly what was
added.

Rows are written in batches: a batch is committed after ``batch_size`` sessions or when the
oldest pending session is ``max_delay`` seconds old, so a saved session is searchable within
about a second while a busy link still gets large, cheap transactions.
"""

from __future__ import annotations

import binascii
import json
import time
from collections.abc import Iterable
from typing import Any, Final

import apsw

from appliance import fields as registry
from appliance.community_id import community_id
from appliance.documents import file_numbers
from appliance.insights import aggregates
from appliance.memo import remembered
from appliance.store import blob as blob_format
from appliance.store import layout, postings
from appliance.store.db import StoreError, insert_each, insert_rows
from appliance.store.layout import COLUMNS, IP_COLUMNS, Storage
from appliance.store.shapes import Document, Shape, Shapes, document

_COLUMN_ORDER: Final = ("id", "length", "node", *COLUMNS.values(), "cid", "doc")
COLUMN_ORDER: Final = _COLUMN_ORDER  # the row layout decode_row reads (public for the viewer's queries)
_NAMED_INSERT: Final = f"INSERT INTO sessions({','.join(_COLUMN_ORDER)})VALUES({','.join('?' * len(_COLUMN_ORDER))})"
_MAXIMA: Final = [column for column, _ in layout.MINUTE_MAXIMA.values()]
_ADD_MINUTE: Final = (f"INSERT INTO session_minutes (minute, sessions, packets, bytes, {', '.join(_MAXIMA)}) VALUES ",
                      " ON CONFLICT (minute) DO UPDATE SET "
                      "sessions = sessions + excluded.sessions, packets = packets + excluded.packets, "
                      "bytes = bytes + excluded.bytes, "
                      + ", ".join(f"{c} = max(coalesce({c}, 0), excluded.{c})" for c in _MAXIMA))
_ADD_HOUR: Final = ("INSERT INTO session_hours (hour, sessions, packets, bytes) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (hour) DO UPDATE SET sessions = sessions + excluded.sessions, "
                    "packets = packets + excluded.packets, bytes = bytes + excluded.bytes")
_NODE: Final = _COLUMN_ORDER.index("node")
# A document's row is built as a list in _COLUMN_ORDER (id first, the blob last), written by
# position: a dict of the columns, read back into a list, cost ~50 dict operations a session
# (~2.5 % of the store process's instructions).
_WIDTH: Final = len(_COLUMN_ORDER)
_LENGTH: Final = _COLUMN_ORDER.index("length")
_CID: Final = _COLUMN_ORDER.index("cid")
_PROTO: Final = _COLUMN_ORDER.index("proto")
_SRC_IP, _DST_IP = _COLUMN_ORDER.index("src_ip"), _COLUMN_ORDER.index("dst_ip")
_SRC_PORT, _DST_PORT = _COLUMN_ORDER.index("src_port"), _COLUMN_ORDER.index("dst_port")
_SRC_PACKETS, _DST_PACKETS = _COLUMN_ORDER.index("src_packets"), _COLUMN_ORDER.index("dst_packets")
_SRC_BYTES, _DST_BYTES = _COLUMN_ORDER.index("src_bytes"), _COLUMN_ORDER.index("dst_bytes")
_SRC_DATA, _DST_DATA = _COLUMN_ORDER.index("src_databytes"), _COLUMN_ORDER.index("dst_databytes")
_IP_AT: Final = frozenset(_COLUMN_ORDER.index(c) for c in IP_COLUMNS)
# (path, position, whether it holds an address) of each document field kept in a column.
_COLUMN_AT: Final = tuple((path, _COLUMN_ORDER.index(c), c in IP_COLUMNS) for path, c in COLUMNS.items())
# Positions in a stored row (id first) summed for each of MINUTE_MAXIMA; [0] is network.bytes and
# [1] network.packets, which the minute's totals reuse.
_MAXIMA_PARTS: Final[list[tuple[int, ...]]] = [tuple(_COLUMN_ORDER.index(c) for c in parts)
                                                for _, parts in layout.MINUTE_MAXIMA.values()]
# Distinct (field, value) pairs kept in memory by the writer, ~150-200 bytes each: at 500,000
# that was up to ~80 MB of the process on traffic with many distinct URIs and hosts. The cache
# has two generations of up to this many: when the newer is full (between batches) it becomes
# the older and the older is dropped, and a value found in the older moves back to the newer.
# So the values sessions keep naming stay cached; emptying one cache of 30,000 made a store of
# generated home traffic look ~80,000 of them up again every 300,000 sessions (~1.4 µs each).
_TERM_CACHE_MAX: Final = 20_000
# Addresses seen recently -> column form: a home network's sessions name the same few hundred
# (at 10,000, ~1.5 MiB of the store process was addresses of session-heavy traffic, seen once).
_IP_KEYS: Final[dict[str, bytes]] = {}
_IP_KEYS_MAX: Final = 4_096
_NO_TERMS: Final[dict[Any, int]] = {}  # the cache of a field with none yet (never written)
_NO_POSTINGS: Final[dict[int, list[int]]] = {}  # a batch's, when they wait for the commit (never written)
_SEQ_MASK: Final = (1 << layout.SEQ_BITS) - 1
# Milliseconds of lastPacket asked about at once (a window of 2**10 ms, about a second) when a
# session is older than the newest stored one, as most are in an import (sessions are saved as
# they close, not in lastPacket order): one query per millisecond was 67,000 queries and 3 % of
# the store process's time on the 400 MB session-heavy capture, one per window is ~14,000.
_WINDOW_BITS: Final = 10
ABSENT: Final = "\0absent"  # blob marker: a derivable field that the document did not have


class FieldMap:
    """Field ids and storage of every registry field, synchronised with the ``fields`` table."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn
        self.by_path: dict[str, int] = {}
        self.by_id: dict[int, registry.Field] = {}
        self.storage: dict[str, Storage] = {}
        # path -> (kind, field id, column's position in a row or -1): what the writer does with
        # each document field.
        self.plan: dict[str, tuple[str, int, int]] = {}
        self._object_plans: dict[str, dict[str, Any]] = {}
        self.deltas: frozenset[int] = frozenset()  # ids of the fields stored as differences (blob.py)
        self.ip_ids: frozenset[int] = frozenset()  # ids of the ip fields (their terms are address keys)
        self.generation = 0  # counts syncs: a Shape's steps are made from one generation's plan
        self.sync()

    def sync(self) -> None:
        """Give every registered field an id (new parser fields just appear)."""
        registry.load_protocol_fields()  # parsers register their fields at import
        known = {path: fid for fid, path in self.conn.execute("SELECT id, path FROM fields")}
        missing = [f for f in registry.FIELDS if f.path not in known]
        if missing:
            with self.conn:  # OR IGNORE: another process's store may add them at the same moment
                self.conn.executemany("INSERT OR IGNORE INTO fields (path, expr, type) VALUES (?, ?, ?)",
                                      [(f.path, f.expr, f.type) for f in missing])
            known = {path: fid for fid, path in self.conn.execute("SELECT id, path FROM fields")}
        objects = tuple(f.path for f in registry.FIELDS if f.type == "object")
        for f in registry.FIELDS:
            self.by_path[f.path] = known[f.path]
            self.by_id[known[f.path]] = f
            self.storage[f.path] = layout.storage_of(f, objects)
            column = COLUMNS.get(f.path)
            self.plan[f.path] = (self.storage[f.path].kind, known[f.path],
                                 -1 if column is None else _COLUMN_ORDER.index(column))
        self._object_plans.clear()  # made again from the fields as they are now
        self.generation += 1
        self.deltas = frozenset(self.by_path[path] for path in layout.DELTA_ENCODED)
        self.ip_ids = frozenset(fid for fid, f in self.by_id.items() if f.type == "ip")
        # Fields stored by an older build whose parser is gone still decode (as plain values).
        for path, fid in known.items():
            if fid not in self.by_id:
                self.by_id[fid] = registry.field(path, path, "termfield", "unknown", "")
                self.storage[path] = Storage("doc")
                self.by_path[path] = fid
                self.plan[path] = ("doc", fid, -1)

    def object_plan(self, root: str) -> dict[str, Any]:
        """The registered search paths inside ``root``'s objects (dns.host, dns.answers.ip) as a
        tree of keys: key -> (leaf or None, subtree or None), a leaf being (field id, field).

        The writer walks each object once along this tree, looking at the keys the object has,
        instead of searching the objects once for each of the ~30 registered paths."""
        plan = self._object_plans.get(root)
        if plan is None:
            plan = {}
            for path, storage in self.storage.items():
                if storage.object_root != root:
                    continue
                *parents, last = path[len(root) + 1:].split(".")
                node = plan
                for key in parents:
                    leaf, children = node.get(key, (None, None))
                    if children is None:
                        children = {}
                        node[key] = (leaf, children)
                    node = children
                fid = self.by_path[path]
                node[last] = ((fid, self.by_id[fid]), node.get(last, (None, None))[1])
            self._object_plans[root] = plan
        return plan


def term_value(field: registry.Field, value: Any) -> Any:
    """The stored form of one value: ip fields as ``layout.ip_key`` keys, everything else as is."""
    if field.type == "ip" and isinstance(value, str):
        try:
            return layout.ip_key(value)
        except ValueError:
            return value
    return value


def _termable(value: Any) -> bool:
    """Whether a postings value (or every item of a list) can be a term: text, a number, or an
    address already in its stored form (``layout.ip_key``)."""
    items = value if isinstance(value, list) else (value,)
    return all(type(v) in (str, int, float, bytes) for v in items)


def display_value(field: registry.Field, value: Any) -> Any:
    if field.type == "ip" and layout.is_ip_key(value):
        return layout.ip_text(value)
    return value


def extract(objects: Any, subpath: str) -> list[Any]:
    """Every value at ``subpath`` (``answers.ip``) inside a list of objects, flattened."""
    out: list[Any] = []
    items = objects if isinstance(objects, list) else [objects]
    head, _, rest = subpath.partition(".")
    for item in items:
        if not isinstance(item, dict) or head not in item:
            continue
        value = item[head]
        if rest:
            out.extend(extract(value, rest))
        elif isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out


def cid_key(text: Any) -> int | None:
    """The indexed form of a community id: the first 8 bytes of its SHA-1, as a signed int."""
    if not isinstance(text, str) or not text.startswith("1:"):
        return None
    try:  # binascii directly: base64.b64decode is interpreted Python around it
        digest = binascii.a2b_base64(text[2:], strict_mode=True)
    except ValueError:  # binascii.Error, or a character outside ASCII
        return None
    if len(digest) < 8:
        return None
    return int.from_bytes(digest[:8], "big", signed=True)


def decode_doc(blob: bytes | None) -> list[tuple[int, Any]]:
    """(field id, value) pairs of a doc blob (``blob.py``); a negative id marks a postings reference."""
    return blob_format.decode(blob)


_TWIN_COLUMNS: Final = ("length", "proto", "src_ip", "dst_ip", "src_port", "dst_port",
                        "src_packets", "dst_packets", "src_bytes", "dst_bytes")
_TWIN_PATHS: Final = {"length": "length", **{column: path for path, column in COLUMNS.items() if column in _TWIN_COLUMNS}}
_FIND_TWIN: Final = ("SELECT 1 FROM sessions WHERE id BETWEEN ? AND ? AND "
                     + " AND ".join(f"{c} IS ?" for c in _TWIN_COLUMNS) + " LIMIT 1")


def stored_twin(conn: apsw.Connection, doc: dict[str, Any]) -> bool:
    """Whether a session with this document's lastPacket, length, addresses, ports and counts is
    already stored: how a file that a crash left half-imported skips what its first try saved."""
    try:
        lo, hi = layout.closed_id_range(int(doc["lastPacket"]), int(doc["lastPacket"]))
        values = []
        for column in _TWIN_COLUMNS:
            value = doc.get(_TWIN_PATHS[column])
            values.append(layout.ip_key(value) if column in IP_COLUMNS and value is not None else value)
    except (KeyError, TypeError, ValueError):
        return False  # an odd document: store it (a duplicate is better than a loss)
    return bool(conn.execute(_FIND_TWIN, (lo, hi, *values)).fetchall())


class SessionStore:
    """Writer and reader of the sessions in one database (``db.open_database``)."""

    def __init__(self, conn: apsw.Connection, batch_size: int = 5000, max_delay: float = 1.0,
                 writer: Any = None, batches_per_commit: int = 1) -> None:
        self.conn = conn
        # Full batches written in one transaction: a commit writes every page its batches changed
        # (and a checkpoint copies it), and sessions at random places in the indexes, postings and
        # aggregates change the same pages batch after batch. Only for a connection that nothing
        # else writes through (the import's store process): its writes would join the transaction.
        # A batch older than max_delay is still committed at once.
        self.batches_per_commit = batches_per_commit
        self._held = 0  # batches written in the open transaction, not yet committed
        self._held_since = 0.0  # when the oldest of them was started
        # A ``writer_process.BatchWriter``: batches are written by a second process while this
        # one builds the next (None: written here, in the caller's thread).
        self.writer = writer
        self._in_writer: list[int] = []  # ids of the batch the writer has not yet committed
        self.fields = FieldMap(conn)
        self.batch_size = batch_size
        self.max_delay = max_delay
        self._rows: list[tuple[Any, ...]] = []
        # term id -> the batch's session ids with that term (distinct: a session posts a term once).
        self._postings: dict[int, list[int]] = {}
        # The same for the batches held in the open transaction: their postings are written when
        # it commits, so a term's newest block is read and rewritten once per commit rather than
        # once per batch (on session-heavy traffic a batch of 5,000 sessions touches ~3,400 terms,
        # most of them the batch before's too: 29 % of the store's postings work went).
        self._held_postings: dict[int, list[int]] = {}
        self._new_terms: list[tuple[int, int, Any, bool]] = []
        # field id -> {value: term id}: one dict per field, so a lookup hashes the value alone.
        self._terms: dict[int, dict[Any, int]] = {}
        self._terms_cached = 0
        self._older_terms: dict[int, dict[Any, int]] = {}  # the previous generation of _terms
        self._seq: dict[int, int] = {}  # ms -> next free sequence number, for the ms handed out or asked about
        self._asked: set[int] = set()  # windows (ms >> _WINDOW_BITS) whose stored ids are in _seq
        self._oldest = 0.0
        self._stored_ms = -1  # lastPacket of the newest stored session, read at each batch start
        self._next_term = 0
        # Scan and device aggregates (issue 9), written in the same transaction; None turns them off.
        self.insights: aggregates.Batch | None = aggregates.Batch()
        self._shapes = Shapes()  # of the documents given as dicts (add)

    # --- writing -----------------------------------------------------------------------------

    def add(self, doc: dict[str, Any]) -> int:
        """Queue one flat document; returns its session id. Commits when the batch is due."""
        return self.add_document(self._shapes.document(doc))

    def add_document(self, doc: Document) -> int:
        """``add`` for a document as its shape and values (``shapes``)."""
        if not self._rows:
            self._start_batch()
        sid = self._new_id(int(doc["lastPacket"]))
        last_ms = layout.last_packet(sid)
        row, blob_items, terms = self._split(doc, last_ms)
        # Ids as the objects they are: with ``int`` types, compiled code would make an int object
        # of the session id for each list it joins, and of each term id to look it up (~30 a
        # session, ids too large for Python's cached small ints).
        boxed: Any = sid
        term_ids: set[Any] = terms
        by_term: dict[Any, list[Any]] = self._postings
        for term_id in term_ids:
            sids = by_term.get(term_id)
            if sids is None:
                by_term[term_id] = [boxed]
            else:
                sids.append(boxed)
        self._rows.append((boxed, *row[1:-1], blob_format.encode(blob_items, self.fields.deltas)))
        if self.insights is not None:
            aggregates.record(self.insights, doc)
        self.tick()
        return sid

    def tick(self) -> None:
        """Commit if the batch is full or old enough (call it from idle loops, too). With a
        writer process the batch is handed to it, and this returns while it is written."""
        now = time.monotonic()
        if self._rows and (len(self._rows) >= self.batch_size or now - self._oldest >= self.max_delay):
            if self.writer is None:
                due = (len(self._rows) < self.batch_size or self._held + 1 >= self.batches_per_commit
                       or (self._held > 0 and now - self._held_since >= self.max_delay))
                self._write(commit=due)
            else:
                self._hand_off()
        elif self._held and now - self._held_since >= self.max_delay:
            self._write(commit=True)

    def flush(self) -> None:
        """Write and commit everything queued (every session added is committed on return)."""
        if self.writer is not None:
            if self._rows:
                self._hand_off()
            self._settle()
            return
        if self._rows or self._held:
            self._write(commit=True)

    def commit_written(self) -> None:
        """Commit the full batches held in the open transaction (the batch being built waits).
        Call it before waiting for more sessions: an open transaction holds the database's write
        lock, which other writers (the import process's own tables) would wait for."""
        if self._held:
            self._write(commit=True, with_batch=False)

    def _write(self, commit: bool, with_batch: bool = True) -> None:
        """Write the batch being built (if any) in the open transaction, opening one if need be;
        with ``commit``, commit it and the batches held in it."""
        try:
            if with_batch and self._rows:
                if not self._held:
                    self.conn.execute("BEGIN")
                    self._held_since = self._oldest
                self._hold_postings()
                # The batch's new terms go in with no sessions yet: write_postings counts them.
                write_batch(self.conn, self._rows, _NO_POSTINGS, self._new_terms, self.insights)
                self._held += 1
            if commit and self._held:
                write_postings(self.conn, self._held_postings)
                self._held_postings = {}
                self.conn.execute("COMMIT")
                self._held = 0
        except apsw.Error:
            if not self.conn.getautocommit():
                self.conn.execute("ROLLBACK")
            # Lost: the held batches, and the one being built, whose new terms and ids may be
            # theirs. What was handed out is forgotten.
            self._held = 0
            self._held_postings = {}
            self._reset_batch()
            self.forget_terms()
            self._forget_ids()
            raise
        if with_batch:
            self._reset_batch()

    def close(self) -> None:
        """Flush; a writer process given to the store is ended too."""
        try:
            self.flush()
        finally:
            if self.writer is not None:
                self.writer.close()

    def forget_terms(self) -> None:
        """Drop the (field, value) -> term id cache: retention may have deleted unused terms.

        The terms new in the batch being built stay: they are not in the database yet, so a
        value seen again before the batch is written would otherwise get a second id (and the
        batch would fail on the terms' UNIQUE constraint, losing its sessions). A batch in the
        writer process is waited for first, for the same reason."""
        self._settle()
        self._terms.clear()
        self._older_terms = {}
        self._terms_cached = 0
        for term_id, field_id, value, _ in self._new_terms:
            self._terms.setdefault(field_id, {})[value] = term_id
            self._terms_cached += 1

    def _hold_postings(self) -> None:
        """The batch's postings joined to those of the batches held before it."""
        held = self._held_postings
        if not held:
            self._held_postings = self._postings
            return
        for term_id, sids in self._postings.items():
            known = held.get(term_id)
            if known is None:
                held[term_id] = sids
            else:
                known.extend(sids)

    def _reset_batch(self) -> None:
        self._rows, self._postings, self._new_terms = [], {}, []
        if self.insights is not None:
            self.insights = aggregates.Batch()

    def _hand_off(self) -> None:
        """Give the batch to the writer process, once it has committed the one before: the
        next batch is built while this one is written (at most one is in the writer)."""
        self._settle()
        insights = self.insights.state() if self.insights is not None else None
        batch = (self._rows, self._postings, self._new_terms, insights)
        self._in_writer = [row[0] for row in self._rows]
        self._reset_batch()
        try:
            self.writer.send(batch)
        except StoreError:
            self._lose_batches()
            raise

    def _settle(self) -> None:
        """Wait until the writer process has committed what it was given (StoreError if it could
        not: that batch is lost, and so is the one being built, whose terms may be its)."""
        if not self._in_writer:
            return
        try:
            self.writer.wait()
        except StoreError:
            self._lose_batches()
            raise
        self._in_writer = []

    def _lose_batches(self) -> None:
        self._in_writer = []
        self._reset_batch()
        if self.writer is not None and self.writer.broken:
            self.writer = None  # the process is gone: the next batches are written here
        self.forget_terms()  # ids handed out in the lost batches were never written
        self._forget_ids()

    def _forget_ids(self) -> None:
        self._seq.clear()
        self._asked.clear()

    def _max_term_id(self) -> int:
        rows: list[Any] = self.conn.execute("SELECT coalesce(max(id), 0) FROM terms").fetchall()
        return int(rows[0][0])

    def _new_id(self, last_ms: int) -> int:
        """A free id for this lastPacket: the next sequence number within its millisecond."""
        ms = last_ms
        while True:
            seq = self._seq.get(ms)
            if seq is None:
                # Newer than anything stored (live capture), or in a window already asked about:
                # nothing stored in this ms.
                if ms > self._stored_ms or (ms >> _WINDOW_BITS) in self._asked:
                    seq = 0
                else:
                    self._ask_window(ms >> _WINDOW_BITS)
                    seq = self._seq.get(ms, 0)
            if seq < 1 << layout.SEQ_BITS:
                self._seq[ms] = seq + 1
                return layout.session_id(ms, seq)
            ms += 1  # more sessions in one ms than the sequence holds: borrow the next ms

    def _ask_window(self, window: int) -> None:
        """Put the next free sequence number of every stored ms of a window into _seq."""
        lo = layout.session_id(window << _WINDOW_BITS, 0)
        hi = layout.session_id((window + 1) << _WINDOW_BITS, 0) - 1
        rows: list[Any] = self.conn.execute(
            f"SELECT max(id) FROM sessions WHERE id BETWEEN ? AND ? GROUP BY id >> {layout.SEQ_BITS}", (lo, hi)).fetchall()
        for (top,) in rows:
            ms, seq = layout.last_packet(top), (top & _SEQ_MASK) + 1
            if seq > self._seq.get(ms, 0):  # ids handed out but not yet stored (a writer process's) stay
                self._seq[ms] = seq
        self._asked.add(window)

    def _start_batch(self) -> None:
        """What a batch needs from the database: the next term id, the newest stored id."""
        self._oldest = time.monotonic()
        # The database does not yet hold a batch that is in the writer process: ids continue
        # from what this store handed out as well as from what is stored.
        self._next_term = max(self._next_term, self._max_term_id() + 1)
        rows: list[Any] = self.conn.execute("SELECT max(id) FROM sessions").fetchall()
        top = rows[0][0]
        if self._in_writer:
            top = max(self._in_writer) if top is None else max(top, max(self._in_writer))
        self._stored_ms = -1 if top is None else layout.last_packet(top)
        # Only between batches (pending ids are all in _seq); what it held is in the database
        # now, but for a batch in the writer process, whose ids stay known. Bounded small: on
        # session-heavy traffic it was ~20 MB of the writer at 200,000.
        if len(self._seq) > 20_000:
            self._forget_ids()
            for sid in self._in_writer:
                ms, seq = layout.last_packet(sid), (sid & _SEQ_MASK) + 1
                if seq > self._seq.get(ms, 0):
                    self._seq[ms] = seq
        # The term cache's generations turn only here, between batches: a batch's own new terms
        # must stay known until written. A batch in the writer process is committed before the
        # generation that holds its new terms is dropped (the next batch waits for it).
        if self._terms_cached >= _TERM_CACHE_MAX:
            self._older_terms, self._terms = self._terms, {}
            self._terms_cached = 0

    def _term(self, field_id: int, field: registry.Field, value: Any) -> int:
        cache = self._terms.get(field_id)
        term_id = None if cache is None else cache.get(value)
        if term_id is not None:
            return term_id
        older = self._older_terms.get(field_id)
        term_id = None if older is None else older.get(value)  # moves back to the newer generation
        if term_id is None:
            row: list[Any] = self.conn.execute("SELECT id FROM terms WHERE field_id = ? AND value = ?",
                                               (field_id, value)).fetchall()
            if row:
                term_id = row[0][0]
            else:
                term_id = self._next_term
                self._next_term += 1
                is_text = isinstance(value, str) and field.type in layout.TEXT_TYPES
                self._new_terms.append((term_id, field_id, value, is_text))
        self._terms.setdefault(field_id, {})[value] = term_id
        self._terms_cached += 1
        return term_id

    def _split(self, doc: Document, last_ms: int) -> tuple[list[Any], list[Any], set[int]]:
        """(row in _COLUMN_ORDER, its id and blob left None; blob items; term ids) of one document."""
        row: list[Any] = [None] * _WIDTH
        blob: list[Any] = []
        terms: set[int] = set()
        fmap = self.fields
        shape = doc.shape
        steps = shape.steps
        if steps is None or shape.steps_of != fmap.generation:
            steps = self._steps(shape)
        values = doc.values
        for i in range(len(values)):
            step = steps[i]
            if step is None:
                raise KeyError(f"session field {shape.keys[i]!r} is not in the field registry")
            value = values[i]
            kind, fid, column = step
            if kind == "column":
                # The common case, inline (bool is not an int here). Tested apart: narrowed to
                # int, the compiled value would be made an int object again for the row.
                whole = type(value) is int
                if whole:
                    row[column] = value
                    continue
                if not self._put_column(row, column, value):
                    # what the column cannot hold as given (an odd address spelling)
                    blob.append(fid)
                    blob.append(value)
            elif kind == "postings":
                ids = self._post(fid, value, terms)
                if ids is None:  # None, nested lists...: kept as given (not indexed) rather than refused
                    blob.append(fid)
                    blob.append(value)
                else:
                    blob.append(-fid)
                    blob.append(ids)
            elif kind == "object":
                blob.append(fid)
                blob.append(self._object_tree(shape.keys[i], value, terms))
            elif kind == "doc":
                blob.append(fid)
                blob.append(value)
            # derived, cid and node: rebuilt from the columns (and checked below)
        at = _read_at(shape)
        length = doc.given(at, _AT_LENGTH, 0)
        row[_LENGTH] = length if isinstance(length, int) else 0
        node = doc.given(at, _AT_NODE, None)
        if isinstance(node, str):
            row[_NODE] = self._term(fmap.by_path["node"], fmap.by_id[fmap.by_path["node"]], node)
        elif node is not None:
            blob += [fmap.by_path["node"], node]
        cid_text = doc.given(at, _AT_CID, None)
        row[_CID] = cid_key(cid_text) if cid_text is not None else None
        blob += self._check_derived(doc, row, last_ms)
        return row, blob, terms

    def _steps(self, shape: Shape) -> list[tuple[str, int, int] | None]:
        """What the store does with each of a shape's paths (its FieldMap.plan step; None for a
        path the registry does not know), kept on the shape for its next documents."""
        plan = self.fields.plan
        steps = [plan.get(key) for key in shape.keys]
        shape.steps, shape.steps_of = steps, self.fields.generation
        return steps

    @staticmethod
    def _put_column(row: list[Any], column: int, value: Any) -> bool:
        if column in _IP_AT:
            if not isinstance(value, str):
                return False
            key: bytes = remembered(_IP_KEYS, value, _ip_column_key, _IP_KEYS_MAX)
            if not key:
                return False
            row[column] = key
            return True
        if isinstance(value, int) and not isinstance(value, bool):
            row[column] = value
            return True
        return False

    def _post(self, fid: int, value: Any, terms: set[int]) -> Any:
        """Term ids of a postings field's values (a list, or ``{"t": id}`` for a scalar); None
        when a value cannot be a term."""
        items = value if isinstance(value, list) else [value]
        if fid in self.fields.ip_ids:
            field = self.fields.by_id[fid]
            items = [term_value(field, v) for v in items]
        cache = self._terms.get(fid) or _NO_TERMS
        try:  # known values straight from the cache
            ids: list[Any] = [cache.get(item) for item in items]
        except TypeError:  # an unhashable value
            return None
        if None in ids:
            if not _termable(items):
                return None
            field = self.fields.by_id[fid]
            ids = [self._term(fid, field, v) if t is None else t for t, v in zip(ids, items, strict=True)]
        terms.update(ids)
        return ids if isinstance(value, list) else {"t": ids[0]}

    def _object_tree(self, root: str, value: Any, terms: set[int]) -> Any:
        """An object field's value (``dns``) as a ``blob.Tree``, posting the values at the
        registered paths inside its objects on the way: those values are terms, so the tree holds
        their term ids (``blob.TermRef``) and each key with a registered path its field id."""
        if _odd_keys(value):  # an int key in a tree is a field id: keys as JSON makes them (text)
            value = json.loads(json.dumps(value))
        return blob_format.Tree(self._tree(self.fields.object_plan(root), value, terms))

    def _tree(self, plan: dict[str, Any], value: Any, terms: set[int]) -> Any:
        """An object, or each object of a list (not of lists inside it), along ``plan``."""
        if isinstance(value, list):
            return [self._tree_map(plan, item, terms) if isinstance(item, dict) else item for item in value]
        if isinstance(value, dict):
            return self._tree_map(plan, value, terms)
        return value

    def _tree_map(self, plan: dict[str, Any], item: dict[Any, Any], terms: set[int]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key, found in item.items():
            step = plan.get(key)
            if step is None:  # not a search path: kept as given, under its own name
                out[key] = found
                continue
            leaf, children = step
            code: Any = key
            if leaf is not None:
                code = leaf[0]
                found = self._leaf_refs(leaf[0], leaf[1], found, terms)
            if children is not None:
                found = self._tree(children, found, terms)
            out[code] = found
        return out

    def _leaf_refs(self, fid: int, field: registry.Field, found: Any, terms: set[int]) -> Any:
        """One path's value in one object (a value or a list of them) with its string and integer
        values posted and swapped for their term ids (anything else is kept, not indexed)."""
        if isinstance(found, list):
            return [self._leaf_ref(fid, field, item, terms) for item in found]
        return self._leaf_ref(fid, field, found, terms)

    def _leaf_ref(self, fid: int, field: registry.Field, item: Any, terms: set[int]) -> Any:
        if not isinstance(item, (str, int)) or isinstance(item, bool):
            return item
        key: Any = item
        exact = True
        if fid in self.fields.ip_ids:
            key = term_value(field, item)
            # An address spelt oddly ("::ffff:10.0.0.1") is posted as the address but kept as given.
            exact = key is item or remembered(_IP_KEYS, item, _ip_column_key, _IP_KEYS_MAX) == key
        cache = self._terms.get(fid)
        term_id = None if cache is None else cache.get(key)
        if term_id is None:  # not cached: look it up or make it (which may empty the caches)
            term_id = self._term(fid, field, key)
        terms.add(term_id)
        return blob_format.TermRef(term_id) if exact else item

    def _check_derived(self, doc: Document, row: list[Any], last_ms: int) -> list[Any]:
        """Blob items for derivable fields whose stored derivation would not match the document."""
        out: list[Any] = []
        # A tuple, not _derive's dict: this runs for every stored session, and nearly always
        # finds nothing to keep.
        derived = _derived_values(row, last_ms, doc, True)
        at = _read_at(doc.shape)  # _DERIVED_PATHS first
        for i in range(len(_DERIVED_PATHS)):
            given = doc.given(at, i, ABSENT)
            if given != derived[i]:
                out += [self.fields.by_path[_DERIVED_PATHS[i]], given]
        return out

    # --- reading -----------------------------------------------------------------------------

    def get(self, sid: int) -> dict[str, Any] | None:
        """The nested Arkime document of one session (None if there is none)."""
        flat = self.get_flat(sid)
        return None if flat is None else registry.nest(flat)

    def get_flat(self, sid: int) -> dict[str, Any] | None:
        """The flat ``{path: value}`` document, as ``flat_document`` made it."""
        rows = self.conn.execute(f"SELECT {', '.join(_COLUMN_ORDER)} FROM sessions WHERE id = ?",
                                 (sid,)).fetchall()
        return self.decode_row(rows[0]) if rows else None

    def get_many(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        return [d for d in (self.get_flat(i) for i in ids) if d is not None]

    def decode_row(self, row: tuple[Any, ...]) -> dict[str, Any]:
        """A sessions row (in ``_COLUMN_ORDER``) back to the flat document."""
        return self.decode_rows([row])[0]

    def decode_rows(self, rows: list[tuple[Any, ...]], wanted: set[str] | None = None) -> list[dict[str, Any]]:
        """Rows back to flat documents, with one terms lookup for all of them (a page of 100
        sessions names ~1,000 terms: one query, not one per field and row). With ``wanted``,
        only those paths are decoded (a list page needs a dozen fields, not packetPos)."""
        by_id = self.fields.by_id
        blobs = [decode_doc(row[-1]) for row in rows]
        if wanted is not None:
            # a derived list needs the field it comes from
            wanted = wanted | {layout.DERIVED_LISTS[p] for p in wanted if p in layout.DERIVED_LISTS}
            blobs = [[(fid, v) for fid, v in items if by_id[abs(fid)].path in wanted] for items in blobs]
        ids = {row[_NODE] for row in rows if row[_NODE] is not None}
        for items in blobs:
            for fid, value in items:
                if fid < 0:
                    if isinstance(value, dict):
                        ids.add(value["t"])
                    else:
                        ids.update(value)
                elif isinstance(value, blob_format.Tree):
                    ids.update(value.refs)
        terms = self.term_map(ids)
        with_cid = wanted is None or layout.COMMUNITY_ID in wanted
        return [self._decode(row, items, terms, with_cid) for row, items in zip(rows, blobs, strict=True)]

    def _decode(self, row: tuple[Any, ...], items: list[tuple[int, Any]], terms: dict[int, Any],
                with_cid: bool = True) -> dict[str, Any]:
        if len(row) != _WIDTH:
            raise ValueError(f"a sessions row has {len(row)} columns, not {_WIDTH}")
        columns = list(row)
        doc: dict[str, Any] = {}
        by_id = self.fields.by_id
        for path, at, is_ip in _COLUMN_AT:
            value = columns[at]
            if value is not None:
                doc[path] = layout.ip_text(value) if is_ip else value
        if columns[_NODE] is not None:
            doc["node"] = terms[columns[_NODE]]
        extra: dict[str, Any] = {}
        for fid, value in items:
            if fid < 0:
                field = by_id[-fid]
                if isinstance(value, dict):  # a scalar value of a postings field
                    value = display_value(field, terms[value["t"]])
                else:
                    value = [display_value(field, terms[t]) for t in value]
            elif isinstance(value, blob_format.Tree):
                value = self._untree(value.value, terms, None)
            extra[by_id[abs(fid)].path] = value
        doc.update(_derive(columns, layout.last_packet(columns[0]), document({**doc, **extra}), with_cid))
        doc.update(extra)
        return {path: value for path, value in doc.items() if value != ABSENT}

    def _untree(self, value: Any, terms: dict[int, Any], field: registry.Field | None) -> Any:
        """A ``blob.Tree``'s value back to the objects that were stored: key names for field ids,
        term values (as ``display_value`` shows them) for term ids."""
        if isinstance(value, blob_format.TermRef):
            found = terms[value.id]
            return found if field is None else display_value(field, found)
        if isinstance(value, list):
            return [self._untree(item, terms, field) for item in value]
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if isinstance(key, int):
                    inner = self.fields.by_id[key]
                    out[inner.path.rpartition(".")[2]] = self._untree(item, terms, inner)
                else:
                    out[key] = self._untree(item, terms, field)
            return out
        return value

    def term_map(self, ids: Iterable[int]) -> dict[int, Any]:
        """{term id: value} of the given ids (in chunks below SQLite's parameter limit)."""
        unique = list(set(ids))
        found: dict[int, Any] = {}
        for i in range(0, len(unique), 10_000):
            chunk = unique[i:i + 10_000]
            rows: list[Any] = self.conn.execute(
                f"SELECT id, value FROM terms WHERE id IN ({', '.join('?' * len(chunk))})", chunk).fetchall()
            found.update(rows)
        return found

    def term_values(self, ids: list[int]) -> list[Any]:
        """Values of terms by id, in the order given (ids may repeat)."""
        found = self.term_map(ids)
        return [found[i] for i in ids]

    def count(self, where: str = "1", params: tuple[Any, ...] = ()) -> int:
        """Sessions matching a compiled WHERE clause over ``sessions s`` (see appliance.query)."""
        rows: list[Any] = self.conn.execute(f"SELECT count(*) FROM sessions s WHERE {where}", params).fetchall()
        return int(rows[0][0])


def _insert_sessions(conn: apsw.Connection) -> str:
    """The INSERT of a session row (in _COLUMN_ORDER), without a column list: the values in the
    order of the table's columns, each naming its place in the row (``?N``).

    apsw hashes a statement's whole text again for each row of an ``executemany`` (db.compact):
    with the columns named, ~2,500 instructions a session went to that alone. A table whose
    columns are not exactly ours (a newer schema, say) gets the named form."""
    table = [str(column[1]) for column in conn.execute("PRAGMA table_info(sessions)")]
    if sorted(table) != sorted(_COLUMN_ORDER):
        return _NAMED_INSERT
    place = {name: i + 1 for i, name in enumerate(_COLUMN_ORDER)}
    return f"INSERT INTO sessions VALUES({','.join(f'?{place[name]}' for name in table)})"


def write_batch(conn: apsw.Connection, rows: list[tuple[Any, ...]], by_term: dict[int, list[int]],
                new_terms: list[tuple[int, int, Any, bool]], insights: Any) -> None:
    """Write one batch inside the caller's transaction: new terms and the counts of known ones,
    the session rows, postings, minute and hour totals, and the aggregates (``aggregates.Batch``,
    or its ``state()`` as a writer process receives it; None for none). The writer process
    calls this too, so a batch is written alike in either process."""
    minutes = _minute_totals(rows)
    new_ids = set()
    if new_terms:
        insert_each(conn, "INSERT INTO terms (id, field_id, value, sessions) VALUES ",
                    [(t, f, v, len(by_term.get(t, ()))) for t, f, v, _ in new_terms])
        insert_rows(conn, "INSERT INTO terms_fts (rowid, value) VALUES ",
                    [(t, v) for t, _, v, text in new_terms if text])
        new_ids = {t for t, _, _, _ in new_terms}
    # One row to a statement (db.insert_each): they land at random places in five indexes.
    conn.executemany(_insert_sessions(conn), rows)
    write_postings(conn, by_term, new_ids)
    insert_rows(conn, _ADD_MINUTE[0], [(m, *v) for m, v in minutes.items()], _ADD_MINUTE[1])
    hours: dict[int, list[int]] = {}
    for m, (n, p, b, *_) in minutes.items():
        hour = hours.setdefault(m // 60, [0, 0, 0])
        hour[0], hour[1], hour[2] = hour[0] + n, hour[1] + p, hour[2] + b
    conn.executemany(_ADD_HOUR, [(h, *v) for h, v in hours.items()])
    if isinstance(insights, tuple):
        insights = aggregates.Batch.from_state(insights)
    if insights:
        aggregates.write(conn, insights)


def write_postings(conn: apsw.Connection, by_term: dict[int, list[int]], new_ids: set[int] | None = None) -> None:
    """Add each term's session ids to its postings and its session count (not for the terms
    in ``new_ids``, which went in with theirs), inside the caller's transaction."""
    conn.executemany("UPDATE terms SET sessions=sessions+? WHERE id=?",
                     [(len(by_term[t]), t) for t in sorted(by_term) if new_ids is None or t not in new_ids])
    postings.add(conn, by_term)


def _minute_totals(rows: list[tuple[Any, ...]]) -> dict[int, list[int]]:
    """minute -> [sessions, packets, bytes, *maxima of MINUTE_MAXIMA] of session rows. Worked out
    from the rows when they are written, so a writer process does it, not the store's caller."""
    minutes: dict[int, list[int]] = {}
    for row in rows:
        key = layout.last_packet(row[0]) // 60_000
        values = _maxima_values(row)
        minute = minutes.get(key)
        if minute is None:
            minute = [1, values[1], values[0]]  # network.packets, network.bytes
            minute.extend(values)
            minutes[key] = minute
            continue
        minute[0] += 1
        minute[1] += values[1]
        minute[2] += values[0]
        for i in range(len(values)):  # index loops over lists of ints: compiled, no iterator
            if values[i] > minute[i + 3]:
                minute[i + 3] = values[i]
    return minutes


def _maxima_values(row: tuple[Any, ...]) -> list[int]:
    """Each of MINUTE_MAXIMA's sums for one row (a missing column counts 0). Plain loops: a
    generator per sum cost ~8,000 instructions a session."""
    values: list[int] = []
    for parts in _MAXIMA_PARTS:
        total = 0
        for i in parts:
            v: int = row[i] or 0  # typed: an int add, not Python's generic one
            total += v
        values.append(total)
    return values


def _odd_keys(value: Any) -> bool:
    """Whether a value has an object with a key that is not text (JSON would make it text)."""
    if isinstance(value, dict):
        return any(type(k) is not str or _odd_keys(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_odd_keys(v) for v in value)
    return False


def _ip_column_key(text: str) -> bytes:
    """The column form of an address, or b"" when it is none or is spelt oddly (an address whose
    text would not come back the same stays in the blob as given)."""
    try:
        key = layout.ip_key(text)
    except ValueError:
        return b""
    if ":" not in text:
        # IPv4: inet_pton takes only the dotted quad as inet_ntop writes it (four decimal parts,
        # no leading zeros: glibc), so there is nothing to compare (tests/test_store.py checks).
        return key
    return key if layout.ip_text(key) == text else b""


# The fields that the columns (and packetPos) determine, in the order _derived_values gives them.
_DERIVED_PATHS: Final = ("lastPacket", "firstPacket", "length", "packetRange", "network.packets", "network.bytes",
                         "totDataBytes", "fileId", layout.COMMUNITY_ID)
# What the writer reads from every document by name (_read_at): the derived fields, then the
# packet positions and the node.
_READ_PATHS: Final = (*_DERIVED_PATHS, "packetPos", "node")
_AT_LENGTH: Final = _READ_PATHS.index("length")
_AT_FILE_ID: Final = _READ_PATHS.index("fileId")
_AT_CID: Final = _READ_PATHS.index(layout.COMMUNITY_ID)
_AT_POSITIONS: Final = _READ_PATHS.index("packetPos")
_AT_NODE: Final = _READ_PATHS.index("node")


def _read_at(shape: Shape) -> list[int]:
    """Where each of _READ_PATHS is in a shape's documents (-1: not there)."""
    at = shape.read_at
    if at is None:
        at = shape.read_at = [shape.index.get(path, -1) for path in _READ_PATHS]
    return at


def _derive(row: list[Any], last_ms: int, doc: Document, with_cid: bool = True) -> dict[str, Any]:
    """The fields that a row's columns (and packetPos) determine: times, totals, fileId, the
    community id."""
    values = _derived_values(row, last_ms, doc, with_cid)
    out = dict(zip(_DERIVED_PATHS, values, strict=True))
    if not with_cid:
        del out[layout.COMMUNITY_ID]
    return out


def _derived_values(row: list[Any], last_ms: int, doc: Document, with_cid: bool) -> tuple[Any, ...]:
    """``_derive``'s values, in the order of ``_DERIVED_PATHS`` (ABSENT for the community id
    without ``with_cid``), from a row in _COLUMN_ORDER."""
    length = row[_LENGTH] or 0
    first = last_ms - length
    at = _read_at(doc.shape)
    positions = doc.given(at, _AT_POSITIONS, ABSENT)
    files: Any
    cid: Any = ABSENT
    if isinstance(positions, list):
        files = file_numbers(positions)
    elif isinstance(positions, bytes):
        # Packed by the import process (blob.packed_positions), which made fileId from the same
        # positions (documents.packet_positions): reading them back gives the same files.
        files = doc.given(at, _AT_FILE_ID, ABSENT)
        if with_cid and _ported(row):
            # Likewise its community id: flat_document made it with the same function of the same
            # addresses and ports (611 of 611 corpus sessions agree), so no SHA-1 again here.
            cid = doc.given(at, _AT_CID, ABSENT)
            with_cid = False
    else:
        files = ABSENT
    if with_cid:
        cid = _community(row, doc)  # a SHA-1 per session: only when asked for
    return (last_ms, first, length, {"gte": first, "lte": last_ms},
            _total(row[_SRC_PACKETS], row[_DST_PACKETS]), _total(row[_SRC_BYTES], row[_DST_BYTES]),
            _total(row[_SRC_DATA], row[_DST_DATA]), files, cid)


def _ported(row: list[Any]) -> bool:
    """A TCP, UDP or SCTP row with both addresses and a community id in its columns."""
    proto = row[_PROTO]
    return ((proto == 6 or proto == 17 or proto == 132) and row[_SRC_IP] is not None
            and row[_DST_IP] is not None and row[_CID] is not None)


def _total(x: Any, y: Any) -> Any:
    """The sum of the two sides' columns (ABSENT unless both are there)."""
    return ABSENT if x is None or y is None else x + y


def _community(row: list[Any], doc: Document) -> Any:
    src, dst, proto = row[_SRC_IP], row[_DST_IP], row[_PROTO]
    if src is None or dst is None or proto is None or row[_CID] is None:
        return ABSENT
    if proto in (1, 58):
        types, codes = doc.get("icmp.type") or [0], doc.get("icmp.code") or [0]
        ports = (types[0], codes[0])
    else:
        ports = (row[_SRC_PORT] or 0, row[_DST_PORT] or 0)
    return community_id(layout.packed(src), layout.packed(dst), proto, ports[0], ports[1])  # a direct call: no *args
