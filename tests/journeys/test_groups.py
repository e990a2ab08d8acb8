"""Neighbourhood chat groups: added by a group admin, registered, approved, kept up (issue 4).

Through the sandbox over real HTTP: group admins press buttons in their group, the
coordinator (user 900001, an administrator by BUURTBOT_ADMINS) decides in private.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from sqlmodel import select

from bot.app import BotApplication
from bot.i18n import Lang
from bot.services import services_of
from sandbox.client import SandboxClient
from storage.engine import SessionFactory
from storage.models import AuditEntry, Group, RoleGrant, Team, User
from tests.journeys.resident import Json, Resident, buttons, next_message

COORDINATOR_ID = 900001
REGISTER = "Groep aanmelden"
ONLY_ADMINS_ADD = "Alleen een beheerder van de groep kan mij toevoegen. Vraag een beheerder."
ONLY_ADMINS = "Alleen een beheerder van de groep kan dit doen."
CHOOSE_WIJK = "In welke wijk is deze groep?"
NO_TEAM = "Geen team"
THANKS = "Bedankt! De groep is aangemeld voor {wijk}."
NAME_TAKEN = (
    "In deze wijk is al een groep met deze naam. "
    "Geef de groep een andere naam en probeer het opnieuw."
)


@dataclass
class Admin:
    """A person in a group, pressing the bot's buttons there."""

    client: SandboxClient
    user: Json
    lang: Lang

    @property
    def id(self) -> int:
        return int(self.user["id"])

    def _(self, message: str) -> str:
        return self.lang.gettext(message)

    async def tap(self, chat_id: int, message: Json, label: str) -> Json:
        data = buttons(message).get(label)
        assert data is not None, f"no button {label!r} in {list(buttons(message))}"
        pressed = await self.client.press(self.id, chat_id, message["message_id"], data)
        await self.client.callback_answer(pressed["callback_query_id"])
        return await self.client.wait_edited(
            chat_id, message["message_id"], edits=message.get("edit_count", 0) + 1
        )

    async def forge(self, chat_id: int, message: Json, data: str) -> Json | None:
        pressed = await self.client.press_forged(self.id, chat_id, message["message_id"], data)
        return await self.client.callback_answer(pressed["callback_query_id"])


MakeAdmin = Callable[..., Awaitable[Admin]]


@pytest.fixture
def person(bot: BotApplication, client: SandboxClient) -> MakeAdmin:
    translator = services_of(bot).translator

    async def make(name: str, language_code: str = "nl") -> Admin:
        user = await client.create_user(name, language_code=language_code)
        return Admin(client, user, translator.for_language(language_code))

    return make


@pytest.fixture
def dutch(bot: BotApplication) -> Lang:
    return services_of(bot).translator.for_language("nl")


async def coordinator(bot: BotApplication, client: SandboxClient, code: str) -> Resident:
    """The coordinator, who started the bot (so it may write to them) and chose a language
    (notifications have no update to read Telegram's language from)."""
    user = await client.create_user("Coördinator", user_id=COORDINATOR_ID, language_code=code)
    resident = Resident(client, user, services_of(bot).translator.for_language(code))
    await resident.say("/start")  # Telegram's language is one the bot speaks: stored as is
    return resident


async def group_row(sessions: SessionFactory, chat_id: int) -> Group | None:
    async with sessions() as session:
        return (await session.exec(select(Group).where(Group.chat_id == chat_id))).first()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


async def add_bot(client: SandboxClient, admin: Admin, title: str) -> tuple[int, Json]:
    """A group whose admin adds the bot; the bot's introduction in it."""
    group = await client.create_group(title, creator_id=admin.id)
    await client.add_bot(group["id"], by=admin.id)
    return group["id"], await next_message(client, group["id"])


async def register(admin: Admin, chat_id: int, welcome: Json, wijk: str, team: str) -> Json:
    choose = await admin.tap(chat_id, welcome, admin._(REGISTER))
    teams = await admin.tap(chat_id, choose, wijk)
    return await admin.tap(chat_id, teams, team)


async def add_team(sessions: SessionFactory, name: str, wijk: str, status: str) -> int:
    async with sessions() as session:
        team = Team(name=name, wijk=wijk, status=status)
        session.add(team)
        await session.commit()
        await session.refresh(team)
        assert team.id is not None
        return team.id


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_a_group_admin_registers_the_group_and_the_coordinator_approves(
    bot: BotApplication,
    client: SandboxClient,
    sessions: SessionFactory,
    person: MakeAdmin,
    dutch: Lang,
    code: str,
) -> None:
    coord = await coordinator(bot, client, code)
    team_id = await add_team(sessions, "Team Houtsdonk", "helmond-west", "approved")
    await add_team(sessions, "Team Oud-West in oprichting", "helmond-west", "pending")
    await add_team(sessions, "Team Stiphout", "stiphout", "approved")
    gert = await person("Gert", code)
    chat_id, welcome = await add_bot(client, gert, "Buurtapp Houtsdonk")

    assert gert._("Ik lees niet mee met wat jullie hier schrijven.") in welcome["text"]
    assert (
        gert._("Ik ben geen vervanging van 112. Is er nu gevaar? Bel altijd eerst 112.")
        in (welcome["text"])
    )
    assert set(buttons(welcome)) == {gert._(REGISTER)}
    stored = await group_row(sessions, chat_id)
    assert stored is not None
    assert (stored.status, stored.title, stored.wijk) == ("new", "Buurtapp Houtsdonk", None)

    choose = await gert.tap(chat_id, welcome, gert._(REGISTER))
    assert gert._(CHOOSE_WIJK) in choose["text"]
    assert len(buttons(choose)) == 11
    teams = await gert.tap(chat_id, choose, "Helmond-West")
    # Only approved teams of this wijk, and always the choice of none.
    assert set(buttons(teams)) == {
        "Team Houtsdonk",
        gert._(NO_TEAM),
        gert._("Andere wijk"),
    }
    done = await gert.tap(chat_id, teams, "Team Houtsdonk")
    assert gert._(THANKS).format(wijk="Helmond-West") in done["text"]
    assert buttons(done) == {}

    stored = await group_row(sessions, chat_id)
    assert stored is not None
    assert (stored.status, stored.wijk, stored.team_id, stored.registered_by) == (
        "pending",
        "helmond-west",
        team_id,
        gert.id,
    )
    async with sessions() as session:
        roles = list(await session.exec(select(RoleGrant).where(RoleGrant.user_id == gert.id)))
    assert [(r.role, r.scope, r.name) for r in roles] == [
        ("group_admin", f"group:{chat_id}", "Gert")
    ]

    news = await coord.next_reply()
    assert (
        coord._("Een groep wil zich aanmelden: {title}.").format(title="Buurtapp Houtsdonk")
        in (news["text"])
    )
    assert coord._("Team: {team}").format(team="Team Houtsdonk") in news["text"]
    approved = await coord.tap(news, coord._("Goedkeuren"))
    assert coord._("Goedgekeurd: {title}.").format(title="Buurtapp Houtsdonk") in approved["text"]

    stored = await group_row(sessions, chat_id)
    assert stored is not None
    assert (stored.status, stored.decided_by) == ("approved", COORDINATOR_ID)
    assert stored.decided_at is not None
    async with sessions() as session:
        audit = list(
            await session.exec(select(AuditEntry).where(AuditEntry.action == "group_approved"))
        )
    assert [(a.actor_id, a.subject) for a in audit] == [(COORDINATOR_ID, f"group:{chat_id}")]

    # The group hears it in one line, in the language its admin chose with the bot, and
    # otherwise the city's default (Gert never wrote to the bot in private).
    told = await next_message(client, chat_id, after=done["message_id"])
    assert told["text"] == dutch.gettext("De coördinator heeft deze groep goedgekeurd. Welkom!")

    # Pressing again (the old button, or forged) says it is done already.
    answer = await gert.forge(chat_id, welcome, "r1:grp:go")
    assert answer is not None
    assert answer["text"] == gert._("Deze groep is al aangemeld en goedgekeurd.")
    if code == "en":
        assert gert._(REGISTER) != REGISTER


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_the_coordinator_rejects_and_a_second_decision_is_refused(
    bot: BotApplication,
    client: SandboxClient,
    sessions: SessionFactory,
    person: MakeAdmin,
    dutch: Lang,
    code: str,
) -> None:
    coord = await coordinator(bot, client, code)
    gert = await person("Gert", code)
    chat_id, welcome = await add_bot(client, gert, "Buurtapp Stiphout")
    done = await register(gert, chat_id, welcome, "Stiphout", gert._(NO_TEAM))
    assert gert._("De coördinator kijkt ernaar. Jullie horen het hier.") in done["text"]

    news = await coord.next_reply()
    assert coord._("Team: {team}").format(team=coord._("geen team")) in news["text"]
    approve = buttons(news)[coord._("Goedkeuren")]
    rejected = await coord.tap(news, coord._("Afwijzen"))
    assert coord._("Afgewezen: {title}.").format(title="Buurtapp Stiphout") in rejected["text"]
    assert (await group_row(sessions, chat_id)).status == "rejected"  # type: ignore[union-attr]
    told = await next_message(client, chat_id, after=done["message_id"])
    assert told["text"] == dutch.gettext(
        "De coördinator heeft de aanmelding van deze groep afgewezen."
    )

    # The approve button of the same message, pressed late: no longer pending, nothing changes.
    await coord.press_data(rejected, approve)
    again = await client.wait_edited(COORDINATOR_ID, news["message_id"], edits=2)
    assert coord._("Deze groep wacht niet meer op een besluit.") in again["text"]
    assert (await group_row(sessions, chat_id)).status == "rejected"  # type: ignore[union-attr]
    answer = await gert.forge(chat_id, welcome, "r1:grp:go")
    assert answer is not None
    assert answer["text"] == gert._(
        "De coördinator heeft deze groep afgewezen. Vraag de coördinator waarom."
    )


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_a_decision_by_someone_who_is_no_coordinator_is_refused(
    bot: BotApplication,
    client: SandboxClient,
    sessions: SessionFactory,
    person: MakeAdmin,
    code: str,
) -> None:
    await coordinator(bot, client, code)
    gert = await person("Gert", code)
    chat_id, welcome = await add_bot(client, gert, "Buurtapp Warande")
    await register(gert, chat_id, welcome, "Warande", gert._(NO_TEAM))
    group = await group_row(sessions, chat_id)
    assert group is not None

    # Gert, now a group admin, forges the coordinator's button in his own private chat.
    me = Resident(client, gert.user, gert.lang)
    home = await me.say("/start")
    answer = await me.press_data(home, f"r1:gdec:ok:{group.id}")
    assert answer is not None
    assert answer["text"] == gert._("Dat mag je niet. Kijk bij /help wat je wel kunt.")
    assert answer["show_alert"] is True
    assert (await group_row(sessions, chat_id)).status == "pending"  # type: ignore[union-attr]


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_someone_who_is_no_group_admin_cannot_add_the_bot(
    client: SandboxClient, sessions: SessionFactory, person: MakeAdmin, code: str
) -> None:
    gert = await person("Gert", code)
    piet = await person("Piet", code)
    group = await client.create_group("Buurtapp Dierdonk", creator_id=gert.id)
    await client.add_member(group["id"], piet.id, by=gert.id)
    await client.add_bot(group["id"], by=piet.id)

    refusal = await next_message(client, group["id"])
    assert refusal["text"] == piet._(ONLY_ADMINS_ADD)
    assert buttons(refusal) == {}

    async def left() -> bool:
        return (await client.chat(group["id"]))["bot_status"] == "left"

    await eventually(left)
    assert await group_row(sessions, group["id"]) is None
    assert len(await client.bot_messages(group["id"])) == 1


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_only_whoever_is_group_admin_right_now_can_register(
    client: SandboxClient, sessions: SessionFactory, person: MakeAdmin, code: str
) -> None:
    gert = await person("Gert", code)
    piet = await person("Piet", code)
    chat_id, welcome = await add_bot(client, gert, "Buurtapp Brouwhuis")
    await client.add_member(chat_id, piet.id, by=gert.id)

    for data in (
        buttons(welcome)[piet._(REGISTER)],
        "r1:grp:w:brouwhuis",
        "r1:grp:t:brouwhuis:0",  # the last step, forged: would register
    ):
        answer = await piet.forge(chat_id, welcome, data)
        assert answer is not None
        assert answer["text"] == piet._(ONLY_ADMINS)
        assert answer["show_alert"] is True
    assert (await group_row(sessions, chat_id)).status == "new"  # type: ignore[union-attr]

    # Made admin, Piet may; no longer admin, he may not, even halfway.
    await client.set_admin(chat_id, piet.id, True)
    choose = await piet.tap(chat_id, welcome, piet._(REGISTER))
    assert piet._(CHOOSE_WIJK) in choose["text"]
    await client.set_admin(chat_id, piet.id, False)
    answer = await piet.forge(chat_id, choose, buttons(choose)["Brouwhuis"])
    assert answer is not None
    assert answer["text"] == piet._(ONLY_ADMINS)
    assert (await group_row(sessions, chat_id)).status == "new"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "data",
    [
        "r1:grp:w:atlantis",  # a wijk that does not exist
        "r1:grp:t:brouwhuis:x1",  # a team id that is no number
        "r1:grp:t:atlantis:0",
        "r1:grp:jump",  # a step that does not exist
        "r1:grp",
    ],
)
async def test_forged_registration_buttons_of_an_admin_are_stale(
    client: SandboxClient, sessions: SessionFactory, person: MakeAdmin, data: str
) -> None:
    gert = await person("Gert")
    chat_id, welcome = await add_bot(client, gert, "Buurtapp Brouwhuis")
    answer = await gert.forge(chat_id, welcome, data)
    assert answer is not None
    assert answer["text"] == gert._("Deze knop werkt niet meer. Tik op /start.")
    assert (await group_row(sessions, chat_id)).status == "new"  # type: ignore[union-attr]


async def test_a_team_of_another_wijk_or_not_approved_cannot_be_chosen(
    client: SandboxClient, sessions: SessionFactory, person: MakeAdmin
) -> None:
    pending = await add_team(sessions, "Team in oprichting", "brouwhuis", "pending")
    gert = await person("Gert")
    chat_id, welcome = await add_bot(client, gert, "Buurtapp Brouwhuis")
    await gert.forge(chat_id, welcome, f"r1:grp:t:brouwhuis:{pending}")
    refused = await client.wait_edited(chat_id, welcome["message_id"])
    assert gert._("Dat team ken ik niet (meer). Kies opnieuw.") in refused["text"]
    assert set(buttons(refused)) == {gert._(REGISTER)}
    assert (await group_row(sessions, chat_id)).status == "new"  # type: ignore[union-attr]


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_two_groups_cannot_claim_the_same_name_in_one_wijk(
    client: SandboxClient, sessions: SessionFactory, person: MakeAdmin, code: str
) -> None:
    gert = await person("Gert", code)
    anja = await person("Anja", code)
    first, welcome = await add_bot(client, gert, "Buurtapp Centrum")
    await register(gert, first, welcome, "Binnenstad", gert._(NO_TEAM))

    second, other = await add_bot(client, anja, "BUURTAPP centrum")
    refused = await register(anja, second, other, "Binnenstad", anja._(NO_TEAM))
    assert anja._(NAME_TAKEN) in refused["text"]
    assert (await group_row(sessions, second)).status == "new"  # type: ignore[union-attr]

    # The same name in another wijk is another group.
    retry = await anja.tap(second, refused, anja._(REGISTER))
    teams = await anja.tap(second, retry, "Mierlo-Hout")
    done = await anja.tap(second, teams, anja._(NO_TEAM))
    assert anja._(THANKS).format(wijk="Mierlo-Hout") in done["text"]
    assert (await group_row(sessions, second)).status == "pending"  # type: ignore[union-attr]


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_a_migrated_group_keeps_its_registration_under_the_new_id(
    bot: BotApplication,
    client: SandboxClient,
    sessions: SessionFactory,
    person: MakeAdmin,
    dutch: Lang,
    code: str,
) -> None:
    coord = await coordinator(bot, client, code)
    gert = await person("Gert", code)
    old_id, welcome = await add_bot(client, gert, "Buurtapp Rijpelberg")
    await register(gert, old_id, welcome, "Rijpelberg", gert._(NO_TEAM))
    news = await coord.next_reply()

    new_id = (await client.migrate(old_id))["id"]

    async def moved() -> bool:
        group = await group_row(sessions, new_id)
        return group is not None and await group_row(sessions, old_id) is None

    await eventually(moved)
    group = await group_row(sessions, new_id)
    assert group is not None
    assert (group.status, group.wijk, group.title) == (
        "pending",
        "rijpelberg",
        "Buurtapp Rijpelberg",
    )
    async with sessions() as session:
        role = (await session.exec(select(RoleGrant).where(RoleGrant.user_id == gert.id))).one()
    assert role.scope == f"group:{new_id}"

    # The decision reaches the supergroup.
    await coord.tap(news, coord._("Goedkeuren"))
    told = await next_message(client, new_id)
    assert told["text"] == dutch.gettext("De coördinator heeft deze groep goedgekeurd. Welkom!")
    assert (await group_row(sessions, new_id)).status == "approved"  # type: ignore[union-attr]

    # A button left in the old, read-only group cannot be checked with Telegram: refused.
    answer = await gert.forge(old_id, welcome, "r1:grp:go")
    assert answer is not None
    assert answer["text"] == gert._(ONLY_ADMINS)


async def test_removing_the_bot_makes_the_group_inactive_and_adding_it_again_starts_over(
    client: SandboxClient, sessions: SessionFactory, person: MakeAdmin
) -> None:
    gert = await person("Gert")
    chat_id, welcome = await add_bot(client, gert, "Buurtapp Helmond-Oost")
    await register(gert, chat_id, welcome, "Helmond-Oost", gert._(NO_TEAM))

    # Promoted or demoted: a bot needs no rights in a group, nothing changes.
    await client.set_bot_admin(chat_id, True, by=gert.id)
    await client.set_bot_admin(chat_id, False, by=gert.id)
    await client.remove_bot(chat_id, by=gert.id)

    async def inactive() -> bool:
        group = await group_row(sessions, chat_id)
        return group is not None and group.status == "inactive"

    await eventually(inactive)
    group = await group_row(sessions, chat_id)
    assert group is not None
    assert group.wijk == "helmond-oost"  # kept for the overview

    await client.add_bot(chat_id, by=gert.id)
    hello = await next_message(client, chat_id, after=welcome["message_id"])
    assert set(buttons(hello)) == {gert._(REGISTER)}
    assert (await group_row(sessions, chat_id)).status == "new"  # type: ignore[union-attr]
    assert len(await client.bot_messages(chat_id)) == 2  # the two introductions, nothing else


async def test_a_new_title_is_stored_and_the_chatter_is_not(
    client: SandboxClient, sessions: SessionFactory, person: MakeAdmin
) -> None:
    gert = await person("Gert")
    chat_id, _welcome = await add_bot(client, gert, "Buurtapp Noord")
    await client.send(gert.id, "Er loopt iemand rond bij nummer 12", chat_id=chat_id)
    await client.set_title(chat_id, "Buurtpreventie <Noord> & Co", by=gert.id)

    async def renamed() -> bool:
        group = await group_row(sessions, chat_id)
        return group is not None and group.title == "Buurtpreventie <Noord> & Co"

    await eventually(renamed)
    assert len(await client.bot_messages(chat_id)) == 1  # only its introduction


async def test_a_decision_stands_when_the_group_cannot_be_told(
    bot: BotApplication, client: SandboxClient, sessions: SessionFactory, person: MakeAdmin
) -> None:
    coord = await coordinator(bot, client, "nl")
    gert = await person("Gert")
    # A group the bot is not in (removed while the coordinator was deciding).
    chat = await client.create_group("Buurtapp Weg", creator_id=gert.id)
    async with sessions() as session:
        group = Group(chat_id=chat["id"], title="Buurtapp Weg", wijk="warande", status="pending")
        session.add(group)
        await session.commit()
        await session.refresh(group)
    home = await next_message(client, COORDINATOR_ID)
    await coord.press_data(home, f"r1:gdec:ok:{group.id}")
    done = await client.wait_edited(
        COORDINATOR_ID, home["message_id"], edits=home["edit_count"] + 1
    )
    assert coord._("Goedgekeurd: {title}.").format(title="Buurtapp Weg") in done["text"]
    assert (await group_row(sessions, chat["id"])).status == "approved"  # type: ignore[union-attr]
    assert await client.bot_messages(chat["id"]) == []


async def test_the_overview_queries_count_what_waits_and_what_sleeps(
    client: SandboxClient, sessions: SessionFactory, person: MakeAdmin
) -> None:
    from datetime import timedelta

    from storage import groups as store
    from storage.models import utcnow

    gert = await person("Gert")
    first, welcome = await add_bot(client, gert, "Buurtapp Een")
    await register(gert, first, welcome, "Dierdonk", gert._(NO_TEAM))
    await add_bot(client, gert, "Buurtapp Twee")
    async with sessions() as session:
        approved = Group(chat_id=-1, title="Oud", wijk="dierdonk", status="approved")
        approved.last_activity_at = utcnow() - timedelta(days=90)
        session.add(approved)
        await session.commit()
        await session.refresh(approved)
        assert approved.id is not None
        assert await store.counts_by_wijk(session=session) == {
            "dierdonk": {"pending": 1, "approved": 1},
            "": {"new": 1},
        }
        assert [g.chat_id for g in await store.pending(session=session)] == [first]
        dormant = await store.dormant(session=session, before=utcnow() - timedelta(days=30))
        assert [g.id for g in dormant] == [approved.id]
        await store.touch(session=session, group_id=approved.id)
        assert await store.dormant(session=session, before=utcnow() - timedelta(days=30)) == []
        assert (await store.get_by_id(session=session, group_id=approved.id)).title == "Oud"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "data", ["r1:menu:help", "r1:wijk:stiphout", "r1:erase:yes", "r1:lang:en:wijk", "rubbish"]
)
async def test_a_private_button_forged_in_a_group_changes_nothing_there(
    bot: BotApplication, client: SandboxClient, sessions: SessionFactory, data: str
) -> None:
    # Before: any member with a modified client could turn the bot's post in the group
    # into their own help screen, or have "you now follow Stiphout" shown to everyone.
    anna = await client.create_user("Anna")
    bob = await client.create_user("Bob", started=True)
    group = await client.create_group("Buurtapp Stiphout", creator_id=anna["id"])
    await client.add_member(group["id"], bob["id"], by=anna["id"])
    await client.add_bot(group["id"], by=anna["id"])
    post = await next_message(client, group["id"])
    pressed = await client.press_forged(bob["id"], group["id"], post["message_id"], data)
    answer = await client.callback_answer(pressed["callback_query_id"])
    assert answer == {"text": "Deze knop werkt niet meer. Tik op /start.", "show_alert": True}
    after = await client.bot_messages(group["id"])
    assert [(m["message_id"], m["text"], m.get("edit_count", 0)) for m in after] == [
        (post["message_id"], post["text"], 0)
    ]
    async with sessions() as session:
        assert await session.get(User, bob["id"]) is None  # nothing stored for the presser
    # The group's own button still works there: the registration starts for its admin.
    pressed = await client.press(anna["id"], group["id"], post["message_id"], "r1:grp:go")
    await client.callback_answer(pressed["callback_query_id"])
    edited = await client.wait_edited(group["id"], post["message_id"])
    assert edited["text"] == CHOOSE_WIJK
