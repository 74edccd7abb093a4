"""What the read queries over the daily rollups share: the rollup table names and the filter of a
period (optionally one tool, one person or a list of people), aliased `d`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING

from core.periods import DateRange
from core.usage import LIVE_FEEDS
from storage.dbapi import Rows

if TYPE_CHECKING:  # SQLAlchemy is imported where a SQLAlchemy connection is used: `abacus report` reads without it
    from sqlalchemy.engine import Connection
    from sqlmodel import Session

# Read the smallest rollup that answers: per model × day (tiny) for team totals, per person × day
# for anything by person, and the full day × person × model rollup only when both are needed.
MODEL_DAY, PERSON_DAY, FULL = "usage_model_day", "usage_person_day", "usage_daily"
PERSON_TOTAL_DAY = "usage_person_total_day"  # per person × day across tools: no `source` column

# The live-telemetry rows of usage_event, as the partial index `ix_usage_event_live_day` (migration
# 0013) states them: SQLite uses a partial index only for a query whose WHERE names its terms, so
# the feeds are literals here, not parameters (they are enum values, never user text).
# (An OR of equalities, not IN: Postgres deparses `varchar IN (…)` into an array expression that
# does not read back the same, and storage.schema_snapshot replays the deparsed text.)
LIVE_ROWS = "source = 'claude_code' AND ({})".format(" OR ".join(f"feed = '{f.value}'" for f in LIVE_FEEDS))


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
    read-only command needs no ORM session, nor the ORM's import time."""
    from sqlalchemy.engine import Connection

    return session if isinstance(session, Connection) else session.connection()


def _text(sql: str, params: dict):
    """`sql` as a SQLAlchemy text clause, every list parameter expanded into `IN (…)`."""
    from sqlalchemy import bindparam, text

    stmt = text(sql)
    lists = [bindparam(k, expanding=True) for k, v in params.items() if isinstance(v, (list, tuple))]
    return stmt.bindparams(*lists) if lists else stmt


def run_rollup_query(session: Session | Connection, sql: str, params: dict):
    """Execute `sql` on SQLAlchemy, expanding a list parameter (`people`) into `IN (…)`."""
    return connection_of(session).execute(_text(sql, params), params)


class _SqlAlchemyRows(Rows):
    def __init__(self, session: Session | Connection) -> None:
        self.conn = connection_of(session)
        self.dialect = self.conn.dialect.name

    def rows(self, sql: str, params: dict) -> list[tuple]:
        return [tuple(r) for r in self.conn.execute(_text(sql, params), params)]


def rows_of(session: Session | Connection | Rows) -> Rows:
    """Reads over a session or connection of SQLAlchemy, or over a bare-driver connection
    (storage.dbapi): the same SQL text for both."""
    return session if isinstance(session, Rows) else _SqlAlchemyRows(session)


def live_days(*, session: Session | Connection | Rows, start: date, end: date,
              persons: Iterable[str] | None = None) -> list[date]:
    """The days in [start, end] whose Claude Code figures are (partly) live estimates — telemetry
    the vendor's own figures have not replaced yet."""
    db = rows_of(session)
    # SQLite without statistics prefers the primary key's (source, day) range, every Claude Code row
    # of the period: named, the partial index is read instead (Postgres knows the index's size)
    table = "usage_event INDEXED BY ix_usage_event_live_day" if db.dialect == "sqlite" else "usage_event"
    sql = f"SELECT DISTINCT day FROM {table} WHERE {LIVE_ROWS} AND day >= :a AND day <= :b"
    params: dict = {"a": start, "b": end}
    if persons is not None:
        params["persons"] = sorted(set(persons))
        if not params["persons"]:
            return []
        sql += " AND person IN :persons"
    rows = db.rows(sql + " ORDER BY day", params)
    return [d if isinstance(d, date) else date.fromisoformat(str(d)[:10]) for (d,) in rows]
