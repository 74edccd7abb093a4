"""Cursor Admin API wire formats (shared/reference/vendor-apis.md §B): typed dicts for the usage
events (the hot path, validated straight from JSON bytes) and small tolerant pydantic models for the
other endpoints. `core.sources.cursor` re-exports them."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field
from typing_extensions import TypedDict

from core.sources.wire import Int0, Wire

# --- usage events: the hot path, validated straight from JSON bytes into typed dicts -------------

class _TokenUsage(TypedDict, total=False):
    inputTokens: int | None
    outputTokens: int | None
    cacheWriteTokens: int | None
    cacheReadTokens: int | None
    totalCents: Decimal | None


class UsageEvent(TypedDict, total=False):
    timestamp: str | int
    userEmail: str | None
    userId: str | int | None
    serviceAccountName: str | None
    model: str | None
    kind: str | None
    maxMode: bool | None
    isTokenBasedCall: bool | None
    tokenUsage: _TokenUsage | None
    chargedCents: Decimal | None
    cursorTokenFee: Decimal | None


class _Pagination(TypedDict, total=False):
    numPages: int | None
    currentPage: int | None
    pageSize: int | None
    hasNextPage: bool | None


class EventsPage(TypedDict, total=False):
    totalUsageEventsCount: int | None
    pagination: _Pagination | None
    usageEvents: list[UsageEvent] | None


# --- the other endpoints: small, pydantic models ---------------------------------------------------

class Member(Wire):
    id: str | int | None = None
    name: str | None = None
    email: str | None = None
    role: str | None = None
    isRemoved: bool | None = False


class MembersResponse(Wire):
    teamMembers: list[Member] = Field(default_factory=list)


class DailyRow(Wire):
    userId: str | int | None = None
    day: str | None = None
    date: int | str | None = None
    email: str | None = None
    isActive: bool | None = None
    totalLinesAdded: Int0 = 0
    totalLinesDeleted: Int0 = 0
    acceptedLinesAdded: Int0 = 0
    acceptedLinesDeleted: Int0 = 0
    totalApplies: Int0 = 0
    totalAccepts: Int0 = 0
    totalRejects: Int0 = 0
    totalTabsShown: Int0 = 0
    totalTabsAccepted: Int0 = 0
    composerRequests: Int0 = 0
    chatRequests: Int0 = 0
    agentRequests: Int0 = 0
    cmdkUsages: Int0 = 0
    subscriptionIncludedReqs: Int0 = 0
    apiKeyReqs: Int0 = 0
    usageBasedReqs: Int0 = 0
    bugbotUsages: Int0 = 0
    mostUsedModel: str | None = None
    applyMostUsedExtension: str | None = None
    tabMostUsedExtension: str | None = None
    clientVersion: str | None = None


class PagePagination(Wire):
    page: int | None = None
    totalPages: int | None = None
    hasNextPage: bool | None = None


class DailyResponse(Wire):
    data: list[DailyRow] = Field(default_factory=list)
    pagination: PagePagination | None = None


class SpendMember(Wire):
    userId: str | int | None = None
    name: str | None = None
    email: str | None = None
    role: str | None = None
    spendCents: Decimal | None = None
    overallSpendCents: Decimal | None = None  # the newer shape: included + on-demand
    includedSpendCents: Decimal | None = None
    fastPremiumRequests: int | None = None
    hardLimitOverrideDollars: Decimal | None = None
    monthlyLimitDollars: Decimal | None = None
    effectivePerUserLimitDollars: Decimal | None = None


class SpendResponse(Wire):
    teamMemberSpend: list[SpendMember] = Field(default_factory=list)
    subscriptionCycleStart: int | str | None = None
    totalMembers: int | None = None
    totalPages: int | None = None


class GroupMember(Wire):
    userId: str | int | None = None
    name: str | None = None
    email: str | None = None


class Group(Wire):
    id: str
    name: str | None = None
    type: str | None = None
    currentMembers: list[GroupMember] | None = None


class BillingCycle(Wire):
    cycleStart: str | int | None = None
    cycleEnd: str | int | None = None


class GroupsResponse(Wire):
    groups: list[Group] = Field(default_factory=list)
    unassignedGroup: Group | None = None
    billingCycle: BillingCycle | None = None
