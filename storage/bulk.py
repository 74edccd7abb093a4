"""Set-based writes of small entity tables (people, activity, spend, groups, keys): one SELECT of
what is stored, then at most one INSERT, one UPDATE and one DELETE statement for the whole batch,
never a query and a flush per row. On Postgres each is one statement on the server too (`COPY`,
`UPDATE … FROM unnest(arrays)`, `DELETE … = ANY(array)`); psycopg's `executemany` would send, and
the server run, one statement per row. SQLite runs in-process: `executemany` there.

    plan = reconcile(conn, table, key=("person", "natural_key"), rows=[{...}, ...],
                     stored=load(conn, table, table.c.day == day))
    apply(conn, table, plan)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Float, Integer, String, Table, bindparam, delete, insert, select, update
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
    """Run a plan: one statement per kind of change (updates grouped by the columns they set)."""
    if plan.deletes and not _delete_any(conn, table, plan.deletes):
        conn.execute(delete(table).where(table.c.id == bindparam("_id")), [{"_id": i} for i in plan.deletes])
    if plan.updates:
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in plan.updates:
            shapes.setdefault(tuple(sorted(c for c in row if c != "id")), []).append(row)
        for columns, rows in shapes.items():
            if _update_from_arrays(conn, table, columns, rows):
                continue
            stmt = (update(table).where(table.c.id == bindparam("_id"))
                    .values({c: bindparam(f"_{c}") for c in columns}))
            conn.execute(stmt, [{"_id": r["id"], **{f"_{c}": r[c] for c in columns}} for r in rows])
    if plan.inserts:
        shapes = {}
        for row in plan.inserts:
            shapes.setdefault(tuple(sorted(row)), []).append(row)
        for rows in shapes.values():
            if not _copy(conn, table, rows):
                conn.execute(insert(table), rows)


# column types whose values COPY (text) and an array parameter store as an INSERT binding them does
# (after SQLAlchemy's own conversion, which is applied first): the driver adapts them alike either
# way. A time with its time zone too: `storage.sync_tables.UTCDateTime` binds aware UTC datetimes,
# written with their offset; a naive time is left to the INSERT (COPY would read it in the
# session's time zone where the INSERT's binding does not).
_PLAIN_TYPES = (String, Integer, Boolean, Date, Float)


def _plain(col, dialect):
    """The column's bind conversion (a function, or None for none) if its type is one of
    `_PLAIN_TYPES` or a time with its zone (a TypeDecorator by its underlying type); False for
    any other type."""
    kind = getattr(col.type, "impl_instance", col.type)
    if isinstance(kind, _PLAIN_TYPES) or (isinstance(kind, DateTime) and kind.timezone):
        return col.type.bind_processor(dialect)
    return False


def _delete_any(conn: Connection, table: Table, ids: list[int]) -> bool:
    """Postgres: delete rows by id with one `DELETE … WHERE id = ANY(array)`. False elsewhere."""
    if conn.dialect.name != "postgresql" or len(ids) < 2:
        return False
    raw = conn.connection.driver_connection
    raw.execute(f"DELETE FROM {conn.dialect.identifier_preparer.format_table(table)} WHERE id = ANY(%s)",
                [list(ids)])
    return True


def _update_from_arrays(conn: Connection, table: Table, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> bool:
    """Postgres: set `columns` of rows by id with one `UPDATE … FROM unnest(one array per column)`,
    the values converted as SQLAlchemy converts them for an UPDATE. False where a column's type is
    not one of `_PLAIN_TYPES` (the caller updates as before), or elsewhere than Postgres. An id
    given twice takes its last values, as the UPDATEs one after the other would."""
    if conn.dialect.name != "postgresql" or len(rows) < 2:
        return False
    dialect = conn.dialect
    convert = [_plain(table.c[c], dialect) for c in columns]
    if any(c is False for c in convert):
        return False
    rows = list({r["id"]: r for r in rows}.values())
    names = ["id", *columns]
    arrays = [[r["id"] for r in rows]]
    arrays.extend([f(r[c]) for r in rows] if f else [r[c] for r in rows]
                  for c, f in zip(columns, convert, strict=True))
    if any(len({type(v) for v in values if v is not None}) > 1 for values in arrays[1:]):
        # a column's values of more than one Python type (an int and a bool, a date and a datetime):
        # one typed array cannot hold them, where the per-row UPDATE binds each value by itself
        return False
    quote = dialect.identifier_preparer.quote
    # text arrays for text columns: a cast to VARCHAR(n) would cut an overlong value silently, where
    # the assignment to the column refuses it, as the UPDATE with bound values does
    types = ["TEXT" if isinstance(getattr(table.c[c].type, "impl_instance", table.c[c].type), String)
             else table.c[c].type.compile(dialect=dialect) for c in names]
    sets = ", ".join(f"{quote(c)} = v.{quote(c)}" for c in columns)
    raw = conn.connection.driver_connection
    raw.execute(f"UPDATE {dialect.identifier_preparer.format_table(table)} AS t SET {sets} "
                f"FROM unnest({', '.join(f'%s::{t}[]' for t in types)}) AS v({', '.join(map(quote, names))}) "
                f"WHERE t.id = v.id", arrays)
    return True


def _copy(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> bool:
    """Postgres: insert rows of one shape with one `COPY` instead of `executemany` (psycopg sends,
    and the server runs, an INSERT per row: ~3x the client's and the server's time for the 7,000
    activity rows of a 1,000-person week). Only where COPY stores exactly what the INSERT would:
    every column named is of one of `_PLAIN_TYPES` or a time with its zone, converted as SQLAlchemy
    converts it, and every column left out takes the server's default (COPY fills it in too) or a constant
    default of such a type (written with the rows, as SQLAlchemy would). False where it does not
    apply: the caller inserts as before."""
    if conn.dialect.name != "postgresql" or len(rows) < 2:
        return False
    dialect = conn.dialect
    names = list(rows[0])
    convert = [_plain(table.c[n], dialect) for n in names]
    constants: list[Any] = []
    for col in table.c:
        if col.name in rows[0] or col.default is None:
            continue
        process = _plain(col, dialect)
        if process is False or not col.default.is_scalar:
            return False
        names.append(col.name)
        constants.append(process(col.default.arg) if process else col.default.arg)
    if any(c is False for c in convert):
        return False
    quote = dialect.identifier_preparer.quote
    raw = conn.connection.driver_connection
    given = names[:len(convert)]
    with raw.cursor() as cur, cur.copy(f"COPY {dialect.identifier_preparer.format_table(table)} "
                                       f"({', '.join(map(quote, names))}) FROM STDIN") as copy:
        if not any(convert):
            for row in rows:
                copy.write_row((*map(row.__getitem__, given), *constants))
        else:
            pairs = list(zip(given, convert, strict=True))
            for row in rows:
                copy.write_row((*(f(row[n]) if f else row[n] for n, f in pairs), *constants))
    return True
