"""What the read queries over the daily rollups share: the rollup table names and the filter of a
period (optionally one tool, one person or a list of people), aliased `d`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from sqlmodel import Session

from core.periods import DateRange

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
