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


def test_a_day_of_month_and_a_day_of_week_both_given_run_on_either_as_in_crontab():
    """crontab(5): 'If both fields are restricted, the command runs when either field matches' —
    `0 9 1 * 1` is the 1st of every month and every Monday, not only the Mondays that are a 1st."""
    trigger, out, at, prev = cron_trigger("0 9 1 * 1"), [], datetime(2026, 12, 1, 10, tzinfo=UTC), None
    for _ in range(6):
        prev = trigger.get_next_fire_time(prev, at)
        out.append(prev.strftime("%a %Y-%m-%d %H:%M"))
        at = prev.replace(minute=1)
    assert out == ["Mon 2026-12-07 09:00", "Mon 2026-12-14 09:00", "Mon 2026-12-21 09:00", "Mon 2026-12-28 09:00",
                   "Fri 2027-01-01 09:00", "Mon 2027-01-04 09:00"]
    assert fires("0 9 */2 * 1", 3) == ["Mon"] * 3  # a field starting with `*` restricts nothing: both must match


def test_a_schedule_that_never_fires_is_refused_in_one_line():
    with pytest.raises(ConfigError) as err:
        load_settings(ABACUS_SYNC_SCHEDULE="0 0 31 4 *")  # April has no 31st: the sync would never run
    assert str(err.value) == "ABACUS_SYNC_SCHEDULE: this cron expression never fires (no such date)"
