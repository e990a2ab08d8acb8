"""Residents: joining a wijk, preferences, leaving, and the data rights that go with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from bot import reports
from bot.areas import Buurt, Wijk
from bot.errors import KeyedError
from bot.i18n import N_
from bot.services import Services
from storage import conversations as conversation_store
from storage import reports as report_store
from storage import residents, users
from storage import roles as role_store
from storage.models import User

# Announcement kinds a resident can switch on or off, in the order they are shown.
KINDS: tuple[str, ...] = ("witte_voetjes", "buurttent", "challenge", "nieuws")
KIND_LABELS: dict[str, str] = {
    "witte_voetjes": N_("Witte Voetjes"),
    "buurttent": N_("BuurtTent"),
    "challenge": N_("Buurtsaam Challenge"),
    "nieuws": N_("Nieuws"),
}
# Quiet hours as (start, end) in minutes after local midnight; buttons, never typing.
QUIET_PRESETS: tuple[tuple[int, int] | None, ...] = (
    None,
    (22 * 60, 7 * 60),
    (23 * 60, 8 * 60),
    (21 * 60, 9 * 60),
)


class ResidentError(KeyedError):
    """A request the resident cannot make; `key` is a message id the handler translates."""


NOTHING_STORED = N_("Er staat niets over je opgeslagen. Tik op /start om mee te doen.")


@dataclass(frozen=True)
class Joined:
    wijk: Wijk
    buurt: Buurt | None
    previous: str | None
    changed: bool
    follows_channel: bool = False
    # What they will get: a rejoin keeps their choices, and the confirmation says which.
    kinds: tuple[str, ...] = KINDS


def kinds_of(user: User) -> list[str]:
    return _kinds(user.kinds)


def _kinds(stored: str) -> list[str]:
    return [kind for kind in stored.split(",") if kind in KINDS]


def quiet_preset_of(user: User) -> int:
    current = (
        (user.quiet_start, user.quiet_end)
        if user.quiet_start is not None and user.quiet_end is not None
        else None
    )
    return QUIET_PRESETS.index(current) if current in QUIET_PRESETS else 0


def minutes_to_time(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


async def get(services: Services, user_id: int) -> User | None:
    async with services.sessions() as session:
        return await users.get_user(session=session, user_id=user_id)


# Every use case below is one session and one commit: a crash between two of its rows
# (the user, the subscription, the membership event) leaves all of them or none.


async def seen(
    services: Services, user_id: int, telegram_language: str | None = None
) -> users.Contact:
    language = services.translator.resolve(telegram_language) if telegram_language else None
    async with services.sessions() as session:
        user = await users.touch_user(session=session, user_id=user_id, language=language)
        await session.commit()
    return user


async def join(
    services: Services,
    user_id: int,
    wijk_slug: str,
    buurt_slug: str | None,
    *,
    telegram_language: str | None = None,
) -> Joined:
    """Subscribe to a wijk (and buurt); unknown slugs are refused, not guessed.

    A first contact (a deep link) creates the user in its Telegram language in the same
    transaction as the subscription and its membership event.
    """
    wijk = services.areas.wijk(wijk_slug)
    if wijk is None:
        raise ResidentError(N_("Die wijk ken ik niet."))
    buurt = wijk.buurt(buurt_slug) if buurt_slug else None
    if buurt_slug and buurt is None:
        raise ResidentError(N_("Die buurt ken ik niet."))
    language = services.translator.resolve(telegram_language) if telegram_language else None
    async with services.sessions() as session:
        subscribed = await residents.subscribe(
            session=session,
            user_id=user_id,
            wijk=wijk.slug,
            buurt=buurt.slug if buurt else None,
            tz=services.settings.tz,
            language=language,
        )
        await session.commit()
    return Joined(
        wijk=wijk,
        buurt=buurt,
        previous=subscribed.previous,
        changed=subscribed.changed,
        follows_channel=subscribed.follows_channel,
        kinds=tuple(_kinds(subscribed.kinds)),
    )


async def set_follows_channel(services: Services, user_id: int, follows: bool) -> None:
    """Announcements for the whole wijk reach them through the channel, or here."""
    async with services.sessions() as session:
        await residents.set_follows_channel(session=session, user_id=user_id, follows=follows)
        await session.commit()


async def leave(services: Services, user_id: int) -> User | None:
    """/stop: no more messages (the user row and a "left" event in one commit).

    Returns the user (their wijk stays, for /start to rejoin), or None when they were
    not subscribed."""
    async with services.sessions() as session:
        if not await residents.unsubscribe(
            session=session, user_id=user_id, tz=services.settings.tz
        ):
            return None
        user = await users.get_user(session=session, user_id=user_id)
        await session.commit()
    return user


async def set_language(services: Services, user_id: int, language: str) -> users.Contact:
    if language not in services.translator.languages:
        raise ResidentError(N_("Die taal ken ik niet."))
    async with services.sessions() as session:
        user = await users.set_language(session=session, user_id=user_id, language=language)
        await session.commit()
    return user


async def toggle_kind(services: Services, user_id: int, kind: str) -> list[str]:
    if kind not in KINDS:
        raise ResidentError(N_("Die soort bericht ken ik niet."))
    async with services.sessions() as session:
        user = await users.get_user(session=session, user_id=user_id)
        if user is None:  # erased since the switches were shown
            raise ResidentError(NOTHING_STORED)
        current = kinds_of(user)
        wanted = [k for k in KINDS if (k in current) != (k == kind)]
        await residents.set_kinds(session=session, user_id=user_id, kinds=wanted)
        await session.commit()
    return wanted


async def set_quiet_preset(services: Services, user_id: int, preset: int) -> None:
    if not 0 <= preset < len(QUIET_PRESETS):
        raise ResidentError(N_("Die keuze bestaat niet (meer)."))
    chosen = QUIET_PRESETS[preset]
    async with services.sessions() as session:
        if not await residents.set_quiet_hours(
            session=session,
            user_id=user_id,
            start=chosen[0] if chosen else None,
            end=chosen[1] if chosen else None,
        ):
            raise ResidentError(NOTHING_STORED)
        await session.commit()


async def erase(services: Services, user_id: int) -> bool:
    """/verwijder: everything about this person, in one transaction; False if nothing was held.

    The user row goes (a "left" event keeps the figures right), named reports stay for
    their case without the reporter, roles end and lose the name, a half-made
    conversation goes. A crash halfway would otherwise leave some of it behind.
    """
    async with services.sessions() as session:
        erased = await residents.erase(session=session, user_id=user_id, tz=services.settings.tz)
        await report_store.detach_reporter(session=session, reporter_id=user_id)
        await role_store.erase_user(session=session, user_id=user_id)
        await conversation_store.drop(session=session, user_id=user_id)
        # A report being written, under its pseudonym (bot.reports keeps it apart).
        await report_store.drop_draft(session=session, owner=reports.draft_owner(services, user_id))
        await session.commit()
    return erased


async def mark_blocked(services: Services, user_id: int) -> None:
    async with services.sessions() as session:
        await users.mark_blocked(session=session, user_id=user_id)
        await session.commit()
