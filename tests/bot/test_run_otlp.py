"""`abacus run` with ABACUS_OTLP_PORT: the receiver runs inside the bot process, and its settings
are checked at start like every other."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.request

import pytest
from sqlalchemy import text

from storage.db import make_engine
from tests.bot.test_run import run_abacus
from tests.fakes.claude_code_otel import ApiRequestEvent, ClaudeCodeTelemetry
from tests.fakes.slack_pytest import launch_bot_process

pytestmark = pytest.mark.e2e
TOKEN = "run-otlp-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_port_without_a_token_is_one_line(tmp_path):
    done = run_abacus({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "ABACUS_OTLP_PORT": "4318"},
                      tmp_path)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "abacus: ABACUS_OTLP_TOKEN must be set when ABACUS_OTLP_PORT is (every OTLP request must carry it as "
        "'Authorization: Bearer …')"]


def test_a_short_token_is_refused_without_echoing_it(tmp_path):
    done = run_abacus({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "ABACUS_OTLP_PORT": "4318",
                       "ABACUS_OTLP_TOKEN": "short-s3cret"}, tmp_path)
    assert done.returncode != 0 and "at least 16 characters" in done.stderr
    assert "short-s3cret" not in done.stderr + done.stdout


def test_the_bot_receives_telemetry_and_stops_cleanly(fake_slack, tmp_path):
    port = _free_port()
    db = f"sqlite:///{tmp_path / 'abacus.db'}"
    bot = launch_bot_process(fake_slack, {"DATABASE_URL": db, "ABACUS_OTLP_PORT": str(port),
                                          "ABACUS_OTLP_TOKEN": TOKEN, "ABACUS_OTLP_HOST": "127.0.0.1"},
                             log_dir=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    assert json.loads(resp.read()) == {"status": "ok"}
                    break
            except OSError:
                assert time.monotonic() < deadline, bot.describe()
                time.sleep(0.1)
        cc = ClaudeCodeTelemetry(f"http://127.0.0.1:{port}", TOKEN, protocol="http/json", gzip=True)
        assert cc.send_events([ApiRequestEvent(email="gus@example.com", model="claude-sonnet-4-5", input_tokens=12,
                                               output_tokens=3, cost_usd="0.0015", request_id="req_run_1")])
    finally:
        bot.popen.send_signal(signal.SIGTERM)
        assert bot.popen.wait(timeout=30) == 0, bot.describe()
    engine = make_engine(db)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT person, input_tokens, output_tokens, cost_nanos FROM usage_event")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("gus@example.com", 12, 3, 1_500_000)]
    assert TOKEN not in bot.stderr() and "Traceback" not in bot.stderr()
