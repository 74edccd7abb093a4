"""Each Slack delivery is handled once, whichever connection or replica it reaches.

Slack redelivers envelopes (events with `retry_attempt` 1..3 when the ack was late, and the same
envelope again after a reconnect), and a retry may arrive on another replica's connection with a
new `envelope_id`. So the key is the delivery's own identity where the payload has one: the
event's `event_id`, a slash command's `trigger_id`, an interaction's `trigger_id` and action time;
only otherwise the `envelope_id`. The first process to record the key in the database handles the
delivery; a repeat is acknowledged and dropped. Within a process an in-memory set answers first,
and stands in when the database cannot answer within a second (then the delivery is handled:
answering twice is better than not at all).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from storage.dbapi import driver_error_types
from storage.delivery_repo import claim_delivery, prune_deliveries

log = logging.getLogger(__name__)

_PRUNE_EVERY_S = 3600.0
_RETRY_DATABASE_S = 30.0


def delivery_key(envelope_type: str | None, envelope_id: str | None, payload: dict | None) -> str:
    """The identity of one delivery, the same on every redelivery of it."""
    p = payload if isinstance(payload, dict) else {}
    if envelope_type == "events_api" and p.get("event_id"):
        return f"event:{p['event_id']}"
    if envelope_type == "slash_commands" and p.get("trigger_id"):
        return f"command:{p['trigger_id']}"
    if envelope_type == "interactive" and p.get("trigger_id"):
        actions = p.get("actions") if isinstance(p.get("actions"), list) else []
        first = actions[0] if actions and isinstance(actions[0], dict) else {}
        return f"interactive:{p.get('type')}:{p['trigger_id']}:{first.get('action_ts', '')}"
    return f"envelope:{envelope_id}"


class DeliveryLedger:
    """First-delivery test: a bounded in-memory set in front of the `slack_delivery` table."""

    def __init__(self, engine: Engine, *, memory: int = 10_000) -> None:
        self._engine = engine
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._memory = memory
        self._guard = threading.Lock()
        self._next_prune = 0.0
        self._database_back = 0.0

    def first(self, key: str) -> bool:
        with self._guard:
            if key in self._seen:
                return False
            self._seen[key] = None
            if len(self._seen) > self._memory:
                self._seen.popitem(last=False)
        if time.monotonic() < self._database_back:
            return True  # the database failed a moment ago: don't make every ack wait for it again
        claimed = claim_delivery(self._engine, key)
        if claimed is None:
            self._database_back = time.monotonic() + _RETRY_DATABASE_S
            return True
        self._maybe_prune()
        return claimed

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + _PRUNE_EVERY_S
        try:
            prune_deliveries(self._engine)
        except (DBAPIError, *driver_error_types()) as exc:  # housekeeping; the next hour tries again
            log.warning("could not prune old Slack deliveries: the database did not answer (%s)",
                        type(getattr(exc, "orig", None) or exc).__name__)
        except Exception:  # noqa: BLE001 - housekeeping; the next hour tries again
            log.warning("could not prune old Slack deliveries", exc_info=True)


class OnceSocketModeHandler(SocketModeHandler):
    """Bolt's Socket Mode handler, handling each delivery once (see the module doc)."""

    def __init__(self, app, app_token: str, *, ledger: DeliveryLedger, **kw) -> None:
        super().__init__(app, app_token, **kw)
        self.ledger = ledger

    def handle(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        key = delivery_key(req.type, req.envelope_id, req.payload)
        if not self.ledger.first(key):
            log.info("Slack delivery %s (retry %s) already handled; acknowledged only", key[:60],
                     req.retry_attempt or 0)
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        super().handle(client, req)
