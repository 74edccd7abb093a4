"""The composition root: settings → engine (migrated) → services. No import-time side effects."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from bot.config import Settings, load_settings
from core.errors import ConfigError, RuntimeFailure
from storage.db import LOCK_TIMEOUT_S, describe_location, has_schema, make_engine, upgrade


@dataclass
class Context:
    settings: Settings
    engine: Engine


DEFAULT_DATABASE_URL = "sqlite:///abacus.db"


def require_usage(ctx: Context) -> None:
    """Read-only commands: an Abacus database without any usage says so, instead of reporting $0.00."""
    from sqlalchemy import text

    with ctx.engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM usage_event LIMIT 1")).first() is None:
            raise RuntimeFailure(f"the database at {describe_location(ctx.engine)} holds no usage yet: fill it "
                                 "with `abacus backfill --days 30` (or `abacus demo`), or set DATABASE_URL")


def lock_timeout_from_env() -> float:
    """ABACUS_DB_LOCK_TIMEOUT: seconds a statement waits for a Postgres lock (default 15)."""
    raw = os.environ.get("ABACUS_DB_LOCK_TIMEOUT", "").strip()
    if not raw:
        return LOCK_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError("ABACUS_DB_LOCK_TIMEOUT: not a number of seconds") from None
    if not 0.1 <= value <= 3600:
        raise ConfigError("ABACUS_DB_LOCK_TIMEOUT: must be between 0.1 and 3600 seconds")
    return value


def open_context(*, migrate: bool = True, settings: Settings | None = None, existing: bool = False) -> Context:
    """Load and validate the configuration, open the database and bring its schema up to date.

    `existing=True` (read-only commands): the database must already hold an Abacus schema —
    nothing is created where DATABASE_URL points (a relative SQLite path is relative to the
    working folder: run from another folder, and it names a file that is not there)."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url, lock_timeout_s=lock_timeout_from_env())
    if existing and not has_schema(engine):
        engine.dispose()
        default = (" — the default, relative to the working folder"
                   if settings.database_url.strip() == DEFAULT_DATABASE_URL else "")
        raise RuntimeFailure(f"no Abacus database at {describe_location(engine)}{default}: run from the folder "
                             "that holds it, set DATABASE_URL, or fill one with `abacus backfill --days 30` or "
                             "`abacus demo`")
    if migrate:
        upgrade(engine)
    return Context(settings=settings, engine=engine)
