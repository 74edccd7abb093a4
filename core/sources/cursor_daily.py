"""Cursor daily usage (`POST /teams/daily-usage-data`): a page parsed with orjson and checked in line,
as the usage events are (`core.sources.cursor_events`), instead of validating a pydantic model per
row (1,000 people × a few days on every hourly sync: ~40 ms of validation for 3,000 rows).

The rules are `core.sources.cursor_wire.DailyResponse`'s, and that model stays the judge: the fast
path takes only values the model would take unchanged — a count that is a JSON integer in
[0, MAX_TOKENS) or null (→ 0), text that is a string or null, `isActive` true/false/null, `userId` and
`date` a string or an integer — and the first value it does not take sends the whole body through
the model. So a payload the model converts (a count sent as "12" or 12.0) gives the same figures,
and a payload it refuses gives the same error, naming the same field ("unexpected response shape:
data.3.totalLinesAdded: Input should be greater than or equal to 0").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from core.usage import MAX_TOKENS

if TYPE_CHECKING:
    from core.sources.cursor_wire import PagePagination

# DailyRow's fields by kind (a test pins these to the model's fields)
COUNT_FIELDS = ("totalLinesAdded", "totalLinesDeleted", "acceptedLinesAdded", "acceptedLinesDeleted", "totalApplies",
                "totalAccepts", "totalRejects", "totalTabsShown", "totalTabsAccepted", "composerRequests",
                "chatRequests", "agentRequests", "cmdkUsages", "subscriptionIncludedReqs", "apiKeyReqs",
                "usageBasedReqs", "bugbotUsages")
TEXT_FIELDS = ("day", "email", "mostUsedModel", "applyMostUsedExtension", "tabMostUsedExtension", "clientVersion")
ID_FIELDS = ("userId", "date")  # a string or an integer
FLAG_FIELDS = ("isActive",)


@dataclass(slots=True)
class DailyPage:
    """One page: its rows as dicts holding every DailyRow field (defaults filled in), and its paging."""

    data: list[dict[str, Any]]
    pagination: Paging | None


@dataclass(frozen=True, slots=True)
class Paging:
    """A page's `pagination`, as `PagePagination` holds it (the model's module loads pydantic, which
    only a body the fast path does not take needs: see the module's doc)."""

    page: int | None = None
    totalPages: int | None = None  # noqa: N815 - the vendor's name
    hasNextPage: bool | None = None  # noqa: N815 - the vendor's name

    @classmethod
    def of(cls, model: PagePagination | None) -> Paging | None:
        return None if model is None else cls(model.page, model.totalPages, model.hasNextPage)


class _Slow(Exception):
    """A value the fast path does not take: the model decides."""


def _count(value: Any) -> int:
    if value is None:
        return 0
    if type(value) is int and 0 <= value < MAX_TOKENS:
        return value
    raise _Slow


def _row(raw: Any) -> dict[str, Any]:
    if type(raw) is not dict:
        raise _Slow
    get = raw.get
    row = {name: _count(get(name)) for name in COUNT_FIELDS}
    for name in TEXT_FIELDS:
        value = get(name)
        if value is not None and type(value) is not str:
            raise _Slow
        row[name] = value
    for name in ID_FIELDS:
        value = get(name)
        if value is not None and type(value) is not str and type(value) is not int:
            raise _Slow
        row[name] = value
    active = get("isActive")
    if active is not None and active is not True and active is not False:
        raise _Slow
    row["isActive"] = active
    return row


def _pagination(raw: Any) -> Paging | None:
    if raw is None:
        return None
    if type(raw) is not dict:
        raise _Slow
    values = {}
    for name in ("page", "totalPages"):
        value = raw.get(name)
        if value is not None and type(value) is not int:
            raise _Slow
        values[name] = value
    more = raw.get("hasNextPage")
    if more is not None and more is not True and more is not False:
        raise _Slow
    return Paging(hasNextPage=more, **values)


def _by_model(content: bytes) -> DailyPage:
    """The body validated by `DailyResponse` (pydantic's ValidationError for what it refuses)."""
    from core.sources.cursor_wire import DailyResponse

    resp = DailyResponse.model_validate_json(content)
    return DailyPage([r.model_dump() for r in resp.data], Paging.of(resp.pagination))


def parse_daily_page(content: bytes) -> DailyPage:
    """A daily-usage body → its rows and paging; a body the fast path does not take goes through
    the `DailyResponse` model (its errors: `JsonApi.call` reports them as an unexpected response
    shape, or retries invalid JSON)."""
    try:
        page = orjson.loads(content)
    except orjson.JSONDecodeError:
        return _by_model(content)
    try:
        if type(page) is not dict:
            raise _Slow
        data = page.get("data", [])
        if type(data) is not list:
            raise _Slow
        return DailyPage([_row(r) for r in data], _pagination(page.get("pagination")))
    except _Slow:
        return _by_model(content)
