"""Job locks as leases (`job_lease`), and which holder ran a sync (`sync_run.holder`)

A Postgres session advisory lock lived and died with one connection: when a restart, a failover,
a pooler or `idle_session_timeout` closed it, the lock was silently gone and a second sync started
alongside the first. A lease row, renewed by its holder and checked inside every sync transaction,
survives a lost connection. `sync_run.holder` ties a run to the lease of the process that ran it,
so that a run whose process died is shown as interrupted, not running.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_lease",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), primary_key=True),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("acquired_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table("sync_run") as batch:
        batch.add_column(sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_run") as batch:
        batch.drop_column("holder")
    op.drop_table("job_lease")
