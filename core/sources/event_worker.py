"""Cursor usage events fetched, parsed and converted in a worker process, while the sync writes.

A sync's time goes to two kinds of Python work that both hold the GIL: getting the events (HTTP,
JSON, checking and converting each event, its natural-key digest) and writing them (building rows,
the database driver). In one process they take turns on one core, whatever the threads. Here the
first runs in a child process on the other core: forked when the event phase starts (everything is
imported already, so it starts in milliseconds), it runs the very same `CursorAdmin.usage_events`
(paging, re-reads, window splitting, retries and rate limits, secrets scrubbed from errors) over
every window of the sync, oldest first, and hands the converted pages over a bounded queue. The
parent reads them window by window and writes and checkpoints exactly as before, so resuming,
idempotence and exactness are unchanged.

The queue is deep enough for the child to run a whole commit batch ahead (`ahead` events): the
parent takes its pages as they come but writes them a batch at a time, and a queue of a few pages
would stop the child for as long as every batch's insert takes — the two processes would take
turns instead of overlapping. Each page is queued pickled (bytes, pickled by the child as it is
queued), so a batch waiting in the child costs its pickled size (~55 KB per 500 events, a few MB for
the batch) rather than the page's Python objects: the memory bound holds.

    with event_stream(client, windows, org=org, daily=(first_day, last_day)) as stream:
        for start_ms, end_ms in windows:
            for batch in stream.window(start_ms, end_ms): ...
        for first, last, records in stream.daily(): ...

When asked (`daily=(start, end)`), the child then fetches and converts the daily usage of those
days too (`CursorAdmin.daily_activity_chunks`), while the parent is still writing events; the parent
reads them after the last window (`stream.daily()`).

The child opens its own HTTP connections (`CursorAdmin.http_factory`): a connection, or a TLS
session, shared by two processes would be corrupted. It touches nothing else of the parent's
(database connections included) and leaves with `os._exit`, so no finaliser of an inherited object
runs. It stops when the parent closes the stream, and by itself if the parent dies.

Where a fork is not available (not POSIX), or the client has no `http_factory` (a client built
around an injected transport), or `ABACUS_SYNC_WORKER=off`, the same interface runs in-process.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import signal
import sys
from collections.abc import Iterator, Sequence
from datetime import date
from typing import TYPE_CHECKING

from core.sources.http import VendorError

if TYPE_CHECKING:
    from core.sources.cursor import CursorAdmin, EventBatch
    from core.sources.records import ActivityRecord

DailyChunk = tuple[date, date, "list[ActivityRecord]"]

_BATCH, _END, _ERROR, _DAILY = 0, 1, 2, 3
_POLL_S = 0.5  # how often a blocked side checks that the other is still there
_MIN_DEPTH = 8  # pages queued ahead besides a commit batch


def worker_available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def event_stream(client: CursorAdmin, windows: Sequence[tuple[int, int]], *, org: str,
                 daily: tuple[date, date] | None = None, use_worker: bool = True,
                 ahead: int = 0) -> InlineEvents | WorkerEvents:
    """The events of `windows` (and then the daily usage of `daily`), fetched and converted in a
    worker process where it can run, else in this one. `ahead`: how many events the worker may
    have converted and queued before the reader takes them (the reader's commit batch)."""
    if use_worker and client.http_factory is not None and worker_available() and windows:
        depth = _MIN_DEPTH + -(-ahead // max(1, client.page_size))
        return WorkerEvents(client, windows, org=org, daily=daily, depth=depth)
    return InlineEvents(client, org=org, daily=daily)


class InlineEvents:
    """The events of each window fetched when the window is read, in this process."""

    def __init__(self, client: CursorAdmin, *, org: str, daily: tuple[date, date] | None = None) -> None:
        self.client, self.org, self._daily = client, org, daily

    def __enter__(self) -> InlineEvents:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def window(self, start_ms: int, end_ms: int) -> Iterator[EventBatch]:
        yield from self.client.usage_events(start_ms, end_ms, org=self.org)

    def daily(self) -> Iterator[DailyChunk]:
        if self._daily is not None:
            yield from self.client.daily_activity_chunks(*self._daily, org=self.org)


class WorkerEvents:
    """Every window's events, fetched and converted ahead in a child process, read in order."""

    def __init__(self, client: CursorAdmin, windows: Sequence[tuple[int, int]], *, org: str,
                 daily: tuple[date, date] | None = None, depth: int = _MIN_DEPTH) -> None:
        ctx = multiprocessing.get_context("fork")
        self.client = client
        self._windows = list(windows)
        self._next = 0
        self._daily = daily
        self._queue = ctx.Queue(maxsize=depth)
        self._proc = ctx.Process(target=_work, args=(client, self._windows, daily, org, self._queue, os.getpid()),
                                 name="abacus-cursor-events", daemon=True)

    def __enter__(self) -> WorkerEvents:
        self._proc.start()
        # this side only reads: without its copy of the pipe's write end, a worker that dies in the
        # middle of a page (SIGKILL, the OOM killer) ends the read (EOF) instead of leaving it
        # waiting for the rest of the page forever
        self._queue._writer.close()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join(timeout=10)
        if self._proc.is_alive():  # pragma: no cover - a child that ignores SIGTERM
            self._proc.kill()
            self._proc.join()
        self._queue.cancel_join_thread()
        self._queue.close()

    def window(self, start_ms: int, end_ms: int) -> Iterator[EventBatch]:
        if self._next >= len(self._windows) or self._windows[self._next] != (start_ms, end_ms):
            raise ValueError(f"windows must be read in the order given; got {start_ms}..{end_ms}")
        self._next += 1
        yield from self._read(_BATCH)

    def daily(self) -> Iterator[DailyChunk]:
        """The daily usage asked for, window by window (after every event window was read)."""
        if self._daily is None:
            return
        if self._next < len(self._windows):
            raise ValueError("the daily usage comes after every event window; read those first")
        yield from self._read(_DAILY)

    def _read(self, wanted: int) -> Iterator:
        """The child's items of kind `wanted` up to its next end marker; its failure is raised here."""
        while True:
            kind, payload, requests = self._get()
            self.client.api.requests += requests
            if kind == wanted:
                yield payload
            elif kind == _END:
                return
            elif kind == _ERROR:
                raise payload
            else:
                raise ValueError(f"the events worker sent an item of kind {kind} out of order")

    def _get(self) -> tuple:
        while True:
            try:
                return pickle.loads(self._queue.get(timeout=_POLL_S))
            except queue.Empty:
                if not self._proc.is_alive():
                    raise self._stopped() from None
            except (EOFError, OSError):  # the worker died, maybe in the middle of a page
                self._proc.join(timeout=_POLL_S)
                raise self._stopped() from None

    def _stopped(self) -> VendorError:
        return VendorError(f"Cursor API ({self.client.label}): the process fetching usage events "
                           f"stopped unexpectedly (exit code {self._proc.exitcode})")


def _work(client: CursorAdmin, windows: list[tuple[int, int]], daily: tuple[date, date] | None, org: str, out,
          parent: int) -> None:
    """The child: fetch and convert every window, in order, onto `out`, then the daily usage asked
    for; then leave."""
    # the parent's handlers (the bot's graceful shutdown) are not the child's: SIGTERM from close()
    # and Ctrl-C end it at once
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _die_with(parent)
    client.api.client = client.http_factory()  # connections of its own; the parent's stay untouched
    counted = client.api.requests
    orphaned = False

    def requests() -> int:
        nonlocal counted
        n, counted = client.api.requests - counted, client.api.requests
        return n

    def put(item: tuple) -> bool:
        nonlocal orphaned
        item = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)  # queued as bytes: see the module's doc
        while True:
            try:
                out.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                if os.getppid() != parent:  # the parent is gone: nobody will read this
                    orphaned = True
                    return False

    try:
        for start_ms, end_ms in windows:
            for batch in client.usage_events(start_ms, end_ms, org=org):
                if not put((_BATCH, batch, requests())):
                    return
            if not put((_END, None, requests())):
                return
        if daily is not None:
            for chunk in client.daily_activity_chunks(*daily, org=org):
                if not put((_DAILY, chunk, requests())):
                    return
            if not put((_END, None, requests())):
                return
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, raised there as in-process
        put((_ERROR, _portable(exc), requests()))
    finally:
        if orphaned or os.getppid() != parent:
            out.cancel_join_thread()
        out.close()
        out.join_thread()  # everything put is in the pipe before the child leaves


def _die_with(parent: int) -> None:
    """Have the kernel end this process when the parent dies, even by SIGKILL (Linux:
    PR_SET_PDEATHSIG); elsewhere the `getppid` checks while blocked are all there is."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before that took effect
        os._exit(0)


_PR_SET_PDEATHSIG = 1


def _portable(exc: BaseException) -> BaseException:
    """The exception as the parent will raise it: itself where it survives pickling (vendor errors
    do, and their text carries no secret), else a RuntimeError naming its type."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure
        return RuntimeError(f"the usage-events worker failed: {type(exc).__name__}")
