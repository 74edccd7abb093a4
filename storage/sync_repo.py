"""The sync engine's store (core.sync.SyncStore / SyncTx) on the SQL tables.

Every `transaction()` is one database transaction: a page of Cursor events or a day of aggregates
is committed together with the stream's checkpoint, or not at all. Writes go through the usage
write path (`storage.usage_repo`), so the rollups stay exact.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from core.errors import DataRejected
from core.identity import IdentityResolver, KeyOwner, MappedHow
from core.sources.http import one_line
from core.sources.records import ActivityRecord, GroupRecord, KeyRecord, MemberRecord, SpendRecord, VendorCostRecord
from core.sync import Checkpoint, DayWrite, Mode, OrgResult, RunStatus, Vendor
from core.usage import Feed, Source, UsageRecord
from storage.db import session_scope
from storage.job_lock import SYNC_LOCK, fence, held_by_this_process
from storage.people_repo import identity_resolver, upsert_key, upsert_person
from storage.tables import (
    ApiKey,
    BillingGroup,
    Person,
    PersonActivity,
    SpendSnapshot,
    SyncRun,
    SyncState,
    VendorCost,
    utcnow,
)
from storage.telemetry_repo import remove_live
from storage.usage_repo import delete_usage, has_usage, lock_usage_writes, prune_events, reattribute, write_usage

_ACTIVITY_FIELDS = tuple(f.name for f in fields(ActivityRecord) if f.name not in ("detail",))


def _midnight(day: date | None) -> datetime | None:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None


def _detail(detail: dict | None) -> str | None:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str) if detail else None


def _insert_or_update(session: Session, row, model: type, values: dict) -> None:
    """Add a `model` row of `values`, or set on `row` only the columns that changed."""
    if row is None:
        session.add(model(**values))
        return
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)


def _delete_unseen(session: Session, existing: dict, seen: set) -> None:
    """Delete the stored rows whose key the new records no longer carry, then flush."""
    for key, row in existing.items():
        if key not in seen:
            session.delete(row)
    session.flush()


class SqlSyncTx:
    """The writes of one transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- usage ----------------------------------------------------------------------------------

    def write_usage(self, records: list[UsageRecord]) -> tuple[int, int]:
        if not records:
            return 0, 0
        res = write_usage(records, session=self.session)
        return res.inserted, res.duplicates

    def _stored_keys(self, *, source: Source, feed: Feed, org: str, day: date) -> set[str]:
        rows = self.session.connection().execute(
            text("SELECT natural_key FROM usage_event WHERE source = :s AND feed = :f AND day = :d AND org = :o"),
            {"s": source.value, "f": feed.value, "d": day, "o": org})
        return {k for (k,) in rows}

    def replace_usage_day(self, *, source: Source, feed: Feed, org: str, day: date,
                          records: list[UsageRecord]) -> DayWrite:
        """Make the stored records of (feed, org, day) exactly `records` (keys hold the figures)."""
        stored = self._stored_keys(source=source, feed=feed, org=org, day=day)
        new = {r.natural_key for r in records}
        if stored == new:
            return DayWrite(inserted=0, present=len(records), removed=0)
        stale = stored - new
        kept = stored & new
        if stale:
            delete_usage(session=self.session, source=source.value, feed=feed.value, day=day, org=org)
            res = write_usage(records, session=self.session) if records else None
            inserted = (res.inserted if res else 0) - len(kept)
            return DayWrite(inserted=max(0, inserted), present=len(records) - max(0, inserted), removed=len(stale))
        res = write_usage(records, session=self.session)
        return DayWrite(inserted=res.inserted, present=res.duplicates, removed=0)

    def drop_usage_day(self, *, source: Source, feed: Feed, org: str, day: date) -> int:
        return delete_usage(session=self.session, source=source.value, feed=feed.value, day=day, org=org)

    def prune_events(self, *, org: str, start_ms: int, end_ms: int, keep: set[tuple[int, str]]) -> int:
        return prune_events(session=self.session, source=Source.CURSOR.value, feed=Feed.CURSOR_EVENTS.value,
                            org=org, start_ms=start_ms, end_ms=end_ms, keep=keep)

    def analytics_covers(self, *, org: str, day: date) -> bool:
        if has_usage(session=self.session, source=Source.CLAUDE_CODE.value, feed=Feed.CLAUDE_CODE_ANALYTICS.value,
                     day=day, org=org):
            return True
        row = self.session.connection().execute(
            text("SELECT 1 FROM person_activity WHERE source = :s AND day = :d AND org = :o LIMIT 1"),
            {"s": Source.CLAUDE_CODE.value, "d": day, "o": org}).first()
        return row is not None

    def drop_live_usage(self, *, day: date, persons: set[str]) -> int:
        return remove_live(session=self.session, person_days={(day, p) for p in persons})

    # -- activity and vendor cost -----------------------------------------------------------------

    def replace_activity_day(self, *, source: str, org: str, day: date, records: list[ActivityRecord]) -> None:
        s = self.session
        existing = {(a.person, a.natural_key): a for a in s.exec(
            select(PersonActivity).where(PersonActivity.source == source, PersonActivity.day == day,
                                         PersonActivity.org == org))}
        seen: set[tuple[str, str]] = set()
        for rec in records:
            key = (rec.person, rec.natural_key)
            if key in seen:
                continue
            seen.add(key)
            values = {name: getattr(rec, name) for name in _ACTIVITY_FIELDS}
            values["detail"] = _detail(rec.detail)
            row = existing.get(key) or s.exec(select(PersonActivity).where(
                PersonActivity.source == source, PersonActivity.day == day, PersonActivity.person == rec.person,
                PersonActivity.natural_key == rec.natural_key)).first()
            _insert_or_update(s, row, PersonActivity, values)
        _delete_unseen(s, existing, seen)

    def replace_vendor_costs(self, *, org: str, day: date, records: list[VendorCostRecord]) -> None:
        s = self.session
        existing = {c.natural_key: c for c in s.exec(
            select(VendorCost).where(VendorCost.source == Source.CLAUDE_CODE.value, VendorCost.day == day,
                                     VendorCost.org == org))}
        seen = set()
        for rec in records:
            seen.add(rec.natural_key)
            values = {"source": rec.source, "natural_key": rec.natural_key, "org": rec.org, "day": rec.day,
                      "description": (rec.description or "")[:255] or None, "model": rec.model,
                      "workspace_id": rec.workspace_id, "cost_type": rec.cost_type, "token_type": rec.token_type,
                      "cost_nanos": rec.cost_nanos}
            row = existing.get(rec.natural_key) or s.exec(select(VendorCost).where(
                VendorCost.source == rec.source, VendorCost.natural_key == rec.natural_key)).first()
            _insert_or_update(s, row, VendorCost, values)
        _delete_unseen(s, existing, seen)

    def save_spend(self, *, org: str, records: list[SpendRecord]) -> None:
        """Snapshot of the current cycle; a row is touched only when its figures changed."""
        s = self.session
        for rec in records:
            row = s.exec(select(SpendSnapshot).where(
                SpendSnapshot.source == Source.CURSOR.value, SpendSnapshot.org == org,
                SpendSnapshot.cycle_start == rec.cycle_start, SpendSnapshot.email == rec.email)).first()
            values = {"on_demand_nanos": rec.on_demand_nanos, "overall_nanos": rec.overall_nanos,
                      "fast_premium_requests": rec.fast_premium_requests, "limit_dollars": rec.limit_dollars}
            if row is None:
                s.add(SpendSnapshot(source=Source.CURSOR.value, org=org, cycle_start=rec.cycle_start,
                                    email=rec.email, **values))
            elif any(getattr(row, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(row, k, v)
                row.taken_at = utcnow()
        s.flush()

    # -- people, keys, groups ---------------------------------------------------------------------

    def _person(self, email: str) -> Person | None:
        return self.session.exec(select(Person).where(Person.email == email.lower())).first()

    def save_members(self, records: list[MemberRecord], *, vendor: Vendor) -> None:
        for rec in records:
            if vendor is Vendor.CURSOR:
                wanted = {"cursor_user_id": rec.vendor_user_id, "has_cursor_seat": not rec.removed}
            else:
                wanted = {"anthropic_user_id": rec.vendor_user_id, "has_claude_seat": True}
            person = self._person(rec.email)
            if person is None or any(v is not None and getattr(person, k) != v for k, v in wanted.items()) \
                    or (rec.name and not person.name):
                upsert_person(session=self.session, email=rec.email, name=rec.name, **wanted)

    def save_keys(self, *, org: str, records: list[KeyRecord]) -> int:
        """Store keys and their vendor-known owners; re-attribute stored usage whose owner changed.
        A manual mapping is never overwritten (upsert_key keeps it)."""
        lock_usage_writes(session=self.session)  # owners change here: serialised with usage writes
        moved = 0
        source = Source.CLAUDE_CODE.value
        for rec in records:
            key = self.session.exec(select(ApiKey).where(ApiKey.source == source,
                                                         ApiKey.external_id == rec.key_id)).first()
            if key is None and rec.name:
                # A key first seen in usage by its name and mapped by hand (`abacus map <name>`) is
                # the same key: the vendor's record takes over that row, and so the manual owner.
                key = self.session.exec(select(ApiKey).where(
                    ApiKey.source == source, ApiKey.external_id == rec.name,
                    ApiKey.mapped_how == MappedHow.MANUAL.value)).first()
                if key is not None:
                    key.external_id = rec.key_id
            owner = KeyOwner(rec.creator_email, MappedHow.VENDOR) if rec.creator_email else None
            before = key.email if key else None
            wanted = {"name": rec.name, "org": org, "workspace_id": rec.workspace_id, "creator_id": rec.creator_id,
                      "status": rec.status}
            unchanged = key is not None and all(getattr(key, k) == v for k, v in wanted.items() if v is not None) \
                and (owner is None or key.email == owner.email or key.mapped_how == MappedHow.MANUAL.value)
            if unchanged:
                continue
            if owner is not None and self._person(owner.email) is None:
                upsert_person(session=self.session, email=owner.email)
            key = upsert_key(session=self.session, source=source, external_id=rec.key_id, name=rec.name, owner=owner,
                             org=org, workspace_id=rec.workspace_id, creator_id=rec.creator_id, status=rec.status)
            if key.email and key.email != before:
                moved += reattribute(session=self.session, source=source,
                                     key_refs=[r for r in (key.external_id, key.name) if r], person=key.email)
        return moved

    def save_groups(self, records: list[GroupRecord]) -> None:
        s = self.session
        cursor_group_ids = {g.id for g in s.exec(select(BillingGroup).where(BillingGroup.source == "cursor"))}
        for rec in records:
            if rec.unassigned:
                for email in rec.member_emails:
                    person = self._person(email)
                    if person is not None and person.group_id in cursor_group_ids:
                        person.group_id = None
                continue
            group = s.exec(select(BillingGroup).where(BillingGroup.source == "cursor",
                                                      BillingGroup.external_id == rec.external_id)).first()
            if group is None:
                group = s.exec(select(BillingGroup).where(BillingGroup.name == rec.name)).first()
                if group is not None and group.external_id is None:
                    group.external_id = rec.external_id
            if group is None:
                group = BillingGroup(name=rec.name, source="cursor", external_id=rec.external_id,
                                     cycle_start=rec.cycle_start, cycle_end=rec.cycle_end)
                s.add(group)
                s.flush()
                cursor_group_ids.add(group.id)
            else:
                if group.source == "cursor" and group.name != rec.name and s.exec(
                        select(BillingGroup).where(BillingGroup.name == rec.name)).first() is None:
                    group.name = rec.name
                if rec.cycle_start and group.cycle_start != rec.cycle_start:
                    group.cycle_start = rec.cycle_start
                if rec.cycle_end and group.cycle_end != rec.cycle_end:
                    group.cycle_end = rec.cycle_end
            for email in rec.member_emails:
                person = self._person(email) or upsert_person(session=s, email=email)
                if person.group_id != group.id:
                    person.group_id = group.id
        s.flush()

    # -- checkpoints ------------------------------------------------------------------------------

    def set_checkpoint(self, *, vendor: Vendor, org: str, stream: str, watermark: str | None,
                       detail: dict | None = None) -> None:
        s = self.session
        row = s.exec(select(SyncState).where(SyncState.source == vendor.value, SyncState.org == org,
                                             SyncState.stream == stream)).first()
        if row is None:
            s.add(SyncState(source=vendor.value, org=org, stream=stream, watermark=watermark, detail=_detail(detail)))
        else:
            row.watermark, row.detail, row.updated_at = watermark, _detail(detail), utcnow()
        s.flush()


class SqlSyncStore:
    """`core.sync.SyncStore` on an engine: one session per transaction."""

    def __init__(self, engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[SqlSyncTx]:
        """One unit of work. A value or sum the database cannot hold (a 64-bit overflow: Postgres
        `numeric value out of range`, or an int sqlite3 cannot bind) rolls it back and raises
        DataRejected, a one-line reason the sync records, instead of a driver traceback."""
        try:
            with session_scope(self.engine) as session:
                yield SqlSyncTx(session)
                fence(session, SYNC_LOCK)  # the sync lock is still ours at commit, or nothing is written
        except Exception as exc:
            if not _out_of_range(exc):
                raise
            detail = exc.orig if isinstance(exc, DBAPIError) else exc
            raise DataRejected(f"the database refused a value or a sum as out of range "
                               f"({one_line(str(detail), 100)}); nothing of this batch was stored") from None

    def checkpoint(self, *, vendor: Vendor, org: str, stream: str) -> Checkpoint | None:
        with Session(self.engine) as s:
            row = s.exec(select(SyncState).where(SyncState.source == vendor.value, SyncState.org == org,
                                                 SyncState.stream == stream)).first()
            if row is None:
                return None
            try:
                detail = json.loads(row.detail) if row.detail else {}
            except ValueError:
                detail = {}
            return Checkpoint(watermark=row.watermark, detail=detail if isinstance(detail, dict) else {})

    def begin_run(self, *, vendor: Vendor, org: str, mode: Mode, window_from: date | None, window_to: date | None,
                  trigger: str) -> int:
        holder = held_by_this_process(self.engine, SYNC_LOCK)
        with session_scope(self.engine) as s:
            if holder is not None:
                # one sync at a time: a run still "running" under another holder is one whose process died
                s.connection().execute(text(
                    "UPDATE sync_run SET status = :interrupted, error = :why WHERE status = :running "
                    "AND (holder IS NULL OR holder <> :h)"),
                    {"interrupted": RunStatus.INTERRUPTED.value, "running": RunStatus.RUNNING.value, "h": holder,
                     "why": "interrupted: its process stopped before the run finished (found by the next sync)"})
            run = SyncRun(source=vendor.value, org=org, stream=mode.value, window_from=_midnight(window_from),
                          window_to=_midnight(window_to), trigger=trigger[:32], status=RunStatus.RUNNING.value,
                          holder=holder)
            s.add(run)
            s.flush()
            return int(run.id)

    def finish_run(self, run_id: int, *, result: OrgResult) -> None:
        with session_scope(self.engine) as s:
            run = s.get(SyncRun, run_id)
            if run is None:
                return
            usage = result.usage
            run.org = result.org
            run.window_from = run.window_from or _midnight(result.window_from)
            run.window_to = run.window_to or _midnight(result.window_to)
            run.finished_at = utcnow()
            run.status = (RunStatus.FAILED if result.error else RunStatus.OK).value
            run.records_read, run.inserted, run.duplicates = usage.read, usage.inserted, usage.present
            run.error = one_line(result.error, 1000) if result.error else None

    def resolver(self, *, domain: str | None) -> IdentityResolver:
        with Session(self.engine) as s:
            return identity_resolver(session=s, domain=domain)

    def key_names(self) -> dict[str, str | None]:
        with Session(self.engine) as s:
            return {k.external_id: k.name for k in s.exec(select(ApiKey).where(
                ApiKey.source == Source.CLAUDE_CODE.value))}


def last_runs(engine, *, limit: int = 20) -> list[SyncRun]:
    """The most recent sync runs, newest first (for status displays)."""
    with Session(engine) as s:
        return list(s.exec(select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)))


def _out_of_range(exc: BaseException) -> bool:
    """A 64-bit overflow, whichever layer saw it: sqlite3 binding a Python int (OverflowError),
    SQLite's SUM (`integer overflow`), Postgres `numeric value out of range` (SQLSTATE 22003), raw
    from psycopg (the write path's COPY) or wrapped by SQLAlchemy."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return isinstance(orig, OverflowError) or getattr(orig, "sqlstate", None) == "22003" \
        or "integer overflow" in str(orig)
