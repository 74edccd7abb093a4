"""`abacus detect` end to end on SQLite and Postgres: exact figures, one incident per subject,
idempotent re-runs, `--backtest` writes nothing and agrees with day-by-day runs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.cli import main
from core.usage import Feed, Source, UsageRecord, natural_key, usd_to_nanos
from storage.db import make_engine, session_scope, upgrade
from storage.usage_repo import write_usage

DAY0 = date(2026, 3, 2)  # a Monday; data runs DAY0 … DAY0 + 20
SPIKE_DAY = DAY0 + timedelta(days=14)
PEOPLE = [f"dev{i}@example.com" for i in range(8)]


def rec(person: str, day: date, usd: str, model: str = "sonnet-4.5", source: Source = Source.CURSOR, n: int = 0,
        requests: int = 1) -> UsageRecord:
    ts = datetime(day.year, day.month, day.day, 9 + n, tzinfo=UTC)
    return UsageRecord(source=source, feed=Feed.CURSOR_EVENTS if source is Source.CURSOR else
                       Feed.CLAUDE_CODE_ANALYTICS, natural_key=natural_key("t", person, day.isoformat(), model, n),
                       ts=ts, person=person, raw_model=model, model=model, input_tokens=1000, output_tokens=100,
                       cost_nanos=usd_to_nanos(usd), requests=requests if source is Source.CURSOR else 0)


def fixture_records() -> list[UsageRecord]:
    out = []
    for d in range(21):
        day = DAY0 + timedelta(days=d)
        for i, p in enumerate(PEOPLE):
            out.append(rec(p, day, f"{10 + i}.00"))  # dev0 $10 … dev7 $17 every day
    # the spike: dev0 on SPIKE_DAY, $10 → $10 + $300 on opus-4.5 in Claude Code + $50 more on sonnet in Cursor
    out.append(rec("dev0@example.com", SPIKE_DAY, "300.00", model="opus-4.5", source=Source.CLAUDE_CODE, n=1))
    out.append(rec("dev0@example.com", SPIKE_DAY, "50.00", n=2))
    return out


@pytest.fixture
def env(abacus_env, database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    with session_scope(engine) as s:
        write_usage(fixture_records(), session=s)
    yield engine
    engine.dispose()


def detect(capsys, *args) -> dict:
    assert main(["detect", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def counts(engine) -> tuple:
    with engine.connect() as c:
        return tuple(c.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in
                     ("incident", "incident_event", "anomaly", "alert_outbox"))


def test_detect_finds_the_spike_with_its_evidence(env, capsys):
    out = detect(capsys, "--as-of", SPIKE_DAY.isoformat())
    assert out["as_of"] == SPIKE_DAY.isoformat()
    got = {a["kind"]: a for a in out["anomalies"]}
    assert set(got) == {"spend_spike", "zscore_spend"}
    assert got["spend_spike"]["incident_id"] == got["zscore_spend"]["incident_id"]  # one incident, two signals
    # z-score by hand: 360 and 11…17 → mean 458 / 8 = 57.25, σ = √(Σx²/8 − 57.25²)
    squares = 360 ** 2 + sum(x * x for x in range(11, 18))
    sigma = (squares / 8 - 57.25 ** 2) ** 0.5
    assert got["zscore_spend"]["threshold"] == 57.25
    assert got["zscore_spend"]["ratio"] == round((360 - 57.25) / sigma, 4)
    spike = got["spend_spike"]
    # by hand: dev0 spent 10 + 300 + 50 = $360 against the mean of his 7 previous days with data ($10): 36×
    assert (spike["user"], spike["value"], spike["threshold"], spike["severity"]) == (
        "dev0@example.com", 360.0, 10.0, "critical")
    assert (spike["tool"], spike["model"], spike["model_share"]) == ("claude_code", "opus-4.5", round(300 / 360, 4))
    assert spike["message"] == ("dev0@example.com spent $360 on Mon 2026-03-16, 36.0× their 7-day average of $10; "
                                "83 % of it on opus-4.5 in Claude Code")
    # the data time: Claude Code analytics rows are day buckets, complete at the end of the day
    assert spike["data_time"] == "2026-03-17T00:00:00+00:00"
    assert isinstance(spike["incident_id"], int)


def test_two_layers_are_one_incident_and_reruns_change_nothing(env, capsys):
    first = detect(capsys, "--as-of", SPIKE_DAY.isoformat())
    kinds = sorted(a["kind"] for a in first["anomalies"])
    assert kinds == ["spend_spike", "zscore_spend"]
    assert len({a["incident_id"] for a in first["anomalies"]}) == 1
    before = counts(env)
    assert before == (1, 1, 2, 1)  # one incident, its opening audit row, two anomalies, one alert
    second = detect(capsys, "--as-of", SPIKE_DAY.isoformat())
    assert second == first and counts(env) == before


def test_no_alert_queues_nothing_and_a_later_run_queues_the_first_alert(env, capsys):
    detect(capsys, "--as-of", SPIKE_DAY.isoformat(), "--no-alert")
    assert counts(env)[0] == 1 and counts(env)[3] == 0
    detect(capsys, "--as-of", SPIKE_DAY.isoformat())
    with env.connect() as c:
        assert c.execute(text("SELECT kind FROM alert_outbox")).scalars().all() == ["opened"]


def test_backtest_writes_nothing_and_agrees_with_day_by_day_runs(env, capsys):
    start, end = DAY0 + timedelta(days=8), DAY0 + timedelta(days=20)
    before = counts(env)
    bt = detect(capsys, "--backtest", "--from", start.isoformat(), "--to", end.isoformat())
    assert counts(env) == before == (0, 0, 0, 0)
    assert (bt["from"], bt["to"], bt["incidents"], bt["alerts"]) == (start.isoformat(), end.isoformat(), 1, 1)
    assert [d["day"] for d in bt["days"]] == [SPIKE_DAY.isoformat()]
    day = start
    live: dict[str, list] = {}
    while day <= end:
        out = detect(capsys, "--as-of", day.isoformat())
        if out["anomalies"]:
            live[day.isoformat()] = [(a["user"], a["kind"], a["severity"], a["message"]) for a in out["anomalies"]]
        day += timedelta(days=1)
    replayed = {d["day"]: [(a["user"], a["kind"], a["severity"], a["message"]) for a in d["anomalies"]]
                for d in bt["days"]}
    assert live == replayed
    with env.connect() as c:
        rows = c.execute(text("SELECT dedup_key, status FROM incident")).all()
        alerts = c.execute(text("SELECT kind FROM alert_outbox ORDER BY id")).scalars().all()
    # the spike's incident resolved itself after two clean days; one opening alert, one resolution reply
    assert rows == [("dev0@example.com", "resolved")] and alerts == ["opened", "resolved"]


def test_bad_arguments_exit_2_and_write_nothing(env, capsys):
    before = counts(env)
    future = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    for args in (["--as-of", "yesterday"], ["--as-of", future], ["--backtest"], ["--backtest", "--as-of", "2026-01-01"],
                 ["--days", "3"]):
        assert main(["detect", *args]) == 2, args
    assert counts(env) == before


def test_settings_an_admin_stores_are_what_detection_reads(env, capsys):
    from storage.settings_repo import set_setting

    with session_scope(env) as s:  # App Home → setting table; by hand: dev0 made 2 requests that day, others 1
        set_setting(session=s, key="threshold.max_requests_per_day", value=1, by="U0ADMIN")
        set_setting(session=s, key="threshold.spend_spike_multiplier", value=40.0, by="U0ADMIN")  # 36× is under
    out = detect(capsys, "--as-of", SPIKE_DAY.isoformat())
    got = {(a["user"], a["kind"]): (a["severity"], a["value"], a["threshold"]) for a in out["anomalies"]}
    assert got == {("dev0@example.com", "requests_per_day"): ("warning", 2.0, 1.0),
                   ("dev0@example.com", "zscore_spend"): ("warning", 360.0, 57.25)}


def test_the_database_aggregates_match_the_matrix_the_backtest_uses(env):
    """`abacus detect` reads one day's inputs aggregated by the database; the backtest builds them
    from the person × day matrix. Both must be the same numbers, on every day."""
    import numpy as np

    from core.detection.config import cycle_containing
    from core.detection.layers import DayContext, DayInputs
    from storage import detection_repo

    with session_scope(env) as s:
        # a gap in dev3's history (days without data are skipped by the baseline)
        s.connection().execute(text("DELETE FROM usage_person_total_day WHERE person = 'dev3@example.com' "
                                    "AND day IN (:a, :b)"),
                               {"a": DAY0 + timedelta(days=12), "b": DAY0 + timedelta(days=13)})
        matrix = detection_repo.load_matrix(session=s, start=DAY0 - timedelta(days=40), end=DAY0 + timedelta(days=20))
        for offset in (0, 1, 7, 13, 14, 20):
            day = DAY0 + timedelta(days=offset)
            cycle = cycle_containing(day, 1)
            floor = 12 * 10 ** 9  # $12: dev2 … dev7 (and dev0 on the spike day) have baselines
            a = detection_repo.load_day_inputs(session=s, day=day, cycle=cycle, fraction=1.0, lookback_days=7,
                                               spike_floor_nanos=floor)
            b = DayInputs.from_matrix(matrix, DayContext.build(matrix, day, cycle, None), 7, floor)
            assert a.baseline_days.sum() > 0 or offset == 0
            keep = [i for i, p in enumerate(b.subjects) if p in a.subjects]
            assert a.subjects == [b.subjects[i] for i in keep]
            for field in ("cost", "requests", "tokens", "cycle_cost", "baseline_days"):
                assert np.array_equal(getattr(a, field), getattr(b, field)[keep]), (day, field)
            assert np.allclose(a.baseline_mean, b.baseline_mean[keep]), day
