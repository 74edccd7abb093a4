"""The tables a Cursor sync reads and writes, as SQLAlchemy Core `Table`s: the same columns, types and
Python-side defaults as the models in `storage.tables` (tests/storage/test_sync_tables.py compares
them column by column), on a MetaData of their own.

Why a second description: the sync's writes are Core statements already (`storage.bulk`, the
checkpoints, the run rows), and importing the models costs every sync ~0.2 s before it does
anything — SQLModel, SQLAlchemy's ORM and 25 model classes — about a fifth of an hourly run with
nothing new. The schema itself is the migrations' (storage/migrations); neither description creates
a table.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Date, Float, Integer, MetaData, String, Table, Text, types

from storage.values import utcnow

metadata = MetaData()


class UTCDateTime(types.TypeDecorator):
    """The time columns' type, as SQLModel maps a `datetime` field (`sqlmodel.sql.sqltypes.UTCDateTime`,
    which cannot be imported without SQLModel itself): aware datetimes stored in UTC, read back aware
    in UTC (SQLite keeps no offset: its text is UTC). The test pins the behaviour to SQLModel's."""

    impl = types.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def coerce_compared_value(self, op, value: Any) -> types.TypeEngine:
        return types.Interval() if isinstance(value, timedelta) else self

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("Datetime values must have timezone information. Use datetime.now(timezone.utc), "
                             "or annotate the field with NaiveDatetime for naive storage.")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


DateTime = UTCDateTime


def _id() -> Column:
    return Column("id", Integer, primary_key=True)


person = Table(
    "person", metadata,
    _id(),
    Column("email", String(320), nullable=False),
    Column("name", String(255)),
    Column("slack_user_id", String(32)),
    Column("role", String(16), nullable=False, default="member"),
    Column("group_id", Integer),
    Column("cursor_user_id", String(64)),
    Column("anthropic_user_id", String(64)),
    Column("has_cursor_seat", Boolean, nullable=False, default=False),
    Column("has_claude_seat", Boolean, nullable=False, default=False),
    Column("is_removed", Boolean, nullable=False, default=False),
    Column("updated_at", DateTime, nullable=False, default=utcnow),
)

person_activity = Table(
    "person_activity", metadata,
    _id(),
    Column("source", String(32), nullable=False),
    Column("day", Date, nullable=False),
    Column("person", String(320), nullable=False),
    Column("natural_key", String(64), nullable=False, default=""),
    Column("org", String(255)),
    Column("is_active", Boolean, nullable=False, default=True),
    *(Column(name, Integer, nullable=False, default=0) for name in (
        "sessions", "lines_added", "lines_removed", "accepted_lines_added", "accepted_lines_removed", "commits",
        "pull_requests", "edits_accepted", "edits_rejected", "tabs_shown", "tabs_accepted", "chat_requests",
        "composer_requests", "agent_requests", "cmdk_usages", "bugbot_usages", "included_requests",
        "usage_based_requests", "api_key_requests")),
    Column("most_used_model", String(255)),
    Column("client_version", String(64)),
    Column("terminal_type", String(64)),
    Column("detail", Text),
)

billing_group = Table(
    "billing_group", metadata,
    _id(),
    Column("name", String(255), nullable=False),
    Column("source", String(32), nullable=False, default="manual"),
    Column("external_id", String(255)),
    Column("budget_nanos", BigInteger),
    Column("cycle_start", Date),
    Column("cycle_end", Date),
    Column("created_at", DateTime, nullable=False, default=utcnow),
)

spend_snapshot = Table(
    "spend_snapshot", metadata,
    _id(),
    Column("source", String(32), nullable=False),
    Column("org", String(255), nullable=False),
    Column("cycle_start", Date, nullable=False),
    Column("email", String(320), nullable=False),
    Column("on_demand_nanos", BigInteger, nullable=False, default=0),
    Column("overall_nanos", BigInteger),
    Column("fast_premium_requests", Integer),
    Column("limit_dollars", Float),
    Column("taken_at", DateTime, nullable=False, default=utcnow),
)

sync_state = Table(
    "sync_state", metadata,
    _id(),
    Column("source", String(32), nullable=False),
    Column("org", String(255), nullable=False),
    Column("stream", String(64), nullable=False),
    Column("watermark", String(64)),
    Column("detail", Text),
    Column("updated_at", DateTime, nullable=False, default=utcnow),
)

sync_run = Table(
    "sync_run", metadata,
    _id(),
    Column("source", String(32), nullable=False),
    Column("org", String(255)),
    Column("stream", String(64)),
    Column("window_from", DateTime),
    Column("window_to", DateTime),
    Column("started_at", DateTime, nullable=False, default=utcnow),
    Column("finished_at", DateTime),
    Column("status", String(16), nullable=False, default="running"),
    Column("records_read", Integer, nullable=False, default=0),
    Column("inserted", Integer, nullable=False, default=0),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("trigger", String(32), nullable=False, default="cli"),
    Column("holder", String(128)),
)
