"""Adoption figures from the Cursor Analytics API (team level, per day), summarised for a period."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from core.sources.cursor_analytics import AnalyticsMetric


@dataclass(slots=True)
class CursorAnalyticsSummary:
    period_days: int
    dau_days: int = 0  # days the vendor reported active users for
    average_dau: float = 0.0  # over the period's days (a day without a report counts as 0)
    peak_dau: int = 0
    average_by_kind: dict[str, float] = field(default_factory=dict)  # cli_dau, cloud_agent_dau, bugbot_dau
    top_models: list[tuple[str, int, int]] = field(default_factory=list)  # model, messages, peak daily users
    top_mcp_tools: list[tuple[str, int]] = field(default_factory=list)  # "server / tool", calls
    top_extensions: list[tuple[str, int, int]] = field(default_factory=list)  # extension, files, lines accepted
    client_versions: list[tuple[str, int]] = field(default_factory=list)  # version, people (latest day)
    versions_day: date | None = None


def summarise_cursor_analytics(period_days: int,
                               rows: Iterable[tuple[date, str, str, int, int | None, int | None]],
                               *, top: int = 5) -> CursorAnalyticsSummary:
    """rows: (day, metric, key, value, users, extra) as stored (core.sources.cursor_analytics)."""
    out = CursorAnalyticsSummary(period_days=period_days)
    dau: dict[date, int] = {}
    kinds: dict[str, int] = {}
    models: dict[str, list[int]] = {}
    mcp: dict[str, int] = {}
    ext: dict[str, list[int]] = {}
    versions: dict[date, dict[str, int]] = {}
    for day, metric, key, value, users, extra in rows:
        if metric == AnalyticsMetric.DAU.value:
            if key == "dau":
                dau[day] = dau.get(day, 0) + value
            else:
                kinds[key] = kinds.get(key, 0) + value
        elif metric == AnalyticsMetric.MODELS.value:
            acc = models.setdefault(key, [0, 0])
            acc[0] += value
            acc[1] = max(acc[1], users or 0)
        elif metric == AnalyticsMetric.MCP.value:
            mcp[key] = mcp.get(key, 0) + value
        elif metric == AnalyticsMetric.FILE_EXTENSIONS.value:
            acc = ext.setdefault(key, [0, 0])
            acc[0] += value
            acc[1] += extra or 0
        elif metric == AnalyticsMetric.CLIENT_VERSIONS.value:
            versions.setdefault(day, {})[key] = versions.get(day, {}).get(key, 0) + value
    days = max(period_days, 1)
    out.dau_days = len(dau)
    out.average_dau = sum(dau.values()) / days
    out.peak_dau = max(dau.values(), default=0)
    out.average_by_kind = {k: v / days for k, v in sorted(kinds.items())}
    out.top_models = sorted(((m, a[0], a[1]) for m, a in models.items()), key=lambda r: (-r[1], r[0]))[:top]
    out.top_mcp_tools = sorted(mcp.items(), key=lambda r: (-r[1], r[0]))[:top]
    out.top_extensions = sorted(((e, a[0], a[1]) for e, a in ext.items()), key=lambda r: (-r[1], r[0]))[:top]
    if versions:
        out.versions_day = max(versions)
        out.client_versions = sorted(versions[out.versions_day].items(), key=lambda r: (-r[1], r[0]))[:top]
    return out


@dataclass(slots=True)
class CursorUserAnalytics:
    """One person's Cursor Analytics API figures (by-user endpoints) for a period."""

    active_days: int = 0  # days the vendor reported any of the person's activity below
    messages: int = 0  # agent/chat messages over all models
    top_models: list[tuple[str, int]] = field(default_factory=list)  # model, messages
    top_mcp_tools: list[tuple[str, int]] = field(default_factory=list)  # "server / tool", calls
    top_extensions: list[tuple[str, int, int]] = field(default_factory=list)  # extension, files, lines accepted
    client_versions: list[str] = field(default_factory=list)  # the latest reported day's version(s)
    versions_day: date | None = None


def summarise_user_analytics(rows: Iterable[tuple[date, str, str, int, int | None]], *,
                             top: int = 5) -> CursorUserAnalytics:
    """rows: (day, metric, key, value, extra) of one person, as stored (core.sources.cursor_analytics)."""
    out = CursorUserAnalytics()
    days: set[date] = set()
    models: dict[str, int] = {}
    mcp: dict[str, int] = {}
    ext: dict[str, list[int]] = {}
    versions: dict[date, set[str]] = {}
    for day, metric, key, value, extra in rows:
        days.add(day)
        if metric == AnalyticsMetric.MODELS.value:
            models[key] = models.get(key, 0) + value
        elif metric == AnalyticsMetric.MCP.value:
            mcp[key] = mcp.get(key, 0) + value
        elif metric == AnalyticsMetric.FILE_EXTENSIONS.value:
            acc = ext.setdefault(key, [0, 0])
            acc[0] += value
            acc[1] += extra or 0
        elif metric == AnalyticsMetric.CLIENT_VERSIONS.value:
            versions.setdefault(day, set()).add(key)
    out.active_days = len(days)
    out.messages = sum(models.values())
    out.top_models = sorted(models.items(), key=lambda r: (-r[1], r[0]))[:top]
    out.top_mcp_tools = sorted(mcp.items(), key=lambda r: (-r[1], r[0]))[:top]
    out.top_extensions = sorted(((e, a[0], a[1]) for e, a in ext.items()), key=lambda r: (-r[1], r[0]))[:top]
    if versions:
        out.versions_day = max(versions)
        out.client_versions = sorted(versions[out.versions_day])
    return out
