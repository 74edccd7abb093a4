"""The incident lifecycle: a pure state machine, the snooze property and the MTTx arithmetic.

    detected ──► alerted ──► acknowledged ──► resolved
        │            └──────────────────────────▲
        └───────────────────────────────────────┘

One `transition()` decides every move. Moving to the status an incident already has is a no-op
(double clicks, Slack retries, a re-run of detection); a move the table does not allow raises
`IllegalTransition`. Storage applies the returned `Transition` and writes its audit row in the
same transaction. Snooze is not a status: it is a property (until when, by whom) under which
nothing is sent; when it has expired and the condition still holds, detection alerts again.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from core.errors import InputError


class IncidentStatus(StrEnum):
    DETECTED = "detected"  # opened; its alert is queued (or alerts are off)
    ALERTED = "alerted"  # the first alert reached a channel
    ACKNOWLEDGED = "acknowledged"  # a person took it
    RESOLVED = "resolved"  # closed by a person or by the cool-down

    @property
    def is_open(self) -> bool:
        return self is not IncidentStatus.RESOLVED


OPEN_STATUSES = tuple(s for s in IncidentStatus if s.is_open)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @classmethod
    def highest(cls, values: Iterable[Severity]) -> Severity:
        return max(values, key=lambda s: s.rank, default=cls.INFO)


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class AnomalyKind(StrEnum):
    """What a detection layer saw (docs/contract.md fixes these values)."""

    SPEND_PER_CYCLE = "spend_per_cycle"
    REQUESTS_PER_DAY = "requests_per_day"
    TOKENS_PER_DAY = "tokens_per_day"
    ZSCORE_SPEND = "zscore_spend"
    ZSCORE_REQUESTS = "zscore_requests"
    SPEND_SPIKE = "spend_spike"
    CYCLE_OUTLIER = "cycle_outlier"
    TEAM_BUDGET = "team_budget"
    FORECAST_BUDGET = "forecast_budget"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    AnomalyKind.SPEND_PER_CYCLE: "Spend per cycle over the limit",
    AnomalyKind.REQUESTS_PER_DAY: "Requests per day over the limit",
    AnomalyKind.TOKENS_PER_DAY: "Tokens per day over the limit",
    AnomalyKind.ZSCORE_SPEND: "Daily spend far above the team",
    AnomalyKind.ZSCORE_REQUESTS: "Daily requests far above the team",
    AnomalyKind.SPEND_SPIKE: "Spend spike",
    AnomalyKind.CYCLE_OUTLIER: "Cycle spend outlier",
    AnomalyKind.TEAM_BUDGET: "Team budget exceeded",
    AnomalyKind.FORECAST_BUDGET: "Forecast over budget",
}


class AlertKind(StrEnum):
    """Why an outbox row exists. `opened` and `digest` are top-level messages; the others reply
    in the incident's thread and update its parent message."""

    OPENED = "opened"  # a new incident: the alert message itself
    ESCALATED = "escalated"  # severity went up (warning → critical)
    SIGNAL_ADDED = "signal_added"  # another layer now sees the same subject
    REALERT = "realert"  # a snooze expired and the condition still holds
    RESOLVED = "resolved"  # the cool-down resolved it
    DIGEST = "digest"


# How first alerts become messages: 1–3 incidents opened by one detection run are one message each;
# this many or more are summary messages of up to SUMMARY_PER_MESSAGE incidents (the sender posts
# them so, and the backtest counts them so: `alerts` is the messages a team would see).
SUMMARY_FROM = 4
SUMMARY_PER_MESSAGE = 42


def opened_messages(opened: int) -> int:
    """How many messages announce `opened` incidents of one detection run."""
    return opened if opened < SUMMARY_FROM else -(-opened // SUMMARY_PER_MESSAGE)


class Action(StrEnum):
    """What a person can do to an incident (the buttons)."""

    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    SNOOZE = "snooze"


class Via(StrEnum):
    """Where a change came from (audit rows)."""

    SYSTEM = "system"  # detection / cool-down
    SLACK = "slack"
    CLI = "cli"
    DELIVERY = "delivery"  # the alert was sent


TEAM_SUBJECT = "team"  # the subject of team-wide incidents (budget, forecast)

SNOOZE_CHOICES: dict[str, timedelta] = {  # option value → duration, in menu order
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
}


_SNOOZE_UNITS = {"h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h", "d": "d", "day": "d", "days": "d",
                 "w": "w", "wk": "w", "week": "w", "weeks": "w"}


def snooze_choice(text: object) -> str | None:
    """A snooze duration as people and older payloads write it (`4h`, `4 h`, `4 hours`,
    `Snooze 1 day`, `1 week`) → its key in SNOOZE_CHOICES; None when it names none of them."""
    if not isinstance(text, str):
        return None
    words = text.strip().lower().replace("snooze", " ").replace("for", " ").split()
    joined = "".join(words)
    if joined in SNOOZE_CHOICES:
        return joined
    number, unit = None, None
    for word in words:
        head = word.rstrip("abcdefghijklmnopqrstuvwxyz")
        tail = word[len(head):]
        if head.isdigit() and number is None:
            number = int(head)
            unit = _SNOOZE_UNITS.get(tail) if tail else unit
        elif number is not None and unit is None and word in _SNOOZE_UNITS:
            unit = _SNOOZE_UNITS[word]
    if number is None or unit is None:
        return None
    if unit == "w":
        number, unit = number * 7, "d"
    key = f"{number}{unit}"
    return key if key in SNOOZE_CHOICES else None


def parse_snooze(value: str) -> timedelta:
    key = snooze_choice(value)
    if key is None:
        raise InputError(f"snooze for one of {', '.join(SNOOZE_CHOICES)}")
    return SNOOZE_CHOICES[key]


class IllegalTransition(InputError):
    """A move the lifecycle does not allow (e.g. acknowledging a resolved incident)."""


class IncidentNotFound(InputError):
    """The incident a button or command names does not exist (any more)."""


ALLOWED: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    IncidentStatus.DETECTED: frozenset({IncidentStatus.ALERTED, IncidentStatus.ACKNOWLEDGED,
                                        IncidentStatus.RESOLVED}),
    IncidentStatus.ALERTED: frozenset({IncidentStatus.ACKNOWLEDGED, IncidentStatus.RESOLVED}),
    IncidentStatus.ACKNOWLEDGED: frozenset({IncidentStatus.RESOLVED}),
    IncidentStatus.RESOLVED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Transition:
    """One lifecycle move, as storage writes it (the incident's new fields + one audit row)."""

    incident_id: int | None
    from_status: IncidentStatus | None  # None: the incident was just opened
    to_status: IncidentStatus
    actor: str | None
    via: Via
    at: datetime
    note: str | None = None


def transition(current: IncidentStatus, to: IncidentStatus, *, incident_id: int | None, actor: str | None,
               via: Via, at: datetime, note: str | None = None) -> Transition | None:
    """The one place that decides a lifecycle move. None = a repeat (nothing to do)."""
    current, to = IncidentStatus(current), IncidentStatus(to)
    if current == to:
        return None
    if to not in ALLOWED[current]:
        raise IllegalTransition(f"incident #{incident_id} is {current.value}; it cannot become {to.value}")
    return Transition(incident_id, current, to, actor, via, at, note)


def status_for_action(action: Action) -> IncidentStatus | None:
    return {Action.ACKNOWLEDGE: IncidentStatus.ACKNOWLEDGED, Action.RESOLVE: IncidentStatus.RESOLVED}.get(action)


# --- what an incident looks like to readers (renderers, CLI, App Home) ------------------------------

@dataclass(frozen=True, slots=True)
class Signal:
    """One detection layer's evidence about the incident's subject (the latest day it fired)."""

    kind: AnomalyKind
    severity: Severity
    day: date
    value: float  # dollars, requests or tokens (see `unit`)
    baseline: float  # what it was compared with: own mean, team median, team mean, limit, budget
    baseline_label: str  # e.g. "7-day average", "team median", "limit"
    unit: str  # "usd" | "requests" | "tokens"
    message: str  # one sentence a person would write
    data_at: datetime  # when the data showed it (end of the bucket, or the event)
    ratio: float | None = None  # value / baseline where that means something (× or σ)
    tool: str | None = None  # "claude_code" | "cursor": the tool that drove it
    model: str | None = None  # normalised model that drove it
    model_share: float | None = None  # that model's share of the spend looked at (0..1)


@dataclass(frozen=True, slots=True)
class IncidentView:
    id: int
    subject: str  # an email, "unmapped:<key>", or TEAM_SUBJECT
    user: str | None  # None for team incidents
    name: str | None  # the person's display name when known
    kind: AnomalyKind  # the primary (most severe, first) signal
    severity: Severity
    status: IncidentStatus
    message: str  # the story: the primary signal's sentence
    value: float
    threshold: float
    signals: tuple[Signal, ...]
    data_at: datetime
    opened_at: datetime
    first_day: date
    last_seen_day: date
    alerted_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    snoozed_until: datetime | None = None
    snoozed_by: str | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None
    version: int = 0

    def is_snoozed(self, now: datetime) -> bool:
        return self.snoozed_until is not None and self.snoozed_until > now

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def primary(self) -> Signal | None:
        return next((s for s in self.signals if s.kind == self.kind), self.signals[0] if self.signals else None)

    @property
    def mttd(self) -> timedelta | None:
        return _span(self.data_at, self.alerted_at)

    @property
    def mtti(self) -> timedelta | None:
        return _span(self.alerted_at, self.acknowledged_at)

    @property
    def mttr(self) -> timedelta | None:
        return _span(self.data_at, self.resolved_at)


# --- MTTD / MTTI / MTTR: one definition ----------------------------------------------------------

def _span(start: datetime | None, end: datetime | None) -> timedelta | None:
    if start is None or end is None:
        return None
    return max(end - start, timedelta(0))


@dataclass(frozen=True, slots=True)
class TimingStat:
    count: int
    mean_seconds: float | None
    median_seconds: float | None


@dataclass(frozen=True, slots=True)
class IncidentTimings:
    """MTTD = alert sent − data time; MTTI = acknowledged − alerted; MTTR = resolved − data time.

    Measured from when the data showed the problem (the tracker we replace measured from the
    row's insert, so its MTTD was always ≈ 0). Incidents without the later time are left out."""

    window_days: int
    incidents: int
    mttd: TimingStat
    mtti: TimingStat
    mttr: TimingStat
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IncidentTimes:
    """The times MTTx needs, whatever the reader's row type."""

    status: IncidentStatus
    data_at: datetime
    alerted_at: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None


def _stat(spans: list[timedelta | None]) -> TimingStat:
    seconds = [s.total_seconds() for s in spans if s is not None]
    if not seconds:
        return TimingStat(0, None, None)
    return TimingStat(len(seconds), sum(seconds) / len(seconds), float(statistics.median(seconds)))


def incident_timings(rows: Iterable[IncidentTimes], window_days: int) -> IncidentTimings:
    rows = list(rows)
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[IncidentStatus(r.status).value] = by_status.get(IncidentStatus(r.status).value, 0) + 1
    return IncidentTimings(
        window_days=window_days, incidents=len(rows),
        mttd=_stat([_span(r.data_at, r.alerted_at) for r in rows]),
        mtti=_stat([_span(r.alerted_at, r.acknowledged_at) for r in rows]),
        mttr=_stat([_span(r.data_at, r.resolved_at) for r in rows]),
        by_status=by_status)


TIMING_WINDOWS = (7, 30, 90)  # days, as /abacus incidents and the App Home show them


def format_duration(span: timedelta | float | None) -> str:
    """`2d 3h`, `4h 12m`, `7m`, `45s`: the one way durations are written everywhere."""
    if span is None:
        return "–"
    seconds = int(round(span.total_seconds() if isinstance(span, timedelta) else span))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"
