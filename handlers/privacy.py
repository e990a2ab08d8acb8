"""Data rights: /privacy, /mijngegevens (export), /verwijder (erase)."""

from __future__ import annotations

import json
from io import BytesIO

from telegram import CallbackQuery, InputFile, Update, User

from bot import my_data as data_export
from bot import residents
from bot.services import BotContext
from handlers import commands, keyboards
from handlers.common import forget_user, lang_for, show
from handlers.fallback import button, stale_button


async def privacy(update: Update, context: BotContext) -> None:
    """/privacy: what is stored, why, for how long."""
    _ = (await lang_for(update, context)).gettext
    text = "\n\n".join(
        [
            "<b>" + _("Wat bewaren we over jou?") + "</b>",
            _(
                "Je Telegram-ID (een nummer van Telegram, niet je telefoonnummer), je taal, je wijk en buurt, welke berichten je wilt, je stille uren, en wanneer je je aanmeldde en voor het laatst iets stuurde."
            ),
            _("We bewaren geen naam, geen telefoonnummer en niets van wat je typt."),
            "<b>"
            + _("Waarom?")
            + "</b> "
            + _("Om je de berichten van je wijk te sturen, in jouw taal."),
            "<b>"
            + _("Hoe lang?")
            + "</b> "
            + _(
                "Tot je /verwijder stuurt. Na /stop bewaren we je keuzes, zodat je met /start weer meedoet."
            ),
            _(
                "Met /mijngegevens krijg je alles wat we over je weten. Met /verwijder wis je het. We houden alleen tellingen per wijk, zonder namen."
            ),
            "<b>"
            + _("Meldingen (Meld een Vermoeden)")
            + "</b> "
            + _(
                "We bewaren een melding met je antwoorden en foto's. Is de melding klaar? Dan wissen we haar na {n} dagen. Daarna tellen we alleen hoeveel meldingen er waren, per dag, gebied en soort. Zonder naam."
            ).format(n=context.services.settings.report_retention_days),
            _(
                "Bij een anonieme melding bewaren we niets dat naar jou wijst. Nieuws over je melding krijg je via de knop in je eigen gesprek en een geheime code. Na /verwijder blijven meldingen met je naam bestaan, zodat de coördinator ze kan afmaken. Je naam staat er dan niet meer bij."
            ),
            "<b>"
            + _("Wat weet Telegram?")
            + "</b> "
            + _(
                "Telegram zelf ziet dat je met deze bot praat en wat je stuurt, zoals bij elk gesprek in Telegram. Bij de gemeente kan niemand zien wie een anonieme melding deed: de coördinator niet, en ook niet wie een kopie van onze gegevens heeft."
            ),
        ]
    )
    await show(update, text)


async def my_data(update: Update, context: BotContext) -> None:
    """/mijngegevens: everything held about this user, as a JSON file."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    lang = await lang_for(update, context)
    _ = lang.gettext
    document = await data_export.export(context.services, lang, user.id)
    body = json.dumps(document, ensure_ascii=False, indent=2).encode()
    await context.bot.send_document(
        chat.id,
        InputFile(BytesIO(body), filename="buurtbot-mijn-gegevens.json"),
        caption=_("Dit is alles wat Buurtbot over je bewaart."),
    )


async def erase(update: Update, context: BotContext) -> None:
    """/verwijder: ask once, with buttons, before erasing."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    await show(
        update,
        _("Weet je het zeker? We wissen alles over jou. Dat kan niet terug."),
        keyboards.erase_confirm(lang),
    )


@button(1)
async def on_erase(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """The answer to /verwijder: erase for real, or leave everything as it was."""
    if args[0] not in ("yes", "no"):
        await stale_button(update, context)
        return
    lang = await lang_for(update, context)
    _ = lang.gettext
    await query.answer()
    if args[0] == "no":
        await show(update, _("Goed, er is niets gewist."))
        return
    await residents.erase(context.services, user.id)
    await commands.clear_for_chat(context.bot, user.id)
    forget_user(context)
    await show(update, _("Alles is gewist. Met /start kun je opnieuw beginnen."))
