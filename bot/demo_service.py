"""Seeding the synthetic team into a database (demo and benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.engine import Engine

from core.identity import KeyOwner, MappedHow
from core.periods import DateRange
from core.synthetic import SyntheticTeam, build_team
from core.usage import Source
from storage.db import session_scope
from storage.people_repo import upsert_key, upsert_person
from storage.tables import BillingGroup
from storage.usage_repo import WriteResult, write_usage


@dataclass
class Seeded:
    team: SyntheticTeam
    result: WriteResult
    detection_summary: str | None = None


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
    return Seeded(team=team, result=total, detection_summary=_run_detection(engine, end))


def _run_detection(engine: Engine, as_of: date) -> str | None:
    """Detection lands in a later issue; the demo runs it when it exists."""
    try:
        from bot.detect_service import run_detection  # type: ignore[import-not-found]
    except ImportError:
        return None
    return run_detection(engine, as_of=as_of, alert=False).summary()


def render_demo_charts(engine: Engine, out: Path, period: DateRange) -> list[Path]:
    try:
        from bot.services.charts_export import render_all  # type: ignore[import-not-found]
    except ImportError:
        return []
    out.mkdir(parents=True, exist_ok=True)
    return render_all(engine, out, period)
