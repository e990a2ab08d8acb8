"""Inline keyboards: every choice a resident makes is a button."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from babel import Locale
from babel.dates import format_time
from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from bot.areas import Areas, Wijk
from bot.callbacks import Button, pack
from bot.i18n import Lang
from bot.residents import KIND_LABELS, KINDS, QUIET_PRESETS, minutes_to_time

CHECKED, UNCHECKED = "✅", "⬜"
SKIP_BUURT = "-"
# "fol" buttons: follow the wijk channel or not, pressed under a join or in /instellingen.
FOLLOW_ON, FOLLOW_OFF = "on", "off"
FROM_JOINED, FROM_PREFERENCES = "j", "m"


def miniapp_rows(
    lang: Lang, url: str | None, chat: Chat | None
) -> list[list[InlineKeyboardButton]]:
    """The row that opens the coordinator's Mini App (issue 17), where there is one.

    Telegram allows web_app buttons in private chats only, and the bot serves the app
    only when it knows its public URL.
    """
    if url is None or chat is None or chat.type != Chat.PRIVATE:
        return []
    return [[InlineKeyboardButton(lang.gettext("📊 Open het overzicht"), web_app=WebAppInfo(url))]]


def tick(on: bool, label: str) -> str:
    """A switch's label: ticked or not."""
    return f"{CHECKED if on else UNCHECKED} {label}"


def rows(
    buttons: Sequence[InlineKeyboardButton], width: int = 2
) -> list[list[InlineKeyboardButton]]:
    return [list(buttons[i : i + width]) for i in range(0, len(buttons), width)]


def language_name(code: str) -> str:
    """A language in its own words ("Polski", "Türkçe"), so anyone recognises theirs."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def languages(codes: Sequence[str], then: str) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(language_name(c), callback_data=pack(Button.LANG, c, then))
        for c in codes
    ]
    return InlineKeyboardMarkup(rows(buttons))


def wijken(areas: Areas, current: str | None = None) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            tick(True, wijk.name) if wijk.slug == current else wijk.name,
            callback_data=pack(Button.WIJK, wijk.slug),
        )
        for wijk in areas.wijken
    ]
    return InlineKeyboardMarkup(rows(buttons))


def buurten(lang: Lang, wijk: Wijk) -> InlineKeyboardMarkup:
    _ = lang.gettext
    buttons = [
        InlineKeyboardButton(buurt.name, callback_data=pack(Button.BUURT, wijk.slug, buurt.slug))
        for buurt in wijk.buurten
    ]
    whole = InlineKeyboardButton(
        _("De hele wijk"), callback_data=pack(Button.BUURT, wijk.slug, SKIP_BUURT)
    )
    return InlineKeyboardMarkup([*rows(buttons), [whole]])


def rejoin(lang: Lang, wijk: Wijk, buurt: str | None) -> InlineKeyboardMarkup:
    _ = lang.gettext
    again = pack(Button.BUURT, wijk.slug, buurt if buurt and wijk.buurt(buurt) else SKIP_BUURT)
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(_("Ja, {wijk}").format(wijk=wijk.name), callback_data=again)],
            [InlineKeyboardButton(_("Andere wijk"), callback_data=pack(Button.MENU, "wijk"))],
        ]
    )


def quiet_label(lang: Lang, preset: int) -> str:
    chosen = QUIET_PRESETS[preset]
    if chosen is None:
        return lang.gettext("Geen stille uren")
    start, end = (format_time(minutes_to_time(m), "short", locale=lang.locale) for m in chosen)
    return f"{start}–{end}"


def preferences(
    lang: Lang, kinds: Sequence[str], preset: int, *, follows_channel: bool | None = None
) -> InlineKeyboardMarkup:
    """The switches; `follows_channel` None when the wijk has no channel to follow."""
    _ = lang.gettext
    kind_rows = [
        [
            InlineKeyboardButton(
                tick(kind in kinds, _(KIND_LABELS[kind])),
                callback_data=pack(Button.KIND, kind),
            )
        ]
        for kind in KINDS
    ]
    quiet = [
        InlineKeyboardButton(
            f"{CHECKED} {quiet_label(lang, i)}" if i == preset else quiet_label(lang, i),
            callback_data=pack(Button.QUIET, str(i)),
        )
        for i in range(len(QUIET_PRESETS))
    ]
    done = [InlineKeyboardButton(_("Klaar"), callback_data=pack(Button.MENU, "done"))]
    channel: list[list[InlineKeyboardButton]] = []
    if follows_channel is not None:
        mark, then = (CHECKED, FOLLOW_OFF) if follows_channel else (UNCHECKED, FOLLOW_ON)
        follows = _("Ik volg het wijkkanaal")
        label = f"{mark} {follows}"
        channel = [
            [InlineKeyboardButton(label, callback_data=pack(Button.FOLLOW, then, FROM_PREFERENCES))]
        ]
    return InlineKeyboardMarkup([*kind_rows, *channel, *rows(quiet), done])


def channel_offer(lang: Lang, url: str, *, follows: bool) -> list[list[InlineKeyboardButton]]:
    """Rows to add under a join: open the wijk channel, or say you follow it already."""
    _ = lang.gettext
    offer = [[InlineKeyboardButton(_("Volg het wijkkanaal"), url=url)]]
    if not follows:
        offer.append(
            [
                InlineKeyboardButton(
                    _("Ik volg het kanaal al"),
                    callback_data=pack(Button.FOLLOW, FOLLOW_ON, FROM_JOINED),
                )
            ]
        )
    return offer


def channel_or_here(lang: Lang, url: str, wijk_slug: str) -> InlineKeyboardMarkup:
    """The two ways to hear from a wijk that has a channel."""
    _ = lang.gettext
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(_("Volg het wijkkanaal"), url=url)],
            [
                InlineKeyboardButton(
                    _("Berichten hier krijgen"), callback_data=pack(Button.HERE, wijk_slug)
                )
            ],
        ]
    )


def with_rows(
    keyboard: InlineKeyboardMarkup, extra: Sequence[Sequence[InlineKeyboardButton]]
) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([*keyboard.inline_keyboard, *extra])


def menu(lang: Lang) -> InlineKeyboardMarkup:
    _ = lang.gettext
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(_("Andere wijk"), callback_data=pack(Button.MENU, "wijk")),
                InlineKeyboardButton(
                    _("Berichten kiezen"), callback_data=pack(Button.MENU, "instellingen")
                ),
            ],
            [
                InlineKeyboardButton(_("Taal"), callback_data=pack(Button.MENU, "taal")),
                InlineKeyboardButton(_("Privacy"), callback_data=pack(Button.MENU, "privacy")),
            ],
        ]
    )


def way_back(lang: Lang, *, subscribed: bool) -> InlineKeyboardMarkup:
    """Two buttons back onto the path, for every kind of input the bot did not expect."""
    _ = lang.gettext
    first = _("Mijn wijk") if subscribed else _("Aanmelden")
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(first, callback_data=pack(Button.MENU, "start")),
                InlineKeyboardButton(_("Help"), callback_data=pack(Button.MENU, "help")),
            ]
        ]
    )


def erase_confirm(lang: Lang) -> InlineKeyboardMarkup:
    _ = lang.gettext
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(_("Ja, wis alles"), callback_data=pack(Button.ERASE, "yes")),
                InlineKeyboardButton(_("Nee"), callback_data=pack(Button.ERASE, "no")),
            ]
        ]
    )


def private_chat(lang: Lang, bot_username: str, payload: str | None = None) -> InlineKeyboardMarkup:
    url = f"https://t.me/{bot_username}" + (f"?start={payload}" if payload else "")
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(lang.gettext("Open een privégesprek"), url=url)]]
    )


def bold(value: str) -> str:
    return f"<b>{escape(value)}</b>"
