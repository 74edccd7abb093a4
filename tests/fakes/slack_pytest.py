"""pytest plugin: a fake Slack per test or per module, and the bot as a real subprocess.

Enable in a top-level conftest with ``pytest_plugins = ["tests.fakes.slack_pytest"]``.

    def test_help(fake_slack, start_bot_process):
        start_bot_process({"DATABASE_URL": f"sqlite:///{tmp}/a.db"})   # python -m bot run
        ack = fake_slack.send(fake_slack.slash_command("help"))
        ...

For one bot per module, call ``launch_bot_process(fake_slack_module, env)`` in a module fixture.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.fakes.slack import FakeSlack

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BOT_COMMAND: tuple[str, ...] = (sys.executable, "-m", "bot")


class BotProcess:
    """A bot subprocess with its output captured to files."""

    def __init__(self, popen: subprocess.Popen, argv: Sequence[str], stdout_path: Path, stderr_path: Path) -> None:
        self.popen = popen
        self.argv = list(argv)
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def describe(self, tail: int = 40) -> str:
        """Command, exit status and the end of both logs, for failure messages."""
        out = "\n".join(self.stdout().splitlines()[-tail:])
        err = "\n".join(self.stderr().splitlines()[-tail:])
        return (
            f"bot process {self.argv} pid={self.pid} returncode={self.returncode}\n"
            f"--- stdout ({self.stdout_path}) ---\n{out}\n--- stderr ({self.stderr_path}) ---\n{err}"
        )

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        return self.popen.returncode

    def __enter__(self) -> BotProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def launch_bot_process(
    fake: FakeSlack,
    env: Mapping[str, str] | None = None,
    *,
    args: Sequence[str] = ("run",),
    command: Sequence[str] | None = None,
    cwd: str | os.PathLike | None = None,
    log_dir: str | os.PathLike | None = None,
    connect_timeout: float = 20.0,
    wait_for_socket: bool = True,
) -> BotProcess:
    """Start ``command + args`` (default ``python -m bot run``) against ``fake``.

    The environment is the parent's without any SLACK_* variable, then ``fake.env()``
    (SLACK_BOT_TOKEN / SLACK_APP_TOKEN / SLACK_API_URL), then ``env``. Unless ``wait_for_socket``
    is false, returns once the fake has accepted a new Socket Mode connection; raises
    RuntimeError with the process's output if it exits or does not connect in time.
    """
    argv = [*(command or DEFAULT_BOT_COMMAND), *args]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    full_env.update(fake.env())
    full_env["PYTHONUNBUFFERED"] = "1"
    full_env.update(env or {})
    logs = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="bot-logs-"))
    logs.mkdir(parents=True, exist_ok=True)
    stamp = f"{int(time.time() * 1000)}"
    stdout_path, stderr_path = logs / f"bot-{stamp}.stdout.log", logs / f"bot-{stamp}.stderr.log"
    connections_before = fake.connection_count
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        popen = subprocess.Popen(
            argv, cwd=str(cwd or REPO_ROOT), env=full_env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
        )
    bot = BotProcess(popen, argv, stdout_path, stderr_path)
    if not wait_for_socket:
        return bot
    deadline = time.monotonic() + connect_timeout
    while not (fake.connection_count > connections_before and fake.open_socket_count):
        if popen.poll() is not None:
            raise RuntimeError(f"bot exited before connecting to Socket Mode\n{bot.describe()}")
        if time.monotonic() > deadline:
            bot.stop()
            raise RuntimeError(f"bot did not open a Socket Mode connection within {connect_timeout}s\n{bot.describe()}")
        time.sleep(0.05)
    return bot


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A fresh fake Slack for one test."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def fake_slack_module() -> Iterator[FakeSlack]:
    """One fake Slack shared by a module (pair with a module-scoped ``launch_bot_process``)."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def start_bot_process(fake_slack: FakeSlack, tmp_path: Path) -> Iterator:
    """Factory: ``start_bot_process(env, args=("run",), cwd=None, command=None) -> BotProcess``.

    Bound to ``fake_slack``; every process started is stopped (SIGTERM, kill after 10 s) at teardown.
    Logs go to ``tmp_path``.
    """
    started: list[BotProcess] = []

    def start(
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = ("run",),
        cwd: str | os.PathLike | None = None,
        *,
        command: Sequence[str] | None = None,
        connect_timeout: float = 20.0,
        wait_for_socket: bool = True,
    ) -> BotProcess:
        bot = launch_bot_process(
            fake_slack,
            env,
            args=args,
            command=command,
            cwd=cwd,
            log_dir=tmp_path,
            connect_timeout=connect_timeout,
            wait_for_socket=wait_for_socket,
        )
        started.append(bot)
        return bot

    yield start
    for bot in started:
        bot.stop()
