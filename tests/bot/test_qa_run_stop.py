"""QA pass on `abacus run` stopping: SIGTERM during a long scheduled sync ends it at its next day once
the grace for in-flight work (ABACUS_STOP_GRACE) is over, exits 0 well within the 30 s most platforms
wait, and the next run resumes without counting twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.periods import DateRange
from core.report import Dimension
from storage.db import make_engine, session_scope
from storage.report_repo import usage_report
from tests.fakes.slack_pytest import launch_bot_process
from tests.fakes.vendors import FakeAnthropic, FakeCursor
from tests.sync import scenario as sc

pytestmark = pytest.mark.e2e


def _env(scenario, url: str, **extra) -> dict:
    return {"DATABASE_URL": url, "ABACUS_EMAIL_DOMAIN": sc.DOMAIN, "ANTHROPIC_ADMIN_KEY": scenario.anthropic_key,
            "CURSOR_ADMIN_KEY": ",".join(scenario.cursor_keys), "ABACUS_SYNC_RATE_LIMIT": "off",
            "ABACUS_HTTP_BACKOFF": "0.01", "ABACUS_DIGEST_SCHEDULE": "off",
            "ABACUS_SYNC_SCHEDULE": "* * * * *", **extra}  # a fresh database: the missed tick runs at start


def _sigterm_once_syncing(fake_slack, tmp_path, anthropic, env: dict):
    """Start the bot, send SIGTERM once its scheduled sync asks for Claude Code's first day; the bot
    must exit 0. Returns it and how long it took to stop."""
    bot = launch_bot_process(fake_slack, env, log_dir=tmp_path)
    deadline = time.monotonic() + 20
    while not anthropic.calls("/v1/organizations/usage_report/claude_code"):
        assert time.monotonic() < deadline, bot.describe()
        time.sleep(0.1)
    started = time.monotonic()
    bot.popen.send_signal(signal.SIGTERM)
    assert bot.popen.wait(timeout=60) == 0, bot.describe()
    assert "Traceback" not in bot.stderr(), bot.describe()
    return bot, time.monotonic() - started


def _assert_everything_stored_once(url: str, scenario, today) -> None:
    engine = make_engine(url)
    expected = sum((e.cost for e in scenario.expected), Decimal(0))
    with session_scope(engine) as session:
        report = usage_report(session=session, period=DateRange(min(scenario.days), today), by=Dimension.USER)
    engine.dispose()
    assert Decimal(str(report.totals.cost_usd)) == expected.quantize(Decimal("0.0001"))


def test_sigterm_during_a_slow_scheduled_sync_stops_it_at_the_next_day(fake_slack, tmp_path):
    today = datetime.now(UTC).date()
    scenario = sc.build(today)
    url = f"sqlite:///{tmp_path / 'abacus.db'}"
    # in-flight work may finish for 1 s (20 by default), then the sync stops
    env = _env(scenario, url, ABACUS_STOP_GRACE="1")
    with FakeAnthropic({scenario.anthropic_key: scenario.org}) as anthropic, FakeCursor(scenario.teams) as cursor:
        env |= {"ANTHROPIC_API_URL": anthropic.url, "CURSOR_API_URL": cursor.url}
        # every Claude Code day takes 1.5 s to answer: the first sync's seven days take over 10 s
        anthropic.faults.add("/v1/organizations/usage_report/claude_code", "slow", times=-1, delay=1.5)
        bot, took = _sigterm_once_syncing(fake_slack, tmp_path, anthropic, env)
        assert took < 8, "a scheduled sync must not hold up SIGTERM to its end"
        assert "interrupted: abacus run is stopping" in bot.stderr()

        anthropic.faults.clear()
        # the next sync resumes from what the interrupted one committed, counting nothing twice
        resumed = subprocess.run([sys.executable, "-m", "bot", "sync"], env={**os.environ, **env}, cwd=tmp_path,
                                 capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
    _assert_everything_stored_once(url, scenario, today)


def test_sigterm_lets_a_scheduled_sync_that_ends_within_the_grace_finish(fake_slack, tmp_path):
    """`abacus run` … until SIGTERM, then finishes in-flight work (the contract): a sync that ends
    within ABACUS_STOP_GRACE (20 s by default) is finished, everything stored without another run."""
    today = datetime.now(UTC).date()
    scenario = sc.build(today)
    url = f"sqlite:///{tmp_path / 'abacus.db'}"
    env = _env(scenario, url)
    with FakeAnthropic({scenario.anthropic_key: scenario.org}) as anthropic, FakeCursor(scenario.teams) as cursor:
        env |= {"ANTHROPIC_API_URL": anthropic.url, "CURSOR_API_URL": cursor.url}
        anthropic.faults.add("/v1/organizations/usage_report/claude_code", "slow", times=-1, delay=0.4)
        bot, _ = _sigterm_once_syncing(fake_slack, tmp_path, anthropic, env)
        assert "interrupted" not in bot.stderr(), bot.describe()
    _assert_everything_stored_once(url, scenario, today)
