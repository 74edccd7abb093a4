"""Thin listeners: ack → parse → permission → one service call → render. `register_all`
wires every module onto a Bolt app; the one error handler is shared by all of them."""

from __future__ import annotations

from bot.services.container import Services

from . import actions, commands, events, groups, imports, incidents, views
from .errors import ErrorReporter, describe, target_from_body


def register_all(app, services: Services) -> ErrorReporter:
    errors = ErrorReporter(services.delivery)
    for module in (commands, actions, views, events, incidents, imports, groups):
        module.register(app, services, errors)

    @app.error
    def last_resort(error, body, respond=None):
        """Errors that escaped a listener (before its work was handed to the pool)."""
        target = target_from_body(body or {}, respond)
        if target is None:
            describe(error)  # logs it with an id
            return
        errors.report(error, target)

    return errors
