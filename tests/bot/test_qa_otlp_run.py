"""QA pass on the OTLP receiver as `abacus run` serves it: faults of the database it writes to."""

from __future__ import annotations

import http.client
import json
import sqlite3
import time
from datetime import UTC, datetime

from bot.otlp_server import OtlpReceiver
from storage import dbapi
from storage.db import make_engine, upgrade
from tests.bot.test_otlp_receiver import NANOS, TOKEN, _otlp_json_log, _post, by

TODAY = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)


def test_a_sqlite_database_locked_by_another_writer_answers_503_and_stores_nothing(tmp_path, monkeypatch, caplog):
    """Another process holds SQLite's write lock (a CLI backfill, a `sqlite3` shell): the usage write
    lock, taken through the driver itself, fails with sqlite3's own error. That is the database
    being busy — a retryable 503 with Retry-After, one log line — not a 500 with a traceback, which
    an OTLP exporter drops for good."""
    monkeypatch.setattr(dbapi, "SQLITE_BUSY_TIMEOUT_MS", 100)  # wait 0.1 s for the lock, not 10 s
    path = tmp_path / "abacus.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    receiver = OtlpReceiver(engine, token=TOKEN, port=0, host="127.0.0.1").start()
    event = {"user.email": "lin@example.com", "session.id": "s-1", "event.name": "api_request",
             "model": "claude-sonnet-4-5", "input_tokens": 40, "output_tokens": 2, "cost_usd": "0.003",
             "request_id": "req_locked"}
    doc = json.dumps({"resourceLogs": [{"resource": {"attributes": []}, "scopeLogs": [{"logRecords": [
        _otlp_json_log(event, int(TODAY.timestamp()) * NANOS)]}]}]}).encode()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        caplog.set_level("WARNING", logger="bot.otlp")
        status, _body, headers = _post(receiver.port, "/v1/logs", doc, ctype="application/json")
        other.execute("ROLLBACK")
        assert (status, headers.get("Retry-After")) == (503, "10")
        assert "Traceback" not in caplog.text and "OTLP logs batch not stored" in caplog.text
        assert by(engine, "usage_person_day", "person") == {}
        # the exporter's retry, once the other writer is done, stores the batch once
        assert _post(receiver.port, "/v1/logs", doc, ctype="application/json")[0] == 200
        assert by(engine, "usage_person_day", "person") == {"lin@example.com": (40, 0, 0, 2, 3_000_000, 1)}
    finally:
        other.close()
        receiver.stop()
        engine.dispose()


def test_stop_closes_idle_keep_alive_connections_at_once(engine):
    """Exporters keep their connection open between batches (HTTP/1.1 keep-alive). A SIGTERM must
    not wait READ_TIMEOUT (30 s) for each idle connection to time out — most platforms kill the
    process after 30 s — while a batch already being sent is still answered."""
    receiver = OtlpReceiver(engine, token=TOKEN, port=0, host="127.0.0.1").start()
    idle = []
    for _ in range(3):
        conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
        conn.request("POST", "/v1/logs", body=b'{"resourceLogs": []}',
                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        idle.append(conn)  # kept open, waiting for the next batch
    started = time.monotonic()
    receiver.stop()
    assert time.monotonic() - started < 5
    for conn in idle:
        conn.close()
