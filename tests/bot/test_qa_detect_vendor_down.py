"""QA pass on detection while a vendor is down: days the sync could not fetch are not evidence
that a condition cleared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.detect_service import run_scheduled
from storage import incident_repo
from storage.db import session_scope
from storage.tables import SyncRun
from tests.bot.test_detect_faults import D0, PEOPLE, rec, steady

SPIKE = D0 + timedelta(days=10)


def _at(day, hour) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _sync_runs(engine, runs) -> None:
    with session_scope(engine) as s:
        for started, status in runs:
            s.add(SyncRun(source="cursor", org="team", stream="sync", started_at=started,
                          finished_at=started + timedelta(minutes=1), status=status, trigger="schedule"))


def _status(engine, number: int) -> tuple[str, str | None]:
    with session_scope(engine) as s:
        view = incident_repo.get_incident(session=s, incident_id=number)
    return view.status.value, view.resolved_by


def test_an_incident_is_not_resolved_by_days_the_vendor_sync_failed_to_fetch(engine):
    steady(engine, days=10, extra=[rec(PEOPLE[0], SPIKE, "300.00", n=1)])
    # the last good sync just before midnight of the spike day; every sync after it fails (vendor down)
    _sync_runs(engine, [(_at(SPIKE, 23), "ok")])
    [opened] = run_scheduled(engine, now=_at(SPIKE, 23) + timedelta(minutes=30))[1].opened
    for day in range(1, 5):
        now = _at(SPIKE + timedelta(days=day), 12)
        _sync_runs(engine, [(now - timedelta(minutes=5), "failed")])
        run_scheduled(engine, now=now)
    # four days without data, none of them fetched: the spike's incident is still open
    assert _status(engine, opened)[0] != "resolved"

    # the vendor is back: a good sync covers the quiet days, and the cool-down counts them
    for day in range(5, 8):
        now = _at(SPIKE + timedelta(days=day), 12)
        _sync_runs(engine, [(now - timedelta(minutes=5), "ok")])
        run_scheduled(engine, now=now)
    assert _status(engine, opened) == ("resolved", "cool-down")


def test_without_any_sync_run_the_stored_data_is_taken_as_complete(engine):
    """Imports only (no vendor sync configured): the cool-down works as before."""
    steady(engine, days=10, extra=[rec(PEOPLE[0], SPIKE, "300.00", n=1)])
    [opened] = run_scheduled(engine, now=_at(SPIKE, 23))[1].opened
    for day in range(1, 4):
        run_scheduled(engine, now=_at(SPIKE + timedelta(days=day), 12))
    assert _status(engine, opened) == ("resolved", "cool-down")


def test_a_key_that_never_worked_does_not_hold_the_cool_down_back(engine):
    """A second organisation whose key is wrong fails every sync; it has no data to be behind on."""
    steady(engine, days=10, extra=[rec(PEOPLE[0], SPIKE, "300.00", n=1)])
    [opened] = run_scheduled(engine, now=_at(SPIKE, 23))[1].opened
    for day in range(1, 4):
        now = _at(SPIKE + timedelta(days=day), 12)
        with session_scope(engine) as s:
            s.add(SyncRun(source="cursor", org="good", stream="sync", started_at=now - timedelta(minutes=5),
                          finished_at=now - timedelta(minutes=4), status="ok", trigger="schedule"))
            s.add(SyncRun(source="anthropic", org="broken", stream="sync", started_at=now - timedelta(minutes=5),
                          finished_at=now - timedelta(minutes=4), status="failed", trigger="schedule"))
        run_scheduled(engine, now=now)
    assert _status(engine, opened) == ("resolved", "cool-down")
