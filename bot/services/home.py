"""The App Home tab: open incidents (with their buttons), alert messages that could not be sent,
sync status, the schedule, settings and thresholds, key mapping."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.blocks import admin as admin_blocks
from bot.blocks import common as c
from bot.blocks import groups as group_blocks
from bot.blocks import home_sections
from storage import outbox_repo
from storage.db import session_scope
from storage.groups_repo import list_groups
from storage.job_repo import JobRunView
from storage.people_repo import unmapped_keys

from .authz import Requester, Role, require
from .incidents import IncidentService
from .reports import ReportService
from .settings import SettingsService

HOME_INCIDENTS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class ScheduleLine:
    """A scheduled job as the App Home shows it."""

    label: str
    schedule: str
    last: JobRunView | None
    next: datetime | None


ROLE_LABELS = {Role.MEMBER: "member", Role.VIEWER: "viewer", Role.ADMIN: "admin"}


class HomeService:
    def __init__(self, engine, *, reports: ReportService, settings: SettingsService, env_admins: int,
                 next_sync: Callable[[], datetime | None], sources: list[str],
                 describe: Mapping[str, str], incidents: IncidentService | None = None,
                 schedule: Callable[[], list[ScheduleLine]] | None = None) -> None:
        self._engine = engine
        self._reports = reports
        self._settings = settings
        self._env_admins = env_admins
        self._next_sync = next_sync
        self._sources = sources
        self._describe = dict(describe)
        self._incidents = incidents
        self._schedule = schedule

    def view(self, requester: Requester) -> dict:
        status = self._reports.sync_status(next_run=self._next_sync(), sources=self._sources)
        keys = None  # members do not see the keys
        if requester.role >= Role.VIEWER:
            with session_scope(self._engine) as session:
                keys = unmapped_keys(session=session)
        extra: list[dict] = []
        if requester.role >= Role.VIEWER:
            with session_scope(self._engine) as session:
                failed = outbox_repo.failed_deliveries(session=session)
            extra += home_sections.home_delivery(failed, can_act=requester.role >= Role.ADMIN)
        if self._incidents is not None and requester.role >= Role.VIEWER:
            views = self._incidents.open_incidents(limit=HOME_INCIDENTS_SHOWN + 1)
            extra += home_sections.home_incidents(views[:HOME_INCIDENTS_SHOWN], more=len(views) > HOME_INCIDENTS_SHOWN,
                                                 can_act=requester.role >= Role.ADMIN, now=datetime.now(UTC))
        if self._schedule is not None:
            extra += home_sections.home_schedule(self._schedule())
        view = admin_blocks.home(role_label=ROLE_LABELS[requester.role], can_admin=requester.role >= Role.ADMIN,
                                 values=self._settings.values(), env_admins=self._env_admins, status=status,
                                 keys=keys, describe=self._describe, extra=extra)
        if requester.role >= Role.VIEWER:
            with session_scope(self._engine) as session:
                groups = list_groups(session=session)
            view["blocks"] = c.cap_blocks([*view["blocks"], *group_blocks.home_section(
                groups, can_admin=requester.role >= Role.ADMIN)], c.MAX_VIEW_BLOCKS)
        return view

    def retry_failed_deliveries(self, requester: Requester) -> int:
        """An admin's "Send them again": every alert message given up on is due now (the running
        sender picks them up within seconds). Returns how many."""
        require(requester, Role.ADMIN)
        with session_scope(self._engine) as session:
            return outbox_repo.retry_failed(session, now=datetime.now(UTC))
