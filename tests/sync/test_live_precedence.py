"""Live telemetry vs the Admin API's Claude Code Analytics, per person-day: the vendor's figures
supersede the telemetry, whichever arrives first — never both counted. Telemetry goes through the
real receiver (OpenTelemetry SDK exporter), the Admin API through `abacus sync` against the fake
vendor; figures below are worked out by hand. SQLite and Postgres."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.otlp_server import OtlpReceiver
from tests.fakes.claude_code_otel import ApiRequestEvent, ClaudeCodeTelemetry
from tests.fakes.vendors import AnthropicOrg, FakeAnthropic

pytestmark = pytest.mark.e2e
TOKEN = "precedence-token-0123456789"
KEY = "sk-ant-admin01-precedence-test-key-000000000000"
TODAY = datetime.now(UTC).date()
AT = datetime(TODAY.year, TODAY.month, TODAY.day, 9, 0, tzinfo=UTC)


def _analytics_row(email: str) -> dict:
    """Alice's Claude Code Analytics for today: opus, 100,000 in / 35,000 out / 10,000 cache read /
    5,000 cache creation, $1.41 (141 cents) — not what her telemetry says."""
    return {"date": f"{TODAY.isoformat()}T00:00:00Z", "actor": {"type": "user_actor", "email_address": email},
            "organization_id": "org-live", "customer_type": "api", "terminal_type": "vscode",
            "core_metrics": {"num_sessions": 2, "lines_of_code": {"added": 10, "removed": 1},
                             "commits_by_claude_code": 0, "pull_requests_by_claude_code": 0},
            "tool_actions": {},
            "model_breakdown": [{"model": "claude-opus-4-5-20251101",
                                 "tokens": {"input": 100_000, "output": 35_000, "cache_read": 10_000,
                                            "cache_creation": 5_000},
                                 "estimated_cost": {"currency": "USD", "amount": 141}}]}


ADMIN_ALICE = {"input_tokens": 100_000, "output_tokens": 35_000, "cache_write_tokens": 5_000,
               "cache_read_tokens": 10_000, "total_tokens": 150_000, "cost_usd": 1.41, "requests": 0, "active_days": 1}
# telemetry: alice 2 opus requests (1,000 + 2,000 in, 200 + 400 out, $0.125 + $0.375); bob 1 sonnet request
LIVE_ALICE = {"input_tokens": 3_000, "output_tokens": 600, "cache_write_tokens": 0, "cache_read_tokens": 0,
              "total_tokens": 3_600, "cost_usd": 0.5, "requests": 2, "active_days": 1}
LIVE_BOB = {"input_tokens": 100, "output_tokens": 50, "cache_write_tokens": 0, "cache_read_tokens": 0,
            "total_tokens": 150, "cost_usd": 0.0105, "requests": 1, "active_days": 1}


def _telemetry() -> list[ApiRequestEvent]:
    return [ApiRequestEvent(email="alice@example.com", model="claude-opus-4-5-20251101", input_tokens=1000,
                            output_tokens=200, cost_usd="0.125", request_id="req_p1", at=AT),
            ApiRequestEvent(email="alice@example.com", model="claude-opus-4-5-20251101", input_tokens=2000,
                            output_tokens=400, cost_usd="0.375", request_id="req_p2", at=AT + timedelta(minutes=5)),
            ApiRequestEvent(email="bob@example.com", model="claude-sonnet-4-5", input_tokens=100, output_tokens=50,
                            cost_usd="0.0105", request_id="req_p3", at=AT + timedelta(minutes=6))]


@pytest.fixture
def live(engine, abacus_env, monkeypatch):
    org = AnthropicOrg(org_id="org-live", claude_code={TODAY.isoformat(): [_analytics_row("alice@example.com")]})
    with FakeAnthropic({KEY: org}) as vendor:
        for k, v in {"ANTHROPIC_ADMIN_KEY": KEY, "ANTHROPIC_API_URL": vendor.url, "ABACUS_SYNC_RATE_LIMIT": "off",
                     "ABACUS_HTTP_BACKOFF": "0.01", "ABACUS_HTTP_ATTEMPTS": "2"}.items():
            monkeypatch.setenv(k, v)
        receiver = OtlpReceiver(engine, token=TOKEN, port=0, host="127.0.0.1").start()
        try:
            yield ClaudeCodeTelemetry(f"http://127.0.0.1:{receiver.port}", TOKEN)
        finally:
            receiver.stop()


def _report(cli) -> dict:
    out = cli("report", "--from", TODAY.isoformat(), "--to", TODAY.isoformat(), "--by", "user", "--format", "json")
    assert out.code == 0, out.err
    doc = json.loads(out.out)
    return {"rows": {r.pop("key"): r for r in doc["rows"]}, "live": doc["live_estimate_days"]}


def _sync(cli) -> dict:
    out = cli("sync", "--source", "anthropic", "--from", TODAY.isoformat(), "--to", TODAY.isoformat(),
              "--format", "json", "--quiet")
    assert out.code == 0, out.err
    return json.loads(out.out)


def test_admin_api_figures_supersede_the_telemetry_of_that_person_day(live, cli):
    assert live.send_events(_telemetry())
    before = _report(cli)
    assert before == {"rows": {"alice@example.com": LIVE_ALICE, "bob@example.com": LIVE_BOB},
                      "live": [TODAY.isoformat()]}

    summary = _sync(cli)
    assert summary["results"][0]["streams"]["claude_code"]["live_superseded"] == 2  # alice's two live records

    after = _report(cli)
    # alice: exactly the Admin API's figures (they disagree with her telemetry); bob: still live
    assert after["rows"] == {"alice@example.com": ADMIN_ALICE, "bob@example.com": LIVE_BOB}
    assert after["live"] == [TODAY.isoformat()]  # bob's figures are still estimates

    assert live.send_events(_telemetry())  # Claude Code redelivers late: changes nothing
    assert _report(cli) == after


def test_telemetry_arriving_after_the_admin_api_figures_is_not_counted(live, cli):
    _sync(cli)
    assert _report(cli) == {"rows": {"alice@example.com": ADMIN_ALICE}, "live": []}
    assert live.send_events(_telemetry()[:2])  # alice's, for a person-day the vendor already reported
    assert _report(cli) == {"rows": {"alice@example.com": ADMIN_ALICE}, "live": []}
    assert live.send_events(_telemetry()[2:])  # bob's: the vendor has nothing for him today
    assert _report(cli) == {"rows": {"alice@example.com": ADMIN_ALICE, "bob@example.com": LIVE_BOB},
                            "live": [TODAY.isoformat()]}
