"""The JSON API, on Arkime's paths with Arkime's parameters (arkime.md section 4).

Every handler is wrapped by ``guard`` (who is asking) and ``answers`` (errors as JSON with a
status: 400 for the client's mistakes, with the parser's message and position for expressions).
GET and POST are both accepted where Arkime accepts both; body fields override query fields.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

import apsw
import bottle

from appliance import __version__
from appliance import fields as registry
from appliance.insights import web as insights_web
from appliance.pcapstore.reader import StoreReader
from appliance.query import QueryTimeout
from appliance.web import packets, user_settings
from appliance.web.auth import Denied, check_password, guard
from appliance.web.context import Context, json_error
from appliance.web.search import (
    MAX_GRAPH_SESSIONS,
    SESSIONS_DEFAULT_FIELDS,
    BadRequest,
    QueryArgs,
    connections,
    graph_from_links,
    int_param,
    pick,
    query_args,
)
from appliance.web.users import User, UserError

CSV_FIELDS = ("ipProtocol", "firstPacket", "lastPacket", "source.ip", "source.port", "destination.ip",
              "destination.port", "network.bytes", "totDataBytes", "network.packets", "node")
MAX_IDS = 10_000


def params() -> dict[str, str]:
    """Query fields, overridden by form or JSON body fields (Arkime's ``fillQueryFromBody``)."""
    request = bottle.request
    merged = {k: request.query.getunicode(k) or "" for k in request.query}
    if request.method == "POST":
        if (request.content_type or "").startswith("application/json"):
            body = request.json if isinstance(request.json, dict) else {}
            merged.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()})
        else:
            merged.update({k: request.forms.getunicode(k) or "" for k in request.forms})
    return merged


def answers(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a handler may raise into JSON answers with the right status."""
    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except BadRequest as err:
            extra = {} if err.position is None else {"position": err.position}
            return json_error(400, err.message, **extra)
        except UserError as err:
            return json_error(400, str(err))
        except QueryTimeout as err:
            return json_error(503, str(err))
        except packets.PacketsGone as err:
            return json_error(410, str(err))
        except apsw.SQLError as err:  # a value SQLite rejects (e.g. too large): the client's input
            return json_error(400, f"the search could not run: {err}")
    return run


def _json(data: Any) -> str:
    bottle.response.content_type = "application/json"
    return json.dumps(data, separators=(",", ":"), default=str)


def install(app: bottle.Bottle, ctx: Context) -> None:
    """Add every API route to ``app``."""
    for path, methods, handler, admin in _routes(ctx):
        app.route(path, methods, answers(guard(ctx, admin=admin)(handler)))


def _routes(ctx: Context) -> list[tuple[str, list[str], Callable[..., Any], bool]]:
    both = ["GET", "POST"]
    h = Handlers(ctx)
    return [
        ("/api/sessions", both, h.sessions, False),
        ("/api/buildquery", both, h.buildquery, False),
        ("/api/session/<sid:int>", ["GET"], h.session, False),
        ("/api/session/<sid:int>/packets", ["GET"], h.session_packets, False),
        ("/api/session/<sid:int>.pcap", ["GET"], h.session_pcap, False),
        ("/api/sessions.pcap", both, h.sessions_pcap, False),
        ("/api/sessions.csv", both, h.sessions_csv, False),
        ("/api/spiview", both, h.spiview, False),
        ("/api/unique", both, h.unique, False),
        ("/api/connections", both, h.connections, False),
        ("/api/files", ["GET"], h.files, False),
        ("/api/stats", ["GET"], h.stats, False),
        ("/api/fields", ["GET"], h.fields, False),
        ("/api/user", ["GET"], h.user, False),
        ("/api/user/password", ["POST"], h.password, False),
        ("/api/user/settings", ["GET"], h.user_settings, False),  # before /api/user/<name>
        ("/api/user/settings", ["POST"], h.user_settings_update, False),
        ("/api/users", ["GET"], h.users, True),
        ("/api/users", ["POST"], h.user_create, True),
        ("/api/user/<name>", ["POST"], h.user_update, True),
        ("/api/user/<name>", ["DELETE"], h.user_delete, True),
        *insights_web.routes(ctx),  # /api/scans, /api/devices (issue 9)
    ]


class Handlers:
    """The API handlers; each takes the authenticated user first."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- sessions ----------------------------------------------------------------------------------

    def sessions(self, user: User) -> str:
        p = params()
        searcher = self.ctx.searcher(user)
        args = query_args(p, searcher.scope)
        fields = args.fields or list(SESSIONS_DEFAULT_FIELDS)
        roots = searcher.object_roots(fields)
        data = [pick(doc, fields, roots) for doc in searcher.rows(args, wanted={*fields, *roots.values()})]
        graph = searcher.histogram(args) if p.get("facets") in ("1", "true") else None
        # The histogram counts every matching session already: its sum is the total.
        filtered = sum(n for _, n in graph["sessionsHisto"]) if graph else searcher.total(args.expression, args.times)
        result: dict[str, Any] = {
            "data": data,
            "recordsFiltered": filtered,
            "recordsTotal": filtered if searcher.unfiltered(args.expression) else searcher.total(None, args.times),
        }
        if graph is not None:
            result["graph"] = graph
        return _json(result)

    def buildquery(self, user: User) -> str:
        """Compile without running: the search bar's inline syntax check (Arkime's /api/buildquery)."""
        p = params()
        searcher = self.ctx.searcher(user)
        sql, values = searcher.where(p.get("expression") or "", query_args(p, searcher.scope).times)
        return _json({"ok": True, "parameters": len(values)})

    def _doc(self, user: User, sid: int) -> dict[str, Any]:
        searcher = self.ctx.searcher(user)
        doc = self.ctx.store().get_flat(sid) if searcher.visible(sid) else None
        if doc is None:
            raise bottle.HTTPResponse(json.dumps({"error": "no such session"}), 404,
                                      {"Content-Type": "application/json"})
        return {"id": sid, **doc}

    def session(self, user: User, sid: int) -> str:
        return _json(self._doc(user, sid))

    def _reader(self) -> StoreReader:
        return StoreReader(self.ctx.conn(), self.ctx.settings.pcapDir)

    def session_packets(self, user: User, sid: int) -> str:
        """The first ``packets=`` packets (200), one by one or, with ``reassemble=1``, as blocks."""
        doc = self._doc(user, sid)
        p = params()
        limit = int_param(p, "packets", 200, 1, 2000)
        frames = packets.frames(self._reader(), doc, limit)
        result: dict[str, Any] = {
            "id": sid, "source.ip": doc.get("source.ip"), "source.port": doc.get("source.port"),
            "destination.ip": doc.get("destination.ip"), "destination.port": doc.get("destination.port"),
            "total": len(packets.positions(doc)), "shown": len(frames)}
        if p.get("reassemble") in ("1", "true"):
            result["blocks"] = packets.reassemble(frames)
        else:
            result["packets"] = packets.packet_view_of(frames)
        return _json(result)

    def session_pcap(self, user: User, sid: int) -> Iterator[bytes]:
        doc = self._doc(user, sid)
        stream = packets.session_pcap(self._reader(), doc)
        first = next(stream)  # raises PacketsGone here, while an error status can still be sent
        _attachment(f"session-{sid}.pcap", "application/vnd.tcpdump.pcap")
        return _chain(first, stream)

    def _selected(self, user: User, p: dict[str, str], limit: int) -> tuple[QueryArgs, list[dict[str, Any]]]:
        """Sessions named by ``ids=`` (within the user's scope) or else matching the query."""
        searcher = self.ctx.searcher(user)
        args = query_args(p, searcher.scope)
        if p.get("ids"):
            try:
                ids = [int(i) for i in p["ids"].split(",")[:MAX_IDS] if i.strip()]
            except ValueError:
                raise BadRequest("ids must be session ids separated by commas") from None
            store = self.ctx.store()
            docs = [{"id": i, **d} for i in ids if searcher.visible(i) and (d := store.get_flat(i))]
            return args, docs
        return args, searcher.rows(args, limit)

    def sessions_pcap(self, user: User) -> Iterator[bytes]:
        _, docs = self._selected(user, params(), MAX_IDS)
        stream = packets.sessions_pcap(self._reader(), docs)
        first = next(stream)
        _attachment("sessions.pcap", "application/vnd.tcpdump.pcap")
        return _chain(first, stream)

    def sessions_csv(self, user: User) -> str:
        p = params()
        args, docs = self._selected(user, p, MAX_GRAPH_SESSIONS)
        columns = args.fields or list(CSV_FIELDS)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        for doc in docs:
            writer.writerow([_cell(doc.get(c)) for c in columns])
        _attachment("sessions.csv", "text/csv; charset=utf-8")
        return out.getvalue()

    # --- aggregations ------------------------------------------------------------------------------

    def spiview(self, user: User) -> str:
        p = params()
        searcher = self.ctx.searcher(user)
        args = query_args(p, searcher.scope)
        spi: dict[str, Any] = {}
        for item in (p.get("spi") or "protocol:10,ip.dst:10,port.dst:10").split(",")[:50]:
            name, _, count = item.strip().partition(":")
            size = int_param({"n": count}, "n", 100, 1, 1000)
            top = searcher.spiview(name, args.expression, args.times, size)
            spi[name] = {"buckets": [{"key": v, "doc_count": n} for v, n in top]}
        return _json({"spi": spi, "recordsFiltered": searcher.total(args.expression, args.times)})

    def unique(self, user: User) -> str:
        p = params()
        name = p.get("exp") or p.get("field")
        if not name:
            raise BadRequest("give exp= (or field=) naming one field")
        searcher = self.ctx.searcher(user)
        args = query_args(p, searcher.scope)
        top = searcher.spiview(name, args.expression, args.times, 10_000)
        if p.get("autocomplete"):
            return _json([str(v) for v, _ in top])
        sep = p.get("separator") or ", "
        bottle.response.content_type = "text/plain; charset=utf-8"
        counts = p.get("counts") in ("1", "true")
        return "".join(f"{v}{sep}{n}\n" if counts else f"{v}\n" for v, n in top)

    def connections(self, user: User) -> str:
        p = params()
        searcher = self.ctx.searcher(user)
        # Arkime's query size: the newest 5,000 sessions unless asked (its UI offers up to 100,000).
        args = query_args({**p, "length": p.get("length") or "5000"}, searcher.scope)
        src, dst = p.get("srcField") or "ip.src", p.get("dstField") or "ip.dst:port"
        min_conn = int_param(p, "minConn", 1, 1, 1 << 30)
        links = searcher.column_links(args, src, dst)
        if links is not None:  # both ends are columns: grouped in SQL, no documents decoded
            graph = graph_from_links(links, min_conn)
            graph["recordsFiltered"] = sum(row["n"] for row in links)
            return _json(graph)
        docs = searcher.rows(args, MAX_GRAPH_SESSIONS)
        graph = connections(docs, src, dst, min_conn)
        graph["recordsFiltered"] = len(docs)
        return _json(graph)

    # --- files, stats, fields ----------------------------------------------------------------------

    def files(self, user: User) -> str:
        p = params()
        length, start = int_param(p, "length", 100, 1, 10_000), int_param(p, "start", 0, 0, 1 << 40)
        conn = self.ctx.conn()
        rows = conn.execute("SELECT num, name, node, first_us, last_us, size, packets, state FROM pcap_files "
                            "ORDER BY num DESC LIMIT ? OFFSET ?", (length, start)).fetchall()
        total = conn.execute("SELECT count(*) FROM pcap_files").fetchone()[0]
        keys = ("num", "name", "node", "first", "last", "filesize", "packets", "state")
        data = [dict(zip(keys, r, strict=True)) for r in rows]
        for d in data:
            d["first"] = d["first"] and d["first"] // 1000
            d["last"] = d["last"] and d["last"] // 1000
        return _json({"data": data, "recordsTotal": total, "recordsFiltered": total})

    def stats(self, user: User) -> str:
        conn, s = self.ctx.conn(), self.ctx.settings
        sessions = self.ctx.searcher(user).total(None, _all_time())
        stored = conn.execute("SELECT count(*), coalesce(sum(size), 0), coalesce(sum(packets), 0) "
                              "FROM pcap_files WHERE state != 'deleted'").fetchone()
        disk = _disk(s.pcapDir)
        db_bytes = sum(os.path.getsize(p) for p in (s.dbPath, s.dbPath + "-wal") if os.path.exists(p))
        return _json({"data": [{
            "nodeName": s.nodeName, "version": __version__, "sessions": sessions,
            "pcapFiles": stored[0], "pcapBytes": stored[1], "packets": stored[2], "dbBytes": db_bytes,
            "usedSpaceM": disk[0] // (1 << 20), "freeSpaceM": disk[1] // (1 << 20),
            "freeSpaceP": round(100 * disk[1] / disk[2], 1) if disk[2] else None, "currentTime": int(time.time()),
        }]})

    def fields(self, user: User) -> str:
        return _json([{"exp": f.expr, "dbField": f.path, "type": f.type, "group": f.group, "help": f.help}
                      for f in registry.FIELDS if f.type != "object"])

    # --- users -------------------------------------------------------------------------------------

    def user(self, user: User) -> str:
        return _json(user.public())

    def user_settings(self, user: User) -> str:
        return _json(user_settings.effective(self.ctx.users().settings(user.id)))

    def user_settings_update(self, user: User) -> str:
        """Change some of the user's own settings (a JSON object); the rest stay as they are."""
        users = self.ctx.users()  # (a body that is not JSON at all: bottle answers 400 "Invalid JSON")
        settings = user_settings.merged(users.settings(user.id), bottle.request.json)
        users.save_settings(user.id, settings)
        return _json({"success": True, "settings": settings})

    def users(self, user: User) -> str:
        return _json({"data": [u.public() for u in self.ctx.users().all()]})

    def user_create(self, user: User) -> str:
        p = params()
        created = self.ctx.users().add(p.get("userId", ""), p.get("password", ""),
                                       "admin" if p.get("admin") in ("1", "true", "on") else "user",
                                       p.get("expression", ""), _hours(p.get("timeLimit")))
        return _json({"success": True, "user": created.public()})

    def user_update(self, user: User, name: str) -> str:
        p = params()
        changes: dict[str, Any] = {}
        if "expression" in p:
            changes["expression"] = p["expression"]
        if "timeLimit" in p:
            changes["time_limit"] = _hours(p["timeLimit"])
        if "admin" in p:
            changes["role"] = "admin" if p["admin"] in ("1", "true", "on") else "user"
        if "enabled" in p:
            changes["enabled"] = p["enabled"] in ("1", "true", "on")
        if name == user.name and (changes.get("role") == "user" or changes.get("enabled") is False):
            raise BadRequest("you cannot demote or disable yourself")
        return _json({"success": True, "user": self.ctx.users().update(name, **changes).public()})

    def user_delete(self, user: User, name: str) -> str:
        if name == user.name:
            raise BadRequest("you cannot delete yourself")
        self.ctx.users().delete(name)
        return _json({"success": True})

    def password(self, user: User) -> Any:
        p = params()
        try:
            check_password(self.ctx, user.name, p.get("currentPassword", ""))
        except Denied as err:  # wrong current password: throttled like a login
            return json_error(429 if err.status == 429 else 403, "the current password is wrong")
        self.ctx.users().set_password(user.name, p.get("newPassword", ""))
        return _json({"success": True, "text": "password changed; log in again"})


def _hours(raw: str | None) -> int | None:
    if raw in (None, "", "0", "null"):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest("timeLimit must be a whole number of hours") from None
    if value < 1:
        raise BadRequest("timeLimit must be at least 1 hour")
    return value


def _all_time() -> Any:
    from appliance.query import TimeRange

    return TimeRange()


def _disk(path: str) -> tuple[int, int, int]:
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return 0, 0, 0
    return usage.used, usage.free, usage.total


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def _attachment(name: str, content_type: str) -> None:
    bottle.response.content_type = content_type
    bottle.response.set_header("Content-Disposition", f'attachment; filename="{name}"')


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest
