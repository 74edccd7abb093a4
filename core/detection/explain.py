"""Every anomaly explained: the evidence (value, baseline, the tool and model that drove it with
its share, the data time) and one sentence a person would write:

    "Alice spent $214 today, 4.2× their 7-day average of $51; 81 % of it on opus-4.5 in Cursor"
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from core.incidents import TEAM_SUBJECT, AnomalyKind, Signal

from .layers import Finding

TOOL_NAMES = {"claude_code": "Claude Code", "cursor": "Cursor"}
DAY_KINDS = frozenset({AnomalyKind.REQUESTS_PER_DAY, AnomalyKind.TOKENS_PER_DAY, AnomalyKind.ZSCORE_SPEND,
                       AnomalyKind.ZSCORE_REQUESTS, AnomalyKind.SPEND_SPIKE})


@dataclass(frozen=True, slots=True)
class Driver:
    """The tool and model that contributed most to what a finding looked at."""

    tool: str
    model: str
    share: float  # 0..1 of the subject's spend (or requests, tokens) looked at


def money(usd: float) -> str:
    """`$4.20`, `$51`, `$1,234`: cents only where they matter."""
    if abs(usd) < 10:
        return f"${usd:,.2f}"
    return f"${usd:,.0f}"


def count(value: float) -> str:
    value = float(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size * 10:
            return f"{value / size:,.1f}{suffix}".replace(".0" + suffix, suffix)
    return f"{value:,.0f}"


def _times(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.1f}×"


def display_name(subject: str, names: dict[str, str]) -> str:
    if subject == TEAM_SUBJECT:
        return "The team"
    if subject in names and names[subject]:
        return names[subject]
    if subject.startswith("unmapped:"):
        return f"Unmapped key {subject.removeprefix('unmapped:')}"
    return subject


def _when(day: date, today: date) -> str:
    """The day in words that stay true: a stored sentence saying "today" would be wrong tomorrow
    (and a re-run after midnight would rewrite it)."""
    return f"on {day.strftime('%a')} {day.isoformat()}"


def _driver_text(driver: Driver | None, what: str = "of it") -> str:
    if driver is None or driver.share <= 0:
        return ""
    return f"; {driver.share * 100:.0f} % {what} on {driver.model} in {TOOL_NAMES.get(driver.tool, driver.tool)}"


def _population(x: dict, active: str) -> str:
    """`47 active people`, or `45 active people and 2 unattributed keys` (the dashboard counts people)."""
    total, keys = int(x.get("population") or 0), int(x.get("keys") or 0)
    people = f"{total - keys} {active}{'person' if total - keys == 1 else 'people'}"
    return people + (f" and {keys} unattributed key{'s' if keys != 1 else ''}" if keys else "")


def sentence(f: Finding, *, name: str, today: date, driver: Driver | None) -> str:
    when = _when(f.day, today)
    x = f.extra
    if f.kind is AnomalyKind.SPEND_SPIKE:
        return (f"{name} spent {money(f.value)} {when}, {_times(f.ratio)} their {f.baseline_label} of "
                f"{money(f.baseline)}{_driver_text(driver)}")
    if f.kind is AnomalyKind.ZSCORE_SPEND:
        return (f"{name} spent {money(f.value)} {when}, {f.ratio:.1f}σ above the team (mean {money(f.baseline)} "
                f"over {_population(x, 'active ')}){_driver_text(driver)}")
    if f.kind is AnomalyKind.ZSCORE_REQUESTS:
        return (f"{name} made {count(f.value)} requests {when}, {f.ratio:.1f}σ above the team (mean "
                f"{count(f.baseline)} over {_population(x, 'active ')}){_driver_text(driver, 'of them')}")
    if f.kind is AnomalyKind.REQUESTS_PER_DAY:
        return (f"{name} made {count(f.value)} requests {when}, over the limit of {count(f.baseline)}"
                f"{_driver_text(driver, 'of them')}")
    if f.kind is AnomalyKind.TOKENS_PER_DAY:
        return (f"{name} used {count(f.value)} tokens {when}, over the limit of {count(f.baseline)}"
                f"{_driver_text(driver, 'of them')}")
    since = x.get("cycle_start", "")
    if f.kind is AnomalyKind.SPEND_PER_CYCLE:
        where = f" in {TOOL_NAMES.get(x['tool'], x['tool'])}" if x.get("tool") else ""
        return (f"{name} has spent {money(f.value)}{where} this cycle (since {since}), over {f.baseline_label} of "
                f"{money(f.baseline)}{_driver_text(driver)}")
    if f.kind is AnomalyKind.CYCLE_OUTLIER:
        return (f"{name} has spent {money(f.value)} this cycle (since {since}), {_times(f.ratio)} the team median "
                f"of {money(f.baseline)} over {_population(x, '')}{_driver_text(driver)}")
    if f.kind is AnomalyKind.TEAM_BUDGET:
        return (f"The team has spent {money(f.value)} this cycle ({since} to {x.get('cycle_end')}), over the "
                f"{money(f.baseline)} budget{_driver_text(driver)}")
    if f.kind is AnomalyKind.FORECAST_BUDGET:
        whose = "the" if f.subject == TEAM_SUBJECT else "their"
        what = "budget" if f.subject == TEAM_SUBJECT else "Cursor limit"
        who = "the team" if f.subject == TEAM_SUBJECT else name
        where = "" if f.subject == TEAM_SUBJECT else " in Cursor"
        return (f"At this pace {who} will spend {money(f.value)}{where} by {x.get('cycle_end')}, over {whose} "
                f"{money(f.baseline)} {what} ({money(x.get('spent', 0.0))} spent in {x.get('elapsed_days')} days)"
                f"{_driver_text(driver)}")
    return f"{name}: {f.kind.value} {f.value:g} against {f.baseline:g}"


def to_signal(f: Finding, *, names: dict[str, str], today: date, driver: Driver | None,
              data_at: datetime) -> Signal:
    name = display_name(f.subject, names)
    return Signal(kind=f.kind, severity=f.severity, day=f.day, value=round(f.value, 6),
                  baseline=round(f.baseline, 6), baseline_label=f.baseline_label, unit=f.unit,
                  message=sentence(f, name=name, today=today, driver=driver), data_at=data_at,
                  ratio=None if f.ratio is None else round(f.ratio, 4),
                  tool=driver.tool if driver else None, model=driver.model if driver else None,
                  model_share=None if driver is None else round(driver.share, 4))
