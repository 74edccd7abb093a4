"""Settings: a small key → JSON table. What the keys mean and which values are valid is the
caller's business (bot/services/settings.py); this module only stores and reads them."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, select

from storage.tables import Setting, utcnow


def get_setting(*, session: Session, key: str, default: Any = None) -> Any:
    row = session.get(Setting, key)
    if row is None:
        return default
    try:
        return json.loads(row.value)
    except ValueError:
        return default


def all_settings(*, session: Session) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for row in session.exec(select(Setting)):
        try:
            out[row.key] = json.loads(row.value)
        except ValueError:
            continue
    return out


def set_setting(*, session: Session, key: str, value: Any, by: str | None) -> None:
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
