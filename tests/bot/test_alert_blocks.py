"""Alert, summary, thread, Home and digest blocks: structure per state, and valid Block Kit within
Slack's limits (tests/fakes/blockkit.py runs slack_sdk's models as a backstop)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.blocks import alerts, home_sections
from bot.blocks.payloads import IncidentRef
from core.incidents import (
    AlertKind,
    AnomalyKind,
    IncidentStatus,
    IncidentTimes,
    Severity,
    Signal,
    incident_timings,
)
from core.periods import DateRange
from tests.bot.test_alert_delivery import view
from tests.fakes.blockkit import validate_message, validate_view

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def action_ids(blocks) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def all_text(blocks) -> str:
    out = []
    for b in blocks:
        for key in ("text",):
            if isinstance(b.get(key), dict):
                out.append(b[key]["text"])
        for f in b.get("fields") or []:
            out.append(f["text"])
        for e in b.get("elements") or []:
            if isinstance(e, dict) and "text" in e and isinstance(e["text"], str):
                out.append(e["text"])
    return "\n".join(out)


def valid(message: alerts.AlertMessage) -> None:
    assert validate_message({"text": message.text, "blocks": message.blocks}) == []


def test_an_open_alert_tells_the_story_and_offers_every_action():
    message = alerts.incident_message(view(7), now=NOW)
    valid(message)
    blocks = message.blocks
    assert blocks[0]["text"]["text"] == ":warning: Warning: Spend spike"
    assert blocks[1]["text"]["text"] == "*Alice spent $214 today, 4.2× her 7-day average of $51*"
    text = all_text(blocks)
    for field in ("*Person*\nAlice", "*Kind*\n`spend_spike`", "*Value*\n$214.00", "*7-day average*\n$51.00",
                  "*Tool*\nCursor", "*Model*\nopus-4.5 (81 %)", "*Incident*\n#7 · Open"):
        assert field in text, field
    assert "Data at 2026-03-02 00:00 UTC · detected 2026-03-02 08:55 UTC" in text
    assert action_ids(blocks) == ["incident_ack", "incident_resolve", "incident_snooze", "incident_details"]
    snooze = blocks[-1]["elements"][2]
    assert [o["text"]["text"] for o in snooze["options"]] == ["Snooze 1 hour", "Snooze 4 hours", "Snooze 1 day",
                                                                "Snooze 7 days"]
    assert IncidentRef.decode(snooze["options"][1]["value"]) == IncidentRef(7, "4h")
    assert blocks[-1]["block_id"] == "incident:7"
    assert message.text.startswith("WARNING #7: Alice spent $214")


def test_acknowledged_shows_who_and_when_and_drops_the_ack_button():
    v = view(7, status=IncidentStatus.ACKNOWLEDGED, alerted_at=NOW - timedelta(hours=2),
              acknowledged_at=NOW - timedelta(hours=1), acknowledged_by="slack:U0BOB (bob@example.com)")
    message = alerts.incident_message(v, now=NOW)
    valid(message)
    assert ":eyes: Acknowledged by <@U0BOB> at 2026-03-02 11:00 UTC" in all_text(message.blocks)
    assert action_ids(message.blocks) == ["incident_resolve", "incident_snooze", "incident_details"]
    # MTTD from the data time: 00:00 → alerted 10:00
    assert "(MTTD 10h)" in all_text(message.blocks)


def test_resolved_shows_who_and_the_mttr_and_only_details():
    v = view(7, status=IncidentStatus.RESOLVED, alerted_at=NOW - timedelta(hours=2),
             resolved_at=NOW, resolved_by="slack:U0BOB (bob@example.com)")
    message = alerts.incident_message(v, now=NOW)
    valid(message)
    assert message.blocks[0]["text"]["text"] == ":warning: Warning: Spend spike (resolved)"
    # data at 00:00, resolved at 12:00
    assert ":white_check_mark: Resolved by <@U0BOB> at 2026-03-02 12:00 UTC · MTTR 12h" in all_text(message.blocks)
    assert action_ids(message.blocks) == ["incident_details"]
    assert "[resolved]" in message.text


def test_snoozed_shows_until_when_and_expired_snoozes_disappear():
    v = view(7, status=IncidentStatus.ALERTED, snoozed_until=NOW + timedelta(hours=4), snoozed_by="slack:U0BOB")
    assert ":zzz: Snoozed until 2026-03-02 16:00 UTC by <@U0BOB>" in all_text(
        alerts.incident_message(v, now=NOW).blocks)
    assert "Snoozed" not in all_text(alerts.incident_message(v, now=NOW + timedelta(hours=5)).blocks)


def test_team_incidents_have_no_person_and_no_details_button():
    v = view(3, user="team")
    v = dataclasses.replace(v, subject="team", user=None, name=None, kind=AnomalyKind.FORECAST_BUDGET,
                            severity=Severity.CRITICAL)
    message = alerts.incident_message(v, now=NOW)
    valid(message)
    assert "*Person*\nthe team" in all_text(message.blocks)
    assert "incident_details" not in action_ids(message.blocks)
    assert message.blocks[0]["text"]["text"].startswith(":rotating_light: Critical")


def test_an_unmapped_key_has_acts_but_no_details_button():
    """A key nobody owns has no person's report: its Details button answered "not a person"."""
    v = dataclasses.replace(view(4, user="unmapped:ops-key"), subject="unmapped:ops-key", name=None)
    message = alerts.incident_message(v, now=NOW)
    valid(message)
    assert action_ids(message.blocks) == ["incident_ack", "incident_resolve", "incident_snooze"]


def test_hostile_names_and_messages_render_literally():
    v = view(9, user="x@example.com", name="<!channel> *bold*", message="<@U123> spent & <http://evil|click>")
    message = alerts.incident_message(v, now=NOW)
    valid(message)
    text = all_text(message.blocks)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "&lt;@U123&gt; spent &amp; &lt;http://evil|click&gt;" in text


def test_several_signals_are_listed_under_the_story():
    extra = Signal(kind=AnomalyKind.ZSCORE_SPEND, severity=Severity.WARNING, day=date(2026, 3, 1), value=214.0,
                   baseline=40.0, baseline_label="team mean", unit="usd",
                   message="3.1σ above the people active that day", data_at=NOW, ratio=3.1)
    v = view(7)
    v = dataclasses.replace(v, signals=(*v.signals, extra))
    message = alerts.incident_message(v, now=NOW)
    valid(message)
    assert "• 3.1σ above the people active that day" in message.blocks[1]["text"]["text"]
    assert "`spend_spike` +1" in all_text(message.blocks)


@pytest.mark.parametrize("count", [4, 7, 20])
def test_a_summary_lets_each_incident_be_acted_on_within_50_blocks(count):
    views = [view(i, user=f"p{i}@example.com", name=f"Person {i} " + "x" * 200,
                  message="A very long story " * 40) for i in range(1, count + 1)]
    message = alerts.summary_message(views, now=NOW)
    valid(message)
    assert len(message.blocks) <= 50
    assert message.blocks[0]["text"]["text"] == f":warning: {count} new incidents"
    block_ids = [b["block_id"] for b in message.blocks if b["type"] == "actions"]
    assert block_ids == [f"incident:{i}" for i in range(1, count + 1)]
    assert action_ids(message.blocks).count("incident_ack") == count


def test_summary_takes_at_most_42_per_message():
    """42 incidents with their own buttons fill Slack's 50 blocks (see test_qa_rendering for 21–42)."""
    views = [view(i) for i in range(1, 51)]
    message = alerts.summary_message(views, now=NOW)
    assert len([b for b in message.blocks if b["type"] == "actions"]) == 42 and len(message.blocks) <= 50


@pytest.mark.parametrize("kind,expected", [
    (AlertKind.ESCALATED, ":arrow_double_up: Escalated to *critical*: Alice spent $214"),
    (AlertKind.REALERT, ":alarm_clock: The snooze is over and this still holds: Alice spent $214"),
    (AlertKind.RESOLVED, ":white_check_mark: Resolved — the condition has cleared. MTTR 12h."),
    (AlertKind.SIGNAL_ADDED, ":heavy_plus_sign: Another signal: Alice spent $214"),
])
def test_thread_replies(kind, expected):
    v = view(7, severity=Severity.CRITICAL, resolved_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    message = alerts.thread_reply(v, kind, now=NOW)
    valid(message)
    assert message.blocks[0]["text"]["text"].startswith(expected)
    assert action_ids(message.blocks) == []  # the parent message carries the buttons
    standalone = alerts.standalone_update(v, kind, now=NOW)
    valid(standalone)


def test_home_sections_validate_as_a_home_view():
    from bot.services.home import ScheduleLine
    from storage.job_repo import JobRunView, RunStatus

    views = [view(i, user=f"p{i}@example.com") for i in range(1, 11)]
    blocks = home_sections.home_incidents(views, more=True, can_act=True, now=NOW)
    last = JobRunView("sync_and_detect", NOW, RunStatus.INTERRUPTED, NOW, None, None)
    blocks += home_sections.home_schedule([
        ScheduleLine("Sync → detect → alert", "5 * * * *", last, NOW + timedelta(hours=1)),
        ScheduleLine("Weekly digest", "0 9 * * 1", None, None)])
    assert validate_view({"type": "home", "blocks": blocks}) == []
    text = all_text(blocks)
    assert "*Open incidents* · 10+" in text
    assert "interrupted (the process stopped mid-run)" in text and "never ran" in text
    # viewers see them without buttons
    assert action_ids(home_sections.home_incidents(views, more=False, can_act=False, now=NOW)) == []


def test_the_digest_message():
    from bot.services.digest import Digest, Mover
    from bot.services.reports import ForecastView

    nanos = 1_000_000_000
    incidents = [view(1, status=IncidentStatus.RESOLVED, alerted_at=datetime(2026, 3, 2, 1, 0, tzinfo=UTC),
                      acknowledged_at=datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
                      resolved_at=datetime(2026, 3, 2, 6, 0, tzinfo=UTC)),
                 view(2, alerted_at=datetime(2026, 3, 2, 3, 0, tzinfo=UTC))]
    timings = incident_timings([IncidentTimes(v.status, v.data_at, v.alerted_at, v.acknowledged_at, v.resolved_at)
                                for v in incidents], 7)
    forecast = ForecastView(today=date(2026, 3, 2), month_start=date(2026, 3, 1), month_end=date(2026, 3, 31),
                            mtd_nanos=300 * nanos, mtd_by_source={}, run_rate_nanos=150 * nanos,
                            projected_nanos=4650 * nanos, budget_nanos=4000 * nanos, daily=[],
                            previous_month_nanos=0)
    digest = Digest(week=DateRange(date(2026, 2, 23), date(2026, 3, 1)),
                    by_tool={"claude_code": 600 * nanos, "cursor": 400 * nanos},
                    by_tool_previous={"claude_code": 500 * nanos, "cursor": 500 * nanos},
                    movers=[Mover("alice@example.com", "Alice", 300 * nanos, 100 * nanos)], incidents=incidents,
                    timings=timings, forecast=forecast, commits=40, pull_requests=8)
    message = alerts.digest_message(digest, now=NOW)
    valid(message)
    text = all_text(message.blocks)
    assert "*$1,000.00* spent this week ( vs $1,000.00" not in text
    assert "*$1,000.00* spent this week (+0 % vs $1,000.00 the week before)." in text
    assert "*Claude Code*\n$600.00 (:arrow_up_small: +20 %)" in text
    assert "*Cursor*\n$400.00 (:arrow_down_small: -20 %)" in text
    assert "• Alice: $300.00 (+$200.00 vs $100.00)" in text
    # MTTD: 1h and 3h → mean 2h, median 2h; MTTI: 2h (one acknowledged); MTTR: 6h
    assert "MTTD 2h mean · 2h median" in text and "MTTI 2h mean · 2h median" in text
    assert "MTTR 6h mean · 6h median" in text
    assert ":warning: over the budget of $4,000.00 (116 %)" in text  # 4650 / 4000
    assert "$125.00 per pull request (8)" in text and "$25.00 per commit (40)" in text


def test_a_new_signal_reply_quotes_the_kind_that_joined():
    """The spike (critical, the story) was there first; a z-score joins: the reply quotes the z-score."""
    joined = Signal(kind=AnomalyKind.ZSCORE_SPEND, severity=Severity.WARNING, day=date(2026, 3, 1), value=214.0,
                    baseline=40.0, baseline_label="team mean", unit="usd",
                    message="3.1σ above the people active that day", data_at=NOW, ratio=3.1)
    v = view(7, severity=Severity.CRITICAL)
    v = dataclasses.replace(v, signals=(*v.signals, joined))
    message = alerts.thread_reply(v, AlertKind.SIGNAL_ADDED, now=NOW, kinds=["zscore_spend"])
    valid(message)
    assert message.blocks[0]["text"]["text"].startswith(
        ":heavy_plus_sign: Another signal: 3.1σ above the people active that day")
