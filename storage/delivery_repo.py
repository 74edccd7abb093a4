"""Which Slack deliveries were already handled: one row per delivery key, kept for a day.

Slack redelivers an envelope it thinks was missed (`retry_attempt` 1..3 over a few minutes), and a
retry may reach another replica's connection. The first process to insert a key handles the
delivery; everyone else only acknowledges it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

KEEP = timedelta(days=1)  # far beyond Slack's last retry (about 5 minutes after the first delivery)
_WAIT_MS = 1000  # an ack is due within 3 s: never queue behind a lock for long


def claim_delivery(engine: Engine, key: str, *, now: datetime | None = None) -> bool | None:
    """Record `key`; True if this call was first, False if it was already recorded, None if the
    database could not say in time (the caller decides; nothing was recorded)."""
    now = now or datetime.now(UTC)
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.begin() as conn:
            if sqlite:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={_WAIT_MS}")
            else:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {_WAIT_MS}")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {_WAIT_MS}")
            try:
                inserted = conn.execute(text(
                    "INSERT INTO slack_delivery (delivery_key, received_ms) VALUES (:k, :t) "
                    "ON CONFLICT (delivery_key) DO NOTHING"), {"k": key[:255], "t": _ms(now)}).rowcount
            finally:
                if sqlite:
                    conn.exec_driver_sql("PRAGMA busy_timeout=10000")
        return inserted == 1
    except DBAPIError as exc:
        log.warning("could not record Slack delivery %s (%s)", key[:40], type(exc.orig or exc).__name__)
        return None


def prune_deliveries(engine: Engine, *, now: datetime | None = None) -> int:
    """Forget deliveries older than KEEP (one statement)."""
    cutoff = (now or datetime.now(UTC)) - KEEP
    with engine.begin() as conn:
        return conn.execute(text("DELETE FROM slack_delivery WHERE received_ms < :c"), {"c": _ms(cutoff)}).rowcount or 0


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)
