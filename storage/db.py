"""Engine, sessions and migrations for SQLite (embedded default) and Postgres (psycopg 3)."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from core.errors import ConfigError, RuntimeFailure
from storage.dbapi import (  # noqa: F401 - the URL rules, session settings and sentences, one definition
    INGEST_SQLITE_CACHE_KIB,
    INGEST_WAL_AUTOCHECKPOINT_PAGES,
    LOCK_TIMEOUT_S,
    MIGRATIONS_DIR,
    POSTGRES_CONNECT_ARGS,
    SQLITE_CACHE_KIB,
    WalCheckpointer,
    check_sqlite_file,
    describe_db_error,
    first_line,
    head_revision,
    normalise_url,
    postgres_lock_timeout,
    redact_url,
    sqlite_location,
    sqlite_pragmas,
    unreachable,
)

log = logging.getLogger(__name__)

# Any fixed 64-bit number: every replica takes the same lock around migrations.
_MIGRATION_LOCK_ID = 0x0AB4C05


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def make_engine(database_url: str, *, echo: bool = False, lock_timeout_s: float = LOCK_TIMEOUT_S,
                ingest: bool = False) -> Engine:
    """Build an engine; raises ConfigError with one clear line when the URL cannot work. `ingest`:
    for a process that mostly writes usage (a sync, an import) — SQLite's smaller page cache."""
    url_text = normalise_url(database_url)
    try:
        url = make_url(url_text)
        url.port  # noqa: B018 - parses the port: 'host:notaport' fails here, not in a traceback later
    except (ArgumentError, ValueError):
        raise ConfigError(f"DATABASE_URL is not a database URL: {redact_url(url_text)!r} "
                          "(want sqlite:///path.db or postgresql://user@host/db)") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        check_sqlite_file(url.database or "")
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})
        cache_kib = INGEST_SQLITE_CACHE_KIB if ingest else SQLITE_CACHE_KIB
        path = url.database or ""
        checkpointer = WalCheckpointer(path) if ingest and not path.startswith("file:") else None
        backstop = INGEST_WAL_AUTOCHECKPOINT_PAGES if checkpointer is not None else None
        event.listen(engine, "connect", lambda dbapi_conn, _record: sqlite_pragmas(
            dbapi_conn, cache_kib=cache_kib, wal_autocheckpoint=backstop))
        _ENGINES.add(engine)
        if checkpointer is not None:
            _CHECKPOINTERS[engine] = checkpointer
            # an engine dropped without close_engine (a command run in-process by `main`): its
            # thread ends with it rather than poll and hold the database open for good
            weakref.finalize(engine, checkpointer.stop)
        return engine
    if backend == "postgresql":
        if url.get_driver_name() != "psycopg":
            url = url.set(drivername="postgresql+psycopg")
        engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=5,
                               connect_args=dict(POSTGRES_CONNECT_ARGS))
        lock_timeout_ms = int(lock_timeout_s * 1000)
        event.listen(engine, "connect", lambda dbapi_conn, _record: postgres_lock_timeout(dbapi_conn, lock_timeout_ms))
        _ENGINES.add(engine)
        return engine
    raise ConfigError(f"unsupported database {backend!r} in DATABASE_URL: use sqlite:/// or postgresql://")


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()
_CHECKPOINTERS: weakref.WeakKeyDictionary[Engine, WalCheckpointer] = weakref.WeakKeyDictionary()


def close_engine(engine: Engine) -> None:
    """Stop the engine's WAL checkpointer (an ingest's), then close its pooled connections: SQLite
    checkpoints the rest of its WAL as the last one closes."""
    checkpointer = _CHECKPOINTERS.pop(engine, None)
    if checkpointer is not None:
        checkpointer.close()
    engine.dispose()


def dispose_engines() -> None:
    """`close_engine` for every engine this process made and still holds (an exit that skips the
    interpreter's teardown: SQLite checkpoints its WAL as its last connection closes, Postgres sees
    the sessions end rather than the sockets drop)."""
    for engine in list(_ENGINES):
        close_engine(engine)


def check_connection(engine: Engine) -> None:
    """Fail fast with one line if the database cannot be reached or written."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError) as exc:
        raise unreachable(str(engine.url), exc) from None


def _alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", str(engine.url).replace("%", "%%"))
    return cfg


@contextmanager
def read_scope(engine: Engine) -> Iterator[Connection]:
    """A connection for read-only queries, rolled back at the end (no ORM session needed)."""
    with engine.connect() as conn:
        yield conn


def _stored_revision(engine: Engine) -> str | None:
    """The database's Alembic revision; None when it has none yet. A database that cannot be reached
    fails here, in one line."""
    try:
        with engine.connect() as conn:
            if not engine.dialect.has_table(conn, "alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, DBAPIError) as exc:
        raise unreachable(str(engine.url), exc) from None


def upgrade(engine: Engine, *, snapshot: bool = True) -> str | None:
    """Apply all migrations (idempotent; safe with several replicas on one Postgres). A database
    already at the newest revision is only checked: Alembic and the table models are not loaded,
    which is most of a short command's start-up. A new database (SQLite: no table; Postgres: none of
    Abacus's) is created from the schema snapshot of the newest revision when there is one
    (`storage.schema_snapshot`; `snapshot=False`: always by the migrations)."""
    head = head_revision()
    stored = _stored_revision(engine)
    if head is not None and stored == head:
        return head
    if snapshot and stored is None and _create_from_snapshot(engine, head):
        return head
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    from storage.job_lock import sqlite_file_lock

    check_connection(engine)
    cfg = _alembic_config(engine)
    try:
        # Postgres: an advisory lock below; SQLite: a file lock, so that two processes starting
        # on a new file (the bot and a CLI command) do not both create the tables
        with sqlite_file_lock(engine, "migrate", wait=300), engine.begin() as conn:
            if is_postgres(engine):
                _migration_lock(conn)
            cfg.attributes["connection"] = conn
            _refuse_unknown_revision(cfg, conn, engine)
            command.upgrade(cfg, "head")
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        reason = describe_db_error(exc).removeprefix("database error: ")
        raise RuntimeFailure(f"cannot migrate the database {redact_url(str(engine.url))}: {reason}") from None


def _migration_lock(conn: Connection) -> None:
    """Postgres: the advisory lock every replica takes around migrations, held to the end of the
    transaction; waited for without the session's lock timeout (another replica may be migrating)."""
    bounded = conn.execute(text("SHOW lock_timeout")).scalar_one()
    conn.execute(text("SET LOCAL lock_timeout = 0"))
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_ID})
    conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": bounded})


def _create_from_snapshot(engine: Engine, head: str | None) -> bool:
    """Create the schema of revision `head` on a SQLite database that has no table yet, from the
    snapshot, in one transaction under the migration file lock; False (nothing done) when there is
    no snapshot of that revision or the database is not empty (another process created it first).
    Postgres: `_create_from_postgres_snapshot`."""
    if is_postgres(engine):
        return _create_from_postgres_snapshot(engine, head)
    from storage.job_lock import sqlite_file_lock
    from storage.schema_snapshot import statements

    ddl = statements(head)
    if ddl is None:
        return False
    check_connection(engine)
    try:
        with sqlite_file_lock(engine, "migrate", wait=300), engine.begin() as conn:
            if conn.exec_driver_sql("SELECT COUNT(*) FROM sqlite_master").scalar():
                return False
            for sql in ddl:
                conn.exec_driver_sql(sql)
            conn.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES (?)", (head,))
    except OperationalError as exc:
        reason = describe_db_error(exc).removeprefix("database error: ")
        raise RuntimeFailure(f"cannot create the database {redact_url(str(engine.url))}: {reason}") from None
    return True


def _create_from_postgres_snapshot(engine: Engine, head: str | None) -> bool:
    """Create the schema of revision `head` from the Postgres snapshot, in one transaction under the
    migration lock, on a database that has none of its tables (it may hold others'). True also when
    another replica created it meanwhile (the lock is free once its schema is committed: this one
    then sees it at `head` and creates nothing); False (nothing done) when there is no snapshot of
    that revision or the database holds some of the tables: the migrations decide."""
    from storage.schema_snapshot import postgres_script

    snapshot = postgres_script(head)
    if snapshot is None:
        return False
    script, tables = snapshot
    try:
        with engine.begin() as conn:
            _migration_lock(conn)
            if conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar_one():
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
            if conn.execute(text("SELECT bool_or(to_regclass(quote_ident(t)) IS NOT NULL) "
                                 "FROM unnest(CAST(:t AS text[])) AS t"), {"t": tables}).scalar_one():
                return False
            # the driver's own cursor, no parameters: the whole script in one round trip, as written
            conn.connection.driver_connection.execute(script)
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head})
    except OperationalError as exc:
        reason = describe_db_error(exc).removeprefix("database error: ")
        raise RuntimeFailure(f"cannot create the database {redact_url(str(engine.url))}: {reason}") from None
    return True


def _refuse_unknown_revision(cfg, conn, engine: Engine) -> None:
    """A database migrated by a newer Abacus (a revision this code does not know): one line,
    not Alembic's traceback, and nothing touched."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    current = MigrationContext.configure(conn).get_current_revision()
    if current is None:
        return
    script = ScriptDirectory.from_config(cfg)
    if current not in {rev.revision for rev in script.walk_revisions()}:
        raise RuntimeFailure(
            f"the database {redact_url(str(engine.url))} is at schema revision {current}, newer than this version "
            f"of Abacus knows (up to {script.get_current_head()}): upgrade Abacus, or use another DATABASE_URL")


def has_schema(engine: Engine) -> bool:
    """Whether the database holds an Abacus schema (without creating anything: a missing SQLite
    file is not created)."""
    from sqlalchemy import inspect

    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if path and not path.startswith("file:") and not Path(path).expanduser().exists():
        return False
    check_connection(engine)
    with engine.connect() as conn:
        return inspect(conn).has_table("alembic_version")


def describe_location(engine: Engine) -> str:
    """Where the database is, for a person: the absolute SQLite path (the default is relative to
    the working folder), or the URL without its password."""
    if engine.dialect.name == "sqlite" and engine.url.database and not engine.url.database.startswith("file:"):
        return sqlite_location(engine.url.database)
    return redact_url(str(engine.url))


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


class Unit:
    """One transaction on one connection, for code that takes a session but only asks it for
    `.connection()` and `.get_bind()` (the sync's writes, storage.usage_repo, the lock fence):
    what `session_scope` gives without loading SQLModel and the ORM."""

    __slots__ = ("_conn", "_engine")

    def __init__(self, engine: Engine, conn: Connection) -> None:
        self._engine, self._conn = engine, conn

    def connection(self) -> Connection:
        return self._conn

    def get_bind(self) -> Engine:
        return self._engine


@contextmanager
def unit_scope(engine: Engine) -> Iterator[Unit]:
    """One unit of work on a Core connection: commit on success, roll back on any error. The
    transaction is begun here, as a session's `connection()` begins it: the usage write path writes
    through the driver's own connection (storage.usage_repo), which SQLAlchemy's autobegin never
    sees, and a transaction SQLAlchemy had not begun would not be committed."""
    with engine.connect() as conn, conn.begin():
        yield Unit(engine, conn)


@contextmanager
def session_scope(engine: Engine):
    """One unit of work (a sqlmodel Session): commit on success, roll back on any error."""
    from sqlmodel import Session  # the ORM only where a session is used (not for `abacus report`)

    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
