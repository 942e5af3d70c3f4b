"""Per-user viewer settings: one table of what a user may set, checked before it is stored.

Stored as a JSON object in ``users.settings`` (sql/008) and served by ``/api/user/settings``, the
path Arkime uses. The page scripts read them from the page itself, so a table is drawn with the
user's columns without waiting for a second request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appliance.web.users import UserError

MAX_LIST = 64  # items in a list setting
MAX_TEXT = 64  # characters in one item


@dataclass(frozen=True)
class UserSetting:
    name: str
    default: Any
    help: str
    check: Callable[[Any], str | None]  # what is wrong with a value, or None


def _short_text_list(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return "a list of text"
    if len(value) > MAX_LIST or any(not v or len(v) > MAX_TEXT for v in value):
        return f"at most {MAX_LIST} items of 1-{MAX_TEXT} characters"
    return None


USER_SETTINGS = (
    UserSetting("sessionsColumns", [], "the Sessions table's columns, in order (empty: the default columns)",
                _short_text_list),
)
_BY_NAME = {s.name: s for s in USER_SETTINGS}


def effective(stored: str | None) -> dict[str, Any]:
    """Every setting: the stored value where there is a valid one, else the default."""
    try:
        saved = json.loads(stored or "{}")
    except ValueError:
        saved = {}
    saved = saved if isinstance(saved, dict) else {}
    return {s.name: saved[s.name] if s.name in saved and s.check(saved[s.name]) is None else s.default
            for s in USER_SETTINGS}


def merged(stored: str | None, changes: Any) -> dict[str, Any]:
    """The settings after ``changes`` (an object of some settings); UserError names what is wrong."""
    if not isinstance(changes, dict) or not changes:
        raise UserError("send a JSON object of settings, e.g. {\"sessionsColumns\": [\"start\", \"srcIp\"]}")
    out = effective(stored)
    for name, value in changes.items():
        setting = _BY_NAME.get(name)
        if setting is None:
            raise UserError(f"unknown setting {name!r}; known: {', '.join(_BY_NAME)}")
        problem = setting.check(value)
        if problem:
            raise UserError(f"setting {name!r} must be {problem}")
        out[name] = value
    return out
