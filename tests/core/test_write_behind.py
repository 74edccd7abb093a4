"""core.write_behind: transactions on a writer thread, in order, one at a time, failures raised to the
caller, and nothing left running when the caller's block ends."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest

from core.write_behind import WriteBehind


class Store:
    """A store whose transactions log begin/commit/rollback, with the thread they ran on."""

    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []
        self.threads: set[str] = set()
        self.open = 0
        self.most_open = 0
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self):
        with self._lock:
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        self.threads.add(threading.current_thread().name)
        tx: list = []
        try:
            yield tx
        except BaseException:
            self.log.append(("rollback", tuple(tx)))
            raise
        else:
            self.log.append(("commit", tuple(tx)))
        finally:
            with self._lock:
                self.open -= 1


def test_transactions_commit_in_submission_order_on_one_writer_thread_and_then_runs_after_commit():
    """... and `then` runs in the caller's thread, so the caller's counts and progress are only
    ever touched by one thread (it may write other things meanwhile)."""
    store, seen = Store(), []

    def write(n):
        def run(tx):
            time.sleep(0.002 * (5 - n))  # earlier ones slower: order must not depend on speed
            tx.append(n)
            return n * 10
        return run

    def then(result):
        seen.append((result, store.log[-1], threading.current_thread().name))  # committed when `then` runs

    with WriteBehind(store, name="w") as writer:
        for n in range(5):
            writer.submit(write(n), then=then)
    assert store.log == [("commit", (n,)) for n in range(5)]
    assert seen == [(n * 10, ("commit", (n,)), threading.current_thread().name) for n in range(5)]
    assert store.most_open == 1
    assert store.threads == {"w_0"} and threading.current_thread().name != "w_0"


def test_a_failed_transaction_is_raised_at_the_next_submit_and_nothing_after_it_is_written():
    store = Store()

    def boom(tx):
        tx.append("bad")
        raise ValueError("the database refused it")

    with pytest.raises(ValueError, match="refused"), WriteBehind(store) as writer:
        writer.submit(lambda tx: tx.append(1))
        writer.submit(boom)
        writer.submit(lambda tx: tx.append(3))  # raises boom's error; 3 is never written
        writer.submit(lambda tx: tx.append(4))
    assert store.log == [("commit", (1,)), ("rollback", ("bad",))]


def test_the_last_transactions_failure_is_raised_when_the_block_ends():
    store = Store()

    def boom(tx):
        raise RuntimeError("lock lost")

    with pytest.raises(RuntimeError, match="lock lost"), WriteBehind(store) as writer:
        writer.submit(lambda tx: tx.append(1))
        writer.submit(boom)
    assert store.log == [("commit", (1,)), ("rollback", ())]


def test_an_error_in_the_block_waits_for_the_transaction_in_flight_and_wins():
    """The caller's own failure (a vendor error, Ctrl-C) propagates only once the transaction in
    flight has ended, so no write outlives the run; that transaction's own failure does not mask it."""
    store, started = Store(), threading.Event()

    def slow(tx):
        started.set()
        time.sleep(0.2)
        tx.append("slow")

    def slow_and_failing(tx):
        started.set()
        time.sleep(0.2)
        raise ValueError("secondary")

    for write, outcome in ((slow, "commit"), (slow_and_failing, "rollback")):
        store.log.clear()
        started.clear()
        with pytest.raises(KeyError), WriteBehind(store) as writer:
            writer.submit(write)
            started.wait(5)
            raise KeyError("the vendor failed")
        assert store.open == 0 and [kind for kind, _ in store.log] == [outcome]


def test_a_submit_outside_the_block_is_refused():
    writer = WriteBehind(Store())
    with pytest.raises(RuntimeError, match="outside"):
        writer.submit(lambda tx: None)


def test_a_transaction_committed_while_the_caller_fails_is_still_counted():
    """The caller fails (a vendor error, Ctrl-C) while its last transaction is in flight: leaving
    the block waits for it, and runs its `then` if it committed — the run's record counts it."""
    store, counted, started = Store(), [], threading.Event()

    def slow(tx):
        started.set()
        time.sleep(0.05)
        tx.append("last")
        return 7

    with pytest.raises(KeyError), WriteBehind(store) as writer:
        writer.submit(slow, then=counted.append)
        started.wait(5)
        raise KeyError("vendor failed")
    assert store.log == [("commit", ("last",))]
    assert counted == [7]


@pytest.mark.parametrize("wait_in", ["drain", "submit", "exit"])
def test_a_transaction_committed_while_the_caller_is_interrupted_waiting_for_it_is_still_counted(wait_in):
    """Ctrl-C (a signal: KeyboardInterrupt raised in the main thread) lands while the caller waits in
    `drain`, `submit` or at the end of the block for the transaction in flight (on Postgres the Cursor
    sync's last events batch is waited for there, after the daily usage): it is still waited for and
    its `then` runs if it committed, as for a failure anywhere else in the block."""
    import signal

    store, counted, started = Store(), [], threading.Event()

    def slow(tx):
        started.set()
        time.sleep(0.3)
        tx.append("last")
        return 7

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with pytest.raises(KeyboardInterrupt), WriteBehind(store) as writer:
            writer.submit(slow, then=counted.append)
            started.wait(5)
            signal.setitimer(signal.ITIMER_REAL, 0.05)  # while the caller waits below
            if wait_in == "drain":
                writer.drain()
            elif wait_in == "submit":
                writer.submit(lambda tx: tx.append("never"), then=counted.append)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert store.log == [("commit", ("last",))]
    assert counted == [7]
