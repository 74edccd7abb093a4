"""The Cursor Analytics API's wire models (pydantic), for `core.sources.cursor_analytics`: the envelopes
of the team and by-user endpoints and each team endpoint's rows."""

from __future__ import annotations

from pydantic import TypeAdapter

from core.sources.cursor_analytics import AnalyticsMetric
from core.sources.wire import DayText, Int0, Wire


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
ROWS = {AnalyticsMetric.DAU: TypeAdapter(list[_Dau]), AnalyticsMetric.MODELS: TypeAdapter(list[_Models]),
         AnalyticsMetric.MCP: TypeAdapter(list[_Mcp]), AnalyticsMetric.FILE_EXTENSIONS: TypeAdapter(list[_Extension]),
         AnalyticsMetric.CLIENT_VERSIONS: TypeAdapter(list[_Version])}


class _UserPagination(Wire):
    page: int | None = None
    totalPages: int | None = None  # noqa: N815 - the vendor's name
    hasNextPage: bool | None = None  # noqa: N815 - the vendor's name


class _UserEnvelope(Wire):
    data: dict[str, list[dict]] = {}
    pagination: _UserPagination | None = None


USER_ENVELOPE = TypeAdapter(_UserEnvelope)


