"""Wijk channels: linked by a coordinator, posted to by the bot, followed anonymously."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import cast

from telegram import Bot, ChatFullInfo, ChatMember, ChatMemberAdministrator
from telegram.error import TelegramError

from bot.services import Services
from storage import channels as store
from storage.models import Channel
from storage.models import ChannelStatus as ChannelStatus  # for handlers: one definition

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Linked:
    channel: Channel
    replaced: Channel | None


def can_post(member: ChatMember) -> bool:
    """Whether the bot, as this member, may post in the channel."""
    return isinstance(member, ChatMemberAdministrator) and bool(member.can_post_messages)


def url_of(chat: ChatFullInfo) -> str | None:
    """How a resident opens the channel: its public name, else its invite link."""
    if chat.username:
        return f"https://t.me/{chat.username}"
    return chat.invite_link


async def fetch_url(bot: Bot, chat_id: int) -> str | None:
    return url_of(await bot.get_chat(chat_id))


async def follower_count(bot: Bot, channel: Channel) -> int | None:
    """Members as Telegram counts them (followers and administrators, the bot included).

    None when Telegram will not say (the bot was removed meanwhile): the overview shows
    "unknown" rather than failing. The city never learns who follows, only how many.
    """
    try:
        return await bot.get_chat_member_count(channel.chat_id)
    except TelegramError:
        log.info("could not count the followers of a channel")
        return None


async def get(services: Services, channel_id: int) -> Channel | None:
    async with services.sessions() as session:
        return await store.get_by_id(session=session, channel_id=channel_id)


async def get_by_chat(services: Services, chat_id: int) -> Channel | None:
    async with services.sessions() as session:
        return await store.get_by_chat(session=session, chat_id=chat_id)


async def added(services: Services, chat_id: int, title: str, url: str | None) -> Channel:
    async with services.sessions() as session:
        channel = await store.added(session=session, chat_id=chat_id, title=title, url=url)
    services.wijk_channels.clear()  # re-added: it starts over unlinked
    return channel


async def set_url(services: Services, channel_id: int, url: str) -> None:
    async with services.sessions() as session:
        await store.set_url(session=session, channel_id=channel_id, url=url)
    services.wijk_channels.clear()


async def link(services: Services, channel_id: int, wijk: str, by: int) -> Linked | None:
    """Link a channel to a wijk; None if the bot no longer works in that channel."""
    async with services.sessions() as session:
        channel, replaced = await store.link(
            session=session, channel_id=channel_id, wijk=wijk, by=by
        )
    services.wijk_channels.clear()
    return Linked(channel, replaced) if channel is not None else None


async def deactivate(services: Services, chat_id: int) -> Channel | None:
    async with services.sessions() as session:
        channel = await store.deactivate(session=session, chat_id=chat_id)
    services.wijk_channels.clear()
    return channel


async def active_for_wijk(services: Services, wijk: str) -> Channel | None:
    """The wijk's linked channel; every join asks, so it is read from the database once
    per Services.wijk_channels' ttl, and again at once after a change here."""

    async def read() -> Channel | None:
        async with services.sessions() as session:
            return await store.active_for_wijk(session=session, wijk=wijk)

    return cast(Channel | None, await services.wijk_channels.load(wijk, read))
