"""Neighbourhood chat groups: registration by a verified group admin, approval, upkeep.

The bot reads no chatter here (privacy mode, and no handler for group text): only its
own membership, its buttons, and the service messages for a migration or a new title.
"""

from __future__ import annotations

import logging
from html import escape

from telegram import (
    CallbackQuery,
    ChatMember,
    ChatMemberRestricted,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
    User,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden

from bot import groups
from bot.callbacks import Button, pack, row_id, unpack
from bot.groups import Group, GroupError, GroupStatus, Team
from bot.i18n import Lang
from bot.roles import Role
from bot.services import BotContext
from handlers import keyboards
from handlers.auth import requires
from handlers.common import lang_for, show
from handlers.fallback import button, stale_button
from handlers.keyboards import bold
from handlers.notify import language_of, tell_coordinators

log = logging.getLogger(__name__)

# Steps of the registration, as the second part of a "grp" button.
START, WIJK, TEAM = "go", "w", "t"
NO_TEAM = "0"
APPROVE, REJECT = "ok", "no"
GROUP_TYPES = (ChatType.GROUP, ChatType.SUPERGROUP)


def _present(member: ChatMember) -> bool:
    if isinstance(member, ChatMemberRestricted):
        return member.is_member
    return member.status in (ChatMember.OWNER, ChatMember.ADMINISTRATOR, ChatMember.MEMBER)


def _register_button(lang: Lang) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    lang.gettext("Groep aanmelden"), callback_data=pack(Button.GROUP, START)
                )
            ]
        ]
    )


async def bot_membership(update: Update, context: BotContext) -> None:
    """The bot was added to, removed from, promoted or demoted in a group."""
    change = update.my_chat_member
    if change is None:
        return
    chat = change.chat
    if not _present(change.new_chat_member):
        await groups.removed(context.services, chat.id)
        return
    if _present(change.old_chat_member):
        return  # promoted or demoted: a bot needs no admin rights in a group
    lang = await lang_for(update, context)  # the adder's: the group itself has no language
    _ = lang.gettext
    if not await groups.is_chat_admin(context.bot, chat.id, change.from_user.id):
        # Anyone may add a bot to a group; only its admins speak for the group.
        await context.bot.send_message(
            chat.id, _("Alleen een beheerder van de groep kan mij toevoegen. Vraag een beheerder.")
        )
        await context.bot.leave_chat(chat.id)
        return
    await groups.added(context.services, chat.id, chat.title or "")
    text = "\n\n".join(
        [
            _("Hallo! Ik ben Buurtbot, de buurtpreventie van {city}.").format(
                city=bold(context.services.areas.city)
            ),
            _("Ik lees niet mee met wat jullie hier schrijven."),
            _("Ik ben geen vervanging van 112. Is er nu gevaar? Bel altijd eerst 112."),
            _("Een beheerder van de groep kan de groep hier aanmelden."),
        ]
    )
    await context.bot.send_message(
        chat.id, text, parse_mode=ParseMode.HTML, reply_markup=_register_button(lang)
    )


def _wijk_buttons(context: BotContext) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(wijk.name, callback_data=pack(Button.GROUP, WIJK, wijk.slug))
        for wijk in context.services.areas.wijken
    ]
    return InlineKeyboardMarkup(keyboards.rows(buttons))


def _team_buttons(lang: Lang, wijk: str, teams: list[Team]) -> InlineKeyboardMarkup:
    _ = lang.gettext
    choices = [
        [
            InlineKeyboardButton(
                team.name, callback_data=pack(Button.GROUP, TEAM, wijk, str(team.id))
            )
        ]
        for team in teams
    ]
    return InlineKeyboardMarkup(
        [
            *choices,
            [
                InlineKeyboardButton(
                    _("Geen team"), callback_data=pack(Button.GROUP, TEAM, wijk, NO_TEAM)
                )
            ],
            [InlineKeyboardButton(_("Andere wijk"), callback_data=pack(Button.GROUP, START))],
        ]
    )


def _parse_register(data: str | None) -> tuple[str, str | None, int | None] | None:
    """(step, wijk, team id) of a "grp" button, or None if it is not one this bot made."""
    parts = unpack(data)
    if parts is None:
        return None
    match parts[1:]:
        case (step,) if step == START:
            return START, None, None
        case (step, wijk) if step == WIJK:
            return WIJK, wijk, None
        case (step, wijk, "0") if step == TEAM:
            return TEAM, wijk, None  # "no team"
        case (step, wijk, team) if step == TEAM and (team_id := row_id(team)) is not None:
            return TEAM, wijk, team_id
    return None


async def on_register(update: Update, context: BotContext) -> None:
    """Buttons of a group's registration (wijk, team), pressed by a group admin."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    parsed = _parse_register(query.data if query else None)
    if query is None or user is None or chat is None or parsed is None:
        await stale_button(update, context)
        return
    if chat.type not in GROUP_TYPES:
        await stale_button(update, context)
        return
    lang = await lang_for(update, context)
    _ = lang.gettext
    # Never trust the button: who administers the group is asked of Telegram each press.
    if not await groups.is_chat_admin(context.bot, chat.id, user.id):
        await query.answer(_("Alleen een beheerder van de groep kan dit doen."), show_alert=True)
        return
    group = await groups.get_by_chat(context.services, chat.id)
    if group is None:
        await stale_button(update, context)
        return
    if group.status != GroupStatus.NEW:
        await query.answer(
            _(groups.ALREADY.get(group.status, groups.ALREADY[GroupStatus.PENDING])),
            show_alert=True,
        )
        return
    step, wijk_slug, team_id = parsed
    wijk = context.services.areas.wijk(wijk_slug) if wijk_slug else None
    if step != START and wijk is None:
        await stale_button(update, context)
        return
    if step == START:
        await query.answer()
        await show(update, _("In welke wijk is deze groep?"), _wijk_buttons(context))
        return
    assert wijk is not None
    if step == WIJK:
        teams = await groups.teams_for(context.services, wijk.slug)
        await query.answer()
        text = _("Hoort de groep bij een buurtpreventieteam in {wijk}?").format(
            wijk=bold(wijk.name)
        )
        await show(update, text, _team_buttons(lang, wijk.slug, teams))
        return
    try:
        registered = await groups.register(
            context.services, chat.id, wijk.slug, team_id, user.id, user.first_name
        )
    except GroupError as error:
        await query.answer()
        await show(update, _(error.key), _register_button(lang))
        return
    await query.answer()
    await show(
        update,
        "\n\n".join(
            [
                _("Bedankt! De groep is aangemeld voor {wijk}.").format(wijk=bold(wijk.name)),
                _("De coördinator kijkt ernaar. Jullie horen het hier."),
            ]
        ),
    )
    await _tell_coordinators_about(context, registered, user)


async def _tell_coordinators_about(
    context: BotContext, registered: groups.Registered, admin: User
) -> None:
    group, team = registered.group, registered.team
    wijk = context.services.areas.wijk(group.wijk or "")
    assert group.id is not None

    def render(lang: Lang) -> tuple[str, InlineKeyboardMarkup]:
        _ = lang.gettext
        lines = [
            _("Een groep wil zich aanmelden: {title}.").format(title=bold(group.title)),
            _("Wijk: {wijk}").format(wijk=escape(wijk.name if wijk else "?")),
            _("Team: {team}").format(team=escape(team.name) if team else _("geen team")),
            _("Aangemeld door beheerder {name}.").format(name=escape(admin.first_name)),
        ]
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton(
                        _("Goedkeuren"),
                        callback_data=pack(Button.GROUP_DECISION, APPROVE, str(group.id)),
                    ),
                    InlineKeyboardButton(
                        _("Afwijzen"),
                        callback_data=pack(Button.GROUP_DECISION, REJECT, str(group.id)),
                    ),
                ]
            ]
        )
        return "\n".join(lines), keyboard

    await tell_coordinators(context, render)


@requires(Role.COORDINATOR)
@button(2)
async def on_decision(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """A coordinator approves or rejects a group."""
    verdict, group_id = args
    known_id = row_id(group_id)
    if verdict not in (APPROVE, REJECT) or known_id is None:
        await stale_button(update, context)
        return
    _ = (await lang_for(update, context)).gettext
    try:
        group = await groups.decide(context.services, known_id, verdict == APPROVE, user.id)
    except GroupError as error:
        known = await groups.get_by_id(context.services, known_id)
        await query.answer()
        title = [bold(known.title)] if known else []
        await show(update, "\n\n".join([*title, _(error.key)]))
        return
    await query.answer()
    done = (
        _("Goedgekeurd: {title}.")
        if group.status == GroupStatus.APPROVED
        else _("Afgewezen: {title}.")
    )
    await show(update, done.format(title=bold(group.title)))
    await _tell_group(context, group)


async def _tell_group(context: BotContext, group: Group) -> None:
    """One line in the group about the decision, in its registering admin's language."""
    lang = await language_of(context.services, group.registered_by or 0)
    _ = lang.gettext
    text = (
        _("De coördinator heeft deze groep goedgekeurd. Welkom!")
        if group.status == GroupStatus.APPROVED
        else _("De coördinator heeft de aanmelding van deze groep afgewezen.")
    )
    try:
        await context.bot.send_message(group.chat_id, text)
    except (BadRequest, Forbidden):
        # Removed or gone meanwhile: the decision stands, the overview shows the group.
        log.info("could not tell a group about a decision")


async def on_migrate(update: Update, context: BotContext) -> None:
    """A group became a supergroup: its registration follows the new chat id."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id is not None:
        await groups.migrated(context.services, message.chat.id, message.migrate_to_chat_id)
    elif message.migrate_from_chat_id is not None:
        await groups.migrated(context.services, message.migrate_from_chat_id, message.chat.id)


async def on_title(update: Update, context: BotContext) -> None:
    """A group's title changed."""
    message = update.effective_message
    if message is None or message.new_chat_title is None or message.chat.type not in GROUP_TYPES:
        return
    await groups.retitled(context.services, message.chat.id, message.new_chat_title)
