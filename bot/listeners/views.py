"""Modal submissions: validate and answer inside the 3 s ack (`response_action: errors`), then
do the slow part in the work pool."""

from __future__ import annotations

from bot.blocks import admin as admin_blocks
from bot.blocks.common import escape
from bot.blocks.payloads import KeyRef
from bot.ids import ActionId, BlockId, CallbackId
from bot.services.authz import Role
from bot.services.container import Services
from bot.services.delivery import Target
from core.identity import normalise_email

from .errors import ErrorReporter
from .events import publish_home


def _values(view: dict) -> dict[str, dict]:
    state = (view.get("state") or {}).get("values") or {}
    return state if isinstance(state, dict) else {}


def _text(values: dict, block_id: str, action_id: str) -> str | None:
    value = ((values.get(block_id) or {}).get(action_id) or {}).get("value")
    return value if isinstance(value, str) else None


def register(app, services: Services, errors: ErrorReporter) -> None:
    @app.view(CallbackId.MAP_KEY_MODAL)
    def map_key_submitted(ack, body, view, client):
        user_id = body["user"]["id"]
        ref = KeyRef.decode(view.get("private_metadata"))
        raw = _text(_values(view), BlockId.MAP_EMAIL, ActionId.MAP_EMAIL_INPUT) or ""
        requester = services.authorizer.requester(user_id)
        problem = None
        if requester.role < Role.ADMIN:
            problem = "Only Abacus admins can map keys."
        elif ref is None:
            problem = "This form has expired; open the App Home again."
        else:
            try:
                email = normalise_email(raw)
            except ValueError:
                problem = "That is not an email address."
        if problem:
            ack(response_action="errors", errors={BlockId.MAP_EMAIL: problem})
            return
        ack()
        target = Target(user_id=user_id, channel_id=None)

        def work() -> None:
            result = services.admin.map_key(requester, ref.key, email, source=ref.source)
            services.delivery.ephemeral(target, f"Mapped {escape(result.key)} to {escape(result.email)}",
                                        admin_blocks.mapped(result.key, result.email, result.changed))
            publish_home(services, client, user_id)

        services.submit(errors.guarded(target, work))

    @app.view(CallbackId.SETTINGS_MODAL)
    def settings_submitted(ack, body, view, client):
        user_id = body["user"]["id"]
        values = _values(view)
        raw = {}
        for block_id, actions in values.items():
            if block_id.startswith(BlockId.SETTING_PREFIX) and isinstance(actions, dict):
                raw[block_id[len(BlockId.SETTING_PREFIX):]] = _text(values, block_id, ActionId.SETTING_INPUT)
        requester = services.authorizer.requester(user_id)
        if requester.role < Role.ADMIN:
            first = next(iter(values), f"{BlockId.SETTING_PREFIX}monthly_budget_usd")
            ack(response_action="errors", errors={first: "Only Abacus admins can change settings."})
            return
        _, problems = services.settings.update(raw, requester=requester)
        if problems:
            ack(response_action="errors",
                errors={f"{BlockId.SETTING_PREFIX}{key}": msg for key, msg in problems.items()})
            return
        ack()
        services.submit(errors.guarded(None, lambda: publish_home(services, client, user_id)))
