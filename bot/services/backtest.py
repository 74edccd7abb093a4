""""What would the last 30 days have raised with these values?" — the settings modal's answer,
from the detection backtest (bot/detect_service.backtest: a replay that writes nothing)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from bot.detect_service import backtest
from core.incidents import AnomalyKind

PREVIEW_DAYS = 30


@dataclass(frozen=True, slots=True)
class BacktestSummary:
    start: date
    end: date
    incidents: int
    alerts: int
    busiest_day: date | None
    busiest_opened: int
    signals_by_kind: dict[str, int]  # layer → findings over the window (before grouping into incidents)


def summarise(engine: Engine, values: dict[str, Any], *, today: date, days: int = PREVIEW_DAYS) -> BacktestSummary:
    start = today - timedelta(days=days - 1)
    result = backtest(engine, start, today, settings_values=values)
    busiest = max(result.opened_by_day.items(), key=lambda kv: (len(kv[1]), kv[0]), default=(None, []))
    kinds = Counter(a.signal.kind.value for d in result.days for a in d.anomalies)
    return BacktestSummary(start=start, end=today, incidents=result.incidents, alerts=result.alerts,
                           busiest_day=busiest[0], busiest_opened=len(busiest[1]), signals_by_kind=dict(kinds))


def describe(summary: BacktestSummary) -> str:
    """One mrkdwn paragraph for the settings modal."""
    head = (f":mag: *With these values, {summary.start.isoformat()} → {summary.end.isoformat()} would have raised "
            f"{summary.incidents} incident{'s' if summary.incidents != 1 else ''} and {summary.alerts} "
            f"alert{'s' if summary.alerts != 1 else ''}* "
            f"(≈ {summary.alerts / max(1, (summary.end - summary.start).days + 1) * 7:.1f} a week).")
    lines = [head]
    if summary.busiest_day and summary.busiest_opened > 1:
        lines.append(f"Busiest day: {summary.busiest_day.isoformat()} with {summary.busiest_opened} new incidents.")
    if summary.signals_by_kind:
        labels = ", ".join(f"{AnomalyKind(k).label.lower()} {n}" for k, n in
                           sorted(summary.signals_by_kind.items(), key=lambda kv: -kv[1]))
        lines.append(f"Findings by layer (before grouping): {labels}.")
    lines.append("_Change a value, then *Preview* to see its effect; nothing is saved until *Save*._")
    return "\n".join(lines)
