"""Cursor Analytics API (`GET /analytics/team/*`, Enterprise): the records and their conversion from
the endpoints' rows (shared/reference/vendor-apis.md §B.7). Team-level, per day: active users (with
CLI, cloud-agent and Bugbot splits), messages per model, MCP tool calls, file extensions and client
versions. Parsing is tolerant (unknown fields ignored); impossible counts refuse the response. The
wire models are in `core.sources.cursor_analytics_wire`, loaded (with pydantic) only when rows are
read: the sync's start, and the events worker it forks, do without them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class AnalyticsMetric(StrEnum):
    """The endpoints read (path segment = value) and what each record's key means."""

    DAU = "dau"  # key: dau | cli_dau | cloud_agent_dau | bugbot_dau; value: people
    MODELS = "models"  # key: model; value: messages; users: people
    MCP = "mcp"  # key: "server / tool"; value: calls
    FILE_EXTENSIONS = "top-file-extensions"  # key: extension; value: files; detail: lines accepted
    CLIENT_VERSIONS = "client-versions"  # key: version; value: people


@dataclass(frozen=True, slots=True)
class AnalyticsRecord:
    org: str
    day: date
    metric: AnalyticsMetric
    key: str
    value: int
    users: int | None = None
    extra: int | None = None  # file extensions: lines accepted


def _day(row) -> date | None:
    text = row.event_date or row.date
    return date.fromisoformat(text[:10]) if text else None


def analytics_records(metric: AnalyticsMetric, rows: Iterable[dict], *, org: str) -> list[AnalyticsRecord]:
    """One endpoint's `data` rows → records (rows without a day are skipped); raises a pydantic
    ValidationError on impossible values (the caller refuses the response with one line)."""
    from core.sources.cursor_analytics_wire import ROWS  # the models (pydantic) only where rows are read

    parsed = ROWS[metric].validate_python(list(rows))
    out: dict[tuple[date, str], AnalyticsRecord] = {}

    def add(day: date | None, key: str | None, value: int, users: int | None = None, extra: int | None = None):
        if day is None or not key:
            return
        key = key.strip()[:255]
        prev = out.get((day, key))
        if prev is not None:  # the same key twice on a day (e.g. a version string's spacing): summed
            value += prev.value
            users = None if users is None and prev.users is None else (users or 0) + (prev.users or 0)
            extra = None if extra is None and prev.extra is None else (extra or 0) + (prev.extra or 0)
        out[(day, key)] = AnalyticsRecord(org, day, metric, key, value, users, extra)

    for row in parsed:
        day = _day(row)
        if metric is AnalyticsMetric.DAU:
            for key in ("dau", "cli_dau", "cloud_agent_dau", "bugbot_dau"):
                add(day, key, getattr(row, key))
        elif metric is AnalyticsMetric.MODELS:
            for model, use in row.model_breakdown.items():
                add(day, model, use.messages, use.users)
        elif metric is AnalyticsMetric.MCP:
            name = " / ".join(p for p in (row.mcp_server_name, row.tool_name) if p)
            add(day, name, row.usage)
        elif metric is AnalyticsMetric.FILE_EXTENSIONS:
            add(day, row.file_extension, row.total_files, extra=row.total_lines_accepted)
        else:
            add(day, row.client_version, row.user_count)
    return list(out.values())


# --- by user (`GET /analytics/by-user/*`): the same rows as the team endpoints, keyed by email -------

# What a person's own view shows; DAU has no by-user endpoint (a person's active days are the days
# any of these has a row).
BY_USER_METRICS = (AnalyticsMetric.MODELS, AnalyticsMetric.MCP, AnalyticsMetric.FILE_EXTENSIONS,
                   AnalyticsMetric.CLIENT_VERSIONS)


@dataclass(frozen=True, slots=True)
class UserAnalyticsRecord:
    org: str
    person: str  # the email, lower-cased
    day: date
    metric: AnalyticsMetric
    key: str
    value: int
    extra: int | None = None  # file extensions: lines accepted


def user_analytics_records(metric: AnalyticsMetric, data: dict[str, list[dict]], *,
                           org: str) -> list[UserAnalyticsRecord]:
    """One by-user page's `data` ({email: [rows]}) → records, each person's rows read like the team
    endpoint's (rows without a day or key skipped; the same key twice on a day summed). Keys that
    are not emails are skipped. Raises a pydantic ValidationError on impossible values."""
    out: dict[tuple[str, date, str], UserAnalyticsRecord] = {}
    for email, rows in data.items():
        person = email.strip().lower()
        if "@" not in person or not isinstance(rows, list):
            continue
        for r in analytics_records(metric, rows, org=org):
            prev = out.get((person, r.day, r.key))
            value, extra = r.value, r.extra
            if prev is not None:  # the same person twice on a page (case variants): summed
                value += prev.value
                extra = None if extra is None and prev.extra is None else (extra or 0) + (prev.extra or 0)
            out[(person, r.day, r.key)] = UserAnalyticsRecord(org, person, r.day, metric, r.key, value, extra)
    return list(out.values())
