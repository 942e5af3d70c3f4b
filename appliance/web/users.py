"""Viewer users: password hashes, API tokens and login sessions in the ``users`` tables (sql/003).

Passwords are hashed with scrypt and a per-user salt; the cost parameters are stored with each hash
so that a later release can raise them and still verify old hashes. API tokens and session ids are
random secrets given to the client once; only their SHA-256 is stored, so a copy of the database
(a backup, a stolen SD card) cannot be used to log in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass

import apsw

ROLES = ("admin", "user")
# n=2**14, r=8 uses 16 MiB and ~50 ms per hash: slow for guessing, affordable on a router.
SCRYPT = {"n": 1 << 14, "r": 8, "p": 1}
SESSION_IDLE = 12 * 3600  # a login session unused this long is over
SESSION_MAX = 7 * 86400  # and none lives longer than this
MIN_PASSWORD = 8
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
# Names that /api/user/<name> cannot reach: /api/user/password and /api/user/settings are the
# caller's own (Arkime's paths).
RESERVED_NAMES = ("password", "settings")


class UserError(ValueError):
    """A refused user operation (bad name, unknown user, weak password...)."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    expression: str
    time_limit: int | None
    enabled: bool

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    def public(self) -> dict[str, object]:
        """What the API shows of a user (never the hash)."""
        return {"userId": self.name, "roles": [self.role], "admin": self.admin,
                "expression": self.expression, "timeLimit": self.time_limit, "enabled": self.enabled}


_USER_COLS = "id, name, role, expression, time_limit, enabled"


def _user(row: tuple) -> User:
    return User(row[0], row[1], row[2], row[3] or "", row[4], bool(row[5]))


def sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def hash_password(password: str, salt: bytes | None = None, params: dict[str, int] | None = None
                  ) -> tuple[bytes, bytes, str]:
    """(hash, salt, params JSON) of a password."""
    salt = salt or secrets.token_bytes(16)
    params = params or SCRYPT
    digest = hashlib.scrypt(password.encode(), salt=salt, n=params["n"], r=params["r"], p=params["p"],
                            maxmem=64 << 20, dklen=32)
    return digest, salt, json.dumps(params, sort_keys=True)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password must have at least {MIN_PASSWORD} characters")


class Users:
    """User, token and session operations over one connection."""

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn

    # --- users -------------------------------------------------------------------------------

    def add(self, name: str, password: str, role: str = "user", expression: str = "",
            time_limit: int | None = None) -> User:
        if not _NAME.match(name):
            raise UserError("a user name is 1-64 letters, digits or _ . @ -")
        if name.lower() in RESERVED_NAMES:
            raise UserError(f"{name!r} cannot be a user name (it is part of the API: /api/user/{name.lower()})")
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")
        check_password_strength(password)
        if self.get(name) is not None:
            raise UserError(f"user {name!r} exists already")
        digest, salt, params = hash_password(password)
        with self.conn:
            self.conn.execute(
                "INSERT INTO users (name, role, pw_hash, pw_salt, pw_params, expression, time_limit, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (name, role, digest, salt, params, expression, time_limit, time.time()))
        return self._must(name)

    def get(self, name: str) -> User | None:
        row = self.conn.execute(f"SELECT {_USER_COLS} FROM users WHERE name = ?", (name,)).fetchone()
        return _user(row) if row else None

    def by_id(self, user_id: int) -> User | None:
        row = self.conn.execute(f"SELECT {_USER_COLS} FROM users WHERE id = ?", (user_id,)).fetchone()
        return _user(row) if row else None

    def _must(self, name: str) -> User:
        user = self.get(name)
        if user is None:
            raise UserError(f"no user {name!r}")
        return user

    def all(self) -> list[User]:
        return [_user(r) for r in self.conn.execute(f"SELECT {_USER_COLS} FROM users ORDER BY name")]

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM users").fetchone()[0])

    def delete(self, name: str) -> None:
        user = self._must(name)
        with self.conn:
            self.conn.execute("DELETE FROM web_sessions WHERE user_id = ?", (user.id,))
            self.conn.execute("DELETE FROM api_tokens WHERE user_id = ?", (user.id,))
            self.conn.execute("DELETE FROM users WHERE id = ?", (user.id,))

    def update(self, name: str, *, role: str | None = None, expression: str | None = None,
               time_limit: int | None | str = "keep", enabled: bool | None = None) -> User:
        user = self._must(name)
        if role is not None and role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")
        with self.conn:
            if role is not None:
                self.conn.execute("UPDATE users SET role = ? WHERE id = ?", (role, user.id))
            if expression is not None:
                self.conn.execute("UPDATE users SET expression = ? WHERE id = ?", (expression, user.id))
            if time_limit != "keep":
                self.conn.execute("UPDATE users SET time_limit = ? WHERE id = ?", (time_limit, user.id))
            if enabled is not None:
                self.conn.execute("UPDATE users SET enabled = ? WHERE id = ?", (int(enabled), user.id))
                if not enabled:
                    self.conn.execute("DELETE FROM web_sessions WHERE user_id = ?", (user.id,))
        return self._must(name)

    def settings(self, user_id: int) -> str:
        """The user's stored settings (JSON text; ``user_settings`` reads it)."""
        row = self.conn.execute("SELECT settings FROM users WHERE id = ?", (user_id,)).fetchone()
        return str(row[0]) if row else "{}"

    def save_settings(self, user_id: int, settings: dict[str, object]) -> None:
        with self.conn:
            self.conn.execute("UPDATE users SET settings = ? WHERE id = ?",
                              (json.dumps(settings, separators=(",", ":")), user_id))

    def set_password(self, name: str, password: str) -> None:
        user = self._must(name)
        check_password_strength(password)
        digest, salt, params = hash_password(password)
        with self.conn:
            self.conn.execute("UPDATE users SET pw_hash = ?, pw_salt = ?, pw_params = ? WHERE id = ?",
                              (digest, salt, params, user.id))
            # A new password ends every other login: the old one may be what leaked.
            self.conn.execute("DELETE FROM web_sessions WHERE user_id = ?", (user.id,))

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password is right and the user enabled; None otherwise."""
        row = self.conn.execute("SELECT id, pw_hash, pw_salt, pw_params FROM users WHERE name = ?",
                                (name,)).fetchone()
        if row is None:
            hash_password(password)  # spend the same time, so timing does not tell which names exist
            return None
        digest, _, _ = hash_password(password, row[2], json.loads(row[3]))
        if not hmac.compare_digest(digest, row[1]):
            return None
        user = self.by_id(row[0])
        return user if user and user.enabled else None

    # --- API tokens ----------------------------------------------------------------------------

    def new_token(self, name: str) -> str:
        user = self._must(name)
        token = "fk_" + secrets.token_urlsafe(32)
        with self.conn:
            self.conn.execute("INSERT INTO api_tokens (token_sha256, user_id, created_at) VALUES (?, ?, ?)",
                              (sha256(token), user.id, time.time()))
        return token

    def by_token(self, token: str) -> User | None:
        row = self.conn.execute("SELECT user_id FROM api_tokens WHERE token_sha256 = ?",
                                (sha256(token),)).fetchone()
        user = self.by_id(row[0]) if row else None
        return user if user and user.enabled else None

    # --- login sessions ------------------------------------------------------------------------

    def new_session(self, user: User) -> tuple[str, str]:
        """(session id for the cookie, CSRF token) of a new login."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        with self.conn:
            self.conn.execute("DELETE FROM web_sessions WHERE last_seen < ? OR created_at < ?",
                              (now - SESSION_IDLE, now - SESSION_MAX))
            self.conn.execute("INSERT INTO web_sessions (id_sha256, user_id, csrf, created_at, last_seen) "
                              "VALUES (?, ?, ?, ?, ?)", (sha256(sid), user.id, csrf, now, now))
            self.conn.execute("UPDATE users SET last_used = ? WHERE id = ?", (now, user.id))
        return sid, csrf

    def session(self, sid: str) -> tuple[User, str] | None:
        """(user, CSRF token) of a live session id; touches it."""
        key, now = sha256(sid), time.time()
        row = self.conn.execute("SELECT user_id, csrf, created_at, last_seen FROM web_sessions "
                                "WHERE id_sha256 = ?", (key,)).fetchone()
        if row is None or row[3] < now - SESSION_IDLE or row[2] < now - SESSION_MAX:
            return None
        user = self.by_id(row[0])
        if user is None or not user.enabled:
            return None
        if now - row[3] > 60:  # write at most once a minute per session, not on every request
            with self.conn:
                self.conn.execute("UPDATE web_sessions SET last_seen = ? WHERE id_sha256 = ?", (now, key))
        return user, row[1]

    def end_session(self, sid: str) -> None:
        with self.conn:
            self.conn.execute("DELETE FROM web_sessions WHERE id_sha256 = ?", (sha256(sid),))
