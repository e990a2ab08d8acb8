"""The sandbox pushes updates to a set webhook as Telegram does (sandbox.webhook)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.cli import SANDBOX_TOKEN
from sandbox.client import SandboxClient
from sandbox.server import SandboxServer
from tests.processes import until

PUBLIC = "https://buurtbot.test"
SECRET = "s" * 40


class Receiver:
    """A webhook endpoint that records what it got and answers as told."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, Any], str | None]] = []
        self.refuse: dict[str, int] = {}  # a text's pushes to answer 500 first
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        update = await request.json()
        text = update.get("message", {}).get("text", "")
        if self.refuse.get(text, 0) > 0:
            self.refuse[text] -= 1
            return web.Response(status=500)
        self.got.append((update, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return web.Response(status=200)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def receiver(sandbox: SandboxServer) -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    sandbox.state.webhook_routes[PUBLIC] = [f"http://127.0.0.1:{receiver.port}"]
    yield receiver
    await receiver.stop()


async def bot_api(sandbox: SandboxServer, method: str, **params: Any) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sandbox.api_base_url}{SANDBOX_TOKEN}/{method}", json=params) as response,
    ):
        return dict(await response.json())


async def test_pushes_with_the_secret_in_each_chats_order(
    sandbox: SandboxServer, client: SandboxClient, receiver: Receiver
) -> None:
    anna = (await client.create_user(first_name="Anna"))["id"]
    bram = (await client.create_user(first_name="Bram"))["id"]
    # Anna's first push is refused twice: her second waits, Bram's pass it by.
    receiver.refuse = {"een": 2}
    answer = await bot_api(
        sandbox, "setWebhook", url=f"{PUBLIC}/hook", secret_token=SECRET, max_connections=1
    )
    assert answer["ok"] is True
    await client.send(anna, "een")
    await client.send(anna, "twee")
    await client.send(bram, "drie")

    async def all_three() -> bool:
        return len(receiver.got) == 3

    await until(all_three, 15, "three updates pushed")
    texts = [update["message"]["text"] for update, _ in receiver.got]
    assert texts.index("een") < texts.index("twee")
    assert texts[0] == "drie"  # not held up by Anna's refused update
    assert {secret for _, secret in receiver.got} == {SECRET}
    info = (await bot_api(sandbox, "getWebhookInfo"))["result"]
    assert info["pending_update_count"] == 0
    assert (
        info["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"
    )
    assert isinstance(info["last_error_date"], int)
    assert info["max_connections"] == 1
    assert "secret_token" not in info


async def test_get_updates_refused_while_a_webhook_is_set(
    sandbox: SandboxServer, client: SandboxClient, receiver: Receiver
) -> None:
    await bot_api(sandbox, "setWebhook", url=f"{PUBLIC}/hook")
    refused = await bot_api(sandbox, "getUpdates")
    assert refused["error_code"] == 409
    assert "webhook is active" in refused["description"]
    await bot_api(sandbox, "deleteWebhook")
    assert (await bot_api(sandbox, "getUpdates"))["ok"] is True


async def test_updates_wait_while_the_bot_is_away_and_drop_pending_forgets_them(
    sandbox: SandboxServer, client: SandboxClient, receiver: Receiver
) -> None:
    await receiver.stop()  # connection refused from now on
    anna = (await client.create_user(first_name="Anna"))["id"]
    await bot_api(sandbox, "setWebhook", url=f"{PUBLIC}/hook", allowed_updates=["message"])
    await client.send(anna, "hallo")

    async def refused() -> bool:
        info = (await bot_api(sandbox, "getWebhookInfo"))["result"]
        return info.get("last_error_message") == "Connection refused"

    await until(refused, 10, "the push fails")
    info = (await bot_api(sandbox, "getWebhookInfo"))["result"]
    assert info["pending_update_count"] == 1
    assert info["allowed_updates"] == ["message"]
    await bot_api(sandbox, "setWebhook", url=f"{PUBLIC}/hook", drop_pending_updates=True)
    info = (await bot_api(sandbox, "getWebhookInfo"))["result"]
    assert info["pending_update_count"] == 0
    assert "last_error_message" not in info


async def test_a_balancer_passes_over_a_backend_that_is_down(
    sandbox: SandboxServer, client: SandboxClient, receiver: Receiver
) -> None:
    # The first backend refuses connections (nothing listens on a port just closed).
    closed = web.AppRunner(web.Application())
    await closed.setup()
    site = web.TCPSite(closed, "127.0.0.1", 0)
    await site.start()
    dead_port = closed.addresses[0][1]
    await closed.cleanup()
    sandbox.state.webhook_routes[PUBLIC] = [
        f"http://127.0.0.1:{dead_port}",
        f"http://127.0.0.1:{receiver.port}",
    ]
    anna = (await client.create_user(first_name="Anna"))["id"]
    await bot_api(sandbox, "setWebhook", url=f"{PUBLIC}/hook")
    for word in ("een", "twee", "drie"):
        await client.send(anna, word)

    async def all_three() -> bool:
        return len(receiver.got) == 3

    await until(all_three, 10, "three updates pushed past the dead backend")
    assert [u["message"]["text"] for u, _ in receiver.got] == ["een", "twee", "drie"]
