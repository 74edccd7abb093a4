"""Bot test fixtures: the fake Slack (tests/fakes) and a Slack-driving helper."""

from __future__ import annotations

from tests.fakes.slack_pytest import fake_slack, fake_slack_module, start_bot_process  # noqa: F401 - fixtures
