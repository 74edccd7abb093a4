"""HiBob people directory export → `DirectoryEntry` per person (Email and Department required;
Group, Team, Display name and Job title optional). The group rules are in `core.groups`."""

from __future__ import annotations

from dataclasses import dataclass

from core.importers.formats import Layout
from core.importers.reader import RowProblem, guarded
from core.importers.values import email, safe_text


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    row: int
    email: str
    department: str
    group: str = ""
    team: str = ""
    display_name: str = ""
    job_title: str = ""


class HiBobImporter:
    def __init__(self, layout: Layout, *, header: list[str]) -> None:
        self._c = layout.columns
        self._names = {k: header[i].strip() for k, i in self._c.items()}
        self._first_row: dict[str, int] = {}
        self._row = 1

    def _text(self, cells: list[str], logical: str, *, required: bool = False) -> str:
        i = self._c.get(logical)
        raw = "" if i is None else cells[i]
        # " > " separates a group from its team in group names: not allowed inside one
        value = guarded(self._names.get(logical, logical), raw,
                        lambda t: safe_text(t, what=logical.replace("_", " "), limit=120, required=required))
        if logical in ("department", "group", "team") and ">" in value:
            raise RowProblem(self._names.get(logical, logical), raw, "'>' separates a group from its team; "
                                                                     "it cannot be part of a name")
        return " ".join(value.split())

    def convert(self, cells: list[str]) -> DirectoryEntry:
        self._row += 1
        address = guarded(self._names["email"], cells[self._c["email"]], email)
        first = self._first_row.get(address)
        if first is not None:
            raise RowProblem(self._names["email"], address, f"listed twice (first on row {first})")
        self._first_row[address] = self._row
        return DirectoryEntry(row=self._row, email=address, department=self._text(cells, "department", required=True),
                              group=self._text(cells, "group"), team=self._text(cells, "team"),
                              display_name=self._text(cells, "display_name"), job_title=self._text(cells, "job_title"))
