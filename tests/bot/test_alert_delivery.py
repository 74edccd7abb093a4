"""The outbox sender against the fake Slack (a real HTTP server on 127.0.0.1), on SQLite and
Postgres: each row posted once and marked sent once with its ts, whatever fails in between."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from bot.services.alerting import AlertSender
from core.incidents import AnomalyKind, IncidentStatus, IncidentView, Severity, Signal
from storage import outbox_repo
from storage.db import session_scope
from storage.tables import AlertOutbox, Incident
from tests.fakes.blockkit import validate_message
from tests.fakes.slack import BOT_TOKEN, FakeSlack

CHANNEL = "C0ALERTS"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


def view(incident_id: int, *, user: str = "alice@example.com", status=IncidentStatus.DETECTED, **kw) -> IncidentView:
    data_at = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    signal = Signal(kind=AnomalyKind.SPEND_SPIKE, severity=Severity.WARNING, day=date(2026, 3, 1), value=214.0,
                    baseline=51.0, baseline_label="7-day average", unit="usd",
                    message="Alice spent $214 today, 4.2× her 7-day average of $51", data_at=data_at, ratio=4.2,
                    tool="cursor", model="opus-4.5", model_share=0.81)
    base = dict(id=incident_id, subject=user, user=user, name="Alice", kind=AnomalyKind.SPEND_SPIKE,
                severity=Severity.WARNING, status=status, message=signal.message, value=214.0, threshold=51.0,
                signals=(signal,), data_at=data_at, opened_at=T0 - timedelta(minutes=5), first_day=date(2026, 3, 1),
                last_seen_day=date(2026, 3, 1))
    base.update(kw)
    return IncidentView(**base)


class MemoryStore:
    """In-memory incidents for the sender (the bot wires storage.incident_repo)."""

    def __init__(self, views: list[IncidentView]) -> None:
        self.views = {v.id: v for v in views}
        self.alerted: list[tuple[int, str, str]] = []
        self.lock = threading.Lock()

    def get(self, session, incident_id):
        return self.views.get(incident_id)

    def on_message(self, session, channel, ts):
        return [v for v in self.views.values() if v.slack_channel == channel and v.slack_ts == ts]

    def mark_alerted(self, session, incident_id, *, at, channel, ts):
        with self.lock:
            self.alerted.append((incident_id, channel, ts))
            self.views[incident_id] = dataclasses.replace(self.views[incident_id], status=IncidentStatus.ALERTED,
                                                          alerted_at=at, slack_channel=channel, slack_ts=ts)

    def first_alert_pending(self, session, incident_id):
        with session:
            rows = session.execute(select(AlertOutbox.status).where(AlertOutbox.incident_id == incident_id,
                                                                    AlertOutbox.kind == "opened")).scalars().all()
        return any(r in ("pending", "sending") for r in rows)


def add_incidents(engine, ids) -> None:
    with session_scope(engine) as s:
        for i in ids:
            s.add(Incident(id=i, dedup_key=f"alice{i}@example.com", user_email=f"alice{i}@example.com",
                           kind="spend_spike", severity="warning", data_at=T0 - timedelta(hours=9)))


def queue(engine, incident_id: int, kind: str = "opened", *, batch: str | None = None, now: datetime = T0) -> None:
    with session_scope(engine) as s:
        assert outbox_repo.queue(s, dedup_key=f"{kind}:{incident_id}", kind=kind, incident_id=incident_id,
                                 payload={"incident_id": incident_id, "alert": kind, "day": "2026-03-01"}, now=now,
                                 batch=batch)


def rows(engine) -> list[AlertOutbox]:
    with session_scope(engine) as s:
        return list(s.execute(select(AlertOutbox).order_by(AlertOutbox.id)).scalars())


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


def sender(engine, slack, store, clock, **kw) -> AlertSender:
    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url, timeout=5, retry_handlers=[])
    return AlertSender(engine, client, channel=CHANNEL, store=store, clock=clock, **kw)


def posts(slack, ok_only: bool = True):
    return [c for c in slack.calls("chat.postMessage") if c.ok or not ok_only]


def test_one_alert_is_posted_once_with_its_marker_and_marked_sent(engine, slack):
    add_incidents(engine, [1])
    queue(engine, 1)
    store, clock = MemoryStore([view(1)]), Clock()
    report = sender(engine, slack, store, clock).drain()
    assert (report.sent, report.failed, report.retried) == (1, 0, 0)
    [call] = posts(slack)
    assert call["channel"] == CHANNEL
    assert validate_message(call.body) == []
    assert call["metadata"]["event_payload"]["outbox_ids"] == [rows(engine)[0].id]
    [row] = rows(engine)
    assert (row.status, row.slack_ts, row.attempts) == ("sent", call.response["ts"], 1)
    assert store.alerted == [(1, CHANNEL, call.response["ts"])]
    # a second drain (the next poll) finds nothing to do
    assert sender(engine, slack, store, clock).drain().sent == 0
    assert len(posts(slack)) == 1


def test_429_waits_for_retry_after_then_sends_once(engine, slack):
    add_incidents(engine, [1])
    queue(engine, 1)
    store, clock = MemoryStore([view(1)]), Clock()
    slack.fail_next("chat.postMessage", "ratelimited", retry_after=7)
    s = sender(engine, slack, store, clock)
    assert s.drain().retried == 1
    [row] = rows(engine)
    assert row.status == "pending"
    assert row.next_attempt_at.replace(tzinfo=UTC) == T0 + timedelta(seconds=7)
    clock.advance(seconds=6)
    assert s.drain().sent == 0  # not due yet
    clock.advance(seconds=2)
    assert s.drain().sent == 1
    assert len(posts(slack)) == 1 and len(posts(slack, ok_only=False)) == 2
    assert rows(engine)[0].status == "sent"


@pytest.mark.parametrize("header", ["nan", "soon", ""])
def test_a_429_with_a_retry_after_that_is_no_number_waits_the_default(engine, slack, header):
    """`Retry-After: nan` parsed as a float made timedelta() raise out of the sender's loop: the
    row stayed `sending` until its lease ended, and every round after failed the same way."""
    add_incidents(engine, [1])
    queue(engine, 1)
    store, clock = MemoryStore([view(1)]), Clock()
    answers = [(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": header})]
    slack.overrides["chat.postMessage"] = lambda body: answers.pop() if answers else None
    s = sender(engine, slack, store, clock)
    assert s.drain().retried == 1
    [row] = rows(engine)
    assert row.status == "pending" and row.next_attempt_at.replace(tzinfo=UTC) == T0 + timedelta(seconds=30)
    clock.advance(seconds=30)
    assert s.drain().sent == 1 and rows(engine)[0].status == "sent"


def test_500_is_retried_with_backoff_and_the_retry_checks_the_channel_first(engine, slack):
    add_incidents(engine, [1])
    queue(engine, 1)
    store, clock = MemoryStore([view(1)]), Clock()
    slack.fail_next("chat.postMessage", "internal_error", status=500, times=2)
    s = sender(engine, slack, store, clock, backoff=10)
    assert s.drain().retried == 1
    first_wait = rows(engine)[0].next_attempt_at.replace(tzinfo=UTC) - T0
    assert timedelta(seconds=10) <= first_wait <= timedelta(seconds=12.5)  # 10 s × (1 + ≤ 25 % jitter)
    clock.advance(seconds=13)
    assert s.drain().retried == 1
    second_wait = rows(engine)[0].next_attempt_at.replace(tzinfo=UTC) - clock.now
    assert timedelta(seconds=20) <= second_wait <= timedelta(seconds=25)  # doubled
    clock.advance(seconds=26)
    assert s.drain().sent == 1
    assert len(posts(slack)) == 1
    assert len(slack.calls("conversations.history")) == 2  # each retry looked before posting
    assert rows(engine)[0].attempts == 3


def test_a_sender_killed_after_slack_accepted_the_post_is_not_posted_again(engine, slack):
    add_incidents(engine, [1])
    queue(engine, 1)
    store, clock = MemoryStore([view(1)]), Clock()
    dead = sender(engine, slack, store, clock)
    # the dead sender claims and posts, then dies before it marks the row
    with session_scope(engine) as s:
        [item] = outbox_repo.claim_due(s, owner=dead.owner, now=clock(), lease=timedelta(minutes=2),
                                       transport=outbox_repo.Transport.SLACK)
    from bot.blocks import alerts as blocks
    message = blocks.incident_message(view(1), now=clock())
    posted = WebClient(token=BOT_TOKEN, base_url=slack.api_url).chat_postMessage(
        channel=CHANNEL, text=message.text, blocks=message.blocks, metadata=blocks.marker([item.id], kind="opened"))
    # within the lease nobody touches the row
    survivor = sender(engine, slack, store, clock)
    assert survivor.drain().sent == 0
    assert rows(engine)[0].status == "sending"
    # past the lease the survivor takes it over, finds the post and marks it sent
    clock.advance(minutes=3)
    report = survivor.drain()
    assert (report.sent, report.recovered) == (0, 1)
    [row] = rows(engine)
    assert (row.status, row.slack_ts) == ("sent", posted["ts"])
    assert len(posts(slack)) == 1
    assert store.alerted == [(1, CHANNEL, posted["ts"])]


def test_a_sender_killed_before_posting_posts_once_after_the_lease(engine, slack):
    add_incidents(engine, [1])
    queue(engine, 1)
    store, clock = MemoryStore([view(1)]), Clock()
    with session_scope(engine) as s:
        outbox_repo.claim_due(s, owner="dead", now=clock(), lease=timedelta(minutes=2),
                              transport=outbox_repo.Transport.SLACK)
    clock.advance(minutes=3)
    assert sender(engine, slack, store, clock).drain().sent == 1
    assert len(posts(slack)) == 1
    assert rows(engine)[0].attempts == 2


def test_a_permanent_error_fails_the_row_with_the_reason(engine, slack):
    add_incidents(engine, [1])
    queue(engine, 1)
    store, clock = MemoryStore([view(1)]), Clock()
    slack.fail_next("chat.postMessage", "channel_not_found")
    report = sender(engine, slack, store, clock).drain()
    assert report.failed == 1
    [row] = rows(engine)
    assert row.status == "failed" and "channel_not_found" in row.last_error
    clock.advance(hours=1)
    assert sender(engine, slack, store, clock).drain().sent == 0
    assert store.alerted == []


def test_timeouts_are_retried_then_given_up_after_max_attempts(engine, slack):
    add_incidents(engine, [1])
    queue(engine, 1)
    store, clock = MemoryStore([view(1)]), Clock()
    slack.fail_next("chat.postMessage", "service_unavailable", status=503, times=10)
    s = sender(engine, slack, store, clock, max_attempts=3, backoff=1)
    for _ in range(3):
        s.drain()
        clock.advance(minutes=5)
    [row] = rows(engine)
    assert row.status == "failed" and row.attempts == 3 and "gave up after 3 attempts" in row.last_error
    assert posts(slack) == []


def test_messages_given_up_on_are_listed_and_sent_again_once_when_an_admin_asks(engine, slack):
    """#1 refused (channel_not_found, one attempt), #2 given up after three 503s: the App Home's
    figures are two failed Slack messages, the newest #2's reason. Sent again, each is posted once;
    #2, tried before, still looks in the channel first (a 503 may have posted it), #1 does not."""
    add_incidents(engine, [1, 2])
    store, clock = MemoryStore([view(1), view(2)]), Clock()
    s = sender(engine, slack, store, clock, max_attempts=3, backoff=1)
    queue(engine, 1)
    slack.fail_next("chat.postMessage", "channel_not_found")
    assert s.drain().failed == 1
    clock.advance(minutes=1)
    queue(engine, 2, now=clock.now)
    slack.fail_next("chat.postMessage", "service_unavailable", status=503, times=3)
    for _ in range(3):
        s.drain()
        clock.advance(minutes=5)
    with session_scope(engine) as session:
        [failed] = outbox_repo.failed_deliveries(session)
    assert (failed.transport, failed.count) == (outbox_repo.Transport.SLACK, 2)
    assert failed.newest_at.replace(tzinfo=UTC) == T0 + timedelta(minutes=1)
    assert failed.newest_error.startswith("gave up after 3 attempts")
    looked_before = len(slack.calls("conversations.history"))
    with session_scope(engine) as session:
        assert outbox_repo.retry_failed(session, now=clock.now) == 2
    assert [(r.status, r.attempts) for r in rows(engine)] == [("pending", 0), ("pending", 1)]
    assert s.drain().sent == 2
    assert len(posts(slack)) == 2
    assert len(slack.calls("conversations.history")) == looked_before + 1  # #2 only
    assert [(r.status, r.attempts) for r in rows(engine)] == [("sent", 1), ("sent", 2)]
    with session_scope(engine) as session:
        assert outbox_repo.failed_deliveries(session) == []
        assert outbox_repo.retry_failed(session, now=clock.now) == 0  # a second click changes nothing


def test_follow_ups_reply_in_the_thread_and_re_render_the_parent(engine, slack):
    add_incidents(engine, [1])
    queue(engine, 1)
    store, clock = MemoryStore([view(1)]), Clock()
    s = sender(engine, slack, store, clock)
    s.drain()
    [parent] = posts(slack)
    store.views[1] = dataclasses.replace(store.views[1], severity=Severity.CRITICAL)
    queue(engine, 1, "escalated")
    assert s.drain().sent == 1
    reply = posts(slack)[-1]
    assert reply["thread_ts"] == parent.response["ts"]
    assert "Escalated to *critical*" in reply["blocks"][0]["text"]["text"]
    [update] = slack.calls("chat.update")
    assert update["ts"] == parent.response["ts"]
    assert "Critical" in update["blocks"][0]["text"]["text"]
    assert validate_message(reply.body) == [] and validate_message(update.body) == []


def test_a_follow_up_waits_for_its_first_alert(engine, slack):
    add_incidents(engine, [1])
    queue(engine, 1)
    queue(engine, 1, "escalated")
    store, clock = MemoryStore([view(1)]), Clock()
    slack.fail_next("chat.postMessage", "ratelimited", retry_after=30)
    s = sender(engine, slack, store, clock)
    report = s.drain()
    assert (report.retried, report.waiting) == (1, 1)
    clock.advance(seconds=31)
    s.drain()
    opened, escalated = posts(slack)
    assert escalated["thread_ts"] == opened.response["ts"]
    assert [r.attempts for r in rows(engine)] == [2, 1]  # waiting for the parent is not an attempt


@pytest.mark.postgres
def test_two_senders_on_one_postgres_post_each_alert_once(pg_database_url, slack):
    from storage.db import make_engine, upgrade

    engine = make_engine(pg_database_url)
    upgrade(engine)
    try:
        ids = list(range(1, 31))
        add_incidents(engine, ids)
        for i in ids:
            queue(engine, i)
        store, clock = MemoryStore([view(i) for i in ids]), Clock()
        senders = [sender(engine, slack, store, clock), sender(engine, slack, store, clock)]
        # separate claims, as two replicas do: bypass the process-local lock by claiming directly
        claimed: list[list[int]] = []

        def claim(s: AlertSender) -> None:
            with session_scope(engine) as session:
                claimed.append([i.id for i in outbox_repo.claim_due(
                    session, owner=s.owner, now=clock(), lease=timedelta(minutes=2),
                    transport=outbox_repo.Transport.SLACK, limit=20)])

        threads = [threading.Thread(target=claim, args=(s,)) for s in senders]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        first, second = claimed
        assert not set(first) & set(second)
        assert len(first) + len(second) == 30
        # the rows each claim left behind are delivered by the next drain, once
        clock.advance(minutes=3)
        for s in senders:
            s.drain()
        assert sorted(c["metadata"]["event_payload"]["outbox_ids"][0] for c in posts(slack)) == [
            r.id for r in rows(engine)]
        assert all(r.status == "sent" for r in rows(engine))
    finally:
        engine.dispose()


def test_the_private_nudge_goes_to_the_person_once_with_only_their_numbers(engine, slack):
    add_incidents(engine, [1])
    queue(engine, 1)
    slack.register_user("U0ALICE", "alice@example.com", real_name="Alice Liddell")
    slack.register_user("U0BOB", "bob@example.com")
    store, clock = MemoryStore([view(1)]), Clock()
    on = sender(engine, slack, store, clock, nudge=lambda: True)
    on.drain()
    on.drain()
    dms = [c for c in posts(slack) if c["channel"] == slack.dm_channel("U0ALICE")]
    assert len(dms) == 1 and len(posts(slack)) == 2  # the alert in the channel, the nudge in her DM
    nudge = dms[0]
    assert validate_message(nudge.body) == []
    text = "\n".join(b["text"]["text"] for b in nudge["blocks"] if b["type"] == "section")
    assert text.startswith("Hi Alice :wave:")
    assert "You spent *$214.00* on 2026-03-01, 4.2× your usual $51.00 a day." in text
    assert "81 % of it went to *opus-4.5* in Cursor." in text
    assert "*sonnet-4.5* costs about 40 % less per token than opus-4.5" in text  # $15 vs $25 output
    assert [r.transport for r in rows(engine) if r.status == "sent"] == ["slack", "dm"]


def test_no_nudge_when_the_setting_is_off_or_the_person_is_unknown(engine, slack):
    add_incidents(engine, [1, 2])
    queue(engine, 1)
    store, clock = MemoryStore([view(1)]), Clock()
    sender(engine, slack, store, clock, nudge=lambda: False).drain()
    assert [r.transport for r in rows(engine)] == ["slack"]
    queue(engine, 2)
    store.views[2] = view(2, user="ghost@example.com")
    report = sender(engine, slack, store, clock, nudge=lambda: True).drain()
    # one nudge copy per first alert about a person; ghost has no Slack account → failed, said why
    dm_rows = [r for r in rows(engine) if r.transport == "dm"]
    assert len(dm_rows) == 2 and report.failed == 2
    assert all("no Slack user for this email" in r.last_error for r in dm_rows)


def test_three_first_alerts_of_a_run_are_three_messages_four_are_one_summary(engine, slack):
    add_incidents(engine, range(1, 8))
    for i in (1, 2, 3):
        queue(engine, i, batch="run-a")
    for i in (4, 5, 6, 7):
        queue(engine, i, batch="run-b")
    store, clock = MemoryStore([view(i, user=f"p{i}@example.com") for i in range(1, 8)]), Clock()
    s = sender(engine, slack, store, clock)
    assert s.drain().sent == 7
    single, summary = posts(slack)[:3], posts(slack)[3:]
    assert [p["blocks"][0]["text"]["text"] for p in single] == [":warning: Warning: Spend spike"] * 3
    [summary] = summary
    assert summary["blocks"][0]["text"]["text"] == ":warning: 4 new incidents"
    assert summary["metadata"]["event_payload"]["outbox_ids"] == [r.id for r in rows(engine)][3:]
    assert validate_message(summary.body) == []
    ts = summary.response["ts"]
    assert [r.slack_ts for r in rows(engine)][3:] == [ts] * 4  # each row marked with the summary's ts
    assert [a for a in store.alerted if a[2] == ts] == [(i, CHANNEL, ts) for i in (4, 5, 6, 7)]
    # a change to one incident of the summary re-renders the whole summary from the incidents on it
    store.views[5] = dataclasses.replace(store.views[5], status=IncidentStatus.ACKNOWLEDGED,
                                         acknowledged_by="slack:U0BOB", acknowledged_at=clock())
    s.refresh_parent(CHANNEL, ts)
    [update] = slack.calls("chat.update")
    assert update["blocks"][0]["text"]["text"] == ":warning: 4 new incidents"
    text = "\n".join(b["text"]["text"] for b in update["blocks"] if b["type"] == "section")
    assert "Acknowledged by <@U0BOB>" in text
    assert validate_message(update.body) == []


def test_an_alert_for_a_snoozed_incident_waits_until_the_snooze_ends(engine, slack):
    add_incidents(engine, [1])
    queue(engine, 1)
    store, clock = MemoryStore([view(1)]), Clock()
    s = sender(engine, slack, store, clock)
    s.drain()
    store.views[1] = dataclasses.replace(store.views[1], snoozed_until=T0 + timedelta(hours=1), snoozed_by="x")
    queue(engine, 1, "realert")
    assert s.drain().waiting == 1
    assert len(posts(slack)) == 1
    clock.advance(hours=1, seconds=1)
    assert s.drain().sent == 1
    assert posts(slack)[-1]["thread_ts"] == posts(slack)[0].response["ts"]
