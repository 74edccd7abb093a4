"""Cursor Analytics API by-user endpoints → `/abacus user` and `/abacus me`: synced per team, person
and day through the fake Cursor API (paged over people), summarised per person with figures worked
out by hand; a re-sync replaces, never adds; a key without the by-user endpoints syncs the rest and
says so. SQLite and Postgres."""

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
KEY = "key_cursor_enterprise_by_user_analytics_0000000000000001"
NO_BY_USER_KEY = "key_cursor_enterprise_team_only_analytics_00000000002"
D2 = datetime.now(UTC).date() - timedelta(days=1)
D1 = D2 - timedelta(days=1)
BEFORE = D1 - timedelta(days=1)  # outside the synced range: never stored


def _team_analytics() -> dict[str, list[dict]]:
    return {"dau": [{"date": D1.isoformat(), "dau": 4}]}


def _by_user() -> dict[str, dict[str, list[dict]]]:
    d0, d1, d2 = BEFORE.isoformat(), D1.isoformat(), D2.isoformat()
    return {
        "models": {
            "ann@example.com": [
                {"date": d0, "model_breakdown": {"gpt-5": {"messages": 999, "users": 1}}},
                {"date": d1, "model_breakdown": {"claude-sonnet-4.5": {"messages": 85, "users": 1},
                                                 "gpt-5": {"messages": 32, "users": 1}}},
                {"date": d2, "model_breakdown": {"claude-sonnet-4.5": {"messages": 40, "users": 1}}}],
            "bob@example.com": [{"date": d2, "model_breakdown": {"gpt-5": {"messages": 64, "users": 1}}}],
            "Carl@Example.com": [{"date": d1, "model_breakdown": {"gpt-5": {"messages": 3, "users": 1}}}],
            "dee@example.com": [{"date": d1, "model_breakdown": {"claude-opus-4.5": {"messages": 7, "users": 1}}}],
        },
        "mcp": {
            "ann@example.com": [
                {"event_date": d1, "tool_name": "search", "mcp_server_name": "github", "usage": 12},
                {"event_date": d2, "tool_name": "search", "mcp_server_name": "github", "usage": 8},
                {"event_date": d2, "tool_name": "query", "mcp_server_name": "postgres", "usage": 5}],
        },
        "top-file-extensions": {
            "ann@example.com": [
                {"event_date": d1, "file_extension": "py", "total_files": 10, "total_accepts": 8,
                 "total_lines_suggested": 260, "total_lines_accepted": 200, "total_lines_rejected": 60},
                {"event_date": d2, "file_extension": "py", "total_files": 5, "total_lines_accepted": 50},
                {"event_date": d2, "file_extension": "ts", "total_files": 7, "total_lines_accepted": 90}],
        },
        "client-versions": {
            "ann@example.com": [
                {"event_date": d1, "client_version": "1.6.0", "user_count": 1, "percentage": 1.0},
                {"event_date": d2, "client_version": "1.7.1", "user_count": 1, "percentage": 1.0}],
            "bob@example.com": [{"event_date": d2, "client_version": "1.6.0", "user_count": 1, "percentage": 1.0}],
        },
    }


def _sync(cli, monkeypatch, vendor, keys: str) -> dict:
    for k, v in {"CURSOR_API_URL": vendor.url, "CURSOR_ADMIN_KEY": keys, "ABACUS_SYNC_RATE_LIMIT": "off"}.items():
        monkeypatch.setenv(k, v)
    out = cli("sync", "--source", "cursor", "--from", D1.isoformat(), "--to", D2.isoformat(), "--format", "json")
    assert out.code == 0, out.err
    return json.loads(out.out)


def test_by_user_analytics_reach_the_person_view(abacus_env, cli, monkeypatch, engine):
    teams = {KEY: CursorTeam(analytics=_team_analytics(), user_analytics=_by_user())}
    with FakeCursor(teams) as vendor:  # page size 3: the four people of `models` come on two pages
        _sync(cli, monkeypatch, vendor, KEY)
        _sync(cli, monkeypatch, vendor, KEY)  # a re-sync replaces, never adds
        pages = [e for e in vendor.log if e.path == "/analytics/by-user/models"]
    assert len(pages) == 4  # two syncs × two pages
    period = DateRange(D1, D2)
    service = ReportService(engine)
    ann = service.user("ann@example.com", period, must_exist=False).cursor_analytics
    # by hand: sonnet 85 + 40 = 125, gpt-5 32 (the 999 of the day before the range is not synced);
    # github/search 12 + 8; py 10 + 5 files, 200 + 50 lines; ts 7 files, 90 lines; D2's version 1.7.1
    assert ann is not None
    assert (ann.active_days, ann.messages) == (2, 157)
    assert ann.top_models == [("claude-sonnet-4.5", 125), ("gpt-5", 32)]
    assert ann.top_mcp_tools == [("github / search", 20), ("postgres / query", 5)]
    assert ann.top_extensions == [("py", 15, 250), ("ts", 7, 90)]
    assert (ann.versions_day, ann.client_versions) == (D2, ["1.7.1"])
    bob = service.user("bob@example.com", period, must_exist=False).cursor_analytics
    assert (bob.active_days, bob.messages, bob.top_models, bob.top_mcp_tools, bob.top_extensions,
            bob.client_versions) == (1, 64, [("gpt-5", 64)], [], [], ["1.6.0"])
    carl = service.user("carl@example.com", period, must_exist=False).cursor_analytics  # the email's case
    assert (carl.active_days, carl.messages) == (1, 3)
    assert service.user("eve@example.com", period, must_exist=False).cursor_analytics is None
    assert service.user("ann@example.com", DateRange(D2, D2), must_exist=False).cursor_analytics.messages == 40

    view = service.user("ann@example.com", period, must_exist=False)
    rendered = blocks.user(view)
    assert validate_blocks(rendered, surface="message") == []
    text = json.dumps(rendered, ensure_ascii=False)
    assert "claude-sonnet-4.5 — 125 messages" in text and "github / search — 20 calls" in text
    assert "py — 15 files, 250 lines accepted" in text and "2 of 2" in text and "1.7.1" in text
    assert "bob@example.com" not in text and "gpt-5 — 64" not in text  # only ann's own figures


def test_a_key_without_by_user_endpoints_syncs_the_rest(abacus_env, cli, monkeypatch, engine):
    teams = {NO_BY_USER_KEY: CursorTeam(analytics=_team_analytics(), user_analytics=_by_user(), by_user_forbidden=True)}
    with FakeCursor(teams) as vendor:
        summary = _sync(cli, monkeypatch, vendor, NO_BY_USER_KEY)
    result = summary["results"][0]
    assert summary["ok"] and result["error"] is None
    assert [n for n in result["notes"] if "by-user" in n] == [
        "Cursor Analytics API by-user endpoints not available to this key; skipped"]
    service = ReportService(engine)
    assert service.adoption(DateRange(D1, D2)).cursor_analytics.peak_dau == 4  # the team figures are kept
    assert service.user("ann@example.com", DateRange(D1, D2), must_exist=False).cursor_analytics is None
