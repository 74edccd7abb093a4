"""`/abacus sync` end to end: the real bot, the fake Slack and the fake vendor APIs (the sync
tests' scripted scenario). The expected total is the scenario's own hand-written contributions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.periods import DateRange
from core.report import Dimension
from storage.db import make_engine, session_scope, upgrade
from storage.report_repo import usage_report
from tests.fakes.slack_pytest import launch_bot_process
from tests.fakes.vendors import FakeAnthropic, FakeCursor
from tests.sync import scenario as sc

from .driver import Driver

pytestmark = pytest.mark.e2e
ADMIN, MEMBER = "U0ADMIN", "U0MEMBER"


def test_sync_from_slack_pulls_the_vendors(fake_slack, tmp_path):
    today = datetime.now(UTC).date()
    scenario = sc.build(today)
    url = f"sqlite:///{tmp_path / 'abacus.db'}"
    engine = make_engine(url)
    upgrade(engine)
    fake_slack.register_user(ADMIN, "admin@example.com")
    fake_slack.register_user(MEMBER, "member@example.com")
    with FakeAnthropic({scenario.anthropic_key: scenario.org}) as anthropic, FakeCursor(scenario.teams) as cursor:
        bot = launch_bot_process(fake_slack, {
            "DATABASE_URL": url, "ABACUS_ADMINS": ADMIN, "ABACUS_EMAIL_DOMAIN": sc.DOMAIN,
            "ANTHROPIC_ADMIN_KEY": scenario.anthropic_key, "ANTHROPIC_API_URL": anthropic.url,
            "CURSOR_ADMIN_KEY": ",".join(scenario.cursor_keys), "CURSOR_API_URL": cursor.url,
            "ABACUS_SYNC_RATE_LIMIT": "off", "ABACUS_HTTP_BACKOFF": "0.01", "ABACUS_HTTP_TIMEOUT": "2",
            # a schedule with no tick in the last days: no catch-up sync at start-up competes with this one
            "ABACUS_SYNC_SCHEDULE": "0 0 29 2 *",
        }, log_dir=tmp_path)
        try:
            slack = Driver(fake_slack)
            refused = slack.ask("sync", user=MEMBER)
            assert "Only Abacus admins can do that." in refused.text
            assert not anthropic.calls() and not cursor.calls()
            first = sorted(s.isoformat() for s in scenario.days)[0]
            payload = fake_slack.slash_command(f"sync {first}", user_id=ADMIN)
            response_id = payload["response_url"].rsplit("/", 1)[1]
            fake_slack.send(payload)
            progress = fake_slack.wait_response(lambda r: r.response_id == response_id, timeout=10)
            assert "Syncing for" in str(progress.body)
            final = fake_slack.wait_response(lambda r: r.response_id == response_id and "Sync*" in str(r.body),
                                             timeout=60)
            assert ":white_check_mark:" in str(final.body), final.body
            for secret in scenario.secrets:
                assert secret not in str(final.body)
        finally:
            assert bot.stop() == 0, bot.describe()
    expected = sum((e.cost for e in scenario.expected), Decimal(0))
    with session_scope(engine) as session:
        report = usage_report(session=session, period=DateRange(min(scenario.days), today), by=Dimension.USER)
    assert Decimal(str(report.totals.cost_usd)) == expected.quantize(Decimal("0.0001"))
    engine.dispose()
