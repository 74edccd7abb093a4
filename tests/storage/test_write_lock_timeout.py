"""A usage write queues up to 300 s for the usage write lock (other writers), but a table locked by
someone else (a migration, a VACUUM FULL, a stuck session) still ends it within the session's own
lock timeout, with the database's lock-timeout error (was: the 300 s of the write lock held for
every statement of the transaction, so `ABACUS_DB_LOCK_TIMEOUT=2` waited five minutes)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from core.usage import Feed, Source, UsageRecord
from storage.db import make_engine, session_scope, upgrade
from storage.usage_repo import lock_usage_writes, write_usage

pytestmark = pytest.mark.postgres


def _event() -> UsageRecord:
    return UsageRecord(source=Source.CURSOR, feed=Feed.CURSOR_EVENTS, natural_key="e1",
                       ts=datetime(2026, 1, 5, 12, tzinfo=UTC), person="alice@example.com", raw_model="gpt-5",
                       model="gpt-5", input_tokens=1, output_tokens=1, cost_nanos=1, requests=1)


def test_a_write_gives_up_on_a_locked_rollup_within_the_session_lock_timeout(pg_database_url):
    import psycopg

    engine = make_engine(pg_database_url, lock_timeout_s=1)
    upgrade(engine)
    try:
        with session_scope(engine) as session:  # after the write lock: the session's bound is back
            lock_usage_writes(session=session)
            assert session.connection().execute(text("SHOW lock_timeout")).scalar_one() == "1s"
        with psycopg.connect(pg_database_url) as holder:
            holder.execute("LOCK TABLE usage_daily IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            with pytest.raises(psycopg.errors.LockNotAvailable), session_scope(engine) as session:
                write_usage([_event()], session=session)
            assert time.monotonic() - started < 10
            holder.rollback()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one() == 0
    finally:
        engine.dispose()


def test_writers_still_queue_for_each_other_beyond_the_session_lock_timeout(pg_database_url):
    engine = make_engine(pg_database_url, lock_timeout_s=1)
    upgrade(engine)
    outcome: list = []

    def second_writer() -> None:
        try:
            with session_scope(engine) as session:
                write_usage([_event()], session=session)
            outcome.append("written")
        except Exception as exc:  # noqa: BLE001 - the outcome is the test's answer
            outcome.append(exc)

    try:
        with session_scope(engine) as first:
            lock_usage_writes(session=first)
            writer = threading.Thread(target=second_writer)
            writer.start()
            time.sleep(2.5)  # longer than the session's 1 s: the second writer waits on
        writer.join(30)
        assert outcome == ["written"]
    finally:
        engine.dispose()
