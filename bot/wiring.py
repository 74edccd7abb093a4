"""The composition root: settings → engine (migrated) → services. No import-time side effects."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from bot.config import Settings, load_settings
from storage.db import make_engine, upgrade


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
