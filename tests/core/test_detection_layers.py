"""Each detection layer on hand-built matrices; every expected figure is worked out by hand here."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest

from core.detection import layers
from core.detection.config import DetectionSettings, cycle_containing, resolve_cycle_start_day
from core.detection.layers import (
    DayContext,
    DayInputs,
    UsageMatrix,
    detect_day,
    own_baseline,
    project,
    spike_floor,
)
from core.incidents import TEAM_SUBJECT, AnomalyKind, Severity

B = 1_000_000_000  # nanos per dollar
START = date(2026, 1, 1)


def matrix(spend: dict[str, dict[int, float]], days: int = 40, requests: dict[str, dict[int, int]] | None = None,
           tokens: dict[str, dict[int, int]] | None = None, limits: dict[str, float] | None = None,
           cursor: dict[str, dict[int, float]] | None = None) -> UsageMatrix:
    """spend: person → {day index: dollars} across both tools; only the given cells hold data.
    cursor: the Cursor part of a limited person's spend (default: all of it)."""
    people = sorted(set(spend) | set(requests or {}) | set(tokens or {}))
    shape = (len(people), days)
    cost, req, tok = (np.zeros(shape, dtype=np.int64) for _ in range(3))
    for i, p in enumerate(people):
        for d, usd in spend.get(p, {}).items():
            cost[i, d] = round(usd * B)
        for d, n in (requests or {}).get(p, {}).items():
            req[i, d] = n
        for d, n in (tokens or {}).get(p, {}).items():
            tok[i, d] = n
    limited = {}
    for p in limits or {}:
        row = np.zeros(days, dtype=np.int64)
        for d, usd in ((cursor or {}).get(p) or spend.get(p, {})).items():
            row[d] = round(usd * B)
        limited[p] = row
    return UsageMatrix(people, START, cost, req, tok, {p: round(v * B) for p, v in (limits or {}).items()}, limited)


def ctx(m: UsageMatrix, index: int, now: datetime | None = None, start_day: int = 1) -> DayContext:
    day = m.day(index)
    return DayContext.build(m, day, cycle_containing(day, start_day), now)


S = DetectionSettings()


def _on_matrix(layer):
    """The layer run on the day `ctx` points at, with its inputs built from the matrix."""
    def run(m: UsageMatrix, c: DayContext, s: DetectionSettings = S):
        return layer(DayInputs.from_matrix(m, c, s.spend_spike_lookback_days, spike_floor(s)), s)
    return run


thresholds, zscores, spend_spikes, cycle_outliers, forecasts = map(_on_matrix, (
    layers.thresholds, layers.zscores, layers.spend_spikes, layers.cycle_outliers, layers.forecasts))


# --- z-score ---------------------------------------------------------------------------------------

def test_zscore_flags_the_outlier_with_mean_and_sigma_by_hand():
    # nine people at $10 and one at $200 on day 5: mean 29, σ = sqrt(4090 − 29²) = 57, z = 171 / 57 = 3.0
    spend = {f"p{i}@x.io": {5: 10.0} for i in range(9)} | {"big@x.io": {5: 200.0}}
    found = zscores(matrix(spend), ctx(matrix(spend), 5), S)
    assert [(f.kind, f.subject, f.severity) for f in found] == [(AnomalyKind.ZSCORE_SPEND, "big@x.io",
                                                                Severity.WARNING)]
    f = found[0]
    assert (f.value, f.baseline, f.ratio, f.extra["sigma"], f.extra["population"]) == (200.0, 29.0, 3.0, 57.0, 10)


def test_zscore_people_without_usage_that_day_are_not_the_population():
    # the same day plus 30 people who did nothing that day (they used it on day 4): still mean 29, σ 57
    spend = {f"p{i}@x.io": {5: 10.0} for i in range(9)} | {"big@x.io": {5: 200.0}}
    spend |= {f"idle{i}@x.io": {4: 10.0} for i in range(30)}
    found = zscores(matrix(spend), ctx(matrix(spend), 5), S)
    assert [(f.subject, f.baseline, f.extra["population"]) for f in found] == [("big@x.io", 29.0, 10)]


def test_zscore_sigma_zero_and_too_few_people_and_the_floor():
    same = {f"p{i}@x.io": {5: 60.0} for i in range(10)}  # σ = 0
    assert zscores(matrix(same), ctx(matrix(same), 5), S) == []
    # 4 active people (< 5): nothing, however far one is from the others
    few = {f"p{i}@x.io": {5: 1.0} for i in range(3)} | {"big@x.io": {5: 900.0}}
    assert zscores(matrix(few), ctx(matrix(few), 5), S) == []
    # z = 3.0 again, but $40 is under the $50 floor: counted in the mean, never flagged
    small = {f"p{i}@x.io": {5: 2.0} for i in range(9)} | {"big@x.io": {5: 40.0}}
    assert zscores(matrix(small), ctx(matrix(small), 5), S) == []


def test_zscore_critical_and_requests():
    # 99 people at 100 requests and one at 10,000: mean 199, σ = sqrt((99·100² + 10⁴²)/100 − 199²) = 985.0…
    req = {f"p{i}@x.io": {3: 100} for i in range(99)} | {"big@x.io": {3: 10_000}}
    m = matrix({}, requests=req)
    found = zscores(m, ctx(m, 3), S)
    sigma = ((99 * 100 ** 2 + 10_000 ** 2) / 100 - 199 ** 2) ** 0.5
    assert [(f.kind, f.subject) for f in found] == [(AnomalyKind.ZSCORE_REQUESTS, "big@x.io")]
    assert found[0].ratio == pytest.approx((10_000 - 199) / sigma)  # 9.95σ
    assert found[0].severity is Severity.CRITICAL  # above 2.5 × 3 = 7.5σ


# --- spend spike -----------------------------------------------------------------------------------

def test_spike_baseline_skips_days_without_data():
    # data on days 20, 22 and 27 only: mean $20 over 3 days (zeros would give $60 / 7 = $8.57)
    history = {20: 10.0, 22: 20.0, 27: 30.0}
    m = matrix({"a@x.io": history | {30: 150.0}})
    mean, days = own_baseline(m, 30, 7)
    assert (mean[0], days[0]) == (20 * B, 3)
    found = spend_spikes(m, ctx(m, 30), S)
    assert [(f.subject, f.value, f.baseline, f.ratio, f.baseline_label, f.severity) for f in found] == [
        ("a@x.io", 150.0, 20.0, 7.5, "3-day average", Severity.WARNING)]


def test_spike_uses_only_the_last_days_with_data_and_the_multiplier_is_strict():
    # eight earlier days: the oldest ($1,000) falls out of the 7-day window → mean of seven $10 days = $10
    history = {10: 1000.0} | {d: 10.0 for d in range(11, 18)}
    assert spend_spikes(matrix({"a@x.io": history | {20: 50.0}}), ctx(matrix({"a@x.io": history}), 20), S) == []
    m = matrix({"a@x.io": history | {20: 50.01}})
    assert [f.ratio for f in spend_spikes(m, ctx(m, 20), S)] == [pytest.approx(5.001)]
    m = matrix({"a@x.io": history | {20: 150.01}})
    assert [f.severity for f in spend_spikes(m, ctx(m, 20), S)] == [Severity.CRITICAL]  # above 15×...
    m = matrix({"a@x.io": history | {20: 150.0}})
    assert [f.severity for f in spend_spikes(m, ctx(m, 20), S)] == [Severity.WARNING]  # ...not at it


def test_spike_first_day_floor_and_minimum_baseline():
    first = matrix({"new@x.io": {30: 500.0}})
    assert spend_spikes(first, ctx(first, 30), S) == []  # no history: no baseline
    under_floor = matrix({"a@x.io": {28: 2.0, 30: 40.0}})  # 20×, but $40 < $50
    assert spend_spikes(under_floor, ctx(under_floor, 30), S) == []
    tiny_baseline = matrix({"a@x.io": {28: 0.5, 30: 60.0}})  # baseline $0.50 < $1
    assert spend_spikes(tiny_baseline, ctx(tiny_baseline, 30), S) == []


# --- cycle outlier ---------------------------------------------------------------------------------

def test_cycle_outlier_even_count_median():
    # six people with spend this cycle: median of 10, 20, 30, 40, 50, X = (30 + 40) / 2 = 35
    base = {"a@x.io": 10.0, "b@x.io": 20.0, "c@x.io": 30.0, "d@x.io": 40.0, "e@x.io": 50.0}
    spend = {p: {3: v} for p, v in base.items()}
    warn = matrix(spend | {"x@x.io": {3: 500.0, 4: 500.0}})  # 1000 / 35 = 28.6×: warning (critical > 30×)
    found = cycle_outliers(warn, ctx(warn, 9), S)
    assert [(f.subject, f.value, f.baseline, f.severity) for f in found] == [("x@x.io", 1000.0, 35.0,
                                                                               Severity.WARNING)]
    crit = matrix(spend | {"x@x.io": {3: 1100.0}})  # 31.4×
    assert [f.severity for f in cycle_outliers(crit, ctx(crit, 9), S)] == [Severity.CRITICAL]


def test_cycle_outlier_needs_people_and_median_and_respects_the_cycle_boundary():
    four = matrix({"a@x.io": {3: 10.0}, "b@x.io": {3: 10.0}, "c@x.io": {3: 10.0}, "x@x.io": {3: 900.0}})
    assert cycle_outliers(four, ctx(four, 9), S) == []  # 4 people with spend < 5
    cheap = matrix({f"p{i}@x.io": {3: 5.0} for i in range(6)} | {"x@x.io": {3: 900.0}})
    assert cycle_outliers(cheap, ctx(cheap, 9), S) == []  # median $5 < $10
    # Jan 30 spend is the previous cycle when looking at Feb 2 (cycle: Feb 1 …)
    spend = {f"p{i}@x.io": {29: 10.0, 31: 10.0} for i in range(6)} | {"x@x.io": {29: 5000.0, 31: 10.0}}
    m = matrix(spend)
    assert m.day(29) == date(2026, 1, 30) and m.day(32) == date(2026, 2, 2)
    assert cycle_outliers(m, ctx(m, 32), S) == []
    assert [f.subject for f in cycle_outliers(m, ctx(m, 30), S)] == ["x@x.io"]  # Jan 31: still January


def test_cycle_anchor_from_the_vendor_and_short_months():
    assert resolve_cycle_start_day(0, date(2026, 1, 15)) == 15
    assert resolve_cycle_start_day(0, None) == 1
    assert resolve_cycle_start_day(3, date(2026, 1, 15)) == 3
    c = cycle_containing(date(2026, 2, 20), 15)
    assert (c.start, c.end, c.days) == (date(2026, 2, 15), date(2026, 3, 14), 28)
    c = cycle_containing(date(2026, 3, 2), 31)  # anchored on the 31st: February's cycle starts on the 28th
    assert (c.start, c.end) == (date(2026, 2, 28), date(2026, 3, 30))


# --- thresholds and budgets -----------------------------------------------------------------------

def test_threshold_limits_warning_and_critical_at_twice():
    s = DetectionSettings(max_requests_per_day=100, max_tokens_per_day=1_000, max_spend_per_cycle_usd=100)
    m = matrix({"a@x.io": {2: 60.0, 5: 60.0}, "b@x.io": {5: 201.0}, "c@x.io": {5: 200.0}},
               requests={"a@x.io": {5: 150}, "b@x.io": {5: 201}, "c@x.io": {5: 100}},
               tokens={"c@x.io": {5: 2_001}})
    got = {(f.kind, f.subject): f.severity for f in thresholds(m, ctx(m, 5), s)}
    assert got == {
        (AnomalyKind.SPEND_PER_CYCLE, "a@x.io"): Severity.WARNING,  # 120 > 100
        (AnomalyKind.SPEND_PER_CYCLE, "b@x.io"): Severity.CRITICAL,  # 201 > 200
        (AnomalyKind.SPEND_PER_CYCLE, "c@x.io"): Severity.WARNING,  # 200 is not above 2×
        (AnomalyKind.REQUESTS_PER_DAY, "a@x.io"): Severity.WARNING,
        (AnomalyKind.REQUESTS_PER_DAY, "b@x.io"): Severity.CRITICAL,
        (AnomalyKind.TOKENS_PER_DAY, "c@x.io"): Severity.CRITICAL,  # 2,001 > 2 × 1,000; c's 100 requests: at
    }
    assert thresholds(m, ctx(m, 5), DetectionSettings()) == []  # all off by default


def test_personal_limit_overrides_the_global_one_and_team_budget():
    s = DetectionSettings(max_spend_per_cycle_usd=1000, cycle_budget_usd=300)
    m = matrix({"a@x.io": {1: 150.0}, "b@x.io": {1: 160.0}}, limits={"a@x.io": 100.0})
    got = {(f.kind, f.subject): (f.severity, f.baseline, f.baseline_label) for f in thresholds(m, ctx(m, 1), s)}
    assert got == {(AnomalyKind.SPEND_PER_CYCLE, "a@x.io"): (Severity.WARNING, 100.0, "their own Cursor limit"),
                   (AnomalyKind.TEAM_BUDGET, TEAM_SUBJECT): (Severity.WARNING, 300.0, "budget")}  # 310 > 300


def test_a_cursor_limit_caps_cursor_spend_only():
    # $250 in all, of which $50 in Cursor: under the $100 Cursor limit (the $200 of Claude Code is not Cursor's)
    m = matrix({"a@x.io": {1: 250.0}}, limits={"a@x.io": 100.0}, cursor={"a@x.io": {1: 50.0}})
    assert thresholds(m, ctx(m, 1), DetectionSettings()) == []
    m = matrix({"a@x.io": {1: 250.0}}, limits={"a@x.io": 100.0}, cursor={"a@x.io": {1: 150.0}})
    [f] = thresholds(m, ctx(m, 1), DetectionSettings())
    assert (f.value, f.baseline, f.extra["tool"]) == (150.0, 100.0, "cursor")


# --- forecast ---------------------------------------------------------------------------------------

def test_forecast_counts_today_as_partial_and_speaks_before_the_budget_is_crossed():
    s = DetectionSettings(cycle_budget_usd=1000)
    m = matrix({"a@x.io": {d: 40.0 for d in range(10)}})  # Jan 1…10: $400
    noon = datetime(2026, 1, 10, 12, tzinfo=UTC)
    found = forecasts(m, ctx(m, 9, now=noon), s)
    # 9 complete days + half of Jan 10 = 9.5 days → $400 / 9.5 × 31 = $1,305.26
    assert [(f.kind, f.subject, f.severity) for f in found] == [(AnomalyKind.FORECAST_BUDGET, TEAM_SUBJECT,
                                                                Severity.WARNING)]
    assert found[0].value == pytest.approx(round(400 * B / 9.5 * 31) / B)
    assert found[0].extra["elapsed_days"] == 9.5
    # counted as a whole day the projection would be 400 / 10 × 31 = $1,240: also over, but lower
    whole = forecasts(m, ctx(m, 9, now=datetime(2026, 1, 11, tzinfo=UTC)), s)
    assert whole[0].value == pytest.approx(1240.0)
    # already over the budget: the forecast is silent (team_budget speaks instead)
    over = matrix({"a@x.io": {d: 110.0 for d in range(10)}})
    assert forecasts(over, ctx(over, 9, now=noon), s) == []


def test_forecast_at_utc_midnight_and_the_first_days():
    p = project(100 * B, date(2026, 1, 10), cycle_containing(date(2026, 1, 10), 1), 1 / 1440)
    assert p.elapsed_days == pytest.approx(9 + 1 / 1440) and p.projected_nanos == round(100 * B / p.elapsed_days * 31)
    s = DetectionSettings(cycle_budget_usd=100)
    m = matrix({"a@x.io": {0: 20.0, 1: 20.0}})  # Jan 1–2: $40, pace → $620, but only 2 days elapsed (< 3)
    assert forecasts(m, ctx(m, 1, now=datetime(2026, 1, 3, tzinfo=UTC)), s) == []


def test_personal_forecast_against_a_personal_limit():
    m = matrix({"a@x.io": {d: 10.0 for d in range(10)}}, limits={"a@x.io": 200.0})
    found = forecasts(m, ctx(m, 9, now=datetime(2026, 1, 11, tzinfo=UTC)), DetectionSettings())
    assert [(f.subject, f.value, f.baseline) for f in found] == [("a@x.io", 310.0, 200.0)]  # 100 / 10 × 31


def test_detect_day_is_sorted_and_ignores_days_outside_the_matrix():
    m = matrix({"a@x.io": {d: 10.0 for d in range(7)} | {8: 500.0}})
    found = detect_day(m, ctx(m, 8), S)
    assert [f.kind for f in found] == [AnomalyKind.SPEND_SPIKE]
    outside = DayContext(index=99, day=date(2026, 4, 9), cycle=cycle_containing(date(2026, 4, 9), 1),
                         cycle_first_index=0, day_fraction=1.0)
    assert detect_day(m, outside, S) == []
