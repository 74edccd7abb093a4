"""The usage write path: bulk, idempotent, and keeping the daily rollups exact.

Every batch runs in the caller's transaction, under the write lock, taken before anything is read
(Postgres: an advisory lock, so replicas sharing one database take turns; SQLite: the database
write lock):
  1. de-duplicate the batch in memory (the same record — source, time, natural key — twice → once);
  2. find which of its records are already stored: one range scan of the time-ordered primary key
     per (source, day) of the batch — nothing for new data, exactly the overlap for a re-sync;
  3. insert the rest (Postgres: `COPY` straight into usage_event; SQLite: `executemany`), summing
     them in Python per (day, source, person, model) while the rows stream to the database;
  4. add those sums to the rollups (`usage_daily`, `usage_person_day`, `usage_model_day`,
     `usage_person_total_day`) with `+=` upserts.
So re-writing a record changes nothing, and every rollup equals the sum of its events. The
primary key still guards each insert; see `_write_batch` for what happens if it ever objects.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import islice
from operator import itemgetter, le
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, text

from core.identity import MappedHow
from core.usage import KIND_WIDTH, NAME_WIDTH, PERSON_WIDTH, CostBasis, Feed, Record, Source, column_text, unmapped_key

if TYPE_CHECKING:  # a Session or storage.db.Unit: only `.connection()` / `.get_bind()` are used
    from sqlmodel import Session

_WRITE_LOCK_ID = 0x0AB4C06

EVENT_COLUMNS = (
    "source", "feed", "natural_key", "ts_ms", "day", "person", "api_key", "org", "raw_model", "model",
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


def write_usage(records: Iterable[Record], *, session: Session, import_batch_id: int | None = None,
                batch_size: int = 50_000) -> WriteResult:
    """Write records idempotently; returns how many were new. The caller owns the transaction.

    Records are `UsageRecord`s or stored event rows (`core.usage.EVENT_ROW` tuples, as the
    Cursor events converter makes them); both become rows here and take one path."""
    result = WriteResult()
    source = iter(records)
    while True:
        chunk = list(islice(source, batch_size))
        if chunk or not result.received:
            rows = event_rows(chunk, import_batch_id)
            result += _write_batch(rows, session=session, received=len(chunk))
        if len(chunk) < batch_size:
            return result


def event_rows(records: Sequence[Record], import_batch_id: int | None = None) -> list[tuple]:
    """Records → stored event rows (EVENT_COLUMNS order, plain values). Rows pass through as they
    are (the same list when nothing changes): the hot path does no per-row work here."""
    if import_batch_id is None and set(map(type, records)) <= {tuple}:  # every one a row (checked in C)
        return records if isinstance(records, list) else list(records)
    days: dict[int, str] = {}
    out = []
    for r in records:
        if type(r) is tuple:
            out.append(r if import_batch_id is None else (*r[:21], import_batch_id))
            continue
        ts_ms = r.ts_ms
        day = days.get(ts_ms // _MS_PER_DAY)
        if day is None:
            day = days[ts_ms // _MS_PER_DAY] = date.fromordinal(_EPOCH_DAY + ts_ms // _MS_PER_DAY).isoformat()
        # vendor and file text as the columns hold it on both databases (core.usage.column_text)
        out.append((_PLAIN[r.source], _PLAIN[r.feed], r.natural_key, ts_ms, day,
                    column_text(r.person, PERSON_WIDTH), r.api_key and column_text(r.api_key, NAME_WIDTH),
                    r.org and column_text(r.org, NAME_WIDTH), column_text(r.raw_model, NAME_WIDTH),
                    column_text(r.model, NAME_WIDTH), r.input_tokens, r.cache_write_5m_tokens,
                    r.cache_write_1h_tokens, r.cache_read_tokens, r.output_tokens, r.cost_nanos,
                    _PLAIN[r.cost_basis], r.estimated_cost_nanos, r.requests,
                    r.kind and column_text(r.kind, KIND_WIDTH), None if r.max_mode is None else int(r.max_mode),
                    import_batch_id))
    return out


_STAGE_DDL = """
CREATE TEMP TABLE usage_stage (
  source VARCHAR(32), feed VARCHAR(32), natural_key VARCHAR(64), ts_ms BIGINT, day DATE, person VARCHAR(320),
  api_key VARCHAR(255), org VARCHAR(255), raw_model VARCHAR(255), model VARCHAR(255), input_tokens BIGINT,
  cache_write_5m_tokens BIGINT, cache_write_1h_tokens BIGINT, cache_read_tokens BIGINT, output_tokens BIGINT,
  cost_nanos BIGINT, cost_basis VARCHAR(16), estimated_cost_nanos BIGINT, requests INTEGER, kind VARCHAR(64),
  max_mode BOOLEAN, import_batch_id INTEGER
) ON COMMIT DROP
"""
_CONFLICT = "ON CONFLICT (source, day, ts_ms, natural_key) DO NOTHING"
_MS_PER_DAY = 86_400_000
# enum members → their values as plain str: a str subclass makes sqlite3 look for an adapter on
# every bind (measured: ~0.4 us per value), and plain str is the drivers' fastest path
_PLAIN: dict = {m: str(m.value) for enum in (Source, Feed, CostBasis) for m in enum}
_EPOCH_DAY = date(1970, 1, 1).toordinal()


def _write_batch(rows: list[tuple], *, session: Session, received: int) -> WriteResult:
    """Write one batch of event rows: drop those already stored, insert the rest, add their sums to
    the rollups.

    "Already stored?" is one index range scan per (source, day) of the batch, bounded by the
    batch's first and last time that day (the index is time-ordered): for new data it finds
    nothing, for a re-sync it finds exactly the overlap. What remains is inserted without a
    per-row conflict path (Postgres: straight `COPY` into usage_event) and its sums, added up in
    Python, are folded into the rollups. The primary key still guards every insert: a record
    twice in the batch, or one a writer that skipped the write lock stored meanwhile, makes
    Postgres roll the COPY back and take the per-row `ON CONFLICT` path, and SQLite
    (`ON CONFLICT DO NOTHING`, rows counted) re-aggregate exactly the rows it inserted."""
    if not rows:
        return WriteResult(received=received, duplicates=received)
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    raw = conn.connection.driver_connection
    _lock_writes(raw, postgres=postgres)
    rows = _apply_key_owners(raw, rows)
    times = [r[3] for r in rows]
    if not all(map(le, times, islice(times, 1, None))):
        rows = sorted(rows, key=itemgetter(3))  # time order: appends at the right edge of the index
        times.sort()
    stored = _stored_keys(raw, rows, times, postgres=postgres)
    if stored:
        rows = [r for r in rows if (r[0], r[3], r[2]) not in stored]
    if not rows:
        return WriteResult(received=received, duplicates=received)
    sums = _sums(rows)
    inserted, days = (_insert_postgres if postgres else _insert_sqlite)(raw, rows, sums)
    return WriteResult(received=received, inserted=inserted, duplicates=received - inserted, days=days)


def _lock_writes(raw, *, postgres: bool) -> None:
    """Take the usage write lock for the rest of the transaction (re-entrant within it).

    Postgres: a transaction-level advisory lock, so writers on every replica take turns. SQLite:
    its database write lock, taken now rather than at the first insert — sqlite3 opens the
    transaction only at the first write, so what we read before it could change under us (another
    writer committing between our look-up and our insert would then be counted twice)."""
    if postgres:
        # writers queue for each other (storage.db.LOCK_TIMEOUT_S) for up to 300 s; then the session's
        # own bound again, so a table locked by someone else (a migration, a VACUUM FULL) still ends
        # the write within it instead of five minutes later
        bounded = raw.execute("SELECT current_setting('lock_timeout'), set_config('lock_timeout', '300s', true)"
                              ).fetchone()[0]
        raw.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK_ID,))
        raw.execute("SELECT set_config('lock_timeout', %s, true)", (bounded,))
    else:
        raw.execute("DELETE FROM usage_event WHERE 0")


def lock_usage_writes(*, session: Session) -> None:
    """Serialise this transaction with every usage write (see `_lock_writes`). A key mapping takes
    it before it changes an owner, so a batch is written either wholly before the mapping (and
    then re-attributed by it) or wholly after it (and then written under the new owner)."""
    conn = session.connection()
    _lock_writes(conn.connection.driver_connection, postgres=conn.dialect.name == "postgresql")


_OWNER_RANK = {MappedHow.PATTERN: 0, MappedHow.VENDOR: 1, MappedHow.MANUAL: 2}


def _apply_key_owners(raw, rows: list[tuple]) -> list[tuple]:
    """Attribute the batch's keyed rows to their keys' owners as stored now, under the write lock.

    The vendor converters resolve owners once, when a sync starts; a key mapped while that sync
    runs would otherwise leave the rest of the run's records of that key with the old owner (for
    good: a re-sync finds them present). Read here, the mapping holds for every record written after
    it, and `reattribute` (under the same lock) for every record written before it. A manual mapping
    beats the vendor's owner, as in `core.identity.IdentityResolver`; so does a manual unmapping (the
    key's usage then goes to `unmapped:<name or id>`, as `storage.people_repo.unmap_key` decided)."""
    if not any(map(itemgetter(6), rows)):
        return rows
    owners: dict[tuple[str, str], tuple[int, str]] = {}
    for source, external_id, name, email, how in raw.execute(
            "SELECT source, external_id, name, email, mapped_how FROM api_key "
            "WHERE email IS NOT NULL OR mapped_at IS NOT NULL"):
        if email is None:  # unmapped by hand (`abacus unmap`): nobody's, as `unmap_key` re-attributed it
            rank, email = _OWNER_RANK[MappedHow.MANUAL], unmapped_key(name or external_id)
        else:
            rank = _OWNER_RANK.get(how, _OWNER_RANK[MappedHow.VENDOR])
        for ref in (external_id, name):
            if ref and owners.get((source, ref), (-1, ""))[0] < rank:
                owners[(source, ref)] = (rank, email)
    if not owners:
        return rows
    out = []
    for r in rows:
        owner = owners.get((r[0], r[6])) if r[6] else None
        out.append(r if owner is None or owner[1] == r[5] else (*r[:5], owner[1], *r[6:]))
    return out


def _stored_keys(raw, rows: list[tuple], times: list[int], *,
                 postgres: bool) -> set[tuple[str, int, str]]:
    """(source, ts_ms, natural_key) — the primary key, less the day it implies — of what is stored
    in the batch's time range (`times`: the batch's ts_ms, sorted):
    per source and day, one index range scan between the batch's first and last time that day."""
    mark = "%s" if postgres else "?"
    sql = (f"SELECT ts_ms, natural_key FROM usage_event WHERE source = {mark} AND day = {mark} "
           f"AND ts_ms BETWEEN {mark} AND {mark}")
    sources = set(map(itemgetter(0), rows))
    found: set[tuple[str, int, str]] = set()
    for day_no in range(times[0] // _MS_PER_DAY, times[-1] // _MS_PER_DAY + 1):
        first = bisect_left(times, day_no * _MS_PER_DAY)
        last = bisect_left(times, (day_no + 1) * _MS_PER_DAY) - 1
        if last < first:
            continue
        day = date.fromordinal(_EPOCH_DAY + day_no)
        for source in sources:
            for ts_ms, key in raw.execute(sql, (source, day if postgres else day.isoformat(),
                                                times[first], times[last])):
                found.add((source, ts_ms, key))
    return found


def _sums(rows: list[tuple]) -> dict[tuple, list[int]]:
    """The rows' sums per (day, source, person, model) — the finest rollup — in SUMMED order."""
    sums: dict[tuple, list[int]] = {}
    unknown = _UNKNOWN
    get = sums.get
    for r in rows:
        key = (r[4], r[0], r[5], r[9])
        acc = get(key)
        if acc is None:
            sums[key] = [r[10], r[11] + r[12], r[13], r[14], r[15], r[17], int(r[16] == unknown), r[18], 1]
        else:
            acc[0] += r[10]
            acc[1] += r[11] + r[12]
            acc[2] += r[13]
            acc[3] += r[14]
            acc[4] += r[15]
            acc[5] += r[17]
            acc[6] += r[16] == unknown
            acc[7] += r[18]
            acc[8] += 1
    return sums


_UNKNOWN = CostBasis.UNKNOWN_MODEL.value


def _sum_select(*, aliased: bool = False) -> str:
    """The rollup sums over event rows, in SUMMED order (optionally named after SUMMED)."""
    exprs = ("SUM(input_tokens)", "SUM(cache_write_5m_tokens + cache_write_1h_tokens)", "SUM(cache_read_tokens)",
             "SUM(output_tokens)", "SUM(cost_nanos)", "SUM(estimated_cost_nanos)",
             "SUM(CASE WHEN cost_basis = 'unknown_model' THEN 1 ELSE 0 END)", "SUM(requests)", "COUNT(*)")
    if aliased:
        return ", ".join(f"{e} AS {name}" for e, name in zip(exprs, SUMMED, strict=True))
    return ", ".join(exprs)


def _add_on_conflict(table: str) -> str:
    """The `ON CONFLICT` clause that adds incoming sums to a rollup row already there."""
    updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in SUMMED)
    return f"ON CONFLICT ({', '.join(ROLLUPS[table])}) DO UPDATE SET {updates}"


def _fold_sql(table: str, aggregated: str) -> str:
    """Upsert (+=) a pre-aggregated relation with SUMMED columns into one rollup table."""
    keys = ", ".join(ROLLUPS[table])
    sums = ", ".join(f"SUM({c})" for c in SUMMED)
    return (f"INSERT INTO {table} ({keys}, {', '.join(SUMMED)}) SELECT {keys}, {sums} FROM {aggregated} "
            f"WHERE true GROUP BY {keys} {_add_on_conflict(table)}")


_FINEST = ", ".join(ROLLUPS["usage_daily"])
_COARSER = [t for t in ROLLUPS if t != "usage_daily"]


def _fold_finest_sql(sums_table: str) -> str:
    """Upsert (+=) a batch's finest sums — one row per (day, source, person, model) — into
    usage_daily. The keys are already unique: no GROUP BY (nine SUMs over four text keys cost twice
    the insert), only the key order the b-tree likes."""
    summed = ", ".join(SUMMED)
    return (f"INSERT INTO usage_daily ({_FINEST}, {summed}) SELECT {_FINEST}, {summed} FROM {sums_table} "
            f"WHERE true ORDER BY {_FINEST} {_add_on_conflict('usage_daily')}")
# Postgres types of EVENT_COLUMNS, for binary COPY (no text formatting and parsing per value)
_EVENT_TYPES = ["text", "text", "text", "int8", "date", "text", "text", "text", "text", "text", "int8", "int8",
                "int8", "int8", "int8", "int8", "text", "int8", "int4", "text", "bool", "int4"]
_NEW_DDL = (f"CREATE TEMP TABLE usage_new (day DATE, source VARCHAR(32), person VARCHAR(320), "
            f"model VARCHAR(255), {', '.join(f'{c} BIGINT' for c in SUMMED)}) ON COMMIT DROP")


def _insert_postgres(raw, rows: list[tuple], sums: dict[tuple, list[int]]) -> tuple[int, frozenset[date]]:
    """COPY the new rows straight into usage_event, then add their sums to every rollup.

    Where no rollup holds anything yet for the batch's days and sources (a first sync, a backfill,
    each new day of a long run), the finest sums are COPYed straight into usage_daily and the
    coarser rollups are grouped from those rows with plain INSERTs (`_add_fresh`): no staging
    table and no speculative `ON CONFLICT` insertion per row, which cost the server about twice
    as much (measured: 56k finest sums, 0.6 -> 0.3 s of the server's CPU). Otherwise the sums go
    through a staging table and `+=` upserts (`_fold_postgres`).

    Inside a savepoint: if a primary key rejects a row (a writer outside the write lock stored it
    meanwhile), the COPY and the fresh-day rollups are undone and the batch goes through the
    staging table with `ON CONFLICT DO NOTHING … RETURNING` instead, which counts exactly the rows
    it inserted."""
    import psycopg

    columns = ", ".join(EVENT_COLUMNS)
    days = {d: date.fromisoformat(d) for d in {k[0] for k in sums}}  # binary COPY sends dates as such
    scope = (sorted(days.values()), sorted({k[1] for k in sums}))
    fresh = raw.execute("SELECT NOT EXISTS (SELECT 1 FROM usage_daily WHERE day = ANY(%s) AND source = ANY(%s))",
                        scope).fetchone()[0]
    try:
        with raw.transaction(), raw.cursor() as cur:
            with cur.copy(f"COPY usage_event ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_EVENT_TYPES)
                write = copy.write_row
                for r in rows:
                    write((*r[:4], days[r[4]], *r[5:]))
            if fresh:
                _add_fresh(cur, sums, days, scope)
    except psycopg.errors.UniqueViolation:
        return _insert_postgres_staged(raw, rows)
    if not fresh:
        _fold_postgres(raw, sums)
    return len(rows), frozenset(days.values())


# Postgres types of the finest rollup's columns (usage_daily: keys, then SUMMED), for binary COPY
# (storage.tables.RollupSums: every sum a BIGINT but unpriced_records, an INTEGER)
_DAILY_TYPES = ["date", "text", "text", "text", *("int4" if c == "unpriced_records" else "int8" for c in SUMMED)]


def _add_fresh(cur, sums: dict[tuple, list[int]], days: dict[str, date], scope: tuple[list, list]) -> None:
    """Store the rollups of days and sources no rollup holds yet: the finest sums COPYed into
    usage_daily as they are, each coarser rollup grouped from exactly those rows (`scope`: the
    batch's days and sources, whose usage_daily rows are then this batch's alone). Across tools
    (usage_person_total_day) another source may already have the day: `+=` there. Run inside
    the caller's savepoint: a row that is there after all (a writer that skipped the write lock)
    makes a primary key object, and the caller takes the per-row conflict path."""
    with cur.copy(f"COPY usage_daily ({_FINEST}, {', '.join(SUMMED)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_DAILY_TYPES)
        write = copy.write_row
        for key, acc in sums.items():
            write((days[key[0]], *key[1:], *acc))
    where = "day = ANY(%s) AND source = ANY(%s)"
    for table in _COARSER:
        keys = ", ".join(ROLLUPS[table])
        sql = (f"INSERT INTO {table} ({keys}, {', '.join(SUMMED)}) "
               f"SELECT {keys}, {', '.join(f'SUM({c})' for c in SUMMED)} FROM usage_daily WHERE {where} "
               f"GROUP BY {keys}")
        cur.execute(sql + (f" {_add_on_conflict(table)}" if "source" not in ROLLUPS[table] else ""), scope,
                    prepare=False)


def _fold_postgres(raw, sums: dict[tuple, list[int]]) -> None:
    """Add the batch's finest sums to every rollup (`+=` upserts), through a staging table."""
    with raw.cursor() as cur:
        cur.execute("SET LOCAL work_mem = '64MB'")
        cur.execute("DROP TABLE IF EXISTS usage_new")
        cur.execute(_NEW_DDL)
        with cur.copy(f"COPY usage_new ({_FINEST}, {', '.join(SUMMED)}) FROM STDIN") as copy:
            for key, acc in sums.items():
                copy.write_row((*key, *acc))
        cur.execute(_fold_finest_sql("usage_new"), prepare=False)
        for table in _COARSER:
            cur.execute(_fold_sql(table, "usage_new"), prepare=False)
        cur.execute("DROP TABLE usage_new")


def _insert_postgres_staged(raw, rows: list[tuple]) -> tuple[int, frozenset[date]]:
    """The per-row conflict path: stage, insert what is new, roll up exactly what was inserted."""
    columns = ", ".join(EVENT_COLUMNS)
    with raw.cursor() as cur:
        cur.execute("SET LOCAL work_mem = '64MB'")
        cur.execute("DROP TABLE IF EXISTS usage_stage")
        cur.execute(_STAGE_DDL)
        with cur.copy(f"COPY usage_stage ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        folds = ", ".join(f"{t[6:]} AS ({_fold_sql(t, 'agg')})" for t in ROLLUPS)
        cur.execute(
            f"WITH ins AS (INSERT INTO usage_event ({columns}) SELECT {columns} FROM usage_stage {_CONFLICT} "
            f"RETURNING day, source, person, model, input_tokens, cache_write_5m_tokens, cache_write_1h_tokens, "
            f"cache_read_tokens, output_tokens, cost_nanos, estimated_cost_nanos, cost_basis, requests), "
            f"agg AS (SELECT {_FINEST}, {_sum_select(aliased=True)} FROM ins GROUP BY {_FINEST}), {folds} "
            f"SELECT COALESCE(SUM(records), 0), COALESCE(array_agg(DISTINCT day), '{{}}') FROM agg", prepare=False)
        count, days = cur.fetchone()
        cur.execute("DROP TABLE usage_stage")
    return int(count), frozenset(days)


def _insert_sqlite(raw, rows: list[tuple], sums: dict[tuple, list[int]]) -> tuple[int, frozenset[date]]:
    """executemany (conflicts skipped, the rows counted); fold the Python sums when every row went
    in, else re-aggregate in SQL exactly the rows inserted (new rows get rowids above every existing
    one, and the database write lock keeps that range ours)."""
    before = raw.execute("SELECT COALESCE(MAX(rowid), 0) FROM usage_event").fetchone()[0]
    changes = raw.total_changes
    raw.executemany(*_sqlite_insert(rows))
    inserted = raw.total_changes - changes
    if inserted == len(rows):
        # every row went in: the Python sums, staged in a temp table, are folded into each rollup
        # by SQLite itself (the coarser ones grouped from the finest: no Python loop per rollup)
        raw.execute("DROP TABLE IF EXISTS temp.usage_new")
        raw.execute(f"CREATE TEMP TABLE usage_new ({_FINEST}, {', '.join(SUMMED)})")
        raw.executemany(f"INSERT INTO temp.usage_new VALUES ({', '.join('?' * (4 + len(SUMMED)))})",
                        [(*k, *v) for k, v in sums.items()])
        raw.execute(_fold_finest_sql("temp.usage_new"))
        for table in _COARSER:
            raw.execute(_fold_sql(table, "temp.usage_new"))
        raw.execute("DROP TABLE temp.usage_new")
        return inserted, frozenset(_as_date(d) for d in {k[0] for k in sums})
    raw.execute("DROP TABLE IF EXISTS temp.usage_new")
    raw.execute(f"CREATE TEMP TABLE usage_new AS SELECT {_FINEST}, {_sum_select(aliased=True)} "
                f"FROM usage_event WHERE rowid > {int(before)} GROUP BY {_FINEST}")
    for table in ROLLUPS:
        raw.execute(_fold_sql(table, "temp.usage_new"))
    days = frozenset(_as_date(d) for (d,) in raw.execute("SELECT DISTINCT day FROM temp.usage_new"))
    raw.execute("DROP TABLE temp.usage_new")
    return inserted, days


# columns that one batch of rows often holds one value in (a Cursor window: one source, feed, day and
# org, no API key, the vendor's price, one request each, no import batch)
_OFTEN_SHARED = (0, 1, 4, 6, 7, 12, 16, 17, 18, 21)


def _sqlite_insert(rows: list[tuple]) -> tuple[str, Iterable[tuple]]:
    """The batch's INSERT and its parameters. Where every row holds the same value in a column of
    `_OFTEN_SHARED`, that value is written into the statement once, as an SQL literal, and the rows
    are bound without it: sqlite3 binds each value of each row (a text one is copied), and a Cursor
    window's rows share ten of their 22 (measured: 5.3 -> 3.9 us per row). Everything else is bound."""
    columns = ", ".join(EVENT_COLUMNS)
    shared: dict[int, object] = {}
    values = set(map(itemgetter(*_OFTEN_SHARED), rows))
    if len(values) == 1:
        shared = {i: v for i, v in zip(_OFTEN_SHARED, values.pop(), strict=True) if _literal(v) is not None}
    else:
        for i in _OFTEN_SHARED:
            one = set(map(itemgetter(i), rows))
            if len(one) == 1 and _literal(v := one.pop()) is not None:
                shared[i] = v
    if not shared:
        return f"INSERT INTO usage_event ({columns}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))}) {_CONFLICT}", rows
    bound = [i for i in range(len(EVENT_COLUMNS)) if i not in shared]
    marks = ", ".join(_literal(shared[i]) if i in shared else "?" for i in range(len(EVENT_COLUMNS)))
    return f"INSERT INTO usage_event ({columns}) VALUES ({marks}) {_CONFLICT}", map(itemgetter(*bound), rows)


def _literal(value: object) -> str | None:
    """An SQL literal that stores exactly what binding `value` stores; None where there is none
    (a type other than None, int and str; text with a NUL, which a literal would cut short)."""
    if value is None:
        return "NULL"
    if type(value) is int:
        return str(value)
    if type(value) is str and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    return None


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


def prune_events(*, session: Session, source: str, feed: str, org: str, start_ms: int, end_ms: int,
                 keep: set[tuple[int, str]]) -> int:
    """Remove one feed's stored records of `org` timed in [start_ms, end_ms] whose (ts_ms,
    natural_key) is not in `keep`, and rebuild the rollups of their days; returns how many."""
    conn = session.connection()
    first, last = (date.fromordinal(_EPOCH_DAY + ms // _MS_PER_DAY) for ms in (start_ms, end_ms))
    rows = conn.execute(text(
        "SELECT day, ts_ms, natural_key FROM usage_event WHERE source = :s AND day >= :d0 AND day <= :d1 "
        "AND ts_ms >= :t0 AND ts_ms <= :t1 AND feed = :f AND org = :o"),
        {"s": source, "d0": first, "d1": last, "t0": start_ms, "t1": end_ms, "f": feed, "o": org}).all()
    stale = [{"s": source, "d": day, "t": ts_ms, "k": key} for day, ts_ms, key in rows if (ts_ms, key) not in keep]
    if stale:
        conn.execute(text("DELETE FROM usage_event WHERE source = :s AND day = :d AND ts_ms = :t "
                          "AND natural_key = :k"), stale)
        rebuild_rollup(session=session, source=source, days={_as_date(row["d"]) for row in stale})
    return len(stale)


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
    lock_usage_writes(session=session)
    conn = session.connection()
    params = {"source": source, "refs": refs, "p": person}
    days = [_as_date(d) for (d,) in conn.execute(
        text("SELECT DISTINCT day FROM usage_event WHERE source = :source AND api_key IN :refs AND person <> :p")
        .bindparams(bindparam("refs", expanding=True)), params)]
    changed = 0
    if days:
        changed = conn.execute(
            text("UPDATE usage_event SET person = :p WHERE source = :source AND api_key IN :refs AND person <> :p")
            .bindparams(bindparam("refs", expanding=True)), params).rowcount or 0
        rebuild_rollup(session=session, source=source, days=days)
    if source == Source.CLAUDE_CODE.value:
        _reattribute_cost_lines(session=session, refs=refs, person=person)
    return changed


def _reattribute_cost_lines(*, session: Session, refs: list[str], person: str) -> None:
    """The Console cost export's lines follow their key too: their dollars attach to usage by
    person-day-model, so a line left with the key's former owner would never price the usage
    imported under the new one (the estimate stayed instead of the vendor's figure)."""
    from storage.import_repo import attach_vendor_costs  # import_repo builds on this module

    conn = session.connection()
    params = {"s": Feed.CLAUDE_COST_CSV.value, "refs": refs, "p": person}
    days = [_as_date(d) for (d,) in conn.execute(
        text("SELECT DISTINCT day FROM vendor_cost WHERE source = :s AND api_key IN :refs AND person <> :p")
        .bindparams(bindparam("refs", expanding=True)), params)]
    if not days:
        return
    conn.execute(text("UPDATE vendor_cost SET person = :p WHERE source = :s AND api_key IN :refs AND person <> :p")
                 .bindparams(bindparam("refs", expanding=True)), params)
    attach_vendor_costs(session=session, days=days)


def unpriced_models(*, session: Session) -> list[str]:
    rows = session.connection().execute(
        text("SELECT DISTINCT model FROM usage_event WHERE cost_basis = :b ORDER BY model"),
        {"b": CostBasis.UNKNOWN_MODEL.value})
    return [m for (m,) in rows]
