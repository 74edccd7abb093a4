"""What `abacus demo` needs from the database: is there anything but demo data, and clearing an
earlier demo (its usage, its incidents, its people) so that a second run replaces it instead of
adding to it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine

from storage.db import session_scope
from storage.settings_repo import get_setting, set_setting
from storage.usage_repo import rebuild_rollup


def foreign_data(engine: Engine, demo_orgs: Sequence[str]) -> list[str]:
    """What the database holds besides demo data (empty: only demo data, or nothing)."""
    found = []
    with engine.connect() as conn:
        usage = conn.execute(text("SELECT COUNT(*) FROM (SELECT 1 FROM usage_event WHERE org IS NULL OR org NOT IN "
                                  ":orgs LIMIT 1000) AS sample").bindparams(bindparam("orgs", expanding=True)),
                             {"orgs": list(demo_orgs)}).scalar_one()
        if usage:
            found.append(f"{usage if usage < 1000 else 'over 1,000'} usage records not from the demo")
        for table, what in (("sync_run", "vendor syncs"), ("import_batch", "imported files")):
            if conn.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None:
                found.append(what)
    return found


_MADE_WITH = "demo.made_with"  # the parameters of the demo in the database


@dataclass(frozen=True, slots=True)
class DemoFootprint:
    """What an earlier demo wrote besides usage and the next demo does not write again."""

    subjects: Collection[str]  # its people's emails and `unmapped:<key>`: their incidents go
    team_wide: bool  # its team-wide incidents go too (only in a database of nothing but demo data)
    people: Collection[str]  # emails of its people the next demo does not have
    keys: Collection[str]  # its Claude Code key ids the next demo does not have
    groups: Collection[str]  # its billing groups the next demo does not have (removed once empty)


def demo_made_with(engine: Engine) -> str | None:
    """The parameters of the demo in the database (None: no demo yet)."""
    with session_scope(engine) as session:
        return get_setting(session=session, key=_MADE_WITH)


def clear_demo_usage(engine: Engine, demo_orgs: Sequence[str], *, made_with: str,
                     earlier: DemoFootprint | None = None) -> int:
    """Before a demo made with `made_with` (its parameters): remove an earlier demo's usage records
    if that one was made differently, and rebuild the rollups of their days (set-based: one delete,
    one rebuild per source); with `earlier`, also its incidents (the new demo's detection replay
    would otherwise find them and report them as its own) and its people, keys and groups that
    the new demo does not have. The same demo again is left alone — rewriting it changes nothing."""
    with session_scope(engine) as session:
        if get_setting(session=session, key=_MADE_WITH) == made_with:
            return 0
        set_setting(session=session, key=_MADE_WITH, value=made_with, by="abacus demo")
        conn = session.connection()
        days: dict[str, list] = {}
        for source, day in conn.execute(text("SELECT DISTINCT source, day FROM usage_event WHERE org IN :orgs")
                                        .bindparams(bindparam("orgs", expanding=True)), {"orgs": list(demo_orgs)}):
            days.setdefault(source, []).append(day)
        removed = 0
        if days:
            removed = conn.execute(text("DELETE FROM usage_event WHERE org IN :orgs")
                                   .bindparams(bindparam("orgs", expanding=True)),
                                   {"orgs": list(demo_orgs)}).rowcount
            for source, source_days in days.items():
                rebuild_rollup(session=session, source=source,
                               days=[d if isinstance(d, date) else date.fromisoformat(str(d)[:10])
                                     for d in source_days])
        if earlier is not None:
            _clear_footprint(session.connection(), earlier)  # after the usage: people without any left go
        return int(removed or 0)


def _clear_footprint(conn, earlier: DemoFootprint) -> None:
    def expanding(sql: str, **values):
        stmt = text(sql).bindparams(*(bindparam(k, expanding=True) for k in values))
        return conn.execute(stmt, {k: list(v) or [""] for k, v in values.items()})

    team_wide = " OR user_email IS NULL" if earlier.team_wide else ""
    ids = [r[0] for r in expanding(f"SELECT id FROM incident WHERE user_email IN :subjects{team_wide}",
                                   subjects=earlier.subjects)]
    if ids:
        for table in ("incident_event", "anomaly", "alert_outbox"):
            expanding(f"DELETE FROM {table} WHERE incident_id IN :ids", ids=ids)
        expanding("DELETE FROM incident WHERE id IN :ids", ids=ids)
    # people without any usage left (with --force a real person may share a demo address)
    expanding("DELETE FROM person WHERE email IN :people AND NOT EXISTS "
              "(SELECT 1 FROM usage_person_day u WHERE u.person = person.email)", people=earlier.people)
    expanding("DELETE FROM api_key WHERE source = 'claude_code' AND external_id IN :keys", keys=earlier.keys)
    expanding("DELETE FROM billing_group WHERE name IN :groups AND source = 'manual' AND NOT EXISTS "
              "(SELECT 1 FROM person p WHERE p.group_id = billing_group.id)", groups=earlier.groups)
