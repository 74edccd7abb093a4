"""The /abacus grammar: every subcommand, defaults, and hostile text that must end in a short
usage error (never an exception of another kind)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.services.grammar import (
    MAX_TEXT,
    Command,
    SortField,
    Sub,
    UsageError,
    parse_command,
    parse_sort,
    parse_user_ref,
    unescape,
)
from core.periods import DateRange

TODAY = date(2026, 3, 15)


def parse(text: str) -> Command:
    return parse_command(text, today=TODAY)


def test_empty_and_help():
    assert parse("").sub is Sub.HELP
    assert parse("   ").sub is Sub.HELP
    assert parse("help").sub is Sub.HELP
    assert parse("HELP me please").sub is Sub.HELP
    assert parse("?").sub is Sub.HELP
    assert parse_command(None).sub is Sub.HELP


def test_default_period_is_30_days_ending_today():
    cmd = parse("dashboard")
    assert cmd.period == DateRange(date(2026, 2, 14), date(2026, 3, 15))
    assert cmd.period_text == "30d"
    assert not cmd.share


@pytest.mark.parametrize("text,start,end", [
    ("dashboard 7d", date(2026, 3, 9), date(2026, 3, 15)),
    ("dashboard 90d", date(2025, 12, 16), date(2026, 3, 15)),
    ("dashboard 1y", date(2025, 3, 16), date(2026, 3, 15)),
    ("dashboard 2026-01-01..2026-01-31", date(2026, 1, 1), date(2026, 1, 31)),
])
def test_periods(text, start, end):
    assert parse(text).period == DateRange(start, end)


def test_trailing_share():
    cmd = parse("top 5 7d cursor share")
    assert (cmd.sub, cmd.n, cmd.period_text, cmd.source, cmd.share) == (Sub.TOP, 5, "7d", "cursor", True)
    assert parse("share").sub is Sub.HELP and parse("share").share
    assert parse("dashboard SHARE").share


def test_top_arguments_any_order_and_defaults():
    assert parse("top").n == 10 and parse("top").source is None
    cmd = parse("top claude 90d 3")
    assert (cmd.n, cmd.source, cmd.period_text) == (3, "claude_code", "90d")
    for bad in ("top 0", "top 51", "top 99999999999999999999", "top 5 5", "top cursor claude", "top banana",
                "top \u00b2", "top \u0663"):
        with pytest.raises(UsageError) as err:
            parse(bad)
        assert err.value.sub is Sub.TOP


def test_user_by_mention_or_email():
    cmd = parse("user <@U0BOB|bob> 7d")
    assert (cmd.target_user_id, cmd.target_email, cmd.period_text) == ("U0BOB", None, "7d")
    assert parse("user <@W12345>").target_user_id == "W12345"
    assert parse("user <mailto:Bob@Example.com|Bob@Example.com>").target_email == "bob@example.com"
    assert parse("user bob@example.com").target_email == "bob@example.com"
    for bad in ("user", "user @bob", "user <!channel>", "user <#C123|general>", "user bob"):
        with pytest.raises(UsageError):
            parse(bad)


def test_me_and_period_only_commands():
    for sub in ("me", "models", "groups", "adoption", "export"):
        assert parse(f"{sub} 7d").period_text == "7d"
        with pytest.raises(UsageError):
            parse(f"{sub} 7d extra")
        with pytest.raises(UsageError):
            parse(f"{sub} yesterday")


def test_no_argument_commands():
    for sub in ("forecast", "incidents", "unmapped", "settings"):
        assert parse(sub).sub == Sub(sub)
        with pytest.raises(UsageError) as err:
            parse(f"{sub} now")
        assert err.value.sub == Sub(sub)


def test_users_sort_and_filter():
    cmd = parse("users 90d sort:name platform team")
    assert (cmd.period_text, cmd.sort, cmd.descending, cmd.query) == ("90d", SortField.NAME, False, "platform team")
    cmd = parse("users sort:tokens")
    assert (cmd.sort, cmd.descending, cmd.query) == (SortField.TOKENS, True, "")
    assert parse("users sort:cost:asc").descending is False
    assert parse("users sort:-name").descending is True
    assert parse("users a&amp;b").query == "a&b"
    assert parse("users 7d sort:spend <@U123|ann>").query == "<@U123|ann>"
    mention_first = parse("users <@U123> 7d")  # the period after the mention, as `user @ann 7d` takes it
    assert (mention_first.query, mention_first.period_text) == ("<@U123>", "7d")
    for text in ("users 30d <@U123> 7d", "users <@U123|ann> platform", "users team <@U123>"):
        with pytest.raises(UsageError, match="a mention filters by that person alone"):
            parse(text)  # was: the whole text as a filter, 'no one matches'
    with pytest.raises(UsageError):
        parse("users sort:salary")
    with pytest.raises(UsageError):
        parse("users " + "x" * 81)


def test_parse_sort_aliases():
    assert parse_sort("cost") == (SortField.SPEND, True)
    assert parse_sort("email") == (SortField.NAME, False)
    assert parse_sort("last_active:asc") == (SortField.LAST, False)


def test_map():
    cmd = parse("map ci-bot-key <mailto:ops@example.com|ops@example.com>")
    assert (cmd.key, cmd.email) == ("ci-bot-key", "ops@example.com")
    assert parse("map apikey_01ABC ops@example.com").key == "apikey_01ABC"
    for bad in ("map", "map onlykey", "map key not-an-email", "map a b c", 'map "" ops@example.com'):
        with pytest.raises(UsageError) as err:
            parse(bad)
        assert err.value.sub is Sub.MAP


def test_map_a_key_whose_name_has_spaces():
    """Claude Code Analytics reports a Console key by its name only, and names have spaces: such
    a key could be mapped only from the App Home (`map My laptop key bob@…` was "give the key
    and the owner's email")."""
    for text in ("map Bob's laptop key bob@example.com", 'map "Bob\'s laptop key" bob@example.com',
                 "map \u201cBob's laptop key\u201d <mailto:bob@example.com|bob@example.com>"):
        cmd = parse(text)
        assert (cmd.key, cmd.email) == ("Bob's laptop key", "bob@example.com"), text
    assert parse('map "ci-bot-key" bob@example.com').key == "ci-bot-key"


def test_sync():
    assert parse("sync").sync_from is None
    cmd = parse("sync 2026-03-01")
    assert (cmd.sync_from, cmd.sync_to) == (date(2026, 3, 1), TODAY)
    cmd = parse("sync 2026-01-01 2026-01-31")
    assert (cmd.sync_from, cmd.sync_to) == (date(2026, 1, 1), date(2026, 1, 31))
    for bad in ("sync 2026-02-01 2026-01-01", "sync 2027-01-01", "sync yesterday", "sync 1990-01-01 2026-01-01",
                "sync 2026-01-01 2026-01-02 2026-01-03"):
        with pytest.raises(UsageError):
            parse(bad)


HOSTILE = [
    "x" * 10_000,
    "dashboard " + "7d " * 400,
    "\u202edraobhsad",  # right-to-left override
    "داشبورد 7d",
    "dashboard 7d\u200b",
    "<@U123>",
    "<!channel>",
    "<!here> top",
    "'; DROP TABLE person; --",
    "top 5 '; DROP TABLE usage_daily; --",
    "user ../../etc/passwd",
    "../../etc/passwd",
    "map ../../etc/passwd root@localhost",
    "users sort:../../etc",
    "dashboard 0001-01-01..9999-12-31",
    "dashboard 9999y",
    "dashboard 0d",
    "export 2026-02-30..2026-03-01",
    "top \x00\x01\x02",
    "\t\n",
    "🔥🔥🔥",
    "sync ${jndi:ldap://x}",
    "user <@U123|<script>alert(1)</script>>",
    "top \u00b2",  # a superscript two: str.isdigit() says yes, int() raised ValueError
    "top 5 \u00b3d",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_gives_usage_error_or_a_command(text):
    try:
        cmd = parse(text)
    except UsageError as err:
        message = str(err)
        assert message and "\n" not in message and len(message) < 300
        return
    assert isinstance(cmd, Command)


def test_too_long_is_refused_before_parsing():
    with pytest.raises(UsageError, match="too long"):
        parse("dashboard " + "a" * MAX_TEXT)


def test_user_ref_helpers():
    assert parse_user_ref("<@U0BOB|bob>") == ("U0BOB", None)
    assert parse_user_ref("&lt;@U0BOB&gt;") == ("U0BOB", None)
    assert parse_user_ref("nobody") == (None, None)
    assert unescape("&lt;&amp;&gt;") == "<&>"
