"""Slack bot benchmark: the real `abacus run` process against the fake Slack.

    python benchmarks/bench_slack.py [--people 1000] [--days 180] [--runs 40] [--only sqlite|postgres]

Seeds 1,000 people × 180 days through the production write path (`write_usage`; one record per
person × active day × model, which gives the daily rollup the same size as millions of raw
events would), starts `python -m bot run` against tests/fakes/slack.py, then sends
`/abacus top 10 90d` and `/abacus dashboard 90d` `--runs` times each (sequentially, as Socket Mode
envelopes) and measures:

  ack latency        envelope sent → ack frame received (Slack's deadline: 3 s; target ≤ 100 ms p99)
  upload complete    envelope sent → `files.completeUploadExternal` of the chart (target ≤ 500 ms p95)
  idle RSS           VmRSS of the bot process after start-up, and again idle after the runs (≤ 200 MB)

on SQLite and on Postgres (127.0.0.1:5432, a throwaway database). Prints a table.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.usage import Feed, Source, UsageRecord, natural_key  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN = "U0BENCH"
CURSOR_MODELS = ("claude-4.5-sonnet", "auto", "gpt-5", "opus-4.5", "composer-1", "gemini-2.5-pro")
CLAUDE_MODELS = ("sonnet-4.5", "opus-4.5", "haiku-4.5")
GROUPS = ("Platform", "Payments", "Mobile", "Data", "Infrastructure", "Frontend", "Growth", "Security")


def team_records(people: int, days: int, end: date, seed: int = 7):
    """One record per person × active day × model: ~0.65 active days, 2–3 models a day."""
    rng = random.Random(seed)
    start = end - timedelta(days=days - 1)
    n = 0
    for p in range(people):
        email = f"person{p:04d}@example.com"
        intensity = rng.lognormvariate(0, 0.8)
        uses_claude, uses_cursor = rng.random() < 0.6, rng.random() < 0.9
        for d in range(days):
            day = start + timedelta(days=d)
            if rng.random() > (0.86 if day.weekday() < 5 else 0.12):
                continue
            ts = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            choices = [(Source.CURSOR, m) for m in rng.sample(CURSOR_MODELS, 2)] if uses_cursor else []
            if uses_claude:
                choices.append((Source.CLAUDE_CODE, rng.choice(CLAUDE_MODELS)))
            for source, model in choices:
                n += 1
                tokens = int(rng.lognormvariate(11, 1) * intensity)
                yield UsageRecord(
                    source=source,
                    feed=Feed.CURSOR_EVENTS if source is Source.CURSOR else Feed.CLAUDE_CODE_ANALYTICS,
                    natural_key=natural_key("bench", n), ts=ts, person=email, raw_model=model, model=model,
                    input_tokens=tokens // 10, cache_read_tokens=tokens // 2, output_tokens=tokens // 20,
                    cost_nanos=int(tokens * 3_000 * (5 if "opus" in model else 1)), requests=3)


def seed(url: str, people: int, days: int, end: date) -> int:
    from storage.db import make_engine, session_scope, upgrade
    from storage.people_repo import upsert_person
    from storage.tables import BillingGroup
    from storage.usage_repo import write_usage

    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as s:
        groups = []
        for name in GROUPS:
            g = BillingGroup(name=name)
            s.add(g)
            s.flush()
            groups.append(g.id)
        for p in range(people):
            upsert_person(session=s, email=f"person{p:04d}@example.com", name=f"Person {p:04d}",
                          group_id=groups[p % len(groups)], has_cursor_seat=True, has_claude_seat=p % 2 == 0)
        upsert_person(session=s, email="bench.admin@example.com", slack_user_id=ADMIN, role="admin")
    total, batch = 0, []
    for rec in team_records(people, days, end):
        batch.append(rec)
        if len(batch) >= 50_000:
            with session_scope(engine) as s:
                total += write_usage(batch, session=s).inserted
            batch.clear()
    if batch:
        with session_scope(engine) as s:
            total += write_usage(batch, session=s).inserted
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    engine.dispose()
    return total


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def measure(url: str, label: str, runs: int, log_dir: Path) -> dict:
    from tests.fakes.slack import FakeSlack
    from tests.fakes.slack_pytest import launch_bot_process

    out: dict = {"db": label}
    with FakeSlack() as fake:
        fake.register_user(ADMIN, "bench.admin@example.com")
        bot = launch_bot_process(fake, {"DATABASE_URL": url, "ABACUS_ADMINS": ADMIN, "ABACUS_LOG_LEVEL": "WARNING"},
                                 log_dir=log_dir)
        try:
            time.sleep(2.0)
            out["rss_start_mb"] = rss_mb(bot.pid)
            for text in ("top 10 90d", "dashboard 90d"):  # warm-up: imports, fonts, caches
                _one(fake, text)
            for text in ("top 10 90d", "dashboard 90d"):
                acks, uploads = [], []
                for _ in range(runs):
                    ack, upload = _one(fake, text)
                    acks.append(ack)
                    uploads.append(upload)
                key = text.split()[0]
                out[f"{key}_ack_p50_ms"] = statistics.median(acks) * 1000
                out[f"{key}_ack_p99_ms"] = pct(acks, 0.99) * 1000
                out[f"{key}_upload_p50_ms"] = statistics.median(uploads) * 1000
                out[f"{key}_upload_p95_ms"] = pct(uploads, 0.95) * 1000
            time.sleep(2.0)
            out["rss_idle_after_mb"] = rss_mb(bot.pid)
            out["violations"] = len(fake.violations)
        finally:
            out["exit_code"] = bot.stop()
    return out


def _one(fake, text: str) -> tuple[float, float]:
    mark = fake.mark()
    payload = fake.slash_command(text, user_id=ADMIN)
    sent = time.time()
    fake.send(payload)
    ack_latency = fake.injections[-1].latency
    done = fake.wait_call("files.completeUploadExternal", since=mark, timeout=30)
    return ack_latency, done.time - sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    end = datetime.now(UTC).date()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-slack-") as tmp:
        folder = Path(tmp)
        if args.only in (None, "sqlite"):
            url = f"sqlite:///{folder / 'bench.db'}"
            t0 = time.perf_counter()
            n = seed(url, args.people, args.days, end)
            print(f"sqlite: seeded {n:,} records in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
            results.append(measure(url, "sqlite", args.runs, folder))
        if args.only in (None, "postgres"):
            import psycopg

            name = f"abacus_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
            try:
                t0 = time.perf_counter()
                n = seed(url, args.people, args.days, end)
                print(f"postgres: seeded {n:,} records in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
                results.append(measure(url, "postgres", args.runs, folder))
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"\n/abacus against the fake Slack: {args.people} people × {args.days} days, {args.runs} runs each")
    header = ("db", "command", "ack p50", "ack p99", "upload p50", "upload p95")
    print(f"{header[0]:<9}{header[1]:<16}{header[2]:>9}{header[3]:>9}{header[4]:>12}{header[5]:>12}")
    for r in results:
        for key, text in (("top", "top 10 90d"), ("dashboard", "dashboard 90d")):
            print(f"{r['db']:<9}{text:<16}{r[f'{key}_ack_p50_ms']:>7.1f}ms{r[f'{key}_ack_p99_ms']:>7.1f}ms"
                  f"{r[f'{key}_upload_p50_ms']:>10.0f}ms{r[f'{key}_upload_p95_ms']:>10.0f}ms")
    for r in results:
        print(f"{r['db']}: idle RSS {r['rss_start_mb']:.0f} MB after start-up, {r['rss_idle_after_mb']:.0f} MB idle "
              f"after the runs; strict Block Kit violations: {r['violations']}; exit code {r['exit_code']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
