"""Attaching the vendor's own dollars (Claude Console cost export) to stored usage.

The cost export has dollars per day × key × model × token type; the usage has tokens per day ×
key × model. Both are attributed to people, so the dollars of one person-day-model replace our
estimate on that person's usage records of that day and model. Several records (several keys,
workspaces or context windows) share the dollars in proportion to their estimate (or their tokens
when nothing is priced); the remainder of the integer split goes to the largest, so the records
always add up to the vendor's figure exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class StoredUsage:
    """A stored usage record of one person-day-model, as far as the split needs it."""

    ts_ms: int
    natural_key: str
    estimated_cost_nanos: int
    total_tokens: int


def split_cost(total_nanos: int, records: list[StoredUsage]) -> dict[tuple[int, str], int]:
    """Share `total_nanos` among `records` → {(ts_ms, natural_key): cost}; exact sum."""
    if not records:
        return {}
    weights = [r.estimated_cost_nanos for r in records]
    if sum(weights) <= 0:
        weights = [r.total_tokens for r in records]
    if sum(weights) <= 0:
        weights = [1] * len(records)
    whole = sum(weights)
    shares = [total_nanos * w // whole for w in weights]
    largest = max(range(len(records)), key=lambda i: (weights[i], -i))
    shares[largest] += total_nanos - sum(shares)
    return {(r.ts_ms, r.natural_key): s for r, s in zip(records, shares, strict=True)}


PersonDayModel = tuple[date, str, str]
