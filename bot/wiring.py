"""The composition root: settings → engine (migrated) → services. No import-time side effects."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from bot.config import Settings, load_settings
from core.errors import ConfigError
from storage.db import LOCK_TIMEOUT_S, make_engine, upgrade


@dataclass
class Context:
    settings: Settings
    engine: Engine


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


def open_context(*, migrate: bool = True, settings: Settings | None = None) -> Context:
    """Load and validate the configuration, open the database and bring its schema up to date."""
    settings = settings or load_settings()
    engine = make_engine(settings.database_url, lock_timeout_s=lock_timeout_from_env())
    if migrate:
        upgrade(engine)
    return Context(settings=settings, engine=engine)
