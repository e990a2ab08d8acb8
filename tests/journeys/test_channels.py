"""Wijk channels: linked by the coordinator, offered at /start, followed anonymously (issue 4).

Through the sandbox over real HTTP; the coordinator is user 900001 (an administrator by
BUURTBOT_ADMINS), who has started the bot so it may write to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlmodel import select

from bot.app import BotApplication
from bot.channels import follower_count
from sandbox.client import SandboxClient
from storage import channels as store
from storage.engine import SessionFactory
from storage.models import AuditEntry, Channel, User
from tests.journeys.resident import Json, MakeResident, Resident, buttons

COORDINATOR_ID = 900001
FOLLOW = "Volg het wijkkanaal"
ALREADY_FOLLOW = "Ik volg het kanaal al"
HAS_CHANNEL = "{wijk} heeft ook een wijkkanaal: {channel}."
OFFER = "{wijk} heeft een wijkkanaal: {channel}."
HERE = "Berichten hier krijgen"
LINKED = "Gekoppeld: {title} is nu het kanaal van {wijk}."
NO_LINK = "Het kanaal heeft nog geen openbare naam of uitnodigingslink. Maak die eerst."
JOINED = "Gelukt! Je volgt nu {wijk}."


async def coordinator(resident: MakeResident, code: str) -> Resident:
    """The coordinator, who started the bot (so it may write to them) and chose a language
    (notifications have no update to read Telegram's language from)."""
    coord = await resident("Coördinator", code, user_id=COORDINATOR_ID)
    await coord.say("/start")  # Telegram's language is one the bot speaks: stored as is
    return coord


async def channel_row(sessions: SessionFactory, chat_id: int) -> Channel | None:
    async with sessions() as session:
        return await store.get_by_chat(session=session, chat_id=chat_id)


async def stored_user(sessions: SessionFactory, user_id: int) -> User | None:
    async with sessions() as session:
        return await session.get(User, user_id)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


async def add_channel(
    client: SandboxClient, coord: Resident, title: str, username: str | None
) -> tuple[int, Json]:
    """The coordinator makes the bot admin of a new channel; the bot's question in private."""
    channel = await client.create_channel(title, creator_id=coord.id, username=username)
    await client.add_bot(channel["id"], by=coord.id, admin=True, can_post_messages=True)
    return channel["id"], await coord.next_reply()


async def link(
    client: SandboxClient, coord: Resident, title: str, username: str, wijk: str
) -> tuple[int, Json]:
    chat_id, question = await add_channel(client, coord, title, username)
    return chat_id, await coord.tap(question, wijk)


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_a_coordinator_links_a_channel_and_new_residents_see_both_ways(
    bot: BotApplication,
    resident: MakeResident,
    client: SandboxClient,
    sessions: SessionFactory,
    code: str,
) -> None:
    coord = await coordinator(resident, code)
    chat_id, question = await add_channel(
        client, coord, "Buurtpreventie Brandevoort", "bp_brandevoort"
    )
    assert (
        coord._("Ik ben nu beheerder van het kanaal {title}.").format(
            title="Buurtpreventie Brandevoort"
        )
        in (question["text"])
    )
    assert coord._("Aan welke wijk koppel ik het kanaal?") in question["text"]
    assert len(buttons(question)) == 11
    stored = await channel_row(sessions, chat_id)
    assert stored is not None
    assert (stored.status, stored.url, stored.wijk) == ("new", "https://t.me/bp_brandevoort", None)

    linked = await coord.tap(question, "Brandevoort")
    assert (
        coord._(LINKED).format(title="Buurtpreventie Brandevoort", wijk="Brandevoort")
        in linked["text"]
    )
    stored = await channel_row(sessions, chat_id)
    assert stored is not None
    assert (stored.status, stored.wijk, stored.linked_by) == (
        "active",
        "brandevoort",
        COORDINATOR_ID,
    )
    async with sessions() as session:
        audit = list(
            await session.exec(select(AuditEntry).where(AuditEntry.action == "channel_linked"))
        )
    assert [(a.actor_id, a.subject, a.detail) for a in audit] == [
        (COORDINATOR_ID, f"channel:{chat_id}", "brandevoort")
    ]

    # By deep link: both ways first, each in one line, and nothing subscribed yet.
    fatima = await resident("Fatima", code)
    offer = await fatima.say("/start wijk-brandevoort")
    assert (
        fatima._(OFFER).format(wijk="Brandevoort", channel="Buurtpreventie Brandevoort")
        in offer["text"]
    )
    assert (
        fatima._("Volg het kanaal: één tik. De gemeente ziet niet wie het kanaal volgt.")
        in offer["text"]
    )
    assert (
        fatima._(
            "Of krijg de berichten hier: in je eigen taal, met herinneringen en je eigen ‘ik doe mee’."
        )
        in offer["text"]
    )
    offered = buttons(offer)
    assert offered[fatima._(FOLLOW)] == "https://t.me/bp_brandevoort"
    assert not (await stored_user(sessions, fatima.id)).subscribed  # type: ignore[union-attr]
    buurten = await fatima.tap(offer, fatima._(HERE))
    done = await fatima.tap(buurten, "De Veste")
    assert fatima._(JOINED).format(wijk="De Veste, Brandevoort") in done["text"]
    assert (
        fatima._(HAS_CHANNEL).format(wijk="Brandevoort", channel="Buurtpreventie Brandevoort")
        in done["text"]
    )
    assert buttons(done)[fatima._(FOLLOW)] == "https://t.me/bp_brandevoort"
    assert fatima._(ALREADY_FOLLOW) in buttons(done)

    # By buttons: the same offer after the wijk, before the buurt.
    kees = await resident("Kees", code)
    wijken = await kees.say("/start")  # the welcome asks for the wijk at once
    offer = await kees.tap(wijken, "Brandevoort")
    assert buttons(offer)[kees._(FOLLOW)] == "https://t.me/bp_brandevoort"
    buurten = await kees.tap(offer, kees._(HERE))
    assert kees._(FOLLOW) not in buttons(buurten)
    confirmed = await kees.tap(buurten, kees._("De hele wijk"))
    assert (
        kees._(HAS_CHANNEL).format(wijk="Brandevoort", channel="Buurtpreventie Brandevoort")
        in confirmed["text"]
    )
    assert buttons(confirmed)[kees._(FOLLOW)] == "https://t.me/bp_brandevoort"
    # Following the channel is one tap on Telegram's side; the bot stores nothing of it.
    await client.follow(chat_id, kees.id)
    assert not (await stored_user(sessions, kees.id)).follows_channel  # type: ignore[union-attr]

    # "Ik volg het kanaal al": announcements only there, personal messages here.
    follows = await kees.tap(confirmed, kees._(ALREADY_FOLLOW))
    assert (
        kees._("Goed. Berichten voor de hele wijk krijg je nu alleen via het kanaal.")
        in (follows["text"])
    )
    assert kees._("Terugdraaien kan met /instellingen.") in follows["text"]
    assert (await stored_user(sessions, kees.id)).follows_channel  # type: ignore[union-attr]

    # And undone in /instellingen.
    settings = await kees.say("/instellingen")
    on = f"✅ {kees._('Ik volg het wijkkanaal')}"
    assert on in buttons(settings)
    settings = await kees.tap(settings, on)
    assert f"⬜ {kees._('Ik volg het wijkkanaal')}" in buttons(settings)
    assert not (await stored_user(sessions, kees.id)).follows_channel  # type: ignore[union-attr]
    settings = await kees.tap(settings, f"⬜ {kees._('Ik volg het wijkkanaal')}")
    assert (await stored_user(sessions, kees.id)).follows_channel  # type: ignore[union-attr]

    # Whoever follows already is told so at the next join, without the button again.
    again = await kees.say("/start wijk-brandevoort")
    assert (
        kees._("Je volgt het kanaal. Hier krijg je alleen berichten voor jou zelf.")
        in (again["text"])
    )
    assert kees._(ALREADY_FOLLOW) not in buttons(again)

    # Moving to another wijk forgets it: that channel was not theirs.
    moved = await kees.tap(await kees.say("/wijk"), "Stiphout")
    assert kees._(FOLLOW) not in buttons(moved)
    assert not (await stored_user(sessions, kees.id)).follows_channel  # type: ignore[union-attr]

    # The overview counts followers without knowing who (creator, Kees, the bot).
    stored = await channel_row(sessions, chat_id)
    assert stored is not None
    assert await follower_count(bot.bot, stored) == 3
    async with sessions() as session:
        assert list(await store.active_by_wijk(session=session)) == ["brandevoort"]


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_a_second_channel_replaces_the_first_in_its_wijk(
    resident: MakeResident, client: SandboxClient, sessions: SessionFactory, code: str
) -> None:
    coord = await coordinator(resident, code)
    first, _ = await link(client, coord, "Oud kanaal", "oud_kanaal", "Dierdonk")
    second, linked = await link(client, coord, "Nieuw kanaal", "nieuw_kanaal", "Dierdonk")
    assert (
        coord._("Het vorige kanaal {title} is niet meer gekoppeld.").format(title="Oud kanaal")
        in linked["text"]
    )
    assert (await channel_row(sessions, first)).status == "inactive"  # type: ignore[union-attr]
    assert (await channel_row(sessions, second)).status == "active"  # type: ignore[union-attr]
    anna = await resident("Anna", code)
    joined = await anna.say("/start wijk-dierdonk")
    assert buttons(joined)[anna._(FOLLOW)] == "https://t.me/nieuw_kanaal"


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_losing_post_rights_or_removal_makes_the_channel_inactive(
    bot: BotApplication,
    resident: MakeResident,
    client: SandboxClient,
    sessions: SessionFactory,
    code: str,
) -> None:
    coord = await coordinator(resident, code)
    chat_id, linked = await link(client, coord, "Kanaal Warande", "kanaal_warande", "Warande")
    await client.set_bot_admin(chat_id, True, by=coord.id, can_post_messages=False)
    told = await coord.next_reply()
    assert (
        coord._(
            "Ik kan niet meer posten in het kanaal {title}. "
            "Maak mij weer beheerder met het recht om berichten te plaatsen."
        ).format(title="Kanaal Warande")
        in told["text"]
    )
    assert (await channel_row(sessions, chat_id)).status == "inactive"  # type: ignore[union-attr]
    anna = await resident("Anna", code)
    joined = await anna.say("/start wijk-warande")
    assert anna._(FOLLOW) not in buttons(joined)  # nothing offered that does not work

    # A wijk button pressed now is refused: the bot cannot post there.
    answer = await coord.press_data(
        linked, f"r1:chn:{(await channel_row(sessions, chat_id)).id}:warande"
    )  # type: ignore[union-attr]
    assert answer is not None
    assert answer["text"] == coord._(
        "Ik ben geen beheerder meer van dit kanaal. Voeg mij opnieuw toe."
    )

    # Post rights back: the coordinator links it again.
    await client.set_bot_admin(chat_id, True, by=coord.id, can_post_messages=True)
    question = await coord.next_reply()
    relinked = await coord.tap(question, "Warande")
    assert coord._(LINKED).format(title="Kanaal Warande", wijk="Warande") in relinked["text"]

    # Removed altogether: inactive, the coordinators are told, and nobody is counted.
    await client.remove_bot(chat_id, by=coord.id)
    await coord.next_reply()
    stored = await channel_row(sessions, chat_id)
    assert stored is not None
    assert stored.status == "inactive"
    assert await follower_count(bot.bot, stored) is None


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_someone_who_is_no_coordinator_cannot_add_the_bot_to_a_channel(
    resident: MakeResident, client: SandboxClient, sessions: SessionFactory, code: str
) -> None:
    piet = await resident("Piet", code)
    await piet.say("/start")
    channel = await client.create_channel("Piets kanaal", creator_id=piet.id, username="piet")
    await client.add_bot(channel["id"], by=piet.id, admin=True, can_post_messages=True)
    told = await piet.next_reply()
    assert told["text"] == piet._("Alleen de coördinator kan mij aan een wijkkanaal koppelen.")

    async def left() -> bool:
        return (await client.chat(channel["id"]))["bot_status"] == "left"

    await eventually(left)
    assert await channel_row(sessions, channel["id"]) is None

    # Someone who never wrote to the bot cannot be told; the bot leaves all the same.
    stranger = await resident("Vreemde", code)
    other = await client.create_channel("Ander kanaal", creator_id=stranger.id)
    await client.add_bot(other["id"], by=stranger.id, admin=True)

    async def left_too() -> bool:
        return (await client.chat(other["id"]))["bot_status"] == "left"

    await eventually(left_too)
    assert await channel_row(sessions, other["id"]) is None


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_the_coordinator_is_told_what_the_bot_needs(
    resident: MakeResident, client: SandboxClient, sessions: SessionFactory, code: str
) -> None:
    coord = await coordinator(resident, code)
    # Added without the right to post.
    channel = await client.create_channel("Kanaal Noord", creator_id=coord.id, username="noord")
    await client.add_bot(channel["id"], by=coord.id, admin=False)
    told = await coord.next_reply()
    assert told["text"] == coord._(
        "Maak mij beheerder van het kanaal {title}, met het recht om berichten te plaatsen."
    ).format(title="Kanaal Noord")
    assert await channel_row(sessions, channel["id"]) is None

    # A private channel without an invite link: nothing a resident could open.
    chat_id, question = await add_channel(client, coord, "Besloten kanaal", None)
    assert coord._(NO_LINK) in question["text"]
    answer = await coord.press_data(question, buttons(question)["Binnenstad"])
    assert answer is not None
    assert answer["text"] == coord._(NO_LINK)
    stored = await channel_row(sessions, chat_id)
    assert stored is not None
    assert (stored.status, stored.url) == ("new", None)


@pytest.mark.parametrize(
    "data",
    ["r1:chn:1:atlantis", "r1:chn:999:binnenstad", "r1:chn:x:binnenstad", "r1:fol:on:j"],
)
async def test_forged_channel_buttons(
    resident: MakeResident, client: SandboxClient, sessions: SessionFactory, data: str
) -> None:
    coord = await coordinator(resident, "nl")
    _chat_id, question = await add_channel(client, coord, "Kanaal", "kanaal")
    anna = await resident("Anna")
    home = await anna.say("/start wijk-stiphout")  # a wijk without a channel
    if data.startswith("r1:chn"):
        # A resident may not link anything.
        refused = await anna.press_data(home, data)
        assert refused is not None
        assert refused["text"] == anna._("Dat mag je niet. Kijk bij /help wat je wel kunt.")
        answer = await coord.press_data(question, data)
    else:
        answer = await anna.press_data(home, data)
    assert answer is not None
    assert answer["text"] == anna._("Deze knop werkt niet meer. Tik op /start.")
    async with sessions() as session:
        assert [c.status for c in await session.exec(select(Channel))] == ["new"]
    assert not (await stored_user(sessions, anna.id)).follows_channel  # type: ignore[union-attr]
