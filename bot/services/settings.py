"""The settings an admin can change from Slack: what each key means, its type, default and
valid range. Stored as JSON in the `setting` table (storage/settings_repo.py).

Detection thresholds carry the defaults of the tracker we replace (docs/peers.md); the
detection job reads them through `SettingsService.values()`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

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
    group: str = "general"  # general | access | thresholds


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("monthly_budget_usd", "Monthly budget (USD)", "usd", None,
                "Team budget per calendar month, for `forecast`. Empty = no budget."),
    SettingSpec("viewers", "Viewers", "ids", [],
                "Slack user ids or emails, comma-separated, who may see team-wide figures.", group="access"),
    SettingSpec("admins", "Extra admins", "ids", [],
                "Slack user ids or emails, comma-separated, added to ABACUS_ADMINS.", group="access"),
    SettingSpec("threshold.max_spend_per_cycle_usd", "Max spend per person per cycle (USD)", "usd", 0,
                "0 = off.", group="thresholds"),
    SettingSpec("threshold.max_requests_per_day", "Max requests per person per day", "int", 0,
                "0 = off.", group="thresholds"),
    SettingSpec("threshold.max_tokens_per_day", "Max tokens per person per day", "int", 0,
                "0 = off.", group="thresholds"),
    SettingSpec("threshold.zscore_multiplier", "Z-score multiplier (σ)", "float", 2.5,
                "Daily spend/requests this many σ above the team mean.", minimum=0.5, maximum=100,
                group="thresholds"),
    SettingSpec("threshold.spend_spike_multiplier", "Spend spike multiplier (×)", "float", 5.0,
                "Today's spend above N× the person's recent daily mean.", minimum=1, maximum=1000,
                group="thresholds"),
    SettingSpec("threshold.spend_spike_min_usd", "Spend spike floor (USD)", "usd", 50,
                "Days under this are never spikes.", group="thresholds"),
    SettingSpec("threshold.cycle_outlier_multiplier", "Cycle outlier multiplier (×)", "float", 10.0,
                "Cycle spend above N× the team median.", minimum=1, maximum=1000, group="thresholds"),
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
        number = float(text.replace(",", "").lstrip("$")) if spec.kind != "int" else int(text.replace(",", ""))
    except ValueError:
        raise InputError(f"{text[:40]!r} is not a number") from None
    if number != number or not spec.minimum <= number <= spec.maximum:  # NaN or out of range
        raise InputError(f"must be between {spec.minimum:g} and {spec.maximum:g}")
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
