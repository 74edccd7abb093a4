"""Cursor dashboard usage export (Dashboard → Usage → Export CSV) → `UsageRecord`s.

Every variant of reference/vendor-apis.md §C.1 (v1, v2 with and without `User`, `Requests` instead of
`Cost`, v3 with cloud-agent/automation columns, the oldest `Tokens,Cost ($)` form). A row is one
usage event: its natural key is `core.usage.cursor_event_key`, exactly what the API sync derives for
the same event, so an export covering days already synced adds nothing (and a sync after an import
finds its events present).

Token columns. `Input (w/ Cache Write)` is, in most exports, the cache write alone and the four
token columns add up to `Total Tokens`; some exports instead count plain input inside it
(`Total = w/ + Cache Read + Output`). The row's own `Total Tokens` decides, per row; a row that fits
neither reading is rejected. The imported total always equals the file's `Total Tokens`.
"""

from __future__ import annotations

import hashlib
from array import array
from functools import lru_cache

from core.importers.formats import Layout
from core.importers.reader import RowProblem
from core.importers.values import CellProblem, count, dollars, email, moment_ms, safe_text, tokens, yes_no
from core.pricing import estimate_cost_nanos, normalise_model
from core.usage import CostBasis, Feed, Source, UsageRecord, ms_to_datetime, natural_key


class _DigestSet:
    """A set of 64-bit digests in one `array('Q')` (open addressing, linear probing, at most half
    full): 16-32 bytes per member instead of the ~80 of a Python set of ints."""

    __slots__ = ("_table", "_mask", "_size")

    def __init__(self, capacity: int = 1 << 12) -> None:
        self._table = array("Q", bytes(8 * capacity))
        self._mask = capacity - 1
        self._size = 0

    def add(self, digest: int) -> bool:
        """Add `digest` (non-zero); False if it was there already."""
        table, mask = self._table, self._mask
        i = digest & mask
        while True:
            held = table[i]
            if held == 0:
                table[i] = digest
                self._size += 1
                if self._size * 2 > mask:
                    self._grow()
                return True
            if held == digest:
                return False
            i = (i + 1) & mask

    def _grow(self) -> None:
        old = self._table
        capacity = (self._mask + 1) * 2
        self._table, self._mask, self._size = array("Q", bytes(8 * capacity)), capacity - 1, 0
        for digest in old:
            if digest:
                self.add(digest)


class CompactOccurrences:
    """`core.usage.OccurrenceCounter` with the same keys, in a fraction of the memory: a file of a
    million rows remembers 64-bit digests of what it has seen (~20 MB), not a million strings."""

    __slots__ = ("_seen", "_repeats")

    def __init__(self) -> None:
        self._seen = _DigestSet()
        self._repeats: dict[str, int] = {}

    def event_key(self, ts_ms: int, email: str, raw_model: str, inp: int, cw: int, cr: int, out: int) -> str:
        """`core.usage.cursor_event_key` (the API sync's key), the digest computed inline: this runs per row."""
        base = hashlib.sha256(f"cursor\x1f{ts_ms}\x1f{email}\x1f{raw_model}\x1f{inp}\x1f{cw}\x1f{cr}\x1f{out}"
                              .encode()).hexdigest()[:32]
        return self._next(base)

    def key(self, *parts: object) -> str:
        return self._next(natural_key(*parts))

    def _next(self, base: str) -> str:
        if self._seen.add(int(base[:16], 16) | 1):  # | 1: zero marks an empty slot
            return base
        n = self._repeats.get(base, 1)
        self._repeats[base] = n + 1
        return natural_key(base, n)


@lru_cache(maxsize=4096)
def _model(raw: str) -> str:
    return normalise_model(raw)


@lru_cache(maxsize=65536)
def _email(text: str) -> str:
    return email(text)


class CursorImporter:
    """Converts the rows of one Cursor export (the occurrence counter spans the file)."""

    def __init__(self, layout: Layout, *, default_user: str | None = None, header: list[str] | None = None) -> None:
        c = layout.columns
        self._c = c
        self._names = {k: (header[i].strip() if header else k) for k, i in c.items()}
        self._default_user = default_user
        self._occurrences = CompactOccurrences()
        self._cost_col = c.get("cost")
        self._requests_col = c.get("requests")
        self._oldest = "total" not in c

    def name(self, logical: str) -> str:
        return self._names.get(logical, logical)

    def convert(self, cells: list[str]) -> UsageRecord:
        c = self._c
        col = "date"  # the column being read, named in the error if it is bad
        try:
            ts_ms = moment_ms(cells[c["date"]])
            col = "user"
            if "user" in c and cells[c["user"]].strip():
                user = _email(cells[c["user"]])
            elif self._default_user:
                user = self._default_user
            else:
                raise RowProblem(self.name("user") if "user" in c else "User", "", "missing: whose usage is this?")
            col = "model"
            raw_model = _model_text(cells[c["model"]]) or "unknown"
            col = "kind"
            kind = _kind_text(cells[c["kind"]]) if "kind" in c else None
            col = "max_mode"
            max_mode = yes_no(cells[c["max_mode"]]) if "max_mode" in c else None
            if self._oldest:
                col = "tokens"
                inp, cw, cr, out = tokens(cells[c["tokens"]]), 0, 0, 0
            else:
                inp, cw, cr, out = self._tokens(cells)
            basis = CostBasis.VENDOR
            estimated = 0
            if self._cost_col is not None:
                col = "cost"
                cost = dollars(cells[self._cost_col])
            elif inp or cw or cr or out:  # a request-based export has no cost: priced from the table
                cost, basis = estimate_cost_nanos(raw_model, input_tokens=inp, cache_write_5m=cw, cache_read=cr,
                                                  output=out, on=ms_to_datetime(ts_ms).date())
                estimated = cost
            else:
                cost = 0
            col = "requests"
            requests = count(cells[self._requests_col]) if self._requests_col is not None else 1
        except CellProblem as exc:
            raise RowProblem(self.name(col), cells[c[col]] if col in c else "", str(exc)) from None
        return UsageRecord(
            source=Source.CURSOR, feed=Feed.CURSOR_EVENTS,
            natural_key=self._occurrences.event_key(ts_ms, user, raw_model, inp, cw, cr, out),
            ts=ms_to_datetime(ts_ms), person=user, raw_model=raw_model, model=_model(raw_model),
            input_tokens=inp, cache_write_5m_tokens=cw, cache_read_tokens=cr, output_tokens=out,
            cost_nanos=cost, cost_basis=basis, estimated_cost_nanos=estimated, requests=requests,
            kind=kind, max_mode=max_mode, ts_ms=ts_ms)

    def _tokens(self, cells: list[str]) -> tuple[int, int, int, int]:
        c = self._c
        col = "input_with_cache_write"
        try:
            w = tokens(cells[c[col]])
            col = "input_without_cache_write"
            wo = tokens(cells[c[col]])
            col = "cache_read"
            cr = tokens(cells[c[col]])
            col = "output"
            out = tokens(cells[c[col]])
            col = "total"
            total_text = cells[c[col]]
            if not total_text.strip():
                return wo, w, cr, out  # no total to decide by: the documented additive reading
            total = tokens(total_text)
        except CellProblem as exc:
            raise RowProblem(self.name(col), cells[c[col]], str(exc)) from None
        if total == w + wo + cr + out:
            return wo, w, cr, out  # w/ is the cache write alone
        if total == w + cr + out and w >= wo:
            return wo, w - wo, cr, out  # w/ includes the plain input
        raise RowProblem(self.name("total"), total_text,
                         f"is neither the sum of the four token columns ({w + wo + cr + out}) nor "
                         f"Input (w/ Cache Write) + Cache Read + Output ({w + cr + out})")


def _model_text(text: str) -> str:
    return safe_text(text, what="model name")


@lru_cache(maxsize=256)
def _kind_text(text: str) -> str | None:
    return safe_text(text, what="kind", limit=64) or None


__all__ = ["CellProblem", "CompactOccurrences", "CursorImporter"]
