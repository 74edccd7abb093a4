"""usage_event: a partial index of the live-telemetry rows alone (the reports' "live estimate" note)

Every report, dashboard and `/abacus me` asks which days of its period still hold live Claude Code
telemetry (storage.rollup_sql.live_days). Through `ix_usage_event_claude_person_day` that read
walked every Claude Code row of the period to find the live ones, usually none: 28 ms of a 30 ms
`report --by day` over 90 days for 1,000 people on SQLite (benchmarks/bench_store.py), growing
with people × days. This index holds only the live rows (`day`, `person`), so the read costs what
there is to find; the vendor's own rows and Cursor's event stream pay nothing on insert.

The predicate names the live feeds literally (core.usage.LIVE_FEEDS): SQLite uses a partial index
only when the query's WHERE states its terms, so the query does too (storage.rollup_sql).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# frozen here as the migration's own text: core.usage.LIVE_FEEDS may grow, a past migration does not
LIVE_WHERE = "source = 'claude_code' AND (feed = 'cc_otel_events' OR feed = 'cc_otel_metrics')"


def upgrade() -> None:
    op.create_index("ix_usage_event_live_day", "usage_event", ["day", "person"],
                    sqlite_where=sa.text(LIVE_WHERE), postgresql_where=sa.text(LIVE_WHERE))


def downgrade() -> None:
    op.drop_index("ix_usage_event_live_day", table_name="usage_event")
