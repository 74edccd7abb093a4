"""From one day's signals to incident changes: grouping, dedup, escalation, snooze, cool-down.

`plan_day` is pure: it takes the open incidents and the day's signals and returns a `Plan`
(incidents to open or change, audit rows, alerts to queue, anomaly rows). Storage applies a plan
in one transaction (storage/incident_repo.py); the backtest applies it to memory (`MemoryBook`),
so a backtest and day-by-day runs of `abacus detect` take the very same decisions.

Rules (issue #9):
- one open incident per subject (a person, an unmapped key, or the team); every layer that fires
  for it joins as a signal, so a spike that is also a z-score outlier is one incident, one alert;
- a signal already in the incident adds nothing; a new kind of signal on an open incident queues
  one thread reply (`signal_added`); a condition persisting over days extends the incident;
- a rise in severity (warning → critical) queues exactly one `escalated` alert;
- while snoozed nothing is queued; after the snooze, if the condition still holds, one `realert`;
- an incident resolves itself only after its condition was absent on `cooldown_days` complete
  days (a day still going on counts only when it is over: its data may yet arrive); a
  re-crossing inside that window just continues it;
- a person who resolved an incident by hand is not alerted again for the same day's signals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from core.incidents import (
    TEAM_SUBJECT,
    AlertKind,
    AnomalyKind,
    IncidentStatus,
    Severity,
    Signal,
    Transition,
    Via,
    opened_messages,
    transition,
)

_KIND_ORDER = {k: i for i, k in enumerate(AnomalyKind)}
COOL_DOWN = "cool-down"  # resolved_by of an incident the cool-down resolved


@dataclass(slots=True)
class IncidentState:
    """An incident as detection sees it (mutable while a plan is made)."""

    id: int | None
    subject: str
    kind: AnomalyKind
    severity: Severity
    status: IncidentStatus
    signals: dict[AnomalyKind, Signal]
    data_at: datetime
    opened_at: datetime
    first_day: date
    last_seen_day: date
    last_checked_day: date | None = None
    clear_streak: int = 0
    snoozed_until: datetime | None = None
    snoozed_by: str | None = None
    alert_queued: bool = False
    alerted_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    version: int = 0
    ref: int = 0  # identifies a new incident inside one plan, before it has an id

    @property
    def primary(self) -> Signal:
        return self.signals[self.kind]

    @property
    def user(self) -> str | None:
        return None if self.subject == TEAM_SUBJECT else self.subject


@dataclass(frozen=True, slots=True)
class QueuedAlert:
    incident: IncidentState
    kind: AlertKind
    day: date
    kinds: tuple[str, ...] = ()  # signal_added: the kinds that joined (the reply quotes them)


@dataclass(frozen=True, slots=True)
class AnomalyRow:
    incident: IncidentState
    subject: str
    signal: Signal


@dataclass(slots=True)
class Plan:
    day: date
    opened: list[IncidentState] = field(default_factory=list)
    changed: list[IncidentState] = field(default_factory=list)  # existing incidents whose fields changed
    audit: list[tuple[IncidentState, Transition]] = field(default_factory=list)
    alerts: list[QueuedAlert] = field(default_factory=list)
    anomalies: list[AnomalyRow] = field(default_factory=list)

    @property
    def resolved(self) -> list[IncidentState]:
        return [i for i in self.changed if i.status is IncidentStatus.RESOLVED]

    @property
    def is_empty(self) -> bool:
        return not (self.opened or self.changed or self.audit or self.alerts or self.anomalies)


def _primary(signals: Iterable[Signal]) -> Signal:
    """The most severe signal; ties go to the kind listed first in AnomalyKind."""
    return min(signals, key=lambda s: (-s.severity.rank, _KIND_ORDER[s.kind]))


def plan_day(open_incidents: Iterable[IncidentState], signals: Iterable[tuple[str, Signal]], *, day: date,
             now: datetime, cooldown_days: int, alert: bool,
             closed_today: set[tuple[str, str]] | frozenset = frozenset(),
             complete_until: datetime | None = None) -> Plan:
    """Decide what one detection run over `day` changes.

    `signals`: (subject, signal) pairs of the day. `closed_today`: (subject, kind) pairs already
    recorded for this day on incidents that are now resolved (resolved by hand today).
    `complete_until`: how far the vendor data is known to be complete (None: all of it is); a day
    ending after it proves nothing about absence, like a day still going on."""
    plan = Plan(day=day)
    by_subject: dict[str, list[Signal]] = {}
    for subject, sig in signals:
        by_subject.setdefault(subject, []).append(sig)
    open_by_subject = {i.subject: i for i in open_incidents if i.status.is_open}
    next_ref = 1

    for subject in sorted(by_subject):
        sigs = sorted(by_subject[subject], key=lambda s: _KIND_ORDER[s.kind])
        inc = open_by_subject.get(subject)
        if inc is None:
            sigs = [s for s in sigs if (subject, s.kind.value) not in closed_today]
            if not sigs:
                continue
            primary = _primary(sigs)
            inc = IncidentState(id=None, subject=subject, kind=primary.kind,
                                severity=Severity.highest(s.severity for s in sigs), status=IncidentStatus.DETECTED,
                                signals={s.kind: s for s in sigs}, data_at=min(s.data_at for s in sigs),
                                opened_at=now, first_day=day, last_seen_day=day, last_checked_day=day, ref=next_ref)
            next_ref += 1
            plan.opened.append(inc)
            plan.audit.append((inc, Transition(None, None, IncidentStatus.DETECTED, None, Via.SYSTEM, now,
                                               "opened: " + ", ".join(s.kind.value for s in sigs))))
            if alert:
                inc.alert_queued = True
                plan.alerts.append(QueuedAlert(inc, AlertKind.OPENED, day))
            plan.anomalies.extend(AnomalyRow(inc, subject, s) for s in sigs)
            continue

        before = _snapshot(inc)
        # a day before the incident's latest one (late data for yesterday, or `--as-of` an older
        # day): its evidence never replaces newer evidence, and from two days back it alerts nothing
        stale = day < inc.last_seen_day - timedelta(days=1)
        # a run that cannot tell anyone (--no-alert) leaves news about an announced incident for the
        # next run that can: a new kind of signal, or a rise in severity, is taken in there
        held = not alert and inc.alert_queued
        if held:
            sigs = [s for s in sigs if s.kind in inc.signals]
        new_kinds = [s.kind for s in sigs if s.kind not in inc.signals]
        merged: list[Signal] = []
        for s in sigs:
            old = inc.signals.get(s.kind)
            if old is not None and old.day == s.day:
                s = replace(s, data_at=min(old.data_at, s.data_at))  # first seen: re-runs keep it
            if old is None or old.day <= s.day:
                inc.signals[s.kind] = s
            merged.append(s)
        sigs = merged
        today_top = _primary(sigs) if sigs else None
        escalated = (today_top is not None and not stale and not held
                     and today_top.severity.rank > inc.severity.rank)
        if escalated:
            plan.audit.append((inc, Transition(inc.id, inc.status, inc.status, None, Via.SYSTEM, now,
                                               f"escalated {inc.severity.value} → {today_top.severity.value} "
                                               f"({today_top.kind.value})")))
            inc.severity = today_top.severity
            inc.kind = today_top.kind
        elif new_kinds:
            plan.audit.append((inc, Transition(inc.id, inc.status, inc.status, None, Via.SYSTEM, now,
                                               "signal added: " + ", ".join(k.value for k in new_kinds))))
        if inc.last_checked_day is None or day >= inc.last_checked_day:
            inc.clear_streak = 0
            inc.last_checked_day = day
        inc.last_seen_day = max(inc.last_seen_day, day)
        if sigs:
            inc.data_at = min(inc.data_at, min(s.data_at for s in sigs))
        if alert:
            snoozed = inc.snoozed_until is not None and inc.snoozed_until > now
            expired = inc.snoozed_until is not None and inc.snoozed_until <= now
            if not inc.alert_queued:
                inc.alert_queued = True
                plan.alerts.append(QueuedAlert(inc, AlertKind.OPENED, day))
            elif snoozed or stale:
                pass
            elif expired:
                plan.audit.append((inc, Transition(inc.id, inc.status, inc.status, None, Via.SYSTEM, now,
                                                   "snooze over; the condition still holds")))
                inc.snoozed_until, inc.snoozed_by = None, None
                plan.alerts.append(QueuedAlert(inc, AlertKind.REALERT, day))
            elif escalated:
                plan.alerts.append(QueuedAlert(inc, AlertKind.ESCALATED, day))
            elif new_kinds:
                plan.alerts.append(QueuedAlert(inc, AlertKind.SIGNAL_ADDED, day, tuple(k.value for k in new_kinds)))
        plan.anomalies.extend(AnomalyRow(inc, subject, s) for s in sigs)
        if _snapshot(inc) != before:
            inc.version += 1
            plan.changed.append(inc)

    # a day still going on, or one the vendor sync has not fetched in full (vendor down), proves
    # nothing about absence yet
    day_end = datetime(day.year, day.month, day.day, tzinfo=now.tzinfo) + timedelta(days=1)
    day_complete = now.date() > day and (complete_until is None or complete_until >= day_end)
    for subject, inc in sorted(open_by_subject.items()):
        if subject in by_subject:
            continue
        counted = day_complete and (inc.last_checked_day is None or day > inc.last_checked_day)
        if counted:  # a re-run of a counted day, or an older day replayed, counts nothing
            inc.last_checked_day = day
            inc.clear_streak += 1
        # an incident the team was told about resolves on a run that can tell them (not --no-alert)
        due = inc.clear_streak >= max(1, cooldown_days) and (alert or not inc.alert_queued)
        if due:
            move = transition(inc.status, IncidentStatus.RESOLVED, incident_id=inc.id, actor=None, via=Via.SYSTEM,
                              at=now, note=f"condition absent on {inc.clear_streak} detection days")
            snoozed = inc.snoozed_until is not None and inc.snoozed_until > now
            if move is not None:
                plan.audit.append((inc, move))
                inc.status = IncidentStatus.RESOLVED
                inc.resolved_at, inc.resolved_by = now, COOL_DOWN
                if alert and inc.alert_queued and not snoozed:
                    plan.alerts.append(QueuedAlert(inc, AlertKind.RESOLVED, day))
        if counted or due:
            inc.version += 1
            plan.changed.append(inc)
    return plan


def _snapshot(inc: IncidentState) -> tuple:
    return (inc.kind, inc.severity, inc.status, tuple(sorted((k.value, s) for k, s in inc.signals.items())),
            inc.data_at, inc.last_seen_day, inc.last_checked_day, inc.clear_streak, inc.snoozed_until,
            inc.alert_queued)


# --- the backtest's book: incidents kept in memory -----------------------------------------------

COUNTED_ALERTS = frozenset({AlertKind.OPENED, AlertKind.ESCALATED, AlertKind.REALERT})


@dataclass(slots=True)
class MemoryBook:
    """Incidents in memory, for replaying detection without writing anything."""

    open: dict[str, IncidentState] = field(default_factory=dict)
    closed: list[IncidentState] = field(default_factory=list)
    closed_signals: dict[date, set[tuple[str, str]]] = field(default_factory=dict)
    next_id: int = 1
    incidents_opened: int = 0
    alerts_sent: int = 0

    def apply(self, plan: Plan) -> None:
        for inc in plan.opened:
            inc.id = self.next_id
            self.next_id += 1
            self.open[inc.subject] = inc
            self.incidents_opened += 1
        # messages, as the sender posts them: the day's first alerts grouped, each follow-up one
        opened = sum(1 for a in plan.alerts if a.kind is AlertKind.OPENED)
        self.alerts_sent += opened_messages(opened) + sum(
            1 for a in plan.alerts if a.kind in COUNTED_ALERTS and a.kind is not AlertKind.OPENED)
        for inc in plan.resolved:
            self.open.pop(inc.subject, None)
            self.closed.append(inc)
            self.closed_signals.setdefault(plan.day, set()).update((inc.subject, k.value) for k in inc.signals)

    def snapshot(self) -> list[IncidentState]:
        return [replace(i, signals=dict(i.signals)) for i in self.open.values()]
