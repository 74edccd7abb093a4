"""The Cursor events worker is forked before members, groups and spend are read: whatever stops the
sync after that (a vendor failure on any of them, a failure mid-events or in the daily usage the
worker fetches after them, Ctrl-C, SIGTERM), the real
`abacus sync` process leaves no worker behind, records the run as failed (or, killed outright,
as interrupted by the next sync), says why in one line and exits as before.

Scripted data: one Cursor team, one member (ann@example.com), 40 events of 1 cent each on yesterday,
one a second from 10:00:00 UTC, served three per page (14 pages). By hand: 40 records, $0.40.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.vendors import CursorTeam, EventList, FakeCursor, day_ms

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
KEY = "key_" + "d" * 60
N = 40
EVENTS = "/teams/filtered-usage-events"


def _team(day) -> CursorTeam:
    events = [{"timestamp": str(day_ms(day, 10, 0, i)), "userEmail": "ann@example.com", "model": "gpt-5",
               "kind": "Usage-based", "maxMode": False, "chargedCents": 1,
               "tokenUsage": {"inputTokens": 10, "outputTokens": 1, "cacheWriteTokens": 0, "cacheReadTokens": 0,
                              "totalCents": 1}} for i in range(N)]
    return CursorTeam(members=[{"id": "u1", "name": "Ann", "email": "ann@example.com", "role": "member",
                                "isRemoved": False}],
                      events=EventList(events),
                      spend=[{"userId": "u1", "name": "Ann", "email": "ann@example.com", "role": "member",
                              "spendCents": 40, "fastPremiumRequests": 0, "hardLimitOverrideDollars": 0}])


class HeldCursor(FakeCursor):
    """Holds the events page `hold_page` until `release` is set (the sync is then mid-events)."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, on_events_page=self._on_page, **kw)
        self.hold_page: int | None = None
        self.reached, self.release = threading.Event(), threading.Event()

    def _on_page(self, page: int) -> None:
        if page == self.hold_page and not self.release.is_set():
            self.reached.set()
            self.release.wait(30)


@pytest.fixture
def day():
    return datetime.now(UTC).date() - timedelta(days=1)


@pytest.fixture
def fake(day):
    server = HeldCursor({KEY: _team(day)})
    with server:
        yield server
    server.release.set()


@pytest.fixture(params=["sqlite"])
def db(request, tmp_path):
    yield tmp_path / "abacus.db"


def _env(tmp_path, fake) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC", "CURSOR", "ABACUS", "DATABASE", "SLACK", "DOMAIN"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'abacus.db'}", CURSOR_ADMIN_KEY=KEY, CURSOR_API_URL=fake.url,
               ABACUS_SYNC_RATE_LIMIT="off", ABACUS_HTTP_BACKOFF="0.01", ABACUS_HTTP_TIMEOUT="5",
               ABACUS_HTTP_ATTEMPTS="2", PYTHONPATH=str(REPO))
    return env


def _args(day) -> list[str]:
    return [sys.executable, "-m", "bot", "sync", "--source", "cursor", "--from", day.isoformat(), "--to",
            day.isoformat(), "--format", "json"]


def _procs_in(folder: Path) -> list[int]:
    """Processes whose working folder is `folder` (the sync runs there, and so would a worker it left)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == str(folder):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def _no_process_left(folder: Path) -> None:
    deadline = time.monotonic() + 5
    while _procs_in(folder) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _procs_in(folder)
    for pid in left:  # not ours to leave running, whatever the test says
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {left}"


def _runs(tmp_path) -> list[tuple]:
    with sqlite3.connect(tmp_path / "abacus.db") as conn:
        return conn.execute("SELECT status, error FROM sync_run WHERE source = 'cursor' ORDER BY id").fetchall()


def _events(tmp_path) -> tuple:
    with sqlite3.connect(tmp_path / "abacus.db") as conn:
        return conn.execute("SELECT COUNT(*), COALESCE(SUM(cost_nanos), 0) FROM usage_event").fetchone()


def _complete_resync(tmp_path, fake, day) -> None:
    """After any of these, a plain re-run stores every event exactly once: 40 records, $0.40."""
    fake.faults.clear()
    fake.release.set()
    res = subprocess.run(_args(day), env=_env(tmp_path, fake), cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert _events(tmp_path) == (N, N * 10_000_000)


FAILURES = [
    ("/teams/members", "500", {"times": -1}, "HTTP 500"),
    ("/teams/members", "status", {"status": 401, "body": {"error": "Unauthorized"}}, "HTTP 401"),
    ("/teams/groups", "status", {"status": 200, "body": b"<html>garbage", "times": -1}, "Cursor API"),
    ("/teams/spend", "500", {"times": -1}, "HTTP 500"),
    ("/teams/spend", "status", {"status": 200, "body": b"{\"teamMemberSpend\": [1, 2", "times": -1}, "Cursor API"),
    (EVENTS, "500", {"times": -1, "after": 3}, "HTTP 500"),
    (EVENTS, "status", {"status": 200, "body": b"]]not json", "after": 2, "times": -1}, "Cursor API"),
    ("/teams/daily-usage-data", "500", {"times": -1}, "HTTP 500"),  # fetched by the worker after the events
]


@pytest.mark.parametrize("path,kind,kw,reason", FAILURES,
                         ids=[f"{p.rsplit('/', 1)[-1]}-{k}-{kw.get('status', k)}" for p, k, kw, _ in FAILURES])
def test_a_vendor_failure_after_the_worker_started_leaves_no_process_and_a_failed_run(path, kind, kw, reason, db,
                                                                                    fake, day, tmp_path):
    fake.page_size = 3
    fake.faults.add(path, kind, **kw)
    res = subprocess.run(_args(day), env=_env(tmp_path, fake), cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 1, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("abacus: ")]
    assert len(errors) == 1 and reason in errors[0], res.stderr
    assert "Traceback" not in res.stderr
    assert json.loads(res.stdout)["ok"] is False
    _no_process_left(tmp_path)
    runs = _runs(tmp_path)
    assert len(runs) == 1 and runs[0][0] == "failed" and reason in runs[0][1] and "\n" not in runs[0][1], runs
    _complete_resync(tmp_path, fake, day)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, -signal.SIGTERM)],
                         ids=["ctrl-c", "sigterm"])
def test_a_sync_stopped_mid_events_leaves_no_process_and_no_run_marked_ok(sig, code, db, fake, day, tmp_path):
    fake.page_size = 3
    fake.hold_page = 5  # pages 1..4 are in the worker's queue, or written, when the signal comes
    sync = subprocess.Popen(_args(day), env=_env(tmp_path, fake), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert fake.reached.wait(60), "the sync never reached page 5"
        time.sleep(0.5)
        sync.send_signal(sig)
        out, err = sync.communicate(timeout=30)
    finally:
        if sync.poll() is None:
            sync.kill()
        fake.release.set()
    assert sync.returncode == code, err
    assert "Traceback" not in err
    _no_process_left(tmp_path)
    runs = _runs(tmp_path)
    assert len(runs) == 1 and runs[0][0] != "ok", runs  # failed (Ctrl-C) or still 'running' (SIGTERM)
    _complete_resync(tmp_path, fake, day)
    runs = _runs(tmp_path)
    assert [r[0] for r in runs] == ["failed" if sig == signal.SIGINT else "interrupted", "ok"], runs
