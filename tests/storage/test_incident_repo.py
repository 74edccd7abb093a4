"""People's actions on incidents, on SQLite and Postgres: the lifecycle, repeats, illegal moves,
snooze, the audit trail, and two detection runs at once."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from core.detection.engine import plan_day
from core.incidents import (
    Action,
    AnomalyKind,
    IllegalTransition,
    IncidentNotFound,
    IncidentStatus,
    Severity,
    Signal,
    Via,
)
from storage import incident_repo
from storage.db import session_scope

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
DAY = date(2026, 3, 2)


def signal(kind=AnomalyKind.SPEND_SPIKE, severity=Severity.WARNING) -> Signal:
    return Signal(kind, severity, DAY, 214.0, 51.0, "7-day average", "usd", "Alice spent $214 today", T0,
                  ratio=4.2, tool="cursor", model="opus-4.5", model_share=0.81)


def open_one(engine, subject="alice@example.com") -> int:
    with session_scope(engine) as s:
        plan = plan_day(incident_repo.open_states(session=s), [(subject, signal())], day=DAY,
                        now=T0 + timedelta(minutes=5), cooldown_days=2, alert=True)
        incident_repo.apply_plan(session=s, plan=plan, batch="b1")
        return plan.opened[0].id


def act(engine, number, action, who="U0ADMIN", at=T0 + timedelta(hours=1), **kw):
    with session_scope(engine) as s:
        return incident_repo.act(session=s, incident_id=number, action=action, actor=who, via=Via.SLACK, at=at, **kw)


def trail(engine, number):
    with session_scope(engine) as s:
        return [(e["from"], e["to"], e["actor"], e["via"]) for e in incident_repo.audit_trail(session=s,
                                                                                             incident_id=number)]


def test_lifecycle_with_audit_rows(engine):
    number = open_one(engine)
    with session_scope(engine) as s:
        view = incident_repo.mark_alerted(session=s, incident_id=number, at=T0 + timedelta(minutes=6),
                                          channel="C1", ts="111.222")
    assert (view.status, view.slack_channel, view.slack_ts) == (IncidentStatus.ALERTED, "C1", "111.222")
    assert view.mttd == timedelta(minutes=6)  # from the data time, not from the row's insert
    acked = act(engine, number, Action.ACKNOWLEDGE)
    assert acked.changed and acked.view.status is IncidentStatus.ACKNOWLEDGED
    assert (acked.view.acknowledged_by, acked.view.mtti) == ("U0ADMIN", timedelta(minutes=54))
    resolved = act(engine, number, Action.RESOLVE, at=T0 + timedelta(hours=3))
    assert resolved.view.status is IncidentStatus.RESOLVED and resolved.view.mttr == timedelta(hours=3)
    assert trail(engine, number) == [(None, "detected", None, "system"), ("detected", "alerted", None, "delivery"),
                                     ("alerted", "acknowledged", "U0ADMIN", "slack"),
                                     ("acknowledged", "resolved", "U0ADMIN", "slack")]


def test_double_clicks_are_no_ops_and_illegal_moves_change_nothing(engine):
    number = open_one(engine)
    assert act(engine, number, Action.ACKNOWLEDGE).changed
    again = act(engine, number, Action.ACKNOWLEDGE, who="U0OTHER")
    assert not again.changed and again.view.acknowledged_by == "U0ADMIN"
    act(engine, number, Action.RESOLVE)
    before = trail(engine, number)
    with pytest.raises(IllegalTransition):
        act(engine, number, Action.ACKNOWLEDGE)
    with pytest.raises(IllegalTransition):
        act(engine, number, Action.SNOOZE, snooze_for=timedelta(hours=1))
    assert trail(engine, number) == before
    with pytest.raises(IncidentNotFound):
        act(engine, 9999, Action.RESOLVE)


def test_snooze_is_a_property_and_a_repeat_click_is_a_no_op(engine):
    number = open_one(engine)
    first = act(engine, number, Action.SNOOZE, snooze_for=timedelta(hours=4))
    assert first.changed and first.view.snoozed_until == T0 + timedelta(hours=5)
    assert first.view.status is IncidentStatus.DETECTED  # not a status
    assert not act(engine, number, Action.SNOOZE, at=T0 + timedelta(hours=1, seconds=2),
                   snooze_for=timedelta(hours=4)).changed
    longer = act(engine, number, Action.SNOOZE, at=T0 + timedelta(hours=1, seconds=2), snooze_for=timedelta(days=1))
    assert longer.changed and longer.view.snoozed_until == T0 + timedelta(hours=1, seconds=2, days=1)
    with session_scope(engine) as s:
        notes = [e["note"] for e in incident_repo.audit_trail(session=s, incident_id=number)]
    assert sum(1 for n in notes if n and n.startswith("snoozed until")) == 2


def test_one_open_incident_per_subject_is_enforced_by_the_database(engine):
    open_one(engine)
    with pytest.raises(Exception):  # noqa: B017 - the unique index refuses, whatever the driver calls it
        with session_scope(engine) as s:
            s.connection().execute(text(
                "INSERT INTO incident (dedup_key, kind, severity, status, value, threshold, message, signals, "
                "data_at, opened_at, clear_streak, alert_queued, version) VALUES ('alice@example.com', 'spend_spike', "
                "'warning', 'detected', 0, 0, '', '[]', :t, :t, 0, false, 0)"), {"t": T0})


def test_two_detection_processes_at_once_open_one_incident(engine, database_url, tmp_path):
    """Two `abacus detect` processes for the same day, started together: one incident, one alert."""
    from storage.usage_repo import write_usage
    from tests.bot.test_detect_cli import SPIKE_DAY, fixture_records

    with session_scope(engine) as s:
        write_usage(fixture_records(), session=s)
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-m", "bot", "detect", "--as-of", SPIKE_DAY.isoformat()], env=env,
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    with engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM incident")).scalar() == 1
        assert c.execute(text("SELECT kind FROM alert_outbox")).scalars().all() == ["opened"]


def test_core_tables_match_the_models():
    """incident_repo reads and writes through light Core tables: every column must exist in the
    ORM model (which the migrations follow) with the same kind of type."""
    from storage import tables

    for light, model in ((incident_repo.INC, tables.Incident), (incident_repo.EVT, tables.IncidentEvent),
                         (incident_repo.ANO, tables.Anomaly), (incident_repo.OUT, tables.AlertOutbox)):
        orm = model.__table__
        assert light.name == orm.name
        for col in light.columns:
            assert col.name in orm.columns, (orm.name, col.name)
            expected = orm.columns[col.name].type
            assert type(col.type).__name__ == type(expected).__name__ or \
                col.type._type_affinity is expected._type_affinity, (orm.name, col.name, col.type, expected)
