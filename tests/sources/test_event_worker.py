"""The Cursor events worker process (core.sources.event_worker): the same batches as in-process,
vendor failures raised in the parent as they would be in-process, and no process left behind —
when the parent stops reading, and when the parent is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import pytest

from core.sources.cursor import CursorAdmin, day_end_ms, day_start_ms
from core.sources.event_worker import InlineEvents, WorkerEvents, event_stream, worker_available
from core.sources.http import RetryPolicy, VendorError, make_client
from tests.fakes.vendors import CursorTeam, EventList, FakeCursor, day_ms

pytestmark = pytest.mark.skipif(not worker_available(), reason="needs fork")

KEY = "key_test_0123456789"
DAYS = [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]
WINDOWS = [(day_start_ms(d), day_end_ms(d)) for d in DAYS]


def _events() -> list[dict]:
    out = []
    for n, day in enumerate(DAYS):  # 7, 8 and 9 events; twins (identical events) in every day
        for i in range(7 + n):
            out.append({"timestamp": str(day_ms(day, 1, 0, i // 2)), "userEmail": f"u{i % 3}@example.com",
                        "model": "gpt-5", "tokenUsage": {"inputTokens": 10 + i, "outputTokens": 1},
                        "chargedCents": 1.5})
    return out


def _client(server, http, **kw) -> CursorAdmin:
    return CursorAdmin(http, KEY, retry=RetryPolicy(attempts=1), label="t",
                       http_factory=lambda: make_client(server.url, timeout=5), **kw)


def _read(stream) -> list[tuple]:
    with stream as s:
        return [(b.window_start_ms, b.page, b.window_done, list(b.records)) for w in WINDOWS for b in s.window(*w)]


def test_worker_gives_the_batches_inline_reading_gives():
    with FakeCursor({KEY: CursorTeam(events=EventList(_events()))}, page_size=2, log_requests=False) as server, \
            make_client(server.url, timeout=5) as http:
        inline_client = _client(server, http)
        inline = _read(InlineEvents(inline_client, org="t"))
        worker_client = _client(server, http)
        stream = event_stream(worker_client, WINDOWS, org="t")
        assert isinstance(stream, WorkerEvents)
        worked = _read(stream)
    assert worked == inline
    assert sum(len(b[3]) for b in worked) == 7 + 8 + 9
    assert [b[1] for b in worked] == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 5]  # pages of 2
    assert worker_client.api.requests == inline_client.api.requests == 13  # counted in the parent too


def test_worker_runs_a_commit_batch_ahead_of_the_reader():
    """The reader writes a batch at a time: the worker must not stop a few pages ahead while it
    does, or the two processes take turns. With `ahead` covering every event here, it fetches all
    13 pages before the reader takes one; without, it stops once its queue of 8 pages is full
    (the pages are queued pickled, so a batch ahead costs its pickled size)."""
    def fetched_before_reading(ahead: int) -> int:
        with FakeCursor({KEY: CursorTeam(events=EventList(_events()))}, page_size=2, log_requests=False) as server, \
                make_client(server.url, timeout=5) as http:
            stream = event_stream(_client(server, http, page_size=2), WINDOWS, org="t", ahead=ahead)
            with stream as s:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    before = server.requests
                    time.sleep(0.3)
                    if server.requests == before:  # the worker has stopped fetching
                        break
                fetched = server.requests
                assert sum(len(b.records) for w in WINDOWS for b in s.window(*w)) == 7 + 8 + 9
            return fetched

    assert fetched_before_reading(24) == 13
    # 8 queued, one held by the blocked put, the prefetcher's pages; never the whole of the 13
    assert fetched_before_reading(0) < 13


def test_worker_gives_the_daily_usage_after_the_windows_as_inline_reading_does():
    """The daily usage of the days asked for comes after the last event window, converted, the same
    in the worker as in-process; a vendor failure there is raised in the parent, after the events."""
    daily = [{"date": day_ms(d), "email": f"u{i}@example.com", "isActive": bool(i), "totalLinesAdded": 10 * i + n,
              "composerRequests": i} for n, d in enumerate(DAYS) for i in range(3)]
    team = CursorTeam(events=EventList(_events()), daily=daily)
    with FakeCursor({KEY: team}, page_size=2, log_requests=False) as server, \
            make_client(server.url, timeout=5) as http:
        def read(stream) -> tuple[int, list]:
            with stream as s:
                events = sum(len(b.records) for w in WINDOWS for b in s.window(*w))
                return events, [(first, last, sorted((r.day, r.person, r.lines_added) for r in recs))
                                for first, last, recs in s.daily()]
        inline = read(InlineEvents(_client(server, http), org="t", daily=(DAYS[0], DAYS[-1])))
        stream = event_stream(_client(server, http), WINDOWS, org="t", daily=(DAYS[0], DAYS[-1]))
        assert isinstance(stream, WorkerEvents)
        worked = read(stream)
        server.faults.add("/teams/daily-usage-data", "500", times=-1)
        with pytest.raises(VendorError, match="daily-usage-data"), \
                event_stream(_client(server, http), WINDOWS, org="t", daily=(DAYS[0], DAYS[-1])) as failing:
            assert sum(len(b.records) for w in WINDOWS for b in failing.window(*w)) == 7 + 8 + 9
            list(failing.daily())
    assert worked == inline
    assert worked[0] == 7 + 8 + 9
    assert worked[1] == [(DAYS[0], DAYS[-1], sorted((d, f"u{i}@example.com", 10 * i + n)
                                                    for n, d in enumerate(DAYS) for i in range(3)))]


def test_without_a_http_factory_or_when_off_it_runs_inline():
    with make_client("http://127.0.0.1:9", timeout=1) as http:
        client = CursorAdmin(http, KEY)
        assert isinstance(event_stream(client, WINDOWS, org="t"), InlineEvents)
        client.http_factory = lambda: http
        assert isinstance(event_stream(client, WINDOWS, org="t", use_worker=False), InlineEvents)


def test_a_vendor_failure_is_raised_in_the_parent_after_the_pages_before_it():
    with FakeCursor({KEY: CursorTeam(events=EventList(_events()))}, page_size=2, log_requests=False) as server, \
            make_client(server.url, timeout=5) as http:
        server.faults.add("/teams/filtered-usage-events", "500", times=-1, after=5)  # from day 2, page 2 on
        stream = event_stream(_client(server, http), WINDOWS, org="t")
        got = []
        with stream, pytest.raises(VendorError, match="HTTP 500") as info:
            for w in WINDOWS:
                for batch in stream.window(*w):
                    got.append((batch.window_start_ms, batch.page))
        assert got == [(WINDOWS[0][0], p) for p in (1, 2, 3, 4)] + [(WINDOWS[1][0], 1)]
        assert KEY not in str(info.value)
        assert not stream._proc.is_alive()


def test_a_parent_that_stops_reading_ends_the_worker():
    with FakeCursor({KEY: CursorTeam(events=EventList(_events()))}, page_size=1, log_requests=False) as server, \
            make_client(server.url, timeout=5) as http:
        stream = event_stream(_client(server, http), WINDOWS, org="t")
        with stream:
            next(iter(stream.window(*WINDOWS[0])))
            proc = stream._proc
            assert proc.is_alive()
        assert not proc.is_alive()


def test_the_worker_dies_with_a_killed_parent(tmp_path):
    """SIGKILL the process that started a worker while the worker waits on the vendor: the worker
    must not live on (Linux: the kernel ends it; elsewhere it notices when it next blocks)."""
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from core.sources.cursor import CursorAdmin
        from core.sources.event_worker import event_stream
        from core.sources.http import RetryPolicy, make_client
        url, windows = sys.argv[1], [(0, 10**13)]
        client = CursorAdmin(make_client(url, timeout=60), {KEY!r}, retry=RetryPolicy(attempts=1),
                             http_factory=lambda: make_client(url, timeout=60))
        with event_stream(client, windows, org="t") as stream:
            print(stream._proc.pid, flush=True)
            for batch in stream.window(*windows[0]):
                pass
    """))
    release = __import__("threading").Event()
    with FakeCursor({KEY: CursorTeam(events=EventList(_events()))}, page_size=1, log_requests=False,
                    on_events_page=lambda page: release.wait(30) if page >= 2 else None) as server:
        parent = subprocess.Popen([sys.executable, str(script), server.url], stdout=subprocess.PIPE, text=True)
        try:
            child = int(parent.stdout.readline())
            time.sleep(0.5)  # the worker is now waiting for page 2
            os.kill(parent.pid, signal.SIGKILL)
            parent.wait(10)
            release.set()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _alive(child):
                time.sleep(0.05)
            assert not _alive(child)
        finally:
            release.set()
            if parent.poll() is None:
                parent.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


def _dies_mid_page(client, windows, daily, org, out, parent) -> None:
    """A worker killed while it writes a page (SIGKILL, the OOM killer): the pipe holds the start
    of a message whose rest never comes."""
    import struct

    os.write(out._writer.fileno(), struct.pack("!i", 1_000_000) + b"\x80" * 100)
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_in_the_middle_of_a_page_fails_the_read_instead_of_hanging(monkeypatch):
    """The reader waits for the rest of a message only while someone can still write it: once the
    worker is dead, the read fails (`VendorError`, as any stopped worker) within seconds."""
    import core.sources.event_worker as event_worker

    def timeout(signum, frame):
        raise TimeoutError("the read of a dead worker's half page hung")

    monkeypatch.setattr(event_worker, "_work", _dies_mid_page)
    with FakeCursor({KEY: CursorTeam(events=EventList(_events()))}, page_size=2, log_requests=False) as server, \
            make_client(server.url, timeout=5) as http:
        stream = event_stream(_client(server, http), WINDOWS, org="t")
        previous = signal.signal(signal.SIGALRM, timeout)
        signal.setitimer(signal.ITIMER_REAL, 10)
        try:
            with stream, pytest.raises(VendorError, match="stopped unexpectedly"):
                list(stream.window(*WINDOWS[0]))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        assert not stream._proc.is_alive()


def test_an_activity_record_crosses_from_the_worker_whole():
    """The worker pickles the daily usage it converted (ActivityRecord.__reduce__: the class and its
    values in field order): every field comes back, a shared object stays shared."""
    import dataclasses
    import pickle

    from core.sources.records import ActivityRecord

    values = {f.name: (date(2026, 11, 2) if f.name == "day" else {"total_applies": 3, "ext": None}
                       if f.name == "detail" else False if f.name == "is_active" else
                       f"{f.name}-v" if f.type in ("str", "str | None") else n + 1)
              for n, f in enumerate(dataclasses.fields(ActivityRecord))}
    record = ActivityRecord(**values)
    back = pickle.loads(pickle.dumps([record, record], protocol=pickle.HIGHEST_PROTOCOL))
    assert [dataclasses.asdict(r) for r in back] == [values, values]
    assert back[0] is back[1]
