"""Configuration: defaults, every variable validated, one clear line on a bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import AliasChoices

from bot.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_mean_sandbox_mode_with_sqlite() -> None:
    settings = load_settings({})
    assert settings.sandbox_mode
    assert settings.token is None
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"
    assert settings.file_base_url == "https://api.telegram.org/file/bot"
    assert settings.database_url == "sqlite+aiosqlite:///./data/buurtbot.db"
    assert settings.admins == frozenset()
    assert settings.timezone == "Europe/Amsterdam"
    assert settings.default_language == "nl"
    assert settings.areas_file is None
    assert settings.sandbox_port == 8081


def test_values_are_parsed(tmp_path: Path) -> None:
    areas = tmp_path / "areas.json"
    areas.write_text("{}")
    settings = load_settings(
        {
            "TELEGRAM_BOT_TOKEN": "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0",
            "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/bot",
            "DATABASE_URL": "postgresql://buurtbot@db/buurtbot",
            "BUURTBOT_ADMINS": " 12, 34 ,",
            "BUURTBOT_TIMEZONE": "Europe/Brussels",
            "BUURTBOT_DEFAULT_LANGUAGE": "en",
            "BUURTBOT_AREAS_FILE": str(areas),
            "BUURTBOT_SANDBOX_PORT": "9090",
        }
    )
    assert not settings.sandbox_mode
    assert settings.token == "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"
    assert "AAHfiqks" not in repr(settings)  # the token never reaches a log line
    assert settings.file_base_url == "http://127.0.0.1:8081/file/bot"
    # A plain postgresql:// URL gets the async driver instead of blocking the loop.
    assert settings.database_url == "postgresql+asyncpg://buurtbot@db/buurtbot"
    assert settings.admins == frozenset({12, 34})
    assert str(settings.tz) == "Europe/Brussels"
    assert settings.default_language == "en"
    assert settings.areas_file == areas
    assert settings.sandbox_port == 9090


def test_empty_token_means_sandbox_mode() -> None:
    assert load_settings({"TELEGRAM_BOT_TOKEN": ""}).sandbox_mode


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("TELEGRAM_BOT_TOKEN", "not-a-token", "does not look like a bot token"),
        ("TELEGRAM_API_BASE_URL", "ftp://example.org/bot", "not an http(s) URL"),
        ("DATABASE_URL", "mysql://root@localhost/db", "unsupported database 'mysql'"),
        ("DATABASE_URL", "sqlite+pysqlite:///x.db", "is not async"),
        ("DATABASE_URL", "::nonsense::", "not a database URL"),
        ("BUURTBOT_ADMINS", "12,abc", "comma-separated Telegram user ids"),
        ("BUURTBOT_TIMEZONE", "Mars/Olympus_Mons", "unknown time zone"),
        ("BUURTBOT_DEFAULT_LANGUAGE", "xx-notalanguage", "unknown language"),
        ("BUURTBOT_DEFAULT_LANGUAGE", "fr", "not one of the bot's languages"),
        ("BUURTBOT_AREAS_FILE", "/nonexistent/areas.json", "no such file"),
        ("BUURTBOT_SANDBOX_PORT", "70000", "less than or equal to 65535"),
        ("BUURTBOT_SANDBOX_PORT", "eighty", "valid integer"),
        ("BUURTBOT_DORMANT_DAYS", "0", "greater than or equal to 1"),
        ("BUURTBOT_LOG_LEVEL", "LOUD", "expected DEBUG"),
        ("BUURTBOT_LOG_FORMAT", "xml", "expected text or json"),
        # Telegram opens web_app buttons over HTTPS only.
        ("BUURTBOT_MINIAPP_URL", "http://buurtbot.test/app/", "not an https URL"),
        # Trying webhook mode locally, the first address one types: the hint says what works.
        ("BUURTBOT_WEBHOOK_URL", "http://127.0.0.1:8090/telegram", "sandbox forwards it"),
    ],
)
def test_bad_value_names_the_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({variable: value})
    message = str(error.value)
    assert message.startswith(f"{variable}: ")
    assert says in message
    assert "\n" not in message


def test_dotenv_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BUURTBOT_TIMEZONE", "BUURTBOT_ADMINS"):
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("BUURTBOT_TIMEZONE=Europe/London\nBUURTBOT_ADMINS=7,8\n")
    settings = load_settings(env_file=str(env_file))
    assert settings.timezone == "Europe/London"
    assert settings.admins == frozenset({7, 8})


def test_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("BUURTBOT_TIMEZONE=Europe/London\n")
    monkeypatch.setenv("BUURTBOT_TIMEZONE", "Europe/Paris")
    assert load_settings(env_file=str(env_file)).timezone == "Europe/Paris"


def test_program_stops_with_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "BUURTBOT_TIMEZONE": "Nowhere/Land"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,  # no .env there
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "buurtbot: configuration error: BUURTBOT_TIMEZONE: unknown time zone 'Nowhere/Land' "
        "(e.g. Europe/Amsterdam)"
    ]


def test_readme_documents_every_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        name = alias.choices[0] if isinstance(alias, AliasChoices) else None
        assert name is not None
        assert f"| `{name}` |" in readme, f"README's configuration table lacks {name}"
