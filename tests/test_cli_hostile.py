"""Hostile names from vendors shown back by the CLI: terminal escape sequences are printed as
visible text (`\\x1b[2J`), never sent to the terminal — `abacus unmapped` and `report`
as a table and as CSV."""

from __future__ import annotations

from datetime import UTC, datetime

from core.usage import Feed, Source, UsageRecord
from storage.db import make_engine, session_scope, upgrade
from storage.usage_repo import write_usage
from tests.test_cli_errors import run_abacus

# clear the screen, set the window title, a one-byte CSI, and a right-to-left override
EVIL_KEY = "ops\x1b[2J\x1b]0;pwned\x07-key\x9b31m\u202egnp.exe"
SHOWN = "ops\\x1b[2J\\x1b]0;pwned\\x07-key\\x9b31m\\u202egnp.exe"


def _seed(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as s:
        write_usage([UsageRecord(
            source=Source.CLAUDE_CODE, feed=Feed.ANTHROPIC_MESSAGES, natural_key="k1",
            ts=datetime(2026, 1, 5, tzinfo=UTC), person=f"unmapped:{EVIL_KEY}", raw_model="claude-sonnet-4-5",
            model="sonnet-4.5", input_tokens=1000, output_tokens=10, cost_nanos=2_000_000_000,
            api_key=EVIL_KEY)], session=s)
    engine.dispose()


def test_terminal_escapes_from_key_names_are_printed_harmlessly(database_url, tmp_path):
    _seed(database_url)
    env = {"DATABASE_URL": database_url}
    outputs = {
        "unmapped": run_abacus(["unmapped"], env, tmp_path),
        "table": run_abacus(["report", "--from", "2026-01-05", "--to", "2026-01-05"], env, tmp_path),
        "csv": run_abacus(["report", "--from", "2026-01-05", "--to", "2026-01-05", "--format", "csv"], env, tmp_path),
    }
    for name, proc in outputs.items():
        assert proc.returncode == 0, (name, proc.stderr)
        for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert bad not in proc.stdout + proc.stderr, (name, proc.stdout)
    assert SHOWN[:40] in outputs["unmapped"].stdout  # the key column is 40 wide
    assert f"unmapped:{SHOWN}" in outputs["table"].stdout
    assert f"unmapped:{SHOWN},1000,10,0,0,1010,2.0,0,1" in outputs["csv"].stdout  # by hand: the one record
