"""Who a key belongs to: the key-name pattern, vendor owner data and manual mappings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from core.usage import unmapped_key

# claude_code_key_{first.last}_{suffix}; the suffix is the vendor's short random tag.
KEY_NAME_PATTERN = re.compile(r"^claude_code_key_(?P<local>[a-z0-9][a-z0-9._+-]*?)_(?P<suffix>[a-z0-9]+)$", re.I)
# An apostrophe is common in a local part (o'brien@…) and vendors send such addresses; never in a domain.
EMAIL_PATTERN = re.compile(r"^[^@\s<>\"`,;]+@[^@\s<>\"'`,;]+\.[^@\s<>\"'`,;]+$")


class MappedHow(StrEnum):
    PATTERN = "pattern"  # claude_code_key_first.last_xxxx
    VENDOR = "vendor"  # the vendor says who created the key
    MANUAL = "manual"  # an admin said so (`abacus map`, Slack)


def normalise_email(text: str) -> str:
    """Lower-cased, trimmed email; raises ValueError when it is not one."""
    email = text.strip().strip("<>").lower()
    if email.startswith("mailto:"):
        email = email[len("mailto:"):]
    if "|" in email:  # Slack renders emails as <mailto:a@b.c|a@b.c>
        email = email.split("|", 1)[0]
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        raise ValueError(f"not an email address: {text[:80]!r}")
    return email


def person_matches(needle: str, email: str, name: str | None) -> bool:
    """The `users` text filter (`needle` case-folded): part of the email or the name; a whole
    email address (what `users @person` filters by) is that person only, not every address
    ending with it (ann@ is not joann@)."""
    try:
        whole = normalise_email(needle)
    except ValueError:
        return needle in email.casefold() or needle in (name or "").casefold()
    return email.casefold() == whole


def email_from_key_name(key_name: str | None, domain: str | None) -> str | None:
    """`claude_code_key_jane.doe_ab12` → `jane.doe@DOMAIN` (None without a domain or a match)."""
    if not key_name or not domain:
        return None
    m = KEY_NAME_PATTERN.match(key_name.strip())
    if not m:
        return None
    return f"{m.group('local').lower()}@{domain.strip().lower().lstrip('@')}"


@dataclass(frozen=True, slots=True)
class KeyOwner:
    email: str
    how: MappedHow


class IdentityResolver:
    """Resolves a vendor key (id and/or name) to a person.

    Precedence: a manual mapping beats the vendor's owner data, which beats the name
    pattern. Unresolved keys are reported as `unmapped:<name or id>`.
    """

    def __init__(self, domain: str | None, mappings: dict[str, KeyOwner] | None = None) -> None:
        self.domain = domain
        self._owners: dict[str, KeyOwner] = dict(mappings or {})

    def learn(self, key_ref: str, owner: KeyOwner) -> None:
        current = self._owners.get(key_ref)
        rank = {MappedHow.PATTERN: 0, MappedHow.VENDOR: 1, MappedHow.MANUAL: 2}
        if current is None or rank[owner.how] >= rank[current.how]:
            self._owners[key_ref] = owner

    def owner(self, *, key_id: str | None = None, key_name: str | None = None) -> KeyOwner | None:
        for ref in (key_id, key_name):
            if ref and ref in self._owners:
                return self._owners[ref]
        email = email_from_key_name(key_name, self.domain)
        return KeyOwner(email, MappedHow.PATTERN) if email else None

    def person(self, *, key_id: str | None = None, key_name: str | None = None) -> str:
        found = self.owner(key_id=key_id, key_name=key_name)
        if found:
            return found.email
        return unmapped_key(key_name or key_id or "unknown")
