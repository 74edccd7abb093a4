"""The incident lifecycle and the noise budget: 60 days of synthetic data replayed day by day
through the real layers and the real planner (core only, no database)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from core.detection.config import DetectionSettings, cycle_containing
from core.detection.engine import MemoryBook, plan_day
from core.detection.explain import to_signal
from core.detection.layers import DayContext, UsageMatrix, detect_day
from core.incidents import (
    AlertKind,
    IllegalTransition,
    IncidentStatus,
    Via,
    parse_snooze,
    transition,
)

B = 1_000_000_000
START = date(2026, 1, 1)
DAYS = 60
PEOPLE = [f"p{i:02d}@x.io" for i in range(20)]


def steady_team() -> tuple[np.ndarray, np.ndarray]:
    """20 people, $5…$30.27 a day each, ±10 % over the days, 40…78 requests: nothing unusual."""
    cost = np.zeros((len(PEOPLE), DAYS), dtype=np.int64)
    req = np.zeros((len(PEOPLE), DAYS), dtype=np.int64)
    for i in range(len(PEOPLE)):
        for d in range(DAYS):
            cost[i, d] = round((5 + 1.33 * i) * (1 + 0.1 * math.sin(d + i)) * B)
            req[i, d] = 40 + 2 * i
    return cost, req


DEFAULTS = DetectionSettings()


def replay(cost, req, settings=DEFAULTS, snoozes=None):
    """Detection at five past midnight after each day; returns (book, alerts by kind, log)."""
    m = UsageMatrix(PEOPLE, START, cost, req, np.zeros_like(cost))
    book = MemoryBook()
    kinds: dict[AlertKind, int] = {}
    log = []
    applied: set[str] = set()
    for d in range(7, DAYS):
        day = START + timedelta(days=d)
        now = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, minutes=5)
        for subject, (at, until) in (snoozes or {}).items():  # a person snoozes the open incident
            if at <= now and subject in book.open and subject not in applied:
                book.open[subject].snoozed_until, book.open[subject].snoozed_by = until, "U0ADMIN"
                applied.add(subject)
        ctx = DayContext.build(m, day, cycle_containing(day, 1), now)
        findings = detect_day(m, ctx, settings)
        signals = [(f.subject, to_signal(f, names={}, today=day, driver=None, data_at=now - timedelta(minutes=5)))
                   for f in findings]
        plan = plan_day(list(book.open.values()), signals, day=day, now=now, cooldown_days=settings.cooldown_days,
                        alert=True, closed_today=book.closed_signals.get(day, set()))
        book.apply(plan)
        for a in plan.alerts:
            kinds[a.kind] = kinds.get(a.kind, 0) + 1
            log.append((day, a.incident.subject, a.kind))
    return book, kinds, log


def test_a_steady_team_raises_nothing():
    book, kinds, _ = replay(*steady_team())
    assert (book.incidents_opened, book.alerts_sent, kinds) == (0, 0, {})


def test_a_planted_spike_is_one_incident_and_one_alert_however_many_layers_see_it():
    cost, req = steady_team()
    cost[0, 40] = 400 * B  # p00 normally ~$5: 80× — spike (critical) and z-score at once
    book, kinds, log = replay(cost, req)
    assert book.incidents_opened == 1 and book.alerts_sent == 1
    incident = book.closed[0]
    assert {k.value for k in incident.signals} == {"spend_spike", "zscore_spend"}
    assert [x for x in log if x[2] is not AlertKind.RESOLVED] == [(START + timedelta(days=40), "p00@x.io",
                                                                   AlertKind.OPENED)]
    # resolved by the cool-down after two clean detection days, and only then
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.resolved_at.date() == START + timedelta(days=43)  # day 42 run happens on day 43 00:05


def test_a_metric_flapping_around_its_threshold_is_one_incident():
    cost, req = steady_team()
    for d in range(10, 50):
        req[1, d] = 105 if d % 2 else 95  # over, under, over… the 100/day limit
    book, kinds, _ = replay(cost, req, DetectionSettings(max_requests_per_day=100))
    assert (book.incidents_opened, book.alerts_sent, kinds) == (1, 1, {AlertKind.OPENED: 1, AlertKind.RESOLVED: 1})


def test_an_escalation_is_exactly_one_more_alert():
    cost, req = steady_team()
    cost[2, 30] = 60 * B  # ~8× p02's ~$7.66 a day: a warning spike
    cost[2, 31] = 400 * B  # ~40× the mean of the last 7 days with data: critical
    book, kinds, log = replay(cost, req)
    assert book.incidents_opened == 1
    assert kinds[AlertKind.OPENED] == 1 and kinds[AlertKind.ESCALATED] == 1 and book.alerts_sent == 2
    assert AlertKind.SIGNAL_ADDED not in kinds  # the escalation alert names the new signal; no second reply


def test_a_snoozed_incident_sends_nothing_until_expiry_then_once():
    cost, req = steady_team()
    for d in range(30, 41):
        req[3, d] = 150  # over the 100 limit for 11 days
    snooze_at = datetime(2026, 2, 1, 12, tzinfo=UTC)  # day 31 noon
    until = snooze_at + parse_snooze("1d")
    book, kinds, log = replay(cost, req, DetectionSettings(max_requests_per_day=100),
                              snoozes={"p03@x.io": (snooze_at, until)})
    realerts = [x for x in log if x[2] is AlertKind.REALERT]
    assert book.incidents_opened == 1 and kinds[AlertKind.OPENED] == 1
    assert realerts == [(START + timedelta(days=32), "p03@x.io", AlertKind.REALERT)]  # run on Feb 3 00:05
    assert book.alerts_sent == 2


def test_escalation_while_snoozed_sends_nothing_then_the_realert_shows_it():
    cost, req = steady_team()
    for d in range(30, 41):
        req[3, d] = 150
    req[3, 31] = 500  # critical (> 2×) while snoozed
    snooze_at = datetime(2026, 1, 31, 12, tzinfo=UTC)
    book, kinds, log = replay(cost, req, DetectionSettings(max_requests_per_day=100),
                              snoozes={"p03@x.io": (snooze_at, snooze_at + parse_snooze("4h") * 12)})
    assert AlertKind.ESCALATED not in kinds and kinds[AlertKind.REALERT] == 1


# --- the state machine -----------------------------------------------------------------------------

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("start,to", [
    (IncidentStatus.DETECTED, IncidentStatus.ALERTED), (IncidentStatus.DETECTED, IncidentStatus.ACKNOWLEDGED),
    (IncidentStatus.DETECTED, IncidentStatus.RESOLVED), (IncidentStatus.ALERTED, IncidentStatus.ACKNOWLEDGED),
    (IncidentStatus.ALERTED, IncidentStatus.RESOLVED), (IncidentStatus.ACKNOWLEDGED, IncidentStatus.RESOLVED)])
def test_allowed_moves(start, to):
    t = transition(start, to, incident_id=7, actor="U1", via=Via.SLACK, at=NOW)
    assert (t.from_status, t.to_status, t.actor, t.via, t.at) == (start, to, "U1", Via.SLACK, NOW)


@pytest.mark.parametrize("status", list(IncidentStatus))
def test_a_repeat_is_a_no_op(status):
    assert transition(status, status, incident_id=7, actor="U1", via=Via.SLACK, at=NOW) is None


@pytest.mark.parametrize("start,to", [
    (IncidentStatus.RESOLVED, IncidentStatus.ACKNOWLEDGED), (IncidentStatus.RESOLVED, IncidentStatus.ALERTED),
    (IncidentStatus.ACKNOWLEDGED, IncidentStatus.ALERTED), (IncidentStatus.ACKNOWLEDGED, IncidentStatus.DETECTED),
    (IncidentStatus.ALERTED, IncidentStatus.DETECTED)])
def test_illegal_moves_raise(start, to):
    with pytest.raises(IllegalTransition, match="#7"):
        transition(start, to, incident_id=7, actor="U1", via=Via.SLACK, at=NOW)


def test_snooze_choices():
    assert [parse_snooze(v) for v in ("1h", "4h", "1d", "7d")] == [timedelta(hours=1), timedelta(hours=4),
                                                                  timedelta(days=1), timedelta(days=7)]
    with pytest.raises(Exception, match="snooze"):
        parse_snooze("forever")


def _run(book, m, d, *, alert, settings=DEFAULTS):
    day = START + timedelta(days=d)
    now = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, minutes=5)
    ctx = DayContext.build(m, day, cycle_containing(day, 1), now)
    signals = [(f.subject, to_signal(f, names={}, today=day, driver=None, data_at=now))
               for f in detect_day(m, ctx, settings)]
    plan = plan_day(list(book.open.values()), signals, day=day, now=now, cooldown_days=settings.cooldown_days,
                    alert=alert)
    book.apply(plan)
    return plan


def test_a_no_alert_run_leaves_an_escalation_and_a_new_signal_to_the_next_alerting_run():
    cost, req = steady_team()
    cost[2, 30], cost[2, 31] = 60 * B, 400 * B  # warning on day 30, critical on day 31
    m = UsageMatrix(PEOPLE, START, cost, req, np.zeros_like(cost))
    book = MemoryBook()
    assert [a.kind for a in _run(book, m, 30, alert=True).alerts] == [AlertKind.OPENED]
    assert _run(book, m, 31, alert=False).alerts == []  # --no-alert: nobody is told, so nothing is used up
    plan = _run(book, m, 31, alert=True)
    assert [a.kind for a in plan.alerts] == [AlertKind.ESCALATED]
    assert book.open["p02@x.io"].severity.value == "critical"


def test_a_no_alert_run_does_not_resolve_an_announced_incident_behind_the_teams_back():
    cost, req = steady_team()
    cost[2, 30] = 400 * B
    m = UsageMatrix(PEOPLE, START, cost, req, np.zeros_like(cost))
    book = MemoryBook()
    _run(book, m, 30, alert=True)
    for d in (31, 32, 33):
        assert _run(book, m, d, alert=False).resolved == []
    plan = _run(book, m, 33, alert=True)  # the next run that can tell the team resolves it, and says so
    assert [a.kind for a in plan.alerts] == [AlertKind.RESOLVED] and plan.resolved[0].resolved_by == "cool-down"


def test_a_new_signal_is_queued_with_the_kinds_that_joined():
    cost, req = steady_team()
    for d in range(30, 34):
        req[4, d] = 250  # critical: over twice the 100 limit
    cost[4, 32] = 60 * B  # a warning spike (~5.8× p04's ~$10) joins the open incident on day 32
    m = UsageMatrix(PEOPLE, START, cost, req, np.zeros_like(cost))
    book = MemoryBook()
    settings = DetectionSettings(max_requests_per_day=100)
    _run(book, m, 30, alert=True, settings=settings)
    _run(book, m, 31, alert=True, settings=settings)
    plan = _run(book, m, 32, alert=True, settings=settings)
    assert [(a.kind, a.kinds) for a in plan.alerts] == [(AlertKind.SIGNAL_ADDED, ("zscore_spend", "spend_spike"))]
