"""The viewer application: ``make_app(settings, conn_factory)`` builds a fresh Bottle app.

No global ``default_app``: tests build as many isolated apps as they like. Every response gets
security headers; the Content-Security-Policy allows scripts, styles and data only from this
server, so nothing is ever loaded from the internet and injected markup cannot run script.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import bottle

from appliance import fields as registry
from appliance.web import api, pages
from appliance.web.context import WEB_ROOT, Context

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
STATIC_MAX_AGE = 7 * 86400  # static URLs carry ?v=<version>, so a release changes them


def make_app(settings: Any, conn_factory: Callable[[], apsw.Connection], web_root: Path = WEB_ROOT) -> bottle.Bottle:
    """The viewer as a WSGI application."""
    registry.load_protocol_fields()  # pages list every field; parsers register theirs at import
    app = bottle.Bottle(catchall=True)
    app.config["json.enable"] = False  # handlers return JSON text themselves
    ctx = Context(settings, conn_factory, web_root)
    app.config["fukurou.ctx"] = ctx
    app.add_hook("after_request", _security_headers)
    app.route("/static/<path:path>", "GET", lambda path: _static(ctx, path))
    api.install(app, ctx)
    pages.install(app, ctx)
    app.default_error_handler = _error_page  # type: ignore[method-assign]
    return app


def _security_headers() -> None:
    headers = bottle.response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["X-Frame-Options"] = "DENY"
    if not bottle.request.path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"  # session data must not sit in shared caches


def _static(ctx: Context, path: str) -> bottle.HTTPResponse:
    # static_file resolves the path and refuses anything outside root (../, absolute paths).
    response = bottle.static_file(path, root=ctx.static)
    if response.status_code == 200 or response.status_code == 304:
        response.set_header("Cache-Control", f"public, max-age={STATIC_MAX_AGE}")
    return response


def _error_page(error: bottle.HTTPError) -> str:
    """Errors as JSON under /api/, as a short text page elsewhere; never a traceback."""
    status = error.status_code
    message = error.body if isinstance(error.body, str) and status < 500 else bottle.HTTP_CODES.get(status, "error")
    if status >= 500:
        message = "internal error (see the server log)"
    if bottle.request.path.startswith("/api/"):
        bottle.response.content_type = "application/json"
        return json.dumps({"error": message})
    bottle.response.content_type = "text/plain; charset=utf-8"
    return f"{status} {message}\n"
