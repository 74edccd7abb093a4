"""Sync benchmark: a whole `abacus sync --source cursor` process against a fake Cursor Admin API.

    python benchmarks/bench_sync.py [--events 200000 1000000] [--people 1000] [--days 7] [--models 8]
                                    [--repeat 3] [--only sqlite|postgres] [--no-incremental]

The shape of issue 13: a team of `--people` members (1,000), usage events over `--days` days (7)
with unique millisecond timestamps, every person using each of `--models` models (8), served in
pages of 500 events; besides the events, the member list, daily usage for every person and day,
the cycle's spend per member and billing groups (20 groups of 50). The fake vendor runs in a
process of its own and renders every event's JSON before the timed runs (serving a page is then a
string join: the timing is the sync's, not the fake's).

Each run is the real command line in a fresh process on a fresh database (SQLite file, or a new
Postgres database), from interpreter start to exit, migrations included: wall time, CPU time of the
process and its events worker (user + system, from `wait4`; "worker": the worker's share, sampled),
and memory: the largest peak RSS of
one of its processes (`ru_maxrss`; this parent stays small, so the figure is the sync's), and the
peaks of the RSS and PSS summed over the process and its worker, sampled every 20 ms (RSS counts
the pages the forked worker shares with its parent twice, PSS splits them). After each first
sync, an hourly incremental run (`abacus sync --source cursor`, no range, nothing new at the
vendor: the 6-hour overlap of events and two days of daily usage are read again) is timed the same
way. Databases alternate within
each repetition; the stored events and their total cost are counted after every run. Medians are
printed at the end.

With `--peer /path/to/cursor-usage-tracker` (a built checkout, see benchmarks/README.md), each
repetition also runs the peer's whole collector (`tsx src/lib/cli/collect.ts`, what its `npm run
collect` runs) against the same fake and the same data on a fresh SQLite file, alternating with
ours, timed the same way, then its second run (its own incremental: from its newest stored
event); its fetch() calls to https://api.cursor.com are sent to the fake by peer_redirect.mjs,
preloaded through NODE_OPTIONS (the checkout runs unmodified). Its stored rows and their total
cost are printed next to ours and the billed total (sum of `chargedCents`), and at the end the
ratios of the medians (ours / peer).

The machine is shared: report CPU time next to wall time, and the load (`uptime`) you ran under.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("ABACUS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
KEY = "key_" + "b3nch" * 12
PEER_KEY = "key_" + "p33r0" * 12  # the same team, Analytics API on (empty): the peer fails without it
MODELS = ("claude-4.5-sonnet", "gpt-5", "claude-4-sonnet-thinking", "auto", "composer-1", "claude-4.5-opus",
          "gpt-5-codex", "gemini-2.5-pro")
PAGE = 500
PACKAGES = ("bot", "core", "storage", "charts")


def _day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


# --- the fake vendor, in its own process ---------------------------------------------------------------

def serve(args: argparse.Namespace) -> None:
    """Build the team, start the fake Cursor API, print its URL, serve until stdin closes."""
    sys.path.insert(0, str(REPO))
    from dataclasses import replace

    from tests.fakes.vendors import CursorTeam, FakeCursor, GeneratedEvents

    start = date.fromisoformat(args.start)
    start_ms = _day_ms(start)
    people = args.people
    emails = [f"dev{i}@example.com" for i in range(people)]
    events = GeneratedEvents(args.n, start_ms, step_ms=max(1, args.days * 86_400_000 // args.n), users=people,
                             models=MODELS[:args.models])
    events.prerender()
    daily = [{"date": _day_ms(start + timedelta(days=d)), "day": (start + timedelta(days=d)).isoformat(),
              "userId": f"u{i}", "email": emails[i], "isActive": (i + d) % 5 != 0,
              "totalLinesAdded": 10 * i + d, "totalLinesDeleted": i, "acceptedLinesAdded": 5 * i,
              "acceptedLinesDeleted": d, "totalApplies": i % 60, "totalAccepts": i % 40, "totalRejects": i % 7,
              "totalTabsShown": i % 300,
              "totalTabsAccepted": i % 120, "composerRequests": i % 30, "chatRequests": i % 20,
              "agentRequests": i % 50, "subscriptionIncludedReqs": i % 25, "usageBasedReqs": i % 9,
              "mostUsedModel": MODELS[i % args.models], "tabMostUsedExtension": "py", "clientVersion": "1.7.3"}
             for d in range(args.days) for i in range(people)]
    spend = [{"userId": f"u{i}", "email": emails[i], "name": f"Dev {i}", "role": "member",
              "spendCents": 100 * (i % 97), "includedSpendCents": 2000, "overallSpendCents": 2000 + 100 * (i % 97),
              "fastPremiumRequests": i % 500, "monthlyLimitDollars": 200, "hardLimitOverrideDollars": 0}
             for i in range(people)]
    group_size = 50
    def group_member(i: int) -> dict:
        return {"userId": f"u{i}", "name": f"Dev {i}", "email": emails[i], "joinedAt": start.isoformat(),
                "leftAt": None, "spendCents": 100 * (i % 97),
                "dailySpend": [{"date": (start + timedelta(days=d)).isoformat(), "spendCents": (i * 7 + d) % 500}
                               for d in range(args.days)]}

    groups = {"groups": [{"id": f"group_{g}", "name": f"Team {g}", "type": "team",
                          "memberCount": len(range(g * group_size, min(people, (g + 1) * group_size))),
                          "spendCents": 0, "dailySpend": [],
                          "currentMembers": [group_member(i)
                                             for i in range(g * group_size, min(people, (g + 1) * group_size))]}
                         for g in range(-(-people // group_size))],
              "unassignedGroup": {"id": "group_unassigned", "name": "Unassigned", "type": "BILLING",
                                  "memberCount": 0, "spendCents": 0, "dailySpend": [], "currentMembers": []},
              "billingCycle": {"cycleStart": start.isoformat(), "cycleEnd": (start + timedelta(days=30)).isoformat()}}
    team = CursorTeam(members=[{"id": f"u{i}", "name": f"Dev {i}", "email": emails[i], "role": "member"}
                               for i in range(people)],
                      events=events, daily=daily, spend=spend, groups=groups,
                      cycle_start_ms=start_ms)
    teams = {KEY: team, PEER_KEY: replace(team, analytics={})}  # same objects, shared
    with FakeCursor(teams, page_size=PAGE, log_requests=False) as server:
        print(server.url, flush=True)
        sys.stdin.read()


# --- one timed process ---------------------------------------------------------------------------------

def _create_pg() -> str:
    import psycopg

    name = f"abacus_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def _drop_pg(url: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


_COUNT_SQL = "SELECT COUNT(*), COALESCE(SUM(cost_nanos), 0) FROM usage_event"


def _count(url: str) -> tuple[int, int]:
    """(stored events, their total cost in nano-dollars)."""
    if url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            n, nanos = conn.execute(_COUNT_SQL).fetchone()
    else:
        import psycopg

        with psycopg.connect(url) as conn:
            n, nanos = conn.execute(_COUNT_SQL).fetchone()
    return n, int(nanos)


def _peer_count(path: str) -> tuple[int, int, float]:
    """The peer's usage_events: (rows, distinct (user, timestamp), total cost in dollars; it stores cents)."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        rows, distinct, cents = conn.execute(
            "SELECT COUNT(*), (SELECT COUNT(*) FROM (SELECT DISTINCT user_email, timestamp FROM usage_events)), "
            "COALESCE(SUM(total_cents), 0) FROM usage_events").fetchone()
    return rows, distinct, cents / 100


def billed_dollars(n: int) -> tuple[float, float]:
    """(sum of chargedCents, sum of tokenUsage.totalCents) of the `n` events, in dollars: the formulas of
    tests/fakes/vendors.GeneratedEvents.event, summed in integer units of 1e-5 cent (both have 5 decimals)."""
    charged = sum(round(round(1.25 + (i % 997) / 100, 5) * 100_000) for i in range(n))
    total = sum(round(round(1 + (i % 997) / 101, 5) * 100_000) for i in range(n))
    return charged / 1e7, total / 1e7


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def _memory(pids: list[int]) -> tuple[int, int]:
    """(RSS, PSS) in kB summed over `pids`. PSS shares the pages a forked worker has in common with
    its parent between them; RSS counts them in both."""
    rss = pss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (/proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


_SAMPLE_S = 0.1  # --sample-ms


class _Sampler(threading.Thread):
    """Samples a process tree every `every_s` (`--sample-ms`, default 100 ms): the peaks of its summed
    memory, and the CPU time each of its processes had used when last seen (so the sync's own share
    and its worker's can be told apart; a process's last interval may be missed). Sampling costs
    the machine: reading smaps_rollup walks a process's page tables."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_rss, self.peak_pss, self.stop = pid, 0, 0, threading.Event()
        self.every_s = every_s
        self.cpu: dict[int, float] = {}

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            pids = _tree(self.pid)
            rss, pss = _memory(pids)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            for p in pids:
                cpu = _cpu_s(p)
                if cpu is not None:
                    self.cpu[p] = cpu


def timed(argv: list[str], env: dict, cwd: str, *, json_out: bool = True) -> dict:
    """Run one command: its wall time, CPU time (its own and its worker's, from wait4), the largest
    peak RSS of one of its processes (ru_maxrss), the sampled peaks of its processes' summed RSS and
    PSS, and its JSON summary (`json_out`; else its standard output as text)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err)
        sampler = _Sampler(proc.pid, _SAMPLE_S)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)  # reaped here, so that its rusage is ours to read
        wall = time.perf_counter() - t0
        sampler.stop.set()
        sampler.join()
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if code != 0:
            raise SystemExit(f"{' '.join(argv[3:])} exited {code}: {err.read().decode(errors='replace')[-800:]}")
        summary = json.loads(out.read()) if json_out else out.read().decode(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime
    worker_cpu = sum(c for p, c in sampler.cpu.items() if p != proc.pid)
    return {"wall": wall, "cpu": cpu, "worker_cpu": worker_cpu, "rss_mb": usage.ru_maxrss / 1024,
            "tree_rss_mb": sampler.peak_rss / 1024, "tree_pss_mb": sampler.peak_pss / 1024, "summary": summary}


def run_one(n: int, db: str, server_url: str, start: date, days: int, incremental: bool, *, repo: Path,
            worker: bool) -> list[dict]:
    tmp = tempfile.mkdtemp(prefix="abacus-bench-")
    url = f"sqlite:///{tmp}/bench.db" if db == "sqlite" else _create_pg()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "CURSOR", "ABACUS", "DATABASE"))}
        env.update({"DATABASE_URL": url, "CURSOR_ADMIN_KEY": KEY, "CURSOR_API_URL": server_url,
                    "ABACUS_SYNC_RATE_LIMIT": "off", "PYTHONPATH": str(repo)})
        if not worker:
            env["ABACUS_SYNC_WORKER"] = "off"
        base = [sys.executable, "-m", "bot", "sync", "--source", "cursor", "--quiet", "--format", "json"]
        end = start + timedelta(days=days - 1)
        first = timed([*base, "--from", start.isoformat(), "--to", end.isoformat()], env, tmp)
        first["stored"], nanos = _count(url)
        first.update(kind="first", dollars=nanos / 1e9)
        out = [first]
        if incremental:
            again = timed(base, env, tmp)
            again["stored"], nanos = _count(url)
            again.update(kind="hourly", dollars=nanos / 1e9)
            out.append(again)
        return out
    finally:
        if db == "postgres":
            _drop_pg(url)


def run_peer(server_url: str, peer: Path, incremental: bool) -> list[dict]:
    """cursor-usage-tracker's whole collector on a fresh SQLite file: its first run (from the start of the
    cycle, i.e. every event), then its own incremental run (from its newest stored event)."""
    tmp = tempfile.mkdtemp(prefix="peer-bench-")
    db = f"{tmp}/tracker.db"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CURSOR", "DATABASE", "SLACK", "RESEND", "ELEVENLABS", "NODE_OPTIONS", "ABACUS"))}
    env.update({"DATABASE_PATH": db, "CURSOR_ADMIN_API_KEY": PEER_KEY, "BENCH_CURSOR_API_URL": server_url,
                "NODE_OPTIONS": f"--import={(REPO / 'benchmarks' / 'peer_redirect.mjs').as_uri()}"})
    argv = [str(peer / "node_modules" / ".bin" / "tsx"), "src/lib/cli/collect.ts"]
    out = []
    for kind in ("first", "hourly")[:2 if incremental else 1]:
        r = timed(argv, env, str(peer), json_out=False)
        r["stored"], r["distinct"], r["dollars"] = _peer_count(db)
        fetched = [line for line in r["summary"].splitlines() if line.strip().startswith("Usage events:")]
        r.update(kind=kind, read=int(fetched[-1].split(":")[1]) if fetched else -1)
        out.append(r)
    return out


def _stats(r: dict, db: str, billed: float) -> str:
    cost = f"cost ${r['dollars']:,.2f} ({100 * (r['dollars'] / billed - 1) if billed else 0:+.1f} % of billed)"
    if db == "peer":
        return f"read {r['read']:>8} inserted {'?':>8} stored {r['stored']:>8} ({r['distinct']} distinct) {cost}"
    res = r["summary"]["results"][0]
    return f"read {res['records_read']:>8} inserted {res['inserted']:>8} stored {r['stored']:>8} {cost}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, nargs="+", default=[200_000, 1_000_000])
    ap.add_argument("--people", type=int, default=1000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--models", type=int, default=8, choices=range(1, len(MODELS) + 1))
    ap.add_argument("--repeat", type=int, default=3, help="alternating repetitions per size (default 3)")
    ap.add_argument("--only", choices=["sqlite", "postgres"])
    ap.add_argument("--no-incremental", action="store_true", help="skip the hourly incremental run")
    ap.add_argument("--no-worker", action="store_true", help="fetch the events in-process (ABACUS_SYNC_WORKER=off)")
    ap.add_argument("--repo", type=Path, default=REPO,
                    help="run the `bot` package of another checkout (e.g. an older commit) against the same fake")
    ap.add_argument("--peer", type=Path, metavar="CHECKOUT",
                    help="also run cursor-usage-tracker's collector from this built checkout (SQLite), alternating")
    ap.add_argument("--sample-ms", type=float, default=100.0,
                    help="how often the summed RSS/PSS of a run's processes is sampled (default 100 ms; reading "
                         "/proc/PID/smaps_rollup every 20 ms took ~0.3 s off a 3 s run, ours or the peer's)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--start", help=argparse.SUPPRESS)
    args = ap.parse_args()
    global _SAMPLE_S
    _SAMPLE_S = args.sample_ms / 1000
    if args.serve:
        serve(args)
        return
    start = datetime.now(UTC).date() - timedelta(days=args.days)
    dbs = [args.only] if args.only else ["sqlite", "postgres"]
    peer = args.peer.resolve() if args.peer else None
    if peer is not None and not (peer / "node_modules" / ".bin" / "tsx").exists():
        raise SystemExit(f"{peer}: no node_modules/.bin/tsx; build the peer first (benchmarks/README.md)")
    runs = [*dbs, "peer"] if peer is not None else dbs
    # the code's bytecode compiled once, as an installed Abacus has it (pip compiles at install time; the
    # Dockerfile installs with pip): with PYTHONDONTWRITEBYTECODE set, as on a CI or dev shell, every run
    # would otherwise compile ~45 modules from source (~0.1 s)
    subprocess.run([sys.executable, "-m", "compileall", "-q", *PACKAGES], cwd=args.repo, check=True,
                   stdout=subprocess.DEVNULL,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; code: {args.repo.resolve()}"
          f"{'; events worker off' if args.no_worker else ''}{f'; peer: {peer}' if peer else ''}", flush=True)
    print(f"{'events':>9} {'db':>9} {'run':>7} {'wall s':>7} {'cpu s':>7} {'worker':>7} {'max RSS':>8} "
          f"{'sum RSS':>8} {'sum PSS':>8}  counts", flush=True)
    results: list[tuple[int, str, dict]] = []
    for n in args.events:
        server = subprocess.Popen([sys.executable, __file__, "--serve", "--n", str(n), "--start", start.isoformat(),
                                   "--days", str(args.days), "--people", str(args.people),
                                   "--models", str(args.models)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            url = server.stdout.readline().strip()
            if not url:
                raise SystemExit("the fake Cursor API did not start")
            billed, total_cents = billed_dollars(n)
            print(f"{n:>9} events: billed (chargedCents) ${billed:,.2f}; tokenUsage.totalCents ${total_cents:,.2f}",
                  flush=True)
            for rep in range(args.repeat):
                for db in (runs if rep % 2 == 0 else runs[::-1]):
                    rs = (run_peer(url, peer, not args.no_incremental) if db == "peer" else
                          run_one(n, db, url, start, args.days, not args.no_incremental, repo=args.repo.resolve(),
                                  worker=not args.no_worker))
                    for r in rs:
                        expected = n
                        ok = r["stored"] == expected and round(r["dollars"], 2) == round(billed, 2) and (
                            db == "peer" or r["kind"] != "first" or r["summary"]["results"][0]["inserted"] == n)
                        results.append((n, db, r))
                        print(f"{n:>9} {db:>9} {r['kind']:>7} {r['wall']:>7.2f} {r['cpu']:>7.2f} "
                              f"{r['worker_cpu']:>7.2f} {r['rss_mb']:>5.0f} MB {r['tree_rss_mb']:>5.0f} MB "
                              f"{r['tree_pss_mb']:>5.0f} MB  "
                              f"{_stats(r, db, billed)}{'' if ok else '  MISMATCH'}", flush=True)
        finally:
            server.stdin.close()
            server.wait()
    print("\nmedians", flush=True)
    for n in args.events:
        for db in runs:
            for kind in ("first", "hourly"):
                rs = [r for (m, d, r) in results if m == n and d == db and r["kind"] == kind]
                if rs:
                    print(f"{n:>9} {db:>9} {kind:>7} {statistics.median(r['wall'] for r in rs):>7.2f} "
                          f"{statistics.median(r['cpu'] for r in rs):>7.2f} "
                          f"{max(r['rss_mb'] for r in rs):>5.0f} MB {max(r['tree_rss_mb'] for r in rs):>5.0f} MB "
                          f"{max(r['tree_pss_mb'] for r in rs):>5.0f} MB  (peaks: max)  {len(rs)} run(s)", flush=True)
    if peer is not None:
        print("\nratios of medians, ours / peer (below 1: we are faster / smaller)", flush=True)
        for n in args.events:
            for kind in ("first", "hourly"):
                theirs = [r for (m, d, r) in results if m == n and d == "peer" and r["kind"] == kind]
                for db in dbs:
                    ours = [r for (m, d, r) in results if m == n and d == db and r["kind"] == kind]
                    if ours and theirs:
                        def ratio(key: str, pick=statistics.median, ours=ours, theirs=theirs) -> float:
                            return pick(r[key] for r in ours) / pick(r[key] for r in theirs)
                        print(f"{n:>9} {db:>9} {kind:>7} wall {ratio('wall'):.2f}x  cpu {ratio('cpu'):.2f}x  "
                              f"max RSS {ratio('rss_mb', max):.2f}x  sum RSS {ratio('tree_rss_mb', max):.2f}x",
                              flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
