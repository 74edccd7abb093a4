"""What the incident buttons and the App Home do: act on an incident (through core's
`transition()` in storage.incident_repo.act), then re-render its alert message from the row."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from core.incidents import Action, IncidentView, Via, parse_snooze
from storage import incident_repo, outbox_repo
from storage.db import session_scope

from .alerting import render_message
from .authz import Requester

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class RepoIncidentStore:
    """The sender's view of incidents, on storage.incident_repo."""

    def get(self, session: Session, incident_id: int) -> IncidentView | None:
        return incident_repo.get_incident(session=session, incident_id=incident_id)

    def on_message(self, session: Session, channel: str, ts: str) -> list[IncidentView]:
        views = (incident_repo.get_incident(session=session, incident_id=i)
                 for i in outbox_repo.incident_ids_on_message(session, channel=channel, ts=ts))
        return [v for v in views if v is not None]

    def mark_alerted(self, session: Session, incident_id: int, *, at: datetime, channel: str, ts: str) -> None:
        incident_repo.mark_alerted(session=session, incident_id=incident_id, at=at, channel=channel, ts=ts)

    def first_alert_pending(self, session: Session, incident_id: int) -> bool:
        return outbox_repo.first_alert_pending(session, incident_id=incident_id)


class IncidentService:
    def __init__(self, engine: Engine, client: WebClient | None, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._client = client
        self._clock = clock
        self.store = RepoIncidentStore()

    def act(self, incident_id: int, action: Action, requester: Requester, *, snooze: str | None = None
            ) -> incident_repo.ActResult:
        """One lifecycle step on behalf of an (already authorised) person. A repeat — a double
        click, a Slack retry — changes nothing (`changed` False)."""
        snooze_for = parse_snooze(snooze or "") if action is Action.SNOOZE else None
        with session_scope(self._engine) as session:
            return incident_repo.act(session=session, incident_id=incident_id, action=action, actor=requester.label,
                                     via=Via.SLACK, at=self._clock(), snooze_for=snooze_for)

    def get(self, incident_id: int) -> IncidentView | None:
        with session_scope(self._engine) as session:
            return incident_repo.get_incident(session=session, incident_id=incident_id)

    def open_incidents(self, *, limit: int = 10) -> list[IncidentView]:
        with session_scope(self._engine) as session:
            return incident_repo.open_incidents(session=session, limit=limit)

    def refresh(self, channel: str | None, ts: str | None) -> bool:
        """Re-render the alert message (channel, ts) from the incidents on it (`chat.update`).
        False when there is no such alert message."""
        if not channel or not ts or self._client is None:
            return False
        message = render_message(self._engine, self.store, channel, ts, now=self._clock())
        if message is None:
            return False
        try:
            self._client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not update the alert message %s/%s: %s", channel, ts, type(exc).__name__)
            return False
        return True
