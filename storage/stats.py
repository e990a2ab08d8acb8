"""Every query behind the figures: grouped counts over indexes and counter tables only.

Nothing here reads a person: residents are counted from anonymous membership events
and the subscribed flag, reports from the report_daily counters, broadcasts from their
per-wijk outcome (broadcast_figures) once they are finished.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, insert
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import dialect
from storage.models import (
    ActionResult,
    Broadcast,
    BroadcastFigures,
    Channel,
    Delivery,
    DeliveryStatus,
    DigestRun,
    Group,
    GroupStatus,
    MembershipDaily,
    Reply,
    Report,
    ReportDaily,
    StateSnapshot,
    Team,
    TeamStatus,
    User,
)

# Delivery states that are final; anything else means the broadcast is still under way.
DELIVERED = (DeliveryStatus.SENT,)
FAILED = (DeliveryStatus.FAILED, DeliveryStatus.BLOCKED, DeliveryStatus.GONE)

WijkCounts = dict[str, Counter[str]]


async def membership_days(*, session: AsyncSession, first: date, last: date) -> WijkCounts:
    """Per wijk, how many joined, left and moved over the local days first..last
    inclusive, from the membership_daily counters."""
    after = last + timedelta(days=1)
    rows = await _summed_per_period(
        session, MembershipDaily, [first, after], after, ["wijk", "kind"]
    )
    counts: WijkCounts = defaultdict(Counter)
    for _period, wijk, kind, count in rows:
        counts[wijk][kind] += int(count or 0)
    return counts


async def states(*, session: AsyncSession, dormant_before: datetime) -> WijkCounts:
    """Per wijk, teams and groups active, pending and dormant, right now.

    Dormant is /overzicht's definition (approved, no sign of life since `dormant_before`);
    active is approved and not dormant.
    """
    counts: WijkCounts = defaultdict(Counter)
    kinds: tuple[tuple[type[Team] | type[Group], str, type[TeamStatus] | type[GroupStatus]], ...]
    kinds = ((Team, "teams", TeamStatus), (Group, "groups", GroupStatus))
    for model, prefix, status in kinds:
        state = case(
            (col(model.status) == status.PENDING, "pending"),
            (col(model.last_activity_at) < dormant_before, "dormant"),
            else_="active",
        )
        rows = await session.exec(
            select(model.wijk, state, func.count())
            .where(col(model.status).in_((status.APPROVED, status.PENDING)))
            .group_by(model.wijk, state)
        )
        for wijk, name, count in rows:
            counts[wijk or ""][f"{prefix}_{name}"] += int(count)
    return counts


async def save_states(*, session: AsyncSession, day: date, counts: WijkCounts) -> None:
    """Keep how teams and groups stand at the start of `day`; the day's first record wins
    whole (a later one would add states that were zero then)."""
    recorded = await session.exec(select(StateSnapshot.day).where(StateSnapshot.day == day))
    if recorded.first() is not None:
        return
    rows = [
        {"day": day, "wijk": wijk, "state": state, "count": count}
        for wijk, states in counts.items()
        for state, count in states.items()
    ]
    # A day with no team or group at all still gets a row, so "nothing" reads as known.
    rows = rows or [{"day": day, "wijk": "", "state": "teams_active", "count": 0}]
    statement = dialect.insert(session, StateSnapshot).on_conflict_do_nothing()
    await session.exec(statement, params=rows)  # type: ignore[call-overload]
    await session.commit()


async def states_on(*, session: AsyncSession, day: date, within_days: int = 7) -> WijkCounts | None:
    """How teams and groups stood at the start of `day` (or the last record shortly before);
    None when nothing was recorded then."""
    latest = (
        await session.exec(
            select(func.max(StateSnapshot.day)).where(
                col(StateSnapshot.day) <= day,
                col(StateSnapshot.day) > day - timedelta(days=within_days),
            )
        )
    ).one()
    if latest is None:
        return None
    rows = await session.exec(
        select(StateSnapshot.wijk, StateSnapshot.state, StateSnapshot.count).where(
            StateSnapshot.day == latest
        )
    )
    counts: WijkCounts = defaultdict(Counter)
    for wijk, state, count in rows:
        counts[wijk][state] += int(count)
    return counts


def _started(start: datetime, end: datetime, kinds: Sequence[str]) -> Any:
    """The ids of the announcements that started going out in [start, end), as a subquery."""
    return select(Broadcast.id).where(
        col(Broadcast.started_at) >= start,
        col(Broadcast.started_at) < end,
        col(Broadcast.kind).in_(kinds),
    )


async def broadcasts_started(
    *, session: AsyncSession, start: datetime, end: datetime, kinds: Sequence[str]
) -> list[tuple[int, str]]:
    """(id, status) of the announcements that started going out in [start, end)."""
    rows = await session.exec(
        select(Broadcast.id, Broadcast.status).where(
            col(Broadcast.id).in_(_started(start, end, kinds))
        )
    )
    return [(int(bid), status) for bid, status in rows if bid is not None]


async def kept_broadcasts(
    *, session: AsyncSession, start: datetime, end: datetime, kinds: Sequence[str]
) -> tuple[set[int], WijkCounts]:
    """The kept outcome of the period's broadcasts: which are kept, and per wijk how many
    broadcasts reached it and how many messages were delivered and failed."""
    started = _started(start, end, kinds)
    kept = await session.exec(
        select(BroadcastFigures.broadcast_id)
        .where(col(BroadcastFigures.broadcast_id).in_(started))
        .distinct()
    )
    rows = await session.exec(
        select(
            BroadcastFigures.wijk,
            func.count(),
            func.sum(BroadcastFigures.delivered),
            func.sum(BroadcastFigures.failed),
        )
        .where(col(BroadcastFigures.broadcast_id).in_(started))
        .group_by(BroadcastFigures.wijk)
    )
    counts: WijkCounts = defaultdict(Counter)
    for wijk, broadcasts, delivered, failed in rows:
        counts[wijk].update(
            broadcasts=int(broadcasts), delivered=int(delivered or 0), failed=int(failed or 0)
        )
    return {int(bid) for bid in kept}, counts


async def deliveries_by_wijk(*, session: AsyncSession, ids: Sequence[int]) -> dict[int, WijkCounts]:
    """Live from the outbox: {id: {recipient's wijk: Counter(delivered=, failed=, waiting=)}}."""
    wijk = func.coalesce(User.wijk, Group.wijk, Channel.wijk, "")
    result: dict[int, WijkCounts] = {}
    for chunk in _chunks(ids):
        rows = await session.exec(
            select(Delivery.broadcast_id, wijk, Delivery.status, func.count())
            .outerjoin(
                User, and_(col(User.id) == Delivery.chat_id, col(Delivery.recipient) == "user")
            )
            .outerjoin(
                Group,
                and_(col(Group.chat_id) == Delivery.chat_id, col(Delivery.recipient) == "group"),
            )
            .outerjoin(
                Channel,
                and_(
                    col(Channel.chat_id) == Delivery.chat_id, col(Delivery.recipient) == "channel"
                ),
            )
            .where(col(Delivery.broadcast_id).in_(chunk))
            .group_by(Delivery.broadcast_id, wijk, Delivery.status)
        )
        for bid, where, status, count in rows:
            outcome = (
                "delivered" if status in DELIVERED else "failed" if status in FAILED else "waiting"
            )
            result.setdefault(int(bid), defaultdict(Counter))[where or ""][outcome] += int(count)
    return result


async def remember_broadcasts(*, session: AsyncSession, figures: dict[int, WijkCounts]) -> None:
    """Keep the outcome of finished broadcasts so their deliveries are never counted again.

    A second request counting the same broadcast at the same moment (two coordinators)
    finds the rows there and leaves them: the counts of a finished broadcast are the same.
    """
    rows = [
        {"broadcast_id": bid, "wijk": wijk, "delivered": c["delivered"], "failed": c["failed"]}
        for bid, per_wijk in figures.items()
        for wijk, c in per_wijk.items()
    ]
    if not rows:
        return
    statement = dialect.insert(session, BroadcastFigures).on_conflict_do_nothing()
    await session.exec(statement, params=rows)  # type: ignore[call-overload]
    await session.commit()


async def replies_by_wijk(
    *, session: AsyncSession, start: datetime, end: datetime, kinds: Sequence[str]
) -> WijkCounts:
    """Per wijk of the person who tapped (now), the taps under the period's broadcasts."""
    rows = await session.exec(
        select(User.wijk, Reply.choice, func.count())
        .select_from(Reply)
        .outerjoin(User, col(User.id) == Reply.user_id)
        .where(col(Reply.broadcast_id).in_(_started(start, end, kinds)))
        .group_by(User.wijk, Reply.choice)
    )
    counts: WijkCounts = defaultdict(Counter)
    for wijk, choice, count in rows:
        counts[wijk or ""][choice] += int(count)
    return counts


async def homes_by_wijk(
    *, session: AsyncSession, start: datetime, end: datetime, kinds: Sequence[str]
) -> dict[str, int]:
    """Homes that got footprints after the period's Witte Voetjes evenings, per team's wijk."""
    rows = await session.exec(
        select(Team.wijk, func.sum(ActionResult.homes))
        .join(Team, col(Team.id) == ActionResult.team_id)
        .where(col(ActionResult.broadcast_id).in_(_started(start, end, kinds)))
        .group_by(Team.wijk)
    )
    return {wijk or "": int(total or 0) for wijk, total in rows}


async def reports(
    *, session: AsyncSession, first: date, last: date
) -> list[tuple[str, str, str, int]]:
    """(wijk or "", area, category, count) over the local days first..last inclusive."""
    rows = await session.exec(
        select(
            ReportDaily.wijk, ReportDaily.area, ReportDaily.category, func.sum(ReportDaily.count)
        )
        .where(col(ReportDaily.day) >= first, col(ReportDaily.day) <= last)
        .group_by(ReportDaily.wijk, ReportDaily.area, ReportDaily.category)
    )
    return [(wijk or "", area, category, int(n or 0)) for wijk, area, category, n in rows]


async def reports_per_day(
    *, session: AsyncSession, first: date, last: date, wijk: str | None = None
) -> list[tuple[date, str, int]]:
    """(day, category, count) over first..last inclusive, for the chart."""
    query = select(ReportDaily.day, ReportDaily.category, func.sum(ReportDaily.count)).where(
        col(ReportDaily.day) >= first, col(ReportDaily.day) <= last
    )
    if wijk is not None:
        query = query.where(ReportDaily.wijk == wijk)
    rows = await session.exec(query.group_by(ReportDaily.day, ReportDaily.category))
    return [(day, category, int(n or 0)) for day, category, n in rows]


async def add_report_counts(
    *, session: AsyncSession, counts: Iterable[tuple[date, str, str, str | None, int]]
) -> None:
    """Add (day, area, category, wijk, n) to report_daily, one upsert per row.

    What issue 6 does for every new report; the figures' tests and bench write counts
    through here.
    """
    rows = [
        {"day": day, "area": area, "category": category, "wijk": wijk, "count": n}
        for day, area, category, wijk, n in counts
    ]
    if not rows:
        return
    statement = dialect.insert(session, ReportDaily)
    statement = statement.on_conflict_do_update(
        index_elements=["day", "area", "category"],
        set_={"count": col(ReportDaily.count) + statement.excluded.count},
    )
    await session.exec(statement, params=rows)  # type: ignore[call-overload]
    await session.commit()


async def add_rows(
    *, session: AsyncSession, model: type[SQLModel], rows: Sequence[dict[str, object]]
) -> None:
    """Bulk-insert rows as they are: the bench's city-sized history (reports included)."""
    if rows:
        await session.exec(insert(model), params=list(rows))  # type: ignore[call-overload]
        await session.commit()


async def reports_scanned(
    *, session: AsyncSession, start: datetime, end: datetime
) -> list[tuple[str, str, str, int]]:
    """What `reports` returns, counted from the reports themselves: the bench's baseline
    for what report_daily saves (and wrong once retention has erased old reports)."""
    rows = await session.exec(
        select(Report.wijk, Report.area, Report.category, func.count())
        .where(col(Report.created_at) >= start, col(Report.created_at) < end)
        .group_by(Report.wijk, Report.area, Report.category)
    )
    return [(wijk or "", area, category, int(n)) for wijk, area, category, n in rows]


async def claim_digest(*, session: AsyncSession, period: str, at: datetime) -> bool:
    """Mark the digest of `period` as sent; False if it already was (by a run before)."""
    if await session.get(DigestRun, period) is not None:
        return False
    session.add(DigestRun(period=period, at=at))
    await session.commit()
    return True


async def any_digest_before(*, session: AsyncSession, period: str) -> bool:
    """Whether a digest of an earlier week went out: the bot has sent digests before."""
    found = await session.exec(select(DigestRun.period).where(col(DigestRun.period) < period))
    return found.first() is not None


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[list[int]]:
    # A year holds a few thousand broadcasts; IN lists stay well under SQLite's limits.
    for index in range(0, len(ids), size):
        yield list(ids[index : index + size])


# --- trends: many consecutive periods in one grouped query each -------------------------
#
# `edges` are the starts of consecutive periods and then the end of the last one; a row
# falls in period i when edges[i] <= value < edges[i + 1], and in len(edges) - 1 ("later")
# past the last. The period is computed in a subquery and grouped outside it: PostgreSQL
# would not see two copies of a CASE with bound parameters as one GROUP BY expression.


def _period_index(column: Any, edges: Sequence[Any]) -> Any:
    later = len(edges) - 1
    return case(*((column < edge, index) for index, edge in enumerate(edges[1:])), else_=later)


async def _summed_per_period(
    session: AsyncSession, model: Any, edges: Sequence[date], before: date, keys: Sequence[str]
) -> Any:
    """(period index, *keys, sum of count) of a day counter table over edges[0]..before."""
    day = col(model.day)
    inner = (
        select(
            _period_index(day, edges).label("period"),
            *(getattr(model, key).label(key) for key in keys),
            model.count.label("n"),
        )
        .where(day >= edges[0], day < before)
        .subquery()
    )
    grouped = [inner.c.period, *(inner.c[key] for key in keys)]
    return await session.exec(select(*grouped, func.sum(inner.c.n)).group_by(*grouped))


async def reports_per_period(
    *, session: AsyncSession, edges: Sequence[date]
) -> dict[int, Counter[str]]:
    """{period index: {wijk or "": reports}} from report_daily (local days)."""
    rows = await _summed_per_period(session, ReportDaily, edges, edges[-1], ["wijk"])
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for period, wijk, n in rows:
        counts[int(period)][wijk or ""] += int(n or 0)
    return counts


async def membership_per_period(
    *, session: AsyncSession, edges: Sequence[date], today: date
) -> dict[int, WijkCounts]:
    """{period index: {wijk: Counter(kind)}} of joins, leaves and moves from the local day
    edges[0] to today, from the membership_daily counters; index len(edges) - 1 holds
    those after the last period."""
    before = max(today, edges[-1]) + timedelta(days=1)
    rows = await _summed_per_period(session, MembershipDaily, edges, before, ["wijk", "kind"])
    counts: dict[int, WijkCounts] = defaultdict(lambda: defaultdict(Counter))
    for period, wijk, kind, n in rows:
        counts[int(period)][wijk][kind] += int(n or 0)
    return counts


async def broadcasts_per_period(
    *, session: AsyncSession, edges: Sequence[datetime], kinds: Sequence[str]
) -> list[tuple[int, str, int]]:
    """(id, status, period index) of the announcements started within the periods."""
    started = col(Broadcast.started_at)
    rows = await session.exec(
        select(Broadcast.id, Broadcast.status, _period_index(started, edges)).where(
            started >= edges[0], started < edges[-1], col(Broadcast.kind).in_(kinds)
        )
    )
    return [(int(bid), status, int(period)) for bid, status, period in rows if bid is not None]


async def kept_per_period(
    *, session: AsyncSession, edges: Sequence[datetime], kinds: Sequence[str]
) -> tuple[set[int], dict[int, Counter[str]]]:
    """The kept broadcasts among those started within the periods, and per period and wijk
    how many of them reached it."""
    started = col(Broadcast.started_at)
    inner = (
        select(
            BroadcastFigures.broadcast_id.label("bid"),  # type: ignore[attr-defined]
            BroadcastFigures.wijk.label("wijk"),  # type: ignore[attr-defined]
            _period_index(started, edges).label("period"),
        )
        .join(Broadcast, col(Broadcast.id) == BroadcastFigures.broadcast_id)
        .where(started >= edges[0], started < edges[-1], col(Broadcast.kind).in_(kinds))
        .subquery()
    )
    kept = await session.exec(select(inner.c.bid).distinct())
    rows = await session.exec(
        select(inner.c.period, inner.c.wijk, func.count()).group_by(inner.c.period, inner.c.wijk)
    )
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for period, wijk, n in rows:
        counts[int(period)][wijk] += int(n)
    return {int(bid) for bid in kept}, counts
