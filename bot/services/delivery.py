"""Getting a `Reply` to the person: private by default, in the channel on `share`.

Private: the message as an ephemeral reply through the command's `response_url` (works in any
conversation, even where the bot is not a member; falls back to `chat.postEphemeral`), files
into the requester's DM with the bot (`conversations.open` + `files_upload_v2`).
Shared: `chat.postMessage` + uploads in the channel; when the bot cannot post there
(`not_in_channel`, `channel_not_found`, …) everything goes to the DM and an ephemeral note says why.
Rate limits (429) are retried by the WebClient's RateLimitErrorRetryHandler.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks import common as c

from .reply import Attachment, Reply, ready

log = logging.getLogger(__name__)

CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action",
                         "cannot_post_in_channel", "missing_scope", "not_allowed_token_type", "access_denied"})
DM_NOTE = ":inbox_tray: Charts and files are in your DM with Abacus."


@dataclass(frozen=True, slots=True)
class Target:
    """Where a command came from and how to answer it privately."""

    user_id: str
    channel_id: str | None
    respond: Callable[..., object] | None = None  # Bolt's `respond` (response_url), when there is one


class Delivery:
    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._dm: dict[str, str] = {}
        self._lock = threading.Lock()

    # --- building blocks -------------------------------------------------------------------------

    def dm_channel(self, user_id: str) -> str:
        with self._lock:
            cached = self._dm.get(user_id)
        if cached:
            return cached
        channel = self._client.conversations_open(users=user_id)["channel"]["id"]
        with self._lock:
            self._dm[user_id] = channel
        return channel

    def ephemeral(self, target: Target, text: str, blocks: list[dict] | None = None, *,
                  replace_original: bool = False) -> None:
        """A private answer; never raises (a failure is logged)."""
        blocks = c.cap_blocks(list(blocks or []))
        if target.respond is not None:
            try:
                target.respond(text=text, blocks=blocks or None, response_type="ephemeral",
                               replace_original=replace_original)
                return
            except Exception as exc:  # noqa: BLE001 - fall back to the Web API below
                log.warning("response_url answer failed (%s); using chat.postEphemeral", type(exc).__name__)
        if target.channel_id:
            try:
                self._client.chat_postEphemeral(channel=target.channel_id, user=target.user_id, text=text,
                                                blocks=blocks or None)
                return
            except SlackApiError as exc:
                log.info("chat.postEphemeral failed (%s); answering in the DM", exc.response.get("error"))
        try:
            self._client.chat_postMessage(channel=self.dm_channel(target.user_id), text=text, blocks=blocks or None)
        except SlackApiError as exc:
            log.error("could not answer %s at all: %s", target.user_id, exc.response.get("error"))

    def replace(self, target: Target, reply: Reply) -> None:
        """Re-render the message a button sits on (an ephemeral answer: through its response_url)."""
        self.ephemeral(target, reply.text, reply.blocks, replace_original=True)

    def upload(self, channel: str, attachment: Attachment) -> None:
        attachment = ready(attachment)
        self._client.files_upload_v2(channel=channel, content=attachment.content, filename=attachment.filename,
                                     title=attachment.title, alt_txt=attachment.alt_text)

    # --- a whole reply ---------------------------------------------------------------------------

    def deliver(self, reply: Reply, target: Target, *, share: bool = False) -> None:
        if share and reply.shareable and target.channel_id:
            if self._post_in_channel(reply, target.channel_id):
                return
            note = ("I can't post in this channel (invite me with `/invite @Abacus`), "
                    "so the answer is in your DM instead.")
            self._post_in_dm(reply, target.user_id)
            self.ephemeral(target, note, [c.section(f":information_source: {note}")])
            return
        blocks = list(reply.blocks)
        if reply.files:
            blocks.append(c.context(DM_NOTE))
        self.ephemeral(target, reply.text, blocks)
        if reply.files:
            dm = self.dm_channel(target.user_id)
            for attachment in reply.files:
                self.upload(dm, attachment)

    def _post_in_channel(self, reply: Reply, channel: str) -> bool:
        """Post the message and files in `channel`; False when the bot may not post there."""
        try:
            if reply.blocks or reply.text:
                self._client.chat_postMessage(channel=channel, text=reply.text, blocks=c.cap_blocks(reply.blocks)
                                              or None)
            for attachment in reply.files:
                self.upload(channel, attachment)
            return True
        except SlackApiError as exc:
            if exc.response.get("error") in CANNOT_POST:
                log.info("cannot post in %s (%s); falling back to the DM", channel, exc.response.get("error"))
                return False
            raise

    def _post_in_dm(self, reply: Reply, user_id: str) -> None:
        dm = self.dm_channel(user_id)
        self._client.chat_postMessage(channel=dm, text=reply.text, blocks=c.cap_blocks(reply.blocks) or None)
        for attachment in reply.files:
            self.upload(dm, attachment)
