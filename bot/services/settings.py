"""The settings an admin can change from Slack: what each key means, its type, default and
valid range. Stored as JSON in the `setting` table (storage/settings_repo.py).

Detection thresholds carry the defaults of the tracker we replace (docs/peers.md); the
detection job reads them through `SettingsService.values()`.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from core.detection.config import DetectionSettings
from core.errors import InputError
from core.identity import normalise_email
from storage import settings_repo
from storage.db import session_scope

from .authz import Requester, Role, require


@dataclass(frozen=True, slots=True)
class SettingSpec:
    key: str
    label: str  # ≤ 75 characters: it is also the input label in the modal
    kind: str  # usd | float | int | ids
    default: Any
    hint: str
    minimum: float = 0.0
    maximum: float = 1e12
    group: str = "general"  # general | access | thresholds | alerts


_D = DetectionSettings()  # detection defaults live in core (one definition)

SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("monthly_budget_usd", "Team budget per billing cycle (USD)", "usd", None,
                "For `forecast` and the team_budget / forecast_budget alerts. Empty = no budget."),
    SettingSpec("viewers", "Viewers", "ids", [],
                "Slack user ids or emails, comma-separated, who may see team-wide figures.", group="access"),
    SettingSpec("admins", "Extra admins", "ids", [],
                "Slack user ids or emails, comma-separated, added to ABACUS_ADMINS.", group="access"),
    SettingSpec("threshold.max_spend_per_cycle_usd", "Max spend per person per cycle (USD)", "usd",
                _D.max_spend_per_cycle_usd, "0 = off. Critical above the factor below × the limit.",
                group="thresholds"),
    SettingSpec("threshold.max_requests_per_day", "Max requests per person per day", "int", _D.max_requests_per_day,
                "0 = off.", group="thresholds"),
    SettingSpec("threshold.max_tokens_per_day", "Max tokens per person per day", "int", _D.max_tokens_per_day,
                "0 = off.", group="thresholds"),
    SettingSpec("threshold.threshold_critical_factor", "Limits: critical at N× the limit", "float",
                _D.threshold_critical_factor, "Spend, requests, tokens and budget limits.", minimum=1, maximum=100,
                group="thresholds"),
    SettingSpec("threshold.zscore_multiplier", "Z-score multiplier (σ)", "float", _D.zscore_multiplier,
                "Daily spend/requests this many σ above the people active that day.", minimum=0.5, maximum=100,
                group="thresholds"),
    SettingSpec("threshold.zscore_min_population", "Z-score: minimum active people", "int", _D.zscore_min_population,
                "Fewer people active that day: no z-score.", minimum=2, maximum=100_000, group="thresholds"),
    SettingSpec("threshold.zscore_min_spend_usd", "Z-score: spend floor (USD)", "usd", _D.zscore_min_spend_usd,
                "Days under this count in the mean but are never flagged.", group="thresholds"),
    SettingSpec("threshold.zscore_min_requests", "Z-score: requests floor", "int", _D.zscore_min_requests,
                "Days under this many requests are never flagged.", group="thresholds"),
    SettingSpec("threshold.spend_spike_multiplier", "Spend spike multiplier (×)", "float", _D.spend_spike_multiplier,
                "Today's spend above N× the person's mean over their recent days with data.", minimum=1,
                maximum=1000, group="thresholds"),
    SettingSpec("threshold.spend_spike_min_usd", "Spend spike floor (USD)", "usd", _D.spend_spike_min_usd,
                "Days under this are never spikes.", group="thresholds"),
    SettingSpec("threshold.spend_spike_lookback_days", "Spend spike: days with data averaged", "int",
                _D.spend_spike_lookback_days, "Days without usage are skipped, not counted as $0 (searched "
                "5 weeks back).", minimum=1, maximum=14, group="thresholds"),
    SettingSpec("threshold.cycle_outlier_multiplier", "Cycle outlier multiplier (×)", "float",
                _D.cycle_outlier_multiplier, "Cycle spend above N× the median of the people with spend.", minimum=1,
                maximum=1000, group="thresholds"),
    SettingSpec("threshold.cycle_outlier_min_people", "Cycle outlier: minimum people with spend", "int",
                _D.cycle_outlier_min_people, "Fewer: no cycle outlier.", minimum=1, maximum=100_000,
                group="thresholds"),
    SettingSpec("threshold.cycle_outlier_min_median_usd", "Cycle outlier: minimum median (USD)", "usd",
                _D.cycle_outlier_min_median_usd, "A lower team median: no cycle outlier.", group="thresholds"),
    SettingSpec("threshold.critical_factor", "Z-score/spike/outlier: critical at N× the multiplier", "float",
                _D.critical_factor, "E.g. 3: a 5× spike setting turns critical at 15×.", minimum=1, maximum=100,
                group="thresholds"),
    SettingSpec("detection.forecast_min_days", "Forecast: days of the cycle before it speaks", "float",
                _D.forecast_min_days, "Early projections are noisy.", minimum=0.1, maximum=31, group="thresholds"),
    SettingSpec("detection.cycle_start_day", "Billing cycle starts on day (0 = auto)", "int", _D.cycle_start_day,
                "0: Cursor's cycle where the vendor gives it, else the 1st of the month.", minimum=0, maximum=31,
                group="thresholds"),
    SettingSpec("detection.cooldown_days", "Incident cool-down (detection days)", "int", _D.cooldown_days,
                "An incident resolves itself after its condition was absent this many days.", minimum=1,
                maximum=60, group="thresholds"),
)
NUDGE_SETTING = "alerts.nudge"
SPECS += (
    SettingSpec(NUDGE_SETTING, "Private nudge to the person (1 = on)", "int", 0,
                "1: the person behind a new incident gets a friendly DM about their own usage.", minimum=0,
                maximum=1, group="alerts"),
)
SPEC_BY_KEY = {s.key: s for s in SPECS}


def format_value(spec: SettingSpec, value: Any) -> str:
    """A value as an admin would type it back into the modal."""
    if value is None:
        return ""
    if spec.kind == "ids":
        return ", ".join(value)
    if spec.kind == "usd":
        return f"{float(value):g}"
    if spec.kind == "int":
        return str(int(value))
    return f"{float(value):g}"


def parse_value(spec: SettingSpec, raw: str | None) -> Any:
    """Typed value from an admin's input; raises InputError with one short sentence."""
    text = (raw or "").strip()
    if spec.kind == "ids":
        entries = []
        for part in text.replace("\n", ",").split(","):
            part = part.strip().strip("<>@")
            if not part:
                continue
            if "@" in part or "." in part:
                try:
                    entries.append(normalise_email(part))
                except ValueError:
                    raise InputError(f"{part[:40]!r} is neither a Slack user id nor an email") from None
            elif part.isalnum() and part[:1].upper() in ("U", "W") and 3 <= len(part) <= 21:
                entries.append(part.upper())
            else:
                raise InputError(f"{part[:40]!r} is neither a Slack user id nor an email")
        if len(entries) > 200:
            raise InputError("at most 200 entries")
        return sorted(set(entries))
    if not text:
        if spec.default is None:
            return None
        raise InputError("a number is required")
    try:
        number = float(text.replace(",", "").lstrip("$"))
    except ValueError:
        raise InputError(f"{text[:40]!r} is not a number") from None
    if not math.isfinite(number) or not spec.minimum <= number <= spec.maximum:
        raise InputError(f"must be between {spec.minimum:g} and {spec.maximum:g}")
    if spec.kind == "int":
        if not number.is_integer():  # "2.5" requests a day: a number, but not a count
            raise InputError("must be a whole number")
        return int(number)
    return number


class SettingsService:
    """Reads (with a short cache: permissions read the access lists on every command) and
    writes settings; every write requires an admin."""

    def __init__(self, engine, *, cache_seconds: float = 5.0) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def values(self) -> dict[str, Any]:
        with self._lock:
            if self._cached and self._cached[0] > time.monotonic():
                return dict(self._cached[1])
        with session_scope(self._engine) as session:
            stored = settings_repo.all_settings(session=session)
        merged = {s.key: stored.get(s.key, s.default) for s in SPECS}
        with self._lock:
            self._cached = (time.monotonic() + self._cache_seconds, merged)
        return dict(merged)

    def access_lists(self) -> tuple[list[str], list[str]]:
        values = self.values()
        return list(values.get("admins") or []), list(values.get("viewers") or [])

    def parse(self, raw: dict[str, str | None]) -> tuple[dict[str, Any], dict[str, str]]:
        """The values as they would be with `raw` applied (nothing written), and errors by key."""
        values, errors = self.values(), {}
        for key, text in raw.items():
            spec = SPEC_BY_KEY.get(key)
            if spec is None:
                continue
            try:
                values[key] = parse_value(spec, text)
            except InputError as exc:
                errors[key] = str(exc)
        return values, errors

    def update(self, raw: dict[str, str | None], *, requester: Requester) -> tuple[dict[str, Any], dict[str, str]]:
        """Validate every changed value first; write only when all are valid.

        Returns (changed values, errors by key). With errors nothing is written."""
        require(requester, Role.ADMIN)
        current = self.values()
        changes, errors = {}, {}
        for key, text in raw.items():
            spec = SPEC_BY_KEY.get(key)
            if spec is None:
                continue
            try:
                value = parse_value(spec, text)
            except InputError as exc:
                errors[key] = str(exc)
                continue
            if value != current.get(key):
                changes[key] = value
        if errors:
            return {}, errors
        if changes:
            with session_scope(self._engine) as session:
                for key, value in changes.items():
                    settings_repo.set_setting(session=session, key=key, value=value, by=requester.label)
            with self._lock:
                self._cached = None
        return changes, {}
