"""Running compiled expressions: time bounds, the time limit, result rows and top-N counts.

Every query runs under a deadline (an apsw progress handler): a user-typed expression that
would scan for minutes is stopped and reported instead of holding the database.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import apsw

from appliance.documents import file_numbers
from appliance.query.compile import Compiler
from appliance.query.parser import Bool, Compare, QueryError, parse
from appliance.query.values import regex
from appliance.store import blob as blob_format
from appliance.store import layout, postings
from appliance.store.sessions import _COLUMN_ORDER, ABSENT, SessionStore, decode_doc, display_value

DEFAULT_TIME_LIMIT = 10.0  # seconds
MINUTE_MS = 60_000
PROGRESS_STEPS = 1_000_000
HOUR_MS = 3_600_000
ALL_OF_TIME_S = 3600 << 30  # a bucket wider than any time range: one total
SLICE_SESSIONS = 20_000  # the newest slice tried first by newest_rows
MATCH_SET_MAX = 200_000  # matches held at once as a Python set for top values (~10 MB)
SKIP_SHARE = 0.2  # read minutes by their maxima when at most this share of them can match


class QueryTimeout(Exception):
    """The query ran past its time limit and was interrupted."""


@dataclass(frozen=True)
class TimeRange:
    """Arkime's time bounds, on lastPacket: ``date`` hours back (-1 = all) or start/stop (ms)."""

    start_ms: int | None = None
    stop_ms: int | None = None

    @classmethod
    def from_args(cls, date: float | None = None, start: str | None = None, stop: str | None = None,
                  now: float | None = None) -> TimeRange:
        from appliance.query.values import time_ms

        now = time.time() if now is None else now
        if start is not None or stop is not None:
            return cls(time_ms(start, 0, now) if start else None, time_ms(stop, 0, now) if stop else None)
        if date is None or date < 0:
            return cls()
        return cls(int((now - date * 3600) * 1000), int(now * 1000))

    def sql(self) -> tuple[str, list[Any]]:
        lo, hi = layout.id_range(self.start_ms, self.stop_ms)
        parts, params = [], []
        if lo is not None:
            parts.append("s.id >= ?")
            params.append(lo)
        if hi is not None:
            parts.append("s.id <= ?")
            params.append(hi)
        return (" AND ".join(parts) or "1"), params


def _regexp(pattern: str, value: Any) -> bool:
    """SQLite's ``value REGEXP pattern``: whole-value match, like Lucene's regexp query."""
    if not isinstance(value, str):
        return False
    return regex(pattern).fullmatch(value) is not None


_doc_cache: dict[str, Any] = {"blob": None, "items": {}}


def _items(blob: bytes) -> dict[int, Any]:
    """A blob's items by field id; the last blob's are kept, as one row's functions share it."""
    if blob is not _doc_cache["blob"]:
        _doc_cache["blob"], _doc_cache["items"] = blob, dict(decode_doc(blob))
    items: dict[int, Any] = _doc_cache["items"]
    return items


def _fk_doc(blob: bytes | None, fid: int) -> str | None:
    """The values of one blob field as a JSON array (for json_each), or NULL."""
    if not blob:
        return None
    value = _items(blob).get(fid)
    if value is None:
        return None
    if isinstance(value, blob_format.Tree):  # an object field: searched only with EXISTS!
        return "[]"
    return json.dumps(value if isinstance(value, list) else [value])


def _fk_files(blob: bytes | None, fid: int, from_fid: int) -> str | None:
    """fileId as a JSON array: the list the blob kept, else the files packetPos names (NULL if
    the session has neither)."""
    if not blob:
        return None
    items = _items(blob)
    value = items.get(fid)
    if value is None:
        positions = items.get(from_fid)
        value = file_numbers(positions) if isinstance(positions, list) else None
    return None if value is None or value == ABSENT else json.dumps(value)


def _fk_ipkey(text: Any) -> bytes | None:
    try:
        return layout.ip_key(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _field_blocks(fid: int, lo: int, hi: int) -> tuple[str, list[Any]]:
    """``FROM ... WHERE ...`` of a field's posting blocks (``b``, of term ``t``) that reach into
    [lo, hi] (store/postings.py), and its parameters."""
    blocks, params = postings.term_blocks(lo, hi)
    return f"FROM {blocks} WHERE t.field_id = ?", [*params, fid]


def register_functions(conn: apsw.Connection) -> None:
    """REGEXP and the blob helpers the compiled SQL uses."""
    conn.create_scalar_function("regexp", _regexp, 2, deterministic=True)
    conn.create_scalar_function("fk_doc", _fk_doc, 2, deterministic=True)
    conn.create_scalar_function("fk_files", _fk_files, 3, deterministic=True)
    conn.create_scalar_function("fk_ipkey", _fk_ipkey, 1, deterministic=True)


class Searcher:
    """Searches one store: ``search``, ``count`` and ``spiview`` (top values)."""

    def __init__(self, store: SessionStore, time_limit: float = DEFAULT_TIME_LIMIT,
                 slice_sessions: int = SLICE_SESSIONS) -> None:
        self.store = store
        self.conn = store.conn
        self.time_limit = time_limit
        self.slice_sessions = slice_sessions  # 0: always search the whole range
        self.progress_steps = PROGRESS_STEPS  # how often the time limit is checked
        register_functions(self.conn)

    def where(self, expression: str | None, times: TimeRange, now: float | None = None
              ) -> tuple[str, list[Any]]:
        """The WHERE clause (over ``sessions s``) of an expression within a time range."""
        time_sql, params = times.sql()
        if not expression or not expression.strip():
            return time_sql, params
        window = (None if times.start_ms is None and times.stop_ms is None
                  else layout.closed_id_range(times.start_ms, times.stop_ms))
        expr_sql, expr_params = Compiler(self.store.fields, now, window=window).compile(expression)
        return f"{time_sql} AND {expr_sql}", params + expr_params

    def search(self, expression: str | None, times: TimeRange = TimeRange(), limit: int = 100,
               offset: int = 0) -> list[dict[str, Any]]:
        """Newest first: the flat documents (with ``id``) of the matching sessions."""
        with self.deadline():
            rows = self.newest_rows(expression, times, f"{', '.join('s.' + c for c in _COLUMN_ORDER)}",
                                    limit, offset)
            return [{"id": row[0], **doc} for row, doc in zip(rows, self.store.decode_rows(rows), strict=True)]

    def skipping(self, expression: str | None, times: TimeRange) -> tuple[str, list[Any]] | None:
        """FROM and WHERE parts that read only the minutes whose maxima allow the expression's
        lower bounds (``bytes > 1000000`` and the like, ANDed at its top), when few minutes do;
        None when nothing can be skipped. The caller appends its own ``AND <where>``."""
        conds, params = [], []
        for column, op, value in self._lower_bounds(expression):
            conds.append(f"(m.{column} IS NULL OR m.{column} {op} ?)")
            params.append(value)
        if not conds:
            return None
        lo = None if times.start_ms is None else times.start_ms // MINUTE_MS
        hi = None if times.stop_ms is None else times.stop_ms // MINUTE_MS
        span = "m.minute BETWEEN ? AND ?"
        span_params = [lo if lo is not None else -(1 << 40), hi if hi is not None else 1 << 40]
        found, every = self.conn.execute(
            f"SELECT count(*) FILTER (WHERE {' AND '.join(conds)}), count(*) FROM session_minutes m WHERE {span}",
            (*params, *span_params)).fetchall()[0]
        if every == 0 or found > every * SKIP_SHARE:
            return None  # most minutes could match: the indexes or a plain scan do better
        start = f"((m.minute * {MINUTE_MS} - {layout.EPOCH_MS}) << {layout.SEQ_BITS})"
        end = f"((((m.minute + 1) * {MINUTE_MS} - {layout.EPOCH_MS}) << {layout.SEQ_BITS}) - 1)"
        # CROSS JOIN keeps session_minutes the outer loop: a rowid range of sessions per minute kept.
        return (f"session_minutes m CROSS JOIN sessions s ON s.id BETWEEN {start} AND {end} "
                f"WHERE {span} AND {' AND '.join(conds)}", [*span_params, *params])

    def _lower_bounds(self, expression: str | None) -> list[tuple[str, str, int]]:
        """(minute column, operator, value) of each ``field > N``, ``>= N`` or ``== N`` on a field
        with per-minute maxima that every match must satisfy (reached through ANDs only)."""
        if self.unfiltered(expression):
            return []
        try:
            node = parse(expression or "")
        except (QueryError, RecursionError):
            return []
        compiler = Compiler(self.store.fields)
        out, todo = [], [node]
        while todo:
            item = todo.pop()
            if isinstance(item, Bool) and item.op == "and":
                todo.extend(item.items)
            elif isinstance(item, Compare) and item.op in (">", ">=", "==") and item.value.kind == "STR":
                try:
                    specs, value = compiler.resolve(item.field, item.pos), int(item.value.text)
                except (QueryError, ValueError):
                    continue
                if len(specs) == 1 and specs[0].path in layout.MINUTE_MAXIMA:
                    column = layout.MINUTE_MAXIMA[specs[0].path][0]
                    out.append((column, ">" if item.op == ">" else ">=", value))
        return out

    def source(self, expression: str | None, times: TimeRange) -> tuple[str, list[Any]]:
        """``FROM ... WHERE <where>`` for an expression in a time range, skipping minutes when it can."""
        where, params = self.where(expression, times)
        skip = self.skipping(expression, times)
        if skip is None:
            return f"sessions s WHERE {where}", params
        return f"{skip[0]} AND {where}", [*skip[1], *params]

    def unfiltered(self, expression: str | None) -> bool:
        """Whether the query is its time range alone (every session in it matches)."""
        return not (expression or "").strip()

    def newest_rows(self, expression: str | None, times: TimeRange, columns: str, limit: int,
                    offset: int = 0) -> list[tuple[Any, ...]]:
        """``columns`` of the newest matching sessions, trying the newest slice of the range first.

        An expression that many sessions match (``protocols == tls``, ``port == 443``) has its
        newest hundred among the newest few thousand sessions: searching that slice reads a
        few thousand rows where the whole range would read a million. When the slice holds too
        few matches (a rare value), the whole range is searched, where the indexes make rare
        values cheap. Both give the same rows."""
        order = " ORDER BY s.id DESC LIMIT ? OFFSET ?"
        need = limit + offset
        if not self.unfiltered(expression) and need <= self.slice_sessions // 10:
            time_sql, time_params = times.sql()
            edge = self.conn.execute(f"SELECT s.id FROM sessions s WHERE {time_sql} ORDER BY s.id DESC "
                                     "LIMIT 1 OFFSET ?", (*time_params, self.slice_sessions - 1)).fetchall()
            if edge:
                newest = TimeRange(layout.last_packet(edge[0][0]), times.stop_ms)
                where, params = self.where(expression, newest)
                rows = self.conn.execute(f"SELECT {columns} FROM sessions s WHERE {where} AND s.id >= ?{order}",
                                         (*params, edge[0][0], limit, offset)).fetchall()
                if len(rows) == limit:
                    return rows
        source, params = self.source(expression, times)
        return self.conn.execute(f"SELECT {columns} FROM {source}{order}", (*params, limit, offset)).fetchall()

    def ids(self, expression: str | None, times: TimeRange = TimeRange()) -> list[int]:
        with self.deadline():
            source, params = self.source(expression, times)
            return [r[0] for r in self.conn.execute(f"SELECT s.id FROM {source}", params)]

    def count(self, expression: str | None, times: TimeRange = TimeRange()) -> int:
        with self.deadline():
            source, params = self.source(expression, times)
            return int(self.conn.execute(f"SELECT count(*) FROM {source}", params).fetchall()[0][0])

    def time_buckets(self, times: TimeRange, interval_s: int) -> list[tuple[int, int, int, int]]:
        """(bucket start in s, sessions, packets, bytes) of every session in a time range, unfiltered,
        in buckets of ``interval_s`` seconds (a multiple of 60) aligned on the epoch.

        Whole hours (when the buckets are whole hours) and whole minutes are summed inside SQLite
        from the totals the writer keeps; the partial minutes at either end of the range are
        counted from the sessions themselves (an id range)."""
        buckets: dict[int, list[int]] = {}
        with self.deadline():
            for rows in self._totals(times.start_ms, times.stop_ms, interval_s):
                for b, n, p, y in rows:
                    bucket = buckets.setdefault(b, [b, 0, 0, 0])
                    bucket[1] += n
                    bucket[2] += p or 0
                    bucket[3] += y or 0
        return sorted(tuple(v) for v in buckets.values())  # type: ignore[misc]

    def _totals(self, start: int | None, stop: int | None, interval_s: int
                ) -> Iterator[list[tuple[int, int, int, int]]]:
        """Bucketed rows covering [start, stop]: the coarsest totals that fit, finer at the edges."""
        for table, unit, unit_ms in (("session_hours", "hour", HOUR_MS), ("session_minutes", "minute", MINUTE_MS)):
            if (interval_s * 1000) % unit_ms:
                continue  # buckets finer than this table's rows
            first = -(1 << 40) if start is None else -(-start // unit_ms)  # first whole unit
            last = 1 << 40 if stop is None else (stop + 1) // unit_ms - 1  # last whole unit
            if first > last:
                continue
            if start is not None:
                yield from self._totals(start, first * unit_ms - 1, interval_s)
            yield self.conn.execute(
                f"SELECT {unit} * {unit_ms // 1000} / ?1 * ?1 AS b, sum(sessions), sum(packets), sum(bytes) "
                f"FROM {table} WHERE {unit} BETWEEN ?2 AND ?3 GROUP BY b HAVING sum(sessions) > 0",
                (interval_s, first, last)).fetchall()
            if stop is not None:
                yield from self._totals((last + 1) * unit_ms, stop, interval_s)
            return
        if start is None or stop is None or start <= stop:
            yield self._bucket_sessions(start, stop, interval_s)

    def _bucket_sessions(self, start_ms: int | None, stop_ms: int | None,
                         interval_s: int) -> list[tuple[int, int, int, int]]:
        lo, hi = layout.closed_id_range(start_ms, stop_ms)
        return [] if lo > hi else self.bucket_rows("s.id BETWEEN ? AND ?", [lo, hi], interval_s)

    def bucket_rows(self, where: str, params: list[Any], interval_s: int) -> list[tuple[int, int, int, int]]:
        """(bucket start in s, sessions, packets, bytes) of the sessions matching ``where``, in
        buckets of ``interval_s`` seconds of lastPacket, oldest first."""
        return self.conn.execute(
            f"SELECT {layout.LAST_SQL} / 1000 / ? * ? AS b, count(*), "
            "sum(coalesce(s.src_packets, 0) + coalesce(s.dst_packets, 0)), "
            "sum(coalesce(s.src_bytes, 0) + coalesce(s.dst_bytes, 0)) "
            f"FROM sessions s WHERE {where} GROUP BY b ORDER BY b", (interval_s, interval_s, *params)).fetchall()

    def count_all(self, times: TimeRange) -> int:
        """Sessions in a time range (no expression), from the per-minute totals."""
        return sum(n for _, n, _, _ in self.time_buckets(times, ALL_OF_TIME_S))

    def spiview(self, path_or_expr: str, expression: str | None = None, times: TimeRange = TimeRange(),
                size: int = 10) -> list[tuple[Any, int]]:
        """The ``size`` most common values of one field among the matching sessions."""
        spec = Compiler(self.store.fields).resolve(path_or_expr, 0)
        if len(spec) != 1:
            raise QueryError(f"{path_or_expr!r} is a meta field: name one field", 0)
        field = spec[0]
        storage = self.store.fields.storage[field.path]
        with self.deadline():
            if storage.kind == "postings":
                return self._top_terms(field, expression, times, size)
            if storage.kind in ("column", "node", "derived"):
                return self._top_column(field, storage.column or "s.node", expression, times, size)
        raise QueryError(f"{field.expr}: top values are kept for indexed fields only", 0)

    def _top_column(self, field: Any, column: str, expression: str | None, times: TimeRange,
                    size: int) -> list[tuple[Any, int]]:
        column = column if "." in column or "(" in column else "s." + column
        where, params = self.where(expression, times)
        rows = self.conn.execute(
            f"SELECT {column} AS v, count(*) AS n FROM sessions s WHERE {where} AND v IS NOT NULL "
            "GROUP BY v ORDER BY n DESC, v LIMIT ?", (*params, size)).fetchall()
        if column == "s.node":
            names = self.store.term_values([v for v, _ in rows])
            return list(zip(names, [n for _, n in rows], strict=True))
        return [(display_value(field, v), n) for v, n in rows]

    def _top_terms(self, field: Any, expression: str | None, times: TimeRange,
                   size: int) -> list[tuple[Any, int]]:
        fid = self.store.fields.by_path[field.path]
        if not expression and times.start_ms is None and times.stop_ms is None:
            # All time, no filter: the per-term counters kept by the writer.
            rows = self.conn.execute("SELECT value, sessions FROM terms WHERE field_id = ? "
                                     "ORDER BY sessions DESC LIMIT ?", (fid, size)).fetchall()
            return [(display_value(field, v), n) for v, n in rows if n > 0]
        lo, hi = layout.closed_id_range(times.start_ms, times.stop_ms)
        if expression:
            rows = self._top_terms_among(fid, expression, times, size)
        else:
            blocks, params = _field_blocks(fid, lo, hi)
            rows = self.conn.execute(f"SELECT b.term_id, sum(fk_count(b.ids, b.last_id, ?, ?)) AS n {blocks} "
                                     "GROUP BY b.term_id HAVING n > 0 ORDER BY n DESC LIMIT ?",
                                     (lo, hi, *params, size)).fetchall()
        values = self.store.term_values([t for t, _ in rows])
        return [(display_value(field, v), n) for v, (_, n) in zip(values, rows, strict=True)]

    def _top_terms_among(self, fid: int, expression: str, times: TimeRange, size: int) -> list[tuple[int, int]]:
        """(term id, sessions) of the most common terms among the sessions that match. The matches
        are read in id order, MATCH_SET_MAX at a time into a set (a Python int in a set costs ~50
        bytes: an appliance's memory is small); the field's blocks that reach into those ids' range
        are then tested against the set, a block in one call (not an SQL row per id)."""
        lo, hi = layout.closed_id_range(times.start_ms, times.stop_ms)
        source, params = self.source(expression, times)
        counts: Counter[int] = Counter()
        wanted: set[int] = set()
        start = lo
        # A cursor of its own: the block reads run on the connection while this one is open.
        for (sid,) in self.conn.cursor().execute(f"SELECT s.id FROM {source} ORDER BY s.id", params):
            wanted.add(sid)
            if len(wanted) >= MATCH_SET_MAX:
                self._count_in_blocks(fid, start, sid, wanted, counts)
                start, wanted = sid + 1, set()
        if wanted:
            self._count_in_blocks(fid, start, hi, wanted, counts)
        return [(t, n) for t, n in sorted(counts.items(), key=lambda c: (-c[1], c[0]))[:size] if n > 0]

    def _count_in_blocks(self, fid: int, lo: int, hi: int, wanted: set[int], counts: Counter[int]) -> None:
        blocks, params = _field_blocks(fid, lo, hi)
        for term, last, ids in self.conn.execute(f"SELECT b.term_id, b.last_id, b.ids {blocks}", params):
            counts[term] += postings.count_among(ids, last, lo, hi, wanted)

    @contextmanager
    def deadline(self) -> Iterator[None]:
        """Interrupt the statement(s) run inside once ``time_limit`` seconds have passed."""
        end = time.monotonic() + self.time_limit
        # Every PROGRESS_STEPS virtual-machine steps (a few ms of SQLite work): each check takes
        # the GIL back, which under concurrent requests can wait a whole switch interval.
        self.conn.set_progress_handler(lambda: time.monotonic() > end, self.progress_steps)
        try:
            yield
        except apsw.InterruptError:
            raise QueryTimeout(f"query stopped after its time limit of {self.time_limit:g} s") from None
        finally:
            self.conn.set_progress_handler(None)
