"""Queries about Meld een Vermoeden reports, their daily counts and follow-ups."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, delete, func, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.dialect import insert
from storage.models import (
    BotState,
    LegacyFollowUp,
    Report,
    ReportDaily,
    ReportDraft,
    ReportFollowUp,
    RoleGrant,
    User,
    utcnow,
)
from storage.roles import audit


@dataclass(frozen=True, slots=True)
class FollowUpRow:
    label: str
    token_hash: str
    sealed: str


@dataclass(frozen=True, slots=True)
class DigestCount:
    area: str
    category: str
    recent: int
    before: int


async def add(
    *,
    session: AsyncSession,
    report: Report,
    day: date,
    follow_up: Callable[[str], FollowUpRow] | None = None,
    draft_owner: str | None = None,
) -> Report:
    """Store a report, count it in `report_daily` and keep its follow-up: one transaction.

    The reference number needs the row's id, so the row is flushed with a throwaway
    unique ref first and renamed before the commit.
    """
    report.ref = "tmp-" + secrets.token_hex(8)
    session.add(report)
    await session.flush()
    report.ref = f"MV-{day.year}-{report.id:06d}"
    session.add(report)
    counted = (
        insert(session, ReportDaily)
        .values(day=day, area=report.area, category=report.category, wijk=report.wijk, count=1)
        .on_conflict_do_update(
            index_elements=["day", "area", "category"],
            set_={"count": ReportDaily.__table__.c.count + 1},  # type: ignore[attr-defined]
        )
    )
    await session.exec(counted)
    if draft_owner is not None:
        # The draft ends with the report it became: a second tap on "send" finds nothing.
        await session.exec(delete(ReportDraft).where(col(ReportDraft.owner) == draft_owner))  # type: ignore[call-overload]
    if follow_up is not None:
        row = follow_up(report.ref)
        session.add(ReportFollowUp(label=row.label, token_hash=row.token_hash, sealed=row.sealed))
    await session.commit()
    return report


async def recent_count(
    *, session: AsyncSession, category: str, area: str, since: datetime, up_to_id: int
) -> int:
    """Reports of one category in one area since a moment, up to and including one report
    (ix_reports_category_area_created): the same count when asked again later."""
    result = await session.exec(
        select(func.count())
        .select_from(Report)
        .where(
            Report.category == category,
            Report.area == area,
            col(Report.created_at) >= since,
            col(Report.id) <= up_to_id,
        )
    )
    return int(result.one())


async def anonymous_after(
    *, session: AsyncSession, after_id: int, before: datetime
) -> list[Report]:
    """Anonymous reports with an id above `after_id` filed before `before`, in id order."""
    result = await session.exec(
        select(Report)
        .where(
            col(Report.anonymous).is_(True),
            col(Report.id) > after_id,
            col(Report.created_at) < before,
        )
        .order_by(col(Report.id))
    )
    return list(result)


async def by_ref(*, session: AsyncSession, ref: str) -> Report | None:
    result = await session.exec(select(Report).where(Report.ref == ref))
    return result.first()


async def of_reporter(*, session: AsyncSession, reporter_id: int, limit: int = 20) -> list[Report]:
    result = await session.exec(
        select(Report)
        .where(Report.reporter_id == reporter_id)
        .order_by(col(Report.created_at).desc())
        .limit(limit)
    )
    return list(result)


async def latest(*, session: AsyncSession, open_only: bool, limit: int = 10) -> list[Report]:
    query = select(Report)
    if open_only:
        query = query.where(col(Report.closed_at).is_(None))
    result = await session.exec(query.order_by(col(Report.created_at).desc()).limit(limit))
    return list(result)


async def recent_since(*, session: AsyncSession, reporter_id: int, since: datetime) -> int:
    result = await session.exec(
        select(func.count())
        .select_from(Report)
        .where(Report.reporter_id == reporter_id, col(Report.created_at) >= since)
    )
    return int(result.one())


async def set_status(
    *,
    session: AsyncSession,
    ref: str,
    status: str,
    note: str | None,
    closed: bool,
    actor_id: int,
) -> Report | None:
    report = await by_ref(session=session, ref=ref)
    if report is None:
        return None
    now = utcnow()
    report.status, report.status_note, report.status_at = status, note, now
    # Reopening a closed report stops its retention clock.
    report.closed_at = (report.closed_at or now) if closed else None
    session.add(report)
    audit(
        session, actor_id=actor_id, action="report_status", subject=f"report:{ref}", detail=status
    )
    await session.commit()
    return report


async def viewed(*, session: AsyncSession, ref: str, actor_id: int) -> Report | None:
    """A coordinator opens one report: read it and write the view to the audit log."""
    report = await by_ref(session=session, ref=ref)
    if report is not None:
        audit(session, actor_id=actor_id, action="report_view", subject=f"report:{ref}")
        await session.commit()
    return report


async def digest_counts(
    *, session: AsyncSession, first: date, split: date, last: date, wijk: str | None = None
) -> list[DigestCount]:
    """Per area and category: reports on [split, last] and on [first, split).

    Reads report_daily only (one row per day, area and category), so it stays fast
    however many reports are stored.
    """
    day = col(ReportDaily.day)
    recent = func.sum(case((day >= split, ReportDaily.count), else_=0))
    before = func.sum(case((day < split, ReportDaily.count), else_=0))
    query = (
        select(ReportDaily.area, ReportDaily.category, recent, before)
        .where(day >= first, day <= last)
        .group_by(col(ReportDaily.area), col(ReportDaily.category))
        .order_by(col(ReportDaily.area), col(ReportDaily.category))
    )
    if wijk is not None:
        query = query.where(ReportDaily.wijk == wijk)
    rows = await session.exec(query)
    return [DigestCount(a, c, int(r or 0), int(b or 0)) for a, c, r, b in rows]


async def follow_up(*, session: AsyncSession, label: str) -> ReportFollowUp | None:
    return await session.get(ReportFollowUp, label)


async def closed_before(*, session: AsyncSession, moment: datetime, limit: int) -> list[Report]:
    result = await session.exec(
        select(Report)
        .where(col(Report.closed_at).is_not(None), col(Report.closed_at) < moment)
        .order_by(col(Report.id))
        .limit(limit)
    )
    return list(result)


async def erase(*, session: AsyncSession, ids: list[int], labels: list[str]) -> None:
    """Reports (their photos are in the row) and their follow-ups go; report_daily stays."""
    await session.exec(delete(ReportFollowUp).where(col(ReportFollowUp.label).in_(labels)))  # type: ignore[call-overload]
    await session.exec(delete(Report).where(col(Report.id).in_(ids)))  # type: ignore[call-overload]
    await session.commit()


async def detach_reporter(*, session: AsyncSession, reporter_id: int) -> int:
    """On /verwijder: the reports stay for the case, without the person behind them."""
    result = await session.exec(
        update(Report).where(col(Report.reporter_id) == reporter_id).values(reporter_id=None)  # type: ignore[call-overload]
    )
    # No commit: part of the erasure's one transaction (bot.residents.erase).
    return int(result.rowcount or 0)


async def drop_drafts(*, session: AsyncSession, before: datetime | None = None) -> int:
    """Drafts left alone too long (or, without `before`, all) are dropped."""
    query = delete(ReportDraft)
    if before is not None:
        query = query.where(col(ReportDraft.updated_at) < before)
    result = await session.exec(query)  # type: ignore[call-overload]
    await session.commit()
    return int(result.rowcount or 0)


# ---------------------------------------------------------------- drafts, under a pseudonym


async def draft(*, session: AsyncSession, owner: str) -> ReportDraft | None:
    return await session.get(ReportDraft, owner)


async def put_draft(*, session: AsyncSession, owner: str, sealed: str, at: datetime) -> None:
    statement = (
        insert(session, ReportDraft)
        .values(owner=owner, sealed=sealed, updated_at=at)
        .on_conflict_do_update(index_elements=["owner"], set_={"sealed": sealed, "updated_at": at})
    )
    await session.exec(statement)
    await session.commit()


async def drop_draft(*, session: AsyncSession, owner: str) -> bool:
    """The caller commits (erasure drops it with everything else, in one transaction)."""
    result = await session.exec(delete(ReportDraft).where(col(ReportDraft.owner) == owner))  # type: ignore[call-overload]
    return bool(result.rowcount)


# ---------------------------------------------------------------- keys: moving and rotating


async def anonymous_refs(*, session: AsyncSession) -> list[str]:
    """The references of the anonymous reports still kept: each may have a follow-up."""
    result = await session.exec(select(Report.ref).where(col(Report.anonymous).is_(True)))
    return list(result)


async def all_follow_ups(*, session: AsyncSession) -> list[ReportFollowUp]:
    return list(await session.exec(select(ReportFollowUp)))


async def legacy_follow_ups(*, session: AsyncSession) -> list[LegacyFollowUp]:
    return list(await session.exec(select(LegacyFollowUp)))


async def replace_follow_ups(
    *,
    session: AsyncSession,
    rows: list[FollowUpRow],
    drop_labels: list[str] = (),  # type: ignore[assignment]
    drop_legacy: list[str] = (),  # type: ignore[assignment]
) -> None:
    """Swap follow-ups for their re-sealed forms; the caller commits (one transaction)."""
    if drop_labels:
        await session.exec(delete(ReportFollowUp).where(col(ReportFollowUp.label).in_(drop_labels)))  # type: ignore[call-overload]
    if drop_legacy:
        await session.exec(
            delete(LegacyFollowUp).where(col(LegacyFollowUp.ref_hash).in_(drop_legacy))  # type: ignore[call-overload]
        )
    await session.flush()
    session.add_all(
        ReportFollowUp(label=row.label, token_hash=row.token_hash, sealed=row.sealed)
        for row in rows
    )


async def forget_state(*, session: AsyncSession, key: str) -> None:
    """Remove a bot_state row; the caller commits."""
    await session.exec(delete(BotState).where(col(BotState.key) == key))  # type: ignore[call-overload]


# ---------------------------------------------------------------- what a database copy keeps


async def shed_history(*, session: AsyncSession, followups: bool = True) -> None:
    """Leave no older version of what was just written where a copy of the files finds it.

    SQLite: the WAL still holds earlier page images (a draft before it was deleted);
    a TRUNCATE checkpoint writes the pages home (secure_delete has zeroed what was
    deleted) and empties the WAL. PostgreSQL: the follow-ups are rewritten in the order
    of their random key, so a dump lists them in no order that follows the reports
    (only when follow-ups were written: `followups=False` for an outbox scrub).
    """
    backend = session.bind.dialect.name if session.bind is not None else ""
    if backend == "sqlite":
        for _ in range(20):
            busy = (await session.exec(text("PRAGMA wal_checkpoint(TRUNCATE)"))).first()  # type: ignore[call-overload]
            if busy is None or not busy[0]:
                return
            # A reader holds an older snapshot; its transaction is short, so wait a bit.
            await asyncio.sleep(0.05)
    elif backend == "postgresql" and followups:
        await session.exec(text("CLUSTER report_followups USING report_followups_pkey"))  # type: ignore[call-overload]
        await session.commit()


# ---------------------------------------------------------------- how small a crowd is


async def possible_reporters(
    *, session: AsyncSession, park: str | None, wijk: str | None, residents: bool
) -> int:
    """People who could have sent a report about an area: its entrepreneurs (the park's,
    or every park's in the wijk) and, while residents may report, the wijk's residents."""
    parks = select(func.count(func.distinct(RoleGrant.user_id))).where(
        RoleGrant.role == "entrepreneur", col(RoleGrant.revoked_at).is_(None)
    )
    if park is not None:
        parks = parks.where(RoleGrant.scope == f"park:{park}")
    else:
        parks = parks.where(col(RoleGrant.scope).like("park:%"))
    count = int((await session.exec(parks)).one())
    if residents and wijk is not None:
        people = (
            select(func.count())
            .select_from(User)
            .where(User.wijk == wijk, col(User.subscribed).is_(True))
        )
        count += int((await session.exec(people)).one())
    return count


async def state(*, session: AsyncSession, key: str) -> str | None:
    found = await session.get(BotState, key)
    return found.value if found is not None else None


async def put_state(
    *, session: AsyncSession, key: str, value: str, actor_id: int | None = None
) -> None:
    statement = (
        insert(session, BotState)
        .values(key=key, value=value)
        .on_conflict_do_update(index_elements=["key"], set_={"value": value})
    )
    await session.exec(statement)
    if actor_id is not None:
        audit(session, actor_id=actor_id, action="setting", subject=key, detail=value)
    await session.commit()


async def move_state(*, session: AsyncSession, key: str, old: str, new: str) -> bool:
    """Set the key from `old` to `new`, only if it still holds `old` (no commit): of two
    runs that read the same value, one moves it and the other learns it lost."""
    moved: Any = await session.exec(
        update(BotState)  # type: ignore[call-overload]
        .where(col(BotState.key) == key, col(BotState.value) == old)
        .values(value=new)
    )
    return int(moved.rowcount or 0) == 1


async def state_once(*, session: AsyncSession, key: str, value: str) -> str:
    """Store `value` unless the key has one; return what is stored (first writer wins)."""
    statement = (
        insert(session, BotState)
        .values(key=key, value=value)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    await session.exec(statement)
    await session.commit()
    stored = await state(session=session, key=key)
    return stored if stored is not None else value


async def status_counts(
    *, session: AsyncSession, wijken: list[str] | None, open_statuses: list[str], closed: str
) -> dict[str, int]:
    """Reports per status (of these wijken; None: the whole city).

    The open ones are few and counted on the status index; the closed ones are all the
    others ever filed, so they are the report_daily counters minus the open: a million
    closed reports are never scanned, and those erased after retention still count.
    """
    # IN, not !=: only a list of values lets the database walk the status index.
    query = select(Report.status, func.count()).where(col(Report.status).in_(open_statuses))
    filed = select(func.coalesce(func.sum(ReportDaily.count), 0))
    if wijken is not None:
        query = query.where(col(Report.wijk).in_(wijken))
        filed = filed.where(col(ReportDaily.wijk).in_(wijken))
    counts = {
        status: int(count) for status, count in await session.exec(query.group_by(Report.status))
    }
    total = int((await session.exec(filed)).one())
    counts[closed] = max(total - sum(counts.values()), 0)
    return counts


@dataclass(frozen=True)
class ReportLine:
    """A report as a list shows it: never its description, street or place on the map."""

    ref: str
    category: str
    area: str
    status: str
    created_at: datetime
    occurred_at: datetime


async def lines_by_status(*, session: AsyncSession, status: str, limit: int) -> list[ReportLine]:
    """The newest reports of one status, without their texts (those only on purpose)."""
    query = (
        select(
            Report.ref,
            Report.category,
            Report.area,
            Report.status,
            Report.created_at,
            Report.occurred_at,
        )
        .where(Report.status == status)
        .order_by(col(Report.created_at).desc(), col(Report.id).desc())
        .limit(limit)
    )
    return [ReportLine(*row) for row in await session.exec(query)]
