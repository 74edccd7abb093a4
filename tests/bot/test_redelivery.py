"""A redelivered Slack envelope runs once: the real `abacus run` against the fake Slack, on SQLite
and Postgres. Slack sends an envelope again when it thinks the ack was missed (events carry
`retry_attempt`), and a retry may reach another replica's connection — so two bot processes share
one database here, and the retry goes to the other one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage.db import make_engine, upgrade
from tests.fakes.slack_pytest import launch_bot_process

from . import seed
from .seed import ALICE

pytestmark = pytest.mark.e2e


@pytest.fixture
def bots(fake_slack, database_url, tmp_path):
    engine = make_engine(database_url)
    upgrade(engine)
    seed.seed(engine, datetime.now(UTC).date())
    engine.dispose()
    fake_slack.register_user(ALICE, "alice@example.com", "alice")
    env = {"DATABASE_URL": database_url, "ABACUS_ADMINS": ALICE, "ABACUS_SYNC_SCHEDULE": "5 * * * *"}
    started = [launch_bot_process(fake_slack, env, log_dir=tmp_path / "one")]
    yield fake_slack, started, lambda: started.append(launch_bot_process(fake_slack, env, log_dir=tmp_path / "two"))
    for bot in started:
        assert bot.stop() == 0, bot.describe()
        assert "Traceback" not in bot.stderr(), bot.describe()


def _settle(fake, seconds: float = 1.5) -> None:
    """Give a (wrongly) repeated handler time to post: nothing may show up."""
    import time

    time.sleep(seconds)


def test_the_same_envelope_twice_is_handled_once(bots):
    fake, _, _ = bots
    # a slash command with a chart: one reply, one upload
    payload = fake.slash_command("dashboard 7d", user_id=ALICE)
    first = fake.send(payload)
    fake.wait_for(lambda: len(fake.uploaded_files()) == 1, 20, "the dashboard chart")
    envelope_id = first["envelope_id"]
    again = fake.send(payload, envelope_id=envelope_id)  # Slack redelivers the very same envelope
    assert again["envelope_id"] == envelope_id and "payload" not in again  # acknowledged, nothing else
    _settle(fake)
    assert len(fake.uploaded_files()) == 1
    response_id = payload["response_url"].rsplit("/", 1)[1]
    assert len([r for r in fake.responses() if r.response_id == response_id]) == 1

    # an App Home event retried (retry_attempt 1): published once
    event = fake.app_home_opened(ALICE)
    before = len(fake.calls("views.publish"))
    fake.send(event)
    fake.wait_for(lambda: len(fake.calls("views.publish")) == before + 1, 20, "the App Home")
    fake.send(event, retry_attempt=1)
    _settle(fake)
    assert len(fake.calls("views.publish")) == before + 1


def test_a_retry_reaching_another_replica_is_not_handled_again(bots):
    """`map` delivered to replica one, then its retry (a new envelope id, same trigger) to replica
    two: the key is mapped once, and one answer is posted."""
    fake, started, start_second = bots
    payload = fake.slash_command("map legacy-key alice@example.com", user_id=ALICE)
    fake.send(payload)
    response_id = payload["response_url"].rsplit("/", 1)[1]
    answer = fake.wait_response(lambda r: r.response_id == response_id, timeout=20)
    assert "1 stored record re-attributed" in str(answer.body)  # seed: one legacy-key record
    start_second()  # the newest socket is now replica two's
    assert fake.injections[-1].socket_id != fake._newest_socket(5).id
    fake.send(payload)
    _settle(fake)
    assert len([r for r in fake.responses() if r.response_id == response_id]) == 1
