"""Joining a wijk: /start (also by deep link), language, wijk, buurt; /wijk and /taal."""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update, User

from bot import channels, residents
from bot.areas import Wijk
from bot.broadcasts import REMIND_PREFIX
from bot.callbacks import Button, pack
from bot.i18n import Lang
from bot.roles import INVITE_PREFIX
from bot.services import BotContext
from handlers import broadcast_replies, commands, invites, keyboards
from handlers.common import lang_for, remember_language, show
from handlers.fallback import button, stale_button
from handlers.keyboards import SKIP_BUURT, bold

# After choosing a language: go on to the wijk (first visit) or stop there (/taal).
THEN_WIJK, THEN_DONE = "wijk", "done"
# The menu button under a welcome that already speaks the user's language.
OTHER_LANGUAGE = "welkomtaal"


def _welcome(lang: Lang, city: str) -> list[str]:
    _ = lang.gettext
    return [
        _("Welkom bij Buurtbot, de buurtpreventie van {city}.").format(city=bold(city)),
        _("Hier krijg je berichten over veiligheid in je wijk."),
        _("Is er nu gevaar? Bel altijd eerst 112."),
    ]


def _joined_text(lang: Lang, joined: residents.Joined) -> str:
    _ = lang.gettext
    place = joined.wijk.name if joined.buurt is None else f"{joined.buurt.name}, {joined.wijk.name}"
    return "\n\n".join(
        [
            _("Gelukt! Je volgt nu {wijk}.").format(wijk=bold(place)),
            _what_you_get(lang, joined.kinds),
            _("Kies zelf welke berichten je wilt met /instellingen. Stoppen kan altijd met /stop."),
            _("Is er nu gevaar? Bel altijd eerst 112."),
        ]
    )


def _what_you_get(lang: Lang, kinds: tuple[str, ...]) -> str:
    """The kinds they will get, as stored: a rejoin must not promise what they switched off."""
    _ = lang.gettext
    if not kinds:
        return _("Je krijgt nu geen berichten. Zet er één aan, of stop met /stop.")
    if set(kinds) == set(residents.KINDS):
        return " ".join(
            [
                _(
                    "Je krijgt berichten over Witte Voetjes, de BuurtTent, de Buurtsaam Challenge en nieuws uit je wijk."
                ),
                _("Meestal is dat een paar keer per maand."),
            ]
        )
    names = ", ".join(_(residents.KIND_LABELS[kind]) for kind in kinds)
    return _("Je krijgt alleen berichten over: {kinds}.").format(kinds=names)


async def _show_joined(
    update: Update,
    context: BotContext,
    lang: Lang,
    joined: residents.Joined,
    keyboard: InlineKeyboardMarkup,
    *,
    before: tuple[str, ...] = (),
    after: tuple[str, ...] = (),
) -> None:
    """The confirmation of a join; where the wijk has a channel, both ways to follow it."""
    _ = lang.gettext
    lines = [*before, _joined_text(lang, joined)]
    channel = await channels.active_for_wijk(context.services, joined.wijk.slug)
    if channel is not None and channel.url:
        lines.append(
            _("{wijk} heeft ook een wijkkanaal: {channel}.").format(
                wijk=bold(joined.wijk.name), channel=bold(channel.title)
            )
        )
        if joined.follows_channel:
            lines.append(_("Je volgt het kanaal. Hier krijg je alleen berichten voor jou zelf."))
        else:
            lines.append(
                _(
                    "Volg je het kanaal ook? Tik dan op ‘Ik volg het kanaal al’: dan krijg je hier alleen berichten voor jou zelf."
                )
            )
        offer = keyboards.channel_offer(lang, channel.url, follows=joined.follows_channel)
        keyboard = keyboards.with_rows(keyboard, offer)
    await show(update, "\n\n".join([*lines, *after]), keyboard)


async def _offer_channel(
    update: Update,
    context: BotContext,
    lang: Lang,
    wijk: Wijk,
    *,
    subscribed_to: str | None,
    before: tuple[str, ...] = (),
) -> bool:
    """Where the wijk has a channel, offer both ways before anything is stored; False if not.

    Following the channel is one tap on Telegram's side and the city never learns who
    follows; subscribing here brings the resident's language, reminders and replies.
    """
    if subscribed_to == wijk.slug:
        return False
    channel = await channels.active_for_wijk(context.services, wijk.slug)
    if channel is None or not channel.url:
        return False
    _ = lang.gettext
    lines = [
        *before,
        _("{wijk} heeft een wijkkanaal: {channel}.").format(
            wijk=bold(wijk.name), channel=bold(channel.title)
        ),
        _("Volg het kanaal: één tik. De gemeente ziet niet wie het kanaal volgt."),
        _(
            "Of krijg de berichten hier: in je eigen taal, met herinneringen en je eigen ‘ik doe mee’."
        ),
        _("Is er nu gevaar? Bel altijd eerst 112."),  # this replaces the welcome on screen
    ]
    await show(update, "\n\n".join(lines), keyboards.channel_or_here(lang, channel.url, wijk.slug))
    return True


async def start(update: Update, context: BotContext) -> None:
    """Greet; a deep link joins its wijk at once, otherwise the choices start."""
    user = update.effective_user
    if user is None:
        return
    payload = context.args[0] if context.args else None
    wijk = (
        context.services.areas.wijk_for_payload(payload)
        if payload and not payload.startswith((INVITE_PREFIX, REMIND_PREFIX))
        else None
    )
    if wijk is not None:
        await _start_in_wijk(update, context, user, wijk)
        return
    stored = await residents.seen(context.services, user.id, user.language_code)
    remember_language(context, stored.language or "")  # spares lang_for a query
    lang = await lang_for(update, context)
    _ = lang.gettext
    await _admin_menu(context, user, lang)
    if payload and payload.startswith(INVITE_PREFIX):
        await invites.redeem(update, context, payload.removeprefix(INVITE_PREFIX))
        return
    if payload and payload.startswith(REMIND_PREFIX):
        await broadcast_replies.remind_link(update, context, payload.removeprefix(REMIND_PREFIX))
        return
    if payload:
        await show(
            update,
            "\n\n".join([_("Die wijk ken ik niet."), _("Kies je wijk:")]),
            keyboards.wijken(context.services.areas),
        )
        return
    if stored.subscribed and stored.wijk:
        await _show_home(update, context, lang, stored.wijk)
        return
    wijk = context.services.areas.wijk(stored.wijk) if stored.wijk else None
    if wijk is not None:
        # Back after /stop: one tap rejoins the wijk and buurt they had.
        text = "\n\n".join(
            [_("Welkom terug!"), _("Weer berichten over {wijk}?").format(wijk=bold(wijk.name))]
        )
        await show(update, text, keyboards.rejoin(lang, wijk, stored.buurt))
        return
    translator = context.services.translator
    if user.language_code and translator.resolve(user.language_code) == _base(user.language_code):
        # Telegram already told us a language we speak: straight on to the wijk, the
        # other languages one tap away.
        await _show_welcome(update, context, lang)
        return
    text = "\n\n".join([*_welcome(lang, context.services.areas.city), _("Kies je taal:")])
    await show(update, text, keyboards.languages(translator.languages, THEN_WIJK))


def _base(code: str) -> str:
    return code.replace("_", "-").split("-")[0].lower()


async def _show_welcome(update: Update, context: BotContext, lang: Lang) -> None:
    """The welcome (with its 112 line) and the wijk question in one message.

    Choosing a language from here redraws this same welcome in that language, so the
    112 line is never edited away into a bare question.
    """
    _ = lang.gettext
    text = "\n\n".join([*_welcome(lang, context.services.areas.city), _("Kies je wijk:")])
    other = InlineKeyboardButton(
        "🌐 " + _("Andere taal"), callback_data=pack(Button.MENU, OTHER_LANGUAGE)
    )
    await show(
        update, text, keyboards.with_rows(keyboards.wijken(context.services.areas), [[other]])
    )


async def welcome_languages(update: Update, context: BotContext) -> None:
    """ "Andere taal" under the welcome: the welcome stays, the languages are offered."""
    lang = await lang_for(update, context)
    text = "\n\n".join(
        [*_welcome(lang, context.services.areas.city), lang.gettext("Kies je taal:")]
    )
    await show(update, text, keyboards.languages(context.services.translator.languages, THEN_WIJK))


async def _admin_menu(context: BotContext, user: User, lang: Lang) -> None:
    if user.id in context.services.settings.admins:
        # Telegram takes a chat's own menu only once the chat exists: at the first /start.
        await commands.set_for_chat(context.bot, context.services, user.id, lang.code)


async def _start_in_wijk(update: Update, context: BotContext, user: User, wijk: Wijk) -> None:
    """/start by a wijk's deep link: join it, the user row in the same transaction."""
    stored = await residents.get(context.services, user.id)
    translator = context.services.translator
    if stored is None:  # the language their row will start in, as residents.seen would
        remember_language(context, translator.resolve(user.language_code or "") or "")
    else:
        remember_language(context, stored.language or "")  # spares lang_for a query
    lang = await lang_for(update, context)
    await _admin_menu(context, user, lang)
    welcome = (_welcome(lang, context.services.areas.city)[0],)
    subscribed_to = stored.wijk if stored is not None and stored.subscribed else None
    if subscribed_to != wijk.slug and await channels.active_for_wijk(context.services, wijk.slug):
        # The channel is offered first and nothing is joined yet; but the person came:
        # their row, as for any /start.
        await residents.seen(context.services, user.id, user.language_code)
        if await _offer_channel(
            update, context, lang, wijk, subscribed_to=subscribed_to, before=welcome
        ):
            return
    # Scanning the same sign twice must not forget the buurt chosen since.
    keep = stored.buurt if stored is not None and subscribed_to == wijk.slug else None
    joined = await residents.join(
        context.services, user.id, wijk.slug, keep, telegram_language=user.language_code
    )
    ask_buurt = bool(wijk.buurten) and joined.buurt is None
    keyboard = keyboards.buurten(lang, wijk) if ask_buurt else keyboards.menu(lang)
    _ = lang.gettext
    await _show_joined(
        update,
        context,
        lang,
        joined,
        keyboard,
        before=welcome,
        after=(_("Wil je ook je buurt kiezen? Dat hoeft niet."),) if ask_buurt else (),
    )


async def _show_home(update: Update, context: BotContext, lang: Lang, wijk_slug: str) -> None:
    _ = lang.gettext
    wijk = context.services.areas.wijk(wijk_slug)
    name = wijk.name if wijk else wijk_slug
    text = "\n\n".join(
        [_("Je volgt {wijk}.").format(wijk=bold(name)), _("Is er nu gevaar? Bel altijd eerst 112.")]
    )
    await show(update, text, keyboards.menu(lang))


async def choose_language(update: Update, context: BotContext) -> None:
    """/taal: offer the languages."""
    lang = await lang_for(update, context)
    await show(
        update,
        lang.gettext("Kies je taal:"),
        keyboards.languages(context.services.translator.languages, THEN_DONE),
    )


@button(2)
async def on_language(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """A language button: remember it, then go on to the wijk or confirm."""
    code, then = args
    if then not in (THEN_WIJK, THEN_DONE):
        await stale_button(update, context)
        return
    stored = await residents.set_language(context.services, user.id, code)
    remember_language(context, code)
    translator = context.services.translator
    # Telegram already shows the menu in the app's language; only a different choice
    # needs a menu of its own in this chat.
    if translator.resolve(user.language_code) != code:
        await commands.set_for_chat(context.bot, context.services, user.id, code)
    elif then == THEN_DONE:  # back to the app's language: drop an earlier chat menu
        await commands.clear_for_chat(context.bot, user.id)
    await query.answer()
    lang = translator.for_language(code)
    _ = lang.gettext
    if then == THEN_WIJK and not stored.subscribed:
        await _show_welcome(update, context, lang)
        return
    subscribed = stored.subscribed
    await show(
        update,
        _("Je taal is nu {language}.").format(language=keyboards.language_name(code)),
        keyboards.menu(lang) if subscribed else keyboards.way_back(lang, subscribed=False),
    )


async def choose_wijk(update: Update, context: BotContext) -> None:
    """/wijk: offer the wijken, the current one ticked."""
    user = update.effective_user
    if user is None:
        return
    lang = await lang_for(update, context)
    stored = await residents.get(context.services, user.id)
    current = stored.wijk if stored and stored.subscribed else None
    await show(
        update, lang.gettext("Kies je wijk:"), keyboards.wijken(context.services.areas, current)
    )


@button(1)
async def on_wijk(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """A wijk button: offer its channel if it has one, else go on to the buurt or join."""
    await _chosen_wijk(update, context, query, user, args[0], offer_channel=True)


@button(1)
async def on_here(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """ "Subscribe here" on a wijk with a channel: go on as for any wijk."""
    await _chosen_wijk(update, context, query, user, args[0], offer_channel=False)


async def _chosen_wijk(
    update: Update,
    context: BotContext,
    query: CallbackQuery,
    user: User,
    slug: str,
    *,
    offer_channel: bool,
) -> None:
    wijk = context.services.areas.wijk(slug)
    if wijk is None:
        await stale_button(update, context)
        return
    await query.answer()
    lang = await lang_for(update, context)
    # Most wijken have no channel: then who the resident is needs no query here.
    if offer_channel and await channels.active_for_wijk(context.services, wijk.slug):
        stored = await residents.get(context.services, user.id)
        subscribed_to = stored.wijk if stored and stored.subscribed else None
        if await _offer_channel(update, context, lang, wijk, subscribed_to=subscribed_to):
            return
    await _continue_here(update, context, lang, user, wijk)


async def _continue_here(
    update: Update, context: BotContext, lang: Lang, user: User, wijk: Wijk
) -> None:
    if wijk.buurten:
        _ = lang.gettext
        # This question replaces the welcome on screen: the 112 line stays with it.
        text = "\n\n".join(
            [
                _("Kies je buurt in {wijk}:").format(wijk=bold(wijk.name)),
                _("Is er nu gevaar? Bel altijd eerst 112."),
            ]
        )
        await show(update, text, keyboards.buurten(lang, wijk))
        return
    joined = await residents.join(context.services, user.id, wijk.slug, None)
    await _show_joined(update, context, lang, joined, keyboards.menu(lang))


@button(2)
async def on_buurt(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """A buurt button (or "the whole wijk"): join."""
    wijk_slug, buurt_slug = args
    joined = await residents.join(
        context.services, user.id, wijk_slug, None if buurt_slug == SKIP_BUURT else buurt_slug
    )
    await query.answer()
    lang = await lang_for(update, context)
    await _show_joined(update, context, lang, joined, keyboards.menu(lang))
