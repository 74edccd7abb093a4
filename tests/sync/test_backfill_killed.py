"""A messages-report backfill killed again and again still gets through: every run keeps the days
of the pages it finished (the report pages a 31-day range a few buckets at a time), and the last
run ends with exact totals. Real processes, SIGKILL, the fake Anthropic API; figures by hand."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import make_engine
from tests.fakes.vendors import AnthropicOrg, FakeAnthropic

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
KEY = "sk-ant-admin01-killed-backfill-key-0000000000000"
MESSAGES = "/v1/organizations/usage_report/messages"
END = datetime.now(UTC).date() - timedelta(days=1)
DAYS = [END - timedelta(days=7 - i) for i in range(8)]


def _row(unc: int, out: int) -> dict:
    return {"uncached_input_tokens": unc, "cache_creation": {"ephemeral_1h_input_tokens": 0,
                                                             "ephemeral_5m_input_tokens": 0},
            "cache_read_input_tokens": 0, "output_tokens": out, "server_tool_use": {"web_search_requests": 0},
            "api_key_id": "apikey_ivy", "workspace_id": "wrkspc_cc", "model": "claude-sonnet-4-5",
            "service_tier": None, "context_window": None, "inference_geo": None}


def _org() -> AnthropicOrg:
    key = {"id": "apikey_ivy", "type": "api_key", "name": "claude_code_key_ivy.lee_zz99",
           "created_at": "2025-01-01T00:00:00Z", "created_by": None, "status": "active", "workspace_id": "wrkspc_cc",
           "partial_key_hint": "sk-ant-api03-abc...wxyz", "expires_at": None}
    # day i (1-based) of the eight: 1,000 × i uncached input and 100 × i output tokens
    messages = {d.isoformat(): [_row(1000 * (i + 1), 100 * (i + 1))] for i, d in enumerate(DAYS)}
    return AnthropicOrg(org_id="org-killed", api_keys=[key], messages=messages,
                        workspaces=[{"id": "wrkspc_cc", "type": "workspace", "name": "Claude Code",
                                     "archived_at": None}])


def _env(database_url: str, vendor_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "CURSOR", "ABACUS", "DATABASE",
                                                                    "SLACK"))}
    env.update({"DATABASE_URL": database_url, "ANTHROPIC_ADMIN_KEY": KEY, "ANTHROPIC_API_URL": vendor_url,
                "ABACUS_EMAIL_DOMAIN": "example.com", "ABACUS_SYNC_RATE_LIMIT": "off", "ABACUS_HTTP_BACKOFF": "0.01",
                "ABACUS_HTTP_TIMEOUT": "60", "PYTHONPATH": str(REPO)})
    return env


def _stored_days(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT COUNT(DISTINCT day) FROM usage_event")).scalar_one()
    finally:
        engine.dispose()


def test_a_backfill_killed_on_every_third_page_still_finishes_exactly(database_url, tmp_path):
    argv = [sys.executable, "-m", "bot", "backfill", "--from", DAYS[0].isoformat(), "--to", DAYS[-1].isoformat(),
            "--source", "anthropic"]
    with FakeAnthropic({KEY: _org()}, bucket_page=1) as vendor:
        env = _env(database_url, vendor.url)
        subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], env=env, cwd=tmp_path, check=True,
                       capture_output=True, timeout=120)
        progress = [0]
        for _ in range(len(DAYS)):
            vendor.faults.clear()
            hang = vendor.faults.add(MESSAGES, "slow", after=2, delay=30)  # this run's third page never comes
            proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                deadline = time.monotonic() + 90
                while not hang.fired and proc.poll() is None:
                    assert time.monotonic() < deadline, "the backfill never reached its third messages page"
                    time.sleep(0.05)
                if proc.poll() is not None:  # fewer than three pages were left: it finished
                    assert proc.returncode == 0, proc.stderr.read().decode()
                    break
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            finally:
                if proc.poll() is None:
                    proc.kill()
            progress.append(_stored_days(database_url))
            assert progress[-1] > progress[-2], f"a killed run kept nothing: {progress}"
        vendor.faults.clear()
        done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        report = subprocess.run([sys.executable, "-m", "bot", "report", "--from", DAYS[0].isoformat(), "--to",
                                 DAYS[-1].isoformat(), "--by", "user", "--format", "json"],
                                env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    rows = json.loads(report.stdout)["rows"]
    # by hand: 1,000 × (1 + … + 8) = 36,000 input and 100 × 36 = 3,600 output tokens, on 8 days
    assert [(r["key"], r["input_tokens"], r["output_tokens"], r["active_days"]) for r in rows] == [
        ("ivy.lee@example.com", 36_000, 3_600, 8)]
    assert len(progress) >= 4  # it was really killed several times
