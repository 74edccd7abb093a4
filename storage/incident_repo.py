"""Incidents, their audit trail, anomalies and the alert outbox.

Detection plans (core/detection/engine.py) are applied here in one transaction, set-based: one
statement per table per plan. People's actions (acknowledge, resolve, snooze) lock the incident
row, ask core.incidents.transition() and write the audit row in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    Integer,
    String,
    Text,
    bindparam,
    column,
    insert,
    select,
    table,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session
from sqlmodel.sql.sqltypes import UTCDateTime

from core.detection.engine import IncidentState, Plan
from core.incidents import (
    TEAM_SUBJECT,
    Action,
    AlertKind,
    AnomalyKind,
    IllegalTransition,
    IncidentNotFound,
    IncidentStatus,
    IncidentView,
    Severity,
    Signal,
    Transition,
    Via,
    status_for_action,
    transition,
)
from storage.values import aware

# The tables as SQLAlchemy Core sees them (the ORM models in storage/tables.py define them and
# their migrations; `test_core_tables_match_the_models` holds the two together). Detection runs as
# a fresh process on every `abacus detect`: building the SQLModel classes costs more than the run.
INC = table("incident", *(column(n, t) for n, t in (
    ("id", Integer()), ("dedup_key", String()), ("kind", String()), ("user_email", String()), ("severity", String()),
    ("status", String()), ("value", Float()), ("threshold", Float()), ("message", Text()), ("signals", Text()),
    ("data_at", UTCDateTime()), ("opened_at", UTCDateTime()), ("first_day", Date()), ("alerted_at", UTCDateTime()),
    ("acknowledged_at", UTCDateTime()), ("acknowledged_by", String()), ("resolved_at", UTCDateTime()),
    ("resolved_by", String()), ("snoozed_until", UTCDateTime()), ("snoozed_by", String()), ("last_seen_day", Date()),
    ("last_checked_day", Date()), ("clear_streak", Integer()), ("alert_queued", Boolean()),
    ("slack_channel", String()), ("slack_ts", String()), ("version", Integer()))))
EVT = table("incident_event", *(column(n, t) for n, t in (
    ("id", Integer()), ("incident_id", Integer()), ("from_status", String()), ("to_status", String()),
    ("actor", String()), ("via", String()), ("at", UTCDateTime()), ("note", Text()))))
ANO = table("anomaly", *(column(n, t) for n, t in (
    ("id", Integer()), ("kind", String()), ("subject", String()), ("user_email", String()), ("day", Date()),
    ("severity", String()), ("value", Float()), ("threshold", Float()), ("message", Text()),
    ("baseline_label", String()), ("unit", String()), ("ratio", Float()), ("tool", String()), ("model", String()),
    ("model_share", Float()), ("data_at", UTCDateTime()), ("incident_id", Integer()), ("detected_at", UTCDateTime()))))
OUT = table("alert_outbox", *(column(n, t) for n, t in (
    ("id", Integer()), ("dedup_key", String()), ("incident_id", Integer()), ("kind", String()), ("batch", String()),
    ("channel", String()), ("payload", Text()), ("status", String()), ("attempts", Integer()),
    ("next_attempt_at", UTCDateTime()), ("last_error", Text()), ("created_at", UTCDateTime()),
    ("sent_at", UTCDateTime()), ("slack_ts", String()))))
SNOOZE_REPEAT_WINDOW = timedelta(seconds=60)  # a second identical snooze click within this is a repeat
_INCIDENT_LOCK_ID = 0x41424143_494E4331  # "ABACINC1": incident writes take turns (Postgres advisory lock)


def lock_incident_writes(*, session: Session) -> None:
    """Serialise this transaction with every other incident write, taken before anything is read:
    a person's click and a detection run that read the same incident cannot overwrite each other
    (the click waits for the run, then applies to what the run wrote). Postgres: a transaction
    advisory lock, so replicas take turns; SQLite: its database write lock, taken now rather than
    at the first write."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _INCIDENT_LOCK_ID})
    else:
        conn.execute(text("DELETE FROM incident WHERE 0"))


# --- (de)serialising signals -----------------------------------------------------------------------

def _date(value) -> date | None:
    if value is None:
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def signal_to_json(s: Signal) -> dict:
    return {"kind": s.kind.value, "severity": s.severity.value, "day": s.day.isoformat(), "value": s.value,
            "baseline": s.baseline, "baseline_label": s.baseline_label, "unit": s.unit, "message": s.message,
            "data_at": s.data_at.isoformat(), "ratio": s.ratio, "tool": s.tool, "model": s.model,
            "model_share": s.model_share}


def signal_from_json(d: dict) -> Signal:
    return Signal(kind=AnomalyKind(d["kind"]), severity=Severity(d["severity"]), day=date.fromisoformat(d["day"]),
                  value=float(d["value"]), baseline=float(d["baseline"]), baseline_label=str(d["baseline_label"]),
                  unit=str(d["unit"]), message=str(d["message"]), data_at=aware(d["data_at"]),
                  ratio=d.get("ratio"), tool=d.get("tool"), model=d.get("model"), model_share=d.get("model_share"))


def _signals(raw: str | None) -> list[Signal]:
    try:
        return [signal_from_json(d) for d in json.loads(raw or "[]")]
    except (ValueError, KeyError, TypeError):
        return []


# --- reading -------------------------------------------------------------------------------------

def _state(row) -> IncidentState:
    sigs = {s.kind: s for s in _signals(row.signals)}
    kind = AnomalyKind(row.kind)
    if kind not in sigs and sigs:
        kind = next(iter(sigs))
    if not sigs:  # an incident stored before signals were (migration 0005): its own fields are its signal
        data_at = aware(row.data_at)
        day = _date(row.last_seen_day) or _date(row.first_day) or data_at.date()
        sigs = {kind: Signal(kind=kind, severity=Severity(row.severity), day=day, value=float(row.value or 0),
                             baseline=float(row.threshold or 0), baseline_label="threshold", unit="usd",
                             message=row.message or "", data_at=data_at)}
    return IncidentState(id=row.id, subject=row.dedup_key, kind=kind, severity=Severity(row.severity),
                         status=IncidentStatus(row.status), signals=sigs, data_at=aware(row.data_at),
                         opened_at=aware(row.opened_at), first_day=_date(row.first_day) or _date(row.last_seen_day),
                         last_seen_day=_date(row.last_seen_day) or _date(row.first_day),
                         last_checked_day=_date(row.last_checked_day), clear_streak=row.clear_streak,
                         snoozed_until=aware(row.snoozed_until), snoozed_by=row.snoozed_by,
                         alert_queued=bool(row.alert_queued), alerted_at=aware(row.alerted_at),
                         resolved_at=aware(row.resolved_at), resolved_by=row.resolved_by, version=row.version)


def anomalies_of_day(*, session: Session, day: date) -> dict[tuple[str, str], tuple[int | None, datetime | None]]:
    """(subject, kind) → (incident id, data time) as stored for the day: a re-run reports what the
    first run recorded (and Slack shows), not a data time of its own."""
    rows = session.connection().execute(text(
        "SELECT subject, kind, incident_id, data_at FROM anomaly WHERE day = :d"), {"d": day})
    return {(str(s), str(k)): (i, aware(at)) for s, k, i, at in rows}


def open_states(*, session: Session) -> list[IncidentState]:
    """The open incidents, read under the incident write lock (see `lock_incident_writes`)."""
    lock_incident_writes(session=session)
    rows = session.connection().execute(select(INC).where(INC.c.status != IncidentStatus.RESOLVED.value)
                                        .order_by(INC.c.id)).all()
    return [_state(r) for r in rows]


def closed_today(*, session: Session, day: date) -> set[tuple[str, str]]:
    """(subject, kind) of `day`'s anomalies whose incident is resolved (by hand, usually)."""
    rows = session.connection().execute(text(
        "SELECT a.subject, a.kind FROM anomaly a JOIN incident i ON i.id = a.incident_id "
        "WHERE a.day = :day AND i.status = :resolved"), {"day": day, "resolved": IncidentStatus.RESOLVED.value})
    return {(str(s), str(k)) for s, k in rows}


def _view(row, names: dict[str, str]) -> IncidentView:
    sigs = _signals(row.signals)
    subject = row.dedup_key
    return IncidentView(
        id=row.id, subject=subject, user=None if subject == TEAM_SUBJECT else subject, name=names.get(subject),
        kind=AnomalyKind(row.kind), severity=Severity(row.severity), status=IncidentStatus(row.status),
        message=row.message or "", value=float(row.value or 0), threshold=float(row.threshold or 0),
        signals=tuple(sigs), data_at=aware(row.data_at), opened_at=aware(row.opened_at),
        first_day=_date(row.first_day) or aware(row.data_at).date(),
        last_seen_day=_date(row.last_seen_day) or aware(row.data_at).date(),
        alerted_at=aware(row.alerted_at), acknowledged_at=aware(row.acknowledged_at),
        acknowledged_by=row.acknowledged_by, resolved_at=aware(row.resolved_at), resolved_by=row.resolved_by,
        snoozed_until=aware(row.snoozed_until), snoozed_by=row.snoozed_by, slack_channel=row.slack_channel,
        slack_ts=row.slack_ts, version=row.version)


def _names(session: Session, subjects: Sequence[str]) -> dict[str, str]:
    wanted = sorted({s for s in subjects if s != TEAM_SUBJECT})
    if not wanted:
        return {}
    rows = session.connection().execute(text("SELECT email, name FROM person WHERE email IN :e").bindparams(
        bindparam("e", expanding=True)), {"e": wanted}).all()
    return {str(e): str(n) for e, n in rows if n}


def _views(session: Session, rows) -> list[IncidentView]:
    names = _names(session, [r.dedup_key for r in rows])
    return [_view(r, names) for r in rows]


def get_incident(*, session: Session, incident_id: int) -> IncidentView | None:
    row = session.connection().execute(select(INC).where(INC.c.id == incident_id)).first()
    return _views(session, [row])[0] if row is not None else None


def open_incidents(*, session: Session, person: str | None = None, limit: int = 20) -> list[IncidentView]:
    """Open incidents, most severe first, then newest."""
    q = select(INC).where(INC.c.status != IncidentStatus.RESOLVED.value)
    if person:
        q = q.where(INC.c.dedup_key == person)
    rows = session.connection().execute(q.order_by(INC.c.opened_at.desc(), INC.c.id.desc())).all()
    views = _views(session, rows)
    views.sort(key=lambda v: (-v.severity.rank, -v.opened_at.timestamp(), -v.id))
    return views[:limit]


def count_open(*, session: Session) -> int:
    return int(session.connection().execute(text("SELECT COUNT(*) FROM incident WHERE status <> :r"),
                                            {"r": IncidentStatus.RESOLVED.value}).scalar_one())


def incidents_since(*, session: Session, since: datetime) -> list[IncidentView]:
    """Incidents whose problem showed in the data at or after `since` (MTTD/MTTI/MTTR windows)."""
    rows = session.connection().execute(select(INC).where(INC.c.data_at >= since).order_by(INC.c.id)).all()
    return _views(session, rows)


def audit_trail(*, session: Session, incident_id: int) -> list[dict]:
    rows = session.connection().execute(select(EVT).where(EVT.c.incident_id == incident_id)
                                        .order_by(EVT.c.id)).all()
    return [{"from": r.from_status, "to": r.to_status, "actor": r.actor, "via": r.via, "at": aware(r.at),
             "note": r.note} for r in rows]


# --- applying a detection plan ---------------------------------------------------------------------

def _incident_values(inc: IncidentState) -> dict:
    primary = inc.primary
    return {"dedup_key": inc.subject, "kind": inc.kind.value, "user_email": inc.user,
            "severity": inc.severity.value, "status": inc.status.value, "value": primary.value,
            "threshold": primary.baseline, "message": primary.message,
            "signals": json.dumps([signal_to_json(s) for _, s in sorted(inc.signals.items())]),
            "data_at": inc.data_at, "first_day": inc.first_day, "last_seen_day": inc.last_seen_day,
            "last_checked_day": inc.last_checked_day, "clear_streak": inc.clear_streak,
            "snoozed_until": inc.snoozed_until, "snoozed_by": inc.snoozed_by, "alert_queued": inc.alert_queued,
            "resolved_at": inc.resolved_at, "resolved_by": inc.resolved_by, "version": inc.version}


def _upsert(session: Session):
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def apply_plan(*, session: Session, plan: Plan, batch: str) -> None:
    """Write a plan: new incidents, changed incidents, anomalies, audit rows, outbox rows — one
    statement per table, in the caller's transaction."""
    conn = session.connection()
    if plan.opened:
        rows = [{**_incident_values(i), "opened_at": i.opened_at} for i in plan.opened]
        returned = conn.execute(insert(INC).returning(INC.c.id, INC.c.dedup_key), rows).all()
        ids = {key: id_ for id_, key in returned}
        for inc in plan.opened:
            inc.id = ids[inc.subject]
    if plan.changed:
        stmt = (update(INC).where(INC.c.id == bindparam("_id"))
                .values({k: bindparam(k) for k in _incident_values(plan.changed[0])}))
        conn.execute(stmt, [{"_id": i.id, **_incident_values(i)} for i in plan.changed])
    if plan.anomalies:
        ins = _upsert(session)(ANO)
        cols = ("severity", "value", "threshold", "message", "baseline_label", "unit", "ratio", "tool", "model",
                "model_share", "data_at", "incident_id", "user_email")
        stmt = ins.on_conflict_do_update(index_elements=["kind", "subject", "day"],
                                         set_={c: getattr(ins.excluded, c) for c in cols})
        conn.execute(stmt, [{"kind": a.signal.kind.value, "subject": a.subject,
                             "user_email": None if a.subject == TEAM_SUBJECT else a.subject, "day": a.signal.day,
                             "severity": a.signal.severity.value, "value": a.signal.value,
                             "threshold": a.signal.baseline, "message": a.signal.message,
                             "baseline_label": a.signal.baseline_label, "unit": a.signal.unit,
                             "ratio": a.signal.ratio, "tool": a.signal.tool, "model": a.signal.model,
                             "model_share": a.signal.model_share, "data_at": a.signal.data_at,
                             "incident_id": a.incident.id, "detected_at": plan_time(plan)}
                            for a in plan.anomalies])
    if plan.audit:
        conn.execute(insert(EVT), [_audit_row(inc.id, t) for inc, t in plan.audit])
    if plan.alerts:
        ins = _upsert(session)(OUT)
        conn.execute(ins.on_conflict_do_nothing(index_elements=["dedup_key"]), [
            {"dedup_key": f"incident:{a.incident.id}:{a.kind.value}:{a.incident.version}:{a.day.isoformat()}",
             "incident_id": a.incident.id, "kind": a.kind.value, "batch": batch, "channel": None,
             "payload": json.dumps({"incident_id": a.incident.id, "alert": a.kind.value, "day": a.day.isoformat(),
                                    **({"kinds": list(a.kinds)} if a.kinds else {})}),
             "status": "pending", "attempts": 0, "next_attempt_at": plan_time(plan), "created_at": plan_time(plan)}
            for a in plan.alerts])


def plan_time(plan: Plan) -> datetime:
    times = [t.at for _, t in plan.audit]
    return max(times) if times else datetime.now(UTC)


def _audit_row(incident_id: int | None, t: Transition) -> dict:
    return {"incident_id": incident_id, "from_status": t.from_status.value if t.from_status else None,
            "to_status": t.to_status.value, "actor": t.actor, "via": Via(t.via).value, "at": t.at, "note": t.note}


# --- people's actions ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ActResult:
    view: IncidentView
    changed: bool  # False: a repeat (double click, retry) — nothing was written


def _locked(session: Session, incident_id: int):
    lock_incident_writes(session=session)
    q = select(INC).where(INC.c.id == incident_id)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    return session.connection().execute(q).first()


def act(*, session: Session, incident_id: int, action: Action, actor: str, via: Via, at: datetime,
        snooze_for: timedelta | None = None) -> ActResult:
    """Acknowledge, resolve or snooze one incident on behalf of `actor` (already authorised)."""
    row = _locked(session, incident_id)
    if row is None:
        raise IncidentNotFound(f"incident #{incident_id} does not exist (any more)")
    status = IncidentStatus(row.status)
    conn = session.connection()
    if action is Action.SNOOZE:
        if snooze_for is None or snooze_for <= timedelta(0):
            raise IllegalTransition("a snooze needs a duration")
        if not status.is_open:
            raise IllegalTransition(f"incident #{incident_id} is resolved; there is nothing to snooze")
        until = at + snooze_for
        current = aware(row.snoozed_until)
        if current is not None and row.snoozed_by == actor and abs(current - until) < SNOOZE_REPEAT_WINDOW:
            return ActResult(get_incident(session=session, incident_id=incident_id), False)
        conn.execute(update(INC).where(INC.c.id == incident_id).values(
            snoozed_until=until, snoozed_by=actor, version=INC.c.version + 1))
        conn.execute(insert(EVT), [_audit_row(incident_id, Transition(
            incident_id, status, status, actor, via, at, f"snoozed until {until.isoformat(timespec='minutes')}"))])
        return ActResult(get_incident(session=session, incident_id=incident_id), True)
    to = status_for_action(action)
    move = transition(status, to, incident_id=incident_id, actor=actor, via=via, at=at)
    if move is None:
        return ActResult(get_incident(session=session, incident_id=incident_id), False)
    values: dict = {"status": to.value, "version": INC.c.version + 1}
    if to is IncidentStatus.ACKNOWLEDGED:
        values.update(acknowledged_at=at, acknowledged_by=actor)
    if to is IncidentStatus.RESOLVED:
        values.update(resolved_at=at, resolved_by=actor)
    conn.execute(update(INC).where(INC.c.id == incident_id).values(values))
    conn.execute(insert(EVT), [_audit_row(incident_id, move)])
    return ActResult(get_incident(session=session, incident_id=incident_id), True)


def mark_alerted(*, session: Session, incident_id: int, at: datetime, channel: str | None = None,
                 ts: str | None = None, via: Via = Via.DELIVERY) -> IncidentView | None:
    """The incident's first alert reached a channel: detected → alerted (once), and remember the
    message so later changes update it in place. Later statuses keep theirs."""
    row = _locked(session, incident_id)
    if row is None:
        return None
    conn = session.connection()
    values: dict = {}
    if row.alerted_at is None:
        values["alerted_at"] = at
    if channel and ts and not row.slack_ts:
        values.update(slack_channel=channel, slack_ts=ts)
    status = IncidentStatus(row.status)
    if status is IncidentStatus.DETECTED:
        move = transition(status, IncidentStatus.ALERTED, incident_id=incident_id, actor=None, via=via, at=at)
        values["status"] = IncidentStatus.ALERTED.value
        conn.execute(insert(EVT), [_audit_row(incident_id, move)])
    if values:
        values["version"] = INC.c.version + 1
        conn.execute(update(INC).where(INC.c.id == incident_id).values(values))
    return get_incident(session=session, incident_id=incident_id)


def mark_batch_delivered(*, session: Session, batch: str, at: datetime, channel: str) -> int:
    """Mark every pending alert of a batch as sent to `channel` (the demo's stand-in for Slack),
    and its incidents as alerted."""
    lock_incident_writes(session=session)
    rows = session.connection().execute(select(OUT.c.id, OUT.c.incident_id, OUT.c.kind).where(
        OUT.c.batch == batch, OUT.c.status == "pending")).all()
    if not rows:
        return 0
    session.connection().execute(update(OUT).where(OUT.c.id.in_([r.id for r in rows])).values(
        status="sent", sent_at=at, channel=channel, attempts=OUT.c.attempts + 1))
    for r in rows:
        if r.kind == AlertKind.OPENED.value and r.incident_id is not None:
            mark_alerted(session=session, incident_id=r.incident_id, at=at)
    return len(rows)


def pending_alerts(*, session: Session, batch: str | None = None) -> list[dict]:
    q = select(OUT).where(OUT.c.status == "pending")
    if batch:
        q = q.where(OUT.c.batch == batch)
    return [dict(r._mapping) for r in session.connection().execute(q.order_by(OUT.c.id)).all()]


__all__ = ["ActResult", "AlertKind", "act", "apply_plan", "audit_trail", "closed_today", "count_open",
           "get_incident", "incidents_since", "mark_alerted", "open_incidents", "open_states", "pending_alerts"]
