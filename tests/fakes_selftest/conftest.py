"""Fixtures for the fake Slack self-test: the plugin's fixtures plus one self-test bot per module."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.slack import FakeSlack
from tests.fakes.slack_pytest import (  # noqa: F401 - importing registers the plugin's fixtures here
    BotProcess,
    fake_slack,
    launch_bot_process,
    start_bot_process,
)

SELFTEST_BOT_COMMAND = (sys.executable, str(Path(__file__).with_name("selftest_bot.py")))


@pytest.fixture(scope="module")
def selftest_fake() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def selftest_bot(selftest_fake: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    """The throwaway Bolt app, connected to the module's fake Slack."""
    bot = launch_bot_process(
        selftest_fake, args=(), command=SELFTEST_BOT_COMMAND, log_dir=tmp_path_factory.mktemp("selftest-bot")
    )
    yield bot
    bot.stop()


@pytest.fixture
def fake(selftest_fake: FakeSlack, selftest_bot: BotProcess) -> Iterator[FakeSlack]:
    """The module's fake with the bot connected; recorded state is cleared after each test."""
    yield selftest_fake
    assert selftest_bot.returncode is None, selftest_bot.describe()
    selftest_fake.reset()
