"""A new database made from the schema snapshot is the database the migrations make
(storage.schema_snapshot): on SQLite the same tables, indexes and triggers, the same revision; on
Postgres the same catalogs. When this fails after a new migration: `python -m storage.schema_snapshot`
regenerates the snapshots."""

from __future__ import annotations

import sqlite3
import threading
import time

import psycopg
import pytest

from storage import db as db_module
from storage import schema_snapshot
from storage.db import make_engine, upgrade
from storage.dbapi import head_revision
from tests.conftest import create_pg_database, drop_pg_database


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


# Postgres ---------------------------------------------------------------------------

def _new_pg(url: str, *, snapshot: bool) -> str | None:
    engine = make_engine(url)
    try:
        return upgrade(engine, snapshot=snapshot)
    finally:
        engine.dispose()


def _no_alembic(monkeypatch):
    """The migrations must not run: the snapshot (or the schema another replica made) does it all."""
    def refuse(*_a, **_k):
        raise AssertionError("Alembic ran")
    monkeypatch.setattr(db_module, "_alembic_config", refuse)


@pytest.fixture
def two_pg_databases(pg_admin_url):
    urls = [create_pg_database(pg_admin_url), create_pg_database(pg_admin_url)]
    try:
        yield urls
    finally:
        for url in urls:
            drop_pg_database(url)


@pytest.mark.postgres
def test_the_postgres_snapshot_is_of_the_newest_migration_and_builds_the_same_catalogs(two_pg_databases,
                                                                                     monkeypatch):
    snap, alembic = two_pg_databases
    head = head_revision()
    assert schema_snapshot.postgres_script(head) is not None, (
        "storage/migrations/postgres_head.sql is not of the newest migration: run `python -m storage.schema_snapshot`")
    with monkeypatch.context() as m:
        _no_alembic(m)
        assert _new_pg(snap, snapshot=True) == head
    assert _new_pg(alembic, snapshot=False) == head
    built, migrated = schema_snapshot.postgres_schema_of(snap), schema_snapshot.postgres_schema_of(alembic)
    assert built.keys() == migrated.keys()
    for catalog in migrated:
        assert built[catalog] == migrated[catalog], catalog
    # what the comparison covers is there to compare (a catalog query that found nothing proves nothing)
    tables = {r[0] for r in migrated["relations"] if r[1] == "r"}
    assert {"usage_event", "person", "alembic_version"} <= tables
    assert any(r[0] == "incident" and r[2] == "status" and r[3] == "character varying(16)" and r[4]
               for r in migrated["columns"])
    assert any(r[0] == "alert_outbox" and r[2] == "transport" and r[5] == "'slack'::character varying"
               for r in migrated["columns"])
    assert any(r[2] == "f" and "REFERENCES incident(id)" in r[3] for r in migrated["constraints"])
    assert any(r[1] == "uq_incident_open_subject" and "WHERE" in r[2] for r in migrated["indexes"])
    assert ("person_id_seq", "person", "id", "a") in migrated["sequence_owners"]
    assert any(r[3] == "fillfactor=70" for r in migrated["relations"])
    assert migrated["alembic_version"] == [(head,)]
    assert all(count == (1 if table == "alembic_version" else 0) for table, count in migrated["rows"])
    # and upgrading it again is the no-op of an up-to-date database
    with monkeypatch.context() as m:
        _no_alembic(m)
        assert _new_pg(snap, snapshot=True) == head


@pytest.mark.postgres
def test_a_stale_postgres_snapshot_or_a_database_with_abacus_tables_is_left_to_the_migrations(
        two_pg_databases, tmp_path, monkeypatch):
    fresh, partial = two_pg_databases
    monkeypatch.setattr(schema_snapshot, "PG_SNAPSHOT", tmp_path / "missing.sql")
    assert schema_snapshot.postgres_script(head_revision()) is None
    stale = tmp_path / "stale.sql"
    stale.write_text("-- abacus schema snapshot, revision 0001\nCREATE TABLE nothing (x integer);\n", encoding="utf-8")
    monkeypatch.setattr(schema_snapshot, "PG_SNAPSHOT", stale)
    assert schema_snapshot.postgres_script(head_revision()) is None
    assert _new_pg(fresh, snapshot=True) == head_revision()  # Alembic made it
    with psycopg.connect(fresh) as conn:
        assert conn.execute("SELECT to_regclass('nothing')").fetchone() == (None,)
        assert conn.execute("SELECT to_regclass('usage_event') IS NOT NULL").fetchone() == (True,)
    monkeypatch.undo()
    # a database holding one of Abacus's tables (not from the snapshot) is never built over by it;
    # one holding someone else's table is
    with psycopg.connect(partial) as conn:
        conn.execute("CREATE TABLE person (x integer)")
    engine = make_engine(partial)
    try:
        assert db_module._create_from_snapshot(engine, head_revision()) is False
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE person")
            conn.exec_driver_sql("CREATE TABLE theirs (x integer)")
        assert db_module._create_from_snapshot(engine, head_revision()) is True
    finally:
        engine.dispose()
    with psycopg.connect(partial) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
        assert conn.execute("SELECT count(*) FROM theirs").fetchone() == (0,)


@pytest.mark.postgres
def test_a_replica_that_waited_for_the_lock_sees_the_schema_made_meanwhile_and_creates_nothing(
        pg_database_url, monkeypatch):
    """Two replicas start on an empty database: the one that waited for the migration lock finds
    the schema the other committed, returns the head and runs neither the snapshot nor Alembic."""
    _no_alembic(monkeypatch)
    head = head_revision()
    script, _ = schema_snapshot.postgres_script(head)
    result: list = []
    with psycopg.connect(pg_database_url) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", (db_module._MIGRATION_LOCK_ID,))
        waiter = threading.Thread(target=lambda: result.append(_new_pg(pg_database_url, snapshot=True)))
        waiter.start()
        with psycopg.connect(pg_database_url, autocommit=True) as watch:
            deadline = time.monotonic() + 30
            while not watch.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                                    ).fetchone()[0]:
                assert time.monotonic() < deadline, "the replica never waited for the migration lock"
                time.sleep(0.02)
        other.execute(script)  # the first replica's schema, committed as its lock is released
        other.execute("INSERT INTO alembic_version (version_num) VALUES (%s)", (head,))
    waiter.join(timeout=30)
    assert result == [head]
    with psycopg.connect(pg_database_url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
