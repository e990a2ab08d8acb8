"""Fixtures: a fresh sandbox server per test, PTB's real Bot over HTTP, and the control client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Bot

from sandbox.client import SandboxClient
from sandbox.config import Limits, SandboxConfig
from sandbox.server import SandboxServer

TOKEN = "123456:SANDBOX-TEST-TOKEN"
BOT_ID = 123456


def make_config(**overrides: Any) -> SandboxConfig:
    # Limits stay on (bursts realistic) but refill fast enough that ordinary tests never trip
    # them; the flood tests set explicit, slow rates so their timing cannot race.
    values: dict[str, Any] = {"token": TOKEN, "limits": Limits().scaled(1000)}
    values.update(overrides)
    return SandboxConfig(**values)


@pytest.fixture
def config() -> SandboxConfig:
    return make_config()


@pytest.fixture
async def server(config: SandboxConfig) -> AsyncIterator[SandboxServer]:
    srv = SandboxServer(config)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def client(server: SandboxServer) -> AsyncIterator[SandboxClient]:
    async with SandboxClient(server.url) as sandbox_client:
        yield sandbox_client


@pytest.fixture
async def bot(server: SandboxServer) -> AsyncIterator[Bot]:
    async with Bot(
        TOKEN, base_url=server.api_base_url, base_file_url=server.file_base_url
    ) as ptb_bot:
        yield ptb_bot


@pytest.fixture
async def anna(client: SandboxClient) -> dict[str, Any]:
    """A user who has started the bot (so the bot may write to her)."""
    user = await client.create_user("Anna", username="anna_helmond")
    await client.send(user["id"], "/start")
    return user


@pytest.fixture
async def bram(client: SandboxClient) -> dict[str, Any]:
    user = await client.create_user("Bram", last_name="de Vries")
    await client.send(user["id"], "/start")
    return user
