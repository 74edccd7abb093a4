"""`abacus detect`: run every detection layer for a day (or replay a range with `--backtest`)."""

from __future__ import annotations

import json
import sys
from datetime import date

from bot.cli.common import add_range_args, range_from
from core.errors import InputError
from core.periods import PeriodError, parse_day, utc_today
from core.report import printable

EARLIEST = date(2000, 1, 1)  # before any AI coding tool; also keeps cycle arithmetic far from year 1


def register(sub) -> None:
    p = sub.add_parser("detect", help="run anomaly detection; open and resolve incidents",
                       description="Run all detection layers for one UTC day (default: today), open, extend or "
                                   "resolve incidents and queue their alerts (unless --no-alert). Running it twice "
                                   "for a day changes nothing. With --backtest, replay detection day by day over "
                                   "stored data with the current settings and print what would have alerted; "
                                   "--backtest writes nothing.")
    p.add_argument("--as-of", metavar="YYYY-MM-DD", help="the UTC day to look at (default: today)")
    p.add_argument("--no-alert", action="store_true", help="record incidents but queue no alert")
    p.add_argument("--backtest", action="store_true", help="replay a range (--from/--to or --days); write nothing")
    add_range_args(p, what="backtest")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(handler=run)


def run(args) -> int:
    from bot.wiring import open_context

    if args.backtest:
        if args.as_of or args.no_alert:
            raise InputError("--backtest takes --from/--to or --days, not --as-of or --no-alert")
        if not (args.from_ or args.to or args.days is not None):
            raise InputError("--backtest needs a range: --from YYYY-MM-DD --to YYYY-MM-DD, or --days N")
        period = range_from(args)
        if period.end > utc_today():
            raise InputError(f"--to {period.end.isoformat()} is in the future; a backtest replays stored days")
        if period.start < EARLIEST:
            raise InputError(f"--from must be {EARLIEST.isoformat()} or later")
        from bot.detect_service import backtest

        ctx = open_context(existing=True)  # writes nothing: not even a new database in the wrong folder
        result = backtest(ctx.engine, period.start, period.end)
        _write(json.dumps(result.to_json(), indent=2) if args.format == "json" else _backtest_table(result))
        return 0
    if args.from_ or args.to or args.days is not None:
        raise InputError("--from/--to/--days go with --backtest; use --as-of for one day")
    as_of = _as_of(args.as_of)
    from bot.detect_service import run_detection

    ctx = open_context()
    result = run_detection(ctx.engine, as_of=as_of, alert=not args.no_alert)
    if args.format == "json":
        _write(json.dumps(result.to_json(), indent=2))
    else:
        _write(_table(result))
    print(f"abacus: {result.summary()}", file=sys.stderr)
    if not args.no_alert:
        _deliver(ctx)
    return 0


def _deliver(ctx) -> None:
    """Send what is queued, when this process can (SLACK_BOT_TOKEN and ABACUS_ALERT_CHANNEL, or
    email): the same outbox and delivery claim as the running bot, so nothing is sent twice."""
    from bot.wiring import make_delivery_client, make_sender

    settings = ctx.settings
    client = make_delivery_client(settings) if settings.slack_bot_token and settings.alert_channel else None
    sender = make_sender(ctx, client)
    if sender is None:
        print("abacus: alerts stay queued (no SLACK_BOT_TOKEN and ABACUS_ALERT_CHANNEL here); the bot sends them",
              file=sys.stderr)
        return
    report = sender.drain()
    print(f"abacus: {report.line()}" + ("; the rest is retried by the bot or the next run" if report.retried
                                         else ""), file=sys.stderr)


def _as_of(text: str | None) -> date:
    if not text:
        return utc_today()
    try:
        day = parse_day(text)
    except PeriodError as exc:
        raise InputError(str(exc)) from None
    if day > utc_today():
        raise InputError(f"--as-of {day.isoformat()} is in the future")
    if day < EARLIEST:
        raise InputError(f"--as-of must be {EARLIEST.isoformat()} or later")
    return day


def _write(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _table(result) -> str:
    if not result.anomalies:
        return f"No anomalies on {result.as_of.isoformat()}."
    lines = [f"{'incident':>8}  {'severity':<8}  {'kind':<17}  message"]
    for a in result.anomalies:
        number = f"#{a.incident_id}" if a.incident_id else "–"
        lines.append(f"{number:>8}  {a.signal.severity.value:<8}  {a.signal.kind.value:<17}  "
                     f"{printable(a.signal.message)}")
    return "\n".join(lines)


def _backtest_table(result) -> str:
    lines = [f"Backtest {result.start.isoformat()} to {result.end.isoformat()}: {result.incidents} incidents would "
             f"have opened, {result.alerts} alerts would have been sent (first alerts and escalations, after "
             f"grouping, dedup and cool-down)."]
    for d in result.days:
        opened = set(result.opened_by_day.get(d.day, []))
        for a in d.anomalies:
            mark = "new" if a.subject in opened else "   "
            lines.append(f"{d.day.isoformat()}  {mark}  {a.signal.severity.value:<8}  {a.signal.kind.value:<17}  "
                         f"{printable(a.signal.message)}")
    return "\n".join(lines)
