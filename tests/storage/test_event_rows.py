"""The row-based write path with stored event rows (`core.usage.EVENT_ROW` tuples, as the Cursor
converter makes them), on SQLite and Postgres: max_mode as 0/1/None into the BOOLEAN column through
Postgres's binary COPY and through its staged text-COPY fallback; the same event twice in one batch
counted once (no in-memory de-duplication: SQLite's ON CONFLICT, Postgres's UniqueViolation → staged
path); import_batch_id kept; every rollup equal to the hand sums.

Rows (day 2026-03-02, Cursor, model gpt-5), cost in nanos, tokens (in, cache write, cache read, out):
  r1 ann  ts +0    cost 10,000,000  (1, 2, 3, 4)   max_mode 1
  r2 ann  ts +1    cost 20,000,000  (10, 0, 0, 5)  max_mode 0
  r3 bob  ts +2    cost 30,000,000  (0, 0, 0, 7)   max_mode None
By hand: 3 records, 60,000,000 nanos, input 11, cache write 2, cache read 3, output 16, 3 requests;
ann 30,000,000 over 2 records, bob 30,000,000 over 1.
"""

from __future__ import annotations

from sqlalchemy import text

from core.usage import EventRecord
from storage.db import session_scope
from storage.tables import ImportBatch
from storage.usage_repo import write_usage

T0 = 1_772_409_600_000 + 36_000_000  # 2026-03-02 10:00 UTC
ANN, BOB = "ann@example.com", "bob@example.com"


def _row(key: str, ts: int, person: str, cost: int, tokens: tuple[int, int, int, int], max_mode: int | None,
         batch: int | None = None) -> tuple:
    inp, cw, cr, out = tokens
    return ("cursor", "cursor_events", key, T0 + ts, "2026-03-02", person, None, "team", "gpt-5", "gpt-5",
            inp, cw, 0, cr, out, cost, "vendor", 0, 1, "Usage-based", max_mode, batch)


R1 = _row("k1", 0, ANN, 10_000_000, (1, 2, 3, 4), 1)
R2 = _row("k2", 1, ANN, 20_000_000, (10, 0, 0, 5), 0)
R3 = _row("k3", 2, BOB, 30_000_000, (0, 0, 0, 7), None)
assert all(EventRecord._make(r) for r in (R1, R2, R3))


def _state(engine) -> dict:
    with engine.connect() as conn:
        events = conn.execute(text("SELECT natural_key, max_mode, import_batch_id FROM usage_event "
                                   "ORDER BY natural_key")).all()
        out = {"events": [(k, None if m is None else bool(m), b) for k, m, b in events]}
        for table in ("usage_daily", "usage_person_day", "usage_model_day", "usage_person_total_day"):
            out[table] = tuple(int(v) for v in conn.execute(text(
                f"SELECT SUM(records), SUM(cost_nanos), SUM(input_tokens), SUM(cache_write_tokens), "
                f"SUM(cache_read_tokens), SUM(output_tokens), SUM(requests) FROM {table}")).one())
        out["by_person"] = {p: (int(r), int(c)) for p, r, c in conn.execute(text(
            "SELECT person, records, cost_nanos FROM usage_person_total_day ORDER BY person"))}
    return out


HAND = (3, 60_000_000, 11, 2, 3, 16, 3)


def _assert_hand(engine, batch: int | None = None) -> None:
    state = _state(engine)
    assert state["events"] == [("k1", True, batch), ("k2", False, batch), ("k3", None, batch)]
    for table in ("usage_daily", "usage_person_day", "usage_model_day", "usage_person_total_day"):
        assert state[table] == HAND, table
    assert state["by_person"] == {ANN: (2, 30_000_000), BOB: (1, 30_000_000)}


def test_max_mode_0_1_none_through_the_fast_path(engine):
    with session_scope(engine) as s:
        res = write_usage([R1, R2, R3], session=s)
    assert (res.received, res.inserted, res.duplicates) == (3, 3, 0)
    _assert_hand(engine)


def test_the_same_new_event_twice_in_one_batch_is_counted_once(engine):
    """Postgres: the binary COPY meets the primary key, rolls back, and the staged text COPY (max_mode
    as 0/1/None text into BOOLEAN) inserts each row once; SQLite: ON CONFLICT skips the twin."""
    with session_scope(engine) as s:
        res = write_usage([R1, R2, R1, R3, R2], session=s)
    assert (res.received, res.inserted, res.duplicates) == (5, 3, 2)
    _assert_hand(engine)
    with session_scope(engine) as s:  # and again: all present
        res = write_usage([R3, R3, R1, R2], session=s)
    assert (res.received, res.inserted, res.duplicates) == (4, 0, 4)
    _assert_hand(engine)


def test_import_batch_id_is_set_on_both_paths(engine):
    with session_scope(engine) as s:
        batch = ImportBatch(filename="usage.csv", sha256="0" * 64, format="cursor")
        s.add(batch)
        s.flush()
        batch_id = batch.id
        res = write_usage([R1, R2, R3, R2], session=s, import_batch_id=batch_id)
    assert (res.inserted, res.duplicates) == (3, 1)
    _assert_hand(engine, batch_id)


def test_vendor_text_of_a_usage_record_is_stored_as_the_columns_hold_it(engine):
    """A UsageRecord (Anthropic sync, Claude Console CSV, live telemetry) with a NUL and text beyond the
    columns' widths is stored on both databases — NUL dropped, cut to 320 (person), 255 (key, org,
    models) and 64 (kind) — instead of Postgres refusing the whole batch."""
    from datetime import UTC, datetime

    from core.usage import CostBasis, Feed, Source, UsageRecord

    rec = UsageRecord(source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_USAGE_CSV, natural_key="h1",
                      ts=datetime(2026, 3, 2, 10, tzinfo=UTC), person="p\x00" + "e" * 400 + "@example.com",
                      raw_model="m\x00" + "o" * 300, model="claude-x" + "y" * 300, input_tokens=5, output_tokens=6,
                      cost_nanos=7_000, cost_basis=CostBasis.VENDOR, requests=1, api_key="k\x00" + "k" * 300,
                      org="o\x00" + "r" * 300, kind="q\x00" + "z" * 100)
    with session_scope(engine) as s:
        assert write_usage([rec], session=s).inserted == 1
    with engine.connect() as conn:
        person, api_key, org, raw_model, model, kind, cost = conn.execute(text(
            "SELECT person, api_key, org, raw_model, model, kind, cost_nanos FROM usage_event")).one()
        daily = conn.execute(text("SELECT person, model, cost_nanos FROM usage_daily")).one()
    assert person == ("p" + "e" * 400)[:320] and len(person) == 320
    assert api_key == ("k" + "k" * 300)[:255] and org == ("o" + "r" * 300)[:255]
    assert raw_model == ("m" + "o" * 300)[:255] and model == ("claude-x" + "y" * 300)[:255]
    assert kind == ("q" + "z" * 100)[:64] and cost == 7_000
    assert tuple(daily) == (person, model, 7_000)



HOSTILE_ORG = "Acme's \"team\"'); DROP TABLE usage_event; --"


def _stored_rows(engine) -> list[tuple]:
    from storage.usage_repo import EVENT_COLUMNS

    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {', '.join(EVENT_COLUMNS)} FROM usage_event ORDER BY ts_ms")).all()
    return [(*r[:4], str(r[4])[:10], *r[5:20], None if r[20] is None else int(r[20]), r[21]) for r in rows]


def _varied(i: int, **changes) -> tuple:
    """Row i: ts +i, ann or bob, cost 1,000 × i nanos, max_mode i % 2; the org hostile; `changes`
    by column name."""
    from storage.usage_repo import EVENT_COLUMNS

    row = dict(zip(EVENT_COLUMNS, _row(f"h{i}", i, ANN if i % 2 else BOB, 1_000 * i, (i, 0, i, 1), i % 2),
                   strict=True))
    row.update({"org": HOSTILE_ORG, **changes})
    return tuple(row.values())


def test_values_a_batch_shares_are_stored_exactly_whatever_their_text(engine):
    """SQLite writes the values every row of a batch shares into the statement as literals
    (`_sqlite_insert`): an org with quotes and SQL in it is stored as it came; a batch sharing only
    some columns binds the others. Every stored row equals the row written, on both databases.
    By hand: costs 0+1,000+2,000+3,000 (shared) + 6,000+7,000 (mixed) = 19,000 nanos over 6 records."""
    shared = [_varied(i) for i in range(4)]
    mixed = [_varied(6, api_key="key-1", cost_basis="estimated", estimated_cost_nanos=6_000, org="o'1"),
             _varied(7, cache_write_1h_tokens=5, org="o'2", requests=3, day="2026-03-02")]
    with session_scope(engine) as s:
        for batch in (shared, mixed):
            assert write_usage(batch, session=s).inserted == len(batch)
    assert _stored_rows(engine) == shared + mixed
    with engine.connect() as conn:
        assert tuple(conn.execute(text("SELECT SUM(cost_nanos), SUM(records), SUM(requests) "
                                       "FROM usage_person_total_day")).one()) == (19_000, 6, 4 + 1 + 3)


def test_a_shared_text_with_a_nul_is_bound_not_cut(engine):
    """SQLite only (Postgres text cannot hold a NUL; the converters drop it before any database):
    a literal would end at the NUL, so such a value is bound like any other."""
    if engine.dialect.name != "sqlite":
        return
    rows = [_varied(i, org="nul\x00org", kind="k\x00ind") for i in range(3)]
    with session_scope(engine) as s:
        assert write_usage(rows, session=s).inserted == 3
    assert _stored_rows(engine) == rows
