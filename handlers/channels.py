"""Wijk channels: linked by a coordinator, posted to by the bot, followed anonymously."""

from __future__ import annotations

from telegram import (
    CallbackQuery,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
    User,
)

from bot import channels, residents
from bot.callbacks import Button, pack, row_id
from bot.channels import Channel, ChannelStatus
from bot.i18n import N_, Lang
from bot.roles import Role, roles_of
from bot.services import BotContext
from handlers import keyboards, preferences
from handlers.auth import requires
from handlers.common import lang_for, show
from handlers.fallback import button, stale_button
from handlers.keyboards import FOLLOW_OFF, FOLLOW_ON, FROM_JOINED, FROM_PREFERENCES, bold
from handlers.notify import Render, tell, tell_coordinators


def _link_message(context: BotContext, channel: Channel) -> Render:
    wijken = context.services.areas.wijken

    def render(lang: Lang) -> tuple[str, InlineKeyboardMarkup]:
        _ = lang.gettext
        lines = [_("Ik ben nu beheerder van het kanaal {title}.").format(title=bold(channel.title))]
        if channel.url is None:
            lines.append(
                _("Het kanaal heeft nog geen openbare naam of uitnodigingslink. Maak die eerst.")
            )
        lines.append(_("Aan welke wijk koppel ik het kanaal?"))
        buttons = [
            InlineKeyboardButton(
                wijk.name, callback_data=pack(Button.CHANNEL, str(channel.id), wijk.slug)
            )
            for wijk in wijken
        ]
        return "\n\n".join(lines), InlineKeyboardMarkup(keyboards.rows(buttons))

    return render


def _plain(text: str, **values: str) -> Render:
    """A one-line notification, translated for each recipient."""

    def render(lang: Lang) -> tuple[str, None]:
        return lang.gettext(text).format(**values), None

    return render


async def bot_membership(update: Update, context: BotContext) -> None:
    """The bot was made administrator of, or removed from, a channel."""
    change = update.my_chat_member
    if change is None:
        return
    chat, new, adder = change.chat, change.new_chat_member, change.from_user
    stored = await channels.get_by_chat(context.services, chat.id)
    working = stored is not None and stored.status != ChannelStatus.INACTIVE
    if working and not channels.can_post(new):
        gone = await channels.deactivate(context.services, chat.id)
        if gone is not None:
            await tell_coordinators(
                context,
                _plain(
                    N_(
                        "Ik kan niet meer posten in het kanaal {title}. Maak mij weer beheerder met het recht om berichten te plaatsen."
                    ),
                    title=bold(gone.title),
                ),
            )
        return
    if new.status in (ChatMember.LEFT, ChatMember.BANNED):
        return
    mine = await roles_of(context.services, adder.id)
    if not mine.has(Role.COORDINATOR):
        if working:
            return  # the owner changed another right; the bot still posts
        await context.bot.leave_chat(chat.id)
        await tell(
            context,
            adder.id,
            _plain(N_("Alleen de coördinator kan mij aan een wijkkanaal koppelen.")),
        )
        return
    if not channels.can_post(new):
        await tell(
            context,
            adder.id,
            _plain(
                N_(
                    "Maak mij beheerder van het kanaal {title}, met het recht om berichten te plaatsen."
                ),
                title=bold(chat.title or ""),
            ),
        )
        return
    if stored is not None and stored.status == ChannelStatus.ACTIVE:
        return  # already linked and posting; nothing to ask
    url = await channels.fetch_url(context.bot, chat.id)
    channel = await channels.added(context.services, chat.id, chat.title or "", url)
    await tell(context, adder.id, _link_message(context, channel))


@requires(Role.COORDINATOR)
@button(2)
async def on_link(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """A coordinator links a channel to a wijk (buttons in the private chat)."""
    channel_id, wijk_slug = args
    wijk = context.services.areas.wijk(wijk_slug)
    known_id = row_id(channel_id)
    channel = await channels.get(context.services, known_id) if known_id is not None else None
    if wijk is None or channel is None:
        await stale_button(update, context)
        return
    _ = (await lang_for(update, context)).gettext
    if channel.status == ChannelStatus.INACTIVE:
        await query.answer(
            _("Ik ben geen beheerder meer van dit kanaal. Voeg mij opnieuw toe."), show_alert=True
        )
        return
    if channel.url is None:
        # Made public, or given a link, since the bot was added: Telegram knows, ask again.
        url = await channels.fetch_url(context.bot, channel.chat_id)
        if url is None:
            await query.answer(
                _("Het kanaal heeft nog geen openbare naam of uitnodigingslink. Maak die eerst."),
                show_alert=True,
            )
            return
        await channels.set_url(context.services, channel.id or 0, url)
    linked = await channels.link(context.services, channel.id or 0, wijk.slug, user.id)
    if linked is None:
        await query.answer(
            _("Ik ben geen beheerder meer van dit kanaal. Voeg mij opnieuw toe."), show_alert=True
        )
        return
    await query.answer()
    lines = [
        _("Gekoppeld: {title} is nu het kanaal van {wijk}.").format(
            title=bold(linked.channel.title), wijk=bold(wijk.name)
        )
    ]
    if linked.replaced is not None:
        lines.append(
            _("Het vorige kanaal {title} is niet meer gekoppeld.").format(
                title=bold(linked.replaced.title)
            )
        )
    lines.append(
        _("Nieuwe bewoners van {wijk} zien het kanaal nu bij /start.").format(wijk=bold(wijk.name))
    )
    await show(update, "\n\n".join(lines))


@button(2)
async def on_follow(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """A subscriber says they follow (or no longer follow) their wijk channel."""
    choice, where = args
    if choice not in (FOLLOW_ON, FOLLOW_OFF) or where not in (FROM_JOINED, FROM_PREFERENCES):
        await stale_button(update, context)
        return
    stored = await residents.get(context.services, user.id)
    if stored is None or not stored.subscribed or stored.wijk is None:
        await stale_button(update, context)
        return
    channel = await channels.active_for_wijk(context.services, stored.wijk)
    if choice == FOLLOW_ON and channel is None:
        await stale_button(update, context)
        return
    await residents.set_follows_channel(context.services, user.id, choice == FOLLOW_ON)
    await query.answer()
    if where == FROM_PREFERENCES:
        await preferences.show_preferences(update, context)
        return
    lang = await lang_for(update, context)
    _ = lang.gettext
    text = "\n\n".join(
        [
            _("Goed. Berichten voor de hele wijk krijg je nu alleen via het kanaal."),
            _("Hier krijg je alleen nog berichten die voor jou zelf zijn."),
            _("Terugdraaien kan met /instellingen."),
        ]
    )
    await show(update, text, keyboards.menu(lang))
