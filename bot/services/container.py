"""Everything the listeners need, built once by the composition root (bot/app.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot.import_service import ImportService
from storage import analytics_repo
from storage.db import session_scope

from . import memory
from .admin import AdminService, SyncRunner
from .authz import Authorizer, UserDirectory
from .commands import CommandService
from .delivery import Delivery
from .file_import import SharedFileImports
from .groups import GroupAdmin
from .home import HomeService, ScheduleLine
from .incidents import IncidentService
from .reports import ReportService
from .settings import SettingsService

log = logging.getLogger(__name__)


@dataclass
class Services:
    engine: Engine
    directory: UserDirectory
    authorizer: Authorizer
    settings: SettingsService
    reports: ReportService
    admin: AdminService
    commands: CommandService
    home: HomeService
    delivery: Delivery
    incidents: IncidentService
    file_imports: SharedFileImports
    groups: GroupAdmin
    work: ThreadPoolExecutor  # the slow part of every request runs here, after the ack
    drawing: ThreadPoolExecutor  # charts drawn alongside queries (matplotlib is serialised anyway)

    def submit(self, work: Callable[[], None]) -> None:
        """Run `work` in the pool, then hand freed memory back to the OS (see `memory.release`)."""

        def run() -> None:
            try:
                work()
            finally:
                memory.release()

        self.work.submit(run)

    def shutdown(self, *, wait: bool = True) -> None:
        self.work.shutdown(wait=wait, cancel_futures=not wait)
        self.drawing.shutdown(wait=wait, cancel_futures=not wait)


def _lookup_user(client: WebClient) -> Callable[[str], dict]:
    def lookup(user_id: str) -> dict:
        return client.users_info(user=user_id)["user"]

    return lookup


def build_services(*, engine: Engine, client: WebClient, env_admins: list[str], sync_runner: SyncRunner | None,
                   next_sync: Callable[[], datetime | None], sources: list[str], describe: dict[str, str],
                   schedule: Callable[[], list[ScheduleLine]] | None = None, workers: int = 8,
                   email_domain: str | None = None) -> Services:
    directory = UserDirectory(_lookup_user(client))
    settings = SettingsService(engine)
    authorizer = Authorizer(engine=engine, env_admins=env_admins, directory=directory,
                            load_lists=settings.access_lists)
    reports = ReportService(engine)
    admin = AdminService(engine, sync_runner=sync_runner)

    def email_by_slack_id(user_id: str) -> str | None:
        with session_scope(engine) as session:
            person = analytics_repo.find_person(session=session, slack_user_id=user_id)
        return person.email if person else None

    drawing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="abacus-draw")
    commands = CommandService(reports=reports, admin=admin, settings=settings, directory=directory,
                              find_email_by_slack_id=email_by_slack_id, env_admins=len(env_admins), drawing=drawing)
    incidents = IncidentService(engine, client)
    home = HomeService(engine, reports=reports, settings=settings, env_admins=len(env_admins), next_sync=next_sync,
                       sources=sources, describe=describe, incidents=incidents, schedule=schedule)
    delivery = Delivery(client)
    file_imports = SharedFileImports(engine, client, importer=ImportService(engine, email_domain=email_domain),
                                     requester=authorizer.requester, dm_channel=delivery.dm_channel)
    return Services(engine=engine, directory=directory, authorizer=authorizer, settings=settings, reports=reports,
                    admin=admin, commands=commands, home=home, delivery=delivery, incidents=incidents,
                    file_imports=file_imports, groups=GroupAdmin(engine),
                    work=ThreadPoolExecutor(max_workers=workers, thread_name_prefix="abacus-work"), drawing=drawing)
