"""A new database created from a snapshot of the schema the migrations build, not by running
every migration: one snapshot for SQLite, one for Postgres.

Alembic creating a new database costs ~0.35 s of a command's start-up (importing Alembic and Mako,
then ten-odd migrations of DDL compiled one by one): a third of a first `abacus sync` or `abacus
demo` of a small team, and of every test that starts on a new file. The snapshot is the same
schema as plain SQL, applied in one transaction, then stamped with its revision.

On Postgres the same costs ~0.25 s of our CPU (Alembic imported and run) and ~0.1 s of the
server's; the Postgres snapshot is `pg_dump --schema-only` of a scratch database the migrations
built, without its session settings and comments and with names unqualified (the tables go where
Alembic would put them: the first schema of the search path). pg_dump is needed only to write it.

It is used only when it is exactly the newest migration's (its first line names the revision;
`storage.dbapi.head_revision` reads the migration files), and only on a database with no table
at all (SQLite) or none of the snapshot's tables (Postgres, which may share a database with
others); otherwise — a migration added since, an older database — Alembic runs as before. So a
stale snapshot costs time, never correctness. `tests/storage/test_schema_snapshot.py` builds a
database both ways and requires the same `sqlite_master`, and on Postgres the same catalogs
(`postgres_schema_of`); when a migration is added, regenerate both (Postgres: a scratch database
on the server of $ABACUS_TEST_PG, default postgresql://postgres@127.0.0.1:5432/postgres):

    python -m storage.schema_snapshot            # or: ... sqlite | postgres
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from storage.dbapi import MIGRATIONS_DIR

SNAPSHOT = MIGRATIONS_DIR / "sqlite_head.sql"
PG_SNAPSHOT = MIGRATIONS_DIR / "postgres_head.sql"
_HEADER = "-- abacus schema snapshot, revision "
_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
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


# Postgres ---------------------------------------------------------------------------

_PG_TABLE = re.compile(r"^CREATE TABLE (\S+) \(", re.M)


def postgres_script(head: str | None) -> tuple[str, list[str]] | None:
    """The Postgres snapshot's DDL (one script, run as is) and the names of its tables, if it is of
    revision `head`; else None."""
    if head is None or not PG_SNAPSHOT.exists():
        return None
    first, _, body = PG_SNAPSHOT.read_text(encoding="utf-8").partition("\n")
    if first.strip() != f"{_HEADER}{head}":
        return None
    tables = [name.strip('"') for name in _PG_TABLE.findall(body)]
    return (body, tables) if tables else None


# what pg_dump writes besides the schema: its session settings, psql meta-commands (\restrict, with a
# random key), comments
_PG_NOISE = re.compile(r"^(?:SET |SELECT pg_catalog\.set_config\(|\\|--)")
# pg_dump qualifies every name (it runs with an empty search path); the snapshot's go to the first
# schema of the search path, as Alembic's do
_PG_SCHEMA = re.compile(r"(?<=[\s('])public\.(?=[\w\"])")


def postgres_ddl(dump: str) -> str:
    """`pg_dump --schema-only` output as the snapshot's DDL: statements only, names unqualified,
    one blank line between statements."""
    statements, current = [], []
    for line in dump.splitlines():
        if _PG_NOISE.match(line) or (not line.strip() and not current):
            continue
        current.append(_PG_SCHEMA.sub("", line.rstrip()))
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current))
            current = []
    if current or any("public." in sql for sql in statements):
        raise RuntimeError("pg_dump's output is not the plain schema this expects: "
                           + ("an unfinished statement" if current else "a name still qualified by 'public.'"))
    return "\n\n".join(statements)


def write_postgres(admin_url: str | None = None) -> str:
    """Migrate a scratch database on the Postgres server of `admin_url` (default $ABACUS_TEST_PG,
    else the local server) with Alembic, dump its schema with pg_dump and write it as the Postgres
    snapshot; returns the revision. The scratch database is dropped."""
    import psycopg

    from storage.db import make_engine, upgrade

    admin = (admin_url or os.environ.get("ABACUS_TEST_PG") or _PG_ADMIN_URL).replace("postgresql+psycopg://",
                                                                                    "postgresql://")
    name = f"abacus_snapshot_{uuid.uuid4().hex[:12]}"
    url = admin.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        engine = make_engine(url)
        try:
            revision = upgrade(engine, snapshot=False)
        finally:
            engine.dispose()
        dump = subprocess.run(["pg_dump", "--schema-only", "--no-owner", "--no-privileges",
                               f"--dbname={url}"], check=True, capture_output=True, text=True).stdout
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    PG_SNAPSHOT.write_text(f"{_HEADER}{revision}\n-- made by `python -m storage.schema_snapshot` from the migrations "
                           f"(pg_dump --schema-only); do not edit\n\n{postgres_ddl(dump)}\n", encoding="utf-8")
    return str(revision)


# The catalogs that make a schema, for comparing two databases: the objects of the current schema
# (the first of the search path), each as text the server renders the same way for the same object.
_PG_CATALOG = {
    "relations": """
        SELECT c.relname, c.relkind, c.relpersistence, coalesce(array_to_string(c.reloptions, ','), '')
        FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind <> 'i'
        ORDER BY 1""",
    "columns": """
        SELECT c.relname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
               format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
               a.attidentity, a.attgenerated, a.attstorage, coalesce(co.collname, '')
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        LEFT JOIN pg_collation co ON co.oid = a.attcollation
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY 1, 2""",
    "constraints": """
        SELECT coalesce(c.relname, ''), k.conname, k.contype, pg_get_constraintdef(k.oid), k.condeferrable,
               k.condeferred, k.convalidated
        FROM pg_constraint k LEFT JOIN pg_class c ON c.oid = k.conrelid
        WHERE k.connamespace = current_schema()::regnamespace
        ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
        ORDER BY 1, 2""",
    "sequences": """
        SELECT sequencename, data_type::text, start_value, min_value, max_value, increment_by, cycle, cache_size,
               last_value
        FROM pg_sequences WHERE schemaname = current_schema()
        ORDER BY 1""",
    "sequence_owners": """
        SELECT s.relname, t.relname, a.attname, d.deptype
        FROM pg_depend d
        JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
        JOIN pg_class t ON t.oid = d.refobjid
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
          AND s.relnamespace = current_schema()::regnamespace
        ORDER BY 1, 2, 3""",
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace
        ORDER BY 1, 2""",
    "views": """
        SELECT viewname, definition FROM pg_views WHERE schemaname = current_schema() ORDER BY 1""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), p.prokind,
               CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) END
        FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace
        ORDER BY 1, 2""",
    "types": """
        SELECT t.typname, t.typtype, format_type(t.typbasetype, t.typtypmod), t.typnotnull,
               (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid)
        FROM pg_type t WHERE t.typnamespace = current_schema()::regnamespace AND t.typtype IN ('e', 'd', 'r', 'm')
        ORDER BY 1""",
    "comments": """
        SELECT c.relname, d.objsubid, d.description
        FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
        WHERE c.relnamespace = current_schema()::regnamespace
        ORDER BY 1, 2""",
    "extensions": "SELECT extname, extversion FROM pg_extension ORDER BY 1",
}


def postgres_schema_of(url: str) -> dict[str, list[tuple]]:
    """The schema of a Postgres database, catalog by catalog (`_PG_CATALOG`), plus the rows of every
    table of it: a snapshot is schema and the alembic_version row, nothing else."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        out = {name: conn.execute(query).fetchall() for name, query in _PG_CATALOG.items()}
        tables = [r[0] for r in out["relations"] if r[1] in ("r", "p")]
        out["rows"] = [(t, conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0])
                       for t in tables]
        out["alembic_version"] = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    return out


if __name__ == "__main__":  # pragma: no cover - a maintainer's command
    which = sys.argv[1:] or ["sqlite", "postgres"]
    if "sqlite" in which:
        print(f"wrote {SNAPSHOT} (revision {write()})")
    if "postgres" in which:
        print(f"wrote {PG_SNAPSHOT} (revision {write_postgres()})")
