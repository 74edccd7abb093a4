"""Aggregations over the daily rollup: exact integer sums, one query per report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from core.periods import DateRange
from core.report import NO_GROUP, Dimension, Report, ReportRow, UsageTotals, live_note
from core.usage import Source
from storage.rollup_sql import (
    FULL,
    MODEL_DAY,
    PERSON_DAY,
    PERSON_TOTAL_DAY,
    live_days,
    period_where,
    rows_of,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlmodel import Session

    from storage.dbapi import Rows


def _sums(active_days: str = "COUNT(DISTINCT d.day)") -> str:
    return ("SUM(d.input_tokens), SUM(d.output_tokens), SUM(d.cache_write_tokens), SUM(d.cache_read_tokens), "
            f"SUM(d.cost_nanos), SUM(d.requests), {active_days}, SUM(d.estimated_cost_nanos), "
            "SUM(d.unpriced_records)")


_KEY_EXPR = {
    Dimension.USER: "d.person",
    Dimension.MODEL: "d.model",
    Dimension.TOOL: "d.source",
    Dimension.DAY: "d.day",
    Dimension.GROUP: f"COALESCE(g.name, '{NO_GROUP}')",
}


def _totals(row) -> UsageTotals:
    vals = [int(v or 0) for v in row]
    return UsageTotals(input_tokens=vals[0], output_tokens=vals[1], cache_write_tokens=vals[2],
                       cache_read_tokens=vals[3], cost_nanos=vals[4], requests=vals[5], active_days=vals[6],
                       estimated_cost_nanos=vals[7], unpriced_records=vals[8])


def _table_for(by: Dimension, person: str | None, source: str | None, people: bool = False) -> str:
    """The smallest rollup that can answer: per person (across tools when no tool is chosen) for
    users and groups, per model otherwise."""
    if person is not None or people:
        return FULL if by is Dimension.MODEL else PERSON_DAY
    if by in (Dimension.USER, Dimension.GROUP):
        return PERSON_DAY if source else PERSON_TOTAL_DAY
    return MODEL_DAY


def usage_report(*, session: Session | Connection | Rows, period: DateRange, by: Dimension, source: str | None = None,
                 person: str | None = None, people: Sequence[str] | None = None) -> Report:
    """Usage in `period` grouped by `by`, largest cost first (by day: chronological); `people`: only
    these (a group's members). `session`: SQLAlchemy's, or a bare-driver connection (storage.dbapi,
    for `abacus report`): the same SQL on both."""
    where, params = period_where(period, source=source, person=person,
                                 people=None if people is None else (list(people) or [""]))
    key = _KEY_EXPR[by]
    db = rows_of(session)
    if db.dialect == "postgresql" and by is not Dimension.DAY:
        # group text keys by bytes, not by the locale's collation: sorting and hashing are cheaper
        # (the sort behind COUNT(DISTINCT day) ~30 %), and rows are ordered by cost below anyway
        key = f'({key}) COLLATE "C"'
    table = _table_for(by, person, source, people is not None)
    # one row per day and person in these reads, so active days need no DISTINCT (and no sort)
    unique_days = by is Dimension.USER and person is None
    join = ("LEFT JOIN person p ON p.email = d.person LEFT JOIN billing_group g ON g.id = p.group_id"
            if by is Dimension.GROUP else "")
    sums = _sums("COUNT(*)" if unique_days else "COUNT(DISTINCT d.day)")
    rows = db.rows(f"SELECT {key} AS k, {sums} FROM {table} d {join} WHERE {where} GROUP BY {key}", params)
    report_rows = [ReportRow(key=_key_text(r[0]), totals=_totals(r[1:])) for r in rows]
    if by is Dimension.DAY:
        report_rows.sort(key=lambda r: r.key)
    else:
        report_rows.sort(key=lambda r: (-r.totals.cost_nanos, -r.totals.total_tokens, r.key))
    total_table = PERSON_DAY if person is not None or people is not None else MODEL_DAY
    (total_row,) = db.rows(f"SELECT {_sums()} FROM {total_table} d WHERE {where}", params)
    totals = _totals(total_row)
    notes = []
    if totals.unpriced_records:
        models = [m for (m,) in db.rows(f"SELECT DISTINCT d.model FROM {FULL} d WHERE {where} "
                                        "AND d.unpriced_records > 0 ORDER BY d.model LIMIT 6", params)]
        named = ", ".join(models[:5]) + (", …" if len(models) > 5 else "")
        notes.append(f"{totals.unpriced_records} record(s) use a model with no known price ({named}); "
                     "their cost is not estimated")
    live = []
    if source in (None, Source.CLAUDE_CODE.value):
        persons = [person] if person is not None else (None if people is None else (list(people) or [""]))
        live = live_days(session=db, start=period.start, end=period.end, persons=persons)
        if live:
            notes.append(live_note(live))
    return Report(period=period, by=by, rows=report_rows, totals=totals, source=source, notes=notes, live_days=live)


def _key_text(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)
