"""`abacus sync` and `abacus backfill`: pull usage from the Anthropic and Cursor Admin APIs."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading

from bot.cli.common import add_range_args, ingest_gc, range_from
from core.errors import InputError, RuntimeFailure, Terminated
from core.periods import MAX_DAYS, DateRange, utc_today


def _common(p) -> None:
    p.add_argument("--source", default="all", help="anthropic, cursor or all (default: all configured)")
    add_range_args(p)
    p.add_argument("--format", choices=["text", "json"], default="text", help="summary format on stdout")
    p.add_argument("--no-rate-limit", action="store_true",
                   help="disable the client-side rate limiter (same as ABACUS_SYNC_RATE_LIMIT=off)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def register(sub) -> None:
    p = sub.add_parser("sync", help="pull usage from the vendor APIs",
                       description="Pull usage from the Anthropic and Cursor Admin APIs. Without a range: "
                                   "incremental since the last sync (with overlap). With --from/--to or --days: "
                                   "those UTC days. Re-running never counts anything twice.")
    _common(p)
    p.set_defaults(handler=run_sync_command, mode="sync")
    b = sub.add_parser("backfill", help="pull history day by day (resumable)",
                       description="Pull usage history for a range, oldest day first, each day committed on its "
                                   "own. Running the same backfill again after a crash resumes after the last "
                                   "completed day. A progress bar shows on a terminal.")
    _common(b)
    b.set_defaults(handler=run_sync_command, mode="backfill")


def _window(args) -> DateRange | None:
    from core.sync import Mode

    given = args.from_ is not None or args.to is not None or args.days is not None
    if not given:
        if Mode(args.mode) is Mode.BACKFILL:
            raise InputError("backfill needs a range: --from YYYY-MM-DD [--to YYYY-MM-DD] or --days N")
        return None
    window = range_from(args)
    today = utc_today()
    if window.start > today:
        raise InputError(f"the range starts in the future ({window.start}); dates are UTC days")
    window = DateRange(window.start, min(window.end, today))
    if window.days > MAX_DAYS:  # as --days: a vendor is asked day by day, for hours, about centuries
        raise InputError(f"the range {window} is {window.days:,} days long; at most {MAX_DAYS:,} (ten years)")
    return window


_LOCK_WAIT_S = 900


def _terminate(signum, frame) -> None:
    raise Terminated("stopped by SIGTERM")


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()  # where a signal handler may be set


def run_sync_command(args) -> int:
    # the sync engine (and the vendor clients it loads) only when a sync runs, not for `--help`
    from core.sync import Mode, Vendor

    args.mode = Mode(args.mode)
    try:
        Vendor.parse_many(args.source)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    window = _window(args)
    from dataclasses import replace

    from bot.sync_service import NullProgress, SyncTuning, run_sync, terminal_progress
    from bot.wiring import open_context
    from storage.job_lock import SYNC_LOCK, try_job_lock

    # a command is one thread until here: the Cursor events may be fetched in a forked worker
    tuning = SyncTuning.from_env(event_worker=True)
    if args.no_rate_limit:
        tuning = replace(tuning, rate_limit=False)
    ctx = open_context(ingest=True)  # a process that mostly writes usage (storage.dbapi)
    progress = NullProgress() if args.quiet else terminal_progress(sys.stderr)
    # The bot logs a failed org; here it is this command's last line, and retry waits are
    # progress: say each once (all of it with -v).
    sync_log = logging.getLogger("abacus.sync")
    level = sync_log.level
    if not getattr(args, "verbose", False):
        sync_log.setLevel(logging.CRITICAL)
    def waiting() -> None:
        print("waiting for another sync of this database to finish…", file=sys.stderr, flush=True)

    # SIGTERM (a supervisor stopping the command) unwinds like Ctrl-C: each run is recorded as failed
    # and the events worker stopped, then the command dies of the signal as it did without this
    previous = signal.signal(signal.SIGTERM, _terminate) if _main_thread() else None
    try:
        # one sync at a time per database: the bot's scheduled one, a replica's, another command's
        with try_job_lock(ctx.engine, SYNC_LOCK, wait=_LOCK_WAIT_S, on_wait=waiting) as held:
            if not held:
                raise RuntimeFailure(f"another sync of this database is still running after "
                                     f"{_LOCK_WAIT_S // 60} minutes; try again later")
            with ingest_gc():
                summary = run_sync(ctx, sources=args.source, window=window, mode=args.mode, trigger="cli",
                                   progress=progress, tuning=tuning)
    except Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise  # pragma: no cover - the signal ends the process first
    finally:
        sync_log.setLevel(level)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if args.format == "json":
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        for line in summary.lines():
            print(line)
    if not summary.ok:
        raise RuntimeFailure("\n".join(summary.errors))
    return 0
