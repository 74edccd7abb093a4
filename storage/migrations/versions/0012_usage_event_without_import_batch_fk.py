"""usage_event.import_batch_id without its foreign key (issue 13: the cost of every event written)

Postgres checks a foreign key with a trigger fired per inserted row, even when the column is NULL,
as it is for every synced event: COPY of 1M events cost the server 2.46 s with the key and 1.96 s
without. The reference needs no check: the only writer of import_batch_id (bot.import_service)
inserts the batch row first, in the same transaction as its events, and nothing deletes import
batches.

SQLite skips the check of a NULL key (1M synced events: 3.36 s with, 3.34 s without), but pays a
look-up per imported event (3.31 → 3.12 s); the key goes there too, so both databases keep one
schema. SQLite cannot drop a constraint in place: the upgrade copies usage_event into a new table
and rebuilds its indexes (measured ~1 s per million events, and the database file needs room for
a second copy of the table meanwhile). Postgres drops the constraint in place.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

POSTGRES_FK = "usage_event_import_batch_id_fkey"  # the name Postgres gave the unnamed key of 0001
# SQLite's key has no name: batch mode names the reflected one by this convention to find it
SQLITE_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
SQLITE_FK = "fk_usage_event_import_batch_id_import_batch"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(POSTGRES_FK, "usage_event", type_="foreignkey")
        return
    with op.batch_alter_table("usage_event", naming_convention=SQLITE_NAMING) as batch:
        batch.drop_constraint(SQLITE_FK, type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(POSTGRES_FK, "usage_event", "import_batch", ["import_batch_id"], ["id"])
        return
    with op.batch_alter_table("usage_event") as batch:  # named now (SQLite's 0001 key had no name)
        batch.create_foreign_key(SQLITE_FK, "import_batch", ["import_batch_id"], ["id"])
