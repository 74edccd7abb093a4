"""CLI start-up: whole-process wall and CPU time of `abacus --help` and `abacus report`.

    python benchmarks/bench_startup.py [--repeat 10] [--postgres URL] [--repo PATH ...]

Fills a demo database (`abacus demo`, SQLite in a temporary folder; with --postgres, also the
given Postgres database, which it overwrites) and runs each command --repeat times as
`python -m bot …` with PYTHONPATH set to each --repo (default: this checkout; give an older
checkout too to compare). Prints the median and minimum of wall and CPU (user + system) time and
the load average before and after: other processes on a shared machine stretch the wall time,
the CPU time much less.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = (["--help"], ["report"], ["report", "--by", "model", "--format", "json"])


def run(repo: Path, args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bot", *args], env={**env, "PYTHONPATH": str(repo)}, cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{repo}: abacus {' '.join(args)} failed: {proc.stderr.strip()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--postgres", metavar="URL", help="also on this Postgres database (overwritten by the demo)")
    ap.add_argument("--repo", type=Path, action="append", help="checkout(s) to time (default: this one)")
    args = ap.parse_args()
    repos = args.repo or [REPO]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ANTHROPIC_", "CURSOR_", "ABACUS_"))}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        databases = [("SQLite", f"sqlite:///{cwd / 'demo.db'}")]
        if args.postgres:
            databases.append(("Postgres", args.postgres))
        for name, url in databases:  # the demo's data, written by this checkout
            proc = subprocess.run([sys.executable, "-m", "bot", "demo", "--out", str(cwd / "charts"), "--force"],
                                  env={**base, "DATABASE_URL": url, "PYTHONPATH": str(REPO)}, cwd=cwd,
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"demo into {name} failed: {proc.stderr.strip()}")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'checkout':<24} {'database':<9} {'command':<36} {'wall median/min':>16} {'CPU median/min':>16}")
        for name, url in databases:
            env = {**base, "DATABASE_URL": url}
            for command in COMMANDS:
                if command == ["--help"] and name != "SQLite":
                    continue  # no database involved
                samples: dict[Path, list[tuple[float, float]]] = {repo: [] for repo in repos}
                for _ in range(args.repeat):  # alternate the checkouts: a load change hits both alike
                    for repo in repos:
                        samples[repo].append(run(repo, command, env, cwd))
                for repo, got in samples.items():
                    wall = [w for w, _ in got]
                    cpu = [c for _, c in got]
                    print(f"{str(repo)[-24:]:<24} {name if command != ['--help'] else '-':<9} "
                          f"{'abacus ' + ' '.join(command):<36} "
                          f"{statistics.median(wall):>8.3f}/{min(wall):.3f} s "
                          f"{statistics.median(cpu):>8.3f}/{min(cpu):.3f} s")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
