"""QA pass on `abacus detect`'s arguments."""

from __future__ import annotations

import pytest


def _run(args, capsys):
    from bot.cli import main

    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["detect", "--backtest", "--days", "0"], "--days must be between 1 and"),
    (["detect", "--days", "0"], "--from/--to/--days go with --backtest"),
])
def test_days_zero_is_named_as_the_problem(args, message, abacus_env, capsys):
    code, err = _run(args, capsys)
    assert code == 2 and message in err, err


def test_a_rerun_reports_the_data_time_it_stored(engine):
    """`abacus detect` for the same day twice: the JSON's data_time is the one stored with the
    anomaly (and shown in Slack), not a new "now" each run — the first run's stays."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    from bot.detect_service import run_detection
    from tests.bot.test_detect_faults import D0, PEOPLE, rec, steady

    steady(engine, days=12, extra=[rec(PEOPLE[0], D0 + timedelta(days=5), "2000.00", n=1)])
    day = D0 + timedelta(days=20)  # March, no usage that day: the cycle outlier still holds
    first = run_detection(engine, as_of=day, alert=False, now=datetime(day.year, day.month, day.day, 10, tzinfo=UTC))
    again = run_detection(engine, as_of=day, alert=False, now=datetime(day.year, day.month, day.day, 11, tzinfo=UTC))
    [a] = [x for x in first.to_json()["anomalies"] if x["kind"] == "cycle_outlier"]
    [b] = [x for x in again.to_json()["anomalies"] if x["kind"] == "cycle_outlier"]
    assert a["data_time"] == b["data_time"] == "2026-03-22T10:00:00+00:00"
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT data_at FROM anomaly WHERE kind = 'cycle_outlier'")).scalar_one()
    assert str(stored).startswith("2026-03-22 10:00:00")
