"""Read-only application services: each turns a command into a view model (plain data, no
Slack, no SQL here), reading through storage/analytics_repo.py in one session."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from core.adoption import CursorAnalyticsSummary, CursorUserAnalytics
from core.detection.config import DetectionSettings, cycle_containing, resolve_cycle_start_day
from core.detection.layers import day_fraction, project
from core.errors import InputError
from core.identity import person_matches
from core.incidents import TIMING_WINDOWS, IncidentTimes, IncidentTimings, IncidentView, incident_timings
from core.periods import DateRange
from core.reconciliation import Reconciliation
from core.report import Dimension, to_csv
from core.usage import is_unmapped
from storage import analytics_repo as repo
from storage import detection_repo, incident_repo
from storage.db import session_scope
from storage.people_repo import UnmappedKey, unmapped_keys
from storage.reconciliation_repo import reconciliation
from storage.report_repo import usage_report
from storage.rollup_sql import live_days
from storage.vendor_analytics_repo import cursor_analytics, cursor_user_analytics

from .grammar import SortField

USERS_PAGE_SIZE = 15
NEVER_USED_SHOWN = 30


# --- view models -----------------------------------------------------------------------------------

@dataclass(slots=True)
class DashboardView:
    period: DateRange
    current: repo.PeriodSummary
    previous: repo.PeriodSummary
    daily: list[repo.DailySpend]
    top_models: list[repo.ModelCost]
    top_people: list[repo.PersonUsage]
    names: dict[str, str]
    live_days: list[date] = field(default_factory=list)  # Claude Code days still on live telemetry estimates


@dataclass(slots=True)
class TopRow:
    rank: int
    person: str
    name: str | None
    cost_nanos: int
    share: float | None
    total_tokens: int
    top_model: str | None
    previous_nanos: int


@dataclass(slots=True)
class TopView:
    period: DateRange
    source: str | None
    n: int
    rows: list[TopRow]
    total_nanos: int
    people_with_usage: int  # people and unmapped keys
    unmapped_keys: int = 0  # of which keys nobody owns

    @property
    def people(self) -> int:
        """People with usage (the team size the text and chart talk about)."""
        return self.people_with_usage - self.unmapped_keys

    def ranked_among(self) -> str:
        """`48 people and 2 unmapped keys`: what the top N is taken from, said the same way everywhere."""
        text = f"{self.people:,} {'person' if self.people == 1 else 'people'}"
        if self.unmapped_keys:
            text += f" and {self.unmapped_keys:,} unmapped key{'s' if self.unmapped_keys != 1 else ''}"
        return text


@dataclass(slots=True)
class UserView:
    email: str
    name: str | None
    group: str | None
    period: DateRange
    current: repo.PeriodSummary
    previous: repo.PeriodSummary
    daily: list[repo.DailySpend]
    models: list[repo.ModelUsage]
    productivity: repo.Productivity
    incidents: list[IncidentView]
    team_rank: int | None = None
    team_size: int = 0
    live_days: list[date] = field(default_factory=list)
    cursor_analytics: CursorUserAnalytics | None = None  # Cursor Analytics API, by-user (Enterprise)


@dataclass(slots=True)
class ModelsView:
    period: DateRange
    rows: list[repo.ModelUsage]
    total_nanos: int
    reconciliation: Reconciliation | None = None  # billed (Anthropic cost report) vs Claude Code figures


@dataclass(slots=True)
class PivotRow:
    person: str
    name: str | None
    cost_nanos: int
    total_tokens: int
    claude_code_nanos: int
    cursor_nanos: int
    active_days: int
    last_day: date | None

    @property
    def avg_per_day_nanos(self) -> int:
        return self.cost_nanos // self.active_days if self.active_days else 0


@dataclass(slots=True)
class UsersView:
    period: DateRange
    period_text: str
    sort: SortField
    descending: bool
    query: str
    offset: int
    page_size: int
    matched: int
    rows: list[PivotRow]
    totals: PivotRow
    group: str | None = None  # a `group:NAME` filter

    @property
    def has_prev(self) -> bool:
        return self.offset > 0

    @property
    def has_next(self) -> bool:
        return self.offset + self.page_size < self.matched


@dataclass(slots=True)
class GroupsView:
    period: DateRange
    rows: list[repo.GroupUsage]
    total_nanos: int


@dataclass(slots=True)
class AdoptionView:
    period: DateRange
    team_size: int
    cursor_seats: int
    claude_seats: int
    active_people: int
    active_with_seat: int
    never_used: list[repo.Seat]
    idle_in_period: list[repo.Seat]
    dau: list[repo.DailyActive]
    seat_holders: int = 0  # people with a Cursor or a Claude Code seat: what adoption is measured against
    cursor_analytics: CursorAnalyticsSummary | None = None  # Cursor Analytics API (Enterprise), when synced

    @property
    def average_dau(self) -> float:
        overall = [d.people for d in self.dau if d.source is None]
        return sum(overall) / self.period.days if overall else 0.0

    @property
    def peak_dau(self) -> int:
        return max((d.people for d in self.dau if d.source is None), default=0)


@dataclass(slots=True)
class ForecastView:
    today: date
    month_start: date  # the billing cycle's first day (calendar month unless Cursor's cycle is used)
    month_end: date  # its last day
    mtd_nanos: int
    mtd_by_source: dict[str, int]
    run_rate_nanos: int  # per day: the cycle-to-date pace (today counted as the share elapsed)
    projected_nanos: int  # core.detection.layers.project: the same figure detection alerts on
    budget_nanos: int | None
    daily: list[repo.DailySpend]
    previous_month_nanos: int
    cursor_cycle: tuple[date, int] | None = None

    @property
    def days_in_month(self) -> int:
        return (self.month_end - self.month_start).days + 1

    @property
    def is_calendar_month(self) -> bool:
        return self.month_start.day == 1 and (self.month_end + timedelta(days=1)).day == 1

    @property
    def cycle_word(self) -> str:
        """"month" for a calendar month, else "cycle" (a billing cycle from the 15th to the 14th)."""
        return "month" if self.is_calendar_month else "cycle"

    @property
    def cycle_label(self) -> str:
        if self.is_calendar_month:
            return self.month_start.strftime("%B %Y")
        return f"{self.month_start.isoformat()} → {self.month_end.isoformat()}"

    @property
    def days_elapsed(self) -> int:
        return (self.today - self.month_start).days + 1

    elapsed_days: float = 0.0  # complete days + today's elapsed share
    settled: bool = True  # core.detection.layers.Projection.settled: False = too early in the cycle to project
    min_days: float = 0.0  # the days of the cycle a projection needs (detection.forecast_min_days)

    @property
    def budget_used(self) -> float | None:
        return None if not self.budget_nanos else self.mtd_nanos / self.budget_nanos

    @property
    def projected_vs_budget(self) -> float | None:
        return None if not self.budget_nanos else self.projected_nanos / self.budget_nanos

    @property
    def elapsed_shown(self) -> str:
        """The elapsed days to one decimal, cut rather than rounded: 2.98 days is "2.9", never the
        "3.0" of a projection that needs 3 and is not there yet."""
        return f"{math.floor(self.elapsed_days * 10 + 1e-9) / 10:.1f}"

    @property
    def days_left_shown(self) -> str:
        """The days of the cycle still to come, so that the two shown add up to the cycle's length."""
        return f"{max(0.0, self.days_in_month - float(self.elapsed_shown)):.1f}"

    @property
    def too_early(self) -> str | None:
        """Why there is no projection yet (the chart, `/abacus forecast` and the digest say the same), or None."""
        if self.settled:
            return None
        return (f"too early to project: {self.elapsed_shown} of {self.days_in_month} days of the cycle, "
                f"a projection needs {self.min_days:g}")


@dataclass(slots=True)
class IncidentsView:
    open: list[IncidentView]
    open_count: int
    timings: list[IncidentTimings]  # one per window of TIMING_WINDOWS (7, 30, 90 days)


@dataclass(slots=True)
class UnmappedView:
    keys: list[UnmappedKey]


@dataclass(slots=True)
class ExportFile:
    period: DateRange
    filename: str
    csv: bytes
    rows: int


@dataclass(slots=True)
class SyncStatusView:
    runs: list[repo.SyncStatus]
    next_run: datetime | None
    sources_configured: list[str] = field(default_factory=list)


# --- the service -----------------------------------------------------------------------------------

class ReportService:
    def __init__(self, engine) -> None:
        self._engine = engine

    def _session(self):
        return session_scope(self._engine)

    def group_members(self, group: str | None) -> list[str] | None:
        """A `group:NAME` filter → its members' emails (None: no filter); an unknown group is bad input."""
        if group is None:
            return None
        with self._session() as s:
            members = repo.group_members(session=s, name=group)
            if members is None:
                known = repo.group_names(session=s)
        if members is None:
            hint = ("; groups: " + ", ".join(known[:10]) + (" …" if len(known) > 10 else "")) if known else \
                "; there are no groups yet (import a HiBob directory, or create one in the App Home)"
            raise InputError(f"no group named {group!r}{hint}")
        return members

    def daily_spend(self, period: DateRange, *, people: list[str] | None = None) -> list[repo.DailySpend]:
        with self._session() as s:
            return repo.daily_spend(session=s, period=period, people=people)

    def dashboard(self, period: DateRange, *, daily: list[repo.DailySpend] | None = None,
                  people: list[str] | None = None) -> DashboardView:
        previous = period.previous()
        with self._session() as s:
            current = repo.period_summary(session=s, period=period, people=people)
            before = repo.period_summary(session=s, period=previous, people=people)
            daily = daily if daily is not None else repo.daily_spend(session=s, period=period, people=people)
            models = repo.model_costs(session=s, period=period, limit=5, people=people)
            ranked = repo.person_costs(session=s, period=period, people=people)[:5]
            top = [repo.PersonUsage(person=p, cost_nanos=c) for p, c in ranked]
            names = repo.person_names(session=s, emails=[p.person for p in top])
            live = live_days(session=s, start=period.start, end=period.end, persons=people)  # a group's own
        return DashboardView(period, current, before, daily, models, top, names, live_days=live)

    def top(self, period: DateRange, n: int, source: str | None, *, people: list[str] | None = None) -> TopView:
        with self._session() as s:
            everyone = repo.person_costs(session=s, period=period, source=source, people=people)
            total = sum(c for _, c in everyone)
            emails = [p for p, _ in everyone[:n]]
            details = {p.person: p for p in repo.people_usage(session=s, period=period, source=source, people=emails)}
            chosen = [details[e] for e in emails]
            before = repo.cost_by_person(session=s, period=period.previous(), people=emails, source=source)
            models = repo.top_model_by_person(session=s, period=period, people=emails, source=source)
            names = repo.person_names(session=s, emails=emails)
        rows = [TopRow(rank=i + 1, person=p.person, name=names.get(p.person), cost_nanos=p.cost_nanos,
                       share=(p.cost_nanos / total) if total else None, total_tokens=p.total_tokens,
                       top_model=models.get(p.person), previous_nanos=before.get(p.person, 0))
                for i, p in enumerate(chosen)]
        return TopView(period=period, source=source, n=n, rows=rows, total_nanos=total,
                       people_with_usage=len(everyone), unmapped_keys=sum(1 for p, _ in everyone if is_unmapped(p)))

    def user(self, email: str, period: DateRange, *, must_exist: bool = True) -> UserView:
        with self._session() as s:
            info = repo.find_person(session=s, email=email)
            if must_exist and info is None and not repo.has_any_usage(session=s, person=email):
                raise InputError(f"no usage and no person known for {email}")
            current = repo.period_summary(session=s, period=period, person=email)
            before = repo.period_summary(session=s, period=period.previous(), person=email)
            daily = repo.daily_spend(session=s, period=period, person=email)
            models = repo.models_usage(session=s, period=period, person=email)
            prod = repo.productivity(session=s, period=period, person=email)
            incidents = incident_repo.open_incidents(session=s, person=email, limit=10)
            ranking = repo.person_costs(session=s, period=period)
            live = live_days(session=s, start=period.start, end=period.end, persons=[email])
            cursor = cursor_user_analytics(session=s, person=email, period=period)
        # the team's rank: among people, as its size counts them (an unattributed key is nobody's rank)
        ranking = [(p, c) for p, c in ranking if not is_unmapped(p)]
        rank = next((i + 1 for i, (p, _) in enumerate(ranking) if p == email), None)
        return UserView(email=email, name=info.name if info else None, group=info.group if info else None,
                        period=period, current=current, previous=before, daily=daily, models=models,
                        productivity=prod, incidents=incidents, team_rank=rank,
                        team_size=len(ranking), live_days=live,
                        cursor_analytics=cursor)

    def models(self, period: DateRange, *, people: list[str] | None = None) -> ModelsView:
        with self._session() as s:
            rows = repo.models_usage(session=s, period=period, people=people)
            # the bill is the organisation's: shown beside the whole team's figures, not a group's
            recon = reconciliation(session=s, period=period) if people is None else None
        return ModelsView(period=period, rows=rows, total_nanos=sum(r.cost_nanos for r in rows),
                          reconciliation=recon if recon is not None and recon.has_bill else None)

    def reconciliation(self, period: DateRange) -> Reconciliation:
        """Billed versus estimated per model and day (core.reconciliation), e.g. for the digest."""
        with self._session() as s:
            return reconciliation(session=s, period=period)

    def users(self, period: DateRange, *, period_text: str, sort: SortField, descending: bool, query: str,
              offset: int, page_size: int = USERS_PAGE_SIZE, group: str | None = None) -> UsersView:
        people = self.group_members(group)
        with self._session() as s:
            everyone = repo.people_usage(session=s, period=period, people=people) if people != [] else []
            names = repo.person_names(session=s, emails=[p.person for p in everyone])
        rows = [PivotRow(p.person, names.get(p.person), p.cost_nanos, p.total_tokens, p.claude_code_nanos,
                         p.cursor_nanos, p.active_days, p.last_day) for p in everyone]
        needle = query.casefold().strip()
        if needle:
            rows = [r for r in rows if person_matches(needle, r.person, r.name)]
        rows.sort(key=lambda r: r.person)  # stable tie-break
        rows.sort(key=_SORT_KEYS[sort], reverse=descending)
        totals = PivotRow("TOTAL", None, sum(r.cost_nanos for r in rows), sum(r.total_tokens for r in rows),
                          sum(r.claude_code_nanos for r in rows), sum(r.cursor_nanos for r in rows),
                          0, max((r.last_day for r in rows if r.last_day), default=None))
        offset = max(0, min(offset, max(0, len(rows) - 1)))
        offset -= offset % page_size
        return UsersView(period=period, period_text=period_text, sort=sort, descending=descending, query=query,
                         offset=offset, page_size=page_size, matched=len(rows),
                         rows=rows[offset:offset + page_size], totals=totals, group=group)

    def groups(self, period: DateRange) -> GroupsView:
        with self._session() as s:
            rows = repo.groups_usage(session=s, period=period)
        return GroupsView(period=period, rows=rows, total_nanos=sum(r.cost_nanos for r in rows))

    def adoption(self, period: DateRange) -> AdoptionView:
        with self._session() as s:
            team = repo.seats(session=s)
            dau = repo.daily_active_people(session=s, period=period)
            active = {p for p, _ in repo.person_costs(session=s, period=period) if not is_unmapped(p)}
            vendor_analytics = cursor_analytics(session=s, period=period)
        with_seat = [t for t in team if t.cursor_seat or t.claude_seat]
        never = [t for t in with_seat if t.last_day is None]
        idle = [t for t in with_seat if t.last_day is not None and t.email not in active]
        return AdoptionView(period=period, team_size=len(team), cursor_seats=sum(t.cursor_seat for t in team),
                            claude_seats=sum(t.claude_seat for t in team), active_people=len(active),
                            active_with_seat=sum(1 for t in with_seat if t.email in active), never_used=never,
                            idle_in_period=idle, dau=dau, seat_holders=len(with_seat),
                            cursor_analytics=vendor_analytics)

    def forecast(self, budget_usd: float | None, *, today: date | None = None, now: datetime | None = None,
                 cycle_start_day: int = 0, min_days: float = DetectionSettings().forecast_min_days) -> ForecastView:
        """Cycle-to-date spend and the cycle-end projection (core.detection.layers.project, the
        figure the forecast_budget alert uses); `min_days`: the days of the cycle before the
        projection counts (detection's rule, the setting `detection.forecast_min_days`)."""
        now = now or datetime.now(UTC)
        today = today or now.date()
        with self._session() as s:
            anchor = resolve_cycle_start_day(cycle_start_day, detection_repo.vendor_cycle_start(session=s))
            cycle = cycle_containing(today, anchor)
            daily = repo.daily_spend(session=s, period=DateRange(cycle.start, today))
            prev_end = cycle.start - timedelta(days=1)
            prev = repo.period_summary(session=s, period=DateRange(cycle_containing(prev_end, anchor).start, prev_end))
            cycle_spend = repo.cursor_cycle_spend(session=s)
        mtd = sum(d.cost_nanos for d in daily)
        by_source: dict[str, int] = {}
        for d in daily:
            by_source[d.source] = by_source.get(d.source, 0) + d.cost_nanos
        p = project(mtd, today, cycle, day_fraction(today, now))
        pace = round(mtd / p.elapsed_days) if p.elapsed_days > 0 else 0
        budget = None if budget_usd in (None, 0) else int(round(float(budget_usd) * 1_000_000_000))
        return ForecastView(today=today, month_start=cycle.start, month_end=cycle.end, mtd_nanos=mtd,
                            mtd_by_source=by_source, run_rate_nanos=pace, projected_nanos=p.projected_nanos,
                            budget_nanos=budget, daily=daily, previous_month_nanos=prev.cost_nanos,
                            cursor_cycle=cycle_spend, elapsed_days=p.elapsed_days,
                            settled=p.settled(min_days), min_days=min_days)

    def incidents(self, *, now: datetime | None = None) -> IncidentsView:
        now = now or datetime.now(UTC)
        since = now - timedelta(days=max(TIMING_WINDOWS))
        with self._session() as s:
            open_rows = incident_repo.open_incidents(session=s, limit=20)
            open_count = incident_repo.count_open(session=s)
            recent = incident_repo.incidents_since(session=s, since=since)
        timings = [incident_timings([_times(v) for v in recent if v.data_at >= now - timedelta(days=w)], w)
                   for w in TIMING_WINDOWS]
        return IncidentsView(open=open_rows, open_count=open_count, timings=timings)

    def unmapped(self) -> UnmappedView:
        with self._session() as s:
            return UnmappedView(keys=unmapped_keys(session=s))

    def export(self, period: DateRange, *, people: list[str] | None = None) -> ExportFile:
        with self._session() as s:
            report = usage_report(session=s, period=period, by=Dimension.USER, people=people)
        data = to_csv(report).encode("utf-8")
        return ExportFile(period=period, filename=f"abacus-usage-{period.start}-{period.end}.csv", csv=data,
                          rows=len(report.rows))

    def sync_status(self, *, next_run: datetime | None, sources: list[str]) -> SyncStatusView:
        with self._session() as s:
            runs = repo.sync_status(session=s)
        return SyncStatusView(runs=runs, next_run=next_run, sources_configured=sources)


_SORT_KEYS = {
    SortField.SPEND: lambda r: r.cost_nanos,
    SortField.TOKENS: lambda r: r.total_tokens,
    SortField.CLAUDE: lambda r: r.claude_code_nanos,
    SortField.CURSOR: lambda r: r.cursor_nanos,
    SortField.DAYS: lambda r: r.active_days,
    SortField.AVG: lambda r: r.avg_per_day_nanos,
    SortField.LAST: lambda r: r.last_day or date.min,
    SortField.NAME: lambda r: (r.name or r.person).casefold(),
}


def _times(v: IncidentView) -> IncidentTimes:
    return IncidentTimes(v.status, v.data_at, v.alerted_at, v.acknowledged_at, v.resolved_at)
