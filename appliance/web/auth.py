"""Who is asking: login session cookie, HTTP Basic, or an API token; plus CSRF and login throttling.

- Browsers log in with the form and get an HttpOnly, SameSite=Strict cookie (Secure under HTTPS)
  naming a server-side session. Every state-changing request made with the cookie must carry the
  session's CSRF token (``X-CSRF-Token`` header or ``csrf`` form field).
- API clients send ``Authorization: Bearer <token>`` or HTTP Basic. Basic is refused over plain
  HTTP except from loopback, because the password would cross the network in clear text.
- No ``WWW-Authenticate: Basic`` challenge is ever sent: a browser would then cache the password
  and replay it on cross-site requests, which is exactly what CSRF protection is about.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from collections.abc import Callable
from typing import Any

import bottle

from appliance.web.context import Context, client_address, is_https, is_loopback, json_error
from appliance.web.users import User

COOKIE = "fukurou_session"
LOGIN_CSRF_COOKIE = "fukurou_login"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class Denied(Exception):
    """Authentication failed; ``status`` and ``message`` say how to answer."""

    def __init__(self, status: int, message: str, retry_after: float = 0) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def cookie_options() -> dict[str, Any]:
    return {"path": "/", "httponly": True, "samesite": "strict", "secure": is_https()}


def _basic_credentials(header: str) -> tuple[str, str]:
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Denied(401, "malformed Basic credentials") from None
    name, sep, password = raw.partition(":")
    if not sep:
        raise Denied(401, "malformed Basic credentials")
    return name, password


def check_password(ctx: Context, name: str, password: str) -> User:
    """Throttled password check: raises Denied (401, or 429 while backing off)."""
    keys = ("user:" + name.lower(), "ip:" + client_address())
    wait = ctx.throttle.wait(*keys)
    if wait > 0:
        raise Denied(429, f"too many failed logins: try again in {int(wait) + 1} s", wait)
    user = ctx.users().verify(name, password)
    if user is None:
        ctx.throttle.failed(*keys)
        raise Denied(401, "wrong user name or password")
    ctx.throttle.succeeded(*keys)
    return user


def _from_header(ctx: Context, header: str) -> User:
    if header.lower().startswith("bearer "):
        user = ctx.users().by_token(header[7:].strip())
        if user is None:
            raise Denied(401, "unknown or revoked API token")
        return user
    if header.lower().startswith("basic "):
        if not (is_https() or is_loopback(client_address())):
            raise Denied(403, "HTTP Basic is refused over plain HTTP: use HTTPS, an API token, or loopback")
        return check_password(ctx, *_basic_credentials(header))
    raise Denied(401, "unsupported Authorization scheme (use Bearer or Basic)")


def identify(ctx: Context) -> tuple[User, str | None]:
    """(user, CSRF token or None for header auth) of the current request; raises Denied."""
    request = bottle.request
    header = request.get_header("Authorization")
    if header:
        return _from_header(ctx, header), None
    sid = request.get_cookie(COOKIE)
    if sid:
        found = ctx.users().session(sid)
        if found is not None:
            return found
    raise Denied(401, "authentication required")


def _origin_ok() -> bool:
    """A browser's Origin (when sent) must be this host: a second line behind the CSRF token."""
    origin = bottle.request.get_header("Origin")
    if origin is None:
        return True
    host = bottle.request.get_header("Host", "")
    return origin.split("://", 1)[-1] == host


def check_csrf(csrf: str | None) -> None:
    if bottle.request.method in SAFE_METHODS:
        return
    if not _origin_ok():
        raise Denied(403, "cross-origin request refused")
    if csrf is None:  # header-authenticated: no ambient credential a foreign page could use
        return
    sent = bottle.request.get_header("X-CSRF-Token") or bottle.request.forms.get("csrf") or ""
    if not hmac.compare_digest(sent.encode(), csrf.encode()):
        raise Denied(403, "missing or wrong CSRF token")


def _refuse(err: Denied, page: bool) -> bottle.HTTPResponse:
    if page and err.status == 401:
        query = bottle.request.query_string
        target = bottle.request.fullpath + ("?" + query if query else "")
        return bottle.HTTPResponse(status=303, headers={"Location": "/login?next=" + bottle.urlquote(target)})
    response = json_error(err.status, err.message)
    if err.retry_after:
        response.set_header("Retry-After", str(int(err.retry_after) + 1))
    return response


def guard(ctx: Context, admin: bool = False, page: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: the route runs only for an authenticated (admin) user, with CSRF checked.

    The handler gets ``user`` as its first argument; ``bottle.request['fukurou.csrf']`` holds the
    CSRF token for templates.
    """
    def wrap(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                user, csrf = identify(ctx)
                check_csrf(csrf)
            except Denied as err:
                return _refuse(err, page)
            if admin and not user.admin:
                return _refuse(Denied(403, "this needs the admin role"), False)
            bottle.request["fukurou.csrf"] = csrf or ""
            bottle.request["fukurou.user"] = user
            return handler(user, *args, **kwargs)
        return run
    return wrap
