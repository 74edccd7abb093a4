"""Slack deliveries already handled (`slack_delivery`), so a redelivered envelope runs once

Slack redelivers an envelope (events with `retry_attempt`, and after reconnects), possibly to
another replica's connection; the first process to insert the delivery's key handles it.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_delivery",
        sa.Column("delivery_key", sqlmodel.sql.sqltypes.AutoString(length=255), primary_key=True),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_slack_delivery_received_ms", "slack_delivery", ["received_ms"])


def downgrade() -> None:
    op.drop_index("ix_slack_delivery_received_ms", table_name="slack_delivery")
    op.drop_table("slack_delivery")
