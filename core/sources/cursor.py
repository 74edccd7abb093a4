"""Cursor Admin API: usage events, members, daily usage, spend and billing groups.

Wire formats: shared/reference/vendor-apis.md §B, modelled in `core.sources.cursor_wire` (re-exported
here). Basic auth with the key as the username and an empty password. One `CursorAdmin` per team.

Usage events have no id. Their natural key is `core.usage.cursor_event_key`: timestamp (ms), user,
model, token counts, and the ordinal among identical events *within one fetched window* (an
`OccurrenceCounter` that spans every page of the window). Identical events share a timestamp, so a
window bounded at whole milliseconds holds all of them or none: the keys are the same whichever
window (or overlap) fetches them, and a re-fetched event is a no-op while two genuinely different
events stay apart.

Two things would break that, and both are handled here:
  * the window's content changing while we page through it (a late event shifts the pages, so one
    event shows up on two pages and would be counted as a twin): `totalUsageEventsCount` is checked
    on every page; if it moves, the window is fetched again from page 1 before anything of the
    shifted page is used;
  * a very dense window (the counter holds one entry per event): a window reporting more than
    `max_window_events` is split in halves, recursively, before any of it is converted.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

import httpx
import orjson
from pydantic import TypeAdapter

from core.pricing import estimate_cost_nanos, normalise_model
from core.sources.cursor_wire import (
    BillingCycle,
    DailyResponse,
    DailyRow,
    EventsPage,
    Group,
    GroupMember,
    GroupsResponse,
    Member,
    MembersResponse,
    PagePagination,
    SpendMember,
    SpendResponse,
    UsageEvent,
)
from core.sources.http import (
    JsonApi,
    RateLimiter,
    RetryPolicy,
    ShapeError,
    VendorError,
    basic_auth,
    key_hint,
    one_line,
)
from core.sources.records import ActivityRecord, GroupRecord, MemberRecord, SpendRecord
from core.usage import (
    NANOS_PER_CENT,
    CostBasis,
    Feed,
    Source,
    UsageRecord,
    cents_to_nanos,
    natural_key,
    unmapped_key,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_PAGE_SIZE = 1000
MAX_DAILY_USAGE_DAYS = 30
DEFAULT_MAX_WINDOW_EVENTS = 50_000


def to_ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def day_start_ms(day: date) -> int:
    return to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


def day_end_ms(day: date) -> int:
    """The last millisecond of a UTC day (the API's bounds are inclusive)."""
    return day_start_ms(day + timedelta(days=1)) - 1


def ms_to_datetime(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


_MEMBERS = TypeAdapter(MembersResponse)
_DAILY = TypeAdapter(DailyResponse)
_SPEND = TypeAdapter(SpendResponse)
_GROUPS = TypeAdapter(GroupsResponse)


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


@dataclass(slots=True)
class EventBatch:
    """One page of a fetch window, converted. `window_done` marks the window's last page."""

    window_start_ms: int
    window_end_ms: int
    page: int
    records: list[UsageRecord]
    window_done: bool
    window_total: int | None = None


class CursorAdmin:
    """The Admin API of one Cursor team, around an injected `httpx.Client`."""

    vendor = "Cursor"

    def __init__(self, client: httpx.Client, api_key: str, *, admin_limiter: RateLimiter | None = None,
                 events_limiter: RateLimiter | None = None, retry: RetryPolicy | None = None,
                 label: str | None = None, sleep: Callable[[float], None] = time.sleep,
                 on_wait: Callable[[str], None] | None = None, page_size: int = MAX_PAGE_SIZE,
                 max_window_events: int = DEFAULT_MAX_WINDOW_EVENTS) -> None:
        if not api_key:
            raise ValueError("a Cursor admin key is required")
        self.admin_limiter = admin_limiter
        self.events_limiter = events_limiter
        self.page_size = min(page_size, MAX_PAGE_SIZE)
        self.max_window_events = max_window_events
        self.api = JsonApi(client, vendor=self.vendor, label=label or f"team{key_hint(api_key)}",
                           headers={"Authorization": basic_auth(api_key)}, secrets=[api_key], retry=retry,
                           sleep=sleep, on_wait=on_wait)

    @property
    def label(self) -> str:
        return self.api.label

    def _where(self, path: str) -> str:
        return f"{self.vendor} API ({self.label}): POST {path}"

    # -- directory and snapshots --------------------------------------------------------------------

    def members(self) -> list[Member]:
        return self.api.call("GET", "/teams/members", parse=_MEMBERS.validate_json,
                             limiter=self.admin_limiter).teamMembers

    def groups(self) -> GroupsResponse | None:
        """Billing groups (Enterprise); None where the team's plan or key has no access."""
        try:
            return self.api.call("GET", "/teams/groups", parse=_GROUPS.validate_json, limiter=self.admin_limiter)
        except VendorError as exc:
            if exc.status in (401, 403, 404):
                return None
            raise

    def spend(self) -> list[SpendResponse]:
        """Every page of /teams/spend (the current billing cycle only)."""
        pages: list[SpendResponse] = []
        page = 1
        while True:
            resp = self.api.call("POST", "/teams/spend", json={"page": page, "pageSize": 100},
                                 parse=_SPEND.validate_json, limiter=self.admin_limiter)
            pages.append(resp)
            total_pages = resp.totalPages or 1
            if page >= total_pages or not resp.teamMemberSpend:
                return pages
            page += 1
            if page > 10_000:
                raise VendorError(f"{self._where('/teams/spend')}: more than 10000 pages; stopping")

    def daily_usage_chunks(self, start: date, end: date) -> Iterator[tuple[date, date, list[DailyRow]]]:
        """(first, last, rows) per window of at most 30 days over [start, end], every page read."""
        where = self._where("/teams/daily-usage-data")
        d = start
        while d <= end:
            last = min(end, d + timedelta(days=MAX_DAILY_USAGE_DAYS - 1))
            rows: list[DailyRow] = []
            page = 1
            while True:
                resp = self.api.call("POST", "/teams/daily-usage-data", limiter=self.admin_limiter,
                                     json={"startDate": day_start_ms(d), "endDate": day_end_ms(last),
                                           "page": page, "pageSize": self.page_size},
                                     parse=_DAILY.validate_json)
                rows.extend(resp.data)
                pg = resp.pagination
                if pg is None:
                    break
                if pg.page is not None and pg.page != page:
                    raise VendorError(f"{where}: asked for page {page}, got page {pg.page}; "
                                      "stopping instead of looping")
                more = pg.hasNextPage if pg.hasNextPage is not None else page < (pg.totalPages or 1)
                if not more:
                    break
                page += 1
                if pg.totalPages is not None and page > pg.totalPages:
                    raise VendorError(f"{where}: hasNextPage past the last page ({pg.totalPages}); "
                                      "stopping instead of looping")
            yield d, last, rows
            d = last + timedelta(days=1)

    # -- usage events ---------------------------------------------------------------------------------

    def _events_page(self, start_ms: int, end_ms: int, page: int) -> EventsPage:
        return self.api.call("POST", "/teams/filtered-usage-events", limiter=self.events_limiter,
                             json={"startDate": start_ms, "endDate": end_ms, "page": page, "pageSize": self.page_size},
                             parse=parse_events_page)

    def usage_events(self, start_ms: int, end_ms: int, *, org: str, max_restarts: int = 3) -> Iterator[EventBatch]:
        """Converted usage events of [start_ms, end_ms] (inclusive), page by page, oldest window first.

        Windows denser than `max_window_events` are split before use; a window whose total changes
        while paging is re-read from page 1 (pages already yielded are re-yielded: idempotent keys).
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cursor-prefetch") as prefetch:
            yield from self._usage_events(start_ms, end_ms, org, max_restarts, prefetch)

    def _usage_events(self, start_ms: int, end_ms: int, org: str, max_restarts: int,
                      prefetch: ThreadPoolExecutor) -> Iterator[EventBatch]:
        where = self._where("/teams/filtered-usage-events")
        pending = [(start_ms, end_ms)]
        while pending:
            s, e = pending.pop()
            for _attempt in range(max_restarts + 1):
                converter = EventConverter(org)
                page_no, total, outcome = 1, None, "done"
                previous: tuple | None = None

                def fetch(page: int, conv: EventConverter = converter, s: int = s,
                          e: int = e) -> tuple[EventsPage, list | ShapeError]:
                    resp = self._events_page(s, e, page)
                    try:
                        return resp, conv.convert(resp.get("usageEvents") or [])
                    except ShapeError as exc:  # reported when the page is used, after its checks
                        return resp, exc

                ahead: _Prefetcher | None = None  # pages 2…, fetched and converted on the prefetch thread
                try:
                    while True:
                        resp, converted = ahead.get() if ahead is not None else fetch(page_no)
                        count = resp.get("totalUsageEventsCount")
                        pg = resp.get("pagination") or {}
                        if page_no == 1:
                            total = count
                            if count is not None and count > self.max_window_events and e - s >= 1000:
                                mid = s + (e - s) // 2
                                pending.extend([(mid + 1, e), (s, mid)])  # LIFO: the older half first
                                outcome = "split"
                                break
                        elif count is not None and total is not None and count != total:
                            outcome = "changed"
                            break
                        current = pg.get("currentPage")
                        if current is not None and current != page_no:
                            raise VendorError(f"{where}: asked for page {page_no}, got page {current}; "
                                              "stopping instead of looping")
                        events = resp.get("usageEvents") or []
                        signature = (len(events), events[0], events[-1]) if events else None
                        if signature is not None and signature == previous:
                            raise VendorError(f"{where}: page {page_no} repeats page {page_no - 1}; "
                                              "stopping instead of looping")
                        previous = signature
                        has_next = _has_next(resp, page_no, self.page_size)
                        limit = _page_limit(total, self.page_size, pg.get("numPages"))
                        if has_next and page_no >= limit:
                            raise VendorError(f"{where}: hasNextPage past the last page ({limit}); "
                                              "stopping instead of looping")
                        if isinstance(converted, ShapeError):
                            raise VendorError(f"{where}: unexpected response shape on page {page_no}: "
                                              f"{converted}")
                        if has_next and ahead is None:
                            ahead = _Prefetcher(fetch, first_page=2, limit=limit, page_size=self.page_size)
                            ahead.start(prefetch)
                        yield EventBatch(s, e, page_no, converted, window_done=not has_next, window_total=total)
                        if not has_next:
                            break
                        page_no += 1
                finally:
                    if ahead is not None:
                        ahead.close()
                if outcome != "changed":
                    break
            else:
                raise VendorError(f"{where}: the events of the window kept changing while paging "
                                  f"({max_restarts + 1} tries); try again later")


def _has_next(resp: EventsPage, page_no: int, page_size: int) -> bool:
    pg = resp.get("pagination") or {}
    has_next = pg.get("hasNextPage")
    if has_next is None:
        pages = pg.get("numPages")
        has_next = page_no < pages if pages is not None else len(resp.get("usageEvents") or []) >= page_size
    return has_next


class _Prefetcher:
    """Fetches and converts a window's pages from `first_page` on, on the prefetch thread, up to
    `depth` pages ahead of their use, in page order (the window's converter must see them in
    order). The pages are checked where they are used (`get`); a failure reaches the caller there,
    after the pages before it. `close` stops it and waits for its thread's request to finish."""

    def __init__(self, fetch: Callable[[int], tuple[EventsPage, list | ShapeError]], *, first_page: int,
                 limit: int, page_size: int, depth: int = 4) -> None:
        self._fetch, self._page, self._limit, self._page_size = fetch, first_page, limit, page_size
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._future: Future | None = None

    def start(self, executor: ThreadPoolExecutor) -> None:
        self._future = executor.submit(self._run)

    def _run(self) -> None:
        page = self._page
        try:
            while not self._stop.is_set():
                item = self._fetch(page)
                if not self._put(item) or not _has_next(item[0], page, self._page_size) or page >= self._limit:
                    return
                page += 1
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._put(exc)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def get(self) -> tuple[EventsPage, list | ShapeError]:
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        if self._future is not None:
            self._future.result()


def _page_limit(total: int | None, page_size: int, num_pages: int | None) -> int:
    """The most pages a window can have; paging beyond it means the vendor repeats itself."""
    limits = [num_pages] if num_pages else []
    if total is not None:
        limits.append(max(1, -(-total // page_size)))
    return max(limits) if limits else 1_000_000


@lru_cache(maxsize=4096)
def _model(raw: str) -> str:
    return normalise_model(raw)


class EventConverter:
    """Turns the events of one fetch window into `UsageRecord`s (the counter spans the window).

    Keys are exactly `core.usage.cursor_event_key(OccurrenceCounter(), …)` (a test pins it), computed
    inline because this loop runs once per event: the same digest of the same fields, and the same
    ordinal rule for identical events.
    """

    __slots__ = ("org", "_seen")

    def __init__(self, org: str) -> None:
        self.org = org
        self._seen: dict[str, int] = {}

    def key(self, ts_ms: int, email: str, raw_model: str, inp: int, cw: int, cr: int, out: int) -> str:
        base = hashlib.sha256(f"cursor\x1f{ts_ms}\x1f{email}\x1f{raw_model}\x1f{inp}\x1f{cw}\x1f{cr}\x1f{out}"
                              .encode()).hexdigest()[:32]
        n = self._seen.get(base, 0)
        self._seen[base] = n + 1
        return base if n == 0 else natural_key(base, n)

    def convert(self, events: Iterable[UsageEvent]) -> list[UsageRecord]:
        """Convert one page; an event that is not what the API documents raises `ShapeError`
        naming its index and field (the page is then not used at all)."""
        out = []
        for i, ev in enumerate(events):
            try:
                out.append(self._one(ev))
            except ShapeError as exc:
                raise ShapeError(f"usageEvents[{i}]: {exc}") from None
            except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
                raise ShapeError(f"usageEvents[{i}]: {_describe(ev, exc)}") from None
        return out

    def _one(self, ev: UsageEvent) -> UsageRecord:
        ts_ms = ev["timestamp"]
        if type(ts_ms) is not int:
            if type(ts_ms) is not str:
                raise ShapeError(f"timestamp: expected epoch milliseconds, got {one_line(repr(ts_ms), 40)}")
            ts_ms = int(ts_ms)
        email = ev.get("userEmail")
        email = email.strip().lower() if email else ""
        raw_model = ev.get("model") or "unknown"
        if type(raw_model) is not str:
            raise ShapeError(f"model: expected a string, got {one_line(repr(raw_model), 40)}")
        tu = ev.get("tokenUsage")
        if tu:
            inp = tu.get("inputTokens") or 0
            out_t = tu.get("outputTokens") or 0
            cw = tu.get("cacheWriteTokens") or 0
            cr = tu.get("cacheReadTokens") or 0
            if not (type(inp) is int and type(out_t) is int and type(cw) is int and type(cr) is int) \
                    or min(inp, out_t, cw, cr) < 0 or (inp | out_t | cw | cr) >> 48:  # ≥ 2**48 tokens: nonsense
                raise ShapeError(f"tokenUsage: token counts must be non-negative integers, got "
                                 f"{one_line(repr([inp, out_t, cw, cr]), 60)}")
            total_cents = tu.get("totalCents")
        else:
            inp = out_t = cw = cr = 0
            total_cents = None
        # cost: chargedCents (matches /teams/spend) > tokenUsage.totalCents (+ cursorTokenFee)
        charged = ev.get("chargedCents")
        basis = CostBasis.VENDOR
        estimated = 0
        if charged is not None:
            cost = cents_nanos(charged)
        elif total_cents is not None:
            fee = ev.get("cursorTokenFee")
            cost = cents_nanos(total_cents) + (cents_nanos(fee) if fee is not None else 0)
        elif tu:
            cost, basis = estimate_cost_nanos(raw_model, input_tokens=inp, cache_write_5m=cw, cache_read=cr,
                                              output=out_t, on=ms_to_datetime(ts_ms).date())
            estimated = cost
        else:
            cost = 0  # a request-based event without a price: still one request
        person = email or unmapped_key(str(ev.get("serviceAccountName") or ev.get("userId") or "unknown"))
        kind, max_mode = ev.get("kind"), ev.get("maxMode")
        if (kind is not None and type(kind) is not str) or (max_mode is not None and type(max_mode) is not bool):
            raise ShapeError("kind/maxMode: expected a string and a boolean")
        return UsageRecord(
            source=Source.CURSOR, feed=Feed.CURSOR_EVENTS,
            natural_key=self.key(ts_ms, email, raw_model, inp, cw, cr, out_t),
            ts=EPOCH + timedelta(milliseconds=ts_ms), person=person, raw_model=raw_model,
            model=_model(raw_model), input_tokens=inp, cache_write_5m_tokens=cw, cache_read_tokens=cr,
            output_tokens=out_t, cost_nanos=cost, cost_basis=basis, estimated_cost_nanos=estimated,
            requests=1, org=self.org, kind=kind, max_mode=max_mode, ts_ms=ts_ms)


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
    if not -_NANOS_MAX <= nanos <= _NANOS_MAX:  # would not fit the database's 64-bit integers
        raise ShapeError(f"amount out of range: {one_line(repr(value), 40)} cents")
    return nanos


_NANOS_EXACT = 2 ** 51
_NANOS_MAX = 2 ** 62  # $4.6 billion: room for sums of many such amounts within 64 bits
_CENTS_MAX = _NANOS_MAX / NANOS_PER_CENT


def _describe(ev: object, exc: BaseException) -> str:
    if not isinstance(ev, dict):
        return f"expected an object, got {type(ev).__name__}"
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return f"unexpected value ({type(exc).__name__}: {one_line(str(exc), 80)})"


# --- conversion of the small endpoints ----------------------------------------------------------------

def member_records(members: Iterable[Member]) -> list[MemberRecord]:
    return [MemberRecord(email=m.email.strip().lower(), name=m.name,
                         vendor_user_id=None if m.id is None else str(m.id), role=m.role, removed=bool(m.isRemoved))
            for m in members if m.email and "@" in m.email]


def _date_of(value: str | int | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return ms_to_datetime(int(value)).date()
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def daily_activity(rows: Iterable[DailyRow], *, org: str) -> list[ActivityRecord]:
    """Daily usage rows → one activity record per person and day (inactive members included)."""
    out = []
    for r in rows:
        day = _date_of(r.day) or _date_of(r.date)
        if day is None:
            continue
        email = (r.email or "").strip().lower()
        person = email or unmapped_key(f"cursor-user-{r.userId}")
        active = r.isActive if r.isActive is not None else True
        out.append(ActivityRecord(
            source=Source.CURSOR.value, day=day, person=person, natural_key="", org=org, is_active=active,
            lines_added=r.totalLinesAdded, lines_removed=r.totalLinesDeleted,
            accepted_lines_added=r.acceptedLinesAdded, accepted_lines_removed=r.acceptedLinesDeleted,
            edits_accepted=r.totalAccepts, edits_rejected=r.totalRejects, tabs_shown=r.totalTabsShown,
            tabs_accepted=r.totalTabsAccepted, chat_requests=r.chatRequests, composer_requests=r.composerRequests,
            agent_requests=r.agentRequests, cmdk_usages=r.cmdkUsages, bugbot_usages=r.bugbotUsages,
            included_requests=r.subscriptionIncludedReqs, usage_based_requests=r.usageBasedReqs,
            api_key_requests=r.apiKeyReqs, most_used_model=r.mostUsedModel, client_version=r.clientVersion,
            detail={"total_applies": r.totalApplies, "apply_most_used_extension": r.applyMostUsedExtension,
                    "tab_most_used_extension": r.tabMostUsedExtension}))
    return out


def spend_records(pages: Iterable[SpendResponse], *, today: date) -> list[SpendRecord]:
    """Both /teams/spend shapes.

    Newer shape (has `overallSpendCents`): `spendCents` is on-demand spend, `overallSpendCents` is
    included + on-demand. Older shape: `spendCents` was the member's total; on-demand is that minus
    `includedSpendCents` where given, else the total itself.
    """
    out: dict[str, SpendRecord] = {}
    for page in pages:
        cycle = _date_of(page.subscriptionCycleStart) or today
        for m in page.teamMemberSpend:
            if not m.email or "@" not in m.email:
                continue
            spend = m.spendCents or Decimal(0)
            if m.overallSpendCents is not None:
                on_demand, overall = spend, m.overallSpendCents
            else:
                overall = spend
                on_demand = spend - m.includedSpendCents if m.includedSpendCents is not None else spend
            limit = m.effectivePerUserLimitDollars
            if limit is None:
                limit = m.hardLimitOverrideDollars if m.hardLimitOverrideDollars else m.monthlyLimitDollars
            email = m.email.strip().lower()
            out[email] = SpendRecord(email=email, cycle_start=cycle, on_demand_nanos=cents_to_nanos(on_demand),
                                     overall_nanos=cents_to_nanos(overall), fast_premium_requests=m.fastPremiumRequests,
                                     limit_dollars=float(limit) if limit is not None else None,
                                     user_id=None if m.userId is None else str(m.userId), name=m.name)
    return list(out.values())


def group_records(resp: GroupsResponse) -> list[GroupRecord]:
    cycle = resp.billingCycle or BillingCycle()
    start, end = _date_of(cycle.cycleStart), _date_of(cycle.cycleEnd)
    out = []
    for g, unassigned in [*((g, False) for g in resp.groups),
                          *([(resp.unassignedGroup, True)] if resp.unassignedGroup else [])]:
        emails = sorted({m.email.strip().lower() for m in g.currentMembers or [] if m.email and "@" in m.email})
        out.append(GroupRecord(external_id=g.id, name=(g.name or g.id).strip(), member_emails=emails,
                               cycle_start=start, cycle_end=end,
                               unassigned=unassigned or g.id == "group_unassigned"))
    return out


__all__ = ["CursorAdmin", "EventBatch", "EventConverter", "daily_activity", "spend_records", "group_records",
           "member_records", "day_start_ms", "day_end_ms", "to_ms", "ms_to_datetime",
           # the wire models, re-exported from core.sources.cursor_wire
           "UsageEvent", "EventsPage", "Member", "MembersResponse", "DailyRow", "PagePagination", "DailyResponse",
           "SpendMember", "SpendResponse", "GroupMember", "Group", "BillingCycle", "GroupsResponse"]
