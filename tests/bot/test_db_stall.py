"""Postgres lock waits end in a clear sentence, and Slack's `help` does not need the database at
all: with the tables locked by another session (a migration, a VACUUM FULL, a stuck transaction),
`abacus report` says so within the bounded wait, `/abacus help` answers at once and `/abacus me`
answers with the reason (was: every command waited silently for as long as the lock was held)."""

from __future__ import annotations

import time

import pytest

from storage.db import make_engine, upgrade
from tests.fakes.slack_pytest import launch_bot_process
from tests.test_cli_errors import assert_one_line_failure, run_abacus

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

LOCKED = "person, setting, usage_event, usage_daily, usage_person_day, usage_model_day, usage_person_total_day"


@pytest.fixture
def locked_database(pg_database_url):
    import psycopg

    engine = make_engine(pg_database_url)
    upgrade(engine)
    engine.dispose()
    with psycopg.connect(pg_database_url) as holder:  # a transaction holding the locks until the test ends
        holder.execute(f"LOCK TABLE {LOCKED} IN ACCESS EXCLUSIVE MODE")
        yield pg_database_url
        holder.rollback()


def test_a_cli_command_gives_up_on_a_held_lock_with_a_sentence(locked_database, tmp_path):
    started = time.monotonic()
    proc = run_abacus(["report"], {"DATABASE_URL": locked_database, "ABACUS_DB_LOCK_TIMEOUT": "2"}, tmp_path)
    assert time.monotonic() - started < 20
    assert_one_line_failure(proc, 1, "the database is busy", "try again in a minute")


def test_slack_help_answers_without_the_database(locked_database, fake_slack, tmp_path):
    fake_slack.register_user("U0ALICE", "alice@example.com", "alice")
    bot = launch_bot_process(fake_slack, {"DATABASE_URL": locked_database, "ABACUS_DB_LOCK_TIMEOUT": "2",
                                          "ABACUS_ADMINS": "U0ALICE"}, log_dir=tmp_path)
    try:
        payload = fake_slack.slash_command("help", user_id="U0ALICE")
        response_id = payload["response_url"].rsplit("/", 1)[1]
        started = time.monotonic()
        fake_slack.send(payload)
        answer = fake_slack.wait_response(lambda r: r.response_id == response_id, timeout=10)
        assert time.monotonic() - started < 2.0
        assert "/abacus dashboard" in str(answer.body)

        payload = fake_slack.slash_command("me", user_id="U0ALICE")
        response_id = payload["response_url"].rsplit("/", 1)[1]
        fake_slack.send(payload)
        answer = fake_slack.wait_response(lambda r: r.response_id == response_id, timeout=30)
        assert "The database is busy" in str(answer.body)
    finally:
        assert bot.stop() == 0, bot.describe()
    assert "Traceback" not in bot.stderr(), bot.describe()
