"""Billed versus estimated: the Anthropic cost report (what the organisation is billed, per model
and day) beside Abacus' Claude Code figures for the same models and days.

The two need not agree, and the gap is the point: the cost report bills all API usage of the
organisation (Claude Code and everything else, priority tier excluded), while Abacus counts Claude
Code — at the vendor's own estimate where it gives one, else at list price from the price table.
A model billed with no Claude Code figure is other API usage; Claude Code figures above the bill
mean the estimates run high (or the bill has not caught up yet: the cost report lags a day).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from core.pricing import normalise_model


@dataclass(slots=True)
class ReconRow:
    key: str  # a normalised model name, or a day (YYYY-MM-DD)
    billed_nanos: int = 0
    estimated_nanos: int = 0

    @property
    def gap_nanos(self) -> int:
        """Billed minus estimated: positive = billed for more than Claude Code accounts for."""
        return self.billed_nanos - self.estimated_nanos

    @property
    def estimated_share(self) -> float | None:
        """Estimated as a share of billed (None when nothing was billed)."""
        return self.estimated_nanos / self.billed_nanos if self.billed_nanos else None


@dataclass(slots=True)
class Reconciliation:
    start: date
    end: date
    by_model: list[ReconRow] = field(default_factory=list)  # largest bill first
    by_day: list[ReconRow] = field(default_factory=list)  # chronological
    billed_days: int = 0  # days the cost report has figures for

    @property
    def billed_nanos(self) -> int:
        return sum(r.billed_nanos for r in self.by_model)

    @property
    def estimated_nanos(self) -> int:
        return sum(r.estimated_nanos for r in self.by_model)

    @property
    def has_bill(self) -> bool:
        return self.billed_days > 0


def reconcile(start: date, end: date, billed: Iterable[tuple[date, str | None, int]],
              estimated: Iterable[tuple[date, str, int]]) -> Reconciliation:
    """`billed`: (day, raw model or None for non-token costs, nanos) from the cost report;
    `estimated`: (day, normalised model, nanos) of Claude Code usage. Only days the cost report
    covers are compared (a day it has not billed yet is not a gap)."""
    billed = [(d, m, n) for d, m, n in billed if start <= d <= end]
    billed_days = {d for d, _, _ in billed}
    models: dict[str, ReconRow] = {}
    days: dict[date, ReconRow] = {}
    for day, raw, nanos in billed:
        key = normalise_model(raw) if raw else "other (not tokens)"
        models.setdefault(key, ReconRow(key)).billed_nanos += nanos
        days.setdefault(day, ReconRow(day.isoformat())).billed_nanos += nanos
    for day, model, nanos in estimated:
        if day not in billed_days:
            continue
        models.setdefault(model, ReconRow(model)).estimated_nanos += nanos
        days.setdefault(day, ReconRow(day.isoformat())).estimated_nanos += nanos
    by_model = sorted(models.values(), key=lambda r: (-r.billed_nanos, -r.estimated_nanos, r.key))
    by_day = [days[d] for d in sorted(days)]
    return Reconciliation(start=start, end=end, by_model=by_model, by_day=by_day, billed_days=len(billed_days))
