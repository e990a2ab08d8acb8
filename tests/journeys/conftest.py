"""The people a journey plays, shared by every journey file."""

from __future__ import annotations

import pytest

from bot.app import BotApplication
from bot.services import services_of
from handlers.keyboards import language_name
from sandbox.client import SandboxClient
from tests.journeys.resident import MakePerson, MakeResident, Resident, buttons


@pytest.fixture
def resident(bot: BotApplication, client: SandboxClient) -> MakeResident:
    """Someone on Telegram who has not written to the bot yet."""
    translator = services_of(bot).translator

    async def make(name: str = "Anna", language_code: str = "nl", **extra: int) -> Resident:
        user = await client.create_user(name, language_code=language_code, **extra)
        return Resident(client, user, translator.for_language(language_code))

    return make


@pytest.fixture
def person(bot: BotApplication, client: SandboxClient) -> MakePerson:
    """Someone who started the bot and chose their language, optionally joining a wijk."""
    return people(bot, client)


def people(bot: BotApplication, client: SandboxClient) -> MakePerson:
    """`person` for any running bot, also one a test starts itself.

    A bot cannot write first to someone who never started it; and the language chosen
    here is the one the bot's own notifications use.
    """
    translator = services_of(bot).translator

    async def make(
        name: str, code: str = "nl", *, user_id: int | None = None, wijk: str | None = None
    ) -> Resident:
        user = await client.create_user(name, language_code=code, user_id=user_id)
        someone = Resident(client, user, translator.for_language(code))
        welcome = await someone.say(f"/start wijk-{wijk}" if wijk else "/start")
        if language_name(code) in buttons(welcome):
            await someone.tap(welcome, language_name(code))
        return someone

    return make
