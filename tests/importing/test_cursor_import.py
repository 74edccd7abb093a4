"""Cursor usage exports, every header variant: totals per person and model computed by hand from the
rows below, read back through `abacus report --format json` on SQLite and Postgres."""

from __future__ import annotations

import pytest

V1_BOM_CRLF = (
    "\ufeffDate,Model,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,Total Tokens,Cost,"
    "Cost to you\r\n"
    # additive: 1000 + 200 + 3000 + 400 = 4600 → cache write 1000, input 200
    "2026-01-05T10:00:00.000Z,claude-4.5-sonnet,1000,200,3000,400,4600,0.50,0\r\n"
    # w/ includes input: 1500 + 2000 + 100 = 3600 → cache write 1500 - 500 = 1000, input 500
    "2026-01-05T11:30:00.123Z,gpt-5,1500,500,2000,100,3600,0.25,0.25\r\n"
)
V2_NO_USER_QUOTED = (
    '"Date","Kind","Model","Max Mode","Input (w/ Cache Write)","Input (w/o Cache Write)","Cache Read",'
    '"Output Tokens","Total Tokens","Cost"\n'
    '"2026-01-06T09:00:00.000Z","On-Demand","claude-4.5-opus-high-thinking","Yes","10","20","30","40","100","$1.25"\n'
    '"2026-01-07T09:00:00.000Z","Included","auto","No","0","5","0","5","10","Included"\n'
    "\n\n"
)
V2_REQUESTS = (
    "Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
    "Total Tokens,Requests\n"
    "2026-01-08T12:00:00Z,a@example.com,Included,claude-4.5-sonnet,No,0,1000000,0,100000,1100000,2\n"
    "2026-01-08T13:00:00Z,A@Example.com,Included,claude-4.5-sonnet,No,0,0,0,0,0,1\n"
)
V3_AGENTS = (
    'Date,User,Cloud Agent ID,Automation ID,Kind,Model,Max Mode,"Input (w/ Cache Write)","Input (w/o Cache Write)",'
    "Cache Read,Output Tokens,Total Tokens,Cost\n"
    # two events identical in every counted field, same millisecond: two events
    '2026-01-09T08:00:00.000Z,b@example.com,bc-123,,Usage-based,gpt-5,No,"1,000",250,"12,500",750,"14,500",2.10\n'
    '2026-01-09T08:00:00.000Z,b@example.com,,auto-9,Usage-based,gpt-5,No,"1,000",250,"12,500",750,"14,500",2.10\n'
)
OLDEST = (
    "Date,User,Kind,Max Mode,Model,Tokens,Cost ($)\n"
    '2026-01-10,c@example.com,"Errored, No Charge",No,claude-4-sonnet,1234,$0.00\n'
    '2026-01-10,c@example.com,Usage-based,Yes,claude-4-sonnet,"2,000",$0.04\n'
)


def _row(input_tokens=0, cache_write=0, cache_read=0, output=0, cost=0.0, requests=0, days=1):
    return {"input_tokens": input_tokens, "output_tokens": output, "cache_write_tokens": cache_write,
            "cache_read_tokens": cache_read, "total_tokens": input_tokens + cache_write + cache_read + output,
            "cost_usd": cost, "requests": requests, "active_days": days}


CASES = {
    "v1-bom-crlf-personal": (V1_BOM_CRLF, ["--user", "Me@Example.com"], "2026-01-05", {
        "me@example.com": _row(input_tokens=200 + 500, cache_write=1000 + 1000, cache_read=3000 + 2000,
                               output=400 + 100, cost=0.75, requests=2)},
        {"sonnet-4.5": _row(200, 1000, 3000, 400, 0.50, 1), "gpt-5": _row(500, 1000, 2000, 100, 0.25, 1)}),
    "v2-no-user-quoted-dollar-included": (V2_NO_USER_QUOTED, ["--user", "me@example.com"], "2026-01-06", {
        "me@example.com": _row(input_tokens=20 + 5, cache_write=10, cache_read=30, output=40 + 5, cost=1.25,
                               requests=2, days=2)},
        {"opus-4.5-high-thinking": _row(20, 10, 30, 40, 1.25, 1), "auto": _row(5, 0, 0, 5, 0.0, 1)}),
    "v2-requests-priced-from-table": (V2_REQUESTS, [], "2026-01-08", {
        # Sonnet 4.5 at $3 / $15 per million: 1M input = $3.00, 100k output = $1.50
        "a@example.com": _row(input_tokens=1_000_000, output=100_000, cost=4.50, requests=3)},
        {"sonnet-4.5": _row(1_000_000, 0, 0, 100_000, 4.50, 3)}),
    "v3-agents-thousands": (V3_AGENTS, [], "2026-01-09", {
        "b@example.com": _row(input_tokens=2 * 250, cache_write=2 * 1000, cache_read=2 * 12_500, output=2 * 750,
                              cost=4.20, requests=2)},
        {"gpt-5": _row(500, 2000, 25_000, 1500, 4.20, 2)}),
    "oldest-tokens-cost-dollar": (OLDEST, [], "2026-01-10", {
        "c@example.com": _row(input_tokens=1234 + 2000, cost=0.04, requests=2)},
        {"sonnet-4": _row(3234, 0, 0, 0, 0.04, 2)}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_variant_totals(case, cli, write, report):
    content, extra, first_day, by_user, by_model = CASES[case]
    path = write(f"{case}.csv", content)
    res = cli("import", "--quiet", path, *extra)
    assert res.code == 0, res.err
    rows = sum(r["requests"] for r in by_user.values()) if case != "v2-requests-priced-from-table" else 2
    assert f"rows read: {rows}" in res.out
    users, totals = report("user", "2026-01-01", "2026-01-31")
    assert users == {k: {"key": k, **v} for k, v in by_user.items()}
    models, _ = report("model", "2026-01-01", "2026-01-31")
    assert models == {k: {"key": k, **v} for k, v in by_model.items()}
    assert totals["total_tokens"] == sum(v["total_tokens"] for v in by_user.values())


EXAMPLE = "/work/shared/reference/examples/cursor_usage_export.csv"
EXAMPLE_TEXT = (
    "Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
    "Total Tokens,Cost\n"
    '"2025-11-13T18:36:05.846Z","developer@company.com","Included","auto","No","28342","775","105891","21282",'
    '"156290","0.19"\n'
    '"2025-11-13T13:35:04.658Z","developer@company.com","On-Demand","gpt-5-codex","No","0","8263","66964","1612",'
    '"76839","0.03"\n'
    '"2025-12-16T03:02:51.377Z","admin@company.com","Included","claude-4.5-opus-high-thinking","No","55747",'
    '"14237","1529932","14842","1614758","1.78"\n'
)


def test_reimport_adds_nothing_and_every_batch_is_listed(cli, write, report):
    path = write("team.csv", EXAMPLE_TEXT)
    first = cli("import", "--quiet", "--json", path)
    assert first.code == 0, first.err
    assert (first.json()["inserted"], first.json()["already_present"]) == (3, 0)
    before = report("user", "2025-11-01", "2025-12-31")
    second = cli("import", "--quiet", "--json", path)
    assert (second.json()["inserted"], second.json()["already_present"]) == (0, 3)
    assert report("user", "2025-11-01", "2025-12-31") == before
    users, totals = before
    # developer: 775 + 8263 input, 28342 + 0 cache write, 105891 + 66964 read, 21282 + 1612 output
    assert users["developer@company.com"]["total_tokens"] == 156290 + 76839
    assert users["developer@company.com"]["cost_usd"] == 0.22
    assert users["admin@company.com"]["total_tokens"] == 1614758
    assert totals["cost_usd"] == 2.00
    listed = cli("imports", "--json").json()
    assert [(b["file"], b["inserted"], b["already_present"]) for b in listed] == [("team.csv", 0, 3),
                                                                               ("team.csv", 3, 0)]
    assert listed[0]["sha256"] == listed[1]["sha256"] and len(listed[0]["sha256"]) == 64
    assert cli("import", "--list").out.count("team.csv") == 2



def test_each_imported_event_names_the_batch_that_inserted_it(cli, write, abacus_env):
    """usage_event.import_batch_id has no foreign key (migration 0012): the import service is what keeps
    it pointing at a stored batch. Two files, the second repeating one event of the first: the three
    events of the first name the first batch, the second's one new event the second batch, and each
    batch's `inserted` is the number of events that name it."""
    from sqlalchemy import text

    from storage.db import make_engine

    first = cli("import", "--quiet", "--json", write("team.csv", EXAMPLE_TEXT))
    header, repeated = EXAMPLE_TEXT.splitlines(keepends=True)[:2]
    more = header + repeated + '"2025-12-17T09:00:00.000Z","admin@company.com","Included","auto","No","0","10",' \
        '"0","5","15","0.01"\n'
    second = cli("import", "--quiet", "--json", write("more.csv", more))
    assert first.code == second.code == 0, first.err + second.err
    b1, b2 = first.json()["batch_id"], second.json()["batch_id"]
    assert b1 is not None and b2 is not None and b1 != b2
    assert (second.json()["inserted"], second.json()["already_present"]) == (1, 1)
    engine = make_engine(abacus_env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            by_batch = dict(conn.execute(text(
                "SELECT import_batch_id, COUNT(*) FROM usage_event GROUP BY import_batch_id")).all())
            inserted = dict(conn.execute(text("SELECT id, inserted FROM import_batch")).all())
            orphans = conn.execute(text("SELECT COUNT(*) FROM usage_event e LEFT JOIN import_batch b "
                                        "ON b.id = e.import_batch_id WHERE b.id IS NULL")).scalar_one()
    finally:
        engine.dispose()
    assert by_batch == {b1: 3, b2: 1} == inserted
    assert orphans == 0


def test_export_of_days_synced_from_the_api_adds_nothing(cli, write, report, abacus_env):
    """The API sync's conversion of the same three events (filtered-usage-events) first, then the
    export: same natural keys, nothing added; the API's chargedCents stay."""
    from core.sources.cursor_events import EventConverter
    from storage.db import make_engine, session_scope, upgrade
    from storage.usage_repo import write_usage

    events = [
        {"timestamp": "1763058965846", "userEmail": "developer@company.com", "model": "auto", "kind": "Included",
         "maxMode": False, "isTokenBasedCall": True, "chargedCents": 19.4,
         "tokenUsage": {"inputTokens": 775, "outputTokens": 21282, "cacheWriteTokens": 28342,
                        "cacheReadTokens": 105891, "totalCents": 19.0}},
        {"timestamp": "1763040904658", "userEmail": "developer@company.com", "model": "gpt-5-codex",
         "kind": "On-Demand", "maxMode": False, "isTokenBasedCall": True, "chargedCents": 3.1,
         "tokenUsage": {"inputTokens": 8263, "outputTokens": 1612, "cacheWriteTokens": 0,
                        "cacheReadTokens": 66964, "totalCents": 3.0}},
        {"timestamp": "1765854171377", "userEmail": "admin@company.com", "model": "claude-4.5-opus-high-thinking",
         "kind": "Included", "maxMode": False, "isTokenBasedCall": True, "chargedCents": 178.2,
         "tokenUsage": {"inputTokens": 14237, "outputTokens": 14842, "cacheWriteTokens": 55747,
                        "cacheReadTokens": 1529932, "totalCents": 178.0}},
    ]
    engine = make_engine(abacus_env["DATABASE_URL"])
    upgrade(engine)
    with session_scope(engine) as session:
        assert write_usage(EventConverter("team").convert(events), session=session).inserted == 3
    engine.dispose()
    before = report("user", "2025-11-01", "2025-12-31")
    res = cli("import", "--quiet", "--json", write("team.csv", EXAMPLE_TEXT))
    assert res.code == 0, res.err
    assert (res.json()["inserted"], res.json()["already_present"]) == (0, 3)
    assert report("user", "2025-11-01", "2025-12-31") == before
    # the API's charged cents: 19.4 + 3.1 = 22.5 cents for the developer
    assert before[0]["developer@company.com"]["cost_usd"] == 0.225


def test_skip_invalid_imports_the_valid_rows_and_lists_the_rest(cli, write, report):
    content = EXAMPLE_TEXT + '"2025-11-14T00:00:00Z","developer@company.com","Included","auto","No","x","1","1","1",' \
                             '"4","0.01"\n'
    refused = cli("import", "--quiet", write("bad.csv", content))
    assert refused.code == 2
    assert "row 5, Input (w/ Cache Write) = 'x': not a number" in refused.err
    res = cli("import", "--quiet", "--skip-invalid", write("bad.csv", content))
    assert res.code == 0, res.err
    assert "inserted: 3" in res.out and "rejected: 1" in res.out
    assert "row 5, Input (w/ Cache Write) = 'x': not a number" in res.out
    _, totals = report("user", "2025-11-01", "2025-12-31")
    assert totals["total_tokens"] == 156290 + 76839 + 1614758
