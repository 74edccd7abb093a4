"""`abacus run` as a process: start-up errors, graceful SIGTERM (the scheduled jobs: test_scheduler.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.fakes.slack import FakeSlack
from tests.fakes.slack_pytest import REPO_ROOT, launch_bot_process

pytestmark = pytest.mark.e2e


def run_abacus(env: dict, tmp_path, timeout: float = 30) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ABACUS_"))}
    full.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'abacus.db'}", **env})
    return subprocess.run([sys.executable, "-m", "bot", "run"], env=full, capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path)


def test_missing_tokens_fail_in_one_line_each(tmp_path):
    done = run_abacus({}, tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "abacus: SLACK_BOT_TOKEN is not set (the xoxb- bot token)",
        "abacus: SLACK_APP_TOKEN is not set (the xapp- app-level token with connections:write)",
    ]


@pytest.mark.parametrize("which", ["bot", "app"])
def test_rejected_tokens_fail_cleanly_without_printing_them(tmp_path, which):
    with FakeSlack(exact_tokens=True) as fake:
        secret = "s3cr3t-value-never-printed"
        env = dict(fake.env())
        env["SLACK_BOT_TOKEN" if which == "bot" else "SLACK_APP_TOKEN"] = (
            f"xoxb-{secret}" if which == "bot" else f"xapp-{secret}")
        done = run_abacus(env, tmp_path)
    assert done.returncode == 1
    name = "SLACK_BOT_TOKEN" if which == "bot" else "SLACK_APP_TOKEN"
    assert done.stderr.strip() == f"abacus: {name} was rejected by Slack (invalid_auth)"
    assert secret not in done.stderr + done.stdout


def test_unreachable_slack_is_one_line(tmp_path):
    done = run_abacus({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1",
                       "SLACK_API_URL": "http://127.0.0.1:9/api/"}, tmp_path)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "cannot reach the Slack API" in done.stderr


def test_sigterm_finishes_in_flight_work_and_exits_zero(fake_slack, tmp_path):
    fake_slack.register_user("U0ALICE", "alice@example.com")
    bot = launch_bot_process(fake_slack, {"DATABASE_URL": f"sqlite:///{tmp_path / 'abacus.db'}",
                                          "ABACUS_ADMINS": "U0ALICE"}, log_dir=tmp_path)
    payload = fake_slack.slash_command("dashboard 1y", user_id="U0ALICE")
    fake_slack.send(payload)  # acked; the work (queries, chart, upload) is still running
    bot.popen.send_signal(signal.SIGTERM)
    code = bot.popen.wait(timeout=30)
    assert code == 0, bot.describe()
    response_id = payload["response_url"].rsplit("/", 1)[1]
    assert fake_slack.responses(response_id), "the in-flight answer was delivered before exiting"
    assert fake_slack.wait_call("files.completeUploadExternal", timeout=1).ok
    assert "abacus: stopped" in bot.stderr() and "Traceback" not in bot.stderr()


def test_repo_root_has_manifest_and_procfile():
    # (no YAML parser in the dependencies: check the lines that matter)
    text = (REPO_ROOT / "manifest.yml").read_text()
    lines = {line.split("#")[0].strip() for line in text.splitlines()}
    for needed in ("socket_mode_enabled: true", "is_enabled: true", "home_tab_enabled: true",
                   "- command: /abacus", "- app_home_opened", "- file_shared", "- message.channels", "- message.im",
                   "- commands", "- chat:write", "- files:read", "- files:write", "- users:read",
                   "- users:read.email", "- im:write"):
        assert needed in lines, needed
    assert (REPO_ROOT / "Procfile").read_text().strip() == "worker: abacus run"
