"""Adoption: how many people use the tools each day, against the seats paid for."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

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
    period_subtitle,
    plot_axes,
    render,
)
from charts.formatting import percent, tokens_short
from charts.prepare import amount, daily_series


def adoption(
    days: Sequence[date],
    active_users: Sequence[int],
    seats: int | None = None,
    *,
    title: str = "Daily active users",
    subtitle: str | None = None,
    seat_label: str = "seats",
) -> Chart:
    """Daily active users as a line, with the number of seats as a dashed line when known
    (`seat_label` names what that number counts, e.g. "people with a seat")."""
    data = daily_series(days, {"active": active_users}, combine=max)
    first, last = (data.days[0], data.days[-1]) if data.days else (None, None)
    if data.is_empty():
        return empty_chart("adoption", title, period_subtitle(subtitle, first, last),
                           "No active users in this period", first, last)

    active = [round(v) for v in data.series["active"]]
    seat_count = round(amount(seats)) if seats is not None else 0
    average = math.fsum(active) / len(active)
    peak = max(range(len(active)), key=lambda i: active[i])
    facts = [f"average {average:,.1f} a day", f"peak {active[peak]:,}"]
    if seat_count:
        facts.append(f"{seat_count:,} {seat_label}")
    subtitle = period_subtitle(subtitle, first, last, *facts)

    def draw(fig: Figure) -> None:
        header(fig, title, subtitle)
        ax = plot_axes(fig)
        xs = [d.toordinal() for d in data.days]
        ax.fill_between(xs, active, color=theme.ACCENT, alpha=0.10, linewidth=0)
        ax.plot(xs, active, color=theme.ACCENT, linewidth=3, marker="o" if len(xs) <= 31 else None, markersize=6)
        handles: list[Line2D] = [Line2D([], [], color=theme.ACCENT, linewidth=3)]
        labels = ["Active users"]
        if seat_count:
            ax.axhline(seat_count, color=theme.BUDGET_LINE, linewidth=1.8, linestyle=(0, (4, 3)))
            handles.append(Line2D([], [], color=theme.BUDGET_LINE, linewidth=1.8, linestyle=(0, (4, 3))))
            labels.append(f"{seat_label[:1].upper()}{seat_label[1:]} ({seat_count:,})")
        date_axis(ax, data.days)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True, min_n_ticks=3))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: tokens_short(value)))
        ax.set_ylim(bottom=0, top=max(max(active) * 1.12, seat_count * 1.12, 1.0))
        legend_above(ax, handles, labels)

    png = render(draw)
    span = f"on {first.isoformat()}" if first == last else f"{first.isoformat()} to {last.isoformat()}"
    sentence = (f"Daily active users {span}: average {average:,.1f}, peak {active[peak]:,} on "
                f"{data.days[peak].isoformat()}")
    if seat_count:
        sentence += f"; {seat_count:,} {seat_label}, so the peak was {percent(active[peak] / seat_count)} of them"
    return Chart(png, chart_title(title), alt_text(sentence + "."), filename("adoption", first, last))
