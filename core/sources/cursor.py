"""Cursor Admin API: usage events, members, daily usage, spend and billing groups.

Wire formats: shared/reference/vendor-apis.md §B, modelled in `core.sources.cursor_wire` (re-exported
here); a page of usage events is parsed and converted in `core.sources.cursor_events`. Basic auth
with the key as the username and an empty password. One `CursorAdmin` per team.

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

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from core.sources.cursor_analytics import (
    AnalyticsMetric,
    AnalyticsRecord,
    UserAnalyticsRecord,
    analytics_records,
    user_analytics_records,
)
from core.sources.cursor_daily import parse_daily_page
from core.sources.cursor_events import EventConverter, cents_nanos, parse_events_page
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
    EPOCH,
    EventRow,
    Source,
    cents_to_nanos,
    ms_to_datetime,
    unmapped_key,
)

if TYPE_CHECKING:  # httpx is loaded by core.sources.http (without its command line)
    import httpx

    from core.sources.cursor_wire import DailyRow, EventsPage, GroupsResponse, Member, SpendResponse

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


# The pydantic models of the small answers (members, spend, groups, the Analytics API) are loaded on
# their first use, not with this module: the sync imports this module before it forks the events
# worker, which parses events and daily usage with orjson and never needs them; loaded here, pydantic
# and the models (~0.08 s) delayed every sync's first request by that much.
_WIRE_MODELS = ("UsageEvent", "EventsPage", "Member", "MembersResponse", "DailyRow", "PagePagination",
                "DailyResponse", "SpendMember", "SpendResponse", "GroupMember", "Group", "BillingCycle",
                "GroupsResponse")


@cache
def _parser(model: str) -> Callable[[bytes], Any]:
    """`validate_json` of a TypeAdapter of `model` (a name in core.sources.cursor_wire), built once."""
    from pydantic import TypeAdapter

    from core.sources import cursor_wire

    return TypeAdapter(getattr(cursor_wire, model)).validate_json


@cache
def _analytics_parser(envelope: str) -> Callable[[bytes], Any]:
    from core.sources import cursor_analytics_wire

    return getattr(cursor_analytics_wire, envelope).validate_json


def __getattr__(name: str) -> Any:
    """The wire models, re-exported from core.sources.cursor_wire on first access (PEP 562)."""
    if name in _WIRE_MODELS:
        from core.sources import cursor_wire

        return getattr(cursor_wire, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(slots=True)
class EventBatch:
    """One page of a fetch window, converted. `window_done` marks the window's last page."""

    window_start_ms: int
    window_end_ms: int
    page: int
    records: list[EventRow]  # stored event rows (core.usage.EVENT_ROW)
    window_done: bool
    window_total: int | None = None


class CursorAdmin:
    """The Admin API of one Cursor team, around an injected `httpx.Client`."""

    vendor = "Cursor"

    def __init__(self, client: httpx.Client, api_key: str, *, admin_limiter: RateLimiter | None = None,
                 events_limiter: RateLimiter | None = None, retry: RetryPolicy | None = None,
                 label: str | None = None, sleep: Callable[[float], None] = time.sleep,
                 on_wait: Callable[[str], None] | None = None, page_size: int = MAX_PAGE_SIZE,
                 max_window_events: int = DEFAULT_MAX_WINDOW_EVENTS, other_secrets: Sequence[str] = (),
                 http_factory: Callable[[], httpx.Client] | None = None) -> None:
        """`other_secrets`: every other credential the process holds, hidden from error text too.
        `http_factory`: builds another client like `client`; given, usage events may be fetched in
        a worker process (`core.sources.event_worker`), which needs connections of its own."""
        if not api_key:
            raise ValueError("a Cursor admin key is required")
        self.admin_limiter = admin_limiter
        self.events_limiter = events_limiter
        self.page_size = min(page_size, MAX_PAGE_SIZE)
        self.max_window_events = max_window_events
        self.http_factory = http_factory
        self.api = JsonApi(client, vendor=self.vendor, label=label or f"team{key_hint(api_key)}",
                           headers={"Authorization": basic_auth(api_key)}, secrets=[api_key, *other_secrets],
                           retry=retry, sleep=sleep, on_wait=on_wait)

    @property
    def label(self) -> str:
        return self.api.label

    def _where(self, path: str) -> str:
        return f"{self.vendor} API ({self.label}): POST {path}"

    # -- directory and snapshots --------------------------------------------------------------------

    def members(self) -> list[Member]:
        return self.api.call("GET", "/teams/members", parse=_parser("MembersResponse"),
                             limiter=self.admin_limiter).teamMembers

    def groups(self) -> GroupsResponse | None:
        """Billing groups (Enterprise); None where the team's plan or key has no access."""
        try:
            return self.api.call("GET", "/teams/groups", parse=_parser("GroupsResponse"), limiter=self.admin_limiter)
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
                                 parse=_parser("SpendResponse"), limiter=self.admin_limiter)
            pages.append(resp)
            total_pages = resp.totalPages or 1
            if page >= total_pages or not resp.teamMemberSpend:
                return pages
            page += 1
            if page > 10_000:
                raise VendorError(f"{self._where('/teams/spend')}: more than 10000 pages; stopping")

    def daily_activity_chunks(self, start: date, end: date, *,
                              org: str) -> Iterator[tuple[date, date, list[ActivityRecord]]]:
        """`daily_usage_chunks`, each window's rows converted (`daily_activity`): what the sync
        writes, fetched and converted where the events worker runs (core.sources.event_worker)."""
        for first, last, rows in self.daily_usage_chunks(start, end):
            yield first, last, daily_activity(rows, org=org)

    def daily_usage_chunks(self, start: date, end: date) -> Iterator[tuple[date, date, list[dict]]]:
        """(first, last, rows) per window of at most 30 days over [start, end], every page read; the
        rows are dicts of every `DailyRow` field, checked as the model checks them
        (`core.sources.cursor_daily`)."""
        where = self._where("/teams/daily-usage-data")
        d = start
        while d <= end:
            last = min(end, d + timedelta(days=MAX_DAILY_USAGE_DAYS - 1))
            rows: list[dict] = []
            page = 1
            while True:
                resp = self.api.call("POST", "/teams/daily-usage-data", limiter=self.admin_limiter,
                                     json={"startDate": day_start_ms(d), "endDate": day_end_ms(last),
                                           "page": page, "pageSize": self.page_size},
                                     parse=parse_daily_page)
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

    # -- Analytics API (Enterprise) -----------------------------------------------------------------

    def analytics(self, metric: AnalyticsMetric, start: date, end: date, *, org: str) -> list[AnalyticsRecord] | None:
        """One team-level Analytics API endpoint over [start, end]; None where the team's plan or
        key has no access (the Analytics API is Enterprise-only)."""
        path = f"/analytics/team/{metric.value}"
        try:
            envelope = self.api.call("GET", path, params={"startDate": start.isoformat(), "endDate": end.isoformat()},
                                     parse=_analytics_parser("ENVELOPE"), limiter=self.admin_limiter)
        except VendorError as exc:
            if exc.status in (401, 403, 404):
                return None
            raise
        from pydantic import ValidationError  # loaded with the envelope's model, above

        try:
            records = analytics_records(metric, envelope.data, org=org)
        except ValidationError as exc:
            raise VendorError(f"{self.vendor} API ({self.label}): GET {path}: unexpected response shape "
                              f"({one_line(str(exc), 160)})") from None
        return [r for r in records if start <= r.day <= end]

    def user_analytics(self, metric: AnalyticsMetric, start: date, end: date, *, org: str,
                       page_size: int = 500) -> list[UserAnalyticsRecord] | None:
        """One by-user Analytics API endpoint (`/analytics/by-user/<metric>`) over [start, end], all
        pages (they page over people), in windows of at most 30 days (the API's range cap); None
        where the key or plan has no access."""
        path = f"/analytics/by-user/{metric.value}"
        where = self._where(path)
        out: list[UserAnalyticsRecord] = []
        first = start
        while first <= end:
            last = min(end, first + timedelta(days=29))
            page = 1
            while True:
                params = {"startDate": first.isoformat(), "endDate": last.isoformat(), "page": page,
                          "pageSize": page_size}
                try:
                    envelope = self.api.call("GET", path, params=params, parse=_analytics_parser("USER_ENVELOPE"),
                                             limiter=self.admin_limiter)
                except VendorError as exc:
                    if exc.status in (401, 403, 404):
                        return None
                    raise
                from pydantic import ValidationError  # loaded with the envelope's model, above

                try:
                    out += user_analytics_records(metric, envelope.data, org=org)
                except ValidationError as exc:
                    raise VendorError(f"{where}: unexpected response shape ({one_line(str(exc), 160)})") from None
                pg = envelope.pagination
                more = pg is not None and (pg.hasNextPage if pg.hasNextPage is not None
                                           else page < (pg.totalPages or 1))
                if not more:
                    break
                page += 1
                if page > 10_000 or (pg.totalPages is not None and page > pg.totalPages):
                    raise VendorError(f"{where}: hasNextPage past the last page; stopping instead of looping")
            first = last + timedelta(days=1)
        return [r for r in out if start <= r.day <= end]

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

                def fetch(page: int, s: int = s, e: int = e) -> EventsPage:
                    return self._events_page(s, e, page)

                # pages 2…, fetched on the prefetch thread while this one converts the page before:
                # the requests' waits (the vendor, the sockets) overlap the conversion, which stays
                # here, in page order, and only for pages that are used
                ahead: _Prefetcher | None = None
                try:
                    while True:
                        resp = ahead.get() if ahead is not None else fetch(page_no)
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
                        if has_next and ahead is None:
                            ahead = _Prefetcher(fetch, first_page=2, limit=limit, page_size=self.page_size)
                            ahead.start(prefetch)
                        try:
                            converted = converter.convert(events)
                        except ShapeError as exc:
                            raise VendorError(f"{where}: unexpected response shape on page {page_no}: "
                                              f"{exc}") from None
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
    """Fetches a window's pages from `first_page` on, on the prefetch thread, up to `depth` pages
    ahead of their use, in page order. The pages are checked and converted where they are used
    (`get`); a failure reaches the caller there, after the pages before it. `close` stops it and
    waits for its thread's request to finish."""

    def __init__(self, fetch: Callable[[int], EventsPage], *, first_page: int,
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
                if not self._put(item) or not _has_next(item, page, self._page_size) or page >= self._limit:
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

    def get(self) -> EventsPage:
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


def daily_activity(rows: Iterable[dict | DailyRow], *, org: str) -> list[ActivityRecord]:
    """Daily usage rows (`parse_daily_page`'s dicts, or `DailyRow`s) → one activity record per
    person and day (inactive members included)."""
    out = []
    source = Source.CURSOR.value
    days: dict[object, date | None] = {}  # a page's rows share a handful of day values
    for r in rows:
        if not isinstance(r, dict):
            r = r.model_dump()
        day = None
        for value in (r["day"], r["date"]):
            if value is not None and value != "":
                if value not in days:
                    days[value] = _date_of(value)
                day = days[value]
                if day is not None:
                    break
        if day is None:
            continue
        email = (r["email"] or "").strip().lower()
        person = email or unmapped_key(f"cursor-user-{r['userId']}")
        active = r["isActive"] if r["isActive"] is not None else True
        out.append(ActivityRecord(
            source=source, day=day, person=person, natural_key="", org=org, is_active=active,
            lines_added=r["totalLinesAdded"], lines_removed=r["totalLinesDeleted"],
            accepted_lines_added=r["acceptedLinesAdded"], accepted_lines_removed=r["acceptedLinesDeleted"],
            edits_accepted=r["totalAccepts"], edits_rejected=r["totalRejects"], tabs_shown=r["totalTabsShown"],
            tabs_accepted=r["totalTabsAccepted"], chat_requests=r["chatRequests"],
            composer_requests=r["composerRequests"], agent_requests=r["agentRequests"], cmdk_usages=r["cmdkUsages"],
            bugbot_usages=r["bugbotUsages"], included_requests=r["subscriptionIncludedReqs"],
            usage_based_requests=r["usageBasedReqs"], api_key_requests=r["apiKeyReqs"],
            most_used_model=r["mostUsedModel"], client_version=r["clientVersion"],
            detail={"total_applies": r["totalApplies"], "apply_most_used_extension": r["applyMostUsedExtension"],
                    "tab_most_used_extension": r["tabMostUsedExtension"]}))
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
    from core.sources.cursor_wire import BillingCycle

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


__all__ = ["CursorAdmin", "EventBatch", "EventConverter", "parse_events_page", "cents_nanos", "EPOCH",
           "daily_activity", "spend_records", "group_records",
           "member_records", "day_start_ms", "day_end_ms", "to_ms", "ms_to_datetime",
           # the wire models, re-exported from core.sources.cursor_wire on first access (__getattr__)
           *_WIRE_MODELS]
