"""Hostile values in Cursor usage events, through `abacus sync` on SQLite and Postgres: stored so that
every database takes them (Postgres text holds no NUL and refuses a value wider than its column —
the whole batch, and so the team's every later sync, used to fail there), reported neutralised.

Scripted events, all yesterday, each with `chargedCents` (the vendor's cost, exact):
  E1 10:00:00.000, timestamp as an int, ann@example.com, a 10,000-char model, maxMode true, 1.5 c
  E2 10:00:01.000, timestamp as a string, an email with a tab, a newline and a backslash, kind in
     unicode, maxMode false, 2.25 c
  E3 10:00:02.000, timestamp in ISO 8601, ann@example.com, a 100-char kind, no maxMode, 3 c
  E4 10:00:03.000, an email, model and kind with a NUL, maxMode null, 4 c
  E5 10:00:04.000, a 400-char email, 5 c
By hand: 5 records, 1.5 + 2.25 + 3 + 4 + 5 = 15.75 c = $0.1575 = 157,500,000 nanos.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from storage.db import make_engine
from tests.fakes.vendors import CursorTeam, EventList, FakeCursor, day_ms

pytestmark = pytest.mark.e2e
KEY = "key_" + "e" * 60
TAB_EMAIL = "tab\there\nnew\\line@example.com"
LONG_EMAIL = "e" * 400 + "@example.com"


@pytest.fixture
def day():
    return datetime.now(UTC).date() - timedelta(days=1)


def _events(day) -> list[dict]:
    return [
        {"timestamp": day_ms(day, 10, 0, 0), "userEmail": "ann@example.com", "model": "m" * 10_000,
         "kind": "Usage-based", "maxMode": True, "chargedCents": 1.5},
        {"timestamp": str(day_ms(day, 10, 0, 1)), "userEmail": TAB_EMAIL, "model": "gpt-5",
         "kind": "Ünïcødé ☃ kind", "maxMode": False, "chargedCents": 2.25},
        {"timestamp": day_ms(day, 10, 0, 2), "iso": f"{day.isoformat()}T10:00:02.000Z",
         "userEmail": "ann@example.com", "model": "gpt-5", "kind": "k" * 100, "chargedCents": 3},
        {"timestamp": day_ms(day, 10, 0, 3), "userEmail": "nu\x00l@example.com", "model": "gpt\x00-5",
         "kind": "a\x00b", "maxMode": None, "chargedCents": 4},
        {"timestamp": day_ms(day, 10, 0, 4), "userEmail": LONG_EMAIL, "model": "gpt-5", "chargedCents": 5},
    ]


@pytest.fixture
def fake(day):
    events = EventList(_events(day))
    for ev in events.events:  # the fake orders by epoch ms; E3 is then served with its ISO time only
        if "iso" in ev:
            ev["timestamp"] = ev.pop("iso")
    with FakeCursor({KEY: CursorTeam(events=events)}, page_size=2) as server:
        yield server


@pytest.fixture
def env(abacus_env, monkeypatch, fake):
    for k, v in {"CURSOR_ADMIN_KEY": KEY, "CURSOR_API_URL": fake.url, "ABACUS_SYNC_RATE_LIMIT": "off",
                 "ABACUS_HTTP_BACKOFF": "0.01"}.items():
        monkeypatch.setenv(k, v)
    return abacus_env


def test_hostile_event_values_are_stored_on_every_database_and_shown_neutralised(env, cli, day):
    window = ["--from", day.isoformat(), "--to", day.isoformat()]
    res = cli("sync", "--source", "cursor", *window, "--format", "json")
    assert res.code == 0, res.err
    (team,) = res.json()["results"]
    assert (team["records_read"], team["inserted"], team["already_present"]) == (5, 5, 0)

    engine = make_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT ts_ms, person, raw_model, model, kind, max_mode, cost_nanos "
                                 "FROM usage_event ORDER BY ts_ms")).all()
        rollups = {t: tuple(int(v) for v in conn.execute(text(f"SELECT SUM(records), SUM(cost_nanos), SUM(requests) "
                                                              f"FROM {t}")).one())
                   for t in ("usage_daily", "usage_person_day", "usage_model_day", "usage_person_total_day")}
    engine.dispose()
    base = day_ms(day, 10)
    assert [(r.ts_ms - base, r.person, r.kind, None if r.max_mode is None else bool(r.max_mode), r.cost_nanos)
            for r in rows] == [
        (0, "ann@example.com", "Usage-based", True, 15_000_000),
        (1000, TAB_EMAIL, "Ünïcødé ☃ kind", False, 22_500_000),
        (2000, "ann@example.com", "k" * 64, None, 30_000_000),
        (3000, "nul@example.com", "ab", None, 40_000_000),
        (4000, "e" * 320, None, None, 50_000_000),
    ]
    assert [len(r.raw_model) for r in rows] == [255, 5, 5, 5, 5] and rows[3].raw_model == "gpt-5"
    assert all(len(r.model) <= 255 for r in rows)
    assert rollups == {t: (5, 157_500_000, 5) for t in rollups}

    again = cli("sync", "--source", "cursor", *window, "--format", "json")
    assert again.code == 0, again.err
    (team,) = again.json()["results"]
    assert (team["records_read"], team["inserted"], team["already_present"]) == (5, 0, 5)

    shown = cli("report", "--by", "user", *window)
    assert shown.code == 0, shown.err
    assert "tab\\x09here\\x0anew\\line@example.com" in shown.out
    assert "\t" not in shown.out and "\x00" not in shown.out
    as_json = cli("report", "--by", "user", *window, "--format", "json").json()
    assert as_json["totals"]["cost_usd"] == 0.1575 and as_json["totals"]["requests"] == 5


def test_hostile_member_and_group_text_is_stored_as_the_columns_hold_it(abacus_env, cli, monkeypatch, day):
    """A member's name of 300 characters with a NUL, a 100-character vendor id, a group name and id
    of 300 characters, an email with a NUL: Postgres refused them (the whole team's members, and the
    sync, failed with a database error); now each is stored cut to its column, NUL removed, on
    every database, and the rest of the team with it."""
    key = "key_" + "h" * 60
    members = [{"id": "u" * 100, "name": "N" * 300 + "\x00x", "email": "Ann@Example.com", "role": "member"},
               {"id": 7, "name": "Bob", "email": "b\x00ob@example.com", "role": "member"}]
    groups = {"groups": [{"id": "g" * 300, "name": "G" * 300,
                          "currentMembers": [{"email": "ann@example.com"}, {"email": "b\x00ob@example.com"}]}]}
    with FakeCursor({key: CursorTeam(members=members, groups=groups)}, page_size=2) as server:
        for k, v in {"CURSOR_ADMIN_KEY": key, "CURSOR_API_URL": server.url, "ABACUS_SYNC_RATE_LIMIT": "off"}.items():
            monkeypatch.setenv(k, v)
        res = cli("sync", "--source", "cursor", "--from", day.isoformat(), "--to", day.isoformat(), "--quiet")
    assert res.code == 0, res.err
    engine = make_engine(abacus_env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            people = [tuple(r) for r in conn.execute(text(
                "SELECT p.email, p.name, p.cursor_user_id, g.name, g.external_id FROM person p "
                "LEFT JOIN billing_group g ON g.id = p.group_id ORDER BY p.email"))]
    finally:
        engine.dispose()
    assert people == [("ann@example.com", "N" * 255, "u" * 64, "G" * 255, "g" * 255),
                      ("bob@example.com", "Bob", "7", "G" * 255, "g" * 255)]
