"""Pushing updates to a bot's webhook, the way Telegram does.

Once setWebhook has a URL, every queued update is POSTed to it as JSON, with the
`X-Telegram-Bot-Api-Secret-Token` header when a secret was set. A 2xx answer settles the
update; anything else (a refusal, a 5xx, a refused connection, a timeout) keeps it queued,
records `last_error_date` and `last_error_message` for getWebhookInfo, and the update is
sent again after a pause that doubles each time (RETRY_FIRST up to RETRY_MAX). At most
`max_connections` pushes are open at once, and a chat's next update waits until the one
before it was accepted, so the bot sees each chat in order (updates of other chats pass
a failing one by).

The URL must be public HTTPS, as on Telegram; a test has no certificate, so `World.
webhook_routes` plays the reverse proxy in front of the bot: an origin such as
`https://buurtbot.test` maps to one or more plain local origins, taken in turn (a load
balancer over replicas); one that refuses the connection is passed over for the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from sandbox.state import World

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
RETRY_FIRST = 1.0
RETRY_MAX = 60.0
PUSH_TIMEOUT = 10.0
# Seconds the pusher sleeps at most between two looks, retries due or not.
IDLE_CHECK = 1.0


def chat_of(text: str) -> int | None:
    """The chat an update belongs to (its chat, else its sender), as the bot orders them."""
    update = json.loads(text)
    for key, payload in update.items():
        if key == "update_id" or not isinstance(payload, dict):
            continue
        for holder in (payload, payload.get("message") or {}):
            chat = holder.get("chat")
            if isinstance(chat, dict) and "id" in chat:
                return int(chat["id"])
        sender = payload.get("from")
        if isinstance(sender, dict) and "id" in sender:
            return int(sender["id"])
    return None


class WebhookPusher:
    """Runs while a webhook is set; `start` again after a new setWebhook is harmless."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._retry_at: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        self._chats: dict[int, int | None] = {}
        self._dirty = True
        self._turn: dict[str, int] = {}
        self.pushed = 0  # accepted pushes, for tests and the bench

    def start(self) -> None:
        self._dirty = True
        self.world.update_signal.fire()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="webhook-push")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for push in list(self._inflight.values()):
            push.cancel()
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        self._inflight.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        world = self.world
        while world.webhook is not None:
            seen = world.next_update_id
            self._dirty = False
            wait = self._start_due()
            await world.update_signal.wait_until(lambda seen=seen: self._changed(seen), wait)

    def _changed(self, seen: int) -> bool:
        world = self.world
        return self._dirty or world.next_update_id != seen or world.webhook is None

    def _start_due(self) -> float:
        """Start every push that may go now; returns how long until a retry is due."""
        world = self.world
        hook = world.webhook
        assert hook is not None
        now = time.monotonic()
        next_due = IDLE_CHECK
        waiting_chats: set[int] = set()
        for update_id, text in list(world.updates):
            if update_id not in self._chats:
                self._chats[update_id] = chat_of(text)
            chat = self._chats[update_id]
            if chat is not None:
                if chat in waiting_chats:
                    continue  # an earlier update of this chat is not accepted yet
                waiting_chats.add(chat)
            if update_id in self._inflight:
                continue
            due = self._retry_at.get(update_id, 0.0)
            if due > now:
                next_due = min(next_due, due - now)
                continue
            if len(self._inflight) >= hook["max_connections"]:
                break
            self._inflight[update_id] = asyncio.get_running_loop().create_task(
                self._push(hook, update_id, text)
            )
        return max(next_due, 0.01)

    async def _push(self, hook: dict[str, Any], update_id: int, text: str) -> None:
        try:
            error = await self._post(hook, text)
        finally:
            self._inflight.pop(update_id, None)
        world = self.world
        if error is None:
            self.pushed += 1
            self._retry_at.pop(update_id, None)
            self._failures.pop(update_id, None)
            self._chats.pop(update_id, None)
            with contextlib.suppress(ValueError):
                world.updates.remove((update_id, text))
        else:
            failures = self._failures[update_id] = self._failures.get(update_id, 0) + 1
            self._retry_at[update_id] = time.monotonic() + min(
                RETRY_FIRST * 2 ** (failures - 1), RETRY_MAX
            )
            world.webhook_error = (int(time.time()), error)
        self._dirty = True
        world.update_signal.fire()

    async def _post(self, hook: dict[str, Any], text: str) -> str | None:
        """One push; None when accepted, else the error getWebhookInfo reports."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PUSH_TIMEOUT))
        headers = {"Content-Type": "application/json"}
        if hook.get("secret_token"):
            headers[SECRET_HEADER] = hook["secret_token"]
        error = "Connection refused"
        for url in self._targets(hook["url"]):
            try:
                async with self._session.post(url, data=text, headers=headers) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        return None
                    return f"Wrong response from the webhook: {response.status} {response.reason}"
            except aiohttp.ClientConnectorError:
                continue  # a balancer passes over a replica that is down
            except (TimeoutError, aiohttp.ClientError) as exc:
                return "Read timeout expired" if isinstance(exc, TimeoutError) else str(exc)
        return error

    def _targets(self, url: str) -> list[str]:
        """Where a push for `url` goes: through the routes (in turn), else the URL itself."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        backends = self.world.webhook_routes.get(origin)
        if not backends:
            return [url]
        start = self._turn.get(origin, 0)
        self._turn[origin] = start + 1
        rest = url[len(origin) :]
        order = backends[start % len(backends) :] + backends[: start % len(backends)]
        return [backend.rstrip("/") + rest for backend in order]
