"""A resident as a test plays one: taps buttons by their label, reads what the bot said."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.i18n import Lang
from sandbox.client import SandboxClient

Json = dict[str, Any]


def buttons(message: Json) -> dict[str, str]:
    """Label -> callback_data (or url) of every inline button on a message."""
    markup = message.get("reply_markup") or {}
    return {
        button["text"]: button.get("callback_data") or button.get("url", "")
        for row in markup.get("inline_keyboard", [])
        for button in row
    }


@dataclass
class Resident:
    client: SandboxClient
    user: Json
    lang: Lang
    last_id: int = 0
    answers: list[Json] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.user["id"])

    def _(self, message: str) -> str:
        return self.lang.gettext(message)

    async def say(self, text: str) -> Json:
        """Send text (or a command) and return the bot's next message."""
        sent = await self.client.send(self.id, text)
        return await self.next_reply(after=sent["message_id"])

    async def next_reply(self, *, after: int | None = None) -> Json:
        reply = await self.client.wait_bot_message(self.id, after=after or self.last_id)
        self.last_id = reply["message_id"]
        return reply

    async def tap(self, message: Json, label: str) -> Json:
        """Press the button with this label; return the message as the bot edited it."""
        data = buttons(message).get(label)
        assert data is not None, f"no button {label!r} in {list(buttons(message))}: {message}"
        pressed = await self.client.press(self.id, self.id, message["message_id"], data)
        answer = await self.client.callback_answer(pressed["callback_query_id"])
        if answer is not None:
            self.answers.append(answer)
        return await self.client.wait_edited(
            self.id, message["message_id"], edits=message.get("edit_count", 0) + 1
        )

    async def press_data(self, message: Json, data: str) -> Json | None:
        """Press with arbitrary data, as a forged or outdated client would; the bot's answer."""
        pressed = await self.client.press_forged(self.id, self.id, message["message_id"], data)
        return await self.client.callback_answer(pressed["callback_query_id"])


# The journey fixtures (tests/journeys/conftest.py): someone new, someone who started.
MakeResident = Callable[..., Awaitable[Resident]]
MakePerson = Callable[..., Awaitable[Resident]]


async def invite_link(inviter: Resident, *labels: str) -> str:
    """Walk /uitnodigen by button labels; return the invite code from the link."""
    step = await inviter.say("/uitnodigen")
    for label in labels:
        step = await inviter.tap(step, label)
    found = re.search(r"start=inv-([A-Za-z0-9_-]+)", step["text"])
    assert found, step["text"]
    return found.group(1)
