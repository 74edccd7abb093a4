"""MTTD end to end: the real `abacus run` process with the OTLP receiver on, a short live-detection
interval and the fake Slack. A Claude Code session (the real OpenTelemetry SDK exporter) takes a
person's day to $50 against a $5 daily mean; the alert message about *that* person must reach the
fake Slack's alert channel within the interval plus a small margin of the crossing event's time.

Only the incident's own top-level alert counts: the weekly digest the bot catches up at start-up
(today may be a Monday) posts to the same channel first and must not be mistaken for it."""

from __future__ import annotations

import re
import signal
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from core.usage import CostBasis, Feed, Source, UsageRecord, natural_key
from storage.db import make_engine, session_scope, upgrade
from storage.usage_repo import write_usage
from tests.fakes.claude_code_otel import ApiRequestEvent, ClaudeCodeTelemetry
from tests.fakes.slack_pytest import launch_bot_process

pytestmark = pytest.mark.e2e
TOKEN = "mttd-e2e-token-0123456789"
CHANNEL = "C0ALERTS"
INTERVAL_S = 6  # ABACUS_LIVE_DETECT_MINUTES=0.1
BUDGET_S = INTERVAL_S + 5 + 10  # a tick, the outbox hand-off, and room for a loaded 2-core machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _history(now: datetime) -> list[UsageRecord]:
    """Seven earlier days of Claude Code Analytics for hal at $5 a day: the spike's baseline."""
    return [UsageRecord(source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_CODE_ANALYTICS, natural_key=natural_key("h", back),
                        person="hal@example.com", raw_model="claude-sonnet-4-5", model="sonnet-4.5",
                        ts=(now - timedelta(days=back)).replace(hour=0, minute=0, second=0, microsecond=0),
                        input_tokens=1000, output_tokens=100, cost_nanos=5_000_000_000, cost_basis=CostBasis.VENDOR)
            for back in range(1, 8)]


def _incident_alert(fake, incident_id: int):
    for call in fake.calls("chat.postMessage"):
        if (call.get("channel") == CHANNEL and not call.get("thread_ts") and call.ok
                and re.search(rf"#{incident_id}\b", str(call.get("text", "")))):
            return call
    return None


def test_a_runaway_session_reaches_slack_within_the_budget(fake_slack, tmp_path):
    now = datetime.now(UTC)
    if now.hour == 0 and now.minute < 20 or now.hour == 23 and now.minute > 58:
        pytest.skip("the session must fall on one UTC day")
    db = f"sqlite:///{tmp_path / 'abacus.db'}"
    engine = make_engine(db)
    upgrade(engine)
    with session_scope(engine) as session:
        write_usage(_history(now), session=session)
    port = _free_port()
    bot = launch_bot_process(fake_slack, {"DATABASE_URL": db, "ABACUS_OTLP_PORT": str(port), "ABACUS_OTLP_TOKEN": TOKEN,
                                          "ABACUS_OTLP_HOST": "127.0.0.1", "ABACUS_ALERT_CHANNEL": CHANNEL,
                                          "ABACUS_LIVE_DETECT_MINUTES": "0.1"}, log_dir=tmp_path)
    try:
        cc = ClaudeCodeTelemetry(f"http://127.0.0.1:{port}", TOKEN)
        sent = datetime.now(UTC)
        # nine $5 requests over the last fifteen minutes: $45, under the $50 floor
        assert cc.send_events([ApiRequestEvent(email="hal@example.com", model="claude-opus-4-5-20251101",
                                               input_tokens=20_000, output_tokens=2_000, cost_usd="5",
                                               request_id=f"req_e{i}", at=sent - timedelta(seconds=100 * (9 - i)))
                               for i in range(9)])
        time.sleep(INTERVAL_S + 2)  # at least one live tick sees $45: no incident yet
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM incident")).scalar_one() == 0
        crossing = datetime.now(UTC)  # the tenth takes the day to $50 (10x the mean)
        assert cc.send_events([ApiRequestEvent(email="hal@example.com", model="claude-opus-4-5-20251101",
                                               input_tokens=20_000, output_tokens=2_000, cost_usd="5",
                                               request_id="req_e9", at=crossing)])
        alert = incident = None
        deadline = time.monotonic() + BUDGET_S + 30
        while alert is None and time.monotonic() < deadline:
            with engine.connect() as conn:
                incident = conn.execute(text(
                    "SELECT i.id, i.kind, o.kind FROM incident i JOIN alert_outbox o ON o.incident_id = i.id "
                    "WHERE i.dedup_key = 'hal@example.com'")).first()
            if incident is not None:
                alert = _incident_alert(fake_slack, incident[0])
            time.sleep(0.1)
    finally:
        bot.popen.send_signal(signal.SIGTERM)
        assert bot.popen.wait(timeout=30) == 0, bot.describe()
    engine.dispose()
    assert incident is not None, bot.describe()
    assert tuple(incident[1:]) == ("spend_spike", "opened")
    assert alert is not None, f"no alert for incident #{incident[0]} in Slack\n{bot.describe()}"
    mttd = alert.time - crossing.timestamp()
    assert 0 < mttd <= BUDGET_S, f"MTTD {mttd:.1f} s over the {BUDGET_S} s budget"
    assert "hal" in str(alert.get("blocks", "")) + str(alert.get("text", ""))
    assert "Traceback" not in bot.stderr()
