"""Group management from Slack (App Home): create, rename, move a person. Admins only; every
change is validated first (core.groups.valid_group_name, core.identity.normalise_email)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from core.errors import InputError
from core.groups import valid_group_name
from core.identity import normalise_email
from storage import groups_repo
from storage.db import session_scope

from .authz import Requester, Role, require


class GroupAdmin:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self) -> list[groups_repo.GroupRow]:
        with session_scope(self._engine) as s:
            return groups_repo.list_groups(session=s)

    def get(self, group_id: int) -> groups_repo.GroupRow | None:
        return next((g for g in self.list() if g.id == group_id), None)

    def save_name(self, requester: Requester, group_id: int | None, raw: str) -> str:
        """Create (no id) or rename; returns what happened. InputError for a bad or taken name."""
        require(requester, Role.ADMIN)
        try:
            name = valid_group_name(raw)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        with session_scope(self._engine) as s:
            try:
                if group_id is None:
                    groups_repo.create_group(session=s, name=name)
                    return f"Created group {name}"
                old, new = groups_repo.rename_group(session=s, group_id=group_id, name=name)
                return f"Renamed group {old} to {new}"
            except ValueError as exc:
                raise InputError(str(exc)) from None
            except LookupError:
                raise InputError("that group no longer exists; open the App Home again") from None

    def move(self, requester: Requester, raw_email: str, group_id: int | None) -> str:
        require(requester, Role.ADMIN)
        try:
            email = normalise_email(raw_email)
        except ValueError:
            raise InputError("that is not an email address") from None
        with session_scope(self._engine) as s:
            try:
                before, after = groups_repo.assign_person(session=s, email=email, group_id=group_id)
            except LookupError:
                raise InputError("that group no longer exists; open the App Home again") from None
        return f"Moved {email}: {before or '(no group)'} → {after or '(no group)'}"
