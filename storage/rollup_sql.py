"""What the read queries over the daily rollups share: the rollup table names and the filter of a
period (optionally one tool, one person or a list of people), aliased `d`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from sqlmodel import Session

from core.periods import DateRange
from core.usage import LIVE_FEEDS

# Read the smallest rollup that answers: per model × day (tiny) for team totals, per person × day
# for anything by person, and the full day × person × model rollup only when both are needed.
MODEL_DAY, PERSON_DAY, FULL = "usage_model_day", "usage_person_day", "usage_daily"
PERSON_TOTAL_DAY = "usage_person_total_day"  # per person × day across tools: no `source` column


def period_where(period: DateRange, *, source: str | None = None, person: str | None = None,
                 people: Sequence[str] | None = None) -> tuple[str, dict]:
    """The WHERE clause (without the keyword) and its parameters for rows of `d` in `period`."""
    clauses = ["d.day >= :start", "d.day <= :end"]
    params: dict = {"start": period.start, "end": period.end}
    if source:
        clauses.append("d.source = :source")
        params["source"] = source
    if person:
        clauses.append("d.person = :person")
        params["person"] = person
    if people is not None:
        clauses.append("d.person IN :people")
        params["people"] = list(people)
    return " AND ".join(clauses), params


def connection_of(session: Session | Connection) -> Connection:
    """The connection of a session, or the connection itself: read queries take either, so that a
    read-only command (`abacus report`) needs no ORM session, nor the ORM's import time."""
    return session if isinstance(session, Connection) else session.connection()


def run_rollup_query(session: Session | Connection, sql: str, params: dict):
    """Execute `sql`, expanding a `people` list parameter into `IN (…)`."""
    stmt = text(sql)
    if "people" in params:
        stmt = stmt.bindparams(bindparam("people", expanding=True))
    return connection_of(session).execute(stmt, params)


def live_days(*, session: Session | Connection, start: date, end: date,
              persons: Iterable[str] | None = None) -> list[date]:
    """The days in [start, end] whose Claude Code figures are (partly) live estimates — telemetry
    the vendor's own figures have not replaced yet."""
    sql = ("SELECT DISTINCT day FROM usage_event WHERE source = 'claude_code' AND day >= :a AND day <= :b "
           "AND feed IN :feeds")
    params: dict = {"a": start, "b": end, "feeds": [f.value for f in LIVE_FEEDS]}
    binds = [bindparam("feeds", expanding=True)]
    if persons is not None:
        params["persons"] = sorted(set(persons))
        if not params["persons"]:
            return []
        sql += " AND person IN :persons"
        binds.append(bindparam("persons", expanding=True))
    rows = connection_of(session).execute(text(sql + " ORDER BY day").bindparams(*binds), params)
    return [d if isinstance(d, date) else date.fromisoformat(str(d)[:10]) for (d,) in rows]
