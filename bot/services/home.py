"""The App Home tab: sync status, settings and thresholds, key mapping."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from bot.blocks import admin as admin_blocks
from bot.blocks import common as c
from bot.blocks import groups as group_blocks
from storage.db import session_scope
from storage.groups_repo import list_groups
from storage.people_repo import unmapped_keys

from .authz import Requester, Role
from .reports import ReportService
from .settings import SettingsService

ROLE_LABELS = {Role.MEMBER: "member", Role.VIEWER: "viewer", Role.ADMIN: "admin"}


class HomeService:
    def __init__(self, engine, *, reports: ReportService, settings: SettingsService, env_admins: int,
                 next_sync: Callable[[], datetime | None], sources: list[str],
                 describe: Mapping[str, str]) -> None:
        self._engine = engine
        self._reports = reports
        self._settings = settings
        self._env_admins = env_admins
        self._next_sync = next_sync
        self._sources = sources
        self._describe = dict(describe)

    def view(self, requester: Requester) -> dict:
        status = self._reports.sync_status(next_run=self._next_sync(), sources=self._sources)
        keys = None  # members do not see the keys
        if requester.role >= Role.VIEWER:
            with session_scope(self._engine) as session:
                keys = unmapped_keys(session=session)
        view = admin_blocks.home(role_label=ROLE_LABELS[requester.role], can_admin=requester.role >= Role.ADMIN,
                                 values=self._settings.values(), env_admins=self._env_admins, status=status,
                                 keys=keys, describe=self._describe)
        if requester.role >= Role.VIEWER:
            with session_scope(self._engine) as session:
                groups = list_groups(session=session)
            view["blocks"] = c.cap_blocks([*view["blocks"], *group_blocks.home_section(
                groups, can_admin=requester.role >= Role.ADMIN)], c.MAX_VIEW_BLOCKS)
        return view
