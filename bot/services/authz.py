"""Who may see and change what.

- everyone: `help`, `me`, and their own `user` page;
- viewers (the `viewers` setting, or Person.role viewer/admin) and admins: team-wide views;
- admins: everything that changes state (`map`, `sync`, settings changes).

Admins are the `ABACUS_ADMINS` entries plus the `admins` setting plus people whose role is
`admin` — but only while `ABACUS_ADMINS` is set: unset, nobody may change anything (the
setting alone cannot grant what the operator never granted). Entries are Slack user ids or
emails; a requester's email comes from `users.info` (cached).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum

from core.errors import PermissionDenied
from storage import analytics_repo
from storage.db import session_scope

from .grammar import Command, Sub

log = logging.getLogger(__name__)


class Role(IntEnum):
    MEMBER = 0
    VIEWER = 1
    ADMIN = 2


@dataclass(frozen=True, slots=True)
class Requester:
    user_id: str
    email: str | None
    role: Role
    name: str | None = None

    @property
    def label(self) -> str:
        """Who did it, for audit columns (`mapped_by`, `updated_by`)."""
        return f"slack:{self.user_id}" + (f" ({self.email})" if self.email else "")


def _matches(entries: Iterable[str], user_id: str, email: str | None) -> bool:
    wanted = {e.strip().lower() for e in entries if e and e.strip()}
    return user_id.lower() in wanted or (email is not None and email.lower() in wanted)


def decide_role(*, user_id: str, email: str | None, env_admins: Iterable[str], setting_admins: Iterable[str] = (),
                setting_viewers: Iterable[str] = (), person_role: str | None = None) -> Role:
    """The pure rule (see the module docstring)."""
    env_admins = list(env_admins)
    if env_admins and (_matches(env_admins, user_id, email) or _matches(setting_admins, user_id, email)
                       or person_role == "admin"):
        return Role.ADMIN
    if person_role in ("viewer", "admin") or _matches(setting_viewers, user_id, email):
        return Role.VIEWER
    return Role.MEMBER


# What each subcommand needs. `user` on oneself is allowed to members (checked in `authorize`).
REQUIRED: dict[Sub, Role] = {
    Sub.HELP: Role.MEMBER,
    Sub.ME: Role.MEMBER,
    Sub.USER: Role.VIEWER,
    Sub.DASHBOARD: Role.VIEWER,
    Sub.TOP: Role.VIEWER,
    Sub.MODELS: Role.VIEWER,
    Sub.USERS: Role.VIEWER,
    Sub.GROUPS: Role.VIEWER,
    Sub.ADOPTION: Role.VIEWER,
    Sub.FORECAST: Role.VIEWER,
    Sub.INCIDENTS: Role.VIEWER,
    Sub.EXPORT: Role.VIEWER,
    Sub.UNMAPPED: Role.VIEWER,
    Sub.SETTINGS: Role.VIEWER,
    Sub.MAP: Role.ADMIN,
    Sub.SYNC: Role.ADMIN,
}

REFUSALS = {
    Role.VIEWER: "Only Abacus admins and viewers can see team-wide figures; `/abacus me` shows yours.",
    Role.ADMIN: "Only Abacus admins can do that.",
}


def require(requester: Requester, needed: Role) -> None:
    if requester.role < needed:
        raise PermissionDenied(REFUSALS[needed])


def authorize(requester: Requester, command: Command) -> None:
    """Raise PermissionDenied (one sentence, nothing changed) when the requester may not run it."""
    needed = REQUIRED[command.sub]
    if command.sub is Sub.USER and requester.role < Role.VIEWER:
        own = (command.target_user_id == requester.user_id
               or (command.target_email is not None and command.target_email == requester.email))
        if own:
            return
    require(requester, needed)


class UserDirectory:
    """Slack user id → (email, display name) through `users.info`, cached for `ttl` seconds.

    A failed lookup (missing scope, deleted user, Slack down) caches "unknown" for a short
    while and never raises: permissions then fall back to the id alone.
    """

    def __init__(self, lookup: Callable[[str], dict], *, ttl: float = 600.0, negative_ttl: float = 60.0) -> None:
        self._lookup = lookup
        self._ttl, self._negative_ttl = ttl, negative_ttl
        self._cache: dict[str, tuple[float, str | None, str | None]] = {}
        self._lock = threading.Lock()

    def get(self, user_id: str) -> tuple[str | None, str | None]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(user_id)
        if hit and hit[0] > now:
            return hit[1], hit[2]
        email = name = None
        ok = True
        try:
            user = self._lookup(user_id) or {}
            profile = user.get("profile") or {}
            raw = profile.get("email")
            email = raw.strip().lower() if isinstance(raw, str) and raw.strip() else None
            name = profile.get("real_name") or user.get("real_name") or user.get("name")
        except Exception as exc:  # noqa: BLE001 - a directory failure must not break permissions
            ok = False
            log.warning("users.info failed for %s: %s", user_id, type(exc).__name__)
        with self._lock:
            self._cache[user_id] = (now + (self._ttl if ok else self._negative_ttl), email, name)
        return email, name

    def email(self, user_id: str) -> str | None:
        return self.get(user_id)[0]


class Authorizer:
    """Resolves a Slack user into a `Requester` with a role."""

    def __init__(self, *, engine, env_admins: list[str], directory: UserDirectory,
                 load_lists: Callable[[], tuple[list[str], list[str]]]) -> None:
        self._engine = engine
        self._env_admins = env_admins
        self._directory = directory
        self._load_lists = load_lists

    def requester_without_database(self, user_id: str) -> Requester:
        """Who is asking, from ABACUS_ADMINS and the Slack directory alone — for answers that must
        not wait for the database (`help`): admins and viewers set in settings count as members."""
        email, name = self._directory.get(user_id)
        role = decide_role(user_id=user_id, email=email, env_admins=self._env_admins)
        return Requester(user_id=user_id, email=email, role=role, name=name)

    def requester(self, user_id: str) -> Requester:
        email, name = self._directory.get(user_id)
        setting_admins, setting_viewers = self._load_lists()
        with session_scope(self._engine) as session:
            person = analytics_repo.find_person(session=session, email=email, slack_user_id=user_id)
        if email is None and person is not None:
            email = person.email
        role = decide_role(user_id=user_id, email=email, env_admins=self._env_admins, setting_admins=setting_admins,
                           setting_viewers=setting_viewers, person_role=person.role if person else None)
        return Requester(user_id=user_id, email=email, role=role, name=name or (person.name if person else None))
