"""Seeding the synthetic team into a database (demo and benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from core.identity import KeyOwner, MappedHow
from core.incidents import format_duration
from core.periods import DateRange
from core.synthetic import SyntheticTeam, build_team
from core.usage import Source
from storage.db import session_scope
from storage.demo_repo import DemoFootprint
from storage.people_repo import upsert_key, upsert_person
from storage.tables import BillingGroup
from storage.usage_repo import WriteResult, write_usage


@dataclass
class Seeded:
    team: SyntheticTeam
    result: WriteResult
    detection_summary: str | None = None


def demo_parameters(*, people: int, days: int, seed: int, end: date, domain: str) -> str:
    """How a demo was made, as stored beside it: another demo replaces one made differently."""
    return f"people={people} days={days} seed={seed} end={end} domain={domain}"


def earlier_footprint(earlier: str | None, *, people: int, days: int, seed: int, end: date, domain: str,
                      team_wide: bool) -> DemoFootprint | None:
    """What the demo made with the parameters `earlier` wrote besides usage (its people's incidents,
    and its people, keys and groups) that a demo made with these parameters will not write again."""
    try:
        made = dict(part.split("=", 1) for part in (earlier or "").split())
        old = build_team(people=int(made["people"]), days=int(made["days"]), seed=int(made["seed"]),
                         end=date.fromisoformat(made["end"]), domain=made["domain"])
    except (KeyError, ValueError):
        return None  # no demo yet
    new = build_team(people=people, days=days, seed=seed, end=end, domain=domain)

    def keys(team: SyntheticTeam) -> set[str]:
        return {p.claude_key_name for p in team.people if p.claude_key_name} | set(team.unmapped_keys)

    return DemoFootprint(subjects={p.email for p in old.people} | {f"unmapped:{k}" for k in old.unmapped_keys},
                         team_wide=team_wide,
                         people={p.email for p in old.people} - {p.email for p in new.people},
                         keys=keys(old) - keys(new),
                         groups={p.group for p in old.people} - {p.group for p in new.people})


def seed_people(engine: Engine, team: SyntheticTeam) -> None:
    from sqlmodel import select

    with session_scope(engine) as session:
        groups: dict[str, int] = {}
        for name in sorted({p.group for p in team.people}):
            g = session.exec(select(BillingGroup).where(BillingGroup.name == name)).first()
            if g is None:
                g = BillingGroup(name=name, source="manual")
                session.add(g)
                session.flush()
            groups[name] = g.id
        for p in team.people:
            upsert_person(session=session, email=p.email, name=p.name, group_id=groups[p.group],
                          has_cursor_seat=p.uses_cursor, has_claude_seat=p.uses_claude)
            if p.claude_key_name:
                upsert_key(session=session, source=Source.CLAUDE_CODE.value, external_id=p.claude_key_name,
                           name=p.claude_key_name, owner=KeyOwner(p.email, MappedHow.PATTERN))
        for key in team.unmapped_keys:
            upsert_key(session=session, source=Source.CLAUDE_CODE.value, external_id=key, name=key)


def seed_demo(engine: Engine, *, people: int, days: int, end: date, seed: int, domain: str,
              chunk: int = 50_000) -> Seeded:
    team = build_team(people=people, days=days, end=end, seed=seed, domain=domain)
    seed_people(engine, team)
    total = WriteResult()
    batch = []
    for rec in team.records():
        batch.append(rec)
        if len(batch) >= chunk:
            with session_scope(engine) as session:
                total += write_usage(batch, session=session)
            batch.clear()
    if batch:
        with session_scope(engine) as session:
            total += write_usage(batch, session=session)
    return Seeded(team=team, result=total, detection_summary=_run_detection(engine, team))


DEMO_DETECTION_DAYS = 30  # the demo replays the scheduler's detection over this many days


def _run_detection(engine: Engine, team: SyntheticTeam) -> str:
    """Detection as the hourly scheduler would have run it over the last DEMO_DETECTION_DAYS
    days: each day is examined five minutes after it ends, and its alerts are recorded as
    delivered to the demo (there is no Slack here) a few seconds later, so that incidents carry
    real MTTD/MTTI figures. The summary says which planted anomalies were found."""
    from bot.detect_service import record_demo_delivery, run_detection

    end = team.end
    now = datetime.now(UTC)
    start = max(team.start + timedelta(days=7), end - timedelta(days=DEMO_DETECTION_DAYS - 1))
    day = start
    while day <= end:
        run_at = min(now, datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, minutes=5))
        run = run_detection(engine, as_of=day, alert=True, now=run_at)
        record_demo_delivery(engine, batch=run.batch, at=run_at + timedelta(seconds=3))
        day += timedelta(days=1)
    found = planted_found(engine, team)
    with session_scope(engine) as session:
        from storage.incident_repo import incidents_since

        seen = [i for i in incidents_since(session=session, since=datetime.combine(start, datetime.min.time(), UTC))]
    lines = [f"{len(seen)} incidents over the last {(end - start).days + 1} days (replayed as the hourly "
             "scheduler would have run it)"]
    for anomaly, incident in found:
        if incident is None:
            lines.append(f"    {anomaly.kind:<16} {anomaly.day}  not found")
        else:
            lines.append(f"    {anomaly.kind:<16} {anomaly.day}  found: incident #{incident.id} "
                         f"({', '.join(s.kind.value for s in incident.signals)}), MTTD "
                         f"{format_duration(incident.mttd)}")
    return "\n".join(lines)


def planted_found(engine: Engine, team: SyntheticTeam) -> list:
    """Each planted anomaly with the incident that caught it (about that person, with data from
    the planted day or the week after it), or None."""
    from storage.incident_repo import incidents_since

    with session_scope(engine) as session:
        incidents = incidents_since(session=session, since=datetime.combine(team.start, datetime.min.time(), UTC))
    out = []
    for a in team.anomalies:
        window = (a.day - timedelta(days=31), a.day + timedelta(days=6)) if a.kind == "cycle_outlier" else (
            a.day, a.day + timedelta(days=6))
        about = [i for i in incidents if i.subject == a.email and any(window[0] <= s.day <= window[1]
                                                                     for s in i.signals)]
        # the incident that saw the planted kind itself, else any about that person then
        match = next((i for i in about if any(s.kind.value == a.kind for s in i.signals)), None) or next(
            iter(about), None)
        out.append((a, match))
    return out


def render_demo_charts(engine: Engine, out: Path, period: DateRange) -> list[Path]:
    from bot.services.charts_export import render_all  # matplotlib: only once the data is written

    out.mkdir(parents=True, exist_ok=True)
    return render_all(engine, out, period)
