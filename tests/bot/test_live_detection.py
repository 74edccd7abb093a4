"""Detection on live telemetry: the job `abacus run` schedules every ABACUS_LIVE_DETECT_MINUTES opens
an incident and queues its alert for a session that burns $60 in twenty minutes — hours before any
vendor report. SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bot.app import live_detection_job
from bot.config import load_settings
from bot.otlp_server import OtlpReceiver
from bot.wiring import Context
from core.usage import CostBasis, Feed, Source, UsageRecord, natural_key
from storage.db import session_scope
from storage.usage_repo import write_usage
from tests.fakes.claude_code_otel import ApiRequestEvent, ClaudeCodeTelemetry

TOKEN = "live-detect-token-0123456789"


def _history(now: datetime) -> list[UsageRecord]:
    """Seven earlier days of Claude Code Analytics for hal: $5 a day (the spike's baseline)."""
    out = []
    for back in range(1, 8):
        day = (now - timedelta(days=back)).replace(hour=0, minute=0, second=0, microsecond=0)
        out.append(UsageRecord(source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_CODE_ANALYTICS,
                               natural_key=natural_key("hist", back), ts=day, person="hal@example.com",
                               raw_model="claude-sonnet-4-5", model="sonnet-4.5", input_tokens=1000,
                               output_tokens=100, cost_nanos=5_000_000_000, cost_basis=CostBasis.VENDOR))
    return out


def test_a_runaway_session_is_alerted_by_the_live_job(engine, monkeypatch):
    now = datetime.now(UTC)
    if now.hour == 0 and now.minute < 25:  # the twenty minutes must fall on today
        now = now.replace(minute=25)
    with session_scope(engine) as session:
        write_usage(_history(now), session=session)
    receiver = OtlpReceiver(engine, token=TOKEN, port=0, host="127.0.0.1").start()
    try:
        cc = ClaudeCodeTelemetry(f"http://127.0.0.1:{receiver.port}", TOKEN)
        # twelve $5 requests over twenty minutes: $60 today against a $5 daily mean (12x; the spike
        # layer flags >= $50 and > 5x)
        events = [ApiRequestEvent(email="hal@example.com", model="claude-opus-4-5-20251101", input_tokens=20_000,
                                  output_tokens=2_000, cost_usd="5", request_id=f"req_h{i}",
                                  at=now - timedelta(minutes=20) + timedelta(seconds=100 * i)) for i in range(12)]
        assert cc.send_events(events)
    finally:
        receiver.stop()
    monkeypatch.delenv("ABACUS_OTLP_PORT", raising=False)
    live_detection_job(Context(settings=load_settings(), engine=engine))
    with engine.connect() as conn:
        incidents = conn.execute(text("SELECT dedup_key, kind FROM incident")).all()
        queued = conn.execute(text("SELECT i.dedup_key, o.status FROM alert_outbox o "
                                   "JOIN incident i ON i.id = o.incident_id")).all()
    assert ("hal@example.com", "spend_spike") in [tuple(r) for r in incidents]
    assert ("hal@example.com", "pending") in [tuple(r) for r in queued]
    live_detection_job(Context(settings=load_settings(), engine=engine))  # the next tick: nothing new
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM alert_outbox")).scalar_one() == len(queued)


def test_a_database_that_does_not_answer_skips_the_live_tick_in_one_line(tmp_path, caplog):
    """The live job runs every two minutes: through a database outage it must say so in one line per
    tick, not print a traceback each time."""
    from storage.db import make_engine

    down = make_engine("postgresql://abacus@127.0.0.1:9/abacus")  # nothing listens on port 9
    caplog.set_level("WARNING", logger="bot.app")
    try:
        live_detection_job(Context(settings=load_settings(), engine=down))
    finally:
        down.dispose()
    assert "live detection skipped: the database did not answer (OperationalError)" in caplog.text
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)
