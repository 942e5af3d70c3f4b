"""Server-rendered pages (Bottle templates in web/templates) and the login/logout flow.

Pages are shells: the template draws the layout, the controls and the data the script needs
(as JSON in a non-executable ``<script type="application/json">``, which the CSP allows), and a
small script per page fills them from the JSON API.
"""

from __future__ import annotations

import hmac
import json
import secrets
from typing import Any

import bottle

from appliance import __version__
from appliance import fields as registry
from appliance.web import user_settings
from appliance.web.auth import COOKIE, LOGIN_CSRF_COOKIE, Denied, check_password, cookie_options, guard
from appliance.web.context import Context
from appliance.web.users import User

PAGES = (  # path, template, title, admin only
    ("/sessions", "sessions", "Sessions", False),
    ("/spiview", "spiview", "SPI View", False),
    ("/connections", "connections", "Connections", False),
    ("/scans", "scans", "Scans", False),
    ("/devices", "devices", "Devices", False),
    ("/files", "files", "Files", False),
    ("/stats", "stats", "Stats", False),
    ("/users", "users", "Users", True),
    ("/settings", "settings", "Settings", False),
)


def render(ctx: Context, name: str, **values: Any) -> str:
    values.setdefault("version", __version__)
    values.setdefault("csrf", bottle.request.get("fukurou.csrf", ""))
    values.setdefault("user", bottle.request.get("fukurou.user"))
    values.setdefault("pages", [(p, t) for p, _, t, admin in PAGES
                                if not admin or (values["user"] and values["user"].admin)])
    values.setdefault("active", bottle.request.path)
    if values["user"] is not None:  # the user's own settings, for the page scripts (web/user_settings.py)
        values.setdefault("settings_json", json.dumps(user_settings.effective(ctx.users().settings(values["user"].id))))
    return bottle.template(name, template_lookup=[ctx.templates], **values)


def field_list() -> str:
    """Fields for completion and the detail view, as JSON for the page script."""
    return json.dumps([[f.expr, f.path, f.type, f.group, f.help] for f in registry.FIELDS if f.type != "object"])


def install(app: bottle.Bottle, ctx: Context) -> None:
    for path, template, title, admin in PAGES:
        app.route(path, "GET", guard(ctx, admin=admin, page=True)(_page(ctx, template, title)))
    app.route("/", "GET", guard(ctx, page=True)(lambda user: bottle.redirect("/sessions", 303)))
    app.route("/session/<sid:int>", "GET",
              guard(ctx, page=True)(lambda user, sid: render(ctx, "session", title=f"Session {sid}", sid=sid,
                                                             fields_json=field_list())))
    app.route("/login", "GET", lambda: _login_form(ctx))
    app.route("/login", "POST", lambda: _login(ctx))
    app.route("/logout", "POST", guard(ctx)(lambda user: _logout(ctx)))


def _page(ctx: Context, template: str, title: str) -> Any:
    def show(user: User) -> str:
        return render(ctx, template, title=title, fields_json=field_list())
    return show


def _safe_next(target: str | None) -> str:
    """Only local paths: ``next=//evil.example`` must not turn the login into an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/sessions"
    return target


def _login_form(ctx: Context, error: str = "", status: int = 200) -> str:
    # A login CSRF token (double-submit cookie): a foreign page cannot log the browser in as
    # someone else, because it can neither read nor set this cookie.
    token = secrets.token_urlsafe(24)
    bottle.response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **cookie_options())
    bottle.response.status = status
    return render(ctx, "login", title="Log in", csrf=token, user=None, pages=[], error=error,
                  next=_safe_next(bottle.request.query.getunicode("next")))


def _login(ctx: Context) -> Any:
    forms = bottle.request.forms
    sent, expected = forms.getunicode("csrf") or "", bottle.request.get_cookie(LOGIN_CSRF_COOKIE) or ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _login_form(ctx, "The form expired; please try again.", 403)
    try:
        user = check_password(ctx, forms.getunicode("name") or "", forms.getunicode("password") or "")
    except Denied as err:
        if err.retry_after:
            bottle.response.set_header("Retry-After", str(int(err.retry_after) + 1))
        return _login_form(ctx, err.message[:1].upper() + err.message[1:] + ".", err.status)
    sid, _ = ctx.users().new_session(user)
    bottle.response.set_cookie(COOKIE, sid, **cookie_options())
    bottle.response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    target = _safe_next(forms.getunicode("next"))
    bottle.response.status = 303
    bottle.response.set_header("Location", target)
    return ""


def _logout(ctx: Context) -> Any:
    sid = bottle.request.get_cookie(COOKIE)
    if sid:
        ctx.users().end_session(sid)
    bottle.response.delete_cookie(COOKIE, path="/")
    bottle.response.status = 303
    bottle.response.set_header("Location", "/login")
    return ""
