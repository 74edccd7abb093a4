"""Charts and text say the same thing, with one definition each (SQLite and Postgres):
adoption is measured against the people who hold a seat, a ranking counts people and unmapped
keys apart, every chart names its period in the one date style the messages use, and the
forecast on the last day of a month still projects the rest of that day.

Fixture, by hand: in the week 2026-01-25..2026-01-31, ann (Cursor seat) spends $3 on 01-30,
ben (Claude Code seat) $2 on 01-30, cal (both seats) nothing, dan (no seat) $1 on 01-31, and the
key `ops-key` nobody owns $4 on 01-31. Seats: 2 Cursor, 2 Claude Code, 3 people hold one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.blocks import reports as blocks
from bot.services import charting
from bot.services.reports import ReportService
from core.periods import DateRange
from core.usage import Feed, Source, UsageRecord, usd_to_nanos
from storage.db import session_scope
from storage.people_repo import upsert_person
from storage.usage_repo import write_usage
from tests.bot.driver import mrkdwn_texts

WEEK = DateRange(date(2026, 1, 25), date(2026, 1, 31))
WEEK_TEXT = "2026-01-25 → 2026-01-31 (7 days)"


def _rec(person: str, day: int, usd: str, key: str) -> UsageRecord:
    return UsageRecord(source=Source.CURSOR, feed=Feed.CURSOR_EVENTS, natural_key=key,
                       ts=datetime(2026, 1, day, 12, tzinfo=UTC), person=person, raw_model="gpt-5", model="gpt-5",
                       input_tokens=100, cost_nanos=usd_to_nanos(usd), requests=1)


@pytest.fixture
def service(engine):
    with session_scope(engine) as s:
        upsert_person(session=s, email="ann@example.com", has_cursor_seat=True)
        upsert_person(session=s, email="ben@example.com", has_claude_seat=True)
        upsert_person(session=s, email="cal@example.com", has_cursor_seat=True, has_claude_seat=True)
        upsert_person(session=s, email="dan@example.com")
        write_usage([_rec("ann@example.com", 30, "3", "a"), _rec("ben@example.com", 30, "2", "b"),
                     _rec("dan@example.com", 31, "1", "d"), _rec("unmapped:ops-key", 31, "4", "k")], session=s)
    return ReportService(engine)


def _text(blocks_) -> str:
    return "\n".join(mrkdwn_texts(blocks_))


def test_adoption_chart_and_text_measure_against_the_same_seat_holders(service):
    view = service.adoption(WEEK)
    text = _text(blocks.adoption(view))
    assert "2 of 3 seat holders" in text  # ann and ben active; cal holds seats, unused
    [chart] = charting.adoption(view)
    assert "3 people with a seat" in chart.alt_text  # was: "2 seats" (the larger of the two tools' counts)
    assert "peak 2 on 2026-01-30" in chart.alt_text  # ann and ben on 01-30; dan alone on 01-31


@pytest.fixture
def drawn(monkeypatch) -> list[tuple[str, str | None]]:
    """(title, subtitle) of every chart drawn: the real `header` is called, and watched."""
    import importlib

    from charts.canvas import header

    seen: list[tuple[str, str | None]] = []

    def watched(fig, title, subtitle):
        seen.append((title, subtitle))
        header(fig, title, subtitle)

    for name in ("charts.adoption", "charts.rankings", "charts.spend"):  # `charts.adoption` is also a function
        monkeypatch.setattr(importlib.import_module(name), "header", watched)
    return seen


def test_a_ranking_counts_people_and_unmapped_keys_apart(service, drawn):
    view = service.top(WEEK, 10, None)
    assert len(view.rows) == 4
    text = _text(blocks.top(view))
    assert "Top 4 of 3 people and 1 unmapped key with usage, $10.00 in total" in text  # 3 + 2 + 1 + 4
    charting.top(view, {})
    assert drawn[-1][1].startswith(f"{WEEK_TEXT} · top 4 of 3 people and 1 unmapped key")  # was: "top 4 of 4"


def test_every_chart_names_its_period_in_the_messages_date_style(service, drawn):
    assert WEEK_TEXT in _text(blocks.dashboard(service.dashboard(WEEK)))
    charting.dashboard(service.dashboard(WEEK))
    charting.models(service.models(WEEK))  # was: no period at all
    charting.adoption(service.adoption(WEEK))
    charting.user(service.user("ann@example.com", WEEK))
    assert len(drawn) >= 4
    for title, subtitle in drawn:
        assert subtitle and subtitle.startswith(WEEK_TEXT), (title, subtitle)  # was: "Jan 25 – Jan 31, 2026"


def test_the_forecast_on_the_last_day_of_a_month_projects_the_rest_of_it(service, drawn):
    """At 06:00 on 2026-01-31, a quarter of the day has passed: 30.25 of 31 days. Spend so far:
    $10.00, so the month projects to 10 / 30.25 * 31 = $10.25 (rounded to the cent)."""
    view = service.forecast(None, today=date(2026, 1, 31), now=datetime(2026, 1, 31, 6, tzinfo=UTC))
    text = _text(blocks.forecast(view))
    assert "$10.00 (30.2 of 31 days)" in text or "$10.00 (30.3 of 31 days)" in text
    assert "Projected month*\n$10.25" in text
    [chart] = charting.forecast(view)
    assert "Projected $10.25 by 2026-01-31" in chart.alt_text  # was: no projection drawn on the last day


def test_early_in_the_cycle_the_forecast_the_chart_and_the_digest_say_it_is_too_early(engine):
    """$5 spent on 2026-02-01; at 06:00 on 02-02, 1.25 of February's 28 days have passed. Detection
    does not project before `detection.forecast_min_days` (3 by default): neither do the forecast, its
    chart and the digest (it was 5 / 1.25 × 28 = $112 projected, flagged over a $100 budget). With
    the setting at 1 day, the same data project $112.00."""
    from bot.blocks import alerts
    from bot.services.digest import DigestService
    from bot.services.settings import SettingsService
    from storage.settings_repo import set_setting

    with session_scope(engine) as s:
        write_usage([UsageRecord(source=Source.CURSOR, feed=Feed.CURSOR_EVENTS, natural_key="f1",
                                 ts=datetime(2026, 2, 1, 12, tzinfo=UTC), person="ann@example.com", raw_model="gpt-5",
                                 model="gpt-5", input_tokens=100, cost_nanos=usd_to_nanos("5"), requests=1)], session=s)
        set_setting(session=s, key="monthly_budget_usd", value=100.0, by="test")
    now = datetime(2026, 2, 2, 6, tzinfo=UTC)
    service = ReportService(engine)
    view = service.forecast(100.0, now=now)
    assert not view.settled and view.projected_nanos == usd_to_nanos("112")  # the figure, kept, not shown
    early = "too early to project: 1.2 of 28 days of the cycle, a projection needs 3"
    text = _text(blocks.forecast(view))
    assert early.capitalize() in text and "$112" not in text and "headroom" not in text
    assert "$100.00 · 5% used" in text
    assert blocks.forecast_text(view) == f"Forecast February 2026: $5.00 so far, {early}"
    [chart] = charting.forecast(view)
    assert early.capitalize() in chart.alt_text and "Projected" not in chart.alt_text
    digest = DigestService(engine, service, SettingsService(engine)).build(date(2026, 2, 1), now=now)
    line = next(t for t in mrkdwn_texts(alerts.digest_message(digest, now=now).blocks) if t.startswith("*Forecast*"))
    assert line == (f"*Forecast* for the cycle 2026-02-01 → 2026-02-28: $5.00 so far; {early} "
                    "($100.00 budget, 5 % used)")
    settled = service.forecast(100.0, now=now, min_days=1)
    assert settled.settled and "Projected month*\n$112.00" in _text(blocks.forecast(settled))
    [chart] = charting.forecast(settled)
    assert "Projected $112.00 by 2026-02-28" in chart.alt_text


def test_the_top_charts_alt_text_counts_people_and_unmapped_keys_as_the_message_does(service):
    """The alt text said "4 people spent $10.00" beside a message saying "3 people and 1 unmapped
    key": the key `ops-key` is not a person."""
    [chart] = charting.top(service.top(WEEK, 10, None), {})
    assert "Top 10 by spend: 3 people and 1 unmapped key spent $10.00 in total." in chart.alt_text


def test_a_persons_team_rank_is_among_people_as_the_team_size_is(service):
    """ann spent $3, the most of any person; the unowned key `ops-key` spent $4. `me` said "#2 of 3":
    ranked behind the key, counted among the 3 people."""
    view = service.user("ann@example.com", WEEK)
    assert (view.team_rank, view.team_size) == (1, 3)
    assert "#1 of 3" in _text(blocks.user(view))
    assert (service.user("dan@example.com", WEEK).team_rank, service.user("dan@example.com", WEEK).team_size) == (3, 3)


def test_a_billing_cycle_that_is_not_a_calendar_month_is_called_a_cycle(service):
    """With the cycle starting on the 15th, the forecast of 2026-01-31 is of 2026-01-15 → 2026-02-14:
    it said "Forecast · January 2026", "Month to date" and "Last month" over the cycle's figures.
    $10.00 spent in 17 of the cycle's 31 days → $18.24 projected (10 / 17 × 31)."""
    view = service.forecast(None, today=date(2026, 1, 31), cycle_start_day=15)
    assert (view.month_start, view.month_end) == (date(2026, 1, 15), date(2026, 2, 14))
    text = _text(blocks.forecast(view))
    assert "Forecast · 2026-01-15 → 2026-02-14" in text
    assert "Cycle to date*\n$10.00 (17.0 of 31 days)" in text and "Projected cycle*\n$18.24" in text
    assert "Previous cycle" in text and "month" not in text.lower()
    assert blocks.forecast_text(view) == "Forecast 2026-01-15 → 2026-02-14: $10.00 so far, $18.24 projected"
    [chart] = charting.forecast(view)
    assert chart.title == "Spend forecast · 2026-01-15 → 2026-02-14"


def test_just_before_forecast_min_days_the_days_shown_are_not_rounded_up_to_it(engine):
    """At 23:30 on 2026-02-03, 2 + 23.5/24 = 2.979 days of February have passed: still too early for
    a projection that needs 3. It read "too early to project: 3.0 of 28 days of the cycle, a
    projection needs 3" (and "Month to date … (3.0 of 28 days)"): the days are shown cut, not rounded."""
    from bot.blocks import alerts
    from bot.services.digest import DigestService
    from bot.services.settings import SettingsService

    with session_scope(engine) as s:
        write_usage([UsageRecord(source=Source.CURSOR, feed=Feed.CURSOR_EVENTS, natural_key="f1",
                                 ts=datetime(2026, 2, 1, 12, tzinfo=UTC), person="ann@example.com", raw_model="gpt-5",
                                 model="gpt-5", input_tokens=100, cost_nanos=usd_to_nanos("5"), requests=1)], session=s)
    now = datetime(2026, 2, 3, 23, 30, tzinfo=UTC)
    service = ReportService(engine)
    view = service.forecast(None, now=now, min_days=3)
    assert not view.settled
    early = "too early to project: 2.9 of 28 days of the cycle, a projection needs 3"
    text = _text(blocks.forecast(view))
    assert early.capitalize() in text and "$5.00 (2.9 of 28 days)" in text and "3.0 of" not in text
    assert "the 25.1 days left" in text  # 2.9 + 25.1 = 28
    assert blocks.forecast_text(view) == f"Forecast February 2026: $5.00 so far, {early}"
    [chart] = charting.forecast(view)
    assert early.capitalize() in chart.alt_text
    digest = DigestService(engine, service, SettingsService(engine)).build(date(2026, 2, 1), now=now)
    assert any(early in t for t in mrkdwn_texts(alerts.digest_message(digest, now=now).blocks))
    settled = service.forecast(None, now=datetime(2026, 2, 4, tzinfo=UTC), min_days=3)
    assert settled.settled and "$5.00 (3.0 of 28 days)" in _text(blocks.forecast(settled))
