"""Webhook mode end to end: the sandbox pushes, the bot's own server stores then answers.

The bot is the one users run (build_application + running), with BUURTBOT_WEBHOOK_URL
set; the sandbox plays Telegram and, through `webhook_routes`, the reverse proxy.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlmodel import select

from bot.app import BotApplication, build_application, running, webhook_secret
from bot.cli import SANDBOX_TOKEN
from bot.services import services_of
from bot.settings import Settings
from sandbox.client import SandboxClient
from sandbox.server import SandboxServer
from storage.engine import SessionFactory
from storage.models import InboxUpdate
from tests.journeys.resident import next_message

PUBLIC = "https://buurtbot.test"
HOOK = f"{PUBLIC}/telegram"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The journeys' settings, in webhook mode on a free port."""
    return settings.with_overrides(webhook_url=HOOK, listen_port=0, webhook_max_connections=7)


@pytest.fixture
async def bot(app: BotApplication, sandbox: SandboxServer) -> AsyncIterator[BotApplication]:
    async with running(app):
        web = services_of(app).web
        assert web is not None
        assert web.port is not None
        sandbox.state.webhook_routes[PUBLIC] = [f"http://127.0.0.1:{web.port}"]
        yield app


def local(app: BotApplication, path: str) -> str:
    web = services_of(app).web
    assert web is not None
    return f"http://127.0.0.1:{web.port}{path}"


async def post_update(app: BotApplication, update: dict[str, Any], secret: str | None) -> int:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with (
        aiohttp.ClientSession() as http,
        http.post(local(app, "/telegram"), json=update, headers=headers) as response,
    ):
        return response.status


async def get(app: BotApplication, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(local(app, path)) as response:
        return response.status, await response.text()


def an_update(update_id: int, user_id: int = 4242, words: str = "/help") -> dict[str, Any]:
    person = {"id": user_id, "is_bot": False, "first_name": "Anna", "language_code": "nl"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": "Anna"},
            "from": person,
            "text": words,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(words)}],
        },
    }


async def stored(sessions: SessionFactory, update_id: int) -> InboxUpdate | None:
    async with sessions() as session:
        return (
            await session.exec(select(InboxUpdate).where(InboxUpdate.update_id == update_id))
        ).first()


async def test_a_resident_is_answered_through_the_webhook(
    bot: BotApplication, client: SandboxClient, sandbox: SandboxServer
) -> None:
    user = await client.create_user("Anna", language_code="nl")
    await client.send(user["id"], "/start")
    reply = await next_message(client, user["id"])
    assert reply["text"].startswith("Welkom bij Buurtbot")
    world = sandbox.state
    assert world.webhook is not None
    assert world.webhook["url"] == HOOK
    assert world.webhook["max_connections"] == 7
    # The secret the bot checks is the one it gave Telegram, derived from its key.
    assert world.webhook["secret_token"] == webhook_secret(services_of(bot), SANDBOX_TOKEN)
    assert not await client.requests("getUpdates")  # no polling in webhook mode
    assert len(world.updates) == 0  # every push was accepted


async def test_a_429_while_answering_a_pushed_update_is_waited_out_and_counted(
    bot: BotApplication, client: SandboxClient
) -> None:
    """In webhook mode the answer goes out through the same rate limiter as when polling:
    Telegram's 429 (with its retry_after) is waited out, and /metrics counts it."""
    user = await client.create_user("Anna", language_code="nl")
    await client.add_fault(
        "sendMessage",
        chat_id=user["id"],
        error_code=429,
        description="Too Many Requests: retry after 1",
        retry_after=1,
    )
    await client.send(user["id"], "/start")
    reply = await client.wait_bot_message(user["id"])
    assert reply["text"].startswith("Welkom bij Buurtbot")
    sent = [
        call["status"]
        for call in await client.requests("sendMessage")
        if int(call["params"]["chat_id"]) == user["id"]
    ]
    assert sent == [429, 200]  # refused once, then sent after the wait
    assert not await client.requests("getUpdates")  # it came by the webhook
    _, metrics = await get(bot, "/metrics")
    assert 'buurtbot_flood_waits_total{sender="interactive"} 1.0' in metrics
    assert 'buurtbot_flood_wait_seconds_total{sender="interactive"} 1.0' in metrics
    assert 'buurtbot_webhook_requests_total{answer="stored"} 1.0' in metrics


async def test_a_missing_or_wrong_secret_is_refused_and_never_stored(
    bot: BotApplication, sessions: SessionFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.web"):
        assert await post_update(bot, an_update(910001), None) == 403
        assert await post_update(bot, an_update(910002), "x" * 64) == 403
        assert await post_update(bot, an_update(910003), "y" * 64) == 403
    assert await stored(sessions, 910001) is None
    assert await stored(sessions, 910002) is None
    assert await stored(sessions, 910003) is None
    refusals = [r for r in caplog.records if "refused a request" in r.getMessage()]
    assert len(refusals) == 1  # once per source, however many it sends
    _, metrics = await get(bot, "/metrics")
    assert 'buurtbot_webhook_requests_total{answer="refused"} 3.0' in metrics


async def test_an_update_is_stored_before_its_200(
    bot: BotApplication, sessions: SessionFactory, client: SandboxClient
) -> None:
    user = await client.create_user("Anna", language_code="nl")
    secret = webhook_secret(services_of(bot), SANDBOX_TOKEN)
    assert await post_update(bot, an_update(920001, user["id"]), secret) == 200
    row = await stored(sessions, 920001)
    assert row is not None  # in the table when the 200 came (pending or already done)
    # The same update again (a 200 Telegram never got) is a replay: 200, stored once.
    assert await post_update(bot, an_update(920001, user["id"]), secret) == 200
    assert await post_update(bot, {"update_id": "nope"}, secret) == 400


async def test_no_200_when_the_inbox_cannot_store(
    bot: BotApplication, sessions: SessionFactory, client: SandboxClient
) -> None:
    user = await client.create_user("Anna", language_code="nl")
    secret = webhook_secret(services_of(bot), SANDBOX_TOKEN)
    async with sessions() as session:
        await session.exec(text("ALTER TABLE inbox RENAME TO inbox_away"))  # type: ignore[call-overload]
        await session.commit()
    try:
        # Telegram keeps an update it got no 2xx for and sends it again later.
        assert await post_update(bot, an_update(930001, user["id"]), secret) == 503
    finally:
        async with sessions() as session:
            await session.exec(text("ALTER TABLE inbox_away RENAME TO inbox"))  # type: ignore[call-overload]
            await session.commit()
    assert await stored(sessions, 930001) is None
    assert await post_update(bot, an_update(930001, user["id"]), secret) == 200


async def test_health_readiness_and_metrics(bot: BotApplication, client: SandboxClient) -> None:
    user = await client.create_user("Anna", language_code="nl")
    await client.send(user["id"], "/start")
    await next_message(client, user["id"])
    status, body = await get(bot, "/healthz")
    assert status == 200
    assert '"ok"' in body
    status, body = await get(bot, "/readyz")
    assert status == 200, body
    ready = json.loads(body)
    assert ready["ready"] is True
    assert ready["role"] == "sender"
    assert ready["database"] == "ok"
    assert ready["migrations"] == "current"
    assert ready["telegram"]["ok"] is True
    assert ready["leader"].startswith("buurtbot ")
    status, metrics = await get(bot, "/metrics")
    assert status == 200
    assert 'buurtbot_updates_total{kind="message",outcome="done"}' in metrics
    assert 'buurtbot_handler_seconds_count{handler="onboarding.start"} 1.0' in metrics
    assert "buurtbot_leader 1.0" in metrics
    assert "buurtbot_inbox_backlog 0.0" in metrics
    assert "buurtbot_outbox_depth 0.0" in metrics
    assert "buurtbot_scheduler_jobs" in metrics
    # Never a user: no label carries the resident's id.
    assert str(user["id"]) not in metrics


async def test_readiness_fails_when_migrations_are_behind(
    settings: Settings, engine: Any, sandbox: SandboxServer
) -> None:
    from storage import migrate

    await migrate.downgrade(engine, "-1")
    app = build_application(settings, token=SANDBOX_TOKEN)
    async with running(app):
        status, body = await get(app, "/readyz")
    assert status == 503
    assert '"migrations": "behind"' in body
