"""Ranked horizontal bars: who spends most, which models, which billing groups (against budget)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon

from charts import theme
from charts.canvas import Chart, alt_text, chart_title, empty_chart, filename, header, legend_above, render
from charts.formatting import clean_label, money, money_label, percent, plain
from charts.prepare import Slice, amount, fold_tail

NO_USAGE = "No usage in this period"
NAME_CHARS = 28  # y labels: long enough for "firstname.lastname@corp.com"-ish, short enough for the preview
ALT_NAME_CHARS = 40
BREAK_RATIO = 1.25  # "Others" longer than this × the longest named bar is drawn broken
MAX_ROWS = 20  # above this the labels could no longer be read at preview size


@dataclass(frozen=True)
class _Bar:
    label: str
    value: float
    color: str
    text: str  # printed at the end of the bar
    marker: float | None = None  # budget tick
    others: bool = False  # the folded tail: may be drawn broken when it dwarfs the named rows


def _display_label(item: Slice, noun: str) -> str:
    if item.is_others:
        return f"Others ({item.folded} {noun})"
    return clean_label(item.label, NAME_CHARS)


def _alt_name(item: Slice, noun: str) -> str:
    if item.is_others:
        return f"others ({item.folded} {noun})"
    return clean_label(item.label, ALT_NAME_CHARS)


def _ranked(rows: Sequence[tuple[str, float]], top: int) -> tuple[list[Slice], float, int]:
    """The rows folded to `top` bars, their total, and how many names they stand for."""
    items = fold_tail(rows, min(top, MAX_ROWS))
    return items, math.fsum(i.value for i in items), sum(i.folded or 1 for i in items)


def _slice_bar(item: Slice, noun: str, text: str) -> _Bar:
    """One ranked row as a bar: accent colour, or the "Others" colour for the folded tail."""
    return _Bar(_display_label(item, noun), item.value, theme.OTHERS_COLOR if item.is_others else theme.ACCENT,
                text, others=item.is_others)


def _hbars(ax: Axes, bars: Sequence[_Bar]) -> None:
    """Largest at the top, names on the left, the value at the end of each bar, no x axis."""
    count = len(bars)
    ys = list(range(count - 1, -1, -1))
    label_size = theme.TICK_SIZE if count <= 12 else max(9.0, theme.TICK_SIZE * 12 / count)
    # A huge "Others" would squash every named bar: cut it short with a visible break instead
    # (its printed value stays exact).
    named_ends = [max(b.value, b.marker or 0.0) for b in bars if not b.others]
    cap = max(named_ends, default=0.0) * BREAK_RATIO
    lengths = [min(b.value, cap) if b.others and named_ends and b.value > cap else b.value for b in bars]
    ax.barh(ys, lengths, height=0.68, color=[b.color for b in bars], linewidth=0)
    ends = [max(length, b.marker or 0.0) for length, b in zip(lengths, bars, strict=True)]
    widest = max(ends, default=0.0) or 1.0
    for y, bar, length, end in zip(ys, bars, lengths, ends, strict=True):
        if length < bar.value:
            _break_mark(ax, length * 0.88, y, widest)
        if bar.marker is not None:
            ax.plot([bar.marker, bar.marker], [y - 0.44, y + 0.44], color=theme.BUDGET_LINE, linewidth=3,
                    solid_capstyle="butt", zorder=3)
        ax.annotate(plain(bar.text), (end, y), xytext=(6, 0), textcoords="offset points", va="center", ha="left",
                    fontsize=min(theme.VALUE_LABEL_SIZE, label_size), color=theme.TEXT)
    # Room on the right for the longest value label (~0.6 em per character at ~850 px of plot width).
    longest = max((len(b.text) for b in bars), default=0)
    room = min(0.55, (longest * 0.6 * theme.VALUE_LABEL_SIZE * theme.DPI / 72 + 16) / 850)
    ax.set_xlim(0, widest / (1 - room))
    ax.set_ylim(-0.6, count - 0.4)
    ax.set_yticks(ys, [plain(b.label) for b in bars], fontsize=label_size, color=theme.TEXT)
    ax.tick_params(axis="y", length=0, pad=8)
    ax.xaxis.set_visible(False)
    ax.spines[["bottom", "left", "top", "right"]].set_visible(False)
    ax.grid(False)


def _break_mark(ax: Axes, x: float, y: float, widest: float) -> None:
    """Two slanted white cuts across a bar: the usual sign for "longer than drawn"."""
    half, slant = widest * 0.006, widest * 0.012
    for offset in (-widest * 0.012, widest * 0.012):
        cx = x + offset
        ax.add_patch(Polygon([(cx - half - slant, y - 0.42), (cx + half - slant, y - 0.42),
                              (cx + half + slant, y + 0.42), (cx - half + slant, y + 0.42)],
                             closed=True, facecolor=theme.BACKGROUND, linewidth=0, zorder=3))


def _draw_bars(title: str, subtitle: str | None, bars: Sequence[_Bar],
               legend: Iterable[tuple[object, str]] = ()) -> bytes:
    def draw(fig: Figure) -> None:
        header(fig, title, subtitle)
        ax = fig.add_subplot()
        _hbars(ax, bars)
        entries = list(legend)
        legend_above(ax, [h for h, _ in entries], [label for _, label in entries])

    return render(draw)


def top_users(
    rows: Sequence[tuple[str, float]],
    *,
    top: int = 10,
    title: str = "Top spenders",
    subtitle: str | None = None,
    who: str | None = None,
) -> Chart:
    """People ranked by spend, largest at the top; beyond `top` people the rest fold into one "Others" bar.

    `rows` are (display name, spend). Duplicate names are summed; zero, negative and NaN rows are left out.
    `who` says what the rows are when they are not all people (`3 people and 1 unmapped key`), as the
    message beside the chart counts them; by default, the rows are counted as people.
    """
    items, total, people = _ranked(rows, top)
    if not items:
        return empty_chart("top-users", title, subtitle, NO_USAGE)
    who = who or f"{people} {'person' if people == 1 else 'people'}"
    if subtitle is None:
        subtitle = f"{money(total)} across {who}"
    bars = [_slice_bar(i, "people", money_label(i.value)) for i in items]
    png = _draw_bars(title, subtitle, bars)
    named = [i for i in items if not i.is_others][:5]
    folded = [i for i in items if i.is_others]
    listing = ", ".join(f"{_alt_name(i, 'people')} {money(i.value)}" for i in named + folded)
    alt = alt_text(f"{chart_title(title)}: {who} spent {money(total)} in total. Largest: {listing}.")
    return Chart(png, chart_title(title), alt, filename("top-users"))


def model_mix(
    rows: Sequence[tuple[str, float]],
    *,
    top: int = 8,
    title: str = "Spend by model",
    subtitle: str | None = None,
) -> Chart:
    """Share of spend per model as horizontal bars labelled `42% · $1,234`; the tail folds into "Others".

    With the default `top=8`, 25 models draw as 8 bars plus "Others (17 models)".
    """
    items, total, models = _ranked(rows, top)
    if not items:
        return empty_chart("model-mix", title, subtitle, NO_USAGE)
    if subtitle is None:
        subtitle = f"{money(total)} across {models} model{'' if models == 1 else 's'}"
    bars = [_slice_bar(i, "models", f"{percent(i.value / total)} · {money_label(i.value)}") for i in items]
    png = _draw_bars(title, subtitle, bars)
    listing = ", ".join(f"{_alt_name(i, 'models')} {percent(i.value / total)} ({money(i.value)})" for i in items)
    alt = alt_text(f"{chart_title(title)}: {money(total)} across {models} model{'' if models == 1 else 's'}."
                   f" {listing}.")
    return Chart(png, chart_title(title), alt, filename("model-mix"))


def group_spend(
    rows: Sequence[tuple[str, float, float | None]],
    *,
    top: int = 12,
    title: str = "Spend by group",
    subtitle: str | None = None,
) -> Chart:
    """Spend per billing group, largest at the top, with a tick at each group's budget (if it has one).

    Groups over budget are drawn in red. `rows` are (group, spend, budget or None); duplicate groups
    are summed. Beyond `top` groups the rest fold into "Others" (which has no budget).
    """
    spend: dict[str, float] = {}
    budgets: dict[str, float | None] = {}
    for row in rows:
        name, value = str(row[0]), amount(row[1])
        budget = amount(row[2]) if len(row) > 2 and row[2] is not None else None
        spend[name] = spend.get(name, 0.0) + value
        if budget:
            budgets[name] = (budgets.get(name) or 0.0) + budget
        else:
            budgets.setdefault(name, None)
    shown = [name for name in spend if spend[name] > 0 or budgets[name]]
    if not any(spend[name] > 0 for name in shown):
        return empty_chart("group-spend", title, subtitle, NO_USAGE)
    shown.sort(key=lambda name: (-spend[name], -(budgets[name] or 0.0), name))
    top = max(1, min(top, MAX_ROWS))
    tail = shown[top:] if len(shown) > top + 1 else []
    head = shown[: len(shown) - len(tail)]
    total = math.fsum(spend.values())

    bars: list[_Bar] = []
    over: list[str] = []
    for name in head:
        value, budget = spend[name], budgets[name]
        is_over = budget is not None and value > budget
        if is_over:
            over.append(name)
        text = f"{money_label(value)} of {money_label(budget)} ({percent(value / budget)})" if budget else \
            money_label(value)
        bars.append(_Bar(clean_label(name, NAME_CHARS), value, theme.OVER_BUDGET if is_over else theme.ACCENT,
                         text, budget))
    if tail:
        rest = math.fsum(spend[name] for name in tail)
        bars.append(_Bar(f"Others ({len(tail)} groups)", rest, theme.OTHERS_COLOR, money_label(rest), others=True))

    if subtitle is None:
        budgeted = [n for n in head if budgets[n]]
        subtitle = f"{money(total)} across {len(shown)} group{'' if len(shown) == 1 else 's'}"
        if budgeted:
            subtitle += f" · {len(over)} of {len(budgeted)} over budget"
    legend: list[tuple[object, str]] = []
    if any(b.color == theme.ACCENT for b in bars):
        legend.append((Patch(facecolor=theme.ACCENT), "Spend"))
    if over:
        legend.append((Patch(facecolor=theme.OVER_BUDGET), "Over budget"))
    if any(b.marker is not None for b in bars):
        legend.append((Line2D([], [], color=theme.BUDGET_LINE, linewidth=3), "Budget"))
    png = _draw_bars(title, subtitle, bars, legend)

    def describe(name: str) -> str:
        label, budget = clean_label(name, ALT_NAME_CHARS), budgets[name]
        if budget:
            return f"{label} {money(spend[name])} of {money(budget)} ({percent(spend[name] / budget)})"
        return f"{label} {money(spend[name])}"

    listing = "; ".join(describe(n) for n in head[:8])
    if tail:
        listing += f"; others ({len(tail)} groups) {money(math.fsum(spend[n] for n in tail))}"
    sentences = [f"{chart_title(title)}: {money(total)} across {len(shown)} group{'' if len(shown) == 1 else 's'}.",
                 f"{listing}."]
    if over:
        sentences.append(f"Over budget: {', '.join(clean_label(n, ALT_NAME_CHARS) for n in over)}.")
    return Chart(png, chart_title(title), alt_text(*sentences), filename("group-spend"))
