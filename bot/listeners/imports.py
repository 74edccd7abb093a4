"""Import / Cancel on the preview of a shared CSV (and the HiBob move checkboxes, whose ticks
arrive with the Import click)."""

from __future__ import annotations

from bot.blocks.payloads import SharedFileRef
from bot.ids import ActionId, BlockId
from bot.services.container import Services
from core.errors import InputError

from .errors import ErrorReporter, target_from_body


def _value(body: dict) -> str | None:
    actions = body.get("actions") or [{}]
    return actions[0].get("value") if isinstance(actions[0], dict) else None


def message_location(body: dict) -> tuple[str, str] | None:
    """(channel, ts) of the message the button sits on."""
    container = body.get("container") or {}
    channel, ts = container.get("channel_id"), container.get("message_ts")
    return (channel, ts) if isinstance(channel, str) and isinstance(ts, str) else None


def approved_moves(body: dict) -> set[str] | None:
    """The ticked moves of a HiBob preview (None: the preview had no checkboxes → all moves)."""
    values = ((body.get("state") or {}).get("values") or {})
    groups = [v for k, v in values.items() if isinstance(k, str) and k.startswith(BlockId.IMPORT_MOVES_PREFIX)]
    if not groups:
        message = body.get("message") or {}
        has_boxes = any(isinstance(b, dict) and str(b.get("block_id", "")).startswith(BlockId.IMPORT_MOVES_PREFIX)
                        for b in message.get("blocks") or [])
        return set() if has_boxes and values else None
    ticked: set[str] = set()
    for group in groups:
        state = group.get(ActionId.IMPORT_MOVES) if isinstance(group, dict) else None
        for option in (state or {}).get("selected_options") or []:
            if isinstance(option, dict) and isinstance(option.get("value"), str):
                ticked.add(option["value"])
    return ticked


def register(app, services: Services, errors: ErrorReporter) -> None:
    @app.action(ActionId.IMPORT_CONFIRM)
    def confirm(ack, body, respond):
        ack()
        target = target_from_body(body, respond)

        def work() -> None:
            ref = SharedFileRef.decode(_value(body))
            if ref is None:
                raise InputError("this button has expired; share the file again")
            requester = services.authorizer.requester(target.user_id)
            services.file_imports.confirm(ref, requester, approved_moves=approved_moves(body),
                                          message=message_location(body))

        services.submit(errors.guarded(target, work))

    @app.action(ActionId.IMPORT_CANCEL)
    def cancel(ack, body, respond):
        ack()
        target = target_from_body(body, respond)

        def work() -> None:
            ref = SharedFileRef.decode(_value(body))
            if ref is None:
                raise InputError("this button has expired")
            services.file_imports.cancel(ref, services.authorizer.requester(target.user_id),
                                         message=message_location(body))

        services.submit(errors.guarded(target, work))

    @app.action(ActionId.IMPORT_MOVES)
    def tick(ack):
        ack()  # the ticks are read from the message state when Import is clicked
