"""BUURTBOT_LOG_FORMAT=json: one object a line, one line at each update's end, and never
a user id or anything a user typed (issue 15)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.app import BotApplication
from bot.logs import PAYLOAD_LOGGERS, configure_logging
from sandbox.client import SandboxClient
from tests.journeys.resident import MakeResident
from tests.processes import until

SECRET_WORDS = "Mijn buurman Kees heeft een rode auto"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The log as `BUURTBOT_LOG_FORMAT=json BUURTBOT_LOG_LEVEL=DEBUG` configures it."""
    stream = io.StringIO()
    root = logging.getLogger()
    touched = ["httpx", "aiohttp.access", "alembic.runtime.plugins", *PAYLOAD_LOGGERS]
    saved = (
        root.handlers[:],
        root.level,
        {name: logging.getLogger(name).level for name in touched},
    )
    configure_logging("DEBUG", "json")
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        yield stream
    finally:
        root.handlers[:], level, levels = saved
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)


async def test_each_update_ends_in_one_json_line_without_users_or_texts(
    bot: BotApplication, client: SandboxClient, resident: MakeResident, json_log: io.StringIO
) -> None:
    anna = await resident("Anna", user_id=734215)
    welcome = await anna.say("/start")
    await anna.tap(welcome, "Stiphout")  # a welcome in her language asks the wijk at once
    await client.send(anna.id, SECRET_WORDS)
    await anna.next_reply()

    async def three_ended() -> bool:  # the reply goes out just before the update's end
        return json_log.getvalue().count('"outcome"') >= 3

    await until(three_ended, 10, "three updates ended")
    lines = [line for line in json_log.getvalue().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    ends = [entry for entry in entries if "outcome" in entry]
    assert len(ends) >= 3
    for entry in ends:
        assert isinstance(entry["update_id"], int)
        assert entry["update_kind"] in {"message", "callback_query"}
        assert entry["handler"] != "none"
        assert isinstance(entry["latency_ms"], float)
        assert entry["outcome"] == "done"
    assert {"onboarding.start", "onboarding.on_wijk"} <= {e["handler"] for e in ends}
    # Nothing anywhere in the log names Anna or repeats what she typed.
    text = json_log.getvalue()
    assert "734215" not in text
    assert "Kees" not in text
    assert "Anna" not in text
