"""View models → chart attachments (charts/ draws; this module only shapes the data).

Every day of the period is present (zero-filled), so gaps show as gaps. Money goes to charts
in dollars (float): the charts format it; exact sums stay in the tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import charts
from core.periods import DateRange, period_text
from core.usage import NANOS_PER_USD, Source, is_unmapped

from .reply import Attachment
from .reports import AdoptionView, DashboardView, ForecastView, GroupsView, ModelsView, TopView, UserView

TOOLS = (Source.CLAUDE_CODE.value, Source.CURSOR.value)


def _usd(nanos: int) -> float:
    return nanos / NANOS_PER_USD


def _attachment(chart: charts.Chart) -> Attachment:
    return Attachment(content=chart.png, filename=chart.filename, title=chart.title, alt_text=chart.alt_text)


def _daily_by_tool(period: DateRange, daily: Iterable) -> tuple[list[date], dict[str, list[float]], list[int]]:
    days = list(period)
    index = {d: i for i, d in enumerate(days)}
    series: dict[str, list[float]] = {}
    tokens = [0] * len(days)
    for row in daily:
        i = index.get(row.day)
        if i is None:
            continue
        series.setdefault(row.source, [0.0] * len(days))[i] += _usd(row.cost_nanos)
        tokens[i] += row.tokens
    if not series:
        series = {TOOLS[0]: [0.0] * len(days)}
    return days, series, tokens


def _period_text(period: DateRange) -> str:
    return period_text(period.start, period.end)


def dashboard(view: DashboardView) -> list[Attachment]:
    return [daily_spend(view.period, view.daily)]


def daily_spend(period: DateRange, daily: Iterable) -> Attachment:
    """The dashboard chart, from the daily rows alone (so it can be drawn while the rest is queried)."""
    days, series, _ = _daily_by_tool(period, daily)
    return _attachment(charts.daily_spend_by_tool(days, series, title="Daily spend by tool"))


def top(view: TopView, label: dict[str, str]) -> list[Attachment]:
    rows = [(label.get(r.person, r.person), _usd(r.cost_nanos)) for r in view.rows]
    rest = view.total_nanos - sum(r.cost_nanos for r in view.rows)
    subtitle = f"{_period_text(view.period)} · top {len(view.rows)} of {view.ranked_among()}"
    if rest > 0:
        subtitle += f" · everyone else {charts.money(_usd(rest))}"
    keys = sum(1 for r in view.rows if is_unmapped(r.person))
    people = len(view.rows) - keys
    who = f"{people} {'person' if people == 1 else 'people'}"
    if keys:
        who += f" and {keys} unmapped key{'s' if keys != 1 else ''}"
    return [_attachment(charts.top_users(rows, top=len(rows) or 1, title=f"Top {view.n} by spend",
                                         subtitle=subtitle, who=who))]


def user(view: UserView) -> list[Attachment]:
    days, series, tokens = _daily_by_tool(view.period, view.daily)
    who = view.name or view.email
    out = [_attachment(charts.user_timeline(days, series, tokens=tokens, title=f"{who}: daily spend"))]
    if view.models:
        out.append(_attachment(charts.model_mix([(m.model, _usd(m.cost_nanos)) for m in view.models],
                                                title=f"{who}: spend by model", subtitle=_period_text(view.period))))
    return out


def models(view: ModelsView) -> list[Attachment]:
    rows = [(m.model, _usd(m.cost_nanos)) for m in view.rows]
    total, count = sum(v for _, v in rows), len(rows)
    return [_attachment(charts.model_mix(rows, subtitle=f"{_period_text(view.period)} · {charts.money(total)} across "
                                                         f"{count} model{'' if count == 1 else 's'}"))]


def groups(view: GroupsView) -> list[Attachment]:
    rows = [(g.name, _usd(g.cost_nanos), _usd(g.budget_nanos) if g.budget_nanos else None) for g in view.rows]
    return [_attachment(charts.group_spend(rows, subtitle=_period_text(view.period)))]


def adoption(view: AdoptionView) -> list[Attachment]:
    days = list(view.period)
    index = {d: i for i, d in enumerate(days)}
    active = [0] * len(days)
    for d in view.dau:
        if d.source is None and d.day in index:
            active[index[d.day]] = d.people
    # the same population as the message: people holding a Cursor or a Claude Code seat
    return [_attachment(charts.adoption(days, active, view.seat_holders or None, seat_label="people with a seat",
                                        subtitle=None))]


def forecast(view: ForecastView) -> list[Attachment]:
    actual_days = [view.month_start + timedelta(days=i) for i in range(view.days_elapsed)]
    per_day = {d: 0 for d in actual_days}
    for row in view.daily:
        if row.day in per_day:
            per_day[row.day] += row.cost_nanos
    cumulative, running = [], 0
    for d in actual_days:
        running += per_day[d]
        cumulative.append(_usd(running))
    projected_days, projected = [], []
    remaining = (view.month_end - view.today).days
    for i in range(1, remaining + 1):  # a straight line to the projection the text gives
        projected_days.append(view.today + timedelta(days=i))
        projected.append(_usd(running + (view.projected_nanos - running) * i / remaining))
    if remaining == 0 and view.projected_nanos > running:  # the last day: the rest of today still counts
        projected_days, projected = [view.today], [_usd(view.projected_nanos)]
    budget = _usd(view.budget_nanos) if view.budget_nanos else None
    return [_attachment(charts.forecast(actual_days, cumulative, projected_days, projected, budget,
                                        title=f"Spend forecast · {view.cycle_label}",
                                        too_early=view.too_early))]
