"""The usage store and `abacus report`, on SQLite and Postgres, against totals computed by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from bot.cli import main
from core.usage import CostBasis, Feed, Source, UsageRecord
from storage.db import make_engine, session_scope, upgrade
from storage.people_repo import upsert_person
from storage.tables import BillingGroup
from storage.usage_repo import write_usage


def ts(day: int, hour: int = 12, ms: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, 0, 0, ms * 1000, tzinfo=UTC)


def cursor(key: str, when: datetime, person: str, model: str, inp: int, cw: int, cr: int, out: int,
           cost_nanos: int) -> UsageRecord:
    return UsageRecord(source=Source.CURSOR, feed=Feed.CURSOR_EVENTS, natural_key=key, ts=when, person=person,
                       raw_model=model, model=model, input_tokens=inp, cache_write_5m_tokens=cw,
                       cache_read_tokens=cr, output_tokens=out, cost_nanos=cost_nanos, requests=1)


def claude(key: str, day: int, person: str, model: str, inp: int, w5: int, w1: int, cr: int, out: int,
           cost_nanos: int, api_key: str | None = None, basis: CostBasis = CostBasis.VENDOR) -> UsageRecord:
    return UsageRecord(source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_CODE_ANALYTICS, natural_key=key, ts=ts(day, 0),
                       person=person, raw_model=model, model=model, input_tokens=inp, cache_write_5m_tokens=w5,
                       cache_write_1h_tokens=w1, cache_read_tokens=cr, output_tokens=out, cost_nanos=cost_nanos,
                       cost_basis=basis, api_key=api_key)


ALICE, BOB = "alice@example.com", "bob@example.com"
FIXTURE = [
    cursor("c1", ts(5), ALICE, "gpt-5", 100, 10, 1000, 50, 213_623_200),          # $0.2136232
    cursor("c2", ts(5, ms=1), ALICE, "gpt-5", 100, 10, 1000, 50, 213_623_200),    # differs only by 1 ms
    cursor("c3", ts(6), BOB, "sonnet-4.5", 7, 0, 0, 3, 80_000_000),               # $0.08
    claude("a1", 5, ALICE, "opus-4.5", 1000, 200, 300, 5000, 400, 1_410_000_000),  # $1.41
    claude("a2", 7, "unmapped:ci-bot-key", "sonnet-4.5", 50, 0, 0, 0, 20, 450_000_000, api_key="ci-bot-key"),
]


def report(*args: str, capsys) -> dict:
    assert main(["report", "--format", "json", "--from", "2026-01-01", "--to", "2026-01-31", *args]) == 0
    return json.loads(capsys.readouterr().out)


def totals(rows: list[dict]) -> dict:
    return {r["key"]: r for r in rows}


@pytest.fixture
def seeded(abacus_env):
    engine = make_engine(abacus_env["DATABASE_URL"])
    upgrade(engine)
    with session_scope(engine) as s:
        result = write_usage(FIXTURE, session=s)
    assert (result.inserted, result.duplicates) == (5, 0)
    yield engine
    engine.dispose()


def test_report_by_user_equals_hand_computed_totals(seeded, capsys):
    out = report("--by", "user", capsys=capsys)
    rows = totals(out["rows"])
    assert rows[ALICE] == {"key": ALICE, "input_tokens": 100 + 100 + 1000, "output_tokens": 50 + 50 + 400,
                           "cache_write_tokens": 10 + 10 + 200 + 300, "cache_read_tokens": 1000 + 1000 + 5000,
                           "total_tokens": 1200 + 500 + 520 + 7000, "cost_usd": 1.8372,  # 0.4272464 + 1.41
                           "requests": 2, "active_days": 1}
    assert rows[BOB]["total_tokens"] == 10 and rows[BOB]["cost_usd"] == 0.08 and rows[BOB]["requests"] == 1
    assert rows["unmapped:ci-bot-key"]["cost_usd"] == 0.45
    assert out["totals"] == {"input_tokens": 1257, "output_tokens": 523, "cache_write_tokens": 520,
                             "cache_read_tokens": 7000, "total_tokens": 9300, "cost_usd": 2.3672,
                             "requests": 3, "active_days": 3}
    assert [r["key"] for r in out["rows"]] == [ALICE, "unmapped:ci-bot-key", BOB]  # most expensive first


def test_report_by_model_tool_day(seeded, capsys):
    by_model = totals(report("--by", "model", capsys=capsys)["rows"])
    assert by_model["gpt-5"]["cost_usd"] == 0.4272 and by_model["gpt-5"]["requests"] == 2
    assert by_model["sonnet-4.5"]["total_tokens"] == 10 + 70 and by_model["sonnet-4.5"]["active_days"] == 2
    by_tool = totals(report("--by", "tool", capsys=capsys)["rows"])
    assert by_tool["cursor"]["cost_usd"] == 0.5072 and by_tool["cursor"]["active_days"] == 2
    assert by_tool["claude_code"]["cost_usd"] == 1.86 and by_tool["claude_code"]["requests"] == 0
    by_day = report("--by", "day", capsys=capsys)["rows"]
    assert [r["key"] for r in by_day] == ["2026-01-05", "2026-01-06", "2026-01-07"]
    assert by_day[0]["total_tokens"] == 2 * (100 + 10 + 1000 + 50) + (1000 + 200 + 300 + 5000 + 400)


def test_source_filter(seeded, capsys):
    out = report("--by", "user", "--source", "claude", capsys=capsys)
    assert out["totals"]["cost_usd"] == 1.86 and out["totals"]["requests"] == 0


def test_writing_the_same_records_again_changes_nothing(seeded, capsys):
    before = report("--by", "user", capsys=capsys)
    with session_scope(seeded) as s:
        again = write_usage(FIXTURE + FIXTURE, session=s)
    assert (again.inserted, again.duplicates) == (0, 10)
    assert report("--by", "user", capsys=capsys) == before


def test_a_batch_half_stored_counts_only_the_new_half(seeded, capsys):
    before = report("--by", "user", capsys=capsys)["totals"]
    extra = cursor("c4", ts(6, ms=500), BOB, "sonnet-4.5", 1, 2, 3, 4, 10_000_000)  # $0.01
    with session_scope(seeded) as s:
        res = write_usage([*FIXTURE, extra], session=s)
    assert (res.inserted, res.duplicates) == (1, 5)
    after = report("--by", "user", capsys=capsys)["totals"]
    assert after["total_tokens"] == before["total_tokens"] + 10
    assert after["cost_usd"] == round(before["cost_usd"] + 0.01, 4) and after["requests"] == before["requests"] + 1


def test_a_writer_that_misses_stored_records_still_cannot_count_them_twice(seeded, capsys, monkeypatch):
    """The unique index is the last line: with the "already stored?" look-up blinded, Postgres
    rolls its COPY back and takes the per-row conflict path; SQLite skips and re-aggregates."""
    import storage.usage_repo as repo

    before = report("--by", "user", capsys=capsys)
    monkeypatch.setattr(repo, "_stored_keys", lambda *args, **kwargs: set())
    extra = cursor("c5", ts(6, ms=700), BOB, "sonnet-4.5", 1, 0, 0, 1, 0)
    with session_scope(seeded) as s:
        res = write_usage([*FIXTURE, extra], session=s)
    assert (res.inserted, res.duplicates) == (1, 5)
    after = report("--by", "user", capsys=capsys)
    assert after["totals"]["total_tokens"] == before["totals"]["total_tokens"] + 2
    assert after["totals"]["requests"] == before["totals"]["requests"] + 1
    assert after["totals"]["cost_usd"] == before["totals"]["cost_usd"]


def test_groups(seeded, capsys):
    with session_scope(seeded) as s:
        g = BillingGroup(name="Platform")
        s.add(g)
        s.flush()
        upsert_person(session=s, email=ALICE, group_id=g.id)
    rows = totals(report("--by", "group", capsys=capsys)["rows"])
    assert rows["Platform"]["cost_usd"] == 1.8372
    assert rows["(no group)"]["cost_usd"] == 0.53  # bob 0.08 + unmapped 0.45


def test_map_is_retroactive_and_unmapped_lists_keys(seeded, capsys):
    assert main(["unmapped", "--format", "json"]) == 0
    keys = json.loads(capsys.readouterr().out)
    assert [(k["key"], k["cost_usd"], k["records"]) for k in keys] == [("ci-bot-key", 0.45, 1)]
    assert main(["map", "ci-bot-key", "Carol@Example.com", "--new-person"]) == 0
    assert "1 stored record(s) re-attributed" in capsys.readouterr().out
    rows = totals(report("--by", "user", capsys=capsys)["rows"])
    assert "unmapped:ci-bot-key" not in rows and rows["carol@example.com"]["total_tokens"] == 70
    assert main(["unmapped", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    # new usage under the key after the mapping: the resolver loaded from the store knows the owner
    from storage.people_repo import identity_resolver
    with session_scope(seeded) as s:
        assert identity_resolver(session=s, domain=None).person(key_name="ci-bot-key") == "carol@example.com"


def test_map_to_an_unknown_email_maps_with_a_note_and_unmap_undoes_a_mapping(seeded, capsys, database_url):
    """The contract's `abacus map KEY EMAIL` maps to an email nobody knows yet (an unmapped key's
    owner is often known nowhere else): exit 0, retroactive, with a note on stderr naming the
    closest known email in case it is a typo; --new-person leaves the note out; `abacus unmap`
    gives the key's usage back to nobody."""
    def people() -> set[str]:
        with session_scope(seeded) as s:
            return {e for (e,) in s.connection().execute(text("SELECT email FROM person"))}

    before = people()
    typo = ALICE.replace("alice", "alcie")
    assert main(["map", "ci-bot-key", typo]) == 0
    out, err = capsys.readouterr()
    assert "1 stored record(s) re-attributed" in out
    assert f"{typo} is new to Abacus" in err and f"Did you mean {ALICE}?" in err
    assert "abacus unmap ci-bot-key" in err
    rows = totals(report("--by", "user", capsys=capsys)["rows"])
    assert rows[typo]["cost_usd"] == 0.45 and "unmapped:ci-bot-key" not in rows
    assert main(["unmap", "ci-bot-key"]) == 0
    capsys.readouterr()

    assert main(["map", "ci-bot-key", "newbie@example.com", "--new-person"]) == 0
    out, err = capsys.readouterr()
    assert "1 stored record(s) re-attributed" in out and "new to Abacus" not in err
    assert {"newbie@example.com", typo} <= people() - before
    assert main(["unmap", "ci-bot-key"]) == 0
    assert "now goes to unmapped:ci-bot-key; 1 stored record(s) re-attributed" in capsys.readouterr().out
    rows = totals(report("--by", "user", capsys=capsys)["rows"])
    assert rows["unmapped:ci-bot-key"]["cost_usd"] == 0.45 and "newbie@example.com" not in rows
    assert main(["unmap", "ci-bot-key"]) == 2  # no longer mapped by hand
    assert "is not mapped by hand" in capsys.readouterr().err


def test_map_rejects_bad_input_and_writes_nothing(seeded, capsys):
    assert main(["map", "ci-bot-key", "not-an-email"]) == 2
    assert main(["map", "no-such-key", "dave@example.com"]) == 2
    err = capsys.readouterr().err
    assert "not an email address" in err and "no key 'no-such-key'" in err
    assert main(["unmapped", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 1


def test_csv_and_table_formats(seeded, capsys):
    assert main(["report", "--format", "csv", "--from", "2026-01-01", "--to", "2026-01-31"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("user,input_tokens,output_tokens")
    assert lines[-1].startswith("TOTAL,1257,523,520,7000,9300,2.3672,3,3")
    assert main(["report", "--from", "2026-01-01", "--to", "2026-01-31"]) == 0
    assert "alice@example.com" in capsys.readouterr().out


def test_bad_arguments_exit_2(abacus_env, capsys):
    assert main(["report", "--from", "2026-13-01"]) == 2
    assert main(["report", "--days", "3", "--from", "2026-01-01"]) == 2
    assert main(["report", "--source", "copilot"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["report", "--by", "planet"])
    assert exc.value.code == 2


def test_concurrent_writers_of_overlapping_records_count_each_once(seeded, capsys, monkeypatch):
    """Two writers at once (say the bot's scheduled sync and a CLI backfill) with overlapping
    records: every record counts once in every rollup. The first writer is held just before its
    insert until the second has committed (or 2 s have passed): SQLite once looked up what was
    stored before it held the write lock, let the second writer commit in between, and then
    re-added the second writer's rows to the rollups."""
    import threading
    from datetime import timedelta

    import storage.usage_repo as repo

    base = datetime(2026, 1, 20, tzinfo=UTC)

    def records(lo: int, hi: int) -> list[UsageRecord]:
        return [UsageRecord(source=Source.CURSOR, feed=Feed.CURSOR_EVENTS, natural_key=f"conc-{i}",
                            ts=base + timedelta(seconds=i), person=f"dev{i % 7}@example.com", raw_model="gpt-5",
                            model="gpt-5", input_tokens=1, cost_nanos=1, requests=1) for i in range(lo, hi)]

    first_inserting, second_done = threading.Event(), threading.Event()

    class HoldFirstInsert:
        def __init__(self, raw):
            self._raw = raw

        def __getattr__(self, name):
            return getattr(self._raw, name)

        def executemany(self, sql, rows):
            if sql.startswith("INSERT INTO usage_event") and threading.current_thread().name == "first":
                first_inserting.set()
                second_done.wait(timeout=2)
            return self._raw.executemany(sql, rows)

    insert_sqlite = repo._insert_sqlite
    monkeypatch.setattr(repo, "_insert_sqlite", lambda raw, *args: insert_sqlite(HoldFirstInsert(raw), *args))
    before = report("--by", "tool", capsys=capsys)["totals"]
    errors: list[Exception] = []

    def write(recs: list[UsageRecord]) -> None:
        try:
            if threading.current_thread().name == "second":
                first_inserting.wait(timeout=5)  # Postgres never sets it: the two simply race
            with session_scope(seeded) as s:
                write_usage(recs, session=s)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            if threading.current_thread().name == "second":
                second_done.set()

    threads = [threading.Thread(target=write, args=(records(0, 2000),), name="first"),
               threading.Thread(target=write, args=(records(1000, 3000),), name="second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    after = report("--by", "tool", capsys=capsys)["totals"]
    assert after["requests"] - before["requests"] == 3000  # 3,000 distinct records
    assert after["total_tokens"] - before["total_tokens"] == 3000


def test_a_record_is_its_source_time_and_key_whatever_else_is_in_the_batch(seeded, capsys):
    """The primary key is (source, day, time, natural key), and the batch's de-duplication and
    its "already stored?" look-up use exactly that: a key at another time is another record,
    whichever records share its batch."""
    def rec(key: str, hour: int) -> UsageRecord:
        return cursor(key, datetime(2026, 1, 21, hour, tzinfo=UTC), BOB, "gpt-5", 1, 0, 0, 0, 1)

    outcomes = []
    for batch in ([rec("K", 10)], [rec("K", 12)], [rec("K", 13), rec("L", 9)], [rec("J", 10), rec("J", 11)],
                  [rec("K", 12), rec("J", 11)]):
        with session_scope(seeded) as s:
            res = write_usage(batch, session=s)
        outcomes.append((res.inserted, res.duplicates))
    assert outcomes == [(1, 0), (1, 0), (2, 0), (2, 0), (0, 2)]


def test_the_table_names_the_models_it_could_not_price(seeded, capsys):
    unpriced = [claude(f"u{i}", 8, BOB, model, 10, 0, 0, 0, 1, 0, basis=CostBasis.UNKNOWN_MODEL)
                for i, model in enumerate(["mystery-1", "mystery-2", "mystery-1"])]
    with session_scope(seeded) as s:
        write_usage(unpriced, session=s)
    assert main(["report", "--from", "2026-01-01", "--to", "2026-01-31"]) == 0
    out = capsys.readouterr().out
    assert "3 record(s) use a model with no known price (mystery-1, mystery-2)" in out


def test_a_rollup_sum_beyond_64_bits_is_refused_not_rounded(seeded, capsys):
    """Two batches of 600 records at $10M each for one person, model and day: each batch's sum
    fits 64 bits, both together ($12B = 1.2e19 nanos) do not. The second write is refused as one
    error and changes nothing (SQLite's `+` would otherwise have stored a float)."""
    from core.errors import DataRejected
    from storage.sync_repo import SqlSyncStore

    def batch(first: int) -> list[UsageRecord]:
        return [cursor(f"big-{i}", datetime(2026, 1, 22, 1, 0, i % 60, (i // 60) * 1000, tzinfo=UTC), BOB, "gpt-5",
                       1, 0, 0, 0, 10**16) for i in range(first, first + 600)]

    store = SqlSyncStore(seeded)
    with store.transaction() as tx:
        assert tx.write_usage(batch(0)) == (600, 0)
    before = report("--by", "user", capsys=capsys)
    with pytest.raises(DataRejected, match="out of range"):
        with store.transaction() as tx:
            tx.write_usage(batch(600))
    assert report("--by", "user", capsys=capsys) == before
    with seeded.connect() as conn:
        kinds = {t for (t,) in conn.exec_driver_sql("SELECT DISTINCT CAST(cost_nanos AS TEXT) FROM usage_daily")}
    assert not any("e" in k.lower() or "." in k for k in kinds)  # every rollup value still an exact integer
