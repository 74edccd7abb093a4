"""A real Bolt app (subprocess, builtin Socket Mode client) against the fake Slack."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from tests.fakes.slack import BOT_USER_ID, DEFAULT_CHANNEL_ID, DEFAULT_USER_ID, FakeSlack, FakeSlackTimeout
from tests.fakes_selftest.conftest import SELFTEST_BOT_COMMAND

pytestmark = pytest.mark.e2e


def test_slash_command_is_acked_with_payload_within_3s(fake: FakeSlack) -> None:
    ack = fake.send(fake.slash_command("ping"))

    assert ack["payload"] == {"text": "ack: ping"}
    assert fake.injections[-1].latency < 3.0


def test_post_message_then_button_click_updates_the_message(fake: FakeSlack) -> None:
    fake.send(fake.slash_command("post"))
    post = fake.wait_call("chat.postMessage")
    assert post.ok and post["channel"] == DEFAULT_CHANNEL_ID
    assert post.content_type.startswith("application/json")
    assert post.token.startswith("xoxb-")
    ts = post.response["ts"]

    click = fake.block_actions("approve", message_ts=ts, user_id="U0BOB")
    assert click["actions"][0]["block_id"] == "buttons" and click["actions"][0]["value"] == "42"
    fake.send(click)
    fake.wait_call("chat.update", lambda c: c["ts"] == ts)

    current = fake.message(DEFAULT_CHANNEL_ID, ts)
    assert current["text"] == "Approved 42"
    assert "<@U0BOB>" in current["blocks"][0]["text"]["text"]
    assert [v["text"] for v in fake.message_versions(DEFAULT_CHANNEL_ID, ts)] == ["Approve request 42?", "Approved 42"]
    assert fake.violations == []


def test_files_upload_v2_stores_bytes_title_and_alt_text(fake: FakeSlack) -> None:
    fake.send(fake.slash_command("upload"))
    fake.wait_call("files.completeUploadExternal")

    [upload] = fake.uploaded_files()
    assert upload.content == b"user,cost\nalice,12.5\n"
    assert upload.length == len(upload.content)
    assert (upload.filename, upload.title, upload.alt_txt) == ("report.csv", "Usage report", "usage per user")
    assert upload.channel_id == DEFAULT_CHANNEL_ID
    assert upload.initial_comment == "here is the report"
    assert fake.calls("files.getUploadURLExternal")[0].content_type.startswith("application/x-www-form-urlencoded")


def test_app_home_opened_publishes_the_home_tab(fake: FakeSlack) -> None:
    fake.send(fake.app_home_opened("U0BOB"))
    publish = fake.wait_call("views.publish")

    assert publish["user_id"] == "U0BOB"
    home = fake.home_view("U0BOB")
    assert home["type"] == "home" and "<@U0BOB>" in home["blocks"][0]["text"]["text"]
    # a second open carries the published view, as Slack does
    assert fake.app_home_opened("U0BOB")["event"]["view"]["id"] == home["id"]


def test_file_shared_is_fetched_with_files_info_and_an_authenticated_download(fake: FakeSlack) -> None:
    shared = fake.register_file("usage.csv", b"email,cost\nbob@example.com,3\n", "text/csv", "U0BOB")

    fake.send(fake.file_shared(shared["id"]))
    fake.wait_call("files.info", lambda c: c["file"] == shared["id"])
    reply = fake.wait_call("chat.postMessage")

    assert reply["text"] == "got usage.csv: 29 bytes, email,cost"
    assert reply["channel"] == fake.dm_channel("U0BOB")
    assert [d.authorized for d in fake.downloads()] == [True]


def test_events_are_acked_and_retries_carry_retry_fields(fake: FakeSlack) -> None:
    shared = fake.register_file("usage.csv", b"a,b\n", "text/csv", "U0BOB")

    ack = fake.send(fake.message_with_file(shared["id"]), retry_attempt=1)

    envelope = fake.injections[-1].envelope
    assert ack == {"envelope_id": envelope["envelope_id"]}
    assert (envelope["type"], envelope["retry_attempt"], envelope["retry_reason"]) == ("events_api", 1, "timeout")


def test_download_without_bearer_token_redirects_to_login_page(fake: FakeSlack) -> None:
    shared = fake.register_file("usage.csv", b"a,b\n", "text/csv")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    with pytest.raises(urllib.error.HTTPError) as redirect:
        urllib.request.build_opener(NoRedirect).open(shared["url_private_download"], timeout=5)
    assert redirect.value.code == 302
    assert redirect.value.headers["Location"].startswith("/login")
    with urllib.request.urlopen(shared["url_private_download"], timeout=5) as followed:  # what a naive client gets
        assert followed.headers.get_content_type() == "text/html"
    assert [d.authorized for d in fake.downloads()] == [False, False]


def test_disconnect_makes_the_client_reconnect_on_a_new_socket(fake: FakeSlack) -> None:
    opens_before = len(fake.calls("apps.connections.open"))
    connections_before = fake.connection_count

    assert fake.disconnect() == connections_before + 1

    assert len(fake.calls("apps.connections.open")) == opens_before + 1
    assert fake.open_socket_count == 1
    ack = fake.send(fake.slash_command("after reconnect"))
    assert ack["payload"]["text"] == "ack: after reconnect"
    assert fake.injections[-1].socket_id == connections_before + 1


def test_rate_limited_post_is_retried_after_retry_after(fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", "ratelimited", retry_after=1)

    fake.send(fake.slash_command("ratelimit"))
    fake.wait_call("chat.postMessage", lambda c: c.ok, timeout=8)

    limited, retried = fake.calls("chat.postMessage")
    assert limited.status == 429 and limited.response == {"ok": False, "error": "ratelimited"}
    assert limited.response_headers["Retry-After"] == "1"
    assert retried.ok and retried["text"] == "posted after a 429"
    assert retried.time - limited.time >= 1.0


def test_strict_mode_rejects_51_blocks_with_invalid_blocks(fake: FakeSlack) -> None:
    fake.send(fake.slash_command("blocks51"))
    rejected = fake.wait_call("chat.postMessage", lambda c: not c.ok)
    fake.wait_call("chat.postMessage", lambda c: c.ok)

    assert rejected.response["error"] == "invalid_blocks"
    assert [v.method for v in fake.violations] == ["chat.postMessage"]
    assert "51 blocks (max 50 in a message)" in fake.violations[0].problems
    assert [m["text"] for m in fake.messages(DEFAULT_CHANNEL_ID)] == ["error: invalid_blocks"]


def test_respond_posts_to_the_fake_response_url(fake: FakeSlack) -> None:
    command = fake.slash_command("respond")
    fake.send(command)

    posted = fake.wait_response()
    assert command["response_url"].endswith(posted.response_id)
    assert posted.body["text"] == "via response_url"


def test_modal_opens_with_a_fresh_trigger_and_submission_errors_come_back_in_the_ack(fake: FakeSlack) -> None:
    fake.send(fake.slash_command("modal"))
    opened = fake.wait_call("views.open")
    assert opened.ok, opened.response
    view_id = opened.response["view"]["id"]

    ack = fake.send(fake.view_submission(view_id=view_id, values={"name": {"value": "bad"}}))
    assert ack["payload"] == {"response_action": "errors", "errors": {"name": "not a name"}}
    ack = fake.send(fake.view_submission(view_id=view_id, values={"name": {"value": "Alice"}}))
    assert "payload" not in ack or not ack["payload"]


def test_envelope_nobody_acks_raises_after_the_deadline(fake: FakeSlack) -> None:
    started = time.monotonic()
    with pytest.raises(FakeSlackTimeout, match="no ack"):
        fake.inject("slash_commands", fake.slash_command("x", command="/unknown"), timeout=1.0)
    assert time.monotonic() - started < 2.0


def test_events_from_the_bot_itself_are_dropped_by_bolt(fake: FakeSlack) -> None:
    fake.send(fake.app_home_opened(BOT_USER_ID))  # acked automatically, but no listener runs
    time.sleep(0.3)
    assert fake.calls("views.publish") == []


def test_plugin_fixtures_start_and_stop_a_bot(fake_slack: FakeSlack, start_bot_process) -> None:
    bot = start_bot_process(args=(), command=SELFTEST_BOT_COMMAND)

    assert [c.method for c in fake_slack.calls()][:2] == ["auth.test", "apps.connections.open"]
    assert [f.data["type"] for f in fake_slack.frames("out")] == ["hello"]
    assert fake_slack.send(fake_slack.slash_command("hi", user_id=DEFAULT_USER_ID))["payload"]["text"] == "ack: hi"
    assert bot.stop() == 0
