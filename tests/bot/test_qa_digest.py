"""QA pass on the weekly digest: which incidents belong to the week."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from bot.services.digest import DigestService
from bot.services.reports import ReportService
from bot.services.settings import SettingsService
from storage.db import session_scope
from storage.tables import Incident


def _at(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def test_an_incident_belongs_to_the_week_of_its_day_not_of_its_bucket_end(engine):
    """A Claude Code day bucket's data time is the end of its day (next midnight): an incident about
    the week's last day is this week's, one about the day before the week is last week's."""
    week_end = date(2026, 3, 8)  # the week 2026-03-02 … 2026-03-08
    last_day, day_before = week_end, date(2026, 3, 1)
    with session_scope(engine) as s:
        for email, day in (("last@example.com", last_day), ("before@example.com", day_before)):
            s.add(Incident(dedup_key=email, kind="spend_spike", user_email=email, severity="warning",
                           status="detected", value=100.0, threshold=10.0, message=f"{email} spent $100",
                           data_at=_at(day + timedelta(days=1)), opened_at=_at(day + timedelta(days=1)),
                           first_day=day, last_seen_day=day))
    digest = DigestService(engine, ReportService(engine), SettingsService(engine)).build(
        week_end, now=_at(week_end + timedelta(days=1)) + timedelta(hours=9))
    assert [v.user for v in digest.incidents] == ["last@example.com"]
    assert digest.timings.incidents == 1
