"""The one wiring function, and the lifecycle around it.

Read `build_application` top to bottom to know the order in which an update meets
the handlers.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import broadcasts as broadcast_service
from bot import coordinator_notes, keys, notices
from bot import reports as report_service
from bot import stats as stats_service
from bot.areas import load_areas
from bot.callbacks import PREFIX, Button, pattern
from bot.categories import load_categories
from bot.delivery import DeliveryEngine, Pacing, delivery_bot, make_claimer
from bot.i18n import Translator
from bot.inbox import Dispatcher, Inbox, InboxApplication, InboxBot, recover
from bot.keys import Keyring
from bot.lease import Leadership, Lease, lease_for
from bot.logs import note_handler
from bot.miniapp import MiniApp
from bot.ratelimit import RetryingRateLimiter
from bot.services import SERVICES_KEY, BotContext, Services, services_of
from bot.settings import Settings
from bot.transport import AiohttpRequest
from bot.updates import PerChatUpdateProcessor, update_kind
from bot.web import ServerState, WebServer
from handlers import (
    broadcast_compose,
    broadcast_lists,
    broadcast_progress,
    broadcast_replies,
    broadcast_steps,
    channels,
    chats,
    commands,
    conversation,
    errors,
    fallback,
    groups,
    invites,
    membership,
    menu,
    my_reports,
    onboarding,
    overview,
    preferences,
    privacy,
    report_review,
    reporting,
    stats,
    teams,
    tracking,
)
from handlers import help as help_
from scheduler.runner import JobRunner
from storage.engine import create_engine, create_session_factory

log = logging.getLogger(__name__)

BotApplication = Application[Any, BotContext, Any, Any, Any, Any]

# Handler groups: lower runs first; within a group the first matching handler wins.
GROUP_TRACKING = -100  # tags the log context of every update, never answers
GROUP_GUARD = -50  # refuses what may not reach the main group at all
GROUP_MAIN = 0

# Updates handled at once (each chat still in order); bounded so a burst cannot open
# more database connections and HTTP requests than the pools hold.
MAX_CONCURRENT_UPDATES = 64

# Actions whose buttons the bot puts on group and channel posts (the registration, the
# replies under an announcement). Any other pressed outside a private chat came from a
# forged client: its handler would edit the bot's post there for everyone to see.
SHARED_CHAT_ACTIONS = (Button.GROUP, Button.REPLY)

PRIVATE = filters.ChatType.PRIVATE
# New messages only: PTB's CommandHandler also fires on edits, which would re-run a command.
NEW_PRIVATE = filters.UpdateType.MESSAGE & PRIVATE
NEW_IN_GROUP = filters.UpdateType.MESSAGE & filters.ChatType.GROUPS


def build_application(settings: Settings, *, token: str | None = None) -> BotApplication:
    """Build the bot: services, every handler in dispatch order, lifecycle hooks."""
    bot_token = token or settings.token
    if bot_token is None:
        raise ValueError("no bot token: pass the sandbox token or set TELEGRAM_BOT_TOKEN")
    services = build_services(settings)
    # Updates reach the handlers through the durable inbox (bot.inbox): the bot stores
    # each fetched batch before Telegram may forget it, the application marks it done.
    bot = InboxBot(
        lambda: services.inbox,
        # Called only once the bot runs, so `application` is bound by then.
        sift=lambda items: _sift(application, items),
        token=bot_token,
        base_url=settings.telegram_api_base_url,
        base_file_url=settings.file_base_url,
        request=AiohttpRequest(
            connection_pool_size=MAX_CONCURRENT_UPDATES * 2, heartbeat=services.heartbeat
        ),
        # Long polling holds its one connection for up to the poll timeout.
        get_updates_request=AiohttpRequest(connection_pool_size=1, heartbeat=services.heartbeat),
        rate_limiter=RetryingRateLimiter(
            on_flood=functools.partial(services.metrics.flood_wait, "interactive")
        ),
    )
    application = (
        ApplicationBuilder()
        .bot(bot)
        .application_class(
            InboxApplication,
            {
                "inbox_of": lambda: services.inbox,
                "on_finished": services.metrics.update_finished,
                "may_start": services.may_start,
            },
        )
        .context_types(ContextTypes(context=BotContext))
        # Scheduling lives in scheduler/ with a durable store; PTB's in-memory JobQueue
        # would lose jobs on restart, so it is switched off rather than half used.
        .job_queue(None)
        .concurrent_updates(
            PerChatUpdateProcessor(
                MAX_CONCURRENT_UPDATES,
                max_waiting_per_chat=settings.max_waiting_per_chat,
                # Called only once the bot runs, so `application` is bound by then.
                slow_down=lambda update: fallback.slow_down(
                    update, BotContext.from_update(update, application)
                ),
                on_dropped=lambda update: _dropped(application, update),
            )
        )
        .post_init(_open)
        .post_stop(_stop_workers)
        .post_shutdown(_close)
        .build()
    )
    application.bot_data[SERVICES_KEY] = services

    application.add_handler(TypeHandler(Update, tracking.track_update), group=GROUP_TRACKING)

    private_commands = {
        "start": onboarding.start,
        Button.WIJK: onboarding.choose_wijk,
        "taal": onboarding.choose_language,
        "instellingen": preferences.show_preferences,
        # The old name, kept working: it was too like /melding (a report) to stay the name.
        "meldingen": preferences.show_preferences,
        "stop": preferences.stop,
        "help": help_.show_help,
        "privacy": privacy.privacy,
        "mijngegevens": privacy.my_data,
        "verwijder": privacy.erase,
        "annuleer": conversation.cancel,
        # Role commands check the role themselves (handlers.auth.requires).
        "uitnodigen": invites.invite,
        "rollen": invites.list_roles,
        Button.TEAM: teams.team,
        "overzicht": overview.overview_command,
        "bericht": broadcast_compose.compose,
        "gepland": broadcast_lists.planned,
        "verzonden": broadcast_lists.sent,
        "resultaat": broadcast_lists.result,
        # Meld een Vermoeden: who may report is decided per user (role or the switch).
        "melding": reporting.report,
        "mijnmeldingen": my_reports.my_reports,
        "vermoedens": report_review.overview,
        "stats": stats.stats_command,
        "export": stats.export_command,
    }
    for name, callback in private_commands.items():
        application.add_handler(CommandHandler(name, callback, NEW_PRIVATE), group=GROUP_MAIN)
    # In a group these answer with one line pointing to the private chat.
    application.add_handler(
        CommandHandler(list(private_commands), groups.go_private, NEW_IN_GROUP), group=GROUP_MAIN
    )

    buttons = {
        Button.LANG: onboarding.on_language,
        Button.WIJK: onboarding.on_wijk,
        Button.HERE: onboarding.on_here,
        Button.BUURT: onboarding.on_buurt,
        Button.KIND: preferences.on_kind,
        Button.QUIET: preferences.on_quiet,
        Button.ERASE: privacy.on_erase,
        Button.MENU: menu.on_menu,
        Button.INVITE: invites.on_invite,
        Button.REVOKE: invites.on_revoke,
        Button.MAY_SEND: invites.on_allow_sending,
        Button.TEAM: teams.on_team,
        Button.TEAM_DECISION: teams.on_decision,
        Button.GROUP: chats.on_register,
        Button.GROUP_DECISION: chats.on_decision,
        Button.CHANNEL: channels.on_link,
        Button.FOLLOW: channels.on_follow,
        Button.DORMANT: overview.on_dormant,
        Button.ALIVE: overview.on_alive,
        Button.BROADCAST: broadcast_steps.on_button,
        Button.REPLY: broadcast_replies.on_reply,
        Button.RESULT: broadcast_lists.on_result,
        Button.REPORT_WHAT: reporting.on_category,
        Button.REPORT_WHERE: reporting.on_area,
        Button.REPORT_WHEN: reporting.on_when,
        Button.REPORT_PHOTOS: reporting.on_photos,
        Button.REPORT_ANONYMOUS: reporting.on_anonymous,
        Button.REPORT_WIDER: reporting.on_widen,
        Button.REPORT_ACTION: reporting.on_action,
        Button.REPORT_MINE: my_reports.on_anonymous_status,
        Button.RESIDENTS_MAY_REPORT: report_review.on_residents_switch,
        Button.REPORT_DETAILS: report_review.on_details,
        Button.NOTES: report_review.on_notes_switch,
        Button.REPORT_PHOTOS_VIEW: report_review.on_photos_view,
        Button.REPORT_STATUS: report_review.on_status,
        Button.STATS: stats.on_stats,
        Button.STATS_CHART: stats.on_chart,
        Button.STATS_EXPORT: stats.on_export,
        Button.STATS_XLSX: stats.on_export_xlsx,
    }
    application.add_handler(
        CallbackQueryHandler(
            fallback.private_buttons_only,
            pattern=re.compile(rf"^(?!{PREFIX}:(?:{'|'.join(SHARED_CHAT_ACTIONS)})(?::|$))"),
        ),
        group=GROUP_GUARD,
    )
    for action, callback in buttons.items():
        application.add_handler(
            CallbackQueryHandler(callback, pattern=pattern(action)), group=GROUP_MAIN
        )

    application.add_handler(
        ChatMemberHandler(membership.on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER),
        group=GROUP_MAIN,
    )
    # Service messages in groups: the only group messages the bot reads.
    application.add_handler(
        MessageHandler(filters.StatusUpdate.MIGRATE, chats.on_migrate), group=GROUP_MAIN
    )
    application.add_handler(
        MessageHandler(filters.StatusUpdate.NEW_CHAT_TITLE, chats.on_title), group=GROUP_MAIN
    )

    # Last in the group: whatever nothing above took. Never silence, never a crash.
    application.add_handler(CallbackQueryHandler(fallback.stale_button), group=GROUP_MAIN)
    application.add_handler(
        MessageHandler(NEW_PRIVATE & filters.COMMAND, fallback.unknown_command), group=GROUP_MAIN
    )
    application.add_handler(
        MessageHandler(filters.UpdateType.EDITED_MESSAGE & PRIVATE, fallback.edited),
        group=GROUP_MAIN,
    )
    # Typed text may be a step of a guided conversation (a team's name); the rest is
    # input nobody asked for.
    application.add_handler(
        MessageHandler(NEW_PRIVATE & filters.TEXT, conversation.on_text), group=GROUP_MAIN
    )
    # A photo may belong to a report or to an announcement being composed.
    application.add_handler(
        MessageHandler(NEW_PRIVATE & filters.PHOTO, conversation.on_photo), group=GROUP_MAIN
    )
    # A shared location answers a report's "where".
    application.add_handler(
        MessageHandler(NEW_PRIVATE & filters.LOCATION, reporting.on_location), group=GROUP_MAIN
    )
    application.add_handler(MessageHandler(NEW_PRIVATE, conversation.on_other), group=GROUP_MAIN)

    application.add_error_handler(errors.on_error)
    _name_handlers(application)
    return application


def _name_handlers(application: BotApplication) -> None:
    """Every callback notes its name for the line logged at the update's end (bot.logs)
    and the latency histogram: which handler took it, never what it said."""
    for group, handlers in application.handlers.items():
        if group == GROUP_TRACKING:
            continue  # it runs for every update; the name wanted is the one that answered
        for handler in handlers:
            handler.callback = _named(handler.callback)


def _named(callback: Any) -> Any:
    name = f"{callback.__module__.rsplit('.', 1)[-1]}.{callback.__name__}"

    @functools.wraps(callback)
    async def run(update: object, context: BotContext) -> Any:
        note_handler(name)
        return await callback(update, context)

    return run


def _sift(application: BotApplication, items: list[Any]) -> list[Any]:
    processor = application.update_processor
    return processor.sift(items) if isinstance(processor, PerChatUpdateProcessor) else items


async def _dropped(application: BotApplication, update: Update) -> None:
    """A repeated press the processor dropped never reaches a handler: done all the same,
    or the inbox would keep it pending and play it again at the next start."""
    services = services_of(application)
    services.metrics.update_finished(update_kind(update), "dropped", "dropped", 0.0)
    if isinstance(application, InboxApplication):
        application.dropped(update.update_id)
    if services.inbox is not None:
        services.inbox.done_soon(update.update_id)


def build_services(settings: Settings) -> Services:
    """The services a bot, a test or a benchmark works with; the database opens later."""
    return Services(
        settings=settings,
        translator=Translator(default_language=settings.default_language, timezone=settings.tz),
        areas=load_areas(settings.areas_file),
        categories=load_categories(settings.categories_file),
        # Refuses (ConfigError) with a real token and no key: see bot.keys.
        keyring=keys.require(settings),
    )


@asynccontextmanager
async def services_on(settings: Settings, keyring: Keyring) -> AsyncIterator[Services]:
    """The services on an open database, for commands that run beside the bot (and
    their tests): no Telegram, no engine, no scheduler."""
    services = build_services(settings.with_overrides(secret=None, secret_file=None))
    services.keyring = keyring
    services.engine = create_engine(settings.database_url)
    services._sessions = create_session_factory(services.engine)
    try:
        yield services
    finally:
        await services.engine.dispose()


async def _open(application: BotApplication) -> None:
    services = services_of(application)
    services.engine = create_engine(services.settings.database_url)
    services._sessions = create_session_factory(services.engine)
    # Before anything reads a follow-up: an old key kept in the database goes now.
    await report_service.settle_keys(services)
    services.inbox = Inbox(
        services.sessions, services.keyring, max_attempts=services.settings.inbox_max_attempts
    )
    # Broadcasts go out on a Bot of their own (own connection pool) at a pace that leaves
    # room for residents' answers. render/on_progress are looked up on each call: the
    # broadcasts service sets them on Services after this hook. Built here but started
    # only while this process leads (_lead): a standby may queue, the leader sends.
    services.delivery = DeliveryEngine(
        bot=delivery_bot(
            application.bot.token,
            base_url=services.settings.telegram_api_base_url,
            base_file_url=services.settings.file_base_url,
            heartbeat=services.heartbeat,
        ),
        sessions=services.sessions,
        metrics=services.metrics,
        render=lambda delivery: services.render_delivery(delivery),
        pacing=Pacing(global_rate=services.settings.send_rate),
        on_progress=lambda broadcast_id, counts: services.on_progress(broadcast_id, counts),
    )
    # A row that carries its own message is a notice (bot.notices); any other row is a
    # broadcast's, rendered from its announcement.
    services.render_delivery = notices.renderer(
        broadcast_service.delivery_renderer(services, application.bot.username)
    )
    # The engine tells the broadcasts service (which finishes what is done); the service
    # tells the handlers what to show and whom to ask. A notice done keeps no message.
    services.on_progress = notices.progress(
        services, functools.partial(broadcast_service.progressed, services)
    )
    # Notices settled just before a crash (no progress report came): their messages go now.
    await notices.scrub(services)
    services.show_progress = functools.partial(
        broadcast_progress.show_progress, application.bot, services
    )
    services.ask_late = functools.partial(broadcast_progress.ask_late, application.bot, services)
    await services.delivery.bot.initialize()


async def _lead(application: BotApplication, poll_timeout: int) -> None:
    """This process holds the sender lease: it sends, schedules and fetches the updates."""
    services = services_of(application)
    assert services.delivery is not None
    await services.delivery.start(sole=services.lease is not None and services.lease.exclusive)
    # After the engine: a broadcast missed while the bot was down may be sent right away.
    grace = timedelta(minutes=services.settings.misfire_grace_minutes)
    services.scheduler = JobRunner(
        timezone=services.settings.tz,
        grace=grace,
        on_misfire=lambda job_id: services.metrics.jobs_misfired.inc(),
    )
    services.scheduler.start()
    await broadcast_service.resume(services, grace)
    _install_jobs(application, services)
    await commands.register(application.bot, services)
    # Administrators from BUURTBOT_ADMINS see their commands from the first start.
    for admin_id in sorted(services.settings.admins):
        await commands.refresh_chat(application.bot, services, admin_id, who="administrator")
    assert services.inbox is not None
    await services.inbox.prune()
    assert isinstance(application, InboxApplication)
    if services.settings.webhook_mode:
        await _serve_webhook(application, services)
    else:
        await _poll(application, services, poll_timeout)
    log.info("bot @%s ready", application.bot.username)


async def _poll(application: InboxApplication, services: Services, poll_timeout: int) -> None:
    # Before polling starts, and only in the process that polls: what the last run left
    # unfinished is handled before anything new (a standby never handles updates, or it
    # would handle the leader's in-flight ones a second time).
    assert services.inbox is not None
    await recover(application, services.inbox, concurrency=MAX_CONCURRENT_UPDATES)
    # Long polling follows the lease: Telegram answers a second poller with 409 Conflict.
    assert application.updater is not None
    if not application.updater.running:
        # PTB deletes a webhook left set (webhook mode before) as polling starts.
        await application.updater.start_polling(
            timeout=poll_timeout, allowed_updates=Update.ALL_TYPES, poll_interval=0.0
        )


async def _serve_webhook(application: InboxApplication, services: Services) -> None:
    """Webhook mode: every replica stores what Telegram pushes (bot.web); the leader sets
    the webhook and handles the stored updates in order (bot.inbox.Dispatcher)."""
    settings = services.settings
    assert settings.webhook_url is not None
    assert services.inbox is not None
    await application.bot.set_webhook(
        settings.webhook_url,
        secret_token=webhook_secret(services, application.bot.token),
        max_connections=settings.webhook_max_connections,
        allowed_updates=Update.ALL_TYPES,
    )
    # Its first look takes what the last leader left unfinished, before anything new.
    services.dispatcher = Dispatcher(application, services.inbox)
    await services.dispatcher.start()


def webhook_secret(services: Services, token: str) -> str:
    """The secret Telegram sends with every push: the setting, else derived from the key
    of anonymous reports and the token, so every replica with the key agrees on it."""
    configured = services.settings.webhook_secret
    if configured is not None:
        return configured.get_secret_value()
    return services.keyring.label("webhook", token)


async def _follow(application: BotApplication) -> None:
    """The lease is lost (or the bot stops): stop fetching, scheduling and sending."""
    services = services_of(application)
    dispatcher, services.dispatcher = services.dispatcher, None
    if dispatcher is not None:
        await dispatcher.stop()
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    if services.scheduler is not None:
        await services.scheduler.stop()
        services.scheduler = None
    if services.delivery is not None:
        # Sends under way finish and are recorded; unsent claims go back to the queue.
        await services.delivery.stop()


def _install_jobs(application: BotApplication, services: Services) -> None:
    """The recurring jobs, with deterministic ids so a restart replaces, never doubles them."""
    scheduler = services.scheduler
    assert scheduler is not None
    settings = services.settings
    report_at, weekly_at = settings.report_digest_time, settings.weekly_digest_time
    scheduler.every(
        "reports:digest",
        functools.partial(report_service.send_digest, services),
        hour=report_at.hour,
        minute=report_at.minute,
    )
    # At night, when nobody reports; a run missed while down simply happens the next night.
    scheduler.every(
        "reports:retention",
        functools.partial(report_service.retention, services),
        hour=3,
        minute=30,
    )
    scheduler.every(
        "stats:weekly",
        functools.partial(stats_service.weekly_digest, services),
        day_of_week=settings.weekly_digest_day,
        hour=weekly_at.hour,
        minute=weekly_at.minute,
        second=weekly_at.second,
    )
    inbox = services.inbox
    assert inbox is not None
    # Done rows keep only an id for a day; hourly keeps the table as small as a day's traffic.
    scheduler.every("inbox:prune", inbox.prune, minute=17)
    # How teams and groups stand, kept per day so past periods show how they stood then.
    record_states = functools.partial(stats_service.record_states, services)
    scheduler.every("stats:states", record_states, hour=0, minute=0)
    scheduler.soon("stats:states-now", record_states)
    # A digest due while the bot was down goes out now (once: the run is recorded).
    scheduler.soon("stats:catch-up", functools.partial(stats_service.catch_up_digest, services))
    # Notes about anonymous reports wait for the full hour (bot.coordinator_notes); an
    # hour that passed while the bot was down is released at start, never one early.
    release_notes = functools.partial(coordinator_notes.release, services)
    scheduler.every("notes:anonymous", release_notes, minute=0, second=0)
    scheduler.soon("notes:anonymous-now", release_notes)


async def _stop_workers(application: BotApplication) -> None:
    """Scheduler and delivery engine stop while the bot can still talk to Telegram.

    Their last steps (recording a send, editing the coordinator's progress line) use the
    application's bot, which application.shutdown closes; so they end in post_stop,
    before that, not in post_shutdown.
    """
    services = services_of(application)
    if services.scheduler is not None:
        await services.scheduler.stop()
        services.scheduler = None
    # Sends under way finish and are recorded while the database is still open.
    if services.delivery is not None:
        await services.delivery.stop()
        await services.delivery.bot.shutdown()
        services.delivery = None


async def _close(application: BotApplication) -> None:
    services = services_of(application)
    await _stop_workers(application)  # in case post_stop never ran (start failed)
    await services.settle()
    if services.inbox is not None:
        await services.inbox.close()
    if services.engine is not None:
        await services.engine.dispose()
        services.engine = None
        services._sessions = None
        services.inbox = None


def build_web_server(application: BotApplication) -> WebServer | None:
    """The HTTP server of the webhook, health and metrics, when a port is set."""
    services = services_of(application)
    settings = services.settings
    if settings.listen_port is None:
        return None

    def state() -> ServerState:
        lease = services.lease
        return ServerState(
            bot=application.bot,
            inbox=services.inbox,
            engine=services.engine,
            role=services.role,
            leader=lambda: _leader(services, lease),
            jobs=lambda: len(services.scheduler.job_ids()) if services.scheduler else 0,
            dispatcher=services.dispatcher,
        )

    server = WebServer(
        host=settings.listen_host,
        port=settings.listen_port,
        metrics=services.metrics,
        heartbeat=services.heartbeat,
        state=state,
        webhook_path=settings.webhook_path if settings.webhook_mode else None,
        secret=webhook_secret(services, application.bot.token) if settings.webhook_mode else None,
    )
    # The coordinator's Mini App (issue 17) on the same server: Telegram opens its URL.
    MiniApp(services, application.bot.token).mount(server.app)
    return server


async def _leader(services: Services, lease: Lease | None) -> str | None:
    """Who sends, named as the lease names it (on PostgreSQL the lock connection's
    application_name, which a standby reads back): this process when it leads."""
    if services.leading:
        return getattr(lease, "name", None) or f"buurtbot {socket.gethostname()}:{os.getpid()}"
    return await lease.holder() if lease is not None else None


def open_lease(settings: Settings) -> Lease:
    """The sender lease for the bot's database (bot.lease), not yet taken."""
    return lease_for(settings.database_url, name=f"buurtbot {make_claimer()}")


@asynccontextmanager
async def running(
    application: BotApplication, *, poll_timeout: int = 30, lease: Lease | None = None
) -> AsyncIterator[None]:
    """Run the bot by long polling until the block exits.

    The same path serves `python -m bot run` and every journey test, so the tests
    exercise the bot users run. It mirrors Application.run_polling, which owns the
    event loop and so cannot share it with the sandbox server or a test.

    First the sender lease (bot.lease): on SQLite a second bot on the same database
    raises LeaseHeld here, before anything reaches Telegram. On PostgreSQL a bot that
    does not get the lease runs as a standby: it neither polls nor sends nor schedules
    until the leader is gone.
    """
    services = services_of(application)
    if lease is None:
        lease = open_lease(services.settings)
    await lease.prepare()
    services.lease = lease
    try:
        await application.initialize()
        if application.post_init is not None:
            await application.post_init(application)
        await application.start()
        # Every replica listens (a standby stores webhook updates and answers its health
        # checks); what it does with what it stores depends on the lease.
        services.web = build_web_server(application)
        if services.web is not None:
            await services.web.start()
        services.leadership = Leadership(
            lease,
            on_lead=functools.partial(_lead, application, poll_timeout),
            on_follow=functools.partial(_follow, application),
        )
        await services.leadership.start()
        yield
    finally:
        await shut_down(application)


async def shut_down(application: BotApplication) -> None:
    """Stop what `running` started, in order; again is a no-op (a test plays a stop with
    it before the block ends)."""
    services = services_of(application)
    # First: a load balancer stops sending here, and Telegram sends the rest elsewhere.
    web, services.web = services.web, None
    if web is not None:
        await web.stop()
    leadership, services.leadership = services.leadership, None
    if leadership is not None:
        await leadership.stop()
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    if application.post_stop is not None:
        await application.post_stop(application)
    await application.shutdown()
    if application.post_shutdown is not None:
        await application.post_shutdown(application)
    # Last: a standby must not take over while this engine still records its sends.
    lease, services.lease = services.lease, None
    if lease is not None:
        await lease.release()
