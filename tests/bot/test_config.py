"""The settings loader (plain Python since pydantic-settings cost every command ~0.1 s): the rules
it kept — the environment over `.env` over the defaults, names in any case, `DOMAIN` as an alias,
a blank value unset, one line per problem without the value, secrets never shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import FIELDS, load_settings
from core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.upper() in {env for f in FIELDS for env in f.env}:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_environment_wins_over_dotenv_which_wins_over_the_defaults(clean_env, monkeypatch):
    (clean_env / ".env").write_text('export DATABASE_URL="sqlite:///from-dotenv.db"\n'
                                    "ABACUS_ALERT_CHANNEL='#costs'\nABACUS_LOG_LEVEL=debug\n"
                                    "CURSOR_ADMIN_KEY=key_a,key_b\n")
    monkeypatch.setenv("ABACUS_LOG_LEVEL", "error")
    monkeypatch.setenv("ABACUS_ALERT_CHANNEL", "")  # blank: unset, so .env's value stands
    s = load_settings()
    assert s.database_url == "sqlite:///from-dotenv.db"  # quotes and `export` as python-dotenv reads them
    assert s.alert_channel == "costs"
    assert s.log_level == "ERROR"
    assert s.cursor_keys == ["key_a", "key_b"]
    assert s.sync_schedule == "5 * * * *" and s.alert_lease_seconds == 60.0 and s.otlp_port is None


TUNING = ("ABACUS_HTTP_TIMEOUT", "ABACUS_HTTP_ATTEMPTS", "ABACUS_HTTP_BACKOFF", "ABACUS_HTTP_MAX_RETRY_AFTER",
          "ABACUS_SYNC_RATE_LIMIT", "ABACUS_SYNC_WORKER", "ABACUS_SYNC_COMMIT_EVENTS", "ABACUS_DB_LOCK_TIMEOUT")


def test_the_tuning_variables_are_read_from_dotenv_too(clean_env, monkeypatch):
    # README → Configuration: "Environment variables, also read from `.env`" — the tuning ones too
    from bot.sync_service import SyncTuning
    from bot.wiring import lock_timeout_from_env

    for name in TUNING:
        monkeypatch.delenv(name, raising=False)
    (clean_env / ".env").write_text("ABACUS_HTTP_TIMEOUT=7\nabacus_http_attempts=2\nABACUS_SYNC_RATE_LIMIT=off\n"
                                    "ABACUS_SYNC_COMMIT_EVENTS=100\nABACUS_DB_LOCK_TIMEOUT=3\n")
    t = SyncTuning.from_env()
    assert (t.timeout, t.attempts, t.rate_limit, t.commit_events) == (7.0, 2, False, 100)
    assert lock_timeout_from_env() == 3.0
    monkeypatch.setenv("ABACUS_HTTP_TIMEOUT", "9")
    monkeypatch.setenv("ABACUS_DB_LOCK_TIMEOUT", "4")
    monkeypatch.setenv("ABACUS_SYNC_RATE_LIMIT", "")  # blank: unset, so .env's value stands
    t = SyncTuning.from_env()
    assert (t.timeout, t.rate_limit) == (9.0, False) and lock_timeout_from_env() == 4.0


def test_a_bad_tuning_value_in_dotenv_stops_the_command_in_one_line(clean_env):
    from tests.test_cli_errors import assert_one_line_failure, run_abacus

    (clean_env / ".env").write_text("ABACUS_DB_LOCK_TIMEOUT=soon\n")
    assert_one_line_failure(run_abacus(["report"], {}, clean_env), 1, "ABACUS_DB_LOCK_TIMEOUT")


def test_a_bad_tuning_value_stops_abacus_run_at_start_not_every_sync(clean_env, monkeypatch):
    # README: "Invalid values stop the program with one line per problem" — the bot started and
    # then failed each scheduled sync with "ABACUS_HTTP_TIMEOUT: not a number"
    from bot.app import make_sync_runner
    from bot.wiring import Context

    for name in TUNING:
        monkeypatch.delenv(name, raising=False)
    (clean_env / ".env").write_text("CURSOR_ADMIN_KEY=key_abcdefgh1234\nABACUS_HTTP_TIMEOUT=soon\n")
    with pytest.raises(ConfigError, match="ABACUS_HTTP_TIMEOUT"):
        make_sync_runner(Context(settings=load_settings(), engine=None))


def test_a_dotenv_named_pipe_is_read_once(clean_env):
    # `.env` may be a named pipe (a secrets tool writing it once): every later look at it in the
    # process (the tuning variables, the lock timeout) must use what was read, not open it again
    import threading

    from tests.test_cli_errors import assert_one_line_failure

    os.mkfifo(clean_env / ".env")

    def write_once():
        with open(clean_env / ".env", "w") as pipe:
            pipe.write("ABACUS_DB_LOCK_TIMEOUT=3\nABACUS_HTTP_TIMEOUT=7\n")

    writer = threading.Thread(target=write_once, daemon=True)
    writer.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ANTHROPIC_", "CURSOR_", "ABACUS_"))}
    env.pop("DATABASE_URL", None)
    proc = subprocess.run([sys.executable, "-m", "bot", "report"], env=env, cwd=clean_env, capture_output=True,
                          text=True, timeout=20)
    assert_one_line_failure(proc, 1, "no Abacus database")
    writer.join(timeout=5)


def test_names_in_any_case_and_the_domain_alias(clean_env, monkeypatch):
    monkeypatch.setenv("database_url", "sqlite:///lower.db")
    monkeypatch.setenv("DOMAIN", "@Example.COM")
    s = load_settings()
    assert (s.database_url, s.email_domain) == ("sqlite:///lower.db", "example.com")
    monkeypatch.setenv("ABACUS_EMAIL_DOMAIN", "acme.io")  # the contract's name first
    assert load_settings().email_domain == "acme.io"
    assert load_settings(email_domain="other.org").email_domain == "other.org"  # overrides by attribute name


def test_each_problem_on_its_own_line_without_its_value(clean_env, monkeypatch):
    monkeypatch.setenv("ABACUS_OTLP_PORT", "http-s3cret")
    monkeypatch.setenv("ABACUS_ALERT_LEASE", "0")
    monkeypatch.setenv("ABACUS_ALERT_EMAIL_TO", "ops")
    monkeypatch.setenv("SLACK_API_URL", "slack.com/api")
    with pytest.raises(ConfigError) as err:
        load_settings()
    lines = str(err.value).splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["SLACK_API_URL", "ABACUS_ALERT_EMAIL_TO", "ABACUS_ALERT_LEASE",
                                                  "ABACUS_OTLP_PORT"]
    assert "s3cret" not in str(err.value)
    assert lines[2] == "ABACUS_ALERT_LEASE: must be between 1 and 3600 seconds"


def test_numbers_and_off(clean_env, monkeypatch):
    monkeypatch.setenv("ABACUS_OTLP_PORT", " 4318 ")
    monkeypatch.setenv("ABACUS_OTLP_TOKEN", "t" * 16)
    monkeypatch.setenv("ABACUS_ALERT_BACKOFF", "0.5")
    monkeypatch.setenv("ABACUS_LIVE_DETECT_MINUTES", "Off")
    s = load_settings()
    assert (s.otlp_port, s.alert_backoff_seconds, s.live_detect_minutes) == (4318, 0.5, 0)
    with pytest.raises(ConfigError, match="^ABACUS_OTLP_TOKEN must be at least 16 characters"):
        load_settings(ABACUS_OTLP_TOKEN="short")


def test_secrets_are_not_in_reprs(clean_env, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret-token")
    monkeypatch.setenv("ABACUS_SMTP_URL", "smtp://u:hunter2@mail.example.com:587")
    s = load_settings()
    assert s.slack_bot_token.get_secret_value() == "xoxb-very-secret-token"
    shown = repr(s) + str(s.slack_bot_token) + f"{s.smtp_url}"
    assert "secret" not in shown and "hunter2" not in shown and "**********" in shown


def test_loading_the_settings_imports_no_pydantic():
    probe = ("import json, sys\nfrom bot.config import load_settings\nload_settings()\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_settings', "
             "'pydantic_core', 'apscheduler'))))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABACUS_")} | {"PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60,
                          cwd=REPO / "tests")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


@pytest.mark.parametrize("name", ["ABACUS_ALERT_EMAIL_FROM", "ABACUS_ALERT_EMAIL_TO"])
@pytest.mark.parametrize("value", ["abacus@example.com\r\nBcc:spy@evil.com", "ops@example.com\nx@evil.com",
                                   "ops@example.com\tx", "ops\x1b@example.com"])
def test_an_address_with_a_line_break_or_control_character_is_refused(clean_env, monkeypatch, name, value):
    """The address goes into the From/To header and the SMTP envelope: a line break there would
    add a header (a Bcc) or an SMTP command of its own. One line at start, never a mangled email."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    lines = str(err.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{name}: ") and "is not an email address" in lines[0]


def test_admins_separated_by_spaces_or_pasted_as_mentions_are_each_an_admin(clean_env, monkeypatch):
    """`ABACUS_ADMINS=U0ANN U0BOB` (spaces, not commas) used to be one entry nobody matched: with it
    set, nobody at all could change anything, and nothing said so."""
    monkeypatch.setenv("ABACUS_ADMINS", "U0ANN U0BOB,\tLead@Example.COM , <@U0CY>,<@U0DAN|dan>")
    assert load_settings().admins == ["U0ANN", "U0BOB", "lead@example.com", "U0CY", "U0DAN"]


def test_email_settings_given_without_their_partner_are_named(clean_env, monkeypatch):
    """An SMTP server with nobody to mail, or recipients with no server: email stays off, and the bot
    says so at start instead of silently."""
    assert load_settings().half_configured() == []
    monkeypatch.setenv("ABACUS_SMTP_URL", "smtp://u:p4ssw0rd@mail.example.com:587")
    [note] = load_settings().half_configured()
    assert note.startswith("ABACUS_SMTP_URL is set but ABACUS_ALERT_EMAIL_TO is not") and "p4ssw0rd" not in note
    monkeypatch.setenv("ABACUS_ALERT_EMAIL_TO", "ops@example.com")
    assert load_settings().half_configured() == []
    monkeypatch.delenv("ABACUS_SMTP_URL")
    [note] = load_settings().half_configured()
    assert note.startswith("ABACUS_ALERT_EMAIL_TO is set but ABACUS_SMTP_URL is not")


HEADER_SECRETS = {"SLACK_BOT_TOKEN": "xoxb-1111-2222-SECRETbottoken",
                  "SLACK_APP_TOKEN": "xapp-1-A1-2222-SECRETapptoken",
                  "ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-SECRETkeyabcdef",
                  "CURSOR_ADMIN_KEY": "key_SECRETcursorkey01",
                  "ABACUS_OTLP_TOKEN": "otlpSECRETtoken0123"}


@pytest.mark.parametrize("name", sorted(HEADER_SECRETS))
@pytest.mark.parametrize("pasted", ["\u200b", "\u00c4", "\u201d", " x", "\nx"])
def test_a_key_or_token_that_cannot_go_into_an_http_header_is_refused_at_start(clean_env, monkeypatch, name, pasted):
    """A zero-width space or curly quote pasted with a key made every request fail with a
    UnicodeEncodeError traceback (`abacus sync`, `abacus run`): one line at start instead, never the value."""
    secret = HEADER_SECRETS[name]
    monkeypatch.setenv(name, secret[:12] + pasted + secret[12:])
    with pytest.raises(ConfigError) as err:
        load_settings()
    lines = str(err.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{name}: ") and "HTTP header" in lines[0]
    assert "SECRET" not in str(err.value)


def test_several_keys_with_spaces_around_the_commas_are_still_accepted(clean_env, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", " sk-ant-admin01-one , sk-ant-admin01-two ")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-abc")
    settings = load_settings()
    assert settings.anthropic_keys == ["sk-ant-admin01-one", "sk-ant-admin01-two"]


@pytest.mark.parametrize("name", ["SLACK_API_URL", "ANTHROPIC_API_URL", "CURSOR_API_URL"])
def test_an_api_url_with_a_password_in_it_is_refused_without_showing_it(clean_env, monkeypatch, name):
    """`abacus run` printed "cannot reach the Slack API at http://user:PASSWORD@host/api/" in full."""
    monkeypatch.setenv(name, "http://proxyuser:ProxyPassSECRET@127.0.0.1:9/api/")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith(f"{name}: ") and "user or password" in str(err.value)
    assert "SECRET" not in str(err.value)
    monkeypatch.setenv(name, "http://127.0.0.1:9/api/?owner=ops@example.com")  # an @ after the host is fine
    load_settings()
