"""The `/abacus` grammar (docs/contract.md): text in → a typed `Command`, or an `InputError`
whose message is one short line plus the usage of the subcommand.

Slack sends the text with `&`, `<`, `>` escaped and, with `should_escape` on, mentions as
`<@U123|name>` and emails as `<mailto:a@b.c|a@b.c>`. Nothing here touches Slack or the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from core.errors import InputError
from core.identity import normalise_email
from core.periods import DateRange, PeriodError, is_period, parse_day, parse_period, utc_today
from core.usage import Source

MAX_TEXT = 1000  # longer than any real command; hostile walls of text are refused early
MAX_TOP = 50
DEFAULT_TOP = 10
MAX_FILTER = 80
MAX_RANGE_DAYS = 3660
DEFAULT_PERIOD = "30d"


class Sub(StrEnum):
    HELP = "help"
    DASHBOARD = "dashboard"
    TOP = "top"
    USER = "user"
    ME = "me"
    MODELS = "models"
    USERS = "users"
    GROUPS = "groups"
    ADOPTION = "adoption"
    FORECAST = "forecast"
    INCIDENTS = "incidents"
    EXPORT = "export"
    UNMAPPED = "unmapped"
    MAP = "map"
    SYNC = "sync"
    SETTINGS = "settings"


USAGE: dict[Sub, str] = {
    Sub.HELP: "help",
    Sub.DASHBOARD: "dashboard [PERIOD] [group:NAME]",
    Sub.TOP: "top [N] [PERIOD] [claude|cursor] [group:NAME]",
    Sub.USER: "user <@user|email> [PERIOD]",
    Sub.ME: "me [PERIOD]",
    Sub.MODELS: "models [PERIOD] [group:NAME]",
    Sub.USERS: "users [PERIOD] [sort:FIELD] [group:NAME] [TEXT]",
    Sub.GROUPS: "groups [PERIOD]",
    Sub.ADOPTION: "adoption [PERIOD]",
    Sub.FORECAST: "forecast",
    Sub.INCIDENTS: "incidents",
    Sub.EXPORT: "export [PERIOD] [group:NAME]",
    Sub.UNMAPPED: "unmapped",
    Sub.MAP: "map <key> <email>",
    Sub.SYNC: "sync [FROM [TO]]",
    Sub.SETTINGS: "settings",
}

PERIOD_HELP = "PERIOD: 7d, 30d (default), 90d, 1y or YYYY-MM-DD..YYYY-MM-DD"


class SortField(StrEnum):
    SPEND = "spend"
    TOKENS = "tokens"
    CLAUDE = "claude"
    CURSOR = "cursor"
    DAYS = "days"
    AVG = "avg"
    LAST = "last"
    NAME = "name"


_SORT_ALIASES = {"cost": SortField.SPEND, "usd": SortField.SPEND, "claude_code": SortField.CLAUDE,
                 "active": SortField.DAYS, "email": SortField.NAME, "user": SortField.NAME,
                 "last_active": SortField.LAST}


class UsageError(InputError):
    """Bad arguments for one subcommand (or an unknown one): the reply shows its usage."""

    def __init__(self, message: str, sub: Sub | None = None) -> None:
        super().__init__(message)
        self.sub = sub


@dataclass(frozen=True, slots=True)
class Command:
    sub: Sub
    share: bool = False
    period: DateRange | None = None
    period_text: str = DEFAULT_PERIOD
    n: int = DEFAULT_TOP
    source: str | None = None
    target_user_id: str | None = None  # `user <@U…>`
    target_email: str | None = None  # `user email`
    sort: SortField = SortField.SPEND
    descending: bool = True
    query: str = ""
    key: str | None = None  # `map <key> <email>`
    email: str | None = None
    sync_from: date | None = None
    sync_to: date | None = None
    group: str | None = None  # `group:NAME` filter


# `group:NAME` or `group:"A name > with spaces"` (Slack may send typographic quotes)
_GROUP = re.compile(r'(?:^|\s)group:(?:"([^"]*)"|\u201c([^\u201d]*)\u201d|(\S+))', re.IGNORECASE)
GROUP_FILTERED = frozenset({Sub.DASHBOARD, Sub.TOP, Sub.USERS, Sub.MODELS, Sub.EXPORT})
MAX_GROUP_NAME = 255


_MENTION = re.compile(r"^<@([UW][A-Z0-9]{1,20})(?:\|[^>]*)?>$")
_MAILTO = re.compile(r"^<mailto:([^|>]+)(?:\|[^>]*)?>$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def unescape(text: str) -> str:
    """Slack's message escaping undone (only the three characters Slack escapes)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse_command(text: str | None, *, today: date | None = None) -> Command:
    text = text or ""
    if len(text) > MAX_TEXT:
        raise UsageError(f"that command is too long ({len(text):,} characters)")
    text = _CONTROL.sub(" ", text)
    group, text = _group_filter(text)
    tokens = text.split()
    share = False
    if tokens and tokens[-1].lower() == "share":
        share = True
        tokens = tokens[:-1]
    if not tokens:
        return Command(sub=Sub.HELP, share=share)
    head, args = tokens[0].lower(), tokens[1:]
    try:
        sub = Sub(head)
    except ValueError:
        if head in ("?", "-h", "--help"):
            return Command(sub=Sub.HELP, share=share)
        raise UsageError(f"unknown subcommand {_show(tokens[0])}") from None
    today = today or utc_today()
    parser = _PARSERS.get(sub, _no_args)
    if group is not None and sub not in GROUP_FILTERED:
        raise UsageError("`group:` works with dashboard, top, users, models and export", sub)
    try:
        fields = parser(sub, args, today)
    except PeriodError as exc:
        raise UsageError(str(exc), sub) from None
    return Command(sub=sub, share=share, group=group, **fields)


def _group_filter(text: str) -> tuple[str | None, str]:
    """Take the `group:` filter out of the command text → (group name or None, the rest)."""
    found = list(_GROUP.finditer(text))
    if not found:
        if "group:" in text.lower():
            raise UsageError('`group:` needs a name: `group:Platform` or `group:"Platform > Infra"`')
        return None, text
    if len(found) > 1:
        raise UsageError("give one `group:` filter")
    m = found[0]
    name = " ".join(unescape(next(g for g in m.groups() if g is not None)).split())
    if not name:
        raise UsageError('`group:` needs a name: `group:Platform` or `group:"Platform > Infra"`')
    if len(name) > MAX_GROUP_NAME:
        raise UsageError(f"the group name is too long (at most {MAX_GROUP_NAME} characters)")
    return name, text[:m.start()] + " " + text[m.end():]


def _show(token: str) -> str:
    """A user token, shortened and neutralised for an error message (escaped later by the builder)."""
    token = token if len(token) <= 40 else token[:40] + "…"
    token = token.replace("`", "'")
    return f"`{token}`"


def _period(token: str, today: date) -> tuple[DateRange, str]:
    period = parse_period(token, today=today)
    if period.days > MAX_RANGE_DAYS:
        raise PeriodError(f"the range is too long ({period.days:,} days; at most {MAX_RANGE_DAYS})")
    return period, token.lower()


def period(text: str, *, today: date | None = None) -> tuple[DateRange, str]:
    """A PERIOD token (as stored in a button) → (range, normalised text); PeriodError if bad."""
    return _period(text, today or utc_today())


def _default_period(today: date) -> dict:
    period, text = _period(DEFAULT_PERIOD, today)
    return {"period": period, "period_text": text}


def _no_args(sub: Sub, args: list[str], today: date) -> dict:
    if sub is Sub.HELP:
        return {}
    if args:
        raise UsageError(f"`{sub.value}` takes no arguments (got {_show(args[0])})", sub)
    return _default_period(today) if sub is Sub.FORECAST else {}


def _period_only(sub: Sub, args: list[str], today: date) -> dict:
    if len(args) > 1:
        raise UsageError(f"unexpected {_show(args[1])}", sub)
    if args:
        if not is_period(args[0]):
            raise UsageError(f"not a period: {_show(args[0])}", sub)
        period, text = _period(args[0], today)
        return {"period": period, "period_text": text}
    return _default_period(today)


def _top(sub: Sub, args: list[str], today: date) -> dict:
    fields = _default_period(today)
    seen: set[str] = set()
    for token in args:
        low = token.lower()
        if low.isascii() and low.isdigit() and "n" not in seen:  # `²` and `٣` pass isdigit, not int()
            n = int(low) if len(low) <= 4 else MAX_TOP + 1
            if not 1 <= n <= MAX_TOP:
                raise UsageError(f"N must be between 1 and {MAX_TOP}", sub)
            fields["n"] = n
            seen.add("n")
        elif is_period(low) and "period" not in seen:
            fields["period"], fields["period_text"] = _period(low, today)
            seen.add("period")
        elif low in ("claude", "claude_code", "anthropic", "cursor") and "source" not in seen:
            fields["source"] = Source.parse(low).value
            seen.add("source")
        else:
            raise UsageError(f"unexpected {_show(token)}", sub)
    return fields


def parse_user_ref(token: str) -> tuple[str | None, str | None]:
    """`<@U123|name>` → (U123, None); an email (bare or `<mailto:…>`) → (None, email)."""
    token = unescape(token.strip())
    m = _MENTION.match(token)
    if m:
        return m.group(1), None
    m = _MAILTO.match(token)
    candidate = m.group(1) if m else token
    try:
        return None, normalise_email(candidate)
    except ValueError:
        return None, None


def _user(sub: Sub, args: list[str], today: date) -> dict:
    if not args:
        raise UsageError("whose usage? mention them (`@name`) or give their email", sub)
    user_id, email = parse_user_ref(args[0])
    if not user_id and not email:
        raise UsageError(f"{_show(args[0])} is neither a mention nor an email "
                         "(pick the person from Slack's @ autocomplete, or type their email)", sub)
    fields = _period_only(sub, args[1:], today)
    return {**fields, "target_user_id": user_id, "target_email": email}


def _users(sub: Sub, args: list[str], today: date) -> dict:
    fields = _default_period(today)
    rest = list(args)
    seen = set()
    if rest and is_period(rest[0]):
        fields["period"], fields["period_text"] = _period(rest.pop(0), today)
        seen.add("period")
    words = []
    for token in rest:
        if token.lower().startswith("sort:"):
            sort, descending = parse_sort(token[5:])
            fields["sort"], fields["descending"] = sort, descending
        else:
            words.append(unescape(token))
    if len(words) == 2 and _MENTION.match(words[0]) and is_period(words[1].lower()) and "period" not in seen:
        fields["period"], fields["period_text"] = _period(words.pop().lower(), today)  # `users @ann 7d`, as `user`
    if len(words) > 1 and any(_MENTION.match(w) for w in words):  # the whole text matched nobody, silently
        raise UsageError("a mention filters by that person alone: `/abacus users [PERIOD] [sort:FIELD] @person`",
                         sub)
    query = " ".join(words)
    if len(query) > MAX_FILTER:
        raise UsageError(f"the filter text is too long (at most {MAX_FILTER} characters)", sub)
    fields["query"] = query
    return fields


def parse_sort(spec: str) -> tuple[SortField, bool]:
    """`spend`, `name:asc`, `-tokens` → (field, descending). Names sort A→Z by default."""
    spec = spec.strip().lower()
    descending: bool | None = None
    if spec.startswith("-"):
        spec, descending = spec[1:], True
    elif spec.startswith("+"):
        spec, descending = spec[1:], False
    name, _, direction = spec.partition(":")
    if direction in ("asc", "desc"):
        descending = direction == "desc"
    elif direction:
        raise UsageError(f"sort direction must be asc or desc, not {_show(direction)}", Sub.USERS)
    try:
        field = _SORT_ALIASES.get(name) or SortField(name)
    except ValueError:
        raise UsageError(f"cannot sort by {_show(name)}; use one of "
                         + ", ".join(f.value for f in SortField), Sub.USERS) from None
    if descending is None:
        descending = field is not SortField.NAME
    return field, descending


_QUOTES = {'"': '"', "\u201c": "\u201d"}


def _map(sub: Sub, args: list[str], today: date) -> dict:
    """`map KEY EMAIL`; a key name with spaces (a key named in the Console, reported by name
    only) is everything before the email, quoted or not: `map "Bob's laptop" bob@…`."""
    if len(args) < 2:
        raise UsageError("give the key (id or name) and the owner's email", sub)
    key = unescape(" ".join(args[:-1]))
    if len(key) > 1 and _QUOTES.get(key[0]) == key[-1]:
        key = key[1:-1].strip()
    key = key.strip("<>")
    if not key or len(key) > 255:
        raise UsageError("the key must be a key id (apikey_…) or a key name", sub)
    _, email = parse_user_ref(args[-1])
    if not email:
        raise UsageError(f"{_show(args[-1])} is not an email address", sub)
    return {"key": key, "email": email}


def _sync(sub: Sub, args: list[str], today: date) -> dict:
    if len(args) > 2:
        raise UsageError(f"unexpected {_show(args[2])}", sub)
    if not args:
        return {}
    start = parse_day(args[0])
    end = parse_day(args[1]) if len(args) == 2 else today
    if end < start:
        raise UsageError(f"the range ends ({end}) before it starts ({start})", sub)
    if end > today + timedelta(days=1):
        raise UsageError(f"{end} is in the future", sub)
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise UsageError(f"the range is too long (at most {MAX_RANGE_DAYS} days)", sub)
    return {"sync_from": start, "sync_to": end}


_PARSERS = {
    Sub.DASHBOARD: _period_only,
    Sub.TOP: _top,
    Sub.USER: _user,
    Sub.ME: _period_only,
    Sub.MODELS: _period_only,
    Sub.USERS: _users,
    Sub.GROUPS: _period_only,
    Sub.ADOPTION: _period_only,
    Sub.EXPORT: _period_only,
    Sub.MAP: _map,
    Sub.SYNC: _sync,
}
