"""Shared fixtures: a throwaway database on SQLite and on a real Postgres.

Postgres tests are skipped when no server answers at 127.0.0.1:5432 — except under CI
(`CI=true`), where they must run: there a missing Postgres is a failure, not a skip.
"""

from __future__ import annotations

import os
import uuid

import pytest

PG_ADMIN_URL = os.environ.get("ABACUS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means "no Postgres here"
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    problem = _pg_available()
    if problem:
        if _ci():
            pytest.fail(f"CI=true but Postgres is unreachable at {PG_ADMIN_URL}: {problem}")
        pytest.skip(f"Postgres unreachable: {problem}")
    return PG_ADMIN_URL


def create_pg_database(admin_url: str) -> str:
    import psycopg

    name = f"abacus_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    import psycopg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database_url(pg_admin_url):
    url = create_pg_database(pg_admin_url)
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """The same test on the embedded default and on production Postgres."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'abacus.db'}"
    else:
        url = create_pg_database(request.getfixturevalue("pg_admin_url"))
        try:
            yield url
        finally:
            drop_pg_database(url)


@pytest.fixture
def engine(database_url):
    from storage.db import make_engine, upgrade

    eng = make_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def abacus_env(database_url, monkeypatch, tmp_path):
    """Environment for running the CLI in-process against `database_url`, isolated from any .env."""
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ANTHROPIC_ADMIN_KEY", "CURSOR_ADMIN_KEY",
                 "ABACUS_EMAIL_DOMAIN", "DOMAIN", "ABACUS_ADMINS", "ABACUS_ALERT_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    return {"DATABASE_URL": database_url}
