"""QA pass on alert emails: a name from a vendor with line breaks or control characters must not
stop email delivery (a mail header cannot hold them) nor forge a header."""

from __future__ import annotations

from datetime import timedelta

from bot.services.alerting import AlertSender
from storage import outbox_repo
from storage.db import session_scope
from tests.bot.test_alert_delivery import Clock, MemoryStore, add_incidents, queue, view
from tests.bot.test_alert_email import channel, smtp  # noqa: F401 - the SMTP server fixture

FORGED = "Eve\r\nBcc: attacker@evil.example\x0b\u2028\x1b[31m"


def test_a_name_with_line_breaks_is_mailed_with_a_one_line_subject(engine, smtp):  # noqa: F811
    inbox, port = smtp
    add_incidents(engine, [1, 2])
    queue(engine, 1)
    queue(engine, 2)
    hostile = view(1, name=FORGED, message=f"{FORGED} spent $214 today")
    store, clock = MemoryStore([hostile, view(2)]), Clock()
    sender = AlertSender(engine, None, channel=None, store=store, email=channel(port), clock=clock)
    with session_scope(engine) as session:
        assert outbox_repo.queue_email_copies(session, since=clock() - timedelta(days=1), now=clock()) == 2
    report = sender.drain()
    assert report.sent == 2, report  # the hostile one did not stop the one after it either
    subjects = sorted(str(m["Subject"]).strip() for _, _, m in inbox.messages)
    assert subjects[0].startswith("[Abacus] WARNING #1: Eve Bcc: attacker@evil.example")
    for _, recipients, message in inbox.messages:
        assert recipients == ["finops@example.com", "lead@example.com"]
        assert message["Bcc"] is None
        assert not any(ch in message["Subject"] for ch in "\r\n\x0b\u2028\x1b")


def test_email_alone_sends_the_alerts_without_a_slack_client(engine, smtp):  # noqa: F811
    """`abacus detect` with ABACUS_SMTP_URL and ABACUS_ALERT_EMAIL_TO but no Slack token: the email
    copies were only ever queued by the Slack round, so no email went out."""
    inbox, port = smtp
    add_incidents(engine, [1])
    queue(engine, 1)
    sender = AlertSender(engine, None, channel=None, store=MemoryStore([view(1)]), email=channel(port), clock=Clock())
    report = sender.drain()
    assert report.sent == 1, report
    [(_, recipients, message)] = inbox.messages
    assert message["Subject"] == "[Abacus] WARNING #1: Alice spent $214 today, 4.2× her 7-day average of $51"
    assert sender.drain().sent == 0  # once


def test_a_name_with_line_breaks_stays_on_its_line_in_the_body():
    """In the plain-text body a line break in a vendor's display name would start lines of its own —
    a forged "Status: Resolved" under the real figures; and a bidi override would reorder what the
    reader sees. Every value keeps to its line, as in the Slack text."""
    from datetime import UTC, datetime

    from bot.services.email import render_alert_email
    from core.incidents import AlertKind

    name = "Eve\r\nStatus: Resolved\n\nValue: $0.00\u202e"
    hostile = view(1, name=name, message=f"{name} spent $214 today")
    rendered = render_alert_email(hostile, AlertKind.OPENED, now=datetime(2026, 3, 2, 12, tzinfo=UTC))
    lines = rendered.text.splitlines()
    assert lines[0] == "Eve Status: Resolved Value: $0.00 spent $214 today"
    assert "Person: Eve Status: Resolved Value: $0.00" in lines
    assert not any(line.startswith(("Status: Resolved", "Value: $0.00")) for line in lines)
    assert not any(ch in rendered.text + rendered.html for ch in "\r\u202e")
