"""Model names and the dated price table (USD per million tokens).

Source: Anthropic pricing page as mirrored 2026-01-13 and 2026-08-22 (reference/vendor-apis.md §A.7).
The vendor's own cost is always preferred; this table only fills records that carry none.
A model we do not know is never guessed: its estimate is 0 and flagged `unknown_model`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from core.usage import NANOS_PER_USD, CostBasis

_DATE_SUFFIX = re.compile(r"-(20\d{6})$")
_CLAUDE_ID = re.compile(r"^(?:anthropic/)?claude-(?P<rest>.+)$")


def normalise_model(raw: str | None) -> str:
    """Readable, stable model name.

    `claude-opus-4-5-20251101` → `opus-4.5`, `claude-3-5-haiku-20241022` → `haiku-3.5`,
    `claude-sonnet-4-6` → `sonnet-4.6`. Cursor's names (`claude-4.5-sonnet`, `gpt-5`,
    `auto`) are already readable and kept, lower-cased, except that Cursor's Claude names
    are put in the same family-version order so both tools group together.
    """
    if not raw or not raw.strip():
        return "unknown"
    name = raw.strip().lower()
    name = _DATE_SUFFIX.sub("", name)
    m = _CLAUDE_ID.match(name)
    if not m:
        return name
    rest = m.group("rest")
    tokens = rest.split("-")
    families = ("opus", "sonnet", "haiku", "fable", "mythos")
    family = next((t for t in tokens if t in families), None)
    if family is None:
        return name
    idx = tokens.index(family)
    before = [t for t in tokens[:idx] if t.isdigit() or re.fullmatch(r"\d+(\.\d+)?", t)]
    after_all = tokens[idx + 1:]
    after = []
    for t in after_all:
        if re.fullmatch(r"\d+(\.\d+)?", t):
            after.append(t)
        else:
            break
    suffix = after_all[len(after):]
    version = ".".join(before or after)  # Anthropic puts the version after the family, Cursor before
    base = f"{family}-{version}" if version else family
    if suffix:
        base += "-" + "-".join(suffix)
    return base


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens."""

    input: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    output: Decimal


def _p(inp: str, out: str) -> ModelPrice:
    i = Decimal(inp)
    return ModelPrice(input=i, cache_write_5m=i * Decimal("1.25"), cache_write_1h=i * 2,
                      cache_read=i / 10, output=Decimal(out))


@dataclass(frozen=True, slots=True)
class PriceEntry:
    model: str  # normalised family-version, e.g. "opus-4.5"
    price: ModelPrice
    valid_from: date


# Every model of vendor-apis.md §A.7. Multipliers: 5m write 1.25×, 1h write 2×, read 0.1×, except
# where the page lists its own figures (Haiku 3: $0.30 and $0.03, not $0.3125 and $0.025).
PRICE_TABLE: tuple[PriceEntry, ...] = tuple(
    PriceEntry(model, _p(inp, out), date(2024, 1, 1))
    for model, inp, out in (
        ("opus-5", "5", "25"), ("opus-4.8", "5", "25"), ("opus-4.7", "5", "25"),
        ("opus-4.6", "5", "25"), ("opus-4.5", "5", "25"),
        ("opus-4.1", "15", "75"), ("opus-4", "15", "75"), ("opus-3", "15", "75"),
        ("sonnet-5", "2", "10"),
        ("sonnet-4.6", "3", "15"), ("sonnet-4.5", "3", "15"), ("sonnet-4", "3", "15"),
        ("sonnet-3.7", "3", "15"),
        ("haiku-4.5", "1", "5"), ("haiku-3.5", "0.80", "4"),
        ("fable-5", "10", "50"), ("mythos-5", "10", "50"),
    )
) + (PriceEntry("haiku-3", ModelPrice(input=Decimal("0.25"), cache_write_5m=Decimal("0.30"),
                                      cache_write_1h=Decimal("0.50"), cache_read=Decimal("0.03"),
                                      output=Decimal("1.25")), date(2024, 1, 1)),)

# Fast mode (Opus 4.8 / 5, research preview): $10 / $50, the cache multipliers on top.
FAST_MODE_MODELS = frozenset({"opus-4.8", "opus-5"})
FAST_MODE_PRICE = _p("10", "50")

# US-only inference (`inference_geo: "us"`) costs 1.1× on every token kind for Claude 4.6+.
US_GEO_MODELS = frozenset({"opus-4.6", "opus-4.7", "opus-4.8", "opus-5", "sonnet-4.6", "sonnet-5", "fable-5",
                           "mythos-5"})
US_GEO_FACTOR = Decimal("1.1")

# Sonnet 4 / 4.5 with the 1M beta: a request over 200K input tokens bills every token at $6 / $22.50.
LONG_CONTEXT_MODELS = frozenset({"sonnet-4", "sonnet-4.5"})
LONG_CONTEXT_PRICE = _p("6", "22.50")
LONG_CONTEXT_THRESHOLD = 200_000

_THINKING_SUFFIXES = re.compile(r"-(thinking|high|max|fast|latest|high-thinking|max-thinking)$")


def price_key(model: str) -> str:
    """The price-table key of a normalised or Cursor model name (`claude-4.5-sonnet-thinking` → `sonnet-4.5`)."""
    name = normalise_model(model)
    m = re.fullmatch(r"claude-(\d+(?:\.\d+)?)-(opus|sonnet|haiku)(-.*)?", name)
    if m:
        name = f"{m.group(2)}-{m.group(1)}{m.group(3) or ''}"
    while True:
        stripped = _THINKING_SUFFIXES.sub("", name)
        if stripped == name:
            break
        name = stripped
    return name


def lookup_price(model: str, on: date | None = None, *, long_context: bool = False) -> ModelPrice | None:
    key = price_key(model)
    if long_context and key in LONG_CONTEXT_MODELS:
        return LONG_CONTEXT_PRICE
    if key in FAST_MODE_MODELS and normalise_model(model).endswith("-fast"):
        return FAST_MODE_PRICE
    candidates = [e for e in PRICE_TABLE if e.model == key and (on is None or e.valid_from <= on)]
    if not candidates:
        return None
    return max(candidates, key=lambda e: e.valid_from).price


def estimate_cost_nanos(model: str, *, input_tokens: int, cache_write_5m: int = 0, cache_write_1h: int = 0,
                        cache_read: int = 0, output: int = 0, on: date | None = None,
                        context_window: str | None = None, inference_geo: str | None = None) -> tuple[int, CostBasis]:
    """Estimated cost in nanos and whether it is an estimate or unknown.

    `context_window == "200k-1M"` (as reported by the usage API) selects the long-context rate;
    `inference_geo == "us"` adds the US-only 10 % on Claude 4.6+ models.
    """
    long_ctx = context_window == "200k-1M"
    price = lookup_price(model, on, long_context=long_ctx)
    if price is None:
        return 0, CostBasis.UNKNOWN_MODEL
    usd_per_mtok_tokens = (
        price.input * input_tokens + price.cache_write_5m * cache_write_5m + price.cache_write_1h * cache_write_1h
        + price.cache_read * cache_read + price.output * output
    )
    if inference_geo is not None and inference_geo.strip().lower() == "us" and price_key(model) in US_GEO_MODELS:
        usd_per_mtok_tokens *= US_GEO_FACTOR
    nanos = usd_per_mtok_tokens * NANOS_PER_USD / 1_000_000
    return int(nanos.to_integral_value()), CostBasis.ESTIMATED


# The next tier down for everyday coding work, for the private nudge: a model in the same line
# that costs less per token. Suggested only where the table prices both.
_CHEAPER_LINE: dict[str, tuple[str, ...]] = {
    "opus": ("sonnet-4.5",), "fable": ("sonnet-4.5",), "mythos": ("sonnet-4.5",), "sonnet": ("haiku-4.5",),
}


def cheaper_alternative(model: str | None) -> tuple[str, float] | None:
    """(a cheaper model, its output price as a share of this one's), or None when there is none
    worth naming (unknown model, already the cheapest line, or less than 10 % cheaper)."""
    if not model:
        return None
    key = price_key(model)
    price = lookup_price(key)
    if price is None or price.output <= 0:
        return None
    for candidate in _CHEAPER_LINE.get(key.split("-", 1)[0], ()):
        other = lookup_price(candidate)
        if other is None:
            continue
        share = float(other.output / price.output)
        if share <= 0.9:
            return candidate, share
    return None
