"""Runs first for every update: puts its id in the log context."""

from __future__ import annotations

import logging

from telegram import Update

from bot.logs import current_update
from bot.services import BotContext

log = logging.getLogger(__name__)


def update_kind(update: Update) -> str:
    for kind in (
        "message",
        "edited_message",
        "channel_post",
        "callback_query",
        "my_chat_member",
        "chat_member",
        "edited_channel_post",
    ):
        if getattr(update, kind, None) is not None:
            return kind
    return "other"


async def track_update(update: Update, context: BotContext) -> None:
    """Tag the log lines of this update; a DEBUG line says what arrived."""
    kind = update_kind(update)
    current_update.set({"update_id": update.update_id, "kind": kind})
    log.debug("received %s", kind)
