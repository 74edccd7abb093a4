"""Cron expressions as operators write them (crontab(5): day of week 0 or 7 = Sunday, 1 = Monday)
turned into APScheduler triggers. APScheduler 3 counts weekdays from Monday = 0, so its
`CronTrigger.from_crontab("0 9 * * 1")` fires on Tuesdays; numeric weekdays are rewritten as
names here, so `ABACUS_DIGEST_SCHEDULE=0 9 * * 1` means Monday, as documented. And when both the
day of month and the day of week are restricted (neither starts with `*`), crontab(5) runs on
either (`0 9 1 * 1`: the 1st of the month and every Monday) where APScheduler wants both; such a
line becomes the union of the two schedules here."""

from __future__ import annotations

from datetime import tzinfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _number(token: str) -> int:
    if not token.isdigit() or not 0 <= int(token) <= 7:
        raise ValueError(f"day of week {token!r} is not 0-7 or a name")
    return int(token)


def _weekdays(field: str) -> str:
    """A crontab day-of-week field with numbers → the same days as APScheduler names."""
    if not any(ch.isdigit() for ch in field):
        return field  # `*`, names, name ranges: the same in both
    days: list[int] = []
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = _number(step_text) if step_text else 1
        if step == 0:
            raise ValueError("a step of 0")
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            lo_text, _, hi_text = base.partition("-")
            lo, hi = _number(lo_text), _number(hi_text)
            if hi < lo:
                raise ValueError(f"day range {base!r} runs backwards")
        else:
            lo = _number(base)
            hi = 6 if step_text else lo
        days.extend(range(lo, hi + 1, step))
    names = []
    for day in days:
        name = _DAY_NAMES[day]
        if name not in names:
            names.append(name)
    return ",".join(names)


def cron_trigger(expression: str, *, timezone: tzinfo | str = "UTC") -> BaseTrigger:
    """Raises ValueError with a short reason for anything that is not a 5-field crontab line."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"Wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, weekday = fields
    days_of_week = _weekdays(weekday)
    if not day.startswith("*") and not weekday.startswith("*"):  # crontab(5): either day matches
        return OrTrigger([CronTrigger(minute=minute, hour=hour, day=day, month=month, timezone=timezone),
                          CronTrigger(minute=minute, hour=hour, month=month, day_of_week=days_of_week,
                                      timezone=timezone)])
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=days_of_week,
                       timezone=timezone)
