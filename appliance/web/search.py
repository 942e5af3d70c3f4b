"""The viewer's adapter over ``appliance.query``: Arkime's SessionsQuery parameters, the user's scope.

``Searcher`` (appliance/query/search.py) knows expressions, time ranges and the time limit. The
viewer adds what Arkime's ``buildQuery.js`` adds: the user's forced expression (compiled on its
own and ANDed to the SQL, so no text in the user's expression can reach outside it), the user's
time limit in hours, ordering by any column, paging, the histogram and connection graphs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appliance import fields as registry
from appliance.query import QueryError, Searcher, TimeRange
from appliance.query.compile import Compiler
from appliance.store import layout
from appliance.store.sessions import COLUMN_ORDER as _COLUMN_ORDER  # the row layout decode_row reads
from appliance.store.sessions import SessionStore, extract

MAX_LENGTH = 2_000_000  # Arkime's cap on `length`
DEFAULT_LENGTH = 100
MAX_GRAPH_SESSIONS = 20_000
# What /api/sessions returns without `fields=`: Arkime's default list (arkime.md section 4),
# less the geo fields Fukurou does not have. Whole documents come from /api/session/ID.
SESSIONS_DEFAULT_FIELDS = (
    "ipProtocol", "rootId", "totDataBytes", "client.bytes", "server.bytes", "firstPacket", "lastPacket",
    "source.ip", "source.port", "destination.ip", "destination.port", "network.packets", "network.bytes",
    "source.packets", "destination.packets", "source.bytes", "destination.bytes", "node", "http.uri",
    "email.src", "email.dst", "email.subject", "dns.host", "cert", "irc.channel",
)
MAX_LINK_SESSIONS = 100_000  # connections grouped in SQL (Arkime's largest query size)
ALL_TIME = TimeRange()  # connections/csv read at most this many rows per request


class BadRequest(ValueError):
    """A parameter the client must fix (HTTP 400); ``position`` set for expression errors."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Scope:
    """What a user may see: the forced expression and the most hours per query (None = no limit)."""

    expression: str = ""
    time_limit: int | None = None


@dataclass(frozen=True)
class QueryArgs:
    expression: str
    times: TimeRange
    length: int
    start: int
    order: list[tuple[str, bool]]  # (sql expression, descending)
    fields: list[str]


def int_param(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(float(raw))
    except (TypeError, ValueError, OverflowError):  # "x", "nan", "inf"
        raise BadRequest(f"{name} must be a number") from None
    return max(lo, min(hi, value))


def _float(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number of hours") from None
    if not math.isfinite(value):
        raise BadRequest(f"{name} must be a finite number")
    return value


def time_range(params: Mapping[str, str], scope: Scope, now: float | None = None) -> TimeRange:
    """Arkime's ``date`` (hours back, -1 all, default 1) or ``startTime``/``stopTime``, within the limit."""
    now = time.time() if now is None else now
    date = _float(params, "date")
    start, stop = params.get("startTime") or None, params.get("stopTime") or None
    if date is None and start is None and stop is None:
        date = 1.0
    try:
        times = TimeRange.from_args(date, start, stop, now) if date is None else TimeRange.from_args(date, now=now)
    except QueryError as err:
        raise BadRequest(f"bad startTime/stopTime: {err.message}") from None
    _check_limit(times, scope)
    return times


def _check_limit(times: TimeRange, scope: Scope) -> None:
    if scope.time_limit is None:
        return
    if times.start_ms is None or times.stop_ms is None:
        raise BadRequest(f"your searches are limited to {scope.time_limit} hours: give a time range")
    if times.stop_ms - times.start_ms > scope.time_limit * 3600 * 1000:
        raise BadRequest(f"your searches are limited to {scope.time_limit} hours")


def order_by(text: str | None) -> list[tuple[str, bool]]:
    """``field:asc|desc,...`` (document paths or expression names) as SQL sort keys."""
    if not text:
        return [("s.id", True)]
    keys = []
    for part in text.split(",")[:5]:
        name, _, direction = part.strip().partition(":")
        if direction not in ("", "asc", "desc"):
            raise BadRequest(f"order direction must be asc or desc, not {direction!r}")
        keys.append((_sort_sql(name), direction == "desc"))
    return keys


def _sort_sql(name: str) -> str:
    spec = registry.BY_PATH.get(name) or registry.BY_EXPR.get(name)
    path = spec.path if spec else name
    if path in layout.COLUMNS:
        return "s." + layout.COLUMNS[path]
    if path in layout.DERIVED:
        return layout.DERIVED[path]
    raise BadRequest(f"cannot sort by {name!r}")


def query_args(params: Mapping[str, str], scope: Scope) -> QueryArgs:
    fields = [f.strip() for f in (params.get("fields") or "").split(",") if f.strip()]
    return QueryArgs(
        expression=params.get("expression") or "",
        times=time_range(params, scope),
        length=int_param(params, "length", DEFAULT_LENGTH, 0, MAX_LENGTH),
        start=int_param(params, "start", 0, 0, 1 << 40),
        order=order_by(params.get("order")),
        fields=fields,
    )


class ScopedSearcher(Searcher):
    """A Searcher whose every WHERE clause also holds the user's forced expression."""

    def __init__(self, store: SessionStore, scope: Scope, time_limit: float = 10.0) -> None:
        super().__init__(store, time_limit)
        self.scope = scope
        self._forced = self._compile_forced()

    def _compile_forced(self) -> tuple[str, list[Any]] | None:
        if not self.scope.expression.strip():
            return None
        try:
            return Compiler(self.store.fields).compile(self.scope.expression)
        except (QueryError, RecursionError):
            # A broken forced expression must hide everything, never show everything.
            return "(0)", []

    def where(self, expression: str | None, times: TimeRange, now: float | None = None
              ) -> tuple[str, list[Any]]:
        try:
            sql, params = super().where(expression, times, now)
        except QueryError as err:
            raise BadRequest(err.message, err.position) from None
        except RecursionError:  # the parser and compiler recurse once per nesting level
            raise BadRequest("the expression is nested too deeply") from None
        if self._forced is None:
            return sql, params
        forced_sql, forced_params = self._forced
        return f"({sql}) AND ({forced_sql})", [*params, *forced_params]

    def spiview(self, path_or_expr: str, expression: str | None = None, times: TimeRange = ALL_TIME,
                size: int = 10) -> list[tuple[Any, int]]:
        # The Searcher answers an unfiltered all-time request from counters over every session;
        # a scoped user must not see those, so a blank (but truthy) expression forces the
        # filtered path, whose WHERE clause carries the forced expression.
        if self._forced is not None and not (expression or "").strip():
            expression = " "
        try:
            return super().spiview(path_or_expr, expression, times, size)
        except QueryError as err:
            raise BadRequest(err.message, err.position) from None

    # --- what the API needs beyond Searcher ---------------------------------------------------------

    def rows(self, args: QueryArgs, limit: int | None = None, wanted: set[str] | None = None) -> list[dict[str, Any]]:
        columns = ", ".join("s." + c for c in _COLUMN_ORDER)
        length = args.length if limit is None else min(args.length, limit)
        order = ", ".join(f"{sql} {'DESC' if desc else 'ASC'}" for sql, desc in args.order)
        with self.deadline():
            if order == "s.id DESC":
                found = self.newest_rows(args.expression, args.times, columns, length, args.start)
            else:
                where, params = self.where(args.expression, args.times)
                order += ", s.id DESC"  # a stable order, so paging never repeats or skips a row
                found = self.conn.execute(f"SELECT {columns} FROM sessions s WHERE {where} "
                                          f"ORDER BY {order} LIMIT ? OFFSET ?", (*params, length, args.start)).fetchall()
            docs = self.store.decode_rows(found, wanted)
            return [{"id": row[0], **doc} for row, doc in zip(found, docs, strict=True)]

    def unfiltered(self, expression: str | None) -> bool:
        """No expression and no forced one: totals can come from the per-minute counts."""
        return self._forced is None and super().unfiltered(expression)

    def total(self, expression: str | None, times: TimeRange) -> int:
        if self.unfiltered(expression):
            return self.count_all(times)
        with self.deadline():
            source, params = self.source(expression, times)
            return int(self.conn.execute(f"SELECT count(*) FROM {source}", params).fetchone()[0])

    def histogram(self, args: QueryArgs) -> dict[str, Any]:
        """Sessions, packets and bytes per time bucket (Arkime's ``graph``), bucketed on lastPacket."""
        where, params = self.where(args.expression, args.times)
        with self.deadline():
            # Two statements: SQLite answers a lone min() or max() of the rowid from the b-tree's
            # ends, but scans every row for both in one SELECT.
            lo = self.conn.execute(f"SELECT min(s.id) FROM sessions s WHERE {where}", params).fetchone()[0]
            if lo is None:
                return _histogram([], 60)
            hi = self.conn.execute(f"SELECT max(s.id) FROM sessions s WHERE {where}", params).fetchone()[0]
            span = (layout.last_packet(hi) - layout.last_packet(lo)) / 1000
            interval = _interval(span)
            if interval >= 60 and self.unfiltered(args.expression):
                # every session counts: whole minutes come from the per-minute totals
                return _histogram(self.time_buckets(args.times, interval), interval)
            rows = self.bucket_rows(where, params, interval)
        return _histogram(rows, interval)

    def column_links(self, args: QueryArgs, src: str, dst: str) -> list[dict[str, Any]] | None:
        """Connections between two column fields, grouped by SQL (None when a field is no column).

        Decoding every document in Python took seconds for a few thousand sessions; the default
        graph (ip.src -> ip.dst:port) only needs columns.
        """
        ends = [_link_end(src), _link_end(dst)]
        if None in ends:
            return None
        (a_sql, a_port), (b_sql, b_port) = ends  # type: ignore[misc]
        where, params = self.where(args.expression, args.times)
        cols = ", ".join(c for c in (a_sql, a_port, b_sql, b_port) if c)
        # Arkime's connections graph is drawn from the newest `length` matching sessions (its
        # "query size"), not from every session in the range.
        sql = (f"SELECT {cols.replace('s.', 'n.')}, count(*), sum(n.b), sum(n.p) FROM "
               f"(SELECT {cols}, coalesce(s.src_bytes,0)+coalesce(s.dst_bytes,0) AS b, "
               "coalesce(s.src_packets,0)+coalesce(s.dst_packets,0) AS p "
               f"FROM sessions s WHERE {where} ORDER BY s.id DESC LIMIT ?) n "
               f"GROUP BY {cols.replace('s.', 'n.')}")
        with self.deadline():
            rows = self.conn.execute(sql, (*params, min(args.length, MAX_LINK_SESSIONS))).fetchall()
        out = []
        for row in rows:
            values, i = [], 0
            for port in (a_port, b_port):
                text = _link_text(row[i], row[i + 1] if port else None)
                values.append(text)
                i += 2 if port else 1
            out.append({"a": values[0], "b": values[1], "n": row[i], "bytes": row[i + 1], "packets": row[i + 2]})
        return out

    def ids(self, expression: str | None, times: TimeRange = ALL_TIME) -> list[int]:
        try:
            return super().ids(expression, times)
        except QueryError as err:
            raise BadRequest(err.message, err.position) from None

    def object_roots(self, fields: list[str]) -> dict[str, str]:
        """{path: object field} for the asked-for paths that live inside object fields (dns.host)."""
        storage = self.store.fields.storage
        return {f: storage[f].object_root for f in fields if f in storage and storage[f].object_root}

    def visible(self, sid: int) -> bool:
        """Whether one session id is inside the user's scope (forced expression, any time)."""
        where, params = self.where(None, ALL_TIME)
        return bool(self.conn.execute(f"SELECT 1 FROM sessions s WHERE s.id = ? AND {where}",
                                      (sid, *params)).fetchall())


def _link_end(name: str) -> tuple[str, str] | None:
    """(column, port column or "") of a connections field such as ``ip.dst:port``."""
    base, port = (name[:-5], True) if name.endswith(":port") else (name, False)
    spec = registry.BY_EXPR.get(base) or registry.BY_PATH.get(base)
    if spec is None or spec.path not in layout.COLUMNS:
        return None
    if port and spec.path not in ("source.ip", "destination.ip"):
        return None
    port_col = "s." + layout.COLUMNS[spec.path.replace(".ip", ".port")] if port else ""
    return "s." + layout.COLUMNS[spec.path], port_col


def _link_text(value: Any, port: Any) -> str | None:
    text = layout.ip_text(value) if layout.is_ip_key(value) else value
    if port is None:
        return None if text is None else str(text)
    return f"{text}{'.' if ':' in str(text) else ':'}{port}"


def graph_from_links(links: list[dict[str, Any]], min_conn: int) -> dict[str, Any]:
    """Arkime's {nodes, links} from grouped (a, b, sessions, bytes, packets) rows."""
    nodes: dict[str, dict[str, Any]] = {}
    kept = []
    for row in links:
        if row["a"] is None or row["b"] is None or row["n"] < min_conn:
            continue
        kept.append({"source": row["a"], "target": row["b"], "value": row["n"], "totBytes": row["bytes"],
                     "totPackets": row["packets"]})
        for value, kind in ((row["a"], 1), (row["b"], 2)):
            node = nodes.setdefault(value, {"id": value, "cnt": 0, "sessions": 0, "type": 0})
            node["sessions"] += row["n"]
            node["cnt"] += 1
            node["type"] |= kind
    return {"nodes": list(nodes.values()), "links": kept}


def _histogram(rows: list[tuple[int, int, int, int]], interval: int) -> dict[str, Any]:
    """Arkime's graph from (bucket start in s, sessions, packets, bytes) rows."""
    return {"interval": interval,
            "sessionsHisto": [[b * 1000, n] for b, n, _, _ in rows],
            "packetsHisto": [[b * 1000, p] for b, _, p, _ in rows],
            "bytesHisto": [[b * 1000, y] for b, _, _, y in rows]}


def _interval(span_s: float) -> int:
    """A bucket width giving at most ~200 bars."""
    for step in (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400):
        if span_s / step <= 200:
            return step
    return 30 * 86400


def pick(doc: dict[str, Any], fields: list[str], roots: dict[str, str] | None = None) -> dict[str, Any]:
    """Only the asked-for document paths (Arkime's ``fields``), always with the id.

    A path inside an object field (``dns.host`` inside the ``dns`` query objects; ``roots``
    maps it to ``dns``) gets the values found in every object, as one list."""
    if not fields:
        return doc
    out = {"id": doc["id"]}
    for f in fields:
        if f in doc:
            out[f] = doc[f]
        elif roots and f in roots and roots[f] in doc:
            found = extract(doc[roots[f]], f[len(roots[f]) + 1:])
            if found:
                out[f] = found
    return out


def values_of(doc: dict[str, Any], path: str) -> list[Any]:
    """The values of one field in a flat document, with ip:port pseudo-fields (``ip.dst:port``)."""
    if path.endswith(":port"):
        base = path[:-5]
        spec = registry.BY_EXPR.get(base) or registry.BY_PATH.get(base)
        ip_path = spec.path if spec else base
        port = doc.get(ip_path.replace(".ip", ".port"))
        ips = values_of(doc, ip_path)
        sep = "." if any(":" in str(i) for i in ips) else ":"
        return [f"{ip}{sep}{port}" for ip in ips] if port is not None else ips
    spec = registry.BY_EXPR.get(path) or registry.BY_PATH.get(path)
    value = doc.get(spec.path if spec else path)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def connections(docs: list[dict[str, Any]], src: str, dst: str, min_conn: int = 1) -> dict[str, Any]:
    """Arkime's connections graph: a node per value, a link per (src, dst) with session/byte totals."""
    nodes: dict[Any, dict[str, Any]] = {}
    links: dict[tuple[Any, Any], dict[str, Any]] = {}
    for doc in docs:
        for a in values_of(doc, src):
            for b in values_of(doc, dst):
                for value, kind in ((a, 1), (b, 2)):
                    node = nodes.setdefault(value, {"id": str(value), "cnt": 0, "sessions": 0, "type": 0})
                    node["sessions"] += 1
                    node["type"] |= kind
                link = links.setdefault((a, b), {"source": str(a), "target": str(b), "value": 0,
                                                 "totBytes": 0, "totPackets": 0})
                link["value"] += 1
                link["totBytes"] += doc.get("network.bytes") or 0
                link["totPackets"] += doc.get("network.packets") or 0
    kept = [link for link in links.values() if link["value"] >= min_conn]
    used = {link["source"] for link in kept} | {link["target"] for link in kept}
    out_nodes = [n for n in nodes.values() if n["id"] in used]
    for n in out_nodes:
        n["cnt"] = sum(1 for link in kept if n["id"] in (link["source"], link["target"]))
    return {"nodes": out_nodes, "links": kept}
