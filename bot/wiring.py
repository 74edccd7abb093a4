"""The composition root: settings → engine (migrated) → services, and the alert sender that the
bot and `abacus detect` share. No import-time side effects, and light to import: SQLAlchemy is
loaded by `open_context`, not by `open_reader` (the bare-driver reads of `abacus report`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.config import DEFAULT_DATABASE_URL, Settings, environment, load_settings
from core.errors import ConfigError, RuntimeFailure
from storage.dbapi import LOCK_TIMEOUT_S, DriverRows, NoSchema, Rows

if TYPE_CHECKING:  # the CLI imports this module: Slack, chart and SQL libraries load only when used
    from slack_sdk import WebClient
    from sqlalchemy.engine import Engine

    from bot.services.alerting import AlertSender
    from bot.services.reports import ReportService

ALERT_TIMEOUT = 15  # seconds per alert post: a slow Slack is retried from the outbox, not waited for


@dataclass
class Context:
    settings: Settings
    engine: Engine


def no_usage_note(ctx: Context | DriverRows) -> str | None:
    """Read-only commands: what to say (on stderr) when an Abacus database holds no usage yet. The
    answer itself is still given — an empty report is a report (exit 0), so that a script checking
    that nothing was written reads zeros instead of a failure."""
    from storage.rollup_sql import rows_of

    if isinstance(ctx, Context):
        from storage.db import describe_location, read_scope

        with read_scope(ctx.engine) as conn:
            return _no_usage_note(rows_of(conn), describe_location(ctx.engine))
    return _no_usage_note(ctx, ctx.location)


def _no_usage_note(db: Rows, location: str) -> str | None:
    if db.rows("SELECT 1 FROM usage_event LIMIT 1", {}):
        return None
    return (f"the database at {location} holds no usage yet: fill it with `abacus backfill --days 30` "
            "(or `abacus demo`), or set DATABASE_URL")


def _no_database(location: str, settings: Settings) -> RuntimeFailure:
    default = (" — the default, relative to the working folder"
               if settings.database_url.strip() == DEFAULT_DATABASE_URL else "")
    return RuntimeFailure(f"no Abacus database at {location}{default}: run from the folder that holds it, set "
                          "DATABASE_URL, or fill one with `abacus backfill --days 30` or `abacus demo`")


def lock_timeout_from_env() -> float:
    """ABACUS_DB_LOCK_TIMEOUT: seconds a statement waits for a Postgres lock (default 15)."""
    raw = environment().get("ABACUS_DB_LOCK_TIMEOUT", "").strip()
    if not raw:
        return LOCK_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError("ABACUS_DB_LOCK_TIMEOUT: not a number of seconds") from None
    if not 0.1 <= value <= 3600:
        raise ConfigError("ABACUS_DB_LOCK_TIMEOUT: must be between 0.1 and 3600 seconds")
    return value


def open_context(*, migrate: bool = True, settings: Settings | None = None, existing: bool = False,
                 ingest: bool = False) -> Context:
    """Load and validate the configuration, open the database and bring its schema up to date.

    `existing=True` (read-only commands): the database must already hold an Abacus schema —
    nothing is created where DATABASE_URL points (a relative SQLite path is relative to the
    working folder: run from another folder, and it names a file that is not there)."""
    from storage.db import describe_location, has_schema, make_engine, upgrade

    settings = settings or load_settings()
    engine = make_engine(settings.database_url, lock_timeout_s=lock_timeout_from_env(), ingest=ingest)
    if existing and not has_schema(engine):
        engine.dispose()
        raise _no_database(describe_location(engine), settings)
    if migrate:
        upgrade(engine)
    return Context(settings=settings, engine=engine)


def open_reader(settings: Settings | None = None) -> DriverRows | None:
    """Read-only commands (`abacus report`) on an Abacus database at the newest schema revision:
    a bare sqlite3 / psycopg connection, without SQLAlchemy's import time. The same checks and
    sentences as `open_context(existing=True)`; None where that path must decide (a schema to
    migrate or from a newer Abacus, a URL form SQLAlchemy reads its own way)."""
    from storage.dbapi import connect_current

    settings = settings or load_settings()
    try:
        return connect_current(settings.database_url, lock_timeout_s=lock_timeout_from_env())
    except NoSchema as exc:
        raise _no_database(exc.location, settings) from None


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
