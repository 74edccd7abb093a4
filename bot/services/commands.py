"""`/abacus` subcommands → `Reply`: one service call, then the pure builders and charts.

The listener has already acknowledged, parsed and authorised; this module only answers.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace

from bot.blocks import admin as admin_blocks
from bot.blocks import common as c
from bot.blocks import help as help_blocks
from bot.blocks import reports as report_blocks
from bot.blocks.payloads import UsersPage
from core.errors import InputError
from core.periods import PeriodError

from . import charting
from .admin import AdminService
from .authz import Requester, Role, UserDirectory, require
from .grammar import MAX_FILTER, Command, Sub, parse_sort, parse_user_ref
from .grammar import period as grammar_period
from .reply import Attachment, Reply
from .reports import ReportService
from .settings import SettingsService


@dataclass
class CommandService:
    reports: ReportService
    admin: AdminService
    settings: SettingsService
    directory: UserDirectory
    find_email_by_slack_id: Callable[[str], str | None]
    env_admins: int
    drawing: Executor  # charts drawn concurrently with the queries that do not feed them

    def run(self, cmd: Command, requester: Requester, *, progress: Callable[[str], None] | None = None) -> Reply:
        """Answer `cmd`. `progress` shows an interim private note for slow commands (sync)."""
        if cmd.sub is Sub.SYNC and progress is not None:
            require(requester, Role.ADMIN)
            span = f" for {cmd.sync_from}..{cmd.sync_to}" if cmd.sync_from else " (incremental)"
            progress(f":hourglass_flowing_sand: Syncing{span}; the result follows here.")
        handler = getattr(self, f"_{cmd.sub.value}")
        return handler(cmd, requester)

    # --- everyone --------------------------------------------------------------------------------

    def _help(self, cmd: Command, who: Requester) -> Reply:
        blocks = help_blocks.help_blocks(can_view_team=who.role >= Role.VIEWER, can_admin=who.role >= Role.ADMIN)
        return Reply(text="Abacus commands: /abacus help", blocks=blocks, shareable=False)

    def _me(self, cmd: Command, who: Requester) -> Reply:
        if not who.email:
            raise InputError("I can't see your email in Slack, so I don't know which usage is yours; "
                             "ask an admin to check the app's users:read.email scope")
        return self._person(who.email, cmd, must_exist=False)

    def _user(self, cmd: Command, who: Requester) -> Reply:
        return self._person(self.resolve_target(cmd), cmd)

    def resolve_target(self, cmd: Command) -> str:
        if cmd.target_email:
            return cmd.target_email
        assert cmd.target_user_id
        email = self.directory.email(cmd.target_user_id) or self.find_email_by_slack_id(cmd.target_user_id)
        if not email:
            raise InputError("I can't see that person's email in Slack; try `/abacus user their.email@…`")
        return email

    def _person(self, email: str, cmd: Command, *, must_exist: bool = True) -> Reply:
        view = self.reports.user(email, cmd.period, must_exist=must_exist)
        return Reply(text=report_blocks.user_text(view), blocks=report_blocks.user(view), files=charting.user(view))

    # --- team views ------------------------------------------------------------------------------

    def _dashboard(self, cmd: Command, who: Requester) -> Reply:
        # The chart needs only the daily rows (a tiny query): draw it while the summaries are queried.
        people = self.reports.group_members(cmd.group)
        daily = self.reports.daily_spend(cmd.period, people=people)
        chart = self.drawing.submit(charting.daily_spend, cmd.period, daily)
        view = self.reports.dashboard(cmd.period, daily=daily, people=people)
        return _in_group(Reply(text=report_blocks.dashboard_text(view), blocks=report_blocks.dashboard(view),
                               files=[chart]), cmd.group, people)

    def _top(self, cmd: Command, who: Requester) -> Reply:
        people = self.reports.group_members(cmd.group)
        view = self.reports.top(cmd.period, cmd.n, cmd.source, people=people)
        labels = {r.person: r.name or r.person for r in view.rows}
        return _in_group(Reply(text=report_blocks.top_text(view), blocks=report_blocks.top(view),
                               files=charting.top(view, labels)), cmd.group, people)

    def _models(self, cmd: Command, who: Requester) -> Reply:
        people = self.reports.group_members(cmd.group)
        view = self.reports.models(cmd.period, people=people)
        return _in_group(Reply(text=f"Models by spend {view.period}", blocks=report_blocks.models(view),
                               files=charting.models(view)), cmd.group, people)

    def _users(self, cmd: Command, who: Requester) -> Reply:
        query = cmd.query
        user_id, _ = parse_user_ref(query) if query.startswith("<@") else (None, None)
        if user_id:  # `users @ann`: the filter is her email (the table shows emails, not Slack ids)
            query = self.resolve_target(replace(cmd, target_user_id=user_id, target_email=None))
        view = self.reports.users(cmd.period, period_text=cmd.period_text, sort=cmd.sort, descending=cmd.descending,
                                  query=query, offset=0, group=cmd.group)
        return _in_group(Reply(text=report_blocks.users_text(view), blocks=report_blocks.users(view)), cmd.group)

    def users_page(self, page: UsersPage, who: Requester) -> Reply:
        """Another page or sort order of the `users` table (from its buttons)."""
        require(who, Role.VIEWER)
        try:
            period, period_text = grammar_period(page.period)
            sort, descending = parse_sort(f"{page.sort}:{'desc' if page.descending else 'asc'}")
        except PeriodError as exc:
            raise InputError(str(exc)) from None
        group = page.group or None
        view = self.reports.users(period, period_text=period_text, sort=sort, descending=descending,
                                  query=page.query[:MAX_FILTER], offset=page.offset, group=group)
        return _in_group(Reply(text=report_blocks.users_text(view), blocks=report_blocks.users(view)), group)

    def _groups(self, cmd: Command, who: Requester) -> Reply:
        view = self.reports.groups(cmd.period)
        return Reply(text=f"Spend by group {view.period}", blocks=report_blocks.groups(view),
                     files=charting.groups(view))

    def _adoption(self, cmd: Command, who: Requester) -> Reply:
        view = self.reports.adoption(cmd.period)
        return Reply(text=f"Adoption {view.period}: {view.active_people} active", blocks=report_blocks.adoption(view),
                     files=charting.adoption(view))

    def _forecast(self, cmd: Command, who: Requester) -> Reply:
        values = self.settings.values()
        view = self.reports.forecast(values.get("monthly_budget_usd"),
                                     cycle_start_day=int(values.get("detection.cycle_start_day") or 0),
                                     min_days=float(values["detection.forecast_min_days"]))
        return Reply(text=report_blocks.forecast_text(view), blocks=report_blocks.forecast(view),
                     files=charting.forecast(view))

    def _incidents(self, cmd: Command, who: Requester) -> Reply:
        view = self.reports.incidents()
        return Reply(text=f"{view.open_count} open incidents", blocks=report_blocks.incidents(view))

    def _export(self, cmd: Command, who: Requester) -> Reply:
        people = self.reports.group_members(cmd.group)
        out = self.reports.export(cmd.period, people=people)
        text = f"Usage by person, {out.period}: {out.rows} rows as CSV."
        if cmd.group:
            text = f"Usage by person in group {c.escape(cmd.group)}, {out.period}: {out.rows} rows as CSV."
        return Reply(text=text, blocks=[c.section(f":page_facing_up: {text}")],
                     files=[Attachment(content=out.csv, filename=out.filename, title=f"Abacus usage {out.period}")])

    def _unmapped(self, cmd: Command, who: Requester) -> Reply:
        view = self.reports.unmapped()
        return Reply(text=f"{len(view.keys)} unmapped keys", blocks=admin_blocks.unmapped(view))

    def _settings(self, cmd: Command, who: Requester) -> Reply:
        blocks = admin_blocks.settings(self.settings.values(), env_admins=self.env_admins,
                                       can_edit=who.role >= Role.ADMIN)
        return Reply(text="Abacus settings", blocks=blocks)

    # --- changes ---------------------------------------------------------------------------------

    def _map(self, cmd: Command, who: Requester) -> Reply:
        result = self.admin.map_key(who, cmd.key or "", cmd.email or "")
        return Reply(text=f"Mapped {c.escape(result.key)} to {c.escape(result.email)}",
                     blocks=admin_blocks.mapped(result.key, result.email, result.changed))

    def _sync(self, cmd: Command, who: Requester) -> Reply:
        outcome = self.admin.sync(who, cmd.sync_from, cmd.sync_to)
        return Reply(text="Sync " + ("finished" if outcome.ok else "had problems"),
                     blocks=admin_blocks.sync_result(outcome.lines, ok=outcome.ok))


assert all(hasattr(CommandService, f"_{s.value}") for s in Sub), "every subcommand has a handler"


def _in_group(reply: Reply, group: str | None, people: list[str] | None = None) -> Reply:
    """A reply filtered to a group says so, first thing (text and blocks)."""
    if not group:
        return reply
    members = f" ({len(people)} people)" if people is not None else ""
    note = f"Group *{c.escape(group)}*{members}"
    return replace(reply, text=f"[group {c.fallback(group, 300)}] {reply.text}",
                   blocks=[c.context(f":busts_in_silhouette: {note}"), *reply.blocks])
