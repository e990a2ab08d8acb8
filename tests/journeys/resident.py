"""A resident as a test plays one: taps buttons by their label, reads what the bot said."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot import coordinator_notes
from bot.app import BotApplication
from bot.callbacks import Button, pack
from bot.categories import Categories
from bot.i18n import Lang
from bot.services import services_of
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


# Every coordinator's note (bot.coordinator_notes) carries the button that stops them.
NOTE_SWITCH = pack(Button.NOTES, coordinator_notes.OFF, coordinator_notes.UNDER_NOTE)


def is_note(message: Json) -> bool:
    """A note the bot sent a coordinator unasked (a report came in, an invite was used)."""
    return NOTE_SWITCH in buttons(message).values()


async def next_message(
    client: SandboxClient,
    chat_id: int,
    *,
    after: int = 0,
    timeout: float = 5.0,  # noqa: ASYNC109 - the sandbox waits
) -> Json:
    """The bot's first message in a chat after `after` that is not a coordinator's note:
    one may come at any moment, and must not be read as the answer a journey waits for."""
    while is_note(found := await client.wait_bot_message(chat_id, after=after, timeout=timeout)):
        after = found["message_id"]
    return found


async def next_messages(
    client: SandboxClient,
    chat_id: int,
    count: int,
    *,
    after: int = 0,
    timeout: float = 5.0,  # noqa: ASYNC109 - the sandbox waits
) -> list[Json]:
    """The bot's next `count` messages in a chat, coordinators' notes left out."""
    found: list[Json] = []
    while len(found) < count:
        found.append(await next_message(client, chat_id, after=after, timeout=timeout))
        after = found[-1]["message_id"]
    return found


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
        """The bot's next message that is not a coordinator's note (one may come any time)."""
        reply = await next_message(self.client, self.id, after=after or self.last_id)
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


# ---------------------------------------------------------------- Meld een Vermoeden


async def entrepreneur(
    person: MakePerson, coordinator: Resident, name: str, code: str = "nl", park: str = "BZOB"
) -> Resident:
    """A coordinator's invite link for the park, opened by a new entrepreneur."""
    _ = coordinator._
    code_ = await invite_link(coordinator, _("ondernemer"), park, "1", _("1 dag"))
    someone = await person(name, code)
    welcome = await someone.say(f"/start inv-{code_}")
    assert someone._("Meld een vermoeden") in buttons(welcome)
    return someone


async def start_report(someone: Resident) -> Json:
    """/melding: the 112 card to tap and call, then the first question."""
    sent = await someone.client.send(someone.id, "/melding")
    card, question = await next_messages(someone.client, someone.id, 2, after=sent["message_id"])
    assert card["contact"]["phone_number"] == "112"
    someone.last_id = question["message_id"]
    return question


async def press_new(someone: Resident, message: Json, label: str, count: int = 1) -> list[Json]:
    """Press a button that makes the bot send new messages (not edit); return them."""
    data = buttons(message)[label]
    pressed = await someone.client.press(someone.id, someone.id, message["message_id"], data)
    await someone.client.callback_answer(pressed["callback_query_id"])
    after = max(someone.last_id, message["message_id"])
    sent = await next_messages(someone.client, someone.id, count, after=after)
    someone.last_id = sent[-1]["message_id"]
    return sent


async def alert_of(someone: Resident, message: Json, label: str) -> str:
    """Press a button whose answer is a pop-up; return its text."""
    data = buttons(message)[label]
    pressed = await someone.client.press(someone.id, someone.id, message["message_id"], data)
    answer = await someone.client.callback_answer(pressed["callback_query_id"])
    assert answer is not None
    return str(answer.get("text"))


def category(someone: Resident, slug: str, source: BotApplication | Categories) -> str:
    """A category's button label; from a running bot, or the categories a bot process loads."""
    categories = source if isinstance(source, Categories) else services_of(source).categories
    found = categories.get(slug)
    assert found is not None
    return f"{found.icon} {found.label(someone.lang.code)}"


async def file_report(
    someone: Resident,
    source: BotApplication | Categories,
    *,
    what: str = "voertuig",
    where: str = "BZOB",
    text: str = "Een bestelbus rijdt steeds rondjes langs de loodsen.",
    anonymous: bool = False,
    few: str = "Toch onder {area}",
) -> tuple[str, Json]:
    """The shortest journey: all buttons but the description; returns (ref, confirmation).

    Anonymous from a place few people report about, `few` answers the warning."""
    _ = someone._
    step = await start_report(someone)
    step = await someone.tap(step, category(someone, what, source))
    step = await someone.tap(step, where)
    step = await someone.tap(step, _("Nu net"))
    assert _("Beschrijf wat iemand doet, niet hoe iemand eruitziet.") in step["text"]
    step = await someone.say(text)
    step = await someone.tap(step, _("Geen foto"))
    step = await someone.tap(step, "🕶 " + _("Anoniem") if anonymous else "👤 " + _("Met mijn naam"))
    if anonymous and any(":mvk:" in data for data in buttons(step).values()):
        step = await someone.tap(step, _(few).format(area=where, city="Helmond"))
    done = await someone.tap(step, "✅ " + _("Versturen"))
    found = re.search(r"MV-\d{4}-\d{6}", done["text"])
    assert found, done["text"]
    return found.group(0), done
