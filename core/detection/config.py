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
        """Settings from the stored values (App Home keys). Unknown keys are ignored; a missing,
        empty or unreadable value keeps the default, and a number outside its range is brought
        back into it — a bad row in the setting table must not stop detection, nor turn a 1.2×
        day into a critical spike."""
        values = values or {}
        typed: dict[str, Any] = {}
        for f in fields(cls):
            raw = next((values[k] for k in (f"threshold.{f.name}", f"detection.{f.name}", f.name)
                        if values.get(k) not in (None, "")), None)
            if f.name == "cycle_budget_usd" and raw is None:
                raw = values.get("monthly_budget_usd")
            if raw is None:
                continue
            value = _number(raw, integer=isinstance(f.default, int) and not isinstance(f.default, bool))
            if value is None:
                continue
            lo, hi = BOUNDS.get(f.name, (0, 1e12))
            if f.name == "cycle_budget_usd":
                typed[f.name] = min(value, hi) if value > 0 else None
            else:
                typed[f.name] = type(value)(min(max(value, lo), hi))
        return cls(**typed)

    def nanos(self, usd: float | None) -> int | None:
        return None if usd is None else int(round(float(usd) * NANOS_PER_USD))


# valid range of each setting (the App Home refuses values outside them; stored rows are clamped)
BOUNDS: dict[str, tuple[float, float]] = {
    "threshold_critical_factor": (1, 100), "zscore_multiplier": (0.5, 100), "zscore_min_population": (2, 100_000),
    "spend_spike_multiplier": (1, 1000), "spend_spike_lookback_days": (1, 14), "spend_spike_min_baseline_usd": (0, 1e6),
    "cycle_outlier_multiplier": (1, 1000), "cycle_outlier_min_people": (1, 100_000), "critical_factor": (1, 100),
    "forecast_min_days": (0.1, 31), "cycle_start_day": (0, 31), "cooldown_days": (1, 60),
}


def _number(raw: Any, *, integer: bool) -> float | int | None:
    try:
        value = float(str(raw).replace(",", "").lstrip("$")) if not isinstance(raw, int | float) else float(raw)
    except ValueError:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value) if integer else value


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
