"""Runs first for every update: puts its id in the log context."""

from __future__ import annotations

import logging

from telegram import Update

from bot.logs import current_update
from bot.services import BotContext
from bot.updates import update_kind

log = logging.getLogger(__name__)


async def track_update(update: Update, context: BotContext) -> None:
    """Tag the log lines of this update; a DEBUG line says what arrived."""
    kind = update_kind(update)
    current_update.set({"update_id": update.update_id, "kind": kind})
    log.debug("received %s", kind)
