"""The bot as a real process: the environment `python -m bot run` gets in fault tests."""

from __future__ import annotations

import os
from pathlib import Path

from bot.cli import SANDBOX_TOKEN

ROOT = Path(__file__).resolve().parent.parent
# A real token needs the key of anonymous reports; a restarted process must open what
# the killed one sealed, so every process of a test shares this one.
TEST_SECRET = "fault-test-" + "k" * 32


def bot_environment(api_base_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """The machine's environment without the bot's own variables, then the test's."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "BUURTBOT_", "DATABASE_URL"))
    }
    return env | {
        "TELEGRAM_BOT_TOKEN": SANDBOX_TOKEN,
        "TELEGRAM_API_BASE_URL": api_base_url,
        "DATABASE_URL": database_url,
        "BUURTBOT_SECRET": TEST_SECRET,
        "PYTHONPATH": str(ROOT),
        **extra,
    }
