"""What `abacus demo` needs from the database: is there anything but demo data, and clearing an
earlier demo's usage so that a second run replaces it instead of adding to it."""

from __future__ import annotations

from collections.abc import Sequence
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


def clear_demo_usage(engine: Engine, demo_orgs: Sequence[str], *, made_with: str) -> int:
    """Before a demo made with `made_with` (its parameters): remove an earlier demo's usage records
    if that one was made differently, and rebuild the rollups of their days (set-based: one delete,
    one rebuild per source). The same demo again is left alone — rewriting it changes nothing."""
    with session_scope(engine) as session:
        if get_setting(session=session, key=_MADE_WITH) == made_with:
            return 0
        set_setting(session=session, key=_MADE_WITH, value=made_with, by="abacus demo")
        conn = session.connection()
        days: dict[str, list] = {}
        for source, day in conn.execute(text("SELECT DISTINCT source, day FROM usage_event WHERE org IN :orgs")
                                        .bindparams(bindparam("orgs", expanding=True)), {"orgs": list(demo_orgs)}):
            days.setdefault(source, []).append(day)
        if not days:
            return 0
        removed = conn.execute(text("DELETE FROM usage_event WHERE org IN :orgs")
                               .bindparams(bindparam("orgs", expanding=True)), {"orgs": list(demo_orgs)}).rowcount
        for source, source_days in days.items():
            rebuild_rollup(session=session, source=source,
                           days=[d if isinstance(d, date) else date.fromisoformat(str(d)[:10]) for d in source_days])
        return int(removed or 0)
