"""Cursor Analytics API (`GET /analytics/team/*`, Enterprise): wire models and conversion to
`AnalyticsRecord`s (shared/reference/vendor-apis.md §B.7). Team-level, per day: active users (with
CLI, cloud-agent and Bugbot splits), messages per model, MCP tool calls, file extensions and client
versions. Parsing is tolerant (unknown fields ignored); impossible counts refuse the response."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from pydantic import TypeAdapter

from core.sources.wire import DayText, Int0, Wire


class AnalyticsMetric(StrEnum):
    """The endpoints read (path segment = value) and what each record's key means."""

    DAU = "dau"  # key: dau | cli_dau | cloud_agent_dau | bugbot_dau; value: people
    MODELS = "models"  # key: model; value: messages; users: people
    MCP = "mcp"  # key: "server / tool"; value: calls
    FILE_EXTENSIONS = "top-file-extensions"  # key: extension; value: files; detail: lines accepted
    CLIENT_VERSIONS = "client-versions"  # key: version; value: people


class _Dau(Wire):
    date: DayText | None = None
    event_date: DayText | None = None
    dau: Int0 = 0
    cli_dau: Int0 = 0
    cloud_agent_dau: Int0 = 0
    bugbot_dau: Int0 = 0


class _ModelUse(Wire):
    messages: Int0 = 0
    users: Int0 = 0


class _Models(Wire):
    date: DayText | None = None
    event_date: DayText | None = None
    model_breakdown: dict[str, _ModelUse] = {}


class _Mcp(Wire):
    event_date: DayText | None = None
    date: DayText | None = None
    tool_name: str | None = None
    mcp_server_name: str | None = None
    usage: Int0 = 0


class _Extension(Wire):
    event_date: DayText | None = None
    date: DayText | None = None
    file_extension: str | None = None
    total_files: Int0 = 0
    total_lines_accepted: Int0 = 0


class _Version(Wire):
    event_date: DayText | None = None
    date: DayText | None = None
    client_version: str | None = None
    user_count: Int0 = 0


class _Envelope(Wire):
    data: list[dict] = []


ENVELOPE = TypeAdapter(_Envelope)
_ROWS = {AnalyticsMetric.DAU: TypeAdapter(list[_Dau]), AnalyticsMetric.MODELS: TypeAdapter(list[_Models]),
         AnalyticsMetric.MCP: TypeAdapter(list[_Mcp]), AnalyticsMetric.FILE_EXTENSIONS: TypeAdapter(list[_Extension]),
         AnalyticsMetric.CLIENT_VERSIONS: TypeAdapter(list[_Version])}


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
    parsed = _ROWS[metric].validate_python(list(rows))
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


class _UserPagination(Wire):
    page: int | None = None
    totalPages: int | None = None  # noqa: N815 - the vendor's name
    hasNextPage: bool | None = None  # noqa: N815 - the vendor's name


class _UserEnvelope(Wire):
    data: dict[str, list[dict]] = {}
    pagination: _UserPagination | None = None


USER_ENVELOPE = TypeAdapter(_UserEnvelope)


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
