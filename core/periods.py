"""Date ranges: UTC calendar days, both ends inclusive."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


class PeriodError(ValueError):
    """A period the user typed that we cannot read."""


@dataclass(frozen=True, slots=True)
class DateRange:
    start: date
    end: date  # inclusive

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise PeriodError(f"the range ends ({self.end}) before it starts ({self.start})")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> DateRange:
        """The range of the same length just before this one (for Δ vs previous period)."""
        return DateRange(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def __iter__(self):
        d = self.start
        while d <= self.end:
            yield d
            d += timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def period_text(first: date, last: date) -> str:
    """The one way a period is written — in messages, chart subtitles and exports alike:
    `2026-01-01 → 2026-01-30 (30 days)`. Dates are YYYY-MM-DD and nothing else."""
    days = (last - first).days + 1
    return f"{first.isoformat()} → {last.isoformat()} ({days} day{'s' if days != 1 else ''})"


def utc_today() -> date:
    return datetime.now(UTC).date()


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)  # only this: fromisoformat also takes 2026W011, 20260131


def parse_day(text: str) -> date:
    try:
        if not _DAY.fullmatch(text.strip()):
            raise ValueError(text)
        return date.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(f"not a date (want YYYY-MM-DD): {text[:40]!r}") from None


MAX_DAYS = 3660  # ten years: the longest range a command walks day by day (--days, a sync's --from/--to)


def last_n_days(n: int, today: date | None = None) -> DateRange:
    """`--days N`: the N days ending today."""
    if n < 1 or n > MAX_DAYS:
        raise PeriodError(f"--days must be between 1 and {MAX_DAYS}")
    end = today or utc_today()
    return DateRange(end - timedelta(days=n - 1), end)


def from_args(from_: str | None, to: str | None, days: int | None, *, default_days: int = 30,
              today: date | None = None) -> DateRange:
    """The CLI's `--from/--to | --days` into a range (default: the last `default_days`)."""
    today = today or utc_today()
    if days is not None and (from_ or to):
        raise PeriodError("use either --from/--to or --days, not both")
    if days is not None:
        return last_n_days(days, today)
    if from_ or to:
        start = parse_day(from_) if from_ else None
        end = parse_day(to) if to else today
        if start is None:  # the default span before `--to`, not before the first day of the calendar
            start = date.fromordinal(max(1, end.toordinal() - (default_days - 1)))
        return DateRange(start, end)
    return last_n_days(default_days, today)


_PERIOD = re.compile(r"^(\d{1,4})([dwmy])$")
_UNIT_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


def parse_period(text: str | None, *, default: str = "30d", today: date | None = None) -> DateRange:
    """Slack PERIOD: `7d`, `30d`, `90d`, `1y`, `YYYY-MM-DD..YYYY-MM-DD`."""
    today = today or utc_today()
    token = (text or default).strip().lower()
    if ".." in token:
        left, _, right = token.partition("..")
        return DateRange(parse_day(left), parse_day(right))
    m = _PERIOD.match(token)
    if not m:
        raise PeriodError(f"not a period: {text[:40]!r} (try 7d, 30d, 90d, 1y or 2026-01-01..2026-01-31)")
    return last_n_days(int(m.group(1)) * _UNIT_DAYS[m.group(2)], today)


def is_period(token: str) -> bool:
    t = token.strip().lower()
    return bool(_PERIOD.match(t)) or (".." in t and len(t) == 22)
