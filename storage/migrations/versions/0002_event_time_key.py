"""usage_event: integer epoch-millisecond time, and the natural key as the primary key

The event's time becomes `ts_ms` (BIGINT, UTC epoch milliseconds, the vendors' own precision) and
the natural key (source, day, ts_ms, natural_key) becomes the primary key, replacing the surrogate
id and the unique index on (source, day, natural_key): the same uniqueness, since a record's
time is a function of its natural key, but vendors deliver in time order, so new entries land at
the right edge of the index instead of at random pages. Existing rows keep their exact time.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ROLLUPS = ("usage_daily", "usage_person_day", "usage_model_day", "usage_person_total_day")


def upgrade() -> None:
    with op.batch_alter_table("usage_event") as batch:
        batch.add_column(sa.Column("ts_ms", sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE usage_event SET ts_ms = floor(extract(epoch FROM ts) * 1000)::bigint")
    else:  # SQLAlchemy's SQLite DATETIME text: 'YYYY-MM-DD HH:MM:SS[.ffffff]'
        op.execute("UPDATE usage_event SET ts_ms = CAST(strftime('%s', ts) AS INTEGER) * 1000 "
                   "+ CAST(substr(ts || '.000', 21, 3) AS INTEGER)")
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("usage_event") as batch:
        batch.alter_column("ts_ms", existing_type=sa.BigInteger(), nullable=False)
        batch.drop_constraint("uq_usage_event_natural", type_="unique")
        if postgres:
            batch.drop_constraint("usage_event_pkey", type_="primary")
        batch.drop_column("id")
        batch.drop_column("ts")
        batch.create_primary_key("pk_usage_event", ["source", "day", "ts_ms", "natural_key"])
    if op.get_bind().dialect.name == "postgresql":
        for table in ROLLUPS:
            op.execute(f"ALTER TABLE {table} SET (fillfactor = 70)")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for table in ROLLUPS:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    with op.batch_alter_table("usage_event") as batch:
        batch.drop_constraint("pk_usage_event", type_="primary")
    with op.batch_alter_table("usage_event", recreate="auto" if postgres else "always") as batch:
        batch.add_column(sa.Column("ts", sa.DateTime(timezone=True), nullable=True))
        if postgres:
            batch.add_column(sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False))
            batch.create_primary_key("usage_event_pkey", ["id"])
        else:  # an INTEGER PRIMARY KEY is the rowid: the table copy numbers the rows
            batch.add_column(sa.Column("id", sa.Integer(), primary_key=True, nullable=False))
    if postgres:
        op.execute("UPDATE usage_event SET ts = to_timestamp(ts_ms / 1000.0)")
    else:
        op.execute("UPDATE usage_event SET ts = strftime('%Y-%m-%d %H:%M:%f', ts_ms / 1000.0, 'unixepoch')")
    with op.batch_alter_table("usage_event") as batch:
        batch.alter_column("ts", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.create_unique_constraint("uq_usage_event_natural", ["source", "day", "natural_key"])
        batch.drop_column("ts_ms")
