"""Settings: a small key → JSON table. What the keys mean and which values are valid is the
caller's business (bot/services/settings.py); this module only stores and reads them."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlmodel import Session


def get_setting(*, session: Session, key: str, default: Any = None) -> Any:
    from storage.tables import Setting

    row = session.get(Setting, key)
    if row is None:
        return default
    try:
        return json.loads(row.value)
    except ValueError:
        return default


def all_settings(*, session: Session) -> dict[str, Any]:
    """Every stored setting (plain SQL: detection reads these on start-up, and the table models
    cost more to import than the query takes)."""
    out: dict[str, Any] = {}
    for key, value in session.connection().execute(text("SELECT key, value FROM setting")):
        try:
            out[str(key)] = json.loads(value)
        except (TypeError, ValueError):
            continue
    return out


def set_setting(*, session: Session, key: str, value: Any, by: str | None) -> None:
    from storage.tables import Setting, utcnow

    """Store one value (JSON-encodable); `None` deletes the key."""
    row = session.get(Setting, key)
    if value is None:
        if row is not None:
            session.delete(row)
        session.flush()
        return
    encoded = json.dumps(value, sort_keys=True)
    if row is None:
        session.add(Setting(key=key, value=encoded, updated_by=by, updated_at=utcnow()))
    else:
        row.value, row.updated_by, row.updated_at = encoded, by, utcnow()
    session.flush()
