"""Small helpers for the sync tests: database dumps and secret checks."""

from __future__ import annotations

import re

from sqlalchemy import create_engine, inspect, text

from storage.db import normalise_url

# tables whose rows legitimately change on every run (run log, checkpoint timestamps)
VOLATILE = {"sync_run", "sync_state", "alembic_version"}


def dump(database_url: str, *, skip: set[str] | frozenset[str] = frozenset()) -> dict[str, list[tuple]]:
    """Every row of every table, as text tuples, in a stable order."""
    engine = create_engine(normalise_url(database_url))
    try:
        out = {}
        with engine.connect() as conn:
            for table in sorted(inspect(conn).get_table_names()):
                if table in skip:
                    continue
                rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
                out[table] = sorted(tuple("" if v is None else str(v) for v in row) for row in rows)
        return out
    finally:
        engine.dispose()


def stable_dump(database_url: str) -> dict[str, list[tuple]]:
    return dump(database_url, skip=VOLATILE)


def fragments(secret: str, size: int = 8) -> list[str]:
    """Pieces of a secret long enough that finding one means the secret leaked (a 4-char hint is fine)."""
    return [secret[i:i + size] for i in range(0, len(secret) - size + 1, 4)]


def assert_no_secret(text_blob: str, secrets: list[str]) -> None:
    for s in secrets:
        for piece in fragments(s):
            assert piece not in text_blob, f"a fragment of a secret leaked: …{piece[:2]}…"
    # and no Basic auth header value
    assert not re.search(r"Basic [A-Za-z0-9+/=]{20,}", text_blob)


def dump_text(database_url: str) -> str:
    return "\n".join(f"{t}: {row}" for t, rows in dump(database_url).items() for row in rows)
