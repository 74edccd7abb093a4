"""OTLP/HTTP request bodies (logs and metrics) → Claude Code telemetry, with the official messages.

Claude Code exports OpenTelemetry: one log record `claude_code.api_request` per model request and
the metrics `claude_code.cost.usage` / `claude_code.token.usage`. This module decodes an export
request — `application/x-protobuf` or `application/json` (OTLP/JSON: lowerCamelCase keys, 64-bit
integers as strings, trace and span ids in hex) — with the `opentelemetry-proto` messages, merges
each record's attributes over its resource's (OTel semantics: the resource's apply to every
record, the record's own win), and hands back typed, validated values. What to do with them
(people, precedence, money) is core.telemetry's business.

Nothing here raises on a bad record: a record that cannot be used is counted as rejected with a
reason (the receiver answers with OTLP partial success); a body that is not an export request at
all raises `OtlpDecodeError` (the receiver answers 400).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from core.usage import EPOCH, MAX_TOKENS, ms_to_datetime

API_REQUEST_EVENTS = frozenset({"claude_code.api_request", "api_request"})
COST_METRIC = "claude_code.cost.usage"
TOKEN_METRIC = "claude_code.token.usage"
TOKEN_TYPES = frozenset({"input", "output", "cacheRead", "cacheCreation"})
MAX_COST_USD = Decimal(10_000_000)  # core.usage.MAX_RECORD_NANOS in dollars


class OtlpDecodeError(ValueError):
    """The body is not an OTLP export request of the expected kind (the receiver answers 400)."""


class Encoding(StrEnum):
    PROTOBUF = "protobuf"
    JSON = "json"


class Temporality(StrEnum):
    DELTA = "delta"
    CUMULATIVE = "cumulative"


@dataclass(frozen=True, slots=True)
class Who:
    """The standard attributes Claude Code puts on every record (or its resource)."""

    email: str | None
    account_id: str | None
    organization_id: str | None
    session_id: str | None


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One `claude_code.api_request` event."""

    ts: datetime
    who: Who
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    cost_usd: Decimal | None
    request_id: str | None
    sequence: int | None
    speed: str | None
    query_source: str | None


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One data point of `claude_code.cost.usage` (value in USD) or `claude_code.token.usage`."""

    metric: str
    temporality: Temporality
    who: Who
    model: str
    token_type: str | None  # token.usage only: input | output | cacheRead | cacheCreation
    value: Decimal
    start_ns: int
    time_ns: int
    attributes: tuple[tuple[str, str], ...]  # every attribute of the series, sorted: its identity


@dataclass(slots=True)
class Decoded:
    requests: list[ApiRequest] = field(default_factory=list)
    points: list[MetricPoint] = field(default_factory=list)
    ignored: int = 0  # records of other kinds (prompts, tool results, other metrics): accepted, not counted
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if reason not in self.reasons and len(self.reasons) < 5:
            self.reasons.append(reason)


# --- decoding the envelope --------------------------------------------------------------------------

def _parse(body: bytes, encoding: Encoding, message):
    if encoding is Encoding.PROTOBUF:
        try:
            message.ParseFromString(body)
        except (DecodeError, ValueError, RecursionError) as exc:
            raise OtlpDecodeError(f"not an OTLP protobuf message ({type(exc).__name__})") from None
        known = type(message)()
        known.CopyFrom(message)
        known.DiscardUnknownFields()
        if body and known.ByteSize() == 0:  # bytes that happen to parse, but as nothing OTLP knows
            raise OtlpDecodeError("not an OTLP protobuf message (no known field)")
        return message
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise OtlpDecodeError(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise OtlpDecodeError("not an OTLP/JSON export request (the body must be a JSON object)")
    _strip_ids(doc)
    try:
        json_format.ParseDict(doc, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise OtlpDecodeError(f"not an OTLP/JSON export request ({str(exc)[:160]})") from None
    return message


def _strip_ids(node) -> None:
    """OTLP/JSON writes trace and span ids in hex where protobuf's JSON mapping expects base64;
    we do not use them, so they are dropped before parsing instead of being mis-decoded."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in ("traceId", "spanId", "trace_id", "span_id"):
                item.pop(key, None)
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))


def _value(v: AnyValue):
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value
    if kind == "int_value":
        return v.int_value
    if kind == "double_value":
        return v.double_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "bytes_value":
        return v.bytes_value.hex()
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return None


def _attrs(kvs: Iterable[KeyValue]) -> dict:
    return {kv.key: _value(kv.value) for kv in kvs}


def _text(value) -> str | None:
    if value is None or isinstance(value, list | dict):
        return None
    text = str(value).strip()
    return text or None


def _who(attrs: dict) -> Who:
    email = _text(attrs.get("user.email"))
    return Who(email=email.lower() if email else None,
               account_id=_text(attrs.get("user.account_uuid")) or _text(attrs.get("user.account_id"))
               or _text(attrs.get("user.id")),
               organization_id=_text(attrs.get("organization.id")),
               session_id=_text(attrs.get("session.id")))


def _count(value, name: str) -> int:
    """A token count: an int, or a whole number sent as a double or a string (Claude Code sends
    attribute values as strings)."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ValueError(f"{name} is not a number")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{name} is not a number") from None
    if not d.is_finite() or d != d.to_integral_value() or d < 0 or d > MAX_TOKENS:
        raise ValueError(f"{name} must be a whole number between 0 and 2^48")
    return int(d)


def _usd(value, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} is not a number")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{name} is not a number") from None
    if not d.is_finite() or d < 0 or d > MAX_COST_USD:
        raise ValueError(f"{name} must be between 0 and 10,000,000 USD")
    return d


def _time(attrs: dict, record_ns: int, observed_ns: int) -> datetime:
    stamp = _text(attrs.get("event.timestamp"))
    if stamp:
        try:
            ts = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("event.timestamp is not an ISO 8601 time") from None
        if ts.tzinfo is None:
            raise ValueError("event.timestamp has no time zone")
        ts = ts.astimezone(UTC)
        # the store keeps milliseconds: cut below them, as the ns path does
        return ts.replace(microsecond=ts.microsecond // 1000 * 1000)
    ns = record_ns or observed_ns
    if not ns:
        raise ValueError("the record has no time (event.timestamp, timeUnixNano)")
    return ms_to_datetime(ns // 1_000_000)


def _event_name(record, attrs: dict) -> str | None:
    if record.event_name:
        return record.event_name
    name = _text(attrs.get("event.name"))
    if name:
        return name
    if record.body.WhichOneof("value") == "string_value":
        return record.body.string_value.strip()
    return None


def decode_logs(body: bytes, encoding: Encoding) -> Decoded:
    """An `ExportLogsServiceRequest` → its `api_request` events (other events are ignored)."""
    request = _parse(body, encoding, ExportLogsServiceRequest())
    out = Decoded()
    for resource_logs in request.resource_logs:
        resource = _attrs(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                own = _attrs(record.attributes)
                attrs = {**resource, **own}
                if _event_name(record, attrs) not in API_REQUEST_EVENTS:
                    out.ignored += 1
                    continue
                try:
                    out.requests.append(_api_request(record, attrs))
                except ValueError as exc:
                    out.reject(f"api_request: {exc}")
    return out


def _api_request(record, attrs: dict) -> ApiRequest:
    ts = _time(attrs, record.time_unix_nano, record.observed_time_unix_nano)
    if ts < EPOCH:
        raise ValueError("the record's time is before 1970")
    model = _text(attrs.get("model"))
    if model is None:
        raise ValueError("no model")
    sequence = attrs.get("event.sequence")
    try:
        sequence = None if sequence in (None, "") else int(str(sequence))
    except ValueError:
        sequence = None
    return ApiRequest(
        ts=ts, who=_who(attrs), model=model[:255],
        input_tokens=_count(attrs.get("input_tokens"), "input_tokens"),
        output_tokens=_count(attrs.get("output_tokens"), "output_tokens"),
        cache_read_tokens=_count(attrs.get("cache_read_tokens"), "cache_read_tokens"),
        cache_creation_tokens=_count(attrs.get("cache_creation_tokens"), "cache_creation_tokens"),
        cost_usd=_usd(attrs.get("cost_usd"), "cost_usd"),
        request_id=(_text(attrs.get("request_id")) or "")[:200] or None,
        sequence=sequence, speed=_text(attrs.get("speed")),
        query_source=_text(attrs.get("query_source")) or _text(attrs.get("agent.type")))


_TEMPORALITY = {AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA: Temporality.DELTA,
                AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE: Temporality.CUMULATIVE}


def decode_metrics(body: bytes, encoding: Encoding) -> Decoded:
    """An `ExportMetricsServiceRequest` → the data points of Claude Code's cost and token metrics."""
    request = _parse(body, encoding, ExportMetricsServiceRequest())
    out = Decoded()
    for resource_metrics in request.resource_metrics:
        resource = _attrs(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                points = getattr(metric, kind).data_points if kind in ("sum", "gauge") else ()
                if metric.name not in (COST_METRIC, TOKEN_METRIC):
                    out.ignored += max(1, len(points))
                    continue
                if kind != "sum":
                    out.reject(f"{metric.name}: expected a Sum, got {kind or 'no data'}")
                    continue
                temporality = _TEMPORALITY.get(metric.sum.aggregation_temporality)
                for point in points:
                    try:
                        if temporality is None:
                            raise ValueError("aggregation temporality is unspecified")
                        out.points.append(_point(metric.name, temporality, point, resource))
                    except ValueError as exc:
                        out.reject(f"{metric.name}: {exc}")
    return out


def _point(name: str, temporality: Temporality, point, resource: dict) -> MetricPoint:
    own = _attrs(point.attributes)
    attrs = {**resource, **own}
    model = _text(attrs.get("model"))
    if model is None:
        raise ValueError("no model attribute")
    which = point.WhichOneof("value")
    raw = point.as_int if which == "as_int" else point.as_double if which == "as_double" else None
    if raw is None:
        raise ValueError("the data point has no value")
    if name == COST_METRIC:
        value = _usd(repr(raw) if isinstance(raw, float) else raw, "cost")
        token_type = None
    else:
        token_type = _text(attrs.get("type"))
        if token_type not in TOKEN_TYPES:
            raise ValueError(f"unknown token type {str(token_type)[:40]!r}")
        value = Decimal(_count(repr(raw) if isinstance(raw, float) else raw, "tokens"))
    if not point.time_unix_nano:
        raise ValueError("the data point has no time")
    if temporality is Temporality.DELTA and point.start_time_unix_nano > point.time_unix_nano:
        raise ValueError("the data point starts after it ends")
    identity = tuple(sorted((k, json.dumps(v, sort_keys=True, default=str)) for k, v in attrs.items()))
    return MetricPoint(metric=name, temporality=temporality, who=_who(attrs), model=model[:255],
                       token_type=token_type, value=value or Decimal(0), start_ns=point.start_time_unix_nano,
                       time_ns=point.time_unix_nano, attributes=identity)
