"""Real processes racing on one database: a key mapped while a sync writes its days, the sync lock's
connection lost mid-run, an idle-session timeout — on SQLite and Postgres where it applies.

Scripted data: one Anthropic organisation whose only Claude Code usage is an API actor,
`ops-bot-key` (a name the `claude_code_key_first.last_x` pattern does not resolve), on each of the
12 days D1..D12 ending today. On day i (1-based) the key used `100 * i` input tokens, 10 output
tokens and cost 5 cents. By hand: input 100 * (1 + … + 12) = 7,800; output 12 * 10 = 120; cost
12 * $0.05 = $0.60; 12 active days.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.vendors import AnthropicOrg, FakeAnthropic

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
KEY = "sk-ant-admin01-" + "c" * 48
ORG = "2c3d4e5f-0000-4000-8000-00000000beef"
DAYS = 12


def _org(today) -> AnthropicOrg:
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    org = AnthropicOrg(org_id=ORG)
    for i, day in enumerate(days, start=1):
        org.claude_code[day.isoformat()] = [{
            "date": f"{day.isoformat()}T00:00:00Z", "actor": {"type": "api_actor", "api_key_name": "ops-bot-key"},
            "organization_id": ORG, "customer_type": "api", "subscription_type": None, "terminal_type": "cli",
            "is_remote": False,
            "core_metrics": {"num_sessions": 1, "lines_of_code": {"added": 1, "removed": 0},
                             "commits_by_claude_code": 0, "pull_requests_by_claude_code": 0},
            "tool_actions": {},
            "model_breakdown": [{"model": "claude-sonnet-4-20250514",
                                 "tokens": {"input": 100 * i, "output": 10, "cache_read": 0, "cache_creation": 0},
                                 "estimated_cost": {"currency": "USD", "amount": 5}}]}]
    return org


class GatedAnthropic(FakeAnthropic):
    """Holds the Claude Code request of one day (`gate_day`) until `release` is set; optionally
    slows every Claude Code request by `delay` seconds."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.gate_day: str | None = None
        self.reached, self.release = threading.Event(), threading.Event()
        self.delay = 0.0

    def route(self, method, path, query, body, fault):
        if path.endswith("/usage_report/claude_code"):
            if self.delay:
                time.sleep(self.delay)
            if (query.get("starting_at") or [""])[0] == self.gate_day and not self.release.is_set():
                self.reached.set()
                self.release.wait(60)
        return super().route(method, path, query, body, fault)


@pytest.fixture
def today():
    return datetime.now(UTC).date()


@pytest.fixture
def fake(today):
    with GatedAnthropic({KEY: _org(today)}) as server:
        yield server


@pytest.fixture
def env(database_url, fake) -> dict:
    return _env(database_url, fake)


def _env(database_url, fake) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC", "CURSOR", "ABACUS", "DATABASE", "SLACK", "DOMAIN"))}
    env.update(DATABASE_URL=database_url, ANTHROPIC_ADMIN_KEY=KEY, ANTHROPIC_API_URL=fake.url,
               ABACUS_SYNC_RATE_LIMIT="off", ABACUS_HTTP_BACKOFF="0.01", ABACUS_HTTP_TIMEOUT="30",
               ABACUS_EMAIL_DOMAIN="example.com", PYTHONPATH=str(REPO))
    return env


def _range(today) -> list[str]:
    return ["--from", (today - timedelta(days=DAYS - 1)).isoformat(), "--to", today.isoformat()]


def _start(args: list[str], env: dict, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot", *args], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _run(args: list[str], env: dict, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def _users(env, cwd, today) -> dict[str, tuple]:
    res = _run(["report", "--by", "user", "--format", "json", *_range(today)], env, cwd)
    assert res.returncode == 0, res.stderr
    return {r["key"]: (r["input_tokens"], r["output_tokens"], r["cost_usd"], r["active_days"])
            for r in json.loads(res.stdout)["rows"]}


HAND_TOTAL = (7_800, 120, 0.6, 12)


def test_a_key_mapped_while_a_sync_writes_its_days_keeps_every_day(env, fake, today, tmp_path):
    """The sync has written D1..D5 under `unmapped:ops-bot-key` when `abacus map` runs in another
    process; D6..D12 are written after it. Every day must end up with the mapped owner, and the
    key must leave `abacus unmapped` (was: D6..D12 stayed unmapped, for good)."""
    fake.gate_day = (today - timedelta(days=DAYS - 6)).isoformat()  # D6
    sync = _start(["backfill", "--source", "anthropic", *_range(today), "--quiet"], env, tmp_path)
    try:
        assert fake.reached.wait(90), "the sync never reached D6"
        mapped = _run(["map", "ops-bot-key", "erin@example.com", "--new-person"], env, tmp_path)
        assert mapped.returncode == 0, mapped.stderr
        assert "5 stored record(s) re-attributed" in mapped.stdout  # D1..D5
    finally:
        fake.release.set()
    out, err = sync.communicate(timeout=120)
    assert sync.returncode == 0, err
    assert _users(env, tmp_path, today) == {"erin@example.com": HAND_TOTAL}
    unmapped = _run(["unmapped", "--format", "json"], env, tmp_path)
    assert unmapped.returncode == 0 and json.loads(unmapped.stdout) == []

    # and a re-sync of the range keeps it so
    again = _run(["sync", "--source", "anthropic", *_range(today), "--quiet"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert _users(env, tmp_path, today) == {"erin@example.com": HAND_TOTAL}


def test_a_key_unmapped_while_a_sync_writes_its_days_is_nobody_s_on_every_day(env, fake, today, tmp_path):
    """`abacus unmap` in another process while a sync that started with the key mapped to erin writes
    its days: D2..D5 are written under erin, then re-attributed by the unmap; D6..D12 are written
    after it and must be nobody's too (were: erin's, for good — the sync's owners date from its start
    and a key without an owner was left as the converter named it)."""
    d1 = (today - timedelta(days=DAYS - 1)).isoformat()
    first = _run(["sync", "--source", "anthropic", "--from", d1, "--to", d1, "--quiet"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    mapped = _run(["map", "ops-bot-key", "erin@example.com", "--new-person"], env, tmp_path)
    assert mapped.returncode == 0 and "1 stored record(s) re-attributed" in mapped.stdout, mapped.stderr
    fake.gate_day = (today - timedelta(days=DAYS - 6)).isoformat()  # D6
    sync = _start(["backfill", "--source", "anthropic", *_range(today), "--quiet"], env, tmp_path)
    try:
        assert fake.reached.wait(90), "the sync never reached D6"
        unmapped = _run(["unmap", "ops-bot-key"], env, tmp_path)
        assert unmapped.returncode == 0, unmapped.stderr
        assert "5 stored record(s) re-attributed" in unmapped.stdout, unmapped.stdout  # D1..D5
    finally:
        fake.release.set()
    out, err = sync.communicate(timeout=120)
    assert sync.returncode == 0, err
    assert _users(env, tmp_path, today) == {"unmapped:ops-bot-key": HAND_TOTAL}
    listed = _run(["unmapped", "--format", "json"], env, tmp_path)
    assert [k["key"] for k in json.loads(listed.stdout)] == ["ops-bot-key"]


def _runs(database_url) -> list[tuple]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT holder, status, started_at, finished_at, error FROM sync_run "
                            "ORDER BY id").fetchall()


@pytest.mark.postgres
def test_a_lost_lock_connection_lets_no_second_sync_in_and_fails_nothing(pg_database_url, fake, today, tmp_path):
    """Every connection of sync A is terminated while A waits for the vendor (a restart, a failover,
    a pooler); sync B, started then, must wait for A instead of running alongside it, and A, whose
    data is complete, must exit 0 (was: B ran at once, and A exited 1 with 'terminating connection')."""
    import psycopg

    env = _env(pg_database_url, fake)
    fake.gate_day = (today - timedelta(days=DAYS - 6)).isoformat()
    first = _start(["backfill", "--source", "anthropic", *_range(today), "--quiet"], env, tmp_path)
    try:
        assert fake.reached.wait(90), "sync A never reached D6"
        with psycopg.connect(pg_database_url, autocommit=True) as admin:
            killed = admin.execute("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert killed >= 1
        second = _start(["sync", "--source", "anthropic", *_range(today)], env, tmp_path)
        time.sleep(4)  # B has long tried to start by now
        assert second.poll() is None
    finally:
        fake.release.set()
    out_a, err_a = first.communicate(timeout=120)
    out_b, err_b = second.communicate(timeout=120)
    assert first.returncode == 0, err_a
    assert second.returncode == 0, err_b
    assert "waiting for another sync" in err_b
    runs = _runs(pg_database_url)
    assert [r[1] for r in runs] == ["ok", "ok"] and runs[0][0] != runs[1][0]
    assert runs[1][2] >= runs[0][3]  # B started after A finished: never alongside
    assert _users(env, tmp_path, today) == {"unmapped:ops-bot-key": HAND_TOTAL}


@pytest.mark.postgres
def test_a_sync_longer_than_idle_session_timeout_succeeds(pg_database_url, fake, today, tmp_path):
    """With `idle_session_timeout` at 1 s the server closes every connection idle for a second —
    the lock's included. A 5-second sync must still succeed, with exact totals (was: exit 1)."""
    import psycopg

    with psycopg.connect(pg_database_url, autocommit=True) as admin:
        name = admin.execute("SELECT current_database()").fetchone()[0]
        admin.execute(f'ALTER DATABASE "{name}" SET idle_session_timeout = \'1s\'')
    env = _env(pg_database_url, fake)
    fake.delay = 0.4  # 12 days: about 5 s of vendor time
    res = _run(["backfill", "--source", "anthropic", *_range(today), "--quiet"], env, tmp_path)
    assert res.returncode == 0, res.stderr
    assert [r[1] for r in _runs(pg_database_url)] == ["ok"]
    assert _users(env, tmp_path, today) == {"unmapped:ops-bot-key": HAND_TOTAL}
