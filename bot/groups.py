"""Neighbourhood chat groups: who may add and register them, and what the coordinator decides."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Bot, ChatMember
from telegram.error import TelegramError

from bot.errors import KeyedError
from bot.i18n import N_
from bot.roles import Role, grant
from bot.services import Services
from storage import groups as store
from storage import teams as team_store
from storage.models import Group, GroupStatus, Team

log = logging.getLogger(__name__)

ADMIN_STATUSES = (ChatMember.OWNER, ChatMember.ADMINISTRATOR)
# What a group in each status hears when an admin presses a registration button again.
ALREADY: dict[str, str] = {
    GroupStatus.PENDING: N_("Deze groep is al aangemeld. De coördinator kijkt ernaar."),
    GroupStatus.APPROVED: N_("Deze groep is al aangemeld en goedgekeurd."),
    GroupStatus.REJECTED: N_(
        "De coördinator heeft deze groep afgewezen. Vraag de coördinator waarom."
    ),
    GroupStatus.PAUSED: N_("Deze groep staat even stil. Vraag de coördinator."),
}


class GroupError(KeyedError):
    """A registration or decision that cannot be done; `key` is a message id to translate."""


@dataclass(frozen=True)
class Registered:
    group: Group
    team: Team | None


def group_scope(chat_id: int) -> str:
    return f"group:{chat_id}"


async def is_chat_admin(bot: Bot, chat_id: int, user_id: int) -> bool:
    """Asked of Telegram at every use: being an admin yesterday proves nothing today."""
    try:
        member = await bot.get_chat_member(chat_id, user_id)
    except TelegramError:
        # The chat is gone or migrated, or the bot left it: nobody can act for it here.
        log.info("could not check a group admin")
        return False
    return member.status in ADMIN_STATUSES


async def get_by_chat(services: Services, chat_id: int) -> Group | None:
    async with services.sessions() as session:
        return await store.get_by_chat(session=session, chat_id=chat_id)


async def added(services: Services, chat_id: int, title: str) -> Group:
    async with services.sessions() as session:
        return await store.added(session=session, chat_id=chat_id, title=title)


async def removed(services: Services, chat_id: int) -> None:
    async with services.sessions() as session:
        await store.deactivate(session=session, chat_id=chat_id)


async def retitled(services: Services, chat_id: int, title: str) -> None:
    async with services.sessions() as session:
        await store.set_title(session=session, chat_id=chat_id, title=title)


async def migrated(services: Services, old_chat_id: int, new_chat_id: int) -> None:
    async with services.sessions() as session:
        await store.migrate(session=session, old_chat_id=old_chat_id, new_chat_id=new_chat_id)


async def teams_for(services: Services, wijk: str) -> list[Team]:
    async with services.sessions() as session:
        return await team_store.approved_in(session=session, wijk=wijk)


async def register(
    services: Services, chat_id: int, wijk: str, team_id: int | None, by: int, name: str
) -> Registered:
    """Register a new group for a wijk (and team); its registering admin gets the role.

    The caller has checked, with Telegram, that `by` administers the group right now.
    """
    if services.areas.wijk(wijk) is None:
        raise GroupError(N_("Die wijk ken ik niet."))
    async with services.sessions() as session:
        group = await store.get_by_chat(session=session, chat_id=chat_id)
        if group is None:
            raise GroupError(
                N_("Deze groep ken ik niet. Haal mij uit de groep en voeg mij opnieuw toe.")
            )
        if group.status != GroupStatus.NEW:
            raise GroupError(ALREADY.get(group.status, ALREADY[GroupStatus.PENDING]))
        team = None
        if team_id is not None:
            team = next(
                (
                    t
                    for t in await team_store.approved_in(session=session, wijk=wijk)
                    if t.id == team_id
                ),
                None,
            )
            if team is None:
                raise GroupError(N_("Dat team ken ik niet (meer). Kies opnieuw."))
        if await store.name_taken(session=session, group=group, wijk=wijk):
            raise GroupError(
                N_(
                    "In deze wijk is al een groep met deze naam. Geef de groep een andere naam en probeer het opnieuw."
                )
            )
        group = await store.register(
            session=session, group=group, wijk=wijk, team_id=team_id, by=by
        )
    await grant(services, by, Role.GROUP_ADMIN, group_scope(group.chat_id), name=name, by=None)
    return Registered(group=group, team=team)


async def decide(services: Services, group_id: int, approve: bool, by: int) -> Group:
    async with services.sessions() as session:
        decided = await store.decide(session=session, group_id=group_id, approve=approve, by=by)
    if decided is None:
        raise GroupError(N_("Deze groep wacht niet meer op een besluit."))
    return decided


async def get_by_id(services: Services, group_id: int) -> Group | None:
    async with services.sessions() as session:
        return await store.get_by_id(session=session, group_id=group_id)
