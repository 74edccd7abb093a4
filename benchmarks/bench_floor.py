"""Floor benchmark: what the database drivers and the parser cost per record on this machine,
with none of our bookkeeping around them — the lower bound under the write and sync rates.

    python benchmarks/bench_floor.py [--people 1000] [--days 30] [--only sqlite|postgres]

Builds the synthetic team's records in time order (1,000 people × 30 days ≈ 416k records) and
their event rows and rollup sums exactly as the write path does (`storage.usage_repo`), then
times, in transactions of 50,000 records, on a freshly migrated database:

  event insert   the production statement alone: SQLite `executemany` of `INSERT … ON CONFLICT DO
                 NOTHING`, Postgres binary `COPY` straight into `usage_event` (primary key only)
  bare insert    the same rows into an index-free copy of `usage_event` (what binding and
                 storing a row costs before any index)
  rollups        the production `+=` upserts of the batches' sums into the four rollup tables
                 (SQLite `executemany`; Postgres `COPY` of the sums and one fold per rollup)

and, for the sync's shape (bench_sync: 300 users, 14 days): fetching and parsing the pages from the
fake Cursor API on loopback with httpx + orjson and nothing else (in a child process, the fake
vendor here, as bench_sync runs them); parsing alone (orjson) and parsing with our checks and
conversion (`EventConverter`), without HTTP or a database. It prints each cost per record and the
rates they bound: no write path that stores every event and keeps the rollups exact in the same
transaction can beat `1 / (event insert + rollups)` on that database, and no sync can beat
`2 / (fetch + convert + event insert + rollups)` even if it spread its work perfectly over both
cores (which the fake vendor and the database server share with it).
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402

from core.synthetic import build_team  # noqa: E402
from storage import usage_repo as repo  # noqa: E402
from storage.db import make_engine, upgrade  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
BATCH = 50_000


def _batches(records, postgres: bool):
    """(rows, sums) per 50k-record batch, built by the write path's own row builder."""
    out = []
    for i in range(0, len(records), BATCH):
        sums: dict = {}
        rows = list(repo._rows(records[i:i + BATCH], None, sums, postgres=postgres))
        out.append((rows, sums))
    return out


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of fn()."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def sqlite_floor(batches, tmp: str) -> dict[str, tuple[float, float]]:
    engine = make_engine(f"sqlite:///{tmp}/floor.db")
    upgrade(engine)
    raw = engine.raw_connection().driver_connection
    raw.isolation_level = None
    raw.execute("CREATE TABLE floor_bare AS SELECT * FROM usage_event WHERE 0")
    columns = ", ".join(repo.EVENT_COLUMNS)
    marks = ", ".join("?" * len(repo.EVENT_COLUMNS))

    def insert(table: str, conflict: str):
        for rows, _ in batches:
            raw.execute("BEGIN")
            raw.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks}) {conflict}", rows)
            raw.execute("COMMIT")

    def rollups():
        for _, sums in batches:
            raw.execute("BEGIN")
            for table, rollup in repo._coarser_sums(sums).items():
                raw.executemany(repo._upsert_sql(table), [(*k, *v) for k, v in rollup.items()])
            raw.execute("COMMIT")

    out = {"event insert": _timed(lambda: insert("usage_event", repo._CONFLICT)),
           "bare insert": _timed(lambda: insert("floor_bare", "")),
           "rollups": _timed(rollups)}
    raw.close()
    engine.dispose()
    return out


def postgres_floor(batches) -> dict[str, tuple[float, float]]:
    name = f"abacus_floor_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        with psycopg.connect(url) as raw:
            raw.execute("CREATE TABLE floor_bare (LIKE usage_event)")  # no indexes, no constraints
            raw.commit()
            columns = ", ".join(repo.EVENT_COLUMNS)

            def copy(table: str):
                for rows, _ in batches:
                    with raw.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as cp:
                        cp.set_types(repo._EVENT_TYPES)
                        for row in rows:
                            cp.write_row(row)
                    raw.commit()

            def rollups():
                for _, sums in batches:
                    with raw.cursor() as cur:
                        cur.execute(repo._NEW_DDL)
                        with cur.copy(f"COPY usage_new ({repo._FINEST}, {', '.join(repo.SUMMED)}) FROM STDIN") as cp:
                            for key, acc in sums.items():
                                cp.write_row((*key, *acc))
                        for table in repo.ROLLUPS:
                            cur.execute(repo._fold_sql(table, "usage_new"), prepare=False)
                    raw.commit()

            return {"event insert": _timed(lambda: copy("usage_event")),
                    "bare insert": _timed(lambda: copy("floor_bare")), "rollups": _timed(rollups)}
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sync_events(n: int, days: int) -> tuple[float, float, list]:
    """Cursor pages of 1,000 events shaped as bench_sync serves them (300 users over `days` days):
    seconds per event to parse them (orjson alone) and to parse and convert them
    (`parse_events_page` + `EventConverter`), no HTTP and no database; and the records."""
    import orjson

    from bot.cli.common import ingest_gc
    from core.sources.cursor_events import EventConverter, parse_events_page
    from tests.fakes.vendors import GeneratedEvents

    events = GeneratedEvents(n, 1_780_000_000_000, step_ms=max(1, days * 86_400_000 // n))
    pages = [f'{{"usageEvents": [{", ".join(events.event_json(i) for i in range(s, min(n, s + 1000)))}], '
             f'"totalUsageEventsCount": {n}}}'.encode() for s in range(0, n, 1000)]
    converter = EventConverter("floor")
    records = []
    with ingest_gc():
        t = time.perf_counter()
        for body in pages:
            orjson.loads(body)
        parse = time.perf_counter() - t
        t = time.perf_counter()
        for body in pages:
            records += converter.convert(parse_events_page(body)["usageEvents"])
        convert = time.perf_counter() - t
    return parse / n, convert / n, records


def fetch_floor(n: int, days: int) -> tuple[float, float]:
    """Seconds per event to fetch and parse the pages of `n` events from the fake Cursor API on
    loopback, as bench_sync serves them (pre-rendered, 1,000 per page, the day's windows one after
    the other), with nothing else done: (wall, the fetching process's CPU). The fetching runs in a
    child process, as bench_sync's sync does; the fake vendor runs here."""
    from bench_sync import KEY

    from tests.fakes.vendors import CursorTeam, FakeCursor, GeneratedEvents

    start_ms = 1_780_000_000_000
    events = GeneratedEvents(n, start_ms, step_ms=max(1, days * 86_400_000 // n))
    events.prerender()
    team = CursorTeam(members=[], events=events)
    with FakeCursor({KEY: team}, page_size=1000, log_requests=False) as server:
        proc = subprocess.run([sys.executable, __file__, "--fetch-child", server.url, str(start_ms),
                               str(start_ms + days * 86_400_000 - 1)], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout)
    if result["events"] != n:
        raise SystemExit(f"fetched {result['events']} events, expected {n}")
    return result["wall"] / n, result["cpu"] / n


def fetch_child(url: str, start_ms: int, end_ms: int) -> None:
    """The child of fetch_floor: page through [start_ms, end_ms] a day at a time; prints a JSON line."""
    import httpx
    import orjson
    from bench_sync import KEY

    from core.sources.http import basic_auth

    day, n = 86_400_000, 0
    wall, cpu = time.perf_counter(), time.process_time()
    with httpx.Client(base_url=url, headers={"Authorization": basic_auth(KEY)}) as client:
        for window in range(start_ms, end_ms + 1, day):
            page = 1
            while True:
                body = {"startDate": window, "endDate": min(end_ms, window + day - 1), "page": page, "pageSize": 1000}
                data = orjson.loads(client.post("/teams/filtered-usage-events", json=body).content)
                n += len(data.get("usageEvents") or [])
                if not (data.get("pagination") or {}).get("hasNextPage"):
                    break
                page += 1
    print(json.dumps({"events": n, "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}))


def store_floor(db: str, records) -> float:
    """Print the store's floor figures for these records; returns event insert + rollups, s/record."""
    n = len(records)
    batches = _batches(records, postgres=db == "postgres")
    groups = sum(len(s) for _, s in batches)
    with tempfile.TemporaryDirectory() as tmp:
        figures = sqlite_floor(batches, tmp) if db == "sqlite" else postgres_floor(batches)
    print(f"[{db}] {groups:,} day x person x model groups ({groups / n:.2f} per record)")
    for label, (wall, cpu) in figures.items():
        print(f"[{db}] {label:<13} {wall / n * 1e6:6.2f} us/record wall ({cpu / n * 1e6:.2f} us in this process)")
    return (figures["event insert"][0] + figures["rollups"][0]) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--events", type=int, default=200_000, help="Cursor events, as bench_sync serves them")
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    ap.add_argument("--fetch-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fetch_child:
        url, start_ms, end_ms = args.fetch_child
        fetch_child(url, int(start_ms), int(end_ms))
        return
    team = build_team(people=args.people, days=args.days, end=date(2026, 6, 30), seed=7, cursor_events_per_day=20)
    records = sorted(team.records(), key=lambda r: r.ts)
    parse, convert, events = sync_events(args.events, days=14)
    fetch_wall, fetch_cpu = fetch_floor(args.events, days=14)
    gc.freeze()
    dbs = [d for d in ("sqlite", "postgres") if args.only in (None, d)]
    print(f"== write path: {len(records):,} records of {args.people} people x {args.days} days (bench_store's shape)")
    for db in dbs:
        store = store_floor(db, records)
        print(f"[{db}] floor: {store * 1e6:.2f} us/record -> at most {1 / store:,.0f} records/s "
              f"(issue 2 target: 100,000)")
    print(f"\n== sync: {len(events):,} Cursor events of 300 users over 14 days (bench_sync's shape)")
    print(f"fetch and parse (httpx + orjson, fake vendor on loopback): {fetch_wall * 1e6:.2f} us/event wall, "
          f"{fetch_cpu * 1e6:.2f} us in the fetching process")
    print(f"parse {parse * 1e6:.2f} us/event (orjson alone); parse and convert {convert * 1e6:.2f} us/event (ours)")
    for db in dbs:
        store = store_floor(db, events)
        work = fetch_wall + (convert - parse) + store  # every part of a sync, each at its floor (ours for converting)
        print(f"[{db}] floor: one writer {store * 1e6:.2f} us/event -> at most {1 / store:,.0f} events/s; "
              f"fetch + convert + store {work * 1e6:.2f} us/event -> at most {1 / work:,.0f} in one thread, "
              f"{2 / work:,.0f} spread perfectly over both cores (issue 4 target: 115,000)")


if __name__ == "__main__":
    main()
