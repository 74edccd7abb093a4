"""A new SQLite database made from the schema snapshot is the database the migrations make
(storage.schema_snapshot): the same tables, indexes and triggers, the same revision. When this
fails after a new migration: `python -m storage.schema_snapshot` regenerates the snapshot."""

from __future__ import annotations

import sqlite3

from storage import schema_snapshot
from storage.db import make_engine, upgrade
from storage.dbapi import head_revision


def _new(path, *, snapshot: bool) -> str | None:
    engine = make_engine(f"sqlite:///{path}")
    try:
        return upgrade(engine, snapshot=snapshot)
    finally:
        engine.dispose()


def test_the_snapshot_is_of_the_newest_migration_and_builds_the_same_database(tmp_path):
    head = head_revision()
    assert schema_snapshot.statements(head) is not None, (
        "storage/migrations/sqlite_head.sql is not of the newest migration: run `python -m storage.schema_snapshot`")
    assert _new(tmp_path / "snap.db", snapshot=True) == head
    assert _new(tmp_path / "alembic.db", snapshot=False) == head
    assert schema_snapshot.schema_of(tmp_path / "snap.db") == schema_snapshot.schema_of(tmp_path / "alembic.db")
    for name in ("snap.db", "alembic.db"):
        with sqlite3.connect(tmp_path / name) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
    # and upgrading it again is the no-op of an up-to-date database
    assert _new(tmp_path / "snap.db", snapshot=True) == head


def test_a_stale_snapshot_or_a_database_with_tables_is_left_to_the_migrations(tmp_path, monkeypatch):
    monkeypatch.setattr(schema_snapshot, "SNAPSHOT", tmp_path / "missing.sql")
    assert schema_snapshot.statements(head_revision()) is None
    stale = tmp_path / "stale.sql"
    stale.write_text("-- abacus schema snapshot, revision 0001\nCREATE TABLE nothing (x);\n", encoding="utf-8")
    monkeypatch.setattr(schema_snapshot, "SNAPSHOT", stale)
    assert schema_snapshot.statements(head_revision()) is None
    assert _new(tmp_path / "a.db", snapshot=True) == head_revision()  # Alembic made it
    with sqlite3.connect(tmp_path / "a.db") as conn:
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'nothing'").fetchall()
    # a file that already holds a table of someone else's is never built over by the snapshot
    with sqlite3.connect(tmp_path / "b.db") as conn:
        conn.execute("CREATE TABLE theirs (x)")
    monkeypatch.undo()
    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        from storage.db import _create_from_snapshot
        assert _create_from_snapshot(engine, head_revision()) is False
    finally:
        engine.dispose()
