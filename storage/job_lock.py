"""A lock around jobs (a sync, the scheduled job) so that only one runs at a time: across replicas
on one Postgres, and across the processes sharing one SQLite file (the bot and a CLI backfill).

Postgres: a **lease**, a row of `job_lease` (holder, expiry by the database's clock) taken with one
upsert that succeeds only when the row is free or expired, renewed every few seconds by a
background thread through the connection pool, and checked again inside every sync transaction
(`fence`). No connection is held for the job's duration, so a restart, a failover, a pooler or
`idle_session_timeout` closing a connection costs nothing; a process that dies frees the lease
when it expires (`LEASE_TTL_S`). Should a holder lose contact with the database for longer than
that and another process take the lease, the first one's next transaction is refused with
`LockLost` — it stops and says so, it never runs alongside.
(A session advisory lock, as before, lived and died with one connection: when that connection
was closed the lock was silently gone, a second sync started, and the first failed on release.)

SQLite: `flock` on a file beside the database (released by the OS if the process dies, a file
cannot lose its connection); the lease row is written too, so that "is a sync running, and
which one?" has one answer on both databases (`live_holders`). Within one process a threading
lock comes first.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from core.errors import LockLost

if TYPE_CHECKING:  # a Session or storage.db.Unit: only `.connection()` / `.get_bind()` are used
    from sqlmodel import Session

try:
    import fcntl
except ImportError:  # not POSIX: the in-process lock is all there is
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

SYNC_LOCK = "sync"  # any sync (scheduled, from Slack or the CLI): one at a time
LEASE_TTL_S = 30.0  # a lease not renewed for this long is free again (a holder that died)

_LOCAL: dict[str, threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()
_HELD: dict[tuple[int, str], _Lease] = {}  # (id(engine), name) → the lease this process holds


def lock_id(name: str) -> int:
    """A stable signed 64-bit id for a lock name."""
    return int.from_bytes(hashlib.sha256(f"abacus:{name}".encode()).digest()[:8], "big", signed=True)


def new_holder() -> str:
    """Who holds a lease: host, process id and a random tag (a pid is reused after a restart)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


def _now_ms(engine_or_conn) -> str:
    """SQL for 'now' in epoch milliseconds by the database's clock (replicas' clocks may differ)."""
    if engine_or_conn.dialect.name == "postgresql":
        return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    return "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"


@dataclass(eq=False)
class _Lease:
    engine: Engine
    name: str
    holder: str
    ttl: float
    exclusive_by_lease: bool  # Postgres: the lease is the lock; SQLite: flock is, the lease informs
    lost: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def _params(self) -> dict:
        return {"n": self.name, "h": self.holder, "ttl": int(self.ttl * 1000)}

    def take(self, *, force: bool) -> bool:
        """Write the lease if it is free or expired (or, `force`, whoever holds it); True if ours."""
        now = _now_ms(self.engine)
        when = "" if force else f" WHERE job_lease.expires_ms < {now} OR job_lease.holder = excluded.holder"
        with self.engine.begin() as conn:
            row = conn.execute(text(
                f"INSERT INTO job_lease (name, holder, acquired_ms, expires_ms) VALUES (:n, :h, {now}, {now} + :ttl) "
                f"ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, acquired_ms = excluded.acquired_ms, "
                f"expires_ms = excluded.expires_ms{when} RETURNING holder"), self._params()).first()
        return row is not None and row[0] == self.holder

    def renew(self, conn) -> bool:
        """Extend the lease by `ttl` from now; False when it is no longer ours."""
        now = _now_ms(conn)
        result = conn.execute(text(f"UPDATE job_lease SET expires_ms = {now} + :ttl WHERE name = :n AND holder = :h"),
                              self._params())
        return result.rowcount == 1

    def release(self) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(text("DELETE FROM job_lease WHERE name = :n AND holder = :h"), self._params())
        except DBAPIError as exc:
            log.warning("job lock %r: could not release the lease (%s); it expires by itself within %d s",
                        self.name, type(exc.orig or exc).__name__, int(self.ttl))

    def _heartbeat(self) -> None:
        told = False
        while not self.stop.wait(self.ttl / 6):
            try:
                with self.engine.begin() as conn:
                    ours = self.renew(conn)
                told = False
            except DBAPIError as exc:  # the database is unreachable for now: try again next beat
                if not told:
                    log.warning("job lock %r: cannot renew the lease (%s); retrying", self.name,
                                type(exc.orig or exc).__name__)
                    told = True
                continue
            if not ours:
                self.lost.set()
                log.error("job lock %r: the lease was taken over by another process", self.name)
                return

    def start(self) -> None:
        self.thread = threading.Thread(target=self._heartbeat, name=f"lease-{self.name}", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=self.ttl)
        self.release()


@contextmanager
def try_job_lock(engine: Engine, name: str, *, wait: float = 0.0,
                 on_wait: Callable[[], None] | None = None, ttl: float = LEASE_TTL_S) -> Iterator[bool]:
    """Yields True when this process holds the lock, False when someone else still does after
    `wait` seconds (0: don't wait). `on_wait` is called once if it has to wait."""
    deadline = time.monotonic() + wait
    with _LOCAL_GUARD:
        local = _LOCAL.setdefault(name, threading.Lock())
    if not _acquire(lambda: local.acquire(blocking=False), deadline, on_wait):
        yield False
        return
    try:
        lease = _Lease(engine, name, new_holder(), ttl, exclusive_by_lease=engine.dialect.name != "sqlite")
        if lease.exclusive_by_lease:
            got = _acquire(lambda: lease.take(force=False), deadline, on_wait)
            with _holding(lease, got):
                yield got
        else:
            with sqlite_file_lock(engine, name, wait=max(0.0, deadline - time.monotonic()), on_wait=on_wait) as got:
                if got:
                    lease.take(force=True)  # the file lock makes us the only holder
                with _holding(lease, got):
                    yield got
    finally:
        local.release()


@contextmanager
def _holding(lease: _Lease, got: bool) -> Iterator[None]:
    if not got:
        yield
        return
    key = (id(lease.engine), lease.name)
    _HELD[key] = lease
    lease.start()
    try:
        yield
    finally:
        _HELD.pop(key, None)
        lease.close()


def held_by_this_process(engine: Engine, name: str) -> str | None:
    """The holder id of `name` if this process holds it on `engine`, else None."""
    lease = _HELD.get((id(engine), name))
    return lease.holder if lease is not None else None


def fence(session: Session, name: str) -> None:
    """Inside a transaction of a job holding `name`: make sure the lock is still ours until this
    transaction commits (Postgres: the renewal row-locks the lease, so nobody can take it before
    the commit), or raise LockLost and let the transaction roll back. Nothing to do for a job that
    does not hold the lock through this process, or on SQLite (a file lock cannot be lost)."""
    engine = session.get_bind()
    lease = _HELD.get((id(engine), name))
    if lease is None or not lease.exclusive_by_lease:
        return
    if lease.lost.is_set() or not lease.renew(session.connection()):
        lease.lost.set()
        raise LockLost(f"this process lost the {name} lock (no contact with the database for over "
                       f"{int(lease.ttl)} s, and another process may have taken over): stopped here; "
                       f"everything committed before is kept and exact — run it again")


def live_holders(session: Session) -> dict[str, str]:
    """Lock name → holder, for every lease that is live now (by the database's clock)."""
    now = _now_ms(session.get_bind())
    rows = session.connection().execute(text(f"SELECT name, holder FROM job_lease WHERE expires_ms >= {now}"))
    return {name: holder for name, holder in rows}


@contextmanager
def sqlite_file_lock(engine: Engine, name: str, *, wait: float = 0.0,
                     on_wait: Callable[[], None] | None = None) -> Iterator[bool]:
    """`flock` on `<database file>-<name>.lock`: one holder across processes. Yields True when
    held (always for other databases, without a database file or without flock), False if still
    taken after `wait`."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or fcntl is None or not path or path == ":memory:" or path.startswith("file:"):
        yield True
        return
    fd = os.open(f"{path}-{name}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        def take() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        got = _acquire(take, time.monotonic() + wait, on_wait)
        try:
            yield got
        finally:
            if got:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(take: Callable[[], bool], deadline: float, on_wait: Callable[[], None] | None) -> bool:
    """Try `take` until it succeeds or `deadline` passes (polling: the holders are long jobs)."""
    told = False
    while True:
        if take():
            return True
        if time.monotonic() >= deadline:
            return False
        if on_wait is not None and not told:
            on_wait()
            told = True
        time.sleep(min(0.5, max(0.01, deadline - time.monotonic())))
