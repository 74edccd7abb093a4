"""Claude Console usage and cost exports: Claude Code rows become usage (others are skipped with the
reason), and the cost export's dollars replace the estimate of the matching person-day-model.
Expected figures are worked out by hand below (prices: vendor-apis.md §A.7)."""

from __future__ import annotations

import pytest

USAGE_HEAD = ("usage_date_utc,model_version,api_key,workspace,usage_type,context_window,usage_input_tokens_no_cache,"
              "usage_input_tokens_cache_write_5m,usage_input_tokens_cache_write_1h,usage_input_tokens_cache_read,"
              "usage_output_tokens,web_search_count")
JANE = "2026-03-22,claude-sonnet-4-20250514,claude_code_key_jane.doe_ab12,Default,standard,≤ 200k,100000,0,0,0,5000,10"
OTHER = "2026-03-22,claude-haiku-4-5-20251001,test-key,Default,standard,≤ 200k,50000,0,0,0,2000,0"
BOT = "2026-03-23,claude-opus-4-6,ci-bot,Claude Code,standard,≤ 200k,1000,2000,4000,10000,500,0"

USAGE = {
    "current": f"\ufeff{USAGE_HEAD},inference_geo,speed\n{JANE},not_available,\n{OTHER},not_available,\n"
               f"{BOT},global,\n",
    "no-geo-speed": f"{USAGE_HEAD}\r\n{JANE}\r\n{OTHER}\r\n{BOT}\r\n\r\n",
}
# Sonnet 4 ($3 in, $15 out): 100k in = $0.30, 5k out = $0.075 → $0.375
# Opus 4.6 ($5 in, 5m write $6.25, 1h write $10, read $0.50, out $25): 0.005 + 0.0125 + 0.04 + 0.005 + 0.0125 = $0.075
EXPECTED_USAGE = {
    "jane.doe@example.com": {"input_tokens": 100_000, "output_tokens": 5000, "cache_write_tokens": 0,
                             "cache_read_tokens": 0, "total_tokens": 105_000, "cost_usd": 0.375},
    "unmapped:ci-bot": {"input_tokens": 1000, "output_tokens": 500, "cache_write_tokens": 6000,
                        "cache_read_tokens": 10_000, "total_tokens": 17_500, "cost_usd": 0.075},
}


@pytest.fixture(autouse=True)
def domain(abacus_env, monkeypatch):
    monkeypatch.setenv("ABACUS_EMAIL_DOMAIN", "example.com")


def _pick(rows, fields=("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "total_tokens",
                        "cost_usd")):
    return {k: {f: v[f] for f in fields} for k, v in rows.items()}


@pytest.mark.parametrize("variant", list(USAGE))
def test_usage_export(variant, cli, write, report):
    res = cli("import", "--quiet", write("usage.csv", USAGE[variant]))
    assert res.code == 0, res.err
    assert "inserted: 2" in res.out
    assert "skipped 1: not a Claude Code key" in res.out
    users, _ = report("user", "2026-03-01", "2026-03-31")
    assert _pick(users) == EXPECTED_USAGE
    models, _ = report("model", "2026-03-01", "2026-03-31")
    assert set(models) == {"sonnet-4", "opus-4.6"}
    again = cli("import", "--quiet", write("usage.csv", USAGE[variant]))
    assert "inserted: 0" in again.out and "already present: 2" in again.out
    assert report("user", "2026-03-01", "2026-03-31")[0] == users


def test_single_cache_write_column(cli, write, report):
    content = ("usage_date_utc,model_version,api_key,workspace,usage_type,context_window,usage_input_tokens_no_cache,"
               "usage_input_tokens_cache_write,usage_input_tokens_cache_read,usage_output_tokens,web_search_count\n"
               '2026-03-24,claude-sonnet-4-5,claude_code_key_john.smith_zz9,Default,standard,≤ 200k,"2,000",4000,'
               "100000,1000,0\n")
    assert cli("import", "--quiet", write("old.csv", content)).code == 0
    users, _ = report("user", "2026-03-01", "2026-03-31")
    # Sonnet 4.5: 2000 × $3 + 4000 × $3.75 (5-minute write) + 100k × $0.30 + 1000 × $15, per million = $0.066
    assert _pick(users) == {"john.smith@example.com": {
        "input_tokens": 2000, "output_tokens": 1000, "cache_write_tokens": 4000, "cache_read_tokens": 100_000,
        "total_tokens": 107_000, "cost_usd": 0.066}}


COST = {
    "2025-12": ("usage_date_utc,model,workspace,api_key,usage_type,context_window,token_type,cost_usd,cost_type\n",
                lambda *c: ",".join(c[:8]) + "," + c[9]),
    "2026": ("usage_date_utc,model,workspace,api_key,usage_type,context_window,token_type,cost_usd,list_price_usd,"
             "cost_type,inference_geo,speed\n", lambda *c: ",".join(c) + ",global,"),
    "2026-08": ("usage_date_utc,model,workspace,api_key,usage_type,context_window,token_type,cost_usd,list_price_usd,"
                "cost_type,inference_geo,speed,api_key_id,api_key_status\n",
                lambda *c: ",".join(c) + ",global,,apikey_01X,active"),
}


def _cost_file(generation: str) -> str:
    head, row = COST[generation]
    lines = [
        row("2026-03-22", "Claude Sonnet 4", "Default", "claude_code_key_jane.doe_ab12", "message", "≤ 200k",
            "input_no_cache", "0.31", "0.31", "token"),
        row("2026-03-22", "Claude Sonnet 4", "Default", "claude_code_key_jane.doe_ab12", "message", "≤ 200k",
            "output", "$0.08", "0.08", "token"),
        row("2026-03-22", "Claude Haiku 4.5", "Default", "test-key", "message", "≤ 200k", "output", "9.00", "9.00",
            "token"),
    ]
    return head + "\n".join(lines) + "\n"


@pytest.mark.parametrize("generation", list(COST))
@pytest.mark.parametrize("cost_first", [False, True])
def test_cost_export_brings_the_vendor_dollars(generation, cost_first, cli, write, report):
    usage, cost = write("usage.csv", USAGE["current"]), write("cost.csv", _cost_file(generation))
    for path in ([cost, usage] if cost_first else [usage, cost]):
        res = cli("import", "--quiet", path)
        assert res.code == 0, res.err
    users, totals = report("user", "2026-03-01", "2026-03-31")
    # Jane's Sonnet 4 day: the vendor's $0.31 + $0.08 replaces the $0.375 estimate; the Haiku line is not
    # Claude Code (skipped), the bot's Opus day has no cost line and keeps its estimate
    assert users["jane.doe@example.com"]["cost_usd"] == 0.39
    assert users["jane.doe@example.com"]["total_tokens"] == 105_000
    assert users["unmapped:ci-bot"]["cost_usd"] == 0.075
    assert totals["cost_usd"] == 0.465
    again = cli("import", "--quiet", cost)
    assert "inserted: 0" in again.out and "already present: 2" in again.out
    assert report("user", "2026-03-01", "2026-03-31")[0] == users


def test_a_cost_export_imported_before_a_key_is_mapped_prices_the_usage_imported_after(cli, write, report):
    """Cost-export lines are matched to usage by person-day-model. Lines imported while their key had
    no owner stayed with `unmapped:<key>` after `abacus map`, so usage imported under the new owner
    kept the estimate instead of the vendor's dollars; `abacus unmap` must carry them back too."""
    key = "ci-runner"  # in the Claude Code workspace, no name pattern: nobody's until mapped
    cost = ("usage_date_utc,model,workspace,api_key,usage_type,context_window,token_type,cost_usd,cost_type\n"
            f"2026-03-23,Claude Opus 4.6,Claude Code,{key},message,≤ 200k,input_no_cache,1.2500,token\n"
            f"2026-03-23,Claude Opus 4.6,Claude Code,{key},message,≤ 200k,output,2.0833,token\n")
    earlier = f"{USAGE_HEAD}\n2026-03-22,claude-opus-4-6,{key},Claude Code,standard,≤ 200k,1000,0,0,0,0,0\n"
    later = f"{USAGE_HEAD}\n2026-03-23,claude-opus-4-6,{key},Claude Code,standard,≤ 200k,2000,0,0,0,400,0\n"
    assert cli("import", "--quiet", write("earlier.csv", earlier)).code == 0  # the key is known by its usage
    assert cli("import", "--quiet", write("cost.csv", cost)).code == 0
    res = cli("map", key, "ivy@example.com", "--new-person")
    assert res.code == 0, res.err
    res = cli("import", "--quiet", write("later.csv", later))
    assert res.code == 0 and "priced with the vendor's dollars" in res.out, res.out
    # by hand: 03-22 1,000 Opus 4.6 input tokens at $5/M = $0.005 (estimate); 03-23 the export's
    # $1.25 + $2.0833 = $3.3333 (not the estimate 2,000 × $5/M + 400 × $25/M = $0.02)
    users, totals = report("user", "2026-03-01", "2026-03-31")
    assert {k: (v["total_tokens"], v["cost_usd"]) for k, v in users.items()} == {"ivy@example.com": (3400, 3.3383)}
    assert cli("unmap", key).code == 0
    users, _ = report("user", "2026-03-01", "2026-03-31")
    assert {k: (v["total_tokens"], v["cost_usd"]) for k, v in users.items()} == {f"unmapped:{key}": (3400, 3.3383)}
    assert cli("map", key, "ivy@example.com").code == 0
    again = cli("import", "--quiet", write("cost.csv", cost))  # attaching again changes nothing
    assert again.code == 0 and "already present: 2" in again.out
    assert report("user", "2026-03-01", "2026-03-31")[1]["cost_usd"] == 3.3383
