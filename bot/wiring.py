"""The composition root: settings → engine (migrated) → services, and the alert sender that the
bot and `abacus detect` share. No import-time side effects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from bot.config import Settings, load_settings
from storage.db import make_engine, upgrade

if TYPE_CHECKING:  # the CLI imports this module: Slack and chart libraries load only when used
    from slack_sdk import WebClient

    from bot.services.alerting import AlertSender
    from bot.services.reports import ReportService

ALERT_TIMEOUT = 15  # seconds per alert post: a slow Slack is retried from the outbox, not waited for


@dataclass
class Context:
    settings: Settings
    engine: Engine


def open_context(*, migrate: bool = True, settings: Settings | None = None) -> Context:
    """Load and validate the configuration, open the database and bring its schema up to date."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    return Context(settings=settings, engine=engine)


def make_delivery_client(settings: Settings) -> WebClient:
    """The WebClient that posts alerts: no retry handlers of its own — the outbox retries (429
    after Retry-After, 5xx and timeouts with backoff) and checks for a post that went through."""
    from slack_sdk import WebClient

    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(token=token, base_url=settings.slack_api_url, timeout=ALERT_TIMEOUT, retry_handlers=[])


def make_sender(ctx: Context, client: WebClient | None, reports: ReportService | None = None) -> AlertSender | None:
    """The outbox sender this process runs, or None when there is nowhere to deliver to (no Slack
    tokens or alert channel, and no email)."""
    from bot.services.alerting import AlertSender
    from bot.services.digest import DigestService
    from bot.services.email import SmtpConfig, SmtpEmailChannel
    from bot.services.incidents import RepoIncidentStore
    from bot.services.reports import ReportService
    from bot.services.settings import NUDGE_SETTING, SettingsService

    settings = ctx.settings
    settings.require_email()
    email = None
    if settings.email_configured:
        email = SmtpEmailChannel(SmtpConfig.from_url(settings.smtp_url.get_secret_value(),
                                                     sender=settings.alert_email_from,
                                                     recipients=settings.alert_email_to))
    if client is None and email is None:
        return None
    settings_service = SettingsService(ctx.engine)
    digest = DigestService(ctx.engine, reports or ReportService(ctx.engine), settings_service)
    return AlertSender(ctx.engine, client, channel=settings.alert_channel, store=RepoIncidentStore(), email=email,
                       digest=digest.render, nudge=lambda: bool(settings_service.values().get(NUDGE_SETTING)),
                       lease=timedelta(seconds=settings.alert_lease_seconds), backoff=settings.alert_backoff_seconds)
