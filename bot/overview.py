"""The coordinator's overview: per wijk who is active, what waits, what sleeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import notices
from bot.areas import Wijk
from bot.callbacks import Button, pack
from bot.errors import KeyedError
from bot.i18n import N_, Lang
from bot.notices import Topic
from bot.services import Services
from storage import channels as channel_store
from storage import groups as group_store
from storage import residents as resident_store
from storage import teams as team_store
from storage.models import Channel, Group, GroupStatus, Team, TeamStatus, utcnow


class OverviewError(KeyedError):
    """A request that cannot be honoured; `key` is a message id to translate."""


# Teams and groups that still exist, in the order /overzicht lists them; a group's statuses
# carry the same three values (tests/test_statuses.py checks).
LIVING: tuple[TeamStatus, ...] = (TeamStatus.APPROVED, TeamStatus.PENDING, TeamStatus.PAUSED)


@dataclass
class WijkLine:
    wijk: Wijk
    residents: int = 0
    channel: Channel | None = None
    followers: int | None = None
    teams: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)

    @property
    def uncovered(self) -> bool:
        """No living team or group at all: where the coordinator has work to do."""
        return not any(self.teams.get(s) or self.groups.get(s) for s in LIVING)


@dataclass
class Overview:
    wijken: list[WijkLine]
    pending_teams: list[Team]
    pending_groups: list[Group]
    dormant_teams: list[Team]
    dormant_groups: list[Group]


def dormant_before(services: Services) -> datetime:
    """A team or group with no sign of life since then is dormant (/overzicht, /stats)."""
    return utcnow() - timedelta(days=services.settings.dormant_days)


async def build(services: Services) -> Overview:
    """Everything /overzicht shows, from a handful of grouped queries."""
    before = dormant_before(services)
    async with services.sessions() as session:
        residents = await resident_store.subscribed_by_wijk(session=session)
        teams = await team_store.by_wijk_and_status(session=session)
        groups = await group_store.counts_by_wijk(session=session)
        channels = await channel_store.active_by_wijk(session=session)
        overview = Overview(
            wijken=[],
            pending_teams=await team_store.pending(session=session),
            pending_groups=await group_store.pending(session=session),
            dormant_teams=await team_store.dormant(session=session, before=before),
            dormant_groups=await group_store.dormant(session=session, before=before),
        )
    for wijk in services.areas.wijken:
        overview.wijken.append(
            WijkLine(
                wijk=wijk,
                residents=residents.get(wijk.slug, 0),
                channel=channels.get(wijk.slug),
                teams=teams.get(wijk.slug, {}),
                groups=groups.get(wijk.slug, {}),
            )
        )
    return overview


NOBODY_TO_ASK = N_("Er is niemand om te vragen.")


async def ask_still_active(services: Services, kind: str, item_id: int) -> bool:
    """Ask a sleeping team's contact (or a group's admin), with two buttons, if it still runs.

    The chat's button and the Mini App's both come here; False when the message could not
    be queued. OverviewError when the team or group does not sleep or has no one to ask.
    """
    data = await build(services)
    items: dict[tuple[str, int | None], Team | Group] = {("t", t.id): t for t in data.dormant_teams}
    items |= {("g", g.id): g for g in data.dormant_groups}
    item = items.get((kind, item_id))
    contact = (
        (item.contact_user_id if isinstance(item, Team) else item.registered_by) if item else None
    )
    if item is None or contact is None:
        raise OverviewError(NOBODY_TO_ASK)
    name = item.name if isinstance(item, Team) else item.title
    value = str(item_id)

    def render(lang: Lang) -> tuple[str, InlineKeyboardMarkup]:
        _ = lang.gettext  # the recipient's language, not the coordinator's
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        _("Ja, we zijn actief"), callback_data=pack(Button.ALIVE, kind, value, "y")
                    ),
                    InlineKeyboardButton(
                        _("Nee, we stoppen"), callback_data=pack(Button.ALIVE, kind, value, "n")
                    ),
                ]
            ]
        )
        text = _("De coördinator vraagt: is {name} nog actief?")
        return text.format(name=f"<b>{escape(name)}</b>"), keyboard

    return await notices.tell(services, Topic.NEWS, [contact], render) > 0


async def still_active(
    services: Services, user_id: int, kind: str, item_id: int, active: bool
) -> Team | Group:
    """The contact's answer to "still active?": activity now, or paused."""
    async with services.sessions() as session:
        if kind == "t":
            team = await team_store.get(session=session, team_id=item_id)
            if (
                team is None
                or team.contact_user_id != user_id
                or team.status not in (TeamStatus.APPROVED, TeamStatus.PAUSED)
            ):
                raise OverviewError(N_("Dat team beheer jij niet."))
            return await team_store.set_status(
                session=session,
                team=team,
                status=TeamStatus.APPROVED if active else TeamStatus.PAUSED,
                actor_id=user_id,
            )
        group = await group_store.get_by_id(session=session, group_id=item_id)
        if (
            group is None
            or group.registered_by != user_id
            or group.status not in (GroupStatus.APPROVED, GroupStatus.PAUSED)
        ):
            raise OverviewError(N_("Die groep beheer jij niet."))
        return await group_store.set_status(
            session=session,
            group=group,
            status=GroupStatus.APPROVED if active else GroupStatus.PAUSED,
            actor_id=user_id,
        )
