"""Small typed payloads carried in button values and modal `private_metadata`.

Encoded as compact JSON with a version; decoding is tolerant (missing fields take defaults,
unknown fields are ignored, junk gives None) so old messages stay clickable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from core.incidents import snooze_choice

VALUE_MAX = 2000


def _load(raw: str | None) -> dict | None:
    if not raw or len(raw) > VALUE_MAX * 2:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True, slots=True)
class UsersPage:
    """Where a `users` pivot page is: period text, sort, filter, offset."""

    period: str = "30d"
    sort: str = "spend"
    descending: bool = True
    query: str = ""
    offset: int = 0
    group: str = ""  # a `group:NAME` filter

    def encode(self) -> str:
        data = {"v": 1, "p": self.period, "s": self.sort, "d": int(self.descending), "q": self.query[:200],
                "o": self.offset}
        if self.group:
            data["g"] = self.group[:255]
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def decode(cls, raw: str | None) -> UsersPage | None:
        data = _load(raw)
        if data is None:
            return None
        try:
            return cls(period=str(data.get("p") or "30d")[:40], sort=str(data.get("s") or "spend")[:20],
                       descending=bool(int(data.get("d", 1))), query=str(data.get("q") or "")[:200],
                       offset=max(0, min(int(data.get("o") or 0), 1_000_000)), group=str(data.get("g") or "")[:255])
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class KeyRef:
    """An API key to map: its source and its id or name."""

    source: str
    key: str

    def encode(self) -> str:
        return json.dumps({"v": 1, "src": self.source, "k": self.key[:255]}, separators=(",", ":"),
                          ensure_ascii=False)

    @classmethod
    def decode(cls, raw: str | None) -> KeyRef | None:
        data = _load(raw)
        if data is None:
            return None
        key = data.get("k")
        source = data.get("src") or data.get("source") or "claude_code"
        if not isinstance(key, str) or not key or not isinstance(source, str):
            return None
        return cls(source=source[:32], key=key[:255])


ROW_ID_MAX = 2**31 - 1  # the tables' integer keys (Postgres `integer`): a larger number names no row


def row_id(value: object) -> int | None:
    """A row id (incident, group) written as an int or as ASCII digits, within the key's range;
    anything else (a bool, `4²`, Arabic-Indic digits, a 24-digit number) names no row."""
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit() and len(value) <= 10):
            return None
        value = int(value)
    if type(value) is not int or not 0 <= value <= ROW_ID_MAX:
        return None
    return value


def incident_id(raw: str | None) -> int | None:
    """The incident a button refers to: a bare id (`"42"`) or `{"id": 42}`."""
    if raw is None:
        return None
    number = row_id(raw)
    if number is not None:
        return number
    data = _load(raw.strip())
    if data is not None:
        return row_id(data["id"] if "id" in data else data.get("incident_id"))
    return None


@dataclass(frozen=True, slots=True)
class IncidentRef:
    """What an incident button or snooze option carries: the incident, and for a snooze option
    the duration (a key of core.incidents.SNOOZE_CHOICES)."""

    id: int
    snooze: str | None = None

    def encode(self) -> str:
        if self.snooze is None:
            return str(self.id)  # a bare id: what the first alert buttons carried
        return json.dumps({"v": 1, "id": self.id, "for": self.snooze}, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | None) -> IncidentRef | None:
        """Tolerant of older and hand-made shapes: `{"id": 7, "for": "4h"}`, `{"incident_id": 7,
        "snooze": "4 h"}`, a bare `7`, or `7:4h` / `7|4h`."""
        if isinstance(raw, str) and not raw.strip().startswith("{"):
            head, sep, tail = raw.strip().replace("|", ":").partition(":")
            if sep:
                number = incident_id(head)
                return None if number is None else cls(id=number, snooze=snooze_choice(tail))
        number = incident_id(raw)
        if number is None:
            return None
        data = _load(raw.strip()) if raw and raw.strip().startswith("{") else None
        snooze = (data or {}).get("for") or (data or {}).get("snooze")
        return cls(id=number, snooze=snooze_choice(snooze[:20]) if isinstance(snooze, str) else None)


@dataclass(frozen=True, slots=True)
class SharedFileRef:
    """The shared file an import preview's buttons act on (Slack file id)."""

    file_id: str

    def encode(self) -> str:
        return json.dumps({"v": 1, "f": self.file_id}, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | None) -> SharedFileRef | None:
        data = _load(raw)
        if data is None:
            return None
        file_id = data.get("f")
        if not isinstance(file_id, str) or not file_id or len(file_id) > 32 or not file_id.isalnum():
            return None
        return cls(file_id=file_id)
