"""The alert outbox as a sender sees it: claim due rows under a lease, then mark them.

Detection inserts rows (status `pending`) in the same transaction as the incident change. A
sender claims due rows in one statement — `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
LOCKED) RETURNING …` on Postgres, the same under SQLite's write lock — which moves them to
`sending` with its name and a lease. It then posts them and marks the outcome, again one
statement per batch, and only for rows it still holds: a sender that was killed (or stalled past
its lease) loses its rows to the next one, which sees `attempts > 1` and must look for the message
in Slack before posting again (bot/services/alerting.py). So a row is posted once and marked
`sent` once, with the message `ts`.

Statuses: pending → sending → sent | pending (retry later) | failed (gave up, `last_error` says why).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, bindparam, case, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.usage import column_text
from storage.tables import AlertOutbox


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class Transport(StrEnum):
    SLACK = "slack"
    EMAIL = "email"
    DM = "dm"  # the private nudge to the person behind an incident


T = AlertOutbox.__table__
ERROR_MAX = 2000  # characters of `last_error` kept


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    dedup_key: str
    incident_id: int | None
    kind: str
    channel: str | None
    payload: dict
    transport: Transport
    attempts: int  # including the one this claim starts
    batch: str | None
    created_at: datetime

    @property
    def retried(self) -> bool:
        """An earlier attempt may have reached the other side (crash, timeout, 5xx): look first."""
        return self.attempts > 1


def _payload(raw: str | None) -> dict:
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def claim_due(session: Session, *, owner: str, now: datetime, lease: timedelta, transport: Transport,
              limit: int = 100, with_default_channel: bool = True) -> list[OutboxItem]:
    """Take up to `limit` due rows of one transport: pending ones whose time has come, and rows
    another sender left `sending` past its lease. One statement; rows locked by a concurrent
    claim are skipped, never taken twice. Rows without a channel are left alone when there is
    no default channel (alerts only stored)."""
    due = or_(and_(T.c.status == OutboxStatus.PENDING.value, T.c.next_attempt_at <= now),
              and_(T.c.status == OutboxStatus.SENDING.value, T.c.lease_until < now))
    conditions = [T.c.transport == transport.value, due]
    if transport is Transport.SLACK and not with_default_channel:
        conditions.append(T.c.channel.is_not(None))
    pick = select(T.c.id).where(*conditions).order_by(T.c.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (update(T).where(T.c.id.in_(pick.scalar_subquery()))
            .values(status=OutboxStatus.SENDING.value, lease_owner=owner, lease_until=now + lease,
                    attempts=T.c.attempts + 1)
            .returning(T.c.id, T.c.dedup_key, T.c.incident_id, T.c.kind, T.c.channel, T.c.payload, T.c.transport,
                       T.c.attempts, _batch_column(), T.c.created_at))
    rows = session.execute(stmt.execution_options(synchronize_session=False)).all()
    return sorted((OutboxItem(id=r[0], dedup_key=r[1], incident_id=r[2], kind=r[3], channel=r[4],
                              payload=_payload(r[5]), transport=Transport(r[6]), attempts=r[7],
                              batch=None if r[8] is None else str(r[8]), created_at=r[9]) for r in rows),
                  key=lambda i: i.id)


def _batch_column():
    batch = T.c.get("batch")
    return batch if batch is not None else literal(None).label("batch")


def mark_sent(session: Session, *, owner: str, sent: Sequence[tuple[int, str | None]], at: datetime) -> int:
    """Rows this sender still holds → `sent` with their message ts. Returns how many it marked
    (a row whose lease another sender took over is left to that sender)."""
    if not sent:
        return 0
    stmt = (update(T).where(T.c.id == bindparam("row_id"), T.c.lease_owner == owner,
                            T.c.status == OutboxStatus.SENDING.value)
            .values(status=OutboxStatus.SENT.value, slack_ts=bindparam("ts"), sent_at=at, lease_owner=None,
                    lease_until=None, last_error=None))
    result = session.connection().execute(stmt, [{"row_id": i, "ts": ts} for i, ts in sent])
    return result.rowcount


def mark_retry(session: Session, *, owner: str, ids: Iterable[int], at: datetime, error: str | None,
               count_attempt: bool = True) -> int:
    """Back to `pending` until `at` (backoff, Retry-After, or waiting for a parent message).
    `count_attempt=False` gives the attempt back: waiting is not failing."""
    ids = list(ids)
    if not ids:
        return 0
    values: dict = {"status": OutboxStatus.PENDING.value, "next_attempt_at": at, "lease_owner": None,
                    "lease_until": None}
    if error is not None:
        values["last_error"] = _error_text(error)
    if not count_attempt:
        values["attempts"] = T.c.attempts - 1
    stmt = update(T).where(T.c.id.in_(ids), T.c.lease_owner == owner,
                           T.c.status == OutboxStatus.SENDING.value).values(**values)
    return session.execute(stmt.execution_options(synchronize_session=False)).rowcount


def _error_text(error: str) -> str:
    """The reason as stored (core.usage.column_text): at most ERROR_MAX characters, and no NUL,
    which a Postgres text column refuses (an SMTP server's reply carrying one left the row
    `sending`, tried again at every lease)."""
    return column_text(error, ERROR_MAX)


def mark_failed(session: Session, *, owner: str, ids: Iterable[int], error: str) -> int:
    """Give up on rows (a permanent error, or too many attempts); `last_error` says why."""
    ids = list(ids)
    if not ids:
        return 0
    stmt = (update(T).where(T.c.id.in_(ids), T.c.lease_owner == owner, T.c.status == OutboxStatus.SENDING.value)
            .values(status=OutboxStatus.FAILED.value, last_error=_error_text(error), lease_owner=None,
                    lease_until=None))
    return session.execute(stmt.execution_options(synchronize_session=False)).rowcount


def extend_lease(session: Session, *, owner: str, ids: Iterable[int], until: datetime) -> int:
    ids = list(ids)
    if not ids:
        return 0
    stmt = (update(T).where(T.c.id.in_(ids), T.c.lease_owner == owner, T.c.status == OutboxStatus.SENDING.value)
            .values(lease_until=until))
    return session.execute(stmt.execution_options(synchronize_session=False)).rowcount


EMAIL_KINDS = ("opened", "escalated", "signal_added", "realert", "resolved")
DM_KINDS = ("opened",)


def queue_email_copies(session: Session, *, since: datetime, now: datetime) -> int:
    """One `email` row per Slack alert row created since `since` that has none yet."""
    return queue_copies(session, transport=Transport.EMAIL, kinds=EMAIL_KINDS, since=since, now=now)


def queue_dm_copies(session: Session, *, since: datetime, now: datetime) -> int:
    """One `dm` row (the private nudge) per first alert about a person created since `since`."""
    return queue_copies(session, transport=Transport.DM, kinds=DM_KINDS, since=since, now=now, people_only=True)


def queue_copies(session: Session, *, transport: Transport, kinds: tuple[str, ...], since: datetime, now: datetime,
                 people_only: bool = False) -> int:
    """Copies of Slack alert rows for another transport (dedup key `<transport>:<the Slack row's
    key>`): one INSERT … SELECT, and the unique key makes a second run or a second replica a
    no-op. `since` keeps a transport switched on today from delivering old alerts."""
    from storage.tables import Incident

    src = T.alias("src")
    existing = T.alias("existing")
    inc = Incident.__table__
    prefix = f"{transport.value}:"
    key = literal(prefix) + src.c.dedup_key if session.get_bind().dialect.name == "postgresql" else \
        func.printf(prefix + "%s", src.c.dedup_key)
    columns = ["dedup_key", "incident_id", "kind", "channel", "payload", "status", "attempts", "next_attempt_at",
               "created_at", "transport"]
    source_cols = [key, src.c.incident_id, src.c.kind, literal(None), src.c.payload,
                   literal(OutboxStatus.PENDING.value), literal(0), literal(now), literal(now),
                   literal(transport.value)]
    batch = T.c.get("batch")
    if batch is not None:
        columns.append("batch")
        source_cols.append(src.c.batch)
    conditions = [src.c.transport == Transport.SLACK.value, src.c.kind.in_(kinds), src.c.created_at >= since,
                  ~select(existing.c.id).where(existing.c.dedup_key == key).exists()]
    if people_only:
        conditions.append(src.c.incident_id.in_(select(inc.c.id).where(inc.c.user_email.is_not(None),
                                                                       inc.c.user_email.contains("@"))))
    pick = select(*source_cols).where(*conditions)
    stmt = _dialect_insert(session)(T).from_select(columns, pick).on_conflict_do_nothing(index_elements=["dedup_key"])
    return len(session.execute(stmt.returning(T.c.id)).all())


@dataclass(frozen=True, slots=True)
class FailedDeliveries:
    """The rows of one transport a sender gave up on: how many, and the newest one's reason."""

    transport: Transport
    count: int
    newest_at: datetime  # when the newest of them was queued
    newest_error: str | None


def failed_deliveries(session: Session) -> list[FailedDeliveries]:
    """Per transport, the messages given up on (the App Home shows them, with a retry for admins)."""
    groups = session.execute(select(T.c.transport, func.count(), func.max(T.c.id))
                             .where(T.c.status == OutboxStatus.FAILED.value).group_by(T.c.transport)).all()
    if not groups:
        return []
    newest = {row_id: (created, error) for row_id, created, error in session.execute(
        select(T.c.id, T.c.created_at, T.c.last_error).where(T.c.id.in_([g[2] for g in groups])))}
    out = []
    for transport, count, newest_id in groups:
        created, error = newest[newest_id]
        out.append(FailedDeliveries(Transport(transport), int(count), created, error))
    return sorted(out, key=lambda f: f.transport.value)


def retry_failed(session: Session, *, now: datetime) -> int:
    """Every row given up on → `pending`, due now, with a fresh count of attempts (an admin fixed
    the cause: the channel, the bot's membership, the SMTP server). One statement. A row tried more
    than once keeps one attempt, so that its next claim still counts as a retry and looks in Slack
    first (an earlier attempt may have reached it: a timeout, a 5xx)."""
    stmt = (update(T).where(T.c.status == OutboxStatus.FAILED.value)
            .values(status=OutboxStatus.PENDING.value, attempts=case((T.c.attempts > 1, 1), else_=0),
                    next_attempt_at=now, lease_owner=None, lease_until=None))
    return session.execute(stmt.execution_options(synchronize_session=False)).rowcount


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(T.c.status, func.count()).group_by(T.c.status)).all()
    return {status: count for status, count in rows}


def queue(session: Session, *, dedup_key: str, kind: str, payload: dict, now: datetime,
          incident_id: int | None = None, channel: str | None = None, batch: str | None = None) -> bool:
    """Queue one row unless its dedup key is there already (two replicas queueing the same
    digest: one row). True when this call queued it."""
    exists = session.execute(select(T.c.id).where(T.c.dedup_key == dedup_key)).first()
    if exists:
        return False
    values = {"dedup_key": dedup_key, "incident_id": incident_id, "kind": kind, "channel": channel,
              "payload": json.dumps(payload, separators=(",", ":"), sort_keys=True),
              "status": OutboxStatus.PENDING.value, "attempts": 0, "next_attempt_at": now, "created_at": now,
              "transport": Transport.SLACK.value}
    if batch is not None and T.c.get("batch") is not None:
        values["batch"] = batch
    stmt = _dialect_insert(session)(T).values(**values).on_conflict_do_nothing(index_elements=["dedup_key"])
    return session.execute(stmt.returning(T.c.id)).first() is not None


def _dialect_insert(session: Session):
    """INSERT with ON CONFLICT DO NOTHING: the unique dedup key makes a repeat a no-op."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def incident_ids_on_message(session: Session, *, channel: str, ts: str) -> list[int]:
    """The incidents whose alert is the message (channel, ts): one, or several for a summary."""
    from storage.tables import Incident

    inc = Incident.__table__
    rows = session.execute(select(inc.c.id).where(inc.c.slack_channel == channel, inc.c.slack_ts == ts)
                           .order_by(inc.c.id)).scalars().all()
    return list(rows)


def first_alert_pending(session: Session, *, incident_id: int) -> bool:
    """True while the incident's first alert is still to be sent (a follow-up waits for it)."""
    row = session.execute(select(T.c.id).where(
        T.c.incident_id == incident_id, T.c.kind == "opened", T.c.transport == Transport.SLACK.value,
        T.c.status.in_((OutboxStatus.PENDING.value, OutboxStatus.SENDING.value))).limit(1)).first()
    return row is not None
