"""The one import service: a file (from the CLI or shared in Slack) → the store.

Read → recognise → convert → write, streamed in batches inside ONE transaction, so a file is all
or nothing: a file with an invalid row is rolled back whole (unless `skip_invalid`), a dry run
always is. Usage goes through `storage.usage_repo.write_usage`, the API sync's write path and
natural keys, so importing a file twice — or an export of days already synced — adds nothing.
Every committed import is recorded as an import batch (file name, sha256, who, counts).
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import BinaryIO

from sqlalchemy.engine import Engine

from core.errors import InputError
from core.groups import GroupPlan, plan_groups
from core.importers.claude import ClaudeCostImporter, ClaudeUsageImporter, CostLine
from core.importers.cursor import CursorImporter
from core.importers.formats import ImportFormat
from core.importers.hibob import DirectoryEntry, HiBobImporter
from core.importers.reader import MAX_SHOWN, FileReader, FileRejected, RowError
from core.report import printable
from core.usage import EPOCH, ONE_MS, UsageRecord, nanos_to_usd
from storage import import_repo
from storage.db import session_scope
from storage.people_repo import identity_resolver
from storage.usage_repo import write_usage

BATCH_ROWS = 10_000  # rows per write_usage call, all in one transaction (the sync writes 5,000)
ALREADY_SYNCED = ("rows for person-days already synced from the Anthropic API count as already present "
                  "(the API's figures are kept)")


class _Rollback(Exception):
    """Leave the transaction without committing (dry run)."""


@dataclass
class ImportRequest:
    filename: str
    open: Callable[[], BinaryIO]
    format: ImportFormat | None = None
    dry_run: bool = False
    skip_invalid: bool = False
    default_user: str | None = None  # whose usage a Cursor export without a User column is
    created_by: str | None = None
    via: str = "cli"
    approve_moves: set[str] | None = None  # HiBob: apply only these people's moves (None: all)


@dataclass
class Totals:
    input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0
    cost_nanos: int = 0
    requests: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens + self.output_tokens

    def as_dict(self) -> dict:
        return {"input_tokens": self.input_tokens, "cache_write_tokens": self.cache_write_tokens,
                "cache_read_tokens": self.cache_read_tokens, "output_tokens": self.output_tokens,
                "total_tokens": self.total_tokens, "cost_usd": nanos_to_usd(self.cost_nanos),
                "requests": self.requests}


@dataclass
class ImportOutcome:
    filename: str
    format: ImportFormat
    variant: str
    sha256: str = ""
    dry_run: bool = False
    rows_read: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    skipped: Counter = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)
    first_day: date | None = None
    last_day: date | None = None
    people: set[str] = field(default_factory=set)
    totals: Totals = field(default_factory=Totals)
    batch_id: int | None = None
    notes: list[str] = field(default_factory=list)
    groups: GroupPlan | None = None
    group_changes: dict[str, int] | None = None

    @property
    def committed(self) -> bool:
        return self.batch_id is not None

    def lines(self) -> list[str]:
        """The human summary (CLI stdout, Slack text)."""
        head = f"{printable(self.filename)}: {self.format.label} ({self.variant})" + (
            " — dry run, nothing written" if self.dry_run else "")
        out = [head]
        if self.format is ImportFormat.HIBOB:
            out.append(f"  rows read: {self.rows_read:,}   rejected: {self.rejected:,}")
            out += ["  " + line for line in group_plan_lines(self.groups, self.group_changes)]
        else:
            verb = "would insert" if self.dry_run else "inserted"
            out.append(f"  rows read: {self.rows_read:,}   {verb}: {self.inserted:,}   already present: "
                       f"{self.duplicates:,}   rejected: {self.rejected:,}"
                       + (f"   skipped: {sum(self.skipped.values()):,}" if self.skipped else ""))
            if self.first_day:
                t = self.totals
                out.append(f"  days {self.first_day}..{self.last_day}, {len(self.people)} people, "
                           f"{t.total_tokens:,} tokens, ${nanos_to_usd(t.cost_nanos):,.2f}"
                           + (f", {t.requests:,} requests" if t.requests else ""))
        for reason, n in self.skipped.most_common():
            out.append(f"  skipped {n:,}: {reason}")
        if self.errors:
            out.append(f"  rejected rows{' (first ' + str(MAX_SHOWN) + ')' if self.rejected > MAX_SHOWN else ''}:")
            out += [f"    {e.text()}" for e in self.errors]
        out += [f"  note: {n}" for n in self.notes]
        if self.batch_id is not None:
            out.append(f"  recorded as import batch #{self.batch_id}")
        return out

    def as_dict(self) -> dict:
        data = {"file": self.filename, "format": self.format.value, "variant": self.variant, "sha256": self.sha256,
                "dry_run": self.dry_run, "rows_read": self.rows_read, "inserted": self.inserted,
                "already_present": self.duplicates, "rejected": self.rejected, "skipped": dict(self.skipped),
                "errors": [e.as_dict() for e in self.errors], "batch_id": self.batch_id, "notes": self.notes,
                "from": self.first_day.isoformat() if self.first_day else None,
                "to": self.last_day.isoformat() if self.last_day else None, "people": len(self.people),
                "totals": self.totals.as_dict()}
        if self.groups is not None:
            g = self.groups
            data["groups"] = {"moves": [{"email": m.email, "from": m.from_group, "to": m.to_group} for m in g.moves],
                              "created": g.created, "removed": g.removed, "cleared": g.cleared,
                              "not_matched": g.unmatched, "unchanged": g.unchanged,
                              "merged": [{"team": m.team, "into": m.into, "people": m.people} for m in g.merges]}
        return data


class FileInvalid(FileRejected):
    """Rows are invalid: the file was rejected whole; the outcome says which rows."""

    def __init__(self, outcome: ImportOutcome) -> None:
        first = outcome.errors[0].text() if outcome.errors else ""
        super().__init__(f"{outcome.filename}: {outcome.rejected:,} invalid row(s), nothing imported "
                         f"(first: {first}); fix them or use --skip-invalid")
        self.outcome = outcome


def group_plan_lines(plan: GroupPlan | None, changes: dict[str, int] | None = None) -> list[str]:
    if plan is None:
        return []
    out = [f"{len(plan.moves)} move(s), {len(plan.created)} group(s) to create, {plan.unchanged} unchanged, "
           f"{len(plan.unmatched)} not matched"]
    for m in plan.moves[:200]:
        out.append(f"move {m.email}: {m.from_group or '(no group)'} -> {m.to_group}")
    if len(plan.moves) > 200:
        out.append(f"… and {len(plan.moves) - 200} more moves")
    out += [f"create group {g}" for g in plan.created]
    out += [f"merged small team {m.team} ({m.people}) into {m.into}" for m in plan.merges]
    out += [f"leaves directory groups: {e}" for e in plan.cleared]
    out += [f"remove empty group {g}" for g in plan.removed]
    if plan.unmatched:
        shown = ", ".join(plan.unmatched[:20]) + (f", … ({len(plan.unmatched)})" if len(plan.unmatched) > 20 else "")
        out.append(f"not matched (no such person in Abacus): {shown}")
    if changes is not None:
        out.append(f"applied: {changes['moved']} moved, {changes['created']} group(s) created, "
                   f"{changes['cleared']} taken out, {changes['removed']} empty group(s) removed")
    return out


class _Hashing(io.RawIOBase):
    """Reads through to the file and hashes what passes (sha256 of the whole file, one pass)."""

    def __init__(self, raw: BinaryIO, on_bytes: Callable[[int], None] | None) -> None:
        self._raw, self.sha = raw, hashlib.sha256()
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        data = self._raw.read(len(buf))
        n = len(data)
        buf[:n] = data
        self.sha.update(data)
        if self._on_bytes is not None and n:
            self._on_bytes(n)
        return n

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.sha.update(data)
        if self._on_bytes is not None and data:
            self._on_bytes(len(data))
        return data

    def drain(self) -> str:
        while self.read(1 << 20):
            pass
        return self.sha.hexdigest()


class ImportService:
    def __init__(self, engine: Engine, *, email_domain: str | None) -> None:
        self.engine = engine
        self.email_domain = email_domain

    def run(self, request: ImportRequest, *, on_bytes: Callable[[int], None] | None = None) -> ImportOutcome:
        """Import (or dry-run) one file; see `run_all`."""
        return self.run_all([request], on_bytes=on_bytes)[0]

    def run_all(self, requests: list[ImportRequest], *,
                on_bytes: Callable[[int], None] | None = None) -> list[ImportOutcome]:
        """Import (or dry-run) files in one transaction: all of them or none. Raises FileRejected (a bad
        file) or FileInvalid (bad rows, without skip_invalid); nothing is written then."""
        outcomes: list[ImportOutcome] = []
        try:
            with session_scope(self.engine) as session:
                for request in requests:
                    try:
                        outcomes.append(self._one(session, request, on_bytes))
                    except FileInvalid:
                        raise
                    except FileRejected as exc:
                        if str(exc).startswith(f"{request.filename}: "):
                            raise
                        raise FileRejected(f"{request.filename}: {exc}") from None
                if any(r.dry_run for r in requests):
                    raise _Rollback
        except _Rollback:
            for o in outcomes:
                o.batch_id = None
        return outcomes

    def _one(self, session, request: ImportRequest, on_bytes) -> ImportOutcome:
        with request.open() as raw:
            hashed = _Hashing(raw, on_bytes)
            reader = FileReader(hashed, wanted=request.format)
            layout = reader.layout
            if layout.format is ImportFormat.CURSOR and "user" not in layout.columns and not request.default_user:
                raise FileRejected(f"{request.filename}: this Cursor export has no User column, so it does not say "
                                   "whose usage it is; give --user EMAIL")
            outcome = ImportOutcome(filename=request.filename, format=layout.format, variant=layout.variant,
                                    dry_run=request.dry_run)
            batch = import_repo.start_batch(session=session, filename=request.filename, sha256="",
                                            fmt=layout.format.value, created_by=request.created_by, via=request.via)
            self._dispatch(session, reader, request, outcome, batch.id)
            outcome.rows_read = reader.stats.rows_read
            outcome.rejected = reader.stats.rejected
            outcome.errors = list(reader.stats.errors)
            outcome.skipped.update(reader.stats.skipped)
            outcome.sha256 = hashed.drain()
            if outcome.rows_read == 0:
                raise FileRejected(f"{request.filename}: the file has a header but no rows")
            if outcome.rejected and not request.skip_invalid:
                # rolled back whole: nothing of it is in the store, whatever its valid rows were
                outcome.inserted = outcome.duplicates = 0
                raise FileInvalid(outcome)
            batch.sha256 = outcome.sha256
            batch.rows_read, batch.inserted, batch.duplicates = (outcome.rows_read, outcome.inserted,
                                                                 outcome.duplicates)
            batch.rejected, batch.skipped = outcome.rejected, sum(outcome.skipped.values())
            batch.first_day, batch.last_day = outcome.first_day, outcome.last_day
            session.add(batch)
            session.flush()
            outcome.batch_id = batch.id
        return outcome

    # -- per format --------------------------------------------------------------------------------

    def _dispatch(self, session, reader: FileReader, request: ImportRequest, outcome: ImportOutcome,
                  batch_id: int) -> None:
        header = reader._header
        layout = reader.layout
        fmt = layout.format
        if fmt is ImportFormat.CURSOR:
            importer = CursorImporter(layout, default_user=request.default_user, header=header)
            self._write_usage(session, reader.items(importer), outcome, batch_id, claude=False)
        elif fmt is ImportFormat.CLAUDE_USAGE:
            resolver = identity_resolver(session=session, domain=self.email_domain)
            importer = ClaudeUsageImporter(layout, resolver=resolver, header=header)
            days = self._write_usage(session, reader.items(importer), outcome, batch_id, claude=True)
            costed = import_repo.cost_line_days(session=session, days=days)
            if costed:
                attached, _ = import_repo.attach_vendor_costs(session=session, days=costed)
                if attached:
                    outcome.notes.append(f"{attached} record(s) priced with the vendor's dollars from an earlier "
                                         "cost export")
        elif fmt is ImportFormat.CLAUDE_COST:
            resolver = identity_resolver(session=session, domain=self.email_domain)
            importer = ClaudeCostImporter(layout, resolver=resolver, header=header)
            # cost exports are small: a line per day × key × model × token type
            lines: list[CostLine] = list(reader.items(importer))
            self._cost(session, lines, outcome)
        else:
            entries: list[DirectoryEntry] = list(reader.items(HiBobImporter(layout, header=header)))
            people, groups = import_repo.directory_state(session=session)
            complete = not reader.stats.rejected
            plan = plan_groups(entries, people=people, groups=groups, complete=complete)
            if not complete:
                outcome.notes.append("rows were rejected, so this file is not the whole directory: nobody is taken "
                                     "out of a directory group for being missing from it")
            if request.approve_moves is not None:
                plan = plan.approve(request.approve_moves)
            outcome.groups = plan
            outcome.people = {e.email for e in entries}
            outcome.inserted = len(plan.moves)
            if not request.dry_run and not (reader.stats.rejected and not request.skip_invalid):
                outcome.group_changes = import_repo.apply_group_plan(session=session, plan=plan)

    def _write_usage(self, session, items: Iterator[object], outcome: ImportOutcome, batch_id: int, *,
                     claude: bool) -> set[date]:
        days: set[date] = set()
        t = outcome.totals
        people = outcome.people
        first = last = None
        while True:
            chunk: list[UsageRecord] = list(islice(items, BATCH_ROWS))  # type: ignore[arg-type]
            if not chunk:
                break
            if claude:
                chunk_days = {r.day for r in chunk}
                covered = import_repo.api_covered_person_days(session=session, days=chunk_days)
                if covered:
                    kept = [r for r in chunk if (r.day, r.person) not in covered]
                    outcome.duplicates += len(chunk) - len(kept)
                    if ALREADY_SYNCED not in outcome.notes:
                        outcome.notes.append(ALREADY_SYNCED)
                    chunk = kept
                days |= chunk_days
            for r in chunk:
                t.input_tokens += r.input_tokens
                t.cache_write_tokens += r.cache_write_5m_tokens + r.cache_write_1h_tokens
                t.cache_read_tokens += r.cache_read_tokens
                t.output_tokens += r.output_tokens
                t.cost_nanos += r.cost_nanos
                t.requests += r.requests
                people.add(r.person)
            if chunk:
                lo = min(r.ts_ms for r in chunk)
                hi = max(r.ts_ms for r in chunk)
                first = lo if first is None else min(first, lo)
                last = hi if last is None else max(last, hi)
                result = write_usage(chunk, session=session, import_batch_id=batch_id, batch_size=BATCH_ROWS)
                outcome.inserted += result.inserted
                outcome.duplicates += result.duplicates
        if first is not None:
            outcome.first_day = (EPOCH + first * ONE_MS).date()
            outcome.last_day = (EPOCH + last * ONE_MS).date()
        return days

    def _cost(self, session, lines: list[CostLine], outcome: ImportOutcome) -> None:
        inserted = import_repo.save_cost_lines(session=session, lines=lines)
        outcome.inserted = inserted
        outcome.duplicates = len(lines) - inserted
        for line in lines:
            outcome.totals.cost_nanos += line.cost_nanos
            outcome.people.add(line.person)
        if lines:
            outcome.first_day = min(x.day for x in lines)
            outcome.last_day = max(x.day for x in lines)
            attached, unmatched = import_repo.attach_vendor_costs(session=session, days={x.day for x in lines})
            outcome.notes.append(f"{attached} usage record(s) now carry the vendor's cost")
            if unmatched:
                outcome.notes.append(f"{unmatched} person-day-model(s) have cost but no usage yet: their dollars "
                                     "attach when that usage is imported")


def batches_table(rows: Iterable) -> list[str]:
    """`abacus imports`: the recorded import batches, newest first."""
    rows = list(rows)
    if not rows:
        return ["no imports yet"]
    out = [f"{'#':>4}  {'when (UTC)':<16}  {'format':<12} {'via':<5} {'read':>9} {'inserted':>9} {'present':>9} "
           f"{'rejected':>8} {'skipped':>8}  {'days':<22}  {'by':<24} file (sha256)"]
    for b in rows:
        span = f"{b.first_day}..{b.last_day}" if b.first_day else "-"
        out.append(f"{b.id:>4}  {b.created_at:%Y-%m-%d %H:%M}  {b.format:<12} {b.via:<5} {b.rows_read:>9,} "
                   f"{b.inserted:>9,} {b.duplicates:>9,} {b.rejected:>8,} {b.skipped:>8,}  {span:<22}  "
                   f"{printable(b.created_by or '-')[:24]:<24} {printable(b.filename)} ({b.sha256[:12]})")
    return out


__all__ = ["FileInvalid", "FileRejected", "ImportOutcome", "ImportRequest", "ImportService", "InputError",
           "batches_table", "group_plan_lines"]
