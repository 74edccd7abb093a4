"""Cursor usage events, the sync's hot path: parsing a filtered-usage-events page and checking and
converting each event into a stored event row (`core.usage.EVENT_ROW`: natural key, exact cost).
`core.sources.cursor` pages through the API and re-exports these.

Wire format: shared/reference/vendor-apis.md §B (`core.sources.cursor_wire.UsageEvent`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from hashlib import sha256
from typing import TYPE_CHECKING

import orjson

from core.pricing import estimate_cost_nanos, normalise_model
from core.sources.http import ShapeError, one_line
from core.usage import (
    EPOCH,
    KIND_WIDTH,
    MAX_RECORD_NANOS,
    MAX_TOKENS,
    NAME_WIDTH,
    NANOS_PER_CENT,
    ONE_MS,
    PERSON_WIDTH,
    CostBasis,
    EventRow,
    Feed,
    Source,
    cents_to_nanos,
    column_text,
    ms_to_datetime,
    natural_key,
    unmapped_key,
)

if TYPE_CHECKING:  # wire types for the annotations; the models' module loads pydantic
    from core.sources.cursor_wire import EventsPage, UsageEvent


def parse_events_page(content: bytes) -> EventsPage:
    """A filtered-usage-events body → a dict, the envelope checked; the events are checked while
    they are converted (`EventConverter`). Usage events are the hot path: orjson parses a page
    about three times faster than validating it into typed dicts did, which is most of the
    difference between this sync and one bound by JSON parsing. Invalid JSON raises ValueError
    (retried as truncated), a wrong envelope `ShapeError`."""
    page = orjson.loads(content)
    if not isinstance(page, dict):
        raise ShapeError(f"expected a JSON object, got {type(page).__name__}")
    events = page.get("usageEvents")
    if events is not None and not isinstance(events, list):
        raise ShapeError("usageEvents: expected a list")
    pagination = page.get("pagination")
    if pagination is not None and not isinstance(pagination, dict):
        raise ShapeError("pagination: expected an object")
    for name, value in [("totalUsageEventsCount", page.get("totalUsageEventsCount")),
                        *((f"pagination.{k}", (pagination or {}).get(k)) for k in ("numPages", "currentPage"))]:
        if value is not None and (type(value) is not int or value < 0):
            raise ShapeError(f"{name}: expected a non-negative integer, got {one_line(repr(value), 40)}")
    if pagination is not None and pagination.get("hasNextPage") not in (None, True, False):
        raise ShapeError("pagination.hasNextPage: expected true or false")
    return page  # type: ignore[return-value]


# plain str values, not the enum members: the row goes to the database driver as it is
_CURSOR, _EVENTS, _VENDOR = Source.CURSOR.value, Feed.CURSOR_EVENTS.value, CostBasis.VENDOR.value
_MS_PER_DAY = 86_400_000
_MAX_NAME, _MAX_PERSON, _MAX_KIND = NAME_WIDTH, PERSON_WIDTH, KIND_WIDTH  # usage_event's text columns
_MAX_CACHED_NAME = 1024


_MODELS: dict[str, tuple[str, str]] = {}  # raw model → (stored raw model, normalised), column-sized


def _model(raw: str) -> tuple[str, str]:
    stored = column_text(raw, _MAX_NAME)
    pair = (stored, normalise_model(raw.replace("\x00", ""))[:_MAX_NAME])
    # bounded in entries and in size (the key is the name as sent): a hostile feed of random or huge
    # model names cannot grow it forever in a long-lived process (the bot syncs in-process too)
    if len(_MODELS) < 4096 and len(raw) <= _MAX_CACHED_NAME:
        _MODELS[raw] = pair
    return pair


class EventConverter:
    """Turns the events of one fetch window into stored event rows (`core.usage.EVENT_ROW`, plain
    tuples; `EventRecord._make(row)` names their fields). The occurrence counter spans the window.

    Keys are exactly `core.usage.cursor_event_key(OccurrenceCounter(), …)` (a test pins it), computed
    inline because this loop runs once per event: the same digest of the same fields, and the same
    ordinal rule for identical events.
    """

    __slots__ = ("org", "_seen", "_days", "_shared", "_emails", "_kinds")

    def __init__(self, org: str) -> None:
        self.org = org
        self._seen: dict[int, str | dict[str, int]] = {}  # ms → its event's digest, or occurrences per digest
        self._days: dict[int, str] = {}  # day number → ISO day, one string object per day
        # one object per distinct email, model name and kind of the window: a page's rows then
        # share them, so pickling sends each once and the writer unpickles one string, not 500
        self._shared: dict[str, str] = {}
        # userEmail as sent → (the email in the natural key, the stored person): one look-up per event
        self._emails: dict[str, tuple[str, str]] = {}
        self._kinds: dict[str, str] = {}  # kind as sent → as stored

    def _day(self, day_no: int) -> str:
        text = self._days[day_no] = ms_to_datetime(day_no * _MS_PER_DAY).date().isoformat()
        return text

    def convert(self, events: Iterable[UsageEvent]) -> list[EventRow]:
        """Convert one page; an event that is not what the API documents raises `ShapeError`
        naming its index and field (the page is then not used at all).

        This loop runs once per event of every sync (200k events: about a second of the worker's
        time), so it is written flat: no call per event besides the digest, the checks in line."""
        out: list[EventRow] = []
        append = out.append
        seen, days, org, models = self._seen, self._days, self.org, _MODELS
        share = self._shared.setdefault
        emails, kinds = self._emails, self._kinds
        i, ev = -1, None
        try:
            for i, ev in enumerate(events):  # noqa: B007 - `i` and `ev` name the event in errors
                ts_ms = ev["timestamp"]
                if type(ts_ms) is not int:
                    if type(ts_ms) is str:  # Cursor's documented string of epoch ms: `_timestamp`, inline
                        try:
                            ts_ms = int(ts_ms)
                        except ValueError:
                            ts_ms = _iso_ms(ts_ms)
                    else:
                        ts_ms = _timestamp(ts_ms)
                email = ev.get("userEmail")
                if email:
                    pair = emails.get(email)
                    if pair is None:
                        e = email.strip().lower()
                        pair = emails[email] = (e, share(p := column_text(e, _MAX_PERSON), p))
                    email, person = pair
                else:
                    email = person = ""
                raw_model = ev.get("model") or "unknown"
                if type(raw_model) is not str:
                    raise ShapeError(f"model: expected a string, got {one_line(repr(raw_model), 40)}")
                tu = ev.get("tokenUsage")
                if tu:
                    inp = tu.get("inputTokens") or 0
                    out_t = tu.get("outputTokens") or 0
                    cw = tu.get("cacheWriteTokens") or 0
                    cr = tu.get("cacheReadTokens") or 0
                    # an OR of ints is negative where one of them is: one shift finds < 0 and ≥ MAX_TOKENS
                    if not (type(inp) is int and type(out_t) is int and type(cw) is int and type(cr) is int) \
                            or (inp | out_t | cw | cr) >> _TOKEN_BITS:
                        raise ShapeError(f"tokenUsage: token counts must be non-negative integers, got "
                                         f"{one_line(repr([inp, out_t, cw, cr]), 60)}")
                    total_cents = tu.get("totalCents")
                else:
                    inp = out_t = cw = cr = 0
                    total_cents = None
                # cost: chargedCents (matches /teams/spend) > tokenUsage.totalCents (+ cursorTokenFee)
                charged = ev.get("chargedCents")
                basis = _VENDOR
                estimated = 0
                if charged is not None:
                    # `cents_nanos`' exact float path, inline; anything else goes through it
                    if type(charged) is float and -_CENTS_MAX <= charged <= _CENTS_MAX and \
                            -_NANOS_EXACT < (cost := round(charged * 1e7)) < _NANOS_EXACT and cost / 1e7 == charged:
                        pass
                    else:
                        cost = cents_nanos(charged)
                elif total_cents is not None:
                    fee = ev.get("cursorTokenFee")
                    cost = cents_nanos(total_cents) + (cents_nanos(fee) if fee is not None else 0)
                elif tu:
                    cost, basis = estimate_cost_nanos(raw_model, input_tokens=inp, cache_write_5m=cw, cache_read=cr,
                                                      output=out_t, on=ms_to_datetime(ts_ms).date())
                    basis, estimated = basis.value, cost
                else:
                    cost = 0  # a request-based event without a price: still one request
                kind, max_mode = ev.get("kind"), ev.get("maxMode")
                if (kind is not None and type(kind) is not str) or \
                        (max_mode is not None and type(max_mode) is not bool):
                    raise ShapeError("kind/maxMode: expected a string and a boolean")
                if kind is not None:
                    k = kinds.get(kind)
                    kind = k if k is not None else kinds.setdefault(kind, column_text(kind, _MAX_KIND))
                # the natural key: `core.usage.cursor_event_key`, inline. Identical events share their
                # millisecond, so occurrences are counted per ms: the first event of a ms is the only
                # one almost always (its digest kept as is), and an int is looked up for it, not a
                # new 32-character string
                base = sha256(f"cursor\x1f{ts_ms}\x1f{email}\x1f{raw_model}\x1f{inp}\x1f{cw}\x1f{cr}\x1f{out_t}"
                              .encode()).hexdigest()[:32]
                at = seen.get(ts_ms)
                if at is None:
                    seen[ts_ms] = base
                    n = 0
                else:
                    if type(at) is str:  # a second event in this ms: count per digest from now on
                        at = seen[ts_ms] = {at: 1}
                    n = at.get(base, 0)
                    at[base] = n + 1
                pair = models.get(raw_model)
                raw, model = pair if pair is not None else _model(raw_model)
                day = days.get(ts_ms // _MS_PER_DAY) or self._day(ts_ms // _MS_PER_DAY)
                append((_CURSOR, _EVENTS, base if n == 0 else natural_key(base, n), ts_ms, day,
                        person or column_text(unmapped_key(str(ev.get("serviceAccountName") or ev.get("userId")
                                                                or "unknown")), _MAX_PERSON),
                        None, org, share(raw, raw), model, inp, cw, 0, cr, out_t, cost, basis, estimated, 1, kind,
                        None if max_mode is None else int(max_mode), None))
        except ShapeError as exc:
            raise ShapeError(f"usageEvents[{i}]: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            raise ShapeError(f"usageEvents[{i}]: {_describe(ev, exc)}") from None
        return out


def _timestamp(value: object) -> int:
    """A timestamp that is not an int: Cursor's documented string of epoch ms, or an ISO time."""
    if type(value) is not str:
        raise ShapeError(f"timestamp: expected epoch milliseconds, got {one_line(repr(value), 40)}")
    try:
        return int(value)
    except ValueError:
        return _iso_ms(value)


def _iso_ms(text: str) -> int:
    """An ISO 8601 time with its offset (`2026-11-20T03:00:00.123Z`) → epoch ms, for a vendor that
    switches from the documented string of epoch ms. Without an offset it is refused: the UTC day
    of the event would be a guess."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ShapeError(f"timestamp: expected epoch milliseconds, got {one_line(repr(text), 40)}") from None
    if moment.tzinfo is None:
        raise ShapeError(f"timestamp: an ISO time needs its UTC offset, got {one_line(repr(text), 40)}")
    return (moment - EPOCH) // ONE_MS


def cents_nanos(value: object) -> int:
    """A JSON amount of cents → integer nanos, exactly.

    orjson gives floats. A float read from a decimal with at most 7 places (Cursor sends 5) is
    the double nearest to that decimal, so `round(value * 1e7)` is its exact nano count (the
    product's error is far below 0.5 while |nanos| < 2**51), and dividing back must give the same
    double; anything else (more places, huge amounts) goes through Decimal of the float's
    shortest repr, i.e. the digits the vendor sent. Exact for amounts of up to 15 significant
    digits, which a double holds exactly (an event of $10M with 5 decimals of a cent has 14)."""
    kind = type(value)
    try:
        if kind is float:
            if not abs(value) <= _CENTS_MAX:  # also inf and NaN
                raise ShapeError(f"amount out of range: {one_line(repr(value), 40)} cents")
            nanos = round(value * 1e7)
            if -_NANOS_EXACT < nanos < _NANOS_EXACT and nanos / 1e7 == value:
                return nanos
            nanos = cents_to_nanos(Decimal(repr(value)))
        elif kind is int:
            nanos = value * NANOS_PER_CENT
        elif kind is str or kind is Decimal:
            nanos = cents_to_nanos(value)
        else:
            raise ShapeError(f"expected an amount of cents, got {one_line(repr(value), 40)}")
    except ArithmeticError:  # decimal.InvalidOperation: not a number, or absurdly large
        raise ShapeError(f"expected an amount of cents, got {one_line(repr(value), 40)}") from None
    if not -_NANOS_MAX <= nanos <= _NANOS_MAX:  # absurd, and sums of such would overflow 64 bits
        raise ShapeError(f"amount out of range: {one_line(repr(value), 40)} cents")
    return nanos


_NANOS_EXACT = 2 ** 51
_NANOS_MAX = MAX_RECORD_NANOS  # sums of ~900 such amounts still fit the 64-bit rollup columns
_TOKEN_BITS = MAX_TOKENS.bit_length() - 1
_CENTS_MAX = _NANOS_MAX / NANOS_PER_CENT


def _describe(ev: object, exc: BaseException) -> str:
    if not isinstance(ev, dict):
        return f"expected an object, got {type(ev).__name__}"
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return f"unexpected value ({type(exc).__name__}: {one_line(str(exc), 80)})"
