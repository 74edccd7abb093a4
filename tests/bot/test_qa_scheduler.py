"""QA pass on the scheduled sync → detect → deliver: a vendor fault the sync did not foresee."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.scheduler import SYNC_JOB, Jobs
from storage import job_repo
from tests.bot.test_scheduler import HOURLY, Clock


def test_an_unforeseen_sync_error_still_lets_detection_and_delivery_run(engine, caplog):
    """A vendor answer the sync code did not expect (here a KeyError from a reshaped payload) must
    not stop detection on what is stored, nor the delivery of what it queues."""
    clock = Clock(datetime(2026, 3, 2, 10, 5, 1, tzinfo=UTC))
    calls = []

    def sync():
        calls.append("sync")
        raise KeyError("usageEvents")

    def detect(day):
        calls.append("detect")
        return "1 incidents opened"

    def deliver():
        calls.append("deliver")
        return "alerts: 1 sent"

    jobs = Jobs(engine, sync=sync, detect=detect, deliver=deliver, queue_digest=None, sync_trigger=HOURLY,
                digest_trigger=None, clock=clock)
    caplog.set_level("WARNING", logger="bot.scheduler")
    jobs.sync_detect_deliver()
    assert calls == ["sync", "detect", "deliver"]
    last = jobs.last_run(SYNC_JOB)
    assert last.status is job_repo.RunStatus.OK, last.summary
    assert "sync failed" in last.summary and "KeyError" in last.summary and "alerts: 1 sent" in last.summary
    assert "scheduled sync failed" in caplog.text


def test_a_sync_whose_driver_reports_a_locked_database_is_one_log_line(engine, caplog):
    """The sync writes usage through the driver itself (storage.bulk), so a SQLite file locked by
    another writer reaches the job as sqlite3's own error, not SQLAlchemy's: the database is busy —
    one line, the run recorded failed, no traceback, and no detection on a database that is not
    answering."""
    import sqlite3

    clock = Clock(datetime(2026, 3, 2, 10, 5, 1, tzinfo=UTC))
    calls = []

    def sync():
        calls.append("sync")
        raise sqlite3.OperationalError("database is locked")

    def detect(day):
        calls.append("detect")
        return "0 incidents opened"

    jobs = Jobs(engine, sync=sync, detect=detect, deliver=None, queue_digest=None, sync_trigger=HOURLY,
                digest_trigger=None, clock=clock)
    caplog.set_level("WARNING", logger="bot.scheduler")
    jobs.sync_detect_deliver()
    assert calls == ["sync"]
    assert "sync_and_detect failed: the database did not answer (OperationalError)" in caplog.text
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)
    assert jobs.last_run(SYNC_JOB).status is job_repo.RunStatus.FAILED


def test_a_run_failed_by_the_database_records_one_sentence_not_the_sql(engine):
    """The run's summary is what the App Home shows admins: SQLAlchemy's error text carries the
    statement and its parameters; the summary says what happened in one sentence."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    clock = Clock(datetime(2026, 3, 2, 10, 5, 1, tzinfo=UTC))

    def detect(day):
        raise OperationalError("UPDATE alert_outbox SET status=? WHERE alert_outbox.id = ?", ("sent", 7),
                               sqlite3.OperationalError("database is locked"))

    jobs = Jobs(engine, sync=None, detect=detect, deliver=None, queue_digest=None, sync_trigger=HOURLY,
                digest_trigger=None, clock=clock)
    jobs.sync_detect_deliver()
    last = jobs.last_run(SYNC_JOB)
    assert last.status is job_repo.RunStatus.FAILED
    assert last.summary == ("failed: the database is not answering: another process has held its write lock for "
                            "over 10 s; try again in a minute")
