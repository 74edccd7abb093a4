"""Fixtures for the import tests: the CLI in-process against `database_url` (SQLite and Postgres)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys, abacus_env):
    """Run `abacus …` in-process; returns exit code, stdout and stderr."""
    from bot.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def write(tmp_path):
    """Write a file (text as UTF-8, or bytes as given) and return its path as a string."""

    def make(name: str, content: str | bytes) -> str:
        path = Path(tmp_path) / name
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return str(path)

    return make


@pytest.fixture
def report(cli):
    """`abacus report --format json` over a range → ({key: row}, totals)."""

    def run(by: str, start: str, end: str, *extra: str) -> tuple[dict[str, dict], dict]:
        res = cli("report", "--format", "json", "--by", by, "--from", start, "--to", end, *extra)
        assert res.code == 0, res.err
        data = res.json()
        return {r["key"]: r for r in data["rows"]}, data["totals"]

    return run


@pytest.fixture
def snapshot(abacus_env):
    """Counts and sums that must not move when an import is refused."""
    from sqlalchemy import text

    from storage.db import make_engine, upgrade

    def take() -> tuple:
        engine = make_engine(abacus_env["DATABASE_URL"])
        upgrade(engine)
        try:
            with engine.connect() as conn:
                return tuple(conn.execute(text(q)).one() for q in (
                    "SELECT COUNT(*), COALESCE(SUM(input_tokens + cache_write_5m_tokens + cache_write_1h_tokens "
                    "+ cache_read_tokens + output_tokens), 0), COALESCE(SUM(cost_nanos), 0) FROM usage_event",
                    "SELECT COUNT(*), COALESCE(SUM(cost_nanos), 0), COALESCE(SUM(records), 0) FROM usage_daily",
                    "SELECT COUNT(*) FROM import_batch", "SELECT COUNT(*) FROM vendor_cost",
                    "SELECT COUNT(*) FROM billing_group", "SELECT COUNT(*) FROM person WHERE group_id IS NOT NULL"))
        finally:
            engine.dispose()

    return take
