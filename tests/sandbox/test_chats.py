"""Groups, supergroups, channels, privacy mode, membership, migration and blocking."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Bot, ChatMemberAdministrator, ChatMemberOwner, InlineKeyboardButton
from telegram import InlineKeyboardMarkup as Markup
from telegram.error import BadRequest, ChatMigrated, Forbidden

from sandbox.client import SandboxClient, SandboxError
from sandbox.server import SandboxServer

from .conftest import TOKEN, make_config

User = dict[str, Any]


async def drain(bot: Bot) -> list[Any]:
    """All pending updates, confirmed so the next call starts fresh."""
    updates = await bot.get_updates()
    if updates:
        await bot.get_updates(offset=updates[-1].update_id + 1)
    return list(updates)


async def test_adding_bot_to_group_emits_my_chat_member_and_service_message(
    bot: Bot, client: SandboxClient, anna: User
) -> None:
    group = await client.create_group("Buurtpreventie Brandevoort", creator_id=anna["id"])
    assert group["id"] < -4_000_000_000
    assert group["type"] == "group"
    await drain(bot)
    await client.add_bot(group["id"], by=anna["id"])
    my_member, service = await drain(bot)
    assert my_member.my_chat_member is not None
    assert my_member.my_chat_member.old_chat_member.status == "left"
    assert my_member.my_chat_member.new_chat_member.status == "member"
    assert my_member.my_chat_member.from_user.id == anna["id"]
    assert service.message is not None
    assert service.message.new_chat_members[0].id == 123456
    chat = await bot.get_chat(group["id"])
    assert chat.title == "Buurtpreventie Brandevoort"
    assert chat.api_kwargs == {}
    assert await bot.get_chat_member_count(group["id"]) == 2


async def test_privacy_mode(bot: Bot, client: SandboxClient, anna: User, bram: User) -> None:
    group = await client.create_group("Buurt", creator_id=anna["id"])
    await client.add_member(group["id"], bram["id"], by=anna["id"])
    await client.add_bot(group["id"], by=anna["id"])
    sent = await bot.send_message(group["id"], "Hallo groep")
    await drain(bot)
    await client.send(bram["id"], "gewoon gepraat", chat_id=group["id"])
    await client.send(bram["id"], "/melding inbraak", chat_id=group["id"])
    await client.send(bram["id"], "/melding@other_bot x", chat_id=group["id"])
    await client.send(bram["id"], "/melding@buurtbot_sandbox_bot y", chat_id=group["id"])
    await client.send(bram["id"], "hoi @buurtbot_sandbox_bot", chat_id=group["id"])
    await client.send(
        bram["id"], "antwoord", chat_id=group["id"], reply_to_message_id=sent.message_id
    )
    seen = [u.message.text for u in await drain(bot) if u.message]
    assert seen == [
        "/melding inbraak",
        "/melding@buurtbot_sandbox_bot y",
        "hoi @buurtbot_sandbox_bot",
        "antwoord",
    ]
    # Everything is still in the chat for assertions.
    assert len(await client.messages(group["id"])) >= 8
    # Admin bots see everything.
    await client.set_bot_admin(group["id"], True, by=anna["id"])
    await drain(bot)
    await client.send(bram["id"], "nu wel", chat_id=group["id"])
    assert [u.message.text for u in await drain(bot) if u.message] == ["nu wel"]


async def test_privacy_mode_off() -> None:
    server = SandboxServer(make_config(privacy_mode=False))
    await server.start()
    try:
        async with (
            SandboxClient(server.url) as client,
            Bot(TOKEN, base_url=server.api_base_url) as bot,
        ):
            user = await client.create_user()
            group = await client.create_group("G", creator_id=user["id"])
            await client.add_bot(group["id"], by=user["id"])
            await drain(bot)
            await client.send(user["id"], "alles", chat_id=group["id"])
            assert [u.message.text for u in await drain(bot) if u.message] == ["alles"]
            assert (await bot.get_me()).can_read_all_group_messages is True
    finally:
        await server.stop()


async def test_admin_lists_and_members(
    bot: Bot, client: SandboxClient, anna: User, bram: User
) -> None:
    group = await client.create_group("Buurt", creator_id=anna["id"], supergroup=True)
    assert str(group["id"]).startswith("-100")
    await client.add_member(group["id"], bram["id"])
    await client.add_bot(group["id"], by=anna["id"], admin=True)
    admins = await bot.get_chat_administrators(group["id"])
    assert isinstance(admins[0], ChatMemberOwner)
    assert admins[0].user.id == anna["id"]
    assert isinstance(admins[1], ChatMemberAdministrator)
    assert admins[1].user.id == 123456
    await client.set_admin(group["id"], bram["id"])
    admins = await bot.get_chat_administrators(group["id"])
    assert {a.user.id for a in admins} == {anna["id"], bram["id"], 123456}
    member = await bot.get_chat_member(group["id"], bram["id"])
    assert member.status == "administrator"
    await client.remove_member(group["id"], bram["id"], by=anna["id"])
    assert (await bot.get_chat_member(group["id"], bram["id"])).status == "left"
    with pytest.raises(BadRequest, match=r"(?i)there are no administrators in the private chat"):
        await bot.get_chat_administrators(anna["id"])
    assert await bot.get_chat_member_count(anna["id"]) == 2


async def test_bot_removed_or_left_or_never_added(
    bot: Bot, client: SandboxClient, anna: User
) -> None:
    group = await client.create_group("Buurt", creator_id=anna["id"])
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(group["id"], "nooit lid geweest")
    await client.add_bot(group["id"], by=anna["id"])
    await client.remove_bot(group["id"], by=anna["id"])
    with pytest.raises(Forbidden, match=r"(?i)bot was kicked from the group chat"):
        await bot.send_message(group["id"], "x")
    await client.add_bot(group["id"], by=anna["id"])
    await drain(bot)
    assert await bot.leave_chat(group["id"]) is True
    updates = await drain(bot)
    assert updates[0].my_chat_member is not None
    assert updates[0].my_chat_member.new_chat_member.status == "left"
    with pytest.raises(Forbidden, match=r"(?i)bot is not a member of the group chat"):
        await bot.send_message(group["id"], "x")
    supergroup = await client.create_group("SG", creator_id=anna["id"], supergroup=True)
    await client.add_bot(supergroup["id"], by=anna["id"])
    await client.remove_bot(supergroup["id"], by=anna["id"])
    with pytest.raises(Forbidden, match=r"(?i)bot was kicked from the supergroup chat"):
        await bot.send_message(supergroup["id"], "x")


async def test_migration_to_supergroup(bot: Bot, client: SandboxClient, anna: User) -> None:
    group = await client.create_group("Buurt", creator_id=anna["id"])
    await client.add_bot(group["id"], by=anna["id"])
    await drain(bot)
    new = await client.migrate(group["id"])
    assert new["type"] == "supergroup"
    updates = await drain(bot)
    old_side = [u.message for u in updates if u.message and u.message.migrate_to_chat_id]
    new_side = [u.message for u in updates if u.message and u.message.migrate_from_chat_id]
    assert old_side[0].migrate_to_chat_id == new["id"]
    assert new_side[0].migrate_from_chat_id == group["id"]
    assert new_side[0].chat.id == new["id"]
    with pytest.raises(ChatMigrated) as info:
        await bot.send_message(group["id"], "oud id")
    assert info.value.new_chat_id == new["id"]
    description = (await client.requests("sendMessage"))[-1]["error"]
    assert description == "Bad Request: group chat was upgraded to a supergroup chat"
    await bot.send_message(new["id"], "nieuw id")


async def test_set_title_service_message(bot: Bot, client: SandboxClient, anna: User) -> None:
    group = await client.create_group("Oud", creator_id=anna["id"])
    await client.add_bot(group["id"], by=anna["id"])
    await drain(bot)
    await client.set_title(group["id"], "Nieuw", by=anna["id"])
    (update,) = await drain(bot)
    assert update.message is not None
    assert update.message.new_chat_title == "Nieuw"
    assert (await bot.get_chat(group["id"])).title == "Nieuw"


async def test_channel_posts_and_follower_presses(
    bot: Bot, client: SandboxClient, anna: User, bram: User
) -> None:
    channel = await client.create_channel("Buurtberichten", creator_id=anna["id"])
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(channel["id"], "x")
    await client.add_bot(channel["id"], by=anna["id"], admin=True, can_post_messages=False)
    with pytest.raises(BadRequest, match=r"(?i)need administrator rights in the channel chat"):
        await bot.send_message(channel["id"], "x")
    await client.set_bot_admin(channel["id"], True, by=anna["id"], can_post_messages=True)
    await client.follow(channel["id"], bram["id"])
    post = await bot.send_message(
        channel["id"],
        "Let op: verdachte situatie",
        reply_markup=Markup([[InlineKeyboardButton("Gezien", callback_data="seen")]]),
    )
    assert post.sender_chat is not None
    assert post.sender_chat.id == channel["id"]
    assert post.from_user is None
    assert await bot.get_chat_member_count(channel["id"]) == 3
    await drain(bot)
    pressed = await client.press(bram["id"], channel["id"], post.message_id, "seen")
    (update,) = await drain(bot)
    assert update.callback_query is not None
    assert update.callback_query.from_user.id == bram["id"]
    assert update.callback_query.message is not None
    assert update.callback_query.message.chat.id == channel["id"]
    await update.callback_query.answer()
    assert await client.callback_answer(pressed["callback_query_id"]) == {
        "text": "",
        "show_alert": False,
    }
    # A non-follower cannot press.
    outsider = await client.create_user("Dirk")
    with pytest.raises(SandboxError, match="not a member"):
        await client.press(outsider["id"], channel["id"], post.message_id, "seen")
    # Posts by channel admins reach the bot as channel_post.
    await client.send(anna["id"], "Vergadering dinsdag", chat_id=channel["id"])
    (update,) = await drain(bot)
    assert update.channel_post is not None
    assert update.channel_post.sender_chat is not None
    assert update.channel_post.text == "Vergadering dinsdag"
    member = await bot.get_chat_member(channel["id"], 123456)
    assert isinstance(member, ChatMemberAdministrator)
    assert member.can_post_messages is True
    await client.unfollow(channel["id"], bram["id"])
    assert await bot.get_chat_member_count(channel["id"]) == 2


async def test_blocking(bot: Bot, client: SandboxClient, anna: User) -> None:
    await drain(bot)
    await client.block(anna["id"])
    (update,) = await drain(bot)
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"
    assert update.my_chat_member.old_chat_member.status == "member"
    assert update.my_chat_member.chat.type == "private"
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(anna["id"], "hallo?")
    with pytest.raises(SandboxError, match="blocked"):
        await client.send(anna["id"], "ik heb je geblokkeerd")
    await client.unblock(anna["id"])
    (update,) = await drain(bot)
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "member"
    await bot.send_message(anna["id"], "welkom terug")


async def test_control_api_validation(client: SandboxClient, anna: User) -> None:
    with pytest.raises(SandboxError, match="does not exist"):
        await client.send(999, "wie ben ik")
    group = await client.create_group("G", creator_id=anna["id"])
    stranger = await client.create_user("Vreemd")
    with pytest.raises(SandboxError, match="not a member"):
        await client.send(stranger["id"], "hoi", chat_id=group["id"])
    with pytest.raises(SandboxError, match="already exists"):
        await client.create_user(user_id=anna["id"])
    chat = await client.chat(group["id"])
    assert chat["members"] == {str(anna["id"]): "creator"}
    assert chat["bot_status"] == "left"
    await client.reset()
    assert await client.chats() == []
    assert await client.users() == []
