"""End to end: the real `python -m bot run` process against the fake Slack (Web API + Socket Mode
on 127.0.0.1) and a seeded SQLite database. One bot process for the whole module.

Every figure asserted here is computed by hand from tests/bot/seed.py.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from bot.blocks.payloads import KeyRef, UsersPage
from bot.ids import ActionId, BlockId, CallbackId
from storage.db import make_engine, session_scope, upgrade
from storage.people_repo import unmapped_keys
from storage.settings_repo import get_setting
from tests.fakes.slack import DEFAULT_CHANNEL_ID
from tests.fakes.slack_pytest import launch_bot_process

from . import seed
from .driver import Driver, mrkdwn_texts, png_size
from .seed import ALICE, BOB, CAROL, DAVE, EVE

pytestmark = pytest.mark.e2e

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def env(fake_slack_module, tmp_path_factory):
    fake = fake_slack_module
    folder = tmp_path_factory.mktemp("bot-e2e")
    url = f"sqlite:///{folder / 'abacus.db'}"
    engine = make_engine(url)
    upgrade(engine)
    seed.seed(engine, TODAY)
    fake.register_user(ALICE, "alice@example.com", "alice")
    fake.register_user(BOB, "bob@example.com", "bob")
    fake.register_user(CAROL, "carol@example.com", "carol")
    fake.register_user(DAVE, "dave@example.com", "dave")
    fake.register_user(EVE, "eve@example.com", "eve", real_name=seed.HOSTILE_NAME)
    bot = launch_bot_process(fake, {"DATABASE_URL": url, "ABACUS_ADMINS": f"{ALICE},someone.else@example.com",
                                    "ABACUS_SYNC_SCHEDULE": "5 * * * *"}, log_dir=folder)
    yield {"fake": fake, "bot": bot, "engine": engine, "driver": Driver(fake)}
    code = bot.stop()
    engine.dispose()
    assert code == 0, bot.describe()
    assert "Traceback" not in bot.stderr(), bot.describe()


@pytest.fixture
def fake(env):
    return env["fake"]


@pytest.fixture
def slack(env):
    return env["driver"]


def test_help_is_private_and_fast(slack):
    for text in ("", "help"):
        answer = slack.ask(text, user=BOB)
        assert answer.ephemeral
        assert "/abacus dashboard [PERIOD]" in answer.text and "/abacus me [PERIOD]" in answer.text
        assert answer.latency < 1.0


def test_dashboard_numbers_and_chart_in_dm(slack, fake):
    answer = slack.ask("dashboard 7d", user=ALICE, files=1)
    assert answer.ephemeral
    text = answer.text
    assert seed.EXPECTED_7D_TOTAL in text and seed.EXPECTED_7D_DELTA in text
    assert "Active people*\n4" in text and seed.EXPECTED_7D_AVG in text
    assert "Claude Code*\n$15.50" in text and "Cursor*\n$26.00" in text
    assert "Charts and files are in your DM" in text
    [chart] = answer.files
    assert chart.channel_id == fake.dm_channel(ALICE)
    assert png_size(chart.content) == (1200, 672)
    assert chart.title and chart.alt_txt and "$41.50" in chart.alt_txt


def test_top_ranked_table_and_bar_chart(slack):
    answer = slack.ask("top 3 7d", user=ALICE, files=1)
    lines = [line for line in answer.block_text.splitlines() if "@example.com" in line or "unmapped:" in line]
    assert "bob@example.com" in lines[0] and "$20.00" in lines[0] and "48.2%" in lines[0]
    assert "▲ 400.0%" in lines[0] and "claude-4.5-sonnet" in lines[0]  # 20 vs 4
    assert "alice@example.com" in lines[1] and "$15.00" in lines[1] and "▲ 87.5%" in lines[1]  # 15 vs 8
    assert "unmapped:ci-bot-key" in lines[2] and "$3.00" in lines[2] and "new" in lines[2]
    assert len(lines) == 3
    assert png_size(answer.files[0].content) == (1200, 672)
    cursor = slack.ask("top 2 7d cursor", user=ALICE, files=1)
    assert "$20.00" in cursor.text and "$5.00" in cursor.text and "$15.00" not in cursor.text


def test_me_and_user_pages(slack):
    bob = slack.ask("me 7d", user=BOB, files=2)
    assert "$20.00" in bob.text and "Cursor $20.00 (100%)" in bob.text
    assert "Spend spike" in bob.text  # his open incident
    assert "&lt;@U0ALICE&gt;" in bob.text  # the incident message is escaped, not a mention
    assert {f.filename.split("_")[0].split(".")[0] for f in bob.files} == {"user-timeline", "model-mix"}
    alice = slack.ask("me 7d", user=ALICE, files=2)
    assert "$15.00" in alice.text and "Lines accepted" in alice.text and "20.0 per $100" in alice.text  # 3 / $15
    by_mention = slack.ask(f"user <@{BOB}|bob> 7d", user=ALICE, files=2)
    assert "$20.00" in by_mention.text and "bob@example.com" in by_mention.text
    by_email = slack.ask("user carol@example.com 7d", user=CAROL, files=2)
    assert "opus-4.5" in by_email.text and "$2.50" in by_email.text
    unknown = slack.ask("user nobody@example.com", user=ALICE)
    assert "no usage and no person known" in unknown.text


def test_me_shows_my_own_cursor_analytics(slack, env):
    """The by-user Cursor Analytics rows of the period, in the person's own view only."""
    from datetime import timedelta

    from core.sources.cursor_analytics import AnalyticsMetric, UserAnalyticsRecord
    from storage.vendor_analytics_repo import replace_user_vendor_analytics

    y = TODAY - timedelta(days=1)
    rows = {AnalyticsMetric.MODELS: [UserAnalyticsRecord("team", "bob@example.com", TODAY, AnalyticsMetric.MODELS,
                                                         "gpt-5", 12),
                                     UserAnalyticsRecord("team", "bob@example.com", y, AnalyticsMetric.MODELS,
                                                         "claude-sonnet-4.5", 30),
                                     UserAnalyticsRecord("team", "alice@example.com", y, AnalyticsMetric.MODELS,
                                                         "gpt-5", 99)],
            AnalyticsMetric.CLIENT_VERSIONS: [UserAnalyticsRecord("team", "bob@example.com", TODAY,
                                                                  AnalyticsMetric.CLIENT_VERSIONS, "1.7.1", 1)]}
    with session_scope(env["engine"]) as session:
        for metric, records in rows.items():
            replace_user_vendor_analytics(session=session, source="cursor", org="team", metric=metric.value,
                                          start=y, end=TODAY, records=records)
    bob = slack.ask("me 7d", user=BOB, files=2)
    # by hand: 30 + 12 messages over two days; the latest version 1.7.1
    assert "Cursor, as its Analytics API counts it" in bob.text
    assert "*Messages*\n42" in bob.text and "claude-sonnet-4.5 — 30 messages" in bob.text
    assert "gpt-5 — 12 messages" in bob.text and "Active days (Cursor)*\n2 of 7" in bob.text and "1.7.1" in bob.text
    assert "99 messages" not in bob.text
    refused = slack.ask("user alice@example.com", user=BOB)  # a member sees only their own
    assert "Only Abacus admins and viewers" in refused.text and "99" not in refused.text
    alice = slack.ask("me 7d", user=ALICE, files=2)
    assert "gpt-5 — 99 messages" in alice.text and "42" not in alice.text.split("Cursor, as its")[1][:200]


def test_team_views(slack):
    models = slack.ask("models 7d", user=CAROL, files=1)
    assert "claude-4.5-sonnet" in models.text and "$20.00" in models.text and "opus-4.5" in models.text
    groups = slack.ask("groups 7d", user=CAROL, files=1)
    platform = next(line for line in groups.text.splitlines() if line.startswith("Platform"))
    assert "$35.00" in platform and "2" in platform
    data = next(line for line in groups.text.splitlines() if line.startswith("Data"))
    assert "$2.50" in data and "$50.00" in data
    adoption = slack.ask("adoption 7d", user=CAROL, files=1)
    assert "Never used (1)" in adoption.text and "dave@example.com" in adoption.text
    forecast = slack.ask("forecast", user=CAROL, files=1)
    assert "Month to date" in forecast.text and "$100.00" in forecast.text
    incidents = slack.ask("incidents", user=CAROL)
    # by hand (tests/bot/seed.py): MTTD (60 + 30 min) / 2 = 45 min; MTTI carol 30 min; MTTR carol 5 h
    assert "*Last 30 days:* 2 incidents · MTTD 45m (median 45m) · MTTI 30m (median 30m) · MTTR 5h (median 5h)" \
        in incidents.text
    assert "Spend spike" in incidents.text and "resolved one" not in incidents.text
    unmapped = slack.ask("unmapped", user=CAROL)
    assert "ci-bot-key" in unmapped.text and "legacy-key" in unmapped.text and "$3.40" in unmapped.text
    settings = slack.ask("settings", user=CAROL)
    assert "$100.00" in settings.text and "Only admins can change settings" in settings.text


def test_export_csv_in_dm(slack, fake):
    answer = slack.ask("export 7d", user=ALICE, files=1)
    [upload] = answer.files
    assert upload.filename.endswith(".csv") and upload.channel_id == fake.dm_channel(ALICE)
    rows = {r["user"]: r for r in csv.DictReader(io.StringIO(upload.content.decode()))}
    assert rows["bob@example.com"]["cost_usd"] == "20.0"
    assert rows["alice@example.com"]["cost_usd"] == "15.0"
    assert rows["TOTAL"]["cost_usd"] == "41.5"
    assert "5 rows" in answer.text


def test_users_pivot_pages_and_sorts(slack, fake):
    first = slack.ask("users 30d", user=ALICE)
    assert f"1–15 of {seed.EXPECTED_30D_ROWS}" in first.text
    assert "$55.90" in first.text  # TOTAL (all matches)
    nav = first.blocks[-1]
    nxt = next(e for e in nav["elements"] if e["action_id"] == ActionId.USERS_NEXT)
    assert UsersPage.decode(nxt["value"]).offset == 15
    page2 = slack.click(fake.block_actions(ActionId.USERS_NEXT, nxt["value"], user_id=ALICE))
    assert page2.body.get("replace_original") is True
    assert f"16–{seed.EXPECTED_30D_ROWS} of {seed.EXPECTED_30D_ROWS}" in "\n".join(mrkdwn_texts(page2.body["blocks"]))
    by_name = slack.click(fake.block_actions(
        ActionId.USERS_SORT, user_id=ALICE, block_id=nav["block_id"], action_type="static_select",
        selected_option={"text": {"type": "plain_text", "text": "name ↑"}, "value": "name:asc"}))
    table = "\n".join(mrkdwn_texts(by_name.body["blocks"]))
    rows = [line for line in table.splitlines() if "$" in line and not line.startswith("TOTAL")]
    assert rows[0].startswith("&lt;!channel&gt;")  # eve's hostile name sorts first ('<'), escaped
    assert rows[1].startswith("Alice Admin")
    filtered = slack.ask("users 30d sort:spend p0", user=ALICE)
    assert "1–9 of 9" in filtered.text  # p01 … p09
    mentioned = slack.ask(f"users 30d <@{BOB}|bob>", user=ALICE)  # a mention filters by that person's email
    assert "1–1 of 1" in mentioned.text and "bob@example.com" in mentioned.text  # was: the mention as text, 0 rows
    member = slack.click(fake.block_actions(ActionId.USERS_NEXT, nxt["value"], user_id=BOB))
    assert "Only Abacus admins and viewers" in "\n".join(mrkdwn_texts(member.body["blocks"]))


def test_member_and_viewer_are_refused_changes(slack, env):
    for user in (BOB, CAROL):
        for text in ("map ci-bot-key bob@example.com", "sync", "sync 2026-01-01"):
            answer = slack.ask(text, user=user)
            assert answer.ephemeral and "Only Abacus admins can do that." in answer.text
    for text in ("dashboard", "top", "users", "export", "unmapped", f"user <@{ALICE}>"):
        answer = slack.ask(text, user=BOB)
        assert "Only Abacus admins and viewers" in answer.text and not answer.files
    with session_scope(env["engine"]) as session:
        assert {k.key for k in unmapped_keys(session=session)} == {"ci-bot-key", "legacy-key"}


def test_sync_as_admin(slack):
    answer = slack.ask("sync", user=ALICE, timeout=60)
    assert answer.ephemeral
    assert "Sync" in answer.text or "not configured" in answer.text


@pytest.mark.parametrize("text", [
    "x" * 10_000, "\u202edraobhsad", "داشبورد 7d", "<@U123>", "<!channel>", "'; DROP TABLE person; --",
    "../../etc/passwd", "user ../../etc/passwd", "top 5 '; DROP TABLE usage_daily; --",
    "dashboard 0001-01-01..9999-12-31", "users <!here> <@U0ALICE>", "🔥" * 300,
])
def test_hostile_commands_get_short_help(slack, text, env):
    answer = slack.ask(text, user=ALICE)
    assert answer.ephemeral and answer.latency < 3.0
    assert "Traceback" not in answer.text and len(answer.text) < 3000
    for shown in [answer.response.body.get("text") or "", *mrkdwn_texts(answer.blocks)]:
        assert "<!channel>" not in shown and "<@U" not in shown and "<!here>" not in shown
    with session_scope(env["engine"]) as session:
        assert len(unmapped_keys(session=session)) >= 1  # tables still there


def test_rate_limited_upload_is_retried(slack, fake):
    mark = fake.mark()
    fake.fail_next("files.getUploadURLExternal", "ratelimited", retry_after=1)
    answer = slack.ask("dashboard 7d", user=ALICE, files=1, timeout=30)
    calls = fake.calls("files.getUploadURLExternal", since=mark)
    assert [c.status for c in calls] == [429, 200]
    assert png_size(answer.files[0].content) == (1200, 672)


def test_share_posts_in_the_channel(slack, fake):
    mark = fake.mark()
    payload = fake.slash_command("dashboard 7d share", user_id=CAROL)
    fake.send(payload)
    post = fake.wait_call("chat.postMessage", lambda c: c["channel"] == DEFAULT_CHANNEL_ID, since=mark)
    assert post.ok and seed.EXPECTED_7D_TOTAL in str(post["blocks"])
    upload = fake.wait_call("files.completeUploadExternal", since=mark)
    assert upload["channel_id"] == DEFAULT_CHANNEL_ID
    response_id = payload["response_url"].rsplit("/", 1)[1]
    assert not fake.responses(response_id)  # nothing private when shared


def test_share_falls_back_to_dm_when_the_bot_cannot_post(slack, fake):
    fake.register_channel("C0SECRET", "secret", is_member=False)
    mark = fake.mark()
    answer = slack.ask("top 3 7d share", user=ALICE, channel="C0SECRET", files=1)
    assert "can't post in this channel" in answer.text
    refused = fake.wait_call("chat.postMessage", lambda c: c["channel"] == "C0SECRET", since=mark)
    assert refused.response["error"] == "not_in_channel"
    dm = fake.wait_call("chat.postMessage", lambda c: c["channel"] == fake.dm_channel(ALICE), since=mark)
    assert dm.ok and "bob@example.com" in str(dm["blocks"])
    assert answer.files[0].channel_id == fake.dm_channel(ALICE)


def test_app_home_for_admin_and_member(env, fake):
    mark = fake.mark()
    fake.send(fake.app_home_opened(ALICE))
    fake.wait_call("views.publish", lambda c: c["user_id"] == ALICE, since=mark)
    home = fake.home_view(ALICE)
    raw = str(home["blocks"])
    assert ActionId.SETTINGS_EDIT.value in raw and ActionId.KEY_MAP.value in raw
    assert "ci-bot-key" in raw and "42 new" in raw and "Next scheduled sync" in raw
    assert len(home["blocks"]) <= 100
    fake.send(fake.app_home_opened(BOB))
    fake.wait_call("views.publish", lambda c: c["user_id"] == BOB, since=mark)
    bob_home = str(fake.home_view(BOB)["blocks"])
    assert ActionId.SETTINGS_EDIT.value not in bob_home and "ci-bot-key" not in bob_home


def test_settings_modal_round_trip(env, fake):
    home_id = fake.home_view(ALICE)["id"]
    mark = fake.mark()
    fake.send(fake.block_actions(ActionId.SETTINGS_EDIT, user_id=ALICE, view_id=home_id))
    opened = fake.wait_call("views.open", since=mark)
    assert opened.ok
    view_id = opened.response["view"]["id"]
    bad = fake.send(fake.view_submission(CallbackId.SETTINGS_MODAL, {
        f"{BlockId.SETTING_PREFIX}monthly_budget_usd": {ActionId.SETTING_INPUT: "lots"}}, user_id=ALICE,
        view_id=view_id))
    assert bad["payload"]["response_action"] == "errors"
    assert f"{BlockId.SETTING_PREFIX}monthly_budget_usd" in bad["payload"]["errors"]
    good = fake.send(fake.view_submission(CallbackId.SETTINGS_MODAL, {
        f"{BlockId.SETTING_PREFIX}monthly_budget_usd": {ActionId.SETTING_INPUT: "250"},
        f"{BlockId.SETTING_PREFIX}viewers": {ActionId.SETTING_INPUT: "dave@example.com"}},
        user_id=ALICE, view_id=view_id))
    assert not (good.get("payload") or {}).get("response_action")
    with session_scope(env["engine"]) as session:
        assert get_setting(session=session, key="monthly_budget_usd") == 250.0
    # a member forging the submission changes nothing
    forged = fake.send(fake.view_submission(CallbackId.SETTINGS_MODAL, {
        f"{BlockId.SETTING_PREFIX}monthly_budget_usd": {ActionId.SETTING_INPUT: "1"}}, user_id=BOB))
    assert forged["payload"]["response_action"] == "errors"
    with session_scope(env["engine"]) as session:
        assert get_setting(session=session, key="monthly_budget_usd") == 250.0
    # a member clicking the button gets no modal
    mark = fake.mark()
    fake.send(fake.block_actions(ActionId.SETTINGS_EDIT, user_id=BOB, view_id=home_id))
    refusal = fake.wait_call("chat.postMessage", lambda c: c["channel"] == fake.dm_channel(BOB), since=mark)
    assert "Only Abacus admins" in str(refusal["blocks"])
    assert not fake.calls("views.open", since=mark)


def test_viewer_from_settings_sees_team_views(slack):
    answer = slack.ask("dashboard 7d", user=DAVE, files=1)  # dave was made a viewer by email above
    assert seed.EXPECTED_7D_TOTAL in answer.text


def test_map_from_slash_command_and_modal(slack, env, fake):
    answer = slack.ask("map legacy-key ops@example.com", user=ALICE)
    assert "Mapped" in answer.text and "ops@example.com" in answer.text and "1 stored record re-attributed" in (
        answer.text)
    mark = fake.mark()
    fake.send(fake.block_actions(ActionId.KEY_MAP, KeyRef("claude_code", "ci-bot-key").encode(), user_id=ALICE,
                                 view_id=fake.home_view(ALICE)["id"]))
    opened = fake.wait_call("views.open", since=mark)
    view = opened.response["view"]
    ack = fake.send(fake.view_submission(CallbackId.MAP_KEY_MODAL, {
        BlockId.MAP_EMAIL: {ActionId.MAP_EMAIL_INPUT: "not an email"}}, user_id=ALICE, view_id=view["id"]))
    assert ack["payload"]["errors"][BlockId.MAP_EMAIL]
    fake.send(fake.view_submission(CallbackId.MAP_KEY_MODAL, {
        BlockId.MAP_EMAIL: {ActionId.MAP_EMAIL_INPUT: "ci@example.com"}}, user_id=ALICE, view_id=view["id"]))
    fake.wait_call("chat.postMessage", lambda c: "ci@example.com" in str(c.get("blocks")), since=mark)
    with session_scope(env["engine"]) as session:
        assert unmapped_keys(session=session) == []
    assert "Every key with usage is mapped" in slack.ask("unmapped", user=ALICE).text


def test_incident_buttons_need_an_admin_and_an_incident(slack, fake):
    refused = slack.click(fake.block_actions(ActionId.INCIDENT_ACK, "1", user_id=BOB))
    assert "Only Abacus admins can do that." in str(refused.body)
    gone = slack.click(fake.block_actions(ActionId.INCIDENT_RESOLVE, "999", user_id=ALICE))
    assert "Incident #999 no longer exists." in str(gone.body)


def test_reconnects_after_disconnect(slack, fake):
    before = fake.connection_count
    fake.disconnect("refresh_requested")
    assert fake.connection_count == before + 1
    assert "/abacus dashboard" in slack.ask("help", user=BOB).text


def test_every_ack_was_fast_and_every_payload_valid(fake):
    latencies = fake.ack_latencies
    assert latencies and max(latencies) < 3.0
    assert sorted(latencies)[len(latencies) // 2] < 0.1  # median well under Slack's deadline
    assert fake.violations == []
    assert all(call.ok or call.response.get("error") in ("ratelimited", "not_in_channel")
               for call in fake.calls()), [c.method for c in fake.calls() if not c.ok]
