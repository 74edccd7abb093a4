"""The usage write path: bulk, idempotent, and keeping the daily rollup exact.

Every batch runs in one transaction:
  1. de-duplicate the batch in memory (same natural key twice → once);
  2. stage it in a temporary table (Postgres: COPY; SQLite: executemany);
  3. drop staged rows whose (source, natural_key) is already stored;
  4. add the remaining rows to `usage_daily` (upsert with +=) and to `usage_event`.
So re-writing a record changes nothing, and the rollup always equals the sum of events.
On Postgres an advisory lock serialises writers, so replicas sharing one database cannot
both count the same new record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, text
from sqlmodel import Session

from core.usage import CostBasis, UsageRecord

_WRITE_LOCK_ID = 0x0AB4C06

EVENT_COLUMNS = (
    "source", "feed", "natural_key", "ts", "day", "person", "api_key", "org", "raw_model", "model",
    "input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cache_read_tokens", "output_tokens",
    "cost_nanos", "cost_basis", "estimated_cost_nanos", "requests", "kind", "max_mode", "import_batch_id",
)

_STAGE_DDL = """
CREATE TEMP TABLE {name} (
  source VARCHAR(32) NOT NULL, feed VARCHAR(32) NOT NULL, natural_key VARCHAR(64) NOT NULL,
  ts TIMESTAMP{tz} NOT NULL, day DATE NOT NULL, person VARCHAR(320) NOT NULL, api_key VARCHAR(255),
  org VARCHAR(255), raw_model VARCHAR(255) NOT NULL, model VARCHAR(255) NOT NULL,
  input_tokens BIGINT NOT NULL, cache_write_5m_tokens BIGINT NOT NULL, cache_write_1h_tokens BIGINT NOT NULL,
  cache_read_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, cost_nanos BIGINT NOT NULL,
  cost_basis VARCHAR(16) NOT NULL, estimated_cost_nanos BIGINT NOT NULL, requests INTEGER NOT NULL,
  kind VARCHAR(64), max_mode BOOLEAN, import_batch_id INTEGER
){suffix}
"""

_ROLLUP_SELECT = """
SELECT day, source, person, model,
       SUM(input_tokens), SUM(cache_write_5m_tokens + cache_write_1h_tokens), SUM(cache_read_tokens),
       SUM(output_tokens), SUM(cost_nanos), SUM(estimated_cost_nanos),
       SUM(CASE WHEN cost_basis = 'unknown_model' THEN 1 ELSE 0 END), SUM(requests), COUNT(*)
FROM {table} {where}
GROUP BY day, source, person, model
"""

_ROLLUP_COLUMNS = ("day, source, person, model, input_tokens, cache_write_tokens, cache_read_tokens, "
                   "output_tokens, cost_nanos, estimated_cost_nanos, unpriced_records, requests, records")

_ROLLUP_SUMMED = ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens", "cost_nanos",
                  "estimated_cost_nanos", "unpriced_records", "requests", "records")


@dataclass(slots=True)
class WriteResult:
    received: int = 0
    inserted: int = 0
    duplicates: int = 0
    days: frozenset[date] = frozenset()

    def __iadd__(self, other: WriteResult) -> WriteResult:
        self.received += other.received
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.days = self.days | other.days
        return self


def _row(r: UsageRecord, import_batch_id: int | None) -> tuple:
    return (r.source.value, r.feed.value, r.natural_key, r.ts, r.ts.date(), r.person, r.api_key, r.org,
            r.raw_model[:255], r.model[:255], r.input_tokens, r.cache_write_5m_tokens, r.cache_write_1h_tokens,
            r.cache_read_tokens, r.output_tokens, r.cost_nanos, r.cost_basis.value, r.estimated_cost_nanos,
            r.requests, r.kind, r.max_mode, import_batch_id)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def write_usage(records: Iterable[UsageRecord], *, session: Session, import_batch_id: int | None = None,
                batch_size: int = 50_000) -> WriteResult:
    """Write records idempotently; returns how many were new. The caller owns the transaction."""
    result = WriteResult()
    batch: dict[tuple[str, str], tuple] = {}
    received = 0
    for rec in records:
        received += 1
        batch[(rec.source.value, rec.natural_key)] = _row(rec, import_batch_id)
        if len(batch) >= batch_size:
            result += _write_batch(list(batch.values()), session=session, received=received)
            batch.clear()
            received = 0
    if batch or received:
        result += _write_batch(list(batch.values()), session=session, received=received)
    return result


def _write_batch(rows: Sequence[tuple], *, session: Session, received: int) -> WriteResult:
    if not rows:
        return WriteResult(received=received, duplicates=received)
    dialect = _dialect(session)
    conn = session.connection()
    stage = "usage_stage"
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _WRITE_LOCK_ID})
        conn.execute(text(f"DROP TABLE IF EXISTS {stage}"))
        conn.execute(text(_STAGE_DDL.format(name=stage, tz=" WITH TIME ZONE", suffix=" ON COMMIT DROP")))
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {stage} ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        conn.execute(text(f"DROP TABLE IF EXISTS temp.{stage}"))
        conn.execute(text(_STAGE_DDL.format(name=stage, tz="", suffix="")))
        placeholders = ", ".join("?" for _ in EVENT_COLUMNS)
        raw = conn.connection.driver_connection
        raw.executemany(f"INSERT INTO {stage} ({', '.join(EVENT_COLUMNS)}) VALUES ({placeholders})",
                        [_sqlite_row(r) for r in rows])
    conn.execute(text(
        f"DELETE FROM {stage} WHERE EXISTS (SELECT 1 FROM usage_event e "
        f"WHERE e.source = {stage}.source AND e.natural_key = {stage}.natural_key)"))
    inserted = conn.execute(text(f"SELECT COUNT(*) FROM {stage}")).scalar_one()
    days: frozenset[date] = frozenset()
    if inserted:
        _add_to_rollup(conn, stage, "WHERE true", dialect)
        conn.execute(text(f"INSERT INTO usage_event ({', '.join(EVENT_COLUMNS)}) "
                          f"SELECT {', '.join(EVENT_COLUMNS)} FROM {stage}"))
        days = frozenset(_as_date(d) for (d,) in conn.execute(text(f"SELECT DISTINCT day FROM {stage}")))
    conn.execute(text(f"DROP TABLE IF EXISTS {stage}"))
    return WriteResult(received=received, inserted=inserted, duplicates=received - inserted, days=days)


def _sqlite_row(row: tuple) -> tuple:
    # sqlite3 stores datetimes as ISO text; keep the format SQLAlchemy's SQLite dialect reads back.
    ts = row[3].replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return (*row[:3], ts, row[4].isoformat(), *row[5:])


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _add_to_rollup(conn, table: str, where: str, dialect: str) -> None:
    updates = ", ".join(f"{c} = usage_daily.{c} + excluded.{c}" for c in _ROLLUP_SUMMED)
    conn.execute(text(
        f"INSERT INTO usage_daily ({_ROLLUP_COLUMNS}) {_ROLLUP_SELECT.format(table=table, where=where)} "
        f"ON CONFLICT (day, source, person, model) DO UPDATE SET {updates}"))


def rebuild_rollup(*, session: Session, source: str, days: Iterable[date]) -> None:
    """Recompute `usage_daily` for these days of one source from the events (after a remap
    or a deletion). Exact by construction."""
    day_list = sorted(set(days))
    if not day_list:
        return
    conn = session.connection()
    for i in range(0, len(day_list), 500):
        chunk = day_list[i:i + 500]
        params = {"source": source, "days": chunk}
        conn.execute(text("DELETE FROM usage_daily WHERE source = :source AND day IN :days")
                     .bindparams(bindparam("days", expanding=True)), params)
        conn.execute(text(
            f"INSERT INTO usage_daily ({_ROLLUP_COLUMNS}) "
            + _ROLLUP_SELECT.format(table="usage_event", where="WHERE source = :source AND day IN :days"))
            .bindparams(bindparam("days", expanding=True)), params)


def delete_usage(*, session: Session, source: str, feed: str, day: date, org: str | None = None) -> int:
    """Remove one feed's records of a day (used by feed precedence); keeps the rollup exact."""
    conn = session.connection()
    sql = "DELETE FROM usage_event WHERE source = :source AND feed = :feed AND day = :day"
    params: dict = {"source": source, "feed": feed, "day": day}
    if org is not None:
        sql += " AND org = :org"
        params["org"] = org
    deleted = conn.execute(text(sql), params).rowcount or 0
    if deleted:
        rebuild_rollup(session=session, source=source, days=[day])
    return deleted


def has_usage(*, session: Session, source: str, feed: str, day: date, org: str | None = None) -> bool:
    sql = "SELECT 1 FROM usage_event WHERE source = :source AND feed = :feed AND day = :day"
    params: dict = {"source": source, "feed": feed, "day": day}
    if org is not None:
        sql += " AND org = :org"
        params["org"] = org
    return session.connection().execute(text(sql + " LIMIT 1"), params).first() is not None


def reattribute(*, session: Session, source: str, key_refs: Sequence[str], person: str) -> int:
    """Point every stored record made with these keys at `person` (retroactive mapping)."""
    refs = [r for r in key_refs if r]
    if not refs:
        return 0
    conn = session.connection()
    days = [_as_date(d) for (d,) in conn.execute(
        text("SELECT DISTINCT day FROM usage_event WHERE source = :source AND api_key IN :refs AND person <> :p")
        .bindparams(bindparam("refs", expanding=True)), {"source": source, "refs": refs, "p": person})]
    if not days:
        return 0
    changed = conn.execute(
        text("UPDATE usage_event SET person = :p WHERE source = :source AND api_key IN :refs AND person <> :p")
        .bindparams(bindparam("refs", expanding=True)), {"source": source, "refs": refs, "p": person}).rowcount
    rebuild_rollup(session=session, source=source, days=days)
    return changed or 0


def unpriced_models(*, session: Session) -> list[str]:
    rows = session.connection().execute(
        text("SELECT DISTINCT model FROM usage_event WHERE cost_basis = :b ORDER BY model"),
        {"b": CostBasis.UNKNOWN_MODEL.value})
    return [m for (m,) in rows]
