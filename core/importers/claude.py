"""Claude Console exports (platform.claude.com → Usage / Cost → Export), reference/vendor-apis.md §C.2.

Usage export → `UsageRecord`s of Claude Code keys (workspace "Claude Code" or a key named
`claude_code_key_*`); other rows are the organisation's API usage, not a coding tool, and are
skipped with that reason, as the messages-report sync does. Tokens are exact; the cost is estimated
from the dated price table until the cost export brings the vendor's own figure.

Cost export → `CostLine`s: the vendor's dollars per day × key × model × token type. The model is a
display name ("Claude Opus 4.6"), mapped to the normalised model ("opus-4.6") so that the dollars
attach to the matching person-day-model of the usage (`core.importers.costs.attach`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache

from core.identity import IdentityResolver
from core.importers.formats import Layout
from core.importers.reader import RowProblem, Skipped, guarded
from core.importers.values import day, dollars, safe_text, tokens
from core.pricing import estimate_cost_nanos, normalise_model
from core.usage import CostBasis, Feed, OccurrenceCounter, Source, UsageRecord

CLAUDE_CODE_WORKSPACE = "claude code"
CLAUDE_CODE_KEY_PREFIX = "claude_code_key_"
NOT_CLAUDE_CODE = "not a Claude Code key (API usage of the organisation, not a coding tool)"


def is_claude_code(key_name: str, workspace: str) -> bool:
    """The export names keys and workspaces (not ids): Claude Code's are the "Claude Code"
    workspace and the keys it provisions, `claude_code_key_<user>_<tag>`."""
    return workspace.strip().lower() == CLAUDE_CODE_WORKSPACE or key_name.lower().startswith(CLAUDE_CODE_KEY_PREFIX)


def context_window(display: str) -> str | None:
    """The export's `≤ 200k` / `> 200k` → the API's `0-200k` / `200k-1M` (what pricing reads)."""
    t = display.strip().lower().replace(" ", "")
    if not t:
        return None
    if t.startswith(("≤", "<=", "<", "0-")):
        return "0-200k"
    if t.startswith((">", "200k-")):
        return "200k-1M"
    return t


_DISPLAY = re.compile(r"^claude\s+(?P<rest>.+)$", re.I)


@lru_cache(maxsize=1024)
def model_from_display(name: str) -> str:
    """"Claude Opus 4.6" → "opus-4.6"; "Claude Haiku 3.5" → "haiku-3.5"; an API id is normalised as is."""
    m = _DISPLAY.match(name.strip())
    if not m:
        return normalise_model(name)
    rest = m.group("rest").strip().lower().replace(".", "-")
    return normalise_model("claude-" + "-".join(rest.split()))


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


class ClaudeUsageImporter:
    def __init__(self, layout: Layout, *, resolver: IdentityResolver, header: list[str]) -> None:
        self._c = layout.columns
        self._names = {k: header[i].strip() for k, i in self._c.items()}
        self._resolver = resolver
        self._occurrences = OccurrenceCounter()
        self._split = "cache_write_5m" in self._c

    def _get(self, cells: list[str], logical: str) -> str:
        i = self._c.get(logical)
        return "" if i is None else cells[i]

    def _text(self, cells: list[str], logical: str, *, required: bool = False, limit: int = 255) -> str:
        raw = self._get(cells, logical)
        return guarded(self._names.get(logical, logical), raw,
                       lambda t: safe_text(t, what=logical.replace("_", " "), limit=limit, required=required))

    def _tok(self, cells: list[str], logical: str) -> int:
        return guarded(self._names[logical], self._get(cells, logical), tokens)

    def convert(self, cells: list[str]) -> UsageRecord | Skipped:
        on = guarded(self._names["day"], self._get(cells, "day"), day)
        key_name = self._text(cells, "api_key", required=True)
        workspace = self._text(cells, "workspace")
        raw_model = self._text(cells, "model") or "unknown"
        usage_type = self._text(cells, "usage_type", limit=64)
        window = self._text(cells, "context_window", limit=32)
        geo = self._text(cells, "inference_geo", limit=32)
        speed = self._text(cells, "speed", limit=32)
        inp = self._tok(cells, "input")
        if self._split:
            cw5, cw1 = self._tok(cells, "cache_write_5m"), self._tok(cells, "cache_write_1h")
        else:
            cw5, cw1 = self._tok(cells, "cache_write"), 0
        cr = self._tok(cells, "cache_read")
        out = self._tok(cells, "output")
        if not is_claude_code(key_name, workspace):
            return Skipped(NOT_CLAUDE_CODE)
        api_window = context_window(window)
        cost, basis = estimate_cost_nanos(raw_model, input_tokens=inp, cache_write_5m=cw5, cache_write_1h=cw1,
                                          cache_read=cr, output=out, on=on, context_window=api_window,
                                          inference_geo=geo.lower() or None)
        key = self._occurrences.key("claude_usage_csv", on.isoformat(), key_name, workspace, raw_model, usage_type,
                                    api_window, geo.lower(), speed.lower())
        return UsageRecord(
            source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_USAGE_CSV, natural_key=key, ts=_midnight(on),
            person=self._resolver.person(key_name=key_name), raw_model=raw_model, model=normalise_model(raw_model),
            input_tokens=inp, cache_write_5m_tokens=cw5, cache_write_1h_tokens=cw1, cache_read_tokens=cr,
            output_tokens=out, cost_nanos=cost, cost_basis=basis,
            estimated_cost_nanos=cost if basis is not CostBasis.VENDOR else 0, requests=0, api_key=key_name)


@dataclass(frozen=True, slots=True)
class CostLine:
    """One line of the Console cost export, attributed to a person."""

    natural_key: str
    day: date
    person: str
    api_key: str
    model: str  # normalised ("opus-4.6")
    display_model: str  # as exported ("Claude Opus 4.6")
    workspace: str
    token_type: str
    cost_type: str
    cost_nanos: int


class ClaudeCostImporter:
    def __init__(self, layout: Layout, *, resolver: IdentityResolver, header: list[str]) -> None:
        self._c = layout.columns
        self._names = {k: header[i].strip() for k, i in self._c.items()}
        self._resolver = resolver
        self._occurrences = OccurrenceCounter()

    def _text(self, cells: list[str], logical: str, *, required: bool = False, limit: int = 255) -> str:
        i = self._c.get(logical)
        raw = "" if i is None else cells[i]
        return guarded(self._names.get(logical, logical), raw,
                       lambda t: safe_text(t, what=logical.replace("_", " "), limit=limit, required=required))

    def convert(self, cells: list[str]) -> CostLine | Skipped:
        on = guarded(self._names["day"], cells[self._c["day"]], day)
        display = self._text(cells, "model", required=True)
        key_name = self._text(cells, "api_key", required=True)
        workspace = self._text(cells, "workspace")
        token_type = self._text(cells, "token_type", limit=64)
        cost_type = self._text(cells, "cost_type", limit=32)
        parts = [self._text(cells, n, limit=64) for n in ("usage_type", "context_window", "inference_geo", "speed",
                                                          "api_key_id")]
        cost_text = cells[self._c["cost"]]
        cost = guarded(self._names["cost"], cost_text, dollars)
        if not is_claude_code(key_name, workspace):
            return Skipped(NOT_CLAUDE_CODE)
        key = self._occurrences.key("claude_cost_csv", on.isoformat(), display, workspace, key_name, token_type,
                                    cost_type, *parts)
        if cost < 0:
            raise RowProblem(self._names["cost"], cost_text, "a negative cost")
        return CostLine(natural_key=key, day=on, person=self._resolver.person(key_name=key_name), api_key=key_name,
                        model=model_from_display(display), display_model=display, workspace=workspace,
                        token_type=token_type, cost_type=cost_type, cost_nanos=cost)


__all__ = ["ClaudeCostImporter", "ClaudeUsageImporter", "CostLine", "RowProblem", "is_claude_code",
           "model_from_display"]
