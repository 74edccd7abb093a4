"""The built-in OTLP/HTTP receiver for live Claude Code telemetry (`ABACUS_OTLP_PORT`).

A stdlib `ThreadingHTTPServer` (no web framework) running beside the bot inside `abacus run`:

* `POST /v1/logs`, `POST /v1/metrics` — OTLP/HTTP export requests, `application/x-protobuf` or
  `application/json`, optionally gzip-compressed; decoded with the official messages
  (core.sources.otlp) and stored through the usage write path (storage.telemetry_repo).
  Answers: 200 with the OTLP `Export…ServiceResponse` (with `partial_success` when some records
  were refused, saying why), 401 without the `ABACUS_OTLP_TOKEN` bearer token, 413 over the size
  limit (compressed or not), 415 for another content type or encoding, 400 for a body that is not
  an export request, 503 (retryable, `Retry-After`) when the database cannot take the batch.
  A failed request changes nothing: one batch is one transaction.
* `GET /healthz` — 200 `{"status": "ok"}` when the database answers, else 503; no token needed,
  nothing revealed.
Nothing a client sends can stop the server: every request is handled inside its own guard.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import threading
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from core.sources.otlp import Decoded, Encoding, OtlpDecodeError, decode_logs, decode_metrics
from storage.db import session_scope
from storage.dbapi import driver_error_types
from storage.people_repo import identity_resolver
from storage.telemetry_repo import IngestResult, ingest

log = logging.getLogger("bot.otlp")

MAX_BODY = 8 * 1024 * 1024  # bytes on the wire
MAX_DECODED = 32 * 1024 * 1024  # bytes once decompressed (a gzip bomb stops here)
READ_TIMEOUT = 30  # seconds a client may take to send its request
MAX_CONCURRENT = 16  # batches being decoded/stored at once; more wait, then get 503
PATHS = {"/v1/logs": "logs", "/v1/metrics": "metrics"}
CONTENT_TYPES = {"application/x-protobuf": Encoding.PROTOBUF, "application/protobuf": Encoding.PROTOBUF,
                 "application/json": Encoding.JSON}


class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass
class ReceiverStats:
    """Counters for logs and the benchmark (not persisted)."""

    batches: int = 0
    records: int = 0
    inserted: int = 0
    refused: int = 0


class OtlpReceiver:
    """The receiver: `start()` serves on a thread, `stop()` finishes in-flight batches and closes."""

    def __init__(self, engine: Engine, *, token: str, port: int, host: str = "0.0.0.0",
                 email_domain: str | None = None, on_ingest: Callable[[IngestResult], None] | None = None) -> None:
        if not token:
            raise ValueError("the OTLP receiver needs a token")
        self.engine = engine
        self.email_domain = email_domain
        self.on_ingest = on_ingest
        self.stats = ReceiverStats()
        self._token = token.encode("utf-8")
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT)
        self._lock = threading.Lock()
        # keep-alive connections waiting for their next request (exporters keep theirs open between
        # batches): `stop()` closes them, so a SIGTERM does not wait READ_TIMEOUT for each to time out
        self._idle: set[socket.socket] = set()
        self._stopping = False
        handler = type("OtlpHandler", (_Handler,), {"receiver": self})
        self.server = ThreadingHTTPServer((host, port), handler, bind_and_activate=True)
        self.server.daemon_threads = False  # server_close() waits for in-flight batches
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> OtlpReceiver:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="otlp-receiver", daemon=True)
        self._thread.start()
        log.info("OTLP receiver listening on port %d (/v1/logs, /v1/metrics, /healthz)", self.port)
        return self

    def stop(self) -> None:
        self.server.shutdown()  # no new connections
        with self._lock:
            self._stopping = True  # a connection finishing a batch closes instead of waiting for another
            for sock in self._idle:  # one waiting for its next request: its read ends now
                try:
                    sock.shutdown(socket.SHUT_RD)
                except OSError:
                    pass
        self.server.server_close()  # waits for the batches being stored
        if self._thread is not None:
            self._thread.join(timeout=30)

    # -- the work of one request ------------------------------------------------------------------

    def authorised(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, value = header.strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode("utf-8"), self._token)

    def store(self, signal: str, decoded: Decoded) -> IngestResult:
        with session_scope(self.engine) as session:
            resolver = identity_resolver(session=session, domain=self.email_domain)
            result = ingest(session=session, resolver=resolver, requests=decoded.requests, points=decoded.points)
        with self._lock:
            self.stats.batches += 1
            self.stats.records += result.records
            self.stats.inserted += result.inserted
            self.stats.refused += decoded.rejected
        if self.on_ingest is not None:
            self.on_ingest(result)
        return result

    def healthy(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except (OperationalError, DBAPIError):
            return False


class _Handler(BaseHTTPRequestHandler):
    receiver: OtlpReceiver
    protocol_version = "HTTP/1.1"  # keep-alive: exporters reuse their connection
    timeout = READ_TIMEOUT
    server_version = "abacus-otlp"
    sys_version = ""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("%s " + format, self.address_string(), *args)

    # -- keep-alive: idle between requests, closed when the receiver stops -------------------------

    def handle_one_request(self) -> None:
        receiver = self.receiver
        with receiver._lock:
            if receiver._stopping:
                self.close_connection = True
                return
            receiver._idle.add(self.connection)
        try:
            super().handle_one_request()
        finally:
            with receiver._lock:
                receiver._idle.discard(self.connection)
                if receiver._stopping:
                    self.close_connection = True

    def parse_request(self) -> bool:
        with self.receiver._lock:  # a request has begun: it is served to the end, even while stopping
            self.receiver._idle.discard(self.connection)
        return super().parse_request()

    # -- routes -----------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path.split("?", 1)[0] in ("/healthz", "/health"):
            ok = self.receiver.healthy()
            self._reply(200 if ok else 503, b'{"status":"ok"}' if ok else b'{"status":"database unavailable"}',
                        "application/json")
        elif self.path.split("?", 1)[0] in PATHS:
            self._reply(405, b"use POST", "text/plain; charset=utf-8", {"Allow": "POST"})
        else:
            self._reply(404, b"not found", "text/plain; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        signal = PATHS.get(self.path.split("?", 1)[0])
        encoding = Encoding.JSON
        try:
            if signal is None:
                raise _Refused(404, "not found: POST /v1/logs or /v1/metrics")
            if not self.receiver.authorised(self.headers.get("Authorization")):
                raise _Refused(401, "missing or wrong bearer token", {"WWW-Authenticate": 'Bearer realm="abacus-otlp"'})
            ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            if ctype not in CONTENT_TYPES:
                raise _Refused(415, "Content-Type must be application/x-protobuf or application/json")
            encoding = CONTENT_TYPES[ctype]
            body = self._body()
            if not self.receiver._slots.acquire(timeout=10):
                raise _Refused(503, "busy; retry later", {"Retry-After": "5"})
            try:
                decoded = (decode_logs if signal == "logs" else decode_metrics)(body, encoding)
                try:
                    self.receiver.store(signal, decoded)
                except (OperationalError, DBAPIError, *driver_error_types()) as exc:
                    # through SQLAlchemy, or from a statement sent through the driver itself (the usage
                    # write lock, the bulk writes): busy, locked or gone — the exporter retries a 503
                    log.warning("OTLP %s batch not stored: the database refused it (%s)", signal,
                                type(getattr(exc, "orig", None) or exc).__name__)
                    raise _Refused(503, "the database is unavailable; retry later", {"Retry-After": "10"}) from None
            finally:
                self.receiver._slots.release()
            self._success(signal, encoding, decoded)
        except _Refused as refused:
            self.close_connection = True  # the body may be unread: never parse it as the next request
            self._error(refused, encoding)
        except OtlpDecodeError as exc:
            self._error(_Refused(400, str(exc)), encoding)
        except Exception:  # noqa: BLE001 - never let a request take the receiver down
            error_id = uuid.uuid4().hex[:8]
            log.exception("OTLP request failed (error id %s)", error_id)
            self.close_connection = True
            self._error(_Refused(500, f"internal error (id {error_id})"), encoding)

    # -- body -------------------------------------------------------------------------------------

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raw = self._chunked()
        else:
            length_text = self.headers.get("Content-Length")
            if length_text is None:
                raise _Refused(411, "Content-Length is required")
            try:
                length = int(length_text)
            except ValueError:
                raise _Refused(400, "Content-Length is not a number") from None
            if length < 0:
                raise _Refused(400, "Content-Length is negative")
            if length > MAX_BODY:
                raise _Refused(413, f"body over {MAX_BODY // (1024 * 1024)} MiB: send smaller batches")
            raw = self.rfile.read(length)
            if len(raw) < length:
                raise _Refused(400, "the body ended early")
        coding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if coding in ("", "identity", "none"):
            if len(raw) > MAX_DECODED:
                raise _Refused(413, "body too large")
            return raw
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise _Refused(415, "Content-Encoding must be gzip (or none)")
        inflater = zlib.decompressobj(wbits=47 if coding != "deflate" else 15)  # 47: gzip or zlib header
        try:
            out = inflater.decompress(raw, MAX_DECODED + 1)
        except zlib.error:
            raise _Refused(400, "the body is not valid gzip") from None
        if len(out) > MAX_DECODED:
            raise _Refused(413, f"decompressed body over {MAX_DECODED // (1024 * 1024)} MiB: send smaller batches")
        if not inflater.eof:
            raise _Refused(400, "the gzip body is truncated")
        return out

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(64)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _Refused(400, "bad chunked encoding") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if size < 0 or total > MAX_BODY:
                raise _Refused(413, f"body over {MAX_BODY // (1024 * 1024)} MiB: send smaller batches")
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise _Refused(400, "the body ended early")
            parts.append(chunk)
            self.rfile.readline(8)

    # -- responses --------------------------------------------------------------------------------

    def _success(self, signal: str, encoding: Encoding, decoded: Decoded) -> None:
        response = ExportLogsServiceResponse() if signal == "logs" else ExportMetricsServiceResponse()
        if decoded.rejected:
            partial = response.partial_success
            if signal == "logs":
                partial.rejected_log_records = decoded.rejected
            else:
                partial.rejected_data_points = decoded.rejected
            partial.error_message = "; ".join(decoded.reasons)[:1000]
        if encoding is Encoding.PROTOBUF:
            self._reply(200, response.SerializeToString(), "application/x-protobuf")
        else:
            self._reply(200, json_format.MessageToJson(response, indent=None).encode("utf-8"), "application/json")

    def _error(self, refused: _Refused, encoding: Encoding) -> None:
        if encoding is Encoding.JSON:
            # google.rpc.Status in JSON, as OTLP/HTTP asks of an error body
            body = json.dumps({"code": _GRPC_CODE.get(refused.status, 2), "message": refused.message}).encode()
            self._reply(refused.status, body, "application/json", refused.headers)
        else:
            self._reply(refused.status, refused.message.encode("utf-8"), "text/plain; charset=utf-8", refused.headers)

    def _reply(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client went away; nothing to tell it
            self.close_connection = True


_GRPC_CODE = {400: 3, 401: 16, 404: 5, 411: 3, 413: 8, 415: 3, 500: 13, 503: 14}
