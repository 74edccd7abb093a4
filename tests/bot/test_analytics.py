"""The bot's read queries and services on SQLite and Postgres, against the hand-written seed."""

from __future__ import annotations

import calendar
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.services.grammar import SortField
from bot.services.reports import ReportService
from core.periods import DateRange
from core.usage import usd_to_nanos
from storage import analytics_repo as repo
from storage import incident_repo
from storage.db import session_scope
from storage.job_lock import try_job_lock

from . import seed

TODAY = datetime.now(UTC).date()
LAST_7 = DateRange(TODAY - timedelta(days=6), TODAY)
USD = usd_to_nanos


@pytest.fixture
def seeded(engine):
    seed.seed(engine, TODAY)
    return engine


def test_period_summary_by_hand(seeded):
    with session_scope(seeded) as s:
        cur = repo.period_summary(session=s, period=LAST_7)
        prev = repo.period_summary(session=s, period=LAST_7.previous())
    assert cur.cost_nanos == USD("41.50")
    assert cur.by_source["claude_code"].cost_nanos == USD("15.50")  # alice 10 + carol 2.50 + ci key 3
    assert cur.by_source["cursor"].cost_nanos == USD("26.00")  # alice 5 + bob 20 + eve 1
    assert cur.active_people == seed.EXPECTED_7D_PEOPLE
    assert cur.total_tokens == 1_500 + 500 + 3_000 + 150 + 20 + 400
    assert prev.cost_nanos == USD("12.00") and prev.active_people == 2


def test_people_usage_and_top_models(seeded):
    with session_scope(seeded) as s:
        people = repo.people_usage(session=s, period=LAST_7)
        models = repo.top_model_by_person(session=s, period=LAST_7, people=["alice@example.com", "bob@example.com"])
        before = repo.cost_by_person(session=s, period=LAST_7.previous(), people=["alice@example.com"])
        cursor_only = repo.people_usage(session=s, period=LAST_7, source="cursor")
    assert [p.person for p in people] == ["bob@example.com", "alice@example.com", "unmapped:ci-bot-key",
                                          "carol@example.com", "eve@example.com"]
    alice = people[1]
    assert (alice.cost_nanos, alice.claude_code_nanos, alice.cursor_nanos, alice.active_days) == (
        USD("15"), USD("10"), USD("5"), 2)
    assert alice.last_day == TODAY - timedelta(days=1)
    assert models == {"alice@example.com": "sonnet-4.5", "bob@example.com": "claude-4.5-sonnet"}
    assert before == {"alice@example.com": USD("8")}
    assert [p.person for p in cursor_only] == ["bob@example.com", "alice@example.com", "eve@example.com"]


def test_models_groups_seats_dau(seeded):
    with session_scope(seeded) as s:
        models = repo.models_usage(session=s, period=LAST_7)
        groups = repo.groups_usage(session=s, period=LAST_7)
        seats = repo.seats(session=s)
        dau = repo.daily_active_people(session=s, period=LAST_7)
    assert [(m.model, m.cost_nanos, m.people) for m in models] == [
        ("claude-4.5-sonnet", USD("20"), 1), ("sonnet-4.5", USD("13"), 1), ("gpt-5", USD("6"), 2),
        ("opus-4.5", USD("2.50"), 1)]
    by_name = {g.name: g for g in groups}
    assert by_name["Platform"].cost_nanos == USD("35") and by_name["Platform"].members == 2
    assert by_name["Data"].cost_nanos == USD("2.50") and by_name["Data"].budget_nanos == USD("50")
    assert by_name["(no group)"].cost_nanos == USD("4.00")  # eve 1 + ci key 3
    dave = next(x for x in seats if x.email == "dave@example.com")
    assert dave.cursor_seat and dave.last_day is None
    overall = {d.day: d.people for d in dau if d.source is None}
    assert overall[TODAY - timedelta(days=1)] == 2  # alice, bob (keys are not people)
    assert overall[TODAY - timedelta(days=2)] == 1  # alice; the ci key is not a person


def test_incidents_productivity_sync(seeded):
    with session_scope(seeded) as s:
        open_rows = incident_repo.open_incidents(session=s)
        bob_open = incident_repo.open_incidents(session=s, person="bob@example.com")
        prod = repo.productivity(session=s, period=LAST_7, person="alice@example.com")
        runs = repo.sync_status(session=s)
        person = repo.find_person(session=s, slack_user_id=seed.CAROL)
    assert [i.kind.value for i in open_rows] == ["spend_spike"] and len(bob_open) == 1
    assert (prod.rows, prod.accepted_lines_added, prod.commits, prod.accept_rate) == (1, 100, 3, 0.5)
    assert [(r.source, r.status, r.inserted) for r in runs] == [("cursor", "ok", 42)]
    assert person.email == "carol@example.com" and person.role == "viewer" and person.group == "Data"


def test_report_service(seeded):
    service = ReportService(seeded)
    top = service.top(LAST_7, 3, None)
    assert [(r.person, r.cost_nanos, round(r.share, 3)) for r in top.rows] == [
        ("bob@example.com", USD("20"), 0.482), ("alice@example.com", USD("15"), 0.361),
        ("unmapped:ci-bot-key", USD("3"), 0.072)]
    assert top.rows[0].previous_nanos == USD("4")
    users = service.users(DateRange(TODAY - timedelta(days=29), TODAY), period_text="30d", sort=SortField.NAME,
                          descending=False, query="", offset=15)
    assert users.matched == seed.EXPECTED_30D_ROWS and users.offset == 15 and len(users.rows) == 11
    filtered = service.users(LAST_7, period_text="7d", sort=SortField.SPEND, descending=True, query="ALICE@",
                             offset=0)
    assert [r.person for r in filtered.rows] == ["alice@example.com"]
    adoption = service.adoption(LAST_7)
    assert [s.email for s in adoption.never_used] == ["dave@example.com"]
    assert adoption.active_people == 4 and adoption.cursor_seats == 4
    incidents = service.incidents()
    week, month, quarter = incidents.timings
    assert (week.window_days, month.window_days, quarter.window_days) == (7, 30, 90)
    assert incidents.open_count == 1 and month.incidents == 2
    assert round(month.mttd.mean_seconds) == 2700  # (60 min + 30 min) / 2
    assert round(month.mttd.median_seconds) == 2700
    assert round(month.mtti.mean_seconds) == 1800  # carol: acknowledged 30 min after the alert
    assert round(month.mttr.mean_seconds) == 5 * 3600


def test_forecast_by_hand(seeded):
    service = ReportService(seeded)
    today = TODAY
    noon = datetime(today.year, today.month, today.day, 12, tzinfo=UTC)
    view = service.forecast(100.0, today=today, now=noon)
    month_start = today.replace(day=1)
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    mtd = sum(USD(r.usd) for r in seed.ROWS if today - timedelta(days=r.days_ago) >= month_start)
    elapsed = (today - month_start).days + 0.5  # today at noon counts as half a day
    assert view.mtd_nanos == mtd
    assert view.run_rate_nanos == round(mtd / elapsed)
    assert view.projected_nanos == max(mtd, round(mtd / elapsed * days_in_month))
    assert (view.month_start, view.month_end.day) == (month_start, days_in_month)
    assert view.budget_nanos == USD("100")


def test_forecast_fixed_day(engine):
    seed.seed(engine, date(2026, 1, 20))
    view = ReportService(engine).forecast(None, today=date(2026, 1, 20))
    # Jan 1…20: every seed row (days_ago ≤ 20 → Dec 31 for the extras is outside): 41.50 + 8 + 4 + 0.40
    assert view.mtd_nanos == USD("53.90")
    # seen afterwards, Jan 20 is a complete day: 20 days elapsed → $2.695 a day → 31 days: $83.545
    assert view.run_rate_nanos == USD("2.695")
    assert view.projected_nanos == USD("83.545")
    assert view.budget_nanos is None
    # at 06:00 on the day itself only a quarter of Jan 20 is over: 19.25 days → 53.90 / 19.25 × 31
    early = ReportService(engine).forecast(None, today=date(2026, 1, 20), now=datetime(2026, 1, 20, 6, tzinfo=UTC))
    assert early.projected_nanos == round(USD("53.90") * 31 / 19.25)
    # the last day of the month still projects (the old run-rate forecast projected nothing there)
    last = ReportService(engine).forecast(None, today=date(2026, 1, 31), now=datetime(2026, 1, 31, 12, tzinfo=UTC))
    assert last.projected_nanos == round(last.mtd_nanos * 31 / 30.5)


def test_job_lock_is_exclusive(engine):
    with try_job_lock(engine, "test") as first:
        assert first
        with try_job_lock(engine, "test") as second:
            assert not second
    with try_job_lock(engine, "test") as again:
        assert again


def test_users_filter_by_a_whole_email_is_that_person_only(seeded):
    """`/abacus users @alice` filters by alice@example.com: malice@example.com (an address ending
    with it) is someone else. Was: a substring match, 2 rows for one person."""
    from core.usage import natural_key
    from storage.usage_repo import write_usage

    extra = [r for r in seed.records(TODAY) if r.person == "alice@example.com"][:1]
    with session_scope(seeded) as s:
        write_usage([replace(extra[0], person="malice@example.com", natural_key=natural_key("qa-malice", 0))],
                    session=s)
    service = ReportService(seeded)
    for query in ("alice@example.com", "ALICE@example.com ", "<mailto:alice@example.com|alice@example.com>"):
        view = service.users(LAST_7, period_text="7d", sort=SortField.SPEND, descending=True, query=query, offset=0)
        assert [r.person for r in view.rows] == ["alice@example.com"], query
    part = service.users(LAST_7, period_text="7d", sort=SortField.NAME, descending=False, query="lice@", offset=0)
    assert sorted(r.person for r in part.rows) == ["alice@example.com", "malice@example.com"]  # text stays text
