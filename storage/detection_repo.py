"""What detection reads: the person × day matrix, the drivers (tool, model) of a finding, the time
the data showed it, names, personal limits and Cursor's billing cycle. Read-only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import bindparam, text
from sqlmodel import Session

from core.detection.config import Cycle
from core.detection.explain import Driver
from core.detection.layers import MAX_LOOKBACK_DAYS, DayInputs, UsageMatrix
from core.incidents import TEAM_SUBJECT
from core.usage import Feed, Source
from storage.values import aware

MS_PER_DAY = 86_400_000
SOURCES = [s.value for s in Source]  # the leading column of usage_event's primary key
EPOCH_DAY = date(1970, 1, 1)
# feeds whose records are day buckets (their time is the bucket's start): the data showing a
# problem is complete at the end of the bucket
BUCKET_FEEDS = (Feed.CLAUDE_CODE_ANALYTICS.value, Feed.ANTHROPIC_MESSAGES.value, Feed.CLAUDE_USAGE_CSV.value,
                Feed.CLAUDE_COST_CSV.value)


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def load_matrix(*, session: Session, start: date, end: date) -> UsageMatrix:
    """Spend, requests and tokens per subject and day across both tools (usage_person_total_day:
    one row per active person-day), plus the personal Cursor limits of the latest cycle.

    Read with the driver's own cursor and the day as an integer offset computed by the database:
    at 5,000 people × 5 weeks, SQLAlchemy's per-row type processing (a date object per row) was
    most of the run's time."""
    days = (end - start).days + 1
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        offset = "(day - %(start)s::date)"
        params: dict | tuple = {"start": start, "end": end}
        where = "day >= %(start)s::date AND day <= %(end)s::date"
    else:
        offset = "CAST(julianday(day) - julianday(?) AS INTEGER)"
        params = (start.isoformat(), start.isoformat(), end.isoformat())
        where = "day >= ? AND day <= ?"
    sql = (f"SELECT person, {offset}, cost_nanos, requests, "
           "input_tokens + cache_write_tokens + cache_read_tokens + output_tokens "
           f"FROM usage_person_total_day WHERE {where}")
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        matrix = UsageMatrix.empty(start, days)
    else:
        people, offsets, cost_v, req_v, tok_v = zip(*rows, strict=True)
        subjects = sorted(set(people))
        index = {p: i for i, p in enumerate(subjects)}
        pi = np.fromiter(map(index.__getitem__, people), dtype=np.int64, count=len(rows))
        di = np.asarray(offsets, dtype=np.int64)
        shape = (len(subjects), days)
        cost, requests, tokens = (np.zeros(shape, dtype=np.int64) for _ in range(3))
        cost[pi, di] = np.asarray(cost_v, dtype=np.int64)
        requests[pi, di] = np.asarray(req_v, dtype=np.int64)
        tokens[pi, di] = np.asarray(tok_v, dtype=np.int64)
        matrix = UsageMatrix(subjects, start, cost, requests, tokens)
    matrix.limits_nanos = personal_limits(session=session)
    if matrix.limits_nanos:
        rows = session.connection().execute(text(
            "SELECT person, day, cost_nanos FROM usage_person_day WHERE source = :cursor AND person IN :people "
            "AND day >= :start AND day <= :end").bindparams(bindparam("people", expanding=True)),
            {"cursor": Source.CURSOR.value, "people": sorted(matrix.limits_nanos), "start": start, "end": end}).all()
        limited = {p: np.zeros(days, dtype=np.int64) for p in matrix.limits_nanos}
        for person, d, c in rows:
            limited[person][(_day(d) - start).days] = int(c)
        matrix.limited_cost = limited
    return matrix


def _raw(session: Session, sqlite_sql: str, pg_sql: str, params: dict) -> list[tuple]:
    """Run a read with the driver's own cursor (no per-row type processing): detection reads
    thousands of plain numbers per run. SQLite gets ISO dates, Postgres dates."""
    conn = session.connection()
    cursor = conn.connection.driver_connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            cursor.execute(pg_sql, params)
        else:
            cursor.execute(sqlite_sql, {k: v.isoformat() if isinstance(v, date) else v for k, v in params.items()})
        return cursor.fetchall()
    finally:
        cursor.close()


_TOKENS = "input_tokens + cache_write_tokens + cache_read_tokens + output_tokens"


def load_day_inputs(*, session: Session, day: date, cycle: Cycle, fraction: float, lookback_days: int,
                    spike_floor_nanos: int) -> DayInputs:
    """One day's detection inputs from the person-day rollup, aggregated by the database: the
    day's figures and the cycle-to-date spend of everyone, and — for the people whose spend that
    day reaches the spike floor, the only ones a spike can be about — the mean of their last
    `lookback_days` days with data within MAX_LOOKBACK_DAYS (read through the (person, day)
    index). The same rule as `DayInputs.from_matrix`; a test holds the two to the same answers."""
    lo = day - timedelta(days=MAX_LOOKBACK_DAYS)
    today = _raw(session,
                 f"SELECT person, cost_nanos, requests, {_TOKENS} FROM usage_person_total_day WHERE day = :day",
                 f"SELECT person, cost_nanos, requests, {_TOKENS} FROM usage_person_total_day WHERE day = %(day)s",
                 {"day": day})
    cyc = _raw(session,
               "SELECT person, SUM(cost_nanos) FROM usage_person_total_day WHERE day >= :start AND day <= :day "
               "GROUP BY person",
               "SELECT person, SUM(cost_nanos) FROM usage_person_total_day WHERE day >= %(start)s AND day <= %(day)s "
               "GROUP BY person", {"start": cycle.start, "day": day})
    subjects = sorted({r[0] for r in today} | {r[0] for r in cyc})
    index = {p: i for i, p in enumerate(subjects)}
    n = len(subjects)
    cost, requests, tokens, cycle_cost, days = (np.zeros(n, dtype=np.int64) for _ in range(5))
    mean = np.zeros(n, dtype=np.float64)
    for person, c, r, t in today:
        i = index[person]
        cost[i], requests[i], tokens[i] = int(c), int(r), int(t)
    for person, total in cyc:
        cycle_cost[index[person]] = int(total)
    candidates = [subjects[i] for i in np.flatnonzero(cost >= max(1, spike_floor_nanos))]
    if candidates:
        rows = session.connection().execute(text(
            "SELECT person, day, cost_nanos FROM usage_person_total_day WHERE person IN :people AND day >= :lo "
            f"AND day < :day AND (cost_nanos > 0 OR requests > 0 OR {_TOKENS} > 0)").bindparams(
            bindparam("people", expanding=True)), {"people": candidates, "lo": lo, "day": day}).all()
        recent: dict[str, list[tuple[date, int]]] = {}
        for person, d, c in rows:
            recent.setdefault(person, []).append((_day(d), int(c)))
        for person, history in recent.items():
            chosen = sorted(history, reverse=True)[:max(1, int(lookback_days))]
            i = index[person]
            days[i] = len(chosen)
            mean[i] = sum(c for _, c in chosen) / len(chosen)
    limits = personal_limits(session=session)
    limit_spend: dict[str, int] = {}
    if limits:
        rows = session.connection().execute(text(
            "SELECT person, SUM(cost_nanos) FROM usage_person_day WHERE source = :cursor AND person IN :people "
            "AND day >= :start AND day <= :day GROUP BY person").bindparams(bindparam("people", expanding=True)),
            {"cursor": Source.CURSOR.value, "people": sorted(limits), "start": cycle.start, "day": day}).all()
        limit_spend = {p: 0 for p in limits} | {str(p): int(v or 0) for p, v in rows}
    return DayInputs(subjects, day, cycle, fraction, cost, requests, tokens, cycle_cost, mean, days, limits,
                     limit_spend)


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
            f"SELECT person, {latest_sql} FROM usage_event WHERE source IN :sources AND day = :day "
            "AND person IN :people GROUP BY person").bindparams(bindparam("people", expanding=True),
                                                                  bindparam("sources", expanding=True)),
            {"day": day, "people": people, "sources": SOURCES}).all()
        for person, ms in rows:
            if ms is not None:
                out[str(person)] = min(datetime.fromtimestamp(int(ms) / 1000, tz=UTC), fallback)
    if TEAM_SUBJECT in subjects:
        ms = session.connection().execute(text(f"SELECT {latest_sql} FROM usage_event WHERE source IN :sources "
                                               "AND day = :day").bindparams(bindparam("sources", expanding=True)),
                                          {"day": day, "sources": SOURCES}).scalar()
        if ms is not None:
            out[TEAM_SUBJECT] = min(datetime.fromtimestamp(int(ms) / 1000, tz=UTC), fallback)
    return out


SYNC_TRIED = timedelta(days=2)  # an organisation the sync tried within this is still configured
SYNC_TRUSTED = timedelta(days=7)  # and one whose last success is older than this no longer holds detection back


def data_complete_until(*, session: Session, now: datetime) -> datetime | None:
    """Up to when the stored vendor data is complete: the end of the latest successful incremental
    sync of the organisation that is furthest behind. None when nothing holds detection back
    (imports only, or no sync lately): the stored data is all there is.

    A vendor that is down leaves its days unfetched; detection must not read them as days on which
    a condition cleared. Counted: organisations the sync tried in the last SYNC_TRIED (still
    configured) whose last success is within SYNC_TRUSTED — a key that never worked has no data to
    be behind on, and an outage longer than a week stops holding the cool-down back."""
    rows = session.connection().execute(text(
        "SELECT source, org, status, started_at, finished_at FROM sync_run "
        "WHERE (stream IS NULL OR stream <> 'backfill') AND started_at >= :since"),
        {"since": now - SYNC_TRUSTED}).all()
    tried: set[tuple[str, str]] = set()
    last_ok: dict[tuple[str, str], datetime] = {}
    for source, org, status, started, finished in rows:
        key = (str(source), str(org or ""))
        started_at, finished_at = aware(started), aware(finished)
        if started_at is not None and started_at >= now - SYNC_TRIED:
            tried.add(key)
        if status == "ok" and finished_at is not None:
            last_ok[key] = max(last_ok.get(key, finished_at), finished_at)
    behind = [last_ok[key] for key in tried if key in last_ok]
    return min(behind) if behind else None
