"""Which export a file is, told by its header row (every variant in reference/vendor-apis.md §C).

Columns are found by name, never by position: exports add, drop and reorder columns between
generations. A header that fits no format is refused with the headers each format expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ImportFormat(StrEnum):
    CURSOR = "cursor"
    CLAUDE_USAGE = "claude-usage"
    CLAUDE_COST = "claude-cost"
    HIBOB = "hibob"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    ImportFormat.CURSOR: "Cursor usage export",
    ImportFormat.CLAUDE_USAGE: "Claude Console usage export",
    ImportFormat.CLAUDE_COST: "Claude Console cost export",
    ImportFormat.HIBOB: "HiBob people directory",
}

# logical column → the header names exports have used for it (normalised: lower case, single spaces)
_ALIASES: dict[ImportFormat, dict[str, tuple[str, ...]]] = {
    ImportFormat.CURSOR: {
        "date": ("date",), "user": ("user", "email", "user email"), "kind": ("kind",), "model": ("model",),
        "max_mode": ("max mode",), "input_with_cache_write": ("input (w/ cache write)",),
        "input_without_cache_write": ("input (w/o cache write)",), "cache_read": ("cache read",),
        "output": ("output tokens", "output"), "total": ("total tokens",), "tokens": ("tokens",),
        "cost": ("cost", "cost ($)"), "cost_to_you": ("cost to you",), "requests": ("requests",),
        "cloud_agent": ("cloud agent id",), "automation": ("automation id",),
    },
    ImportFormat.CLAUDE_USAGE: {
        "day": ("usage_date_utc",), "model": ("model_version",), "api_key": ("api_key",),
        "workspace": ("workspace",), "usage_type": ("usage_type",), "context_window": ("context_window",),
        "input": ("usage_input_tokens_no_cache",), "cache_write_5m": ("usage_input_tokens_cache_write_5m",),
        "cache_write_1h": ("usage_input_tokens_cache_write_1h",),
        "cache_write": ("usage_input_tokens_cache_write",), "cache_read": ("usage_input_tokens_cache_read",),
        "output": ("usage_output_tokens",), "web_search": ("web_search_count",),
        "inference_geo": ("inference_geo",), "speed": ("speed",),
    },
    ImportFormat.CLAUDE_COST: {
        "day": ("usage_date_utc",), "model": ("model",), "workspace": ("workspace",), "api_key": ("api_key",),
        "usage_type": ("usage_type",), "context_window": ("context_window",), "token_type": ("token_type",),
        "cost": ("cost_usd",), "list_price": ("list_price_usd",), "cost_type": ("cost_type",),
        "inference_geo": ("inference_geo",), "speed": ("speed",), "api_key_id": ("api_key_id",),
        "api_key_status": ("api_key_status",),
    },
    ImportFormat.HIBOB: {
        "email": ("email", "work email", "email address"), "department": ("department",),
        "group": ("group",), "team": ("team",), "display_name": ("display name", "name", "full name"),
        "job_title": ("job title",),
    },
}

# each inner tuple is one way to satisfy the format (all of its columns present)
_REQUIRED: dict[ImportFormat, tuple[tuple[str, ...], ...]] = {
    ImportFormat.CURSOR: (
        ("date", "model", "input_with_cache_write", "input_without_cache_write", "cache_read", "output", "total"),
        ("date", "model", "tokens"),
    ),
    ImportFormat.CLAUDE_USAGE: (
        ("day", "model", "api_key", "input", "cache_write_5m", "cache_write_1h", "cache_read", "output"),
        ("day", "model", "api_key", "input", "cache_write", "cache_read", "output"),
    ),
    ImportFormat.CLAUDE_COST: (("day", "model", "api_key", "token_type", "cost"),),
    ImportFormat.HIBOB: (("email", "department"),),
}

EXPECTED_HEADERS: dict[ImportFormat, tuple[str, ...]] = {
    ImportFormat.CURSOR: (
        "Date,User,Kind,Model,Max Mode,Input (w/ Cache Write),Input (w/o Cache Write),Cache Read,Output Tokens,"
        "Total Tokens,Cost   (User optional; Requests instead of Cost; Cloud Agent ID, Automation ID allowed; "
        "or the oldest Date,User,Kind,Max Mode,Model,Tokens,Cost ($))",
    ),
    ImportFormat.CLAUDE_USAGE: (
        "usage_date_utc,model_version,api_key,workspace,usage_type,context_window,usage_input_tokens_no_cache,"
        "usage_input_tokens_cache_write_5m,usage_input_tokens_cache_write_1h,usage_input_tokens_cache_read,"
        "usage_output_tokens,web_search_count[,inference_geo,speed]   (or one usage_input_tokens_cache_write)",
    ),
    ImportFormat.CLAUDE_COST: (
        "usage_date_utc,model,workspace,api_key,usage_type,context_window,token_type,cost_usd[,list_price_usd],"
        "cost_type[,inference_geo,speed][,api_key_id,api_key_status]",
    ),
    ImportFormat.HIBOB: ("Email,Department[,Group,Team,Display name,Job title]",),
}


def normalise_header(cell: str) -> str:
    return " ".join(cell.replace("\ufeff", "").strip().strip('"').split()).lower()


@dataclass(frozen=True, slots=True)
class Layout:
    """A recognised header: the format, a short variant name and where each logical column is."""

    format: ImportFormat
    variant: str
    columns: dict[str, int]
    width: int

    def has(self, name: str) -> bool:
        return name in self.columns


class UnknownFormat(ValueError):
    """No format fits the header (or not the one asked for)."""


def expected_text(formats: tuple[ImportFormat, ...] = tuple(ImportFormat)) -> str:
    return "\n".join(f"  {f.value}: {EXPECTED_HEADERS[f][0]}" for f in formats)


def _resolve(fmt: ImportFormat, header: list[str]) -> dict[str, int] | None:
    positions: dict[str, int] = {}
    for i, cell in enumerate(header):
        name = normalise_header(cell)
        for logical, aliases in _ALIASES[fmt].items():
            if name in aliases and logical not in positions:
                positions[logical] = i
    if any(all(c in positions for c in option) for option in _REQUIRED[fmt]):
        return positions
    return None


def _variant(fmt: ImportFormat, cols: dict[str, int], header: list[str]) -> str:
    if fmt is ImportFormat.CURSOR:
        if "tokens" in cols and "total" not in cols:
            return "oldest (Tokens, Cost ($))"
        gen = "v3" if "cloud_agent" in cols or "automation" in cols else ("v2" if "kind" in cols else "v1")
        parts = [gen, "with User" if "user" in cols else "without User"]
        if "requests" in cols and "cost" not in cols:
            parts.append("Requests")
        return ", ".join(parts)
    if fmt is ImportFormat.CLAUDE_USAGE:
        base = "single cache-write column" if "cache_write_5m" not in cols else "5m/1h cache writes"
        return base + (", inference_geo/speed" if "inference_geo" in cols else "")
    if fmt is ImportFormat.CLAUDE_COST:
        if "api_key_id" in cols:
            return "2026-08 (api_key_id, api_key_status)"
        return "2026 (list price, geo, speed)" if "list_price" in cols else "2025-12"
    return "directory"


def detect(header: list[str], wanted: ImportFormat | None = None) -> Layout:
    """The layout of a file from its header row; `wanted` forces one format (else: the one that fits)."""
    names = [normalise_header(c) for c in header]
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    if dupes:
        raise UnknownFormat(f"the header names a column twice: {', '.join(dupes)}")
    candidates = (wanted,) if wanted else tuple(ImportFormat)
    for fmt in candidates:
        cols = _resolve(fmt, header)
        if cols is not None:
            if fmt is ImportFormat.CURSOR and "cost" not in cols and "requests" not in cols:
                continue
            return Layout(fmt, _variant(fmt, cols, header), cols, len(header))
    shown = ",".join(c.strip() for c in header)[:200]
    if wanted:
        raise UnknownFormat(f"the header is not a {wanted.label} ({shown!r}); expected:\n{expected_text((wanted,))}")
    raise UnknownFormat(f"unrecognised file: the header {shown!r} matches no known export; expected one of:\n"
                        f"{expected_text()}")
