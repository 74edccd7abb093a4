"""The bot's read queries and services on SQLite and Postgres, against the hand-written seed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.services.grammar import SortField
from bot.services.reports import ReportService
from core.periods import DateRange
from core.usage import usd_to_nanos
from storage import analytics_repo as repo
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
        open_rows = repo.open_incidents(session=s)
        bob_open = repo.open_incidents(session=s, person="bob@example.com")
        prod = repo.productivity(session=s, period=LAST_7, person="alice@example.com")
        runs = repo.sync_status(session=s)
        person = repo.find_person(session=s, slack_user_id=seed.CAROL)
    assert [i.kind for i in open_rows] == ["spend_spike"] and len(bob_open) == 1
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
    assert incidents.open_count == 1 and incidents.timings.count == 2
    assert round(incidents.timings.mttd_seconds) == 2700  # (60 min + 30 min) / 2
    assert round(incidents.timings.mttr_seconds) == 5 * 3600


def test_forecast_by_hand(seeded):
    service = ReportService(seeded)
    today = TODAY
    view = service.forecast(100.0, today=today)
    month_start = today.replace(day=1)
    mtd = sum(USD(r.usd) for r in seed.ROWS if today - timedelta(days=r.days_ago) >= month_start)
    window = [today - timedelta(days=d) for d in range(1, 8)]
    rate = sum(USD(r.usd) for r in seed.ROWS if today - timedelta(days=r.days_ago) in window) // 7
    assert view.mtd_nanos == mtd
    assert view.run_rate_nanos == rate
    assert view.projected_nanos == mtd + rate * (view.month_end - today).days
    assert view.budget_nanos == USD("100")


def test_forecast_fixed_day(engine):
    seed.seed(engine, date(2026, 1, 20))
    view = ReportService(engine).forecast(None, today=date(2026, 1, 20))
    # Jan 1…20: every seed row (days_ago ≤ 20 → Dec 31 for the extras is outside): 41.50 + 8 + 4 + 0.40
    assert view.mtd_nanos == USD("53.90")
    # last 7 complete days (Jan 13…19 = 1…7 days ago): alice 10 + 5, bob 20, carol 2.50, eve 1, ci key 3
    assert view.run_rate_nanos == USD("41.50") // 7
    assert view.projected_nanos == USD("53.90") + (USD("41.50") // 7) * 11
    assert view.budget_nanos is None


def test_job_lock_is_exclusive(engine):
    with try_job_lock(engine, "test") as first:
        assert first
        with try_job_lock(engine, "test") as second:
            assert not second
    with try_job_lock(engine, "test") as again:
        assert again
