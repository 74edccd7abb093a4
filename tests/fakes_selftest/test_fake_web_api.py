"""The fake's Web API, driven in-process with slack_sdk's WebClient (no bot process)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack import APP_TOKEN, BOT_ID, BOT_TOKEN, BOT_USER_ID, TEAM_ID, FakeSlack


@pytest.fixture
def client(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)


def error_of(call, **kwargs) -> str:
    with pytest.raises(SlackApiError) as failure:
        call(**kwargs)
    return failure.value.response["error"]


def test_auth_test_answers_the_fixed_bot_identity(client: WebClient) -> None:
    identity = client.auth_test()
    assert (identity["user_id"], identity["bot_id"], identity["team_id"]) == (BOT_USER_ID, BOT_ID, TEAM_ID)


def test_tokens_are_checked_per_method(fake_slack: FakeSlack) -> None:
    app_client = WebClient(token=APP_TOKEN, base_url=fake_slack.api_url)
    assert error_of(app_client.chat_postMessage, channel="C1", text="x") == "not_allowed_token_type"
    assert error_of(WebClient(token="nonsense", base_url=fake_slack.api_url).auth_test) == "invalid_auth"
    assert error_of(WebClient(base_url=fake_slack.api_url).auth_test) == "not_authed"

    bot_client = WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)
    assert error_of(bot_client.apps_connections_open, app_token=BOT_TOKEN) == "not_allowed_token_type"
    url = bot_client.apps_connections_open(app_token=APP_TOKEN)["url"]
    assert url.startswith(f"ws://127.0.0.1:{fake_slack.port}/link/?ticket=")


def test_every_call_is_recorded_and_unknown_methods_succeed(fake_slack: FakeSlack, client: WebClient) -> None:
    assert client.api_call("reactions.add", json={"name": "eyes"})["ok"] is True
    [call] = fake_slack.calls("reactions.add")
    assert call.body == {"name": "eyes"} and call.token == BOT_TOKEN and call.http_method == "POST"


def test_socket_tickets_are_single_use(fake_slack: FakeSlack) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{fake_slack.url}/link/?ticket=made-up", timeout=5)
    assert refused.value.code == 401


def test_post_to_a_user_id_lands_in_the_dm_and_updates_keep_history(fake_slack: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="U0BOB", text="hi")
    dm = fake_slack.dm_channel("U0BOB")
    assert posted["channel"] == dm == client.conversations_open(users="U0BOB")["channel"]["id"]

    client.chat_update(channel=dm, ts=posted["ts"], text="edited")
    assert fake_slack.message(dm, posted["ts"])["text"] == "edited"
    assert error_of(client.chat_update, channel=dm, ts="1.000001", text="x") == "message_not_found"

    client.chat_delete(channel=dm, ts=posted["ts"])
    assert fake_slack.messages(dm) == []
    assert len(fake_slack.messages(dm, include_deleted=True)) == 1


def test_message_ts_values_are_unique_and_increasing(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel="C1", text=str(i))["ts"] for i in range(5)]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 5


def test_ephemerals_are_stored_per_user(fake_slack: FakeSlack, client: WebClient) -> None:
    client.chat_postEphemeral(channel="C1", user="U0BOB", text="only you")
    assert [e["text"] for e in fake_slack.ephemerals(user="U0BOB")] == ["only you"]
    assert fake_slack.messages("C1") == []


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_strict_mode_rejects_bad_layouts_and_records_violations(fake_slack: FakeSlack, client: WebClient) -> None:
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    assert error_of(client.chat_postMessage, channel="C1", text="x", blocks=[header]) == "invalid_blocks"
    divider = {"type": "divider"}
    assert error_of(client.chat_postMessage, channel="C1", blocks=[divider]) == "invalid_blocks"  # no text fallback
    assert error_of(client.chat_postMessage, channel="C1") == "no_text"
    assert len(fake_slack.violations) == 2

    fake_slack.strict = False
    assert client.chat_postMessage(channel="C1", text="x", blocks=[header])["ok"]


def test_home_tab_allows_100_blocks_but_not_101(fake_slack: FakeSlack, client: WebClient) -> None:
    divider = {"type": "divider"}
    assert client.views_publish(user_id="U0BOB", view={"type": "home", "blocks": [divider] * 100})["ok"]
    assert error_of(client.views_publish, user_id="U0BOB", view={"type": "home", "blocks": [divider] * 101}) == (
        "invalid_blocks"
    )


def test_views_open_needs_a_trigger_the_fake_issued_recently(fake_slack: FakeSlack, client: WebClient) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": [{"type": "divider"}]}
    assert error_of(client.views_open, trigger_id="123.456.abc", view=modal) == "invalid_trigger_id"

    fresh = fake_slack.new_trigger_id()
    view = client.views_open(trigger_id=fresh, view=modal)["view"]
    assert view["id"].startswith("V") and view["root_view_id"] == view["id"]

    fake_slack.trigger_ttl = 0.05
    stale = fake_slack.new_trigger_id()
    time.sleep(0.1)
    assert error_of(client.views_open, trigger_id=stale, view=modal) == "expired_trigger_id"

    updated = client.views_update(view_id=view["id"], hash=view["hash"], view={**modal, "callback_id": "x"})["view"]
    assert updated["id"] == view["id"] and updated["callback_id"] == "x"
    assert error_of(client.views_update, view_id=view["id"], hash=view["hash"], view=modal) == "hash_conflict"


def test_overrides_inject_faults_and_fail_next_heals(fake_slack: FakeSlack, client: WebClient) -> None:
    fake_slack.overrides["chat.postMessage"] = lambda body: (200, {"ok": False, "error": "channel_not_found"}, None)
    assert error_of(client.chat_postMessage, channel="C1", text="x") == "channel_not_found"
    del fake_slack.overrides["chat.postMessage"]

    fake_slack.fail_next("chat.postMessage", "not_in_channel", times=2)
    assert error_of(client.chat_postMessage, channel="C1", text="x") == "not_in_channel"
    assert error_of(client.chat_postMessage, channel="C1", text="x") == "not_in_channel"
    assert client.chat_postMessage(channel="C1", text="x")["ok"]

    fake_slack.register_channel("C0PRIV", "secret", is_member=False)
    assert error_of(client.chat_postMessage, channel="C0PRIV", text="x") == "not_in_channel"


def test_users_info_knows_registered_users_with_email(fake_slack: FakeSlack, client: WebClient) -> None:
    fake_slack.register_user("U0BOB", "bob@example.com", "bob", is_admin=True)
    user = client.users_info(user="U0BOB")["user"]
    assert user["profile"]["email"] == "bob@example.com" and user["is_admin"] is True
    assert error_of(client.users_info, user="U0NOBODY") == "user_not_found"
    assert client.users_info(user=BOT_USER_ID)["user"]["is_bot"] is True


def test_files_info_and_conversations_info(fake_slack: FakeSlack, client: WebClient) -> None:
    shared = fake_slack.register_file("a.csv", b"x,y\n", user_id="U0BOB")
    assert client.files_info(file=shared["id"])["file"]["mimetype"] == "text/csv"
    assert error_of(client.files_info, file="F0NOPE") == "file_not_found"
    assert client.conversations_info(channel="D0BOB")["channel"]["is_im"] is True
    permalink = client.chat_getPermalink(channel="C1", message_ts="1700000000.000100")["permalink"]
    assert permalink.endswith("/archives/C1/p1700000000000100")


def test_event_builders_follow_slack_shapes(fake_slack: FakeSlack) -> None:
    shared = fake_slack.register_file("usage.csv", b"a,b\n", user_id="U0BOB")
    payload = fake_slack.message_with_file(shared["id"], text="import this")
    assert payload["type"] == "event_callback" and payload["authorizations"][0]["user_id"] == BOT_USER_ID
    event = payload["event"]
    assert (event["type"], event["subtype"], event["user"], event["channel_type"]) == (
        "message", "file_share", "U0BOB", "im")  # fmt: skip
    assert event["files"][0]["url_private_download"].startswith(fake_slack.url)

    command = fake_slack.slash_command("top 5", channel_id="D0BOB")
    assert command["channel_name"] == "directmessage" and command["response_url"].startswith(fake_slack.url)
    assert all(isinstance(v, str) for v in command.values())


def test_reset_forgets_recorded_state(fake_slack: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="x")
    fake_slack.register_user("U0BOB", "bob@example.com")
    fake_slack.reset()
    assert fake_slack.calls() == [] and fake_slack.messages() == []
    assert error_of(client.users_info, user="U0BOB") == "user_not_found"
