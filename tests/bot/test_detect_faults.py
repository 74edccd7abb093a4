"""What adversarial testing found in detection, each pinned by a test that failed before the fix:
a click during a run, late data for yesterday, re-runs at another hour, an older day replayed,
bad stored settings, hostile names in the CLI table, absurd dates."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

import storage.incident_repo as incident_repo
from bot.cli import main
from bot.detect_service import backtest, run_detection, run_scheduled
from core.incidents import Action, Via
from core.usage import Feed, Source, UsageRecord, natural_key, usd_to_nanos
from storage.db import session_scope
from storage.usage_repo import write_usage

D0 = date(2026, 3, 2)
PEOPLE = [f"dev{i}@example.com" for i in range(6)]


def rec(person, day, usd, n=0, source=Source.CURSOR, hour=9):
    feed = Feed.CURSOR_EVENTS if source is Source.CURSOR else Feed.CLAUDE_CODE_ANALYTICS
    return UsageRecord(source=source, feed=feed, natural_key=natural_key("q", person, day.isoformat(), n),
                       ts=datetime(day.year, day.month, day.day, hour if source is Source.CURSOR else 0, tzinfo=UTC),
                       person=person, raw_model="sonnet-4.5", model="sonnet-4.5", input_tokens=10, output_tokens=1,
                       cost_nanos=usd_to_nanos(usd), requests=1 if source is Source.CURSOR else 0)


def steady(engine, days=12, extra=()):
    rows = [rec(p, D0 + timedelta(days=d), "10.00") for d in range(days) for p in PEOPLE]
    with session_scope(engine) as s:
        write_usage(rows + list(extra), session=s)


def tables(engine) -> dict:
    with engine.connect() as c:
        return {t: c.execute(text(f"SELECT * FROM {t} ORDER BY 1")).all()
                for t in ("incident", "anomaly", "alert_outbox", "incident_event")}


def test_a_click_during_a_detection_run_is_not_undone(engine, monkeypatch):
    day1 = D0 + timedelta(days=10)
    steady(engine, extra=[rec(PEOPLE[0], day1, "300.00", n=1), rec(PEOPLE[0], day1 + timedelta(days=1), "400.00", n=1)])
    t1 = datetime(day1.year, day1.month, day1.day, 23, tzinfo=UTC)
    number = run_detection(engine, as_of=day1, alert=True, now=t1).opened[0]
    read = threading.Event()
    real = incident_repo.open_states

    def slow_open_states(*, session):
        states = real(session=session)
        read.set()
        time.sleep(0.5)  # the run computes its plan while a manager clicks Resolve
        return states

    monkeypatch.setattr(incident_repo, "open_states", slow_open_states)
    clicked = []

    def click():
        read.wait(10)
        with session_scope(engine) as s:
            clicked.append(incident_repo.act(session=s, incident_id=number, action=Action.RESOLVE, actor="U_BOSS",
                                             via=Via.SLACK, at=t1 + timedelta(hours=1)).changed)

    clicker = threading.Thread(target=click)
    clicker.start()
    run_detection(engine, as_of=day1 + timedelta(days=1), alert=True, now=t1 + timedelta(days=1))
    clicker.join(30)
    with session_scope(engine) as s:
        view = incident_repo.get_incident(session=s, incident_id=number)
    assert clicked == [True]
    assert (view.status.value, view.resolved_by) == ("resolved", "U_BOSS")


def test_the_schedule_sees_yesterdays_late_data(engine):
    """A Claude Code day bucket for Mar 16 arrives after midnight: the hourly job still finds the
    spike (it looks at yesterday again), as the backtest says it would."""
    spike_day = D0 + timedelta(days=14)
    steady(engine, days=15)
    first = datetime(spike_day.year, spike_day.month, spike_day.day, tzinfo=UTC) + timedelta(days=1, hours=2, minutes=5)
    run_scheduled(engine, now=first - timedelta(hours=1))  # before the bucket arrives
    with session_scope(engine) as s:
        write_usage([rec(PEOPLE[0], spike_day, "300.00", n=1, source=Source.CLAUDE_CODE)], session=s)
    for hour in range(0, 22, 3):
        run_scheduled(engine, now=first + timedelta(hours=hour))
    with engine.connect() as c:
        incidents = c.execute(text("SELECT dedup_key FROM incident")).scalars().all()
        alerts = c.execute(text("SELECT kind FROM alert_outbox")).scalars().all()
    assert incidents == ["dev0@example.com"] and alerts == ["opened"]
    bt = backtest(engine, D0 + timedelta(days=8), spike_day, now=first)
    assert (bt.incidents, bt.alerts) == (1, 1)


def test_a_rerun_an_hour_later_without_new_data_changes_nothing(engine):
    day = D0 + timedelta(days=11)
    steady(engine, extra=[rec(PEOPLE[0], day, "300.00", n=1, hour=8),
                          rec(PEOPLE[1], day, "250.00", n=1, source=Source.CLAUDE_CODE)])
    run_detection(engine, as_of=day, alert=True, now=datetime(day.year, day.month, day.day, 10, 5, tzinfo=UTC))
    before = tables(engine)
    assert len(before["incident"]) == 2
    run_detection(engine, as_of=day, alert=True, now=datetime(day.year, day.month, day.day, 11, 5, tzinfo=UTC))
    run_detection(engine, as_of=day, alert=True, now=datetime(day.year, day.month, day.day + 1, 0, 30, tzinfo=UTC))
    assert tables(engine) == before


def test_an_older_day_never_replaces_newer_evidence_nor_alerts(engine, capsys):
    d10, d11 = D0 + timedelta(days=10), D0 + timedelta(days=11)
    steady(engine, extra=[rec(PEOPLE[0], d10, "60.00", n=1), rec(PEOPLE[0], d11, "300.00", n=1)])
    run_detection(engine, as_of=d11, alert=True, now=datetime(2026, 3, 14, tzinfo=UTC))
    run_detection(engine, as_of=d10, alert=True, now=datetime(2026, 3, 14, tzinfo=UTC))
    with session_scope(engine) as s:
        [view] = incident_repo.open_incidents(session=s)
        alerts = s.connection().execute(text("SELECT kind FROM alert_outbox")).scalars().all()
    spike = next(x for x in view.signals if x.kind.value == "spend_spike")
    assert (spike.day, spike.value) == (d11, 310.0)
    assert alerts == ["opened"]


@pytest.mark.parametrize("key,value", [("detection.cooldown_days", '"two"'), ("threshold.spend_spike_multiplier", "0"),
                                       ("threshold.zscore_min_population", "-5"), ("monthly_budget_usd", '"lots"')])
def test_a_bad_stored_setting_neither_stops_detection_nor_turns_noise_critical(engine, key, value):
    day = D0 + timedelta(days=11)
    steady(engine, extra=[rec(PEOPLE[0], day, "2.00", n=1)])  # $12 against ~$10: nothing unusual
    with session_scope(engine) as s:
        s.connection().execute(text("INSERT INTO setting (key, value, updated_at) VALUES (:k, :v, :t)"),
                               {"k": key, "v": value, "t": datetime.now(UTC)})
    run = run_detection(engine, as_of=day, alert=True, now=datetime(2026, 3, 14, tzinfo=UTC))
    assert run.anomalies == []


def test_hostile_names_cannot_forge_rows_in_the_cli_table(engine, abacus_env, capsys):
    day = D0 + timedelta(days=11)
    steady(engine, extra=[rec(PEOPLE[0], day, "300.00", n=1)])
    with session_scope(engine) as s:
        s.connection().execute(text("INSERT INTO person (email, name, role, has_cursor_seat, has_claude_seat, "
                                    "is_removed, updated_at) VALUES (:e, :n, 'member', false, false, false, :t)"),
                               {"e": PEOPLE[0], "n": "Al\n      #1  critical  spend_spike  Bob spent $9,999\x1b[2J",
                                "t": datetime.now(UTC)})
    assert main(["detect", "--as-of", day.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and len(out.strip().splitlines()) == 1 + 1  # the header and the spike
    assert "\\x0a" in out and "\\x1b[2J" in out  # shown, not acted on


@pytest.mark.parametrize("args", [["--as-of", "0001-01-01"],
                                  ["--backtest", "--from", "0001-01-01", "--to", "0001-02-01"],
                                  ["--backtest", "--from", "2026-01-01", "--to", "2999-01-01"]])
def test_absurd_dates_exit_2(engine, abacus_env, args, capsys):
    assert main(["detect", *args]) == 2
    assert "abacus:" in capsys.readouterr().err
