"""The OTLP/HTTP receiver, driven by the real OpenTelemetry SDK exporters (protobuf and JSON) sending
Claude Code-shaped telemetry, on SQLite and Postgres. Expected figures are worked out by hand
from the fixtures below."""

from __future__ import annotations

import gzip
import json
import random
import socket
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.sdk.metrics.export import AggregationTemporality
from sqlalchemy import text

from bot.otlp_server import MAX_BODY, OtlpReceiver
from storage.db import session_scope
from storage.people_repo import map_key
from tests.fakes.claude_code_otel import ApiRequestEvent, ClaudeCodeTelemetry

TOKEN = "otlp-test-token-0123456789"
NANOS = 1_000_000_000
TODAY = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)


@pytest.fixture
def receiver(engine):
    r = OtlpReceiver(engine, token=TOKEN, port=0, host="127.0.0.1").start()
    yield r
    r.stop()


def _events(tag: str = "") -> list[ApiRequestEvent]:
    t = TODAY
    return [
        ApiRequestEvent(email="Alice@Example.com", model="claude-opus-4-5-20251101", input_tokens=1000,
                        output_tokens=200, cache_read_tokens=5000, cache_creation_tokens=300, cost_usd="0.125",
                        request_id=f"req_a1{tag}", at=t),
        ApiRequestEvent(email="alice@example.com", model="claude-opus-4-5-20251101", input_tokens=2000,
                        output_tokens=400, cost_usd="0.375", request_id=f"req_a2{tag}", at=t + timedelta(minutes=1)),
        ApiRequestEvent(email="bob@example.com", model="claude-sonnet-4-5", input_tokens=100, output_tokens=50,
                        cache_read_tokens=10, cost_usd="0.0105", request_id=f"req_b1{tag}",
                        at=t + timedelta(minutes=2)),
        ApiRequestEvent(email=None, account_uuid="acc-9", model="claude-haiku-4-5", input_tokens=10, output_tokens=5,
                        cost_usd="0.001", request_id=f"req_c1{tag}", at=t + timedelta(minutes=3)),
    ]


# by hand from _events(): alice = A1 + A2, bob = B1, the account-only event = C1
EXPECTED_BY_PERSON = {
    "alice@example.com": (3000, 300, 5000, 600, 500_000_000, 2),
    "bob@example.com": (100, 0, 10, 50, 10_500_000, 1),
    "unmapped:acc-9": (10, 0, 0, 5, 1_000_000, 1),
}
EXPECTED_BY_MODEL = {
    "opus-4.5": (3000, 300, 5000, 600, 500_000_000, 2),
    "sonnet-4.5": (100, 0, 10, 50, 10_500_000, 1),
    "haiku-4.5": (10, 0, 0, 5, 1_000_000, 1),
}
SUMS = "SUM(input_tokens), SUM(cache_write_tokens), SUM(cache_read_tokens), SUM(output_tokens), SUM(cost_nanos), " \
       "SUM(requests)"


def by(engine, table: str, key: str) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {key}, {SUMS} FROM {table} WHERE source = 'claude_code' GROUP BY {key}"))
        return {k: tuple(int(v) for v in rest) for k, *rest in rows}


def events_from_store(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT feed, natural_key, ts_ms, person, model, input_tokens, cache_write_5m_tokens, cache_read_tokens, "
            "output_tokens, cost_nanos, cost_basis, requests FROM usage_event ORDER BY ts_ms, natural_key"))]


def snapshot(engine) -> tuple:
    return (events_from_store(engine), by(engine, "usage_person_day", "person"), by(engine, "usage_model_day", "model"))


@pytest.mark.parametrize(("protocol", "gzipped"), [("http/protobuf", False), ("http/protobuf", True),
                                                   ("http/json", False), ("http/json", True)])
def test_sdk_events_give_exact_totals_and_a_replayed_batch_adds_nothing(engine, receiver, protocol, gzipped):
    cc = ClaudeCodeTelemetry(f"http://127.0.0.1:{receiver.port}", TOKEN, protocol=protocol, gzip=gzipped)
    records = cc.record_events(_events())
    assert cc.export_logs(records)
    assert by(engine, "usage_person_day", "person") == EXPECTED_BY_PERSON
    assert by(engine, "usage_model_day", "model") == EXPECTED_BY_MODEL
    stored = events_from_store(engine)
    assert {row[10] for row in stored} == {"list_estimate"}  # Claude Code's cost is flagged as an estimate
    assert cc.export_logs(records)  # redelivered
    assert events_from_store(engine) == stored
    assert by(engine, "usage_person_day", "person") == EXPECTED_BY_PERSON


def test_standard_attributes_on_the_resource_apply_to_every_record(engine, receiver):
    cc = ClaudeCodeTelemetry(f"http://127.0.0.1:{receiver.port}", TOKEN)
    events = [ApiRequestEvent(email="carol@example.com", model="claude-sonnet-4-5", input_tokens=7, output_tokens=3,
                              cost_usd="0.002", request_id=f"req_r{i}", at=TODAY + timedelta(seconds=i))
              for i in range(3)]
    assert cc.send_events(events, attributes_on="resource")
    assert by(engine, "usage_person_day", "person") == {"carol@example.com": (21, 0, 0, 9, 6_000_000, 3)}


def test_an_event_without_a_request_id_is_keyed_by_session_and_sequence(engine, receiver):
    cc = ClaudeCodeTelemetry(f"http://127.0.0.1:{receiver.port}", TOKEN)
    events = [ApiRequestEvent(email="dan@example.com", model="claude-sonnet-4-5", input_tokens=5, output_tokens=5,
                              cost_usd="0.001", at=TODAY, sequence=i) for i in (1, 2)]
    assert cc.send_events(events) and cc.send_events(events)
    assert by(engine, "usage_person_day", "person") == {"dan@example.com": (10, 0, 0, 10, 2_000_000, 2)}


def test_an_account_without_email_is_mapped_like_an_api_key(engine, receiver):
    cc = ClaudeCodeTelemetry(f"http://127.0.0.1:{receiver.port}", TOKEN)
    assert cc.send_events(_events()[3:])
    with session_scope(engine) as session:
        _, changed = map_key(session=session, ref="acc-9", email="erin@example.com", by="test")
    assert changed == 1
    later = ApiRequestEvent(email=None, account_uuid="acc-9", model="claude-haiku-4-5", input_tokens=90,
                            output_tokens=45, cost_usd="0.009", request_id="req_c2", at=TODAY + timedelta(minutes=9))
    assert cc.send_events([later])
    assert by(engine, "usage_person_day", "person") == {"erin@example.com": (100, 0, 0, 50, 10_000_000, 2)}


# --- refused input ---------------------------------------------------------------------------------

def _post(port: int, path: str, body: bytes, *, ctype="application/x-protobuf", token: str | None = TOKEN,
          headers: dict | None = None) -> tuple[int, bytes, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST",
                                 headers={"Content-Type": ctype, **({"Authorization": f"Bearer {token}"} if token
                                                                    else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def test_wrong_token_huge_body_and_garbage_are_refused_and_change_nothing(engine, receiver):
    port = receiver.port
    cc = ClaudeCodeTelemetry(f"http://127.0.0.1:{port}", TOKEN)
    assert cc.send_events(_events())
    before = snapshot(engine)
    for_the_wrong = ClaudeCodeTelemetry(f"http://127.0.0.1:{port}", "not-the-token-at-all-000")
    assert not for_the_wrong.send_events(_events("-x"))
    assert not ClaudeCodeTelemetry(f"http://127.0.0.1:{port}", None).send_events(_events("-y"))
    valid = gzip.compress(b"")  # any body: the token is checked first
    assert _post(port, "/v1/logs", valid, token="wrong")[0] == 401
    assert _post(port, "/v1/logs", valid, token=None)[0] == 401
    status, body, headers = _post(port, "/v1/logs", valid, token=None, ctype="application/json")
    assert (status, json.loads(body)["code"]) == (401, 16) and headers.get("WWW-Authenticate")

    rng = random.Random(14)
    garbage = bytes(rng.getrandbits(8) for _ in range(4096))
    assert _post(port, "/v1/logs", garbage)[0] == 400
    assert _post(port, "/v1/metrics", garbage)[0] == 400
    assert _post(port, "/v1/logs", garbage, ctype="application/json")[0] == 400
    assert _post(port, "/v1/logs", b'{"resourceLogs": "nope"}', ctype="application/json")[0] == 400
    assert _post(port, "/v1/logs", b"[1, 2]", ctype="application/json")[0] == 400
    assert _post(port, "/v1/logs", garbage, headers={"Content-Encoding": "gzip"})[0] == 400
    assert _post(port, "/v1/logs", gzip.compress(b"x" * 100)[:40], headers={"Content-Encoding": "gzip"})[0] == 400
    assert _post(port, "/v1/logs", b"{}", ctype="text/plain")[0] == 415
    assert _post(port, "/v1/logs", b"{}", ctype="application/json", headers={"Content-Encoding": "br"})[0] == 415
    assert _post(port, "/v1/traces", b"{}", ctype="application/json")[0] == 404

    # over the limit on the wire: refused from the header, before the body is read
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST /v1/logs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                     f"Content-Type: application/x-protobuf\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode()
                     + b"\0" * 1024)
        assert sock.recv(64).startswith(b"HTTP/1.1 413")
    # and once decompressed (a gzip bomb: 64 MiB of zeros in ~64 KiB)
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))
    assert len(bomb) < MAX_BODY
    assert _post(port, "/v1/logs", bomb, headers={"Content-Encoding": "gzip"})[0] == 413

    assert snapshot(engine) == before
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:  # still serving
        assert (resp.status, json.loads(resp.read())) == (200, {"status": "ok"})
    assert cc.send_events(_events("-z"))  # and still storing


def _otlp_json_log(attrs: dict, time_ns: int) -> dict:
    return {"timeUnixNano": str(time_ns), "body": {"stringValue": "claude_code.api_request"},
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "attributes": [{"key": k, "value": {"stringValue": v} if isinstance(v, str) else {"intValue": str(v)}}
                           for k, v in attrs.items()]}


def test_partial_success_names_what_was_refused_and_keeps_the_rest(engine, receiver):
    """OTLP/JSON built per the spec (hex ids, 64-bit integers as strings): one good event, one with a
    negative token count, one without a model; plus an event of another kind, which is ignored."""
    ns = int(TODAY.timestamp()) * NANOS
    who = {"user.email": "fay@example.com", "session.id": "s-1"}
    good = {**who, "event.name": "api_request", "model": "claude-sonnet-4-5", "input_tokens": 40, "output_tokens": 2,
            "cost_usd": "0.003", "request_id": "req_ok"}
    negative = {**good, "input_tokens": "-5", "request_id": "req_neg"}
    no_model = {k: v for k, v in good.items() if k != "model"} | {"request_id": "req_nomodel"}
    prompt = {**who, "event.name": "user_prompt", "prompt_length": 12}
    doc = {"resourceLogs": [{"resource": {"attributes": []}, "scopeLogs": [{"logRecords": [
        _otlp_json_log(good, ns), _otlp_json_log(negative, ns), _otlp_json_log(no_model, ns),
        _otlp_json_log(prompt, ns)]}]}]}
    status, body, _ = _post(receiver.port, "/v1/logs", json.dumps(doc).encode(), ctype="application/json")
    answer = json.loads(body)
    assert status == 200
    assert int(answer["partialSuccess"]["rejectedLogRecords"]) == 2
    assert "input_tokens" in answer["partialSuccess"]["errorMessage"]
    assert by(engine, "usage_person_day", "person") == {"fay@example.com": (40, 0, 0, 2, 3_000_000, 1)}


def test_health_endpoint_needs_no_token_and_says_nothing_else(receiver):
    with urllib.request.urlopen(f"http://127.0.0.1:{receiver.port}/healthz", timeout=10) as resp:
        assert json.loads(resp.read()) == {"status": "ok"}


# --- metrics ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
@pytest.mark.parametrize("temporality", [AggregationTemporality.DELTA, AggregationTemporality.CUMULATIVE])
def test_metrics_alone_count_once_whatever_the_temporality(engine, receiver, protocol, temporality):
    cc = ClaudeCodeTelemetry(f"http://127.0.0.1:{receiver.port}", TOKEN, protocol=protocol)
    meter = cc.metrics(temporality)
    try:
        meter.add(model="claude-sonnet-4-5", cost_usd=0.5, tokens=[("input", 1000), ("output", 100)])
        assert meter.export()
        meter.add(model="claude-sonnet-4-5", cost_usd=0.25, tokens=[("input", 500), ("cacheRead", 40)])
        assert meter.export()
        assert meter.export(replay=True)  # the same collection again: a redelivery
        meter.add(model="claude-opus-4-5-20251101", cost_usd=1.0, tokens=[("cacheCreation", 7)])
        assert meter.export()
        assert meter.export()  # nothing new since: adds nothing either way
    finally:
        meter.close()
    # by hand: sonnet 0.5 + 0.25 USD, input 1000 + 500, output 100, cache read 40; opus 1.0 USD, 7 writes
    assert by(engine, "usage_model_day", "model") == {"sonnet-4.5": (1500, 0, 40, 100, 750_000_000, 0),
                                                      "opus-4.5": (0, 7, 0, 0, 1_000_000_000, 0)}
    assert by(engine, "usage_person_day", "person") == {"alice@example.com": (1500, 7, 40, 100, 1_750_000_000, 0)}


def test_events_supersede_metrics_for_the_person_day(engine, receiver):
    """Both exported for one person: the events are the exact figures; the metrics stored before
    the first event arrived are removed, and later metrics are not counted."""
    cc = ClaudeCodeTelemetry(f"http://127.0.0.1:{receiver.port}", TOKEN)
    meter = cc.metrics(AggregationTemporality.DELTA)
    try:
        meter.add(model="claude-sonnet-4-5", cost_usd=2.0, tokens=[("input", 999)])
        assert meter.export()
        assert by(engine, "usage_person_day", "person")["alice@example.com"][4] == 2_000_000_000
        assert cc.send_events(_events()[:2])
        meter.add(model="claude-sonnet-4-5", cost_usd=3.0, tokens=[("input", 111)])
        assert meter.export()
    finally:
        meter.close()
    assert by(engine, "usage_person_day", "person") == {"alice@example.com": (3000, 300, 5000, 600, 500_000_000, 2)}
