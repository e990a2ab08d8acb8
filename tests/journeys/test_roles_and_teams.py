"""Roles by invitation, teams registered and approved, the coordinator's overview (issue 4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.app import BotApplication
from bot.notices import Topic
from bot.roles import Role, grant
from bot.services import services_of
from sandbox.client import SandboxClient
from storage import notices as notice_store
from storage.engine import SessionFactory
from storage.models import AuditEntry, Group, Invite, RoleGrant, Team, utcnow
from tests.journeys.resident import MakePerson, Resident, buttons, invite_link, next_message

ADMIN_ID = 900001  # BUURTBOT_ADMINS in tests/conftest.py
REFUSED = "Dat mag je niet. Kijk bij /help wat je wel kunt."


async def give(bot: BotApplication, who: Resident, role: Role, scope: str | None = None) -> None:
    await grant(services_of(bot), who.id, role, scope, name=who.user["first_name"], by=ADMIN_ID)


async def audit_actions(sessions: SessionFactory) -> list[str]:
    async with sessions() as session:
        rows = await session.exec(select(AuditEntry).order_by(col(AuditEntry.id)))
        return [entry.action for entry in rows]


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_an_administrator_appoints_a_coordinator_by_invite(
    person: MakePerson, client: SandboxClient, sessions: SessionFactory, code: str
) -> None:
    admin = await person("Beheer", code, user_id=ADMIN_ID)
    menu = await client.commands(scope={"type": "chat", "chat_id": ADMIN_ID})
    assert "uitnodigen" in [c["command"] for c in menu]  # visible from the first start

    invite = await invite_link(admin, admin._("coördinator"), "1", admin._("{n} dagen").format(n=7))
    carla = await person("Carla", code)
    welcome = await carla.say(f"/start inv-{invite}")
    assert carla._("Welkom! Je rol: {role}.").format(role=carla._("coördinator")) in welcome["text"]
    async with sessions() as session:
        held = (await session.exec(select(RoleGrant).where(RoleGrant.user_id == carla.id))).one()
    assert (held.role, held.name, held.granted_by) == ("coordinator", "Carla", ADMIN_ID)
    assert await audit_actions(sessions) == ["invite", "grant"]
    # The note that the invite was used goes to the administrator, not to Carla herself.
    async with sessions() as session:
        noted = await notice_store.of_topic(session=session, topic=Topic.NEWS)
    assert [row.chat_id for row in noted] == [ADMIN_ID]
    menu = await client.commands(scope={"type": "chat", "chat_id": carla.id})
    assert {"overzicht", "uitnodigen", "rollen"} <= {c["command"] for c in menu}
    help_text = await carla.say("/help")
    assert "/overzicht" in help_text["text"]
    # A coordinator cannot make more coordinators.
    offer = await carla.say("/uitnodigen")
    assert carla._("coördinator") not in buttons(offer)
    # Each role's scope question names only what its buttons offer.
    for role, question, example in (
        ("ondernemer", "Voor welk bedrijventerrein?", "BZOB"),
        ("wijkboa", "Voor welke wijk?", "Stiphout"),
    ):
        scope = await carla.tap(await carla.say("/uitnodigen"), carla._(role))
        assert scope["text"] == carla._(question)
        assert example in buttons(scope)


async def test_invites_run_out_expire_and_cannot_be_guessed(
    bot: BotApplication, person: MakePerson, sessions: SessionFactory
) -> None:
    coordinator = await person("Carla")
    await give(bot, coordinator, Role.COORDINATOR)
    code = await invite_link(coordinator, "wijkboa", "Stiphout", "1", "1 dag")
    first = await person("Boa")
    assert "wijkboa (Stiphout)" in (await first.say(f"/start inv-{code}"))["text"]
    second = await person("Tweede")
    used = await second.say(f"/start inv-{code}")
    assert used["text"] == "Deze uitnodiging is al gebruikt. Vraag de coördinator om een nieuwe."

    code = await invite_link(coordinator, "wijkboa", "Warande", "5", "1 dag")
    async with sessions() as session:
        invite = await session.get(Invite, code)
        assert invite is not None
        invite.expires_at = utcnow() - timedelta(minutes=1)
        session.add(invite)
        await session.commit()
    late = await second.say(f"/start inv-{code}")
    assert late["text"] == "Deze uitnodiging is verlopen. Vraag de coördinator om een nieuwe."
    guessed = await second.say("/start inv-AAAAAAAAAAAAAAAA")
    assert guessed["text"] == "Deze uitnodiging ken ik niet."
    async with sessions() as session:
        holders = (
            await session.exec(select(RoleGrant).where(RoleGrant.user_id == second.id))
        ).all()
    assert holders == []


@pytest.mark.parametrize("code", ["nl", "en"])
async def test_a_team_contact_registers_a_team_that_gets_approved(
    bot: BotApplication,
    person: MakePerson,
    client: SandboxClient,
    sessions: SessionFactory,
    code: str,
) -> None:
    admin = await person("Beheer", code, user_id=ADMIN_ID)
    invite = await invite_link(
        admin,
        admin._("contactpersoon van een team"),
        admin._("Een nieuw team"),
        "1",
        admin._("{n} dagen").format(n=7),
    )
    tom = await person("Tom", code)
    welcome = await tom.say(f"/start inv-{invite}")
    assert "/team" in welcome["text"]

    ask = await tom.say("/team")
    assert tom._("Hoe heet je team?") in ask["text"]
    wijken = await tom.say("De Uilen")
    assert tom._("In welke wijk loopt het team?") in wijken["text"]
    area = await tom.tap(wijken, "Helmond-West")
    assert tom._("Welke buurten of straten lopen jullie? Schrijf het kort op.") in area["text"]
    contact = await tom.say("Houtsdonk, rond de Pastoorsakker")
    assert (
        tom._(
            "Hoe kan de coördinator jou bereiken? Bijvoorbeeld een telefoonnummer of e-mailadres."
        )
        in contact["text"]
    )
    summary = await tom.say("06-12345678 <script>")
    assert "06-12345678 &lt;script&gt;" not in summary["text"]  # escaped in HTML, shown as typed
    assert "06-12345678 <script>" in summary["text"]
    sent = await tom.tap(summary, tom._("Aanmelden"))
    assert tom._("Aangemeld! De coördinator kijkt ernaar. Je hoort het hier.") in sent["text"]

    news = await next_message(client, ADMIN_ID, after=admin.last_id)
    admin.last_id = news["message_id"]
    assert admin._("Nieuw team aangemeld:") in news["text"]
    assert "De Uilen" in news["text"]
    decided = await admin.tap(news, admin._("Goedkeuren"))
    assert admin._("Goedgekeurd: {team}.").format(team="De Uilen") in decided["text"]
    told = await tom.next_reply()
    assert (
        tom._("Goed nieuws: je team {team} is goedgekeurd. Met /team beheer je het.").format(
            team="De Uilen"
        )
        in told["text"]
    )

    async with sessions() as session:
        team = (await session.exec(select(Team))).one()
        scopes = [
            g.scope
            for g in (
                await session.exec(
                    select(RoleGrant).where(
                        RoleGrant.user_id == tom.id, col(RoleGrant.revoked_at).is_(None)
                    )
                )
            )
        ]
    assert (team.name, team.wijk, team.status, team.contact_user_id) == (
        "De Uilen",
        "helmond-west",
        "approved",
        tom.id,
    )
    assert scopes == [f"team:{team.id}"]
    assert "team_registered" in await audit_actions(sessions)
    assert "team_approved" in await audit_actions(sessions)
    again = await admin.press_data(decided, f"r1:tdec:ok:{team.id}")
    assert again is not None
    assert again["text"] == admin._("Over dit team is al beslist.")


async def test_a_team_contact_edits_pauses_and_dissolves_their_team(
    bot: BotApplication, person: MakePerson, sessions: SessionFactory
) -> None:
    tom = await person("Tom")
    async with sessions() as session:
        team = Team(
            name="De Uilen",
            wijk="stiphout",
            area="Dorp",
            contact_info="06",
            contact_user_id=tom.id,
            status="approved",
        )
        session.add(team)
        await session.commit()
        team_id = team.id
    await give(bot, tom, Role.TEAM_CONTACT, f"team:{team_id}")
    card = await tom.say("/team")
    assert "De Uilen" in card["text"]
    ask = await tom.tap(card, "Naam")
    assert "Wat is de nieuwe naam van het team?" in ask["text"]
    await tom.say("De Nachtuilen")
    renamed = await tom.next_reply()
    assert "De Nachtuilen" in renamed["text"]
    paused = await tom.tap(renamed, "Pauzeren")
    assert "Status: gepauzeerd" in paused["text"]
    resumed = await tom.tap(paused, "Hervatten")
    assert "Status: actief" in resumed["text"]
    confirm = await tom.tap(resumed, "Team stoppen")
    gone = await tom.tap(confirm, "Ja, stop het team")
    assert "Het team De Nachtuilen is gestopt." in gone["text"]
    async with sessions() as session:
        stored = await session.get(Team, team_id)
        active = (
            await session.exec(
                select(RoleGrant).where(
                    RoleGrant.user_id == tom.id, col(RoleGrant.revoked_at).is_(None)
                )
            )
        ).all()
    assert stored is not None
    assert stored.status == "dissolved"
    assert active == []  # the role ended with the team
    refused = await tom.say("/team")
    assert refused["text"] == REFUSED


async def test_registration_survives_bad_input_and_cancel(
    bot: BotApplication, person: MakePerson, sessions: SessionFactory
) -> None:
    tom = await person("Tom")
    await give(bot, tom, Role.TEAM_CONTACT, "team:new")
    await tom.say("/team")
    too_short = await tom.say("X")
    assert too_short["text"] == "Een teamnaam heeft 2 tot 80 tekens."
    too_long = await tom.say("x" * 301)
    assert too_long["text"] == "Dat is te lang. Houd het kort: hoogstens 300 tekens."
    cancelled = await tom.say("/annuleer")
    assert cancelled["text"] == "Gestopt. Er is niets bewaard."
    after = await tom.say("De Uilen")  # no conversation any more: ordinary text
    assert after["text"] == "Wat je typt, lees ik niet. Gebruik de knoppen of /help."


async def test_the_same_team_name_twice_in_a_wijk_is_refused(
    bot: BotApplication, person: MakePerson, sessions: SessionFactory
) -> None:
    async with sessions() as session:
        session.add(Team(name="De Uilen", wijk="stiphout", status="approved"))
        await session.commit()
    tom = await person("Tom")
    await give(bot, tom, Role.TEAM_CONTACT, "team:new")
    await tom.say("/team")
    wijken = await tom.say("de uilen")
    area = await tom.tap(wijken, "Stiphout")
    await tom.say("Dorp")
    summary = await tom.say("06")
    refused = await tom.press_data(summary, "r1:team:send:-")
    assert refused is not None
    assert refused["text"] == "In deze wijk is al een team met die naam."
    assert area  # the wijk step was reached
    async with sessions() as session:
        assert len((await session.exec(select(Team))).all()) == 1


async def test_rollen_revokes_a_role_and_tells_the_holder(
    bot: BotApplication, person: MakePerson, sessions: SessionFactory
) -> None:
    coordinator = await person("Carla")
    await give(bot, coordinator, Role.COORDINATOR)
    boa = await person("Bram")
    await give(bot, boa, Role.WIJKBOA, "wijk:stiphout")
    listing = await coordinator.say("/rollen")
    assert "Bram: wijkboa (Stiphout)" in listing["text"]
    assert "Carla: coördinator" in listing["text"]
    number = next(line.split(".")[0] for line in listing["text"].splitlines() if "Bram" in line)
    await coordinator.tap(listing, f"Intrekken {number}")
    told = await boa.next_reply()
    assert "Je rol als wijkboa is gestopt." in told["text"]
    async with sessions() as session:
        held = (await session.exec(select(RoleGrant).where(RoleGrant.user_id == boa.id))).one()
    assert held.revoked_at is not None
    assert held.revoked_by == coordinator.id
    assert (await audit_actions(sessions))[-1] == "revoke"
    # A coordinator cannot end another coordinator's role; an administrator can.
    other = await person("Co2")
    await give(bot, other, Role.COORDINATOR)
    async with sessions() as session:
        other_grant = (
            await session.exec(select(RoleGrant).where(RoleGrant.user_id == other.id))
        ).one()
    refused = await coordinator.press_data(listing, f"r1:rev:{other_grant.id}")
    assert refused is not None
    assert refused["text"] == "Die rol kan alleen een beheerder van de bot intrekken."


async def test_overzicht_shows_wijken_pending_uncovered_and_dormant(
    bot: BotApplication, person: MakePerson, client: SandboxClient, sessions: SessionFactory
) -> None:
    coordinator = await person("Carla")
    await give(bot, coordinator, Role.COORDINATOR)
    tom = await person("Tom")
    resident = await person("Rita")
    await resident.say("/start wijk-stiphout")
    async with sessions() as session:
        sleeping = Team(name="Oude Ploeg", wijk="stiphout", status="approved", contact_user_id=tom.id,
                        last_activity_at=utcnow() - timedelta(days=200))  # fmt: skip
        waiting = Team(name="Nieuwe Ploeg", wijk="brandevoort", status="pending")
        session.add_all([sleeping, waiting])
        await session.commit()
        sleeping_id, waiting_id = sleeping.id, waiting.id
    await give(bot, tom, Role.TEAM_CONTACT, f"team:{sleeping_id}")

    screen = await coordinator.say("/overzicht")
    text = screen["text"]
    assert "Stiphout: 1 bewoners · teams: 1 actief · groepen: 0" in text
    assert "Brandevoort: 0 bewoners · teams: 1 wacht · groepen: 0" in text
    assert "Zonder team of groep: Binnenstad," in text
    assert "Team Nieuwe Ploeg (Brandevoort)" in text
    assert "💤 Team Oude Ploeg" in text
    assert buttons(screen)["✅ Nieuwe Ploeg"] == f"r1:tdec:ok:{waiting_id}"

    asked = await coordinator.press_data(screen, f"r1:dorm:t:{sleeping_id}")
    assert asked is not None
    assert asked["text"] == "Vraag verstuurd."
    question = await tom.next_reply()
    assert "De coördinator vraagt: is Oude Ploeg nog actief?" in question["text"]
    # Only the contact may answer for the team: a forged answer from someone else fails.
    forged = await resident.press_data(question, f"r1:alive:t:{sleeping_id}:n")
    assert forged is not None
    assert forged["text"] == "Dat team beheer jij niet."
    thanks = await tom.tap(question, "Ja, we zijn actief")
    assert "Dank je! Genoteerd." in thanks["text"]
    news = await next_message(client, coordinator.id, after=screen["message_id"])
    assert "Oude Ploeg is nog actief." in news["text"]
    again = await coordinator.say("/overzicht")
    assert "💤" not in again["text"]


PRIVILEGED_COMMANDS = {
    "/overzicht": {Role.COORDINATOR, Role.ADMIN},
    "/uitnodigen": {Role.COORDINATOR, Role.ADMIN},
    "/rollen": {Role.COORDINATOR, Role.ADMIN},
    "/team": {Role.TEAM_CONTACT},
    # A team contact the coordinator allowed to send: their own wijk and broadcasts only
    # (tests/journeys/test_broadcasts.py checks the limits).
    "/bericht": {Role.COORDINATOR, Role.ADMIN, Role.TEAM_SENDER},
    "/gepland": {Role.COORDINATOR, Role.ADMIN, Role.TEAM_SENDER},
    "/verzonden": {Role.COORDINATOR, Role.ADMIN, Role.TEAM_SENDER},
}
ROLE_SCOPES: dict[Role | None, str | None] = {
    None: None,
    Role.ENTREPRENEUR: "park:bzob",
    Role.TEAM_CONTACT: "team:new",
    Role.TEAM_SENDER: "team:1",
    Role.GROUP_ADMIN: "group:-4000000001",
    Role.WIJKBOA: "wijk:stiphout",
    Role.COORDINATOR: None,
    Role.ADMIN: None,
}


@pytest.mark.parametrize("role", list(ROLE_SCOPES), ids=lambda r: r.value if r else "resident")
async def test_permission_matrix(
    bot: BotApplication, person: MakePerson, sessions: SessionFactory, role: Role | None
) -> None:
    """Every privileged command and button against every role, buttons forged as well."""
    someone = await person("Iemand")
    if role is not None:
        await give(bot, someone, role, ROLE_SCOPES[role])
    for command, allowed in PRIVILEGED_COMMANDS.items():
        reply = await someone.say(command)
        assert (reply["text"] != REFUSED) == (role in allowed), (command, role)

    async with sessions() as session:
        victim = Team(name="Andermans Team", wijk="warande", status="pending", contact_user_id=1)
        session.add(victim)
        other = RoleGrant(user_id=1, role="wijkboa", scope="wijk:warande", name="Ander")
        session.add(other)
        await session.commit()
        team_id, other_id = victim.id, other.id
    coordinator_only = [
        "r1:inv:co", "r1:inv:bo:w-stiphout:1:7", f"r1:tdec:ok:{team_id}", f"r1:rev:{other_id}",
        f"r1:dorm:t:{team_id}", "r1:gdec:ok:1", f"r1:snd:{other_id}",
    ]  # fmt: skip
    anchor = await someone.say("/help")
    for data in coordinator_only:
        answer = await someone.press_data(anchor, data)
        assert answer is not None, data
        refused = answer["text"] == REFUSED
        assert refused == (role not in {Role.COORDINATOR, Role.ADMIN}), (data, role)
    # Someone else's team: refused for everyone, whatever their role.
    answer = await someone.press_data(anchor, f"r1:team:pause:{team_id}")
    assert answer is not None
    assert answer["text"] in {REFUSED, "Dat team beheer jij niet."}
    async with sessions() as session:
        stored = await session.get(Team, team_id)
    assert stored is not None
    assert stored.status in {"pending", "approved", "rejected"}
    if role not in {Role.COORDINATOR, Role.ADMIN}:
        assert stored.status == "pending"  # nothing a lesser role pressed changed it


async def test_a_dormant_groups_admin_says_it_stopped(
    bot: BotApplication, person: MakePerson, sessions: SessionFactory
) -> None:
    coordinator = await person("Carla")
    await give(bot, coordinator, Role.COORDINATOR)
    gert = await person("Gert")
    async with sessions() as session:
        group = Group(chat_id=-4000000099, title="Buurtapp Oud", wijk="warande", status="approved",
                      registered_by=gert.id, last_activity_at=utcnow() - timedelta(days=365))  # fmt: skip
        session.add(group)
        await session.commit()
        group_id = group.id
    screen = await coordinator.say("/overzicht")
    assert "💤 Groep Buurtapp Oud" in screen["text"]
    await coordinator.press_data(screen, f"r1:dorm:g:{group_id}")
    question = await gert.next_reply()
    answered = await gert.tap(question, "Nee, we stoppen")
    assert "Genoteerd: gepauzeerd." in answered["text"]
    async with sessions() as session:
        stored = await session.get(Group, group_id)
    assert stored is not None
    assert stored.status == "paused"
    # Nobody to ask: a forged question about something that is not dormant.
    nobody = await coordinator.press_data(screen, "r1:dorm:g:999999")
    assert nobody is not None
    assert nobody["text"] == "Er is niemand om te vragen."
