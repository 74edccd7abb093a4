"""The one look every Abacus chart shares.

Charts are read in Slack's preview, 360–700 px wide, so everything is sized for a ~2× downscale:
big type, a handful of light gridlines, no frame. Claude Code and Cursor always get the same two
colours, whatever chart they appear in, so a reader learns them once.
"""

from __future__ import annotations

from collections.abc import Iterable

# 10 × 5.6 in at 120 dpi: a 1200 × 672 PNG, crisp when Slack shrinks it to half.
FIGSIZE: tuple[float, float] = (10.0, 5.6)
DPI: int = 120
PIXEL_SIZE: tuple[int, int] = (round(FIGSIZE[0] * DPI), round(FIGSIZE[1] * DPI))  # (width, height)

FONT_FAMILY = "DejaVu Sans"  # ships with matplotlib, so every host renders the same glyphs

BACKGROUND = "#FFFFFF"
TEXT = "#1F2328"
MUTED_TEXT = "#57606A"
GRID = "#E4E7EB"
AXIS_LINE = "#AFB8C1"

TITLE_SIZE = 22
SUBTITLE_SIZE = 15
TICK_SIZE = 14
LABEL_SIZE = 14
VALUE_LABEL_SIZE = 13
LEGEND_SIZE = 14
EMPTY_MESSAGE_SIZE = 20

# The two tools own their colours everywhere: warm clay for Claude Code, blue for Cursor
# (an orange/blue pair stays distinguishable for the common colour-vision deficiencies).
TOOL_COLORS: dict[str, str] = {
    "claude_code": "#D97757",
    "cursor": "#2F6FDB",
}
TOOL_LABELS: dict[str, str] = {
    "claude_code": "Claude Code",
    "cursor": "Cursor",
}
TOOL_ORDER: tuple[str, ...] = ("claude_code", "cursor")

# Series that are not a tool (models, groups, unknown tools), in order of use.
SERIES_COLORS: tuple[str, ...] = (
    "#6F42C1",  # violet
    "#1A7F64",  # teal
    "#BF8700",  # ochre
    "#BF3989",  # pink
    "#4D7C0F",  # olive
    "#953800",  # rust
    "#1B7C99",  # cyan
    "#57606A",  # slate
)
ACCENT = "#5B5FC7"  # single-series charts (people, models, groups): neither tool's colour
OTHERS_COLOR = "#B6BDC6"  # the folded tail is always grey
OVER_BUDGET = "#CF222E"
BUDGET_LINE = "#24292F"
PROJECTION = "#57606A"

# Applied inside the render lock (see charts/canvas.py) so no other thread sees it.
RC: dict[str, object] = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT_FAMILY],
    "font.size": LABEL_SIZE,
    "text.color": TEXT,
    "axes.facecolor": BACKGROUND,
    "axes.edgecolor": AXIS_LINE,
    "axes.labelcolor": MUTED_TEXT,
    "axes.labelsize": LABEL_SIZE,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.spines.left": False,
    "axes.axisbelow": True,
    "axes.grid": False,
    "grid.color": GRID,
    "grid.linewidth": 1.0,
    "xtick.color": AXIS_LINE,
    "ytick.color": AXIS_LINE,
    "xtick.labelcolor": MUTED_TEXT,
    "ytick.labelcolor": MUTED_TEXT,
    "xtick.labelsize": TICK_SIZE,
    "ytick.labelsize": TICK_SIZE,
    "ytick.major.size": 0,
    "legend.fontsize": LEGEND_SIZE,
    "legend.frameon": False,
    "figure.facecolor": BACKGROUND,
    "savefig.facecolor": BACKGROUND,
    "svg.fonttype": "none",
    "axes.unicode_minus": True,
}


def tool_label(key: str) -> str:
    """Human name of a tool key: `claude_code` → `Claude Code`; unknown keys are title-cased."""
    key = str(key)
    return TOOL_LABELS.get(key, key.replace("_", " ").strip().title() or "Unknown")


def tool_color(key: str, fallback_index: int = 0) -> str:
    """The fixed colour of a tool; unknown tools borrow from the series palette."""
    return TOOL_COLORS.get(str(key), SERIES_COLORS[fallback_index % len(SERIES_COLORS)])


def ordered_tools(keys: Iterable[str]) -> list[str]:
    """Claude Code first, Cursor second, anything else after in name order — the same on every chart."""
    keys = list(dict.fromkeys(str(k) for k in keys))
    known = [k for k in TOOL_ORDER if k in keys]
    return known + sorted(k for k in keys if k not in TOOL_ORDER)


def tool_colors(keys: Iterable[str]) -> dict[str, str]:
    """Colour per tool key; unknown tools get distinct palette colours in a stable order."""
    colors: dict[str, str] = {}
    spare = 0
    for key in ordered_tools(keys):
        if key in TOOL_COLORS:
            colors[key] = TOOL_COLORS[key]
        else:
            colors[key] = SERIES_COLORS[spare % len(SERIES_COLORS)]
            spare += 1
    return colors
