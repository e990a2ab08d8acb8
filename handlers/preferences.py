"""/instellingen (formerly /meldingen): which announcement kinds, quiet hours; /stop."""

from __future__ import annotations

from telegram import CallbackQuery, Update, User

from bot import channels, residents
from bot.services import BotContext
from handlers import keyboards
from handlers.common import lang_for, show
from handlers.fallback import button
from handlers.keyboards import bold


async def _render(update: Update, context: BotContext, user_id: int) -> None:
    lang = await lang_for(update, context)
    _ = lang.gettext
    # Only read: after /verwijder, opening the settings must not store the person again.
    stored = await residents.get(context.services, user_id)
    if stored is None:
        await show(update, _(residents.NOTHING_STORED))
        return
    kinds = residents.kinds_of(stored)
    lines = [
        _("Welke berichten wil je krijgen? Tik om aan of uit te zetten."),
        _("Stille uren: dan sturen we je niets. De berichten komen daarna."),
    ]
    if not kinds:
        lines.append(_("Je krijgt nu geen berichten. Zet er één aan, of stop met /stop."))
    if not stored.subscribed:
        lines.append(_("Je volgt nog geen wijk. Tik op /start om mee te doen."))
    channel = (
        await channels.active_for_wijk(context.services, stored.wijk)
        if stored.subscribed and stored.wijk
        else None
    )
    if stored.follows_channel:
        lines.append(_("Je volgt het wijkkanaal: berichten voor de hele wijk komen daar."))
    follows = stored.follows_channel if channel is not None or stored.follows_channel else None
    await show(
        update,
        "\n\n".join(lines),
        keyboards.preferences(
            lang, kinds, residents.quiet_preset_of(stored), follows_channel=follows
        ),
    )


async def show_preferences(update: Update, context: BotContext) -> None:
    """/instellingen: the switches."""
    if update.effective_user is not None:
        await _render(update, context, update.effective_user.id)


@button(1)
async def on_kind(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """A kind switch: flip it and redraw."""
    await residents.toggle_kind(context.services, user.id, args[0])
    await query.answer()
    await _render(update, context, user.id)


@button(1)
async def on_quiet(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """A quiet-hours button: choose that preset and redraw."""
    preset = int(args[0]) if args[0].isdigit() else -1
    await residents.set_quiet_preset(context.services, user.id, preset)
    await query.answer()
    await _render(update, context, user.id)


async def stop(update: Update, context: BotContext) -> None:
    """/stop: no more messages; the choices stay so /start brings them back."""
    user = update.effective_user
    if user is None:
        return
    _ = (await lang_for(update, context)).gettext
    stored = await residents.leave(context.services, user.id)
    if stored is None:
        await show(update, _("Je krijgt al geen berichten. Met /start doe je weer mee."))
        return
    wijk = context.services.areas.wijk(stored.wijk) if stored.wijk else None
    await show(
        update,
        "\n\n".join(
            [
                _("Je krijgt geen berichten meer over {wijk}.").format(
                    wijk=bold(wijk.name if wijk else "?")
                ),
                _("Met /start doe je weer mee. Alles wissen? Stuur /verwijder."),
            ]
        ),
    )
