"""The one wiring function, and the lifecycle around it.

Read `build_application` top to bottom to know the order in which an update meets
the handlers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes, TypeHandler

from bot.areas import load_areas
from bot.i18n import Translator
from bot.services import SERVICES_KEY, BotContext, Services, services_of
from bot.settings import Settings
from handlers import errors, onboarding, tracking
from storage.engine import create_engine, create_session_factory

log = logging.getLogger(__name__)

BotApplication = Application[Any, BotContext, Any, Any, Any, Any]

# Handler groups: lower runs first; within a group the first matching handler wins.
GROUP_TRACKING = -100  # tags the log context of every update, never answers
GROUP_MAIN = 0


def build_application(settings: Settings, *, token: str | None = None) -> BotApplication:
    """Build the bot: services, every handler in dispatch order, lifecycle hooks."""
    bot_token = token or settings.token
    if bot_token is None:
        raise ValueError("no bot token: pass the sandbox token or set TELEGRAM_BOT_TOKEN")
    application = (
        ApplicationBuilder()
        .token(bot_token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.file_base_url)
        .context_types(ContextTypes(context=BotContext))
        # Scheduling lives in scheduler/ with a durable store; PTB's in-memory JobQueue
        # would lose jobs on restart, so it is switched off rather than half used.
        .job_queue(None)
        .post_init(_open)
        .post_shutdown(_close)
        .build()
    )
    application.bot_data[SERVICES_KEY] = Services(
        settings=settings,
        translator=Translator(default_language=settings.default_language, timezone=settings.tz),
        areas=load_areas(settings.areas_file),
    )

    application.add_handler(TypeHandler(Update, tracking.track_update), group=GROUP_TRACKING)

    application.add_handler(CommandHandler("start", onboarding.start), group=GROUP_MAIN)

    application.add_error_handler(errors.on_error)
    return application


async def _open(application: BotApplication) -> None:
    services = services_of(application)
    services.engine = create_engine(services.settings.database_url)
    services._sessions = create_session_factory(services.engine)
    log.info("bot @%s ready", application.bot.username)


async def _close(application: BotApplication) -> None:
    services = services_of(application)
    if services.engine is not None:
        await services.engine.dispose()
        services.engine = None
        services._sessions = None


@asynccontextmanager
async def running(application: BotApplication, *, poll_timeout: int = 30) -> AsyncIterator[None]:
    """Run the bot by long polling until the block exits.

    The same path serves `python -m bot run` and every journey test, so the tests
    exercise the bot users run. It mirrors Application.run_polling, which owns the
    event loop and so cannot share it with the sandbox server or a test.
    """
    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        assert application.updater is not None
        await application.updater.start_polling(
            timeout=poll_timeout, allowed_updates=Update.ALL_TYPES, poll_interval=0.0
        )
        await application.start()
        yield
    finally:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if application.running:
            await application.stop()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)
