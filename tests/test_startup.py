"""Start-up: short commands load only what they use (issue 12 point 13, issue 13 point 3).

What each command imports is checked, not how long it takes (timings are the benchmarks' job):
`abacus --help` needs neither the database nor a vendor client, and `abacus report` on an
up-to-date database needs only the database's own driver (sqlite3, or psycopg for Postgres): not
SQLAlchemy, pydantic or pydantic-settings (the settings are plain Python), the ORM, Alembic, the
table models, the scheduler, Slack, matplotlib or pandas.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import head_revision, make_engine, upgrade

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "storage.tables", "matplotlib", "slack_bolt", "slack_sdk", "apscheduler",
         "pandas", "httpx", "pydantic", "pydantic_settings", "psycopg", "charts", "core.sync", "core.sync_anthropic",
         "core.sync_cursor", "core.sources", "storage.db")

PROBE = """
import json, sys
heavy = json.loads(sys.stdin.read())
from bot.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help
    code = exc.code
loaded = sorted(h for h in heavy if h in sys.modules or any(m.startswith(h + ".") for m in sys.modules))
print("LOADED=" + json.dumps(loaded), file=sys.stderr)
raise SystemExit(code)
"""


def loaded_by(args: list[str], database_url: str | None, cwd: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ANTHROPIC_", "CURSOR_", "ABACUS_"))}
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], input=json.dumps(HEAVY), env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("LOADED=")]
    assert line, proc.stderr
    return proc, set(json.loads(line[-1].removeprefix("LOADED=")))


def test_help_loads_nothing_heavy(tmp_path):
    proc, loaded = loaded_by(["report", "--help"], None, tmp_path)  # argparse exits 0 after the help
    assert "--by" in proc.stdout
    assert loaded == set()
    _, loaded = loaded_by(["sync", "--help"], None, tmp_path)
    assert loaded == set()


def test_report_on_a_current_database_needs_only_the_driver(tmp_path, database_url):
    from datetime import UTC, datetime

    from core.usage import Feed, Source, UsageRecord
    from storage.db import session_scope
    from storage.usage_repo import write_usage

    engine = make_engine(database_url)
    try:
        upgrade(engine)
        with session_scope(engine) as session:
            write_usage([UsageRecord(source=Source.CURSOR, feed=Feed.CURSOR_EVENTS, natural_key="k1",
                                     ts=datetime.now(UTC), person="a@example.com", raw_model="gpt-5", model="gpt-5",
                                     input_tokens=7, cost_nanos=500_000_000, requests=1)], session=session)
    finally:
        engine.dispose()
    proc, loaded = loaded_by(["report", "--format", "json", "--days", "1"], database_url, tmp_path)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)["rows"]
    assert (row["key"], row["input_tokens"], row["cost_usd"], row["requests"]) == ("a@example.com", 7, 0.5, 1)
    # was {"sqlalchemy", "pydantic", "pydantic_settings"}: 0.41-0.44 s of start-up for a 10 ms query
    assert loaded == (set() if database_url.startswith("sqlite") else {"psycopg"})


def test_report_on_a_database_from_a_newer_abacus_goes_through_the_revision_check(tmp_path):
    """The bare-driver path reads only a schema at this code's head revision; any other revision
    is left to storage.db (which migrates an older one, and refuses a newer one in one line)."""
    import sqlite3

    path = tmp_path / "abacus.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0999'")
    proc, loaded = loaded_by(["report"], f"sqlite:///{path}", tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "schema revision 0999" in proc.stderr and "newer than this version of Abacus" in proc.stderr
    assert "alembic" in loaded


def test_head_revision_is_alembics_head(tmp_path):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from storage.db import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert head_revision() == ScriptDirectory.from_config(cfg).get_current_head()


def test_a_database_not_at_the_head_goes_through_alembic(tmp_path):
    """The fast path skips Alembic only at the head revision; any other revision is Alembic's to judge."""
    engine = make_engine(f"sqlite:///{tmp_path}/a.db")
    try:
        assert upgrade(engine) == head_revision()
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'not-a-revision'"))
        with pytest.raises(Exception, match="not-a-revision"):  # noqa: B017 - Alembic's own error: it ran
            upgrade(engine)
    finally:
        engine.dispose()


def test_default_sync_schedule_is_a_valid_cron():
    from apscheduler.triggers.cron import CronTrigger

    from bot.config import DEFAULT_SYNC_SCHEDULE, load_settings

    CronTrigger.from_crontab(DEFAULT_SYNC_SCHEDULE, timezone="UTC")
    assert load_settings().sync_schedule == DEFAULT_SYNC_SCHEDULE


def test_the_sync_command_loads_no_bot_chart_or_other_vendor_code():
    """What `abacus sync --source cursor` imports: the engine, the Cursor client, the store — not
    Slack, the scheduler, charts, pandas, telemetry (protobuf), pydantic-settings or the Anthropic
    client."""
    probe = ("import json, sys\n"
             "import bot.cli.sync, bot.sync_service, bot.wiring, core.sync, storage.sync_repo\n"
             "print(json.dumps(sorted(m for m in sys.modules)))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    modules = set(json.loads(proc.stdout))
    unwanted = ("slack_bolt", "slack_sdk", "apscheduler", "matplotlib", "pandas", "google", "opentelemetry",
                "pydantic_settings",
                "charts", "core.sources.anthropic", "core.sources.otlp", "storage.telemetry_repo")
    assert sorted(u for u in unwanted if u in modules or any(m.startswith(u + ".") for m in modules)) == []


SYNC_PROBE = ("import json, sys\n"
              "import core.sources.event_worker as ew\n"
              "at_fork, enter = [], ew.WorkerEvents.__enter__\n"
              "def spy(self):\n"
              "    at_fork.extend(sys.modules)  # what the events worker inherits\n"
              "    return enter(self)\n"
              "ew.WorkerEvents.__enter__ = spy\n"
              "from bot.cli import main\n"
              "code = main(['sync', '--source', 'cursor', '--quiet', '--format', 'json'])\n"
              "print(json.dumps({'code': code, 'modules': sorted(sys.modules), 'at_fork': sorted(at_fork)}))")


def test_a_cursor_sync_runs_without_the_orm_or_httpx_command_line(tmp_path):
    """A whole incremental Cursor sync of a database at the newest schema — members, groups, spend,
    events, daily usage, the run's record and checkpoints — writes through Core tables
    (storage.sync_tables): SQLModel, SQLAlchemy's ORM and the 25 table models (~0.2 s of every
    sync's start) stay unloaded, and so does httpx's command line (click, rich). And the events
    worker is forked before pydantic and the wire models are loaded (~0.08 s): only the members,
    spend and groups need them, in the syncing process, while the worker already fetches."""
    import time
    from datetime import UTC, datetime

    from tests.fakes.vendors import CursorTeam, FakeCursor, GeneratedEvents

    key = "key_" + "st4rt" * 12
    now_ms = int(time.time() * 1000)
    today_ms = int(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()) * 1000
    team = CursorTeam(members=[{"id": f"u{i}", "name": f"Dev {i}", "email": f"dev{i}@example.com", "role": "member"}
                               for i in range(3)],
                      events=GeneratedEvents(40, now_ms - 3_600_000, step_ms=60_000, users=3, models=("gpt-5",)),
                      daily=[{"date": today_ms, "userId": "u1", "email": "dev1@example.com", "totalLinesAdded": 4}],
                      spend=[{"userId": "u1", "email": "dev1@example.com", "spendCents": 250}],
                      groups={"groups": [{"id": "g1", "name": "Team",
                                          "currentMembers": [{"email": "dev0@example.com"}]}]})
    with FakeCursor({key: team}) as vendor:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "CURSOR", "ABACUS", "DATABASE"))}
        env.update({"PYTHONPATH": str(REPO), "DATABASE_URL": f"sqlite:///{tmp_path / 'abacus.db'}",
                    "CURSOR_ADMIN_KEY": key, "CURSOR_API_URL": vendor.url, "ABACUS_SYNC_RATE_LIMIT": "off"})
        runs = [subprocess.run([sys.executable, "-c", SYNC_PROBE], env=env, capture_output=True, text=True,
                               timeout=120, cwd=tmp_path) for _ in range(2)]  # the first one creates the schema
    for run in runs:
        assert run.returncode == 0, run.stderr
    out = json.loads(runs[1].stdout.splitlines()[-1])
    assert out["code"] == 0
    summary = json.loads("\n".join(runs[1].stdout.splitlines()[:-1]))["results"][0]
    assert summary["error"] is None and summary["streams"]["usage_events"]["present"] == 40
    assert summary["streams"]["daily_usage"]["read"] == 1
    loaded = set(out["modules"])
    unwanted = ("sqlmodel", "sqlalchemy.orm", "storage.tables", "storage.people_repo", "httpx._main", "click", "rich")
    assert sorted(u for u in unwanted if u in loaded or any(m.startswith(u + ".") for m in loaded)) == []
    at_fork = set(out["at_fork"])
    assert "core.sync_cursor" in at_fork and "pydantic" in loaded  # the probe saw the fork; members used it
    models = ("pydantic", "pydantic_core", "core.sources.wire", "core.sources.cursor_wire",
              "core.sources.cursor_analytics_wire")
    assert sorted(m for m in at_fork if m in models or m.split(".")[0] in models) == []
    with make_engine(f"sqlite:///{tmp_path / 'abacus.db'}").connect() as conn:
        runs_ok = conn.execute(text("SELECT status, records_read, duplicates, finished_at IS NOT NULL FROM sync_run "
                                    "ORDER BY id")).all()
        states = conn.execute(text("SELECT stream, updated_at IS NOT NULL FROM sync_state ORDER BY stream")).all()
        people = conn.execute(text("SELECT email, role, has_cursor_seat, group_id IS NOT NULL FROM person "
                                   "ORDER BY email")).all()
    assert [tuple(r) for r in runs_ok] == [("ok", 40, 0, 1), ("ok", 40, 40, 1)]  # usage records read
    assert [tuple(r) for r in states] == [("daily_usage", 1), ("usage_events", 1)]
    assert [tuple(r) for r in people] == [("dev0@example.com", "member", 1, 1), ("dev1@example.com", "member", 1, 0),
                                          ("dev2@example.com", "member", 1, 0)]

LEAVE = """
import atexit, sys, threading, time
from pathlib import Path
from sqlalchemy import text
from bot.cli import leave
from storage.db import make_engine

engine = make_engine("sqlite:///" + sys.argv[1])
with engine.begin() as conn:
    conn.execute(text("PRAGMA journal_mode=WAL"))
    conn.execute(text("CREATE TABLE t (x)"))
    conn.execute(text("INSERT INTO t VALUES (1)"))
atexit.register(lambda: print("atexit ran", file=sys.stderr))
if sys.argv[2] == "thread":  # a thread still running: the usual exit, which waits for it
    threading.Thread(target=lambda: (time.sleep(0.3), print("thread done", file=sys.stderr))).start()
sys.stdout.write("x" * 1_000_000)  # buffered: written at the flush before leaving
leave(3)
"""


@pytest.mark.parametrize("case", ["alone", "thread"])
def test_leave_flushes_closes_and_runs_atexit_before_exiting(tmp_path, case):
    """The CLI's exit skips the interpreter's teardown (bot.cli.leave), never what an exit must do:
    every byte of the output arrives, the exit code is kept, atexit handlers run, the SQLite
    connections are closed (the WAL checkpointed and removed), and a thread still running is
    waited for."""
    db = tmp_path / "t.db"
    proc = subprocess.run([sys.executable, "-c", LEAVE, str(db), case], capture_output=True, cwd=REPO, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == b"x" * 1_000_000
    assert b"atexit ran" in proc.stderr
    assert not (tmp_path / "t.db-wal").exists()  # the last connection closed: checkpointed
    if case == "thread":
        assert b"thread done" in proc.stderr


def test_leave_keeps_quiet_when_the_reader_has_gone(tmp_path):
    """`abacus … | head -c1`: output still buffered when the reader leaves is not an error."""
    code = "import sys; from bot.cli import leave; sys.stdout.write('y' * 1_000_000); leave(0)"
    proc = subprocess.run(f"{sys.executable} -c \"{code}\" | head -c1", shell=True, capture_output=True, cwd=REPO,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout == b"y"
    assert b"Traceback" not in proc.stderr and b"BrokenPipe" not in proc.stderr


def test_the_installed_abacus_command_leaves_as_python_m_bot_does():
    """The `abacus` script that pip installs is the command people type (and the image's CMD):
    it must run `bot.cli.entry` — the exit every test of `python -m bot` checks (bot.cli.leave) —
    not `main`, whose interpreter teardown the CLI was meant to skip."""
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["abacus"] == "bot.cli:entry"


def test_leave_says_why_it_fails_when_the_output_cannot_be_written(tmp_path):
    """Results still buffered when `leave` flushes them onto a full disk: exit 1 with a one-line
    reason on stderr (docs/contract.md), not a silent 1."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    code = "import sys; from bot.cli import leave; sys.stdout.write('z' * 100); leave(0)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-c", code], stdout=full, stderr=subprocess.PIPE, cwd=REPO, timeout=60,
                              env={**env, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == ["abacus: cannot write the output: No space left on device"]
