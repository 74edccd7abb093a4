"""SQLModel tables. One family per entity; schema changes go through Alembic (storage/migrations).

Money columns are integer nano-dollars (`*_nanos`), token columns BIGINT: sums are exact on
SQLite and Postgres alike. Timestamps are UTC.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index, PrimaryKeyConstraint, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.rollup_sql import LIVE_ROWS
from storage.values import utcnow  # noqa: F401 - the column default, imported from here too


def _big(default: int = 0, **kw) -> int:
    return Field(default=default, sa_column=Column(BigInteger, nullable=False, default=default, **kw))


class UsageEvent(SQLModel, table=True):
    """One normalised vendor record (see core.usage.UsageRecord)."""

    __tablename__ = "usage_event"
    __table_args__ = (
        # The natural key is the primary key. A record's day and time come from the vendor record
        # itself, so they are functions of its natural key: (source, day, ts_ms, natural_key) is the
        # same uniqueness as (source, natural_key). Ordered by time, the one index also serves
        # per-day deletes and rebuilds and the write path's "already stored?" range look-up, and
        # vendors deliver in time order, so new entries land at the right edge of the B-tree instead
        # of at random pages. No surrogate id: on Postgres its sequence and second index cost a
        # quarter of a COPY (measured 5.0 → 3.7 us per row); SQLite keeps its implicit rowid.
        PrimaryKeyConstraint("source", "day", "ts_ms", "natural_key", name="pk_usage_event"),
        Index("ix_usage_event_api_key", "source", "api_key", sqlite_where=text("api_key IS NOT NULL"),
              postgresql_where=text("api_key IS NOT NULL")),
        # Claude Code feeds per person-day, for the live-telemetry precedence (core.telemetry) and
        # "which days are live estimates"; partial, so the Cursor event stream pays nothing for it
        Index("ix_usage_event_claude_person_day", "day", "person", "feed",
              sqlite_where=text("source = 'claude_code'"), postgresql_where=text("source = 'claude_code'")),
        # the live-telemetry rows alone: "which days of a period are live estimates" (every report)
        # reads only what there is to find
        Index("ix_usage_event_live_day", "day", "person", sqlite_where=text(LIVE_ROWS),
              postgresql_where=text(LIVE_ROWS)),
    )

    source: str = Field(max_length=32)
    feed: str = Field(max_length=32)
    natural_key: str = Field(max_length=64)
    ts_ms: int = Field(sa_column=Column(BigInteger, nullable=False))  # UTC, epoch milliseconds
    day: date
    person: str = Field(max_length=320)
    api_key: str | None = Field(default=None, max_length=255)
    org: str | None = Field(default=None, max_length=255)
    raw_model: str = Field(max_length=255)
    model: str = Field(max_length=255)
    input_tokens: int = _big()
    cache_write_5m_tokens: int = _big()
    cache_write_1h_tokens: int = _big()
    cache_read_tokens: int = _big()
    output_tokens: int = _big()
    cost_nanos: int = _big()
    cost_basis: str = Field(default="vendor", max_length=16)
    estimated_cost_nanos: int = _big()
    requests: int = Field(default=0)
    kind: str | None = Field(default=None, max_length=64)
    max_mode: bool | None = None
    # The import batch that brought the event (None: synced). No foreign key: Postgres would fire
    # its check trigger for every event written, synced ones too (COPY of 1M events 1.96 -> 2.46 s);
    # the import service inserts the batch row first, in the events' transaction, and import
    # batches are never deleted (migration 0012)
    import_batch_id: int | None = None


class RollupSums(SQLModel):
    """The exact sums every rollup keeps (storage.usage_repo.SUMMED)."""

    input_tokens: int = Field(default=0, sa_type=BigInteger)
    cache_write_tokens: int = Field(default=0, sa_type=BigInteger)
    cache_read_tokens: int = Field(default=0, sa_type=BigInteger)
    output_tokens: int = Field(default=0, sa_type=BigInteger)
    cost_nanos: int = Field(default=0, sa_type=BigInteger)
    estimated_cost_nanos: int = Field(default=0, sa_type=BigInteger)
    unpriced_records: int = Field(default=0)
    requests: int = Field(default=0, sa_type=BigInteger)
    records: int = Field(default=0, sa_type=BigInteger)


class UsageDaily(RollupSums, table=True):
    """Pre-aggregated usage per day × source × person × model, maintained in the same
    transaction as usage_event; reports read only this table."""

    # The key is the primary key and, on SQLite, the table is clustered on it (WITHOUT ROWID):
    # a report over a date range reads one contiguous slice instead of jumping through an index.
    __tablename__ = "usage_daily"
    __table_args__ = (Index("ix_usage_daily_person", "person", "day"), {"sqlite_with_rowid": False})

    day: date = Field(primary_key=True)
    source: str = Field(primary_key=True, max_length=32)
    person: str = Field(primary_key=True, max_length=320)
    model: str = Field(primary_key=True, max_length=255)


class UsagePersonDay(RollupSums, table=True):
    """Rollup per day × source × person: reports by user and by group read this."""

    __tablename__ = "usage_person_day"
    __table_args__ = (Index("ix_usage_person_day_person", "person", "day"), {"sqlite_with_rowid": False})

    day: date = Field(primary_key=True)
    source: str = Field(primary_key=True, max_length=32)
    person: str = Field(primary_key=True, max_length=320)


class UsagePersonTotalDay(RollupSums, table=True):
    """Rollup per day × person across both tools: one row per active day, so a person's active
    days are a plain COUNT(*) (reports by user read this when no tool is chosen)."""

    __tablename__ = "usage_person_total_day"
    __table_args__ = (Index("ix_usage_person_total_day_person", "person", "day"), {"sqlite_with_rowid": False})

    day: date = Field(primary_key=True)
    person: str = Field(primary_key=True, max_length=320)


class UsageModelDay(RollupSums, table=True):
    """Rollup per day × source × model: reports by model, tool and day read this (tiny)."""

    __tablename__ = "usage_model_day"
    __table_args__ = ({"sqlite_with_rowid": False},)

    day: date = Field(primary_key=True)
    source: str = Field(primary_key=True, max_length=32)
    model: str = Field(primary_key=True, max_length=255)


class PersonActivity(SQLModel, table=True):
    """Productivity figures per person × day × source (Claude Code analytics, Cursor daily usage)."""

    __tablename__ = "person_activity"
    __table_args__ = (UniqueConstraint("source", "day", "person", "natural_key", name="uq_person_activity"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    day: date = Field(index=True)
    person: str = Field(max_length=320, index=True)
    natural_key: str = Field(default="", max_length=64)
    org: str | None = Field(default=None, max_length=255)
    is_active: bool = True
    sessions: int = 0
    lines_added: int = 0
    lines_removed: int = 0
    accepted_lines_added: int = 0
    accepted_lines_removed: int = 0
    commits: int = 0
    pull_requests: int = 0
    edits_accepted: int = 0
    edits_rejected: int = 0
    tabs_shown: int = 0
    tabs_accepted: int = 0
    chat_requests: int = 0
    composer_requests: int = 0
    agent_requests: int = 0
    cmdk_usages: int = 0
    bugbot_usages: int = 0
    included_requests: int = 0
    usage_based_requests: int = 0
    api_key_requests: int = 0
    most_used_model: str | None = Field(default=None, max_length=255)
    client_version: str | None = Field(default=None, max_length=64)
    terminal_type: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, sa_column=Column(Text))  # JSON: open maps like tool_actions


class BillingGroup(SQLModel, table=True):
    __tablename__ = "billing_group"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=255, unique=True)
    source: str = Field(default="manual", max_length=32)  # manual | cursor | hibob
    external_id: str | None = Field(default=None, max_length=255)
    budget_nanos: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    cycle_start: date | None = None
    cycle_end: date | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Person(SQLModel, table=True):
    __tablename__ = "person"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str | None = Field(default=None, max_length=255)
    slack_user_id: str | None = Field(default=None, max_length=32, index=True)
    role: str = Field(default="member", max_length=16)  # member | viewer | admin
    group_id: int | None = Field(default=None, foreign_key="billing_group.id")
    cursor_user_id: str | None = Field(default=None, max_length=64)
    anthropic_user_id: str | None = Field(default=None, max_length=64)
    has_cursor_seat: bool = False
    has_claude_seat: bool = False
    is_removed: bool = False
    updated_at: datetime = Field(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    """A vendor API key and who owns it (how it was mapped, by whom, when)."""

    __tablename__ = "api_key"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_api_key_external"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    external_id: str = Field(max_length=255)  # vendor id, or the key name where the vendor gives only a name
    name: str | None = Field(default=None, max_length=255, index=True)
    org: str | None = Field(default=None, max_length=255)
    workspace_id: str | None = Field(default=None, max_length=255)
    creator_id: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=320)
    mapped_how: str | None = Field(default=None, max_length=16)  # pattern | vendor | manual
    mapped_by: str | None = Field(default=None, max_length=320)
    mapped_at: datetime | None = None
    status: str | None = Field(default=None, max_length=32)
    first_seen: datetime = Field(default_factory=utcnow)


class SyncState(SQLModel, table=True):
    """Watermark per source × organisation × stream: where the next incremental sync starts."""

    __tablename__ = "sync_state"
    __table_args__ = (UniqueConstraint("source", "org", "stream", name="uq_sync_state"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    org: str = Field(max_length=255)  # a non-secret label of the organisation/team
    stream: str = Field(max_length=64)
    watermark: str | None = Field(default=None, max_length=64)  # ISO timestamp/day, or a paging cursor
    detail: str | None = Field(default=None, sa_column=Column(Text))
    updated_at: datetime = Field(default_factory=utcnow)


class SyncRun(SQLModel, table=True):
    __tablename__ = "sync_run"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32, index=True)
    org: str | None = Field(default=None, max_length=255)
    stream: str | None = Field(default=None, max_length=64)
    window_from: datetime | None = None
    window_to: datetime | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    status: str = Field(default="running", max_length=16)  # core.sync.RunStatus
    records_read: int = 0
    inserted: int = 0
    duplicates: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    trigger: str = Field(default="cli", max_length=32)  # cli | schedule | slack
    holder: str | None = Field(default=None, max_length=128)  # the sync lock's holder that ran it (job_lease)


class SlackDelivery(SQLModel, table=True):
    """A Slack delivery already handled (bot.envelopes): redeliveries are acknowledged only."""

    __tablename__ = "slack_delivery"

    delivery_key: str = Field(primary_key=True, max_length=255)
    received_ms: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))  # epoch ms


class JobLease(SQLModel, table=True):
    """Who holds a job lock (storage.job_lock) and until when, in epoch ms by the database's clock."""

    __tablename__ = "job_lease"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=128)
    acquired_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class ImportBatch(SQLModel, table=True):
    __tablename__ = "import_batch"

    id: int | None = Field(default=None, primary_key=True)
    filename: str = Field(max_length=255)
    sha256: str = Field(max_length=64, index=True)
    format: str = Field(max_length=32)
    rows_read: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    skipped: int = 0  # valid rows deliberately not imported (e.g. API keys that are not Claude Code)
    first_day: date | None = None
    last_day: date | None = None
    via: str = Field(default="cli", max_length=16)  # cli | slack
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str | None = Field(default=None, max_length=320)


class SlackFileImport(SQLModel, table=True):
    """A CSV shared with the bot: claimed once (Slack sends `file_shared` and `message` for one
    share, and replicas receive both), previewed, then imported or cancelled."""

    __tablename__ = "slack_file_import"

    file_id: str = Field(primary_key=True, max_length=32)
    status: str = Field(default="claimed", max_length=16)  # core.importers.share.ShareStatus
    user_id: str = Field(max_length=32)
    channel: str | None = Field(default=None, max_length=32)
    filename: str | None = Field(default=None, max_length=255)
    sha256: str | None = Field(default=None, max_length=64)
    format: str | None = Field(default=None, max_length=32)
    message_ts: str | None = Field(default=None, max_length=32)
    import_batch_id: int | None = Field(default=None, foreign_key="import_batch.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Setting(SQLModel, table=True):
    __tablename__ = "setting"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    updated_by: str | None = Field(default=None, max_length=320)
    updated_at: datetime = Field(default_factory=utcnow)


class Incident(SQLModel, table=True):
    """One problem of one subject (a person, an unmapped key or the team): every detection layer
    that fires for the subject joins it as a signal (core/detection/engine.py)."""

    __tablename__ = "incident"
    __table_args__ = (
        # one open incident per subject, enforced by the database (two replicas cannot open two)
        Index("uq_incident_open_subject", "dedup_key", unique=True,
              sqlite_where=text("status <> 'resolved'"), postgresql_where=text("status <> 'resolved'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=255, index=True)  # the subject: an email, unmapped:<key> or "team"
    kind: str = Field(max_length=32)  # core.incidents.AnomalyKind of the primary signal
    user_email: str | None = Field(default=None, max_length=320)
    severity: str = Field(max_length=16)  # core.incidents.Severity (high-water mark)
    status: str = Field(default="detected", max_length=16)  # core.incidents.IncidentStatus
    value: float = 0.0
    threshold: float = 0.0
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    signals: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))  # JSON: latest per kind
    data_at: datetime  # when the data first showed the problem (MTTD is measured from here)
    opened_at: datetime = Field(default_factory=utcnow)
    first_day: date | None = None
    alerted_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = Field(default=None, max_length=320)
    resolved_at: datetime | None = None
    resolved_by: str | None = Field(default=None, max_length=320)
    snoozed_until: datetime | None = None
    snoozed_by: str | None = Field(default=None, max_length=320)
    last_seen_day: date | None = None
    last_checked_day: date | None = None
    clear_streak: int = 0  # consecutive detection days without the condition (cool-down)
    alert_queued: bool = False  # its first alert is in the outbox
    slack_channel: str | None = Field(default=None, max_length=32)
    slack_ts: str | None = Field(default=None, max_length=32)
    version: int = 0


class IncidentEvent(SQLModel, table=True):
    """Audit trail: every incident transition, written in the same transaction."""

    __tablename__ = "incident_event"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    actor: str | None = Field(default=None, max_length=320)
    via: str = Field(default="system", max_length=32)  # system | slack | cli
    at: datetime = Field(default_factory=utcnow)
    note: str | None = Field(default=None, sa_column=Column(Text))


class Anomaly(SQLModel, table=True):
    __tablename__ = "anomaly"
    __table_args__ = (UniqueConstraint("kind", "subject", "day", name="uq_anomaly"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    subject: str = Field(max_length=320)  # user email or "team"
    user_email: str | None = Field(default=None, max_length=320)
    day: date = Field(index=True)
    severity: str = Field(max_length=16)
    value: float
    threshold: float
    message: str = Field(sa_column=Column(Text, nullable=False))
    baseline_label: str | None = Field(default=None, max_length=64)
    unit: str | None = Field(default=None, max_length=16)
    ratio: float | None = None
    tool: str | None = Field(default=None, max_length=32)
    model: str | None = Field(default=None, max_length=255)
    model_share: float | None = None
    data_at: datetime | None = None
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    detected_at: datetime = Field(default_factory=utcnow)


class AlertOutbox(SQLModel, table=True):
    """Alerts to post, written with the incident change; a sender delivers and retries them."""

    __tablename__ = "alert_outbox"
    __table_args__ = (UniqueConstraint("dedup_key", name="uq_alert_outbox_dedup"),
                      Index("ix_alert_outbox_due", "status", "next_attempt_at"))

    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=255)
    incident_id: int | None = Field(default=None, foreign_key="incident.id")
    kind: str = Field(max_length=32)  # core.incidents.AlertKind
    batch: str | None = Field(default=None, max_length=64, index=True)  # one detection run
    channel: str | None = Field(default=None, max_length=32)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    status: str = Field(default="pending", max_length=16, index=True)  # pending | sent | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    slack_ts: str | None = Field(default=None, max_length=32)
    # delivery (storage/outbox_repo.py): `slack` rows come from detection, `email` copies from the sender
    transport: str = Field(default="slack", max_length=16, sa_column_kwargs={"server_default": "slack"})
    lease_owner: str | None = Field(default=None, max_length=64)  # the sender holding a `sending` row
    lease_until: datetime | None = None  # past it, another sender may take the row over


class JobRun(SQLModel, table=True):
    """One run of a scheduled job. `running` counts only while `heartbeat_until` is ahead: a run
    killed mid-way shows as interrupted once that has passed."""

    __tablename__ = "job_run"
    __table_args__ = (Index("ix_job_run_job_started", "job", "started_at"),
                      Index("uq_job_run_tick", "job", "tick", unique=True))

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=64)
    tick: datetime  # the schedule time this run serves: one run per job and tick, whichever replica
    status: str = Field(max_length=16)  # running | ok | failed | skipped
    owner: str = Field(max_length=64)
    started_at: datetime = Field(default_factory=utcnow)
    heartbeat_until: datetime
    finished_at: datetime | None = None
    summary: str | None = Field(default=None, sa_column=Column(Text))


class VendorCost(SQLModel, table=True):
    """The vendor's own billed cost per day and line item (Anthropic cost_report), kept
    beside our figures for reconciliation."""

    __tablename__ = "vendor_cost"
    __table_args__ = (UniqueConstraint("source", "natural_key", name="uq_vendor_cost"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    natural_key: str = Field(max_length=64)
    org: str | None = Field(default=None, max_length=255)
    day: date = Field(index=True)
    description: str | None = Field(default=None, max_length=255)
    model: str | None = Field(default=None, max_length=255)
    workspace_id: str | None = Field(default=None, max_length=255)
    cost_type: str | None = Field(default=None, max_length=32)
    token_type: str | None = Field(default=None, max_length=64)
    cost_nanos: int = _big()
    person: str | None = Field(default=None, max_length=320)  # cost export lines: whose key it was
    api_key: str | None = Field(default=None, max_length=255)


class SpendSnapshot(SQLModel, table=True):
    """Cursor /teams/spend for the current cycle, snapshotted (the API has no history)."""

    __tablename__ = "spend_snapshot"
    __table_args__ = (UniqueConstraint("source", "org", "cycle_start", "email", name="uq_spend_snapshot"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    org: str = Field(max_length=255)
    cycle_start: date
    email: str = Field(max_length=320)
    on_demand_nanos: int = _big()
    overall_nanos: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    fast_premium_requests: int | None = None
    limit_dollars: float | None = None
    taken_at: datetime = Field(default_factory=utcnow)


class OtelMetricSeries(SQLModel, table=True):
    """The last counted point of each cumulative Claude Code metric series (OTLP), so that the next
    point adds only its increment (core.telemetry.metric_records)."""

    __tablename__ = "otel_metric_series"

    series_key: str = Field(primary_key=True, max_length=64)
    start_ns: int = _big()
    time_ns: int = _big()
    value: int = _big()  # nanos for cost, tokens for token counts
    updated_at: datetime = Field(default_factory=utcnow)


class VendorAnalytics(SQLModel, table=True):
    """Team-level vendor analytics per day (Cursor Analytics API): active users, messages per model,
    MCP tools, file extensions, client versions — one row per (org, day, metric, key)."""

    __tablename__ = "vendor_analytics"
    __table_args__ = (UniqueConstraint("source", "org", "metric", "day", "key", name="uq_vendor_analytics"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    org: str = Field(max_length=255)
    day: date = Field(index=True)
    metric: str = Field(max_length=32)  # core.sources.cursor_analytics.AnalyticsMetric
    key: str = Field(max_length=255)
    value: int = _big()
    users: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    extra: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class VendorUserAnalytics(SQLModel, table=True):
    """By-user vendor analytics per day (Cursor Analytics API `/analytics/by-user/*`): messages per
    model, MCP tool calls, file extensions, client version — one row per (org, person, day, metric,
    key). Shown in that person's own view only."""

    __tablename__ = "vendor_user_analytics"
    __table_args__ = (UniqueConstraint("source", "org", "person", "metric", "day", "key",
                                       name="uq_vendor_user_analytics"),
                      Index("ix_vendor_user_analytics_person_day", "person", "day"))

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)
    org: str = Field(max_length=255)
    person: str = Field(max_length=320)  # the email as the vendor reports it, lower-cased
    day: date = Field(index=True)
    metric: str = Field(max_length=32)  # core.sources.cursor_analytics.AnalyticsMetric
    key: str = Field(max_length=255)
    value: int = _big()
    extra: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
