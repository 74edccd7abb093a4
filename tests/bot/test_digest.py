"""The weekly digest from a seeded database (tests/bot/seed.py), figures worked out by hand, and
the digest's outbox row: queued once per tick, sent once with its chart in the thread."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from slack_sdk import WebClient
from sqlmodel import select

from bot.services.alerting import AlertSender
from bot.services.digest import DigestService
from bot.services.incidents import RepoIncidentStore
from bot.services.reports import ReportService
from bot.services.settings import SettingsService
from storage.db import session_scope
from storage.tables import AlertOutbox
from tests.fakes.blockkit import validate_message
from tests.fakes.slack import BOT_TOKEN, FakeSlack

from . import seed

NANOS = 1_000_000_000


def service(engine) -> DigestService:
    return DigestService(engine, ReportService(engine), SettingsService(engine))


def test_the_digest_figures(engine):
    now = datetime.now(UTC)
    today = now.date()
    seed.seed(engine, today)
    digest = service(engine).build(today - timedelta(days=1), now=now)
    # the week today-7 … today-1 (seed rows 1, 2, 3 and 5 days ago):
    # Claude Code: alice 10 + carol 2.50 + ci-bot-key 3 = 15.50; Cursor: alice 5 + bob 20 + eve 1 = 26
    assert digest.by_tool == {"claude_code": 1550 * NANOS // 100, "cursor": 26 * NANOS}
    # the week before (8 and 10 days ago): alice 8 on Claude Code, bob 4 on Cursor
    assert digest.by_tool_previous == {"claude_code": 8 * NANOS, "cursor": 4 * NANOS}
    # movers by the size of the change: bob +16, alice +7 (15 vs 8), carol +2.50, eve +1; keys are not people
    assert [(m.person, m.this_week_nanos, m.last_week_nanos) for m in digest.movers] == [
        ("bob@example.com", 20 * NANOS, 4 * NANOS), ("alice@example.com", 15 * NANOS, 8 * NANOS),
        ("carol@example.com", 250 * NANOS // 100, 0), ("eve@example.com", 1 * NANOS, 0)]
    # alice's activity yesterday: 3 commits, 1 pull request
    assert (digest.commits, digest.pull_requests) == (3, 1)
    # carol's incident (3 days ago): alerted after 30 min, acknowledged 30 min later, resolved after 5 h;
    # bob's (2 hours ago) belongs to the week only when that was before midnight
    midnight = datetime.combine(today, time(0), tzinfo=UTC)
    bob_in_week = now - timedelta(hours=2) < midnight
    assert sorted(v.user for v in digest.incidents) == (["bob@example.com"] if bob_in_week else []) + [
        "carol@example.com"]
    if not bob_in_week:
        assert (digest.timings.mttd.mean_seconds, digest.timings.mtti.mean_seconds,
                digest.timings.mttr.mean_seconds) == (1800.0, 1800.0, 5 * 3600.0)
    assert digest.forecast.budget_nanos == 100 * NANOS  # the seeded monthly_budget_usd


def test_the_digest_is_queued_once_and_sent_once_with_its_chart(engine):
    now = datetime.now(UTC)
    seed.seed(engine, now.date())
    tick = now.replace(second=0, microsecond=0)
    assert DigestService.queue(engine, tick=tick, channel="C0DIGEST").endswith("queued")
    assert DigestService.queue(engine, tick=tick, channel="C0DIGEST").endswith("was already queued")
    with FakeSlack() as slack:
        client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
        sender = AlertSender(engine, client, channel=None, store=RepoIncidentStore(),
                             digest=service(engine).render)
        assert sender.drain().sent == 1
        assert sender.drain().sent == 0
        [post] = slack.calls("chat.postMessage")
        assert post["channel"] == "C0DIGEST" and validate_message(post.body) == []
        assert post["blocks"][0]["text"]["text"].startswith(":bar_chart: Weekly digest")
        assert "*$41.50* spent this week" in post["blocks"][1]["text"]["text"]
        [chart] = slack.uploaded_files()
        assert chart.content[:8] == b"\x89PNG\r\n\x1a\n"
        with session_scope(engine) as s:
            [row] = s.exec(select(AlertOutbox)).all()
        assert (row.status, row.slack_ts, row.kind) == ("sent", post.response["ts"], "digest")
