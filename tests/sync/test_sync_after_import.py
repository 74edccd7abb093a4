"""A Claude Console export imported first, the API synced after: the API's rows replace the imported
rows of the same person-days (nothing counted twice); imported person-days the API does not cover
stay. Expected totals: the scenario's hand-computed ones plus the one imported row that stays."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.sync import scenario as sc

pytestmark = pytest.mark.e2e

HEAD = ("usage_date_utc,model_version,api_key,workspace,usage_type,context_window,usage_input_tokens_no_cache,"
        "usage_input_tokens_cache_write_5m,usage_input_tokens_cache_write_1h,usage_input_tokens_cache_read,"
        "usage_output_tokens,web_search_count\n")


def test_sync_replaces_imported_claude_person_days(sync_env, cli, report, scenario, tmp_path):
    d1, d2 = scenario.days[0], scenario.days[1]
    export = tmp_path / "claude.csv"
    export.write_text(
        HEAD
        # dave.smith on d2: the analytics API has a row for him that day → the API's figures win
        + f"{d2},claude-sonnet-4-5-20250929,claude_code_key_dave.smith_ab12,Claude Code,standard,≤ 200k,"
          "7777,0,0,0,777,0\n"
        # erin on d2: the API knows nothing of her → stays
        + f"{d2},claude-sonnet-4-5-20250929,claude_code_key_erin.x_zz1,Claude Code,standard,≤ 200k,1000,0,0,0,0,0\n",
        encoding="utf-8")
    imported = cli("import", "--quiet", str(export))
    assert imported.code == 0, imported.err
    assert "inserted: 2" in imported.out
    synced = cli("sync", "--from", d1.isoformat(), "--to", scenario.days[-1].isoformat(), "--quiet")
    assert synced.code == 0, synced.err
    # Sonnet 4.5 at $3 per million input tokens: 1000 → $0.003
    erin = sc.Expect("erin.x@example.com", "sonnet-4.5", d2, input=1000, cost=Decimal("0.003"))
    assert report("user") == sc.expected_rows([*scenario.expected, erin], "user")
    again = cli("import", "--quiet", str(export))  # the API's person-day now counts as already present
    assert "inserted: 0" in again.out and "already present: 2" in again.out
    assert report("user") == sc.expected_rows([*scenario.expected, erin], "user")
