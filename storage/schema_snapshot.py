"""A new SQLite database created from a snapshot of the schema the migrations build, not by
running every migration.

Alembic creating a new database costs ~0.35 s of a command's start-up (importing Alembic and Mako,
then ten-odd migrations of DDL compiled one by one): a third of a first `abacus sync` or `abacus
demo` of a small team, and of every test that starts on a new file. The snapshot is the same
schema as plain SQL, applied in one transaction, then stamped with its revision.

It is used only when it is exactly the newest migration's (its first line names the revision;
`storage.dbapi.head_revision` reads the migration files), and only on a database with no table
at all; otherwise — a migration added since, an older database, Postgres — Alembic runs as before.
So a stale snapshot costs time, never correctness. `tests/storage/test_schema_snapshot.py` builds
a database both ways and requires the same `sqlite_master`; when a migration is added, regenerate:

    python -m storage.schema_snapshot
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from storage.dbapi import MIGRATIONS_DIR

SNAPSHOT = MIGRATIONS_DIR / "sqlite_head.sql"
_HEADER = "-- abacus schema snapshot, revision "
_ORDER = {"table": 0, "index": 1, "trigger": 2, "view": 3}


def statements(head: str | None) -> list[str] | None:
    """The snapshot's statements if it is of revision `head`, else None."""
    if head is None or not SNAPSHOT.exists():
        return None
    text = SNAPSHOT.read_text(encoding="utf-8")
    first, _, body = text.partition("\n")
    if first.strip() != f"{_HEADER}{head}":
        return None
    out, pending = [], ""
    for line in body.splitlines(keepends=True):
        if line.startswith("--") and not pending:
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            out.append(pending.strip())
            pending = ""
    return out if not pending.strip() else None


def schema_of(path: Path, *, normalise: bool = True) -> list[tuple[str, str, str, str]]:
    """(type, name, table, sql) of a SQLite database's own objects, in an order that can recreate
    them; `normalise`: runs of whitespace in the SQL as one space (SQLite keeps the text as given)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master "
                            "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'").fetchall()
    if normalise:
        rows = [(t, n, tbl, " ".join(sql.split())) for t, n, tbl, sql in rows]
    return sorted(rows, key=lambda r: (_ORDER.get(r[0], 9), r[2], r[1]))


def write() -> str:
    """Migrate a new database with Alembic and write its schema as the snapshot; returns the revision."""
    from storage.db import make_engine, upgrade

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "schema.db"
        engine = make_engine(f"sqlite:///{path}")
        try:
            revision = upgrade(engine, snapshot=False)
        finally:
            engine.dispose()
        body = "\n\n".join(f"{sql.strip()};" for _, _, _, sql in schema_of(path, normalise=False))
    SNAPSHOT.write_text(f"{_HEADER}{revision}\n-- made by `python -m storage.schema_snapshot` from the migrations; "
                        f"do not edit\n\n{body}\n", encoding="utf-8")
    return str(revision)


if __name__ == "__main__":  # pragma: no cover - a maintainer's command
    print(f"wrote {SNAPSHOT} (revision {write()})")
