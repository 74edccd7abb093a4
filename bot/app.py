"""`abacus run`: the composition root of the running bot.

settings → engine (migrated) → WebClient (SLACK_API_URL, retry on connection errors and 429s)
→ token check → services → Bolt App + listeners → scheduler (sync + detection on
ABACUS_SYNC_SCHEDULE, one replica at a time) → Socket Mode. SIGTERM/SIGINT: stop accepting
envelopes, finish in-flight work, stop the scheduler, exit 0.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from slack_bolt import App
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from sqlalchemy.exc import DBAPIError

from bot.config import Settings
from bot.cron import cron_trigger
from bot.detect_service import run_detection, run_scheduled
from bot.envelopes import DeliveryLedger, OnceSocketModeHandler
from bot.listeners import register_all
from bot.otlp_server import OtlpReceiver
from bot.scheduler import DELIVER_EVERY, DELIVER_JOB, DIGEST_JOB, MISFIRE_GRACE, SYNC_JOB, Jobs
from bot.services.admin import SyncOutcome, SyncRunner
from bot.services.alerting import AlertSender
from bot.services.container import Services, build_services
from bot.services.digest import DigestService
from bot.services.home import ScheduleLine
from bot.sync_service import SyncTuning, run_sync
from bot.wiring import Context, make_delivery_client, make_sender, open_context
from core.errors import ConfigError, RuntimeFailure
from core.periods import DateRange, utc_today
from core.sync import NullProgress
from storage.dbapi import driver_error_types
from storage.job_lock import SYNC_LOCK, try_job_lock

log = logging.getLogger("bot.app")

LIVE_DETECT_JOB_ID = "live_detection"
SLACK_TIMEOUT = 30  # seconds per Web API call


def make_client(settings: Settings) -> WebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(token=token, base_url=settings.slack_api_url, timeout=SLACK_TIMEOUT,
                     retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2),
                                     RateLimitErrorRetryHandler(max_retry_count=3)])


def verify_bot_token(client: WebClient, api_url: str) -> dict:
    """`auth.test`, turned into one clean line on failure (the token itself is never shown)."""
    try:
        return client.auth_test().data
    except SlackApiError as exc:
        raise ConfigError(f"SLACK_BOT_TOKEN was rejected by Slack ({exc.response.get('error', 'unknown error')})"
                          ) from None
    except (SlackClientError, OSError) as exc:
        raise RuntimeFailure(f"cannot reach the Slack API at {api_url}: {_reason(exc)}") from None


def verify_app_token(client: WebClient, app_token: str, api_url: str) -> None:
    """`apps.connections.open` once before connecting, for a clean error on a bad xapp- token
    (the ticket it returns is simply not used)."""
    try:
        client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        raise ConfigError(f"SLACK_APP_TOKEN was rejected by Slack ({exc.response.get('error', 'unknown error')})"
                          ) from None
    except (SlackClientError, OSError) as exc:
        raise RuntimeFailure(f"cannot reach the Slack API at {api_url}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return f"{type(exc).__name__} ({reason})" if reason else type(exc).__name__


# --- scheduled and on-demand sync, detection, alert delivery -----------------------------------------

class SyncStopping(KeyboardInterrupt):
    """`abacus run` is stopping: a scheduled sync ends between two of its days (or Cursor event
    windows) instead of running to its end — what it committed stays, the next run resumes from
    there. A KeyboardInterrupt, as Ctrl-C is for `abacus sync`, so the engine records it the same way."""


class StopBetweenDays(NullProgress):
    """The progress of a scheduled sync: raises SyncStopping at the next step once `stopping` is set."""

    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping

    def advance(self, n: int = 1, note: str | None = None) -> None:
        if self._stopping.is_set():
            raise SyncStopping("interrupted: abacus run is stopping; the next run resumes")


def make_sync_runner(ctx: Context, *, stopping: threading.Event | None = None) -> SyncRunner | None:
    """Sync as the bot runs it: one at a time across replicas (the `sync` job lock). None when
    no vendor key is configured. A scheduled sync stops early once `stopping` is set (SIGTERM:
    platforms kill a process that takes more than 30-60 s to stop)."""
    if not (ctx.settings.anthropic_keys or ctx.settings.cursor_keys):
        return None
    SyncTuning.from_env()  # a bad ABACUS_HTTP_*/ABACUS_SYNC_* value stops the start, not every sync after it

    def run(start: date | None, end: date | None, trigger: str) -> SyncOutcome:
        window = DateRange(start, end or utc_today()) if start else None
        progress = StopBetweenDays(stopping) if stopping is not None and trigger == "schedule" else None
        with try_job_lock(ctx.engine, SYNC_LOCK) as held:
            if not held:
                raise RuntimeFailure("a sync is already running; try again in a few minutes")
            summary = run_sync(ctx, window=window, trigger=trigger, progress=progress)
        return SyncOutcome(ok=summary.ok, lines=list(summary.lines()))

    return run


def make_jobs(ctx: Context, *, sync_runner: SyncRunner | None, sender: AlertSender | None) -> Jobs:
    settings = ctx.settings

    def sync() -> list[str]:
        outcome = sync_runner(None, None, "schedule")
        return outcome.lines[-3:] if outcome.ok else [f"sync had errors: {'; '.join(outcome.lines)[:300]}"]

    def detect(day: date) -> str:  # yesterday (late vendor data), then today
        return "; ".join(run.summary() for run in run_scheduled(ctx.engine, today=day))

    def deliver() -> str:
        return sender.drain().line()

    def queue_digest(tick: datetime) -> str:
        return DigestService.queue(ctx.engine, tick=tick, channel=settings.alert_channel)

    digest_trigger = None
    if settings.digest_schedule != "off" and settings.alert_channel:
        digest_trigger = cron_trigger(settings.digest_schedule)
    return Jobs(ctx.engine, sync=sync if sync_runner else None, detect=detect,
                deliver=deliver if sender else None, queue_digest=queue_digest if digest_trigger else None,
                sync_trigger=cron_trigger(settings.sync_schedule),
                digest_trigger=digest_trigger, sync_schedule=settings.sync_schedule,
                digest_schedule=(settings.digest_schedule if settings.alert_channel
                                 else f"{settings.digest_schedule} (off: no ABACUS_ALERT_CHANNEL)"))


def schedule(scheduler: BackgroundScheduler, jobs: Jobs) -> None:
    """Register the jobs. A tick missed while no replica ran (a deploy, an outage) runs once at
    start-up: the first sync does not wait up to an hour, a Monday digest is not lost."""
    now = datetime.now(UTC)
    catch_up = {"next_run_time": now} if jobs.missed(SYNC_JOB, jobs.sync_trigger) else {}
    scheduler.add_job(jobs.sync_detect_deliver, jobs.sync_trigger, id=SYNC_JOB, name="sync → detect → deliver",
                      **catch_up)
    if jobs.digest_trigger is not None:
        catch_up = ({"next_run_time": now} if jobs.missed(DIGEST_JOB, jobs.digest_trigger,
                                                           within=timedelta(days=1)) else {})
        scheduler.add_job(jobs.digest, jobs.digest_trigger, id=DIGEST_JOB, name="weekly digest", **catch_up)
    scheduler.add_job(jobs.deliver, IntervalTrigger(seconds=DELIVER_EVERY), id=DELIVER_JOB, name="deliver alerts",
                      misfire_grace_time=DELIVER_EVERY)


def live_detection_job(ctx: Context, *, deliver_now: Callable[[], None] | None = None) -> None:
    """Detection on today's data, every ABACUS_LIVE_DETECT_MINUTES while live telemetry flows in, so
    a runaway session is alerted within minutes of its events instead of after the next vendor sync.
    One detection at a time per database: a tick that finds one running (the hourly job, another
    replica) is skipped. Alerts it queues are delivered at once, in this thread (`deliver_now`: the
    outbox drain, safe beside the polling one — rows are claimed under a lease), not at the next
    poll. Never raises."""
    try:
        run = run_detection(ctx.engine, as_of=datetime.now(UTC).date(), alert=True, lock_wait=0)
        if run.opened or run.alerts_queued:
            log.info("live detection: %s", run.summary())
            if run.alerts_queued and deliver_now is not None:
                deliver_now()
    except RuntimeFailure as exc:
        log.debug("live detection skipped: %s", exc)
    except (DBAPIError, *driver_error_types()) as exc:  # down, busy or locked: the next tick tries again
        log.warning("live detection skipped: the database did not answer (%s)",
                    type(getattr(exc, "orig", None) or exc).__name__)
    except Exception:  # noqa: BLE001 - a failed run must not stop the scheduler
        log.exception("live detection failed")


def deliver_at_once(sender: AlertSender | None, *, wait: float = 5.0) -> Callable[[], None]:
    """The outbox drain, run now: when the polling drain holds the delivery claim, wait for it (up
    to `wait` seconds) and drain again, so rows it may have missed go out now, not at the next poll."""
    def deliver() -> None:
        if sender is None:
            return
        deadline = time.monotonic() + wait
        while True:
            try:
                report = sender.drain()
            except Exception as exc:  # noqa: BLE001 - the polling drain tries again
                log.warning("alert delivery failed: %s", type(exc).__name__)
                return
            if not report.busy:
                log.info("%s", report.line())
                return
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
    return deliver


def start_otlp_receiver(ctx: Context) -> OtlpReceiver:
    """The live-telemetry receiver on ABACUS_OTLP_PORT (bot/otlp_server.py), serving on its own threads."""
    settings = ctx.settings
    try:
        receiver = OtlpReceiver(ctx.engine, token=settings.otlp_token.get_secret_value().strip(),
                                port=settings.otlp_port, host=settings.otlp_host, email_domain=settings.email_domain)
    except OSError as exc:
        raise ConfigError(f"ABACUS_OTLP_PORT: cannot listen on {settings.otlp_host}:{settings.otlp_port} "
                          f"({exc.strerror or type(exc).__name__})") from None
    return receiver.start()


# --- the running bot -------------------------------------------------------------------------------

@dataclass
class Bot:
    ctx: Context
    client: WebClient
    app: App
    services: Services
    scheduler: BackgroundScheduler
    listener_executor: ThreadPoolExecutor
    identity: dict
    stopping: threading.Event  # set on SIGTERM: a scheduled sync ends at its next step

    def next_sync(self) -> datetime | None:
        return next_run(self.scheduler)


def next_run(scheduler: BackgroundScheduler, job_id: str = SYNC_JOB) -> datetime | None:
    job = scheduler.get_job(job_id)
    return getattr(job, "next_run_time", None) if job else None


def build_bot(settings: Settings) -> Bot:
    settings.require_slack()
    for note in settings.half_configured():
        log.warning("%s", note)
    ctx = open_context(settings=settings)
    client = make_client(settings)
    identity = verify_bot_token(client, settings.slack_api_url)
    verify_app_token(client, settings.slack_app_token.get_secret_value(), settings.slack_api_url)
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1,
                                                                "misfire_grace_time": MISFIRE_GRACE})
    stopping = threading.Event()
    sync_runner = make_sync_runner(ctx, stopping=stopping)
    alert_client = make_delivery_client(settings) if settings.alert_channel else None
    sender = make_sender(ctx, alert_client)
    jobs = make_jobs(ctx, sync_runner=sync_runner, sender=sender)
    schedule(scheduler, jobs)
    if settings.otlp_port and settings.live_detect_minutes:
        scheduler.add_job(live_detection_job, IntervalTrigger(seconds=settings.live_detect_minutes * 60, timezone=UTC),
                          id=LIVE_DETECT_JOB_ID, name="detection on live telemetry", args=(ctx,),
                          kwargs={"deliver_now": deliver_at_once(sender)})

    sources = (["claude_code"] if settings.anthropic_keys else []) + (["cursor"] if settings.cursor_keys else [])
    describe = {k: v for k, v in settings.describe().items() if k != "database"}
    services = build_services(engine=ctx.engine, client=client, env_admins=settings.admins, sync_runner=sync_runner,
                              next_sync=lambda: next_run(scheduler), sources=sources, describe=describe,
                              schedule=lambda: schedule_status(scheduler, jobs), email_domain=settings.email_domain)
    listener_executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="bolt-listener")
    try:
        app = App(client=client, token_verification_enabled=True, listener_executor=listener_executor,
                  logger=logging.getLogger("slack_bolt.App"))
    except BoltError:
        raise ConfigError("SLACK_BOT_TOKEN was rejected by Slack (auth.test failed)") from None
    register_all(app, services)
    return Bot(ctx=ctx, client=client, app=app, services=services, scheduler=scheduler,
               listener_executor=listener_executor, identity=identity, stopping=stopping)


class _DropClientTokenNotice(logging.Filter):
    """Bolt warns that `token` is unused when SLACK_BOT_TOKEN is set and a client is given: that
    is exactly our set-up, so the notice is noise at start-up."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def _configure_logging(settings: Settings, verbose: bool) -> None:
    level = logging.DEBUG if verbose else getattr(logging, settings.log_level.upper(), logging.INFO)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root.setLevel(level)
    logging.getLogger("slack_bolt.App").addFilter(_DropClientTokenNotice())
    # The WebClient logs each failed connection attempt before retrying; failures that matter
    # reach our error handler (with an id) or the start-up check (one line), so keep it quiet.
    logging.getLogger("slack_sdk.web.base_client").setLevel(logging.DEBUG if verbose else logging.CRITICAL)
    for noisy in ("slack_bolt", "slack_sdk", "apscheduler", "urllib3", "matplotlib", "PIL", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def _tune_runtime() -> None:
    """Interpreter settings for a latency-sensitive, chart-drawing server.

    GC: start-up objects (modules, fonts, the app) never become garbage, so freeze them out of
    the collector's sight, and collect the young generation less often. A chart allocates tens
    of thousands of short-lived objects; with the default threshold (700) the collector ran
    hundreds of times per chart and a 90-day chart took ~40 % longer (p95 +50 %). Garbage is
    collected after each request instead (bot.services.memory)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    # Acks must not wait behind chart drawing and query threads for the GIL: hand it over every
    # 1 ms instead of 5 ms (the ack path needs it a few times between envelope and frame).
    sys.setswitchinterval(0.001)


def run(settings: Settings, *, verbose: bool = False, stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or `stop`); returns the exit code."""
    _configure_logging(settings, verbose)
    bot = build_bot(settings)
    stop = stop or threading.Event()
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
    handler = OnceSocketModeHandler(bot.app, app_token, ledger=DeliveryLedger(bot.ctx.engine), ping_interval=10,
                                    concurrency=16)
    receiver = start_otlp_receiver(bot.ctx) if settings.otlp_port else None
    try:
        handler.connect()
    except (SlackApiError, SlackClientError, OSError) as exc:
        handler.close()
        if receiver is not None:
            receiver.stop()
        if isinstance(exc, SlackApiError):
            raise ConfigError(f"SLACK_APP_TOKEN was rejected by Slack "
                              f"({exc.response.get('error', 'unknown error')})") from None
        raise RuntimeFailure(f"cannot open the Socket Mode connection: {type(exc).__name__}") from None

    _tune_runtime()
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    bot.scheduler.start()
    name = bot.identity.get("user") or "abacus"
    log.info("connected to Slack as @%s (%s); next sync %s", name, bot.identity.get("team", "?"),
             bot.next_sync() or "not scheduled")
    print(f"abacus: running as @{name}; Ctrl-C or SIGTERM to stop", file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        log.info("stopping: closing the Socket Mode connection, finishing in-flight work")
        # in-flight work finishes; a scheduled sync still running after the grace ends at its next day
        # (what it committed stays, the next run resumes) rather than be killed by the platform
        grace = threading.Timer(bot.ctx.settings.stop_grace_seconds, bot.stopping.set)
        grace.daemon = True
        grace.start()
        handler.close()  # no new envelopes; waits for the ones being dispatched
        if receiver is not None:
            receiver.stop()  # no new batches; waits for the ones being stored
        log.debug("socket closed")
        bot.listener_executor.shutdown(wait=True)
        bot.services.shutdown(wait=True)
        log.debug("in-flight work done")
        bot.scheduler.shutdown(wait=True)
        grace.cancel()
        bot.ctx.engine.dispose()
        for sig, old in previous.items():
            signal.signal(sig, old)
    print("abacus: stopped", file=sys.stderr, flush=True)
    return 0


def schedule_status(scheduler: BackgroundScheduler, jobs: Jobs) -> list[ScheduleLine]:
    """Each scheduled job with its schedule, last run and next run (the App Home)."""
    lines = [ScheduleLine("Sync → detect → alert", jobs.sync_schedule, jobs.last_run(SYNC_JOB),
                          next_run(scheduler, SYNC_JOB))]
    lines.append(ScheduleLine("Weekly digest", jobs.digest_schedule, jobs.last_run(DIGEST_JOB),
                              next_run(scheduler, DIGEST_JOB)))
    return lines


__all__ = ["Bot", "build_bot", "make_client", "make_jobs", "make_sender", "run"]
