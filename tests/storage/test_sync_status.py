"""Honest sync status: one line per organisation/team (a failing one is not hidden behind a healthy
one of the same vendor), and a run whose process died shows as interrupted, not running — in the
App Home's data and in `sync_run` itself. SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bot.blocks import admin
from bot.services.reports import SyncStatusView
from core.sync import Mode, Vendor
from storage import analytics_repo as repo
from storage.db import session_scope
from storage.job_lock import SYNC_LOCK, try_job_lock
from storage.sync_repo import SqlSyncStore
from storage.tables import SyncRun
from tests.fakes.blockkit import validate_view

NOW = datetime.now(UTC)


def _run(s, source, org, status, minutes_ago, *, error=None, holder=None, inserted=0):
    s.add(SyncRun(source=source, org=org, stream="sync", started_at=NOW - timedelta(minutes=minutes_ago),
                  finished_at=None if status == "running" else NOW - timedelta(minutes=minutes_ago - 1),
                  status=status, error=error, holder=holder, inserted=inserted))


def test_each_organisation_shows_its_own_newest_run(engine):
    with session_scope(engine) as s:
        _run(s, "anthropic", "org-healthy", "failed", 130, error="HTTP 500")  # older: superseded
        _run(s, "anthropic", "org-healthy", "ok", 70, inserted=12)
        _run(s, "anthropic", "org-revoked", "ok", 600)
        _run(s, "anthropic", "org-revoked", "failed", 65, error="Anthropic API (key…dead): HTTP 401")
        _run(s, "cursor", "team…abcd", "ok", 60, inserted=5)
    with session_scope(engine) as s:
        runs = repo.sync_status(session=s)
    assert [(r.source, r.org, r.status) for r in runs] == [
        ("anthropic", "org-healthy", "ok"), ("anthropic", "org-revoked", "failed"), ("cursor", "team…abcd", "ok")]
    revoked = runs[1]
    assert revoked.error.endswith("HTTP 401") and revoked.last_ok_at is not None
    blocks = admin.sync_status_fields(SyncStatusView(runs=runs, next_run=None))
    shown = "\n".join(f["text"] for b in blocks for f in b.get("fields", []))
    assert "org-healthy" in shown and "org-revoked" in shown and ":x: failed" in shown
    assert shown.count(":white_check_mark: ok") == 2
    home = admin.home(role_label="admin", can_admin=True, values={}, env_admins=1,
                      status=SyncStatusView(runs=runs, next_run=None), keys=[], describe={})
    assert validate_view(home) == []


def test_a_run_whose_process_died_is_interrupted_not_running(engine):
    with session_scope(engine) as s:
        _run(s, "cursor", "team…abcd", "running", 30, holder="host:4242:dead")  # killed mid-run, no lease
    with session_scope(engine) as s:
        [run] = repo.sync_status(session=s)
    assert run.status == "interrupted" and "interrupted" in run.error
    shown = admin.sync_status_fields(SyncStatusView(runs=[run], next_run=None))[0]["fields"][0]["text"]
    assert ":warning: interrupted" in shown

    store = SqlSyncStore(engine)
    with try_job_lock(engine, SYNC_LOCK) as held:
        assert held
        with session_scope(engine) as s:  # while this process holds the lock, its own run is running
            _run(s, "cursor", "team…abcd", "running", 0,
                 holder=s.connection().execute(text("SELECT holder FROM job_lease")).scalar_one())
        with session_scope(engine) as s:
            assert [r.status for r in repo.sync_status(session=s)] == ["running"]
        # the next sync's first run records the dead one as interrupted in sync_run itself
        store.begin_run(vendor=Vendor.CURSOR, org="team…efgh", mode=Mode.SYNC, window_from=None, window_to=None,
                        trigger="cli")
    with session_scope(engine) as s:
        rows = s.connection().execute(text("SELECT holder, status FROM sync_run ORDER BY id")).all()
    assert rows[0] == ("host:4242:dead", "interrupted")
    assert [r[1] for r in rows[1:]] == ["running", "running"]  # this process's own runs are left alone
