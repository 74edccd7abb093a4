"""Anthropic Admin API: Claude Code analytics, the messages usage report, cost report, keys and users.

Wire formats: shared/reference/vendor-apis.md §A. One `AnthropicAdmin` per organisation (admin key).
The client pages through the vendor's responses; the module-level functions turn a day of vendor
rows into `UsageRecord`s and plain records. Nothing here touches storage.

Money: Claude Code analytics `estimated_cost.amount` is a NUMBER in cents; cost_report `amount` is a
decimal STRING in cents. Both become integer nano-dollars without passing through float sums.
The messages report carries no cost: those rows are priced from the dated table (`core.pricing`),
with the long-context rate where the row says `context_window: "200k-1M"`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import Field, TypeAdapter

from core.identity import IdentityResolver
from core.pricing import estimate_cost_nanos, normalise_model
from core.sources.http import JsonApi, PageGuard, RateLimiter, RetryPolicy, VendorError, key_hint
from core.sources.records import ActivityRecord, KeyRecord, MemberRecord, VendorCostRecord
from core.sources.wire import DayText, Int0, LineCents, UsageCents, Wire
from core.usage import CostBasis, Feed, OccurrenceCounter, Source, UsageRecord, cents_to_nanos, natural_key

if TYPE_CHECKING:  # httpx is loaded by core.sources.http (without its command line)
    import httpx

ANTHROPIC_VERSION = "2023-06-01"
# Usage and Cost Analytics API (beta): GET /v1/organizations/analytics/cost needs this flag
COST_ANALYTICS_BETA = "analytics-usage-cost-2026-08-24"
COST_ANALYTICS_PATH = "/v1/organizations/analytics/cost"
COST_ANALYTICS_FIRST_DAY = date(2026, 1, 1)  # "no earlier than 2026-01-01T00:00:00Z"
COST_ANALYTICS_MAX_AGE_DAYS = 365  # "within the last 365 days"


def cost_analytics_covers(day: date, today: date) -> bool:
    """Whether the Usage and Cost Analytics API serves this day (its documented range)."""
    return day >= COST_ANALYTICS_FIRST_DAY and (today - day).days < COST_ANALYTICS_MAX_AGE_DAYS
CLAUDE_CODE_WORKSPACE = "claude code"  # the workspace Anthropic creates for Claude Code logins
CLAUDE_CODE_KEY_PREFIX = "claude_code_key_"
MESSAGES_GROUP_BY = ("api_key_id", "workspace_id", "model", "context_window")
MAX_DAYS_PER_REPORT = 31  # `1d` buckets: at most 31 per page

T = TypeVar("T")


# --- directory endpoints -------------------------------------------------------------------------

class Organization(Wire):
    id: str
    name: str | None = None


class User(Wire):
    id: str
    email: str | None = None
    name: str | None = None
    role: str | None = None


class Principal(Wire):
    id: str | None = None
    type: str | None = None


class ApiKeyInfo(Wire):
    id: str
    name: str | None = None
    created_by: Principal | None = None
    workspace_id: str | None = None
    status: str | None = None


class Workspace(Wire):
    id: str
    name: str | None = None


class DirectoryPage(Wire, Generic[T]):
    data: list[T] = Field(default_factory=list)
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None


# --- Claude Code analytics -----------------------------------------------------------------------

class Actor(Wire):
    type: str | None = None
    email_address: str | None = None
    api_key_name: str | None = None


class LinesOfCode(Wire):
    added: Int0 = 0
    removed: Int0 = 0


class CoreMetrics(Wire):
    num_sessions: Int0 = 0
    lines_of_code: LinesOfCode | None = None
    commits_by_claude_code: Int0 = 0
    pull_requests_by_claude_code: Int0 = 0


class ToolAction(Wire):
    accepted: Int0 = 0
    rejected: Int0 = 0


class CCTokens(Wire):
    input: Int0 = 0
    output: Int0 = 0
    cache_read: Int0 = 0
    cache_creation: Int0 = 0


class EstimatedCost(Wire):
    currency: str | None = "USD"
    amount: UsageCents | None = None  # cents, a JSON number


class ModelBreakdown(Wire):
    model: str | None = None
    tokens: CCTokens | None = None
    estimated_cost: EstimatedCost | None = None


class ClaudeCodeRow(Wire):
    date: DayText | None = None
    actor: Actor | None = None
    organization_id: str | None = None
    customer_type: str | None = None
    subscription_type: str | None = None
    terminal_type: str | None = None
    is_remote: bool | None = None
    core_metrics: CoreMetrics | None = None
    tool_actions: dict[str, ToolAction | None] | None = None
    model_breakdown: list[ModelBreakdown] | None = None


class ReportPage(Wire, Generic[T]):
    data: list[T] = Field(default_factory=list)
    has_more: bool = False
    next_page: str | None = None


# --- messages usage report and cost report -------------------------------------------------------

class CacheCreation(Wire):
    ephemeral_1h_input_tokens: Int0 = 0
    ephemeral_5m_input_tokens: Int0 = 0


class MessagesResult(Wire):
    uncached_input_tokens: Int0 = 0
    cache_creation: CacheCreation | None = None
    # a third-party schema flattens the cache writes; read those names too
    cache_creation_5m_input_tokens: Int0 = 0
    cache_creation_1h_input_tokens: Int0 = 0
    cache_read_input_tokens: Int0 = 0
    output_tokens: Int0 = 0
    api_key_id: str | None = None
    workspace_id: str | None = None
    model: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None

    @property
    def cache_5m(self) -> int:
        return self.cache_creation.ephemeral_5m_input_tokens if self.cache_creation else \
            self.cache_creation_5m_input_tokens

    @property
    def cache_1h(self) -> int:
        return self.cache_creation.ephemeral_1h_input_tokens if self.cache_creation else \
            self.cache_creation_1h_input_tokens


class CostResult(Wire):
    amount: LineCents = Decimal(0)  # cents, a decimal string
    currency: str | None = "USD"
    cost_type: str | None = None
    description: str | None = None
    model: str | None = None
    token_type: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None
    workspace_id: str | None = None


class Bucket(Wire, Generic[T]):
    starting_at: DayText
    ending_at: str | None = None
    results: list[T] | None = None


# --- Usage and Cost Analytics API (beta): billed cost per actor, product and model -----------------

class AnalyticsActor(Wire):
    """`group.actor`: a user (`user_actor`: `email_address`, `user_id`, `name`), a service
    account, an API key or a federated identity. Older reference pages call the email `email`."""

    type: str | None = None
    email_address: str | None = None
    email: str | None = None
    user_id: str | None = None

    @property
    def user_email(self) -> str | None:
        if self.type not in (None, "user_actor"):
            return None
        mail = (self.email_address or self.email or "").strip().lower()
        return mail or None


class AnalyticsCostGroup(Wire):
    actor: AnalyticsActor | None = None
    product: str | None = None
    model: str | None = None


class AnalyticsCostMetrics(Wire):
    amount: UsageCents = Decimal(0)  # post-discount, pre-credit, in (fractional) cents; string or number
    list_amount: UsageCents | None = None  # list price, pre-discount
    currency: str | None = "USD"
    requests: Int0 | None = None


class AnalyticsCostRow(Wire):
    starting_at: str | None = None
    ending_at: str | None = None
    group: AnalyticsCostGroup | None = None
    cost: AnalyticsCostMetrics | None = None


_ORG = TypeAdapter(Organization)
_USERS = TypeAdapter(DirectoryPage[User])
_KEYS = TypeAdapter(DirectoryPage[ApiKeyInfo])
_WORKSPACES = TypeAdapter(DirectoryPage[Workspace])
_CLAUDE_CODE = TypeAdapter(ReportPage[ClaudeCodeRow])
_MESSAGES = TypeAdapter(ReportPage[Bucket[MessagesResult]])
_COSTS = TypeAdapter(ReportPage[Bucket[CostResult]])
_ANALYTICS_COST = TypeAdapter(ReportPage[AnalyticsCostRow])


def _day_of(text: str) -> date:
    return date.fromisoformat(text.strip()[:10])


def _rfc3339(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _chunks(start: date, end: date, size: int) -> Iterator[tuple[date, date]]:
    d = start
    while d <= end:
        last = min(end, d + timedelta(days=size - 1))
        yield d, last
        d = last + timedelta(days=1)


class AnthropicAdmin:
    """The Admin API of one Anthropic organisation, around an injected `httpx.Client`."""

    vendor = "Anthropic"

    def __init__(self, client: httpx.Client, api_key: str, *, limiter: RateLimiter | None = None,
                 retry: RetryPolicy | None = None, label: str | None = None,
                 sleep: Callable[[float], None] = time.sleep, on_wait: Callable[[str], None] | None = None,
                 page_limit: int = 1000, other_secrets: Sequence[str] = ()) -> None:
        if not api_key:
            raise ValueError("an Anthropic admin key is required")
        self.limiter = limiter
        self.page_limit = page_limit
        self.api = JsonApi(client, vendor=self.vendor, label=label or f"key{key_hint(api_key)}",
                           headers={"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION},
                           secrets=[api_key, *other_secrets], retry=retry, sleep=sleep, on_wait=on_wait)

    @property
    def label(self) -> str:
        return self.api.label

    @label.setter
    def label(self, value: str) -> None:
        self.api.label = value

    def _get(self, path: str, adapter: TypeAdapter, params: Any = None):
        return self.api.call("GET", path, params=params, parse=adapter.validate_json, limiter=self.limiter)

    # -- directory --------------------------------------------------------------------------------

    def organization(self) -> Organization | None:
        """The organisation of this key, or None where the endpoint is not offered."""
        try:
            return self._get("/v1/organizations/me", _ORG)
        except VendorError as exc:
            if exc.status in (403, 404, 405):
                return None
            raise

    def _directory(self, path: str, adapter: TypeAdapter, params: dict | None = None) -> Iterator[Any]:
        guard = PageGuard(f"{self.vendor} API ({self.label}): GET {path}")
        after: str | None = None
        while True:
            query = {**(params or {}), "limit": self.page_limit}
            if after:
                query["after_id"] = after
            page = self._get(path, adapter, query)
            yield from page.data
            if not page.has_more:
                return
            after = page.last_id or (page.data[-1].id if page.data else None)
            if not after:
                raise VendorError(f"{guard.where}: has_more without last_id; cannot page on")
            guard.next(after)

    def users(self) -> list[User]:
        return list(self._directory("/v1/organizations/users", _USERS))

    def api_keys(self) -> list[ApiKeyInfo]:
        return list(self._directory("/v1/organizations/api_keys", _KEYS))

    def workspaces(self) -> list[Workspace]:
        """All workspaces (archived too); empty where the key may not list them."""
        try:
            return list(self._directory("/v1/organizations/workspaces", _WORKSPACES,
                                        {"include_archived": "true"}))
        except VendorError as exc:
            if exc.status in (403, 404):
                return []
            raise

    # -- reports ----------------------------------------------------------------------------------

    def _report(self, path: str, adapter: TypeAdapter, params: list[tuple[str, Any]]) -> Iterator[Any]:
        guard = PageGuard(f"{self.vendor} API ({self.label}): GET {path}")
        token: str | None = None
        previous: list | None = None
        while True:
            page = self._get(path, adapter, params + ([("page", token)] if token else []))
            if previous is not None and page.data and page.data == previous:
                raise VendorError(f"{guard.where}: the vendor returned the same page twice; "
                                  "stopping instead of looping")
            previous = page.data
            yield page
            if not page.has_more:
                return
            if not page.next_page:
                raise VendorError(f"{guard.where}: has_more without next_page; cannot page on")
            guard.next(page.next_page)
            token = page.next_page

    def claude_code_day(self, day: date) -> list[ClaudeCodeRow]:
        """Every Claude Code analytics row of one UTC day (all pages)."""
        rows: list[ClaudeCodeRow] = []
        for page in self._report("/v1/organizations/usage_report/claude_code", _CLAUDE_CODE,
                                 [("starting_at", day.isoformat()), ("limit", min(self.page_limit, 1000))]):
            rows.extend(page.data)
        return rows

    def claude_code_costs(self, day: date) -> list[AnalyticsCostRow] | None:
        """Claude Code's cost of one UTC day per actor and model, as billed (Usage and Cost
        Analytics API, beta: `products[]=claude_code`, `group_by[]=actor,model`, one `1d` bucket).
        None where this key or organisation has no access (401/403/404, or a 400 refusing the
        beta): the caller falls back to the Claude Code Analytics estimates."""
        params: list[tuple[str, Any]] = [
            ("starting_at", _rfc3339(day)), ("ending_at", _rfc3339(day + timedelta(days=1))),
            ("time_bucket_width", "1d"), ("products[]", "claude_code"), ("group_by[]", "actor"),
            ("group_by[]", "model"), ("limit", 100)]
        guard = PageGuard(f"{self.vendor} API ({self.label}): GET {COST_ANALYTICS_PATH}")
        rows: list[AnalyticsCostRow] = []
        token: str | None = None
        while True:
            try:
                page = self.api.call("GET", COST_ANALYTICS_PATH, params=params + ([("page", token)] if token else []),
                                     parse=_ANALYTICS_COST.validate_json, limiter=self.limiter,
                                     headers={"anthropic-beta": COST_ANALYTICS_BETA})
            except VendorError as exc:
                if exc.status in (400, 401, 403, 404) and not rows:
                    return None
                raise
            rows.extend(page.data)
            if not page.has_more:
                return rows
            if not page.next_page:
                raise VendorError(f"{guard.where}: has_more without next_page; cannot page on")
            guard.next(page.next_page)
            token = page.next_page

    def _day_buckets(self, path: str, adapter: TypeAdapter, start: date, end: date,
                     extra: list[tuple[str, Any]]) -> Iterator[tuple[date, list]]:
        for first, last in _chunks(start, end, MAX_DAYS_PER_REPORT):
            days = (last - first).days + 1
            params = [("starting_at", _rfc3339(first)), ("ending_at", _rfc3339(last + timedelta(days=1))),
                      ("bucket_width", "1d"), ("limit", days), *extra]
            # Buckets come oldest first: once a page holds a later day, the days before it are
            # complete and are handed on (and committed by the caller) at once, so a run that is
            # stopped mid-range keeps every finished page's days instead of starting the range over.
            by_day: dict[date, list] = {}
            handed: set[date] = set()
            for page in self._report(path, adapter, params):
                for bucket in page.data:
                    day = _day_of(bucket.starting_at)
                    if day in handed:  # its figures were already taken as complete: never write half a day
                        raise VendorError(f"{self.vendor} API ({self.label}): GET {path}: the buckets of "
                                          f"{day} came back out of order; stopping instead of counting it twice")
                    if first <= day <= last:
                        by_day.setdefault(day, []).extend(bucket.results or [])
                if by_day:
                    newest = max(by_day)
                    for day in sorted(d for d in by_day if d < newest):
                        handed.add(day)
                        yield day, by_day.pop(day)
            for day in sorted(by_day):
                yield day, by_day[day]

    def messages_days(self, start: date, end: date) -> Iterator[tuple[date, list[MessagesResult]]]:
        """(day, results) for each `1d` bucket the vendor returned in [start, end], oldest first.
        Empty buckets come back with no results; a day the vendor did not return is not yielded."""
        group_by = [("group_by[]", g) for g in MESSAGES_GROUP_BY]
        yield from self._day_buckets("/v1/organizations/usage_report/messages", _MESSAGES, start, end, group_by)

    def cost_days(self, start: date, end: date) -> Iterator[tuple[date, list[CostResult]]]:
        group_by = [("group_by[]", "workspace_id"), ("group_by[]", "description")]
        yield from self._day_buckets("/v1/organizations/cost_report", _COSTS, start, end, group_by)


# --- conversion: pure functions ------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _model(raw: str) -> str:
    return normalise_model(raw)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def member_records(users: Iterable[User]) -> list[MemberRecord]:
    return [MemberRecord(email=u.email.strip().lower(), name=u.name, vendor_user_id=u.id, role=u.role)
            for u in users if u.email and "@" in u.email]


def key_records(keys: Iterable[ApiKeyInfo], users: Iterable[User]) -> list[KeyRecord]:
    """Each key with its creator's email where the creator is a known user (created_by may be null)."""
    emails = {u.id: u.email.strip().lower() for u in users if u.email}
    out = []
    for k in keys:
        creator = k.created_by.id if k.created_by and (k.created_by.type in (None, "user")) else None
        out.append(KeyRecord(key_id=k.id, name=k.name, workspace_id=k.workspace_id, creator_id=creator,
                             creator_email=emails.get(creator) if creator else None, status=k.status))
    return out


def claude_code_workspace_ids(workspaces: Iterable[Workspace]) -> set[str]:
    return {w.id for w in workspaces if (w.name or "").strip().lower() == CLAUDE_CODE_WORKSPACE}


def is_claude_code_key(name: str | None, workspace_id: str | None, claude_code_workspaces: set[str]) -> bool:
    """Messages-report usage counts as Claude Code when made with a key in the "Claude Code"
    workspace or a key named `claude_code_key_*` (the keys Claude Code provisions)."""
    if workspace_id and workspace_id in claude_code_workspaces:
        return True
    return bool(name) and name.lower().startswith(CLAUDE_CODE_KEY_PREFIX)


def claude_code_usage(rows: Iterable[ClaudeCodeRow], *, day: date, org: str, resolver: IdentityResolver
                      ) -> tuple[list[UsageRecord], list[ActivityRecord]]:
    """One day of Claude Code analytics → usage per actor × model, and productivity per row.

    The natural key holds the row's identity (organisation, actor, terminal, remote or not) and its
    figures, so a re-fetched unchanged row is a no-op and a revised one replaces it (see core.sync).
    Rows identical in every field are told apart by their order (OccurrenceCounter).
    """
    usage: list[UsageRecord] = []
    activity: list[ActivityRecord] = []
    counter = OccurrenceCounter()
    ts = _midnight(day)
    for row in rows:
        actor = row.actor or Actor()
        if actor.type == "api_actor" or (actor.api_key_name and not actor.email_address):
            ref, key_name = actor.api_key_name or "unknown", actor.api_key_name
            person = resolver.person(key_name=key_name)
        else:
            ref, key_name = (actor.email_address or "").strip().lower(), None
            person = ref or resolver.person(key_name=None)
        identity = (row.organization_id or org, day.isoformat(), actor.type, ref, row.terminal_type,
                    row.is_remote, row.customer_type, row.subscription_type)
        row_key = counter.key("cc_row", *identity)
        metrics = row.core_metrics or CoreMetrics()
        lines = metrics.lines_of_code or LinesOfCode()
        tools = {name: (t or ToolAction()) for name, t in (row.tool_actions or {}).items()}
        activity.append(ActivityRecord(
            source=Source.CLAUDE_CODE.value, day=day, person=person, natural_key=row_key, org=org,
            is_active=True, sessions=metrics.num_sessions, lines_added=lines.added, lines_removed=lines.removed,
            commits=metrics.commits_by_claude_code, pull_requests=metrics.pull_requests_by_claude_code,
            edits_accepted=sum(t.accepted for t in tools.values()),
            edits_rejected=sum(t.rejected for t in tools.values()),
            terminal_type=row.terminal_type,
            detail={"tool_actions": {n: {"accepted": t.accepted, "rejected": t.rejected} for n, t in tools.items()},
                    "customer_type": row.customer_type, "subscription_type": row.subscription_type,
                    "is_remote": row.is_remote, "actor_type": actor.type}))
        for mb in row.model_breakdown or []:
            tok = mb.tokens or CCTokens()
            raw_model = mb.model or "unknown"
            cents = mb.estimated_cost.amount if mb.estimated_cost else None
            estimate, est_basis = estimate_cost_nanos(
                raw_model, input_tokens=tok.input, cache_write_5m=tok.cache_creation, cache_read=tok.cache_read,
                output=tok.output, on=day)
            cost, basis = (cents_to_nanos(cents), CostBasis.VENDOR) if cents is not None else (estimate, est_basis)
            usage.append(UsageRecord(
                source=Source.CLAUDE_CODE, feed=Feed.CLAUDE_CODE_ANALYTICS,
                natural_key=counter.key("cc_usage", *identity, raw_model, tok.input, tok.output, tok.cache_read,
                                        tok.cache_creation, cents),
                ts=ts, person=person, raw_model=raw_model, model=_model(raw_model),
                # the analytics API has no 5m/1h split of cache writes: all are counted as 5-minute writes
                input_tokens=tok.input, cache_write_5m_tokens=tok.cache_creation, cache_read_tokens=tok.cache_read,
                output_tokens=tok.output, cost_nanos=cost, cost_basis=basis, estimated_cost_nanos=estimate,
                requests=0, api_key=key_name, org=org, kind=row.customer_type))
    return usage, activity


def messages_usage(results: Iterable[MessagesResult], *, day: date, org: str, resolver: IdentityResolver,
                   key_names: Mapping[str, str | None], claude_code_workspaces: set[str]
                   ) -> tuple[list[UsageRecord], int]:
    """One `1d` bucket of the messages report → Claude Code usage per key × model.

    Only Claude Code keys count (see `is_claude_code_key`); the other rows are API usage of the
    organisation, not a coding tool, and are dropped (their number is returned).
    """
    out: list[UsageRecord] = []
    dropped = 0
    ts = _midnight(day)
    for r in results:
        name = key_names.get(r.api_key_id) if r.api_key_id else None
        if not is_claude_code_key(name, r.workspace_id, claude_code_workspaces):
            dropped += 1
            continue
        raw_model = r.model or "unknown"
        cost, basis = estimate_cost_nanos(raw_model, input_tokens=r.uncached_input_tokens, cache_write_5m=r.cache_5m,
                                          cache_write_1h=r.cache_1h, cache_read=r.cache_read_input_tokens,
                                          output=r.output_tokens, on=day, context_window=r.context_window,
                                          inference_geo=r.inference_geo)
        out.append(UsageRecord(
            source=Source.CLAUDE_CODE, feed=Feed.ANTHROPIC_MESSAGES,
            natural_key=natural_key("anthropic_messages", day.isoformat(), r.api_key_id, r.workspace_id, raw_model,
                                    r.context_window, r.service_tier, r.inference_geo, r.uncached_input_tokens,
                                    r.cache_5m, r.cache_1h, r.cache_read_input_tokens, r.output_tokens),
            ts=ts, person=resolver.person(key_id=r.api_key_id, key_name=name), raw_model=raw_model,
            model=_model(raw_model), input_tokens=r.uncached_input_tokens, cache_write_5m_tokens=r.cache_5m,
            cache_write_1h_tokens=r.cache_1h, cache_read_tokens=r.cache_read_input_tokens,
            output_tokens=r.output_tokens, cost_nanos=cost, cost_basis=basis, estimated_cost_nanos=cost,
            requests=0, api_key=r.api_key_id, org=org))
    return out, dropped


def cost_lines(results: Iterable[CostResult], *, day: date, org: str) -> list[VendorCostRecord]:
    """A day of cost_report → one record per line item (identical line items are summed)."""
    lines: dict[str, VendorCostRecord] = {}
    for r in results:
        key = natural_key("anthropic_cost", org, day.isoformat(), r.workspace_id, r.description, r.model,
                          r.cost_type, r.token_type, r.service_tier, r.context_window, r.inference_geo, r.currency)
        nanos = cents_to_nanos(r.amount)
        if key in lines:
            lines[key].cost_nanos += nanos
        else:
            lines[key] = VendorCostRecord(source=Source.CLAUDE_CODE.value, natural_key=key, org=org, day=day,
                                          cost_nanos=nanos, description=r.description, model=r.model,
                                          workspace_id=r.workspace_id, cost_type=r.cost_type,
                                          token_type=r.token_type)
    return list(lines.values())


def apply_billed_costs(usage: list[UsageRecord], billed: Iterable[AnalyticsCostRow], *, day: date
                       ) -> tuple[list[UsageRecord], int]:
    """A day's Claude Code analytics records with their cost replaced by what the Usage and Cost
    Analytics API billed for the same person and model (post-discount `amount`).

    Precedence: the bill's figure > Claude Code Analytics `estimated_cost` > the price table. Tokens
    and everything else stay as Claude Code Analytics reports them; the estimate stays in
    `estimated_cost_nanos`. One person-model may span several analytics rows (terminals, remote and
    local): the billed amount is split over them in proportion to their estimates (by tokens where
    those are all zero), to the nano, so the rows sum to the bill exactly. The natural key takes the
    billed amount, so a revised bill replaces the stored rows. Billed person-models without an
    analytics row are not added (no token figures to go with them): returns their count."""
    bills: dict[tuple[str, str], int] = {}
    for row in billed:
        g, c = row.group or AnalyticsCostGroup(), row.cost
        person = (g.actor or AnalyticsActor()).user_email
        if c is None or person is None or (g.product not in (None, "claude_code")) or (c.currency or "USD") != "USD":
            continue
        if row.starting_at and _row_day(row.starting_at) not in (None, day):
            continue
        key = (person, _model(g.model or "unknown"))
        bills[key] = bills.get(key, 0) + cents_to_nanos(c.amount)
    targets: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(usage):
        if r.feed is Feed.CLAUDE_CODE_ANALYTICS and r.api_key is None:
            targets.setdefault((r.person, r.model), []).append(i)
    out = list(usage)
    for key, nanos in bills.items():
        idx = targets.get(key)
        if not idx:
            continue
        weights = [max(0, usage[i].cost_nanos) for i in idx]
        if not sum(weights):
            weights = [usage[i].input_tokens + usage[i].output_tokens + usage[i].cache_read_tokens
                       + usage[i].cache_write_5m_tokens for i in idx]
        if not sum(weights):
            weights = [1] * len(idx)
        for i, share in zip(idx, _split(nanos, weights), strict=True):
            r = usage[i]
            out[i] = replace(r, cost_nanos=share, cost_basis=CostBasis.VENDOR,
                             natural_key=natural_key(r.natural_key, "billed", share))
    return out, sum(1 for key in bills if key not in targets)


def _row_day(text: str) -> date | None:
    try:
        return _day_of(text)
    except ValueError:
        return None


def _split(total: int, weights: list[int]) -> list[int]:
    """`total` in proportion to `weights`, as integers summing to `total` (largest remainder)."""
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    rest = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: -((total * weights[i]) % whole))
    for i in order[:rest]:
        shares[i] += 1
    return shares
