"""Crontab weekdays mean what crontab(5) says (APScheduler 3 alone would shift them by one)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.config import load_settings
from bot.cron import cron_trigger
from core.errors import ConfigError

SUNDAY = datetime(2026, 3, 1, tzinfo=UTC)  # 2026-03-01 is a Sunday


def fires(expression: str, n: int = 7) -> list[str]:
    trigger, out, at = cron_trigger(expression), [], SUNDAY
    prev = None
    for _ in range(n):
        prev = trigger.get_next_fire_time(prev, at)
        out.append(prev.strftime("%a"))
        at = prev.replace(hour=23, minute=59)
    return out


@pytest.mark.parametrize("expression,days", [
    ("0 9 * * 1", ["Mon"] * 3),
    ("0 9 * * 0", ["Sun"] * 3),
    ("0 9 * * 7", ["Sun"] * 3),
    ("0 9 * * 1-5", ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon", "Tue"]),
    ("0 9 * * 1,3,5", ["Mon", "Wed", "Fri"]),
    ("0 9 * * */2", ["Sun", "Tue", "Thu", "Sat"]),
    ("0 9 * * 1-5/2", ["Mon", "Wed", "Fri"]),
    ("0 9 * * mon", ["Mon"] * 3),
    ("0 9 * * *", ["Sun", "Mon", "Tue"]),
])
def test_weekdays_follow_crontab(expression, days):
    assert fires(expression, len(days)) == days


@pytest.mark.parametrize("bad", ["0 9 * * 8", "0 9 * *", "0 9 * * 5-1", "61 * * * *", "0 9 * * 1/0"])
def test_bad_expressions_are_refused_in_one_line(bad):
    with pytest.raises(ConfigError) as err:
        load_settings(ABACUS_DIGEST_SCHEDULE=bad)
    assert str(err.value).startswith("ABACUS_DIGEST_SCHEDULE: not a cron expression")
    assert "\n" not in str(err.value)


def test_the_digest_can_be_off():
    assert load_settings(ABACUS_DIGEST_SCHEDULE="off").digest_schedule == "off"
    assert load_settings(ABACUS_DIGEST_SCHEDULE="OFF").digest_schedule == "off"
