"""The HTTP layer: retries, Retry-After, one-line secret-free errors, the rate limiter."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import BaseModel, TypeAdapter

from core.sources.http import JsonApi, PageGuard, RateLimiter, RetryPolicy, VendorError, parse_retry_after, scrub

SECRET = "sk-ant-admin01-THISISASECRETKEYVALUE0123456789"


class Body(BaseModel):
    ok: bool


PARSE = TypeAdapter(Body).validate_json


def api(responses, sleeps: list[float], attempts: int = 4) -> JsonApi:
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    client = httpx.Client(base_url="http://vendor.test", transport=httpx.MockTransport(handler))
    return JsonApi(client, vendor="Anthropic", label="org-1", headers={"x-api-key": SECRET}, secrets=[SECRET],
                   retry=RetryPolicy(attempts=attempts, backoff_base=1.0, backoff_cap=8.0), sleep=sleeps.append,
                   rng=lambda: 1.0)


def test_429_honours_retry_after_then_succeeds():
    sleeps: list[float] = []
    a = api([httpx.Response(429, headers={"retry-after": "7"}), httpx.Response(200, json={"ok": True})], sleeps)
    assert a.call("GET", "/x", parse=PARSE).ok and sleeps == [7.0]


def test_backoff_doubles_on_5xx_timeouts_and_truncated_json():
    sleeps: list[float] = []
    a = api([httpx.Response(500), httpx.Response(529), httpx.ReadTimeout("slow"), httpx.Response(200, content=b'{"ok"'),
             httpx.Response(200, json={"ok": True})], sleeps, attempts=5)
    assert a.call("GET", "/x", parse=PARSE).ok
    assert sleeps == [1.0, 2.0, 4.0, 8.0]  # capped exponential (jitter pinned to its maximum here)


def test_bounded_attempts_give_one_line():
    sleeps: list[float] = []
    a = api([httpx.Response(503)] * 4, sleeps)
    with pytest.raises(VendorError) as e:
        a.call("GET", "/v1/x", parse=PARSE)
    assert str(e.value) == "Anthropic API (org-1): GET /v1/x failed after 4 attempts: HTTP 503"
    assert len(sleeps) == 3


def test_client_errors_are_not_retried_and_never_echo_the_key():
    sleeps: list[float] = []
    body = {"type": "error", "error": {"type": "authentication_error", "message": f"bad key {SECRET}\nline two"}}
    a = api([httpx.Response(401, json=body)], sleeps)
    with pytest.raises(VendorError) as e:
        a.call("GET", "/v1/x", parse=PARSE)
    text = str(e.value)
    assert sleeps == [] and e.value.status == 401 and "\n" not in text
    assert SECRET not in text and SECRET[:20] not in text and "…6789" in text


@pytest.mark.parametrize("echo", [
    SECRET, SECRET.upper(), SECRET[:30] + "...", SECRET[12:40],
    base64.b64encode(f"{SECRET}:".encode()).decode(),  # the Basic-auth header value we send
    base64.b64encode(SECRET.encode()).decode().rstrip("="),
])
def test_vendor_echoes_of_the_key_are_scrubbed_in_any_form(echo):
    sleeps: list[float] = []
    a = api([httpx.Response(502, text=f"<html>upstream refused credentials {echo} (retry later)</html>")] * 4, sleeps)
    with pytest.raises(VendorError) as e:
        a.call("GET", "/v1/x", parse=PARSE)
    text = str(e.value)
    assert "upstream refused credentials …6789" in text and "(retry later)" in text, text
    for form in (SECRET, base64.b64encode(f"{SECRET}:".encode()).decode()):
        assert not any(form[i:i + 8].lower() in text.lower() for i in range(len(form) - 7)), text


def test_scrub_leaves_other_text_alone():
    assert scrub("HTTP 401 invalid x-api-key (sk-ant-…)", [SECRET]) == "HTTP 401 invalid x-api-key (sk-ant-…)"
    assert scrub("key abcd and ABCD", ["abcd"]) == "key … and …"  # short secrets: whole, any case
    assert scrub("", [SECRET]) == "" and scrub("nothing here", []) == "nothing here"
    two = "tok_" + "x7" * 10
    assert scrub(f"{SECRET} then {two}", [SECRET, two]) == "…6789 then …x7x7"


def test_unexpected_shape_is_not_retried():
    sleeps: list[float] = []
    a = api([httpx.Response(200, json={"ok": "maybe"})], sleeps)
    with pytest.raises(VendorError, match="unexpected response shape: ok"):
        a.call("GET", "/x", parse=PARSE)
    assert sleeps == []


def test_retry_after_too_long_stops():
    a = api([httpx.Response(429, headers={"retry-after": "86400"})], [])
    with pytest.raises(VendorError, match="asks to wait 86400s"):
        a.call("GET", "/x", parse=PARSE)


def test_parse_retry_after_forms():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("30") == 30.0 and parse_retry_after("0") == 0.0 and parse_retry_after(None) is None
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now) == 90.0
    assert parse_retry_after("soon") is None and parse_retry_after("-5") == 0.0


def test_rate_limiter_sliding_window():
    clock = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        clock[0] += s

    limiter = RateLimiter(20, clock=lambda: clock[0], sleep=sleep)
    for _ in range(20):
        limiter.acquire()
        clock[0] += 0.1
    assert sleeps == []
    limiter.acquire()  # the 21st call within a minute waits until the first one is 60 s old
    assert clock[0] >= 60.0 and len(sleeps) == 1
    assert RateLimiter(None).acquire() == 0.0 and not RateLimiter(0).enabled


def test_page_guard_detects_repeats():
    guard = PageGuard("X API (o): GET /r", max_pages=3)
    guard.next("a")
    with pytest.raises(VendorError, match="twice"):
        guard.next("a")
    guard.next("b")
    with pytest.raises(VendorError, match="more than 3 pages"):
        guard.next("c")
