"""Roles, their scopes, invites, and who may do what."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.errors import KeyedError
from bot.i18n import N_
from bot.services import Services
from storage import roles as store
from storage.models import Invite, RoleGrant, utcnow

INVITE_PREFIX = "inv-"


class Role(StrEnum):
    ENTREPRENEUR = "entrepreneur"
    TEAM_CONTACT = "team_contact"
    # A team contact whom the coordinator allows to send announcements to the team's own
    # wijk; scope "team:<id>", the same as the contact role it extends.
    TEAM_SENDER = "team_sender"
    GROUP_ADMIN = "group_admin"
    WIJKBOA = "wijkboa"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


ROLE_LABELS: dict[Role, str] = {
    Role.ENTREPRENEUR: N_("ondernemer"),
    Role.TEAM_CONTACT: N_("contactpersoon van een team"),
    Role.TEAM_SENDER: N_("mag berichten sturen aan de eigen wijk"),
    Role.GROUP_ADMIN: N_("beheerder van een groep"),
    Role.WIJKBOA: N_("wijkboa"),
    Role.COORDINATOR: N_("coördinator"),
    Role.ADMIN: N_("beheerder van de bot"),
}
# Short codes for callback data, where every byte counts.
ROLE_CODES: dict[Role, str] = {
    Role.ENTREPRENEUR: "en",
    Role.TEAM_CONTACT: "tc",
    Role.TEAM_SENDER: "ts",
    Role.GROUP_ADMIN: "ga",
    Role.WIJKBOA: "bo",
    Role.COORDINATOR: "co",
    Role.ADMIN: "ad",
}
ROLE_BY_CODE = {code: role for role, code in ROLE_CODES.items()}
# Who may hand out which role by invite. Group admins are never invited: Telegram says
# who administers a group, and the bot asks Telegram.
INVITABLE: dict[Role, tuple[Role, ...]] = {
    Role.ADMIN: (Role.COORDINATOR, Role.WIJKBOA, Role.TEAM_CONTACT, Role.ENTREPRENEUR),
    Role.COORDINATOR: (Role.WIJKBOA, Role.TEAM_CONTACT, Role.ENTREPRENEUR),
}
# Everything a coordinator may do, an administrator may do as well.
IMPLIES: dict[Role, tuple[Role, ...]] = {Role.ADMIN: (Role.COORDINATOR,)}
NEW_TEAM_SCOPE = "team:new"


class RoleError(KeyedError):
    """A role request that cannot be honoured; `key` is a message id to translate."""


@dataclass(frozen=True)
class Held:
    role: Role
    scope: str | None = None
    grant_id: int | None = None


@dataclass(frozen=True)
class Roles:
    """Everything one person holds, answered for one update."""

    held: frozenset[Held]

    def has(self, *roles: Role) -> bool:
        mine = {held.role for held in self.held}
        for role in list(mine):
            mine.update(IMPLIES.get(role, ()))
        return any(role in mine for role in roles)

    def scopes(self, role: Role) -> list[str]:
        return [held.scope for held in self.held if held.role == role and held.scope]

    def invitable(self) -> tuple[Role, ...]:
        allowed: dict[Role, None] = {}
        for held in self.held:
            for role in INVITABLE.get(held.role, ()):
                allowed[role] = None
        return tuple(allowed)

    @property
    def names(self) -> set[Role]:
        return {held.role for held in self.held}


async def roles_of(
    services: Services, user_id: int, *, session: AsyncSession | None = None
) -> Roles:
    """What someone holds now; inside `session` when the caller has one open already."""
    if session is None:
        async with services.sessions() as own:
            return await roles_of(services, user_id, session=own)
    grants = await store.active_grants(session=session, user_id=user_id)
    held = {
        Held(Role(g.role), g.scope, g.id) for g in grants if g.role in Role.__members__.values()
    }
    if user_id in services.settings.admins:
        held.add(Held(Role.ADMIN))
    return Roles(frozenset(held))


async def coordinator_ids(services: Services) -> list[int]:
    """Everyone who acts as coordinator: appointed coordinators and the administrators."""
    async with services.sessions() as session:
        appointed = await store.holders(session=session, role=Role.COORDINATOR.value)
    return sorted({grant.user_id for grant in appointed} | set(services.settings.admins))


async def wijkboa_scopes(services: Services) -> list[tuple[int, str]]:
    """(user id, wijk slug) for every wijkboa and each wijk they hold."""
    async with services.sessions() as session:
        held = await store.holders(session=session, role=Role.WIJKBOA.value)
    prefix = "wijk:"
    return sorted(
        (grant.user_id, grant.scope.removeprefix(prefix))
        for grant in held
        if grant.scope and grant.scope.startswith(prefix)
    )


async def grant(
    services: Services, user_id: int, role: Role, scope: str | None, *, name: str, by: int | None
) -> RoleGrant:
    async with services.sessions() as session:
        return await store.grant(
            session=session, user_id=user_id, role=role.value, scope=scope, name=name, by=by
        )


async def create_invite(
    services: Services, inviter: Roles, by: int, role: Role, scope: str | None, uses: int, days: int
) -> Invite:
    """A fresh invite, if the inviter may hand out this role."""
    if role not in inviter.invitable():
        raise RoleError(N_("Die rol mag jij niet uitdelen."))
    code = secrets.token_urlsafe(12)  # 16 characters, about 96 bits: not guessable
    async with services.sessions() as session:
        return await store.create_invite(
            session=session,
            code=code,
            role=role.value,
            scope=scope,
            max_uses=uses,
            expires_at=utcnow() + timedelta(days=days),
            by=by,
        )


async def redeem(services: Services, code: str, user_id: int, name: str) -> RoleGrant:
    """Use an invite: one use counted and the role granted, in one transaction."""
    async with services.sessions() as session:
        invite, why = await store.use_invite(session=session, code=code, now=utcnow())
        if invite is None:
            await session.rollback()
            raise RoleError(
                {
                    "expired": N_(
                        "Deze uitnodiging is verlopen. Vraag de coördinator om een nieuwe."
                    ),
                    "used": N_(
                        "Deze uitnodiging is al gebruikt. Vraag de coördinator om een nieuwe."
                    ),
                }.get(why, N_("Deze uitnodiging ken ik niet."))
            )
        return await store.grant(
            session=session,
            user_id=user_id,
            role=invite.role,
            scope=invite.scope,
            name=name,
            by=invite.created_by,
        )


async def revoke(services: Services, revoker: Roles, by: int, grant_id: int) -> RoleGrant:
    async with services.sessions() as session:
        target = await session.get(RoleGrant, grant_id)
        if target is None or target.revoked_at is not None:
            raise RoleError(N_("Die rol bestaat niet meer."))
        if target.role in (Role.ADMIN, Role.COORDINATOR) and not revoker.has(Role.ADMIN):
            raise RoleError(N_("Die rol kan alleen een beheerder van de bot intrekken."))
        revoked = await store.revoke(session=session, grant_id=grant_id, by=by)
        if revoked is not None and revoked.role == Role.TEAM_CONTACT and revoked.scope:
            # Sending for the team rests on being its contact: it ends with it.
            await store.revoke_scope(
                session=session, scope=revoked.scope, by=by, user_id=revoked.user_id
            )
    if revoked is None:
        raise RoleError(N_("Die rol bestaat niet meer."))
    return revoked


async def allow_sending(services: Services, by: int, contact_grant_id: int) -> RoleGrant:
    """A coordinator lets a team contact send announcements to the team's own wijk."""
    async with services.sessions() as session:
        contact = await session.get(RoleGrant, contact_grant_id)
    if (
        contact is None
        or contact.revoked_at is not None
        or contact.role != Role.TEAM_CONTACT
        or not (contact.scope or "").removeprefix("team:").isdigit()
    ):
        raise RoleError(N_("Die rol bestaat niet meer."))
    return await grant(
        services, contact.user_id, Role.TEAM_SENDER, contact.scope, name=contact.name, by=by
    )


async def holders(services: Services) -> list[RoleGrant]:
    async with services.sessions() as session:
        return await store.holders(session=session)
