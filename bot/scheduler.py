"""The jobs of `abacus run`, thin and named; bot/app.py registers them on APScheduler.

- `sync_detect_deliver` on ABACUS_SYNC_SCHEDULE: vendor sync → detection for today → deliver
  the alerts it queued;
- `digest` on ABACUS_DIGEST_SCHEDULE: queue the weekly digest in the outbox;
- `deliver` every few seconds: drain the alert outbox (under the delivery claim).

One replica per tick: a scheduled run first claims its tick in `job_run` (unique per job and
tick), so with several replicas on one database exactly one runs it, even when their clocks or
start-ups differ by seconds; the others log "skipped". Misfires are coalesced by the scheduler
(one catch-up run, never a burst). A run keeps a heartbeat while it works; killed mid-way, it
reads as "interrupted" once the heartbeat has passed, never "running" forever.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from core.errors import RuntimeFailure
from storage import job_repo
from storage.db import session_scope
from storage.dbapi import describe_db_error, driver_error_types

log = logging.getLogger("bot.scheduler")

SYNC_JOB = "sync_and_detect"
DIGEST_JOB = "digest"
DELIVER_JOB = "deliver_alerts"
DELIVER_EVERY = 5  # seconds between outbox polls
MISFIRE_GRACE = 600  # seconds: a tick missed by less than this still runs (once: coalesced)
HEARTBEAT = timedelta(seconds=90)  # a run without a beat for this long was killed
BEAT_EVERY = 20.0  # seconds


def utcnow() -> datetime:
    return datetime.now(UTC)


def latest_tick(trigger: BaseTrigger, now: datetime, *, grace: float = MISFIRE_GRACE) -> datetime:
    """The schedule time a run starting at `now` serves: the newest fire time ≤ now (within the
    misfire grace), else `now` to the minute (a run started by hand)."""
    start = now - timedelta(seconds=grace)
    fire = trigger.get_next_fire_time(None, start)
    last = None
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return (last or now.replace(second=0, microsecond=0)).astimezone(UTC)


def previous_fire(trigger: BaseTrigger, now: datetime, *, lookback: timedelta = timedelta(days=8)) -> datetime | None:
    """The newest fire time ≤ now, looking back at most `lookback`."""
    fire = trigger.get_next_fire_time(None, now - lookback)
    last = None
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last


@dataclass
class RunHandle:
    id: int
    summary: str = "ok"  # the line a successful run records (the App Home shows it)


@contextmanager
def claimed_run(engine: Engine, job: str, tick: datetime, *, owner: str,
                clock: Callable[[], datetime] = utcnow) -> Iterator[RunHandle | None]:
    """Claim (job, tick) and keep its heartbeat while the body runs. Yields the run, or None
    when another replica has this tick (the body should skip). The body succeeds by returning
    (its `summary` is recorded) or fails by raising (recorded, re-raised)."""
    now = clock()
    with session_scope(engine) as session:
        run_id = job_repo.start(session, job=job, tick=tick, owner=owner, now=now, heartbeat_until=now + HEARTBEAT)
    if run_id is None:
        yield None
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(BEAT_EVERY):
            try:
                with session_scope(engine) as session:
                    job_repo.heartbeat(session, run_id=run_id, until=clock() + HEARTBEAT)
            except Exception as exc:  # noqa: BLE001 - a missed beat only makes the run look stale sooner
                log.warning("%s heartbeat failed: %s", job, type(exc).__name__)

    beater = threading.Thread(target=beat, name=f"{job}-heartbeat", daemon=True)
    beater.start()
    handle = RunHandle(run_id)
    ok, summary = False, "failed"
    try:
        yield handle
        ok, summary = True, handle.summary
    except BaseException as exc:
        # the App Home shows this line: a database error as one sentence, not SQLAlchemy's text with the
        # statement and its parameters
        reason = describe_db_error(exc) if isinstance(exc, (DBAPIError, *driver_error_types())) else str(exc)
        summary = f"failed: {reason[:300] or type(exc).__name__}"
        raise
    finally:
        stop.set()
        beater.join(timeout=5)
        with session_scope(engine) as session:
            job_repo.finish(session, run_id=run_id, ok=ok, summary=summary, now=clock())


def owner_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


class Jobs:
    """The scheduled work, wired by the composition root."""

    def __init__(self, engine: Engine, *, sync: Callable[[], list[str]] | None,
                 detect: Callable[[date], str], deliver: Callable[[], str] | None,
                 queue_digest: Callable[[datetime], str] | None, sync_trigger: BaseTrigger,
                 digest_trigger: BaseTrigger | None, sync_schedule: str = "", digest_schedule: str = "off",
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._sync = sync
        self._detect = detect
        self._deliver = deliver
        self._queue_digest = queue_digest
        self.sync_trigger = sync_trigger
        self.digest_trigger = digest_trigger
        self.sync_schedule = sync_schedule  # as configured, for the App Home
        self.digest_schedule = digest_schedule
        self._clock = clock
        self.owner = owner_name()

    def sync_detect_deliver(self) -> None:
        """Sync → detect → deliver, once per tick across replicas. Never raises (the scheduler
        would print a traceback): a failure is recorded on the run and logged in one line."""
        now = self._clock()
        self._guarded(SYNC_JOB, latest_tick(self.sync_trigger, now), self._sync_detect_deliver)

    def _sync_detect_deliver(self, run: RunHandle) -> None:
        lines = []
        if self._sync is None:
            lines.append("sync: no vendor key configured")
        else:
            try:
                lines += self._sync()
            except RuntimeFailure as exc:  # a sync failure must not stop detection on what is stored
                lines.append(f"sync failed: {exc}")
                log.warning("scheduled sync failed: %s", exc)
            except KeyboardInterrupt as exc:  # the process is stopping: no detection now, the next run resumes
                raise RuntimeFailure(f"sync {exc}" if str(exc) else "sync interrupted") from None
            except (DBAPIError, *driver_error_types()):
                # through SQLAlchemy or from the driver itself (the sync's bulk writes): detection needs the
                # same database, so the run fails (one line, below) and the next tick tries again
                raise
            except Exception as exc:  # noqa: BLE001 - a vendor answer the sync did not foresee: detect anyway
                lines.append(f"sync failed: {type(exc).__name__}: {str(exc)[:200]}")
                log.warning("scheduled sync failed (%s); detecting on what is stored", type(exc).__name__,
                            exc_info=True)
        lines.append(self._detect(self._clock().date()))
        if self._deliver is not None:
            lines.append(self._deliver())
        run.summary = "; ".join(lines)
        log.info("scheduled run: %s", run.summary[:500])

    def digest(self) -> None:
        if self.digest_trigger is None or self._queue_digest is None:
            return
        now = self._clock()
        tick = latest_tick(self.digest_trigger, now)

        def body(run: RunHandle) -> None:
            run.summary = self._queue_digest(tick)

        self._guarded(DIGEST_JOB, tick, body)

    def deliver(self) -> None:
        if self._deliver is None:
            return
        try:
            line = self._deliver()
            if line and not line.startswith("alerts: 0 sent") and "another process" not in line:
                log.info("%s", line)
        except Exception as exc:  # noqa: BLE001 - the next poll tries again
            log.warning("alert delivery failed: %s", type(exc).__name__)

    def _guarded(self, job: str, tick: datetime, body: Callable[[RunHandle], None]) -> None:
        try:
            with claimed_run(self._engine, job, tick, owner=self.owner, clock=self._clock) as run:
                if run is None:
                    log.info("%s for %s: another replica has it; skipped", job, tick.strftime("%Y-%m-%d %H:%M"))
                    return
                body(run)
        except RuntimeFailure as exc:
            log.warning("%s failed: %s", job, exc)
        except (DBAPIError, *driver_error_types()) as exc:
            # busy, unreachable or refusing (through SQLAlchemy, or from a statement sent through the
            # driver itself, as storage.bulk's and the usage write path's are): the next tick tries
            # again; one line, no traceback
            log.warning("%s failed: the database did not answer (%s)", job,
                        type(getattr(exc, "orig", None) or exc).__name__)
        except Exception:  # noqa: BLE001 - a failed run must not stop the scheduler
            log.exception("%s failed", job)

    def missed(self, job: str, trigger: BaseTrigger | None, *, within: timedelta = timedelta(days=8)) -> bool:
        """True when the newest tick of `job` (within `within`) has no run: the process was down
        at that time. The composition root then runs it once at start-up instead of waiting for
        the next tick."""
        if trigger is None:
            return False
        now = self._clock()
        tick = previous_fire(trigger, now, lookback=within)
        if tick is None:
            return False
        last = self.last_run(job)
        return last is None or last.started_at < tick - timedelta(seconds=MISFIRE_GRACE)

    def last_run(self, job: str) -> job_repo.JobRunView | None:
        with session_scope(self._engine) as session:
            return job_repo.latest(session, job=job, now=self._clock())
