"""Queries about roles, invites and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditEntry, Invite, RoleGrant, utcnow


def audit(
    session: AsyncSession,
    *,
    actor_id: int | None,
    action: str,
    subject: str,
    detail: str | None = None,
) -> None:
    """Add an audit line to the session; it is written with the change it describes."""
    session.add(AuditEntry(actor_id=actor_id, action=action, subject=subject, detail=detail))


async def active_grants(*, session: AsyncSession, user_id: int) -> list[RoleGrant]:
    result = await session.exec(
        select(RoleGrant).where(RoleGrant.user_id == user_id, col(RoleGrant.revoked_at).is_(None))
    )
    return list(result)


async def holders(*, session: AsyncSession, role: str | None = None) -> list[RoleGrant]:
    query = select(RoleGrant).where(col(RoleGrant.revoked_at).is_(None))
    if role is not None:
        query = query.where(RoleGrant.role == role)
    return list(await session.exec(query.order_by(col(RoleGrant.granted_at))))


async def grant(
    *,
    session: AsyncSession,
    user_id: int,
    role: str,
    scope: str | None,
    name: str,
    by: int | None,
) -> RoleGrant:
    """Grant a role; holding the same role and scope already changes nothing."""
    existing = await session.exec(
        select(RoleGrant).where(
            RoleGrant.user_id == user_id,
            RoleGrant.role == role,
            RoleGrant.scope == scope if scope is not None else col(RoleGrant.scope).is_(None),
            col(RoleGrant.revoked_at).is_(None),
        )
    )
    found = existing.first()
    if found is not None:
        return found
    held = RoleGrant(user_id=user_id, role=role, scope=scope, name=name[:64], granted_by=by)
    session.add(held)
    _audit_role(session, held, "grant", by)
    await session.commit()
    return held


def _audit_role(session: AsyncSession, held: RoleGrant, action: str, by: int | None) -> None:
    detail = f"{held.role} {held.scope or ''}".strip()
    audit(session, actor_id=by, action=action, subject=f"user:{held.user_id}", detail=detail)


def _end(session: AsyncSession, held: RoleGrant, by: int | None) -> None:
    held.revoked_at, held.revoked_by = utcnow(), by
    session.add(held)
    _audit_role(session, held, "revoke", by)


async def revoke(*, session: AsyncSession, grant_id: int, by: int) -> RoleGrant | None:
    held = await session.get(RoleGrant, grant_id)
    if held is None or held.revoked_at is not None:
        return None
    _end(session, held, by)
    await session.commit()
    return held


async def revoke_scope(
    *, session: AsyncSession, scope: str, by: int | None, user_id: int | None = None
) -> None:
    """End every role tied to a scope (of one person, or of all): a dissolved team."""
    query = select(RoleGrant).where(RoleGrant.scope == scope, col(RoleGrant.revoked_at).is_(None))
    if user_id is not None:
        query = query.where(RoleGrant.user_id == user_id)
    for held in await session.exec(query):
        _end(session, held, by)
    await session.commit()


async def erase_user(*, session: AsyncSession, user_id: int) -> None:
    """On /verwijder: roles end and the name is forgotten; the audit keeps the bare id."""
    for held in await session.exec(select(RoleGrant).where(RoleGrant.user_id == user_id)):
        if held.revoked_at is None:
            held.revoked_at, held.revoked_by = utcnow(), user_id
        held.name = ""
        session.add(held)
    # No commit: part of the erasure's one transaction (bot.residents.erase).


async def create_invite(
    *,
    session: AsyncSession,
    code: str,
    role: str,
    scope: str | None,
    max_uses: int,
    expires_at: datetime,
    by: int,
) -> Invite:
    invite = Invite(
        code=code, role=role, scope=scope, max_uses=max_uses, expires_at=expires_at, created_by=by
    )
    session.add(invite)
    audit(
        session,
        actor_id=by,
        action="invite",
        subject=f"invite:{code[:6]}",
        detail=f"{role} {scope or ''} x{max_uses}",
    )
    await session.commit()
    return invite


async def use_invite(
    *, session: AsyncSession, code: str, now: datetime
) -> tuple[Invite | None, str]:
    """Count one use of an invite; returns it with "ok", or None with why not."""
    invite = await session.get(Invite, code, with_for_update=True)
    if invite is None or invite.revoked_at is not None:
        return None, "unknown"
    if invite.expires_at <= now:
        return None, "expired"
    if invite.uses >= invite.max_uses:
        return None, "used"
    invite.uses += 1
    session.add(invite)
    return invite, "ok"


async def audit_entries(*, session: AsyncSession, limit: int = 100) -> list[AuditEntry]:
    result = await session.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit))
    return list(result)
