"""Live Claude Code telemetry (OTLP): the per-person-day index of Claude Code feeds, and the
state of cumulative metric series

* `ix_usage_event_claude_person_day` (day, person, feed) WHERE source = 'claude_code': the
  receiver and the sync look up which feeds hold a person-day (precedence: the vendor's figures
  supersede live telemetry) and reports list the days still live. Partial, so Cursor's event
  stream — most of the rows — pays nothing on insert.
* `otel_metric_series`: the last counted point of each cumulative metric series.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_usage_event_claude_person_day", "usage_event", ["day", "person", "feed"],
                    sqlite_where=sa.text("source = 'claude_code'"), postgresql_where=sa.text("source = 'claude_code'"))
    op.create_table(
        "otel_metric_series",
        sa.Column("series_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("series_key"),
    )


def downgrade() -> None:
    op.drop_table("otel_metric_series")
    op.drop_index("ix_usage_event_claude_person_day", table_name="usage_event")
