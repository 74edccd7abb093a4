"""Set-based writes of small entity tables (people, activity, spend, groups, keys): one SELECT of
what is stored, then at most one INSERT, one UPDATE and one DELETE statement for the whole batch
(`executemany`), never a query and a flush per row.

    plan = reconcile(conn, table, key=("person", "natural_key"), rows=[{...}, ...],
                     stored=load(conn, table, table.c.day == day))
    apply(conn, table, plan)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.engine import Connection

IN_CHUNK = 500  # values per `IN (…)`: far below every driver's bound-parameter limit


@dataclass(slots=True)
class Plan:
    """What a batch changes: rows to insert, (id, changed values) to update, ids to delete."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.inserts or self.updates or self.deletes)


def load(conn: Connection, table: Table, *where) -> list[Mapping[str, Any]]:
    """Every stored row of `table` matching `where` (one statement), as mappings."""
    return list(conn.execute(select(table).where(*where)).mappings())


def load_in(conn: Connection, table: Table, column: str, values: Iterable[Any], *where) -> list[Mapping[str, Any]]:
    """The rows whose `column` is one of `values`: one statement per IN_CHUNK values."""
    wanted = sorted(set(values))
    col = table.c[column]
    out: list[Mapping[str, Any]] = []
    for i in range(0, len(wanted), IN_CHUNK):
        out.extend(conn.execute(select(table).where(col.in_(wanted[i:i + IN_CHUNK]), *where)).mappings())
    return out


def reconcile(stored: Iterable[Mapping[str, Any]], rows: Iterable[Mapping[str, Any]], *, key: Sequence[str],
              delete_unseen: bool = False, deletable=None, touch: Mapping[str, Any] | None = None,
              plan: Plan | None = None) -> Plan:
    """Compare `rows` (the wanted state; a key twice: the last one wins) with `stored` (rows with
    an `id`), by `key`. A wanted row not stored is inserted; a stored one whose values differ is
    updated (only then are `touch` values, e.g. a timestamp, set too); with `delete_unseen`,
    stored rows no wanted row names are deleted (only those `deletable(row)` accepts, if given)."""
    plan = plan or Plan()
    by_key = {tuple(r[k] for k in key): r for r in stored}
    wanted: dict[tuple, Mapping[str, Any]] = {}
    for row in rows:
        wanted[tuple(row[k] for k in key)] = row
    for k, row in wanted.items():
        old = by_key.get(k)
        if old is None:
            plan.inserts.append({**row, **(touch or {})})
        elif any(old[c] != v for c, v in row.items()):  # the whole row: one shape, one statement
            plan.updates.append({"id": old["id"], **row, **(touch or {})})
    if delete_unseen:
        plan.deletes.extend(r["id"] for k, r in by_key.items()
                            if k not in wanted and (deletable is None or deletable(r)))
    return plan


def apply(conn: Connection, table: Table, plan: Plan) -> None:
    """Run a plan: one executemany per kind of change (updates grouped by the columns they set)."""
    if plan.deletes:
        conn.execute(delete(table).where(table.c.id == bindparam("_id")), [{"_id": i} for i in plan.deletes])
    if plan.updates:
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in plan.updates:
            shapes.setdefault(tuple(sorted(c for c in row if c != "id")), []).append(row)
        for columns, rows in shapes.items():
            stmt = (update(table).where(table.c.id == bindparam("_id"))
                    .values({c: bindparam(f"_{c}") for c in columns}))
            conn.execute(stmt, [{"_id": r["id"], **{f"_{c}": r[c] for c in columns}} for r in rows])
    if plan.inserts:
        shapes = {}
        for row in plan.inserts:
            shapes.setdefault(tuple(sorted(row)), []).append(row)
        for rows in shapes.values():
            conn.execute(insert(table), rows)
