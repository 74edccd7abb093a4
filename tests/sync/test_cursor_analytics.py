"""Cursor Analytics API (Enterprise) → `/abacus adoption`: synced per team and day through the fake
Cursor API, summarised with figures worked out by hand; a team without the Analytics API syncs the
rest and says so. SQLite and Postgres."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.blocks import reports as blocks
from bot.services.reports import ReportService
from core.periods import DateRange
from tests.fakes.blockkit import validate_blocks
from tests.fakes.vendors import CursorTeam, FakeCursor

pytestmark = pytest.mark.e2e
KEY = "key_cursor_enterprise_analytics_000000000000000000000001"
PLAIN_KEY = "key_cursor_business_plan_no_analytics_0000000000000002"
D2 = datetime.now(UTC).date() - timedelta(days=1)
D1 = D2 - timedelta(days=1)


def _analytics() -> dict[str, list[dict]]:
    d1, d2 = D1.isoformat(), D2.isoformat()
    return {
        "dau": [{"date": d1, "dau": 10, "cli_dau": 2, "cloud_agent_dau": 1, "bugbot_dau": 0},
                {"date": d2, "dau": 14, "cli_dau": 4, "cloud_agent_dau": 3, "bugbot_dau": 2}],
        "models": [{"date": d1, "model_breakdown": {"claude-sonnet-4.5": {"messages": 300, "users": 8},
                                                    "gpt-5": {"messages": 100, "users": 3}}},
                   {"date": d2, "model_breakdown": {"claude-sonnet-4.5": {"messages": 200, "users": 9}}}],
        "mcp": [{"event_date": d1, "tool_name": "search", "mcp_server_name": "github", "usage": 12},
                {"event_date": d2, "tool_name": "search", "mcp_server_name": "github", "usage": 8},
                {"event_date": d2, "tool_name": "query", "mcp_server_name": "postgres", "usage": 5}],
        "top-file-extensions": [{"event_date": d1, "file_extension": "py", "total_files": 40, "total_accepts": 30,
                                 "total_lines_accepted": 900},
                                {"event_date": d2, "file_extension": "ts", "total_files": 50,
                                 "total_lines_accepted": 700}],
        "client-versions": [{"event_date": d1, "client_version": "1.6.0", "user_count": 9, "percentage": 90},
                            {"event_date": d2, "client_version": "1.7.1", "user_count": 11, "percentage": 78.6},
                            {"event_date": d2, "client_version": "1.6.0", "user_count": 3, "percentage": 21.4}],
    }


def test_analytics_reach_the_adoption_view(abacus_env, cli, monkeypatch, engine):
    teams = {KEY: CursorTeam(analytics=_analytics()), PLAIN_KEY: CursorTeam()}
    with FakeCursor(teams) as vendor:
        for k, v in {"CURSOR_API_URL": vendor.url, "CURSOR_ADMIN_KEY": f"{KEY},{PLAIN_KEY}",
                     "ABACUS_SYNC_RATE_LIMIT": "off"}.items():
            monkeypatch.setenv(k, v)
        out = cli("sync", "--source", "cursor", "--from", D1.isoformat(), "--to", D2.isoformat(), "--format", "json")
        assert out.code == 0, out.err
        summary = json.loads(out.out)
        out_again = cli("sync", "--source", "cursor", "--from", D1.isoformat(), "--to", D2.isoformat(), "--quiet")
        assert out_again.code == 0, out_again.err  # a re-sync replaces, never adds
    by_team = {r["org"]: r for r in summary["results"]}
    assert [n for r in by_team.values() for n in r["notes"] if "Analytics API" in n] == [
        "Cursor Analytics API not available to this key/plan (Enterprise only); skipped"]

    view = ReportService(engine).adoption(DateRange(D1, D2))
    a = view.cursor_analytics
    assert a is not None
    # by hand: DAU (10 + 14) / 2 days = 12.0, peak 14; CLI (2 + 4) / 2 = 3.0, cloud (1 + 3) / 2 = 2.0,
    # Bugbot (0 + 2) / 2 = 1.0; sonnet 300 + 200 messages (peak 9 people), gpt-5 100 (3)
    assert (a.average_dau, a.peak_dau, a.dau_days) == (12.0, 14, 2)
    assert a.average_by_kind == {"bugbot_dau": 1.0, "cli_dau": 3.0, "cloud_agent_dau": 2.0}
    assert a.top_models == [("claude-sonnet-4.5", 500, 9), ("gpt-5", 100, 3)]
    assert a.top_mcp_tools == [("github / search", 20), ("postgres / query", 5)]
    assert a.top_extensions == [("ts", 50, 700), ("py", 40, 900)]
    assert (a.versions_day, a.client_versions) == (D2, [("1.7.1", 11), ("1.6.0", 3)])
    rendered = blocks.adoption(view)
    assert validate_blocks(rendered, surface="message") == []
    assert "Analytics API" in json.dumps(rendered) and "github / search" in json.dumps(rendered)
