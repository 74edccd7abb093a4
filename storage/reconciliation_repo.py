"""The two sides of core.reconciliation, read in two grouped queries."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlmodel import Session

from core.periods import DateRange
from core.reconciliation import Reconciliation, reconcile
from core.usage import Source


def reconciliation(*, session: Session, period: DateRange) -> Reconciliation:
    """Anthropic's billed cost (cost_report) beside Abacus' Claude Code figures, per model and day."""
    conn = session.connection()
    params = {"a": period.start, "b": period.end, "s": Source.CLAUDE_CODE.value}
    billed = [(_d(day), model, int(nanos or 0)) for day, model, nanos in conn.execute(text(
        "SELECT day, model, SUM(cost_nanos) FROM vendor_cost WHERE day >= :a AND day <= :b AND source = :s "
        "GROUP BY day, model"), params)]
    estimated = [(_d(day), str(model), int(nanos or 0)) for day, model, nanos in conn.execute(text(
        "SELECT day, model, SUM(cost_nanos) FROM usage_model_day WHERE day >= :a AND day <= :b AND source = :s "
        "GROUP BY day, model"), params)]
    return reconcile(period.start, period.end, billed, estimated)


def _d(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
