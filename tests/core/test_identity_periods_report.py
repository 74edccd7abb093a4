from datetime import date

import pytest

from core.identity import IdentityResolver, KeyOwner, MappedHow, email_from_key_name, normalise_email
from core.periods import DateRange, PeriodError, from_args, parse_day, parse_period
from core.report import Dimension, Report, ReportRow, UsageTotals, spreadsheet_safe, to_csv
from core.usage import OccurrenceCounter, cursor_event_key, nanos_to_usd, usd_to_nanos


def test_key_name_pattern():
    assert email_from_key_name("claude_code_key_jane.doe_ab12", "example.com") == "jane.doe@example.com"
    assert email_from_key_name("claude_code_key_Jane.Doe_x9z8", "Example.com") == "jane.doe@example.com"
    assert email_from_key_name("ci-bot-key", "example.com") is None
    assert email_from_key_name("claude_code_key_jane.doe_ab12", None) is None


def test_resolver_precedence_manual_beats_vendor_beats_pattern():
    r = IdentityResolver("example.com")
    name = "claude_code_key_jane.doe_ab12"
    assert r.person(key_name=name) == "jane.doe@example.com"
    r.learn(name, KeyOwner("vendor@example.com", MappedHow.VENDOR))
    assert r.person(key_name=name) == "vendor@example.com"
    r.learn(name, KeyOwner("manual@example.com", MappedHow.MANUAL))
    r.learn(name, KeyOwner("late-vendor@example.com", MappedHow.VENDOR))
    assert r.person(key_name=name) == "manual@example.com"
    assert r.person(key_id="apikey_01X", key_name="odd-key") == "unmapped:odd-key"


@pytest.mark.parametrize("bad", ["", "nobody", "a@b", "<script>@x.com", "a b@c.com", "x" * 300 + "@a.com",
                                 "bob@o'reilly.com", "`x`@a.com", "a,b@c.com"])
def test_normalise_email_rejects(bad):
    with pytest.raises(ValueError):
        normalise_email(bad)


def test_normalise_email_accepts_an_apostrophe_in_the_local_part():
    """Real addresses (and what Cursor sends for them): mapping or grouping such a person works."""
    assert normalise_email("Siobhan.O'Brien@Example.com") == "siobhan.o'brien@example.com"


def test_normalise_email_accepts_slack_mailto():
    assert normalise_email("<mailto:Bob@Example.com|Bob@Example.com>") == "bob@example.com"


def test_periods():
    today = date(2026, 3, 10)
    assert parse_period("7d", today=today) == DateRange(date(2026, 3, 4), today)
    assert parse_period(None, today=today).days == 30
    assert parse_period("1y", today=today).days == 365
    assert parse_period("2026-01-01..2026-01-31", today=today) == DateRange(date(2026, 1, 1), date(2026, 1, 31))
    assert from_args("2026-01-01", "2026-01-02", None, today=today).days == 2
    assert from_args(None, None, 3, today=today) == DateRange(date(2026, 3, 8), today)
    for bad in ("7x", "2026-02-30..2026-03-01", "2026-03-01..2026-02-01", "'; drop table"):
        with pytest.raises(PeriodError):
            parse_period(bad, today=today)
    with pytest.raises(PeriodError):
        from_args("2026-01-01", None, 3, today=today)


def test_money_is_exact_and_rounds_half_even():
    assert usd_to_nanos("0.19") == 190_000_000
    assert nanos_to_usd(123_450_000) == 0.1234  # half-even at the 4th decimal
    assert nanos_to_usd(123_550_000) == 0.1236


def test_identical_cursor_events_stay_apart_but_refetch_is_stable():
    def keys():
        c = OccurrenceCounter()
        return [cursor_event_key(c, 1750979225854, "a@x.com", "gpt-5", 1, 2, 3, 4) for _ in range(3)]
    first, second = keys(), keys()
    assert len(set(first)) == 3 and first == second


def test_csv_is_safe_in_spreadsheets():
    assert spreadsheet_safe("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert spreadsheet_safe("@SUM(1)") == "'@SUM(1)"
    assert spreadsheet_safe("bob@example.com") == "bob@example.com"
    rep = Report(period=DateRange(date(2026, 1, 1), date(2026, 1, 1)), by=Dimension.USER,
                 rows=[ReportRow("=cmd|' /C calc'!A0", UsageTotals(input_tokens=1))], totals=UsageTotals())
    assert "\n'=cmd" in to_csv(rep)


@pytest.mark.parametrize("text", ["2026W011", "20260131", "2026-1-31", "２０２６-01-31", "2026-01-31T00:00",
                                  "2026-02-30"])
def test_a_day_is_written_yyyy_mm_dd_and_nothing_else(text):
    with pytest.raises(PeriodError, match="want YYYY-MM-DD"):
        parse_day(text)


def test_a_day_may_carry_spaces_around_it():
    assert parse_day(" 2026-01-31 ") == date(2026, 1, 31)
