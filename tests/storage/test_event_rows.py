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


# --- the rollups of a new day and source (Postgres: COPY into usage_daily, the coarser ones grouped from
# it; SQLite: the same `+=` folds as any batch) and of a day they already hold ----------------------------

def _rollups(engine) -> dict:
    """Every rollup row, its sums as (records, cost_nanos, output_tokens), by table and key."""
    out = {}
    with engine.connect() as conn:
        for table, keys in (("usage_daily", "day, source, person, model"), ("usage_person_day", "day, source, person"),
                            ("usage_model_day", "day, source, model"), ("usage_person_total_day", "day, person")):
            out[table] = {tuple(str(v) for v in r[:-3]): tuple(int(v) for v in r[-3:]) for r in conn.execute(text(
                f"SELECT {keys}, records, cost_nanos, output_tokens FROM {table}"))}
    return out


def _claude(key: str, ts: int, person: str, cost: int, out: int) -> tuple:
    return ("claude_code", "claude_usage_csv", key, T0 + ts, "2026-03-02", person, None, None, "claude-x",
            "claude-x", 0, 0, 0, 0, out, cost, "vendor", 0, 1, None, None, None)


def _spy(monkeypatch, name: str) -> list:
    """Calls of one of usage_repo's Postgres paths (to know which one a test went through)."""
    from storage import usage_repo

    calls: list = []
    real = getattr(usage_repo, name)
    monkeypatch.setattr(usage_repo, name, lambda *a, **k: calls.append(name) or real(*a, **k))
    return calls


def test_a_new_day_of_one_tool_adds_to_the_total_of_a_day_another_tool_holds(engine, monkeypatch):
    """Claude Code first (ann: 1 record, 5,000,000 nanos, 9 output tokens), then the Cursor rows
    R1-R3 of the same day, new for Cursor: the per-tool rollups hold each tool alone, the total
    across tools adds them. By hand: ann 1 + 2 = 3 records, 5,000,000 + 30,000,000 nanos, output
    9 + 4 + 5 = 18; bob Cursor alone."""
    fresh = _spy(monkeypatch, "_add_fresh")
    with session_scope(engine) as s:
        assert write_usage([_claude("c1", 5, ANN, 5_000_000, 9)], session=s).inserted == 1
    with session_scope(engine) as s:
        assert write_usage([R1, R2, R3], session=s).inserted == 3
    day = "2026-03-02"
    assert _rollups(engine) == {
        "usage_daily": {(day, "claude_code", ANN, "claude-x"): (1, 5_000_000, 9),
                        (day, "cursor", ANN, "gpt-5"): (2, 30_000_000, 9),
                        (day, "cursor", BOB, "gpt-5"): (1, 30_000_000, 7)},
        "usage_person_day": {(day, "claude_code", ANN): (1, 5_000_000, 9), (day, "cursor", ANN): (2, 30_000_000, 9),
                             (day, "cursor", BOB): (1, 30_000_000, 7)},
        "usage_model_day": {(day, "claude_code", "claude-x"): (1, 5_000_000, 9),
                            (day, "cursor", "gpt-5"): (3, 60_000_000, 16)},
        "usage_person_total_day": {(day, ANN): (3, 35_000_000, 18), (day, BOB): (1, 30_000_000, 7)},
    }
    assert len(fresh) == (2 if engine.dialect.name == "postgresql" else 0)


def test_a_batch_over_a_day_the_rollups_hold_and_a_new_one_adds_to_both(engine, monkeypatch):
    """R1 alone, then R2, R3 and R4 (bob, next day, 40,000,000 nanos, output 3): the first day's
    rows are added to (`+=`), the next day's are new. By hand: 03-02 ann 2 records 30,000,000
    output 9, bob 1 / 30,000,000 / 7; 03-03 bob 1 / 40,000,000 / 3."""
    r4 = tuple(EventRecord._make(R3)._replace(natural_key="k4", ts_ms=T0 + 86_400_000, day="2026-03-03",
                                              cost_nanos=40_000_000, output_tokens=3))
    with session_scope(engine) as s:
        assert write_usage([R1], session=s).inserted == 1
    fresh, folded = _spy(monkeypatch, "_add_fresh"), _spy(monkeypatch, "_fold_postgres")
    with session_scope(engine) as s:
        assert write_usage([R2, R3, r4], session=s).inserted == 3
    assert (len(fresh), len(folded)) == ((0, 1) if engine.dialect.name == "postgresql" else (0, 0))
    d1, d2 = "2026-03-02", "2026-03-03"
    assert _rollups(engine) == {
        "usage_daily": {(d1, "cursor", ANN, "gpt-5"): (2, 30_000_000, 9),
                        (d1, "cursor", BOB, "gpt-5"): (1, 30_000_000, 7),
                        (d2, "cursor", BOB, "gpt-5"): (1, 40_000_000, 3)},
        "usage_person_day": {(d1, "cursor", ANN): (2, 30_000_000, 9), (d1, "cursor", BOB): (1, 30_000_000, 7),
                             (d2, "cursor", BOB): (1, 40_000_000, 3)},
        "usage_model_day": {(d1, "cursor", "gpt-5"): (3, 60_000_000, 16), (d2, "cursor", "gpt-5"): (1, 40_000_000, 3)},
        "usage_person_total_day": {(d1, ANN): (2, 30_000_000, 9), (d1, BOB): (1, 30_000_000, 7),
                                   (d2, BOB): (1, 40_000_000, 3)},
    }


def test_a_rollup_row_of_a_day_usage_daily_lacks_is_added_to_not_refused(engine, monkeypatch):
    """A usage_person_day row for ann on a day usage_daily holds nothing of (as a writer outside
    the write lock could leave it for a moment): Postgres takes the new day for new, meets that row
    in the coarser rollup, undoes the batch and writes it again through the per-row conflict path;
    every event is stored once and ann's row is added to. By hand: ann 7 + 2 = 9 records,
    1,000 + 30,000,000 nanos, output 0 + 9."""
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO usage_person_day (day, source, person, input_tokens, cache_write_tokens, cache_read_tokens, "
            "output_tokens, cost_nanos, estimated_cost_nanos, unpriced_records, requests, records) "
            "VALUES ('2026-03-02', 'cursor', :p, 0, 0, 0, 0, 1000, 0, 0, 7, 7)"), {"p": ANN})
    staged = _spy(monkeypatch, "_insert_postgres_staged")
    with session_scope(engine) as s:
        res = write_usage([R1, R2, R3], session=s)
    assert (res.inserted, res.duplicates) == (3, 0)
    assert len(staged) == (1 if engine.dialect.name == "postgresql" else 0)
    state = _state(engine)
    assert state["events"] == [("k1", True, None), ("k2", False, None), ("k3", None, None)]
    assert state["usage_daily"] == HAND
    assert _rollups(engine)["usage_person_day"] == {("2026-03-02", "cursor", ANN): (9, 30_001_000, 9),
                                                    ("2026-03-02", "cursor", BOB): (1, 30_000_000, 7)}
