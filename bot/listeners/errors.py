"""The one error handler: known errors → one short ephemeral sentence; anything else → logged
with an error id that the user sees (never a stack trace in Slack)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import DBAPIError

from bot.blocks import help as help_blocks
from bot.blocks.common import escape
from bot.services.delivery import Delivery, Target
from bot.services.grammar import UsageError
from core.errors import InputError, PermissionDenied, RuntimeFailure
from storage.db import describe_db_error

log = logging.getLogger("bot.errors")


def describe(error: BaseException) -> tuple[str, list[dict]]:
    """(fallback text, blocks) for an error; unknown errors get an id and are logged. The
    fallback text is escaped too: it may quote what the user typed."""
    text, blocks = _describe(error)
    return escape(text), blocks


def _describe(error: BaseException) -> tuple[str, list[dict]]:
    if isinstance(error, UsageError):
        return str(error), help_blocks.usage_error_blocks(str(error), error.sub)
    if isinstance(error, PermissionDenied):
        return str(error), help_blocks.refusal_blocks(str(error))
    if isinstance(error, InputError):
        return str(error), help_blocks.warning_blocks(str(error))
    error_id = uuid.uuid4().hex[:8]
    if isinstance(error, RuntimeFailure):
        log.warning("error %s: %s", error_id, error)
        return str(error), help_blocks.failure_blocks(str(error), error_id)
    if isinstance(error, DBAPIError):
        log.error("error %s: database: %s", error_id, type(getattr(error, "orig", error)).__name__)
        reason = describe_db_error(error)
        message = ("The database is not answering right now; try again in a minute." if reason.startswith(
            "database error") else reason[0].upper() + reason[1:] + ".")
        return message, help_blocks.failure_blocks(message, error_id)
    if isinstance(error, SlackApiError):
        log.error("error %s: Slack API: %s", error_id, error.response.get("error"))
    else:
        log.error("error %s: unexpected %s", error_id, type(error).__name__, exc_info=error)
    message = "Something went wrong on my side."
    return message, help_blocks.failure_blocks(message, error_id)


class ErrorReporter:
    def __init__(self, delivery: Delivery) -> None:
        self._delivery = delivery

    def report(self, error: BaseException, target: Target | None) -> None:
        text, blocks = describe(error)
        if target is None:
            return
        self._delivery.ephemeral(target, text, blocks)

    def guarded(self, target: Target | None, work: Callable[[], Any]) -> Callable[[], None]:
        """`work` wrapped so that any exception ends in `report` (for the background pool)."""

        def run() -> None:
            try:
                work()
            except Exception as exc:  # noqa: BLE001 - the one place that turns every error into a reply
                self.report(exc, target)

        return run


def target_from_body(body: dict, respond: Callable[..., object] | None = None) -> Target | None:
    """Who to answer, from any Bolt request body (command, interaction, event)."""
    user = body.get("user_id") or (body.get("user") or {}).get("id") or (body.get("event") or {}).get("user")
    if not isinstance(user, str):
        return None
    channel = body.get("channel_id") or (body.get("channel") or {}).get("id")
    if not channel and isinstance(body.get("container"), dict):
        channel = body["container"].get("channel_id")
    # Home-tab and modal clicks have no message to answer under (Slack sends no usable response_url).
    in_view = isinstance(body.get("container"), dict) and body["container"].get("type") == "view"
    has_url = bool(body.get("response_url")) and not in_view
    return Target(user_id=user, channel_id=channel, respond=respond if has_url else None)
