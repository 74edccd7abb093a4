"""Live Claude Code telemetry into the store, under the rules of core.telemetry.

One call = one transaction, under the usage write lock taken before anything is read: the
cumulative metric series' state, which feeds already hold each person-day, the removal of live
figures a better feed supersedes, and the write itself (storage.usage_repo.write_usage) — so two
receivers, or a receiver and a sync, can never both count a person-day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, text
from sqlmodel import Session

from core.identity import IdentityResolver
from core.sources.otlp import ApiRequest, MetricPoint, Temporality
from core.telemetry import (
    LIVE_FEEDS,
    SeriesState,
    apply_precedence,
    legacy_series_key,
    metric_records,
    rank,
    request_record,
    series_key,
)
from core.usage import Source
from storage.rollup_sql import live_days  # a read over the usage table, kept importable from here
from storage.tables import utcnow
from storage.usage_repo import lock_usage_writes, rebuild_rollup, write_usage

_CLAUDE = Source.CLAUDE_CODE.value


@dataclass(slots=True)
class IngestResult:
    records: int = 0  # usage records derived from the batch
    inserted: int = 0
    duplicates: int = 0  # already stored (a redelivered batch)
    skipped: int = 0  # person-days the vendor's figures (or live events, for metrics) already cover
    superseded: int = 0  # stored live records removed because better figures arrived


def ingest(*, session: Session, resolver: IdentityResolver, requests: Iterable[ApiRequest] = (),
           points: Iterable[MetricPoint] = ()) -> IngestResult:
    """Store a batch of decoded telemetry (the caller owns the transaction)."""
    lock_usage_writes(session=session)
    records = [request_record(e, resolver) for e in requests]
    points = list(points)
    if points:
        cumulative = [p for p in points if p.temporality is Temporality.CUMULATIVE]
        keys = {series_key(p) for p in cumulative} | {legacy_series_key(p) for p in cumulative}
        from_metrics, changed = metric_records(points, _series_state(session, keys), resolver)
        _save_series(session, changed)
        records += from_metrics
    result = IngestResult(records=len(records))
    if not records:
        return result
    stored = stored_ranks(session, {(r.day, r.person) for r in records})
    decision = apply_precedence(records, stored)
    result.skipped = decision.skipped
    for feed, person_days in decision.supersede.items():
        result.superseded += remove_live(session=session, feeds=(feed,), person_days=person_days)
    written = write_usage(decision.keep, session=session)
    result.inserted, result.duplicates = written.inserted, len(decision.keep) - written.inserted
    return result


def stored_ranks(session: Session, person_days: set[tuple[date, str]]) -> dict[tuple[date, str], set[int]]:
    """The ranks (core.telemetry.rank) of the Claude Code feeds stored for these person-days:
    one look-up on the per-person-day index."""
    if not person_days:
        return {}
    days = sorted({d for d, _ in person_days})
    persons = sorted({p for _, p in person_days})
    out: dict[tuple[date, str], set[int]] = {}
    for i in range(0, len(persons), 500):
        rows = session.connection().execute(text(
            # the literal source lets both databases use the partial index
            "SELECT DISTINCT day, person, feed FROM usage_event WHERE source = 'claude_code' "
            "AND day IN :days AND person IN :persons")
            .bindparams(bindparam("days", expanding=True), bindparam("persons", expanding=True)),
            {"days": days, "persons": persons[i:i + 500]})
        for day, person, feed in rows:
            pd = (_as_date(day), person)
            if pd in person_days:
                out.setdefault(pd, set()).add(rank(feed))
    return out


def remove_live(*, session: Session, person_days: Iterable[tuple[date, str]],
                feeds: Iterable[str] = tuple(f.value for f in LIVE_FEEDS)) -> int:
    """Remove the stored live records of these person-days (the vendor's figures, or live events,
    supersede them) and rebuild the rollups of their days; returns how many were removed."""
    by_day: dict[date, set[str]] = {}
    for day, person in person_days:
        by_day.setdefault(day, set()).add(person)
    if not by_day:
        return 0
    lock_usage_writes(session=session)  # the rollup rebuild below must not interleave with a batch
    conn = session.connection()
    removed = 0
    for day, persons in sorted(by_day.items()):  # one statement per day (a batch is mostly today)
        removed += conn.execute(text(
            "DELETE FROM usage_event WHERE source = 'claude_code' AND day = :d AND person IN :persons "
            "AND feed IN :feeds").bindparams(bindparam("persons", expanding=True), bindparam("feeds", expanding=True)),
            {"d": day, "persons": sorted(persons), "feeds": [str(f) for f in feeds]}).rowcount or 0
    if removed:
        rebuild_rollup(session=session, source=_CLAUDE, days=by_day)
    return removed


def _series_state(session: Session, keys: set[str]) -> dict[str, SeriesState]:
    if not keys:
        return {}
    rows = session.connection().execute(text(
        "SELECT series_key, start_ns, time_ns, value FROM otel_metric_series WHERE series_key IN :keys")
        .bindparams(bindparam("keys", expanding=True)), {"keys": sorted(keys)})
    return {k: SeriesState(int(s), int(t), int(v)) for k, s, t, v in rows}


def _save_series(session: Session, changed: dict[str, SeriesState]) -> None:
    if not changed:
        return
    now = utcnow()
    session.connection().execute(text(
        "INSERT INTO otel_metric_series (series_key, start_ns, time_ns, value, updated_at) "
        "VALUES (:k, :s, :t, :v, :u) ON CONFLICT (series_key) DO UPDATE SET start_ns = excluded.start_ns, "
        "time_ns = excluded.time_ns, value = excluded.value, updated_at = excluded.updated_at"),
        [{"k": k, "s": st.start_ns, "t": st.time_ns, "v": st.value, "u": now} for k, st in changed.items()])


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


__all__ = ["IngestResult", "ingest", "live_days", "remove_live", "stored_ranks"]
