"""Groups managed by hand (App Home): list, create, rename, move a person. Directory imports
write through storage.import_repo.apply_group_plan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, text
from sqlmodel import Session, select

from storage.tables import BillingGroup, Person, utcnow


@dataclass(frozen=True, slots=True)
class GroupRow:
    id: int
    name: str
    source: str
    members: int


def list_groups(*, session: Session) -> list[GroupRow]:
    rows = session.connection().execute(text(
        "SELECT g.id, g.name, g.source, COUNT(p.id) FROM billing_group g LEFT JOIN person p ON p.group_id = g.id "
        "AND p.is_removed = :no GROUP BY g.id, g.name, g.source ORDER BY g.name"), {"no": False})
    return [GroupRow(int(i), str(n), str(s), int(m)) for i, n, s, m in rows]


def _taken(session: Session, name: str, but: int | None = None) -> bool:
    q = select(BillingGroup.id).where(func.lower(BillingGroup.name) == name.lower())
    if but is not None:
        q = q.where(BillingGroup.id != but)
    return session.exec(q).first() is not None


def create_group(*, session: Session, name: str) -> BillingGroup:
    """A new manual group; ValueError when the name is taken (in any letter case)."""
    if _taken(session, name):
        raise ValueError(f"a group named {name!r} already exists")
    group = BillingGroup(name=name, source="manual")
    session.add(group)
    session.flush()
    return group


def rename_group(*, session: Session, group_id: int, name: str) -> tuple[str, str]:
    """(old name, new name); LookupError for an unknown group, ValueError for a taken name."""
    group = session.get(BillingGroup, group_id)
    if group is None:
        raise LookupError(group_id)
    if _taken(session, name, but=group_id):
        raise ValueError(f"a group named {name!r} already exists")
    old = group.name
    group.name = name
    session.add(group)
    session.flush()
    return old, name


def assign_person(*, session: Session, email: str, group_id: int | None) -> tuple[str | None, str | None]:
    """Put a person in a group (None: no group), creating the person if unknown; (from, to) names."""
    group = None
    if group_id is not None:
        group = session.get(BillingGroup, group_id)
        if group is None:
            raise LookupError(group_id)
    person = session.exec(select(Person).where(Person.email == email)).first()
    before = None
    if person is None:
        person = Person(email=email)
    elif person.group_id is not None:
        old = session.get(BillingGroup, person.group_id)
        before = old.name if old else None
    person.group_id = group.id if group else None
    person.updated_at = utcnow()
    session.add(person)
    session.flush()
    return before, group.name if group else None
