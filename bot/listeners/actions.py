"""Buttons and menus: the `users` table pager, settings and key-mapping modals, Home refresh, sending
failed alert messages again."""

from __future__ import annotations

import logging

from bot.blocks import admin as admin_blocks
from bot.blocks.payloads import KeyRef, UsersPage
from bot.blocks.reports import users_page_from_block_id
from bot.ids import ActionId, BlockId
from bot.services import backtest as backtest_preview
from bot.services.authz import Role, require
from bot.services.container import Services
from core.errors import InputError
from core.periods import utc_today

from .errors import ErrorReporter, target_from_body
from .events import publish_home

log = logging.getLogger(__name__)


def _action(body: dict) -> dict:
    actions = body.get("actions") or [{}]
    return actions[0] if isinstance(actions[0], dict) else {}


def register(app, services: Services, errors: ErrorReporter) -> None:
    def page_turn(ack, body, respond):
        ack()
        target = target_from_body(body, respond)

        def work() -> None:
            page = UsersPage.decode(_action(body).get("value"))
            if page is None:
                raise InputError("this button has expired; run `/abacus users` again")
            requester = services.authorizer.requester(target.user_id)
            services.delivery.replace(target, services.commands.users_page(page, requester))

        services.submit(errors.guarded(target, work))

    app.action(ActionId.USERS_PREV)(page_turn)
    app.action(ActionId.USERS_NEXT)(page_turn)

    @app.action(ActionId.USERS_SORT)
    def sort_users(ack, body, respond):
        ack()
        target = target_from_body(body, respond)

        def work() -> None:
            action = _action(body)
            block_id = action.get("block_id")
            page = users_page_from_block_id(block_id)
            if page is None and isinstance(block_id, str) and block_id.startswith(f"{BlockId.USERS_NAV}:"):
                # a state cut short (older messages): re-sorting the team's default view would be wrong
                raise InputError("this menu has expired; run `/abacus users` again")
            page = page or UsersPage()
            choice = ((action.get("selected_option") or {}).get("value") or "spend:desc").split(":")
            page = UsersPage(period=page.period, sort=choice[0], descending=choice[-1] != "asc", query=page.query,
                             offset=0)
            requester = services.authorizer.requester(target.user_id)
            services.delivery.replace(target, services.commands.users_page(page, requester))

        services.submit(errors.guarded(target, work))

    # Modals must open within ~3 s of the click (trigger_id expiry): done here, not in the pool.
    @app.action(ActionId.SETTINGS_EDIT)
    def edit_settings(ack, body, client, respond):
        ack()
        target = target_from_body(body, respond)
        try:
            require(services.authorizer.requester(target.user_id), Role.ADMIN)
            values = services.settings.values()
            opened = client.views_open(trigger_id=body["trigger_id"], view=admin_blocks.settings_modal(values))
        except Exception as exc:  # noqa: BLE001 - the one error handler answers
            errors.report(exc, target)
            return
        # the backtest of the current values follows (the modal had to open within the trigger's 3 s)
        view_id = (opened.get("view") or {}).get("id")
        services.submit(errors.guarded(None, lambda: _show_backtest(client, view_id, values)))

    @app.action(ActionId.SETTINGS_PREVIEW)
    def preview_settings(ack, body, client):
        """Backtest the values typed into the modal (nothing is saved)."""
        ack()
        target = target_from_body(body)
        view = body.get("view") or {}

        def work() -> None:
            require(services.authorizer.requester(target.user_id), Role.ADMIN)
            state = (view.get("state") or {}).get("values") or {}
            raw = {block_id[len(BlockId.SETTING_PREFIX):]: (actions.get(ActionId.SETTING_INPUT) or {}).get("value")
                   for block_id, actions in state.items()
                   if block_id.startswith(BlockId.SETTING_PREFIX) and isinstance(actions, dict)}
            values, problems = services.settings.parse(raw)
            if problems:
                text = ":warning: Fix these first: " + "; ".join(f"{k}: {v}" for k, v in problems.items())
                client.views_update(view_id=view["id"], view=admin_blocks.settings_modal(values, backtest=text))
                return
            _show_backtest(client, view.get("id"), values)

        services.submit(errors.guarded(None, work))

    def _show_backtest(client, view_id: str | None, values: dict) -> None:
        if not view_id:
            return
        summary = backtest_preview.summarise(services.engine, values, today=utc_today())
        client.views_update(view_id=view_id, view=admin_blocks.settings_modal(
            values, backtest=backtest_preview.describe(summary)))

    @app.action(ActionId.KEY_MAP)
    def map_key_button(ack, body, client, respond):
        ack()
        target = target_from_body(body, respond)
        try:
            ref = KeyRef.decode(_action(body).get("value"))
            if ref is None:
                raise InputError("this button has expired; open the App Home again")
            require(services.authorizer.requester(target.user_id), Role.ADMIN)
            client.views_open(trigger_id=body["trigger_id"], view=admin_blocks.map_key_modal(ref))
        except Exception as exc:  # noqa: BLE001 - the one error handler answers
            errors.report(exc, target)

    @app.action(ActionId.HOME_REFRESH)
    def refresh_home(ack, body, client):
        ack()
        target = target_from_body(body)
        services.submit(errors.guarded(target, lambda: publish_home(services, client, target.user_id)))

    @app.action(ActionId.ALERTS_RETRY)
    def retry_alerts(ack, body, client):
        """Send again the alert messages given up on (admins), then show the Home as it is now."""
        ack()
        target = target_from_body(body)

        def work() -> None:
            retried = services.home.retry_failed_deliveries(services.authorizer.requester(target.user_id))
            log.info("alert messages given up on, due again: %d (by %s)", retried, target.user_id)
            publish_home(services, client, target.user_id)

        services.submit(errors.guarded(target, work))
