"""Roles by invitation: /uitnodigen makes a link, /start inv-<code> uses it, /rollen ends roles."""

from __future__ import annotations

from html import escape

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update, User

from bot import coordinator_notes, roles, teams
from bot.callbacks import Button, pack, unpack
from bot.i18n import N_, Lang
from bot.roles import (
    INVITE_PREFIX,
    NEW_TEAM_SCOPE,
    ROLE_BY_CODE,
    ROLE_CODES,
    ROLE_LABELS,
    Role,
    RoleError,
)
from bot.services import BotContext
from handlers import commands, keyboards, notify
from handlers.auth import requires
from handlers.common import lang_for, show
from handlers.fallback import button, stale_button
from handlers.keyboards import bold

USES = ("1", "5", "25")
DAYS = ("1", "7", "30")
NO_SCOPE = "x"


def scope_label(
    lang: Lang, context: BotContext, scope: str | None, team_names: dict[int, str]
) -> str:
    """A scope as a person reads it: "Binnenstad", "team De Uilen", "BZOB"."""
    _ = lang.gettext
    if not scope:
        return ""
    kind, _sep, key = scope.partition(":")
    areas = context.services.areas
    if kind == "wijk":
        wijk = areas.wijk(key)
        return wijk.name if wijk else key
    if kind == "park":
        park = areas.park(key)
        return park.name if park else key
    if kind == "team":
        if scope == NEW_TEAM_SCOPE:
            return _("een nieuw team")
        return _("team {name}").format(name=team_names.get(int(key), key) if key.isdigit() else key)
    if kind == "group":
        return _("een groep")
    return key


def _to_scope(code: str) -> str | None:
    """Callback scope code -> stored scope ("w-binnenstad" -> "wijk:binnenstad")."""
    kinds = {"w": "wijk", "t": "team", "p": "park"}
    kind, _sep, key = code.partition("-")
    return f"{kinds[kind]}:{key}" if kind in kinds and key else None


# The question names only what its buttons offer: business parks for an entrepreneur.
SCOPE_QUESTIONS: dict[Role, str] = {
    Role.WIJKBOA: N_("Voor welke wijk?"),
    Role.ENTREPRENEUR: N_("Voor welk bedrijventerrein?"),
    Role.TEAM_CONTACT: N_("Voor welk team?"),
}


async def _scope_choices(context: BotContext, role: Role) -> list[tuple[str, str]]:
    """(label, callback scope code) for the scopes a role can have."""
    areas = context.services.areas
    if role == Role.WIJKBOA:
        return [(wijk.name, f"w-{wijk.slug}") for wijk in areas.wijken]
    if role == Role.ENTREPRENEUR:
        return [(park.name, f"p-{park.slug}") for park in areas.business_parks]
    if role == Role.TEAM_CONTACT:
        return [(team.name, f"t-{team.id}") for team in await teams.invitable(context.services)]
    return []


@requires(Role.COORDINATOR)
async def invite(update: Update, context: BotContext) -> None:
    """/uitnodigen: which role? Then its scope, how many uses, how long valid."""
    lang = await lang_for(update, context)
    _ = lang.gettext
    mine = context.roles
    allowed = mine.invitable() if mine else ()
    buttons = [
        InlineKeyboardButton(
            _(ROLE_LABELS[role]), callback_data=pack(Button.INVITE, ROLE_CODES[role])
        )
        for role in allowed
    ]
    await show(
        update,
        _("Voor welke rol wil je iemand uitnodigen?"),
        InlineKeyboardMarkup(keyboards.rows(buttons, 1)),
    )


@requires(Role.COORDINATOR)
async def on_invite(update: Update, context: BotContext) -> None:
    """One step of /uitnodigen; every step re-checks that this role may be handed out."""
    query, user = update.callback_query, update.effective_user
    parts = unpack(query.data if query else None)
    if query is None or user is None or parts is None or not 2 <= len(parts) <= 5:
        await stale_button(update, context)
        return
    role = ROLE_BY_CODE.get(parts[1])
    mine = context.roles
    if role is None or mine is None or role not in mine.invitable():
        await stale_button(update, context)
        return
    lang = await lang_for(update, context)
    _ = lang.gettext
    chosen = list(parts[1:])
    if len(chosen) == 1:
        choices = await _scope_choices(context, role)
        if role == Role.TEAM_CONTACT:
            choices.insert(0, (_("Een nieuw team"), "t-new"))
        if role == Role.COORDINATOR:
            choices = [("-", NO_SCOPE)]
        if not choices:
            await query.answer(_("Er is nog niets om uit te kiezen."), show_alert=True)
            return
        if choices == [("-", NO_SCOPE)]:
            chosen.append(NO_SCOPE)
        else:
            await query.answer()
            buttons = [
                InlineKeyboardButton(label, callback_data=pack(Button.INVITE, *chosen, code))
                for label, code in choices
            ]
            await show(
                update, _(SCOPE_QUESTIONS[role]), InlineKeyboardMarkup(keyboards.rows(buttons))
            )
            return
    if len(chosen) == 2:
        await query.answer()
        buttons = [
            InlineKeyboardButton(n, callback_data=pack(Button.INVITE, *chosen, n)) for n in USES
        ]
        await show(
            update, _("Hoe vaak mag de link gebruikt worden?"), InlineKeyboardMarkup([buttons])
        )
        return
    if len(chosen) == 3:
        await query.answer()
        buttons = [
            InlineKeyboardButton(
                _("{n} dagen").format(n=n) if n != "1" else _("1 dag"),
                callback_data=pack(Button.INVITE, *chosen, n),
            )
            for n in DAYS
        ]
        await show(update, _("Hoe lang is de link geldig?"), InlineKeyboardMarkup([buttons]))
        return
    _role, scope_code, uses, days = chosen
    if uses not in USES or days not in DAYS:
        await stale_button(update, context)
        return
    scope = NEW_TEAM_SCOPE if scope_code == "t-new" else _to_scope(scope_code)
    if scope_code != NO_SCOPE and scope is None:
        await stale_button(update, context)
        return
    try:
        made = await roles.create_invite(
            context.services, mine, user.id, role, scope, int(uses), int(days)
        )
    except RoleError as error:
        await query.answer(_(error.key), show_alert=True)
        return
    await query.answer()
    link = f"https://t.me/{context.bot.username}?start={INVITE_PREFIX}{made.code}"
    names = await _team_names(context)
    what = _(ROLE_LABELS[role]) + (
        f" ({escape(scope_label(lang, context, scope, names))})" if scope else ""
    )
    await show(
        update,
        "\n\n".join(
            [
                _("Uitnodiging voor: {what}").format(what=bold(what)),
                _("Aantal keer te gebruiken: {uses}. Dagen geldig: {days}.").format(
                    uses=uses, days=days
                ),
                escape(link),
                _("Stuur deze link alleen naar wie de rol moet krijgen."),
            ]
        ),
    )


async def _team_names(context: BotContext) -> dict[int, str]:
    living = await teams.invitable(context.services)
    return {team.id: team.name for team in living if team.id is not None}


async def redeem(update: Update, context: BotContext, code: str) -> None:
    """/start inv-<code>: take the role the link offers."""
    user = update.effective_user
    if user is None:
        return
    lang = await lang_for(update, context)
    _ = lang.gettext
    try:
        held = await roles.redeem(context.services, code, user.id, user.first_name)
    except RoleError as error:
        await show(update, _(error.key))
        return
    role = Role(held.role)
    names = await _team_names(context)
    what = _(ROLE_LABELS[role])
    if held.scope:
        what += f" ({scope_label(lang, context, held.scope, names)})"
    await commands.set_for_chat(context.bot, context.services, user.id, lang.code)

    def used(reader: Lang) -> str:
        label = reader.gettext(ROLE_LABELS[role])
        if held.scope:
            label += f" ({scope_label(reader, context, held.scope, names)})"
        return label

    await coordinator_notes.invite_used(context.services, used, user.id)
    lines = [
        _("Welkom! Je rol: {role}.").format(role=bold(what)),
        _("Kijk bij /help wat je kunt doen."),
    ]
    keyboard = None
    if held.scope == NEW_TEAM_SCOPE:
        lines.append(_("Meld je team aan met /team."))
    if role == Role.ENTREPRENEUR:
        lines.append(_("Iets verdachts gezien? Meld het met /melding of met de knop."))
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        _("Meld een vermoeden"), callback_data=pack(Button.MENU, "melding")
                    )
                ]
            ]
        )
    await show(update, "\n\n".join(lines), keyboard)


@requires(Role.COORDINATOR)
async def list_roles(update: Update, context: BotContext) -> None:
    """/rollen: who holds which role, each with a button to end it."""
    await _show_roles(update, context)


async def _show_roles(update: Update, context: BotContext) -> None:
    lang = await lang_for(update, context)
    _ = lang.gettext
    grants = await roles.holders(context.services)
    names = await _team_names(context)
    if not grants:
        await show(update, _("Er zijn nog geen rollen uitgedeeld."))
        return
    lines = [bold(_("Rollen"))]
    buttons = []
    senders = {(g.user_id, g.scope) for g in grants if g.role == Role.TEAM_SENDER}
    for number, held in enumerate(grants, start=1):
        scope = scope_label(lang, context, held.scope, names)
        who = escape(held.name or str(held.user_id))
        lines.append(
            f"{number}. {who}: {_(ROLE_LABELS[Role(held.role)])}"
            + (f" ({escape(scope)})" if scope else "")
        )
        buttons.append(
            InlineKeyboardButton(
                _("Intrekken {n}").format(n=number), callback_data=pack(Button.REVOKE, str(held.id))
            )
        )
        if held.role == Role.TEAM_CONTACT and (held.user_id, held.scope) not in senders:
            buttons.append(
                InlineKeyboardButton(
                    _("Mag berichten sturen {n}").format(n=number),
                    callback_data=pack(Button.MAY_SEND, str(held.id)),
                )
            )
    await show(update, "\n".join(lines), InlineKeyboardMarkup(keyboards.rows(buttons, 2)))


@requires(Role.COORDINATOR)
@button(1, numeric=True)
async def on_revoke(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """End one role; the holder is told and their menu shrinks."""
    _ = (await lang_for(update, context)).gettext
    if context.roles is None:
        await stale_button(update, context)
        return
    try:
        ended = await roles.revoke(context.services, context.roles, user.id, int(args[0]))
    except RoleError as error:
        await query.answer(_(error.key), show_alert=True)
        return
    await query.answer(_("Ingetrokken."))
    role = Role(ended.role)
    await commands.refresh_chat(context.bot, context.services, ended.user_id)

    def render(lang: Lang) -> tuple[str, None]:
        return lang.gettext(ENDED).format(role=bold(lang.gettext(ROLE_LABELS[role]))), None

    await notify.tell(context, ended.user_id, render)
    await _show_roles(update, context)


@requires(Role.COORDINATOR)
@button(1, numeric=True)
async def on_allow_sending(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """Let a team contact send announcements to their team's wijk; they are told."""
    _ = (await lang_for(update, context)).gettext
    try:
        held = await roles.allow_sending(context.services, user.id, int(args[0]))
    except RoleError as error:
        await query.answer(_(error.key), show_alert=True)
        return
    await query.answer(_("Toegestaan."))
    await commands.refresh_chat(context.bot, context.services, held.user_id)

    def render(lang: Lang) -> tuple[str, None]:
        return lang.gettext(MAY_SEND), None

    await notify.tell(context, held.user_id, render)
    await _show_roles(update, context)


MAY_SEND = N_(
    "Je mag nu berichten sturen aan de wijk van je team. Begin met /bericht. De coördinator kan dit weer intrekken."
)
ENDED = N_("Je rol als {role} is gestopt. Vragen? Stel ze aan de coördinator.")
