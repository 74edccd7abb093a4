"""Sync benchmark: Cursor usage events through the real sync path into SQLite and Postgres.

    python benchmarks/bench_sync.py [--events 200000 1000000] [--days 14] [--only sqlite|postgres]

A fake Cursor Admin API (tests/fakes/vendors.py) on 127.0.0.1 serves generated events page by page;
their JSON is rendered before the timed runs (the fake shares the machine's two cores with the
sync and the database, and rendering is the vendor's work, not ours). For each size and database,
`abacus sync --source cursor` runs in a child process with the rate limiter off: the child times
the sync itself (`bot.sync_service.run_sync`, from the first request to the last commit; start-up
and migrations excluded) and reports its own peak RSS (VmHWM), so the fake server's memory is not
counted. The stored events are then counted. Targets (issue 4): ≥ 115k events/s, peak RSS ≤ 200 MB
at 1M events.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PG_ADMIN = os.environ.get("ABACUS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
KEY = "key_" + "b3nch" * 12


def child(args: argparse.Namespace) -> None:
    """Runs in the child process: one sync, timed; prints a JSON line."""
    import resource

    from bot.cli.common import ingest_gc
    from bot.sync_service import SyncTuning, run_sync
    from bot.wiring import open_context
    from core.periods import DateRange

    ctx = open_context()
    window = DateRange(date.fromisoformat(args.start), date.fromisoformat(args.end))
    tuning = SyncTuning(rate_limit=False)
    t0 = time.perf_counter()
    with ingest_gc():  # as `abacus sync` runs it
        summary = run_sync(ctx, sources="cursor", window=window, trigger="benchmark", tuning=tuning)
    seconds = time.perf_counter() - t0
    r = summary.results[0]
    print(json.dumps({"seconds": seconds, "read": r.usage.read, "inserted": r.usage.inserted, "error": r.error,
                      "requests": r.requests, "max_rss_mb": _peak_rss_mb(resource)}))


def _peak_rss_mb(resource) -> float:
    """This process's peak RSS. Linux: VmHWM of its own memory map. (`ru_maxrss` would not do: on
    Linux it keeps the high-water mark of the image before exec, i.e. of the parent that forked
    us, which holds the fake vendor's pre-rendered events.)"""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _count(url: str) -> int:
    from sqlalchemy import create_engine, text

    from storage.db import normalise_url

    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one())
    finally:
        engine.dispose()


def run_one(n: int, days: int, db: str, server_url: str, start: date) -> dict:
    from tests.conftest import create_pg_database, drop_pg_database

    tmp = tempfile.mkdtemp(prefix="abacus-bench-")
    url = f"sqlite:///{tmp}/bench.db" if db == "sqlite" else create_pg_database(PG_ADMIN)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "CURSOR", "ABACUS", "DATABASE"))}
        env.update({"DATABASE_URL": url, "CURSOR_ADMIN_KEY": KEY, "CURSOR_API_URL": server_url,
                    "ABACUS_SYNC_RATE_LIMIT": "off", "PYTHONPATH": str(REPO)})
        end = start + timedelta(days=days - 1)
        proc = subprocess.run([sys.executable, __file__, "--child", "--start", start.isoformat(), "--end",
                               end.isoformat()], env=env, cwd=tmp, capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"sync failed ({db}, {n}): {proc.stderr.strip()[-500:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result.update(stored=_count(url), events=n, db=db)
        return result
    finally:
        if db == "postgres":
            drop_pg_database(url)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--days", type=int, default=14, help="days the events are spread over (default 14)")
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--start", help=argparse.SUPPRESS)
    ap.add_argument("--end", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    from tests.fakes.vendors import CursorTeam, FakeCursor, GeneratedEvents

    start = datetime.now(UTC).date() - timedelta(days=args.days + 1)
    start_ms = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp() * 1000)
    dbs = [args.only] if args.only else ["sqlite", "postgres"]
    print(f"{'events':>9} {'db':>9} {'seconds':>8} {'events/s':>9} {'peak RSS':>9} {'requests':>8}  stored")
    for n in args.events:
        step = max(1, (args.days * 86_400_000) // n)
        events = GeneratedEvents(n, start_ms, step_ms=step)
        events.prerender()  # the fake vendor then only joins strings: the timing is the sync's
        team = CursorTeam(members=[{"id": f"u{i}", "email": f"dev{i}@example.com"} for i in range(300)],
                          events=events)
        with FakeCursor({KEY: team}, page_size=1000, log_requests=False) as server:
            for db in dbs:
                r = run_one(n, args.days, db, server.url, start)
                ok = "ok" if r["stored"] == n and r["inserted"] == n and not r["error"] else f"MISMATCH {r}"
                print(f"{n:>9} {db:>9} {r['seconds']:>8.2f} {n / r['seconds']:>9.0f} {r['max_rss_mb']:>6.0f} MB "
                      f"{r['requests']:>8}  {r['stored']} {ok}", flush=True)


if __name__ == "__main__":
    main()
