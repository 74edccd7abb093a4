import pytest
from sqlalchemy import text

from core.errors import ConfigError
from storage.db import make_engine, normalise_url, redact_url, upgrade


@pytest.mark.parametrize("given, expected", [
    ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
    ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg2://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:///abacus.db", "sqlite:///abacus.db"),
])
def test_every_postgres_url_form_uses_psycopg3(given, expected):
    assert normalise_url(given) == expected


def test_redaction():
    assert "secret" not in redact_url("postgres://u:secret@h/db")


@pytest.mark.parametrize("bad", ["", "mysql://u@h/db", "not a url at all"])
def test_bad_urls(bad):
    with pytest.raises(ConfigError):
        make_engine(bad)


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/a.db")
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_upgrade_is_idempotent(engine):
    assert upgrade(engine) == upgrade(engine)


def test_migrations_match_the_models(engine):
    """A model change without its migration fails here, on SQLite and Postgres."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import storage.tables  # noqa: F401

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
