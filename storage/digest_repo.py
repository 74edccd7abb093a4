"""What the weekly digest reads beyond the usage rollups: pull requests and commits."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.periods import DateRange
from storage.tables import PersonActivity

A = PersonActivity.__table__


def activity_totals(*, session: Session, period: DateRange) -> tuple[int, int]:
    """(commits, pull requests) reported by the tools' analytics over the period."""
    row = session.execute(select(func.coalesce(func.sum(A.c.commits), 0), func.coalesce(func.sum(A.c.pull_requests), 0))
                          .where(A.c.day >= period.start, A.c.day <= period.end)).one()
    return int(row[0]), int(row[1])
