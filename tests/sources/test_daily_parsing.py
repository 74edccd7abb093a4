"""Cursor daily usage parsed with orjson and checks in line (core.sources.cursor_daily): the same rows,
and for hostile or malformed bodies the same outcome — figures or validation errors — as the
pydantic model `DailyResponse` the sync validated every row with before (the reference here)."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest
from pydantic import ValidationError

from core.sources import cursor as curs
from core.sources.cursor_daily import COUNT_FIELDS, FLAG_FIELDS, ID_FIELDS, TEXT_FIELDS, parse_daily_page
from core.sources.cursor_wire import DailyResponse, DailyRow
from core.sources.http import RetryPolicy, VendorError
from core.usage import MAX_TOKENS


def _row(**over) -> dict:
    row = {"userId": "u1", "day": "2026-11-20", "date": 1795132800000, "email": "Dev1@Example.com", "isActive": True,
           "totalLinesAdded": 12, "totalLinesDeleted": 3, "acceptedLinesAdded": 7, "acceptedLinesDeleted": 1,
           "totalApplies": 4, "totalAccepts": 2, "totalRejects": 1, "totalTabsShown": 30, "totalTabsAccepted": 9,
           "composerRequests": 5, "chatRequests": 6, "agentRequests": 8, "cmdkUsages": 0,
           "subscriptionIncludedReqs": 10, "apiKeyReqs": 0, "usageBasedReqs": 2, "bugbotUsages": 0,
           "mostUsedModel": "gpt-5", "applyMostUsedExtension": None, "tabMostUsedExtension": "py",
           "clientVersion": "1.7.3"}
    row.update(over)
    return {k: v for k, v in row.items() if v is not _MISSING}


_MISSING = object()


def _body(rows=None, **envelope) -> bytes:
    payload = {"data": [_row()] if rows is None else rows, "pagination": {"page": 1, "totalPages": 1,
                                                                            "hasNextPage": False}}
    payload.update(envelope)
    return json.dumps(payload).encode()


def _outcome(parse, body: bytes):
    """("ok", rows, paging) or ("refused", the validation errors) — for either parser."""
    try:
        page = parse(body)
    except ValidationError as exc:
        return "refused", exc.errors(include_url=False, include_input=False)
    rows = [r if isinstance(r, dict) else r.model_dump() for r in page.data]
    pg = page.pagination
    return "ok", rows, None if pg is None else (pg.page, pg.totalPages, pg.hasNextPage)


def _model(body: bytes):
    return DailyResponse.model_validate_json(body)


def test_the_field_lists_are_the_models():
    assert set(COUNT_FIELDS + TEXT_FIELDS + ID_FIELDS + FLAG_FIELDS) == set(DailyRow.model_fields)
    assert len(COUNT_FIELDS + TEXT_FIELDS + ID_FIELDS + FLAG_FIELDS) == len(DailyRow.model_fields)


def test_a_plain_page_gives_the_models_rows_and_records():
    rows = [_row(userId=f"u{i}", email=f"dev{i}@example.com", totalLinesAdded=i, isActive=i % 3 != 0)
            for i in range(50)]
    rows.append({"userId": 7, "date": 1795219200000, "someNewField": {"x": 1}})  # sparse, an unknown field
    rows.append(_row(day=None, date="2026-11-21", email=None, userId="u-none", isActive=None))
    body = _body(rows)
    fast = parse_daily_page(body)
    assert _outcome(parse_daily_page, body) == _outcome(_model, body)
    # every field present, defaults filled in as the model fills them
    assert fast.data[50] == {**{f: 0 for f in COUNT_FIELDS}, **{f: None for f in TEXT_FIELDS},
                             "userId": 7, "date": 1795219200000, "isActive": None}
    assert curs.daily_activity(fast.data, org="t") == curs.daily_activity(_model(body).data, org="t")
    acts = curs.daily_activity(fast.data, org="t")
    assert (acts[1].person, acts[1].day, acts[1].lines_added, acts[1].is_active) == (
        "dev1@example.com", date(2026, 11, 20), 1, True)
    assert (acts[50].person, acts[50].day, acts[50].is_active) == ("unmapped:cursor-user-7", date(2026, 11, 21), True)
    assert (acts[51].person, acts[51].day) == ("unmapped:cursor-user-u-none", date(2026, 11, 21))


HOSTILE = {
    "negative count": _body([_row(totalLinesAdded=-1)]),
    "count at the bound": _body([_row(chatRequests=MAX_TOKENS)]),
    "count just below the bound": _body([_row(chatRequests=MAX_TOKENS - 1)]),
    "huge count": _body([_row(agentRequests=10 ** 40)]),
    "fractional count": _body([_row(totalAccepts=1.5)]),
    "whole float count (the model takes it)": _body([_row(totalAccepts=12.0)]),
    "count as text (the model takes it)": _body([_row(totalTabsShown="12")]),
    "count as junk text": _body([_row(totalTabsShown="twelve")]),
    "count as a boolean": _body([_row(totalRejects=True)]),
    "count as a list": _body([_row(usageBasedReqs=[1])]),
    "null count": _body([_row(apiKeyReqs=None)]),
    "email as a number": _body([_row(email=5)]),
    "email as an object": _body([_row(email={"a": 1})]),
    "day as a number": _body([_row(day=20261120)]),
    "isActive as text": _body([_row(isActive="yes")]),
    "isActive as a number": _body([_row(isActive=1)]),
    "isActive as 2": _body([_row(isActive=2)]),
    "userId as a float": _body([_row(userId=1.5)]),
    "userId as a boolean": _body([_row(userId=True)]),
    "date as a list": _body([_row(date=[2026])]),
    "row not an object": _body([_row(), 7]),
    "row null": _body([None]),
    "data null": _body(None, data=None),
    "data an object": json.dumps({"data": {"0": _row()}}).encode(),
    "data missing": json.dumps({"pagination": None}).encode(),
    "top level a list": json.dumps([_row()]).encode(),
    "top level null": b"null",
    "page as text": _body(pagination={"page": "2", "totalPages": 3}),
    "page as junk": _body(pagination={"page": "two"}),
    "hasNextPage as text": _body(pagination={"hasNextPage": "yes"}),
    "pagination a list": _body(pagination=[1]),
    "truncated JSON": _body()[:-7],
    "lone surrogate": b'{"data": [{"email": "\\ud800@x.com", "day": "2026-11-20"}]}',
    "NaN count": b'{"data": [{"totalLinesAdded": NaN, "day": "2026-11-20"}]}',
    "duplicate keys": b'{"data": [{"totalLinesAdded": 1, "totalLinesAdded": -5, "day": "2026-11-20"}]}',
    "deeply nested junk": b'{"data": [{"mostUsedModel": ' + b"[" * 200 + b"]" * 200 + b"}]}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bodies_give_the_models_outcome(name):
    body = HOSTILE[name]
    assert _outcome(parse_daily_page, body) == _outcome(_model, body)


def test_a_refused_body_is_one_clear_line_naming_the_field():
    bodies = iter([_body([_row(), _row(totalLinesAdded=-4)])])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=next(bodies))

    http = httpx.Client(base_url="http://vendor.test", transport=httpx.MockTransport(handler))
    client = curs.CursorAdmin(http, "key_test_0123456789", retry=RetryPolicy(attempts=1), label="t")
    with pytest.raises(VendorError) as err:
        list(client.daily_usage_chunks(date(2026, 11, 20), date(2026, 11, 20)))
    assert str(err.value) == ("Cursor API (t): POST /teams/daily-usage-data: unexpected response shape: "
                              "data.1.totalLinesAdded: Input should be greater than or equal to 0")
