"""People, API keys and their owners."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_, text
from sqlmodel import Session, select

from core.identity import IdentityResolver, KeyOwner, MappedHow, email_from_key_name
from core.usage import Source, unmapped_key
from storage.tables import ApiKey, Person, utcnow
from storage.usage_repo import lock_usage_writes, reattribute


def upsert_person(*, session: Session, email: str, name: str | None = None, **fields) -> Person:
    email = email.lower()
    person = session.exec(select(Person).where(Person.email == email)).first()
    if person is None:
        person = Person(email=email, name=name, **fields)
        session.add(person)
    else:
        if name and not person.name:
            person.name = name
        for k, v in fields.items():
            if v is not None:
                setattr(person, k, v)
        person.updated_at = utcnow()
    session.flush()
    return person


def find_key(*, session: Session, ref: str, source: str = Source.CLAUDE_CODE.value) -> ApiKey | None:
    return session.exec(select(ApiKey).where(ApiKey.source == source)
                        .where(or_(ApiKey.external_id == ref, ApiKey.name == ref))).first()


def upsert_key(*, session: Session, source: str, external_id: str, name: str | None = None,
               owner: KeyOwner | None = None, **fields) -> ApiKey:
    """Record a vendor key; never let a weaker mapping overwrite a manual one."""
    key = session.exec(select(ApiKey).where(ApiKey.source == source, ApiKey.external_id == external_id)).first()
    if key is None:
        key = ApiKey(source=source, external_id=external_id, name=name, **fields)
        session.add(key)
    else:
        if name:
            key.name = name
        for k, v in fields.items():
            if v is not None:
                setattr(key, k, v)
    if owner is not None and key.mapped_how != MappedHow.MANUAL.value:
        key.email, key.mapped_how, key.mapped_at = owner.email, owner.how.value, utcnow()
    session.flush()
    return key


def map_key(*, session: Session, ref: str, email: str, by: str | None,
            source: str = Source.CLAUDE_CODE.value) -> tuple[ApiKey, int]:
    """Manually map a key (id or name) to a person and re-attribute its stored usage.

    Returns the key and the number of usage records that changed owner. The key need not be
    known from the vendor's key list: usage seen under that reference is enough.
    """
    lock_usage_writes(session=session)  # before the owner changes: see storage.usage_repo._apply_key_owners
    key = find_key(session=session, ref=ref, source=source)
    if key is None:
        seen = session.connection().execute(
            text("SELECT 1 FROM usage_event WHERE source = :s AND api_key = :r LIMIT 1"), {"s": source, "r": ref}
        ).first()
        if seen is None:
            raise LookupError(ref)
        key = ApiKey(source=source, external_id=ref, name=None if ref.startswith("apikey_") else ref)
        session.add(key)
    key.email, key.mapped_how, key.mapped_by, key.mapped_at = email, MappedHow.MANUAL.value, by, utcnow()
    session.flush()
    upsert_person(session=session, email=email)
    refs = [r for r in {key.external_id, key.name} if r]
    changed = reattribute(session=session, source=source, key_refs=refs, person=email)
    return key, changed


def known_emails(*, session: Session) -> list[str]:
    """Every email known as a person: from the vendors, the HR file, earlier mappings, or usage."""
    people = set(session.exec(select(Person.email)))
    people.update(p for (p,) in session.connection().execute(text(
        "SELECT DISTINCT person FROM usage_person_total_day WHERE person NOT LIKE 'unmapped:%'")))
    return sorted(people)


def unmap_key(*, session: Session, ref: str, domain: str | None, by: str | None,
              source: str = Source.CLAUDE_CODE.value) -> tuple[ApiKey, str, int]:
    """Undo a manual mapping: the key goes back to the owner the vendor names (its creator), else
    to the name pattern, else to nobody (`unmapped:<name or id>`), and its stored usage follows.
    Returns the key, where its usage now goes, and how many records moved. LookupError: no such
    key; ValueError: the key is not mapped by hand."""
    lock_usage_writes(session=session)
    key = find_key(session=session, ref=ref, source=source)
    if key is None:
        raise LookupError(ref)
    if key.mapped_how != MappedHow.MANUAL.value:
        raise ValueError(ref)
    creator = None
    if key.creator_id:
        creator = session.exec(select(Person).where(Person.anthropic_user_id == key.creator_id)).first()
    pattern = email_from_key_name(key.name, domain)
    if creator is not None:
        key.email, key.mapped_how = creator.email, MappedHow.VENDOR.value
    elif pattern:
        key.email, key.mapped_how = pattern, MappedHow.PATTERN.value
    else:
        key.email, key.mapped_how = None, None
    key.mapped_by, key.mapped_at = by, utcnow()
    session.flush()
    person = key.email or unmapped_key(key.name or key.external_id)
    refs = [r for r in {key.external_id, key.name} if r]
    return key, person, reattribute(session=session, source=source, key_refs=refs, person=person)


def identity_resolver(*, session: Session, domain: str | None, source: str = Source.CLAUDE_CODE.value
                      ) -> IdentityResolver:
    """A resolver loaded with every stored vendor/manual key owner."""
    resolver = IdentityResolver(domain)
    for key in session.exec(select(ApiKey).where(ApiKey.source == source, ApiKey.email.is_not(None))):
        owner = KeyOwner(key.email, MappedHow(key.mapped_how or MappedHow.VENDOR.value))
        for ref in (key.external_id, key.name):
            if ref:
                resolver.learn(ref, owner)
    return resolver


@dataclass(slots=True)
class UnmappedKey:
    source: str
    key: str
    name: str | None
    records: int
    cost_nanos: int
    total_tokens: int
    first_day: date
    last_day: date


def unmapped_keys(*, session: Session) -> list[UnmappedKey]:
    """Keys with usage but no owner, most expensive first (read from the per-person rollup,
    where unattributed usage is keyed `unmapped:<key name or id>`)."""
    rows = session.connection().execute(text(
        "SELECT source, person, SUM(records), SUM(cost_nanos), "
        "SUM(input_tokens + cache_write_tokens + cache_read_tokens + output_tokens), MIN(day), MAX(day) "
        "FROM usage_person_day WHERE person LIKE 'unmapped:%' "
        "GROUP BY source, person ORDER BY SUM(cost_nanos) DESC, person")).all()
    names = {k.external_id: k.name for k in session.exec(select(ApiKey))}
    out = []
    for source, person, n, cost, tokens, first, last in rows:
        key = person.removeprefix("unmapped:")
        out.append(UnmappedKey(source=source, key=key, name=names.get(key), records=int(n), cost_nanos=int(cost or 0),
                               total_tokens=int(tokens or 0), first_day=_d(first), last_day=_d(last)))
    return out


def _d(v) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def people_count(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(Person)).one()
