"""Import benchmark: a large Cursor usage export through `abacus import`'s service, SQLite and Postgres.

    python benchmarks/bench_import.py [--rows 1000000] [--people 400] [--only sqlite|postgres] [--keep FILE]

Writes a Cursor team export (v2 with User, every cell quoted as the dashboard writes it) of `--rows`
rows over 30 days, then, in a fresh child process per database, imports it through
bot.import_service.ImportService (what `abacus import` and a Slack share run) into an empty
database. Prints the end-to-end rows/s, the rows/s of the store's write path alone (the time spent
inside storage.usage_repo.write_usage during that same import) and the child's peak RSS (VmHWM).
Targets (issue 11): peak RSS ≤ 250 MB at 1M rows; the import adds little on top of the store.
A second import of the same file is timed too (everything already present).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PG_ADMIN = os.environ.get("ABACUS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
HEADER = ["Date", "User", "Kind", "Model", "Max Mode", "Input (w/ Cache Write)", "Input (w/o Cache Write)",
          "Cache Read", "Output Tokens", "Total Tokens", "Cost"]
MODELS = ["auto", "claude-4.5-sonnet", "claude-4.5-opus-high-thinking", "gpt-5", "gpt-5-codex", "composer-1"]
KINDS = ["Included", "On-Demand", "Usage-based"]


def write_export(path: Path, rows: int, people: int) -> None:
    rng = random.Random(11)
    start = datetime(2026, 5, 1, tzinfo=UTC)
    step_ms = 30 * 86_400_000 // rows
    emails = [f"dev{i:04d}@example.com" for i in range(people)]
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, quoting=csv.QUOTE_ALL)
        out.writerow(HEADER)
        for i in range(rows):  # newest first, as the dashboard exports
            ts = start + timedelta(milliseconds=(rows - i) * step_ms + rng.randrange(step_ms or 1))
            w, wo, cr, o = rng.randrange(0, 60_000), rng.randrange(0, 20_000), rng.randrange(0, 900_000), \
                rng.randrange(0, 30_000)
            out.writerow([ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z", rng.choice(emails),
                          rng.choice(KINDS), rng.choice(MODELS), rng.choice(("Yes", "No")), w, wo, cr, o,
                          w + wo + cr + o, f"{rng.randrange(0, 500) / 100:.2f}"])


def child(args: argparse.Namespace) -> None:
    """Runs in the child process: one import (timed, with the store's share), then the same file again."""
    import resource

    import bot.import_service as service_module
    from bot.import_service import ImportRequest, ImportService
    from bot.wiring import open_context

    store_seconds = [0.0]
    write_usage = service_module.write_usage

    def timed_write_usage(*a, **kw):
        t = time.perf_counter()
        try:
            return write_usage(*a, **kw)
        finally:
            store_seconds[0] += time.perf_counter() - t

    service_module.write_usage = timed_write_usage
    ctx = open_context()
    service = ImportService(ctx.engine, email_domain=None)
    path = Path(args.file)
    request = ImportRequest(filename=path.name, open=lambda: open(path, "rb"))
    t0 = time.perf_counter()
    outcome = service.run(request)
    seconds = time.perf_counter() - t0
    store = store_seconds[0]
    t0 = time.perf_counter()
    again = service.run(request)
    again_seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "store_seconds": store, "rows": outcome.rows_read,
                      "inserted": outcome.inserted, "again_seconds": again_seconds, "again_inserted": again.inserted,
                      "again_present": again.duplicates, "max_rss_mb": _peak_rss_mb(resource)}))


def _peak_rss_mb(resource) -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(url: str, file: Path) -> dict:
    env = {**os.environ, "DATABASE_URL": url}
    proc = subprocess.run([sys.executable, __file__, "--child", "--file", str(file)], env=env, capture_output=True,
                          text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--people", type=int, default=400)
    p.add_argument("--only", choices=["sqlite", "postgres"])
    p.add_argument("--keep", help="write the export here and keep it")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--file", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(args.keep) if args.keep else Path(tmp) / "cursor-export.csv"
        t0 = time.perf_counter()
        write_export(file, args.rows, args.people)
        print(f"export: {args.rows:,} rows, {file.stat().st_size / 1024 / 1024:.0f} MB, written in "
              f"{time.perf_counter() - t0:.1f}s")
        print(f"{'db':>9} {'rows':>9} {'seconds':>8} {'rows/s':>8} {'store s':>8} {'store rows/s':>12} "
              f"{'import overhead':>15} {'peak RSS':>9} {'again s':>8}")
        for db in ("sqlite", "postgres"):
            if args.only and db != args.only:
                continue
            if db == "sqlite":
                url, cleanup = f"sqlite:///{tmp}/bench-{uuid.uuid4().hex[:6]}.db", None
            else:
                import psycopg

                name = f"abacus_bench_{uuid.uuid4().hex[:8]}"
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                url, cleanup = PG_ADMIN.rsplit("/", 1)[0] + "/" + name, name
            try:
                r = run_child(url, file)
            finally:
                if cleanup:
                    import psycopg

                    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{cleanup}" WITH (FORCE)')
            assert r["inserted"] == r["rows"] == args.rows and r["again_inserted"] == 0, r
            rest = r["seconds"] - r["store_seconds"]
            print(f"{db:>9} {r['rows']:>9,} {r['seconds']:>8.1f} {r['rows'] / r['seconds']:>8,.0f} "
                  f"{r['store_seconds']:>8.1f} {r['rows'] / r['store_seconds']:>12,.0f} "
                  f"{rest:>6.1f}s ({rest / r['seconds']:>4.0%}) {r['max_rss_mb']:>6.0f} MB {r['again_seconds']:>8.1f}")


if __name__ == "__main__":
    main()
