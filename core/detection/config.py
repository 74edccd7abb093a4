"""Detection settings (the defaults of the tracker we replace, docs/peers.md) and billing cycles.

The admin edits these in the App Home; `DetectionSettings.from_values` reads the stored values
(keys as in bot/services/settings.py), so every layer reads exactly what the admin set."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

NANOS_PER_USD = 1_000_000_000


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    # thresholds (0 = off); warning above the limit, critical above `threshold_critical_factor` × it
    max_spend_per_cycle_usd: float = 0.0
    max_requests_per_day: int = 0
    max_tokens_per_day: int = 0
    threshold_critical_factor: float = 2.0
    # team budget per billing cycle (None = no budget): team_budget and forecast_budget
    cycle_budget_usd: float | None = None
    # z-score of daily spend and requests against the people active that day
    zscore_multiplier: float = 2.5
    zscore_min_population: int = 5
    zscore_min_spend_usd: float = 50.0  # people below are counted in the mean but never flagged
    zscore_min_requests: int = 100
    # trends
    spend_spike_multiplier: float = 5.0
    spend_spike_min_usd: float = 50.0
    spend_spike_lookback_days: int = 7  # days *with data* before the day
    spend_spike_min_baseline_usd: float = 1.0
    cycle_outlier_multiplier: float = 10.0
    cycle_outlier_min_people: int = 5
    cycle_outlier_min_median_usd: float = 10.0
    # critical when the ratio reaches this many times the warning multiplier (peers: 3×)
    critical_factor: float = 3.0
    # forecast: needs this many days of the cycle elapsed before it speaks
    forecast_min_days: float = 3.0
    # billing cycle: 0 = Cursor's cycle start where the vendor gives one, else the 1st of the month
    cycle_start_day: int = 0
    # an incident resolves itself after its condition was absent on this many detection days
    cooldown_days: int = 2

    @classmethod
    def from_values(cls, values: dict[str, Any] | None) -> DetectionSettings:
        """Settings from the stored values (App Home keys). Unknown keys are ignored; a missing
        or empty value keeps the default."""
        values = values or {}
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            for key in (f"threshold.{f.name}", f"detection.{f.name}", f.name):
                if key in values and values[key] is not None:
                    kwargs[f.name] = values[key]
                    break
        if values.get("monthly_budget_usd") not in (None, "") and "cycle_budget_usd" not in kwargs:
            kwargs["cycle_budget_usd"] = values["monthly_budget_usd"]
        typed: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in kwargs:
                continue
            raw = kwargs[f.name]
            default = getattr(cls, f.name)
            if f.name == "cycle_budget_usd":
                typed[f.name] = float(raw) if raw not in (None, 0, 0.0) else None
            elif isinstance(default, int) and not isinstance(default, bool):
                typed[f.name] = int(raw)
            else:
                typed[f.name] = float(raw)
        return cls(**typed)

    def nanos(self, usd: float | None) -> int | None:
        return None if usd is None else int(round(float(usd) * NANOS_PER_USD))


@dataclass(frozen=True, slots=True)
class Cycle:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


def _anchor(year: int, month: int, day_of_month: int) -> date:
    return date(year, month, min(day_of_month, calendar.monthrange(year, month)[1]))


def cycle_containing(day: date, start_day: int) -> Cycle:
    """The billing cycle holding `day` when cycles start on `start_day` of each month (1..31;
    clamped to short months: a cycle anchored on the 31st starts on the 30th in April)."""
    start_day = max(1, min(31, int(start_day or 1)))
    start = _anchor(day.year, day.month, start_day)
    if start > day:
        prev_year, prev_month = (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)
        start = _anchor(prev_year, prev_month, start_day)
    next_year, next_month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    end = _anchor(next_year, next_month, start_day) - timedelta(days=1)
    return Cycle(start, end)


def resolve_cycle_start_day(setting: int, vendor_cycle_start: date | None) -> int:
    """The day of month cycles start on: the admin's setting, else Cursor's, else the 1st."""
    if setting and 1 <= int(setting) <= 31:
        return int(setting)
    return vendor_cycle_start.day if vendor_cycle_start is not None else 1
