"""Anthropic Usage and Cost Analytics API (beta) in the sync: where the key has access, Claude Code's
billed cost per person and model replaces the Claude Code Analytics estimate of that person-day-model
(tokens stay as Claude Code Analytics reports them; nothing is added, so nothing counts twice); a
person-model billed over several analytics rows is split over them to the nano; a revised bill
replaces; a key without access falls back to the estimates with one note. Figures by hand; SQLite
and Postgres."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.fakes.vendors import AnthropicOrg, FakeAnthropic

pytestmark = pytest.mark.e2e
TODAY = datetime.now(UTC).date()
D1, D2 = TODAY - timedelta(days=2), TODAY - timedelta(days=1)
KEY = "sk-ant-admin01-cost-analytics-beta-key-000000000001"
NO_BETA_KEY = "sk-ant-admin01-no-cost-analytics-access-0000000002"
FALLBACK_NOTE = ("Usage and Cost Analytics API (beta) not available to this key; Claude Code costs are the "
                 "Claude Code Analytics estimates")


def _row(day, actor: dict, terminal: str, models: list[tuple[str, int, int]]) -> dict:
    return {"date": f"{day.isoformat()}T00:00:00Z", "actor": actor, "organization_id": "org-cost",
            "customer_type": "api", "terminal_type": terminal,
            "core_metrics": {"num_sessions": 1, "lines_of_code": {"added": 1, "removed": 0},
                             "commits_by_claude_code": 0, "pull_requests_by_claude_code": 0},
            "tool_actions": {},
            "model_breakdown": [{"model": m, "tokens": {"input": tokens, "output": 10, "cache_read": 0,
                                                        "cache_creation": 0},
                                 "estimated_cost": {"currency": "USD", "amount": cents}}
                                for m, tokens, cents in models]}


def _user(email: str) -> dict:
    return {"type": "user_actor", "email_address": email}


def _claude_code() -> dict[str, list[dict]]:
    return {
        D1.isoformat(): [
            _row(D1, _user("jo@example.com"), "vscode",
                 [("claude-sonnet-4-5", 3000, 300), ("claude-opus-4-5", 500, 500)]),
            _row(D1, _user("jo@example.com"), "iTerm.app", [("claude-sonnet-4-5", 1000, 100)]),
            _row(D1, _user("kim@example.com"), "vscode", [("claude-sonnet-4-5", 2000, 200)]),
            _row(D1, {"type": "api_actor", "api_key_name": "ci-bot"}, "tmux", [("claude-sonnet-4-5", 500, 50)]),
        ],
        D2.isoformat(): [_row(D2, _user("jo@example.com"), "vscode", [("claude-sonnet-4-5", 1000, 100)])],
    }


def _bill(actor: dict, model: str, amount: str, product: str = "claude_code") -> dict:
    return {"group": {"actor": actor, "product": product, "model": model},
            "cost": {"amount": amount, "list_amount": amount, "currency": "USD", "requests": 3}}


def _billed(opus_cents: str = "450") -> dict[str, list[dict]]:
    return {D1.isoformat(): [
        _bill({**_user("jo@example.com"), "user_id": "user_01jo", "name": "Jo"}, "claude-sonnet-4-5", "360.5"),
        _bill({"type": "user_actor", "email": "JO@example.com", "user_id": "user_01jo"}, "claude-opus-4-5",
              opus_cents),  # the older field name, another case
        _bill(_user("jo@example.com"), "claude-sonnet-4-5", "9999", product="chat"),  # not Claude Code
        _bill(_user("lee@example.com"), "claude-sonnet-4-5", "1000"),  # no analytics row: not added
        _bill({"type": "api_key_actor", "api_key_id": "apikey_01ci"}, "claude-sonnet-4-5", "40"),  # not a person
    ], D2.isoformat(): []}


def _sync_and_report(cli, monkeypatch, key: str) -> tuple[dict, dict]:
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", key)
    window = ["--from", D1.isoformat(), "--to", D2.isoformat()]
    out = cli("sync", "--source", "anthropic", *window, "--format", "json")
    assert out.code == 0, out.err
    summary = json.loads(out.out)
    rep = cli("report", *window, "--by", "user", "--format", "json")
    rows = {r["key"]: (r["input_tokens"], r["cost_usd"]) for r in json.loads(rep.out)["rows"]}
    return summary, rows


def test_billed_costs_replace_the_estimates(abacus_env, cli, monkeypatch, engine):
    org = AnthropicOrg(org_id="org-cost", claude_code=_claude_code(), cost_analytics=_billed())
    with FakeAnthropic({KEY: org}) as vendor:
        monkeypatch.setenv("ANTHROPIC_API_URL", vendor.url)
        monkeypatch.setenv("ABACUS_SYNC_RATE_LIMIT", "off")
        summary, rows = _sync_and_report(cli, monkeypatch, KEY)
        # by hand — jo: sonnet billed 360.5 cents on D1 (over her two sonnet rows), opus 450 cents, D2's
        # estimate 100 cents: $3.605 + $4.50 + $1.00 = $9.105; tokens 3,000 + 500 + 1,000 + 1,000.
        # kim: not billed, her estimate $2.00. ci-bot (an API key): its estimate $0.50.
        assert rows["jo@example.com"] == (5500, 9.105)
        assert rows["kim@example.com"] == (2000, 2.0)
        assert sum(c for _, c in rows.values()) == pytest.approx(9.105 + 2.0 + 0.5)
        notes = summary["results"][0]["notes"]
        assert (f"{D1}: 1 billed person-model(s) without Claude Code analytics rows not added (no token figures)"
                in notes)
        assert FALLBACK_NOTE not in notes
        calls = vendor.calls("/v1/organizations/analytics/cost")
        assert len(calls) >= 3  # D1 on several pages (two rows a page), D2 once

        assert _sync_and_report(cli, monkeypatch, KEY)[1] == rows  # a re-sync changes nothing
        org.cost_analytics = _billed(opus_cents="480")  # the bill for D1 is revised
        assert _sync_and_report(cli, monkeypatch, KEY)[1]["jo@example.com"] == (5500, 9.405)
    with engine.connect() as conn:
        split = sorted(conn.execute(text(
            "SELECT cost_nanos, cost_basis FROM usage_event WHERE person = 'jo@example.com' "
            "AND model = 'sonnet-4.5' AND day = :d"), {"d": D1}).all())
    # 360.5 cents split 3:1 by the estimates (300 and 100 cents): 270.375 and 90.125 cents
    assert [tuple(r) for r in split] == [(901_250_000, "vendor"), (2_703_750_000, "vendor")]


def test_without_access_the_estimates_stay(abacus_env, cli, monkeypatch):
    org = AnthropicOrg(org_id="org-cost", claude_code=_claude_code())  # /analytics/cost answers 404
    with FakeAnthropic({NO_BETA_KEY: org}) as vendor:
        monkeypatch.setenv("ANTHROPIC_API_URL", vendor.url)
        monkeypatch.setenv("ABACUS_SYNC_RATE_LIMIT", "off")
        summary, rows = _sync_and_report(cli, monkeypatch, NO_BETA_KEY)
        calls = vendor.calls("/v1/organizations/analytics/cost")
    assert summary["ok"] and summary["results"][0]["error"] is None
    assert summary["results"][0]["notes"].count(FALLBACK_NOTE) == 1
    assert len(calls) == 1  # asked once, not once per day
    # the estimates: jo $3.00 + $5.00 + $1.00 on D1, $1.00 on D2
    assert rows["jo@example.com"] == (5500, 10.0) and rows["kim@example.com"] == (2000, 2.0)
