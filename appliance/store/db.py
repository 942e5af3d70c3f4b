"""Opening the database: WAL, a busy timeout, and the migrations in ``sql/NNN_name.sql``.

``PRAGMA user_version`` holds the number of the last migration applied. Migrations run in one
transaction each, in number order, so a database of any earlier version is brought up to date
on open, and a crash half-way through a migration leaves the previous version intact.
"""

from __future__ import annotations

import os
import re
from itertools import chain
from pathlib import Path
from typing import Any

import apsw

from appliance.paths import sql_root

BUSY_TIMEOUT_MS = 10_000
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class StoreError(Exception):
    """The database cannot be opened or brought up to date."""


def sql_dir() -> Path:
    """Where the migrations are (``sql/`` in a checkout, ``<prefix>/share/fukurou/sql`` installed)."""
    return sql_root()


def migrations(folder: Path | None = None) -> list[tuple[int, str, str]]:
    """(number, name, sql) of every migration, in order; numbers must be unique."""
    folder = folder or sql_dir()
    found = []
    for path in sorted(folder.iterdir()):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path.name, path.read_text()))
    numbers = [number for number, _, _ in found]
    if len(set(numbers)) != len(numbers):
        raise StoreError(f"two migrations share a number in {folder}")
    return found


def open_database(path: str, readonly: bool = False, migrate: bool = True,
                  one_thread: bool = False) -> apsw.Connection:
    """Open (and create or upgrade) the store at ``path``. With ``one_thread`` the connection
    has no mutex of its own (SQLite's multi-thread mode): for a connection only ever used by
    the thread that opened it, such as the store process's writer, where taking and releasing
    it around every bind, step and reset came to ~2 % of the process. apsw refuses concurrent
    use of a connection itself (ThreadingViolation), so a mistake is an error, not a race."""
    if not readonly:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
    flags = apsw.SQLITE_OPEN_READONLY if readonly else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    if one_thread:
        flags |= apsw.SQLITE_OPEN_NOMUTEX
    try:
        conn = apsw.Connection(path, flags=flags)
    except apsw.Error as err:
        raise StoreError(f"{path}: {err}") from err
    conn.setbusytimeout(BUSY_TIMEOUT_MS)
    # One plan per statement whatever its bound values. apsw's SQLite is built with STAT4, and
    # without this it prepares some statements again each time their values change (the
    # writer's posting-block reads: ~7 µs a run instead of ~3). Nothing of ours depends on
    # plans from values: the only statistics are sql/012's fixed figures, and GLOBs get their index bounds spelled out.
    conn.config(apsw.SQLITE_DBCONFIG_ENABLE_QPSG, 1)
    # The functions that read posting blocks, before any migration or query uses them. Imported
    # here: postings writes through insert_rows below.
    from appliance.store import postings

    postings.register(conn)
    if not readonly:
        # Must come before WAL and the first table; a no-op on an existing database. Lets
        # `fukurou expire` give the pages of expired sessions back to the disk (incremental_vacuum).
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable at every checkpoint and safe with WAL: a power cut loses at most the
        # last transactions, never the database.
        conn.execute("PRAGMA synchronous=NORMAL")
        if migrate:
            apply_migrations(conn)
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def schema_version(conn: apsw.Connection) -> int:
    rows: list[Any] = conn.execute("PRAGMA user_version").fetchall()
    return int(rows[0][0])


def apply_migrations(conn: apsw.Connection, upto: int | None = None) -> int:
    """Apply every migration newer than the database; returns the new version."""
    version = schema_version(conn)
    applied = False
    for number, name, sql in migrations():
        if number <= version or (upto is not None and number > upto):
            continue
        try:
            with conn:  # one transaction per migration
                conn.execute(sql)
                conn.execute(f"PRAGMA user_version={number}")
        except apsw.Error as err:
            raise StoreError(f"migration {name} failed: {err}") from err
        version, applied = number, True
    if applied:
        # A connection reads sqlite_stat1 when it loads the schema: make this one read what
        # the migrations wrote there (sql/012), as a fresh connection would.
        conn.execute("ANALYZE sqlite_schema")
    return version


ROWS_PER_INSERT = 100  # rows per INSERT statement in insert_rows


def insert_rows(conn: apsw.Connection, head: str, rows: list[tuple[Any, ...]], tail: str = "") -> None:
    """``head`` ("INSERT INTO t (a, b) VALUES ") and ``tail`` (an ON CONFLICT clause, say) for
    every row, ROWS_PER_INSERT rows to a statement.

    executemany runs the statement once per row, and apsw looks it up in its statement cache,
    resets and finalizes it each time: ~2,000 instructions a row before SQLite does any work, for
    the dozen rows (a session, its postings, its minute) that each stored session makes. One
    statement of many rows pays that once, and SQLite's own work per row is less too."""
    if not rows:
        return
    one = "(" + ", ".join("?" * len(rows[0])) + ")"
    full = len(rows) - len(rows) % ROWS_PER_INSERT
    if full:
        sql = head + ", ".join([one] * ROWS_PER_INSERT) + tail
        conn.executemany(sql, [list(chain.from_iterable(rows[i:i + ROWS_PER_INSERT]))
                               for i in range(0, full, ROWS_PER_INSERT)])
    if full < len(rows):
        conn.execute(head + ", ".join([one] * (len(rows) - full)) + tail, list(chain.from_iterable(rows[full:])))


def insert_each(conn: apsw.Connection, head: str, rows: list[tuple[Any, ...]], tail: str = "") -> None:
    """Like ``insert_rows``, one row to a statement: for rows that land at random places in a
    table or its indexes.

    Inside a transaction, a statement that may stop half-way (a multi-row INSERT that gives the
    rowid, an upsert, a plain INSERT into a WITHOUT ROWID table) first copies each page it is
    about to change to a statement journal, a temporary file, so that a failing row can be taken
    back alone. Rows at random places change a page each: the 100-row statements of a
    session-heavy batch copied ~400 pages each, a tenth of the store process's time. A one-row
    statement needs no statement journal, and our writes fail whole transactions anyway.

    The statement goes to apsw in ``compact`` form: it hashes the whole text again for each row."""
    if rows:
        conn.executemany(compact(head + "(" + ",".join("?" * len(rows[0])) + ")" + tail), rows)


_AROUND_PUNCTUATION = re.compile(r"\s*([,=()+])\s*")


def compact(sql: str) -> str:
    """``sql`` without the blanks around commas, "=", "+" and parentheses (no string literals).

    apsw looks a statement up in its cache by a hash of its whole text, one byte at a time
    (~8 instructions a byte), and ``executemany`` looks it up again for every row: a 200-byte
    upsert pays ~1,600 instructions a row before SQLite starts. Blanks are most of what can go."""
    return _AROUND_PUNCTUATION.sub(r"\1", sql).strip()
