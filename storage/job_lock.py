"""A lock around jobs (a sync, the scheduled job) so that only one runs at a time: across replicas
on one Postgres, and across the processes sharing one SQLite file (the bot and a CLI backfill).
Postgres: a session advisory lock (`pg_try_advisory_lock`) held on a dedicated connection for the
job's duration (released on unlock, or by Postgres if the process dies). SQLite: `flock` on a
file beside the database (released on unlock, or by the OS if the process dies). Within one
process a threading lock comes first."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine

try:
    import fcntl
except ImportError:  # not POSIX: the in-process lock is all there is
    fcntl = None  # type: ignore[assignment]

SYNC_LOCK = "sync"  # any sync (scheduled, from Slack or the CLI): one at a time

_LOCAL: dict[str, threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()


def lock_id(name: str) -> int:
    """A stable signed 64-bit id for a lock name."""
    return int.from_bytes(hashlib.sha256(f"abacus:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def try_job_lock(engine: Engine, name: str, *, wait: float = 0.0,
                 on_wait: Callable[[], None] | None = None) -> Iterator[bool]:
    """Yields True when this process holds the lock, False when someone else still does after
    `wait` seconds (0: don't wait). `on_wait` is called once if it has to wait."""
    deadline = time.monotonic() + wait
    with _LOCAL_GUARD:
        local = _LOCAL.setdefault(name, threading.Lock())
    if not _acquire(lambda: local.acquire(blocking=False), deadline, on_wait):
        yield False
        return
    try:
        if engine.dialect.name == "postgresql":
            key = lock_id(name)
            with engine.connect() as conn:
                def take() -> bool:
                    got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
                    conn.commit()
                    return got

                got = _acquire(take, deadline, on_wait)
                try:
                    yield got
                finally:
                    if got:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        conn.commit()
        else:
            with sqlite_file_lock(engine, name, wait=max(0.0, deadline - time.monotonic()), on_wait=on_wait) as got:
                yield got
    finally:
        local.release()


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
