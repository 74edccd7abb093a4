"""Vendor analytics (Cursor Analytics API) per team, day, metric and key: replaced per synced range,
summarised for `/abacus adoption` (core.adoption)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import text

from core.adoption import (
    CursorAnalyticsSummary,
    CursorUserAnalytics,
    summarise_cursor_analytics,
    summarise_user_analytics,
)
from core.periods import DateRange
from core.sources.cursor_analytics import AnalyticsRecord, UserAnalyticsRecord

if TYPE_CHECKING:  # a Session or storage.db.Unit: only `.connection()` / `.get_bind()` are used
    from sqlmodel import Session


def replace_vendor_analytics(*, session: Session, source: str, org: str, metric: str, start: date, end: date,
                             records: Sequence[AnalyticsRecord]) -> None:
    """Make the stored rows of (source, org, metric) in [start, end] exactly `records`: one delete,
    one batched insert."""
    conn = session.connection()
    conn.execute(text("DELETE FROM vendor_analytics WHERE source = :s AND org = :o AND metric = :m "
                      "AND day >= :a AND day <= :b"), {"s": source, "o": org, "m": metric, "a": start, "b": end})
    rows = [{"s": source, "o": org, "d": r.day, "m": metric, "k": r.key, "v": r.value, "u": r.users, "x": r.extra}
            for r in records if start <= r.day <= end]
    if rows:
        conn.execute(text("INSERT INTO vendor_analytics (source, org, day, metric, key, value, users, extra) "
                          "VALUES (:s, :o, :d, :m, :k, :v, :u, :x)"), rows)


def replace_user_vendor_analytics(*, session: Session, source: str, org: str, metric: str, start: date, end: date,
                                  records: Sequence[UserAnalyticsRecord]) -> None:
    """Make the stored by-user rows of (source, org, metric) in [start, end] exactly `records`: one
    delete, one batched insert (a person the vendor no longer reports for a day loses that day)."""
    conn = session.connection()
    conn.execute(text("DELETE FROM vendor_user_analytics WHERE source = :s AND org = :o AND metric = :m "
                      "AND day >= :a AND day <= :b"), {"s": source, "o": org, "m": metric, "a": start, "b": end})
    rows = [{"s": source, "o": org, "p": r.person, "d": r.day, "m": metric, "k": r.key, "v": r.value, "x": r.extra}
            for r in records if start <= r.day <= end]
    if rows:
        conn.execute(text("INSERT INTO vendor_user_analytics (source, org, person, day, metric, key, value, extra) "
                          "VALUES (:s, :o, :p, :d, :m, :k, :v, :x)"), rows)


def cursor_user_analytics(*, session: Session, person: str, period: DateRange) -> CursorUserAnalytics | None:
    """One person's by-user Cursor Analytics for the period, summed over teams; None when none is
    stored for them."""
    rows = session.connection().execute(text(
        "SELECT day, metric, key, SUM(value), SUM(extra) FROM vendor_user_analytics "
        "WHERE source = 'cursor' AND person = :p AND day >= :a AND day <= :b GROUP BY day, metric, key"),
        {"p": person.strip().lower(), "a": period.start, "b": period.end}).all()
    if not rows:
        return None
    return summarise_user_analytics([(_d(d), str(m), str(k), int(v or 0), None if x is None else int(x))
                                     for d, m, k, v, x in rows])


def cursor_analytics(*, session: Session, period: DateRange) -> CursorAnalyticsSummary | None:
    """The period's Cursor Analytics, summed over teams; None when none is stored for it."""
    rows = session.connection().execute(text(
        "SELECT day, metric, key, SUM(value), SUM(users), SUM(extra) FROM vendor_analytics "
        "WHERE source = 'cursor' AND day >= :a AND day <= :b GROUP BY day, metric, key"),
        {"a": period.start, "b": period.end}).all()
    if not rows:
        return None
    return summarise_cursor_analytics(
        period.days, [(_d(d), str(m), str(k), int(v or 0), None if u is None else int(u), None if x is None else int(x))
                      for d, m, k, v, u, x in rows])


def _d(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
