"""Fixtures for the sync tests: the scripted scenario, fake vendor servers, and the CLI in-process.

`database_url`, `engine` and `abacus_env` come from tests/conftest.py (SQLite and, marked
`postgres`, a throwaway Postgres database per test).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from tests.fakes.vendors import FakeAnthropic, FakeCursor
from tests.sync import scenario as sc


@pytest.fixture
def scenario() -> sc.Scenario:
    return sc.build(datetime.now(UTC).date())


@pytest.fixture
def fake_anthropic(scenario):
    with FakeAnthropic({scenario.anthropic_key: scenario.org}) as server:
        yield server


@pytest.fixture
def fake_cursor(scenario):
    with FakeCursor(scenario.teams) as server:
        yield server


@pytest.fixture
def sync_env(abacus_env, monkeypatch, scenario, fake_anthropic, fake_cursor):
    env = {
        "ANTHROPIC_ADMIN_KEY": scenario.anthropic_key,
        "ANTHROPIC_API_URL": fake_anthropic.url,
        "CURSOR_ADMIN_KEY": ",".join(scenario.cursor_keys),
        "CURSOR_API_URL": fake_cursor.url,
        "ABACUS_EMAIL_DOMAIN": sc.DOMAIN,
        "ABACUS_SYNC_RATE_LIMIT": "off",
        "ABACUS_HTTP_BACKOFF": "0.01",
        "ABACUS_HTTP_TIMEOUT": "1",
        "ABACUS_HTTP_ATTEMPTS": "4",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return {**abacus_env, **env}


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
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
def report(cli, scenario):
    """`abacus report --format json --by …` over the scenario's four days, as {key: row}."""

    def run(by: str, **kw) -> dict[str, dict]:
        days = scenario.days
        res = cli("report", "--format", "json", "--by", by, "--from", days[0].isoformat(), "--to",
                  days[-1].isoformat(), *[a for k, v in kw.items() for a in (f"--{k}", v)])
        assert res.code == 0, res.err
        return sc.report_rows(res.json())

    return run
