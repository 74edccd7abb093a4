"""Every injectable fault: the sync either completes with exact totals, or stops with a one-line reason
and the next run resumes to exact totals — never a partial page, never a duplicate."""

from __future__ import annotations

import time

import pytest

from core.usage import EventRecord
from tests.sync import scenario as sc
from tests.sync.helpers import assert_no_secret

pytestmark = pytest.mark.e2e

EVENTS = "/teams/filtered-usage-events"
CLAUDE_CODE = "/v1/organizations/usage_report/claude_code"
MESSAGES = "/v1/organizations/usage_report/messages"


@pytest.fixture(params=["sqlite"])
def database_url(request, tmp_path):
    """The fault logic does not depend on the database: SQLite here, and a Postgres sample below."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'abacus.db'}"
        return
    from tests.conftest import create_pg_database, drop_pg_database

    url = create_pg_database(request.getfixturevalue("pg_admin_url"))
    try:
        yield url
    finally:
        drop_pg_database(url)


def _args(scenario) -> list[str]:
    return ["sync", "--from", scenario.days[0].isoformat(), "--to", scenario.days[-1].isoformat(), "--quiet"]


def _exact(report, scenario) -> None:
    assert report("user") == sc.expected_rows(scenario.expected, "user")
    assert report("model") == sc.expected_rows(scenario.expected, "model")


def _server(name, fake_anthropic, fake_cursor):
    return fake_anthropic if name == "anthropic" else fake_cursor


RECOVERABLE = [
    ("cursor", EVENTS, "429", {"retry_after": "1"}),
    ("anthropic", CLAUDE_CODE, "429", {"retry_after": None, "times": 2}),
    ("cursor", "/teams/members", "429", {"retry_after": None}),
    ("cursor", EVENTS, "500", {"times": 2, "after": 1}),
    ("anthropic", MESSAGES, "529", {"times": 2}),
    ("anthropic", "/v1/organizations/api_keys", "503", {}),
    ("cursor", EVENTS, "slow", {"delay": 1.5, "after": 2}),  # beyond the 1 s client timeout
    ("anthropic", CLAUDE_CODE, "truncated", {"after": 1}),
    ("cursor", "/teams/daily-usage-data", "truncated", {}),
    ("cursor", EVENTS, "drop", {"after": 3}),
]


@pytest.mark.parametrize("vendor,path,kind,kw", RECOVERABLE, ids=[f"{v}-{k}-{p.rsplit('/', 1)[-1]}"
                                                                 for v, p, k, kw in RECOVERABLE])
def test_transient_faults_are_retried_to_exact_totals(vendor, path, kind, kw, sync_env, cli, report, scenario,
                                                      fake_anthropic, fake_cursor, database_url):
    fault = _server(vendor, fake_anthropic, fake_cursor).faults.add(path, kind, **kw)
    started = time.monotonic()
    res = cli(*_args(scenario))
    assert res.code == 0, res.err
    assert fault.fired == kw.get("times", 1), "the fault never fired"
    if kw.get("retry_after") == "1":
        assert time.monotonic() - started >= 1.0  # Retry-After honoured
    _exact(report, scenario)
    assert_no_secret(res.out + res.err, scenario.secrets)


STOPPING = [
    ("cursor", EVENTS, "500", {"times": 4, "after": 2}, "failed after 4 attempts: HTTP 500"),
    ("anthropic", CLAUDE_CODE, "529", {"times": -1, "after": 1}, "failed after 4 attempts: HTTP 529"),
    ("cursor", EVENTS, "slow", {"times": 4, "after": 3, "delay": 1.2}, "failed after 4 attempts: timed out"),
    ("anthropic", CLAUDE_CODE, "repeat", {"after": 1}, "stopping instead of looping"),
    ("anthropic", MESSAGES, "repeat", {}, "stopping instead of looping"),
    ("cursor", EVENTS, "repeat", {"after": 1}, "asked for page 2, got page 1"),
    ("cursor", EVENTS, "repeat", {"after": 1, "body": "hide_page"}, "repeats page 1"),
    ("cursor", "/teams/daily-usage-data", "repeat", {"after": 1}, "stopping instead of looping"),
    ("cursor", EVENTS, "429", {"retry_after": "3600"}, "asks to wait 3600s"),
    ("cursor", EVENTS, "status", {"status": 400, "body": {"error": "Bad Request"}}, "HTTP 400: Bad Request"),
]


@pytest.mark.parametrize("vendor,path,kind,kw,reason", STOPPING,
                         ids=[f"{v}-{k}-{p.rsplit('/', 1)[-1]}-{i}" for i, (v, p, k, kw, r) in enumerate(STOPPING)])
def test_persistent_faults_stop_with_one_line_then_resume_exactly(vendor, path, kind, kw, reason, sync_env, cli,
                                                                  report, scenario, fake_anthropic, fake_cursor,
                                                                  database_url):
    if kind == "repeat" and vendor == "cursor":
        fake_cursor.page_size = 2  # D1 of team 1 has five events: three pages
    server = _server(vendor, fake_anthropic, fake_cursor)
    server.faults.add(path, kind, **kw)
    res = cli(*_args(scenario))
    assert res.code == 1
    errors = [line for line in res.err.splitlines() if line.startswith("abacus: ")]
    assert len(errors) == 1 and reason in errors[0], res.err  # one failing org: one line, the reason
    assert_no_secret(res.out + res.err, scenario.secrets)
    server.faults.clear()
    again = cli(*_args(scenario))
    assert again.code == 0, again.err
    _exact(report, scenario)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_faults_on_postgres(database_url, sync_env, cli, report, scenario, fake_anthropic, fake_cursor):
    fake_cursor.faults.add(EVENTS, "429", retry_after="0", times=2)
    fake_anthropic.faults.add(CLAUDE_CODE, "truncated")
    fake_cursor.faults.add(EVENTS, "500", times=4, after=4)  # one team gives up …
    res = cli(*_args(scenario))
    assert res.code == 1 and len([x for x in res.err.splitlines() if x.startswith("abacus: ")]) == 1
    fake_cursor.faults.clear()
    assert cli(*_args(scenario)).code == 0  # … and the next run resumes exactly
    _exact(report, scenario)


def test_rate_limiter_keeps_a_burst_under_the_vendor_limit():
    """A server that answers 429 past N requests per second never does so to a client limited to N/s."""
    from collections import deque
    from datetime import date

    from core.sources.cursor import CursorAdmin, day_end_ms, day_start_ms
    from core.sources.http import RateLimiter, RetryPolicy, make_client
    from tests.fakes.vendors import CursorTeam, EventList, FakeCursor, day_ms

    day = date(2026, 3, 1)
    events = [{"timestamp": str(day_ms(day, 1, 0, i)), "userEmail": "a@example.com", "model": "gpt-5",
               "chargedCents": 1} for i in range(24)]

    class LimitedCursor(FakeCursor):
        limit, window = 5, 1.0

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.stamps: deque[float] = deque()
            self.rejected = 0

        def route(self, method, path, query, body, fault):
            now = time.monotonic()
            while self.stamps and now - self.stamps[0] >= self.window:
                self.stamps.popleft()
            if len(self.stamps) >= self.limit:
                self.rejected += 1
                return self.error_reply(429, None)
            self.stamps.append(now)
            return super().route(method, path, query, body, fault)

    with LimitedCursor({"key_test_0123456789": CursorTeam(events=EventList(events))}, page_size=2) as server, \
            make_client(server.url, timeout=5) as http:
        client = CursorAdmin(http, "key_test_0123456789", events_limiter=RateLimiter(5, period=1.05),
                             retry=RetryPolicy(attempts=1))
        got = [r for b in client.usage_events(day_start_ms(day), day_end_ms(day), org="t") for r in b.records]
        assert len(got) == 24 and server.rejected == 0  # 12 pages in ~2.3 s, no 429


def test_pages_ahead_are_fetched_in_order_and_abandoned_cleanly():
    """Pages 2… are fetched and converted ahead on the prefetch thread: every event arrives once,
    in page order, with the right twin ordinals; a consumer that stops early (a store failure)
    leaves no request running, and a failing page reaches the consumer after the pages before it."""
    from datetime import date

    from core.sources.cursor import CursorAdmin, day_end_ms, day_start_ms
    from core.sources.http import RetryPolicy, VendorError, make_client
    from tests.fakes.vendors import CursorTeam, EventList, FakeCursor, day_ms

    day = date(2026, 3, 2)
    events = [{"timestamp": str(day_ms(day, 1, 0, i // 2)), "userEmail": "a@example.com", "model": "gpt-5",
               "chargedCents": 1} for i in range(40)]  # twins: two identical events per millisecond
    team = {"key_test_0123456789": CursorTeam(events=EventList(events))}
    with FakeCursor(team, page_size=3) as server, make_client(server.url, timeout=5) as http:
        client = CursorAdmin(http, "key_test_0123456789", retry=RetryPolicy(attempts=1))
        batches = list(client.usage_events(day_start_ms(day), day_end_ms(day), org="t"))
        assert [b.page for b in batches] == list(range(1, 15)) and batches[-1].window_done
        records = [EventRecord._make(r) for b in batches for r in b.records]
        assert len(records) == 40 and len({r.natural_key for r in records}) == 40
        assert sorted(r.ts_ms for r in records) == sorted(int(e["timestamp"]) for e in events)

        before = server.requests
        stream = client.usage_events(day_start_ms(day), day_end_ms(day), org="t")
        next(stream), next(stream)
        started = time.monotonic()
        stream.close()  # the prefetcher is stopped and its thread joined, not left paging
        assert time.monotonic() - started < 2
        time.sleep(0.2)
        assert server.requests - before <= 2 + 4 + 1  # pages 1-2, at most 4 ahead, one in flight

        server.faults.add("/teams/filtered-usage-events", "500", times=-1, after=2)  # page 3 fails, for good
        stream = client.usage_events(day_start_ms(day), day_end_ms(day), org="t")
        got = []
        with pytest.raises(VendorError, match="HTTP 500"):
            for batch in stream:
                got.append(batch.page)
        assert got == [1, 2]


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_sums_beyond_64_bits_stop_that_team_with_one_line_and_the_others_sync(sync_env, cli, scenario, fake_cursor,
                                                                             database_url):
    """1,000 events of $10M each (the most one event may cost) add up to $10B: beyond the 64-bit
    rollup columns. That team's sync stops with one line and is recorded as failed, its batch is
    not stored, and the next team still syncs."""
    from sqlalchemy import create_engine, text

    from storage.db import normalise_url
    from tests.fakes.vendors import EventList, day_ms

    team = scenario.teams[scenario.cursor_keys[0]]
    start = day_ms(scenario.days[0], 3)
    absurd = [sc._ev(start + i, "rich@" + sc.DOMAIN, "gpt-5", (1, 1, 0, 0), charged=1e9) for i in range(1000)]
    team.events = EventList(team.events.events + absurd)
    res = cli(*_args(scenario), "--source", "cursor")
    assert res.code == 1
    errors = [line for line in res.err.splitlines() if line.startswith("abacus: ")]
    assert len(errors) == 1 and "out of range" in errors[0] and "Traceback" not in res.err, res.err
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as conn:
            runs = dict(conn.execute(text("SELECT org, status FROM sync_run WHERE source = 'cursor'")).all())
            rich = conn.execute(text("SELECT COUNT(*) FROM usage_event WHERE person = :p"),
                                {"p": "rich@" + sc.DOMAIN}).scalar_one()
    finally:
        engine.dispose()
    assert sorted(runs.values()) == ["failed", "ok"], runs
    assert rich == 0


@pytest.mark.parametrize("commit_events", [1000, 2])  # 2: the aborted read is committed page by page
def test_an_event_arriving_while_paging_is_counted_once(abacus_env, cli, monkeypatch, commit_events):
    """Ten events, three per page. When page 2 is asked for, an eleventh event arrives: the vendor
    counted before it arrived (page 2 still says 10 in all) but serves page 2 after, so everything
    shifts by one and the last event of page 1 comes again first on page 2 — to us, an identical
    twin. Page 3 then says 11, the client re-reads the day, and the sync must end with exactly the
    eleven events: what the aborted read stored of the false twin is removed again."""
    from datetime import UTC, datetime, timedelta

    from tests.fakes.vendors import CursorTeam, EventList, FakeCursor, day_ms

    day = datetime.now(UTC).date() - timedelta(days=2)
    base = [sc._ev(day_ms(day, 1, i), f"u{i % 3}@example.com", "gpt-5", (10, 1, 0, 0), charged=1) for i in range(10)]
    late = sc._ev(day_ms(day, 20), "late@example.com", "gpt-5", (5, 5, 0, 0), charged=2)
    team = CursorTeam(members=[], events=EventList(base))
    key = "key_" + "p" * 40

    def arrive(page: int) -> None:
        if page == 2 and len(team.events.events) == 10:
            team.events = EventList([*base, late])

    with FakeCursor({key: team}, page_size=3, on_events_page=arrive) as server:
        for name, value in {"CURSOR_ADMIN_KEY": key, "CURSOR_API_URL": server.url, "ABACUS_SYNC_RATE_LIMIT": "off",
                            "ABACUS_SYNC_COMMIT_EVENTS": str(commit_events), "ABACUS_HTTP_BACKOFF": "0.01"}.items():
            monkeypatch.setenv(name, value)
        args = ["--source", "cursor", "--from", day.isoformat(), "--to", day.isoformat(), "--quiet"]
        assert cli("sync", *args).code == 0
        assert cli("sync", *args).code == 0  # and a re-sync changes nothing
    res = cli("report", "--format", "json", "--by", "user", "--from", day.isoformat(), "--to", day.isoformat())
    totals = res.json()["totals"]
    assert totals["requests"] == 11
    assert totals["input_tokens"] == 10 * 10 + 5 and totals["output_tokens"] == 10 * 1 + 5
    assert totals["cost_usd"] == round((10 * 1 + 2) / 100, 4)


def test_a_vendor_page_echoing_any_configured_key_shows_none_of_it(sync_env, cli, scenario, fake_cursor):
    """A gateway's error page may echo any credential: another team's key, the Anthropic key, in
    any letter case. Only 4-character hints of them reach the output or the database."""
    from sqlalchemy import create_engine, text

    from storage.db import normalise_url

    other, anthropic = scenario.cursor_keys[0], scenario.anthropic_key
    body = f"<html>upstream auth={other.upper()} and {anthropic} refused</html>".encode()
    fake_cursor.faults.add("/teams/members", "status", status=502, times=-1, body=body)
    res = cli(*_args(scenario), "--source", "cursor")
    assert res.code == 1
    assert_no_secret((res.out + res.err).lower(), [s.lower() for s in scenario.secrets])
    engine = create_engine(normalise_url(sync_env["DATABASE_URL"]))
    try:
        with engine.connect() as conn:
            stored = " ".join(e or "" for (e,) in conn.execute(text("SELECT error FROM sync_run")))
    finally:
        engine.dispose()
    assert "refused" in stored
    assert_no_secret(stored.lower(), [s.lower() for s in scenario.secrets])


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_batch_refused_mid_window_keeps_the_batches_before_it_and_writes_none_after(abacus_env, cli, monkeypatch,
                                                                                    database_url):
    """Batches are committed on a writer thread while the next one is gathered (core.write_behind).
    Thirty events, three per page, nine per transaction: the database refuses the second batch. The
    first stays committed with its checkpoint, the third — already gathered when the second failed —
    is never written, the run is recorded as failed; the next run stores exactly the thirty."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import create_engine, text

    from core.errors import DataRejected
    from storage.db import normalise_url
    from storage.sync_repo import SqlSyncTx
    from tests.fakes.vendors import CursorTeam, EventList, FakeCursor, day_ms

    day = datetime.now(UTC).date() - timedelta(days=2)
    events = [sc._ev(day_ms(day, 1, i), f"u{i % 4}@example.com", "gpt-5", (i + 1, 1, 0, 0), charged=1)
              for i in range(30)]
    key = "key_" + "q" * 40
    written = SqlSyncTx.write_usage
    calls = []

    def refuse_the_second(self, records):
        calls.append(len(records))
        if len(calls) == 2:
            raise DataRejected("the database refused a value or a sum as out of range")
        return written(self, records)

    def stored() -> tuple[int, int, list]:
        engine = create_engine(normalise_url(database_url))
        try:
            with engine.connect() as conn:
                n, tokens = conn.execute(text("SELECT COUNT(*), COALESCE(SUM(input_tokens), 0) "
                                              "FROM usage_event")).one()
                runs = [s for (s,) in conn.execute(text("SELECT status FROM sync_run ORDER BY id"))]
            return int(n), int(tokens), runs
        finally:
            engine.dispose()

    with FakeCursor({key: CursorTeam(members=[], events=EventList(events))}, page_size=3) as server:
        for name, value in {"CURSOR_ADMIN_KEY": key, "CURSOR_API_URL": server.url, "ABACUS_SYNC_RATE_LIMIT": "off",
                            "ABACUS_SYNC_COMMIT_EVENTS": "9"}.items():
            monkeypatch.setenv(name, value)
        args = ["sync", "--source", "cursor", "--from", day.isoformat(), "--to", day.isoformat(), "--quiet"]
        with monkeypatch.context() as patch:
            patch.setattr(SqlSyncTx, "write_usage", refuse_the_second)
            res = cli(*args)
        assert res.code == 1 and "out of range" in res.err and "Traceback" not in res.err, res.err
        assert calls == [9, 9]  # the third batch was gathered, never written
        # the vendor serves the newest first: the first batch is events 22..30 (input tokens 22..30)
        assert stored() == (9, sum(range(22, 31)), ["failed"])
        assert cli(*args).code == 0
        assert stored() == (30, sum(range(1, 31)), ["failed", "ok"])


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_the_daily_usage_is_written_while_the_last_events_commit_where_the_database_allows(
        abacus_env, cli, monkeypatch, database_url):
    """Postgres takes two writers at once: the daily usage is written while the last events batch's
    transaction is still in flight (here: held until a daily transaction has begun). SQLite has one
    write lock: the events commit first. Either way every figure is stored exactly once."""
    import threading
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import create_engine, text

    from storage.db import normalise_url
    from storage.sync_repo import SqlSyncTx
    from tests.fakes.vendors import CursorTeam, EventList, FakeCursor, day_ms

    postgres = database_url.startswith("postgresql")
    day = datetime.now(UTC).date() - timedelta(days=2)
    events = [sc._ev(day_ms(day, 1, i), f"u{i % 3}@example.com", "gpt-5", (i + 1, 1, 0, 0), charged=1)
              for i in range(12)]
    daily = [{"date": day_ms(day), "email": f"u{i}@example.com", "isActive": True, "totalLinesAdded": 10 + i}
             for i in range(3)]
    key = "key_" + "d" * 40
    order: list[str] = []
    daily_began = threading.Event()
    written, replaced = SqlSyncTx.write_usage, SqlSyncTx.replace_activity_day

    def write_usage(self, records):
        order.append("events begin")
        if postgres:
            assert daily_began.wait(20), "the daily usage waited for the events' transaction"
        result = written(self, records)
        order.append("events written")
        return result

    def replace_activity_day(self, **kw):
        order.append("daily")
        daily_began.set()
        return replaced(self, **kw)

    with FakeCursor({key: CursorTeam(members=[], events=EventList(events), daily=daily)}, page_size=5) as server:
        for name, value in {"CURSOR_ADMIN_KEY": key, "CURSOR_API_URL": server.url,
                            "ABACUS_SYNC_RATE_LIMIT": "off"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(SqlSyncTx, "write_usage", write_usage)
        monkeypatch.setattr(SqlSyncTx, "replace_activity_day", replace_activity_day)
        res = cli("sync", "--source", "cursor", "--from", day.isoformat(), "--to", day.isoformat(), "--quiet")
    assert res.code == 0, res.err
    assert order == (["events begin", "daily", "events written"] if postgres else
                     ["events begin", "events written", "daily"])
    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT COUNT(*), SUM(input_tokens) FROM usage_event")).one()
            rolled = conn.execute(text("SELECT SUM(input_tokens), SUM(records) FROM usage_daily")).one()
            lines = conn.execute(text("SELECT SUM(lines_added), COUNT(*) FROM person_activity")).one()
    finally:
        engine.dispose()
    assert tuple(stored) == (12, sum(range(1, 13)))  # input tokens 1..12, each event once
    assert tuple(rolled) == (sum(range(1, 13)), 12)
    assert tuple(lines) == (10 + 11 + 12, 3)
