"""Detection and incidents: signals, snooze, cool-down bookkeeping, one open incident per subject,
anomaly evidence, outbox batches

- incident: signals (JSON, the latest evidence per layer), first_day, snoozed_until/by,
  last_checked_day, alert_queued; status 'open' becomes 'detected'; a partial unique index keeps
  one open incident per subject (dedup_key) even with two replicas detecting at once.
- anomaly: the evidence of each finding (baseline label, unit, ratio, tool, model and its share,
  data time), indexed by incident.
- alert_outbox: batch (one detection run), so 1–3 alerts post one message each and 4+ a summary.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as b:
        b.add_column(sa.Column("signals", sa.Text(), nullable=False, server_default="[]"))
        b.add_column(sa.Column("first_day", sa.Date(), nullable=True))
        b.add_column(sa.Column("snoozed_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        b.add_column(sa.Column("snoozed_by", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))
        b.add_column(sa.Column("last_checked_day", sa.Date(), nullable=True))
        b.add_column(sa.Column("alert_queued", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE incident SET status = 'detected' WHERE status = 'open'")
    with op.batch_alter_table("incident", schema=None) as b:
        b.alter_column("signals", server_default=None)
        b.alter_column("alert_queued", server_default=None)
        b.create_index("uq_incident_open_subject", ["dedup_key"], unique=True,
                       sqlite_where=sa.text("status <> 'resolved'"), postgresql_where=sa.text("status <> 'resolved'"))
    with op.batch_alter_table("anomaly", schema=None) as b:
        b.add_column(sa.Column("baseline_label", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        b.add_column(sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        b.add_column(sa.Column("ratio", sa.Float(), nullable=True))
        b.add_column(sa.Column("tool", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        b.add_column(sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        b.add_column(sa.Column("model_share", sa.Float(), nullable=True))
        b.add_column(sa.Column("data_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        b.create_index(b.f("ix_anomaly_incident_id"), ["incident_id"], unique=False)
    with op.batch_alter_table("alert_outbox", schema=None) as b:
        b.add_column(sa.Column("batch", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        b.create_index(b.f("ix_alert_outbox_batch"), ["batch"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert_outbox", schema=None) as b:
        b.drop_index(b.f("ix_alert_outbox_batch"))
        b.drop_column("batch")
    with op.batch_alter_table("anomaly", schema=None) as b:
        b.drop_index(b.f("ix_anomaly_incident_id"))
        for col in ("data_at", "model_share", "model", "tool", "ratio", "unit", "baseline_label"):
            b.drop_column(col)
    with op.batch_alter_table("incident", schema=None) as b:
        b.drop_index("uq_incident_open_subject")
        for col in ("alert_queued", "last_checked_day", "snoozed_by", "snoozed_until", "first_day", "signals"):
            b.drop_column(col)
