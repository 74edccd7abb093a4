"""`abacus demo`: an offline synthetic team in the configured database, then a summary."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

from bot.cli.common import ingest_gc
from core.periods import DateRange, utc_today
from core.report import Dimension, human_tokens


def register(sub) -> None:
    p = sub.add_parser("demo", help="offline demo on synthetic data",
                       description="Write a deterministic synthetic team (both tools, planted anomalies) into "
                                   "the configured database and print a summary. Needs no network and no tokens.")
    p.add_argument("--out", default="./abacus-demo", help="folder for the rendered charts (default ./abacus-demo)")
    p.add_argument("--people", type=int, default=48, help="team size (default 48)")
    p.add_argument("--days", type=int, default=90,
                   help="days of history ending yesterday, the last complete UTC day (default 90)")
    p.add_argument("--seed", type=int, default=42, help="another seed, another team (default 42)")
    p.add_argument("--force", action="store_true",
                   help="write the demo even into a database that holds other data (not only an earlier demo)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from core.errors import InputError

    if not 5 <= args.people <= 5000 or not 7 <= args.days <= 730:
        raise InputError("--people must be 5..5000 and --days 7..730")
    out = Path(args.out)
    _check_out(out)  # before anything is written: a bad folder must not cost a whole demo run
    from bot.demo_service import demo_parameters, earlier_footprint, render_demo_charts, seed_demo
    from bot.wiring import open_context
    from core.synthetic import DEMO_ORGS
    from storage.db import describe_location, session_scope
    from storage.demo_repo import clear_demo_usage, demo_made_with, foreign_data
    from storage.report_repo import usage_report

    ctx = open_context()
    other = foreign_data(ctx.engine, DEMO_ORGS)
    if other and not args.force:
        raise InputError(f"the database at {describe_location(ctx.engine)} holds more than demo data "
                         f"({', '.join(other)}); the demo would mix into it. Point DATABASE_URL at another "
                         "database, or add --force")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create the folder ({exc.strerror or type(exc).__name__})") from None
    domain = ctx.settings.email_domain or "example.com"
    # the synthetic history ends with yesterday: its days are complete, and nothing is dated after
    # the present (a synthetic today would hold events from later today)
    end = utc_today() - timedelta(days=1)
    # a different demo replaces the one in the database (usage, incidents, people), never adds to it
    made = dict(people=args.people, days=args.days, seed=args.seed, end=end, domain=domain)
    earlier = demo_made_with(ctx.engine)
    footprint = (earlier_footprint(earlier, **made, team_wide=not other) if earlier != demo_parameters(**made)
                 else None)
    cleared = clear_demo_usage(ctx.engine, DEMO_ORGS, made_with=demo_parameters(**made), earlier=footprint)
    print(f"abacus demo: writing a synthetic team into {describe_location(ctx.engine)} …"
          + (f" (replacing the earlier demo's {cleared:,} records)" if cleared else ""), file=sys.stderr)
    with ingest_gc():
        seeded = seed_demo(ctx.engine, people=args.people, days=args.days, end=end, seed=args.seed,
                           domain=domain)
    period = DateRange(seeded.team.start, end)
    with session_scope(ctx.engine) as session:
        by_tool = usage_report(session=session, period=period, by=Dimension.TOOL)
        by_user = usage_report(session=session, period=period, by=Dimension.USER)
        by_model = usage_report(session=session, period=period, by=Dimension.MODEL)
    charts = render_demo_charts(ctx.engine, out, period)  # every chart the bot can draw

    t = by_tool.totals
    print(f"Abacus demo — {len(seeded.team.people)} people, {period.start}..{period.end} ({period.days} days)")
    print(f"  records: {seeded.result.received:,} generated, {seeded.result.inserted:,} new, "
          f"{seeded.result.duplicates:,} already present")
    print(f"  spend:   ${t.cost_usd:,.2f} over {human_tokens(t.total_tokens)} tokens")
    for row in by_tool.rows:
        print(f"    {row.key:<12} ${row.totals.cost_usd:>12,.2f}  {human_tokens(row.totals.total_tokens):>8} tokens")
    print("  top spenders:")
    for row in by_user.rows[:5]:
        print(f"    {row.key:<40} ${row.totals.cost_usd:>10,.2f}")
    print("  top models:")
    for row in by_model.rows[:5]:
        print(f"    {row.key:<40} ${row.totals.cost_usd:>10,.2f}")
    print("  planted anomalies:")
    for a in seeded.team.anomalies:
        print(f"    {a.kind:<16} {a.day}  {a.description}")
    if seeded.detection_summary:
        print(f"  detection: {seeded.detection_summary}")
    print(f"  charts:  {len(charts)} PNG files in {out}/")
    print("  unmapped keys: " + ", ".join(seeded.team.unmapped_keys) + "  (see `abacus unmapped`)")
    print("next: `abacus report --by user`, or set SLACK_BOT_TOKEN/SLACK_APP_TOKEN and run `abacus run`")
    return 0


def _check_out(out: Path) -> None:
    """--out must be a folder we can write, or one we can create (checked without creating it)."""
    from core.errors import InputError

    if out.exists():
        if not out.is_dir():
            raise InputError(f"--out {out}: exists and is not a folder")
        if not os.access(out, os.W_OK | os.X_OK):
            raise InputError(f"--out {out}: the folder is not writable")
        return
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"--out {out}: cannot create the folder ({parent} is not a folder)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"--out {out}: cannot create the folder ({parent} is not writable)")


