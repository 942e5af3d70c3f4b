"""Per-application state shared by the route modules: settings, connections, users, throttling.

One database connection per server thread (apsw connections are not meant to be shared by
concurrent statements); each is opened on the thread's first request through ``conn_factory``.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import bottle

from appliance.paths import web_root
from appliance.store.sessions import SessionStore
from appliance.web.search import Scope, ScopedSearcher
from appliance.web.throttle import Throttle
from appliance.web.users import User, Users

WEB_ROOT = web_root()


def client_address() -> str:
    """The peer's address from the socket: never X-Forwarded-For, which any client can write."""
    return bottle.request.environ.get("REMOTE_ADDR", "")


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def is_https() -> bool:
    return bottle.request.environ.get("wsgi.url_scheme") == "https"


def json_error(status: int, message: str, **extra: Any) -> bottle.HTTPResponse:
    body = json.dumps({"error": message, **extra})
    return bottle.HTTPResponse(body, status, {"Content-Type": "application/json",
                                              "Cache-Control": "no-store"})


class Context:
    """What every request handler needs; attached to the app as ``app.config['fukurou.ctx']``."""

    def __init__(self, settings: Any, conn_factory: Callable[[], apsw.Connection],
                 web_root: Path = WEB_ROOT) -> None:
        self.settings = settings
        self.conn_factory = conn_factory
        self.web_root = web_root
        self.throttle = Throttle()
        self._local = threading.local()

    def conn(self) -> apsw.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.conn_factory()
        return conn

    def store(self) -> SessionStore:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = SessionStore(self.conn())
        return store

    def users(self) -> Users:
        return Users(self.conn())

    def searcher(self, user: User) -> ScopedSearcher:
        limit = float(getattr(self.settings, "queryTimeLimitS", 10.0))
        return ScopedSearcher(self.store(), Scope(user.expression, user.time_limit), limit)

    @property
    def templates(self) -> str:
        return str(self.web_root / "templates")

    @property
    def static(self) -> str:
        return str(self.web_root / "static")
