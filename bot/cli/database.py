"""`abacus db upgrade|current`: schema migrations (also applied automatically on start)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("db", help="database schema", description="Apply or show database migrations.")
    dbsub = p.add_subparsers(dest="db_command", metavar="ACTION")
    dbsub.required = True
    up = dbsub.add_parser("upgrade", help="apply all migrations (idempotent)")
    up.set_defaults(handler=_upgrade)
    cur = dbsub.add_parser("current", help="show the applied revision")
    cur.set_defaults(handler=_current)


def _upgrade(args) -> int:
    from bot.wiring import open_context
    from storage.db import current_revision, redact_url

    ctx = open_context(migrate=True)
    print(f"database {redact_url(str(ctx.engine.url))} at revision {current_revision(ctx.engine)}")
    return 0


def _current(args) -> int:
    from bot.wiring import open_context
    from storage.db import check_connection, current_revision

    ctx = open_context(migrate=False, existing=True)  # shows; creates no database where it looks
    check_connection(ctx.engine)
    print(current_revision(ctx.engine) or "(empty database)")
    return 0
