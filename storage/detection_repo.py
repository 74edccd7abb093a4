"""What detection reads: the person × day matrix, the drivers (tool, model) of a finding, the time
the data showed it, names, personal limits and Cursor's billing cycle. Read-only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import bindparam, text
from sqlmodel import Session

from core.detection.explain import Driver
from core.detection.layers import UsageMatrix
from core.incidents import TEAM_SUBJECT
from core.usage import Feed

MS_PER_DAY = 86_400_000
EPOCH_DAY = date(1970, 1, 1)
# feeds whose records are day buckets (their time is the bucket's start): the data showing a
# problem is complete at the end of the bucket
BUCKET_FEEDS = (Feed.CLAUDE_CODE_ANALYTICS.value, Feed.ANTHROPIC_MESSAGES.value, Feed.CLAUDE_USAGE_CSV.value,
                Feed.CLAUDE_COST_CSV.value)


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def load_matrix(*, session: Session, start: date, end: date) -> UsageMatrix:
    """Spend, requests and tokens per subject and day across both tools (usage_person_total_day:
    one row per active person-day), plus the personal Cursor limits of the latest cycle."""
    days = (end - start).days + 1
    rows = session.connection().execute(text(
        "SELECT person, day, cost_nanos, requests, "
        "input_tokens + cache_write_tokens + cache_read_tokens + output_tokens "
        "FROM usage_person_total_day WHERE day >= :start AND day <= :end"), {"start": start, "end": end}).all()
    if not rows:
        matrix = UsageMatrix.empty(start, days)
    else:
        subjects = sorted({r[0] for r in rows})
        index = {p: i for i, p in enumerate(subjects)}
        day_index: dict = {}
        for r in rows:
            if r[1] not in day_index:
                day_index[r[1]] = (_day(r[1]) - start).days
        pi = np.fromiter((index[r[0]] for r in rows), dtype=np.int64, count=len(rows))
        di = np.fromiter((day_index[r[1]] for r in rows), dtype=np.int64, count=len(rows))
        shape = (len(subjects), days)
        cost, requests, tokens = (np.zeros(shape, dtype=np.int64) for _ in range(3))
        cost[pi, di] = np.fromiter((r[2] for r in rows), dtype=np.int64, count=len(rows))
        requests[pi, di] = np.fromiter((r[3] for r in rows), dtype=np.int64, count=len(rows))
        tokens[pi, di] = np.fromiter((r[4] for r in rows), dtype=np.int64, count=len(rows))
        matrix = UsageMatrix(subjects, start, cost, requests, tokens)
    matrix.limits_nanos = personal_limits(session=session)
    return matrix


def personal_limits(*, session: Session) -> dict[str, int]:
    """Per-person spend limits Cursor reports for its latest cycle (hard limit overrides)."""
    rows = session.connection().execute(text(
        "SELECT email, MAX(limit_dollars) FROM spend_snapshot WHERE limit_dollars IS NOT NULL AND limit_dollars > 0 "
        "AND cycle_start = (SELECT MAX(cycle_start) FROM spend_snapshot) GROUP BY email")).all()
    return {str(e): int(round(float(v) * 1_000_000_000)) for e, v in rows}


def vendor_cycle_start(*, session: Session) -> date | None:
    """The start of Cursor's current billing cycle, where a spend snapshot gives it."""
    value = session.connection().execute(text("SELECT MAX(cycle_start) FROM spend_snapshot")).scalar()
    return _day(value) if value is not None else None


def names(*, session: Session, subjects: Iterable[str]) -> dict[str, str]:
    wanted = sorted({s for s in subjects if s != TEAM_SUBJECT})
    if not wanted:
        return {}
    rows = session.connection().execute(
        text("SELECT email, name FROM person WHERE email IN :emails AND name IS NOT NULL").bindparams(
            bindparam("emails", expanding=True)), {"emails": wanted}).all()
    return {str(e): str(n) for e, n in rows if n and str(n).strip()}


def drivers(*, session: Session, subjects: Sequence[str], start: date, end: date,
            metric: str = "cost_nanos") -> dict[str, Driver]:
    """The (tool, model) with the largest share of each subject's `metric` over [start, end]
    (TEAM_SUBJECT: the whole team). Ties go to the alphabetically first tool and model."""
    assert metric in ("cost_nanos", "requests", "tokens")
    expr = ("input_tokens + cache_write_tokens + cache_read_tokens + output_tokens" if metric == "tokens"
            else metric)
    out: dict[str, Driver] = {}
    people = sorted({s for s in subjects if s != TEAM_SUBJECT})
    queries = []
    if people:
        queries.append((text(f"SELECT person, source, model, SUM({expr}) FROM usage_daily "
                             "WHERE day >= :start AND day <= :end AND person IN :people "
                             "GROUP BY person, source, model").bindparams(bindparam("people", expanding=True)),
                        {"start": start, "end": end, "people": people}))
    if TEAM_SUBJECT in subjects:
        queries.append((text(f"SELECT '{TEAM_SUBJECT}', source, model, SUM({expr}) FROM usage_model_day "
                             "WHERE day >= :start AND day <= :end GROUP BY source, model")
                        if metric != "tokens" else
                        text(f"SELECT '{TEAM_SUBJECT}', source, model, SUM({expr}) FROM usage_model_day "
                             "WHERE day >= :start AND day <= :end GROUP BY source, model"),
                        {"start": start, "end": end}))
    totals: dict[str, int] = {}
    best: dict[str, tuple[int, str, str]] = {}
    for query, params in queries:
        for subject, source, model, value in session.connection().execute(query, params):
            value = int(value or 0)
            totals[subject] = totals.get(subject, 0) + value
            current = best.get(subject)
            if value > 0 and (current is None or (value, ) > (current[0], ) or
                              (value == current[0] and (source, model) < (current[1], current[2]))):
                best[subject] = (value, str(source), str(model))
    for subject, (value, source, model) in best.items():
        if totals.get(subject):
            out[subject] = Driver(tool=source, model=model, share=value / totals[subject])
    return out


def data_times(*, session: Session, subjects: Sequence[str], day: date, now: datetime) -> dict[str, datetime]:
    """When the data of `day` showed what it shows, per subject: the time of the subject's latest
    record that day (an event's own time; the end of the day for day buckets), never after `now`.
    Subjects without records get the end of the day (capped at `now`)."""
    day_end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    end_ms = (day - EPOCH_DAY).days * MS_PER_DAY + MS_PER_DAY
    fallback = min(day_end, now)
    out = {s: fallback for s in subjects}
    people = sorted({s for s in subjects if s != TEAM_SUBJECT})
    latest_sql = (f"MAX(CASE WHEN feed IN ({', '.join(repr(f) for f in BUCKET_FEEDS)}) THEN {end_ms} "
                  "ELSE ts_ms END)")
    if people:
        rows = session.connection().execute(text(
            f"SELECT person, {latest_sql} FROM usage_event WHERE day = :day AND person IN :people GROUP BY person"
        ).bindparams(bindparam("people", expanding=True)), {"day": day, "people": people}).all()
        for person, ms in rows:
            if ms is not None:
                out[str(person)] = min(datetime.fromtimestamp(int(ms) / 1000, tz=UTC), fallback)
    if TEAM_SUBJECT in subjects:
        ms = session.connection().execute(text(f"SELECT {latest_sql} FROM usage_event WHERE day = :day"),
                                          {"day": day}).scalar()
        if ms is not None:
            out[TEAM_SUBJECT] = min(datetime.fromtimestamp(int(ms) / 1000, tz=UTC), fallback)
    return out
