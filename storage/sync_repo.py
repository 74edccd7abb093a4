"""The sync engine's store (core.sync.SyncStore / SyncTx) on the SQL tables.

Every `transaction()` is one database transaction: a page of Cursor events or a day of aggregates
is committed together with the stream's checkpoint, or not at all. Writes go through the usage
write path (`storage.usage_repo`), so the rollups stay exact.

A transaction is a Core connection (`storage.db.unit_scope`), and the tables a Cursor sync touches
are Core tables (`storage.sync_tables`): the sync loads neither SQLModel nor the ORM models. The
Anthropic-only reads (key owners, organisation identities) still load them, when they run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import DBAPIError

from core.errors import DataRejected
from core.identity import IdentityResolver, KeyOwner, MappedHow
from core.sources.http import one_line
from core.sources.records import ActivityRecord, GroupRecord, KeyRecord, MemberRecord, SpendRecord, VendorCostRecord
from core.sync import Checkpoint, DayWrite, Mode, OrgResult, RunStatus, Vendor
from core.usage import Feed, Record, Source, UsageRecord
from storage import bulk
from storage.db import unit_scope
from storage.job_lock import SYNC_LOCK, fence, held_by_this_process
from storage.sync_tables import billing_group, person, person_activity, spend_snapshot, sync_run, sync_state
from storage.usage_repo import delete_usage, has_usage, lock_usage_writes, prune_events, reattribute, write_usage
from storage.values import utcnow

if TYPE_CHECKING:
    from sqlmodel import Session

    from core.sources.cursor_analytics import AnalyticsRecord, UserAnalyticsRecord
    from storage.db import Unit
    from storage.tables import SyncRun

IDENTITY_STREAM = "identity"  # sync_state rows holding an organisation's user ids


def _identity_ids(detail: str | None) -> list[str]:
    try:
        ids = json.loads(detail or "{}").get("user_ids", [])
    except (ValueError, AttributeError):
        return []
    return [str(i) for i in ids] if isinstance(ids, list) else []


_ACTIVITY_FIELDS = tuple(f.name for f in fields(ActivityRecord) if f.name not in ("detail",))
_ACTIVITY_COLUMNS = (*_ACTIVITY_FIELDS, "detail")  # person_activity's columns a sync writes, in this order
_activity_values = attrgetter(*_ACTIVITY_FIELDS)  # a record's values of _ACTIVITY_FIELDS, one tuple
# positions in a stored row read as (id, *_ACTIVITY_COLUMNS)
_PERSON, _NATURAL_KEY, _ORG = (1 + _ACTIVITY_COLUMNS.index(c) for c in ("person", "natural_key", "org"))


def _midnight(day: date | None) -> datetime | None:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None


def _detail(detail: dict | None) -> str | None:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str) if detail else None


def _shared_detail(detail: dict | None, seen: dict) -> str | None:
    """`_detail`, once per distinct detail of a batch (a team's rows repeat a few dozen)."""
    try:
        key = tuple(detail.items()) if detail else None
        text = seen.get(key)
    except TypeError:  # a value that cannot be a key (a list, a nested map)
        return _detail(detail)
    if text is None and key is not None:
        text = seen[key] = _detail(detail)
    return text


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

    def __init__(self, session: Unit | Session) -> None:
        self.session = session  # what the repositories take: `.connection()`, `.get_bind()`

    # -- usage ----------------------------------------------------------------------------------

    def write_usage(self, records: list[Record]) -> tuple[int, int]:
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

    def save_org_identity(self, *, vendor: Vendor, org: str, user_ids: set[str]) -> None:
        """Remember an organisation's user ids (a `sync_state` row of the stream `identity`), so a key
        that cannot read `/organizations/me` still finds it (core.sync.organisation_label)."""
        if not user_ids:
            return
        t = sync_state
        row = self.session.connection().execute(select(t.c.detail).where(
            t.c.source == vendor.value, t.c.org == org, t.c.stream == IDENTITY_STREAM)).first()
        known = set(_identity_ids(row.detail)) if row is not None else set()
        if user_ids <= known:
            return
        self.set_checkpoint(vendor=vendor, org=org, stream=IDENTITY_STREAM, watermark=None,
                            detail={"user_ids": sorted(known | user_ids)})

    def replace_analytics(self, *, org: str, metric: str, start: date, end: date,
                          records: list[AnalyticsRecord]) -> None:
        from storage.vendor_analytics_repo import replace_vendor_analytics  # an Enterprise plan's only

        replace_vendor_analytics(session=self.session, source=Source.CURSOR.value, org=org, metric=metric,
                                 start=start, end=end, records=records)

    def replace_user_analytics(self, *, org: str, metric: str, start: date, end: date,
                               records: list[UserAnalyticsRecord]) -> None:
        from storage.vendor_analytics_repo import replace_user_vendor_analytics

        replace_user_vendor_analytics(session=self.session, source=Source.CURSOR.value, org=org, metric=metric,
                                      start=start, end=end, records=records)

    def drop_live_usage(self, *, day: date, persons: set[str]) -> int:
        from storage.telemetry_repo import remove_live  # telemetry (protobuf) only for Claude Code days

        return remove_live(session=self.session, person_days={(day, p) for p in persons})

    def drop_imported_usage(self, *, day: date, persons: set[str]) -> int:
        """Claude usage imported from a Console export for these person-days: the API's rows now
        cover them (the API is the more detailed source; the import already defers to it)."""
        from storage.telemetry_repo import remove_live

        return remove_live(session=self.session, person_days={(day, p) for p in persons},
                           feeds=[Feed.CLAUDE_USAGE_CSV.value])

    # -- activity and vendor cost -----------------------------------------------------------------

    def replace_activity_day(self, *, source: str, org: str, day: date, records: list[ActivityRecord]) -> None:
        """Make the day's activity rows of `org` exactly `records`: one read of the day, then one
        statement per kind of change. A row of the same person and key stored under another org is
        taken over (the unique key has no org); this org's rows the records no longer hold go.

        `bulk.reconcile`'s rule (a row is written whole where any column differs), compared as
        tuples in `_ACTIVITY_COLUMNS` order: an hourly sync reads a few days of 1,000 people back
        unchanged, and a dict per row and a comparison per column were most of its time here."""
        conn = self.session.connection()
        table = person_activity
        details: dict = {}
        wanted: dict[tuple[str, str], tuple] = {}
        for rec in records:
            key = (rec.person, rec.natural_key)
            if key not in wanted:  # the first one wins
                wanted[key] = (*_activity_values(rec), _shared_detail(rec.detail, details))
        stored = {(row[_PERSON], row[_NATURAL_KEY]): row for row in conn.execute(
            select(table.c.id, *(table.c[c] for c in _ACTIVITY_COLUMNS))
            .where(table.c.source == source, table.c.day == day))}
        plan = bulk.Plan()
        for key, values in wanted.items():
            old = stored.get(key)
            if old is None:
                plan.inserts.append(dict(zip(_ACTIVITY_COLUMNS, values, strict=True)))
            elif tuple(old[1:]) != values:
                plan.updates.append({"id": old[0], **dict(zip(_ACTIVITY_COLUMNS, values, strict=True))})
        plan.deletes.extend(row[0] for key, row in stored.items() if key not in wanted and row[_ORG] == org)
        bulk.apply(conn, table, plan)

    def replace_vendor_costs(self, *, org: str, day: date, records: list[VendorCostRecord]) -> None:
        from storage.tables import VendorCost  # Anthropic's cost report only

        conn = self.session.connection()
        table = VendorCost.__table__
        rows = [{"source": rec.source, "natural_key": rec.natural_key, "org": rec.org, "day": rec.day,
                 "description": (rec.description or "")[:255] or None, "model": rec.model,
                 "workspace_id": rec.workspace_id, "cost_type": rec.cost_type, "token_type": rec.token_type,
                 "cost_nanos": rec.cost_nanos} for rec in records]
        # the day's lines of this org, and any line of these keys stored elsewhere (taken over)
        stored = {r["id"]: r for r in bulk.load(conn, table, table.c.source == Source.CLAUDE_CODE.value,
                                                 table.c.day == day, table.c.org == org)}
        for source in {r["source"] for r in rows}:
            stored.update((r["id"], r) for r in bulk.load_in(conn, table, "natural_key",
                                                             (r["natural_key"] for r in rows if r["source"] == source),
                                                             table.c.source == source))
        plan = bulk.reconcile(stored.values(), rows, key=("source", "natural_key"), delete_unseen=True,
                              deletable=lambda row: row["source"] == Source.CLAUDE_CODE.value
                              and row["day"] == day and row["org"] == org)
        bulk.apply(conn, table, plan)

    def save_spend(self, *, org: str, records: list[SpendRecord]) -> None:
        """Snapshot of the current cycle; a row is touched only when its figures changed."""
        conn = self.session.connection()
        table = spend_snapshot
        source = Source.CURSOR.value
        rows = [{"source": source, "org": org, "cycle_start": rec.cycle_start, "email": rec.email,
                 "on_demand_nanos": rec.on_demand_nanos, "overall_nanos": rec.overall_nanos,
                 "fast_premium_requests": rec.fast_premium_requests, "limit_dollars": rec.limit_dollars}
                for rec in records]
        stored = bulk.load_in(conn, table, "cycle_start", (r["cycle_start"] for r in rows),
                              table.c.source == source, table.c.org == org)
        plan = bulk.reconcile(stored, rows, key=("cycle_start", "email"), touch={"taken_at": utcnow()})
        bulk.apply(conn, table, plan)

    # -- people, keys, groups ---------------------------------------------------------------------

    def _people(self, emails) -> dict[str, dict]:
        """The stored people with these emails, as mutable dicts keyed by email (one read per chunk)."""
        table = person
        return {r["email"]: dict(r) for r in bulk.load_in(self.session.connection(), table, "email",
                                                          {e.lower() for e in emails})}

    def _save_people(self, stored: dict[str, dict], wanted: dict[str, dict], columns: tuple[str, ...]) -> None:
        """Write the people whose wanted state differs from what is stored: one insert of the new
        ones, one update of `columns` (the ones this caller owns; no others are written back) of
        the changed ones."""
        plan = bulk.Plan()
        now = utcnow()
        for email, row in wanted.items():
            old = stored.get(email)
            if old is None:
                plan.inserts.append({k: v for k, v in row.items() if k != "id"} | {"updated_at": now})
            elif any(old[c] != row[c] for c in columns):
                plan.updates.append({"id": old["id"], **{c: row[c] for c in columns}, "updated_at": now})
        bulk.apply(self.session.connection(), person, plan)

    def save_members(self, records: list[MemberRecord], *, vendor: Vendor) -> None:
        """The vendor's members as people: new ones added, seats and vendor ids kept current, a
        name filled in where none is stored (a stored name is never overwritten)."""
        stored = self._people(rec.email for rec in records)
        wanted: dict[str, dict] = {}
        for rec in records:
            email = rec.email.lower()
            if vendor is Vendor.CURSOR:
                fields_ = {"cursor_user_id": rec.vendor_user_id, "has_cursor_seat": not rec.removed}
            else:
                fields_ = {"anthropic_user_id": rec.vendor_user_id, "has_claude_seat": True}
            row = wanted.get(email)
            if row is None:
                old = stored.get(email)
                row = wanted[email] = {"email": email, "name": None} if old is None else dict(old)
            if rec.name and not row["name"]:
                row["name"] = rec.name
            row.update((k, v) for k, v in fields_.items() if v is not None)
        owned = ("name", "cursor_user_id", "has_cursor_seat") if vendor is Vendor.CURSOR else (
            "name", "anthropic_user_id", "has_claude_seat")
        self._save_people(stored, {e: {k: v for k, v in r.items() if k != "updated_at"} for e, r in wanted.items()},
                          owned)

    def save_keys(self, *, org: str, records: list[KeyRecord]) -> int:
        """Store keys and their vendor-known owners; re-attribute stored usage whose owner changed.
        A manual mapping is never overwritten. One read of the keys, one write per kind of change,
        and one re-attribution per person whose keys changed owner."""
        from storage.tables import ApiKey  # Anthropic's keys only

        lock_usage_writes(session=self.session)  # owners change here: serialised with usage writes
        conn = self.session.connection()
        table = ApiKey.__table__
        source = Source.CLAUDE_CODE.value
        stored = {r["external_id"]: dict(r) for r in bulk.load(conn, table, table.c.source == source)}
        original = {r["id"]: dict(r) for r in stored.values()}
        keys = dict(stored)  # external_id → the key's wanted state (the stored dicts, changed in place)
        changed: dict[int, dict] = {}  # id → stored key that changes
        new: dict[str, dict] = {}
        owners_moved: dict[str, set[str]] = {}  # person → key refs whose usage is now theirs
        owner_emails: set[str] = set()
        now = utcnow()
        for rec in records:
            key = keys.get(rec.key_id)
            if key is None and rec.name:
                # A key first seen in usage by its name and mapped by hand (`abacus map <name>`) is
                # the same key: the vendor's record takes over that row, and so the manual owner.
                by_name = keys.get(rec.name)
                if by_name is not None and by_name.get("id") is not None \
                        and by_name["mapped_how"] == MappedHow.MANUAL.value:
                    key = keys.pop(rec.name)
                    key["external_id"] = rec.key_id
                    keys[rec.key_id] = key
                    changed[key["id"]] = key
            owner = KeyOwner(rec.creator_email, MappedHow.VENDOR) if rec.creator_email else None
            before = key["email"] if key else None
            wanted = {"name": rec.name, "org": org, "workspace_id": rec.workspace_id, "creator_id": rec.creator_id,
                      "status": rec.status}
            unchanged = key is not None and all(key[k] == v for k, v in wanted.items() if v is not None) \
                and (owner is None or key["email"] == owner.email or key["mapped_how"] == MappedHow.MANUAL.value)
            if unchanged:
                continue
            if owner is not None:
                owner_emails.add(owner.email)
            if key is None:
                key = keys[rec.key_id] = new[rec.key_id] = {"source": source, "external_id": rec.key_id,
                                                             "email": None, "mapped_how": None}
            key.update((k, v) for k, v in wanted.items() if v is not None)
            if owner is not None and key["mapped_how"] != MappedHow.MANUAL.value:
                key.update(email=owner.email, mapped_how=owner.how.value, mapped_at=now)
            if key.get("id") is not None:
                changed[key["id"]] = key
            if key["email"] and key["email"] != before:
                owners_moved.setdefault(key["email"], set()).update(r for r in (key["external_id"], key.get("name"))
                                                                    if r)
        if owner_emails:
            people = self._people(owner_emails)
            self._save_people(people, {e: {"email": e} for e in owner_emails if e not in people}, ())
        plan = bulk.Plan(inserts=[{k: v for k, v in key.items()} for key in new.values()])
        owned = ("external_id", "name", "org", "workspace_id", "creator_id", "status", "email", "mapped_how",
                 "mapped_at")  # the columns written here, for every changed key alike: one statement
        for key_id, key in changed.items():
            if any(original[key_id][c] != key[c] for c in owned):
                plan.updates.append({"id": key_id, **{c: key[c] for c in owned}})
        bulk.apply(conn, table, plan)
        moved = 0
        for owner, refs in sorted(owners_moved.items()):
            moved += reattribute(session=self.session, source=source, key_refs=sorted(refs), person=owner)
        return moved

    def save_groups(self, records: list[GroupRecord]) -> None:
        """Cursor billing groups and who is in them: one read of the groups and one of the people
        named, then one write per kind of change. A group is matched by its Cursor id, else by
        name; people named by no group keep theirs; the unassigned group clears a Cursor group."""
        conn = self.session.connection()
        gt = billing_group
        groups = [dict(r) for r in bulk.load(conn, gt)]
        cursor_ids = {g["id"] for g in groups if g["source"] == "cursor"}
        by_ext: dict[str, dict] = {}
        for g in groups:
            if g["source"] == "cursor" and g["external_id"] is not None:
                by_ext.setdefault(g["external_id"], g)
        by_name = {g["name"]: g for g in groups}
        old = {g["id"]: dict(g) for g in groups}
        new: list[dict] = []
        assignments: list[tuple[GroupRecord, dict | None]] = []
        for rec in records:
            if rec.unassigned:
                assignments.append((rec, None))
                continue
            group = by_ext.get(rec.external_id)
            if group is None:
                group = by_name.get(rec.name)
                if group is not None and group["external_id"] is None:
                    group["external_id"] = rec.external_id
                    if group["source"] == "cursor":
                        by_ext[rec.external_id] = group
            if group is None:
                group = {"name": rec.name, "source": "cursor", "external_id": rec.external_id,
                         "cycle_start": rec.cycle_start, "cycle_end": rec.cycle_end}
                new.append(group)
                by_ext[rec.external_id] = by_name[rec.name] = group
            else:
                if group["source"] == "cursor" and group["name"] != rec.name and rec.name not in by_name:
                    del by_name[group["name"]]
                    group["name"] = rec.name
                    by_name[rec.name] = group
                if rec.cycle_start and group["cycle_start"] != rec.cycle_start:
                    group["cycle_start"] = rec.cycle_start
                if rec.cycle_end and group["cycle_end"] != rec.cycle_end:
                    group["cycle_end"] = rec.cycle_end
            assignments.append((rec, group))
        plan = bulk.Plan(inserts=new)
        for g in groups:
            diff = {k: v for k, v in g.items() if old[g["id"]][k] != v}
            if diff:
                plan.updates.append({"id": g["id"], **diff})
        bulk.apply(conn, gt, plan)
        if new:  # their ids, for the people below
            for row in bulk.load_in(conn, gt, "name", (g["name"] for g in new)):
                for g in new:
                    if g["name"] == row["name"]:
                        g["id"] = row["id"]
                        cursor_ids.add(row["id"])

        stored = self._people(e for rec in records for e in rec.member_emails)
        current = {e: p["group_id"] for e, p in stored.items()}
        for rec, group in assignments:
            for email in rec.member_emails:
                email = email.lower()
                if group is not None:
                    current[email] = group["id"]  # a person not known yet is added
                elif email in current and current[email] in cursor_ids:
                    current[email] = None
        self._save_people(stored, {e: {"email": e, "group_id": g} for e, g in current.items()}, ("group_id",))

    # -- checkpoints ------------------------------------------------------------------------------

    def set_checkpoint(self, *, vendor: Vendor, org: str, stream: str, watermark: str | None,
                       detail: dict | None = None) -> None:
        conn, t = self.session.connection(), sync_state
        row = conn.execute(select(t.c.id).where(t.c.source == vendor.value, t.c.org == org,
                                                t.c.stream == stream)).first()
        if row is None:
            conn.execute(insert(t).values(source=vendor.value, org=org, stream=stream, watermark=watermark,
                                          detail=_detail(detail)))
        else:
            conn.execute(update(t).where(t.c.id == row.id).values(watermark=watermark, detail=_detail(detail),
                                                                   updated_at=utcnow()))


class SqlSyncStore:
    """`core.sync.SyncStore` on an engine: one session per transaction."""

    def __init__(self, engine) -> None:
        self.engine = engine
        # Postgres locks rows; SQLite has one write lock for the whole file, and a second writer
        # would only sleep in its busy handler until the first commits
        self.concurrent_writes = engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[SqlSyncTx]:
        """One unit of work. A value or sum the database cannot hold (a 64-bit overflow: Postgres
        `numeric value out of range`, or an int sqlite3 cannot bind) rolls it back and raises
        DataRejected, a one-line reason the sync records, instead of a driver traceback."""
        try:
            with unit_scope(self.engine) as unit:
                yield SqlSyncTx(unit)
                fence(unit, SYNC_LOCK)  # the sync lock is still ours at commit, or nothing is written
        except Exception as exc:
            if not _out_of_range(exc):
                raise
            detail = exc.orig if isinstance(exc, DBAPIError) else exc
            raise DataRejected(f"the database refused a value or a sum as out of range "
                               f"({one_line(str(detail), 100)}); nothing of this batch was stored") from None

    def org_identities(self, *, vendor: Vendor) -> dict[str, set[str]]:
        t = sync_state
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.org, t.c.detail).where(t.c.source == vendor.value,
                                                                  t.c.stream == IDENTITY_STREAM)).all()
            return {row.org: set(_identity_ids(row.detail)) for row in rows}

    def checkpoint(self, *, vendor: Vendor, org: str, stream: str) -> Checkpoint | None:
        t = sync_state
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.watermark, t.c.detail).where(
                t.c.source == vendor.value, t.c.org == org, t.c.stream == stream)).first()
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
        with unit_scope(self.engine) as unit:
            conn = unit.connection()
            if holder is not None:
                # one sync at a time: a run still "running" under another holder is one whose process died
                conn.execute(text(
                    "UPDATE sync_run SET status = :interrupted, error = :why WHERE status = :running "
                    "AND (holder IS NULL OR holder <> :h)"),
                    {"interrupted": RunStatus.INTERRUPTED.value, "running": RunStatus.RUNNING.value, "h": holder,
                     "why": "interrupted: its process stopped before the run finished (found by the next sync)"})
            run = conn.execute(insert(sync_run).values(
                source=vendor.value, org=org, stream=mode.value, window_from=_midnight(window_from),
                window_to=_midnight(window_to), trigger=trigger[:32], status=RunStatus.RUNNING.value, holder=holder))
            return int(run.inserted_primary_key[0])

    def finish_run(self, run_id: int, *, result: OrgResult) -> None:
        t = sync_run
        with unit_scope(self.engine) as unit:
            conn = unit.connection()
            run = conn.execute(select(t.c.window_from, t.c.window_to).where(t.c.id == run_id)).first()
            if run is None:
                return
            usage = result.usage
            conn.execute(update(t).where(t.c.id == run_id).values(
                org=result.org, window_from=run.window_from or _midnight(result.window_from),
                window_to=run.window_to or _midnight(result.window_to), finished_at=utcnow(),
                status=(RunStatus.FAILED if result.error else RunStatus.OK).value, records_read=usage.read,
                inserted=usage.inserted, duplicates=usage.present,
                error=one_line(result.error, 1000) if result.error else None))

    def resolver(self, *, domain: str | None) -> IdentityResolver:
        from sqlmodel import Session  # Anthropic's key owners: the ORM, when an Anthropic sync runs

        from storage.people_repo import identity_resolver

        with Session(self.engine) as s:
            return identity_resolver(session=s, domain=domain)

    def key_names(self) -> dict[str, str | None]:
        from sqlmodel import Session, select

        from storage.tables import ApiKey

        with Session(self.engine) as s:
            return {k.external_id: k.name for k in s.exec(select(ApiKey).where(
                ApiKey.source == Source.CLAUDE_CODE.value))}


def last_runs(engine, *, limit: int = 20) -> list[SyncRun]:
    """The most recent sync runs, newest first (for status displays)."""
    from sqlmodel import Session, select

    from storage.tables import SyncRun

    with Session(engine) as s:
        return list(s.exec(select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)))


def _out_of_range(exc: BaseException) -> bool:
    """A 64-bit overflow, whichever layer saw it: sqlite3 binding a Python int (OverflowError),
    SQLite's SUM (`integer overflow`), Postgres `numeric value out of range` (SQLSTATE 22003), raw
    from psycopg (the write path's COPY) or wrapped by SQLAlchemy."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return isinstance(orig, OverflowError) or getattr(orig, "sqlstate", None) == "22003" \
        or "integer overflow" in str(orig)
