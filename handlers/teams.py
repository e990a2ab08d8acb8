"""/team: a team contact registers and keeps up their buurtpreventieteam; coordinators decide."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from html import escape
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update, User

from bot import conversations, teams
from bot.callbacks import Button, pack, row_id
from bot.conversations import Conversation
from bot.i18n import N_, Lang
from bot.roles import Role
from bot.services import BotContext
from bot.teams import Draft, Team, TeamError, TeamStatus, TeamStep
from handlers import keyboards, notify
from handlers.auth import requires
from handlers.common import lang_for, show
from handlers.fallback import button, stale_button
from handlers.keyboards import bold

FLOW = "team"
STATUS_LABELS = {
    TeamStatus.PENDING: N_("wacht op goedkeuring"),
    TeamStatus.APPROVED: N_("actief"),
    TeamStatus.PAUSED: N_("gepauzeerd"),
    TeamStatus.REJECTED: N_("afgewezen"),
    TeamStatus.DISSOLVED: N_("gestopt"),
}
# The typed questions; the wijk and the confirmation are asked with buttons.
QUESTIONS = {
    TeamStep.NAME: N_("Hoe heet je team?"),
    TeamStep.AREA: N_("Welke buurten of straten lopen jullie? Schrijf het kort op."),
    TeamStep.CONTACT: N_(
        "Hoe kan de coördinator jou bereiken? Bijvoorbeeld een telefoonnummer of e-mailadres."
    ),
    TeamStep.EDIT_NAME: N_("Wat is de nieuwe naam van het team?"),
    TeamStep.EDIT_AREA: N_("Welke buurten of straten lopen jullie nu?"),
    TeamStep.EDIT_CONTACT: N_("Hoe kan de coördinator jou nu bereiken?"),
}


def card(lang: Lang, team: Team, wijk_name: str, *, with_status: bool = True) -> str:
    _ = lang.gettext
    lines = [
        bold(team.name),
        _("Wijk: {wijk}").format(wijk=escape(wijk_name)),
        _("Gebied: {area}").format(area=escape(team.area)),
        _("Contact: {contact}").format(contact=escape(team.contact_info)),
    ]
    if with_status:
        lines.append(
            _("Status: {status}").format(status=_(STATUS_LABELS.get(team.status, team.status)))
        )
    return "\n".join(lines)


def manage_keyboard(lang: Lang, team: Team) -> InlineKeyboardMarkup:
    _ = lang.gettext
    tid = str(team.id)
    rows = [
        [
            InlineKeyboardButton(_("Naam"), callback_data=pack(Button.TEAM, "name", tid)),
            InlineKeyboardButton(_("Gebied"), callback_data=pack(Button.TEAM, "area", tid)),
            InlineKeyboardButton(_("Contact"), callback_data=pack(Button.TEAM, "contact", tid)),
        ]
    ]
    if team.status == TeamStatus.APPROVED:
        rows.append(
            [InlineKeyboardButton(_("Pauzeren"), callback_data=pack(Button.TEAM, "pause", tid))]
        )
    elif team.status == TeamStatus.PAUSED:
        rows.append(
            [InlineKeyboardButton(_("Hervatten"), callback_data=pack(Button.TEAM, "resume", tid))]
        )
    rows.append(
        [InlineKeyboardButton(_("Team stoppen"), callback_data=pack(Button.TEAM, "dissolve", tid))]
    )
    return InlineKeyboardMarkup(rows)


def decision_keyboard(lang: Lang, team_id: int) -> InlineKeyboardMarkup:
    _ = lang.gettext
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    _("Goedkeuren"), callback_data=pack(Button.TEAM_DECISION, "ok", str(team_id))
                ),
                InlineKeyboardButton(
                    _("Afwijzen"), callback_data=pack(Button.TEAM_DECISION, "no", str(team_id))
                ),
            ]
        ]
    )


async def _ask(
    update: Update, context: BotContext, user_id: int, step: TeamStep, data: dict[str, str]
) -> None:
    await conversations.put(context.services, user_id, FLOW, step, data)
    lang = await lang_for(update, context)
    _ = lang.gettext
    if step == TeamStep.WIJK:
        await show(update, _("In welke wijk loopt het team?"), _wijk_keyboard(context))
        return
    await show(update, "\n\n".join([_(QUESTIONS[step]), _("Stoppen? Stuur /annuleer.")]))


def _wijk_keyboard(context: BotContext) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(wijk.name, callback_data=pack(Button.TEAM, "wijk", wijk.slug))
        for wijk in context.services.areas.wijken
    ]
    return InlineKeyboardMarkup(keyboards.rows(buttons))


async def _show_team(update: Update, context: BotContext, team: Team) -> None:
    lang = await lang_for(update, context)
    wijk = context.services.areas.wijk(team.wijk)
    await show(
        update, card(lang, team, wijk.name if wijk else team.wijk), manage_keyboard(lang, team)
    )


@requires(Role.TEAM_CONTACT)
async def team(update: Update, context: BotContext) -> None:
    """/team: your team's card with what you can change, or the registration."""
    user = update.effective_user
    if user is None:
        return
    own = await teams.teams_of(context.services, user.id)
    if own:
        await _show_team(update, context, own[0])
        return
    await _ask(update, context, user.id, TeamStep.NAME, {})


def _step_of(state: Conversation) -> TeamStep | None:
    """The stored step, or None for one this version does not know (a stale row)."""
    try:
        return TeamStep(state.step)
    except ValueError:
        return None


async def on_text(update: Update, context: BotContext, state: Conversation) -> None:
    """A typed answer in the team conversation: the step's own function takes it."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or not message.text:
        return
    step = _step_of(state)
    answer = TYPED.get(step) if step is not None else None
    _ = (await lang_for(update, context)).gettext
    if step is None or answer is None:
        await show(update, _("Gebruik de knoppen hierboven, of stuur /annuleer."))
        return
    try:
        data = conversations.data_of(state)
        await answer(Typed(update, context, user.id, step, data, message.text))
    except TeamError as error:
        await show(update, _(error.key))


@dataclass(frozen=True)
class Typed:
    """One typed answer, with where it was given."""

    update: Update
    context: BotContext
    user_id: int
    step: TeamStep
    data: dict[str, str]
    text: str


async def _answer_name(typed: Typed) -> None:
    typed.data["name"] = teams.clean_name(typed.text)
    await _ask(typed.update, typed.context, typed.user_id, TeamStep.WIJK, typed.data)


async def _answer_area(typed: Typed) -> None:
    typed.data["area"] = teams.clean_text(typed.text, teams.AREA_LIMIT)
    await _ask(typed.update, typed.context, typed.user_id, TeamStep.CONTACT, typed.data)


async def _answer_contact(typed: Typed) -> None:
    typed.data["contact_info"] = teams.clean_text(typed.text, teams.CONTACT_LIMIT)
    await _confirm(typed.update, typed.context, typed.user_id, typed.data)


async def _answer_edit(typed: Typed) -> None:
    """One field of an existing team changed; the card shows the result."""
    update, context, field = typed.update, typed.context, teams.EDITS[typed.step]
    team_id = int(typed.data.get("team_id", 0))
    changed = await teams.edit(context.services, typed.user_id, team_id, field, typed.text)
    await _finish(context, typed.user_id)
    _ = (await lang_for(update, context)).gettext
    await show(update, _("Opgeslagen."))
    await _show_team(update, context, changed)


Answer = Callable[[Typed], Coroutine[Any, Any, None]]
# The steps answered by typing; the others wait for a button.
TYPED: dict[TeamStep, Answer] = {
    TeamStep.NAME: _answer_name,
    TeamStep.AREA: _answer_area,
    TeamStep.CONTACT: _answer_contact,
    TeamStep.EDIT_NAME: _answer_edit,
    TeamStep.EDIT_AREA: _answer_edit,
    TeamStep.EDIT_CONTACT: _answer_edit,
}


async def _confirm(update: Update, context: BotContext, user_id: int, data: dict[str, str]) -> None:
    await conversations.put(context.services, user_id, FLOW, TeamStep.CONFIRM, data)
    lang = await lang_for(update, context)
    _ = lang.gettext
    draft = Team(
        name=data["name"], wijk=data["wijk"], area=data["area"], contact_info=data["contact_info"]
    )
    wijk = context.services.areas.wijk(draft.wijk)
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(_("Aanmelden"), callback_data=pack(Button.TEAM, "send", "-")),
                InlineKeyboardButton(_("Opnieuw"), callback_data=pack(Button.TEAM, "restart", "-")),
            ]
        ]
    )
    summary = card(lang, draft, wijk.name if wijk else draft.wijk, with_status=False)
    await show(update, "\n\n".join([_("Klopt dit?"), summary]), keyboard)


async def _finish(context: BotContext, user_id: int) -> None:
    await conversations.clear(context.services, user_id)


async def _state(context: BotContext, user_id: int) -> Conversation | None:
    state = await conversations.get(context.services, user_id)
    return state if state is not None and state.flow == FLOW else None


@requires(Role.TEAM_CONTACT)
@button(2)
async def on_team(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """The team buttons: a step of the registration, or a change to your team."""
    action, value = args
    lang = await lang_for(update, context)
    _ = lang.gettext
    try:
        if action in ("wijk", "send", "restart"):
            await _registration_button(update, context, query, user, action, value)
            return
        team_id = row_id(value)
        if team_id is None:
            await stale_button(update, context)
            return
        if action in ("name", "area", "contact"):
            await teams.own_team(context.services, user.id, team_id)
            await query.answer()
            await _ask(update, context, user.id, TeamStep(f"edit-{action}"), {"team_id": value})
        elif action in ("pause", "resume"):
            changed = await teams.pause(context.services, user.id, team_id, action == "pause")
            await query.answer()
            await _show_team(update, context, changed)
        elif action == "dissolve":
            await teams.own_team(context.services, user.id, team_id)
            await query.answer()
            confirm = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            _("Ja, stop het team"), callback_data=pack(Button.TEAM, "gone", value)
                        ),
                        InlineKeyboardButton(
                            _("Nee"), callback_data=pack(Button.TEAM, "keep", value)
                        ),
                    ]
                ]
            )
            await show(
                update,
                _("Weet je het zeker? Dan stopt het team en verdwijnt het uit de bot."),
                confirm,
            )
        elif action == "gone":
            ended = await teams.dissolve(context.services, user.id, team_id)
            await query.answer()
            await show(update, _("Het team {team} is gestopt.").format(team=bold(ended.name)))
        elif action == "keep":
            await query.answer()
            await _show_team(
                update, context, await teams.own_team(context.services, user.id, team_id)
            )
        else:
            await stale_button(update, context)
    except TeamError as error:
        await query.answer(_(error.key), show_alert=True)


async def _registration_button(
    update: Update, context: BotContext, query: CallbackQuery, user: User, action: str, value: str
) -> None:
    state = await _state(context, user.id)
    if state is None:
        await stale_button(update, context)
        return
    data = conversations.data_of(state)
    _ = (await lang_for(update, context)).gettext
    if action == "wijk" and state.step == TeamStep.WIJK and context.services.areas.wijk(value):
        await query.answer()
        data["wijk"] = value
        await _ask(update, context, user.id, TeamStep.AREA, data)
    elif action == "restart":
        await query.answer()
        await _ask(update, context, user.id, TeamStep.NAME, {})
    elif action == "send" and state.step == TeamStep.CONFIRM:
        created = await teams.register(
            context.services,
            user.id,
            Draft(**{k: data[k] for k in ("name", "wijk", "area", "contact_info")}),
        )
        await _finish(context, user.id)
        await query.answer()
        await show(update, _("Aangemeld! De coördinator kijkt ernaar. Je hoort het hier."))
        await _tell_coordinators(context, created)
    else:
        await stale_button(update, context)


async def _tell_coordinators(context: BotContext, created: Team) -> None:
    wijk = context.services.areas.wijk(created.wijk)

    def render(lang: Lang) -> tuple[str, InlineKeyboardMarkup]:
        _ = lang.gettext
        text = "\n\n".join(
            [_("Nieuw team aangemeld:"), card(lang, created, wijk.name if wijk else created.wijk)]
        )
        return text, decision_keyboard(lang, created.id or 0)

    await notify.tell_coordinators(context, render)


@requires(Role.COORDINATOR)
@button(2)
async def on_decision(
    update: Update, context: BotContext, query: CallbackQuery, user: User, args: tuple[str, ...]
) -> None:
    """A coordinator approves or rejects a pending team; its contact is told."""
    verdict, value = args
    _ = (await lang_for(update, context)).gettext
    team_id = row_id(value)
    if verdict not in ("ok", "no") or team_id is None:
        await stale_button(update, context)
        return
    try:
        decided = await teams.decide(context.services, user.id, team_id, verdict == "ok")
    except TeamError as error:
        await query.answer(_(error.key), show_alert=True)
        return
    await query.answer()
    approved = decided.status == TeamStatus.APPROVED
    done = _("Goedgekeurd: {team}.") if approved else _("Afgewezen: {team}.")
    await show(update, done.format(team=bold(decided.name)))
    if decided.contact_user_id is not None:

        def render(lang: Lang) -> tuple[str, None]:
            _ = lang.gettext
            told = (
                _("Goed nieuws: je team {team} is goedgekeurd. Met /team beheer je het.")
                if approved
                else _("Je team {team} is niet goedgekeurd. Vragen? Stel ze aan de coördinator.")
            )
            return told.format(team=bold(decided.name)), None

        await notify.tell(context, decided.contact_user_id, render)
