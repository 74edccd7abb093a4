"""The sync store's small-entity writes are set-based: a batch of any size costs a fixed number of
statements (one read, then at most one insert, update and delete), and leaves exactly the rows a
row-by-row upsert would have. Expected rows are written out by hand from the fixtures."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date

from sqlalchemy import event, text

from core.sources.records import ActivityRecord, GroupRecord, KeyRecord, MemberRecord, SpendRecord
from core.sync import Vendor
from storage.sync_repo import SqlSyncStore

DAY = date(2026, 3, 2)


@contextmanager
def statements(engine):
    """Count the statements sent to the database (an executemany counts once, and so do the COPY,
    the UPDATE and the DELETE that bulk sends through the driver on Postgres: storage.bulk)."""
    from storage import bulk

    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    def counted(name: str, real, what: str):
        def through_driver(conn, table, *args):
            done = real(conn, table, *args)
            if done:
                seen.append(f"{what} {table.name}")
            return done
        return name, real, through_driver

    # the statements bulk sends through the driver's connection (Postgres), which SQLAlchemy's
    # events do not see: one each when they apply
    patched = [counted("_copy", bulk._copy, "COPY"), counted("_update_from_arrays", bulk._update_from_arrays, "UPDATE"),
               counted("_delete_any", bulk._delete_any, "DELETE")]
    event.listen(engine, "before_cursor_execute", count)
    for name, _, through_driver in patched:
        setattr(bulk, name, through_driver)
    try:
        yield seen
    finally:
        for name, real, _ in patched:
            setattr(bulk, name, real)
        event.remove(engine, "before_cursor_execute", count)


def _writes(seen: list[str]) -> list[str]:
    reads = ("SELECT", "PRAGMA", "DELETE FROM USAGE_EVENT WHERE 0")  # the last: SQLite's write lock
    return [s for s in seen if not s.lstrip().upper().startswith(reads) and "pg_advisory" not in s]


def test_members_of_any_number_cost_the_same_statements(engine):
    store = SqlSyncStore(engine)
    for n in (10, 600):
        members = [MemberRecord(email=f"m{n}.{i}@example.com", name=f"M {i}", vendor_user_id=f"u{i}")
                   for i in range(n)]
        with statements(engine) as seen, store.transaction() as tx:
            tx.save_members(members, vendor=Vendor.CURSOR)
        assert len(_writes(seen)) == 1, seen  # one insert
        assert len(seen) <= 4  # and the read (in chunks of 500)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM person WHERE has_cursor_seat")).scalar() == 610


def test_members_fill_names_and_seats_but_never_overwrite_a_name(engine):
    store = SqlSyncStore(engine)
    with store.transaction() as tx:
        tx.save_members([MemberRecord(email="ann@example.com", name="Ann", vendor_user_id="c1"),
                         MemberRecord(email="bob@example.com", vendor_user_id="c2")], vendor=Vendor.CURSOR)
    with statements(engine) as seen, store.transaction() as tx:
        tx.save_members([MemberRecord(email="ann@example.com", name="Annie", vendor_user_id="c1", removed=True),
                         MemberRecord(email="bob@example.com", name="Bob", vendor_user_id="c2"),
                         MemberRecord(email="cy@example.com", name="Cy")], vendor=Vendor.CURSOR)
    assert len(_writes(seen)) == 2  # one update (ann and bob), one insert (cy)
    with statements(engine) as seen, store.transaction() as tx:
        tx.save_members([MemberRecord(email="ann@example.com", vendor_user_id="a9")], vendor=Vendor.ANTHROPIC)
    assert len(_writes(seen)) == 1
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT email, name, cursor_user_id, has_cursor_seat, anthropic_user_id, "
                                 "has_claude_seat FROM person ORDER BY email")).all()
    assert [tuple(r) for r in rows] == [
        ("ann@example.com", "Ann", "c1", False, "a9", True),  # name kept; seat gone (removed); Claude seat added
        ("bob@example.com", "Bob", "c2", True, None, False),  # name filled in
        ("cy@example.com", "Cy", None, True, None, False)]


def _activity(person: str, lines: int) -> ActivityRecord:
    return ActivityRecord(source="cursor", day=DAY, person=person, org="team", lines_added=lines, chat_requests=1)


def test_an_activity_day_is_replaced_in_fixed_statements(engine):
    store = SqlSyncStore(engine)
    with store.transaction() as tx:
        tx.replace_activity_day(source="cursor", org="team", day=DAY,
                                records=[_activity(f"p{i}@example.com", i) for i in range(800)])
    revised = [_activity(f"p{i}@example.com", i + (1000 if i < 300 else 0)) for i in range(100, 900)]
    with statements(engine) as seen, store.transaction() as tx:
        tx.replace_activity_day(source="cursor", org="team", day=DAY, records=revised)
    # 100 gone (p0-p99), 200 revised (p100-p299), 100 new (p800-p899), 500 unchanged
    assert len(_writes(seen)) == 3, _writes(seen)
    with engine.connect() as conn:
        n, total = conn.execute(text("SELECT COUNT(*), SUM(lines_added) FROM person_activity")).one()
    assert n == 800
    assert total == sum(range(100, 900)) + 200 * 1000



def test_an_unchanged_activity_day_writes_nothing_and_details_count_as_figures(engine):
    store = SqlSyncStore(engine)

    def day(ann_detail: dict, bob_lines: int = 5) -> list[ActivityRecord]:
        return [ActivityRecord(source="cursor", day=DAY, person="ann@example.com", org="team", lines_added=3,
                               detail=ann_detail),
                ActivityRecord(source="cursor", day=DAY, person="bob@example.com", org="team", lines_added=bob_lines,
                               detail={"total_applies": 2, "tab_most_used_extension": "py"}),
                ActivityRecord(source="cursor", day=DAY, person="cy@example.com", org="team", lines_added=7,
                               detail={"total_applies": 2, "tab_most_used_extension": "py"}),
                # the same person and key twice: the first one counts
                ActivityRecord(source="cursor", day=DAY, person="cy@example.com", org="team", lines_added=99)]

    tools = {"tool_actions": ["edit", "write"], "nested": {"a": 1}}  # values that are no dict keys
    with engine.begin() as conn:  # another org's row of a person the team does not report: left alone
        conn.execute(text("INSERT INTO person_activity (source, day, person, natural_key, org, is_active, sessions, "
                          "lines_added, lines_removed, accepted_lines_added, accepted_lines_removed, commits, "
                          "pull_requests, edits_accepted, edits_rejected, tabs_shown, tabs_accepted, chat_requests, "
                          "composer_requests, agent_requests, cmdk_usages, bugbot_usages, included_requests, "
                          "usage_based_requests, api_key_requests) VALUES ('cursor', :d, 'dee@example.com', '', "
                          "'other', :t, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)"),
                     {"d": DAY, "t": True})
    with store.transaction() as tx:
        tx.replace_activity_day(source="cursor", org="team", day=DAY, records=day(tools))
    with statements(engine) as seen, store.transaction() as tx:
        tx.replace_activity_day(source="cursor", org="team", day=DAY, records=day(dict(tools)))
    assert _writes(seen) == []  # read back unchanged: nothing written
    with statements(engine) as seen, store.transaction() as tx:
        tx.replace_activity_day(source="cursor", org="team", day=DAY,
                                records=day({"tool_actions": ["edit"], "nested": {"a": 1}}, bob_lines=6))
    assert len(_writes(seen)) == 1  # ann (her detail) and bob (his lines): one update
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT person, org, lines_added, detail FROM person_activity ORDER BY person")).all()
    assert [tuple(r) for r in rows] == [
        ("ann@example.com", "team", 3, '{"nested":{"a":1},"tool_actions":["edit"]}'),
        ("bob@example.com", "team", 6, '{"tab_most_used_extension":"py","total_applies":2}'),
        ("cy@example.com", "team", 7, '{"tab_most_used_extension":"py","total_applies":2}'),
        ("dee@example.com", "other", 11, None)]

def test_spend_rows_change_only_when_their_figures_do(engine):
    store = SqlSyncStore(engine)
    rec = [SpendRecord(email=f"s{i}@example.com", cycle_start=DAY, on_demand_nanos=i, overall_nanos=10 * i)
           for i in range(300)]
    with store.transaction() as tx:
        tx.save_spend(org="team", records=rec)
    with engine.connect() as conn:
        taken = dict(conn.execute(text("SELECT email, taken_at FROM spend_snapshot")).all())
    rec[7] = SpendRecord(email="s7@example.com", cycle_start=DAY, on_demand_nanos=70, overall_nanos=700)
    with statements(engine) as seen, store.transaction() as tx:
        tx.save_spend(org="team", records=rec)
    assert len(_writes(seen)) == 1
    with engine.connect() as conn:
        after = {e: (t, od) for e, t, od in conn.execute(text("SELECT email, taken_at, on_demand_nanos "
                                                              "FROM spend_snapshot"))}
    assert after["s7@example.com"][1] == 70 and after["s7@example.com"][0] != taken["s7@example.com"]
    assert all(after[e][0] == taken[e] for e in taken if e != "s7@example.com")


def test_groups_move_people_rename_and_clear_in_fixed_statements(engine):
    store = SqlSyncStore(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO billing_group (name, source, created_at) VALUES ('Platform', 'manual', "
                          "CURRENT_TIMESTAMP)"))
    with store.transaction() as tx:
        tx.save_members([MemberRecord(email=f"g{i}@example.com") for i in range(6)], vendor=Vendor.CURSOR)
        tx.save_groups([GroupRecord(external_id="grp_a", name="Alpha", member_emails=["g0@example.com",
                                                                                        "g1@example.com"]),
                        GroupRecord(external_id="grp_p", name="Platform", member_emails=["g2@example.com"])])
    with statements(engine) as seen, store.transaction() as tx:
        tx.save_groups([GroupRecord(external_id="grp_a", name="Alpha Team", member_emails=["g1@example.com",
                                                                                             "g3@example.com"]),
                        GroupRecord(external_id="grp_b", name="Beta", member_emails=["g4@example.com",
                                                                                       "new@example.com"]),
                        GroupRecord(external_id="group_unassigned", name="Unassigned",
                                    member_emails=["g0@example.com", "g2@example.com"], unassigned=True)])
    writes = _writes(seen)
    assert len(writes) <= 5, writes  # groups: update + insert; people: update + insert
    with engine.connect() as conn:
        groups = dict(conn.execute(text("SELECT name, external_id FROM billing_group")).all())
        people = dict(conn.execute(text("SELECT p.email, g.name FROM person p LEFT JOIN billing_group g "
                                        "ON g.id = p.group_id")).all())
    # "Platform" (manual) adopted Cursor's id; Alpha renamed; Beta new
    assert groups == {"Platform": "grp_p", "Alpha Team": "grp_a", "Beta": "grp_b"}
    assert people == {"g0@example.com": None,  # unassigned: left its Cursor group
                      "g1@example.com": "Alpha Team", "g3@example.com": "Alpha Team",
                      "g2@example.com": "Platform",  # a group made here, not by Cursor: its people stay
                      "g4@example.com": "Beta", "new@example.com": "Beta",
                      "g5@example.com": None}


def test_key_owners_are_saved_in_fixed_statements_and_keep_manual_mappings(engine):
    store = SqlSyncStore(engine)
    keys = [KeyRecord(key_id=f"apikey_{i}", name=f"claude_code_key_k{i}_x", workspace_id="w", creator_id=f"c{i}",
                      creator_email=f"k{i}@example.com", status="active") for i in range(50)]
    with statements(engine) as seen, store.transaction() as tx:
        assert tx.save_keys(org="org", records=keys) == 0  # no stored usage to move
    inserts = [s for s in _writes(seen) if s.lstrip().upper().startswith(("INSERT", "COPY"))]
    assert len(inserts) == 2  # the owners as people, the keys
    with engine.begin() as conn:
        conn.execute(text("UPDATE api_key SET email = 'boss@example.com', mapped_how = 'manual' "
                          "WHERE external_id = 'apikey_3'"))
    keys[3] = KeyRecord(key_id="apikey_3", name="renamed", workspace_id="w", creator_id="c3",
                        creator_email="k3@example.com", status="active")
    keys[4] = KeyRecord(key_id="apikey_4", name="claude_code_key_k4_x", workspace_id="w", creator_id="c4",
                        creator_email="someone@example.com", status="active")
    with store.transaction() as tx:
        tx.save_keys(org="org", records=keys)
    with engine.connect() as conn:
        rows = {k: (n, e, h) for k, n, e, h in conn.execute(text(
            "SELECT external_id, name, email, mapped_how FROM api_key WHERE external_id IN "
            "('apikey_3', 'apikey_4', 'apikey_5')"))}
    assert rows == {"apikey_3": ("renamed", "boss@example.com", "manual"),  # the manual owner stays
                    "apikey_4": ("claude_code_key_k4_x", "someone@example.com", "vendor"),
                    "apikey_5": ("claude_code_key_k5_x", "k5@example.com", "vendor")}


def test_a_transaction_commits_what_only_the_driver_wrote_and_rolls_back_on_error(engine):
    """storage.db.unit_scope begins the transaction itself: the usage write path writes through the
    driver's connection, which SQLAlchemy's autobegin never sees (not committed, it would be lost
    when the connection went back to the pool); an error rolls everything back."""
    from storage.db import unit_scope

    def add(conn, email: str) -> None:
        raw = conn.connection.driver_connection
        raw.execute("INSERT INTO person (email, role, has_cursor_seat, has_claude_seat, is_removed, updated_at) "
                    + ("VALUES (%s, 'member', false, false, false, now())" if conn.dialect.name == "postgresql"
                       else "VALUES (?, 'member', 0, 0, 0, '2026-01-01 00:00:00')"), (email,))

    with unit_scope(engine) as unit:
        add(unit.connection(), "kept@example.com")
    try:
        with unit_scope(engine) as unit:
            add(unit.connection(), "lost@example.com")
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    with engine.connect() as conn:
        assert conn.execute(text("SELECT email FROM person")).scalars().all() == ["kept@example.com"]


def test_inserted_rows_hold_what_was_written_and_the_column_defaults_on_either_path(engine):
    """bulk.apply's inserts (Postgres: one COPY where the columns allow it, storage.bulk._copy)
    store the values as given, SQLAlchemy's conversion applied (is_active 0 -> false), and the
    defaults of the columns left out (natural_key '', sessions 0, is_active true). A table with a
    timestamp default computed per row (person.updated_at) is inserted as before, the default set."""
    from storage import bulk
    from storage.tables import Person, PersonActivity

    table = PersonActivity.__table__
    rows = [{"source": "cursor", "day": DAY, "person": "ann@example.com", "org": "o'1", "is_active": 0,
             "lines_added": 2**31 - 1, "detail": '{"a":1}'},
            {"source": "cursor", "day": DAY, "person": "bob@example.com", "org": None, "is_active": True,
             "lines_added": 3, "detail": None}]
    with statements(engine) as seen, engine.begin() as conn:
        bulk.apply(conn, table, bulk.Plan(inserts=rows))
        bulk.apply(conn, table, bulk.Plan(inserts=[{"source": "cursor", "day": DAY, "person": "cy@example.com"},
                                                   {"source": "cursor", "day": DAY, "person": "dee@example.com"}]))
        people = [{"email": "e1@example.com"}, {"email": "e2@example.com"}]
        bulk.apply(conn, Person.__table__, bulk.Plan(inserts=people))
    with engine.connect() as conn:
        got = [tuple(r) for r in conn.execute(text(
            "SELECT person, natural_key, org, is_active, lines_added, sessions, detail, most_used_model "
            "FROM person_activity ORDER BY person"))]
        people = [tuple(r) for r in conn.execute(text(
            "SELECT email, role, has_cursor_seat, updated_at IS NOT NULL FROM person ORDER BY email"))]
    assert got == [("ann@example.com", "", "o'1", False, 2**31 - 1, 0, '{"a":1}', None),
                   ("bob@example.com", "", None, True, 3, 0, None, None),
                   ("cy@example.com", "", None, True, 0, 0, None, None),
                   ("dee@example.com", "", None, True, 0, 0, None, None)]
    assert people == [("e1@example.com", "member", False, True), ("e2@example.com", "member", False, True)]
    copies = [s for s in seen if s.startswith("COPY")]
    assert copies == (["COPY person_activity"] * 2 if engine.dialect.name == "postgresql" else [])


def test_updates_and_deletes_are_one_statement_each_and_store_what_row_by_row_updates_would(engine):
    """bulk.apply's updates (Postgres: one `UPDATE … FROM unnest(arrays)` per set of columns) and
    deletes (one `DELETE … = ANY(array)`) leave exactly the rows the per-row statements would:
    texts with quotes, NULLs, booleans, floats, dates and aware times to the microsecond; an id
    given twice takes its last values. Inserted times (COPY on Postgres) read back as written."""
    from datetime import UTC, datetime, timedelta, timezone

    from storage import bulk
    from storage.tables import BillingGroup, Person, SpendSnapshot
    from storage.values import aware

    t0 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
    people = [{"email": f"p{i}@example.com", "name": f"P {i}", "updated_at": t0 + timedelta(seconds=i)}
              for i in range(5)]
    spend = [{"source": "cursor", "org": "o", "cycle_start": DAY, "email": f"p{i}@example.com",
              "on_demand_nanos": i, "limit_dollars": 1.5 * i, "taken_at": t0} for i in range(3)]
    with engine.begin() as conn:
        bulk.apply(conn, Person.__table__, bulk.Plan(inserts=people))
        bulk.apply(conn, SpendSnapshot.__table__, bulk.Plan(inserts=spend))
        bulk.apply(conn, BillingGroup.__table__, bulk.Plan(
            inserts=[{"name": g, "source": "cursor", "created_at": t0} for g in ("G1", "G2")]))
    with engine.connect() as conn:
        ids = dict(conn.execute(text("SELECT email, id FROM person")).all())
        gid = dict(conn.execute(text("SELECT name, id FROM billing_group")).all())
        sid = dict(conn.execute(text("SELECT email, id FROM spend_snapshot")).all())
        stored = [tuple(r) for r in conn.execute(text("SELECT email, updated_at FROM person ORDER BY email"))]
    # inserted times, read back as written (SQLite's text has no offset: `aware` reads it as UTC)
    assert [(e, aware(t)) for e, t in stored] == \
        [(p["email"], p["updated_at"]) for p in people]

    later = datetime(2026, 3, 3, 1, 2, 3, 654321, tzinfo=timezone(timedelta(hours=2)))  # 2026-03-02 23:02:03 UTC
    with statements(engine) as seen, engine.begin() as conn:
        bulk.apply(conn, Person.__table__, bulk.Plan(
            updates=[{"id": ids["p0@example.com"], "name": "O'Brien; DROP TABLE person", "group_id": gid["G1"],
                      "has_cursor_seat": True, "updated_at": later},
                     {"id": ids["p1@example.com"], "name": None, "group_id": None, "has_cursor_seat": False,
                      "updated_at": later},
                     {"id": ids["p2@example.com"], "name": "first", "group_id": gid["G1"], "has_cursor_seat": False,
                      "updated_at": later},
                     {"id": ids["p2@example.com"], "name": "last", "group_id": gid["G2"], "has_cursor_seat": True,
                      "updated_at": later}],
            deletes=[ids["p3@example.com"], ids["p4@example.com"]]))
        bulk.apply(conn, SpendSnapshot.__table__, bulk.Plan(
            updates=[{"id": sid["p0@example.com"], "limit_dollars": None, "on_demand_nanos": 2**40},
                     {"id": sid["p1@example.com"], "limit_dollars": 0.1, "on_demand_nanos": 0}]))
    writes = _writes(seen)
    assert len(writes) == 3, writes  # people: one update and one delete; spend: one update
    if engine.dialect.name == "postgresql":
        assert sorted(writes) == ["DELETE person", "UPDATE person", "UPDATE spend_snapshot"]
    with engine.connect() as conn:
        got = [tuple(r) for r in conn.execute(text(
            "SELECT p.email, p.name, g.name, p.has_cursor_seat, p.updated_at FROM person p "
            "LEFT JOIN billing_group g ON g.id = p.group_id ORDER BY p.email"))]
        spent = [tuple(r) for r in conn.execute(text(
            "SELECT email, on_demand_nanos, limit_dollars FROM spend_snapshot ORDER BY email"))]
    utc = datetime(2026, 3, 2, 23, 2, 3, 654321, tzinfo=UTC)
    assert [(*r[:3], bool(r[3]), aware(r[4])) for r in got] == [
        ("p0@example.com", "O'Brien; DROP TABLE person", "G1", True, utc),
        ("p1@example.com", None, None, False, utc),
        ("p2@example.com", "last", "G2", True, utc)]
    assert spent == [("p0@example.com", 2**40, None), ("p1@example.com", 0, 0.1), ("p2@example.com", 2, 3.0)]


def test_an_update_too_long_for_its_column_is_refused_not_cut(engine):
    """An update of a text column with a value longer than the column holds fails as the UPDATE
    with bound values does, on Postgres's one-statement path too (an array cast to VARCHAR(n)
    would cut it silently); nothing of the batch is written."""
    import pytest
    from sqlalchemy.exc import DBAPIError

    from storage import bulk
    from storage.tables import Person

    with engine.begin() as conn:
        bulk.apply(conn, Person.__table__, bulk.Plan(inserts=[{"email": "a@example.com"}, {"email": "b@example.com"}]))
        ids = dict(conn.execute(text("SELECT email, id FROM person")).all())
    if engine.dialect.name == "sqlite":
        return  # SQLite does not enforce VARCHAR lengths
    import psycopg

    # the driver's error, as from bulk's COPY (sent through the driver too); callers handle both
    with pytest.raises((DBAPIError, psycopg.Error), match="too long"), engine.begin() as conn:
        bulk.apply(conn, Person.__table__, bulk.Plan(updates=[{"id": ids["a@example.com"], "name": "ok"},
                                                              {"id": ids["b@example.com"], "name": "x" * 256}]))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM person WHERE name IS NOT NULL")).scalar() == 0


def test_an_update_whose_column_mixes_value_types_stores_what_row_by_row_updates_would(engine):
    """A column's new values of more than one Python type (an int and a bool in an integer column,
    a datetime and a date in a date column): the per-row UPDATEs bound each value by itself and
    stored them; one typed array cannot hold them (psycopg: "cannot dump lists of mixed types"),
    so such a set of columns is updated row by row, as before."""
    from datetime import UTC, date, datetime, timedelta, timezone

    from storage import bulk
    from storage.tables import SpendSnapshot

    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    table = SpendSnapshot.__table__
    with engine.begin() as conn:
        bulk.apply(conn, table, bulk.Plan(inserts=[
            {"source": "cursor", "org": "o", "cycle_start": DAY, "email": f"p{i}@example.com", "taken_at": t0}
            for i in range(3)]))
        ids = dict(conn.execute(text("SELECT email, id FROM spend_snapshot")).all())
    with engine.begin() as conn:
        bulk.apply(conn, table, bulk.Plan(updates=[
            {"id": ids["p0@example.com"], "fast_premium_requests": True,
             "cycle_start": datetime(2026, 3, 5, 12, tzinfo=timezone(timedelta(hours=3)))},
            {"id": ids["p1@example.com"], "fast_premium_requests": 5, "cycle_start": date(2026, 3, 6)},
            {"id": ids["p2@example.com"], "fast_premium_requests": None, "cycle_start": date(2026, 3, 7)}]))
    with engine.connect() as conn:
        got = [tuple(r) for r in conn.execute(text(
            "SELECT email, fast_premium_requests, cycle_start FROM spend_snapshot ORDER BY email"))]
    assert [(e, n, str(d)[:10]) for e, n, d in got] == [
        ("p0@example.com", 1, "2026-03-05"), ("p1@example.com", 5, "2026-03-06"),
        ("p2@example.com", None, "2026-03-07")]
