"""Detection as the CLI, the scheduler and the demo run it: read the matrix, run every layer
(core/detection), explain the findings, and apply the incident plan in one transaction — or, for
the backtest, replay day by day in memory and write nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.detection.config import Cycle, DetectionSettings, cycle_containing, resolve_cycle_start_day
from core.detection.engine import COUNTED_ALERTS, MemoryBook, plan_day
from core.detection.explain import DAY_KINDS, to_signal
from core.detection.layers import (
    MAX_LOOKBACK_DAYS,
    DayContext,
    Finding,
    UsageMatrix,
    day_fraction,
    detect,
    detect_day,
    spike_floor,
)
from core.errors import RuntimeFailure
from core.incidents import AlertKind, AnomalyKind, Signal
from storage import detection_repo, incident_repo, settings_repo
from storage.db import session_scope
from storage.job_lock import try_job_lock

DETECT_LOCK = "detect"  # one detection run at a time per database (replicas, CLI and bot)


@dataclass(frozen=True, slots=True)
class DetectedAnomaly:
    subject: str
    signal: Signal
    incident_id: int | None

    def to_json(self) -> dict:
        s = self.signal
        return {"user": None if self.subject == "team" else self.subject, "kind": s.kind.value,
                "severity": s.severity.value, "value": round(s.value, 4), "threshold": round(s.baseline, 4),
                "day": s.day.isoformat(), "incident_id": self.incident_id, "message": s.message,
                "baseline": round(s.baseline, 4), "baseline_label": s.baseline_label, "unit": s.unit,
                "ratio": s.ratio, "tool": s.tool, "model": s.model, "model_share": s.model_share,
                "data_time": s.data_at.isoformat()}


@dataclass(slots=True)
class DetectionRun:
    as_of: date
    anomalies: list[DetectedAnomaly]
    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    alerts_queued: dict[str, int] = field(default_factory=dict)
    batch: str = ""
    alert: bool = True

    def to_json(self) -> dict:
        return {"as_of": self.as_of.isoformat(), "anomalies": [a.to_json() for a in self.anomalies]}

    def summary(self) -> str:
        people = {a.subject for a in self.anomalies}
        queued = sum(self.alerts_queued.values())
        parts = [f"{len(self.anomalies)} anomalies about {len(people)} subjects on {self.as_of.isoformat()}",
                 f"{len(self.opened)} incidents opened", f"{len(self.resolved)} resolved"]
        parts.append(f"{queued} alerts queued" if self.alert else "alerts off (--no-alert)")
        return "; ".join(parts)


@dataclass(slots=True)
class BacktestDay:
    day: date
    anomalies: list[DetectedAnomaly]


@dataclass(slots=True)
class Backtest:
    start: date
    end: date
    incidents: int
    alerts: int
    days: list[BacktestDay]
    opened_by_day: dict[date, list[str]] = field(default_factory=dict)  # day → subjects whose incident opened
    resolved_by_day: dict[date, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(), "incidents": self.incidents,
                "alerts": self.alerts,
                "days": [{"day": d.day.isoformat(), "anomalies": [a.to_json() for a in d.anomalies]}
                         for d in self.days if d.anomalies]}


# --- shared steps -----------------------------------------------------------------------------------

def _settings(session: Session, values: dict | None) -> DetectionSettings:
    return DetectionSettings.from_values(values if values is not None else settings_repo.all_settings(session=session))


def _cycle_start_day(session: Session, s: DetectionSettings) -> int:
    return resolve_cycle_start_day(s.cycle_start_day, detection_repo.vendor_cycle_start(session=session))


def _load(session: Session, start: date, end: date, anchor: int) -> UsageMatrix:
    first = min(cycle_containing(start, anchor).start, start - timedelta(days=MAX_LOOKBACK_DAYS))
    return detection_repo.load_matrix(session=session, start=first, end=end)


_METRIC = {"usd": "cost_nanos", "requests": "requests", "tokens": "tokens"}


def explain(session: Session, findings: list[Finding], day: date, cycle: Cycle,
            now: datetime) -> list[tuple[str, Signal]]:
    """Findings → signals: the driving tool and model, the data time, a sentence."""
    if not findings:
        return []
    subjects = sorted({f.subject for f in findings})
    names = detection_repo.names(session=session, subjects=subjects)
    times = detection_repo.data_times(session=session, subjects=subjects, day=day, now=now)
    drivers: dict[tuple[str, str], dict] = {}
    for scope, metric in {("day" if f.kind in DAY_KINDS else "cycle", _METRIC[f.unit]) for f in findings}:
        start = day if scope == "day" else cycle.start
        wanted = [f.subject for f in findings if ("day" if f.kind in DAY_KINDS else "cycle") == scope]
        drivers[(scope, metric)] = detection_repo.drivers(session=session, subjects=wanted, start=start, end=day,
                                                          metric=metric)
    today = now.date()
    out = []
    for f in findings:
        scope = "day" if f.kind in DAY_KINDS else "cycle"
        driver = drivers[(scope, _METRIC[f.unit])].get(f.subject)
        out.append((f.subject, to_signal(f, names=names, today=today, driver=driver, data_at=times[f.subject])))
    return out


def run_detection(engine: Engine, *, as_of: date, alert: bool, now: datetime | None = None,
                  settings_values: dict | None = None, lock_wait: float = 120.0) -> DetectionRun:
    """Detect for one UTC day and open, extend or resolve incidents (queueing their alerts unless
    `alert` is False). Running it twice for the same day and data changes nothing."""
    now = now or datetime.now(UTC)
    with try_job_lock(engine, DETECT_LOCK, wait=lock_wait) as held:
        if not held:
            raise RuntimeFailure("another detection run is still going on; try again in a minute")
        with session_scope(engine) as session:
            s = _settings(session, settings_values)
            anchor = _cycle_start_day(session, s)
            cycle = cycle_containing(as_of, anchor)
            inputs = detection_repo.load_day_inputs(session=session, day=as_of, cycle=cycle,
                                                    fraction=day_fraction(as_of, now),
                                                    lookback_days=s.spend_spike_lookback_days,
                                                    spike_floor_nanos=spike_floor(s))
            signals = explain(session, detect(inputs, s), inputs.day, inputs.cycle, now)
            plan = plan_day(incident_repo.open_states(session=session), signals, day=as_of, now=now,
                            cooldown_days=s.cooldown_days, alert=alert,
                            closed_today=incident_repo.closed_today(session=session, day=as_of),
                            complete_until=detection_repo.data_complete_until(session=session, now=now))
            batch = f"detect:{as_of.isoformat()}:{uuid.uuid4().hex[:12]}"
            incident_repo.apply_plan(session=session, plan=plan, batch=batch)
            linked = incident_repo.anomalies_of_day(session=session, day=as_of)
    anomalies = []
    for subject, sig in signals:
        incident_id, stored_at = linked.get((subject, sig.kind.value), (None, None))
        if stored_at is not None and stored_at != sig.data_at:
            sig = replace(sig, data_at=stored_at)
        anomalies.append(DetectedAnomaly(subject, sig, incident_id))
    queued: dict[str, int] = {}
    for a in plan.alerts:
        queued[a.kind.value] = queued.get(a.kind.value, 0) + 1
    return DetectionRun(as_of=as_of, anomalies=anomalies, opened=[i.id for i in plan.opened],
                        resolved=[i.id for i in plan.resolved], alerts_queued=queued, batch=batch, alert=alert)


def run_scheduled(engine: Engine, *, now: datetime | None = None, today: date | None = None,
                  alert: bool = True) -> list[DetectionRun]:
    """What the scheduler runs after each sync: yesterday, then today. Yesterday again because its
    data keeps arriving after midnight (Claude Code's day buckets, Cursor's last hour): run once
    more, it sees the complete day and counts it for the cool-down; today sees what is there."""
    now = now or datetime.now(UTC)
    today = today or now.date()
    return [run_detection(engine, as_of=day, alert=alert, now=now) for day in (today - timedelta(days=1), today)]


def backtest(engine: Engine, start: date, end: date, *, settings_values: dict | None = None,
             now: datetime | None = None) -> Backtest:
    """Replay detection day by day over stored data with the given (default: current) settings,
    as if it had run at the end of each day with alerts on. Writes nothing."""
    now = now or datetime.now(UTC)
    book = MemoryBook()
    result = Backtest(start=start, end=end, incidents=0, alerts=0, days=[])
    with session_scope(engine) as session:
        s = _settings(session, settings_values)
        anchor = _cycle_start_day(session, s)
        matrix = _load(session, start, end, anchor)
        complete_until = detection_repo.data_complete_until(session=session, now=now)
        day = start
        while day <= end:
            run_at = min(now, datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1))
            ctx = DayContext.build(matrix, day, cycle_containing(day, anchor), run_at)
            signals = explain(session, detect_day(matrix, ctx, s), ctx.day, ctx.cycle, run_at)
            plan = plan_day(list(book.open.values()), signals, day=day, now=run_at, cooldown_days=s.cooldown_days,
                            alert=True, closed_today=book.closed_signals.get(day, set()),
                            complete_until=complete_until)
            book.apply(plan)
            result.days.append(BacktestDay(day, [DetectedAnomaly(subj, sig, None) for subj, sig in signals]))
            if plan.opened:
                result.opened_by_day[day] = [i.subject for i in plan.opened]
            if plan.resolved:
                result.resolved_by_day[day] = [i.subject for i in plan.resolved]
            day += timedelta(days=1)
    result.incidents = book.incidents_opened
    result.alerts = book.alerts_sent
    return result


__all__ = ["COUNTED_ALERTS", "AlertKind", "AnomalyKind", "Backtest", "DetectionRun", "backtest", "run_detection"]


def record_demo_delivery(engine: Engine, *, batch: str, at: datetime) -> int:
    """`abacus demo` has no Slack: record a detection run's alerts as delivered to the demo at
    `at`, so its incidents carry the MTTD the scheduler would have given them. Returns how many."""
    with session_scope(engine) as session:
        return incident_repo.mark_batch_delivered(session=session, batch=batch, at=at, channel="demo")
