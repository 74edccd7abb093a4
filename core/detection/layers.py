"""The detection layers: pure functions over a person × day usage matrix.

Every layer looks at one day `d` (a column of the matrix) and returns `Finding`s: what it saw,
the value, the baseline it compared with and how severe. They know nothing of storage or Slack;
`core.detection.explain` turns findings into sentences, `core.detection.engine` into incidents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from core.incidents import TEAM_SUBJECT, AnomalyKind, Severity

from .config import NANOS_PER_USD, Cycle, DetectionSettings

UNMAPPED_PREFIX = "unmapped:"  # core.usage.unmapped_key's subjects: usage no person is known for

MAX_LOOKBACK_DAYS = 35  # calendar days searched for a person's last days with data (5 weeks)


@dataclass(slots=True)
class UsageMatrix:
    """Per subject (an email or `unmapped:<key>`) and UTC day, across both tools: spend in
    nano-dollars, requests, tokens (the four kinds summed). Day j of the arrays is `start + j`."""

    subjects: list[str]
    start: date
    cost: np.ndarray  # (P, D) int64 nanos
    requests: np.ndarray  # (P, D) int64
    tokens: np.ndarray  # (P, D) int64
    limits_nanos: dict[str, int] = field(default_factory=dict)  # personal Cursor limits per cycle
    limited_cost: dict[str, np.ndarray] = field(default_factory=dict)  # their Cursor spend per day (D,)

    @property
    def days(self) -> int:
        return int(self.cost.shape[1])

    def index(self, day: date) -> int:
        return (day - self.start).days

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    @classmethod
    def empty(cls, start: date, days: int) -> UsageMatrix:
        z = np.zeros((0, days), dtype=np.int64)
        return cls([], start, z, z.copy(), z.copy())


@dataclass(frozen=True, slots=True)
class Finding:
    kind: AnomalyKind
    subject: str  # an email, `unmapped:<key>`, or TEAM_SUBJECT
    severity: Severity
    day: date
    value: float  # usd, requests or tokens
    baseline: float  # the figure it was compared with, same unit
    baseline_label: str
    unit: str  # usd | requests | tokens
    ratio: float | None = None  # value / baseline, or σ for z-scores
    extra: dict = field(default_factory=dict)  # numbers the sentence needs (population, days…)

    @property
    def is_team(self) -> bool:
        return self.subject == TEAM_SUBJECT


def _usd(nanos: float) -> float:
    return float(nanos) / NANOS_PER_USD


def _sev(critical: bool) -> Severity:
    return Severity.CRITICAL if critical else Severity.WARNING


@dataclass(frozen=True, slots=True)
class DayContext:
    """The day looked at, its billing cycle and how much of the day the data can cover."""

    index: int  # column of the day in the matrix
    day: date
    cycle: Cycle
    cycle_first_index: int  # column of max(cycle start, matrix start)
    day_fraction: float  # 1.0 for a complete day; today: the share of the day elapsed

    @classmethod
    def build(cls, matrix: UsageMatrix, day: date, cycle: Cycle, now: datetime | None) -> DayContext:
        index = matrix.index(day)
        return cls(index, day, cycle, max(0, matrix.index(cycle.start)), day_fraction(day, now))


@dataclass(frozen=True, slots=True)
class DayInputs:
    """Everything the layers need about one day, one entry per subject: the day's spend,
    requests and tokens, the cycle-to-date spend (the day included), and the mean of the
    subject's last days with data before it. Built from a matrix (`from_matrix`, the backtest)
    or straight from the database's rollups (storage.detection_repo.load_day_inputs, one day)."""

    subjects: list[str]
    day: date
    cycle: Cycle
    day_fraction: float
    cost: np.ndarray  # (P,) int64 nanos on the day
    requests: np.ndarray  # (P,) int64
    tokens: np.ndarray  # (P,) int64
    cycle_cost: np.ndarray  # (P,) int64 nanos, cycle start … day
    baseline_mean: np.ndarray  # (P,) float64 nanos per day over `baseline_days`
    baseline_days: np.ndarray  # (P,) int64: days with data used (0: no baseline)
    limits_nanos: dict[str, int] = field(default_factory=dict)  # a person's own Cursor limit per cycle
    limit_spend: dict[str, int] = field(default_factory=dict)  # their Cursor spend this cycle (what the limit caps)

    @classmethod
    def from_matrix(cls, matrix: UsageMatrix, ctx: DayContext, lookback_days: int,
                    spike_floor_nanos: int) -> DayInputs:
        """The baseline is kept only for the people whose spend that day reaches the spike floor
        (nobody else can spike), as the database read does."""
        d = ctx.index
        mean, days = own_baseline(matrix, d, lookback_days)
        candidate = matrix.cost[:, d] >= max(1, spike_floor_nanos)
        mean, days = np.where(candidate, mean, 0.0), np.where(candidate, days, 0)
        limit_spend = {p: int(c[ctx.cycle_first_index:d + 1].sum()) for p, c in matrix.limited_cost.items()}
        return cls(list(matrix.subjects), ctx.day, ctx.cycle, ctx.day_fraction, matrix.cost[:, d],
                   matrix.requests[:, d], matrix.tokens[:, d],
                   matrix.cost[:, ctx.cycle_first_index:d + 1].sum(axis=1), mean, days, dict(matrix.limits_nanos),
                   limit_spend)


# --- thresholds ------------------------------------------------------------------------------------

def thresholds(x: DayInputs, s: DetectionSettings) -> list[Finding]:
    """Spend per cycle (the global limit, or a person's own Cursor limit), requests and tokens per
    day, and the team's budget per cycle. Warning above the limit, critical above
    `threshold_critical_factor` × the limit. Off while a limit is 0."""
    out: list[Finding] = []
    f = s.threshold_critical_factor
    cyc = x.cycle_cost
    global_limit = s.nanos(s.max_spend_per_cycle_usd) or 0
    for i, subject in enumerate(x.subjects):
        own = x.limits_nanos.get(subject)
        # a person's own Cursor limit caps their Cursor spend; the admin's limit, both tools'
        spent, limit = (x.limit_spend.get(subject, 0), own) if own else (int(cyc[i]), global_limit)
        if limit > 0 and spent > limit:
            out.append(Finding(AnomalyKind.SPEND_PER_CYCLE, subject, _sev(spent > f * limit), x.day,
                               _usd(spent), _usd(limit), "their own Cursor limit" if own else "the limit", "usd",
                               spent / limit, {"cycle_start": x.cycle.start.isoformat(),
                                               "tool": "cursor" if own else None}))
    for kind, values, limit, unit in ((AnomalyKind.REQUESTS_PER_DAY, x.requests, s.max_requests_per_day, "requests"),
                                      (AnomalyKind.TOKENS_PER_DAY, x.tokens, s.max_tokens_per_day, "tokens")):
        if limit <= 0:
            continue
        for i in np.flatnonzero(values > limit):
            out.append(Finding(kind, x.subjects[i], _sev(values[i] > f * limit), x.day, float(values[i]),
                               float(limit), "limit", unit, float(values[i]) / limit))
    budget = s.nanos(s.cycle_budget_usd)
    if budget:
        team = int(cyc.sum())
        if team > budget:
            out.append(Finding(AnomalyKind.TEAM_BUDGET, TEAM_SUBJECT, _sev(team > f * budget), x.day, _usd(team),
                               _usd(budget), "budget", "usd", team / budget,
                               {"cycle_start": x.cycle.start.isoformat(), "cycle_end": x.cycle.end.isoformat()}))
    return out


# --- z-scores --------------------------------------------------------------------------------------

def unattributed_mask(subjects: list[str]) -> np.ndarray:
    """Which subjects are unattributed keys (`unmapped:…`), not people: the sentences count them apart,
    as the dashboard's count of active people leaves them out."""
    return np.fromiter((s.startswith(UNMAPPED_PREFIX) for s in subjects), dtype=bool, count=len(subjects))


def _zscore(values: np.ndarray, floor: float, s: DetectionSettings) -> tuple[np.ndarray, np.ndarray, float, float, int]:
    """(flagged, z, mean, σ, population) over the people with a value > 0 that day."""
    v = values.astype(np.float64)
    active = v > 0
    n = int(active.sum())
    none = np.zeros(len(v), dtype=bool)
    if n < max(2, s.zscore_min_population):
        return none, np.zeros(len(v)), 0.0, 0.0, n
    mean = float(v[active].mean())
    sigma = float(v[active].std())
    if not sigma > 0:
        return none, np.zeros(len(v)), mean, sigma, n
    z = (v - mean) / sigma
    return active & (v >= floor) & (z > s.zscore_multiplier), z, mean, sigma, n


def zscores(x: DayInputs, s: DetectionSettings) -> list[Finding]:
    """Each person's daily spend and requests against the people active that day: needs at least
    `zscore_min_population` of them and σ > 0; people under the floor count in the mean and σ
    but are never flagged; critical at `critical_factor` × the multiplier."""
    out: list[Finding] = []
    keys: np.ndarray | None = None
    for kind, values, floor, unit in (
            (AnomalyKind.ZSCORE_SPEND, x.cost, s.zscore_min_spend_usd * NANOS_PER_USD, "usd"),
            (AnomalyKind.ZSCORE_REQUESTS, x.requests, float(s.zscore_min_requests), "requests")):
        flagged, z, mean, sigma, n = _zscore(values, floor, s)
        if not flagged.any():
            continue
        keys = unattributed_mask(x.subjects) if keys is None else keys
        n_keys = int((keys & (values > 0)).sum())
        scale = NANOS_PER_USD if unit == "usd" else 1
        for i in np.flatnonzero(flagged):
            out.append(Finding(kind, x.subjects[i], _sev(z[i] > s.zscore_multiplier * s.critical_factor), x.day,
                               float(values[i]) / scale, mean / scale, "team mean", unit, float(z[i]),
                               {"sigma": sigma / scale, "population": n, "keys": n_keys}))
    return out


# --- trends ----------------------------------------------------------------------------------------

def own_baseline(matrix: UsageMatrix, index: int, lookback_days: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean daily spend in nanos, days used) over each person's last `lookback_days` days *with
    data* before column `index` (days without any usage are skipped, not counted as zeros),
    searched at most MAX_LOOKBACK_DAYS back."""
    lo = max(0, index - MAX_LOOKBACK_DAYS)
    window = slice(lo, index)
    cost = matrix.cost[:, window][:, ::-1]
    has_data = ((matrix.cost[:, window] > 0) | (matrix.requests[:, window] > 0)
                | (matrix.tokens[:, window] > 0))[:, ::-1]
    rank = np.cumsum(has_data, axis=1)
    chosen = has_data & (rank <= lookback_days)
    days = chosen.sum(axis=1)
    sums = np.where(chosen, cost, 0).sum(axis=1)
    mean = np.divide(sums, days, out=np.zeros(len(days), dtype=np.float64), where=days > 0)
    return mean, days


def spend_spikes(x: DayInputs, s: DetectionSettings) -> list[Finding]:
    """The day's spend ≥ the floor and > multiplier × the person's own mean over their last days
    with data (that mean ≥ the minimum baseline). A person's first day has no baseline."""
    today = x.cost.astype(np.float64)
    mean, days = x.baseline_mean, x.baseline_days
    floor = s.spend_spike_min_usd * NANOS_PER_USD
    ok = (days > 0) & (mean >= s.spend_spike_min_baseline_usd * NANOS_PER_USD) & (today >= floor)
    flagged = ok & (today > s.spend_spike_multiplier * mean)
    out = []
    for i in np.flatnonzero(flagged):
        ratio = today[i] / mean[i]
        out.append(Finding(AnomalyKind.SPEND_SPIKE, x.subjects[i],
                           _sev(ratio > s.spend_spike_multiplier * s.critical_factor), x.day, _usd(today[i]),
                           _usd(mean[i]), f"{int(days[i])}-day average", "usd", float(ratio),
                           {"baseline_days": int(days[i])}))
    return out


def cycle_outliers(x: DayInputs, s: DetectionSettings) -> list[Finding]:
    """Cycle-to-date spend > multiplier × the median of the people with spend this cycle (at
    least `cycle_outlier_min_people` of them, median ≥ the minimum)."""
    cyc = x.cycle_cost
    spenders = cyc[cyc > 0]
    if len(spenders) < max(1, s.cycle_outlier_min_people):
        return []
    median = float(np.median(spenders))
    if median < s.cycle_outlier_min_median_usd * NANOS_PER_USD or median <= 0:
        return []
    out = []
    over = np.flatnonzero(cyc > s.cycle_outlier_multiplier * median)
    n_keys = int((unattributed_mask(x.subjects) & (cyc > 0)).sum()) if len(over) else 0
    for i in over:
        ratio = float(cyc[i]) / median
        out.append(Finding(AnomalyKind.CYCLE_OUTLIER, x.subjects[i],
                           _sev(ratio > s.cycle_outlier_multiplier * s.critical_factor), x.day, _usd(cyc[i]),
                           _usd(median), "team median", "usd", ratio,
                           {"population": int(len(spenders)), "keys": n_keys,
                            "cycle_start": x.cycle.start.isoformat()}))
    return out


# --- forecast --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Projection:
    spent_nanos: int
    elapsed_days: float  # complete days of the cycle + the elapsed share of the day looked at
    projected_nanos: int  # at the same pace until the cycle's last day
    cycle: Cycle

    def settled(self, min_days: float) -> bool:
        """Whether enough of the cycle has passed for its pace to mean anything (the setting
        `detection.forecast_min_days`): before, a few hours' spend times the cycle's length is noise —
        detection does not alert on it, and the forecast and the digest say it is too early."""
        return self.elapsed_days >= min_days


def day_fraction(day: date, now: datetime | None) -> float:
    """How much of `day` the data can cover at `now`: 1.0 for a past day, the elapsed share for
    today (at least a minute, so a projection never divides by zero)."""
    if now is None or now.date() > day:
        return 1.0
    if now.date() < day:
        return 1 / 1440
    midnight = datetime(day.year, day.month, day.day, tzinfo=now.tzinfo)
    return min(1.0, max(1 / 1440, (now - midnight).total_seconds() / 86400))


def project(spent_nanos: int, day: date, cycle: Cycle, fraction: float) -> Projection:
    """Cycle-end spend at the cycle-to-date pace: the one forecast (detection, `/abacus forecast`,
    the digest). The day looked at counts only for the share of it that has elapsed (today at
    06:00 is a quarter of a day, not a whole one), so the last day of a cycle still projects."""
    elapsed = (day - cycle.start).days + fraction
    projected = spent_nanos if elapsed <= 0 else round(spent_nanos / elapsed * cycle.days)
    return Projection(int(spent_nanos), elapsed, int(max(projected, spent_nanos)), cycle)


def forecasts(x: DayInputs, s: DetectionSettings) -> list[Finding]:
    """The team's (and each person's with a personal limit) projected cycle-end spend crosses the
    budget while the spend so far has not: days before the budget itself is crossed."""
    out: list[Finding] = []
    cyc = x.cycle_cost
    candidates: list[tuple[str, int, int]] = []
    budget = s.nanos(s.cycle_budget_usd)
    if budget:
        candidates.append((TEAM_SUBJECT, int(cyc.sum()), budget))
    for subject, limit in sorted(x.limits_nanos.items()):
        if limit and subject in x.limit_spend:
            candidates.append((subject, x.limit_spend[subject], limit))
    for subject, spent, limit in candidates:
        p = project(spent, x.day, x.cycle, x.day_fraction)
        if not p.settled(s.forecast_min_days) or spent > limit or p.projected_nanos <= limit:
            continue
        label = "budget" if subject == TEAM_SUBJECT else "their own Cursor limit"
        out.append(Finding(AnomalyKind.FORECAST_BUDGET, subject,
                           _sev(p.projected_nanos > s.threshold_critical_factor * limit), x.day,
                           _usd(p.projected_nanos), _usd(limit), label, "usd", p.projected_nanos / limit,
                           {"spent": _usd(spent), "elapsed_days": round(p.elapsed_days, 2),
                            "cycle_start": x.cycle.start.isoformat(), "cycle_end": x.cycle.end.isoformat()}))
    return out


def spike_floor(s: DetectionSettings) -> int:
    return int(round(s.spend_spike_min_usd * NANOS_PER_USD))


LAYERS = (thresholds, zscores, spend_spikes, cycle_outliers, forecasts)
_KIND_ORDER = {k: i for i, k in enumerate(AnomalyKind)}


def detect(x: DayInputs, s: DetectionSettings) -> list[Finding]:
    """Every layer for one day, in a stable order (subject, kind)."""
    found: list[Finding] = []
    for layer in LAYERS:
        found.extend(layer(x, s))
    found.sort(key=lambda f: (f.subject, _KIND_ORDER[f.kind]))
    return found


def detect_day(matrix: UsageMatrix, ctx: DayContext, s: DetectionSettings) -> list[Finding]:
    """Every layer for the day `ctx` points at in the matrix (nothing outside it)."""
    if not 0 <= ctx.index < matrix.days:
        return []
    return detect(DayInputs.from_matrix(matrix, ctx, s.spend_spike_lookback_days, spike_floor(s)), s)
