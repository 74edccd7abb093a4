"""Detection benchmark: every layer for 5,000 people × 90 days, in-process and as `abacus detect`.

    python benchmarks/bench_detect.py [--people 5000] [--days 90] [--only sqlite|postgres]

Writes one usage record per person-day (both tools for a third of them, a few planted spikes)
through the production write path, then times:
  - layers: every detection layer for the last day on the loaded person × day matrix (pure
    numpy, what the peer's 303 ms "in-process" figure measures), 20 runs, median and p95;
  - detect: the whole in-process run (`run_detection`: matrix load, layers, explanation
    queries, incident plan written), median of 5;
  - cli: `abacus detect --as-of DAY --no-alert` as a fresh process, wall clock, median of 5;
  - backtest: `--backtest` over the 90 days, in-process.
Targets (issue #9): layers ≤ 150 ms; `abacus detect` ≤ 1 s wall.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
END = date(2026, 6, 30)


def records(people: int, days: int):
    import random

    from core.usage import Feed, Source, UsageRecord, natural_key

    rng = random.Random(5)
    for p in range(people):
        email = f"dev{p:05d}@example.com"
        base = rng.uniform(3, 15)
        for d in range(days):
            day = END - timedelta(days=days - 1 - d)
            if rng.random() < 0.15:  # days without data
                continue
            usd = base * rng.uniform(0.6, 1.4) * (25 if (p % 997 == 0 and d == days - 1) else 1)
            ts = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
            source = Source.CLAUDE_CODE if p % 3 == 0 else Source.CURSOR
            yield UsageRecord(source=source, feed=Feed.CURSOR_EVENTS if source is Source.CURSOR else
                              Feed.CLAUDE_CODE_ANALYTICS, natural_key=natural_key("b", email, day.isoformat()),
                              ts=ts, person=email, raw_model="sonnet-4.5", model="sonnet-4.5", input_tokens=1000,
                              output_tokens=200, cost_nanos=int(usd * 1e9), requests=int(usd * 3))


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def fmt(xs: list[float]) -> str:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return f"median {statistics.median(xs) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms"


def bench(url: str, people: int, days: int) -> None:
    from bot.detect_service import _load, backtest, run_detection
    from core.detection.config import DetectionSettings, cycle_containing
    from core.detection.layers import DayContext, detect_day
    from storage.db import make_engine, session_scope, upgrade
    from storage.usage_repo import write_usage

    engine = make_engine(url)
    upgrade(engine)
    batch = []
    t0 = time.perf_counter()
    n = 0
    for r in records(people, days):
        batch.append(r)
        if len(batch) == 50_000:
            with session_scope(engine) as s:
                n += write_usage(batch, session=s).inserted
            batch.clear()
    if batch:
        with session_scope(engine) as s:
            n += write_usage(batch, session=s).inserted
    print(f"  seeded {n:,} person-days in {time.perf_counter() - t0:.1f} s")
    settings = DetectionSettings()
    with session_scope(engine) as s:
        t0 = time.perf_counter()
        matrix = _load(s, END, END, 1)
        load_s = time.perf_counter() - t0
    ctx = DayContext.build(matrix, END, cycle_containing(END, 1), None)
    found = detect_day(matrix, ctx, settings)
    print(f"  matrix {matrix.cost.shape[0]:,} × {matrix.cost.shape[1]} days loaded in {load_s * 1000:.0f} ms; "
          f"{len(found)} findings on {END}")
    print(f"  layers   (pure, in-process): {fmt(timed(lambda: detect_day(matrix, ctx, settings), 20))}")
    now = datetime(END.year, END.month, END.day, tzinfo=UTC) + timedelta(days=1)
    print(f"  detect   (in-process, load + layers + explain + write): "
          f"{fmt(timed(lambda: run_detection(engine, as_of=END, alert=False, now=now), 5))}")
    env = {**os.environ, "DATABASE_URL": url}
    cli = timed(lambda: subprocess.run([sys.executable, "-m", "bot", "detect", "--as-of", END.isoformat(),
                                        "--no-alert"], env=env, capture_output=True, check=True), 5)
    print(f"  abacus detect (fresh process, wall): {fmt(cli)}")
    t0 = time.perf_counter()
    bt = backtest(engine, END - timedelta(days=days - 1), END, now=now)
    print(f"  backtest {days} days (in-process): {time.perf_counter() - t0:.2f} s; {bt.incidents} incidents, "
          f"{bt.alerts} alerts")
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--people", type=int, default=5000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    args = ap.parse_args()
    print(f"detection benchmark: {args.people:,} people × {args.days} days (cpu count {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f})")
    if args.only != "postgres":
        with tempfile.TemporaryDirectory() as tmp:
            print("SQLite")
            bench(f"sqlite:///{tmp}/bench.db", args.people, args.days)
    if args.only != "sqlite":
        import psycopg

        name = f"abacus_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        try:
            print("Postgres")
            bench(PG_ADMIN.rsplit("/", 1)[0] + "/" + name, args.people, args.days)
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
