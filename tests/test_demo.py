"""`abacus demo`: offline, deterministic, idempotent, both tools, planted anomalies, charts."""

from __future__ import annotations

import json
import time
from datetime import date

from bot.cli import main
from core.synthetic import build_team


def test_team_shape_is_deterministic():
    a = build_team(people=48, days=90, end=date(2026, 3, 31), seed=42)
    b = build_team(people=48, days=90, end=date(2026, 3, 31), seed=42)
    assert [p.email for p in a.people] == [p.email for p in b.people]
    assert len({p.email for p in a.people}) == 48
    ra, rb = list(a.records()), list(b.records())
    assert [r.natural_key for r in ra] == [r.natural_key for r in rb]
    assert len({(r.source, r.natural_key) for r in ra}) == len(ra)  # no two records share a key
    sources = {r.source.value for r in ra}
    assert sources == {"claude_code", "cursor"}
    kinds = {x.kind for x in a.anomalies}
    assert {"spend_spike", "runaway_context", "cycle_outlier"} <= kinds
    # weekday rhythm: weekend days carry far less usage than weekdays
    weekday = sum(r.cost_nanos for r in ra if r.ts.weekday() < 5) / (5 * 13)
    weekend = sum(r.cost_nanos for r in ra if r.ts.weekday() >= 5) / (2 * 13)
    assert weekend < weekday * 0.35


def test_demo_command_writes_a_team_and_is_idempotent(abacus_env, tmp_path, capsys):
    out_dir = tmp_path / "charts"
    assert main(["demo", "--out", str(out_dir)]) == 0
    first = capsys.readouterr().out
    assert "48 people" in first and "planted anomalies" in first
    # detection ran over the last 30 days and found every planted anomaly, with its MTTD
    assert first.count("found: incident #") == 3 and "not found" not in first and "MTTD" in first
    from sqlalchemy import create_engine, text

    with create_engine(abacus_env["DATABASE_URL"]).connect() as c:  # nothing dated after the present
        latest = c.execute(text("SELECT MAX(ts_ms) FROM usage_event")).scalar()
    assert latest <= time.time() * 1000
    assert main(["report", "--by", "user", "--format", "json", "--days", "90"]) == 0
    report = json.loads(capsys.readouterr().out)
    people = [r for r in report["rows"] if not r["key"].startswith("unmapped:")]
    assert len(people) >= 40
    assert any(r["key"].startswith("unmapped:") for r in report["rows"])
    pngs = list(out_dir.glob("*.png"))
    assert f"charts:  {len(pngs)} PNG files in {out_dir}/" in first
    assert len(pngs) >= 5 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)

    assert main(["demo", "--out", str(out_dir)]) == 0
    assert ", 0 new," in capsys.readouterr().out
    assert main(["report", "--by", "user", "--format", "json", "--days", "90"]) == 0
    assert json.loads(capsys.readouterr().out) == report


def test_demo_rejects_silly_sizes(abacus_env, capsys):
    assert main(["demo", "--people", "1"]) == 2
    assert "--people" in capsys.readouterr().err


def test_demo_charts_are_wired_not_guessed(abacus_env, tmp_path, monkeypatch, capsys):
    # a chart module that fails to import is an error, not a demo that quietly renders nothing
    import sys

    import pytest

    monkeypatch.setitem(sys.modules, "bot.services.charts_export", None)  # its import raises ImportError
    with pytest.raises(ImportError):
        main(["demo", "--people", "5", "--days", "7", "--out", str(tmp_path / "charts")])


def test_a_demo_with_other_parameters_replaces_the_earlier_ones_incidents_and_people(abacus_env, tmp_path, capsys):
    # README: "a demo with other parameters replaces the earlier one" — not only its usage: its
    # incidents were found again by the new demo's replay and reported as the new team's
    import re

    from sqlalchemy import create_engine, text

    out = str(tmp_path / "charts")
    assert main(["demo", "--days", "40", "--out", out]) == 0
    capsys.readouterr()
    assert main(["demo", "--people", "10", "--seed", "7", "--days", "40", "--out", out]) == 0
    summary = capsys.readouterr().out
    [(count, days)] = re.findall(r"detection: (\d+) incidents over the last (\d+) days", summary)
    assert main(["report", "--by", "user", "--format", "json", "--days", "60"]) == 0
    subjects = {r["key"] for r in json.loads(capsys.readouterr().out)["rows"]}
    assert len([s for s in subjects if not s.startswith("unmapped:")]) == 10
    with create_engine(abacus_env["DATABASE_URL"]).connect() as c:
        people = c.execute(text("SELECT email FROM person")).scalars().all()
        incidents = c.execute(text("SELECT user_email FROM incident")).scalars().all()
        first, last = c.execute(text("SELECT MIN(day), MAX(day) FROM usage_event")).one()
    assert sorted(people) == sorted(s for s in subjects if not s.startswith("unmapped:"))
    assert set(incidents) - {None} <= subjects  # nobody from the earlier team
    assert len(incidents) == int(count)
    # the summary's count is what a backtest of the same days says
    end = last if isinstance(last, date) else date.fromisoformat(str(last)[:10])
    start = end.toordinal() - int(days) + 1
    assert main(["detect", "--backtest", "--from", date.fromordinal(start).isoformat(), "--to", end.isoformat(),
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["incidents"] == int(count)
