"""core.telemetry's rules on plain values: cumulative series (restarts, redeliveries, old points)
and the per-person-day precedence."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from core.identity import IdentityResolver
from core.sources.otlp import TOKEN_METRIC, MetricPoint, Temporality, Who
from core.telemetry import SeriesState, apply_precedence, legacy_series_key, metric_records, rank
from core.usage import Feed, Source, UsageRecord

WHO = Who(email="ann@example.com", account_id=None, organization_id=None, session_id="s")
SEC = 1_000_000_000
T0 = int(datetime(2026, 11, 30, 9, tzinfo=UTC).timestamp()) * SEC


def point(value: int, start: int, end: int, temporality=Temporality.CUMULATIVE) -> MetricPoint:
    return MetricPoint(metric=TOKEN_METRIC, temporality=temporality, who=WHO, model="claude-sonnet-4-5",
                       token_type="input", value=Decimal(value), start_ns=T0 + start * SEC, time_ns=T0 + end * SEC,
                       attributes=(("model", "claude-sonnet-4-5"), ("type", "input")))


def test_cumulative_points_count_increments_and_restarts_from_zero():
    resolver = IdentityResolver(None)
    # one process: 100, 250, 250 (nothing new), a redelivery of 250; then a restart (new start): 40
    first, state = metric_records([point(100, 0, 60), point(250, 0, 120), point(250, 0, 180)], {}, resolver)
    assert [r.input_tokens for r in first] == [100, 150]
    again, state2 = metric_records([point(250, 0, 180), point(100, 0, 60)], state, resolver)
    assert again == [] and state2 == {}
    restart, _ = metric_records([point(40, 200, 240)], state, resolver)
    assert [r.input_tokens for r in restart] == [40]


def test_a_counter_reset_without_a_new_start_counts_from_zero():
    resolver = IdentityResolver(None)
    _, state = metric_records([point(500, 0, 60)], {}, resolver)
    after, _ = metric_records([point(30, 0, 120)], state, resolver)
    assert [r.input_tokens for r in after] == [30]


def test_two_processes_with_the_same_attributes_are_two_counters():
    """Two Claude Code processes whose points carry the same attributes (a person's two terminals
    with OTEL_METRICS_INCLUDE_SESSION_ID=false, or one session resumed twice) differ only in their
    start time: each is counted from its own last value, the older one is not ignored."""
    resolver = IdentityResolver(None)
    # process A started at 0, process B at 30; their exports interleave
    batches = [[point(100, 0, 60)], [point(40, 30, 70)], [point(180, 0, 120)], [point(45, 30, 130)],
               [point(180, 0, 120)]]  # the last: A's point again, a redelivery
    state: dict = {}
    counted = []
    for batch in batches:
        records, changed = metric_records(batch, state, resolver)
        state = {**state, **changed}
        counted += [r.input_tokens for r in records]
    # by hand: A 100 then 80 more (180); B 40 then 5 more (45); the redelivery nothing
    assert counted == [100, 40, 80, 5]


def test_a_series_stored_before_start_times_told_series_apart_continues():
    """State stored under the series' old key (attributes only) by an earlier version continues
    the same process after an upgrade: its next point adds only what is new."""
    resolver = IdentityResolver(None)
    legacy = {legacy_series_key(point(250, 0, 120)): SeriesState(T0, T0 + 120 * SEC, 250)}
    records, _ = metric_records([point(250, 0, 120), point(300, 0, 180)], legacy, resolver)
    assert [r.input_tokens for r in records] == [50]
    other, _ = metric_records([point(30, 200, 240)], legacy, resolver)  # another process: from its start
    assert [r.input_tokens for r in other] == [30]


def test_delta_points_are_keyed_by_their_interval():
    resolver = IdentityResolver(None)
    a, _ = metric_records([point(10, 0, 60, Temporality.DELTA)], {}, resolver)
    b, _ = metric_records([point(10, 0, 60, Temporality.DELTA)], {}, resolver)
    c, _ = metric_records([point(10, 60, 120, Temporality.DELTA)], {}, resolver)
    assert a[0].natural_key == b[0].natural_key != c[0].natural_key


def _rec(feed: Feed, person: str, key: str) -> UsageRecord:
    return UsageRecord(source=Source.CLAUDE_CODE, feed=feed, natural_key=key, ts=datetime(2026, 11, 30, tzinfo=UTC),
                       person=person, raw_model="m", model="m")


def test_precedence_per_person_day():
    day = date(2026, 11, 30)
    events = [_rec(Feed.CLAUDE_CODE_OTEL_EVENTS, "ann", "e1"), _rec(Feed.CLAUDE_CODE_OTEL_EVENTS, "bo", "e2")]
    metrics = [_rec(Feed.CLAUDE_CODE_OTEL_METRICS, "ann", "m1"), _rec(Feed.CLAUDE_CODE_OTEL_METRICS, "cy", "m2")]
    stored = {(day, "bo"): {rank(Feed.CLAUDE_CODE_ANALYTICS)}, (day, "cy"): {rank(Feed.CLAUDE_CODE_OTEL_METRICS)},
              (day, "ann"): {rank(Feed.CLAUDE_CODE_OTEL_METRICS)}}
    decision = apply_precedence(events + metrics, stored)
    # ann: her event beats her metrics (stored and arriving); bo: the vendor's figures beat his event;
    # cy: metrics only, kept
    assert [r.natural_key for r in decision.keep] == ["e1", "m2"]
    assert decision.skipped == 2
    assert decision.supersede == {Feed.CLAUDE_CODE_OTEL_METRICS.value: {(day, "ann")}}
