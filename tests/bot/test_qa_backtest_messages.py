"""`abacus detect --backtest`'s `alerts` counts the messages a team would see: four or more
incidents opening in one run are one summary message, as the real sender posts them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from bot.cli import main
from core.usage import Feed, Source, UsageRecord, natural_key, usd_to_nanos
from storage import settings_repo
from storage.db import session_scope
from storage.usage_repo import write_usage

START = date(2026, 1, 1)
PEOPLE = [f"p{i}@example.com" for i in range(6)]


def rec(person: str, day: date, usd: str, requests: int = 1, n: int = 0) -> UsageRecord:
    return UsageRecord(source=Source.CURSOR, feed=Feed.CURSOR_EVENTS,
                       natural_key=natural_key("qa-bt", person, day.isoformat(), n),
                       ts=datetime(day.year, day.month, day.day, 9 + n, tzinfo=UTC), person=person,
                       raw_model="sonnet-4.5", model="sonnet-4.5", input_tokens=10, output_tokens=1,
                       cost_nanos=usd_to_nanos(usd), requests=requests)


def test_backtest_alerts_equal_the_messages_day_by_day_runs_post(engine, abacus_env, fake_slack, monkeypatch,
                                                                  capsys):
    # Jan 1–8, everyone $1 a day; on Jan 4 p0…p4 spend $30 more: five cross the $30 cycle limit in one
    # run (one summary message); p5 makes 80 more requests on Jan 6 (over 50: one message of its own).
    rows = [rec(p, START + timedelta(days=d), "1") for d in range(8) for p in PEOPLE]
    rows += [rec(p, date(2026, 1, 4), "30", n=1) for p in PEOPLE[:5]]
    rows.append(rec(PEOPLE[5], date(2026, 1, 6), "0.5", requests=80, n=1))
    with session_scope(engine) as s:
        write_usage(rows, session=s)
        settings_repo.set_setting(session=s, key="threshold.max_spend_per_cycle_usd", value=30.0, by="qa")
        settings_repo.set_setting(session=s, key="threshold.max_requests_per_day", value=50, by="qa")

    assert main(["detect", "--backtest", "--from", "2026-01-01", "--to", "2026-01-08", "--format", "json"]) == 0
    replay = json.loads(capsys.readouterr().out)

    for name, value in {**fake_slack.env(), "ABACUS_ALERT_CHANNEL": "C0ALERTS"}.items():
        monkeypatch.setenv(name, value)
    for d in range(8):
        assert main(["detect", "--as-of", (START + timedelta(days=d)).isoformat()]) == 0
    posted = [c for c in fake_slack.calls("chat.postMessage") if c.ok and not c.get("thread_ts")]
    assert len(posted) == 2  # the summary of #1–#5, then #6
    assert (replay["incidents"], replay["alerts"]) == (6, 2)
