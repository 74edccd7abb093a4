"""The database without SQLAlchemy: what a URL says, the sentences for a database's failures,
the session settings every connection gets, and a bare-driver connection (sqlite3 / psycopg) for
short read-only commands.

`abacus report` spent more time importing SQLAlchemy (~0.17 s) than running its query (issue 12
point 13, issue 13 point 3). Its reads go through `Rows`: the same SQL text (`:name` parameters, a
list parameter expanded for `IN :name`) runs on a SQLAlchemy connection (storage.rollup_sql) or,
here, on the driver's own connection. storage.db builds its engines with the same URL rules,
session settings and sentences, imported from this module: one definition of each.

This path opens only a database it can read as it is: an Abacus schema at the newest revision.
Anything else (a URL form it leaves to SQLAlchemy, a schema to migrate or one from a newer Abacus)
goes through storage.db, which migrates or refuses with its sentence.
"""

from __future__ import annotations

import os
import re
from datetime import date
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qsl

from core.errors import ConfigError, RuntimeFailure

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
LOCK_TIMEOUT_S = 15.0  # Postgres: the longest any statement waits for a lock before it gives up
SQLITE_BUSY_TIMEOUT_MS = 10_000  # SQLite: the longest a statement waits for another process's write lock
POSTGRES_CONNECT_ARGS = {"connect_timeout": 10, "application_name": "abacus"}


# URLs ---------------------------------------------------------------------------

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


_URL = re.compile(r"^(?P<scheme>[\w+.-]+)://(?:(?P<user>[^:/]*)(?::(?P<password>[^@]*))?@)?(?P<rest>.*)$", re.S)


def redact_url(url: str) -> str:
    """The URL with any password hidden, in the user part or the query string, safe to print.
    Parsed as SQLAlchemy parses a URL (a password runs to the last `@`, `?` and `#` included)."""
    m = _URL.match(url.strip())
    if not m:
        return "<unparsable DATABASE_URL>"
    location, _, query = m["rest"].partition("?")
    host = location.partition("/")[0]
    if host.startswith("["):  # an IPv6 address
        inside, bracket, port = host[1:].partition("]")
        port = port.removeprefix(":")
        if not bracket:
            return "<unparsable DATABASE_URL>"
    else:
        port = host.rpartition(":")[2] if ":" in host else ""
    if port and not port.isdigit():  # 'host:notaport' is not a URL: nothing of it is shown
        return "<unparsable DATABASE_URL>"
    user = "" if m["user"] is None else m["user"] + (":***" if m["password"] is not None else "") + "@"
    query = "&".join(f"{k}={'***' if any(w in k.lower() for w in _SECRET_PARAMS) else v}"
                     for k, v in (pair.partition("=")[::2] for pair in query.split("&") if pair))
    return f"{m['scheme']}://{user}{location}" + (f"?{query}" if query else "")


def first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    msg = str(orig).strip().splitlines()
    return msg[0] if msg else type(orig).__name__


def describe_db_error(exc: BaseException) -> str:
    """One sentence for a database failure a person can act on (a driver's error, or SQLAlchemy's
    wrapping of one)."""
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


def unreachable(url: str, exc: BaseException) -> RuntimeFailure:
    return RuntimeFailure(f"cannot reach the database {redact_url(url)}: {first_line(exc)}")


def driver_error_types() -> tuple[type[BaseException], ...]:
    """The error classes of the drivers this process has loaded (nothing is imported for it)."""
    import sys

    found = []
    for module, name in (("sqlite3", "Error"), ("psycopg", "Error"), ("sqlalchemy.exc", "DBAPIError")):
        loaded = sys.modules.get(module)
        if loaded is not None and hasattr(loaded, name):
            found.append(getattr(loaded, name))
    return tuple(found)


# Session settings -----------------------------------------------------------------

def check_sqlite_file(path: str) -> None:
    """A SQLite file this process can use: its folder exists and both are writable (SQLite writes
    its WAL beside the file even to read)."""
    if not path or path == ":memory:":  # every connection would get its own empty database
        raise ConfigError("DATABASE_URL names no SQLite file (an in-memory database would be lost at exit): "
                          "use sqlite:///abacus.db or another path")
    if path.startswith("file:"):
        return
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise ConfigError(f"SQLite directory does not exist: {parent}")
    target = Path(path)
    if (target.exists() and not os.access(target, os.W_OK)) or not os.access(parent, os.W_OK):
        raise ConfigError(f"SQLite database is not writable: {path}")


SQLITE_CACHE_KIB = 65_536  # each connection's page cache: the reports' and detection's scans of the rollups
# A sync or import appends to the event table and upserts one day's rollup rows at a time: a small
# cache serves it as well, and at 1M events the default one was a quarter of the process (its pages
# are resident memory). Measured: 1M SQLite sync 219 → 156 MB peak, and no slower (`bench_sync.py`).
INGEST_SQLITE_CACHE_KIB = 16_384


# A new database's page size (an existing one keeps its own): an ingest appends ~300-byte event rows
# and their index entries, and 16 KiB pages take a quarter of the page writes of 4 KiB ones (measured:
# 200k events inserted 5.2 -> 4.8 us per row, commits 0.17 -> 0.12 s).
SQLITE_PAGE_SIZE = 16_384
# With a checkpointer thread (`WalCheckpointer`) an ingest's connection checkpoints by itself only
# past this many WAL pages: a backstop, should the thread fall behind.
INGEST_WAL_AUTOCHECKPOINT_PAGES = 8_192


def sqlite_pragmas(dbapi_conn, _record=None, *, cache_kib: int = SQLITE_CACHE_KIB,
                   wal_autocheckpoint: int | None = None) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")  # before the WAL: a new file takes it then
    _journal_mode_wal(cur)
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
    if wal_autocheckpoint is not None:
        cur.execute(f"PRAGMA wal_autocheckpoint={int(wal_autocheckpoint)}")
    cur.close()


def _journal_mode_wal(cur, *, timeout_s: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> None:
    """`PRAGMA journal_mode=WAL`, waiting as any statement would for another process's write lock.

    On a file still in rollback mode (a new database two processes open at once: the bot and a
    CLI command, two replicas' first start), the switch needs the write lock while holding a read
    lock, and SQLite answers "database is locked" at once rather than call the busy handler (it
    could deadlock). Nothing is held between tries, so retrying here is safe; a file already in
    WAL mode never waits."""
    import sqlite3
    import time

    deadline = time.monotonic() + timeout_s
    pause = 0.002
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


class WalCheckpointer:
    """Copies a SQLite database's write-ahead log into the database file on a thread of its own,
    while an ingest (a sync, an import) writes.

    SQLite checkpoints in the connection that commits: every batch of a sync paid for copying its
    pages into the database file (and its fsync) before the next batch could start — 0.3-0.4 s of a
    200k-event sync. sqlite3 releases the GIL while SQLite works, so a second connection here does
    that copy on the other core while the writer goes on. A `PASSIVE` checkpoint every `every_s`
    takes no lock and waits for nobody; the writer keeps `INGEST_WAL_AUTOCHECKPOINT_PAGES` as a
    backstop. `close` stops the thread and closes its connection (before the writer's last
    connection closes, so that one still checkpoints the rest and removes the log)."""

    def __init__(self, path: str, *, every_s: float = 0.05) -> None:
        import threading

        self.path = path
        self.every_s = every_s
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-wal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import sqlite3
        from urllib.parse import quote

        conn = None
        try:
            while not self._stop.wait(self.every_s):
                try:
                    if conn is None:  # the writer creates the file: never create it here (mode=rw)
                        conn = sqlite3.connect(f"file:{quote(os.path.abspath(self.path))}?mode=rw", uri=True,
                                               isolation_level=None, check_same_thread=False)
                        conn.execute("PRAGMA synchronous=NORMAL")  # as the writer's: the database synced after
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error:  # not there yet, or busy: the next tick tries again
                    continue
        finally:
            if conn is not None:
                conn.close()

    def stop(self) -> None:
        """Ask the thread to end (it closes its connection as it does), without waiting for it."""
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def postgres_lock_timeout(dbapi_conn, lock_timeout_ms: int) -> None:
    """Every statement waits at most this long for a lock (a table locked by a migration, a VACUUM
    FULL, a stuck session): it then fails with a clear sentence instead of stalling every command
    silently. Writers that queue for each other raise it locally."""
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True
    try:
        dbapi_conn.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
    finally:
        dbapi_conn.autocommit = autocommit


# Migrations -------------------------------------------------------------------------

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


# Reads ------------------------------------------------------------------------------

_PARAM = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")  # a `:name` parameter, as SQLAlchemy's text() finds it


class Rows:
    """What a read query needs of a database: its dialect ("sqlite" or "postgresql") and the rows
    of `sql` (`:name` parameters; a list or tuple value is expanded, for `IN :name`)."""

    dialect: str

    def rows(self, sql: str, params: dict) -> list[tuple]:
        raise NotImplementedError


class DriverRows(Rows):
    """Reads on a sqlite3 or psycopg connection (autocommit: each read sees what is committed)."""

    def __init__(self, conn, dialect: str, location: str) -> None:
        self.conn, self.dialect, self.location = conn, dialect, location

    def rows(self, sql: str, params: dict) -> list[tuple]:
        values: dict = {}

        def bind(m: re.Match) -> str:
            name = m.group(1)
            if name not in params:
                return m.group(0)
            value = params[name]
            if isinstance(value, (list, tuple)):
                if not value:
                    raise ValueError(f"an empty list for IN :{name}")
                names = [f"{name}_{i}" for i in range(len(value))]
                values.update(zip(names, value, strict=True))
                return "(" + ", ".join(self._placeholder(n) for n in names) + ")"
            values[name] = value
            return self._placeholder(name)

        text = sql.replace("%", "%%") if self.dialect == "postgresql" else sql
        text = _PARAM.sub(bind, text)
        if self.dialect == "sqlite":  # stored as ISO text, as SQLAlchemy's Date type writes it
            values = {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}
        return [tuple(r) for r in self.conn.execute(text, values).fetchall()]

    def _placeholder(self, name: str) -> str:
        return f"%({name})s" if self.dialect == "postgresql" else f":{name}"

    def close(self) -> None:
        self.conn.close()


class NoSchema(Exception):
    """The database holds no Abacus schema (or the SQLite file is not there); `location` says where."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def sqlite_location(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def connect_current(database_url: str, *, lock_timeout_s: float = LOCK_TIMEOUT_S) -> DriverRows | None:
    """A bare-driver connection to an Abacus database at the newest schema revision, for reads.

    None when this path does not apply — a URL form it leaves to SQLAlchemy (a `file:` URI, query
    options, escapes), or a schema at another revision (storage.db migrates it, or refuses one
    from a newer Abacus). Raises what storage.db would: ConfigError for a SQLite path that cannot
    work, RuntimeFailure for a database that cannot be reached, NoSchema where there is none."""
    url = normalise_url(database_url)
    if url.startswith("sqlite:///"):
        return _connect_sqlite(url)
    if url.startswith("postgresql+psycopg://"):
        return _connect_postgres(url, lock_timeout_s)
    return None


def _connect_sqlite(url: str) -> DriverRows | None:
    import sqlite3

    path = url.removeprefix("sqlite:///")
    if not path or any(ch in path for ch in "?%#~") or path.startswith("file:"):
        return None
    check_sqlite_file(path)
    location = sqlite_location(path)
    if not Path(path).exists():  # never created by a read
        raise NoSchema(location)
    try:
        conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        sqlite_pragmas(conn)
    except sqlite3.Error as exc:
        raise unreachable(url, exc) from None
    return _at_head(DriverRows(conn, "sqlite", location),
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")


def _connect_postgres(url: str, lock_timeout_s: float) -> DriverRows | None:
    m = _URL.match(url)
    if m is None or redact_url(url).startswith("<unparsable"):
        return None  # storage.db says what is wrong with it
    location, _, query = m["rest"].partition("?")
    if any(ch in (m["password"] or "") for ch in "?#/[]") or "#" in m["rest"]:
        return None  # SQLAlchemy reads these unescaped; libpq would not
    if any(k in ("host", "hostaddr") for k, _ in parse_qsl(query)):
        return None  # a socket folder or several hosts in the query: SQLAlchemy passes them its way
    import psycopg

    try:
        conn = psycopg.connect("postgresql" + url.removeprefix("postgresql+psycopg"), autocommit=True,
                               **POSTGRES_CONNECT_ARGS)
        postgres_lock_timeout(conn, int(lock_timeout_s * 1000))
    except psycopg.Error as exc:
        raise unreachable(url, exc) from None
    return _at_head(DriverRows(conn, "postgresql", redact_url(url)),
                    "SELECT count(*) FROM (SELECT to_regclass('alembic_version') AS t) x WHERE t IS NOT NULL")


def _at_head(rows: DriverRows, has_version_table: str) -> DriverRows | None:
    try:
        if not rows.rows(has_version_table, {})[0][0]:
            raise NoSchema(rows.location)
        stored = rows.rows("SELECT version_num FROM alembic_version", {})
        if not stored or stored[0][0] != head_revision() or head_revision() is None:
            rows.close()
            return None
    except BaseException:
        rows.close()
        raise
    return rows
