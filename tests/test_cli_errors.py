"""Configuration and database failures: one clear line, exit 1, no traceback, no secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_abacus(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ANTHROPIC_", "CURSOR_", "ABACUS_"))}
    base.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "bot", *args], env={**base, **env}, cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def assert_one_line_failure(proc: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for n in needles:
        assert n in lines[0]


def test_bad_database_url(tmp_path):
    proc = run_abacus(["report"], {"DATABASE_URL": "mysql-ish:/nonsense"}, tmp_path)
    assert_one_line_failure(proc, 1, "DATABASE_URL")


def test_unreachable_postgres_hides_password(tmp_path):
    proc = run_abacus(["report"], {"DATABASE_URL": "postgres://abacus:hunter2secret@127.0.0.1:1/abacus"}, tmp_path)
    assert_one_line_failure(proc, 1, "cannot reach the database")
    assert "hunter2secret" not in proc.stderr + proc.stdout


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions; covered by the missing-dir case")
def test_read_only_sqlite(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        proc = run_abacus(["report"], {"DATABASE_URL": f"sqlite:///{ro}/a.db"}, tmp_path)
        assert_one_line_failure(proc, 1, "not writable")
    finally:
        ro.chmod(0o700)


def test_read_only_sqlite_file(tmp_path):
    db = tmp_path / "a.db"
    assert run_abacus(["db", "upgrade"], {"DATABASE_URL": f"sqlite:///{db}"}, tmp_path).returncode == 0
    db.chmod(0o400)
    subprocess.run(["chattr", "+i", str(db)], capture_output=True)  # immutable even for root, where supported
    try:
        proc = run_abacus(["report"], {"DATABASE_URL": f"sqlite:///{db}"}, tmp_path)
        if proc.returncode == 0:
            pytest.skip("this filesystem lets root write a read-only file")
        assert_one_line_failure(proc, 1)
    finally:
        subprocess.run(["chattr", "-i", str(db)], capture_output=True)
        db.chmod(0o600)


def test_missing_sqlite_directory(tmp_path):
    proc = run_abacus(["report"], {"DATABASE_URL": f"sqlite:///{tmp_path}/nope/a.db"}, tmp_path)
    assert_one_line_failure(proc, 1, "does not exist")


def test_invalid_settings_one_line_each_without_values(tmp_path):
    proc = run_abacus(["report"], {"ABACUS_SYNC_SCHEDULE": "every tuesday", "ABACUS_EMAIL_DOMAIN": "not a domain",
                                   "DATABASE_URL": f"sqlite:///{tmp_path}/a.db"}, tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert any("ABACUS_SYNC_SCHEDULE" in ln for ln in lines) and any("ABACUS_EMAIL_DOMAIN" in ln for ln in lines)
    assert len(lines) == 2


def test_dotenv_is_read(tmp_path):
    (tmp_path / ".env").write_text(f"DATABASE_URL=sqlite:///{tmp_path}/fromenv.db\n")
    proc = run_abacus(["db", "upgrade"], {}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "fromenv.db").exists()


def test_dotenv_that_is_not_utf8_is_one_line_without_its_bytes(tmp_path):
    (tmp_path / ".env").write_bytes(f"DATABASE_URL=sqlite:///{tmp_path}/a.db\n".encode()
                                    + b"SLACK_BOT_TOKEN=xoxb-\xff\xfe-secret\n")
    proc = run_abacus(["report"], {}, tmp_path)
    assert_one_line_failure(proc, 1, ".env is not valid UTF-8")
    assert "secret" not in proc.stderr


@pytest.mark.parametrize("level", ["LOUD", "BASIC_FORMAT", "1"])
def test_unknown_log_level_is_refused(tmp_path, level):
    proc = run_abacus(["report"], {"ABACUS_LOG_LEVEL": level, "DATABASE_URL": f"sqlite:///{tmp_path}/a.db"}, tmp_path)
    assert_one_line_failure(proc, 1, "ABACUS_LOG_LEVEL", "DEBUG, INFO, WARNING, ERROR, CRITICAL")


def test_a_range_ending_on_the_first_day_of_the_calendar_is_a_range(tmp_path):
    from tests.test_first_run import _real_usage

    _real_usage(f"sqlite:///{tmp_path}/a.db")  # report reads an existing database with usage only
    proc = run_abacus(["report", "--to", "0001-01-01", "--format", "json"],
                      {"DATABASE_URL": f"sqlite:///{tmp_path}/a.db"}, tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr


def test_blank_settings_mean_unset_everywhere(tmp_path):
    """A .env template that lists every key with no value runs on the defaults."""
    names = ["ABACUS_SYNC_SCHEDULE", "CURSOR_API_URL", "ANTHROPIC_API_URL", "SLACK_API_URL", "ABACUS_EMAIL_DOMAIN",
             "ABACUS_ALERT_CHANNEL", "ABACUS_LOG_LEVEL", "ABACUS_ADMINS", "CURSOR_ADMIN_KEY", "ANTHROPIC_ADMIN_KEY"]
    (tmp_path / ".env").write_text("".join(f"{n}=\n" for n in names) + f"DATABASE_URL=sqlite:///{tmp_path}/a.db\n")
    from tests.test_first_run import _real_usage

    _real_usage(f"sqlite:///{tmp_path}/a.db")
    proc = run_abacus(["report", "--days", "1"], {}, tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_help_for_every_subcommand(tmp_path):
    for cmd in (["--help"], ["report", "--help"], ["map", "--help"], ["demo", "--help"], ["db", "--help"]):
        proc = run_abacus(cmd, {}, tmp_path)
        assert proc.returncode == 0 and "usage: abacus" in proc.stdout


@pytest.mark.postgres
def test_a_connection_lost_in_the_middle_of_a_copy_is_one_line(tmp_path, pg_database_url):
    """The server ends the sync's connection while it COPYs a batch of events (a failover, an
    administrator's pg_terminate_backend): one line, exit 1, no traceback — psycopg's own warning
    about the COPY it abandons ("error ignored terminating <psycopg.Copy [BAD]>") stays out of it."""
    import threading
    import time
    from datetime import UTC, datetime, timedelta

    import psycopg

    from tests.fakes.vendors import CursorTeam, FakeCursor, GeneratedEvents

    day = datetime.now(UTC).date() - timedelta(days=2)
    start_ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000
    events = GeneratedEvents(60_000, start_ms, step_ms=1_000, users=50)
    events.prerender()
    key = "key_" + "c0pyk" * 12
    killed: list[int] = []
    stop = threading.Event()

    def kill_the_copy() -> None:
        with psycopg.connect(pg_database_url, autocommit=True) as admin:
            while not stop.is_set() and not killed:
                for (pid,) in admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                            "AND state = 'active' AND query LIKE 'COPY usage_event %'").fetchall():
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    killed.append(pid)
                time.sleep(0.002)

    with FakeCursor({key: CursorTeam(members=[], events=events)}, page_size=500) as vendor:
        env = {"DATABASE_URL": pg_database_url, "CURSOR_ADMIN_KEY": key, "CURSOR_API_URL": vendor.url,
               "ABACUS_SYNC_RATE_LIMIT": "off", "ABACUS_SYNC_COMMIT_EVENTS": "5000"}
        assert run_abacus(["db", "upgrade"], env, tmp_path).returncode == 0
        killer = threading.Thread(target=kill_the_copy)
        killer.start()
        try:
            proc = run_abacus(["sync", "--source", "cursor", "--from", day.isoformat(), "--to", day.isoformat(),
                               "--quiet"], env, tmp_path)
        finally:
            stop.set()
            killer.join()
    assert killed, "no COPY was caught running"
    assert_one_line_failure(proc, 1, "connection")
    assert "psycopg" not in proc.stderr and "WARNING" not in proc.stderr


@pytest.mark.parametrize("command", ["sync", "backfill"])
@pytest.mark.parametrize("span", [("0001-01-01", "9999-12-31"), ("1990-01-01", None)])
def test_a_range_longer_than_ten_years_is_bad_input_like_days(tmp_path, command, span):
    """`--days` stops at 3660; `--from/--to` spanning centuries did not, and the vendor was asked about
    each day, for hours. Now the same bound: exit 2, one line, no database, no request made."""
    first, last = span
    args = [command, "--from", first, *(["--to", last] if last else [])]
    proc = run_abacus(args, {"DATABASE_URL": f"sqlite:///{tmp_path}/a.db", "CURSOR_ADMIN_KEY": "cursor-key-000000001",
                             "CURSOR_API_URL": "http://127.0.0.1:9"}, tmp_path)
    assert_one_line_failure(proc, 2, f"the range {first}..", "at most 3,660 (ten years)")
    assert not (tmp_path / "a.db").exists()
