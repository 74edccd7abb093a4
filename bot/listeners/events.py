"""Events: the App Home tab, and CSV files shared with the bot (`file_shared`, or a `message` with
files: Slack sends both for one share; the file is previewed once, see bot/services/file_import.py)."""

from __future__ import annotations

import logging

from bot.services.container import Services

from .errors import ErrorReporter

log = logging.getLogger(__name__)


def publish_home(services: Services, client, user_id: str) -> None:
    requester = services.authorizer.requester(user_id)
    client.views_publish(user_id=user_id, view=services.home.view(requester))


def register(app, services: Services, errors: ErrorReporter) -> None:
    @app.event("app_home_opened")
    def home_opened(event, client):
        if event.get("tab", "home") != "home" or not isinstance(event.get("user"), str):
            return
        user_id = event["user"]
        # No ephemeral surface here: errors are logged (target None), the tab keeps its last view.
        services.submit(errors.guarded(None, lambda: publish_home(services, client, user_id)))

    def share(file_id, user_id, channel, file_obj, context) -> None:
        if not isinstance(file_id, str) or not isinstance(user_id, str) or not file_id:
            return
        if user_id == context.get("bot_user_id"):
            return  # the bot's own uploads (charts, CSV exports)
        # Errors are logged with an id (no ephemeral surface without a command); the sharer was told
        # about every expected refusal by the service itself.
        services.submit(errors.guarded(None, lambda: services.file_imports.shared(
            file_id=file_id, user_id=user_id, channel=channel if isinstance(channel, str) else None,
            file_obj=file_obj)))

    @app.event("file_shared")
    def file_shared(event, context):
        share(event.get("file_id"), event.get("user_id"), event.get("channel_id"), None, context)

    @app.event("message")
    def message(event, context):
        files = event.get("files")
        if event.get("bot_id") or not isinstance(files, list):
            log.debug("message event in %s ignored", event.get("channel_type"))
            return
        for obj in files:
            if isinstance(obj, dict):
                share(obj.get("id"), event.get("user"), event.get("channel"), obj, context)
