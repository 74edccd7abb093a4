"""A small, hand-written team for the bot tests. Every figure the tests assert is computed by
hand from the rows below (see the EXPECTED_* constants), never by the code under test.

Days are relative to `today` (the bot's clock is the real UTC day), so the same seed works on
any date: `7d` = today-6 … today, its previous period = today-13 … today-7.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from core.usage import Feed, Source, UsageRecord, natural_key, usd_to_nanos

ALICE, BOB, CAROL, DAVE, EVE = "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0EVE"
HOSTILE_NAME = "<!channel> *Eve* <@U0ALICE> <https://evil.example|click>"
EXTRA_PEOPLE = 20  # p01…p20@example.com, $0.10 each on day today-20 (inside 30d, outside 7d)


@dataclass(frozen=True)
class Row:
    person: str
    source: Source
    model: str
    days_ago: int
    usd: str
    input_tokens: int = 0
    output_tokens: int = 0
    api_key: str | None = None


ROWS: tuple[Row, ...] = (
    Row("alice@example.com", Source.CLAUDE_CODE, "sonnet-4.5", 1, "10.00", 1_000, 500),
    Row("alice@example.com", Source.CURSOR, "gpt-5", 2, "5.00", 400, 100),
    Row("alice@example.com", Source.CLAUDE_CODE, "sonnet-4.5", 8, "8.00", 800, 200),  # previous 7d
    Row("bob@example.com", Source.CURSOR, "claude-4.5-sonnet", 1, "20.00", 2_000, 1_000),
    Row("bob@example.com", Source.CURSOR, "claude-4.5-sonnet", 10, "4.00", 300, 100),  # previous 7d
    Row("carol@example.com", Source.CLAUDE_CODE, "opus-4.5", 3, "2.50", 100, 50),
    Row("eve@example.com", Source.CURSOR, "gpt-5", 5, "1.00", 10, 10),
    Row("unmapped:ci-bot-key", Source.CLAUDE_CODE, "sonnet-4.5", 2, "3.00", 300, 100, api_key="ci-bot-key"),
    Row("unmapped:legacy-key", Source.CLAUDE_CODE, "haiku-4.5", 15, "0.40", 40, 10, api_key="legacy-key"),
) + tuple(Row(f"p{i:02d}@example.com", Source.CURSOR, "auto", 20, "0.10", 5, 5) for i in range(1, EXTRA_PEOPLE + 1))

# By hand, 7d (today-6 … today): alice 10+5, bob 20, carol 2.50, eve 1, ci-bot-key 3.
EXPECTED_7D_TOTAL = "$41.50"
EXPECTED_7D_PEOPLE = 4  # alice, bob, carol, eve (keys are not people)
EXPECTED_7D_PREVIOUS = 12.00  # alice 8 + bob 4
EXPECTED_7D_DELTA = "▲ 245.8%"  # (41.50 - 12) / 12
EXPECTED_7D_AVG = "$10.38"  # 41.50 / 4 people = $10.375, shown half-even as $10.38
# 30d: every row (all are ≤ 20 days old): 41.50 + 8 + 4 + 0.40 + 20 × 0.10
EXPECTED_30D_TOTAL = "$55.90"
EXPECTED_30D_ROWS = 4 + 2 + EXTRA_PEOPLE  # alice, bob, carol, eve + two unmapped keys + the extras = 26


def records(today: date) -> list[UsageRecord]:
    out = []
    for i, row in enumerate(ROWS):
        day = today - timedelta(days=row.days_ago)
        ts = datetime(day.year, day.month, day.day, 12, 0, tzinfo=UTC)
        feed = Feed.CURSOR_EVENTS if row.source is Source.CURSOR else Feed.CLAUDE_CODE_ANALYTICS
        out.append(UsageRecord(source=row.source, feed=feed, natural_key=natural_key("bot-test", i), ts=ts,
                               person=row.person, raw_model=row.model, model=row.model,
                               input_tokens=row.input_tokens, output_tokens=row.output_tokens,
                               cost_nanos=usd_to_nanos(row.usd), requests=1 if row.source is Source.CURSOR else 0,
                               api_key=row.api_key))
    return out


def seed(engine, today: date) -> None:
    from sqlmodel import select

    from storage.db import session_scope
    from storage.people_repo import upsert_key, upsert_person
    from storage.tables import BillingGroup, Incident, PersonActivity, Setting, SyncRun
    from storage.usage_repo import write_usage

    now = datetime.now(UTC)
    with session_scope(engine) as s:
        platform, data = BillingGroup(name="Platform"), BillingGroup(name="Data", budget_nanos=usd_to_nanos("50"))
        s.add_all([platform, data])
        s.flush()
        upsert_person(session=s, email="alice@example.com", name="Alice Admin", slack_user_id=ALICE,
                      group_id=platform.id, has_claude_seat=True, has_cursor_seat=True)
        upsert_person(session=s, email="bob@example.com", name="Bob Member", slack_user_id=BOB,
                      group_id=platform.id, has_cursor_seat=True)
        upsert_person(session=s, email="carol@example.com", name="Carol Viewer", slack_user_id=CAROL,
                      group_id=data.id, role="viewer", has_claude_seat=True)
        upsert_person(session=s, email="dave@example.com", name="Dave Neverused", slack_user_id=DAVE,
                      has_cursor_seat=True)
        upsert_person(session=s, email="eve@example.com", name=HOSTILE_NAME, slack_user_id=EVE, has_cursor_seat=True)
        for key in ("ci-bot-key", "legacy-key"):
            upsert_key(session=s, source=Source.CLAUDE_CODE.value, external_id=key, name=key)
        write_usage(records(today), session=s)
        day = today - timedelta(days=1)
        s.add(PersonActivity(source="claude_code", day=day, person="alice@example.com", lines_added=200,
                             accepted_lines_added=100, commits=3, pull_requests=1, sessions=4))
        s.add(Incident(dedup_key="bob@example.com", kind="spend_spike", user_email="bob@example.com",
                       severity="warning", status="alerted", value=20.0, threshold=5.0,
                       message="daily spend $20 is 5.0x the 7-day average of <@U0ALICE>",
                       data_at=now - timedelta(hours=2), opened_at=now - timedelta(hours=1),
                       alerted_at=now - timedelta(hours=1)))
        base = now - timedelta(days=3)
        s.add(Incident(dedup_key="carol@example.com", kind="zscore_spend", user_email="carol@example.com",
                       severity="critical", status="resolved", value=9.0, threshold=3.0, message="resolved one",
                       data_at=base, opened_at=base, alerted_at=base + timedelta(minutes=30),
                       acknowledged_at=base + timedelta(hours=1), resolved_at=base + timedelta(hours=5)))
        s.add(SyncRun(source="cursor", status="ok", started_at=now - timedelta(minutes=50),
                      finished_at=now - timedelta(minutes=49), inserted=42, trigger="schedule"))
        s.add(Setting(key="monthly_budget_usd", value="100"))
        assert s.exec(select(Setting)).first() is not None
