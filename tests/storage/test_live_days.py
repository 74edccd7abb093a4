"""Which days of a period still hold live Claude Code telemetry (storage.rollup_sql.live_days, the
note every report, dashboard and `/abacus me` carries), on SQLite and Postgres, read through the
partial index of live rows (migration 0013).

Rows (each one event; the feed decides whether it is live):
  2026-03-02 ann  claude_code  cc_otel_events    live
  2026-03-03 ann  claude_code  cc_analytics      the vendor's own figures: not live
  2026-03-04 bob  claude_code  cc_otel_metrics   live
  2026-03-05 bob  cursor       cursor_events     not Claude Code
  2026-03-06 cat  claude_code  cc_otel_events    live
By hand: live days 03-02, 03-04, 03-06; ann's 03-02 only; bob's 03-04 only; 03-03..03-05: 03-04.
"""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime

from sqlalchemy import text

from core.usage import LIVE_FEEDS, EventRecord
from storage.db import session_scope
from storage.dbapi import connect_current
from storage.rollup_sql import LIVE_ROWS, live_days
from storage.usage_repo import write_usage

ANN, BOB, CAT = "ann@example.com", "bob@example.com", "cat@example.com"


def _row(day: str, person: str, source: str, feed: str) -> tuple:
    ts = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) * 1000 + 3_600_000
    return (source, feed, f"{feed}-{day}-{person}", ts, day, person, None, "org", "m", "sonnet-4.5",
            1, 0, 0, 0, 1, 1_000, "vendor", 0, 1, None, None, None)


ROWS = [_row("2026-03-02", ANN, "claude_code", "cc_otel_events"),
        _row("2026-03-03", ANN, "claude_code", "cc_analytics"),
        _row("2026-03-04", BOB, "claude_code", "cc_otel_metrics"),
        _row("2026-03-05", BOB, "cursor", "cursor_events"),
        _row("2026-03-06", CAT, "claude_code", "cc_otel_events")]
assert all(EventRecord._make(r) for r in ROWS)


def _days(*isos: str) -> list[date]:
    return [date.fromisoformat(d) for d in isos]


def test_live_days_are_the_days_with_live_telemetry_for_the_period_and_people(engine):
    with session_scope(engine) as s:
        assert write_usage(ROWS, session=s).inserted == 5
    with session_scope(engine) as s:
        assert live_days(session=s, start=date(2026, 3, 1), end=date(2026, 3, 31)) == _days(
            "2026-03-02", "2026-03-04", "2026-03-06")
        assert live_days(session=s, start=date(2026, 3, 3), end=date(2026, 3, 5)) == _days("2026-03-04")
        assert live_days(session=s, start=date(2026, 3, 1), end=date(2026, 3, 31), persons=[ANN]) == _days(
            "2026-03-02")
        assert live_days(session=s, start=date(2026, 3, 1), end=date(2026, 3, 31), persons=[BOB, BOB]) == _days(
            "2026-03-04")
        assert live_days(session=s, start=date(2026, 3, 1), end=date(2026, 3, 31), persons=[]) == []
    # the bare-driver reads of `abacus report` give the same answer
    url = engine.url.render_as_string(hide_password=False)
    db = connect_current(url)
    assert db is not None
    try:
        assert live_days(session=db, start=date(2026, 3, 1), end=date(2026, 3, 31)) == _days(
            "2026-03-02", "2026-03-04", "2026-03-06")
    finally:
        db.close()


def test_the_query_states_the_partial_index_predicate_of_its_migration(engine):
    """A feed added to LIVE_FEEDS needs a migration that widens the index: until then this fails
    (the index would miss the new feed's rows)."""
    migration = importlib.import_module("storage.migrations.versions.0013_usage_event_live_day")
    assert LIVE_ROWS == migration.LIVE_WHERE
    assert all(f"'{f.value}'" in LIVE_ROWS for f in LIVE_FEEDS)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            plan = " ".join(str(r[-1]) for r in conn.execute(text(
                f"EXPLAIN QUERY PLAN SELECT DISTINCT day FROM usage_event INDEXED BY ix_usage_event_live_day "
                f"WHERE {LIVE_ROWS} AND day >= '2026-03-01' AND day <= '2026-03-31'")))
        assert "ix_usage_event_live_day" in plan
