"""The Cursor side of the sync engine (`core.sync`): one team's members, groups and spend, its usage
events (fetched and converted ahead in a worker process, written a batch per transaction with the
stream's checkpoint, re-reads of a window handled), its daily usage and its Analytics API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial

from core.sources import cursor as curs
from core.sources.cursor_analytics import BY_USER_METRICS, AnalyticsMetric
from core.sources.event_worker import event_stream
from core.sources.http import VendorError
from core.sources.records import ActivityRecord
from core.sync import (
    Counts,
    DayStream,
    Mode,
    NullProgress,
    OrgResult,
    Progress,
    Stream,
    SyncOptions,
    SyncPlan,
    SyncStore,
    SyncTx,
    Vendor,
    begin_run,
    days_between,
    end_run,
    parse_ms,
    recorded_outcome,
)
from core.usage import Record, Source
from core.write_behind import WriteBehind


@dataclass(slots=True)
class EventWindows:
    """The ms windows of the usage-events stream for this run, and its watermark (ms, inclusive end)."""

    windows: list[tuple[date, int, int]]  # (day, start_ms, end_ms)
    watermark: int | None
    contiguous: bool
    backfill: DayStream | None


def _event_windows(store: SyncStore, org: str, plan: SyncPlan, options: SyncOptions) -> EventWindows:
    cp = store.checkpoint(vendor=Vendor.CURSOR, org=org, stream=Stream.USAGE_EVENTS.value)
    wm = parse_ms(cp.watermark) if cp else None
    now_ms = curs.to_ms(plan.at())
    backfill = None
    if plan.window is not None:
        if plan.mode is Mode.BACKFILL:
            backfill = DayStream(store, Vendor.CURSOR, org, Stream.USAGE_EVENTS.value, plan, options,
                                 track_watermark=False)
            days = backfill.days
        else:
            days = days_between(plan.window.start, min(plan.window.end, plan.today))
        start_ms = curs.day_start_ms(days[0]) if days else now_ms
    else:
        start_ms = (wm - int(options.event_overlap / timedelta(milliseconds=1)) if wm is not None
                    else curs.day_start_ms(plan.today - timedelta(days=options.first_sync_days - 1)))
        start_ms = min(start_ms, now_ms)
        days = days_between(curs.ms_to_datetime(start_ms).date(), plan.today)
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
        with recorded_outcome(result):
            ev = _event_windows(store, org, plan, options)
            daily = DayStream(store, Vendor.CURSOR, org, Stream.DAILY_USAGE.value, plan, options)
            all_days = [w[0] for w in ev.windows] + daily.days
            run_id = begin_run(store, result, plan, all_days)
            progress.begin(f"cursor {org}", len(ev.windows) + len(daily.days))

            # every window's events are fetched and converted ahead — in a worker process where the
            # client allows it (core.sources.event_worker), started first so that it fetches while the
            # members, groups and spend are read and saved here — and written in order, each batch's
            # transaction on a writer thread (core.write_behind); then the worker fetches and converts
            # the daily usage while the last events are written, and where the database takes two
            # writers at once (Postgres) the daily usage is written here meanwhile
            span = (daily.days[0], daily.days[-1]) if daily.days else None
            with event_stream(client, [(s, e) for _, s, e in ev.windows], org=org, daily=span,
                              use_worker=options.event_worker, ahead=options.commit_events) as events, \
                    WriteBehind(store, name="abacus-events-writer") as writer:
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
                _write_events(events, writer, org, ev, result.stream(Stream.USAGE_EVENTS), options, progress)
                if not store.concurrent_writes:
                    writer.drain()

                counts = result.stream(Stream.DAILY_USAGE)
                for first, last, records in events.daily():
                    by_day: dict[date, list[ActivityRecord]] = {}
                    for rec in records:
                        by_day.setdefault(rec.day, []).append(rec)
                    for day in days_between(first, last):
                        with store.transaction() as tx:
                            if day in by_day:
                                tx.replace_activity_day(source=Source.CURSOR.value, org=org, day=day,
                                                        records=by_day[day])
                            daily.done(tx, day)
                        counts.read += len(by_day.get(day, ()))
                        progress.advance(1, f"daily_usage {day}")
            if span is not None:
                _sync_analytics(client, store, org, daily.days[0], daily.days[-1], result)
    finally:
        end_run(store, run_id, result, plan, progress, requests=client.api.requests)
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


def _write_events(events, writer: WriteBehind, org: str, ev: EventWindows, counts: Counts, options: SyncOptions,
                  progress: Progress) -> None:
    """Every window's events, a batch (`options.commit_events`, whole pages) per transaction with the
    stream's checkpoint. Each transaction commits on the writer thread while the next batch's pages
    are taken from the stream (core.write_behind): in order, one at a time, a failure raised here.
    The last one may still be in flight on return (the caller drains the writer)."""
    stream = Stream.USAGE_EVENTS.value
    watermark, contiguous = ev.watermark, ev.contiguous

    def write(tx: SyncTx, pending: list[Record], prune: tuple[int, int, set] | None, checkpoint: str | None,
              detail: dict | None, backfill_day: date | None) -> tuple[int, int, int]:
        inserted, present = tx.write_usage(pending)
        replaced = tx.prune_events(org=org, start_ms=prune[0], end_ms=prune[1], keep=prune[2]) if prune else 0
        tx.set_checkpoint(vendor=Vendor.CURSOR, org=org, stream=stream, watermark=checkpoint, detail=detail)
        if backfill_day is not None:
            ev.backfill.done(tx, backfill_day)
        return inserted, present, replaced

    def committed(read: int, done: date | None) -> Callable[[tuple[int, int, int]], None]:
        def then(result: tuple[int, int, int]) -> None:
            counts.read += read
            counts.inserted += result[0]
            counts.present += result[1]
            counts.replaced += result[2]
            if done is not None:
                progress.advance(1, f"usage_events {done}")
        return then

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
                # what of it is not yet written, and once the re-read is complete remove what was.
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
            if contiguous and covered >= start_ms and (watermark is None or covered > watermark):
                watermark = covered
            detail = None if final else {"window": [start_ms, end_ms], "page": batch.page,
                                         "sub_window": [batch.window_start_ms, batch.window_end_ms]}
            writer.submit(partial(write, pending=pending, prune=(*sub, keep) if prune else None,
                                  checkpoint=None if watermark is None else str(watermark), detail=detail,
                                  backfill_day=day if final and ev.backfill is not None else None),
                          then=committed(len(pending), day if final else None))
            if prune:
                keep = None
            pending, attempt_from = [], 0
        if covered < end_ms:  # cannot happen with a sane API; never claim a window we did not finish
            raise VendorError(f"Cursor API ({org}): the usage events of {day} ended before the last page")
