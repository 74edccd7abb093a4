"""Events: the App Home tab; file and message events are acknowledged and left alone (CSV
import from Slack is not part of this build)."""

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

    @app.event("file_shared")
    def file_shared(event):
        log.debug("file_shared %s ignored", event.get("file_id"))

    @app.event("message")
    def message(event):
        log.debug("message event in %s ignored", event.get("channel_type"))

