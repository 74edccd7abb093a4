"""Transactions committed on a thread of their own, in order, while the caller prepares the next.

A Cursor events sync alternates two kinds of work: taking the next batch's pages from the events
worker (unpickling them, tracking windows and re-reads), and writing the batch in one transaction
(key owners, the present-key look-up, the rows sent to the database, the rollups, the checkpoint,
the commit). Much of a write is the database's own time — the Postgres server ingesting a COPY and
folding rollups, SQLite inside `sqlite3_step` — during which the driver releases the GIL. Done on
one thread, the process waits through all of it; here the next batch is gathered meanwhile.

At most one transaction is in flight, so writes stay in the caller's order and at most two
batches are in memory (the one being written and the one being gathered). `submit` first waits
for the previous transaction: if it failed, its exception is raised there, in the caller's thread,
exactly as a failed synchronous write would have been, and nothing after it is written. `drain`
waits for the last one. A transaction's `then` (counting what it wrote, reporting progress) runs
in the caller's thread once it is waited for, so the caller's bookkeeping is never touched by two
threads at once. Leaving the context always waits for the transaction in flight to end
(committed or rolled back) before the exception that ended the block goes on, so no write outlives
the caller's run, and the run's record is written after it (counting that transaction if it
committed).

    with WriteBehind(store) as writer:
        for batch in batches:
            writer.submit(lambda tx, batch=batch: tx.write_usage(batch))
        writer.drain()
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.sync import SyncStore, SyncTx


class WriteBehind:
    """One writer thread running `store.transaction()` units in submission order, one at a time."""

    def __init__(self, store: SyncStore, *, name: str = "abacus-writer") -> None:
        self._store = store
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._pending: tuple[Future, Callable[[Any], None] | None] | None = None

    def __enter__(self) -> WriteBehind:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        pool, self._pool = self._pool, None
        try:
            if exc_type is None:
                self.drain()
        finally:
            try:
                if self._pending is not None:
                    # the block failed, or was interrupted (here too, while `drain` waited): let the
                    # transaction in flight end first; its own outcome is secondary to the exception
                    # already on its way, but what it committed is counted
                    (future, then), self._pending = self._pending, None
                    if future.exception() is None and then is not None:
                        then(future.result())
            finally:
                if pool is not None:
                    pool.shutdown(wait=True)

    def submit(self, write: Callable[[SyncTx], Any], then: Callable[[Any], None] | None = None) -> None:
        """Run `write(tx)` in a transaction of its own once the previous one has committed; `then(its
        result)` runs in the caller's thread when it is waited for (the next `submit`, `drain`, or
        leaving the context). The previous transaction's failure is raised here."""
        if self._pool is None:
            raise RuntimeError("WriteBehind.submit outside its `with` block")
        self.drain()
        self._pending = (self._pool.submit(self._run, write), then)

    def drain(self) -> None:
        """Wait for the transaction in flight, then run its `then`; raise its failure."""
        if self._pending is None:
            return
        future, then = self._pending
        # still pending while waited for: an interrupt here (Ctrl-C, SIGTERM) leaves it to `__exit__`,
        # which waits for it and counts it if it committed
        result = future.result()
        self._pending = None
        if then is not None:
            then(result)

    def _run(self, write: Callable[[SyncTx], Any]) -> Any:
        with self._store.transaction() as tx:
            return write(tx)
