"""Alerts end to end on Postgres: the real `abacus run` (and `abacus sync` / `abacus detect`)
against the fake Slack and the fake Cursor API.

The scripted team: Alice spends $10 a day for six days, then $214 today in one opus-4.5 event;
Bob spends $10 a day throughout. With the default settings (spike ≥ $50 and > 5× the mean of the
days with data) that is one incident: Alice, spend_spike, $214 against $10 — nothing for Bob.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.blocks.payloads import IncidentRef
from bot.ids import ActionId, BlockId, CallbackId
from storage import incident_repo
from storage.db import make_engine, session_scope, upgrade
from tests.conftest import create_pg_database, drop_pg_database
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_pytest import launch_bot_process
from tests.fakes.vendors import CursorTeam, EventList, FakeCursor, day_ms

from .driver import mrkdwn_texts

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ADMIN, MEMBER, ALICE_ID = "U0ADMIN", "U0MEMBER", "U0ALICE"
CHANNEL = "C0ALERTS"
CURSOR_KEY = "key_cursor_team_alerts_e2e"
REFUSAL = "Only Abacus admins can do that."


def event(ms: int, email: str, cents: float, model: str = "claude-4.5-sonnet") -> dict:
    return {"timestamp": str(ms), "userEmail": email, "model": model, "kind": "Usage-based", "maxMode": False,
            "requestsCosts": 1, "isTokenBasedCall": True, "isChargeable": True, "isHeadless": False,
            "tokenUsage": {"inputTokens": 1000, "outputTokens": 500, "cacheWriteTokens": 0, "cacheReadTokens": 0,
                           "totalCents": cents}, "chargedCents": cents}


class Team:
    """The script, with the times the assertions need."""

    def __init__(self) -> None:
        now = datetime.now(UTC)
        self.today = now.date()
        # today's spike: two minutes ago (after 00:00:30 UTC, so it is today's)
        today_start = datetime(self.today.year, self.today.month, self.today.day, tzinfo=UTC)
        self.spike_at = max(now - timedelta(minutes=2), today_start + timedelta(seconds=30)).replace(microsecond=0)
        events = [event(int(self.spike_at.timestamp() * 1000), "alice@example.com", 21400, "claude-4.5-opus")]
        for back in range(1, 7):
            day = self.today - timedelta(days=back)
            events.append(event(day_ms(day, 12), "alice@example.com", 1000))
            events.append(event(day_ms(day, 13), "bob@example.com", 1000))
        events.append(event(day_ms(self.today, 0, 0, 10), "bob@example.com", 1000))
        members = [{"name": "Alice Liddell", "email": "alice@example.com", "role": "member"},
                   {"name": "Bob Builder", "email": "bob@example.com", "role": "member"}]
        self.cursor = FakeCursor({CURSOR_KEY: CursorTeam(members=members, events=EventList(events))}, page_size=50)


@contextmanager
def make_world(pg_admin_url: str, tmp_path):
    url = create_pg_database(pg_admin_url)
    engine = make_engine(url)
    upgrade(engine)
    team = Team()
    try:
        with FakeSlack() as slack, team.cursor as cursor:
            slack.register_user(ADMIN, "admin@example.com", real_name="Ada Admin")
            slack.register_user(MEMBER, "member@example.com", real_name="Max Member")
            slack.register_user(ALICE_ID, "alice@example.com", real_name="Alice Liddell")
            slack.register_channel(CHANNEL, "ai-alerts")
            yield {"slack": slack, "cursor": cursor, "team": team, "engine": engine, "url": url, "tmp": tmp_path}
    finally:
        engine.dispose()
        drop_pg_database(url)


@pytest.fixture
def world(pg_admin_url, tmp_path):
    with make_world(pg_admin_url, tmp_path) as w:
        yield w


def bot_env(world, **extra) -> dict:
    env = {"DATABASE_URL": world["url"], "ABACUS_ADMINS": ADMIN, "ABACUS_ALERT_CHANNEL": CHANNEL,
           "CURSOR_ADMIN_KEY": CURSOR_KEY, "CURSOR_API_URL": world["cursor"].url, "ABACUS_EMAIL_DOMAIN": "example.com",
           "ABACUS_SYNC_RATE_LIMIT": "off", "ABACUS_HTTP_BACKOFF": "0.01", "ABACUS_HTTP_TIMEOUT": "5",
           "ABACUS_ALERT_LEASE": "3", "ABACUS_ALERT_BACKOFF": "0.5", "ABACUS_DIGEST_SCHEDULE": "off",
           "ABACUS_SYNC_SCHEDULE": "5 * * * *"}
    env.update(extra)
    return env


def channel_posts(slack: FakeSlack, ok_only: bool = True) -> list:
    return [c for c in slack.calls("chat.postMessage") if c.get("channel") == CHANNEL and (c.ok or not ok_only)]


def wait_alert(slack: FakeSlack, timeout: float = 90.0):
    return slack.wait_for(lambda: channel_posts(slack), timeout=timeout, message="the alert in the channel")[0]


def text_of(blocks) -> str:
    return "\n".join(mrkdwn_texts(blocks or []))


def wait_update(slack: FakeSlack, ts: str, needle: str, timeout: float = 20.0) -> dict:
    def found():
        for call in slack.calls("chat.update"):
            if call.get("ts") == ts and call.ok and needle in text_of(call.get("blocks")):
                return call
        return None

    return slack.wait_for(found, timeout=timeout, message=f"chat.update of {ts} showing {needle!r}")


def click(slack: FakeSlack, action_id: str, ts: str, user: str, *, snooze: str | None = None, incident: int = 0):
    if snooze:
        option = {"text": {"type": "plain_text", "text": f"Snooze {snooze}"},
                  "value": IncidentRef(incident, snooze).encode()}
        payload = slack.block_actions(action_id, message_ts=ts, channel_id=CHANNEL, user_id=user,
                                      action_type="static_select", selected_option=option)
    else:
        payload = slack.block_actions(action_id, message_ts=ts, channel_id=CHANNEL, user_id=user)
    slack.send(payload)
    return payload


def run_cli(world, *args: str, **extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ABACUS_"))}
    env.update(bot_env(world, **extra))
    for name in [k for k, v in env.items() if v is None]:
        del env[name]
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=world["tmp"])


def wait_until(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def alerted_incident(engine):
    """The incident once the sender has recorded its alert (just after Slack answered)."""
    return wait_until(lambda: (lambda v: v if v.slack_ts else None)(the_incident(engine)), what="the alerted incident")


def the_incident(engine):
    with session_scope(engine) as s:
        views = incident_repo.open_incidents(session=s, limit=10) or incident_repo.incidents_since(
            session=s, since=datetime(2000, 1, 1, tzinfo=UTC))
    assert len(views) == 1, views
    return views[0]


def snapshot(engine) -> dict:
    """Every row of every table but the bookkeeping (locks, the ledger of Slack envelopes handled),
    to compare before/after."""
    out = {}
    with engine.connect() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"))]
        for table in tables:
            if table in ("job_lease", "alembic_version", "slack_delivery"):
                continue
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()  # noqa: S608 - table names from pg_tables
            out[table] = sorted(json.dumps([str(v) for v in r]) for r in rows)
    return out


# --- the lifecycle ------------------------------------------------------------------------------------

def test_a_scheduled_sync_brings_a_spike_and_the_alert_drives_the_lifecycle(world):
    slack, engine, team = world["slack"], world["engine"], world["team"]
    bot = launch_bot_process(slack, bot_env(world), log_dir=world["tmp"])
    try:
        # the start-up catch-up run: sync → detect → deliver
        alert = wait_alert(slack)
        ts = alert.response["ts"]
        blocks = alert["blocks"]
        story = text_of(blocks)
        assert "$214" in story and "Alice" in story, story
        assert "*Value*\n$214.00" in story and "*Tool*\nCursor" in story and "opus-4.5" in story
        incident = alerted_incident(engine)
        assert incident.user == "alice@example.com" and incident.kind.value == "spend_spike"
        assert (incident.status.value, incident.slack_channel, incident.slack_ts) == ("alerted", CHANNEL, ts)
        # MTTD from the data time: the spike event's own time, not when the row was written
        assert incident.data_at == team.spike_at
        assert incident.mttd == incident.alerted_at - team.spike_at
        assert timedelta(minutes=2) <= incident.mttd < timedelta(minutes=4)
        assert f"(MTTD {incident.mttd.seconds // 60}m" in story or "MTTD" not in story

        # Acknowledge (twice: a double click is a no-op)
        click(slack, ActionId.INCIDENT_ACK, ts, ADMIN)
        wait_update(slack, ts, f"Acknowledged by <@{ADMIN}>")
        click(slack, ActionId.INCIDENT_ACK, ts, ADMIN)
        # Snooze 4 h
        click(slack, ActionId.INCIDENT_SNOOZE, ts, ADMIN, snooze="4h", incident=incident.id)
        snoozed = wait_update(slack, ts, "Snoozed until")
        assert "incident_ack" not in json.dumps(snoozed["blocks"])  # acknowledged: no Acknowledge button
        # Resolve
        click(slack, ActionId.INCIDENT_RESOLVE, ts, ADMIN)
        resolved = wait_update(slack, ts, f"Resolved by <@{ADMIN}>")
        assert "MTTR" in text_of(resolved["blocks"])
        assert [e["action_id"] for b in resolved["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
            "incident_details"]
        time.sleep(1.0)  # the repeat click's work has run too

        with session_scope(engine) as s:
            trail = incident_repo.audit_trail(session=s, incident_id=incident.id)
        moves = [(e["from"], e["to"], e["via"], e["actor"]) for e in trail]
        actor = f"slack:{ADMIN} (admin@example.com)"
        assert moves[-4:] == [("detected", "alerted", "delivery", None),
                              ("alerted", "acknowledged", "slack", actor),
                              ("acknowledged", "acknowledged", "slack", actor),  # the snooze
                              ("acknowledged", "resolved", "slack", actor)], moves
        assert "snoozed until" in trail[-2]["note"]
        # one message, updated in place at each step; every payload was valid Block Kit
        assert len(channel_posts(slack)) == 1
        assert slack.violations == []
        final = the_incident(engine)
        assert final.status.value == "resolved" and final.resolved_by == actor
    finally:
        assert bot.stop() == 0, bot.describe()
    assert "Traceback" not in bot.stderr(), bot.describe()


def test_details_answers_the_clicker_privately_with_the_persons_report(world):
    slack = world["slack"]
    bot = launch_bot_process(slack, bot_env(world), log_dir=world["tmp"])
    try:
        ts = wait_alert(slack).response["ts"]
        payload = click(slack, ActionId.INCIDENT_DETAILS, ts, ADMIN)
        response_id = payload["response_url"].rsplit("/", 1)[1]
        answer = slack.wait_response(lambda r: r.response_id == response_id, timeout=30)
        assert answer.body.get("response_type") == "ephemeral"
        assert "alice@example.com" in json.dumps(answer.body) or "Alice" in json.dumps(answer.body)
        assert len(channel_posts(slack)) == 1  # nothing public
    finally:
        assert bot.stop() == 0, bot.describe()


# --- exactly once -------------------------------------------------------------------------------------

def test_two_bots_on_one_postgres_post_one_alert(world):
    slack = world["slack"]
    bots = [launch_bot_process(slack, bot_env(world), log_dir=world["tmp"], wait_for_socket=False)
            for _ in range(2)]
    try:
        wait_alert(slack)
        time.sleep(8)  # longer than a poll and a lease: a second post would have happened by now
        assert len(channel_posts(slack)) == 1
        incident = alerted_incident(world["engine"])
        with session_scope(world["engine"]) as s:
            rows = s.execute(text("SELECT status, slack_ts FROM alert_outbox WHERE transport = 'slack'")).all()
        assert rows == [("sent", incident.slack_ts)]
    finally:
        for bot in bots:
            assert bot.stop() == 0, bot.describe()


def test_a_bot_killed_after_slack_accepted_the_post_does_not_post_it_again(world):
    slack = world["slack"]
    accepted = []

    def accept_then_hang(body):
        if body.get("channel") != CHANNEL:
            return None
        with slack._cond:  # store the post as Slack would, then hang before answering
            accepted.append(slack._chat_post_message(body))
        time.sleep(4)
        return 200, accepted[-1], None

    slack.overrides["chat.postMessage"] = accept_then_hang
    first = launch_bot_process(slack, bot_env(world), log_dir=world["tmp"])
    deadline = time.monotonic() + 90
    while not accepted:
        assert time.monotonic() < deadline, first.describe()
        time.sleep(0.05)
    first.popen.send_signal(signal.SIGKILL)  # between Slack's acceptance and marking the row sent
    first.popen.wait(timeout=10)
    time.sleep(4.5)  # the fake finishes its hung answer
    del slack.overrides["chat.postMessage"]
    with session_scope(world["engine"]) as s:
        assert s.execute(text("SELECT status FROM alert_outbox")).scalars().all() == ["sending"]
    second = launch_bot_process(slack, bot_env(world), log_dir=world["tmp"])
    try:
        def sent():
            with session_scope(world["engine"]) as s:
                return s.execute(text("SELECT status, slack_ts FROM alert_outbox")).all() == [
                    ("sent", accepted[0]["ts"])]

        deadline = time.monotonic() + 30
        while not sent():
            assert time.monotonic() < deadline, second.describe()
            time.sleep(0.2)
        assert len(slack.messages(CHANNEL)) == 1  # found by its marker, not posted again
        assert the_incident(world["engine"]).slack_ts == accepted[0]["ts"]
        assert slack.calls("conversations.history")
    finally:
        assert second.stop() == 0, second.describe()


def test_queued_by_abacus_detect_then_sent_once_by_the_bot(world):
    slack = world["slack"]
    synced = run_cli(world, "sync", SLACK_BOT_TOKEN=None)
    assert synced.returncode == 0, synced.stderr
    detected = run_cli(world, "detect")  # no Slack token in this environment: the alert stays queued
    assert detected.returncode == 0, detected.stderr
    assert "alerts stay queued" in detected.stderr
    assert channel_posts(slack) == []
    bot = launch_bot_process(slack, bot_env(world, ABACUS_SYNC_SCHEDULE="0 0 1 1 *"), log_dir=world["tmp"])
    try:
        wait_alert(slack, timeout=30)
        time.sleep(6)
        assert len(channel_posts(slack)) == 1
    finally:
        assert bot.stop() == 0, bot.describe()
    # a second detect run for the same day queues nothing and posts nothing
    again = run_cli(world, "detect", SLACK_BOT_TOKEN=slack.bot_token, SLACK_API_URL=slack.api_url)
    assert again.returncode == 0, again.stderr
    assert len(channel_posts(slack)) == 1


def test_slack_429_and_500_are_retried_and_the_alert_arrives_once(world):
    slack = world["slack"]
    answers = [(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}),
               (500, {"ok": False, "error": "internal_error"}, None)]

    def flaky(body):
        if body.get("channel") == CHANNEL and answers:
            return answers.pop(0)
        return None

    slack.overrides["chat.postMessage"] = flaky
    bot = launch_bot_process(slack, bot_env(world), log_dir=world["tmp"])
    try:
        wait_alert(slack)
        time.sleep(3)
        tried = channel_posts(slack, ok_only=False)
        assert [c.status for c in tried] == [429, 500, 200]
        assert len(slack.messages(CHANNEL)) == 1
        with session_scope(world["engine"]) as s:
            assert s.execute(text("SELECT status, attempts FROM alert_outbox")).all() == [("sent", 3)]
    finally:
        assert bot.stop() == 0, bot.describe()


# --- permissions ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def alerted(pg_admin_url, tmp_path_factory):
    """One bot for the module's read-only checks: the alert posted (queued by `abacus detect`,
    sent by the bot), and nothing scheduled while the tests run."""
    with make_world(pg_admin_url, tmp_path_factory.mktemp("alerted")) as world:
        slack = world["slack"]
        assert run_cli(world, "sync", SLACK_BOT_TOKEN=None).returncode == 0
        assert run_cli(world, "detect").returncode == 0
        bot = launch_bot_process(slack, bot_env(world, ABACUS_SYNC_SCHEDULE="0 0 1 1 *"), log_dir=world["tmp"])
        try:
            alert = wait_alert(slack, timeout=30)
            yield {**world, "bot": bot, "ts": alert.response["ts"], "incident": alerted_incident(world["engine"])}
        finally:
            assert bot.stop() == 0, bot.describe()


def _ack_text(ack: dict) -> str:
    return json.dumps(ack.get("payload") or {})


@pytest.mark.parametrize("action", ["ack", "resolve", "snooze", "settings", "map", "sync"])
def test_every_mutating_action_is_refused_for_a_member_and_changes_nothing(alerted, action):
    slack, engine, ts, incident = alerted["slack"], alerted["engine"], alerted["ts"], alerted["incident"]
    time.sleep(1)
    before = snapshot(engine)
    updates_before = len(slack.calls("chat.update"))
    if action in ("ack", "resolve", "snooze"):
        action_id = {"ack": ActionId.INCIDENT_ACK, "resolve": ActionId.INCIDENT_RESOLVE,
                     "snooze": ActionId.INCIDENT_SNOOZE}[action]
        payload = click(slack, action_id, ts, MEMBER, snooze="1d" if action == "snooze" else None,
                        incident=incident.id)
        response_id = payload["response_url"].rsplit("/", 1)[1]
        refusal = slack.wait_response(lambda r: r.response_id == response_id, timeout=15)
        assert REFUSAL in json.dumps(refusal.body) and refusal.body.get("response_type") == "ephemeral"
    elif action == "settings":
        ack = slack.send(slack.view_submission(CallbackId.SETTINGS_MODAL, {
            f"{BlockId.SETTING_PREFIX}monthly_budget_usd": {ActionId.SETTING_INPUT: "1"},
            f"{BlockId.SETTING_PREFIX}threshold.spend_spike_multiplier": {ActionId.SETTING_INPUT: "2"}},
            user_id=MEMBER))
        assert "Only Abacus admins can change settings." in _ack_text(ack)
    else:
        text_ = "map key_x bob@example.com" if action == "map" else "sync"
        payload = slack.slash_command(text_, user_id=MEMBER, channel_id=CHANNEL)
        response_id = payload["response_url"].rsplit("/", 1)[1]
        slack.send(payload)
        refusal = slack.wait_response(lambda r: r.response_id == response_id, timeout=15)
        assert REFUSAL in json.dumps(refusal.body)
    time.sleep(1)
    assert snapshot(engine) == before
    assert len(slack.calls("chat.update")) == updates_before  # the alert was not touched
    assert slack.violations == []


def test_a_button_for_an_incident_that_no_longer_exists_says_so(alerted):
    slack, ts = alerted["slack"], alerted["ts"]
    payload = slack.block_actions(ActionId.INCIDENT_ACK, value=IncidentRef(987654).encode(), message_ts=ts,
                                  channel_id=CHANNEL, user_id=ADMIN)
    slack.send(payload)
    response_id = payload["response_url"].rsplit("/", 1)[1]
    answer = slack.wait_response(lambda r: r.response_id == response_id, timeout=15)
    assert "Incident #987654 no longer exists." in json.dumps(answer.body)


def test_the_app_home_lists_the_open_incident_with_its_buttons_and_the_schedule(alerted):
    slack = alerted["slack"]
    slack.send(slack.app_home_opened(ADMIN))
    view = slack.wait_for(lambda: slack.home_view(ADMIN), timeout=20, message="the Home view")
    text = text_of(view["blocks"])
    assert "*Open incidents* · 1" in text and "Alice" in text
    assert f"incident:{alerted['incident'].id}" in [b.get("block_id") for b in view["blocks"]]
    assert "Sync → detect → alert" in text and "Weekly digest" in text
    assert slack.violations == []


def test_the_settings_modal_shows_what_the_last_30_days_would_have_raised(alerted):
    slack = alerted["slack"]
    slack.send(slack.app_home_opened(ADMIN))
    home = slack.wait_for(lambda: slack.home_view(ADMIN), timeout=20, message="the Home view")
    slack.send(slack.block_actions(ActionId.SETTINGS_EDIT, view_id=home["id"], user_id=ADMIN))
    opened = slack.wait_call("views.open", timeout=10).response["view"]

    def modal_says(needle):
        def find():
            for call in slack.calls("views.update"):
                if call.get("view_id") == opened["id"] and needle in text_of(call["view"]["blocks"]):
                    return call
            return None
        return slack.wait_for(find, timeout=30, message=f"the modal saying {needle!r}")

    # today's defaults: Alice's spike, one incident, one alert
    modal_says("would have raised 1 incident and 1 alert")
    # typed, not saved: a 50× spike multiplier (Alice's $214 is 21.4× her $10) would have raised nothing
    state = {f"{BlockId.SETTING_PREFIX}threshold.spend_spike_multiplier": {ActionId.SETTING_INPUT: "50"}}
    payload = slack.block_actions(ActionId.SETTINGS_PREVIEW, view_id=opened["id"], user_id=ADMIN)
    payload["view"]["state"] = {"values": {k: {a: {"type": "plain_text_input", "value": v} for a, v in acts.items()}
                                           for k, acts in state.items()}}
    slack.send(payload)
    modal_says("would have raised 0 incidents and 0 alerts")
    with session_scope(alerted["engine"]) as s:
        assert s.execute(text("SELECT COUNT(*) FROM setting")).scalar_one() == 0  # nothing saved
    assert slack.violations == []


def test_an_alert_slack_refused_is_shown_in_the_app_home_and_sent_again_by_an_admin(world):
    """The alert channel refuses the bot (channel_not_found): the alert is given up on, and the App
    Home says so to admins with the reason and what to check. A member's click on "Send them again"
    changes nothing; once the channel is fixed, the admin's click posts the alert once."""
    slack = world["slack"]
    refusing = [True]
    slack.overrides["chat.postMessage"] = lambda body: (
        (200, {"ok": False, "error": "channel_not_found"}, None) if body.get("channel") == CHANNEL and refusing[0]
        else None)
    assert run_cli(world, "sync", SLACK_BOT_TOKEN=None).returncode == 0
    assert run_cli(world, "detect").returncode == 0  # no Slack token here: queued for the bot
    bot = launch_bot_process(slack, bot_env(world, ABACUS_SYNC_SCHEDULE="0 0 1 1 *"), log_dir=world["tmp"])
    try:
        def statuses():
            with session_scope(world["engine"]) as s:
                return s.execute(text("SELECT status FROM alert_outbox WHERE transport = 'slack'")).scalars().all()

        wait_until(lambda: statuses() == ["failed"], timeout=30, what="the alert given up on")
        published = len(slack.calls("views.publish"))
        slack.send(slack.app_home_opened(ADMIN))
        slack.wait_for(lambda: len(slack.calls("views.publish")) > published, timeout=20, message="the Home view")
        home = slack.home_view(ADMIN)
        shown = text_of(home["blocks"])
        assert "*Alert delivery* · 1 message could not be sent" in shown
        assert "Slack refused the message: channel_not_found" in shown and "invite the bot" in shown
        assert "Send them again" in json.dumps(home["blocks"])
        slack.send(slack.block_actions(ActionId.ALERTS_RETRY, view_id=home["id"], user_id=MEMBER))
        time.sleep(2)
        assert statuses() == ["failed"] and channel_posts(slack) == []
        refusing[0] = False
        published = len(slack.calls("views.publish"))
        slack.send(slack.block_actions(ActionId.ALERTS_RETRY, view_id=home["id"], user_id=ADMIN))
        wait_alert(slack, timeout=30)
        wait_until(lambda: statuses() == ["sent"], timeout=20, what="the alert sent")
        slack.wait_for(lambda: len(slack.calls("views.publish")) > published, timeout=20, message="the Home again")
        assert "Alert delivery" not in text_of(slack.home_view(ADMIN)["blocks"])
        time.sleep(2)
        assert len(channel_posts(slack)) == 1
        assert slack.violations == []
    finally:
        assert bot.stop() == 0, bot.describe()
