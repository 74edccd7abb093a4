"""Cell values as real exports write them: thousands separators, `$` prefixes, `Included`/`Free`,
date-only or ISO 8601 times with milliseconds, and hostile text (spreadsheet formulas, control
characters) that must never reach the store.

Every parser raises `CellProblem(why)`; the reader adds the row number, column and value.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from core.identity import normalise_email
from core.usage import EPOCH, MAX_RECORD_NANOS, MAX_TOKENS, ONE_MS, usd_to_nanos


class CellProblem(ValueError):
    """A cell that cannot be read; the message says why, in a few words."""


_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:[,\u00a0\u202f ]\d{3})+(?:\.\d+)?$")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_FREE = frozenset({"included", "free", "-", "n/a", "—"})
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# a spreadsheet evaluates a cell that starts like a formula (OWASP "CSV injection")
_FORMULA = re.compile(r"^[=+@\t\r]|^-[^\d\s.]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _number_text(text: str) -> str:
    t = text.strip()
    if _THOUSANDS.match(t):
        t = re.sub(r"[,\u00a0\u202f ]", "", t)
    return t


def tokens(text: str) -> int:
    """A token count: a non-negative integer, thousands separators allowed; blank is 0."""
    if text.isdigit():  # the common case, no regex
        n = int(text)
        if n >= MAX_TOKENS:
            raise CellProblem("impossibly large")
        return n
    t = _number_text(text)
    if not t:
        return 0
    if t.isdigit():
        n = int(t)
    elif _PLAIN_NUMBER.match(t):
        d = Decimal(t)
        if d != d.to_integral_value():
            raise CellProblem("not a whole number")
        n = int(d)
    else:
        raise CellProblem("not a number")
    if n < 0:
        raise CellProblem("negative")
    if n >= MAX_TOKENS:
        raise CellProblem("impossibly large")
    return n


def count(text: str) -> int:
    """A count that exports may write with decimals (Cursor `Requests`: 0.5, 1.4): rounded half up
    to a whole number, as the stored request count is an integer."""
    t = _number_text(text)
    if not t:
        return 0
    if not _PLAIN_NUMBER.match(t):
        raise CellProblem("not a number")
    d = Decimal(t)
    if d < 0:
        raise CellProblem("negative")
    if d >= MAX_TOKENS:
        raise CellProblem("impossibly large")
    return int(d.quantize(Decimal(1), rounding="ROUND_HALF_UP"))


_SIMPLE_AMOUNT = re.compile(r"^\d{1,12}(?:\.\d{1,9})?$")


def dollars(text: str) -> int:
    """A cost in dollars → nanos: `0.19`, `$0.19`, `$1,234.50`, `Included`/`Free` (0); blank is 0."""
    if _SIMPLE_AMOUNT.match(text):  # the common case: `0.19`
        whole, _, frac = text.partition(".")
        return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])
    t = text.strip()
    if not t or t.lower() in _FREE:
        return 0
    negative = t.startswith("-")
    if negative:
        t = t[1:].strip()
    if t.startswith("$"):
        t = t[1:].strip()
    if t.upper().endswith("USD"):
        t = t[:-3].strip()
    t = _number_text(t)
    if not _PLAIN_NUMBER.match(t) or t.startswith(("+", "-")):
        raise CellProblem("not an amount of dollars")
    try:
        nanos = usd_to_nanos(Decimal(t))
    except InvalidOperation:
        raise CellProblem("not an amount of dollars") from None
    if nanos > MAX_RECORD_NANOS:
        raise CellProblem("impossibly large")
    return -nanos if negative else nanos


def moment_ms(text: str) -> int:
    """A time → epoch ms: `2025-11-13T18:36:05.846Z`, an offset, no offset (the exports are UTC), or
    a date alone (midnight UTC)."""
    t = text.strip()
    if not t:
        raise CellProblem("missing")
    try:
        if _DATE_ONLY.match(t):
            moment = datetime.fromisoformat(t).replace(tzinfo=UTC)
        else:
            iso = t.replace(" UTC", "Z")
            if iso.endswith(("Z", "z")):
                iso = iso[:-1] + "+00:00"
            moment = datetime.fromisoformat(iso)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        raise CellProblem("not a date (expected YYYY-MM-DD or an ISO 8601 time)") from None
    if not 2000 <= moment.year <= 2200:
        raise CellProblem("date out of range")
    return (moment - EPOCH) // ONE_MS


def day(text: str) -> date:
    """A UTC calendar day: `YYYY-MM-DD` (an ISO time at midnight is accepted too)."""
    ms = moment_ms(text)
    return (EPOCH + ms * ONE_MS).date()


def safe_text(text: str, *, what: str, limit: int = 255, required: bool = False) -> str:
    """Free text bound for the store: trimmed, no control characters, not a spreadsheet formula."""
    t = text.strip()
    if not t:
        if required:
            raise CellProblem("missing")
        return ""
    if len(t) > limit:
        raise CellProblem(f"{what} is longer than {limit} characters")
    if _CONTROL.search(t):
        raise CellProblem(f"{what} contains control characters")
    if _FORMULA.match(t):
        raise CellProblem(f"{what} looks like a spreadsheet formula (CSV injection)")
    return t


def email(text: str) -> str:
    t = text.strip()
    if not t:
        raise CellProblem("missing")
    safe_text(t, what="email", limit=254)
    try:
        return normalise_email(t)
    except ValueError:
        raise CellProblem("not an email address") from None


def yes_no(text: str) -> bool | None:
    t = text.strip().lower()
    if t in ("yes", "true", "1", "y"):
        return True
    if t in ("no", "false", "0", "n"):
        return False
    if not t:
        return None
    raise CellProblem("expected Yes or No")
