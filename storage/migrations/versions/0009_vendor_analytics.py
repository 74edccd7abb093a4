"""vendor_analytics: the Cursor Analytics API's team-level figures per day (active users, messages
per model, MCP tools, file extensions, client versions), for `/abacus adoption`

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vendor_analytics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("org", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("users", sa.BigInteger(), nullable=True),
        sa.Column("extra", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "org", "metric", "day", "key", name="uq_vendor_analytics"),
    )
    op.create_index("ix_vendor_analytics_day", "vendor_analytics", ["day"])


def downgrade() -> None:
    op.drop_index("ix_vendor_analytics_day", table_name="vendor_analytics")
    op.drop_table("vendor_analytics")
