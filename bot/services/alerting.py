"""Delivering the alert outbox to Slack (and email), each row once.

Who sends: whichever process holds the `alert-delivery` job lock (Postgres advisory lock /
SQLite file lock): the running bot polls every few seconds, `abacus detect` drains after a run.
Rows are claimed under a lease (storage/outbox_repo.py), so a sender killed mid-way loses them
to the next one once the lease has passed.

Exactly once against Slack: `chat.postMessage` has no idempotency key, so every post carries a
metadata marker (`event_type: abacus_alert`, the outbox ids). A row that was attempted before —
a crash after Slack accepted the post, a timeout, a 5xx that may have gone through — is first
looked for in the channel (`conversations.history`, or the thread's `conversations.replies`,
with `include_all_metadata`) and marked sent with the found `ts` instead of posted again.

Failures: 429 waits `Retry-After`; 5xx, Slack's transient errors, timeouts and connection
errors back off exponentially (with jitter) from the outbox; a permanent error (channel not
found, not in channel, invalid blocks, bad token) or too many attempts marks the row `failed`
with the reason, logged once.
"""

from __future__ import annotations

import logging
import math
import os
import random
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.blocks import alerts as alert_blocks
from bot.blocks.alerts import AlertMessage
from core.incidents import SUMMARY_FROM, SUMMARY_PER_MESSAGE, AlertKind, IncidentView
from core.pricing import cheaper_alternative
from storage import outbox_repo
from storage.db import session_scope
from storage.job_lock import try_job_lock
from storage.outbox_repo import OutboxItem, Transport

from .reply import ready

log = logging.getLogger(__name__)

DELIVERY_LOCK = "alert-delivery"
TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout", "team_added_to_org"})
THREAD_KINDS = frozenset({AlertKind.ESCALATED, AlertKind.SIGNAL_ADDED, AlertKind.REALERT, AlertKind.RESOLVED})
WAIT_FOR_PARENT = timedelta(seconds=20)
HISTORY_PAGES = 10


def utcnow() -> datetime:
    return datetime.now(UTC)


class IncidentStore(Protocol):
    """What the sender reads and records about incidents (storage.incident_repo in the bot)."""

    def get(self, session: Session, incident_id: int) -> IncidentView | None: ...

    def on_message(self, session: Session, channel: str, ts: str) -> list[IncidentView]: ...

    def mark_alerted(self, session: Session, incident_id: int, *, at: datetime, channel: str, ts: str) -> None: ...

    def first_alert_pending(self, session: Session, incident_id: int) -> bool: ...


class EmailChannel(Protocol):
    def send_alert(self, *, message_id: str, view: IncidentView, kind: AlertKind, now: datetime) -> None: ...


DigestRenderer = Callable[[dict, datetime], AlertMessage]


@dataclass
class DrainReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    waiting: int = 0
    recovered: int = 0  # found already posted (after a crash or an ambiguous failure)
    busy: bool = False  # another process holds the delivery claim
    errors: list[str] = field(default_factory=list)

    def add(self, other: DrainReport) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.waiting += other.waiting
        self.recovered += other.recovered
        self.errors += other.errors

    def line(self) -> str:
        if self.busy:
            return "alerts: another process is delivering"
        parts = [f"{self.sent} sent"]
        if self.recovered:
            parts.append(f"{self.recovered} found already posted")
        if self.retried:
            parts.append(f"{self.retried} to retry")
        if self.waiting:
            parts.append(f"{self.waiting} waiting")
        if self.failed:
            parts.append(f"{self.failed} failed")
        return "alerts: " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What happened to one post: sent (ts), retry at a time, or failed for good."""

    ts: str | None = None
    channel: str | None = None
    retry_at: datetime | None = None
    failed: str | None = None
    error: str | None = None
    recovered: bool = False
    wait: bool = False  # retry without counting an attempt


@dataclass
class _Unit:
    """One Slack message: one row, or the first alerts of one run summarised together."""

    items: list[OutboxItem]
    channel: str
    kind: AlertKind
    views: list[IncidentView] = field(default_factory=list)
    files: tuple = ()  # charts to post in the message's thread once it is sent
    dm: bool = False  # the private nudge: to the incident's person, not the channel

    @property
    def ids(self) -> list[int]:
        return [i.id for i in self.items]


class AlertSender:
    def __init__(self, engine: Engine, client: WebClient | None, *, channel: str | None, store: IncidentStore,
                 email: EmailChannel | None = None, digest: DigestRenderer | None = None,
                 nudge: Callable[[], bool] | None = None,
                 owner: str | None = None, lease: timedelta = timedelta(minutes=2), max_attempts: int = 8,
                 backoff: float = 5.0, backoff_cap: float = 900.0, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._client = client
        self._channel = channel
        self._store = store
        self._email = email
        self._digest = digest
        self._nudge = nudge  # is the private nudge on (a setting, read at each round)?
        self.owner = owner or f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._lease = lease
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._backoff_cap = backoff_cap
        self._clock = clock
        self._warned_history = False

    @property
    def enabled(self) -> bool:
        return self._client is not None or self._email is not None

    # --- the loop ---------------------------------------------------------------------------------

    def drain(self, *, rounds: int = 10) -> DrainReport:
        """Deliver what is due, if this process gets the delivery claim. Never raises for a
        delivery failure (it is recorded on the row); a database failure propagates."""
        report = DrainReport()
        with try_job_lock(self._engine, DELIVERY_LOCK) as held:
            if not held:
                report.busy = True
                return report
            for _ in range(rounds):
                round_report = DrainReport()
                claimed = 0
                if self._client is not None:
                    claimed += self._slack_round(round_report)
                if self._email is not None:
                    claimed += self._email_round(round_report)
                report.add(round_report)
                if claimed == 0:
                    break
        return report

    # --- Slack ----------------------------------------------------------------------------------------

    def _slack_round(self, report: DrainReport) -> int:
        now = self._clock()
        with session_scope(self._engine) as session:
            if self._email is not None:
                outbox_repo.queue_email_copies(session, since=now - timedelta(days=1), now=now)
            if self._nudge is not None and self._nudge():
                outbox_repo.queue_dm_copies(session, since=now - timedelta(days=1), now=now)
            items = outbox_repo.claim_due(session, owner=self.owner, now=now, lease=self._lease,
                                          transport=Transport.SLACK, with_default_channel=bool(self._channel))
            nudges = outbox_repo.claim_due(session, owner=self.owner, now=now, lease=self._lease,
                                           transport=Transport.DM)
        for unit in self._units(items):
            self._deliver(unit, report)
        for item in nudges:
            self._deliver(_Unit([item], "", AlertKind.OPENED, dm=True), report)
        return len(items) + len(nudges)

    def _units(self, items: list[OutboxItem]) -> list[_Unit]:
        """Group claimed rows into messages: 1–3 first alerts of a run → one message each; 4+ →
        summary messages of up to SUMMARY_PER_MESSAGE; follow-ups and digests one each."""
        units: list[_Unit] = []
        opened: dict[tuple[str, str | None], list[OutboxItem]] = defaultdict(list)
        for item in items:
            channel = item.channel or self._channel or ""
            kind = _kind(item.kind)
            if kind is AlertKind.OPENED and item.batch is not None:
                opened[(channel, item.batch)].append(item)
            else:
                units.append(_Unit([item], channel, kind or AlertKind.OPENED))
        for (channel, _batch), group in opened.items():
            if len(group) >= SUMMARY_FROM:
                for start in range(0, len(group), SUMMARY_PER_MESSAGE):
                    units.append(_Unit(group[start:start + SUMMARY_PER_MESSAGE], channel, AlertKind.OPENED))
            else:
                units.extend(_Unit([item], channel, AlertKind.OPENED) for item in group)
        return sorted(units, key=lambda u: u.items[0].id)

    def _deliver(self, unit: _Unit, report: DrainReport) -> None:
        now = self._clock()
        try:
            outcome = self._attempt(unit, now)
        except SlackApiError as exc:
            outcome = self._slack_failure(exc, unit, now)
        except (SlackClientError, OSError, TimeoutError) as exc:
            outcome = self._retry_outcome(unit, now, f"{type(exc).__name__}: {str(exc)[:200]}")
        except Exception as exc:  # noqa: BLE001 - rendering failed (database, chart): retried like the rest
            log.exception("alert %s could not be rendered", ",".join(map(str, unit.ids)))
            outcome = self._retry_outcome(unit, now, f"rendering failed: {type(exc).__name__}")
        self._record(unit, outcome, now, report)

    def _attempt(self, unit: _Unit, now: datetime) -> _Outcome:
        kind = unit.kind
        if unit.dm:
            return self._attempt_nudge(unit, now)
        with session_scope(self._engine) as session:
            if kind is AlertKind.DIGEST:
                if self._digest is None:
                    return _Outcome(failed="no digest renderer in this process")
                message = self._digest(unit.items[0].payload, now)
                unit.files = message.files
                thread_ts = None
            else:
                views = [self._store.get(session, i.incident_id) for i in unit.items if i.incident_id is not None]
                unit.views = [v for v in views if v is not None]
                if not unit.views:
                    return _Outcome(failed="the incident no longer exists")
                if kind in THREAD_KINDS:
                    view = unit.views[0]
                    if kind is not AlertKind.RESOLVED and view.is_snoozed(now):
                        return _Outcome(retry_at=view.snoozed_until, wait=True)
                    if view.slack_ts is None and self._store.first_alert_pending(session, view.id):
                        return _Outcome(retry_at=now + WAIT_FOR_PARENT, wait=True)
                    if view.slack_ts is not None:
                        message = alert_blocks.thread_reply(view, kind, now=now,
                                                            kinds=unit.items[0].payload.get("kinds"))
                        thread_ts = view.slack_ts
                        unit.channel = view.slack_channel or unit.channel
                    else:
                        message = alert_blocks.standalone_update(view, kind, now=now,
                                                                 kinds=unit.items[0].payload.get("kinds"))
                        thread_ts = None
                elif len(unit.views) > 1 or len(unit.items) > 1:
                    message = alert_blocks.summary_message(unit.views, now=now)
                    thread_ts = None
                else:
                    message = alert_blocks.incident_message(unit.views[0], now=now)
                    thread_ts = None
        if not unit.channel:
            return _Outcome(failed="no channel: set ABACUS_ALERT_CHANNEL")
        if any(item.retried for item in unit.items):
            found = self._find_posted(unit, thread_ts)
            if found is not None:
                return _Outcome(ts=found, channel=unit.channel, recovered=True)
        response = self._client.chat_postMessage(
            channel=unit.channel, text=message.text, blocks=message.blocks, thread_ts=thread_ts,
            metadata=alert_blocks.marker(unit.ids, kind=unit.kind.value), unfurl_links=False, unfurl_media=False)
        return _Outcome(ts=response.get("ts"), channel=response.get("channel") or unit.channel)

    def _attempt_nudge(self, unit: _Unit, now: datetime) -> _Outcome:
        """The person's own DM: found by email (`users.lookupByEmail`), posted once like any alert."""
        item = unit.items[0]
        with session_scope(self._engine) as session:
            view = self._store.get(session, item.incident_id) if item.incident_id is not None else None
        if view is None:
            return _Outcome(failed="the incident no longer exists")
        if not view.user or "@" not in view.user:
            return _Outcome(failed="no person to nudge")
        try:
            user_id = self._client.users_lookupByEmail(email=view.user)["user"]["id"]
        except SlackApiError as exc:
            if exc.response.get("error") in ("users_not_found", "user_not_found", "account_inactive"):
                return _Outcome(failed=f"no Slack user for this email ({exc.response.get('error')})")
            raise
        unit.channel = self._client.conversations_open(users=user_id)["channel"]["id"]
        primary = view.primary
        message = alert_blocks.nudge_message(view, cheaper_alternative(primary.model if primary else None))
        if item.retried:
            found = self._find_posted(unit, None)
            if found is not None:
                return _Outcome(ts=found, channel=unit.channel, recovered=True)
        response = self._client.chat_postMessage(channel=unit.channel, text=message.text, blocks=message.blocks,
                                                 metadata=alert_blocks.marker(unit.ids, kind="nudge"))
        return _Outcome(ts=response.get("ts"), channel=unit.channel)

    def _find_posted(self, unit: _Unit, thread_ts: str | None) -> str | None:
        """The message an earlier attempt posted for these rows, if Slack has it."""
        wanted = set(unit.ids)
        oldest = min(i.created_at for i in unit.items)
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        oldest_ts = f"{max(0.0, oldest.timestamp() - 300):.6f}"
        cursor = None
        try:
            for _ in range(HISTORY_PAGES):
                if thread_ts:
                    page = self._client.conversations_replies(channel=unit.channel, ts=thread_ts, oldest=oldest_ts,
                                                              include_all_metadata=True, limit=200, cursor=cursor)
                else:
                    page = self._client.conversations_history(channel=unit.channel, oldest=oldest_ts,
                                                              include_all_metadata=True, limit=200, cursor=cursor)
                for message in page.get("messages") or []:
                    meta = message.get("metadata") or {}
                    if meta.get("event_type") != alert_blocks.MARKER_EVENT:
                        continue
                    posted = (meta.get("event_payload") or {}).get("outbox_ids") or []
                    if wanted & {int(i) for i in posted if isinstance(i, int | str) and str(i).isdigit()}:
                        return message.get("ts")
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return None
        except SlackApiError as exc:
            if exc.response.get("error") in ("missing_scope", "not_in_channel", "channel_not_found"):
                if not self._warned_history:
                    log.warning("cannot read %s to check for an alert already posted (%s): posting again may "
                                "duplicate it; give the bot channels:history / groups:history",
                                unit.channel, exc.response.get("error"))
                    self._warned_history = True
                return None
            raise
        return None

    def _slack_failure(self, exc: SlackApiError, unit: _Unit, now: datetime) -> _Outcome:
        response = exc.response
        status = getattr(response, "status_code", 200) or 200
        error = response.get("error") if hasattr(response, "get") else None
        if status == 429 or error == "ratelimited":
            headers = getattr(response, "headers", {}) or {}
            retry_after = _retry_after(headers)
            return _Outcome(retry_at=now + timedelta(seconds=retry_after), error=f"rate limited ({retry_after:.0f}s)")
        if status >= 500 or error in TRANSIENT_ERRORS:
            return self._retry_outcome(unit, now, f"Slack answered {status} {error or ''}".strip())
        return _Outcome(failed=f"Slack refused the message: {error or status}")

    def _retry_outcome(self, unit: _Unit, now: datetime, error: str) -> _Outcome:
        attempts = max(i.attempts for i in unit.items)
        if attempts >= self._max_attempts:
            return _Outcome(failed=f"gave up after {attempts} attempts: {error}")
        delay = min(self._backoff_cap, self._backoff * 2 ** (attempts - 1)) * (1 + random.random() / 4)
        return _Outcome(retry_at=now + timedelta(seconds=delay), error=error)

    def _record(self, unit: _Unit, outcome: _Outcome, now: datetime, report: DrainReport) -> None:
        with session_scope(self._engine) as session:
            if outcome.ts is not None:
                marked = outbox_repo.mark_sent(session, owner=self.owner, sent=[(i, outcome.ts) for i in unit.ids],
                                               at=now)
                if marked and unit.kind is AlertKind.OPENED and not unit.dm:
                    for view in unit.views:
                        self._store.mark_alerted(session, view.id, at=now, channel=outcome.channel or unit.channel,
                                                 ts=outcome.ts)
                report.sent += marked if not outcome.recovered else 0
                report.recovered += marked if outcome.recovered else 0
            elif outcome.failed is not None:
                report.failed += outbox_repo.mark_failed(session, owner=self.owner, ids=unit.ids, error=outcome.failed)
                log.error("alert %s (%s) not delivered: %s", ",".join(map(str, unit.ids)), unit.kind.value,
                          outcome.failed)
                report.errors.append(outcome.failed)
            else:
                n = outbox_repo.mark_retry(session, owner=self.owner, ids=unit.ids, at=outcome.retry_at or now,
                                           error=outcome.error, count_attempt=not outcome.wait)
                if outcome.wait:
                    report.waiting += n
                else:
                    report.retried += n
                    log.info("alert %s: %s; retrying at %s", ",".join(map(str, unit.ids)), outcome.error,
                             (outcome.retry_at or now).strftime("%H:%M:%S"))
        if outcome.ts is not None and unit.kind in THREAD_KINDS and unit.views and unit.views[0].slack_ts:
            self.refresh_parent(unit.views[0].slack_channel or unit.channel, unit.views[0].slack_ts)
        if outcome.ts and not outcome.recovered and unit.files:
            self._upload(outcome.channel or unit.channel, outcome.ts, unit.files)

    def _upload(self, channel: str, thread_ts: str, files) -> None:
        """Charts of a posted message, in its thread. Best effort: the message is what counts."""
        for attachment in files:
            try:
                attachment = ready(attachment)
                self._client.files_upload_v2(channel=channel, thread_ts=thread_ts, content=attachment.content,
                                             filename=attachment.filename, title=attachment.title,
                                             alt_txt=attachment.alt_text)
            except (SlackApiError, SlackClientError, OSError) as exc:
                log.warning("could not upload %s to %s: %s", attachment.filename, channel, _error_of(exc))

    # --- re-rendering the alert message -------------------------------------------------------------

    def refresh_parent(self, channel: str, ts: str) -> None:
        """Re-render the alert message at (channel, ts) from the incidents on it. A failure is
        logged: the next change renders it again."""
        if self._client is None:
            return
        message = render_message(self._engine, self._store, channel, ts, now=self._clock())
        if message is None:
            return
        try:
            self._client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not update the alert message %s/%s: %s", channel, ts, _error_of(exc))

    # --- email --------------------------------------------------------------------------------------

    def _email_round(self, report: DrainReport) -> int:
        now = self._clock()
        with session_scope(self._engine) as session:
            if self._client is None:  # email alone (`abacus detect` without Slack): queue the copies here
                outbox_repo.queue_email_copies(session, since=now - timedelta(days=1), now=now)
            items = outbox_repo.claim_due(session, owner=self.owner, now=now, lease=self._lease,
                                          transport=Transport.EMAIL)
        for item in items:
            unit = _Unit([item], "email", _kind(item.kind) or AlertKind.OPENED)
            outcome = self._send_email(unit, now)
            self._record(unit, outcome, now, report)
        return len(items)

    def _send_email(self, unit: _Unit, now: datetime) -> _Outcome:
        import smtplib

        item = unit.items[0]
        with session_scope(self._engine) as session:
            view = self._store.get(session, item.incident_id) if item.incident_id is not None else None
        if view is None:
            return _Outcome(failed="the incident no longer exists")
        try:
            self._email.send_alert(message_id=f"abacus-alert-{item.id}", view=view, kind=unit.kind, now=now)
        except smtplib.SMTPResponseException as exc:
            reason = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            text = f"SMTP {exc.smtp_code} {str(reason)[:200]}"
            if 400 <= exc.smtp_code < 500:
                return self._retry_outcome(unit, now, text)
            return _Outcome(failed=text)
        except smtplib.SMTPRecipientsRefused as exc:
            return _Outcome(failed=f"SMTP refused the recipients: {', '.join(exc.recipients)[:200]}")
        except (smtplib.SMTPException, OSError, TimeoutError) as exc:
            return self._retry_outcome(unit, now, f"{type(exc).__name__}: {str(exc)[:200]}")
        except (ValueError, TypeError, UnicodeError) as exc:  # the message cannot be built: never will be
            log.exception("alert email %s could not be built", item.id)
            return _Outcome(failed=f"the email could not be built: {type(exc).__name__}")
        return _Outcome(ts="")


def render_message(engine: Engine, store: IncidentStore, channel: str, ts: str, *, now: datetime
                   ) -> AlertMessage | None:
    """The alert message at (channel, ts) as the incidents on it are now: one incident's alert,
    or the summary of several."""
    with session_scope(engine) as session:
        views = store.on_message(session, channel, ts)
    if not views:
        return None
    if len(views) == 1:
        return alert_blocks.incident_message(views[0], now=now)
    return alert_blocks.summary_message(sorted(views, key=lambda v: v.id), now=now)


def _kind(raw: str) -> AlertKind | None:
    try:
        return AlertKind(raw)
    except ValueError:
        return None


def _retry_after(headers) -> float:
    raw = None
    for key in ("Retry-After", "retry-after"):
        value = headers.get(key) if hasattr(headers, "get") else None
        if value:
            raw = value[0] if isinstance(value, list | tuple) else value
            break
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        return 30.0
    return min(max(seconds, 1.0), 3600.0) if math.isfinite(seconds) else 30.0  # `nan` passes float()


def _error_of(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error"))
    return type(exc).__name__

