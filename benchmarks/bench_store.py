"""Store benchmark: bulk write rate and report latency on SQLite and Postgres.

    python benchmarks/bench_store.py [--people 1000] [--days 180] [--events-per-day 20] [--only sqlite|postgres]

Generates the synthetic team (1,000 people × 180 days ≈ 2M Cursor events plus Claude Code
daily rows), writes it through the production write path (storage.usage_repo.write_usage)
in batches, then times `report --by user` and `--by day` over the last 90 days (the same
query the CLI runs), 20 runs each, and prints median and p95.
Targets: ≥ 100k records/s written; each report ≤ 150 ms.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.periods import DateRange  # noqa: E402
from core.report import Dimension  # noqa: E402
from core.synthetic import build_team  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
END = date(2026, 6, 30)


def _records(people: int, days: int, per_day: float):
    team = build_team(people=people, days=days, end=END, seed=7, cursor_events_per_day=per_day)
    records = list(team.records())
    records.sort(key=lambda r: r.ts)  # vendors deliver in time order; so does a sync
    # the 2.4M input records are benchmark input, not part of the write path: keep the cyclic
    # GC from re-scanning them on every collection (a streaming sync never holds them all)
    gc.freeze()
    return team, records


def bench(url: str, records, team, batch: int) -> dict:
    from bot.cli.common import ingest_gc
    from bot.demo_service import seed_people
    from storage.db import make_engine, session_scope, upgrade
    from storage.report_repo import usage_report
    from storage.usage_repo import write_usage

    engine = make_engine(url)
    upgrade(engine)
    seed_people(engine, team)
    t0 = time.perf_counter()
    inserted = 0
    with ingest_gc():  # the collector settings every ingest runs with (CLI sync/demo; the bot's own)
        for i in range(0, len(records), batch):
            with session_scope(engine) as session:
                inserted += write_usage(records[i:i + batch], session=session, batch_size=batch).inserted
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with session_scope(engine) as session:
        again = write_usage(records[:batch], session=session, batch_size=batch)
    rewrite_s = time.perf_counter() - t0
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    period = DateRange(END - timedelta(days=89), END)
    timings = {}
    for by in (Dimension.USER, Dimension.DAY, Dimension.MODEL):
        runs = []
        for _ in range(20):
            t = time.perf_counter()
            with session_scope(engine) as session:
                report = usage_report(session=session, period=period, by=by)
            runs.append((time.perf_counter() - t) * 1000)
        timings[by.value] = (statistics.median(runs), sorted(runs)[int(len(runs) * 0.95) - 1], len(report.rows))
    engine.dispose()
    return {"records": len(records), "inserted": inserted, "write_s": write_s,
            "rate": len(records) / write_s, "rewrite_dupes": again.duplicates, "rewrite_s": rewrite_s,
            "reports": timings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=1000)
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--events-per-day", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    args = ap.parse_args()
    t = time.perf_counter()
    team, records = _records(args.people, args.days, args.events_per_day)
    cursor = sum(1 for r in records if r.source.value == "cursor")
    print(f"generated {len(records):,} records ({cursor:,} Cursor events, {len(records) - cursor:,} Claude Code "
          f"daily rows) for {args.people} people x {args.days} days in {time.perf_counter() - t:.1f}s")
    targets = []
    if args.only != "postgres":
        tmp = tempfile.mkdtemp()
        targets.append(("sqlite", f"sqlite:///{tmp}/bench.db", None))
    if args.only != "sqlite":
        import psycopg

        name = f"abacus_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        targets.append(("postgres", PG_ADMIN.rsplit("/", 1)[0] + "/" + name, name))
    for label, url, pg_name in targets:
        try:
            r = bench(url, records, team, args.batch)
        finally:
            if pg_name:
                import psycopg

                with psycopg.connect(PG_ADMIN, autocommit=True) as c:
                    c.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        print(f"\n[{label}] wrote {r['inserted']:,} records in {r['write_s']:.1f}s = {r['rate']:,.0f} records/s "
              f"(target >= 100,000)")
        print(f"[{label}] re-writing {args.batch:,} known records: {r['rewrite_dupes']:,} duplicates, "
              f"{r['rewrite_s'] * 1000:.0f} ms")
        for by, (med, p95, rows) in r["reports"].items():
            print(f"[{label}] report --by {by:<5} over 90 days: median {med:.1f} ms, p95 {p95:.1f} ms "
                  f"({rows} rows; target <= 150 ms)")


if __name__ == "__main__":
    main()
