"""Turning caller data into what gets drawn: cleaned numbers, folded tails, daily series, date ticks.

Pure Python, no matplotlib. Every chart goes through here, so odd input (NaN, -0.0, infinities,
duplicates, unsorted days) is handled once.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from charts.formatting import day_label, month_label


def number(value: object) -> float:
    """A finite float: NaN, ±inf, None and junk become 0.0, and -0.0 becomes 0.0."""
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(result) or result == 0:
        return 0.0
    return result


def amount(value: object) -> float:
    """A drawable non-negative amount: what `number` gives, with negatives (credits) as 0."""
    return max(0.0, number(value))


def as_day(value: date) -> date:
    """A `date` from a date or datetime (a datetime is a date subclass, but compares differently)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"expected a date, got {type(value).__name__}")


@dataclass(frozen=True)
class Slice:
    """One drawn row of a ranked chart; `folded` counts the rows merged into an "others" row."""

    label: str
    value: float
    folded: int = 0

    @property
    def is_others(self) -> bool:
        return self.folded > 0


def merge_rows(rows: Iterable[tuple[str, object]]) -> dict[str, float]:
    """Sum duplicate names; values cleaned with `amount`."""
    merged: dict[str, float] = {}
    for row in rows:
        name, value = str(row[0]), amount(row[1])
        merged[name] = merged.get(name, 0.0) + value
    return merged


def fold_tail(rows: Iterable[tuple[str, object]], top: int, *, others: str = "Others") -> list[Slice]:
    """Largest first; keep the `top` largest rows and sum the rest into one `Others (n)` row.

    Duplicate names are summed, rows worth nothing (zero, negative, NaN) are dropped. The tail is
    only folded when it holds at least two rows: an "Others (1)" row would take the same room as
    the row it hides.
    """
    top = max(1, int(top))
    merged = merge_rows(rows)
    ranked = sorted(((name, value) for name, value in merged.items() if value > 0), key=lambda r: (-r[1], r[0]))
    if len(ranked) <= top + 1:
        return [Slice(name, value) for name, value in ranked]
    head, tail = ranked[:top], ranked[top:]
    return [Slice(name, value) for name, value in head] + [
        Slice(f"{others} ({len(tail)})", math.fsum(value for _, value in tail), folded=len(tail))
    ]


@dataclass(frozen=True)
class DailySeries:
    """Days in order, one value per day for each named series."""

    days: list[date]
    series: dict[str, list[float]]

    def totals(self) -> list[float]:
        return [math.fsum(values[i] for values in self.series.values()) for i in range(len(self.days))]

    def total(self) -> float:
        return math.fsum(math.fsum(values) for values in self.series.values())

    def is_empty(self) -> bool:
        return not self.days or all(v == 0 for values in self.series.values() for v in values)


def daily_series(
    days: Sequence[date],
    series: Mapping[str, Sequence[object]],
    *,
    combine: Callable[[float, float], float] = operator.add,
) -> DailySeries:
    """Check lengths, sort by day, clean the values with `amount` and merge duplicate days with
    `combine` (sum by default; `max` suits counts such as active users)."""
    days = [as_day(d) for d in days]
    for key, values in series.items():
        if len(values) != len(days):
            raise ValueError(f"series {key!r} has {len(values)} values for {len(days)} days")
    ordered = sorted(set(days))
    index = {d: i for i, d in enumerate(ordered)}
    cleaned: dict[str, list[float]] = {}
    for key, values in series.items():
        merged: list[float | None] = [None] * len(ordered)
        for day, value in zip(days, values, strict=True):
            i = index[day]
            merged[i] = amount(value) if merged[i] is None else combine(merged[i], amount(value))
        cleaned[str(key)] = [0.0 if v is None else v for v in merged]
    return DailySeries(ordered, cleaned)


def date_ticks(first: date, last: date) -> list[tuple[date, str]]:
    """Tick positions and labels for a period of one day up to a few years, at most ~13 ticks.

    Up to two weeks: every day or every other day (`Jan 05`); up to four months: weekly or
    fortnightly from the first day; longer: the first of every 1, 2, 3, 6 or 12 months (`Mar`,
    with the year on the first tick and on January).
    """
    first, last = as_day(first), as_day(last)
    if last < first:
        first, last = last, first
    span = (last - first).days
    if span <= 62:
        step = 1 if span <= 7 else 2 if span <= 14 else 7
        return [(first + timedelta(days=k), day_label(first + timedelta(days=k))) for k in range(0, span + 1, step)]
    if span <= 124:
        return [(first + timedelta(days=k), day_label(first + timedelta(days=k))) for k in range(0, span + 1, 14)]
    months = []
    cursor = date(first.year, first.month, 1)
    if cursor < first:
        cursor = _add_months(cursor, 1)
    while cursor <= last:
        months.append(cursor)
        cursor = _add_months(cursor, 1)
    step = next((s for s in (1, 2, 3, 6, 12) if len(months) / s <= 13), 12 * math.ceil(len(months) / 156))
    picked = months[::step]
    return [(m, month_label(m, with_year=(i == 0 or m.month == 1))) for i, m in enumerate(picked)]


def _add_months(day: date, count: int) -> date:
    month = day.month - 1 + count
    return date(day.year + month // 12, month % 12 + 1, 1)
