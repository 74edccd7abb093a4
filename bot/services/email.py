"""Alert emails (ABACUS_SMTP_URL, ABACUS_ALERT_EMAIL_TO): the same alert as in Slack, as HTML
and plain text, sent from the outbox's `email` rows and retried the same way.

`smtp://user:pass@host:port` upgrades with STARTTLS when the server offers it; `smtps://` is TLS
from the first byte. A password is never sent in clear across the network: to a server on another
machine that offers no STARTTLS, the email fails with that reason instead (a relay on this machine,
reached over loopback, may take it unencrypted). SMTP has no idempotency key either: every alert has a stable Message-ID
(`<abacus-alert-<outbox id>@…>`), so a resend after a crash mid-DATA is one conversation in the
recipients' mail clients, not two.
"""

from __future__ import annotations

import base64
import html
import ipaddress
import smtplib
import ssl
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import unquote, urlsplit

from bot.blocks.alerts import STATUS_LABEL, status_line, value_text
from core.incidents import AlertKind, IncidentView, format_duration
from core.sources.http import scrub

KIND_SUBJECT = {AlertKind.OPENED: "", AlertKind.ESCALATED: "Escalated: ", AlertKind.SIGNAL_ADDED: "New signal: ",
                AlertKind.REALERT: "Still happening: ", AlertKind.RESOLVED: "Resolved: "}


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    tls: bool  # smtps: TLS from the start; smtp: STARTTLS when offered
    username: str | None
    password: str | None
    sender: str
    recipients: tuple[str, ...]

    @classmethod
    def from_url(cls, url: str, *, sender: str, recipients: list[str]) -> SmtpConfig:
        parts = urlsplit(url)
        tls = parts.scheme == "smtps"
        return cls(host=parts.hostname or "localhost", port=parts.port or (465 if tls else 25), tls=tls,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None, sender=sender,
                   recipients=tuple(recipients))

    def __repr__(self) -> str:  # never the password
        return f"SmtpConfig({self.host}:{self.port}, tls={self.tls}, user={self.username!r})"

    def secret_forms(self) -> list[str]:
        """The password as a server may quote it back: itself and the AUTH LOGIN / PLAIN lines we send."""
        if not self.password:
            return []
        return [self.password, base64.b64encode(self.password.encode()).decode(),
                base64.b64encode(f"\0{self.username or ''}\0{self.password}".encode()).decode()]


class ClearPasswordRefused(smtplib.SMTPResponseException):
    """A server that offers no STARTTLS, on another machine, would get the password in clear: refused
    like a permanent SMTP error (the outbox row fails with this reason; nothing is retried)."""

    def __init__(self) -> None:
        super().__init__(530, "the server offers no STARTTLS, so the password would cross the network in clear; "
                              "not sent: use smtps:// or a server that offers STARTTLS")


def _loopback_peer(server: smtplib.SMTP) -> bool:
    """Whether the connection stays on this machine (a local relay, a sidecar): no network to read
    a password from."""
    try:
        return ipaddress.ip_address(server.sock.getpeername()[0].split("%")[0]).is_loopback
    except (AttributeError, OSError, ValueError):
        return False


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_alert_email(view: IncidentView, kind: AlertKind, *, now: datetime) -> RenderedEmail:
    """Pure: the incident as it is now → subject, plain text and HTML."""
    prefix = KIND_SUBJECT.get(kind, "")
    who = view.name or view.user or "The team"
    subject = f"[Abacus] {prefix}{view.severity.value.upper()} #{view.id}: {view.message}"[:200]
    primary = view.primary
    unit = primary.unit if primary else "usd"
    rows = [("Person", who if view.user else "the team"), ("Kind", view.kind.value),
            ("Value", value_text(view.value, unit)),
            ((primary.baseline_label if primary else "threshold").capitalize(), value_text(view.threshold, unit)),
            ("Tool", {"claude_code": "Claude Code", "cursor": "Cursor"}.get(primary.tool, primary.tool)
             if primary and primary.tool else "—"),
            ("Model", (primary.model or "—") if primary else "—"),
            ("Status", STATUS_LABEL[view.status]), ("Data at", view.data_at.strftime("%Y-%m-%d %H:%M UTC")),
            ("Detected", view.opened_at.strftime("%Y-%m-%d %H:%M UTC"))]
    if view.resolved_at:
        rows.append(("MTTR", format_duration(view.mttr)))
    # a name from a vendor may hold line breaks and control characters: in the body they would start
    # lines of their own (a forged "Status: Resolved"), so every value is one line here as in Slack
    message = one_line(view.message)
    rows = [(k, one_line(str(v))) for k, v in rows]
    others = [one_line(s.message) for s in view.signals if s.kind != view.kind]
    state = _plain(status_line(view, now))
    text = "\n".join([f"{prefix}{message}", *[f"- {m}" for m in others], "",
                      *[f"{k}: {v}" for k, v in rows], *([state] if state else []), "",
                      "Acknowledge, resolve or snooze it from the alert in Slack."])
    e = html.escape
    html_rows = "".join(f"<tr><th align='left' style='padding:2px 12px 2px 0'>{e(k)}</th><td>{e(str(v))}</td></tr>"
                        for k, v in rows)
    html_body = (f"<html><body style='font-family:sans-serif'><h2>{e(prefix + view.severity.value.capitalize())}: "
                 f"{e(view.kind.label)} (#{view.id})</h2><p><strong>{e(message)}</strong></p>"
                 + ("<ul>" + "".join(f"<li>{e(m)}</li>" for m in others) + "</ul>" if others else "")
                 + f"<table>{html_rows}</table>" + (f"<p>{e(state)}</p>" if state else "")
                 + "<p style='color:#666'>Acknowledge, resolve or snooze it from the alert in Slack.</p>"
                 "</body></html>")
    return RenderedEmail(subject=one_line(subject), text=text, html=html_body)


def one_line(text: str) -> str:
    """A mail header value: a name from a vendor may hold line breaks (a header would end there, or
    the email library refuses it) and control characters; each becomes a space."""
    cleaned = "".join(" " if unicodedata.category(ch)[0] in "CZ" and ch != " " else ch for ch in text)
    return " ".join(cleaned.split())


def _plain(mrkdwn: str) -> str:
    """A status line for email: no emoji shortcodes, mentions as ids."""
    out = mrkdwn
    for code in (":white_check_mark: ", ":eyes: ", ":zzz: "):
        out = out.replace(code, "")
    return out.replace("<@", "@").replace(">", "")


class SmtpEmailChannel:
    def __init__(self, config: SmtpConfig, *, timeout: float = 20.0) -> None:
        self._config = config
        self._timeout = timeout

    def send_alert(self, *, message_id: str, view: IncidentView, kind: AlertKind, now: datetime) -> None:
        rendered = render_alert_email(view, kind, now=now)
        message = EmailMessage()
        message["Subject"] = rendered.subject
        message["From"] = self._config.sender
        message["To"] = ", ".join(self._config.recipients)
        message["Date"] = format_datetime(now)
        domain = self._config.sender.rpartition("@")[2] or "abacus.local"
        thread = f"<abacus-incident-{view.id}@{domain}>"
        if kind is AlertKind.OPENED:
            message["Message-ID"] = thread
        else:  # follow-ups join the first alert's conversation
            message["Message-ID"] = f"<{message_id}@{domain}>"
            message["In-Reply-To"] = message["References"] = thread
        message["X-Abacus-Incident"] = str(view.id)
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        self.send(message)

    def send(self, message: EmailMessage) -> None:
        cfg = self._config
        context = ssl.create_default_context()
        if cfg.tls:
            server: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=self._timeout, context=context)
        else:
            server = smtplib.SMTP(cfg.host, cfg.port, timeout=self._timeout)
        try:
            server.ehlo()
            encrypted = cfg.tls
            if not cfg.tls and server.has_extn("starttls"):
                server.starttls(context=context)
                server.ehlo()
                encrypted = True
            if cfg.username:
                if not encrypted and not _loopback_peer(server):
                    raise ClearPasswordRefused()
                server.login(cfg.username, cfg.password or "")
            server.send_message(message, from_addr=cfg.sender, to_addrs=list(cfg.recipients))
        except smtplib.SMTPResponseException as exc:
            # the answer is kept (outbox, App Home) and logged: a server quoting the credentials back
            # must not put them there
            raw = exc.smtp_error
            reason = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            exc.smtp_error = scrub(reason, cfg.secret_forms()).encode()
            exc.args = (exc.smtp_code, exc.smtp_error)
            raise
        finally:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()
