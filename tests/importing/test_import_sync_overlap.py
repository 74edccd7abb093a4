"""A Cursor CSV export imported, then `abacus sync` over the same day, then the export again, on SQLite
and Postgres: events present in both are counted once, and each command's inserted/already-present
counts say so.

Yesterday (D), times UTC:
  A 10:00:00.846 developer@company.com auto         — in the export ($0.19) and the API (19.4 c)
  B 11:00:00.658 developer@company.com gpt-5-codex  — in the export ($0.03) and the API (3.1 c)
  C 12:00:00.000 developer@company.com gpt-5        — API only (10 c)
  X 13:00:00.000 admin@company.com     opus         — export only ($1.78)
Imported first, A and B keep the export's cost. By hand: developer $0.19 + $0.03 + $0.10 = $0.32 over
3 records; admin $1.78; total $2.10 = 2,100,000,000 nanos over 4 records.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from storage.db import make_engine
from tests.fakes.vendors import CursorTeam, EventList, FakeCursor, day_ms

pytestmark = pytest.mark.e2e
KEY = "key_" + "f" * 60
HEAD = ("Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
        "Total Tokens,Cost\n")


@pytest.fixture
def day():
    return datetime.now(UTC).date() - timedelta(days=1)


def _event(ts_ms: int, email: str, model: str, inp: int, cw: int, cr: int, out: int, charged: float) -> dict:
    return {"timestamp": str(ts_ms), "userEmail": email, "model": model, "kind": "Included", "maxMode": False,
            "chargedCents": charged, "tokenUsage": {"inputTokens": inp, "outputTokens": out, "cacheWriteTokens": cw,
                                                    "cacheReadTokens": cr, "totalCents": charged}}


@pytest.fixture
def fake(day):
    dev = "developer@company.com"
    events = [_event(day_ms(day, 10, 0, 0, 846), dev, "auto", 775, 28342, 105891, 21282, 19.4),
              _event(day_ms(day, 11, 0, 0, 658), dev, "gpt-5-codex", 8263, 0, 66964, 1612, 3.1),
              _event(day_ms(day, 12), dev, "gpt-5", 100, 0, 0, 10, 10)]
    with FakeCursor({KEY: CursorTeam(events=EventList(events))}) as server:
        yield server


def _export(day) -> str:
    d = day.isoformat()
    return (HEAD
            + f'"{d}T10:00:00.846Z","developer@company.com","Included","auto","No","28342","775","105891",'
              '"21282","156290","0.19"\n'
            + f'"{d}T11:00:00.658Z","Developer@Company.com","On-Demand","gpt-5-codex","No","0","8263","66964",'
              '"1612","76839","0.03"\n'
            + f'"{d}T13:00:00.000Z","admin@company.com","Included","claude-4.5-opus-high-thinking","No","55747",'
              '"14237","1529932","14842","1614758","1.78"\n')


def test_an_export_and_a_sync_of_the_same_events_count_each_once(cli, write, abacus_env, monkeypatch, fake, day):
    for k, v in {"CURSOR_ADMIN_KEY": KEY, "CURSOR_API_URL": fake.url, "ABACUS_SYNC_RATE_LIMIT": "off"}.items():
        monkeypatch.setenv(k, v)
    path = write("team.csv", _export(day))
    first = cli("import", "--quiet", "--json", path)
    assert first.code == 0, first.err
    assert (first.json()["inserted"], first.json()["already_present"]) == (3, 0)

    window = ["--from", day.isoformat(), "--to", day.isoformat()]
    for expected in [(3, 1, 2), (3, 0, 3)]:  # C is new; then a re-sync finds all three
        synced = cli("sync", "--source", "cursor", *window, "--format", "json")
        assert synced.code == 0, synced.err
        (team,) = synced.json()["results"]
        assert (team["records_read"], team["inserted"], team["already_present"]) == expected

    again = cli("import", "--quiet", "--json", path)
    assert (again.json()["inserted"], again.json()["already_present"]) == (0, 3)

    shown = cli("report", "--by", "user", "--format", "json", *window).json()
    assert {r["key"]: (r["cost_usd"], r["requests"]) for r in shown["rows"]} == {
        "developer@company.com": (0.32, 3), "admin@company.com": (1.78, 1)}
    engine = make_engine(abacus_env["DATABASE_URL"])
    with engine.connect() as conn:
        for table in ("usage_event", "usage_daily", "usage_person_day", "usage_model_day", "usage_person_total_day"):
            count = "COUNT(*)" if table == "usage_event" else "SUM(records)"
            assert tuple(int(v) for v in conn.execute(text(f"SELECT {count}, SUM(cost_nanos) FROM {table}")).one()) \
                == (4, 2_100_000_000), table
    engine.dispose()
