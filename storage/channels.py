"""Queries about wijk channels: the bot as their administrator, one active channel per wijk."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Channel, ChannelStatus, utcnow
from storage.roles import audit

TITLE_MAX = 128


async def get_by_id(*, session: AsyncSession, channel_id: int) -> Channel | None:
    return await session.get(Channel, channel_id)


async def get_by_chat(*, session: AsyncSession, chat_id: int) -> Channel | None:
    return (await session.exec(select(Channel).where(Channel.chat_id == chat_id))).first()


async def added(*, session: AsyncSession, chat_id: int, title: str, url: str | None) -> Channel:
    """The bot became an administrator who may post: known, not yet linked to a wijk."""
    channel = await get_by_chat(session=session, chat_id=chat_id)
    if channel is None:
        channel = Channel(chat_id=chat_id, title=title[:TITLE_MAX])
    channel.title, channel.url, channel.status = title[:TITLE_MAX], url, ChannelStatus.NEW
    session.add(channel)
    await session.commit()
    await session.refresh(channel)
    return channel


async def set_url(*, session: AsyncSession, channel_id: int, url: str) -> None:
    channel = await session.get(Channel, channel_id)
    if channel is not None:
        channel.url = url
        session.add(channel)
        await session.commit()


async def link(
    *, session: AsyncSession, channel_id: int, wijk: str, by: int
) -> tuple[Channel | None, Channel | None]:
    """Make a channel the wijk's one active channel: (the channel, the one it replaced)."""
    channel = await session.get(Channel, channel_id, with_for_update=True)
    if channel is None or channel.status == ChannelStatus.INACTIVE:
        return None, None
    replaced = (
        await session.exec(
            select(Channel).where(
                Channel.wijk == wijk,
                Channel.status == ChannelStatus.ACTIVE,
                Channel.id != channel_id,
            )
        )
    ).first()
    if replaced is not None:
        replaced.status = ChannelStatus.INACTIVE
        session.add(replaced)
        audit(
            session, actor_id=by, action="channel_replaced", subject=f"channel:{replaced.chat_id}"
        )
    channel.status, channel.wijk, channel.linked_by, channel.linked_at = (
        ChannelStatus.ACTIVE,
        wijk,
        by,
        utcnow(),
    )
    session.add(channel)
    audit(
        session,
        actor_id=by,
        action="channel_linked",
        subject=f"channel:{channel.chat_id}",
        detail=wijk,
    )
    await session.commit()
    await session.refresh(channel)
    if replaced is not None:
        await session.refresh(replaced)
    return channel, replaced


async def deactivate(*, session: AsyncSession, chat_id: int) -> Channel | None:
    """The bot can no longer post there; the channel it was, or None if nothing changed."""
    channel = await get_by_chat(session=session, chat_id=chat_id)
    if channel is None or channel.status == ChannelStatus.INACTIVE:
        return None
    channel.status = ChannelStatus.INACTIVE
    session.add(channel)
    audit(session, actor_id=None, action="channel_inactive", subject=f"channel:{chat_id}")
    await session.commit()
    await session.refresh(channel)
    return channel


async def active_for_wijk(*, session: AsyncSession, wijk: str) -> Channel | None:
    result = await session.exec(
        select(Channel).where(Channel.wijk == wijk, Channel.status == ChannelStatus.ACTIVE)
    )
    return result.first()


async def active_by_wijk(*, session: AsyncSession) -> dict[str, Channel]:
    result = await session.exec(
        select(Channel).where(
            Channel.status == ChannelStatus.ACTIVE, col(Channel.wijk).is_not(None)
        )
    )
    return {channel.wijk: channel for channel in result if channel.wijk}
