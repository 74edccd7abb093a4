from datetime import date
from decimal import Decimal

import pytest

from core.pricing import PRICE_TABLE, estimate_cost_nanos, lookup_price, normalise_model, price_key
from core.usage import CostBasis


@pytest.mark.parametrize("raw, expected", [
    ("claude-opus-4-5-20251101", "opus-4.5"),
    ("claude-3-5-haiku-20241022", "haiku-3.5"),
    ("claude-haiku-4-5-20251001", "haiku-4.5"),
    ("claude-sonnet-4-20250514", "sonnet-4"),
    ("claude-sonnet-4-5-20250929", "sonnet-4.5"),
    ("claude-opus-4-6", "opus-4.6"),
    ("claude-sonnet-4-6", "sonnet-4.6"),
    ("claude-opus-5", "opus-5"),
    ("claude-3-7-sonnet-20250219", "sonnet-3.7"),
    ("claude-3-opus-20240229", "opus-3"),
    ("claude-opus-4-1-20250805", "opus-4.1"),
    ("claude-4.5-sonnet", "sonnet-4.5"),  # Cursor's spelling groups with Claude Code's
    ("claude-4-sonnet-thinking", "sonnet-4-thinking"),
    ("claude-4.5-opus-high-thinking", "opus-4.5-high-thinking"),
    ("gpt-5", "gpt-5"),
    ("GPT-5-Codex", "gpt-5-codex"),
    ("auto", "auto"),
    ("", "unknown"),
    ("   ", "unknown"),
    (None, "unknown"),
])
def test_normalise_model(raw, expected):
    assert normalise_model(raw) == expected


def test_every_documented_model_has_a_price():
    documented = {"opus-5", "opus-4.8", "opus-4.7", "opus-4.6", "opus-4.5", "opus-4.1", "opus-4", "opus-3",
                  "sonnet-5", "sonnet-4.6", "sonnet-4.5", "sonnet-4", "sonnet-3.7", "haiku-4.5", "haiku-3.5",
                  "haiku-3", "fable-5", "mythos-5"}
    assert documented <= {e.model for e in PRICE_TABLE}


@pytest.mark.parametrize("model, inp, w5, w1, read, out", [
    ("claude-opus-4-5-20251101", "5", "6.25", "10", "0.5", "25"),
    ("claude-opus-4-1-20250805", "15", "18.75", "30", "1.5", "75"),
    ("claude-sonnet-4-5-20250929", "3", "3.75", "6", "0.3", "15"),
    ("claude-sonnet-5", "2", "2.5", "4", "0.2", "10"),
    ("claude-3-5-haiku-20241022", "0.8", "1", "1.6", "0.08", "4"),
    ("claude-3-haiku-20240307", "0.25", "0.3", "0.5", "0.03", "1.25"),  # the page's own figures, not 1.25× / 0.1×
    ("claude-haiku-4-5-20251001", "1", "1.25", "2", "0.1", "5"),
])
def test_price_table_matches_the_pricing_page(model, inp, w5, w1, read, out):
    p = lookup_price(model)
    assert (p.input, p.cache_write_5m, p.cache_write_1h, p.cache_read, p.output) == tuple(
        Decimal(x) for x in (inp, w5, w1, read, out))


def test_cache_reads_are_not_free():
    # the peer priced cache reads at 0 ("numbers don't match the console")
    nanos, basis = estimate_cost_nanos("claude-opus-4-5-20251101", input_tokens=0, cache_read=1_000_000)
    assert (nanos, basis) == (500_000_000, CostBasis.ESTIMATED)  # $0.50


def test_estimate_is_exact():
    # sonnet-4.5: 1,000 in × $3 + 2,000 5m-write × $3.75 + 3,000 1h-write × $6 + 4,000 read × $0.30
    # + 5,000 out × $15 per MTok = 0.003 + 0.0075 + 0.018 + 0.0012 + 0.075 = $0.1047
    nanos, basis = estimate_cost_nanos("claude-sonnet-4-5-20250929", input_tokens=1000, cache_write_5m=2000,
                                       cache_write_1h=3000, cache_read=4000, output=5000, on=date(2026, 1, 1))
    assert nanos == 104_700_000 and basis is CostBasis.ESTIMATED


def test_long_context_rate_for_sonnet_4_and_4_5_only():
    n, _ = estimate_cost_nanos("claude-sonnet-4-20250514", input_tokens=1_000_000, output=1_000_000,
                               context_window="200k-1M")
    assert n == 28_500_000_000  # $6 + $22.50
    n, _ = estimate_cost_nanos("claude-sonnet-4-6", input_tokens=1_000_000, output=1_000_000,
                               context_window="200k-1M")
    assert n == 18_000_000_000  # 4.6 bills the 1M window at standard rates: $3 + $15


def test_unknown_model_is_flagged_not_guessed():
    assert estimate_cost_nanos("gpt-5", input_tokens=10**6, output=10**6) == (0, CostBasis.UNKNOWN_MODEL)
    assert estimate_cost_nanos("claude-opus-9-20300101", input_tokens=10**6) == (0, CostBasis.UNKNOWN_MODEL)


def test_cursor_names_price_like_the_claude_family():
    assert price_key("claude-4.5-sonnet-thinking") == "sonnet-4.5"
    assert price_key("claude-4.5-opus-high-thinking") == "opus-4.5"


def test_fast_mode_is_priced_for_opus_4_8_and_5_only():
    fast, _ = estimate_cost_nanos("claude-opus-5-fast", input_tokens=1_000_000, output=1_000_000, cache_read=1_000_000)
    assert fast == (10 + 50 + 1) * 10**9  # $10 in, $50 out, reads 0.1× of $10
    normal, _ = estimate_cost_nanos("claude-opus-5", input_tokens=1_000_000, output=1_000_000, cache_read=1_000_000)
    assert normal == (5 + 25) * 10**9 + 500_000_000
    older, _ = estimate_cost_nanos("claude-opus-4-5-fast", input_tokens=1_000_000)
    assert older == 5 * 10**9  # no fast mode there: the model's own rate


def test_us_only_inference_costs_ten_percent_more_on_claude_4_6_and_later():
    def cost(model: str, geo: str | None) -> int:
        return estimate_cost_nanos(model, input_tokens=1_000_000, output=100_000, inference_geo=geo)[0]

    assert cost("claude-sonnet-4-6", None) == 3 * 10**9 + 1_500_000_000  # $3 + $1.50
    assert cost("claude-sonnet-4-6", "us") == 4_950_000_000  # × 1.1
    assert cost("claude-sonnet-4-6", "global") == cost("claude-sonnet-4-6", None)
    assert cost("claude-sonnet-4-5-20250929", "us") == cost("claude-sonnet-4-5-20250929", None)  # before 4.6
