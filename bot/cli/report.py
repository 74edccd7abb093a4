"""`abacus report`: aggregated usage as a table, JSON or CSV."""

from __future__ import annotations

import sys

from bot.cli.common import add_range_args, range_from
from core.errors import InputError
from core.report import Dimension, to_csv, to_json, to_table
from core.usage import Source


def register(sub) -> None:
    p = sub.add_parser("report", help="aggregated usage", description="Aggregated usage for a date range "
                       "(UTC days, both ends inclusive; default: the last 30 days).")
    add_range_args(p)
    p.add_argument("--by", choices=[d.value for d in Dimension], default="user")
    p.add_argument("--source", help="claude_code (alias claude, anthropic) or cursor; default both")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.set_defaults(handler=run)


def run(args) -> int:
    period = range_from(args)
    source = None
    if args.source and args.source.lower() not in ("all", "both"):
        try:
            source = Source.parse(args.source).value
        except ValueError as exc:
            raise InputError(str(exc)) from None
    from bot.wiring import no_usage_note, open_reader
    from storage.report_repo import usage_report

    by = Dimension(args.by)
    db = open_reader()  # a bare sqlite3 / psycopg connection: no SQLAlchemy to import for one query
    if db is not None:
        try:
            note = no_usage_note(db)
            report = usage_report(session=db, period=period, by=by, source=source)
        finally:
            db.close()
    else:  # a schema to migrate (or from a newer Abacus), or a URL only SQLAlchemy reads: the full path
        from bot.wiring import open_context
        from storage.db import read_scope

        ctx = open_context(existing=True)
        note = no_usage_note(ctx)
        with read_scope(ctx.engine) as conn:
            report = usage_report(session=conn, period=period, by=by, source=source)
    if note:
        print(f"abacus: note: {note}", file=sys.stderr)
    render = {"json": to_json, "csv": to_csv, "table": to_table}[args.format]
    text = render(report)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
