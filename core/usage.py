"""The normalised usage record: one per vendor record, whatever the vendor.

Money is carried as integer nano-dollars (1e-9 USD) so that sums are exact on every
database; Cursor reports fractional cents with five decimals, which nanos hold exactly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import NamedTuple

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)


def ms_to_datetime(ms: int) -> datetime:
    """Epoch milliseconds (the vendors' and the store's time) → an aware UTC datetime, exactly."""
    return EPOCH + timedelta(0, 0, 0, ms)
NANOS_PER_USD = 1_000_000_000
NANOS_PER_CENT = 10_000_000

# Sanity bounds on one vendor record, the same for every source's parser: beyond them a value is
# nonsense, and sums of values within them stay far inside the database's 64-bit columns.
MAX_RECORD_NANOS = 10 ** 16  # $10M for one usage record (refunds alike)
MAX_TOKENS = 2 ** 48  # tokens (or lines, sessions…) in one record


class Source(StrEnum):
    """Which AI coding tool the usage belongs to."""

    CLAUDE_CODE = "claude_code"
    CURSOR = "cursor"

    @classmethod
    def parse(cls, text: str) -> Source:
        """Accept the tool names people type: `claude`, `anthropic`, `claude_code`, `cursor`."""
        key = text.strip().lower().replace("-", "_")
        aliases = {"claude": cls.CLAUDE_CODE, "anthropic": cls.CLAUDE_CODE, "claude_code": cls.CLAUDE_CODE,
                   "cc": cls.CLAUDE_CODE, "cursor": cls.CURSOR}
        if key not in aliases:
            raise ValueError(f"unknown source {text!r}: use claude_code or cursor")
        return aliases[key]


class Feed(StrEnum):
    """Where a record came from; decides precedence and dedup scope."""

    CLAUDE_CODE_ANALYTICS = "cc_analytics"  # usage_report/claude_code
    ANTHROPIC_MESSAGES = "anthropic_messages"  # usage_report/messages (fallback)
    CLAUDE_USAGE_CSV = "claude_usage_csv"
    CLAUDE_COST_CSV = "claude_cost_csv"
    CURSOR_EVENTS = "cursor_events"  # filtered-usage-events and the Cursor CSV share keys
    CLAUDE_CODE_OTEL_EVENTS = "cc_otel_events"  # live: Claude Code's own OTLP `api_request` events
    CLAUDE_CODE_OTEL_METRICS = "cc_otel_metrics"  # live: Claude Code's OTLP cost/token metrics
    SYNTHETIC = "synthetic"


# Claude Code figures estimated live from its own telemetry until the vendor's figures replace them
LIVE_FEEDS = (Feed.CLAUDE_CODE_OTEL_EVENTS, Feed.CLAUDE_CODE_OTEL_METRICS)


class CostBasis(StrEnum):
    VENDOR = "vendor"  # the vendor's own figure
    ESTIMATED = "estimated"  # our dated price table
    UNKNOWN_MODEL = "unknown_model"  # no price known: cost left at 0 and flagged
    LIST_ESTIMATE = "list_estimate"  # the client's own estimate at list price (Claude Code telemetry)


def usd_to_nanos(value: Decimal | str | int | float) -> int:
    """Dollars → integer nanos, rounding half-even at the 9th decimal."""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    return int((d * NANOS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def cents_to_nanos(value: Decimal | str | int | float) -> int:
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    return int((d * NANOS_PER_CENT).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def nanos_to_usd(nanos: int, places: int = 4) -> float:
    """Nanos → dollars rounded half-even to `places` decimals (the contract's 4)."""
    q = Decimal(1).scaleb(-places)
    return float((Decimal(nanos) / NANOS_PER_USD).quantize(q, rounding=ROUND_HALF_EVEN))


def unmapped_key(label: str) -> str:
    """The report key of usage we cannot attribute to a person."""
    return f"unmapped:{label}"


def is_unmapped(person: str) -> bool:
    """Usage of a key nobody owns (`unmapped:<key>`): not a person, never counted as one."""
    return person.startswith("unmapped:")


@dataclass(slots=True)
class UsageRecord:
    """One vendor record, normalised.

    `natural_key` identifies the vendor record within its `source`: writing the same
    record twice is a no-op, two different records never share a key.
    `person` is the email when known, else `unmapped:<key name or id>`.
    `api_key` is the vendor key reference (id or name) the usage was made with, kept so
    that a later manual mapping can re-attribute the record.
    """

    source: Source
    feed: Feed
    natural_key: str
    ts: datetime
    person: str
    raw_model: str
    model: str
    input_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0
    cost_nanos: int = 0
    cost_basis: CostBasis = CostBasis.VENDOR
    estimated_cost_nanos: int = 0
    requests: int = 0
    api_key: str | None = None
    org: str | None = None
    kind: str | None = None
    max_mode: bool | None = None
    extra: dict = field(default_factory=dict)
    ts_ms: int | None = None  # `ts` in epoch milliseconds (the stored time); derived when not given

    def __post_init__(self) -> None:
        ts = self.ts
        if ts.tzinfo is not UTC:
            if ts.tzinfo is None:
                raise ValueError("UsageRecord.ts must be timezone-aware (UTC)")
            self.ts = ts = ts.astimezone(UTC)
        if self.ts_ms is None:
            self.ts_ms = (ts - EPOCH) // ONE_MS

    @property
    def day(self) -> date:
        return self.ts.date()

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens + self.output_tokens

    @property
    def email(self) -> str | None:
        return None if self.person.startswith("unmapped:") else self.person


# The stored event row: the columns of `usage_event`, in the order the write path binds them.
# High-volume feeds (Cursor usage events) produce rows in this layout directly — plain tuples of
# plain values, built in a fraction of a `UsageRecord`'s time, pickled cheaply between the events
# worker and the writer and bound by the database driver as they are; `EventRecord` names the
# fields for readers. `day` is the UTC day of `ts_ms` as ISO text; `source`, `feed` and
# `cost_basis` are the enums' values; `max_mode` is 0/1/None.
EVENT_ROW = ("source", "feed", "natural_key", "ts_ms", "day", "person", "api_key", "org", "raw_model", "model",
             "input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "cache_read_tokens",
             "output_tokens", "cost_nanos", "cost_basis", "estimated_cost_nanos", "requests", "kind", "max_mode",
             "import_batch_id")
EventRow = tuple  # a tuple laid out as EVENT_ROW


class EventRecord(NamedTuple):
    """A stored event row (`EVENT_ROW`) with its fields named: `EventRecord._make(row)`. A view for
    readers and tests; the hot path passes the plain tuples."""

    source: str
    feed: str
    natural_key: str
    ts_ms: int
    day: str
    person: str
    api_key: str | None
    org: str | None
    raw_model: str
    model: str
    input_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    cache_read_tokens: int
    output_tokens: int
    cost_nanos: int
    cost_basis: str
    estimated_cost_nanos: int
    requests: int
    kind: str | None
    max_mode: int | None
    import_batch_id: int | None

    @property
    def ts(self) -> datetime:
        return ms_to_datetime(self.ts_ms)

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens + self.output_tokens

    @property
    def email(self) -> str | None:
        return None if self.person.startswith("unmapped:") else self.person


assert EventRecord._fields == EVENT_ROW


Record = UsageRecord | EventRow  # what the write path takes


# usage_event's text columns' widths: a vendor's text beyond them is cut (`column_text`); a
# vendor's user id as people hold it (person.cursor_user_id, anthropic_user_id)
PERSON_WIDTH, NAME_WIDTH, KIND_WIDTH, VENDOR_ID_WIDTH = 320, 255, 64, 64


def column_text(text: str, width: int) -> str:
    """Vendor text as a column holds it on every database: no NUL (Postgres text cannot hold one,
    and the whole batch would be refused) and at most the column's width (Postgres refuses a longer
    value where SQLite stores it). Control characters are kept here and neutralised where shown."""
    return text.replace("\x00", "")[:width]


def natural_key(*parts: object) -> str:
    """A stable 32-hex digest of the identifying fields of a vendor record."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class OccurrenceCounter:
    """Tells apart vendor records that are identical in every field.

    Cursor usage events carry no id. Two events with the same timestamp (ms), user,
    model and token counts are still two events. Identical events share a timestamp, so
    any fetch window holds all of them or none: their order of appearance (1st, 2nd, …)
    is stable across re-fetches and overlapping windows, and goes into the key.
    """

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def key(self, *parts: object) -> str:
        base = natural_key(*parts)
        n = self._seen.get(base, 0)
        self._seen[base] = n + 1
        return base if n == 0 else natural_key(base, n)


def cursor_event_key(counter: OccurrenceCounter, ts_ms: int, email: str, raw_model: str,
                     input_tokens: int, cache_write: int, cache_read: int, output: int) -> str:
    """The natural key of one Cursor usage event, shared by the API sync and the CSV import.

    Cost and labels are left out on purpose: the CSV rounds cost to cents and renames
    kinds, yet an exported row and the API event it came from are the same usage.
    """
    return counter.key("cursor", ts_ms, email.lower(), raw_model, input_tokens, cache_write, cache_read, output)
