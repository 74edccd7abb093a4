"""Alert delivery: outbox leases and transports, and a record of scheduled job runs

`alert_outbox` gets what a sender needs to deliver every row exactly once across replicas:
- `transport` — `slack` (the rows detection queues) or `email` (a copy per alert, queued by the
  sender when SMTP is configured, retried the same way);
- `lease_owner` / `lease_until` — a row being sent is `sending` under a lease; a sender killed
  mid-way leaves a lease that expires, and the next sender looks for the message in Slack (by
  its metadata marker) before posting again.

`job_run` records each scheduled job run (sync → detect → deliver, the digest): the schedule
tick it serves (unique per job: with several replicas, one runs each tick), when it started,
finished or failed, and a heartbeat, so a run killed mid-way shows as interrupted once its
heartbeat has passed instead of "running" forever.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("transport", sa.String(length=16), nullable=False, server_default="slack"))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_alert_outbox_due", ["status", "next_attempt_at"], unique=False)
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("tick", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("heartbeat_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("job_run", schema=None) as batch_op:
        batch_op.create_index("ix_job_run_job_started", ["job", "started_at"], unique=False)
        batch_op.create_index("uq_job_run_tick", ["job", "tick"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("job_run", schema=None) as batch_op:
        batch_op.drop_index("uq_job_run_tick")
        batch_op.drop_index("ix_job_run_job_started")
    op.drop_table("job_run")
    with op.batch_alter_table("alert_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_outbox_due")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("transport")
