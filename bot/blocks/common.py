"""Small Block Kit pieces and the formatting every message shares.

Limits (slack-platform.md §6): ≤ 50 blocks per message, ≤ 100 in a view, section text ≤ 3000,
≤ 10 fields of ≤ 2000, header ≤ 150, button text ≤ 75 and value ≤ 2000, context ≤ 10 elements.
The helpers clip to them so a builder cannot produce a payload Slack would reject.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from core.incidents import format_duration
from core.report import human_tokens
from core.usage import NANOS_PER_USD

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
HEADER_MAX = 150
BUTTON_TEXT_MAX = 75
CONTEXT_MAX = 10
ELLIPSIS = "…"

TOOL_LABELS = {"claude_code": "Claude Code", "cursor": "Cursor"}


# --- text safety ------------------------------------------------------------------------------------

# Slack mrkdwn has no escape character: a formatting mark in a name is swapped for a look-alike
# that Slack does not interpret. A backtick always (inside inline code it would close the code);
# `*`, `_`, `~` only where they could open or close formatting — at a word's edge — so that
# `first_last@example.com` stays as it is while `*BOLD*`, `_x_` and `~x~` render literally.
_LOOKALIKE = {"*": "\u2217", "_": "\u02cd", "~": "\u02dc"}  # ∗ ˍ ˜
_FORMATTING = re.compile(r"(?<![0-9A-Za-z])[*_~]|[*_~](?![0-9A-Za-z])")


# bidirectional controls (embeddings, overrides, isolates, marks): in a name they would display the rest
# of the line reversed, figures included; the letters of right-to-left scripts need none of them
_BIDI = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def _entities(text: object) -> str:
    return str(text).translate(_BIDI).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape(text: object) -> str:
    """Make user-derived text (names, key names, emails from vendors or the HR file) render
    literally in mrkdwn: no mentions, `<!channel>`, links, fake entities, bold, italics,
    strike-through or inline code."""
    plain = _entities(text).replace("`", "\u02cb")  # ˋ
    return _FORMATTING.sub(lambda m: _LOOKALIKE[m.group(0)], plain)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + ELLIPSIS


def code_cell(text: object, width: int) -> str:
    """A cell of a monospaced table: escaped, backticks neutralised (they would close the
    code block), clipped and padded to `width` characters."""
    raw = str(text).replace("`", "'").replace("\n", " ").replace("\r", " ")
    return _entities(clip(raw, width).ljust(width))  # inside a code block only the backtick formats


def plain_clip(text: object, limit: int) -> str:
    """Plain text (header, button, option): no escaping needed there, just the length."""
    return clip(str(text).replace("\n", " "), limit) or " "


def fallback(text: object, limit: int = SECTION_TEXT_MAX) -> str:
    """A message's `text` (notification, screen reader, clients without blocks): Slack parses it
    as mrkdwn, so user-derived parts must not carry a live `<!channel>`, mention or link. Entities
    only: the notification shows `<`, `>` and `&` as they were."""
    return _entities(plain_clip(text, limit))


# --- numbers ----------------------------------------------------------------------------------------

def usd(nanos: int) -> str:
    value = nanos / NANOS_PER_USD
    if 0 < abs(value) < 0.01:
        return "<$0.01" if value > 0 else "-<$0.01"
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


def usd_value(value: float) -> str:
    return f"${value:,.2f}"


def tokens(n: int) -> str:
    return human_tokens(int(n))


def percent(share: float | None, places: int = 1) -> str:
    return "—" if share is None else f"{share * 100:.{places}f}%"


def change(current: float, previous: float) -> float | None:
    """Relative change, None when there is nothing to compare with."""
    if previous == 0:
        return None
    return (current - previous) / abs(previous)


def delta(current: float, previous: float) -> str:
    """`▲ 12.5%`, `▼ 3.0%`, `±0%`, `new` (no previous value) or `—` (nothing either time)."""
    rel = change(current, previous)
    if rel is None:
        return "new" if current else "—"
    if abs(rel) < 0.0005:
        return "±0%"
    arrow = "▲" if rel > 0 else "▼"
    return f"{arrow} {abs(rel) * 100:,.1f}%"


def day(d: date | None) -> str:
    return "—" if d is None else d.isoformat()


def when(ts: datetime | None) -> str:
    return "—" if ts is None else ts.strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    """Durations are written one way everywhere (core.incidents.format_duration)."""
    return format_duration(None if seconds is None else max(0.0, seconds))


def tool(source: str | None) -> str:
    return "both tools" if not source else TOOL_LABELS.get(source, source)


# --- blocks -----------------------------------------------------------------------------------------

def header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": plain_clip(text, HEADER_MAX), "emoji": True}}


def section(mrkdwn: str, *, block_id: str | None = None, accessory: dict | None = None) -> dict:
    block: dict = {"type": "section", "text": {"type": "mrkdwn", "text": clip(mrkdwn or " ", SECTION_TEXT_MAX)}}
    if block_id:
        block["block_id"] = block_id
    if accessory:
        block["accessory"] = accessory
    return block


def fields(pairs: Sequence[tuple[str, str]]) -> list[dict]:
    """`*label*\\nvalue` fields, 10 per section (Slack's limit), as many sections as needed."""
    out = []
    items = [{"type": "mrkdwn", "text": clip(f"*{label}*\n{value}", FIELD_TEXT_MAX)} for label, value in pairs]
    for i in range(0, len(items), 10):
        out.append({"type": "section", "fields": items[i:i + 10]})
    return out


def context(*texts: str) -> dict:
    elements = [{"type": "mrkdwn", "text": clip(t, 2000)} for t in texts if t][:CONTEXT_MAX]
    return {"type": "context", "elements": elements or [{"type": "mrkdwn", "text": " "}]}


def divider() -> dict:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str | None = None, *, style: str | None = None) -> dict:
    b: dict = {"type": "button", "text": {"type": "plain_text", "text": plain_clip(text, BUTTON_TEXT_MAX),
                                          "emoji": True}, "action_id": action_id}
    if value is not None:
        b["value"] = value[:2000]
    if style in ("primary", "danger"):
        b["style"] = style
    return b


def actions(elements: Sequence[dict], *, block_id: str | None = None) -> dict:
    block: dict = {"type": "actions", "elements": list(elements)[:25]}
    if block_id:
        block["block_id"] = block_id
    return block


def option(text: str, value: str) -> dict:
    return {"text": {"type": "plain_text", "text": plain_clip(text, 75)}, "value": value[:150]}


def code_table(header_cells: Sequence[tuple[str, int, str]], rows: Iterable[Sequence[object]],
               *, limit: int = SECTION_TEXT_MAX) -> list[str]:
    """A monospaced table in ``` code blocks, split so each chunk fits one section.

    `header_cells` are (title, width, align) with align `<` or `>`; cells are escaped."""
    def line(cells: Sequence[object]) -> str:
        parts = []
        for (_, width, align), cell in zip(header_cells, cells, strict=True):
            text = str(cell).replace("`", "'")
            text = clip(text, width)
            text = text.rjust(width) if align == ">" else text.ljust(width)
            parts.append(escape(text))
        return "  ".join(parts).rstrip()

    head = line([h[0] for h in header_cells])
    rule = "  ".join("-" * h[1] for h in header_cells)
    chunks, current = [], [head, rule]
    for row in rows:
        text = line(row)
        if sum(len(x) + 1 for x in current) + len(text) + 8 > limit:
            chunks.append(current)
            current = [head, rule]
        current.append(text)
    chunks.append(current)
    return ["```\n" + "\n".join(c) + "\n```" for c in chunks]


def cap_blocks(blocks: list[dict], limit: int = MAX_MESSAGE_BLOCKS, *, note: str = "(more not shown)") -> list[dict]:
    """Keep a message within Slack's block limit, saying so when something was cut."""
    if len(blocks) <= limit:
        return blocks
    return [*blocks[: limit - 1], context(note)]


def plain_text_of(blocks: Sequence[dict], limit: int = 3000) -> str:
    """A rough plain-text rendering (for the notification fallback)."""
    parts = []
    for b in blocks:
        if b.get("type") in ("header", "section") and isinstance(b.get("text"), dict):
            parts.append(b["text"]["text"])
    return clip("\n".join(parts), limit)
