"""What a first-time user runs into: `abacus demo` against a database with real data, a bad
`--out`, a database migrated by a newer Abacus, and read-only commands run from the wrong folder
(or against an empty database). Each: one line, the right exit code, nothing written (an empty
database: the empty answer, exit 0, and a note)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

from sqlalchemy import text

from core.usage import Feed, Source, UsageRecord
from storage.db import make_engine, session_scope, upgrade
from storage.usage_repo import write_usage
from tests.test_cli_errors import assert_one_line_failure, run_abacus

SMALL = ["--people", "5", "--days", "7"]


def _real_usage(url: str) -> None:
    """One record of a real organisation: $2.00, 1,000 input and 10 output tokens."""
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as s:
        write_usage([UsageRecord(source=Source.CLAUDE_CODE, feed=Feed.ANTHROPIC_MESSAGES, natural_key="real-1",
                                 ts=datetime(2026, 1, 5, tzinfo=UTC), person="ann@acme.com",
                                 raw_model="claude-sonnet-4-5", model="sonnet-4.5", input_tokens=1000,
                                 output_tokens=10, cost_nanos=2_000_000_000, org="acme-org")], session=s)
    engine.dispose()


def _count(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one()
    finally:
        engine.dispose()


def test_demo_refuses_a_database_with_real_data_unless_forced(database_url, tmp_path):
    _real_usage(database_url)
    out = tmp_path / "demo-out"  # not "charts": python -m puts the cwd first on sys.path
    proc = run_abacus(["demo", "--out", str(out), *SMALL], {"DATABASE_URL": database_url}, tmp_path)
    assert_one_line_failure(proc, 2, "holds more than demo data", "1 usage records not from the demo", "--force")
    assert _count(database_url) == 1 and not out.exists()
    forced = run_abacus(["demo", "--out", str(out), *SMALL, "--force"], {"DATABASE_URL": database_url}, tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert _count(database_url) > 1


def _total(url: str, cwd) -> float:
    rep = run_abacus(["report", "--days", "30", "--format", "json"], {"DATABASE_URL": url}, cwd)
    assert rep.returncode == 0, rep.stderr
    return json.loads(rep.stdout)["totals"]["cost_usd"]


def test_a_second_demo_replaces_the_first_instead_of_adding_to_it(tmp_path):
    again = f"sqlite:///{tmp_path / 'again.db'}"
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    for url, seeds in ((again, ("1", "2")), (fresh, ("2",))):
        for seed in seeds:
            proc = run_abacus(["demo", "--out", str(tmp_path / "out"), *SMALL, "--seed", seed],
                              {"DATABASE_URL": url}, tmp_path)
            assert proc.returncode == 0, proc.stderr
    assert _total(again, tmp_path) == _total(fresh, tmp_path) > 0  # seed 2's team, once (was: seed 1's + seed 2's)


def test_demo_checks_out_before_writing_anything(tmp_path):
    url = f"sqlite:///{tmp_path / 'abacus.db'}"
    a_file = tmp_path / "charts.png"
    a_file.write_bytes(b"not a folder")
    proc = run_abacus(["demo", "--out", str(a_file), *SMALL], {"DATABASE_URL": url}, tmp_path)
    assert_one_line_failure(proc, 2, "exists and is not a folder")
    proc = run_abacus(["demo", "--out", str(a_file / "sub"), *SMALL], {"DATABASE_URL": url}, tmp_path)
    assert_one_line_failure(proc, 2, "cannot create the folder")
    assert not (tmp_path / "abacus.db").exists()  # not even the schema


def test_a_database_from_a_newer_abacus_is_one_line(tmp_path):
    path = tmp_path / "abacus.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0999'")
    proc = run_abacus(["sync", "--days", "1"], {"DATABASE_URL": url, "ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-x" * 3},
                      tmp_path)
    assert_one_line_failure(proc, 1, "schema revision 0999", "newer than this version of Abacus")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0999",)]


def test_read_only_commands_in_the_wrong_folder_or_on_an_empty_database_say_so(tmp_path, database_url):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (["report"], ["unmapped"], ["detect", "--backtest", "--days", "7"], ["imports"], ["import", "--list"],
                 ["db", "current"]):
        proc = run_abacus(args, {}, elsewhere)  # the default sqlite:///abacus.db, relative to this folder
        assert_one_line_failure(proc, 1, f"no Abacus database at {elsewhere / 'abacus.db'}", "working folder")
    assert list(elsewhere.iterdir()) == []  # nothing created

    engine = make_engine(database_url)  # an Abacus database without any usage: an empty answer (exit 0)
    upgrade(engine)
    engine.dispose()
    for args in (["report", "--format", "json"], ["unmapped", "--format", "json"]):
        proc = run_abacus(args, {"DATABASE_URL": database_url}, tmp_path)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        [note] = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert "holds no usage yet" in note and "abacus backfill --days 30" in note
        answer = json.loads(proc.stdout)
        if args[0] == "report":
            assert answer["rows"] == [] and set(answer["totals"].values()) == {0}
        else:
            assert answer == []
