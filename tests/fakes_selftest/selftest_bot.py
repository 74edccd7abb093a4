"""Throwaway Bolt app (Socket Mode, builtin client) that exercises the fake Slack.

Run as a subprocess by test_fake_slack.py with SLACK_BOT_TOKEN / SLACK_APP_TOKEN / SLACK_API_URL
pointing at the fake. Not product code: it only proves the fake speaks Slack well enough.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import urllib.request

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

TRACE = os.environ.get("SELFTEST_TRACE") == "1"
logging.basicConfig(
    level=logging.DEBUG if TRACE else logging.INFO,
    stream=sys.stderr,
    format="%(asctime)s %(levelname)s %(name)s %(message)s",
)

BOT_TOKEN = os.environ["SLACK_BOT_TOKEN"]
client = WebClient(token=BOT_TOKEN, base_url=os.environ["SLACK_API_URL"])
client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
app = App(client=client)


def section(text: str, block_id: str | None = None) -> dict:
    block = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


@app.command("/abacus")
def on_command(ack, command, client, respond):
    text = command["text"].strip()
    ack(text=f"ack: {text}")
    channel = command["channel_id"]
    if text == "post":
        button = {"type": "button", "action_id": "approve", "value": "42",
                  "text": {"type": "plain_text", "text": "Approve"}}  # fmt: skip
        client.chat_postMessage(
            channel=channel,
            text="Approve request 42?",
            blocks=[section("Approve request *42*?", "question"), {"type": "actions", "block_id": "buttons",
                                                                    "elements": [button]}],
        )  # fmt: skip
    elif text == "upload":
        client.files_upload_v2(
            channel=channel,
            content=b"user,cost\nalice,12.5\n",
            filename="report.csv",
            title="Usage report",
            alt_txt="usage per user",
            initial_comment="here is the report",
        )
    elif text == "blocks51":
        try:
            client.chat_postMessage(channel=channel, text="too many", blocks=[{"type": "divider"}] * 51)
        except SlackApiError as exc:
            client.chat_postMessage(channel=channel, text=f"error: {exc.response['error']}")
    elif text == "ratelimit":
        client.chat_postMessage(channel=channel, text="posted after a 429")
    elif text == "respond":
        respond(text="via response_url")
    elif text == "modal":
        client.views_open(
            trigger_id=command["trigger_id"],
            view={
                "type": "modal",
                "callback_id": "selftest_modal",
                "title": {"type": "plain_text", "text": "Self-test"},
                "submit": {"type": "plain_text", "text": "Save"},
                "blocks": [{"type": "input", "block_id": "name", "label": {"type": "plain_text", "text": "Name"},
                            "element": {"type": "plain_text_input", "action_id": "value"}}],
            },
        )  # fmt: skip


@app.action("approve")
def on_approve(ack, body, client):
    ack()
    client.chat_update(
        channel=body["channel"]["id"],
        ts=body["message"]["ts"],
        text=f"Approved {body['actions'][0]['value']}",
        blocks=[section(f"Approved *{body['actions'][0]['value']}* by <@{body['user']['id']}>", "question")],
    )


@app.view("selftest_modal")
def on_modal_submit(ack, view):
    value = view["state"]["values"]["name"]["value"]["value"]
    if value == "bad":
        ack(response_action="errors", errors={"name": "not a name"})
    else:
        ack()


@app.event("app_home_opened")
def on_home(event, client):
    client.views_publish(
        user_id=event["user"], view={"type": "home", "blocks": [section(f"Home of <@{event['user']}>", "home")]}
    )


@app.event("file_shared")
def on_file_shared(event, client):
    info = client.files_info(file=event["file_id"])["file"]
    request = urllib.request.Request(info["url_private_download"], headers={"Authorization": f"Bearer {BOT_TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        data = response.read()
    first_line = data.decode().splitlines()[0]
    client.chat_postMessage(channel=event["channel_id"], text=f"got {info['name']}: {len(data)} bytes, {first_line}")


@app.event("message")
def on_message(event):
    pass


if __name__ == "__main__":
    handler = SocketModeHandler(app, os.environ["SLACK_APP_TOKEN"], trace_enabled=TRACE)

    def stop(signum, frame):
        handler.close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    handler.start()
