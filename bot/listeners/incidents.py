"""`incident_ack` / `incident_resolve` (docs/contract.md). The incident lifecycle belongs to the
alerting work; until it lands these only acknowledge the click and say so, so an alert button
never shows Slack's timeout warning."""

from __future__ import annotations

import logging

from bot.blocks import common as c
from bot.blocks.payloads import incident_id
from bot.ids import ActionId
from bot.services.container import Services

from .errors import ErrorReporter, target_from_body

log = logging.getLogger(__name__)


def register(app, services: Services, errors: ErrorReporter) -> None:
    def incident_button(ack, body, respond):
        ack()
        target = target_from_body(body, respond)
        action = (body.get("actions") or [{}])[0]
        number = incident_id(action.get("value"))
        log.info("%s on incident %s by %s: lifecycle not built yet", action.get("action_id"), number,
                 target.user_id if target else "?")
        if target is not None:
            text = "Acknowledging and resolving incidents from Slack is not available yet."
            services.submit(errors.guarded(target, lambda: services.delivery.ephemeral(
                target, text, [c.section(f":information_source: {text}")])))

    app.action(ActionId.INCIDENT_ACK)(incident_button)
    app.action(ActionId.INCIDENT_RESOLVE)(incident_button)
