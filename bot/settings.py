"""Typed configuration, read once at start from the environment and an optional `.env`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.i18n import SUPPORTED_LANGUAGES

TELEGRAM_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/buurtbot.db"
# Telegram tokens are "<bot id>:<35 url-safe characters>"; accept a little slack
# so a self-hosted Bot API server with its own test tokens also passes.
_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,80}$")
# Async drivers only: a blocking driver would stall the event loop on every query.
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class ConfigError(Exception):
    """A configuration value is missing or wrong; the message is one line naming the variable."""


class Settings(BaseSettings):
    """Everything the bot reads from its environment; validated before anything starts."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    telegram_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN")
    )
    telegram_api_base_url: str = Field(
        default=TELEGRAM_API_BASE_URL, validation_alias=AliasChoices("TELEGRAM_API_BASE_URL")
    )
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL, validation_alias=AliasChoices("DATABASE_URL")
    )
    admins: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(), validation_alias=AliasChoices("BUURTBOT_ADMINS")
    )
    timezone: str = Field(
        default="Europe/Amsterdam", validation_alias=AliasChoices("BUURTBOT_TIMEZONE")
    )
    default_language: str = Field(
        default="nl", validation_alias=AliasChoices("BUURTBOT_DEFAULT_LANGUAGE")
    )
    areas_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("BUURTBOT_AREAS_FILE")
    )
    sandbox_port: int = Field(
        default=8081, ge=0, le=65535, validation_alias=AliasChoices("BUURTBOT_SANDBOX_PORT")
    )
    dormant_days: int = Field(
        default=90, ge=1, le=3650, validation_alias=AliasChoices("BUURTBOT_DORMANT_DAYS")
    )
    misfire_grace_minutes: int = Field(
        default=60, ge=0, le=10080, validation_alias=AliasChoices("BUURTBOT_MISFIRE_GRACE_MINUTES")
    )
    # Meld een Vermoeden (issue 6) and the figures (issue 7).
    categories_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("BUURTBOT_CATEGORIES_FILE")
    )
    report_digest_time: time = Field(
        default=time(8, 0), validation_alias=AliasChoices("BUURTBOT_REPORT_DIGEST_TIME")
    )
    hotspot_count: int = Field(
        default=3, ge=2, le=1000, validation_alias=AliasChoices("BUURTBOT_HOTSPOT_COUNT")
    )
    hotspot_hours: int = Field(
        default=24, ge=1, le=24 * 31, validation_alias=AliasChoices("BUURTBOT_HOTSPOT_HOURS")
    )
    # Counts below this are shown as "<N" to anyone but coordinators.
    small_count: int = Field(
        default=3, ge=1, le=100, validation_alias=AliasChoices("BUURTBOT_SMALL_COUNT")
    )
    report_retention_days: int = Field(
        default=90, ge=1, le=3650, validation_alias=AliasChoices("BUURTBOT_REPORT_RETENTION_DAYS")
    )
    reports_per_hour: int = Field(
        default=5, ge=1, le=1000, validation_alias=AliasChoices("BUURTBOT_REPORTS_PER_HOUR")
    )
    # Short notes to coordinators as a report arrives or an invite is used (each can
    # switch them off for themselves); false switches them off for everyone.
    coordinator_notes: bool = Field(
        default=True, validation_alias=AliasChoices("BUURTBOT_COORDINATOR_NOTES")
    )
    # The key of anonymous reports (bot.keys): never kept in the database. With a real
    # token the bot refuses to start without one of these two.
    secret: SecretStr | None = Field(default=None, validation_alias=AliasChoices("BUURTBOT_SECRET"))
    secret_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("BUURTBOT_SECRET_FILE")
    )
    weekly_digest_day: str = Field(
        default="mon", validation_alias=AliasChoices("BUURTBOT_WEEKLY_DIGEST_DAY")
    )
    weekly_digest_time: time = Field(
        default=time(8, 0), validation_alias=AliasChoices("BUURTBOT_WEEKLY_DIGEST_TIME")
    )
    # Tries an update gets (a handler that raised, or a crash while it ran) before it goes
    # to the dead letters of the inbox.
    inbox_max_attempts: int = Field(
        default=3, ge=1, le=100, validation_alias=AliasChoices("BUURTBOT_INBOX_MAX_ATTEMPTS")
    )
    # Messages a second the delivery engine sends; the default leaves Telegram's 30/s a
    # little room for interactive answers (bot.delivery.Pacing).
    send_rate: float = Field(
        default=28.8, ge=1.0, le=1000.0, validation_alias=AliasChoices("BUURTBOT_SEND_RATE")
    )
    # Updates of one chat that may wait for their turn; further button presses are
    # dropped (one "Even rustig aan." a burst). Commands and messages always wait.
    max_waiting_per_chat: int = Field(
        default=5, ge=1, le=1000, validation_alias=AliasChoices("BUURTBOT_MAX_WAITING_PER_CHAT")
    )
    # Production (issue 15): webhook mode and the one HTTP server for the webhook, health
    # and metrics. Without a port nothing listens; without a webhook URL the bot polls.
    webhook_url: str | None = Field(
        default=None, validation_alias=AliasChoices("BUURTBOT_WEBHOOK_URL")
    )
    listen_host: str = Field(
        default="127.0.0.1", validation_alias=AliasChoices("BUURTBOT_LISTEN_HOST")
    )
    # 0 picks a free port (tests); the log line "listening on" names it.
    listen_port: int | None = Field(
        default=None, ge=0, le=65535, validation_alias=AliasChoices("BUURTBOT_LISTEN_PORT")
    )
    # Without it the secret is derived from the key of anonymous reports, so every replica
    # sharing the key agrees on it and it never needs a place of its own.
    webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("BUURTBOT_WEBHOOK_SECRET")
    )
    webhook_max_connections: int = Field(
        default=40, ge=1, le=100, validation_alias=AliasChoices("BUURTBOT_WEBHOOK_MAX_CONNECTIONS")
    )
    # The coordinator's Mini App (issue 17): the public https URL of `/app/` on this
    # server. Not derived from the webhook's: a proxy that forwards only the webhook's
    # path would turn every coordinator's menu button into a dead link. Unset: no buttons.
    miniapp_url: str | None = Field(
        default=None, validation_alias=AliasChoices("BUURTBOT_MINIAPP_URL")
    )
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("BUURTBOT_LOG_LEVEL"))
    log_format: str = Field(default="text", validation_alias=AliasChoices("BUURTBOT_LOG_FORMAT"))

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _token(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None  # an empty TELEGRAM_BOT_TOKEN= in .env means sandbox mode
        if not isinstance(value, str) or not _TOKEN_RE.match(value.strip()):
            raise ValueError("does not look like a bot token (expected 123456:ABC-...)")
        return value.strip()

    @field_validator("secret", mode="before")
    @classmethod
    def _secret(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or len(value.strip()) < 32:
            raise ValueError("too short: use at least 32 random characters")
        return value.strip()

    @field_validator("telegram_api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value

    # Telegram pushes webhooks only to HTTPS (ports 443, 80, 88, 8443; a reverse proxy
    # ends TLS) and opens web_app buttons over HTTPS only.
    @field_validator("webhook_url", "miniapp_url", mode="before")
    @classmethod
    def _https_url(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not re.match(r"^https://[^\s/]+(/\S*)?$", value.strip()):
            # The first thing someone trying webhook mode locally types is http://127.0.0.1.
            hint = (
                "; the public address the proxy serves (in sandbox mode any https address,"
                " e.g. https://buurtbot.example/telegram: the sandbox forwards it to"
                " BUURTBOT_LISTEN_PORT)"
                if info.field_name == "webhook_url"
                else ""
            )
            raise ValueError(f"not an https URL: {value!r}{hint}")
        return value.strip()

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _webhook_secret(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        # Telegram's own rule for secret_token; at least 32 so it cannot be guessed.
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]{32,256}", value.strip()):
            raise ValueError("use 32 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return value.strip()

    @model_validator(mode="after")
    def _webhook_needs_a_port(self) -> Settings:
        if self.webhook_url is not None and self.listen_port is None:
            raise ValueError("BUURTBOT_LISTEN_PORT: needed with BUURTBOT_WEBHOOK_URL")
        return self

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"not a database URL: {value!r}") from None
        backend = url.get_backend_name()
        if backend not in _ASYNC_DRIVERS:
            raise ValueError(f"unsupported database {backend!r} (use sqlite or postgresql)")
        # A plain postgresql:// or sqlite:// URL is what people copy from their host;
        # pick the async driver for them instead of failing.
        if url.drivername in _ASYNC_DRIVERS:
            url = url.set(drivername=_ASYNC_DRIVERS[backend])
        elif url.drivername != _ASYNC_DRIVERS[backend]:
            raise ValueError(
                f"driver {url.drivername!r} is not async; use {_ASYNC_DRIVERS[backend]}"
            )
        return url.render_as_string(hide_password=False)

    @field_validator("admins", mode="before")
    @classmethod
    def _admins(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            if not all(re.fullmatch(r"\d{1,20}", part) for part in parts):
                raise ValueError(f"expected comma-separated Telegram user ids, got {value!r}")
            return frozenset(int(part) for part in parts)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Amsterdam)") from None
        return value

    @field_validator("default_language")
    @classmethod
    def _language(cls, value: str) -> str:
        try:
            Locale.parse(value, sep="-")
        except (UnknownLocaleError, ValueError):
            raise ValueError(f"unknown language {value!r} (e.g. nl or en)") from None
        if value not in SUPPORTED_LANGUAGES:
            raise ValueError(
                f"{value!r} is not one of the bot's languages ({', '.join(SUPPORTED_LANGUAGES)})"
            )
        return value

    @field_validator("areas_file")
    @classmethod
    def _areas_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("categories_file")
    @classmethod
    def _categories_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("report_digest_time", "weekly_digest_time", mode="before")
    @classmethod
    def _clock(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip())
            if match is None:
                raise ValueError(f"expected a time like 08:00, got {value!r}")
            return time(int(match[1]), int(match[2]))
        return value

    @field_validator("weekly_digest_day")
    @classmethod
    def _weekday(cls, value: str) -> str:
        day = value.strip().lower()[:3]
        if day not in WEEKDAYS:
            raise ValueError(f"expected a weekday like mon or monday, got {value!r}")
        return day

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"expected DEBUG, INFO, WARNING or ERROR, got {value!r}")
        return value.upper()

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in {"text", "json"}:
            raise ValueError(f"expected text or json, got {value!r}")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def token(self) -> str | None:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else None

    @property
    def sandbox_mode(self) -> bool:
        return self.telegram_bot_token is None

    @property
    def webhook_mode(self) -> bool:
        return self.webhook_url is not None

    @property
    def webhook_path(self) -> str:
        """Where the webhook listens: the path of the public URL (a proxy forwards it)."""
        path = urlsplit(self.webhook_url or "").path
        return path or "/"

    @property
    def file_base_url(self) -> str:
        """Where files are downloaded; Telegram and the sandbox put `/file` before `/bot`."""
        base = self.telegram_api_base_url
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return base.rstrip("/") + "/file/bot"

    def with_overrides(self, **values: Any) -> Settings:
        return self.model_copy(update=values)


def _alias_of(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return field.upper()


def load_settings(
    env: Mapping[str, str] | None = None, *, env_file: str | None = ".env"
) -> Settings:
    """Build the settings from `env` (default: the process environment and `.env`).

    Raises ConfigError with one line such as
    "BUURTBOT_TIMEZONE: unknown time zone 'Mars/Base' (e.g. Europe/Amsterdam)".
    """
    try:
        if env is None:
            return Settings(_env_file=env_file)  # type: ignore[call-arg]
        values = {
            _alias_of(name): env[_alias_of(name)]
            for name in Settings.model_fields
            if _alias_of(name) in env
        }
        # model_validate skips the environment sources, so an explicit mapping is hermetic.
        return Settings.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        name = (
            field
            if field.isupper()
            else _alias_of(field)
            if field in Settings.model_fields
            else field
        )
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:
            raise ConfigError(message) from None  # a check of several fields names its own
        raise ConfigError(f"{name}: {message}") from None
