"""`abacus import FILE…` and `abacus imports` (the recorded import batches)."""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path

from core.errors import InputError
from core.importers.formats import ImportFormat

MAX_LISTED = 100_000  # `abacus imports --limit`


def register(sub) -> None:
    p = sub.add_parser(
        "import", help="import exports: Cursor usage CSV, Claude Console usage/cost, HiBob directory",
        description="Import exports. The format is recognised from the header row (or forced with --format). "
                    "Prints rows read / inserted / already present / rejected. A file with an invalid row is "
                    "rejected whole (exit 2, nothing written) unless --skip-invalid, which imports the valid rows "
                    "and lists the rejected ones. Importing a file twice, or an export of days already synced from "
                    "the API, adds nothing. Several files are imported together: all or none.")
    p.add_argument("files", nargs="*", metavar="FILE", help="CSV file(s); - reads standard input")
    p.add_argument("--format", default="auto", choices=["auto", *[f.value for f in ImportFormat]],
                   help="the export's format (default: recognised from the header)")
    p.add_argument("--dry-run", action="store_true",
                   help="read and check everything, report what would change (HiBob: the moves), write nothing")
    p.add_argument("--skip-invalid", action="store_true", help="import the valid rows, list the rejected ones")
    p.add_argument("--user", metavar="EMAIL",
                   help="whose usage a Cursor export without a User column is (a personal export)")
    p.add_argument("--json", action="store_true", help="the summary as JSON on stdout")
    p.add_argument("--list", action="store_true", help="list the recorded import batches (same as `abacus imports`)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(handler=run_import)
    q = sub.add_parser("imports", help="list the recorded import batches",
                       description="Every committed import: when, format, counts, days, who, file name and sha256.")
    q.add_argument("--limit", type=int, default=50, help="how many, newest first (default 50)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=run_list)


class _Progress:
    """Bytes read: a bar on a terminal, a line per 10 % otherwise (stderr)."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.done, self.next_mark = total, label, 0, 0.1
        self.bar = None
        if sys.stderr.isatty() and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit="B", unit_scale=True, file=sys.stderr, leave=False)

    def __call__(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.total and self.done / self.total >= self.next_mark:
            print(f"{self.label}: {min(100, int(self.done * 100 / self.total))}% read", file=sys.stderr, flush=True)
            while self.next_mark <= self.done / self.total:
                self.next_mark += 0.1

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Unclosed:
    """Standard input as an import reads a file: `with … as raw`, `raw.read(n)`; never closed."""

    def __init__(self, raw) -> None:
        self._raw = raw

    def __enter__(self):
        return self._raw

    def __exit__(self, *exc) -> None:
        return None


def _requests(args, user: str | None):
    from bot.import_service import ImportRequest

    fmt = None if args.format == "auto" else ImportFormat(args.format)
    who = f"cli:{getpass.getuser()}"
    out = []
    for name in args.files:
        if name == "-":
            # streamed like a file (read once; closing the request leaves standard input open)
            out.append(ImportRequest(filename="(stdin)", open=lambda: _Unclosed(sys.stdin.buffer), format=fmt,
                                     dry_run=args.dry_run, skip_invalid=args.skip_invalid, default_user=user,
                                     created_by=who))
            continue
        path = Path(name)
        if not path.is_file():
            raise InputError(f"{name}: no such file")
        if not os.access(path, os.R_OK):
            raise InputError(f"{name}: not readable")
        out.append(ImportRequest(filename=path.name, open=lambda p=path: open(p, "rb"), format=fmt,
                                 dry_run=args.dry_run, skip_invalid=args.skip_invalid, default_user=user,
                                 created_by=who))
    return out


def run_import(args) -> int:
    if args.list:
        args.limit = 50
        return run_list(args)
    if not args.files:
        raise InputError("name at least one FILE to import (or --list to see past imports)")
    user = None
    if args.user:
        from core.identity import normalise_email

        try:
            user = normalise_email(args.user)
        except ValueError as exc:
            raise InputError(str(exc)) from None
    requests = _requests(args, user)
    from bot.import_service import FileInvalid, ImportService
    from bot.wiring import open_context

    ctx = open_context(ingest=True)  # a process that mostly writes usage (storage.dbapi)
    service = ImportService(ctx.engine, email_domain=ctx.settings.email_domain)
    total = sum(Path(n).stat().st_size for n in args.files if n != "-")
    progress = None if args.quiet else _Progress(total, "import")
    try:
        outcomes = service.run_all(requests, on_bytes=progress)
    except FileInvalid as exc:
        if progress:
            progress.close()
        if args.json:
            print(json.dumps({**exc.outcome.as_dict(), "imported": False}, indent=2))
        else:
            for line in exc.outcome.lines()[1:]:
                print(line, file=sys.stderr)
        raise
    finally:
        if progress:
            progress.close()
    if args.json:
        print(json.dumps([o.as_dict() for o in outcomes] if len(outcomes) > 1 else outcomes[0].as_dict(), indent=2))
    else:
        for o in outcomes:
            for line in o.lines():
                print(line)
    return 0


def run_list(args) -> int:
    from bot.import_service import batches_table
    from bot.wiring import open_context
    from storage.db import session_scope
    from storage.import_repo import list_batches

    if not 1 <= args.limit <= MAX_LISTED:  # a 64-bit column bound is not the user's problem to meet
        raise InputError(f"--limit must be between 1 and {MAX_LISTED:,}")
    ctx = open_context(existing=True)  # a listing creates no database where it looks
    with session_scope(ctx.engine) as session:
        rows = list_batches(session=session, limit=args.limit)
    if args.json:
        print(json.dumps([{"id": b.id, "created_at": b.created_at.isoformat(), "file": b.filename, "sha256": b.sha256,
                           "format": b.format, "via": b.via, "by": b.created_by, "rows_read": b.rows_read,
                           "inserted": b.inserted, "already_present": b.duplicates, "rejected": b.rejected,
                           "skipped": b.skipped, "from": b.first_day.isoformat() if b.first_day else None,
                           "to": b.last_day.isoformat() if b.last_day else None} for b in rows], indent=2))
    else:
        for line in batches_table(rows):
            print(line)
    return 0
