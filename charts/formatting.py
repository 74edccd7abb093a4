"""Strings on and around charts: money, token counts, percentages, dates and safe labels.

Pure functions, no matplotlib state; tests check their exact output.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import date
from functools import lru_cache

from core.periods import period_text

ELLIPSIS = "…"
REPLACEMENT = "\N{REPLACEMENT CHARACTER}"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_UNITS = ((1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T"))


def _trimmed(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _finite(value: object) -> float | None:
    """`value` as a float, or None where it is junk, NaN or infinite."""
    try:
        value = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _compact(value: float, *, prefix: str, cents: bool) -> str:
    value = _finite(value)
    if value is None:
        return "–"
    if value == 0:  # also -0.0: never print "-$0"
        return f"{prefix}0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    for threshold, suffix in _UNITS:
        scaled = magnitude / threshold
        if suffix == "":
            decimals = (2 if scaled < 10 else 1 if scaled < 100 else 0) if cents else 0
        else:
            decimals = 1 if scaled < 100 else 0
        text = _trimmed(scaled, decimals)
        # 999_960 rounds to "1000k": step up to the next unit instead.
        if float(text) < 1000:
            if float(text) == 0:
                return f"{prefix}0"
            return f"{sign}{prefix}{text}{suffix}"
    return f"{sign}{prefix}{magnitude:.1e}"


def money_short(value: float) -> str:
    """Compact money for axes: `$350`, `$1.2k`, `$12.5k`, `$2.1M`, `$0.25`; `$1k`, not `$1.0k`."""
    return _compact(value, prefix="$", cents=True)


def tokens_short(value: float) -> str:
    """Compact token count: `950`, `350k`, `1.2M`, `3B`."""
    return _compact(value, prefix="", cents=False)


def money(value: float) -> str:
    """Exact money for alt text and subtitles: `$1,234.56`, `-$3.10`."""
    value = _finite(value)
    if value is None:
        return "n/a"
    if value == 0:
        value = 0.0
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def money_label(value: float) -> str:
    """Money printed on a bar: cents under $100, whole dollars to $10k, compact above."""
    value = _finite(value)
    if value is None:
        return "–"
    if abs(value) < 100:
        return money(value)
    if abs(value) < 10_000:
        sign = "-" if value < 0 else ""
        return f"{sign}${abs(value):,.0f}"
    return money_short(value)


def token_count(value: float) -> str:
    """Exact token count with thousands separators: `1,234,567`."""
    value = _finite(value)
    if value is None:
        return "n/a"
    return f"{round(value):,}"


def percent(share: float) -> str:
    """A share in 0..1 as `42%`, `4.5%`, `<0.1%`."""
    try:
        share = float(share)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(share) or share <= 0:
        return "0%"
    pct = share * 100
    if pct < 0.1:
        return "<0.1%"
    if pct < 10:
        return f"{_trimmed(pct, 1)}%"
    return f"{pct:.0f}%"


def day_label(day: date) -> str:
    """Tick label for a day: `Jan 05` (fixed English month names, whatever the locale)."""
    return f"{MONTHS[day.month - 1]} {day.day:02d}"


def month_label(day: date, *, with_year: bool) -> str:
    """Tick label for a month: `Mar`, or `Jan 2026` where the year needs saying."""
    return f"{MONTHS[day.month - 1]} {day.year}" if with_year else MONTHS[day.month - 1]


def period_label(first: date, last: date) -> str:
    """The period as the messages write it (core.periods.period_text): one date style everywhere."""
    return period_text(first, last)


@lru_cache(maxsize=1)
def _drawable_codepoints() -> frozenset[int]:
    # Glyphs present in both the regular and the bold face: anything else would draw as a box
    # and make matplotlib warn, so it is replaced before it reaches a Text.
    from matplotlib import font_manager, ft2font

    from charts.theme import FONT_FAMILY

    covered: frozenset[int] | None = None
    for weight in ("normal", "bold"):
        props = font_manager.FontProperties(family=FONT_FAMILY, weight=weight)
        path = font_manager.findfont(props, fallback_to_default=True)
        charmap = frozenset(ft2font.FT2Font(path).get_charmap())
        covered = charmap if covered is None else covered & charmap
    return covered or frozenset()


def clean_label(text: object, max_chars: int = 40, *, empty: str = "(unnamed)") -> str:
    """Make any name safe to draw: one line, no control or bidi-override characters, glyphs the
    font has (others become �), at most `max_chars` characters (cut with an ellipsis).

    Labels are drawn as plain text, so `<script>` is just eight characters.
    """
    raw = "" if text is None else str(text)
    raw = raw[: max(max_chars * 8, 256)]  # a 10 MB name costs no more than a short one
    drawable = _drawable_codepoints()
    out: list[str] = []
    for char in raw:
        category = unicodedata.category(char)
        if category == "Cc" or category in ("Zl", "Zp"):
            char = " "
        elif category[0] == "C":  # format (incl. RLO/LRO overrides), private use, surrogates, unassigned
            continue
        elif ord(char) not in drawable and not char.isspace():
            if out and out[-1] == REPLACEMENT:
                continue
            char = REPLACEMENT
        elif char.isspace():
            char = " "
        out.append(char)
    label = " ".join("".join(out).split())
    if not label:
        return empty
    return truncate(label, max_chars)


def truncate(text: str, max_chars: int) -> str:
    """Cut `text` to at most `max_chars` characters, ending with `…` when cut."""
    max_chars = max(1, int(max_chars))
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 1].rstrip() + ELLIPSIS


def plain(text: str) -> str:
    """Escape `$` so matplotlib never reads a label like `$5 of $10` as mathtext."""
    return text.replace("$", r"\$")
