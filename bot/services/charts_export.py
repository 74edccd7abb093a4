"""Every chart the bot can draw, written to a folder (for `abacus demo`): the same services
and data shaping as the Slack answers, so the demo shows exactly what Slack would."""

from __future__ import annotations

from pathlib import Path

import charts
from core.detection.config import DetectionSettings
from core.periods import DateRange
from storage import settings_repo
from storage.db import session_scope

from . import charting
from .reply import Attachment
from .reports import ReportService


def render_all(engine, out: Path, period: DateRange) -> list[Path]:
    """Render dashboard, top people, a person's timeline and model mix, models, groups, adoption,
    forecast and the tool split for `period` into `out`; returns the files written."""
    reports = ReportService(engine)
    with session_scope(engine) as session:
        budget = settings_repo.get_setting(session=session, key="monthly_budget_usd")
        min_days = settings_repo.get_setting(session=session, key="detection.forecast_min_days",
                                             default=DetectionSettings().forecast_min_days)
        cycle_start_day = settings_repo.get_setting(session=session, key="detection.cycle_start_day",
                                                    default=DetectionSettings().cycle_start_day)
    dashboard = reports.dashboard(period)
    top = reports.top(period, 10, None)
    attachments: list[tuple[str, Attachment]] = [
        ("dashboard", charting.dashboard(dashboard)[0]),
        ("top", charting.top(top, {r.person: r.name or r.person for r in top.rows})[0]),
        ("models", charting.models(reports.models(period))[0]),
        ("groups", charting.groups(reports.groups(period))[0]),
        ("adoption", charting.adoption(reports.adoption(period))[0]),
        ("forecast", charting.forecast(reports.forecast(budget, today=period.end, min_days=float(min_days),
                                                              cycle_start_day=int(cycle_start_day or 0)))[0]),
    ]
    split = {src: totals.cost_nanos / 1e9 for src, totals in dashboard.current.by_source.items()}
    chart = charts.spend_split(split)
    attachments.append(("tool-split", Attachment(chart.png, chart.filename, chart.title, chart.alt_text)))
    person = next((r.person for r in top.rows if not r.person.startswith("unmapped:")), None)
    if person:
        for i, attachment in enumerate(charting.user(reports.user(person, period, must_exist=False))):
            attachments.append((("user-timeline", "user-models")[i], attachment))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, (name, attachment) in enumerate(attachments, 1):
        path = out / f"{i:02d}-{name}.png"
        path.write_bytes(attachment.content)
        written.append(path)
    return written
