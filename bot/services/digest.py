"""The weekly digest (ABACUS_DIGEST_SCHEDULE): spend by tool with a chart, the biggest movers,
the week's incidents with MTTD/MTTI/MTTR, the forecast against the budget, and cost per pull
request / commit where the activity data has them.

The scheduler only queues an outbox row (`digest:<day>`, so two replicas queue one); the
sender renders it from the database at send time, like every alert, and posts it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.engine import Engine

from bot.blocks import alerts as alert_blocks
from bot.blocks.alerts import AlertMessage
from core.incidents import IncidentTimes, IncidentTimings, IncidentView, incident_timings
from core.periods import DateRange
from storage import analytics_repo, digest_repo, incident_repo, outbox_repo
from storage.db import session_scope

from .reports import ForecastView, ReportService
from .settings import SettingsService

WEEK = 7
MOVERS_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Mover:
    person: str
    name: str | None
    this_week_nanos: int
    last_week_nanos: int

    @property
    def change_nanos(self) -> int:
        return self.this_week_nanos - self.last_week_nanos


@dataclass(slots=True)
class Digest:
    week: DateRange
    by_tool: dict[str, int]  # source → nanos this week
    by_tool_previous: dict[str, int]
    movers: list[Mover]
    incidents: list[IncidentView]
    timings: IncidentTimings
    forecast: ForecastView | None
    commits: int
    pull_requests: int
    daily: list = field(default_factory=list)

    @property
    def total_nanos(self) -> int:
        return sum(self.by_tool.values())

    @property
    def previous_nanos(self) -> int:
        return sum(self.by_tool_previous.values())


class DigestService:
    def __init__(self, engine: Engine, reports: ReportService, settings: SettingsService) -> None:
        self._engine = engine
        self._reports = reports
        self._settings = settings

    @staticmethod
    def queue(engine: Engine, *, tick: datetime, channel: str | None) -> str:
        """Queue the digest for the week ending the day before `tick` (once per tick)."""
        week_end = tick.date() - timedelta(days=1)
        with session_scope(engine) as session:
            queued = outbox_repo.queue(session, dedup_key=f"digest:{tick.date().isoformat()}", kind="digest",
                                       payload={"alert": "digest", "week_end": week_end.isoformat()}, now=tick,
                                       channel=channel)
        return f"digest for the week to {week_end.isoformat()} " + ("queued" if queued else "was already queued")

    def build(self, week_end: date, *, now: datetime) -> Digest:
        week = DateRange(week_end - timedelta(days=WEEK - 1), week_end)
        previous = DateRange(week.start - timedelta(days=WEEK), week.start - timedelta(days=1))
        start_at = datetime.combine(week.start, time(0), tzinfo=UTC)
        with session_scope(self._engine) as s:
            this = analytics_repo.period_summary(session=s, period=week)
            before = analytics_repo.period_summary(session=s, period=previous)
            daily = analytics_repo.daily_spend(session=s, period=week)
            now_costs = dict(analytics_repo.person_costs(session=s, period=week))
            then_costs = dict(analytics_repo.person_costs(session=s, period=previous))
            # the week of the day the incident is about (a day bucket's data time is its end, the next
            # midnight: the week's last day would fall into the next week, the day before into this one)
            incidents = [v for v in incident_repo.incidents_since(session=s, since=start_at)
                         if week.start <= v.first_day <= week.end]
            commits, prs = digest_repo.activity_totals(session=s, period=week)
            people = sorted(set(now_costs) | set(then_costs), key=lambda p: -abs(now_costs.get(p, 0)
                                                                                   - then_costs.get(p, 0)))
            shown = [p for p in people if not p.startswith("unmapped:")][:MOVERS_SHOWN]
            names = analytics_repo.person_names(session=s, emails=shown)
        movers = [Mover(p, names.get(p), now_costs.get(p, 0), then_costs.get(p, 0)) for p in shown
                  if now_costs.get(p, 0) != then_costs.get(p, 0)]
        timings = incident_timings([IncidentTimes(v.status, v.data_at, v.alerted_at, v.acknowledged_at,
                                                  v.resolved_at) for v in incidents], WEEK)
        values = self._settings.values()
        budget = values.get("monthly_budget_usd")
        forecast = self._reports.forecast(budget, now=now,
                                          cycle_start_day=int(values.get("detection.cycle_start_day") or 0),
                                          min_days=float(values["detection.forecast_min_days"]))
        return Digest(week=week, by_tool={k: v.cost_nanos for k, v in this.by_source.items()},
                      by_tool_previous={k: v.cost_nanos for k, v in before.by_source.items()}, movers=movers,
                      incidents=incidents, timings=timings, forecast=forecast, commits=commits,
                      pull_requests=prs, daily=daily)

    def render(self, payload: dict, now: datetime) -> AlertMessage:
        """The digest an outbox row asks for, from the data as it is now (with its chart)."""
        try:
            week_end = date.fromisoformat(str(payload.get("week_end")))
        except ValueError:
            week_end = now.date() - timedelta(days=1)
        digest = self.build(week_end, now=now)
        message = alert_blocks.digest_message(digest, now=now)
        from . import charting  # matplotlib: loaded when a digest is drawn, not by every CLI command

        chart = charting.daily_spend(digest.week, digest.daily)
        return AlertMessage(text=message.text, blocks=message.blocks, files=(chart,))
