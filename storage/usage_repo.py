"""The usage write path: bulk, idempotent, and keeping the daily rollups exact.

Every batch runs in the caller's transaction:
  1. de-duplicate the batch in memory (the same natural key twice → once);
  2. look up which (source, natural_key) are already stored, and keep only new records;
  3. insert the new records (Postgres: COPY; SQLite: executemany) and add their sums to the
     rollups (`usage_daily`, `usage_person_day`, `usage_model_day`, `usage_person_total_day`) with `+=` upserts.
So re-writing a record changes nothing, and every rollup equals the sum of its events.
On Postgres an advisory lock serialises writers, so replicas sharing one database cannot
both count the same new record; on SQLite the database lock does the same.
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

SUMMED = ("input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens", "cost_nanos",
          "estimated_cost_nanos", "unpriced_records", "requests", "records")

# rollup table → its key columns
ROLLUPS = {
    "usage_daily": ("day", "source", "person", "model"),
    "usage_person_day": ("day", "source", "person"),
    "usage_model_day": ("day", "source", "model"),
    "usage_person_total_day": ("day", "person"),  # across tools
}


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


def write_usage(records: Iterable[UsageRecord], *, session: Session, import_batch_id: int | None = None,
                batch_size: int = 50_000) -> WriteResult:
    """Write records idempotently; returns how many were new. The caller owns the transaction."""
    result = WriteResult()
    batch: dict[tuple[str, str], UsageRecord] = {}
    received = 0
    for rec in records:
        received += 1
        batch[(rec.source.value, rec.natural_key)] = rec
        if len(batch) >= batch_size:
            result += _write_batch(batch, session=session, received=received, import_batch_id=import_batch_id)
            batch = {}
            received = 0
    if batch or received:
        result += _write_batch(batch, session=session, received=received, import_batch_id=import_batch_id)
    return result


_STAGE_DDL = """
CREATE TEMP TABLE usage_stage (
  source VARCHAR(32), feed VARCHAR(32), natural_key VARCHAR(64), ts {ts_type}, day DATE, person VARCHAR(320),
  api_key VARCHAR(255), org VARCHAR(255), raw_model VARCHAR(255), model VARCHAR(255), input_tokens BIGINT,
  cache_write_5m_tokens BIGINT, cache_write_1h_tokens BIGINT, cache_read_tokens BIGINT, output_tokens BIGINT,
  cost_nanos BIGINT, cost_basis VARCHAR(16), estimated_cost_nanos BIGINT, requests INTEGER, kind VARCHAR(64),
  max_mode BOOLEAN, import_batch_id INTEGER
){suffix}
"""
_CONFLICT = "ON CONFLICT (source, day, natural_key) DO NOTHING"


def _write_batch(batch: dict[tuple[str, str], UsageRecord], *, session: Session, received: int,
                 import_batch_id: int | None) -> WriteResult:
    if not batch:
        return WriteResult(received=received, duplicates=received)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        inserted, days = _write_postgres(conn, batch.values(), import_batch_id)
    else:
        inserted, days = _write_sqlite(conn, batch.values(), import_batch_id)
    return WriteResult(received=received, inserted=inserted, duplicates=received - inserted, days=days)


def _sum_select(*, aliased: bool = False) -> str:
    """The rollup sums over event rows, in SUMMED order (optionally named after SUMMED)."""
    exprs = ("SUM(input_tokens)", "SUM(cache_write_5m_tokens + cache_write_1h_tokens)", "SUM(cache_read_tokens)",
             "SUM(output_tokens)", "SUM(cost_nanos)", "SUM(estimated_cost_nanos)",
             "SUM(CASE WHEN cost_basis = 'unknown_model' THEN 1 ELSE 0 END)", "SUM(requests)", "COUNT(*)")
    if aliased:
        return ", ".join(f"{e} AS {name}" for e, name in zip(exprs, SUMMED, strict=True))
    return ", ".join(exprs)


def _fold_sql(table: str, aggregated: str) -> str:
    """Upsert (+=) a pre-aggregated relation with SUMMED columns into one rollup table."""
    keys = ", ".join(ROLLUPS[table])
    sums = ", ".join(f"SUM({c})" for c in SUMMED)
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in SUMMED)
    return (f"INSERT INTO {table} ({keys}, {', '.join(SUMMED)}) SELECT {keys}, {sums} FROM {aggregated} "
            f"WHERE true GROUP BY {keys} ON CONFLICT ({keys}) DO UPDATE SET {updates}")


def _write_postgres(conn, records: Iterable[UsageRecord], import_batch_id: int | None) -> tuple[int, frozenset]:
    """COPY into a staging table, then one statement inserts the new events and adds exactly
    those (RETURNING) to the rollups; conflicts are skipped, so even concurrent writers
    cannot count a record twice. The advisory lock keeps writers from deadlocking on rollup rows."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _WRITE_LOCK_ID})
    conn.execute(text("SET LOCAL work_mem = '64MB'"))  # keep the batch's sort/aggregate in memory
    conn.execute(text("DROP TABLE IF EXISTS usage_stage"))
    conn.execute(text(_STAGE_DDL.format(ts_type="TIMESTAMP WITH TIME ZONE", suffix=" ON COMMIT DROP")))
    columns = ", ".join(EVENT_COLUMNS)
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        with cur.copy(f"COPY usage_stage ({columns}) FROM STDIN") as copy:
            for r in records:
                copy.write_row((r.source.value, r.feed.value, r.natural_key, r.ts, r.ts.date(), r.person,
                                r.api_key, r.org, r.raw_model[:255], r.model[:255], r.input_tokens,
                                r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.cache_read_tokens,
                                r.output_tokens, r.cost_nanos, r.cost_basis.value, r.estimated_cost_nanos,
                                r.requests, r.kind, r.max_mode, import_batch_id))
        # aggregate the inserted rows once at the finest grain, then fold into every rollup
        finest = ", ".join(ROLLUPS["usage_daily"])
        folds = ", ".join(f"{t[6:]} AS ({_fold_sql(t, 'agg')})" for t in ROLLUPS)
        cur.execute(
            f"WITH ins AS (INSERT INTO usage_event ({columns}) SELECT {columns} FROM usage_stage {_CONFLICT} "
            f"RETURNING day, source, person, model, input_tokens, cache_write_5m_tokens, cache_write_1h_tokens, "
            f"cache_read_tokens, output_tokens, cost_nanos, estimated_cost_nanos, cost_basis, requests), "
            f"agg AS (SELECT {finest}, {_sum_select(aliased=True)} FROM ins GROUP BY {finest}), {folds} "
            f"SELECT COALESCE(SUM(records), 0), COALESCE(array_agg(DISTINCT day), '{{}}') FROM agg", prepare=False)
        count, days = cur.fetchone()
    return int(count), frozenset(days)


def _write_sqlite(conn, records: Iterable[UsageRecord], import_batch_id: int | None) -> tuple[int, frozenset]:
    """Insert with executemany (conflicts skipped), then roll up exactly the rows just inserted.

    The batch is summed in Python while its rows are built; when every row was new (the usual
    case: the count of rows above the previous max id says so — SQLite gives new rows ids above
    every existing one, and its write lock keeps that range ours) those sums are the rollup
    delta. Otherwise the delta is re-aggregated in SQL from exactly the rows inserted."""
    raw = conn.connection.driver_connection
    columns = ", ".join(EVENT_COLUMNS)
    ordered = list(records)
    if any(ordered[k].ts > ordered[k + 1].ts for k in range(len(ordered) - 1)):
        ordered.sort(key=lambda r: r.ts)  # time order keeps writes local in the day-first index
    rows = []
    sums: dict[tuple, list[int]] = {}
    unknown = CostBasis.UNKNOWN_MODEL
    for r in ordered:
        day = r.ts.date().isoformat()
        model = r.model[:255]
        cw = r.cache_write_5m_tokens + r.cache_write_1h_tokens
        # ts is UTC: the first 26 characters are the text SQLAlchemy's SQLite DateTime reads back
        # StrEnum members are str: sqlite3 binds them as their value
        rows.append((r.source, r.feed, r.natural_key, r.ts.isoformat(sep=" ", timespec="microseconds")[:26],
                     day, r.person, r.api_key, r.org, r.raw_model[:255], model, r.input_tokens,
                     r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.cache_read_tokens, r.output_tokens,
                     r.cost_nanos, r.cost_basis, r.estimated_cost_nanos, r.requests, r.kind, r.max_mode,
                     import_batch_id))
        key = (day, r.source, r.person, model)
        acc = sums.get(key)
        if acc is None:
            sums[key] = [r.input_tokens, cw, r.cache_read_tokens, r.output_tokens, r.cost_nanos,
                         r.estimated_cost_nanos, r.cost_basis is unknown, r.requests, 1]
        else:
            acc[0] += r.input_tokens
            acc[1] += cw
            acc[2] += r.cache_read_tokens
            acc[3] += r.output_tokens
            acc[4] += r.cost_nanos
            acc[5] += r.estimated_cost_nanos
            acc[6] += r.cost_basis is unknown
            acc[7] += r.requests
            acc[8] += 1
    before = raw.execute("SELECT COALESCE(MAX(id), 0) FROM usage_event").fetchone()[0]
    raw.executemany(
        f"INSERT INTO usage_event ({columns}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))}) {_CONFLICT}", rows)
    inserted = raw.execute("SELECT COUNT(*) FROM usage_event WHERE id > ?", (before,)).fetchone()[0]
    if not inserted:
        return 0, frozenset()
    raw.execute("DROP TABLE IF EXISTS temp.usage_new")
    finest = ", ".join(ROLLUPS["usage_daily"])
    if inserted == len(rows):
        raw.execute(f"CREATE TEMP TABLE usage_new ({finest}, {', '.join(SUMMED)})")
        raw.executemany(f"INSERT INTO temp.usage_new VALUES ({', '.join('?' * (4 + len(SUMMED)))})",
                        [(*k, *v) for k, v in sums.items()])
    else:
        raw.execute(f"CREATE TEMP TABLE usage_new AS SELECT {finest}, {_sum_select(aliased=True)} "
                    f"FROM usage_event WHERE id > {int(before)} GROUP BY {finest}")
    for table in ROLLUPS:
        raw.execute(_fold_sql(table, "temp.usage_new"))
    days = frozenset(date.fromisoformat(d) for (d,) in raw.execute("SELECT DISTINCT day FROM temp.usage_new"))
    raw.execute("DROP TABLE temp.usage_new")
    return inserted, days


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def rebuild_rollup(*, session: Session, source: str, days: Iterable[date]) -> None:
    """Recompute every rollup for these days of one source from the events (after a remap
    or a deletion); rollups across tools are recomputed from every source. Exact by construction."""
    day_list = sorted(set(days))
    if not day_list:
        return
    conn = session.connection()
    for i in range(0, len(day_list), 500):
        params = {"source": source, "days": day_list[i:i + 500]}
        for table, keys in ROLLUPS.items():
            key_cols = ", ".join(keys)
            scope = "source = :source AND " if "source" in keys else ""
            conn.execute(text(f"DELETE FROM {table} WHERE {scope}day IN :days")
                         .bindparams(bindparam("days", expanding=True)), params)
            conn.execute(text(
                f"INSERT INTO {table} ({key_cols}, {', '.join(SUMMED)}) SELECT {key_cols}, {_sum_select()} "
                f"FROM usage_event WHERE {scope}day IN :days GROUP BY {key_cols}")
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
