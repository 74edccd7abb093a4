"""Live Claude Code telemetry → usage records, and which figures count for a person-day.

Rules (no SQL here; storage/telemetry_repo.py applies them under the write lock):

* **One record per `api_request` event**, keyed by its `request_id` (else the session and the
  event's sequence number, else every figure of it), so a redelivered batch adds nothing. Its
  `cost_usd` is Claude Code's own estimate at list price: stored as the cost with the basis
  `list_estimate`; our price table's estimate is kept beside it.
* **People**: `user.email`, else the account id through the same mapping as API keys (the
  record's `api_key` is the account id, so `abacus map <account id> <email>` attributes it,
  retroactively, and later records follow).
* **Metrics** (`claude_code.cost.usage`, `claude_code.token.usage`) count only where no events
  are exported: delta points are increments keyed by their interval; cumulative points become the
  increment over the series' previous point (a restart — a new start time or a smaller value —
  starts again from zero), so a redelivered or an older point adds nothing.
* **Precedence per person-day** (`rank`): the vendor's own figures (Claude Code Analytics, the
  messages report, a console export) > live events > live metrics. What ranks lower is never
  stored beside what ranks higher: arriving figures supersede stored lower ones, and arriving
  lower ones are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.identity import IdentityResolver, normalise_email
from core.pricing import estimate_cost_nanos, normalise_model
from core.sources.otlp import COST_METRIC, ApiRequest, MetricPoint, Temporality, Who
from core.usage import (  # LIVE_FEEDS: defined beside Feed, so that reports need not load telemetry
    LIVE_FEEDS,  # noqa: F401 - re-exported
    MAX_RECORD_NANOS,
    CostBasis,
    Feed,
    Source,
    UsageRecord,
    ms_to_datetime,
    natural_key,
    unmapped_key,
    usd_to_nanos,
)

_RANK = {Feed.CLAUDE_CODE_OTEL_METRICS.value: 0, Feed.CLAUDE_CODE_OTEL_EVENTS.value: 1}
VENDOR_RANK = 2


def rank(feed: str) -> int:
    """How authoritative a Claude Code feed is for a person-day: any vendor feed beats live
    events, which beat live metrics."""
    return _RANK.get(str(feed), VENDOR_RANK)


def is_live(feed: str) -> bool:
    return str(feed) in _RANK


def person_of(who: Who, resolver: IdentityResolver) -> tuple[str, str | None]:
    """(person, api_key): the email when the record has one, else the account id's mapping."""
    if who.email:
        try:
            return normalise_email(who.email), None
        except ValueError:
            pass
    if who.account_id:
        ref = who.account_id[:255]
        return resolver.person(key_id=ref), ref
    return unmapped_key("unknown"), None


def _estimate(raw_model: str, on: date, *, speed: str | None = None, **tokens: int) -> tuple[int, CostBasis]:
    model = raw_model + "-fast" if speed == "fast" and not normalise_model(raw_model).endswith("-fast") else raw_model
    return estimate_cost_nanos(model, on=on, **tokens)


def request_record(event: ApiRequest, resolver: IdentityResolver) -> UsageRecord:
    """One `api_request` event → one usage record (see the module rules)."""
    person, api_key = person_of(event.who, resolver)
    if event.request_id:
        key = natural_key("cc_otel_request", event.request_id)
    elif event.who.session_id and event.sequence is not None:
        key = natural_key("cc_otel_sequence", event.who.session_id, event.sequence)
    else:
        key = natural_key("cc_otel_figures", event.ts.isoformat(), event.who, event.model, event.input_tokens,
                          event.output_tokens, event.cache_read_tokens, event.cache_creation_tokens, event.cost_usd)
    estimate, basis = _estimate(event.model, event.ts.date(), speed=event.speed, input_tokens=event.input_tokens,
                                cache_write_5m=event.cache_creation_tokens, cache_read=event.cache_read_tokens,
                                output=event.output_tokens)
    if event.cost_usd is not None:
        cost, basis = min(usd_to_nanos(event.cost_usd), MAX_RECORD_NANOS), CostBasis.LIST_ESTIMATE
    else:
        cost = estimate
    return UsageRecord(
        source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_CODE_OTEL_EVENTS, natural_key=key, ts=event.ts, person=person,
        raw_model=event.model, model=normalise_model(event.model),
        # telemetry has no 5-minute/1-hour split of cache writes: counted as 5-minute writes
        input_tokens=event.input_tokens, cache_write_5m_tokens=event.cache_creation_tokens,
        cache_read_tokens=event.cache_read_tokens, output_tokens=event.output_tokens,
        cost_nanos=cost, cost_basis=basis, estimated_cost_nanos=estimate, requests=1, api_key=api_key,
        org=event.who.organization_id, kind=(event.query_source or "")[:64] or None)


# --- metrics ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SeriesState:
    """The last point seen of one cumulative series (value in units: nanos for cost, tokens)."""

    start_ns: int
    time_ns: int
    value: int


def series_key(point: MetricPoint) -> str:
    """The identity of a series. A cumulative one is one process's counter: its attributes and its
    start time — two Claude Code processes with the same attributes (two terminals of one person
    when OTEL_METRICS_INCLUDE_SESSION_ID=false, or one resumed session) are two counters, each
    counted from its own last value, not one counter whose older process is then ignored."""
    if point.temporality is Temporality.CUMULATIVE:
        return natural_key("cc_otel_series", point.metric, point.attributes, point.start_ns)
    return natural_key("cc_otel_series", point.metric, point.attributes)


def legacy_series_key(point: MetricPoint) -> str:
    """The key a cumulative series was stored under before series were told apart by start time:
    its state still continues the series it describes (the same start) after an upgrade."""
    return natural_key("cc_otel_series", point.metric, point.attributes)


def _units(point: MetricPoint) -> int:
    return usd_to_nanos(point.value) if point.metric == COST_METRIC else int(point.value)


def metric_records(points: list[MetricPoint], state: dict[str, SeriesState], resolver: IdentityResolver
                   ) -> tuple[list[UsageRecord], dict[str, SeriesState]]:
    """Metric points → usage records of what each adds, and the cumulative series' new state.

    `state` holds the stored state of the cumulative series among `points`; the returned dict
    holds what changed. Points are taken in time order within each series."""
    records: list[UsageRecord] = []
    changed: dict[str, SeriesState] = {}
    for point in sorted(points, key=lambda p: (p.time_ns, p.start_ns)):
        units = _units(point)
        if point.temporality is Temporality.DELTA:
            increment = units
            key = natural_key("cc_otel_delta", series_key(point), point.start_ns, point.time_ns)
        else:
            sk = series_key(point)
            last = changed.get(sk) or state.get(sk)
            if last is None:
                legacy = state.get(legacy_series_key(point))
                last = legacy if legacy is not None and legacy.start_ns == point.start_ns else None
            if last is not None and point.time_ns <= last.time_ns:
                continue  # redelivered, or older than what is counted: adds nothing
            if last is None:
                increment = units  # a new series (a process started): everything since its start
            elif units >= last.value:
                increment = units - last.value
            else:
                increment = units  # the counter was reset without a new start time
            changed[sk] = SeriesState(point.start_ns, point.time_ns, units)
            key = natural_key("cc_otel_cumulative", sk, point.start_ns, point.time_ns)
        if increment:
            records.append(_metric_record(point, increment, key, resolver))
    return records, changed


def _metric_record(point: MetricPoint, increment: int, key: str, resolver: IdentityResolver) -> UsageRecord:
    person, api_key = person_of(point.who, resolver)
    ts = ms_to_datetime(point.time_ns // 1_000_000)
    tokens = {"input": 0, "output": 0, "cacheRead": 0, "cacheCreation": 0}
    cost = 0
    if point.metric == COST_METRIC:
        cost = min(increment, MAX_RECORD_NANOS)
        estimate, basis = 0, CostBasis.LIST_ESTIMATE
    else:
        tokens[point.token_type or "input"] = increment
        estimate, basis = _estimate(point.model, ts.date(), input_tokens=tokens["input"],
                                    cache_write_5m=tokens["cacheCreation"], cache_read=tokens["cacheRead"],
                                    output=tokens["output"])
        basis = CostBasis.LIST_ESTIMATE if basis is CostBasis.ESTIMATED else basis
    return UsageRecord(
        source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_CODE_OTEL_METRICS, natural_key=key, ts=ts, person=person,
        raw_model=point.model, model=normalise_model(point.model), input_tokens=tokens["input"],
        cache_write_5m_tokens=tokens["cacheCreation"], cache_read_tokens=tokens["cacheRead"],
        output_tokens=tokens["output"], cost_nanos=cost, cost_basis=basis, estimated_cost_nanos=estimate,
        requests=0, api_key=api_key, org=point.who.organization_id)


# --- precedence ------------------------------------------------------------------------------------

@dataclass(slots=True)
class Precedence:
    """What a batch of live records does to the store, per person-day."""

    keep: list[UsageRecord]
    skipped: int  # records of person-days already covered by a higher-ranked feed
    supersede: dict[str, set[tuple[date, str]]]  # live feed → stored person-days of it to remove


def apply_precedence(records: list[UsageRecord], stored: dict[tuple[date, str], set[int]]) -> Precedence:
    """`stored`: the ranks of the Claude Code feeds stored per (day, person) of these records."""
    best: dict[tuple[date, str], int] = {pd: max(ranks) for pd, ranks in stored.items() if ranks}
    for r in records:
        pd = (r.day, r.person)
        best[pd] = max(best.get(pd, -1), rank(r.feed))
    keep = [r for r in records if rank(r.feed) >= best[(r.day, r.person)]]
    supersede: dict[str, set[tuple[date, str]]] = {}
    for pd, ranks in stored.items():
        for feed, r in _RANK.items():
            if r in ranks and r < best.get(pd, -1):
                supersede.setdefault(feed, set()).add(pd)
    return Precedence(keep=keep, skipped=len(records) - len(keep), supersede=supersede)
