"""Buurtpreventieteams: registered by their contact, approved by the coordinator, kept up."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.errors import KeyedError
from bot.i18n import N_
from bot.roles import NEW_TEAM_SCOPE, Role
from bot.services import Services
from storage import roles as role_store
from storage import teams as store
from storage.models import Team, TeamStatus

NAME_LIMITS = (2, 80)
AREA_LIMIT = 300
CONTACT_LIMIT = 200
# Fields a contact may change, with their limits.
EDITABLE = {"name": NAME_LIMITS[1], "area": AREA_LIMIT, "contact_info": CONTACT_LIMIT}


class TeamStep(StrEnum):
    """Where a team contact is in /team: the registration's questions in order, then the
    three single-field edits of an existing team."""

    NAME = "name"
    WIJK = "wijk"  # answered with a button
    AREA = "area"
    CONTACT = "contact"
    CONFIRM = "confirm"  # answered with a button
    EDIT_NAME = "edit-name"
    EDIT_AREA = "edit-area"
    EDIT_CONTACT = "edit-contact"


# The field each edit step changes.
EDITS: dict[TeamStep, str] = {
    TeamStep.EDIT_NAME: "name",
    TeamStep.EDIT_AREA: "area",
    TeamStep.EDIT_CONTACT: "contact_info",
}


class TeamError(KeyedError):
    """A team request that cannot be honoured; `key` is a message id to translate."""


@dataclass(frozen=True)
class Draft:
    name: str
    wijk: str
    area: str
    contact_info: str


def clean_name(value: str) -> str:
    name = " ".join(value.split())
    if not NAME_LIMITS[0] <= len(name) <= NAME_LIMITS[1]:
        raise TeamError(N_("Een teamnaam heeft 2 tot 80 tekens."))
    return name


def clean_text(value: str, limit: int) -> str:
    text = " ".join(value.split())
    if not text:
        raise TeamError(N_("Dit mag niet leeg zijn."))
    if len(text) > limit:
        raise TeamError(N_("Dat is te lang."))
    return text


async def register(services: Services, user_id: int, draft: Draft) -> Team:
    """A new team, pending approval; its contact's role now points at it."""
    if services.areas.wijk(draft.wijk) is None:
        raise TeamError(N_("Die wijk ken ik niet."))
    name = clean_name(draft.name)
    async with services.sessions() as session:
        if await store.name_taken(session=session, wijk=draft.wijk, name=name):
            raise TeamError(N_("In deze wijk is al een team met die naam."))
        team = await store.create(
            session=session,
            name=name,
            wijk=draft.wijk,
            area=clean_text(draft.area, AREA_LIMIT),
            contact_info=clean_text(draft.contact_info, CONTACT_LIMIT),
            contact_user_id=user_id,
        )
        # The invite was for "a new team"; from now on the role names this team.
        held = await role_store.active_grants(session=session, user_id=user_id)
        name = next((g.name for g in held if g.role == Role.TEAM_CONTACT.value), "")
        await role_store.revoke_scope(
            session=session, scope=NEW_TEAM_SCOPE, by=user_id, user_id=user_id
        )
        await role_store.grant(
            session=session,
            user_id=user_id,
            role=Role.TEAM_CONTACT.value,
            scope=f"team:{team.id}",
            name=name,
            by=user_id,
        )
    return team


async def own_team(services: Services, user_id: int, team_id: int) -> Team:
    """The team, if this person is its contact: the check every contact action makes."""
    async with services.sessions() as session:
        team = await store.get(session=session, team_id=team_id)
    if team is None or team.contact_user_id != user_id or team.status in store.ENDED:
        raise TeamError(N_("Dat team beheer jij niet."))
    return team


async def teams_of(services: Services, user_id: int) -> list[Team]:
    async with services.sessions() as session:
        return await store.of_contact(session=session, user_id=user_id)


async def edit(services: Services, user_id: int, team_id: int, field: str, value: str) -> Team:
    team = await own_team(services, user_id, team_id)
    if field not in EDITABLE:
        raise TeamError(N_("Dat kun je niet wijzigen."))
    cleaned = clean_name(value) if field == "name" else clean_text(value, EDITABLE[field])
    async with services.sessions() as session:
        if field == "name" and await store.name_taken(
            session=session, wijk=team.wijk, name=cleaned, but=team.id
        ):
            raise TeamError(N_("In deze wijk is al een team met die naam."))
        return await store.update(session=session, team=team, actor_id=user_id, **{field: cleaned})


async def pause(services: Services, user_id: int, team_id: int, paused: bool) -> Team:
    team = await own_team(services, user_id, team_id)
    if paused and team.status != TeamStatus.APPROVED:
        raise TeamError(N_("Alleen een goedgekeurd team kan pauzeren."))
    if not paused and team.status != TeamStatus.PAUSED:
        raise TeamError(N_("Dit team is niet gepauzeerd."))
    async with services.sessions() as session:
        return await store.set_status(
            session=session,
            team=team,
            status=TeamStatus.PAUSED if paused else TeamStatus.APPROVED,
            actor_id=user_id,
        )


async def dissolve(services: Services, user_id: int, team_id: int) -> Team:
    """End the team; its contact roles end with it, the history stays in the audit log."""
    team = await own_team(services, user_id, team_id)
    async with services.sessions() as session:
        ended = await store.set_status(
            session=session, team=team, status=TeamStatus.DISSOLVED, actor_id=user_id
        )
        await role_store.revoke_scope(session=session, scope=f"team:{team_id}", by=user_id)
    return ended


async def decide(services: Services, coordinator_id: int, team_id: int, approve: bool) -> Team:
    async with services.sessions() as session:
        team = await store.get(session=session, team_id=team_id)
        if team is None:
            raise TeamError(N_("Dat team bestaat niet meer."))
        if team.status != TeamStatus.PENDING:
            raise TeamError(N_("Over dit team is al beslist."))
        return await store.set_status(
            session=session,
            team=team,
            status=TeamStatus.APPROVED if approve else TeamStatus.REJECTED,
            actor_id=coordinator_id,
            decision=True,
        )


async def invitable(services: Services) -> list[Team]:
    """Teams a contact can be invited to: approved ones and those still waiting."""
    async with services.sessions() as session:
        return await store.living(
            session=session, statuses=(TeamStatus.APPROVED, TeamStatus.PENDING)
        )
