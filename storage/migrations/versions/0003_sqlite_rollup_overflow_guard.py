"""SQLite: a rollup sum that outgrows 64 bits aborts the write instead of turning into a float

SQLite's `+` does not fail on an integer overflow: it quietly returns a REAL, so a rollup's
`col = col + excluded.col` upsert could store an approximate $1.2e10 where Postgres raises
`bigint out of range`. A BEFORE UPDATE trigger per rollup table aborts any update that would
leave a summed column other than an integer; the write path turns that into one line
("the database refused a value or a sum as out of range"), the same as on Postgres. New rows
are bound from Python integers, which sqlite3 refuses beyond 64 bits by itself. Postgres: no-op.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ROLLUPS = ("usage_daily", "usage_person_day", "usage_model_day", "usage_person_total_day")
SUMMED = ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens", "cost_nanos",
          "estimated_cost_nanos", "unpriced_records", "requests", "records")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in ROLLUPS:
        checks = " OR ".join(f"typeof(NEW.{c}) <> 'integer'" for c in SUMMED)
        op.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_sums_stay_integers BEFORE UPDATE ON {table} "
                   f"WHEN {checks} BEGIN SELECT RAISE(ABORT, 'integer overflow in {table}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in ROLLUPS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_sums_stay_integers")
