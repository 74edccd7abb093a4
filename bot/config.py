"""Configuration from the environment and `.env`, with the names of docs/contract.md.

Validated once at start; each problem is reported on its own line and secrets are never
echoed (pydantic's SecretStr keeps them out of reprs and logs).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_ANTHROPIC_API_URL = "https://api.anthropic.com"
DEFAULT_CURSOR_API_URL = "https://api.cursor.com"
DEFAULT_SYNC_SCHEDULE = "5 * * * *"  # hourly, five past
DEFAULT_DIGEST_SCHEDULE = "0 9 * * 1"  # Mondays 09:00 UTC


def secret_hint(value: str | None) -> str:
    """At most a 4-character hint of a secret, for operators matching keys."""
    if not value:
        return "(none)"
    return f"…{value[-4:]}" if len(value) >= 12 else "…"


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _check_cron(v: str) -> str:
    from bot.cron import cron_trigger

    try:
        cron_trigger(v)
    except ValueError as exc:
        raise ValueError(f"not a cron expression ({exc})") from None
    return v


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    # a blank value (`KEY=` in a .env template) means unset, for every setting alike
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      env_ignore_empty=True, populate_by_name=True)

    database_url: str = Field(default="sqlite:///abacus.db", validation_alias="DATABASE_URL")
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default=DEFAULT_SLACK_API_URL, validation_alias="SLACK_API_URL")
    anthropic_admin_key: SecretStr | None = Field(default=None, validation_alias="ANTHROPIC_ADMIN_KEY")
    anthropic_api_url: str = Field(default=DEFAULT_ANTHROPIC_API_URL, validation_alias="ANTHROPIC_API_URL")
    cursor_admin_key: SecretStr | None = Field(default=None, validation_alias="CURSOR_ADMIN_KEY")
    cursor_api_url: str = Field(default=DEFAULT_CURSOR_API_URL, validation_alias="CURSOR_API_URL")
    email_domain: str | None = Field(default=None, validation_alias=AliasChoices("ABACUS_EMAIL_DOMAIN", "DOMAIN"))
    alert_channel: str | None = Field(default=None, validation_alias="ABACUS_ALERT_CHANNEL")
    admins_raw: str | None = Field(default=None, validation_alias="ABACUS_ADMINS")
    sync_schedule: str = Field(default=DEFAULT_SYNC_SCHEDULE, validation_alias="ABACUS_SYNC_SCHEDULE")
    digest_schedule: str = Field(default=DEFAULT_DIGEST_SCHEDULE, validation_alias="ABACUS_DIGEST_SCHEDULE")
    smtp_url: SecretStr | None = Field(default=None, validation_alias="ABACUS_SMTP_URL")
    alert_email_to_raw: str | None = Field(default=None, validation_alias="ABACUS_ALERT_EMAIL_TO")
    alert_email_from_raw: str | None = Field(default=None, validation_alias="ABACUS_ALERT_EMAIL_FROM")
    # delivery tuning (rarely needed): how long a sender's claim on an alert lasts before another
    # process may take it over, and the first retry delay after a 5xx or a timeout (doubling)
    alert_lease_seconds: float = Field(default=60.0, ge=1.0, le=3600.0, validation_alias="ABACUS_ALERT_LEASE")
    alert_backoff_seconds: float = Field(default=5.0, ge=0.01, le=3600.0, validation_alias="ABACUS_ALERT_BACKOFF")
    log_level: str = Field(default="INFO", validation_alias="ABACUS_LOG_LEVEL")
    otlp_port: int | None = Field(default=None, validation_alias="ABACUS_OTLP_PORT", ge=1, le=65535)
    otlp_token: SecretStr | None = Field(default=None, validation_alias="ABACUS_OTLP_TOKEN")
    otlp_host: str = Field(default="0.0.0.0", validation_alias="ABACUS_OTLP_HOST")
    # detection on today's live telemetry, every N minutes while the receiver is on (0 or off: never);
    # a fraction is allowed (0.25 = every 15 s), for tests and teams that want seconds
    live_detect_minutes: float = Field(default=2, validation_alias="ABACUS_LIVE_DETECT_MINUTES", ge=0, le=60)

    @field_validator("live_detect_minutes", mode="before")
    @classmethod
    def _off(cls, v):
        return 0 if isinstance(v, str) and v.strip().lower() in ("off", "no", "false") else v

    @model_validator(mode="after")
    def _otlp_needs_token(self) -> Settings:
        token = self.otlp_token.get_secret_value().strip() if self.otlp_token else ""
        if self.otlp_port is not None and not token:
            raise ValueError("ABACUS_OTLP_TOKEN must be set when ABACUS_OTLP_PORT is (every OTLP request "
                             "must carry it as 'Authorization: Bearer …')")
        if token and len(token) < 16:
            raise ValueError("ABACUS_OTLP_TOKEN must be at least 16 characters (e.g. `openssl rand -hex 24`)")
        return self

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        level = v.strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return level

    @field_validator("slack_api_url")
    @classmethod
    def _slash(cls, v: str) -> str:
        v = v.strip()
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v if v.endswith("/") else v + "/"

    @field_validator("anthropic_api_url", "cursor_api_url")
    @classmethod
    def _base(cls, v: str) -> str:
        v = v.strip()
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("email_domain")
    @classmethod
    def _domain(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip().lower().lstrip("@")
        if "." not in v or " " in v or "@" in v:
            raise ValueError("must be a domain like example.com")
        return v

    @field_validator("sync_schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        if v == DEFAULT_SYNC_SCHEDULE:  # known good (a test parses it): no scheduler import for every command
            return v
        return _check_cron(v)

    @field_validator("digest_schedule")
    @classmethod
    def _digest_cron(cls, v: str) -> str:
        if v.strip().lower() == "off":
            return "off"
        if v == DEFAULT_DIGEST_SCHEDULE:  # known good (tests/bot/test_cron.py): no scheduler import
            return v
        return _check_cron(v)

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, v: SecretStr | None) -> SecretStr | None:
        from urllib.parse import urlsplit

        if v is None or not v.get_secret_value().strip():
            return None
        try:
            parts = urlsplit(v.get_secret_value().strip())
            parts.port  # noqa: B018 - parses the port
        except ValueError:
            raise ValueError("not a URL: want smtp://user:pass@host:port or smtps://…") from None
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("want smtp://user:pass@host:port (STARTTLS when offered) or smtps://user:pass@host:port")
        return SecretStr(v.get_secret_value().strip())

    @field_validator("alert_email_to_raw", "alert_email_from_raw")
    @classmethod
    def _addresses(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        for address in _split(v):
            local, at, domain = address.partition("@")
            if not local or not at or "." not in domain or " " in address or "<" in address:
                raise ValueError(f"{address!r} is not an email address")
        return v

    @field_validator("alert_channel")
    @classmethod
    def _channel(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        v = v.strip().lstrip("#")
        return v

    # Derived views -------------------------------------------------------------

    @property
    def admins(self) -> list[str]:
        return [a.lower() if "@" in a else a for a in _split(self.admins_raw)]

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
        from storage.db import redact_url

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


_ENV_NAMES = {
    "database_url": "DATABASE_URL", "slack_bot_token": "SLACK_BOT_TOKEN", "slack_app_token": "SLACK_APP_TOKEN",
    "slack_api_url": "SLACK_API_URL", "anthropic_admin_key": "ANTHROPIC_ADMIN_KEY",
    "anthropic_api_url": "ANTHROPIC_API_URL", "cursor_admin_key": "CURSOR_ADMIN_KEY",
    "cursor_api_url": "CURSOR_API_URL", "email_domain": "ABACUS_EMAIL_DOMAIN", "alert_channel": "ABACUS_ALERT_CHANNEL",
    "admins_raw": "ABACUS_ADMINS", "sync_schedule": "ABACUS_SYNC_SCHEDULE", "log_level": "ABACUS_LOG_LEVEL",
    "digest_schedule": "ABACUS_DIGEST_SCHEDULE", "smtp_url": "ABACUS_SMTP_URL",
    "alert_email_to_raw": "ABACUS_ALERT_EMAIL_TO", "alert_email_from_raw": "ABACUS_ALERT_EMAIL_FROM",
    "alert_lease_seconds": "ABACUS_ALERT_LEASE", "alert_backoff_seconds": "ABACUS_ALERT_BACKOFF",
    "otlp_port": "ABACUS_OTLP_PORT", "otlp_token": "ABACUS_OTLP_TOKEN", "otlp_host": "ABACUS_OTLP_HOST",
    "live_detect_minutes": "ABACUS_LIVE_DETECT_MINUTES",
}


def load_settings(**overrides) -> Settings:
    """Read and validate; a ConfigError carries one line per problem, without values."""
    try:
        return Settings(**overrides)
    except UnicodeDecodeError as exc:  # the .env file; its bytes may be a secret: never shown
        raise ConfigError(f".env is not valid UTF-8 (a bad byte at offset {exc.start}): save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f".env cannot be read: {exc.strerror or type(exc).__name__}") from None
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = err.get("loc") or ("?",)
            name = _ENV_NAMES.get(str(loc[0]), str(loc[0]).upper())
            msg = err.get("msg", "invalid").removeprefix("Value error, ")
            lines.append(f"{name}: {msg}" if err.get("loc") else msg)  # model-level checks name their variables
        raise ConfigError("\n".join(lines)) from None
