"""Stored values made uniform across the databases: SQLite returns times as text and naive,
Postgres as aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, aware UTC (the default of the tables' time columns)."""
    return datetime.now(UTC)


def aware(value) -> datetime | None:
    """A stored time (a datetime, or SQLite's ISO text) as an aware UTC datetime; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
