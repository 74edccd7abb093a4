"""App Home group management: Create group / Rename… / Move a person… open modals (within the 3 s
of the click's trigger); their submissions are validated inside the ack and answered in place."""

from __future__ import annotations

from bot.blocks import groups as group_blocks
from bot.blocks.payloads import row_id
from bot.ids import ActionId, BlockId, CallbackId
from bot.services.authz import Role, require
from bot.services.container import Services
from bot.services.delivery import Target
from core.errors import InputError

from .errors import ErrorReporter, target_from_body
from .events import publish_home


def _state(view: dict) -> dict:
    values = (view.get("state") or {}).get("values") or {}
    return values if isinstance(values, dict) else {}


def register(app, services: Services, errors: ErrorReporter) -> None:
    def open_modal(build):
        def handler(ack, body, client, respond):
            ack()
            target = target_from_body(body, respond)
            try:
                require(services.authorizer.requester(target.user_id), Role.ADMIN)
                client.views_open(trigger_id=body["trigger_id"], view=build(body))
            except Exception as exc:  # noqa: BLE001 - the one error handler answers
                errors.report(exc, target)

        return handler

    def rename_modal(body: dict) -> dict:
        raw = ((body.get("actions") or [{}])[0] or {}).get("value") or ""
        number = row_id(raw)
        group = services.groups.get(number) if number is not None else None
        if group is None:
            raise InputError("that group no longer exists; open the App Home again")
        return group_blocks.name_modal(group)

    app.action(ActionId.GROUP_CREATE)(open_modal(lambda body: group_blocks.name_modal()))
    app.action(ActionId.GROUP_RENAME)(open_modal(rename_modal))
    app.action(ActionId.GROUP_ASSIGN)(open_modal(lambda body: group_blocks.assign_modal(services.groups.list())))

    @app.view(CallbackId.GROUP_NAME_MODAL)
    def name_submitted(ack, body, view, client):
        user_id = body["user"]["id"]
        valid, group_id = group_blocks.group_id_from_metadata(view.get("private_metadata"))
        raw = ((_state(view).get(BlockId.GROUP_NAME) or {}).get(ActionId.GROUP_NAME_INPUT) or {}).get("value") or ""
        try:
            if not valid:
                raise InputError("this form has expired; open the App Home again")
            done = services.groups.save_name(services.authorizer.requester(user_id), group_id, raw)
        except Exception as exc:  # noqa: BLE001 - shown on the field, nothing changed
            ack(response_action="errors", errors={BlockId.GROUP_NAME: _field_error(exc)})
            return
        ack()
        _after(user_id, done, client)

    @app.view(CallbackId.GROUP_ASSIGN_MODAL)
    def assign_submitted(ack, body, view, client):
        user_id = body["user"]["id"]
        state = _state(view)
        raw_email = ((state.get(BlockId.GROUP_EMAIL) or {}).get(ActionId.GROUP_EMAIL_INPUT) or {}).get("value") or ""
        choice = (((state.get(BlockId.GROUP_CHOICE) or {}).get(ActionId.GROUP_SELECT) or {})
                  .get("selected_option") or {}).get("value") or ""
        group_id = None if choice == group_blocks.NO_GROUP_VALUE else row_id(choice)
        if choice != group_blocks.NO_GROUP_VALUE and group_id is None:
            ack(response_action="errors", errors={BlockId.GROUP_CHOICE: "Choose a group."})
            return
        try:
            done = services.groups.move(services.authorizer.requester(user_id), raw_email, group_id)
        except Exception as exc:  # noqa: BLE001 - shown on the field, nothing changed
            block = BlockId.GROUP_EMAIL if "email" in str(exc) else BlockId.GROUP_CHOICE
            ack(response_action="errors", errors={block: _field_error(exc)})
            return
        ack()
        _after(user_id, done, client)

    def _after(user_id: str, done: str, client) -> None:
        target = Target(user_id=user_id, channel_id=None)

        def work() -> None:
            publish_home(services, client, user_id)
            services.delivery.ephemeral(target, done, [{"type": "section", "text": {
                "type": "mrkdwn", "text": ":white_check_mark: " + done.replace("&", "&amp;").replace("<", "&lt;")
                .replace(">", "&gt;")}}])

        services.submit(errors.guarded(None, work))


def _field_error(exc: Exception) -> str:
    from core.errors import AbacusError

    if isinstance(exc, AbacusError):
        text = str(exc)
        return text[:1].upper() + text[1:]
    return "Something went wrong; nothing was changed."
