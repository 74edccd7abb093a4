"""Scheduled job runs (`job_run`): one run per job and schedule tick across replicas, and a
heartbeat so that a run killed mid-way reads as interrupted, not as running forever."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.tables import JobRun

J = JobRun.__table__


class RunStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # never stored: a `running` row whose heartbeat has passed


@dataclass(frozen=True, slots=True)
class JobRunView:
    job: str
    tick: datetime
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    summary: str | None


def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def start(session: Session, *, job: str, tick: datetime, owner: str, now: datetime, heartbeat_until: datetime
          ) -> int | None:
    """Claim `tick` of `job`: the run's id, or None when another replica has it already."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (insert(J).values(job=job, tick=tick, status=RunStatus.RUNNING.value, owner=owner, started_at=now,
                             heartbeat_until=heartbeat_until)
            .on_conflict_do_nothing(index_elements=["job", "tick"]).returning(J.c.id))
    row = session.execute(stmt).first()
    return None if row is None else int(row[0])


def heartbeat(session: Session, *, run_id: int, until: datetime) -> None:
    session.execute(update(J).where(J.c.id == run_id, J.c.status == RunStatus.RUNNING.value)
                    .values(heartbeat_until=until))


def finish(session: Session, *, run_id: int, ok: bool, summary: str, now: datetime) -> None:
    session.execute(update(J).where(J.c.id == run_id).values(
        status=(RunStatus.OK if ok else RunStatus.FAILED).value, finished_at=now, summary=summary[:2000]))


def latest(session: Session, *, job: str, now: datetime) -> JobRunView | None:
    """The newest run of `job`; `running` past its heartbeat reads as `interrupted`."""
    row = session.execute(select(J).where(J.c.job == job).order_by(J.c.started_at.desc(), J.c.id.desc())
                          .limit(1)).first()
    if row is None:
        return None
    status = RunStatus(row.status)
    if status is RunStatus.RUNNING and _aware(row.heartbeat_until) < now:
        status = RunStatus.INTERRUPTED
    return JobRunView(job=row.job, tick=_aware(row.tick), status=status, started_at=_aware(row.started_at),
                      finished_at=_aware(row.finished_at), summary=row.summary)
