"""The scheduled jobs: one replica per tick, misfires coalesced to one run, a killed run shown as
interrupted (not running forever), and sync → detect → deliver in that order."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.cron import cron_trigger
from bot.scheduler import DIGEST_JOB, HEARTBEAT, SYNC_JOB, Jobs, claimed_run, latest_tick
from core.errors import RuntimeFailure
from storage import job_repo
from storage.db import session_scope

HOURLY = cron_trigger("5 * * * *")
MONDAYS = cron_trigger("0 9 * * 1")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_latest_tick_is_the_newest_fire_time_not_after_now():
    assert latest_tick(HOURLY, datetime(2026, 3, 2, 10, 5, 0, tzinfo=UTC)) == datetime(2026, 3, 2, 10, 5, tzinfo=UTC)
    assert latest_tick(HOURLY, datetime(2026, 3, 2, 10, 7, 31, tzinfo=UTC)) == datetime(2026, 3, 2, 10, 5,
                                                                                          tzinfo=UTC)
    # a replica that starts 9 minutes late serves the same tick (within the misfire grace)
    assert latest_tick(HOURLY, datetime(2026, 3, 2, 10, 14, 0, tzinfo=UTC)) == datetime(2026, 3, 2, 10, 5,
                                                                                         tzinfo=UTC)
    # 2026-03-02 is a Monday
    assert latest_tick(MONDAYS, datetime(2026, 3, 2, 9, 0, 2, tzinfo=UTC)) == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    # outside any tick's grace (a run by hand): the minute itself
    assert latest_tick(MONDAYS, datetime(2026, 3, 4, 12, 30, 45, tzinfo=UTC)) == datetime(2026, 3, 4, 12, 30,
                                                                                           tzinfo=UTC)


def make_jobs(engine, calls: list, clock: Clock, *, sync_fails: bool = False) -> Jobs:
    def sync():
        calls.append("sync")
        if sync_fails:
            raise RuntimeFailure("Cursor answered 503")
        return ["cursor: 12 events"]

    def detect(day):
        calls.append(("detect", day))
        return "2 anomalies"

    def deliver():
        calls.append("deliver")
        return "alerts: 1 sent"

    def queue_digest(tick):
        calls.append(("digest", tick))
        return "digest queued"

    return Jobs(engine, sync=sync, detect=detect, deliver=deliver, queue_digest=queue_digest, sync_trigger=HOURLY,
                digest_trigger=MONDAYS, sync_schedule="5 * * * *", digest_schedule="0 9 * * 1", clock=clock)


def test_sync_detect_deliver_runs_in_order_once_per_tick_across_replicas(engine):
    clock = Clock(datetime(2026, 3, 2, 10, 5, 1, tzinfo=UTC))
    calls_a, calls_b = [], []
    replica_a, replica_b = make_jobs(engine, calls_a, clock), make_jobs(engine, calls_b, clock)
    replica_a.sync_detect_deliver()
    replica_b.sync_detect_deliver()  # same tick: skipped
    assert calls_a == ["sync", ("detect", clock.now.date()), "deliver"]
    assert calls_b == []
    last = replica_b.last_run(SYNC_JOB)
    assert last.status is job_repo.RunStatus.OK
    assert last.summary == "cursor: 12 events; 2 anomalies; alerts: 1 sent"
    # the next tick runs again, on whichever replica fires first
    clock.now = datetime(2026, 3, 2, 11, 5, 0, tzinfo=UTC)
    replica_b.sync_detect_deliver()
    replica_a.sync_detect_deliver()
    assert calls_b == ["sync", ("detect", clock.now.date()), "deliver"] and len(calls_a) == 3


@pytest.mark.postgres
def test_two_replicas_firing_at_once_on_postgres_run_the_tick_once(pg_database_url):
    from storage.db import make_engine, upgrade

    engine = make_engine(pg_database_url)
    upgrade(engine)
    try:
        clock = Clock(datetime(2026, 3, 2, 10, 5, 0, tzinfo=UTC))
        calls: list = []
        replicas = [make_jobs(engine, calls, clock) for _ in range(4)]
        threads = [threading.Thread(target=r.sync_detect_deliver) for r in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert calls.count("sync") == 1 and calls.count("deliver") == 1
    finally:
        engine.dispose()


def test_a_failed_sync_still_detects_on_stored_data_and_is_recorded(engine):
    clock = Clock(datetime(2026, 3, 2, 10, 5, 0, tzinfo=UTC))
    calls: list = []
    jobs = make_jobs(engine, calls, clock, sync_fails=True)
    jobs.sync_detect_deliver()
    assert calls == ["sync", ("detect", clock.now.date()), "deliver"]
    assert jobs.last_run(SYNC_JOB).summary.startswith("sync failed: Cursor answered 503")


def test_a_run_that_raises_is_recorded_failed_and_the_scheduler_survives(engine):
    clock = Clock(datetime(2026, 3, 2, 10, 5, 0, tzinfo=UTC))

    def detect(day):
        raise ValueError("boom")

    jobs = Jobs(engine, sync=None, detect=detect, deliver=None, queue_digest=None, sync_trigger=HOURLY,
                digest_trigger=None, clock=clock)
    jobs.sync_detect_deliver()  # does not raise
    last = jobs.last_run(SYNC_JOB)
    assert last.status is job_repo.RunStatus.FAILED and "boom" in last.summary


def test_a_killed_run_reads_interrupted_once_its_heartbeat_has_passed(engine):
    clock = Clock(datetime(2026, 3, 2, 10, 5, 0, tzinfo=UTC))
    tick = clock.now
    # a run claims its tick and is killed (the context is never left: no finish, no more beats)
    with session_scope(engine) as s:
        job_repo.start(s, job=SYNC_JOB, tick=tick, owner="dead:1", now=clock.now,
                       heartbeat_until=clock.now + HEARTBEAT)
    jobs = make_jobs(engine, [], clock)
    assert jobs.last_run(SYNC_JOB).status is job_repo.RunStatus.RUNNING
    clock.now += HEARTBEAT + timedelta(seconds=1)
    assert jobs.last_run(SYNC_JOB).status is job_repo.RunStatus.INTERRUPTED
    # the next tick runs normally
    clock.now = datetime(2026, 3, 2, 11, 5, 0, tzinfo=UTC)
    jobs.sync_detect_deliver()
    assert jobs.last_run(SYNC_JOB).status is job_repo.RunStatus.OK


def test_the_heartbeat_keeps_a_long_run_alive(engine, monkeypatch):
    monkeypatch.setattr("bot.scheduler.BEAT_EVERY", 0.05)
    real_now = datetime(2026, 3, 2, 10, 5, 0, tzinfo=UTC)
    clock = Clock(real_now)
    with claimed_run(engine, SYNC_JOB, real_now, owner="me", clock=clock) as run:
        clock.now = real_now + HEARTBEAT * 2  # time passes while the run works
        with session_scope(engine) as s:
            deadline = datetime.now(UTC) + timedelta(seconds=5)
            while job_repo.latest(s, job=SYNC_JOB, now=clock.now).status is not job_repo.RunStatus.RUNNING:
                assert datetime.now(UTC) < deadline, "no heartbeat"
                s.rollback()
        run.summary = "done"
    with session_scope(engine) as s:
        assert job_repo.latest(s, job=SYNC_JOB, now=clock.now).status is job_repo.RunStatus.OK


def test_the_digest_is_queued_once_per_tick(engine):
    clock = Clock(datetime(2026, 3, 2, 9, 0, 1, tzinfo=UTC))
    calls: list = []
    a, b = make_jobs(engine, calls, clock), make_jobs(engine, calls, clock)
    a.digest()
    b.digest()
    assert calls == [("digest", datetime(2026, 3, 2, 9, 0, tzinfo=UTC))]
    assert a.last_run(DIGEST_JOB).summary == "digest queued"


def test_misfires_are_coalesced_into_one_run():
    """APScheduler as bot/app.py configures it: a scheduler that was asleep through 3 ticks runs the
    job once, not 3 times."""
    from apscheduler.schedulers.background import BackgroundScheduler

    runs = []
    done = threading.Event()
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1,
                                                                "misfire_grace_time": 600})
    # the trigger ticks every minute on the real clock: keep the next tick out of the second this
    # test watches (started at hh:mm:59.6, a legitimate new tick came due during it: two runs)
    now = datetime.now(UTC)
    second = now.second + now.microsecond / 1e6
    if second >= 55:
        time.sleep(60.2 - second)
    start = datetime.now(UTC) - timedelta(minutes=3, seconds=30)
    trigger = cron_trigger("* * * * *")
    scheduler.add_job(lambda: (runs.append(1), done.set()), trigger, next_run_time=start, id="j")
    scheduler.start()
    try:
        assert done.wait(5)
        threading.Event().wait(0.5)
        assert runs == [1]
    finally:
        scheduler.shutdown(wait=False)


def test_a_tick_missed_while_down_is_caught_up_once_at_start(engine):
    clock = Clock(datetime(2026, 3, 2, 10, 30, 0, tzinfo=UTC))
    jobs = make_jobs(engine, [], clock)
    assert jobs.missed(SYNC_JOB, HOURLY)  # never ran: the 10:05 tick was missed
    jobs.sync_detect_deliver()  # the catch-up run (its tick: 10:30, outside 10:05's grace)
    assert not jobs.missed(SYNC_JOB, HOURLY)
    clock.now = datetime(2026, 3, 2, 13, 0, 0, tzinfo=UTC)  # down through 11:05 and 12:05
    assert jobs.missed(SYNC_JOB, HOURLY)
    # the digest looks back one day only: last Monday's is not sent on a Wednesday
    clock.now = datetime(2026, 3, 4, 12, 0, 0, tzinfo=UTC)
    assert not jobs.missed(DIGEST_JOB, MONDAYS, within=timedelta(days=1))
    clock.now = datetime(2026, 3, 2, 11, 0, 0, tzinfo=UTC)
    assert jobs.missed(DIGEST_JOB, MONDAYS, within=timedelta(days=1))


def _lock_timeout() -> Exception:
    from sqlalchemy.exc import OperationalError

    return OperationalError("SELECT 1", {}, Exception("canceling statement due to lock timeout"))


def _driver_error() -> Exception:
    import sqlite3

    return sqlite3.OperationalError("database is locked")


@pytest.mark.parametrize(("error", "named"), [(_lock_timeout, "Exception"), (_driver_error, "OperationalError")])
def test_a_database_that_does_not_answer_is_one_log_line(engine, caplog, error, named):
    """Through SQLAlchemy, or from a statement sent through the driver itself (storage.bulk and the
    usage write path do: psycopg's or sqlite3's error, not wrapped): one line, no traceback."""
    clock = Clock(datetime(2026, 3, 2, 10, 5, 0, tzinfo=UTC))

    def detect(day):
        raise error()

    jobs = Jobs(engine, sync=None, detect=detect, deliver=None, queue_digest=None, sync_trigger=HOURLY,
                digest_trigger=None, clock=clock)
    caplog.set_level("WARNING", logger="bot.scheduler")
    jobs.sync_detect_deliver()
    assert f"sync_and_detect failed: the database did not answer ({named})" in caplog.text
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)
    assert jobs.last_run(SYNC_JOB).status is job_repo.RunStatus.FAILED
