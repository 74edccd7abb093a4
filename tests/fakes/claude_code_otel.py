"""A stand-in for Claude Code's telemetry export: the real OpenTelemetry Python SDK and its OTLP/HTTP
exporters (protobuf and JSON), emitting Claude Code-shaped `claude_code.api_request` events and
`claude_code.cost.usage` / `claude_code.token.usage` metrics, as code.claude.com "Monitoring" lists
them (standard attributes on the resource or on each record; attribute values as strings).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from opentelemetry.exporter.otlp.common.http import Compression
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource


@dataclass
class ApiRequestEvent:
    email: str | None
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    cost_usd: str = "0"
    request_id: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    session_id: str = "session-1"
    account_uuid: str | None = None
    sequence: int | None = None


def _attrs(ev: ApiRequestEvent, *, on_record: bool) -> dict:
    attrs = {
        "event.name": "api_request",
        "event.timestamp": ev.at.isoformat().replace("+00:00", "Z"),
        "model": ev.model, "input_tokens": str(ev.input_tokens), "output_tokens": str(ev.output_tokens),
        "cache_read_tokens": str(ev.cache_read_tokens), "cache_creation_tokens": str(ev.cache_creation_tokens),
        "cost_usd": ev.cost_usd, "duration_ms": "1234", "speed": "normal", "query_source": "repl_main_thread",
    }
    if ev.request_id:
        attrs["request_id"] = ev.request_id
    if ev.sequence is not None:
        attrs["event.sequence"] = ev.sequence
    if on_record:
        attrs.update(_who(ev.email, ev.session_id, ev.account_uuid))
    return attrs


def _who(email: str | None, session_id: str, account_uuid: str | None) -> dict:
    who = {"session.id": session_id, "organization.id": "org-1", "terminal.type": "vscode"}
    if email:
        who["user.email"] = email
    if account_uuid:
        who["user.account_uuid"] = account_uuid
    return who


class ClaudeCodeTelemetry:
    """`protocol`: "http/protobuf" or "http/json", like OTEL_EXPORTER_OTLP_PROTOCOL."""

    def __init__(self, endpoint: str, token: str | None, *, protocol: str = "http/protobuf", gzip: bool = False):
        self.endpoint = endpoint.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.protocol = protocol
        self.compression = Compression.GZIP if gzip else Compression.NONE

    def _log_exporter(self):
        if self.protocol == "http/json":
            from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter
        else:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        return OTLPLogExporter(endpoint=f"{self.endpoint}/v1/logs", headers=self.headers, timeout=10,
                               compression=self.compression)

    def _metric_exporter(self, temporality: AggregationTemporality):
        if self.protocol == "http/json":
            from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        return OTLPMetricExporter(endpoint=f"{self.endpoint}/v1/metrics", headers=self.headers, timeout=10,
                                  compression=self.compression, preferred_temporality={Counter: temporality})

    def record_events(self, events: Sequence[ApiRequestEvent], *, attributes_on: str = "record") -> list:
        """The SDK's log records for these events (`attributes_on`: "record" or "resource" for the
        standard attributes), ready to export — and to export again (a redelivery)."""
        first = events[0]
        resource_attrs = {"service.name": "claude-code", "service.version": "2.1.0"}
        if attributes_on == "resource":
            resource_attrs.update(_who(first.email, first.session_id, first.account_uuid))
        provider = LoggerProvider(resource=Resource.create(resource_attrs))
        memory = InMemoryLogRecordExporter()
        provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
        logger = provider.get_logger("com.anthropic.claude_code.events", "2.1.0")
        for ev in events:
            ns = int(ev.at.timestamp() * 1e9)
            logger.emit(timestamp=ns, observed_timestamp=ns, body="claude_code.api_request",
                        attributes=_attrs(ev, on_record=attributes_on == "record"))
        provider.shutdown()
        return list(memory.get_finished_logs())

    def export_logs(self, records: list) -> bool:
        exporter = self._log_exporter()
        try:
            return exporter.export(records) is LogRecordExportResult.SUCCESS
        finally:
            exporter.shutdown()

    def send_events(self, events: Sequence[ApiRequestEvent], *, attributes_on: str = "record") -> bool:
        return self.export_logs(self.record_events(events, attributes_on=attributes_on))

    def metrics(self, temporality: AggregationTemporality = AggregationTemporality.DELTA) -> MetricSession:
        return MetricSession(self, temporality)


class MetricSession:
    """One Claude Code process's meter: add to the counters, then `export()` a collection (as the
    periodic reader would); `export(replay=True)` sends the previous collection again."""

    def __init__(self, telemetry: ClaudeCodeTelemetry, temporality: AggregationTemporality,
                 email: str = "alice@example.com", session_id: str = "session-m") -> None:
        self.telemetry = telemetry
        self.reader = InMemoryMetricReader(preferred_temporality={Counter: temporality})
        resource = Resource.create({"service.name": "claude-code", **_who(email, session_id, None)})
        self.provider = MeterProvider(resource=resource, metric_readers=[self.reader])
        meter = self.provider.get_meter("com.anthropic.claude_code", "2.1.0")
        self.cost = meter.create_counter("claude_code.cost.usage", unit="USD")
        self.tokens = meter.create_counter("claude_code.token.usage", unit="tokens")
        self.exporter = telemetry._metric_exporter(temporality)
        self.last = None

    def add(self, *, model: str, cost_usd: float = 0.0, tokens: Iterable[tuple[str, int]] = ()) -> None:
        if cost_usd:
            self.cost.add(cost_usd, {"model": model})
        for kind, n in tokens:
            self.tokens.add(n, {"model": model, "type": kind})

    def export(self, *, replay: bool = False) -> bool:
        data = self.last if replay else self.reader.get_metrics_data()
        if data is None:  # a delta collection with nothing new: the periodic reader sends nothing
            return True
        self.last = data
        return self.exporter.export(data) is MetricExportResult.SUCCESS

    def close(self) -> None:
        self.exporter.shutdown()
        self.provider.shutdown()
