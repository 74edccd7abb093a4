"""Engine, sessions and migrations for SQLite (embedded default) and Postgres (psycopg 3)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from core.errors import ConfigError, RuntimeFailure

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any fixed 64-bit number: every replica takes the same lock around migrations.
_MIGRATION_LOCK_ID = 0x0AB4C05


def normalise_url(url: str) -> str:
    """Accept `postgres://`, `postgresql://` and `postgresql+psycopg://`; drive Postgres with psycopg 3."""
    url = url.strip()
    if not url:
        raise ConfigError("DATABASE_URL is empty")
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "pgsql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


# query parameters that carry a credential (libpq's `password`, `sslpassword`, and the like)
_SECRET_PARAMS = ("password", "passwd", "pwd", "sslpassword", "secret", "token")


def redact_url(url: str) -> str:
    """The URL with any password hidden, in the user part or the query string, safe to print."""
    try:
        parsed = make_url(url)
        hidden = {k: "***" for k in parsed.query if any(word in k.lower() for word in _SECRET_PARAMS)}
        return parsed.update_query_dict(hidden).render_as_string(hide_password=True).replace("%2A%2A%2A", "***")
    except Exception:  # noqa: BLE001 - an unparsable URL must still not leak
        return "<unparsable DATABASE_URL>"


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


LOCK_TIMEOUT_S = 15.0  # Postgres: the longest any statement waits for a lock before it gives up


def _postgres_session(lock_timeout_ms: int):
    def on_connect(dbapi_conn, _record) -> None:
        # Every statement waits at most this long for a lock (a table locked by a migration, a
        # VACUUM FULL, a stuck session): it then fails with a clear sentence instead of stalling
        # every command silently. Writers that queue for each other raise it locally.
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        try:
            dbapi_conn.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
        finally:
            dbapi_conn.autocommit = autocommit
    return on_connect


def describe_db_error(exc: BaseException) -> str:
    """One sentence for a database failure a person can act on."""
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None)
    text_ = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if state == "55P03" or "lock timeout" in text_:
        return ("the database is busy: another session holds a lock on what this needs (a migration, a "
                "VACUUM FULL, a long transaction), and waiting longer gave nothing; try again in a minute")
    if state == "57014" or "statement timeout" in text_:
        return "the database did not answer in time; try again in a minute"
    if "database is locked" in text_:
        return "the database is not answering: another process has held its write lock for over 10 s; " \
               "try again in a minute"
    return f"database error: {text_}"


def make_engine(database_url: str, *, echo: bool = False, lock_timeout_s: float = LOCK_TIMEOUT_S) -> Engine:
    """Build an engine; raises ConfigError with one clear line when the URL cannot work."""
    url_text = normalise_url(database_url)
    try:
        url = make_url(url_text)
        url.port  # noqa: B018 - parses the port: 'host:notaport' fails here, not in a traceback later
    except (ArgumentError, ValueError):
        raise ConfigError(f"DATABASE_URL is not a database URL: {redact_url(url_text)!r} "
                          "(want sqlite:///path.db or postgresql://user@host/db)") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = url.database
        if not path or path == ":memory:":  # every connection would get its own empty database
            raise ConfigError("DATABASE_URL names no SQLite file (an in-memory database would be lost at exit): "
                              "use sqlite:///abacus.db or another path")
        if not path.startswith("file:"):
            parent = Path(path).expanduser().resolve().parent
            if not parent.is_dir():
                raise ConfigError(f"SQLite directory does not exist: {parent}")
            target = Path(path)
            if (target.exists() and not os.access(target, os.W_OK)) or not os.access(parent, os.W_OK):
                raise ConfigError(f"SQLite database is not writable: {path}")
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        if url.get_driver_name() != "psycopg":
            url = url.set(drivername="postgresql+psycopg")
        engine = create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=5,
                               connect_args={"connect_timeout": 10, "application_name": "abacus"})
        event.listen(engine, "connect", _postgres_session(int(lock_timeout_s * 1000)))
        return engine
    raise ConfigError(f"unsupported database {backend!r} in DATABASE_URL: use sqlite:/// or postgresql://")


def check_connection(engine: Engine) -> None:
    """Fail fast with one line if the database cannot be reached or written."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError) as exc:
        raise RuntimeFailure(f"cannot reach the database {redact_url(str(engine.url))}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    msg = str(orig).strip().splitlines()
    return msg[0] if msg else type(orig).__name__


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


_REVISION = re.compile(r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:['"]([^'"]*)['"]|None)""", re.MULTILINE)


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest migration's revision, read from the migration files' `revision` / `down_revision`
    lines (no Alembic import: a command on an up-to-date database starts without it). None when
    the chain is not one line (then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict((name, value) for name, value in _REVISION.findall(path.read_text(encoding="utf-8")))
        if not found.get("revision"):
            return None
        revisions.add(found["revision"])
        if found.get("down_revision"):
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stored_revision(engine: Engine) -> str | None:
    """The database's Alembic revision; None when it has none yet. A database that cannot be reached
    fails here, in one line."""
    try:
        with engine.connect() as conn:
            if not engine.dialect.has_table(conn, "alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, DBAPIError) as exc:
        raise RuntimeFailure(f"cannot reach the database {redact_url(str(engine.url))}: {_first_line(exc)}") from None


def upgrade(engine: Engine) -> str | None:
    """Apply all migrations (idempotent; safe with several replicas on one Postgres). A database
    already at the newest revision is only checked: Alembic and the table models are not loaded,
    which is most of a short command's start-up."""
    head = head_revision()
    if head is not None and _stored_revision(engine) == head:
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
                bounded = conn.execute(text("SHOW lock_timeout")).scalar_one()
                conn.execute(text("SET LOCAL lock_timeout = 0"))  # another replica may be migrating: wait
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_ID})
                conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": bounded})
            cfg.attributes["connection"] = conn
            _refuse_unknown_revision(cfg, conn, engine)
            command.upgrade(cfg, "head")
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        reason = describe_db_error(exc).removeprefix("database error: ")
        raise RuntimeFailure(f"cannot migrate the database {redact_url(str(engine.url))}: {reason}") from None


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
        return str(Path(engine.url.database).expanduser().resolve())
    return redact_url(str(engine.url))


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


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
