"""Where a typed answer or a pressed button of a broadcast conversation goes: one table
for the steps, one for the buttons that name a broadcast."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import CallbackQuery, Update, User

from bot import broadcasts
from bot.broadcasts import (
    AUDIENCE_ACTIONS,
    BROADCAST_ACTIONS,
    KINDS,
    Action,
    BroadcastError,
    Composing,
    Step,
)
from bot.callbacks import row_id, unpack
from bot.roles import Role
from bot.services import BotContext
from handlers import broadcast_changes as changes
from handlers import broadcast_compose as composing
from handlers.auth import refuse, requires
from handlers.common import explain, lang_for, show
from handlers.fallback import stale_button

TextStep = Callable[[Update, BotContext, int, Composing, str], Awaitable[None]]
ButtonStep = Callable[[Update, BotContext, CallbackQuery, int, int], Awaitable[None]]

TEXT_STEPS: dict[Step, TextStep] = {
    Step.FIELD: composing.on_field,
    Step.WHEN: changes.on_when,
    Step.MOVE: changes.on_move,
    Step.RESULT: changes.on_result,
    Step.REASON: changes.on_reason,
    Step.NEWTIME: changes.on_new_time,
}
BROADCAST_STEPS: dict[Action, ButtonStep] = {
    Action.SEND: changes.send_now,
    Action.LATE: changes.send_now,
    Action.PLAN: changes.plan_once,
    Action.WEEK: changes.plan_weekly,
    Action.DROP: changes.drop,
    Action.CANCEL: changes.drop,
    Action.EDIT: changes.edit,
    Action.MOVE: changes.ask_move,
    Action.OFF: changes.ask_reason,
    Action.MOVED: changes.ask_new_time,
    Action.CHANGE: changes.send_change,
    Action.KEEP: changes.keep_change,
}
assert set(BROADCAST_STEPS) == BROADCAST_ACTIONS


async def on_text(update: Update, context: BotContext, _row: object = None) -> None:
    """A typed answer while composing: a field, a moment, a number, a reason, a new time."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or not message.text:
        return
    lang = await lang_for(update, context)
    state = await broadcasts.composing(context.services, user.id)
    step = TEXT_STEPS.get(state.step) if state is not None else None
    if state is None or step is None:
        await show(update, lang.gettext("Gebruik de knoppen hierboven, of stuur /annuleer."))
        return
    try:
        await step(update, context, user.id, state, message.text)
    except BroadcastError as error:
        await show(update, explain(lang, error))


@requires(Role.COORDINATOR, Role.TEAM_SENDER)
async def on_button(update: Update, context: BotContext) -> None:
    """Every button of composing, scheduling and changing broadcasts.

    A team contact's presses are checked here on the server side, forged ones too: only
    their own wijk as audience, only their own broadcasts to send, move or cancel.
    """
    query, user = update.callback_query, update.effective_user
    parts = unpack(query.data if query else None)
    if query is None or user is None or parts is None or len(parts) != 3:
        await stale_button(update, context)
        return
    action = Action(parts[1]) if parts[1] in Action.__members__.values() else None
    value, lang = parts[2], await lang_for(update, context)
    try:
        if action == Action.KIND and value in KINDS:
            await composing.ask_field(update, context, user.id, Composing(Step.FIELD, kind=value))
            await query.answer()
        elif action in AUDIENCE_ACTIONS:
            await composing.on_audience(update, context, query, user, action, value)
        elif action == Action.SKIP:
            await _on_skip(update, context, query, user)
        elif action in BROADCAST_ACTIONS and (broadcast_id := row_id(value)) is not None:
            if not await broadcasts.may_touch(
                context.services, user.id, broadcast_id, context.roles
            ):
                await refuse(update, context)
                return
            await BROADCAST_STEPS[action](update, context, query, user.id, broadcast_id)
        else:
            await stale_button(update, context)
    except BroadcastError as error:
        await query.answer(explain(lang, error), show_alert=True)


async def _on_skip(update: Update, context: BotContext, query: CallbackQuery, user: User) -> None:
    """ "Niets toevoegen" under an optional field, "Zonder reden" under the reason."""
    state = await broadcasts.composing(context.services, user.id)
    if state is not None and state.step == Step.FIELD and state.spec and state.spec.optional:
        state.fields[state.spec.name] = ""
        await composing.next_field(update, context, user.id, state)
    elif state is not None and state.step == Step.REASON:
        await changes.on_reason(update, context, user.id, state, broadcasts.SKIP)
    else:
        await stale_button(update, context)
        return
    await query.answer()
