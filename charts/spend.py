"""Spend over time and by tool: the dashboard bars, a person's timeline, the tool split, the forecast."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from charts import theme
from charts.canvas import (
    Chart,
    alt_text,
    chart_title,
    date_axis,
    empty_chart,
    filename,
    header,
    legend_above,
    money_axis,
    period_subtitle,
    plot_axes,
    render,
    token_axis,
)
from charts.formatting import clean_label, money, money_label, percent, plain, token_count, tokens_short
from charts.prepare import DailySeries, amount, as_day, daily_series

NO_USAGE = "No usage in this period"
TOOL_NAME_CHARS = 24
STEP_AFTER_DAYS = 92


def _tool_breakdown(totals: Mapping[str, float]) -> str:
    return ", ".join(f"{_tool_name(key)} {money(value)}" for key, value in totals.items())


def _tool_totals(data: DailySeries) -> dict[str, float]:
    totals = {key: math.fsum(data.series[key]) for key in theme.ordered_tools(data.series)}
    return {key: value for key, value in totals.items() if value > 0}


def _period_words(days: Sequence[date]) -> str:
    return f"on {days[0].isoformat()}" if days[0] == days[-1] else f"{days[0].isoformat()} to {days[-1].isoformat()}"


def _tool_name(key: str) -> str:
    return clean_label(theme.tool_label(key), TOOL_NAME_CHARS)


def _stacked_bars(ax: Axes, data: DailySeries, tools: Sequence[str]) -> list[tuple[Patch, str]]:
    """Spend per day stacked by tool, in the fixed tool order and colours; returns legend entries.

    Up to three months each day is a bar; longer periods are drawn as stacked steps, because
    hundreds of 3-pixel bars alias into stripes.
    """
    colors = theme.tool_colors(data.series)
    first, last = data.days[0], data.days[-1]
    entries = []
    if (last - first).days <= STEP_AFTER_DAYS:
        x = [d.toordinal() for d in data.days]
        bottom = [0.0] * len(x)
        for key in tools:
            values = data.series[key]
            ax.bar(x, values, width=0.8, bottom=bottom, color=colors[key], linewidth=0)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    else:
        edges = [first.toordinal() - 0.5 + i for i in range((last - first).days + 2)]
        position = {d.toordinal() - first.toordinal(): i for i, d in enumerate(data.days)}
        bottom = [0.0] * (len(edges) - 1)
        for key in tools:
            values = data.series[key]
            top = [b + (values[position[i]] if i in position else 0.0) for i, b in enumerate(bottom)]
            ax.stairs(top, edges, baseline=bottom, fill=True, color=colors[key], linewidth=0)
            bottom = top
    for key in tools:
        entries.append((Patch(facecolor=colors[key]), f"{_tool_name(key)}  {money_label(math.fsum(data.series[key]))}"))
    date_axis(ax, data.days)
    money_axis(ax.yaxis)
    ax.set_ylim(bottom=0, top=max(max(bottom, default=0.0) * 1.08, 1.0))
    return entries


def daily_spend_by_tool(
    days: Sequence[date],
    spend_by_tool: Mapping[str, Sequence[float]],
    *,
    title: str = "Daily spend by tool",
    subtitle: str | None = None,
) -> Chart:
    """Stacked bars of spend per day, one colour per tool (the dashboard chart)."""
    data = daily_series(days, spend_by_tool)
    first, last = (data.days[0], data.days[-1]) if data.days else (None, None)
    if data.is_empty():
        return empty_chart("daily-spend", title, period_subtitle(subtitle, first, last), NO_USAGE, first, last)

    per_tool = _tool_totals(data)
    total = data.total()
    subtitle = period_subtitle(subtitle, first, last, f"{money(total)} total")
    totals = data.totals()
    peak = max(range(len(totals)), key=lambda i: totals[i])

    def draw(fig: Figure) -> None:
        header(fig, title, subtitle)
        ax = plot_axes(fig)
        entries = _stacked_bars(ax, data, list(per_tool))
        legend_above(ax, [h for h, _ in entries], [label for _, label in entries])

    png = render(draw)
    alt = alt_text(
        f"Daily spend {_period_words(data.days)} by tool: total {money(total)}; {_tool_breakdown(per_tool)};",
        f"peak {money(totals[peak])} on {data.days[peak].isoformat()}.",
    )
    return Chart(png, chart_title(title), alt, filename("daily-spend", first, last))


def user_timeline(
    days: Sequence[date],
    spend_by_tool: Mapping[str, Sequence[float]],
    *,
    tokens: Sequence[int] | None = None,
    title: str = "Daily spend",
    subtitle: str | None = None,
) -> Chart:
    """One person's spend per day stacked by tool, with their token count as a line on a right axis."""
    series = dict(spend_by_tool)
    if tokens is not None and len(tokens) != len(days):
        raise ValueError(f"tokens has {len(tokens)} values for {len(days)} days")
    data = daily_series(days, series)
    token_data = daily_series(days, {"tokens": tokens}) if tokens is not None else None
    first, last = (data.days[0], data.days[-1]) if data.days else (None, None)
    if data.is_empty() and (token_data is None or token_data.is_empty()):
        return empty_chart("user-timeline", title, period_subtitle(subtitle, first, last), NO_USAGE, first, last)

    per_tool = _tool_totals(data)
    total = data.total()
    token_values = token_data.series["tokens"] if token_data is not None else None
    token_total = math.fsum(token_values) if token_values is not None else 0.0
    facts = [f"{money(total)} total"] + ([f"{tokens_short(token_total)} tokens"] if token_values is not None else [])
    subtitle = period_subtitle(subtitle, first, last, *facts)
    totals = data.totals()
    peak = max(range(len(totals)), key=lambda i: totals[i])

    def draw(fig: Figure) -> None:
        header(fig, title, subtitle)
        ax = plot_axes(fig)
        entries = _stacked_bars(ax, data, list(per_tool))
        if token_values is not None:
            right = ax.twinx()
            right.plot([d.toordinal() for d in data.days], token_values, color=theme.TEXT, linewidth=2.2,
                       marker="o" if len(data.days) <= 31 else None, markersize=5, zorder=3)
            token_axis(right.yaxis)
            right.set_ylim(bottom=0, top=max(max(token_values, default=0.0) * 1.12, 1.0))
            right.spines[["top", "left", "bottom"]].set_visible(False)
            right.spines["right"].set_visible(False)
            right.tick_params(axis="y", length=0, pad=6)
            right.set_ylabel("tokens", color=theme.MUTED_TEXT)
            entries.append((Line2D([], [], color=theme.TEXT, linewidth=2.2), "Tokens"))
        legend_above(ax, [h for h, _ in entries], [label for _, label in entries])

    png = render(draw)
    parts = [f"Daily spend {_period_words(data.days)}: total {money(total)}"]
    if per_tool:
        parts[0] += f"; {_tool_breakdown(per_tool)}; peak {money(totals[peak])} on {data.days[peak].isoformat()}."
    else:
        parts[0] += "."
    if token_values is not None:
        parts.append(f"{token_count(token_total)} tokens in total.")
    return Chart(png, chart_title(title), alt_text(*parts), filename("user-timeline", first, last))


def spend_split(
    parts: Mapping[str, float],
    *,
    title: str = "Spend by tool",
    subtitle: str | None = None,
) -> Chart:
    """A donut of spend per tool with the total in the middle (for a person's page)."""
    values = {key: amount(parts[key]) for key in theme.ordered_tools(parts)}
    values = {key: value for key, value in values.items() if value > 0}
    total = math.fsum(values.values())
    if total <= 0:
        return empty_chart("spend-split", title, subtitle, NO_USAGE)
    if subtitle is None:
        subtitle = f"{money(total)} in total"
    colors = theme.tool_colors(values)
    labels = [f"{_tool_name(key)}  {money_label(v)} · {percent(v / total)}" for key, v in values.items()]

    def draw(fig: Figure) -> None:
        header(fig, title, subtitle)
        # Fixed placement: donut on the left, legend beside it; nothing for the layout engine to do.
        fig.set_layout_engine("none")
        ax = fig.add_axes((0.03, 0.03, 0.42, 0.78))
        wedges, _ = ax.pie(list(values.values()), colors=[colors[k] for k in values], startangle=90,
                           counterclock=False, wedgeprops={"width": 0.36, "edgecolor": theme.BACKGROUND,
                                                           "linewidth": 2})
        ax.text(0, 0.08, plain(money_label(total)), ha="center", va="center", fontsize=theme.TITLE_SIZE,
                fontweight="bold", color=theme.TEXT)
        ax.text(0, -0.16, "total", ha="center", va="center", fontsize=theme.LABEL_SIZE, color=theme.MUTED_TEXT)
        ax.set_aspect("equal")
        fig.legend(wedges, [plain(label) for label in labels], loc="center left", bbox_to_anchor=(0.49, 0.42),
                   fontsize=theme.SUBTITLE_SIZE + 2, frameon=False, handlelength=1.2, handleheight=1.2,
                   labelspacing=1.0)

    png = render(draw)
    breakdown = ", ".join(f"{_tool_name(k)} {money(v)} ({percent(v / total)})" for k, v in values.items())
    alt = alt_text(f"{chart_title(title)}: total {money(total)}; {breakdown}.")
    return Chart(png, chart_title(title), alt, filename("spend-split"))


def _pairs(days: Sequence[date], values: Sequence[float], what: str) -> list[tuple[date, float]]:
    if len(days) != len(values):
        raise ValueError(f"{what}: {len(values)} values for {len(days)} days")
    by_day: dict[date, float] = {}
    for day, value in zip(days, values, strict=True):
        by_day[as_day(day)] = amount(value)  # a repeated day: the later value wins
    return sorted(by_day.items())


def forecast(
    days_actual: Sequence[date],
    cumulative_actual: Sequence[float],
    days_projected: Sequence[date],
    cumulative_projected: Sequence[float],
    budget: float | None = None,
    *,
    title: str = "Spend forecast",
    subtitle: str | None = None,
    too_early: str | None = None,
) -> Chart:
    """Cumulative spend so far (solid), the projection to the end of the period (dashed) and the budget.
    `too_early`: why there is no projection yet (early in the cycle): said instead, nothing dashed."""
    actual = _pairs(days_actual, cumulative_actual, "cumulative_actual")
    projected = [] if too_early else _pairs(days_projected, cumulative_projected, "cumulative_projected")
    budget_value = amount(budget) if budget is not None else 0.0
    all_days = sorted({d for d, _ in actual} | {d for d, _ in projected})
    first, last = (all_days[0], all_days[-1]) if all_days else (None, None)
    if all(v == 0 for _, v in actual + projected):
        return empty_chart("forecast", title, period_subtitle(subtitle, first, last), "No spend yet in this period",
                           first, last)

    spent = actual[-1][1] if actual else 0.0
    end_day, end_value = projected[-1] if projected else actual[-1]
    line = list(projected)
    if actual and projected and projected[0][0] > actual[-1][0]:
        line.insert(0, actual[-1])  # the dashed line continues from the last actual point
    over = next(((d, v) for d, v in actual + projected if budget_value and v > budget_value), None)
    subtitle = period_subtitle(subtitle, first, last, f"{money(spent)} spent",
                               too_early or f"{money(end_value)} projected")

    def draw(fig: Figure) -> None:
        header(fig, title, subtitle)
        ax = plot_axes(fig)
        handles, labels = [], []
        if actual:
            xs = [d.toordinal() for d, _ in actual]
            ys = [v for _, v in actual]
            ax.fill_between(xs, ys, color=theme.ACCENT, alpha=0.12, linewidth=0)
            ax.plot(xs, ys, color=theme.ACCENT, linewidth=3, solid_capstyle="round")
            handles.append(Line2D([], [], color=theme.ACCENT, linewidth=3))
            labels.append(f"Actual {money_label(spent)}")
        if line:
            ax.plot([d.toordinal() for d, _ in line], [v for _, v in line], color=theme.PROJECTION,
                    linewidth=2.5, linestyle=(0, (4, 3)))
            handles.append(Line2D([], [], color=theme.PROJECTION, linewidth=2.5, linestyle=(0, (4, 3))))
            labels.append(f"Projected {money_label(end_value)}")
        if budget_value:
            ax.axhline(budget_value, color=theme.BUDGET_LINE, linewidth=1.6, linestyle=(0, (1, 2)))
            handles.append(Line2D([], [], color=theme.BUDGET_LINE, linewidth=1.6, linestyle=(0, (1, 2))))
            labels.append(f"Budget {money_label(budget_value)}")
        if over is not None:
            ax.plot([over[0].toordinal()], [over[1]], marker="o", markersize=10, color=theme.OVER_BUDGET, zorder=4)
        date_axis(ax, all_days)
        money_axis(ax.yaxis)
        top = max([v for _, v in actual + projected] + [budget_value])
        ax.set_ylim(bottom=0, top=max(top * 1.1, 1.0))
        legend_above(ax, handles, labels)

    png = render(draw)
    parts = []
    if actual:
        parts.append(f"Cumulative spend {money(spent)} by {actual[-1][0].isoformat()}.")
    if projected:
        parts.append(f"Projected {money(end_value)} by {end_day.isoformat()}.")
    if too_early:
        parts.append(f"{too_early[:1].upper()}{too_early[1:]}.")
    if budget_value:
        if too_early and over is None:
            parts.append(f"Budget {money(budget_value)}: {percent(spent / budget_value)} used.")
        elif over is not None:
            parts.append(f"Budget {money(budget_value)}: exceeded on {over[0].isoformat()}"
                         f"{' (projected)' if not actual or over[0] > actual[-1][0] else ''}.")
        else:
            parts.append(f"Budget {money(budget_value)}: stays within budget ({percent(end_value / budget_value)}).")
    return Chart(png, chart_title(title), alt_text(*parts), filename("forecast", first, last))
