"""Plain records the vendor clients produce besides `core.usage.UsageRecord`.

They carry no storage concerns; `storage/sync_repo.py` maps them to tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from operator import attrgetter

from core.usage import NAME_WIDTH, PERSON_WIDTH, VENDOR_ID_WIDTH, column_text


@dataclass(slots=True)
class ActivityRecord:
    """Productivity figures of one person on one day (→ person_activity).

    `natural_key` tells apart several rows of one person and day (Claude Code reports local and
    remote use, or several terminals, as separate rows); it is "" where one row per day is the rule.
    """

    source: str
    day: date
    person: str
    natural_key: str = ""
    org: str | None = None
    is_active: bool = True
    sessions: int = 0
    lines_added: int = 0
    lines_removed: int = 0
    accepted_lines_added: int = 0
    accepted_lines_removed: int = 0
    commits: int = 0
    pull_requests: int = 0
    edits_accepted: int = 0
    edits_rejected: int = 0
    tabs_shown: int = 0
    tabs_accepted: int = 0
    chat_requests: int = 0
    composer_requests: int = 0
    agent_requests: int = 0
    cmdk_usages: int = 0
    bugbot_usages: int = 0
    included_requests: int = 0
    usage_based_requests: int = 0
    api_key_requests: int = 0
    most_used_model: str | None = None
    client_version: str | None = None
    terminal_type: str | None = None
    detail: dict = field(default_factory=dict)

    def __reduce__(self):
        # pickled as the class and its values in field order (a sync's worker process sends a
        # week of a 1,000-person team, 7,000 of these): half the bytes and time of the slotted
        # dataclass's default, which looks its fields up again for every object
        return ActivityRecord, _activity_values(self)


@dataclass(slots=True)
class VendorCostRecord:
    """One line of the vendor's own bill for a day (Anthropic cost_report)."""

    source: str
    natural_key: str
    org: str
    day: date
    cost_nanos: int
    description: str | None = None
    model: str | None = None
    workspace_id: str | None = None
    cost_type: str | None = None
    token_type: str | None = None


@dataclass(slots=True)
class SpendRecord:
    """One member's spend in the current Cursor billing cycle."""

    email: str
    cycle_start: date
    on_demand_nanos: int
    overall_nanos: int | None
    fast_premium_requests: int | None = None
    limit_dollars: float | None = None
    user_id: str | None = None
    name: str | None = None


@dataclass(slots=True)
class MemberRecord:
    """A person the vendor knows (Cursor team member, Anthropic organisation user)."""

    email: str
    name: str | None = None
    vendor_user_id: str | None = None
    role: str | None = None
    removed: bool = False

    def __post_init__(self) -> None:
        # the vendor's text as the columns hold it (no NUL, at most their width): one hostile or
        # overlong member must not make the database refuse the whole team's members
        self.email = column_text(self.email, PERSON_WIDTH)
        if self.name is not None:
            self.name = column_text(self.name, NAME_WIDTH) or None
        if self.vendor_user_id is not None:
            self.vendor_user_id = column_text(self.vendor_user_id, VENDOR_ID_WIDTH)


@dataclass(slots=True)
class KeyRecord:
    """An Anthropic API key and, where the vendor knows it, the email of its creator."""

    key_id: str
    name: str | None
    workspace_id: str | None
    creator_id: str | None
    creator_email: str | None
    status: str | None


@dataclass(slots=True)
class GroupRecord:
    """A Cursor billing group with its current members' emails."""

    external_id: str
    name: str
    member_emails: list[str]
    cycle_start: date | None = None
    cycle_end: date | None = None
    unassigned: bool = False

    def __post_init__(self) -> None:
        # as MemberRecord: the columns' text (billing_group.name and external_id, person.email)
        self.external_id = column_text(self.external_id, NAME_WIDTH)
        self.name = column_text(self.name, NAME_WIDTH)
        self.member_emails = [column_text(e, PERSON_WIDTH) for e in self.member_emails]


_activity_values = attrgetter(*(f.name for f in fields(ActivityRecord)))
