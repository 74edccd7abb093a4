"""vendor_user_analytics: the Cursor Analytics API's by-user figures per day (messages per model,
MCP tools, file extensions, client versions), for `/abacus user` and `/abacus me`

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vendor_user_analytics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("org", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("person", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("extra", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "org", "person", "metric", "day", "key", name="uq_vendor_user_analytics"),
    )
    op.create_index("ix_vendor_user_analytics_person_day", "vendor_user_analytics", ["person", "day"])
    op.create_index("ix_vendor_user_analytics_day", "vendor_user_analytics", ["day"])


def downgrade() -> None:
    op.drop_index("ix_vendor_user_analytics_day", table_name="vendor_user_analytics")
    op.drop_index("ix_vendor_user_analytics_person_day", table_name="vendor_user_analytics")
    op.drop_table("vendor_user_analytics")
