"""Expression tree -> parameterised SQL over ``sessions s``.

Field names are resolved against the registry (expression name, document path, ``db:path``,
meta fields ``ip``, ``port``, ``host``) and mapped to SQL through ``store.layout``: the SQL text
is built only from constants and registry-derived column names, every value is a ``?``
parameter. Semantics follow Arkime's ``arkimeparser.jison``: ``!=`` is "no value matches"
(sessions without the field match too), ``[a,b]`` ORs, ``]a,b[`` ANDs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from appliance import fields as registry
from appliance.query import values as V
from appliance.query.parser import Bool, Compare, Node, Not, QueryError, Token, parse
from appliance.store import layout, postings
from appliance.store.sessions import FieldMap, cid_key

Sql = tuple[str, list[Any]]
META = {"ip": "ip", "port": "port.", "host": "host.", "mac": "mac."}
# ip and port columns that belong together for ip:port values and the `ip` meta field.
IP_PORT = {"source.ip": "source.port", "destination.ip": "destination.port"}
_STRING_TYPES = layout.TEXT_TYPES
# A value held by more sessions (in the query's time range) is tested per candidate session, not
# listed. Listing reads ~0.3 µs a posting (fk_postings), testing ~1 µs a session: a list this
# long takes ~30 ms, and beyond it testing the few candidates that other conditions leave wins.
COMMON_TERM_SESSIONS = 100_000


@dataclass
class Compiler:
    """Compiles expressions for one store's field ids."""

    fields: FieldMap
    now: float | None = None
    regexes: list[str] = field(default_factory=list)
    # Session id bounds of the query (its time range): postings lookups read only that slice of
    # each term's (term, session) run instead of every session that ever had the value.
    window: tuple[int, int] | None = None
    # How many ANDs the node being compiled is under: only there can another condition leave so
    # few candidate sessions that testing each beats listing a common value's sessions.
    anded: int = 0

    def compile(self, text: str) -> Sql:
        return self.node(parse(text))

    def node(self, node: Node) -> Sql:
        if isinstance(node, Bool):
            self.anded += node.op == "and"
            parts = [self.node(item) for item in node.items]
            self.anded -= node.op == "and"
            joiner = " AND " if node.op == "and" else " OR "
            return "(" + joiner.join(p[0] for p in parts) + ")", [x for p in parts for x in p[1]]
        if isinstance(node, Not):
            sql, params = self.node(node.item)
            return f"(NOT coalesce({sql}, 0))", params
        return self.compare(node)

    def compare(self, cmp: Compare) -> Sql:
        targets = self.resolve(cmp.field, cmp.pos)
        negate = cmp.op == "!="
        op = "==" if negate else cmp.op
        if cmp.value.kind == "EXISTS":
            if op != "==":
                raise QueryError("EXISTS! only goes with == or !=", cmp.value.pos)
            parts = [self.exists(f) for f in targets]
        elif cmp.value.kind == "LIST" and cmp.value.text.startswith("]"):
            parts = [self.all_of(targets, op, cmp.value)]
        else:
            parts = [self.any_of(targets, op, cmp.value)]
        sql = "(" + " OR ".join(p[0] for p in parts) + ")"
        params = [x for p in parts for x in p[1]]
        return (f"(NOT coalesce({sql}, 0))", params) if negate else (sql, params)

    # --- field names ---------------------------------------------------------------------------

    def resolve(self, name: str, pos: int) -> list[registry.Field]:
        if name == "id":
            return [_ID_FIELD]
        if name == "file":
            return [_FILE_FIELD]
        if name.lower() in _UTF8_FIELDS:
            return [_UTF8_FIELDS[name.lower()]]
        if name in META:
            found = self._meta(name)
            if found:
                return found
        for candidate in (name, name.lower()):
            path = candidate[3:] if candidate.startswith("db:") else None
            spec = registry.BY_PATH.get(path) if path else (
                registry.BY_EXPR.get(candidate) or registry.BY_PATH.get(candidate))
            if spec is not None and spec.path in self.fields.storage:
                return [spec]
        raise QueryError(f"unknown field {name!r}", pos)

    def _meta(self, name: str) -> list[registry.Field]:
        if name == "ip":
            return [f for f in registry.FIELDS if f.type == "ip"]
        return [f for f in registry.FIELDS if f.expr.startswith(META[name])]

    # --- one field -----------------------------------------------------------------------------

    def exists(self, spec: registry.Field) -> Sql:
        where = self._where(spec)
        if where.kind in ("column", "derived", "cid", "node", "id"):
            return f"({where.sql} IS NOT NULL)", []
        if where.kind == "postings":
            return where.listed("1", [])
        values, params = where.values()
        return f"({values} IS NOT NULL)", params

    def any_of(self, targets: list[registry.Field], op: str, token: Token) -> Sql:
        parts = []
        for spec in targets:
            sql = self.field_match(spec, op, token, V.list_items(token), "OR", len(targets) > 1)
            if sql is not None:
                parts.append(sql)
        if not parts:
            raise QueryError(f"no field can take the value {token.text!r}", token.pos)
        return "(" + " OR ".join(p[0] for p in parts) + ")", [x for p in parts for x in p[1]]

    def all_of(self, targets: list[registry.Field], op: str, token: Token) -> Sql:
        items = V.list_items(token)
        parts = [self.any_of(targets, op, Token("QUOTED" if q else "STR", _requote(t, q), token.pos))
                 for t, q in items]
        return "(" + " AND ".join(p[0] for p in parts) + ")", [x for p in parts for x in p[1]]

    def field_match(self, spec: registry.Field, op: str, token: Token, items: list[tuple[str, bool]],
                    joiner: str, lenient: bool) -> Sql | None:
        """SQL for ``spec op items`` (OR over items); None when a meta member cannot take it."""
        where = self._where(spec)
        try:
            conds = [self.condition(spec, where, op, text, quoted, token) for text, quoted in items]
        except QueryError:
            if lenient:
                return None
            raise
        cond, params = f" {joiner} ".join(c[0] for c in conds), [x for c in conds for x in c[1]]
        if where.kind == "postings" and self.anded and self._common(where.fid, conds):
            return where.probe(cond, params)
        return where.wrap(cond, params)

    def _common(self, fid: int, conds: list[Sql]) -> bool:
        """Whether exact values match so many sessions that testing each candidate session
        (one primary-key probe) beats listing all of theirs: ``protocols == tls`` in a query that
        also names a rare host must not read a million postings to find a hundred sessions."""
        if not all(c[0] == "(t.value = ?)" for c in conds):
            return False
        values = [c[1][0] for c in conds]
        found = self.fields.conn.execute(
            f"SELECT coalesce(sum(sessions), 0) FROM terms WHERE field_id = ? AND value IN "
            f"({', '.join('?' * len(values))})", (fid, *values)).fetchall()
        return int(found[0][0]) * self._window_share() >= COMMON_TERM_SESSIONS

    def _window_share(self) -> float:
        """About what share of the stored sessions the query's time range holds (the share of
        the span of their ids, which are times): listing a common value's sessions of one day
        out of a month reads a thirtieth of its postings, fewer than testing each session."""
        if self.window is None:
            return 1.0
        # Two subqueries: SQLite reads a lone min() or max() of the key from one end of the b-tree.
        first, last = self.fields.conn.execute(
            "SELECT (SELECT min(id) FROM sessions), (SELECT max(id) FROM sessions)").fetchall()[0]
        if first is None or last <= first:
            return 1.0
        lo, hi = max(first, self.window[0]), min(last, self.window[1])
        return max(0.0, (hi - lo) / (last - first))

    def condition(self, spec: registry.Field, where: Where, op: str, text: str, quoted: bool,
                  token: Token) -> Sql:
        """A condition on the value expression ``where.value``."""
        value = where.value
        if spec.type == "ip":
            return self._ip_condition(spec, where, op, text, token)
        if spec.type == "integer" or spec.path in ("lastPacket", "firstPacket"):
            return _number_condition(spec, value, op, text, token, self.now)
        if spec.type == "date":
            return _number_condition(spec, value, op, text, token, self.now)
        if spec.type in _STRING_TYPES or spec.type == "object":
            if spec.type == "object":
                raise QueryError(f"{spec.expr} can only be searched with EXISTS!", token.pos)
            if where.kind == "cid":
                return _cid_condition(op, text, token)
            return self._string_condition(spec, value, op, text, quoted, token)
        raise QueryError(f"{spec.expr} cannot be searched", token.pos)

    def _ip_condition(self, spec: registry.Field, where: Where, op: str, text: str, token: Token) -> Sql:
        if text.startswith("/") or "*" in text or "?" in text:
            raise QueryError("addresses take no wildcards or regular expressions", token.pos)
        (lo, hi), port = V.ip_range(text, token.pos)
        value = where.value
        sql, params = _range_sql(value, op, lo, hi)
        if text == "ipv6":  # every address that is not IPv4
            sql, params = f"({value} NOT BETWEEN ? AND ?)", list(V.V4_ALL)
        if port is None:
            return sql, params
        port_path = IP_PORT.get(spec.path)
        if port_path is None:
            raise QueryError(f"{spec.expr} has no port", token.pos)
        port_col = "s." + layout.COLUMNS[port_path]
        if text.startswith(":"):
            return f"({port_col} = ?)", [port]
        return f"({sql} AND {port_col} = ?)", [*params, port]

    def _string_condition(self, spec: registry.Field, value: str, op: str, text: str, quoted: bool,
                          token: Token) -> Sql:
        if op != "==":
            raise QueryError(f"{spec.expr} is a string field: only == and != apply", token.pos)
        if not quoted and len(text) > 1 and text.startswith("/") and text.endswith("/"):
            if spec.expr.endswith(".utf8"):
                raise QueryError(f"{spec.expr} takes text or wildcards, not a regular expression", token.pos)
            pattern = text[1:-1].replace("\\/", "/")
            try:
                V.regex(pattern)
            except re.error as err:
                raise QueryError(f"bad regular expression: {err}", token.pos) from None
            return f"({value} REGEXP ?)", [pattern]
        text = _transform(spec, text)
        if not quoted and ("*" in text or "?" in text):
            if text.strip("*") == "":
                raise QueryError("a lone * matches everything: use EXISTS!", token.pos)
            return _glob_sql(value, text)
        return f"({value} = ?)", [text]

    def _where(self, spec: registry.Field) -> Where:
        if spec is _ID_FIELD:
            return Where("id", "s.id", "s.id", 0)
        if spec is _FILE_FIELD:  # the names of the files listed in the session's fileId
            return Where("file", "", "f.name", self.fields.by_path["fileId"], from_fid=self._source("fileId"))
        storage = self.fields.storage[spec.path]
        fid = self.fields.by_path[spec.path]
        if storage.kind == "column":
            col = "s." + storage.column
            return Where("column", col, col, fid)
        if storage.kind in ("derived", "cid"):
            return Where(storage.kind, storage.column, storage.column, fid)
        if storage.kind == "node":
            return Where("node", "s.node", "t.value", fid)
        if storage.kind == "postings":
            return Where("postings", "", "t.value", fid, self.window)
        if storage.kind == "derived_list":
            return Where("doc", "", "j.value", fid, from_fid=self._source(spec.path))
        value = "fk_ipkey(j.value)" if spec.type == "ip" else "j.value"
        return Where("doc", "", value, fid)

    def _source(self, path: str) -> int:
        """The id of the field that a derived list (layout.DERIVED_LISTS) is worked out from."""
        return self.fields.by_path[layout.DERIVED_LISTS[path]]


@dataclass(frozen=True)
class Where:
    """Where a field's values are: ``value`` is the SQL expression a condition tests."""

    kind: str
    sql: str
    value: str
    fid: int
    window: tuple[int, int] | None = None
    from_fid: int = 0  # a derived list (layout.DERIVED_LISTS): the field it is derived from

    def values(self) -> Sql:
        """The JSON list of a blob field's values, for json_each (NULL if it has none)."""
        if self.from_fid:
            return "fk_files(s.doc, ?, ?)", [self.fid, self.from_fid]
        return "fk_doc(s.doc, ?)", [self.fid]

    def listed(self, cond: str, params: list[Any]) -> Sql:
        """A postings condition as the list of its sessions: the ids of the matching terms'
        blocks (store/postings.py) within the query's time range (its session id window)."""
        lo, hi = self.window or (postings.LOWEST, postings.HIGHEST)
        blocks, block_params = postings.term_blocks(lo, hi)
        return (f"(s.id IN (SELECT x.value FROM {blocks} JOIN fk_postings(b.ids, b.last_id, ?, ?) x "
                f"WHERE t.field_id = ? AND ({cond})))", [*block_params, lo, hi, self.fid, *params])

    def probe(self, cond: str, params: list[Any]) -> Sql:
        """A postings condition as a test of the current session (never a list of sessions): per
        matching term, the one block whose range covers the session."""
        return (f"(EXISTS (SELECT 1 FROM terms t WHERE t.field_id = ? AND ({cond}) AND "
                "(SELECT fk_has(b.ids, b.last_id, s.id) FROM posting_blocks b WHERE b.term_id = t.id "
                "AND b.last_id >= s.id ORDER BY b.last_id LIMIT 1)))", [self.fid, *params])

    def wrap(self, cond: str, params: list[Any]) -> Sql:
        if self.kind == "postings":
            return self.listed(cond, params)
        if self.kind == "node":
            return f"(s.node IN (SELECT t.id FROM terms t WHERE t.field_id = ? AND ({cond})))", \
                [self.fid, *params]
        if self.kind == "doc":
            values, extra = self.values()
            return f"(EXISTS (SELECT 1 FROM json_each({values}) j WHERE {cond}))", [*extra, *params]
        if self.kind == "file":
            # A session with packets in a file ended after the file's first packet: that bound is
            # a rowid range (ids are time-ordered), so older sessions are not even decoded. The
            # slack covers capture clocks that step back (FILE_SLACK_MS).
            first = f"(SELECT min(f.first_us) FROM pcap_files f WHERE {cond})"
            values, extra = self.values()
            return (f"(s.id >= (({first} / 1000 - {FILE_SLACK_MS + layout.EPOCH_MS}) << {layout.SEQ_BITS}) AND EXISTS "
                    f"(SELECT 1 FROM json_each({values}) j JOIN pcap_files f ON f.num = j.value "
                    f"WHERE {cond}))", [*params, *extra, *params])
        return f"({cond})", params


_ID_FIELD = registry.Field("id", "id", "integer", "general", "Session id")
# Arkime's `file`: a PCAP file the session has packets in, by name (a path is matched by its last
# part, the name in pcapDir: imports are copied into the store, so every file is one of ours).
# A session ending over an hour before its file's first packet (a capture whose clock stepped back
# that far) would be missed.
FILE_SLACK_MS: Final = 3_600_000
_FILE_FIELD = registry.Field("file", "file", "termfield", "general", "PCAP file holding the session's packets")
# Arkime's payload8.*.utf8: the first payload bytes given as text, searched in their hex form.
_UTF8_FIELDS = {f"payload8.{side}.utf8": registry.Field(f"{side}Payload8", f"payload8.{side}.utf8", "termfield",
                                                         "general", f"First 8 payload bytes from the {name}, as text")
                for side, name in (("src", "source"), ("dst", "destination"))}
_OPS = {"==": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _range_sql(value: str, op: str, lo: Any, hi: Any) -> Sql:
    if op == "==":
        return (f"({value} = ?)", [lo]) if lo == hi else (f"({value} BETWEEN ? AND ?)", [lo, hi])
    if op in ("<", ">="):
        return f"({value} {_OPS[op]} ?)", [lo]
    return f"({value} {_OPS[op]} ?)", [hi]


def _number_condition(spec: registry.Field, value: str, op: str, text: str, token: Token,
                      now: float | None) -> Sql:
    if text.startswith("/") and text.endswith("/") and len(text) > 1:
        raise QueryError(f"{spec.expr} is numeric: no regular expressions", token.pos)
    if "*" in text or "?" in text:
        raise QueryError(f"{spec.expr} is numeric: no wildcards", token.pos)
    if spec.type == "date" or spec.path in ("lastPacket", "firstPacket"):
        ms = V.time_ms(text, token.pos, now)
        if spec.path == "lastPacket":  # the id is the time: a rowid range, no scan
            lo, hi = layout.id_range(ms, ms + 999)
            return _range_sql("s.id", op, lo, hi)
        return _range_sql(value, op, ms, ms + 999)  # == on a time means that whole second
    lo, hi = V.integer_range(text, token.pos, protocol_names=spec.path == "ipProtocol")
    return _range_sql(value, op, lo, hi)


def _cid_condition(op: str, text: str, token: Token) -> Sql:
    key = cid_key(text)
    if op != "==" or key is None:
        raise QueryError("communityId takes exact ids (1:...) with == or !=", token.pos)
    # The index holds the key's first 4 bytes (sql/010): the same expression, then the whole key.
    return "(s.cid >> 32 = ? AND s.cid = ?)", [key >> 32, key]


def _glob_sql(value: str, text: str) -> Sql:
    pattern = text.replace("[", "[[]")
    prefix = re.split(r"[*?]", text, maxsplit=1)[0]
    if not prefix:
        return f"({value} GLOB ?)", [pattern]
    # A literal prefix bounds the index range (GLOB alone would scan every value of the field).
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return f"({value} >= ? AND {value} < ? AND {value} GLOB ?)", [prefix, upper, pattern]


def _transform(spec: registry.Field, text: str) -> str:
    if spec is _FILE_FIELD:
        return text.rpartition("/")[2]
    if spec.expr.endswith(".utf8"):  # text to the hex the field holds; a wildcard stays one
        return "".join(c if c == "*" else "??" if c == "?" else c.encode("utf-8", "surrogatepass").hex()
                       for c in text)
    if spec.expr.startswith("host") or spec.path.endswith(".host"):
        text = re.sub(r"^[a-zA-Z]+://", "", text).split("/", 1)[0]
    elif spec.path == "http.uri":
        text = re.sub(r"^[a-zA-Z]+://", "", text)
    if spec.path.endswith("mac") or spec.path.endswith("Mac"):
        text = text.replace("-", ":")
    if spec.type == "lotermfield":
        return text.lower()
    if spec.type == "uptermfield":
        return text.upper()
    return text


def _requote(text: str, quoted: bool) -> str:
    if not quoted:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
