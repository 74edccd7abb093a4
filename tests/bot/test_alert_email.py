"""Alert emails through a real SMTP server on 127.0.0.1 (aiosmtpd), from the outbox."""

from __future__ import annotations

import email
import email.policy
import socket
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.services.alerting import AlertSender
from bot.services.email import SmtpConfig, SmtpEmailChannel
from storage.db import session_scope
from tests.bot.test_alert_delivery import Clock, MemoryStore, add_incidents, queue, rows, view


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self, refuse: list[int] | None = None) -> None:
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []
        self.refuse = list(refuse or [])  # SMTP codes to answer DATA with, one per attempt

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            code = self.refuse.pop(0)
            return f"{code} try later" if code < 500 else f"{code} no such mailbox"
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"abacus", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def channel(port: int, *, password: str = "s3cret") -> SmtpEmailChannel:
    config = SmtpConfig.from_url(f"smtp://abacus:{password}@127.0.0.1:{port}", sender="abacus@example.com",
                                 recipients=["finops@example.com", "lead@example.com"])
    return SmtpEmailChannel(config, timeout=5)


def _one_failed_email(engine, email_channel: SmtpEmailChannel, **sender):
    """Incident #1's alert queued and mailed through `email_channel` once; it must fail: its outbox row."""
    from storage import outbox_repo

    add_incidents(engine, [1])
    queue(engine, 1)
    store, clock = MemoryStore([view(1)]), Clock()
    s = AlertSender(engine, None, channel=None, store=store, email=email_channel, clock=clock, **sender)
    with session_scope(engine) as session:
        outbox_repo.queue_email_copies(session, since=clock() - timedelta(days=1), now=clock())
    assert s.drain().failed == 1
    [row] = [r for r in rows(engine) if r.transport == "email"]
    return row


def test_each_alert_is_mailed_once_as_html_and_text(engine, smtp):
    inbox, port = smtp
    add_incidents(engine, [1])
    queue(engine, 1)
    store, clock = MemoryStore([view(1)]), Clock()
    s = AlertSender(engine, None, channel=None, store=store, email=channel(port), clock=clock)
    # no Slack client here: the Slack row stays pending, the email copy is queued and sent
    with session_scope(engine) as session:
        from storage import outbox_repo
        assert outbox_repo.queue_email_copies(session, since=clock() - timedelta(days=1), now=clock()) == 1
    report = s.drain()
    assert report.sent == 1
    [(sender, recipients, message)] = inbox.messages
    assert sender == "abacus@example.com"
    assert recipients == ["finops@example.com", "lead@example.com"]
    assert message["Subject"] == "[Abacus] WARNING #1: Alice spent $214 today, 4.2× her 7-day average of $51"
    assert message["Message-ID"] == "<abacus-incident-1@example.com>"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Value: $214.00" in text and "7-day average: $51.00" in text and "Model: opus-4.5" in text
    assert "<strong>Alice spent $214 today" in html
    email_rows = [r for r in rows(engine) if r.transport == "email"]
    assert [(r.status, r.dedup_key) for r in email_rows] == [("sent", "email:opened:1")]
    # nothing is queued or sent twice
    with session_scope(engine) as session:
        assert outbox_repo.queue_email_copies(session, since=clock() - timedelta(days=1), now=clock()) == 0
    assert s.drain().sent == 0
    assert len(inbox.messages) == 1


def test_a_4xx_is_retried_and_a_5xx_fails_the_row(engine, smtp):
    inbox, port = smtp
    inbox.refuse = [451, 550]
    add_incidents(engine, [1, 2])
    queue(engine, 1)
    store, clock = MemoryStore([view(1), view(2)]), Clock()
    s = AlertSender(engine, None, channel=None, store=store, email=channel(port), clock=clock, backoff=1)
    from storage import outbox_repo
    with session_scope(engine) as session:
        outbox_repo.queue_email_copies(session, since=clock() - timedelta(days=1), now=clock())
    assert s.drain().retried == 1
    clock.advance(minutes=1)
    report = s.drain()  # the retry meets the 550
    assert report.failed == 1
    [row] = [r for r in rows(engine) if r.transport == "email"]
    assert row.status == "failed" and "550" in row.last_error and row.attempts == 2
    assert inbox.messages == []


def test_a_wrong_password_is_not_sent_and_never_shown(engine, smtp):
    inbox, port = smtp
    row = _one_failed_email(engine, channel(port, password="wrong-pass-123"), max_attempts=1)
    assert "535" in row.last_error and "wrong-pass-123" not in row.last_error
    assert "wrong-pass-123" not in repr(SmtpConfig.from_url(f"smtp://abacus:wrong-pass-123@127.0.0.1:{port}",
                                                             sender="a@b.co", recipients=["c@d.co"]))
    assert inbox.messages == []


def _this_machines_address() -> str | None:
    """An address of this machine that is not loopback (the interface a route out would use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # UDP: nothing is sent
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_a_password_is_not_sent_in_clear_to_a_server_on_another_machine(engine):
    """Without STARTTLS, `smtp://user:pass@…` on another host would send the password readable by
    anyone on the path: the row fails with the reason, the server never sees AUTH (nor the mail).
    Over loopback (a local relay: the tests above) it is sent."""
    address = _this_machines_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    inbox, auths = Inbox(), []

    def recording(server, session, envelope, mechanism, auth_data):
        auths.append(mechanism)
        return authenticator(server, session, envelope, mechanism, auth_data)

    controller = Controller(inbox, hostname=address, port=free_port(), authenticator=recording,
                            auth_require_tls=False)
    controller.start()
    try:
        config = SmtpConfig.from_url(f"smtp://abacus:s3cret@{address}:{controller.port}", sender="abacus@example.com",
                                     recipients=["finops@example.com"])
        row = _one_failed_email(engine, SmtpEmailChannel(config, timeout=5))
        assert row.last_error.startswith("SMTP 530 the server offers no STARTTLS") and "s3cret" not in row.last_error
        assert auths == [] and inbox.messages == []
    finally:
        controller.stop()


def test_an_smtp_answer_that_echoes_the_credentials_is_stored_without_them(engine):
    """Some relays quote what they were sent in a refusal (the password, or the base64 AUTH line).
    The reason is kept in the outbox and shown in the App Home: only a 4-character hint may remain."""
    import base64

    password = "Echoed-SECRET-pass-987"
    plain = base64.b64encode(f"\0abacus\0{password}".encode()).decode()

    def echoing(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False,
                          message=f"535 5.7.8 bad credentials {password} ({plain}, {mechanism})")

    port = free_port()
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port, authenticator=echoing, auth_require_tls=False)
    controller.start()
    try:
        row = _one_failed_email(engine, channel(port, password=password), max_attempts=1)
    finally:
        controller.stop()
    assert "535" in row.last_error and "bad credentials" in row.last_error
    for secret in (password, plain.rstrip("=")):
        assert not any(secret[i:i + 5] in row.last_error for i in range(len(secret) - 8)), row.last_error


class NulInbox(Inbox):
    async def handle_DATA(self, server, session, envelope):
        return "550 no such\x00mailbox"


def test_a_refusal_with_a_nul_in_it_fails_the_row_with_its_reason(engine):
    """A Postgres text column refuses NUL: the server's reply stored as the row's reason raised in
    the sender, so the row stayed `sending` and was tried again at every lease, never marked failed."""
    port = free_port()
    controller = Controller(NulInbox(), hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    try:
        row = _one_failed_email(engine, channel(port))
    finally:
        controller.stop()
    assert row.status == "failed" and row.last_error == "SMTP 550 no suchmailbox"
