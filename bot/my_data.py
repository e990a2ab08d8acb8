"""/mijngegevens: everything held about one person, written for that person to read.

The file is the answer to a data request (AVG/GDPR), read by someone who asked the bot
in their own language: the keys are in that language, and the values are what the bot
shows elsewhere (a wijk's name, "22:00", a date) rather than the columns behind them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from babel import Locale
from babel.dates import format_time

from bot import reports
from bot.i18n import N_, Lang
from bot.residents import KIND_LABELS, kinds_of, minutes_to_time
from bot.services import Services
from storage import reports as report_store
from storage import users
from storage.models import Report, User

Shown = Callable[[Services, Lang, User], Any]


def _moment(value: datetime | None, lang: Lang) -> str | None:
    return lang.datetime(value, "short") if value is not None else None


def _yes_no(value: bool, lang: Lang) -> str:
    return lang.gettext("ja") if value else lang.gettext("nee")


def _quiet(user: User, lang: Lang) -> str:
    if user.quiet_start is None or user.quiet_end is None:
        return lang.gettext("Geen stille uren")
    start, end = (
        format_time(minutes_to_time(m), "short", locale=lang.locale)
        for m in (user.quiet_start, user.quiet_end)
    )
    return f"{start}–{end}"


def _language(user: User, lang: Lang) -> str | None:
    if not user.language:
        return None
    return Locale.parse(user.language).get_display_name(lang.locale) or user.language


def _wijk(services: Services, user: User) -> str | None:
    wijk = services.areas.wijk(user.wijk) if user.wijk else None
    return wijk.name if wijk is not None else user.wijk


def _buurt(services: Services, user: User) -> str | None:
    if not user.wijk or not user.buurt:
        return None
    buurt = services.areas.buurt(user.wijk, user.buurt)
    return buurt.name if buurt is not None else user.buurt


# Every column of a user row, with its label and how it reads. A column missing here
# would be missing from the file: tests/test_my_data.py holds this list to the model.
USER_FIELDS: dict[str, tuple[str, Shown]] = {
    "id": (N_("Telegram-ID"), lambda s, lang, u: u.id),
    "language": (N_("Taal"), lambda s, lang, u: _language(u, lang)),
    "active": (N_("Berichten kunnen aankomen"), lambda s, lang, u: _yes_no(u.active, lang)),
    "wijk": (N_("Wijk"), lambda s, lang, u: _wijk(s, u)),
    "buurt": (N_("Buurt"), lambda s, lang, u: _buurt(s, u)),
    "subscribed": (N_("Aangemeld"), lambda s, lang, u: _yes_no(u.subscribed, lang)),
    "kinds": (
        N_("Berichten over"),
        lambda s, lang, u: [lang.gettext(KIND_LABELS[kind]) for kind in kinds_of(u)],
    ),
    "quiet_start": (N_("Stille uren"), lambda s, lang, u: _quiet(u, lang)),
    "quiet_end": (N_("Stille uren"), lambda s, lang, u: _quiet(u, lang)),
    "follows_channel": (
        N_("Volgt het wijkkanaal"),
        lambda s, lang, u: _yes_no(u.follows_channel, lang),
    ),
    "created_at": (N_("Eerste bericht aan de bot"), lambda s, lang, u: _moment(u.created_at, lang)),
    "last_seen_at": (
        N_("Laatste bericht aan de bot"),
        lambda s, lang, u: _moment(u.last_seen_at, lang),
    ),
    "joined_at": (N_("Aangemeld op"), lambda s, lang, u: _moment(u.joined_at, lang)),
    "blocked_at": (N_("Bot geblokkeerd op"), lambda s, lang, u: _moment(u.blocked_at, lang)),
}


def _report(services: Services, lang: Lang, report: Report) -> dict[str, Any]:
    _ = lang.gettext
    return {
        _("Nummer"): report.ref,
        _("Gemeld op"): _moment(report.created_at, lang),
        _("Gebeurd op"): _moment(report.occurred_at, lang),
        _("Soort"): services.categories.label(report.category, lang.code),
        _("Gebied"): services.areas.area_name(report.area),
        _("Straat"): report.street,
        _("Locatie"): (
            f"{report.latitude:.5f}, {report.longitude:.5f}"
            if report.latitude is not None and report.longitude is not None
            else None
        ),
        _("Beschrijving"): report.description,
        _("Foto's"): len(report.photos.split()),
        _("Status"): reports.status_label(lang, report.status),
        _("Bericht van de coördinator"): report.status_note,
    }


def readable(
    services: Services, lang: Lang, user: User | None, named: list[Report]
) -> dict[str, Any]:
    """The whole file: about it, the person's row (if any) and their named reports."""
    _ = lang.gettext
    about: dict[str, Any] = {}
    if user is not None:
        for label, shown in USER_FIELDS.values():
            about[_(label)] = shown(services, lang, user)
    return {
        _("Over dit bestand"): _("Alles wat Buurtbot over je bewaart."),
        _("Stad"): services.areas.city,
        _("Jij"): about,
        # Only reports made with one's name: anonymous ones are linked to nobody.
        _("Meldingen met je naam"): [_report(services, lang, report) for report in named],
    }


async def export(services: Services, lang: Lang, user_id: int) -> dict[str, Any]:
    """All data held about this person, as one JSON-ready document in their language."""
    async with services.sessions() as session:
        user = await users.get_user(session=session, user_id=user_id)
        named = await report_store.of_reporter(session=session, reporter_id=user_id, limit=1000)
    return readable(services, lang, user, named)
