"""The JSON API of the two views: ``/api/scans`` and ``/api/devices`` (installed by web/api.py).

The aggregates are not filtered by a user's forced expression, so a user who has one is refused
here rather than shown traffic outside their scope; a user's time limit caps the window.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import bottle

from appliance.insights import devices, scans
from appliance.web.context import Context, json_error

MAX_DAYS = 3660


def routes(ctx: Context) -> list[tuple[str, list[str], Callable[..., Any], bool]]:
    """(path, methods, handler(user), admin only) as web/api.py lists its own routes."""
    def scans_api(user: Any) -> Any:
        days = _days(user)
        if isinstance(days, bottle.HTTPResponse):
            return days
        limit = _int("limit", 50, 1, 1000)
        found, span = scans.find_scanners(ctx.conn(), days, limit)
        return _json(scans.as_json(found, span))

    def devices_api(user: Any) -> Any:
        days = _days(user)
        if isinstance(days, bottle.HTTPResponse):
            return days
        oui_file = getattr(ctx.settings, "ouiFile", "") or None
        return _json(devices.as_json(devices.inventory(ctx.conn(), oui_file, days)))

    return [("/api/scans", ["GET"], scans_api, False), ("/api/devices", ["GET"], devices_api, False)]


def _days(user: Any) -> int | bottle.HTTPResponse:
    if user.expression:
        return json_error(403, "this view is not available to users with a forced expression")
    days = _int("days", 30, 1, MAX_DAYS)
    if user.time_limit:
        days = max(1, min(days, user.time_limit // 24))
    return days


def _int(name: str, default: int, lo: int, hi: int) -> int:
    raw = bottle.request.query.getunicode(name) or ""
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = default
    return max(lo, min(hi, value))


def _json(data: Any) -> str:
    bottle.response.content_type = "application/json"
    return json.dumps(data, separators=(",", ":"))
