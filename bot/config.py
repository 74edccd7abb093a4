"""Configuration from the environment and `.env`, with the names of docs/contract.md.

Validated once at start; each problem is reported on its own line and secrets are never
echoed (a `Secret` keeps them out of reprs and logs).

One table (`FIELDS`) names every setting: its attribute, its environment variable(s), its
default and the function that checks a value. Every process reads it through `load_settings`
(the bot, the sync, `abacus report`). It is plain Python on purpose: pydantic-settings cost a
short command ~0.1 s of imports (issue 12 point 13, issue 13 point 3), and a second, lighter
loader beside it would have drifted from it. What pydantic-settings did is kept: the environment
wins over `.env` (read with python-dotenv, as pydantic-settings did, only when the file is
there); names match whatever their case; a blank value means unset.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///abacus.db"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_ANTHROPIC_API_URL = "https://api.anthropic.com"
DEFAULT_CURSOR_API_URL = "https://api.cursor.com"
DEFAULT_SYNC_SCHEDULE = "5 * * * *"  # hourly, five past
DEFAULT_DIGEST_SCHEDULE = "0 9 * * 1"  # Mondays 09:00 UTC
ENV_FILE = ".env"


def secret_hint(value: str | None) -> str:
    """At most a 4-character hint of a secret, for operators matching keys."""
    if not value:
        return "(none)"
    return f"…{value[-4:]}" if len(value) >= 12 else "…"


class Secret:
    """A secret value: shown as stars in reprs, logs and f-strings; read with `get_secret_value()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __repr__(self) -> str:
        return f"Secret('{self}')"


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


# Checks: the text of a variable in, the setting out; a ValueError's message names the problem
# (never the value: it may be a secret).

def _text(v: str) -> str:
    return v


def _header_secret(v: str) -> Secret:
    """A token or key (or comma-separated keys) sent in an HTTP header: printable ASCII only. A
    character pasted along with it (a zero-width space, a curly quote, a line break inside) would
    otherwise fail every request with an encoding error instead of one line here."""
    for part in _split(v):
        if any(not "!" <= ch <= "~" for ch in part):
            raise ValueError("contains a character that cannot be sent in an HTTP header (a space, a line break, "
                             "an invisible or non-ASCII character pasted along with it?)")
    return Secret(v)


def _number(lo: float, hi: float, unit: str) -> Callable[[str], float]:
    def check(v: str) -> float:
        try:
            value = float(v.strip())
        except ValueError:
            raise ValueError(f"not a number of {unit}") from None
        if not lo <= value <= hi:  # also refuses nan
            raise ValueError(f"must be between {lo:g} and {hi:g} {unit}")
        return value
    return check


def _whole(lo: int, hi: int, what: str) -> Callable[[str], int]:
    def check(v: str) -> int:
        try:
            value = int(v.strip())
        except ValueError:
            raise ValueError(f"not a whole number ({what})") from None
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi} ({what})")
        return value
    return check


def _live_minutes(v: str) -> float:
    if v.strip().lower() in ("off", "no", "false"):
        return 0.0
    return _number(0.0, 60.0, "minutes; 0 or off: never")(v)


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _level(v: str) -> str:
    level = v.strip().upper()
    if level not in _LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
    return level


def _http(v: str) -> str:
    v = v.strip()
    if not v.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    # a user:password@ part would be printed with the address in every "cannot reach …" line (and the
    # Slack client cannot use one): the keys and tokens go in their own variables
    if "@" in v.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]:
        raise ValueError("must not carry a user or password (user:pass@): put the key or token in its own variable")
    return v


def _slack_url(v: str) -> str:
    v = _http(v)
    return v if v.endswith("/") else v + "/"


def _base_url(v: str) -> str:
    return _http(v).rstrip("/")


def _domain(v: str) -> str | None:
    v = v.strip().lower().lstrip("@")
    if not v:
        return None
    if "." not in v or " " in v or "@" in v:
        raise ValueError("must be a domain like example.com")
    return v


def _check_cron(v: str) -> str:
    from bot.cron import cron_trigger  # the scheduler library, only for a schedule other than the default

    try:
        trigger = cron_trigger(v)
    except ValueError as exc:
        raise ValueError(f"not a cron expression ({exc})") from None
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:  # `0 0 31 4 *`: April has no 31st
        raise ValueError("this cron expression never fires (no such date)")
    return v


def _sync_cron(v: str) -> str:
    return v if v == DEFAULT_SYNC_SCHEDULE else _check_cron(v)  # the default is known good (tests parse it)


def _digest_cron(v: str) -> str:
    if v.strip().lower() == "off":
        return "off"
    return v if v == DEFAULT_DIGEST_SCHEDULE else _check_cron(v)


def _smtp(v: str) -> Secret | None:
    from urllib.parse import urlsplit

    v = v.strip()
    if not v:
        return None
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018 - parses the port
    except ValueError:
        raise ValueError("not a URL: want smtp://user:pass@host:port or smtps://…") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("want smtp://user:pass@host:port (STARTTLS when offered) or smtps://user:pass@host:port")
    return Secret(v)


def _addresses(v: str) -> str | None:
    if not v.strip():
        return None
    for address in _split(v):
        local, at, domain = address.partition("@")
        # no white space or control characters: an address goes into a mail header (From, To) and an
        # SMTP command, where a line break would start a header or a command of its own
        if (not local or not at or "." not in domain or "<" in address
                or any(ch.isspace() or not ch.isprintable() for ch in address)):
            raise ValueError(f"{address!r} is not an email address")
    return v


def _channel(v: str) -> str | None:
    return v.strip().lstrip("#") or None


@dataclass(frozen=True, slots=True)
class SettingField:
    name: str  # the attribute of Settings
    env: tuple[str, ...]  # its variable(s), the first one found wins
    default: object  # used as it is (not checked)
    check: Callable[[str], object] = _text


FIELDS: tuple[SettingField, ...] = (
    SettingField("database_url", ("DATABASE_URL",), DEFAULT_DATABASE_URL),
    SettingField("slack_bot_token", ("SLACK_BOT_TOKEN",), None, _header_secret),
    SettingField("slack_app_token", ("SLACK_APP_TOKEN",), None, _header_secret),
    SettingField("slack_api_url", ("SLACK_API_URL",), DEFAULT_SLACK_API_URL, _slack_url),
    SettingField("anthropic_admin_key", ("ANTHROPIC_ADMIN_KEY",), None, _header_secret),
    SettingField("anthropic_api_url", ("ANTHROPIC_API_URL",), DEFAULT_ANTHROPIC_API_URL, _base_url),
    SettingField("cursor_admin_key", ("CURSOR_ADMIN_KEY",), None, _header_secret),
    SettingField("cursor_api_url", ("CURSOR_API_URL",), DEFAULT_CURSOR_API_URL, _base_url),
    SettingField("email_domain", ("ABACUS_EMAIL_DOMAIN", "DOMAIN"), None, _domain),
    SettingField("alert_channel", ("ABACUS_ALERT_CHANNEL",), None, _channel),
    SettingField("admins_raw", ("ABACUS_ADMINS",), None),
    SettingField("sync_schedule", ("ABACUS_SYNC_SCHEDULE",), DEFAULT_SYNC_SCHEDULE, _sync_cron),
    SettingField("digest_schedule", ("ABACUS_DIGEST_SCHEDULE",), DEFAULT_DIGEST_SCHEDULE, _digest_cron),
    SettingField("smtp_url", ("ABACUS_SMTP_URL",), None, _smtp),
    SettingField("alert_email_to_raw", ("ABACUS_ALERT_EMAIL_TO",), None, _addresses),
    SettingField("alert_email_from_raw", ("ABACUS_ALERT_EMAIL_FROM",), None, _addresses),
    # delivery tuning (rarely needed): how long a sender's claim on an alert lasts before another
    # process may take it over, and the first retry delay after a 5xx or a timeout (doubling)
    SettingField("alert_lease_seconds", ("ABACUS_ALERT_LEASE",), 60.0, _number(1.0, 3600.0, "seconds")),
    SettingField("alert_backoff_seconds", ("ABACUS_ALERT_BACKOFF",), 5.0, _number(0.01, 3600.0, "seconds")),
    # on SIGTERM, how long a scheduled sync may run on before it stops at its next day (committed,
    # the next run resumes): in-flight work finishes, within the ~30 s platforms wait before a kill
    SettingField("stop_grace_seconds", ("ABACUS_STOP_GRACE",), 20.0, _number(0.0, 3600.0, "seconds")),
    SettingField("log_level", ("ABACUS_LOG_LEVEL",), "INFO", _level),
    SettingField("otlp_port", ("ABACUS_OTLP_PORT",), None, _whole(1, 65535, "a TCP port")),
    SettingField("otlp_token", ("ABACUS_OTLP_TOKEN",), None, _header_secret),
    SettingField("otlp_host", ("ABACUS_OTLP_HOST",), "0.0.0.0"),
    # detection on today's live telemetry, every N minutes while the receiver is on (0 or off: never);
    # a fraction is allowed (0.25 = every 15 s), for tests and teams that want seconds
    SettingField("live_detect_minutes", ("ABACUS_LIVE_DETECT_MINUTES",), 2, _live_minutes),
)


class Settings:
    """The validated settings; build them with `load_settings`."""

    database_url: str
    slack_bot_token: Secret | None
    slack_app_token: Secret | None
    slack_api_url: str
    anthropic_admin_key: Secret | None
    anthropic_api_url: str
    cursor_admin_key: Secret | None
    cursor_api_url: str
    email_domain: str | None
    alert_channel: str | None
    admins_raw: str | None
    sync_schedule: str
    digest_schedule: str
    smtp_url: Secret | None
    alert_email_to_raw: str | None
    alert_email_from_raw: str | None
    alert_lease_seconds: float
    alert_backoff_seconds: float
    stop_grace_seconds: float
    log_level: str
    otlp_port: int | None
    otlp_token: Secret | None
    otlp_host: str
    live_detect_minutes: float

    def __init__(self, values: Mapping[str, object]) -> None:
        for f in FIELDS:
            setattr(self, f.name, values.get(f.name, f.default))

    def __repr__(self) -> str:  # secrets print as stars (Secret's repr)
        return "Settings(" + ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in FIELDS) + ")"

    # Derived views -------------------------------------------------------------

    @property
    def admins(self) -> list[str]:
        """Slack user ids and emails. Commas separate them; so do spaces (`U1 U2` is two people, not
        one that nobody is), and a mention pasted from Slack (`<@U123>`, `<@U123|ann>`) is its id."""
        out = []
        for entry in _split((self.admins_raw or "").replace(" ", ",").replace("\t", ",")):
            if entry.startswith("<@") and entry.endswith(">"):
                entry = entry[2:-1].split("|", 1)[0]
            if entry:
                out.append(entry.lower() if "@" in entry else entry)
        return out

    @property
    def anthropic_keys(self) -> list[str]:
        return _split(self.anthropic_admin_key.get_secret_value() if self.anthropic_admin_key else None)

    @property
    def cursor_keys(self) -> list[str]:
        return _split(self.cursor_admin_key.get_secret_value() if self.cursor_admin_key else None)

    @property
    def alert_email_to(self) -> list[str]:
        return [a.lower() for a in _split(self.alert_email_to_raw)]

    @property
    def alert_email_from(self) -> str | None:
        if self.alert_email_from_raw:
            return _split(self.alert_email_from_raw)[0]
        return f"abacus@{self.email_domain}" if self.email_domain else None

    @property
    def email_configured(self) -> bool:
        """Alert emails: an SMTP server and someone to send them to."""
        return bool(self.smtp_url and self.alert_email_to)

    def half_configured(self) -> list[str]:
        """Settings given without their partner, so their feature stays off (said at start, one line each)."""
        notes = []
        if self.smtp_url and not self.alert_email_to:
            notes.append("ABACUS_SMTP_URL is set but ABACUS_ALERT_EMAIL_TO is not: no alert emails are sent")
        if self.alert_email_to and not self.smtp_url:
            notes.append("ABACUS_ALERT_EMAIL_TO is set but ABACUS_SMTP_URL is not: no alert emails are sent")
        return notes

    def require_email(self) -> None:
        if self.email_configured and not self.alert_email_from:
            raise ConfigError("ABACUS_ALERT_EMAIL_FROM: required with ABACUS_SMTP_URL when ABACUS_EMAIL_DOMAIN "
                              "is not set (the sender address of alert emails)")

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_bot_token and self.slack_app_token)

    def require_slack(self) -> None:
        problems = []
        bot = self.slack_bot_token.get_secret_value() if self.slack_bot_token else ""
        app = self.slack_app_token.get_secret_value() if self.slack_app_token else ""
        if not bot:
            problems.append("SLACK_BOT_TOKEN is not set (the xoxb- bot token)")
        elif not bot.startswith("xoxb-"):
            problems.append("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
        if not app:
            problems.append("SLACK_APP_TOKEN is not set (the xapp- app-level token with connections:write)")
        elif not app.startswith("xapp-"):
            problems.append("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
        if problems:
            raise ConfigError("\n".join(problems))

    def describe(self) -> dict[str, str]:
        """Non-secret summary for logs and the App Home."""
        from storage.dbapi import redact_url

        return {
            "database": redact_url(self.database_url),
            "anthropic": f"{len(self.anthropic_keys)} organisation(s)" if self.anthropic_keys else "off",
            "cursor": f"{len(self.cursor_keys)} team(s)" if self.cursor_keys else "off",
            "email_domain": self.email_domain or "(not set)",
            "alert_channel": self.alert_channel or "(not set: alerts only stored)",
            "sync_schedule": self.sync_schedule,
            "digest_schedule": self.digest_schedule,
            "email": (f"{len(self.alert_email_to)} recipient(s) via {self._smtp_host()}" if self.email_configured
                      else "off"),
            "otlp_receiver": (f"port {self.otlp_port}, live detection every {self.live_detect_minutes:g} min"
                              if self.otlp_port and self.live_detect_minutes
                              else f"port {self.otlp_port}" if self.otlp_port else "off"),
        }

    def _smtp_host(self) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(self.smtp_url.get_secret_value()) if self.smtp_url else None
        return f"{parts.hostname}:{parts.port or ''}".rstrip(":") if parts else "?"


def _model_checks(s: Settings) -> list[str]:
    """Rules across settings, checked once each setting is valid on its own."""
    token = s.otlp_token.get_secret_value().strip() if s.otlp_token else ""
    if s.otlp_port is not None and not token:
        return ["ABACUS_OTLP_TOKEN must be set when ABACUS_OTLP_PORT is (every OTLP request must carry it as "
                "'Authorization: Bearer …')"]
    if token and len(token) < 16:
        return ["ABACUS_OTLP_TOKEN must be at least 16 characters (e.g. `openssl rand -hex 24`)"]
    return []


_FIFO_VALUES: dict[Path, dict[str, str]] = {}  # a named pipe can be read once: its values, per process


def _dotenv(path: Path) -> dict[str, str]:
    """`.env` in the working folder, parsed by python-dotenv (quotes, `export`, `${VAR}`); {} without one."""
    fifo = path.is_fifo()
    if fifo and path.absolute() in _FIFO_VALUES:
        return _FIFO_VALUES[path.absolute()]
    if not (fifo or path.is_file()):
        return {}
    from dotenv import dotenv_values

    try:
        values = {k: v for k, v in dotenv_values(path, encoding="utf-8").items() if v is not None}
        if fifo:
            _FIFO_VALUES[path.absolute()] = values
        return values
    except UnicodeDecodeError as exc:  # its bytes may be a secret: never shown
        raise ConfigError(f".env is not valid UTF-8 (a bad byte at offset {exc.start}): save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f".env cannot be read: {exc.strerror or type(exc).__name__}") from None


def environment() -> dict[str, str]:
    """The environment over `.env`, with `load_settings`' precedence (the environment wins, a blank
    value means unset, names in any case; returned upper-case): for the tuning variables read
    outside `FIELDS` (ABACUS_HTTP_*, ABACUS_SYNC_*, ABACUS_DB_LOCK_TIMEOUT), so `.env` sets them too."""
    merged: dict[str, str] = {}
    for source in (_dotenv(Path(ENV_FILE)), os.environ):
        merged.update({k.upper(): v for k, v in source.items() if v != ""})
    return merged


def load_settings(**overrides) -> Settings:
    """Read and validate: `overrides` (by attribute or variable name) over the environment over
    `.env` over the defaults. A ConfigError carries one line per problem, without values."""
    by_name = {f.name: f for f in FIELDS} | {env.lower(): f for f in FIELDS for env in f.env}
    given: dict[str, tuple[str, str]] = {}  # attribute → (variable, text)
    for source in (_dotenv(Path(ENV_FILE)), os.environ):
        found = {k.lower(): v for k, v in source.items() if v != ""}  # a blank value (`KEY=`) means unset
        for f in FIELDS:
            env = next((e for e in f.env if e.lower() in found), None)
            if env is not None:
                given[f.name] = (env, found[env.lower()])
    for key, value in overrides.items():
        f = by_name.get(key) or by_name.get(key.lower())
        if f is None:
            raise TypeError(f"load_settings() got an unknown setting {key!r}")
        if value is None:
            given.pop(f.name, None)
        else:
            given[f.name] = (f.env[0] if key == f.name else key.upper(), str(value))
    values: dict[str, object] = {}
    problems: list[str] = []
    for f in FIELDS:
        if f.name not in given:
            continue
        env, text = given[f.name]
        try:
            values[f.name] = f.check(text)
        except ValueError as exc:
            problems.append(f"{env}: {exc}")
    if problems:
        raise ConfigError("\n".join(problems))
    settings = Settings(values)
    problems = _model_checks(settings)
    if problems:
        raise ConfigError("\n".join(problems))
    return settings
