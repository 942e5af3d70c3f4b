"""Migrations: a database of every earlier version is brought to the newest; a broken one is refused."""

from __future__ import annotations

from pathlib import Path

import apsw
import pytest

from appliance.store import db


def test_every_earlier_version_migrates_to_newest(tmp_path: Path) -> None:
    steps = db.migrations()
    newest = steps[-1][0]
    for number, _, _ in [(0, "", ""), *steps]:
        path = str(tmp_path / f"v{number}.db")
        conn = db.open_database(path, migrate=False)
        assert db.apply_migrations(conn, upto=number) == number
        conn.close()
        conn = db.open_database(path)  # opening migrates the rest of the way
        assert db.schema_version(conn) == newest
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"sessions", "terms", "postings", "fields"} <= tables
        conn.close()


def test_numbers_are_unique_and_ordered() -> None:
    numbers = [n for n, _, _ in db.migrations()]
    assert numbers == sorted(set(numbers)) and numbers[0] == 1


def test_broken_migration_is_refused_and_leaves_the_old_version(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "sql"
    folder.mkdir()
    for _, name, sql in db.migrations():
        (folder / name).write_text(sql)
    last = db.migrations()[-1][0]
    (folder / f"{last + 1:03d}_broken.sql").write_text("CREATE TABLE ok (x);\nCREATE TABLE sessions (y);")
    monkeypatch.setattr(db, "sql_dir", lambda: folder)
    path = str(tmp_path / "x.db")
    with pytest.raises(db.StoreError, match="broken"):
        db.open_database(path)
    conn = apsw.Connection(path)
    assert db.schema_version(conn) == last
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "ok" not in names  # the failed migration's first statement was rolled back too
