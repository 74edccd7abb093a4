"""The sync engine: vendor APIs → store, incremental or day-by-day backfill, resumable and exact.

Storage sits behind two small ports (`SyncStore`, `SyncTx`), implemented in storage/sync_repo.py;
this module holds the rules and no SQL: the types, the streams' windows and watermarks and the run
records shared by both vendors; each vendor's sync is a module of its own (`core.sync_anthropic`,
`core.sync_cursor`).

Commit units and watermarks
---------------------------
* Cursor usage events are immutable, so pages are written as they come: a few pages (whole pages,
  `SyncOptions.commit_events` events) per transaction, each committed together with the stream's
  checkpoint. A fetch window is a UTC day (or what is left of today); when its last page is in,
  the watermark moves to the window's end. After a crash the interrupted window is fetched again
  from its first page: the pages already committed are found present (natural keys), so nothing
  is lost or counted twice. (Resuming at the page would need the window's occurrence counter.)
* Day aggregates (Claude Code analytics, the messages report, cost_report, Cursor daily usage) keep
  changing until the day is over, so one UTC day of one organisation is written in one transaction
  that *replaces* that day: each record's natural key holds its identity and its figures, unchanged
  records are left alone, revised ones replace the old, vanished ones are removed. The day's
  watermark is saved in the same transaction.
* Incremental runs start `overlap` before the watermark (2 days for day streams, 6 hours for
  Cursor events, which the vendor aggregates hourly), so late data at the boundary is picked up.
  A watermark only moves forward over days this run actually covered without a gap.
* `backfill` walks the range oldest day first and keeps its own per-stream progress; running the
  same backfill again after a crash resumes after the last completed day.

Feed precedence for Claude Code (no token is counted twice)
------------------------------------------------------------
Two Anthropic feeds describe Claude Code usage: the Claude Code Analytics API (per actor, with the
vendor's cost) and the messages usage report (per key, priced from our table). The rule:

    Where Claude Code Analytics rows exist for an organisation-day, they ARE that day's Claude
    Code usage. The messages report fills only organisation-days without them.

So: writing analytics rows for a day deletes that day's messages-derived records of the same
organisation (in the same transaction), and messages rows for a day the analytics feed covers are
skipped (counted as `superseded`). Live telemetry (Claude Code's own OTLP export, core.telemetry)
fills a person-day until either vendor feed has figures for it; writing those figures deletes
the person-day's live records in the same transaction (counted as `live_superseded`).
Messages rows only count as Claude Code for keys in the
"Claude Code" workspace or named `claude_code_key_*`; other API usage is not a coding tool.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from core.errors import DataRejected, LockLost
from core.identity import IdentityResolver
from core.periods import DateRange
from core.sources.cursor_analytics import AnalyticsRecord, UserAnalyticsRecord
from core.sources.http import VendorError
from core.sources.records import ActivityRecord, GroupRecord, KeyRecord, MemberRecord, SpendRecord, VendorCostRecord
from core.usage import Feed, Record, Source, UsageRecord, natural_key

log = logging.getLogger(__name__)


class Vendor(StrEnum):
    ANTHROPIC = "anthropic"
    CURSOR = "cursor"

    @classmethod
    def parse_many(cls, text: str | None) -> tuple[Vendor, ...]:
        key = (text or "all").strip().lower()
        if key in ("all", "both", ""):
            return (cls.ANTHROPIC, cls.CURSOR)
        aliases = {"anthropic": cls.ANTHROPIC, "claude": cls.ANTHROPIC, "claude_code": cls.ANTHROPIC,
                   "claude-code": cls.ANTHROPIC, "cursor": cls.CURSOR}
        if key not in aliases:
            raise ValueError(f"unknown source {text!r}: use anthropic, cursor or all")
        return (aliases[key],)


class Mode(StrEnum):
    SYNC = "sync"
    BACKFILL = "backfill"


class RunStatus(StrEnum):
    """A sync run's state (`sync_run.status`)."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # its process died before it finished (found by the next sync, or shown so)


class Stream(StrEnum):
    CLAUDE_CODE = "claude_code"
    MESSAGES = "messages"
    COST = "cost_report"
    USAGE_EVENTS = "usage_events"
    DAILY_USAGE = "daily_usage"
    ANALYTICS = "analytics"  # Cursor Analytics API (team-level, Enterprise)


USAGE_STREAMS = (Stream.CLAUDE_CODE, Stream.MESSAGES, Stream.USAGE_EVENTS)


@dataclass(frozen=True, slots=True)
class SyncOptions:
    overlap_days: int = 2
    event_overlap: timedelta = timedelta(hours=6)
    first_sync_days: int = 7  # an incremental run with no watermark yet looks this far back
    commit_events: int = 50_000  # Cursor events per transaction (whole pages)
    event_worker: bool = True  # fetch and convert Cursor events in a worker process where the client allows


@dataclass(frozen=True, slots=True)
class SyncPlan:
    mode: Mode = Mode.SYNC
    window: DateRange | None = None  # None: incremental since the watermark
    now: datetime | None = None
    trigger: str = "cli"
    email_domain: str | None = None

    def at(self) -> datetime:
        return (self.now or datetime.now(UTC)).astimezone(UTC)

    @property
    def today(self) -> date:
        return self.at().date()


@dataclass(slots=True)
class Counts:
    """Records read from the vendor, and what became of them."""

    read: int = 0
    inserted: int = 0
    present: int = 0  # already stored, unchanged
    replaced: int = 0  # stored figures of a day the vendor revised, removed
    superseded: int = 0  # messages-report rows of a day covered by Claude Code analytics
    dropped: int = 0  # messages-report rows of keys that are not Claude Code keys
    live_superseded: int = 0  # live telemetry records of person-days the vendor's figures now cover

    def __iadd__(self, other: Counts) -> Counts:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


@dataclass(slots=True)
class DayWrite:
    inserted: int = 0
    present: int = 0
    removed: int = 0


@dataclass(slots=True)
class OrgResult:
    vendor: Vendor
    org: str
    mode: Mode
    window_from: date | None = None
    window_to: date | None = None
    streams: dict[str, Counts] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    requests: int = 0

    def stream(self, name: str) -> Counts:
        return self.streams.setdefault(name, Counts())

    @property
    def usage(self) -> Counts:
        """Totals over the usage streams (what reports count)."""
        total = Counts()
        for name, c in self.streams.items():
            if name in USAGE_STREAMS:
                total += c
        return total

    def line(self) -> str:
        u = self.usage
        what = "org" if self.vendor is Vendor.ANTHROPIC else "team"
        window = f"{self.window_from}..{self.window_to}" if self.window_from else "-"
        text = (f"{self.vendor.value} {what} {self.org} {window}: read {u.read}, inserted {u.inserted}, "
                f"already present {u.present}")
        extra = [f"{n} {getattr(u, n)}" for n in ("replaced", "superseded") if getattr(u, n)]
        if extra:
            text += " (" + ", ".join(extra) + ")"
        if self.error:
            text += f" — FAILED: {self.error}"
        return text

    def as_dict(self) -> dict:
        return {"source": self.vendor.value, "org": self.org, "mode": self.mode.value,
                "from": self.window_from.isoformat() if self.window_from else None,
                "to": self.window_to.isoformat() if self.window_to else None,
                "records_read": self.usage.read, "inserted": self.usage.inserted,
                "already_present": self.usage.present, "replaced": self.usage.replaced,
                "superseded": self.usage.superseded,
                "streams": {n: {k: getattr(c, k) for k in c.__slots__} for n, c in sorted(self.streams.items())},
                "requests": self.requests, "notes": self.notes, "error": self.error}


@dataclass(slots=True)
class SyncSummary:
    results: list[OrgResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.error is None for r in self.results)

    @property
    def errors(self) -> list[str]:
        return [f"{r.vendor.value} {r.org}: {r.error}" for r in self.results if r.error]

    def lines(self) -> list[str]:
        return [r.line() for r in self.results] + self.notes

    def as_dict(self) -> dict:
        return {"ok": self.ok, "results": [r.as_dict() for r in self.results], "notes": self.notes}


@dataclass(slots=True)
class Checkpoint:
    watermark: str | None
    detail: dict


class SyncTx(Protocol):
    """Writes inside one transaction (committed on leaving the context, rolled back on error)."""

    def write_usage(self, records: list[Record]) -> tuple[int, int]: ...  # (inserted, present)
    def replace_usage_day(self, *, source: Source, feed: Feed, org: str, day: date,
                          records: list[UsageRecord]) -> DayWrite: ...
    def drop_usage_day(self, *, source: Source, feed: Feed, org: str, day: date) -> int: ...
    def prune_events(self, *, org: str, start_ms: int, end_ms: int,
                     keep: set[tuple[int, str]]) -> int: ...  # Cursor events of the range not in keep, removed
    def analytics_covers(self, *, org: str, day: date) -> bool: ...
    def drop_live_usage(self, *, day: date, persons: set[str]) -> int: ...  # live telemetry of these person-days
    def drop_imported_usage(self, *, day: date, persons: set[str]) -> int: ...  # Console-export rows, same
    def replace_activity_day(self, *, source: str, org: str, day: date, records: list[ActivityRecord]) -> None: ...
    def replace_vendor_costs(self, *, org: str, day: date, records: list[VendorCostRecord]) -> None: ...
    def save_spend(self, *, org: str, records: list[SpendRecord]) -> None: ...
    def save_members(self, records: list[MemberRecord], *, vendor: Vendor) -> None: ...
    def save_keys(self, *, org: str, records: list[KeyRecord]) -> int: ...  # records re-attributed
    def save_groups(self, records: list[GroupRecord]) -> None: ...
    def set_checkpoint(self, *, vendor: Vendor, org: str, stream: str, watermark: str | None,
                       detail: dict | None = None) -> None: ...
    def save_org_identity(self, *, vendor: Vendor, org: str, user_ids: set[str]) -> None: ...
    def replace_analytics(self, *, org: str, metric: str, start: date, end: date,
                          records: list[AnalyticsRecord]) -> None: ...
    def replace_user_analytics(self, *, org: str, metric: str, start: date, end: date,
                               records: list[UserAnalyticsRecord]) -> None: ...


class SyncStore(Protocol):
    # True where two transactions may write at once, neither waiting for the other's commit
    # (Postgres): the sync then writes one stream while another's transaction is in flight
    concurrent_writes: bool

    def checkpoint(self, *, vendor: Vendor, org: str, stream: str) -> Checkpoint | None: ...
    def org_identities(self, *, vendor: Vendor) -> dict[str, set[str]]: ...  # org label → its user ids
    def transaction(self) -> AbstractContextManager[SyncTx]: ...
    def begin_run(self, *, vendor: Vendor, org: str, mode: Mode, window_from: date | None,
                  window_to: date | None, trigger: str) -> int: ...
    def finish_run(self, run_id: int, *, result: OrgResult) -> None: ...
    def resolver(self, *, domain: str | None) -> IdentityResolver: ...
    def key_names(self) -> dict[str, str | None]: ...


class Progress(Protocol):
    def begin(self, label: str, total: int) -> None: ...
    def advance(self, n: int = 1, note: str | None = None) -> None: ...
    def message(self, text: str) -> None: ...
    def end(self) -> None: ...


class NullProgress:
    def begin(self, label: str, total: int) -> None:
        pass

    def advance(self, n: int = 1, note: str | None = None) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def end(self) -> None:
        pass


# --- windows ---------------------------------------------------------------------------------------

def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)] if start <= end else []


def parse_day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def parse_ms(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


@dataclass(slots=True)
class DayStream:
    """Which days one day-aggregate stream covers in this run, and how its watermark moves."""

    store: SyncStore
    vendor: Vendor
    org: str
    stream: str
    plan: SyncPlan
    options: SyncOptions
    days: list[date] = field(default_factory=list)
    watermark: date | None = None
    contiguous: bool = True
    backfill_range: DateRange | None = None
    track_watermark: bool = True  # False: only the backfill progress is kept (the stream keeps its own)

    def __post_init__(self) -> None:
        cp = self.store.checkpoint(vendor=self.vendor, org=self.org, stream=self.stream)
        self.watermark = parse_day(cp.watermark) if cp else None
        today = self.plan.today
        if self.plan.window is not None:
            start, end = self.plan.window.start, min(self.plan.window.end, today)
        elif self.watermark is not None:
            start, end = min(self.watermark, today) - timedelta(days=self.options.overlap_days), today
        else:
            start, end = today - timedelta(days=self.options.first_sync_days - 1), today
        if self.plan.mode is Mode.BACKFILL and self.plan.window is not None:
            self.backfill_range = self.plan.window
            done = self._backfill_done()
            if done is not None and done >= start:
                start = done + timedelta(days=1)
        self.days = days_between(start, end)
        self.contiguous = self.watermark is None or start <= self.watermark + timedelta(days=1)

    def _backfill_key(self) -> str:
        return f"backfill:{self.stream}"

    def _backfill_done(self) -> date | None:
        cp = self.store.checkpoint(vendor=self.vendor, org=self.org, stream=self._backfill_key())
        if cp is None or self.backfill_range is None:
            return None
        same = (cp.detail.get("from") == self.backfill_range.start.isoformat()
                and cp.detail.get("to") == self.backfill_range.end.isoformat())
        return parse_day(cp.watermark) if same else None

    def done(self, tx: SyncTx, day: date) -> None:
        """Record, inside the day's transaction, that `day` is complete."""
        if self.track_watermark and self.contiguous and (self.watermark is None or day >= self.watermark):
            self.watermark = day
            tx.set_checkpoint(vendor=self.vendor, org=self.org, stream=self.stream, watermark=day.isoformat())
        if self.backfill_range is not None:
            tx.set_checkpoint(vendor=self.vendor, org=self.org, stream=self._backfill_key(), watermark=day.isoformat(),
                              detail={"from": self.backfill_range.start.isoformat(),
                                      "to": self.backfill_range.end.isoformat()})


# --- runs ------------------------------------------------------------------------------------------

def begin_run(store: SyncStore, result: OrgResult, plan: SyncPlan, days: list[date]) -> int:
    """Note the run's window in `result` and open its sync_run row."""
    result.window_from = min(days, default=None)
    result.window_to = max(days, default=None)
    return store.begin_run(vendor=result.vendor, org=result.org, mode=plan.mode, window_from=result.window_from,
                           window_to=result.window_to, trigger=plan.trigger)


@contextmanager
def recorded_outcome(result: OrgResult) -> Iterator[None]:
    """How an organisation's run ends in `result`: a vendor failure or rejected data is its error and
    goes no further (the next organisation still syncs); a lost sync lock, a bug or a database
    failure, and an interruption are recorded, then raised."""
    try:
        yield
    except (VendorError, DataRejected) as exc:
        result.error = str(exc)
    except LockLost as exc:  # another process took over the sync lock: stop every organisation
        result.error = str(exc)
        raise
    except Exception as exc:  # a bug or a database failure: recorded as failed, then raised
        result.error = f"stopped by an unexpected error ({type(exc).__name__})"
        raise
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the run did not complete, whatever it wrote so far
        result.error = str(exc) or "interrupted (Ctrl-C)"
        raise


def end_run(store: SyncStore, run_id: int | None, result: OrgResult, plan: SyncPlan, progress: Progress, *,
             requests: int) -> None:
    """Close the run's sync_run row; a run that failed before it began is still recorded."""
    result.requests = requests
    progress.end()
    if run_id is None:
        run_id = store.begin_run(vendor=result.vendor, org=result.org, mode=plan.mode, window_from=None,
                                 window_to=None, trigger=plan.trigger)
    store.finish_run(run_id, result=result)


# --- organisation identity ---------------------------------------------------------------------------

def organisation_label(user_ids: set[str], known: dict[str, set[str]]) -> str | None:
    """A stable label for an Anthropic organisation whose key cannot read `/v1/organizations/me`.

    An admin key's own hint would change with every key rotation and start a second organisation
    (its days synced again beside the first's: counted twice). The organisation's user ids do not:
    the stored organisation sharing the most of them is this one (after a rotation, or a key that
    lost the `me` permission — organisations seen with `me` are stored under their real id); an
    organisation never seen before is named after its oldest user id. None without users."""
    if not user_ids:
        return None
    best = max(known.items(), key=lambda kv: (len(kv[1] & user_ids), kv[0]), default=None)
    if best is not None and best[1] & user_ids:
        return best[0]
    return "org-" + natural_key("anthropic-organisation", min(user_ids))[:16]
