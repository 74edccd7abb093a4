"""The drawing surface every chart shares: figure, header, axes styling, empty state, PNG out.

No pyplot: each chart is a fresh `Figure` on its own `FigureCanvasAgg`. matplotlib still keeps
some process-wide state (rcParams, font caches), so rendering is serialised by one lock and the
theme is applied with `rc_context` inside it — charts render from several bot threads at once.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from charts import theme
from charts.formatting import ELLIPSIS, clean_label, money_short, period_label, plain, tokens_short
from charts.prepare import date_ticks

ALT_TEXT_MAX = 1000  # Slack accepts 2000 for image alt text; a screen reader user wants far less
TITLE_MAX = 200

# Header band: title and subtitle sit above the layout rectangle, left-aligned with the figure.
_HEADER_LEFT = 0.025
_TITLE_TOP = 1 - 16 / theme.PIXEL_SIZE[1]
_SUBTITLE_TOP = 1 - 64 / theme.PIXEL_SIZE[1]
_PLOT_TOP = 1 - 100 / theme.PIXEL_SIZE[1]

_LOCK = threading.Lock()


@dataclass(frozen=True)
class Chart:
    """A rendered chart, ready to upload: PNG bytes plus the title and alt text Slack shows."""

    png: bytes
    title: str
    alt_text: str
    filename: str


def render(draw: Callable[[Figure], None]) -> bytes:
    """Create a themed figure, let `draw` fill it, return the PNG (exactly `theme.PIXEL_SIZE`)."""
    with _LOCK, matplotlib.rc_context(theme.RC):
        fig = Figure(
            figsize=theme.FIGSIZE,
            dpi=theme.DPI,
            layout=ConstrainedLayoutEngine(rect=(0.0, 0.0, 1.0, _PLOT_TOP), h_pad=0.12, w_pad=0.2),
        )
        FigureCanvasAgg(fig)
        draw(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=theme.DPI)
        return buffer.getvalue()


def header(fig: Figure, title: str, subtitle: str | None) -> None:
    """Bold title and grey subtitle, top left, each shortened with `…` to fit the width."""
    max_px = theme.PIXEL_SIZE[0] * (1 - 2 * _HEADER_LEFT)
    fit_text(
        fig.text(_HEADER_LEFT, _TITLE_TOP, "", ha="left", va="top", fontsize=theme.TITLE_SIZE,
                 fontweight="bold", color=theme.TEXT),
        clean_label(title, TITLE_MAX, empty=""), max_px,
    )
    if subtitle:
        fit_text(
            fig.text(_HEADER_LEFT, _SUBTITLE_TOP, "", ha="left", va="top", fontsize=theme.SUBTITLE_SIZE,
                     color=theme.MUTED_TEXT),
            clean_label(subtitle, TITLE_MAX, empty=""), max_px,
        )


def fit_text(artist: Text, text: str, max_px: float) -> None:
    """Set `text` on `artist`, cutting it (with `…`) until it is at most `max_px` wide."""
    renderer = artist.figure.canvas.get_renderer()
    artist.set_text(plain(text))
    if artist.get_window_extent(renderer).width <= max_px:
        return
    low, high = 0, len(text)
    while low < high:  # longest prefix that fits
        mid = (low + high + 1) // 2
        artist.set_text(plain(text[:mid].rstrip() + ELLIPSIS))
        if artist.get_window_extent(renderer).width <= max_px:
            low = mid
        else:
            high = mid - 1
    artist.set_text(plain(text[:low].rstrip() + ELLIPSIS))


def empty_state(fig: Figure, title: str, subtitle: str | None, message: str) -> None:
    """The chart for no data: same header, a centred explanation instead of axes."""
    header(fig, title, subtitle)
    fig.text(0.5, 0.45, plain(message), ha="center", va="center", fontsize=theme.EMPTY_MESSAGE_SIZE,
             color=theme.MUTED_TEXT)


def plot_axes(fig: Figure) -> Axes:
    """One axes with the house style: light horizontal gridlines only, a thin baseline."""
    ax = fig.add_subplot()
    ax.grid(axis="y")
    ax.tick_params(axis="x", length=4)
    ax.tick_params(axis="y", length=0, pad=6)
    ax.margins(x=0.01)
    return ax


def money_axis(axis, *, nbins: int = 5) -> None:
    """`$1.2k`-style ticks on a few round values."""
    axis.set_major_locator(MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10], min_n_ticks=3))
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: money_short(value)))


def token_axis(axis, *, nbins: int = 5) -> None:
    """`350k`-style ticks on whole numbers."""
    axis.set_major_locator(MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10], integer=True, min_n_ticks=3))
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: tokens_short(value)))


def date_axis(ax: Axes, days: Sequence[date]) -> None:
    """x is the day ordinal; ticks thinned for anything from one day to a few years."""
    first, last = days[0], days[-1]
    ticks = date_ticks(first, last)
    ax.xaxis.set_major_locator(FixedLocator([d.toordinal() for d, _ in ticks]))
    labels = {d.toordinal(): label for d, label in ticks}
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: labels.get(round(value), "")))
    # A day or two alone would make bars as wide as the chart: show at least a week's width.
    pad = 0.7 + max(0.0, (6 - (last - first).days) / 2)
    ax.set_xlim(first.toordinal() - pad, last.toordinal() + pad)


def legend_above(ax: Axes, handles: list, labels: list[str]) -> None:
    """Legend in one row above the plot, right-aligned, so it can never cover data."""
    if not handles:
        return
    ax.legend(handles, [plain(label) for label in labels], loc="lower right", bbox_to_anchor=(1.0, 1.0),
              ncol=len(handles), frameon=False, handlelength=1.2, handleheight=1.0, columnspacing=1.4,
              borderaxespad=0.3, borderpad=0.2)


def alt_text(*parts: str) -> str:
    """Join sentences into alt text, capped at `ALT_TEXT_MAX` characters."""
    text = " ".join(" ".join(part.split()) for part in parts if part)
    return text if len(text) <= ALT_TEXT_MAX else text[: ALT_TEXT_MAX - 1].rstrip() + ELLIPSIS


def chart_title(title: str) -> str:
    """The title Slack shows next to the upload: one clean line."""
    return clean_label(title, TITLE_MAX, empty="Chart")


def filename(kind: str, first: date | None = None, last: date | None = None) -> str:
    """`daily-spend_2026-01-01_2026-01-30.png`: ASCII only, safe on every filesystem."""
    slug = re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-") or "chart"
    if first is not None and last is not None:
        slug += f"_{first.isoformat()}" if first == last else f"_{first.isoformat()}_{last.isoformat()}"
    return slug + ".png"


def empty_chart(kind: str, title: str, subtitle: str | None, message: str,
                first: date | None = None, last: date | None = None) -> Chart:
    """A valid chart that says there is nothing to show, and alt text that says so too."""
    png = render(lambda fig: empty_state(fig, title, subtitle, message))
    clean_title = chart_title(title)
    sentence = message[:1].lower() + message[1:]
    return Chart(png, clean_title, alt_text(f"{clean_title}: no data — {sentence.rstrip('.')}."),
                 filename(kind, first, last))


def period_subtitle(given: str | None, first: date | None, last: date | None, *facts: str) -> str | None:
    """The caller's subtitle, or by default the period and the headline numbers."""
    if given is not None:
        return given
    if first is None or last is None:
        return None
    return " · ".join([period_label(first, last), *facts])
