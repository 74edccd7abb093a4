"""File imports: batch details, Slack file shares, cost-export lines per person

* import_batch: `skipped` rows, the first and last day imported, and `via` (cli | slack);
* slack_file_import: one row per shared file id, so a file is previewed once even when Slack
  sends both `file_shared` and `message` (and several replicas receive them);
* vendor_cost: `person` and `api_key` of Claude Console cost-export lines, whose dollars attach
  to that person's usage.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("import_batch") as batch:
        batch.add_column(sa.Column("skipped", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("first_day", sa.Date(), nullable=True))
        batch.add_column(sa.Column("last_day", sa.Date(), nullable=True))
        batch.add_column(sa.Column("via", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                   server_default="cli"))
    with op.batch_alter_table("vendor_cost") as batch:
        batch.add_column(sa.Column("person", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))
        batch.add_column(sa.Column("api_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
    op.create_table(
        "slack_file_import",
        sa.Column("file_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("message_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("import_batch_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["import_batch_id"], ["import_batch.id"]),
        sa.PrimaryKeyConstraint("file_id"),
    )


def downgrade() -> None:
    op.drop_table("slack_file_import")
    with op.batch_alter_table("vendor_cost") as batch:
        batch.drop_column("api_key")
        batch.drop_column("person")
    with op.batch_alter_table("import_batch") as batch:
        batch.drop_column("via")
        batch.drop_column("last_day")
        batch.drop_column("first_day")
        batch.drop_column("skipped")
