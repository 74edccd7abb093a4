"""State-changing services: key mapping and on-demand sync. Each checks the admin role itself,
so no entry point (slash command, button, modal) can skip it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from core.errors import InputError, RuntimeFailure
from core.identity import normalise_email
from storage.db import session_scope
from storage.people_repo import map_key

from .authz import Requester, Role, require

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MapResult:
    key: str
    email: str
    changed: int


@dataclass(slots=True)
class SyncOutcome:
    ok: bool
    lines: list[str] = field(default_factory=list)


# (start, end, trigger) → outcome; None when no sync is built into this deployment
SyncRunner = Callable[[date | None, date | None, str], SyncOutcome]


class AdminService:
    def __init__(self, engine, *, sync_runner: SyncRunner | None) -> None:
        self._engine = engine
        self._sync_runner = sync_runner

    def map_key(self, requester: Requester, key: str, email: str, *, source: str = "claude_code") -> MapResult:
        require(requester, Role.ADMIN)
        try:
            email = normalise_email(email)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        key = key.strip()
        if not key or len(key) > 255 or any(ord(ch) < 32 for ch in key):
            raise InputError("the key must be a key id (apikey_…) or a key name")
        try:
            with session_scope(self._engine) as session:
                stored, changed = map_key(session=session, ref=key, email=email, by=requester.label, source=source)
                label = stored.name or stored.external_id
        except LookupError:
            raise InputError(f"no key {key[:80]!r} is known and no usage was seen under it; "
                             "see `/abacus unmapped`") from None
        log.info("key %s mapped to %s by %s (%d records)", label, email, requester.user_id, changed)
        return MapResult(key=label, email=email, changed=changed)

    def sync(self, requester: Requester, start: date | None, end: date | None) -> SyncOutcome:
        require(requester, Role.ADMIN)
        if self._sync_runner is None:
            raise RuntimeFailure("sync is not configured here (set ANTHROPIC_ADMIN_KEY and/or CURSOR_ADMIN_KEY)")
        return self._sync_runner(start, end, "slack")
