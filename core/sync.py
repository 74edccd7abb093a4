"""The sync engine: vendor APIs → store, incremental or day-by-day backfill, resumable and exact.

Storage sits behind two small ports (`SyncStore`, `SyncTx`), implemented in storage/sync_repo.py;
this module holds the rules and no SQL.

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
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Protocol

from core.errors import DataRejected, LockLost
from core.identity import IdentityResolver
from core.periods import DateRange
from core.sources import cursor as curs
from core.sources.cursor_analytics import BY_USER_METRICS, AnalyticsMetric, AnalyticsRecord, UserAnalyticsRecord
from core.sources.event_worker import event_stream

if TYPE_CHECKING:
    from core.sources import anthropic as anth
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

def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)] if start <= end else []


def _parse_day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _parse_ms(text: str | None) -> int | None:
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
        self.watermark = _parse_day(cp.watermark) if cp else None
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
        self.days = _days(start, end)
        self.contiguous = self.watermark is None or start <= self.watermark + timedelta(days=1)

    def _backfill_key(self) -> str:
        return f"backfill:{self.stream}"

    def _backfill_done(self) -> date | None:
        cp = self.store.checkpoint(vendor=self.vendor, org=self.org, stream=self._backfill_key())
        if cp is None or self.backfill_range is None:
            return None
        same = (cp.detail.get("from") == self.backfill_range.start.isoformat()
                and cp.detail.get("to") == self.backfill_range.end.isoformat())
        return _parse_day(cp.watermark) if same else None

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

def _begin_run(store: SyncStore, result: OrgResult, plan: SyncPlan, days: list[date]) -> int:
    """Note the run's window in `result` and open its sync_run row."""
    result.window_from = min(days, default=None)
    result.window_to = max(days, default=None)
    return store.begin_run(vendor=result.vendor, org=result.org, mode=plan.mode, window_from=result.window_from,
                           window_to=result.window_to, trigger=plan.trigger)


def _end_run(store: SyncStore, run_id: int | None, result: OrgResult, plan: SyncPlan, progress: Progress, *,
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


# --- Anthropic ---------------------------------------------------------------------------------------

def sync_anthropic(client: anth.AnthropicAdmin, store: SyncStore, plan: SyncPlan, *,
                   options: SyncOptions | None = None, progress: Progress | None = None) -> OrgResult:
    """Sync one Anthropic organisation. Vendor failures end up in `result.error`, never raised."""
    from core.sources import anthropic as anth  # its wire models only where Anthropic is synced

    options = options or SyncOptions()
    progress = progress or NullProgress()
    result = OrgResult(vendor=Vendor.ANTHROPIC, org=client.label, mode=plan.mode)
    run_id = None
    try:
        org_info = client.organization()
        users = client.users()
        user_ids = {u.id for u in users if u.id}
        if org_info is not None:
            client.label = result.org = org_info.id
        else:
            label = organisation_label(user_ids, store.org_identities(vendor=Vendor.ANTHROPIC))
            if label is not None:
                client.label = result.org = label
        org = result.org
        streams = {s: DayStream(store, Vendor.ANTHROPIC, org, s.value, plan, options)
                   for s in (Stream.CLAUDE_CODE, Stream.MESSAGES, Stream.COST)}
        all_days = [d for s in streams.values() for d in s.days]
        run_id = _begin_run(store, result, plan, all_days)
        progress.begin(f"anthropic {org}", len(all_days))

        keys = client.api_keys()
        workspaces = client.workspaces()
        with store.transaction() as tx:
            tx.save_members(anth.member_records(users), vendor=Vendor.ANTHROPIC)
            tx.save_org_identity(vendor=Vendor.ANTHROPIC, org=org, user_ids=user_ids)
            moved = tx.save_keys(org=org, records=anth.key_records(keys, users))
        if moved:
            result.notes.append(f"{moved} stored record(s) re-attributed to key owners the vendor named")
        resolver = store.resolver(domain=plan.email_domain)
        key_names = {**store.key_names(), **{k.id: k.name for k in keys}}
        cc_workspaces = anth.claude_code_workspace_ids(workspaces)

        cc = streams[Stream.CLAUDE_CODE]
        counts = result.stream(Stream.CLAUDE_CODE)
        msg_counts = result.stream(Stream.MESSAGES)
        billing = BilledCosts(client, result)
        for day in cc.days:
            rows = client.claude_code_day(day)
            usage, activity = anth.claude_code_usage(rows, day=day, org=org, resolver=resolver)
            usage = billing.apply(usage, day)
            with store.transaction() as tx:
                w = tx.replace_usage_day(source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_CODE_ANALYTICS, org=org,
                                         day=day, records=usage)
                tx.replace_activity_day(source=Source.CLAUDE_CODE.value, org=org, day=day, records=activity)
                # precedence: the vendor's figures for a person-day supersede live telemetry (core.telemetry)
                persons = {r.person for r in usage} | {a.person for a in activity}
                if persons:
                    counts.live_superseded += tx.drop_live_usage(day=day, persons=persons)
                    counts.replaced += tx.drop_imported_usage(day=day, persons={r.person for r in usage})
                if rows:  # precedence: analytics rows are the day's Claude Code usage
                    msg_counts.replaced += tx.drop_usage_day(source=Source.CLAUDE_CODE,
                                                             feed=Feed.ANTHROPIC_MESSAGES, org=org, day=day)
                cc.done(tx, day)
            _count(counts, len(usage), w)
            progress.advance(1, f"claude_code {day}")

        ms = streams[Stream.MESSAGES]
        if ms.days:
            for day, results in client.messages_days(ms.days[0], ms.days[-1]):
                usage, dropped = anth.messages_usage(results, day=day, org=org, resolver=resolver,
                                                     key_names=key_names, claude_code_workspaces=cc_workspaces)
                msg_counts.dropped += dropped
                with store.transaction() as tx:
                    if tx.analytics_covers(org=org, day=day):
                        msg_counts.read += len(usage)
                        msg_counts.superseded += len(usage)
                        tx.drop_usage_day(source=Source.CLAUDE_CODE, feed=Feed.ANTHROPIC_MESSAGES, org=org, day=day)
                    else:
                        w = tx.replace_usage_day(source=Source.CLAUDE_CODE, feed=Feed.ANTHROPIC_MESSAGES, org=org,
                                                 day=day, records=usage)
                        _count(msg_counts, len(usage), w)
                        persons = {r.person for r in usage}
                        if persons:
                            msg_counts.live_superseded += tx.drop_live_usage(day=day, persons=persons)
                            msg_counts.replaced += tx.drop_imported_usage(day=day, persons=persons)
                    ms.done(tx, day)
                progress.advance(1, f"messages {day}")

        cs = streams[Stream.COST]
        cost_counts = result.stream(Stream.COST)
        if cs.days:
            for day, results in client.cost_days(cs.days[0], cs.days[-1]):
                lines = anth.cost_lines(results, day=day, org=org)
                with store.transaction() as tx:
                    tx.replace_vendor_costs(org=org, day=day, records=lines)
                    cs.done(tx, day)
                cost_counts.read += len(lines)
                progress.advance(1, f"cost_report {day}")
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
    finally:
        _end_run(store, run_id, result, plan, progress, requests=client.api.requests)
    return result


class BilledCosts:
    """Claude Code's billed cost per person and model from the Usage and Cost Analytics API (beta),
    applied to each day's Claude Code Analytics records (core.sources.anthropic.apply_billed_costs).
    Where the key or organisation has no access, the run falls back to the analytics estimates:
    said once in the run's notes (and once per process in the log), never an error."""

    _logged: ClassVar[set[str]] = set()

    def __init__(self, client: anth.AnthropicAdmin, result: OrgResult) -> None:
        self.client, self.result = client, result
        self.available = True

    def apply(self, usage: list[UsageRecord], day: date) -> list[UsageRecord]:
        from core.sources import anthropic as anth

        if not self.available or not usage or not anth.cost_analytics_covers(day, datetime.now(UTC).date()):
            return usage  # days before 2026 or over a year old: the API refuses them, the estimates stay
        rows = self.client.claude_code_costs(day)
        if rows is None:
            self.available = False
            self.result.notes.append("Usage and Cost Analytics API (beta) not available to this key; Claude Code "
                                     "costs are the Claude Code Analytics estimates")
            if self.result.org not in self._logged:
                self._logged.add(self.result.org)
                log.info("anthropic %s: Usage and Cost Analytics API not available; using the Claude Code "
                         "Analytics estimates", self.result.org)
            return usage
        usage, unmatched = anth.apply_billed_costs(usage, rows, day=day)
        if unmatched:
            self.result.notes.append(f"{day}: {unmatched} billed person-model(s) without Claude Code analytics "
                                     "rows not added (no token figures)")
        return usage


def _count(counts: Counts, read: int, w: DayWrite) -> None:
    counts.read += read
    counts.inserted += w.inserted
    counts.present += w.present
    counts.replaced += w.removed


# --- Cursor -------------------------------------------------------------------------------------------

@dataclass(slots=True)
class EventWindows:
    """The ms windows of the usage-events stream for this run, and its watermark (ms, inclusive end)."""

    windows: list[tuple[date, int, int]]  # (day, start_ms, end_ms)
    watermark: int | None
    contiguous: bool
    backfill: DayStream | None


def _event_windows(store: SyncStore, org: str, plan: SyncPlan, options: SyncOptions) -> EventWindows:
    cp = store.checkpoint(vendor=Vendor.CURSOR, org=org, stream=Stream.USAGE_EVENTS.value)
    wm = _parse_ms(cp.watermark) if cp else None
    now_ms = curs.to_ms(plan.at())
    backfill = None
    if plan.window is not None:
        if plan.mode is Mode.BACKFILL:
            backfill = DayStream(store, Vendor.CURSOR, org, Stream.USAGE_EVENTS.value, plan, options,
                                 track_watermark=False)
            days = backfill.days
        else:
            days = _days(plan.window.start, min(plan.window.end, plan.today))
        start_ms = curs.day_start_ms(days[0]) if days else now_ms
    else:
        start_ms = (wm - int(options.event_overlap / timedelta(milliseconds=1)) if wm is not None
                    else curs.day_start_ms(plan.today - timedelta(days=options.first_sync_days - 1)))
        start_ms = min(start_ms, now_ms)
        days = _days(curs.ms_to_datetime(start_ms).date(), plan.today)
    windows = []
    for day in days:
        s = max(start_ms, curs.day_start_ms(day))
        e = min(now_ms, curs.day_end_ms(day))  # never past now: the watermark must not run ahead
        if s <= e:
            windows.append((day, s, e))
    contiguous = wm is None or (bool(windows) and windows[0][1] <= wm + 1)
    return EventWindows(windows, wm, contiguous, backfill)


def sync_cursor(client: curs.CursorAdmin, store: SyncStore, plan: SyncPlan, *,
                options: SyncOptions | None = None, progress: Progress | None = None) -> OrgResult:
    """Sync one Cursor team. Vendor failures end up in `result.error`, never raised."""
    options = options or SyncOptions()
    progress = progress or NullProgress()
    org = client.label
    result = OrgResult(vendor=Vendor.CURSOR, org=org, mode=plan.mode)
    run_id = None
    try:
        ev = _event_windows(store, org, plan, options)
        daily = DayStream(store, Vendor.CURSOR, org, Stream.DAILY_USAGE.value, plan, options)
        all_days = [w[0] for w in ev.windows] + daily.days
        run_id = _begin_run(store, result, plan, all_days)
        progress.begin(f"cursor {org}", len(ev.windows) + len(daily.days))

        # every window's events are fetched and converted ahead — in a worker process where the
        # client allows it (core.sources.event_worker), started first so that it fetches while the
        # members, groups and spend are read and saved here — and written here in order; then the
        # worker fetches and converts the daily usage while the last events are written
        span = (daily.days[0], daily.days[-1]) if daily.days else None
        with event_stream(client, [(s, e) for _, s, e in ev.windows], org=org, daily=span,
                          use_worker=options.event_worker, ahead=options.commit_events) as events:
            members = client.members()
            groups = client.groups()
            spend = client.spend()
            with store.transaction() as tx:
                tx.save_members(curs.member_records(members), vendor=Vendor.CURSOR)
                if groups is not None:
                    tx.save_groups(curs.group_records(groups))
                tx.save_spend(org=org, records=curs.spend_records(spend, today=plan.today))
            if groups is None:
                result.notes.append("billing groups not available to this key/plan; skipped")
            _write_events(events, store, org, ev, result.stream(Stream.USAGE_EVENTS), options, progress)

            counts = result.stream(Stream.DAILY_USAGE)
            for first, last, records in events.daily():
                by_day: dict[date, list[ActivityRecord]] = {}
                for rec in records:
                    by_day.setdefault(rec.day, []).append(rec)
                for day in _days(first, last):
                    with store.transaction() as tx:
                        if day in by_day:
                            tx.replace_activity_day(source=Source.CURSOR.value, org=org, day=day,
                                                    records=by_day[day])
                        daily.done(tx, day)
                    counts.read += len(by_day.get(day, ()))
                    progress.advance(1, f"daily_usage {day}")
        if span is not None:
            _sync_analytics(client, store, org, daily.days[0], daily.days[-1], result)
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
    finally:
        _end_run(store, run_id, result, plan, progress, requests=client.api.requests)
    return result


def _sync_analytics(client: curs.CursorAdmin, store: SyncStore, org: str, start: date, end: date,
                    result: OrgResult) -> None:
    """The Analytics API over the daily stream's days, one endpoint per transaction (each replaces
    its stored days): the team-level endpoints, then the by-user ones (a person's own view);
    skipped with a note where the plan has no Analytics API."""
    counts = result.stream(Stream.ANALYTICS)

    def each(metrics, fetch, save, unavailable: str) -> bool:
        for metric in metrics:
            records = fetch(metric, start, end, org=org)
            if records is None:
                result.notes.append(unavailable)
                return False
            with store.transaction() as tx:
                save(tx)(org=org, metric=metric.value, start=start, end=end, records=records)
            counts.read += len(records)
        return True

    if each(AnalyticsMetric, client.analytics, lambda tx: tx.replace_analytics,
            "Cursor Analytics API not available to this key/plan (Enterprise only); skipped"):
        each(BY_USER_METRICS, client.user_analytics, lambda tx: tx.replace_user_analytics,
             "Cursor Analytics API by-user endpoints not available to this key; skipped")


def _write_events(events, store: SyncStore, org: str, ev: EventWindows, counts: Counts, options: SyncOptions,
                  progress: Progress) -> None:
    stream = Stream.USAGE_EVENTS.value
    watermark, contiguous = ev.watermark, ev.contiguous
    for day, start_ms, end_ms in ev.windows:
        pending: list[Record] = []
        covered = start_ms - 1  # every ms up to here is fully fetched (sub-windows complete in order)
        attempt: tuple[int, int] | None = None  # the sub-window whose pages are arriving
        attempt_from = 0  # where its records begin in `pending`
        keep: set[tuple[int, str]] | None = None  # after a re-read: the (ts_ms, key) of the read that counts
        for batch in events.window(start_ms, end_ms):
            sub = (batch.window_start_ms, batch.window_end_ms)
            if batch.page == 1:
                # Page 1 again of the sub-window we are in: the client re-reads it because its event
                # count changed while paging. The aborted read may hold an event twice (offsets
                # shifted by the new event), the second time under an occurrence key of its own: drop
                # what of it is not committed, and once the re-read is complete remove what was.
                if sub == attempt:
                    del pending[attempt_from:]
                keep = set() if sub == attempt else None
                attempt, attempt_from = sub, len(pending)
            pending.extend(batch.records)
            if keep is not None:
                keep.update((r[3], r[2]) for r in batch.records)  # (ts_ms, natural_key) of each event row
            if batch.window_done and batch.window_start_ms == covered + 1:
                covered = batch.window_end_ms
            final = covered >= end_ms
            prune = keep is not None and batch.window_done
            if len(pending) < options.commit_events and not final and not prune:
                continue
            with store.transaction() as tx:
                inserted, present = tx.write_usage(pending)
                if prune:
                    counts.replaced += tx.prune_events(org=org, start_ms=sub[0], end_ms=sub[1], keep=keep)
                    keep = None
                if contiguous and covered >= start_ms and (watermark is None or covered > watermark):
                    watermark = covered
                tx.set_checkpoint(vendor=Vendor.CURSOR, org=org, stream=stream,
                                  watermark=None if watermark is None else str(watermark),
                                  detail=None if final else {"window": [start_ms, end_ms], "page": batch.page,
                                                             "sub_window": [batch.window_start_ms,
                                                                            batch.window_end_ms]})
                if final and ev.backfill is not None:
                    ev.backfill.done(tx, day)
            counts.read += len(pending)
            counts.inserted += inserted
            counts.present += present
            pending, attempt_from = [], 0
        if covered < end_ms:  # cannot happen with a sane API; never claim a window we did not finish
            raise VendorError(f"Cursor API ({org}): the usage events of {day} ended before the last page")
        progress.advance(1, f"usage_events {day}")
