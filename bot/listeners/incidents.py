"""The alert buttons: `incident_ack`, `incident_resolve`, `incident_snooze` (docs/contract.md) and
`incident_details`.

Thin: ack → typed payload (IncidentRef) → permission (admins change incidents) → one service
call (core `transition()` through incident_repo.act) → re-render the whole alert message from
the incident row with `chat.update`. A repeat (double click, Slack retry) changes nothing; a
non-admin gets an ephemeral refusal and nothing changes; a vanished incident says so.
"""

from __future__ import annotations

import logging

from bot.blocks.payloads import IncidentRef
from bot.ids import ActionId
from bot.services.authz import Role, authorize, require
from bot.services.container import Services
from bot.services.delivery import Target
from bot.services.grammar import parse_command
from core.errors import InputError
from core.incidents import Action, IllegalTransition, IncidentNotFound, snooze_choice

from .errors import ErrorReporter, target_from_body
from .events import publish_home

log = logging.getLogger(__name__)

ACTIONS = {ActionId.INCIDENT_ACK: Action.ACKNOWLEDGE, ActionId.INCIDENT_RESOLVE: Action.RESOLVE,
           ActionId.INCIDENT_SNOOZE: Action.SNOOZE}
EXPIRED = "This button has expired; `/abacus incidents` lists the open incidents."


def _action(body: dict) -> dict:
    actions = body.get("actions") or [{}]
    return actions[0] if isinstance(actions[0], dict) else {}


def _ref(action: dict) -> IncidentRef | None:
    """The incident (and, for a snooze option, the duration) a click names. An option whose value
    names only the incident takes the duration from its label ("1 h", "Snooze 4 hours")."""
    option = action.get("selected_option") if isinstance(action.get("selected_option"), dict) else {}
    raw = action.get("value")
    if raw is None:
        raw = option.get("value")
    ref = IncidentRef.decode(raw if isinstance(raw, str) else None)
    if ref is not None and ref.snooze is None and option:
        label = (option.get("text") or {}).get("text") if isinstance(option.get("text"), dict) else None
        duration = snooze_choice(label)
        if duration is not None:
            ref = IncidentRef(ref.id, duration)
    return ref


def _container(body: dict) -> tuple[str | None, str | None, bool]:
    """(channel, message ts, from the App Home) of the clicked element."""
    container = body.get("container") or {}
    if container.get("type") == "view":
        return None, None, True
    return container.get("channel_id"), container.get("message_ts"), False


def register(app, services: Services, errors: ErrorReporter) -> None:
    def lifecycle(ack, body, respond, client):
        ack()
        target = target_from_body(body, respond)
        action = _action(body)

        def work() -> None:
            kind = ACTIONS[ActionId(action.get("action_id"))]
            ref = _ref(action)
            if ref is None or (kind is Action.SNOOZE and not ref.snooze):
                raise InputError(EXPIRED)
            requester = services.authorizer.requester(target.user_id)
            require(requester, Role.ADMIN)
            channel, ts, from_home = _container(body)
            try:
                result = services.incidents.act(ref.id, kind, requester, snooze=ref.snooze)
            except IncidentNotFound:
                raise InputError(f"Incident #{ref.id} no longer exists.") from None
            except IllegalTransition as exc:
                # a stale message (someone else resolved it meanwhile): show it as it is now
                current = services.incidents.get(ref.id)
                if current is not None:
                    services.incidents.refresh(current.slack_channel, current.slack_ts)
                raise InputError(str(exc).capitalize() + ".") from None
            view = result.view
            log.info("incident %s: %s by %s (%s)", ref.id, kind.value, requester.user_id,
                     "changed" if result.changed else "repeat, nothing to do")
            # the alert message, wherever the click came from (the message itself, the Home tab)
            services.incidents.refresh(view.slack_channel, view.slack_ts)
            if channel and ts and (channel, ts) != (view.slack_channel, view.slack_ts):
                services.incidents.refresh(channel, ts)
            if from_home:
                publish_home(services, client, target.user_id)

        services.submit(errors.guarded(target, work))

    for action_id in ACTIONS:
        app.action(action_id.value)(lifecycle)

    @app.action(ActionId.INCIDENT_DETAILS)
    def details(ack, body, respond):
        """That person's report and chart, privately — the same as `/abacus user`."""
        ack()
        target = target_from_body(body, respond)

        def work() -> None:
            ref = _ref(_action(body))
            if ref is None:
                raise InputError(EXPIRED)
            requester = services.authorizer.requester(target.user_id)
            view = services.incidents.get(ref.id)
            if view is None or view.user is None or "@" not in view.user:
                # a member may only reach their own report: nothing about other incidents, not even
                # whether one exists or what it is about
                require(requester, Role.VIEWER)
            if view is None:
                raise InputError(f"Incident #{ref.id} no longer exists.")
            if view.user is None or "@" not in view.user:
                raise InputError(f"Incident #{ref.id} is about {view.subject}, not a person with a report.")
            cmd = parse_command(f"user {view.user}")
            authorize(requester, cmd)
            reply = services.commands.run(cmd, requester)
            services.delivery.deliver(reply, Target(target.user_id, target.channel_id, target.respond))

        services.submit(errors.guarded(target, work))
