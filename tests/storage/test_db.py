from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from core.errors import ConfigError
from storage.db import make_engine, normalise_url, redact_url, upgrade

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("given, expected", [
    ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
    ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg2://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:///abacus.db", "sqlite:///abacus.db"),
])
def test_every_postgres_url_form_uses_psycopg3(given, expected):
    assert normalise_url(given) == expected


@pytest.mark.parametrize("url", [
    "postgres://u:secret@h/db",
    "postgresql://u@h/db?password=secret",                         # libpq takes it from the query too
    "postgresql://u@h/db?sslmode=require&sslpassword=secret",
    "postgresql://u:secret@h:notaport/db",                          # unparsable: nothing of it shown
])
def test_redaction_hides_passwords_wherever_they_are(url):
    shown = redact_url(url)
    assert "secret" not in shown and ("***" in shown or shown == "<unparsable DATABASE_URL>"), shown


def test_redaction_keeps_the_rest():
    assert redact_url("postgresql://u@h:5433/db?password=x&sslmode=require") == \
        "postgresql://u@h:5433/db?password=***&sslmode=require"


@pytest.mark.parametrize("bad", ["", "mysql://u@h/db", "not a url at all", "postgresql://u:pw@127.0.0.1:notaport/db",
                                 "postgresql://u:pw@[::1/db", "sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_bad_urls(bad):
    with pytest.raises(ConfigError) as exc:
        make_engine(bad)
    assert "pw@" not in str(exc.value)


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/a.db")
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1



def test_a_new_file_another_process_is_writing_waits_for_wal_rather_than_fail(tmp_path):
    """Two processes opening a new SQLite file at once (the bot and a CLI command): the one that
    switches it to WAL second finds the other's write lock, and SQLite answers "database is locked"
    at once instead of waiting (CI saw `abacus sync` fail so). The switch waits like any statement."""
    import sqlite3
    import threading

    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE t (x)")  # still in rollback-journal mode
    other.execute("BEGIN IMMEDIATE")  # another process's write in progress
    done = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    done.start()
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        done.join()
        engine.dispose()
        other.close()


def test_upgrade_is_idempotent(engine):
    assert upgrade(engine) == upgrade(engine)


def test_migrations_match_the_models(engine):
    """A model change without its migration fails here, on SQLite and Postgres."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import storage.tables  # noqa: F401

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []


def _head() -> str:
    from alembic.script import ScriptDirectory

    from storage.db import MIGRATIONS_DIR

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


@contextmanager
def _migrated(engine, revision: str, *, down: bool = False):
    """A transaction on `engine`, in which Alembic first took the database to `revision` (up, or
    `down`)."""
    from alembic import command

    from storage.db import _alembic_config

    cfg = _alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
        yield conn


def test_0002_keeps_every_stored_event_time_to_the_millisecond(database_url):
    """Upgrading a 0001 database with events moves `ts` to `ts_ms` exactly, and down again."""
    engine = make_engine(database_url)
    try:
        with _migrated(engine, "0001") as conn:
            for key, ts in [("a", "2026-01-05 12:00:00.123000"), ("b", "2026-01-05 23:59:59.999000"),
                            ("c", "2026-01-06 00:00:00")]:
                conn.execute(text(
                    "INSERT INTO usage_event (source, feed, natural_key, ts, day, person, raw_model, model, "
                    "input_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, output_tokens, "
                    "cost_nanos, cost_basis, estimated_cost_nanos, requests) VALUES ('cursor', 'cursor_events', "
                    f":k, {':ts' if engine.dialect.name == 'sqlite' else 'CAST(:ts AS TIMESTAMPTZ)'}, "
                    ":day, 'a@x.io', 'm', 'm', 1, 0, 0, 0, 1, 0, 'vendor', 0, 1)"),
                    {"k": key, "ts": ts + ("" if engine.dialect.name == "sqlite" else "+00"), "day": ts[:10]})
        assert upgrade(engine) == _head()
        with engine.connect() as conn:
            got = dict(conn.execute(text("SELECT natural_key, ts_ms FROM usage_event")).all())
        # 2026-01-05T00:00:00Z = 1767571200 s
        assert got == {"a": 1767571200_000 + 43_200_000 + 123, "b": 1767571200_000 + 86_399_999,
                       "c": 1767571200_000 + 86_400_000}
        with _migrated(engine, "0001", down=True):
            pass
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one() == 3
        assert upgrade(engine) == _head()  # and up again: the same times
        with engine.connect() as conn:
            assert dict(conn.execute(text("SELECT natural_key, ts_ms FROM usage_event")).all()) == got
    finally:
        engine.dispose()


def _usage_event_fks(conn) -> list:
    """usage_event's foreign keys and, on Postgres, the triggers that would check them."""
    if conn.dialect.name == "sqlite":
        return [tuple(r[2:5]) for r in conn.execute(text("PRAGMA foreign_key_list(usage_event)"))]
    return [*conn.execute(text("SELECT conname FROM pg_constraint WHERE conrelid = 'usage_event'::regclass "
                               "AND contype = 'f'")).scalars(),
            *conn.execute(text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'usage_event'::regclass "
                               "OR tgconstrrelid = 'usage_event'::regclass")).scalars()]


def test_0012_drops_the_import_batch_key_of_usage_event_and_keeps_its_rows(database_url):
    """An event written pays no foreign-key check (Postgres: no RI trigger per row); upgrading a 0011
    database with events (SQLite rewrites the table) keeps every row, its batch id and the indexes,
    and the downgrade puts the key back."""
    engine = make_engine(database_url)
    try:
        with _migrated(engine, "0011") as conn:
            assert _usage_event_fks(conn) != []
            conn.execute(text("INSERT INTO import_batch (id, filename, sha256, format, rows_read, inserted, "
                              "duplicates, rejected, skipped, via, created_at) VALUES (7, 'u.csv', 'ab', 'cursor', "
                              "1, 1, 0, 0, 0, 'cli', '2026-01-05 12:00:00')"))
            for key, batch in [("synced", None), ("imported", 7)]:
                conn.execute(text(
                    "INSERT INTO usage_event (source, feed, natural_key, ts_ms, day, person, raw_model, model, "
                    "input_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, output_tokens, "
                    "cost_nanos, cost_basis, estimated_cost_nanos, requests, api_key, import_batch_id) VALUES "
                    "('claude_code', 'claude_usage_csv', :k, 1767614400000, '2026-01-05', 'a@x.io', 'm', 'm', "
                    "1, 0, 0, 0, 1, 0, 'vendor', 0, 1, 'key-1', :b)"), {"k": key, "b": batch})
            indexes = {i["name"] for i in inspect(conn).get_indexes("usage_event")}
        with _migrated(engine, "0012") as conn:
            assert _usage_event_fks(conn) == []
            assert dict(conn.execute(text("SELECT natural_key, import_batch_id FROM usage_event")).all()) == \
                {"synced": None, "imported": 7}
            assert {i["name"] for i in inspect(conn).get_indexes("usage_event")} == indexes
            assert inspect(conn).get_pk_constraint("usage_event")["constrained_columns"] == \
                ["source", "day", "ts_ms", "natural_key"]
        with _migrated(engine, "0011", down=True) as conn:
            assert _usage_event_fks(conn) != []
            assert conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one() == 2
    finally:
        engine.dispose()


def test_a_job_lock_held_by_another_process_is_waited_for(engine, tmp_path):
    """The sync lock holds across processes on both databases (SQLite: a file lock beside the
    database; Postgres: an advisory lock): a second process gets False at once, or waits."""
    import subprocess
    import sys
    import time

    from storage.job_lock import try_job_lock

    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time\n"
            "from storage.db import make_engine\n"
            "from storage.job_lock import try_job_lock\n"
            f"engine = make_engine({str(engine.url.render_as_string(hide_password=False))!r})\n"
            "with try_job_lock(engine, 'sync') as held:\n"
            "    print(held, flush=True)\n"
            "    time.sleep(2)\n")],
        stdout=subprocess.PIPE, text=True, cwd=str(REPO))
    try:
        assert holder.stdout.readline().strip() == "True"
        with try_job_lock(engine, "sync") as held:
            assert held is False
        waited: list[float] = []
        started = time.monotonic()
        with try_job_lock(engine, "sync", wait=30, on_wait=lambda: waited.append(time.monotonic())) as held:
            assert held is True and len(waited) == 1 and time.monotonic() - started < 30
    finally:
        holder.wait(timeout=30)


@pytest.mark.postgres
def test_a_sync_whose_lease_was_taken_over_commits_nothing_more(pg_database_url):
    """Should another process take the sync lease (this one lost contact for longer than the lease
    lasts), the first one's next transaction is refused with LockLost and rolled back."""
    from core.errors import LockLost
    from core.sources.records import MemberRecord
    from core.sync import Vendor
    from storage.job_lock import try_job_lock
    from storage.sync_repo import SqlSyncStore

    engine = make_engine(pg_database_url)
    upgrade(engine)
    try:
        store = SqlSyncStore(engine)
        with try_job_lock(engine, "sync") as held:
            assert held
            with store.transaction() as tx:  # still ours: commits
                tx.save_members([MemberRecord(email="kept@example.com")], vendor=Vendor.CURSOR)
            with engine.begin() as conn:
                conn.execute(text("UPDATE job_lease SET holder = 'replica-2:7:cafe' WHERE name = 'sync'"))
            with pytest.raises(LockLost, match="lost the sync lock"), store.transaction() as tx:
                tx.save_members([MemberRecord(email="lost@example.com")], vendor=Vendor.CURSOR)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT email FROM person")).scalars().all() == ["kept@example.com"]
            assert conn.execute(text("SELECT holder FROM job_lease")).scalars().all() == ["replica-2:7:cafe"]
    finally:
        engine.dispose()


def test_an_ingest_engine_keeps_a_smaller_sqlite_page_cache(tmp_path):
    """A sync or import process (make_engine(ingest=True)) caps SQLite's page cache at 16 MiB —
    its pages are resident memory; other processes keep 64 MiB for the reports' scans."""
    from sqlalchemy import text as sql

    from storage.db import make_engine

    for ingest, kib in ((False, 65_536), (True, 16_384)):
        engine = make_engine(f"sqlite:///{tmp_path / 'cache.db'}", ingest=ingest)
        try:
            with engine.connect() as conn:
                assert conn.execute(sql("PRAGMA cache_size")).scalar() == -kib
        finally:
            engine.dispose()


def test_an_ingest_checkpoints_its_wal_on_a_thread_of_its_own(tmp_path):
    """An ingest engine's WAL is copied into the database file by its checkpointer thread while it
    writes (storage.dbapi.WalCheckpointer), not by the committing connection (whose own checkpoint is
    only a backstop); closing the engine stops the thread first, so its last connection still
    checkpoints the rest and removes the log. 30 batches of 2,000 rows: 60,000 rows by hand."""
    import time

    from storage.db import _CHECKPOINTERS, close_engine

    path = tmp_path / "ingest.db"
    engine = make_engine(f"sqlite:///{path}", ingest=True)
    checkpointer = _CHECKPOINTERS[engine]
    time.sleep(3 * checkpointer.every_s)
    assert not path.exists()  # it never creates the database: the writer does
    with engine.begin() as conn:
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 8_192
        conn.execute(text("CREATE TABLE t (n INTEGER, pad TEXT)"))
    for batch in range(30):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (:n, :pad)"),
                         [{"n": batch * 2_000 + i, "pad": "x" * 200} for i in range(2_000)])
    deadline = time.monotonic() + 10
    while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert checkpointer.checkpoints > 0
    close_engine(engine)
    assert not checkpointer._thread.is_alive()
    assert not (tmp_path / "ingest.db-wal").exists()
    import sqlite3

    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*), SUM(n) FROM t").fetchone() == (60_000, 60_000 * 59_999 // 2)


def test_a_new_sqlite_database_gets_16k_pages_and_an_old_one_keeps_its_own(tmp_path):
    import sqlite3

    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.execute("CREATE TABLE t (x)")
    for name, size in (("new.db", 16_384), ("old.db", 4_096)):
        engine = make_engine(f"sqlite:///{tmp_path / name}")
        try:
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE IF NOT EXISTS t (x)"))
                assert conn.execute(text("PRAGMA page_size")).scalar() == size, name
                assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        finally:
            engine.dispose()


def test_an_ingest_engine_dropped_without_closing_stops_its_checkpointer(tmp_path):
    """An ingest engine nobody closes (`abacus sync` or `import` run in-process by `main`, as the
    tests' `cli` fixture does; any caller that only drops it): once the engine is collected, its
    checkpointer thread ends and closes its connection — no thread polling every 50 ms and holding
    the database open for the rest of the process, one more per sync."""
    import gc
    import time

    from storage.db import _CHECKPOINTERS

    path = tmp_path / "dropped.db"
    engine = make_engine(f"sqlite:///{path}", ingest=True)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    thread = _CHECKPOINTERS[engine]._thread
    del engine, conn
    gc.collect()
    deadline = time.monotonic() + 5
    while thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not thread.is_alive()
    assert not (tmp_path / "dropped.db-wal").exists()  # its connection, the last one, closed


def test_0013_indexes_the_live_rows_already_stored_and_drops_the_index_on_the_way_down(database_url):
    """Upgrading a 0012 database with live telemetry rows indexes them (the reports' live-day read uses
    the index at once); the downgrade drops it and keeps every row."""
    from storage.rollup_sql import live_days

    engine = make_engine(database_url)
    try:
        with _migrated(engine, "0012") as conn:
            for key, feed, day in [("live", "cc_otel_events", "2026-01-05"), ("vendor", "cc_analytics", "2026-01-06")]:
                conn.execute(text(
                    "INSERT INTO usage_event (source, feed, natural_key, ts_ms, day, person, raw_model, model, "
                    "input_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, output_tokens, "
                    "cost_nanos, cost_basis, estimated_cost_nanos, requests) VALUES "
                    "('claude_code', :f, :k, 1767614400000, :d, 'a@x.io', 'm', 'm', 1, 0, 0, 0, 1, 0, 'vendor', 0, 1)"),
                    {"k": key, "f": feed, "d": day})
            assert "ix_usage_event_live_day" not in {i["name"] for i in inspect(conn).get_indexes("usage_event")}
        with _migrated(engine, "0013") as conn:
            assert "ix_usage_event_live_day" in {i["name"] for i in inspect(conn).get_indexes("usage_event")}
            assert live_days(session=conn, start=date(2026, 1, 1), end=date(2026, 1, 31)) == [date(2026, 1, 5)]
        with _migrated(engine, "0012", down=True) as conn:
            assert "ix_usage_event_live_day" not in {i["name"] for i in inspect(conn).get_indexes("usage_event")}
            assert conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one() == 2
    finally:
        engine.dispose()
