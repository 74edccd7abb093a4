"""A lock around scheduled jobs so that, with several replicas on one Postgres, only one runs a
job at a time. Postgres: a session advisory lock (`pg_try_advisory_lock`) held on a dedicated
connection for the job's duration (released on unlock, or by Postgres if the process dies).
SQLite is single-process: a lock in this process is enough."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine

_LOCAL: dict[str, threading.Lock] = {}
_LOCAL_GUARD = threading.Lock()


def lock_id(name: str) -> int:
    """A stable signed 64-bit id for a lock name."""
    return int.from_bytes(hashlib.sha256(f"abacus:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def try_job_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Yields True when this process holds the lock, False when someone else does (don't wait)."""
    with _LOCAL_GUARD:
        local = _LOCAL.setdefault(name, threading.Lock())
    if not local.acquire(blocking=False):
        yield False
        return
    try:
        if engine.dialect.name != "postgresql":
            yield True
            return
        key = lock_id(name)
        with engine.connect() as conn:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
    finally:
        local.release()
