"""Charts: every chart renders a real PNG of the promised size, shows something, says what it shows
in its alt text, survives empty and hostile input, and folds long tails correctly.

Expected numbers are worked out by hand from the fixtures, never by calling the code under test.
"""

from __future__ import annotations

import io
import math
import re
import subprocess
import sys
import threading
import warnings
from datetime import date, datetime, timedelta
from functools import cache

import numpy as np
import pytest
from matplotlib.image import imread

import charts
from charts import theme
from charts.formatting import clean_label, money, money_label, money_short, percent, period_label, tokens_short
from charts.prepare import date_ticks, fold_tail

JAN = [date(2026, 1, 1) + timedelta(days=i) for i in range(30)]
WEEK = JAN[:7]

# A week of spend where every total is easy to add up by hand.
WEEK_CC = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]  # 280.00
WEEK_CURSOR = [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 45.5]  # 75.50; day 7 is the peak: 70 + 45.5 = 115.50


def jan_cc(i: int) -> float:
    return 20.0 + (i * 7) % 13


def jan_cursor(i: int) -> float:
    return 8.0 + (i * 5) % 11


# ---------------------------------------------------------------------------------------------------
# One factory per public chart with real data, and one with no data.

DATA_CHARTS = {
    "daily_spend_by_tool": lambda: charts.daily_spend_by_tool(
        JAN, {"claude_code": [jan_cc(i) for i in range(30)], "cursor": [jan_cursor(i) for i in range(30)]}),
    "top_users": lambda: charts.top_users([(f"user{i}@example.com", 100.0 * (i + 1)) for i in range(14)]),
    "user_timeline": lambda: charts.user_timeline(
        JAN, {"claude_code": [jan_cc(i) for i in range(30)], "cursor": [jan_cursor(i) for i in range(30)]},
        tokens=[100_000 * (1 + i % 9) for i in range(30)], title="Alice — daily spend"),
    "model_mix": lambda: charts.model_mix([("claude-sonnet-4", 700.0), ("claude-opus-4", 400.0), ("gpt-4.1", 120.0),
                                           ("cursor-small", 30.0)]),
    "group_spend": lambda: charts.group_spend([("Platform", 4200.0, 5000.0), ("Data", 6100.0, 5000.0),
                                               ("Mobile", 900.0, None)]),
    "adoption": lambda: charts.adoption(JAN, [10 + i % 7 for i in range(30)], seats=25),
    "forecast": lambda: charts.forecast(JAN[:14], [40.0 * (i + 1) for i in range(14)],
                                        JAN[14:], [560.0 + 45.0 * (i + 1) for i in range(16)], budget=1200.0),
    "spend_split": lambda: charts.spend_split({"claude_code": 812.40, "cursor": 434.56}),
}

EMPTY_CHARTS = {
    "daily_spend_by_tool": lambda: charts.daily_spend_by_tool([], {}),
    "top_users": lambda: charts.top_users([]),
    "user_timeline": lambda: charts.user_timeline([], {}, tokens=[]),
    "model_mix": lambda: charts.model_mix([]),
    "group_spend": lambda: charts.group_spend([]),
    "adoption": lambda: charts.adoption([], [], seats=None),
    "forecast": lambda: charts.forecast([], [], [], [], None),
    "spend_split": lambda: charts.spend_split({}),
}

ZERO_CHARTS = {
    "daily_spend_by_tool": lambda: charts.daily_spend_by_tool(WEEK, {"claude_code": [0.0] * 7, "cursor": [-0.0] * 7}),
    "top_users": lambda: charts.top_users([("alice", 0.0), ("bob", float("nan"))]),
    "user_timeline": lambda: charts.user_timeline(WEEK, {"claude_code": [0.0] * 7}, tokens=[0] * 7),
    "model_mix": lambda: charts.model_mix([("claude-sonnet-4", 0.0)]),
    "group_spend": lambda: charts.group_spend([("Platform", 0.0, None)]),
    "adoption": lambda: charts.adoption(WEEK, [0] * 7, seats=10),
    "forecast": lambda: charts.forecast(WEEK, [0.0] * 7, [], [], 100.0),
    "spend_split": lambda: charts.spend_split({"claude_code": 0.0, "cursor": float("nan")}),
}


@cache
def data_chart(name: str) -> charts.Chart:
    return DATA_CHARTS[name]()


@cache
def empty_chart(name: str) -> charts.Chart:
    return EMPTY_CHARTS[name]()


def pixels(png: bytes) -> np.ndarray:
    """RGB floats in 0..1, shape (height, width, 3)."""
    image = imread(io.BytesIO(png), format="png")
    return image[..., :3]


def ink(png: bytes) -> float:
    """Share of pixels that are not the white background."""
    rgb = pixels(png)
    return float(np.mean(np.any(np.abs(rgb - 1.0) > 0.1, axis=-1)))


def count_colour(png: bytes, hex_colour: str) -> int:
    target = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return int(np.sum(np.all(np.abs(pixels(png) - target) < 3 / 255, axis=-1)))


def test_pixel_size_constant_matches_figure_size():
    assert theme.PIXEL_SIZE == (1200, 672)
    assert theme.PIXEL_SIZE == (round(theme.FIGSIZE[0] * theme.DPI), round(theme.FIGSIZE[1] * theme.DPI))


@pytest.mark.parametrize("name", sorted(DATA_CHARTS))
def test_chart_is_a_png_of_the_promised_size_with_something_on_it(name):
    chart = data_chart(name)
    assert chart.png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = theme.PIXEL_SIZE
    assert pixels(chart.png).shape == (height, width, 3)
    assert ink(chart.png) > 0.02, "a chart of real data should not be (nearly) blank"
    empty = empty_chart(name)
    assert chart.png != empty.png
    assert ink(chart.png) > 2 * ink(empty.png), "the data chart should carry far more ink than the empty one"
    assert chart.title and chart.alt_text
    assert "no data" not in chart.alt_text.lower()
    assert re.fullmatch(r"[a-z0-9_-]+\.png", chart.filename)


@pytest.mark.parametrize("name", sorted(EMPTY_CHARTS))
def test_no_rows_gives_an_explanatory_chart_not_an_exception(name):
    chart = empty_chart(name)
    assert pixels(chart.png).shape == (theme.PIXEL_SIZE[1], theme.PIXEL_SIZE[0], 3)
    assert ink(chart.png) > 0.003, "the empty chart still shows a title and a message"
    assert "no data" in chart.alt_text.lower()
    assert re.fullmatch(r"[a-z0-9_-]+\.png", chart.filename)


@pytest.mark.parametrize("name", sorted(ZERO_CHARTS))
def test_all_zero_data_counts_as_no_data(name):
    chart = ZERO_CHARTS[name]()
    assert pixels(chart.png).shape == (theme.PIXEL_SIZE[1], theme.PIXEL_SIZE[0], 3)
    assert "no data" in chart.alt_text.lower()


def test_empty_daily_chart_says_no_usage():
    chart = charts.daily_spend_by_tool(WEEK, {"claude_code": [0.0] * 7})
    assert chart.alt_text == "Daily spend by tool: no data — no usage in this period."


# ---------------------------------------------------------------------------------------------------
# Alt text states the numbers (worked out by hand above each assertion).


def test_daily_spend_alt_text_has_total_split_and_peak():
    chart = charts.daily_spend_by_tool(WEEK, {"claude_code": WEEK_CC, "cursor": WEEK_CURSOR})
    # 280.00 + 75.50 = 355.50; peak on Jan 07: 70 + 45.5 = 115.50
    assert chart.alt_text == ("Daily spend 2026-01-01 to 2026-01-07 by tool: total $355.50; "
                              "Claude Code $280.00, Cursor $75.50; peak $115.50 on 2026-01-07.")
    assert chart.title == "Daily spend by tool"
    assert chart.filename == "daily-spend_2026-01-01_2026-01-07.png"


def test_tools_keep_their_colours_whatever_the_order_given():
    in_order = charts.daily_spend_by_tool(WEEK, {"claude_code": WEEK_CC, "cursor": WEEK_CURSOR})
    reversed_ = charts.daily_spend_by_tool(WEEK, {"cursor": WEEK_CURSOR, "claude_code": WEEK_CC})
    assert in_order.png == reversed_.png
    assert count_colour(in_order.png, theme.TOOL_COLORS["claude_code"]) > 5_000
    assert count_colour(in_order.png, theme.TOOL_COLORS["cursor"]) > 1_000
    cursor_only = charts.daily_spend_by_tool(WEEK, {"cursor": WEEK_CURSOR})
    assert count_colour(cursor_only.png, theme.TOOL_COLORS["claude_code"]) == 0
    assert count_colour(cursor_only.png, theme.TOOL_COLORS["cursor"]) > 1_000


def test_core_source_values_work_as_tool_keys():
    from core.usage import Source

    by_enum = charts.daily_spend_by_tool(WEEK, {Source.CURSOR: WEEK_CURSOR, Source.CLAUDE_CODE: WEEK_CC})
    by_str = charts.daily_spend_by_tool(WEEK, {"claude_code": WEEK_CC, "cursor": WEEK_CURSOR})
    assert by_enum.png == by_str.png
    assert by_enum.alt_text == by_str.alt_text


def test_bad_numbers_are_drawn_as_zero_and_left_out_of_totals():
    days = [date(2026, 1, 3), date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 1)]  # unsorted, Jan 01 twice
    chart = charts.daily_spend_by_tool(days, {"claude_code": [float("nan"), 10.0, -5.0, 2.5],
                                              "cursor": [float("inf"), -0.0, 1e-300 * 0, 4.0]})
    # Only real, non-negative amounts count: Jan 01 = 10 + 2.5 (Claude Code) + 4 (Cursor) = 16.50
    assert chart.alt_text == ("Daily spend 2026-01-01 to 2026-01-03 by tool: total $16.50; "
                              "Claude Code $12.50, Cursor $4.00; peak $16.50 on 2026-01-01.")


def test_single_day_and_datetimes_work():
    chart = charts.daily_spend_by_tool([datetime(2026, 1, 5, 13, 30)], {"claude_code": [12.5]})
    assert "on 2026-01-05" in chart.alt_text
    assert chart.filename == "daily-spend_2026-01-05.png"
    assert ink(chart.png) > 0.04


def test_huge_values_render_with_compact_axis_labels():
    chart = charts.daily_spend_by_tool(WEEK, {"claude_code": [3e12] * 7})
    assert "$21,000,000,000,000.00" in chart.alt_text
    assert ink(chart.png) > 0.04


def test_series_of_the_wrong_length_is_a_caller_error():
    with pytest.raises(ValueError, match="3 values for 7 days"):
        charts.daily_spend_by_tool(WEEK, {"claude_code": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="tokens"):
        charts.user_timeline(WEEK, {"claude_code": WEEK_CC}, tokens=[1, 2])
    with pytest.raises(ValueError):
        charts.forecast(WEEK, [1.0], [], [], None)


def test_user_timeline_alt_text_includes_tokens():
    chart = charts.user_timeline(WEEK, {"claude_code": WEEK_CC}, tokens=[1_000_000] * 6 + [1_500_000])
    # 6 × 1,000,000 + 1,500,000 = 7,500,000 tokens; peak day Jan 07 at $70.00
    assert chart.alt_text == ("Daily spend 2026-01-01 to 2026-01-07: total $280.00; Claude Code $280.00; "
                              "peak $70.00 on 2026-01-07. 7,500,000 tokens in total.")


def test_user_timeline_with_tokens_but_no_cost_still_draws():
    chart = charts.user_timeline(WEEK, {"cursor": [0.0] * 7}, tokens=[5_000] * 7)
    assert "no data" not in chart.alt_text.lower()
    assert "35,000 tokens" in chart.alt_text


def test_adoption_alt_text():
    chart = charts.adoption(WEEK, [4, 6, 8, 10, 12, 2, 0], seats=20)
    # average (4+6+8+10+12+2+0)/7 = 42/7 = 6.0; peak 12 on Jan 05; 12/20 = 60%
    assert chart.alt_text == ("Daily active users 2026-01-01 to 2026-01-07: average 6.0, peak 12 on 2026-01-05; "
                              "20 seats, so the peak was 60% of them.")


def test_forecast_alt_text_reports_the_day_the_budget_is_crossed():
    actual = [100.0 * (i + 1) for i in range(7)]  # $700 by Jan 07
    projected_days = [date(2026, 1, 8) + timedelta(days=i) for i in range(5)]
    projected = [700.0 + 150.0 * (i + 1) for i in range(5)]  # 850, 1000, 1150, 1300, 1450
    chart = charts.forecast(WEEK, actual, projected_days, projected, budget=1200.0)
    assert chart.alt_text == ("Cumulative spend $700.00 by 2026-01-07. Projected $1,450.00 by 2026-01-12. "
                              "Budget $1,200.00: exceeded on 2026-01-11 (projected).")
    assert count_colour(chart.png, theme.OVER_BUDGET) > 20  # the crossing is marked


def test_spend_split_alt_text():
    chart = data_chart("spend_split")
    # 812.40 + 434.56 = 1,246.96; 812.40 / 1246.96 = 65.2% → "65%"; 434.56 / 1246.96 = 34.8% → "35%"
    assert chart.alt_text == "Spend by tool: total $1,246.96; Claude Code $812.40 (65%), Cursor $434.56 (35%)."


def test_group_spend_marks_groups_over_budget():
    chart = data_chart("group_spend")
    # 4200 + 6100 + 900 = 11,200; Data is at 6100/5000 = 122%
    assert chart.alt_text.startswith("Spend by group: $11,200.00 across 3 groups. Data $6,100.00 of $5,000.00 (122%);")
    assert chart.alt_text.endswith("Over budget: Data.")
    assert count_colour(chart.png, theme.OVER_BUDGET) > 1_000


# ---------------------------------------------------------------------------------------------------
# Folding the long tail.

# 25 models, shuffled; model i spends (25 - i) × $10 + $0.50, so the 8 largest are m00..m07 and the
# tail is m08..m24 with spends 170.5, 160.5, ..., 10.5:
#   sum = 10 × (17 + 16 + ... + 1) + 17 × 0.5 = 10 × 153 + 8.5 = 1,538.50
MODELS = [(f"m{i:02d}", (25 - i) * 10.0 + 0.5) for i in (7, 3, 24, 0, 12, 18, 1, 9, 2, 15, 4, 21, 5, 11, 6, 23,
                                                         8, 10, 13, 14, 16, 17, 19, 20, 22)]
TAIL_SUM = 1538.50


def test_fixture_is_25_distinct_models():
    assert len({name for name, _ in MODELS}) == 25


def test_fold_tail_keeps_the_top_8_and_sums_the_rest():
    folded = fold_tail(MODELS, 8)
    assert len(folded) == 9
    assert [s.label for s in folded[:8]] == [f"m{i:02d}" for i in range(8)]
    others = folded[-1]
    assert others.is_others and others.folded == 17
    assert others.label == "Others (17)"
    assert others.value == pytest.approx(TAIL_SUM, abs=1e-9)


def test_model_mix_draws_8_models_and_others_with_the_tail_sum():
    chart = charts.model_mix(MODELS)
    # total = 10 × (25 + 24 + ... + 1) + 25 × 0.5 = 3,250 + 12.5 = 3,262.50; tail share 1538.5 / 3262.5 = 47%
    assert chart.alt_text.startswith("Spend by model: $3,262.50 across 25 models. m00 7.7% ($250.50),")
    assert chart.alt_text.endswith("others (17 models) 47% ($1,538.50).")
    named = re.findall(r"\bm\d\d\b", chart.alt_text)
    assert named == [f"m{i:02d}" for i in range(8)]  # 8 named bars, then the folded one
    assert count_colour(chart.png, theme.OTHERS_COLOR) > 500


def test_a_single_leftover_row_is_shown_not_folded():
    rows = [(f"u{i}", float(100 - i)) for i in range(11)]
    assert [s.label for s in fold_tail(rows, 10)] == [f"u{i}" for i in range(11)]
    rows.append(("u11", 50.0))
    folded = fold_tail(rows, 10)
    assert len(folded) == 11
    # the tail: u10 = 90 and u11 = 50
    assert folded[-1].folded == 2 and folded[-1].value == 140.0


def test_fold_tail_sums_duplicates_and_drops_nothing_rows():
    folded = fold_tail([("a", 5.0), ("b", 0.0), ("a", 2.5), ("c", float("nan")), ("d", -3.0), ("e", 1.0)], 5)
    assert [(s.label, s.value) for s in folded] == [("a", 7.5), ("e", 1.0)]


def test_top_users_lists_largest_first_and_folds_people():
    rows = [(f"user{i:02d}", 10.0 * (i + 1)) for i in range(13)]  # user12 = $130 is the largest
    chart = charts.top_users(rows, top=10)
    # tail: user00..user02 = 10 + 20 + 30 = $60; total 10 × (1 + ... + 13) = $910
    assert chart.alt_text.startswith("Top spenders: 13 people spent $910.00 in total. Largest: user12 $130.00, "
                                     "user11 $120.00, user10 $110.00, user09 $100.00, user08 $90.00,")
    assert chart.alt_text.endswith("others (3 people) $60.00.")


def test_top_users_draws_a_dominant_others_bar_broken():
    rows = [("alice", 100.0), ("bob", 90.0)] + [(f"tail{i}", 80.0) for i in range(40)]  # others = $3,200
    chart = charts.top_users(rows, top=2)
    assert chart.alt_text.endswith("others (40 people) $3,200.00.")
    # The named bars keep a readable length: the accent colour still covers a real area.
    assert count_colour(chart.png, theme.ACCENT) > 40_000


# ---------------------------------------------------------------------------------------------------
# Formatting helpers: exact strings.


@pytest.mark.parametrize(("value", "expected"), [
    (0, "$0"), (-0.0, "$0"), (0.25, "$0.25"), (2.5, "$2.5"), (12.5, "$12.5"), (350, "$350"), (999.4, "$999"),
    (999.6, "$1k"), (1000, "$1k"), (1200, "$1.2k"), (1234.56, "$1.2k"), (12_500, "$12.5k"), (350_000, "$350k"),
    (999_960, "$1M"), (2_100_000, "$2.1M"), (3e9, "$3B"), (4.2e12, "$4.2T"), (1e15, "$1.0e+15"),
    (-1500, "-$1.5k"), (float("nan"), "–"), (float("inf"), "–"),
])
def test_money_short(value, expected):
    assert money_short(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (0, "0"), (950, "950"), (1000, "1k"), (1500, "1.5k"), (350_000, "350k"), (1_200_000, "1.2M"),
    (45_415_617, "45.4M"), (1_000_000_000, "1B"),
])
def test_tokens_short(value, expected):
    assert tokens_short(value) == expected


def test_money_and_labels():
    assert money(1234.56) == "$1,234.56"
    assert money(-0.0) == "$0.00"
    assert money(-3.1) == "-$3.10"
    assert money(float("nan")) == "n/a"
    assert money_label(12.345) == "$12.35"
    assert money_label(1234.4) == "$1,234"
    assert money_label(27_432.78) == "$27.4k"
    assert percent(0.42) == "42%"
    assert percent(0.045) == "4.5%"
    assert percent(0.0004) == "<0.1%"
    assert percent(0) == "0%"
    assert percent(1.22) == "122%"


def test_period_labels():
    """One date style in charts and messages alike (core.periods.period_text)."""
    assert period_label(date(2026, 1, 1), date(2026, 1, 30)) == "2026-01-01 → 2026-01-30 (30 days)"
    assert period_label(date(2025, 12, 15), date(2026, 1, 14)) == "2025-12-15 → 2026-01-14 (31 days)"
    assert period_label(date(2026, 1, 5), date(2026, 1, 5)) == "2026-01-05 → 2026-01-05 (1 day)"


@pytest.mark.parametrize(("days", "count", "first_labels"), [
    (1, 1, ["Jan 05"]),
    (7, 7, ["Jan 05", "Jan 06", "Jan 07"]),
    (30, 5, ["Jan 05", "Jan 12", "Jan 19"]),
    (90, 7, ["Jan 05", "Jan 19", "Feb 02"]),
    (365, 12, ["Feb 2026", "Mar", "Apr"]),
    (800, 13, ["Feb 2026", "Apr", "Jun"]),  # Feb 2026 .. Mar 2028 is 26 months: every other one
])
def test_date_ticks_are_thinned_for_any_period(days, count, first_labels):
    first = date(2026, 1, 5)
    ticks = date_ticks(first, first + timedelta(days=days - 1))
    assert len(ticks) == count
    assert [label for _, label in ticks[:3]] == first_labels


# ---------------------------------------------------------------------------------------------------
# Hostile names.

HOSTILE = [
    "x" * 10_000,
    "مرحبا שלום 🎉🚀 \u202egnp.exe",  # RTL scripts, emoji, a right-to-left override
    "<script>alert('x')</script>",
    "$\\frac{1}{0}$ and $\\undefinedcommand$",  # would crash matplotlib's mathtext if parsed
    "line one\nline two\ttab\x00nul",
    "",
]


def test_clean_label_truncates_and_strips():
    assert clean_label("x" * 10_000, 28) == "x" * 27 + "…"
    assert len(clean_label("é" * 10_000, 40)) == 40
    assert clean_label("line one\nline two\ttab\x00nul") == "line one line two tab nul"
    assert "\u202e" not in clean_label("abc\u202edef")
    assert clean_label("<script>alert('x')</script>", 60) == "<script>alert('x')</script>"
    assert clean_label("party 🎉🚀") == "party \N{REPLACEMENT CHARACTER}"  # no glyph in the font: one marker
    assert clean_label("") == "(unnamed)"
    assert clean_label(None) == "(unnamed)"


def test_hostile_names_do_not_crash_any_chart():
    rows = [(name, 100.0 + i) for i, name in enumerate(HOSTILE)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph or a mathtext parse would warn or raise
        users = charts.top_users(rows, title="$5 of $10 spent by <b>" + "🎉" * 50, subtitle="x" * 10_000)
        models = charts.model_mix(rows, title="Models " + "ש" * 500)
        groups = charts.group_spend([(name, 10.0, 5.0) for name, _ in rows])
        split = charts.spend_split({"claude_code": 1.0, "x" * 5000: 2.0, "$\\frac{1}{0}$": 3.0})
        daily = charts.daily_spend_by_tool(WEEK, {"🎉" * 300: WEEK_CC}, title="t" * 10_000)
    for chart in (users, models, groups, split, daily):
        assert pixels(chart.png).shape == (theme.PIXEL_SIZE[1], theme.PIXEL_SIZE[0], 3)
        assert len(chart.title) <= 200
        assert len(chart.alt_text) <= 1000
        assert "x" * 100 not in chart.alt_text
        assert "\u202e" not in chart.alt_text
    assert "<script>alert('x')</script>" in users.alt_text  # plain text: the bot escapes for Slack
    assert users.title.startswith("$5 of $10 spent by <b>")


# ---------------------------------------------------------------------------------------------------
# Threads and layering.


def test_rendering_from_several_threads_gives_identical_pngs():
    expected = charts.daily_spend_by_tool(WEEK, {"claude_code": WEEK_CC, "cursor": WEEK_CURSOR}).png
    results: list[bytes] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(charts.daily_spend_by_tool(WEEK, {"claude_code": WEEK_CC, "cursor": WEEK_CURSOR}).png)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert results == [expected] * 6


def test_charts_use_no_pyplot_and_import_nothing_from_bot_or_storage():
    code = (
        "import sys, datetime, charts\n"
        "charts.daily_spend_by_tool([datetime.date(2026, 1, 1)], {'cursor': [1.0]})\n"
        "bad = [m for m in sys.modules if m == 'matplotlib.pyplot' or m.split('.')[0] in ('bot', 'storage')]\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_public_api_is_documented():
    for name in ("daily_spend_by_tool", "top_users", "user_timeline", "model_mix", "group_spend", "adoption",
                 "forecast", "spend_split"):
        assert name in charts.__all__
        assert f"{name}(" in charts.__doc__
        assert getattr(charts, name).__doc__
    assert math.isclose(theme.FIGSIZE[0] / theme.FIGSIZE[1], 10 / 5.6)
