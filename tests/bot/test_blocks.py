"""Pure block builders: valid Block Kit (the fake's strict validator, which also runs slack_sdk's
models), within limits, and hostile names rendered literally (no mentions, no links)."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.blocks import admin, common, help, reports
from bot.blocks.payloads import IncidentRef, KeyRef, UsersPage, incident_id
from bot.services.grammar import SortField, Sub
from bot.services.reports import (
    AdoptionView,
    DashboardView,
    ForecastView,
    GroupsView,
    IncidentsView,
    ModelsView,
    PivotRow,
    SyncStatusView,
    TopRow,
    TopView,
    UnmappedView,
    UsersView,
    UserView,
)
from bot.services.settings import SPECS
from core.incidents import (
    AnomalyKind,
    IncidentStatus,
    IncidentTimes,
    IncidentView,
    Severity,
    Signal,
    incident_timings,
)
from core.periods import DateRange
from storage import analytics_repo as repo
from storage.people_repo import UnmappedKey
from tests.fakes.blockkit import validate_blocks, validate_view

EVIL = "<!channel> <@U0ALICE> <https://evil.example|click> & `code` ```fence``` *bold*"
PERIOD = DateRange(date(2026, 1, 1), date(2026, 1, 31))
B = 1_000_000_000


def text_of(blocks) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def mrkdwn_texts(node) -> list[str]:
    """Every string Slack renders as mrkdwn (where `<…>` would become a mention or a link)."""
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            return [node["text"]]
        return [t for v in node.values() for t in mrkdwn_texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in mrkdwn_texts(v)]
    return []


def assert_safe(blocks, surface="message"):
    problems = validate_blocks(blocks, surface=surface)
    assert problems == [], problems
    for text in mrkdwn_texts(blocks):
        assert "<" not in text and ">" not in text, text
        # outside code blocks (where nothing formats), EVIL's `*bold*` and `code` must render literally
        outside = re.sub(r"```.*?```", "", text, flags=re.S)
        assert "*bold*" not in outside and "`code`" not in outside and "``" not in outside, text


def summary(cost=0, people=0, **by) -> repo.PeriodSummary:
    return repo.PeriodSummary(period=PERIOD, cost_nanos=cost, total_tokens=cost // 1000, requests=3,
                              active_people=people, active_days=3,
                              by_source={k: repo.SourceTotals(cost_nanos=v, input_tokens=v // 1000)
                                         for k, v in by.items()})


def test_escape_and_code_cells():
    assert common.escape("<@U1> & <!here>") == "&lt;@U1&gt; &amp; &lt;!here&gt;"
    # mrkdwn formatting marks at a word's edge become look-alikes Slack does not interpret; a
    # backtick always (it would close inline code); inside a word they stay (emails)
    assert common.escape("*BOLD* _it_ ~gone~ `k`") == "\u2217BOLD\u2217 \u02cdit\u02cd \u02dcgone\u02dc \u02cbk\u02cb"
    assert common.escape("first_last@example.com") == "first_last@example.com"
    assert common.escape("ops`key") == "ops\u02cbkey"
    assert "`" not in common.code_cell("a`b", 5)
    assert common.usd(41_500_000_000) == "$41.50"
    assert common.usd(1) == "<$0.01"
    assert common.delta(41.5, 12) == "▲ 245.8%"
    assert common.delta(1, 2) == "▼ 50.0%"
    assert common.delta(5, 0) == "new" and common.delta(0, 0) == "—"


def test_code_table_splits_within_section_limit():
    rows = [(f"person{i}@example.com" * 2, "$1.00") for i in range(200)]
    chunks = common.code_table([("person", 40, "<"), ("spend", 10, ">")], rows)
    assert len(chunks) > 1 and all(len(c) <= 3000 for c in chunks)
    assert all(c.startswith("```\n") and c.endswith("\n```") for c in chunks)


def test_cap_blocks():
    blocks = [common.section(str(i)) for i in range(80)]
    capped = common.cap_blocks(blocks)
    assert len(capped) == 50 and capped[-1]["type"] == "context"


def dashboard_view(evil=EVIL) -> DashboardView:
    people = [repo.PersonUsage(person=f"p{i}@example.com", cost_nanos=B * (10 - i)) for i in range(5)]
    models = [repo.ModelCost(model=evil, cost_nanos=5 * B, total_tokens=10)]
    return DashboardView(period=PERIOD, current=summary(41_500_000_000, 4, claude_code=20 * B, cursor=21_500_000_000),
                         previous=summary(12 * B, 2, cursor=12 * B), daily=[], top_models=models, top_people=people,
                         names={"p0@example.com": evil})


def test_dashboard():
    blocks = reports.dashboard(dashboard_view())
    assert_safe(blocks)
    raw = text_of(blocks)
    assert "$41.50" in raw and "▲ 245.8%" in raw and "$10.38" in raw  # 41.50 / 4 people
    assert "Claude Code" in raw and "Cursor" in raw


def test_dashboard_empty():
    view = DashboardView(PERIOD, summary(), summary(), [], [], [], {})
    blocks = reports.dashboard(view)
    assert_safe(blocks)
    assert "No usage in this period" in text_of(blocks)


def test_top_table_fifty_rows_is_valid():
    rows = [TopRow(rank=i + 1, person=f"{EVIL}{i}@example.com", name=None, cost_nanos=B, share=0.02,
                   total_tokens=1000, top_model=EVIL, previous_nanos=0) for i in range(50)]
    blocks = reports.top(TopView(period=PERIOD, source="cursor", n=50, rows=rows, total_nanos=50 * B,
                                 people_with_usage=70))
    assert_safe(blocks)
    assert len(blocks) <= 50


def test_user_page_with_productivity_and_incidents():
    now = datetime(2026, 1, 30, tzinfo=UTC)
    incident = incident_view(1, "bob@example.com", message=EVIL, at=now, alerted=now)
    view = UserView(email="bob@example.com", name=EVIL, group=EVIL, period=PERIOD,
                    current=summary(20 * B, 1, cursor=20 * B), previous=summary(4 * B, 1, cursor=4 * B), daily=[],
                    models=[repo.ModelUsage(EVIL, 20 * B, 3000, 2, 1, 0, 20 * B)],
                    productivity=repo.Productivity(rows=1, lines_added=200, accepted_lines_added=100, commits=3,
                                                   pull_requests=1),
                    incidents=[incident], team_rank=1, team_size=4)
    blocks = reports.user(view)
    assert_safe(blocks)
    raw = text_of(blocks)
    assert "15.0 per $100" in raw  # 3 commits / $20 × 100
    assert "#1 of 4" in raw and "50%" in raw  # accept rate 100 / 200
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["text"].startswith("<!channel>")  # plain text: inert


def test_models_groups_incidents_unmapped_adoption():
    models = [repo.ModelUsage(f"{EVIL}{i}", B, 1, 1, 1, B, 0) for i in range(60)]
    assert_safe(reports.models(ModelsView(PERIOD, models, 60 * B)))
    groups = [repo.GroupUsage(EVIL, 3, 2, 5 * B, 100, 4 * B), repo.GroupUsage("(no group)", 1, 1, B, 1, None)]
    assert_safe(reports.groups(GroupsView(PERIOD, groups, 6 * B)))
    now = datetime(2026, 1, 30, tzinfo=UTC)
    open_rows = [incident_view(i, EVIL, message=EVIL * 20, at=now) for i in range(30)]
    timings = [incident_timings([], w) for w in (7, 30, 90)]
    assert_safe(reports.incidents(IncidentsView(open_rows, 30, timings)))
    keys = [UnmappedKey("claude_code", EVIL, EVIL, 3, B, 10, date(2026, 1, 1), date(2026, 1, 2)) for _ in range(45)]
    assert_safe(admin.unmapped(UnmappedView(keys)))
    seats = [repo.Seat(f"{EVIL}{i}@x", EVIL, True, False, None) for i in range(40)]
    view = AdoptionView(PERIOD, 40, 40, 0, 0, 0, seats, [], [repo.DailyActive(date(2026, 1, 2), None, 3)])
    assert_safe(reports.adoption(view))


def users_view(n=15, matched=40, offset=15, query=EVIL) -> UsersView:
    rows = [PivotRow(f"p{i}@example.com", EVIL, B, 10, B, 0, 2, date(2026, 1, 3)) for i in range(n)]
    return UsersView(PERIOD, "2026-01-01..2026-01-31", SortField.SPEND, True, query, offset, 15, matched, rows,
                     PivotRow("TOTAL", None, 40 * B, 1, 1, 1, 0, None))


def test_users_table_nav_and_payload_roundtrip():
    view = users_view()
    blocks = reports.users(view)
    assert_safe(blocks)
    nav = blocks[-1]
    ids = [e["action_id"] for e in nav["elements"]]
    assert ids == ["users_prev", "users_next", "users_sort"]
    assert len(nav["block_id"]) <= 255
    page = reports.users_page_from_block_id(nav["block_id"])
    assert page is not None and page.period == "2026-01-01..2026-01-31" and page.offset == 0
    nxt = UsersPage.decode(nav["elements"][1]["value"])
    assert nxt.offset == 30 and nxt.query == EVIL and nxt.sort == "spend" and nxt.descending
    first = reports.users(users_view(offset=0, matched=10, n=10, query=""))
    assert [e["action_id"] for e in first[-1]["elements"]] == ["users_sort"]


def test_forecast_with_and_without_budget():
    base = dict(today=date(2026, 1, 20), month_start=date(2026, 1, 1), month_end=date(2026, 1, 31),
                mtd_nanos=60 * B, mtd_by_source={"cursor": 60 * B}, run_rate_nanos=5 * B, projected_nanos=115 * B,
                daily=[], previous_month_nanos=80 * B)
    over = reports.forecast(ForecastView(**base, budget_nanos=100 * B))
    assert_safe(over)
    assert "over by $15.00" in text_of(over) and "115%" in text_of(over)
    assert_safe(reports.forecast(ForecastView(**base, budget_nanos=None)))


def test_help_and_errors():
    assert_safe(help.help_blocks(can_view_team=False, can_admin=False))
    assert_safe(help.usage_error_blocks(f"unknown subcommand `{EVIL}`", None))
    assert_safe(help.usage_error_blocks("bad", Sub.TOP))
    assert_safe(help.refusal_blocks(EVIL))
    assert_safe(help.failure_blocks(EVIL, "abcd1234"))


def test_settings_message_and_modal():
    values = {s.key: s.default for s in SPECS}
    values["viewers"] = [EVIL]
    assert_safe(admin.settings(values, env_admins=0, can_edit=False))
    edit = admin.settings(values, env_admins=2, can_edit=True)
    assert_safe(edit)
    assert any(b["type"] == "actions" for b in edit)
    modal = admin.settings_modal(values)
    assert validate_view(modal) == []
    assert len(modal["title"]["text"]) <= 24


def test_home_view_within_100_blocks():
    now = datetime(2026, 1, 30, tzinfo=UTC)
    status = SyncStatusView(runs=[repo.SyncStatus("cursor", "failed", now, now, 0, EVIL, now - timedelta(hours=3))],
                            next_run=now)
    keys = [UnmappedKey("claude_code", f"key{i}{EVIL}", None, 3, B, 10, date(2026, 1, 1), date(2026, 1, 2))
            for i in range(200)]
    view = admin.home(role_label="admin", can_admin=True, values={s.key: s.default for s in SPECS}, env_admins=1,
                      status=status, keys=keys, describe={"cursor": "1 team(s)"})
    assert validate_view(view) == []
    assert len(view["blocks"]) <= 100
    member = admin.home(role_label="member", can_admin=False, values={}, env_admins=0,
                        status=SyncStatusView([], None), keys=None, describe={})
    assert validate_view(member) == []
    assert "settings_edit" not in text_of(member) and "key_map" not in text_of(member)
    modal = admin.map_key_modal(KeyRef("claude_code", EVIL))
    assert validate_view(modal) == []


def test_payloads_are_tolerant():
    assert UsersPage.decode(None) is None and UsersPage.decode("garbage") is None
    assert UsersPage.decode('{"p": "7d"}') == UsersPage(period="7d")
    assert UsersPage.decode('{"o": "x"}') is None
    assert KeyRef.decode(KeyRef("cursor", "k").encode()) == KeyRef("cursor", "k")
    assert KeyRef.decode('{"k": "old-shape"}') == KeyRef("claude_code", "old-shape")
    assert incident_id("42") == 42 and incident_id('{"id": 7}') == 7 and incident_id('{"incident_id": "9"}') == 9
    assert incident_id("drop table") is None and incident_id(None) is None


@pytest.mark.parametrize("raw", ['{"id": true}', '{"incident_id": false}', "4²", "٤٢", "2147483648",
                                 "999999999999999999", '{"id": 100000000000000000000000}', '{"id": "99999999999"}',
                                 '{"id": -3}', '{"id": 4.0}'])
def test_a_button_value_naming_no_possible_incident_is_no_incident(raw):
    """A forged or garbage value is an expired button: not incident #1 (`true`), not a ValueError
    (`4²` passes str.isdigit), not a number the incident key cannot hold (SQLite OverflowError,
    Postgres "out of range" shown as "the database is not answering")."""
    assert incident_id(raw) is None
    assert IncidentRef.decode(raw) is None


def test_a_button_value_at_the_edge_of_the_key_range_is_still_an_incident():
    assert incident_id("2147483647") == 2147483647 and incident_id(" 0 ") == 0
    assert IncidentRef.decode('{"id": 7, "for": "1d"}') == IncidentRef(7, "1d")
    assert IncidentRef.decode('{"id": 0}') == IncidentRef(0)


@pytest.mark.parametrize("seconds,text", [(None, "–"), (30, "30s"), (3600, "1h"), (5 * 3600 + 60, "5h 1m"),
                                          (3 * 86400, "3d"), (3 * 86400 + 7200, "3d 2h")])
def test_duration(seconds, text):
    assert common.duration(seconds) == text


def test_incident_timings_by_hand():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    m = timedelta(minutes=1)
    rows = [IncidentTimes(IncidentStatus.RESOLVED, t0, t0 + 30 * m, t0 + 60 * m, t0 + 300 * m),
            IncidentTimes(IncidentStatus.ALERTED, t0, t0 + 60 * m, None, None),
            IncidentTimes(IncidentStatus.ACKNOWLEDGED, t0, t0 + 120 * m, t0 + 180 * m, None)]
    t = incident_timings(rows, 30)
    # MTTD: 30, 60, 120 min → mean 70 min, median 60; MTTI: 30, 60 → 45; MTTR: 300 min
    assert (t.incidents, t.mttd.count, t.mttd.mean_seconds, t.mttd.median_seconds) == (3, 3, 4200.0, 3600.0)
    assert (t.mtti.count, t.mtti.mean_seconds, t.mtti.median_seconds) == (2, 2700.0, 2700.0)
    assert (t.mttr.count, t.mttr.mean_seconds) == (1, 18000.0)
    assert t.by_status == {"resolved": 1, "alerted": 1, "acknowledged": 1}




def incident_view(number: int, user: str, *, message: str, at: datetime, alerted: datetime | None = None,
                  status: IncidentStatus = IncidentStatus.DETECTED) -> IncidentView:
    signal = Signal(AnomalyKind.SPEND_SPIKE, Severity.CRITICAL, at.date(), 214.0, 51.0, "7-day average", "usd",
                    message, at, ratio=4.2, tool="cursor", model=EVIL, model_share=0.81)
    return IncidentView(id=number, subject=user, user=user, name=EVIL, kind=AnomalyKind.SPEND_SPIKE,
                        severity=Severity.CRITICAL, status=status, message=message, value=214.0, threshold=51.0,
                        signals=(signal,), data_at=at, opened_at=at, first_day=at.date(), last_seen_day=at.date(),
                        alerted_at=alerted)


def test_a_group_modal_naming_no_possible_group_has_expired():
    """A private_metadata group id the key cannot hold was "Something went wrong" (Postgres: out of range)."""
    from bot.blocks.groups import group_id_from_metadata

    assert group_id_from_metadata('{"g": 7}') == (True, 7) and group_id_from_metadata("{}") == (True, None)
    for raw in ('{"g": 99999999999}', '{"g": true}', '{"g": 0}', '{"g": -2}', "junk", '{"g": 1.5}'):
        assert group_id_from_metadata(raw) == (False, None), raw


def test_a_users_view_whose_state_cannot_ride_in_the_block_id_offers_no_sort_menu():
    """A 184-character group name and a custom range: the block id was cut at 255 characters, read
    back as nothing, and the sort menu re-sorted the whole team over 30 days instead of the group."""
    group = "Engineering > " + "x" * 170
    view = dataclasses.replace(users_view(query=""), group=group)
    nav = reports.users(view)[-1]
    assert nav["type"] == "actions" and [e["action_id"] for e in nav["elements"]] == ["users_prev", "users_next"]
    assert UsersPage.decode(nav["elements"][1]["value"]).group == group  # the pager still carries it all
    assert validate_blocks(reports.users(view)) == []
    short = reports.users(dataclasses.replace(users_view(query=""), group="Platform"))[-1]
    assert reports.users_page_from_block_id(short["block_id"]).group == "Platform"
    alone = dataclasses.replace(users_view(offset=0, matched=10, n=10, query=""), group=group)
    assert all(b["type"] != "actions" for b in reports.users(alone))  # one page, no menu: no nav block
