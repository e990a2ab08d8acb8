"""What every handler and job can reach: built by the wiring function, opened in post_init."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import Application, CallbackContext, ExtBot

from bot.areas import Areas
from bot.categories import Categories
from bot.i18n import Translator
from bot.keys import Keyring
from bot.memo import Expiring
from bot.metrics import Metrics
from bot.ratelimit import SlidingWindow
from bot.settings import Settings
from bot.transport import Heartbeat
from storage.engine import SessionFactory

if TYPE_CHECKING:
    from bot.delivery import Counts, DeliveryEngine, Outgoing
    from bot.inbox import Dispatcher, Inbox
    from bot.lease import Leadership, Lease
    from bot.roles import Roles
    from bot.web import WebServer
    from scheduler.runner import JobRunner
    from storage.models import Broadcast, Delivery


log = logging.getLogger(__name__)

# How long a replica may offer a wijk's old channel after another replica linked a new one.
CHANNELS_TTL = 30.0


async def _no_renderer(delivery: Delivery) -> Outgoing:
    raise RuntimeError(
        "no broadcast renderer: set Services.render_delivery before queueing deliveries"
    )


async def _no_progress(broadcast_id: int, counts: Counts) -> None:
    """Nobody watches yet."""


async def _nobody_asked(broadcast: Broadcast) -> None:
    """No one to ask about a missed broadcast (a test without the handlers)."""


@dataclass
class Services:
    settings: Settings
    translator: Translator
    areas: Areas
    categories: Categories
    engine: AsyncEngine | None = None
    _sessions: SessionFactory | None = None
    # Every update passes through it (bot.inbox); opened in post_init with the database.
    inbox: Inbox | None = None
    # Started in post_init after the delivery engine; None in tests that build no scheduler.
    scheduler: JobRunner | None = None
    # Sends every broadcast; opened in post_init with its own Bot and connection pool.
    delivery: DeliveryEngine | None = None
    # What one outbox row says, per recipient and language: set by the broadcasts service.
    render_delivery: Callable[[Delivery], Awaitable[Outgoing]] = field(default=_no_renderer)
    # The delivery engine's word on a broadcast's counts: the broadcasts service, which
    # finishes it when nothing is left, then shows the counts (show_progress, a handler).
    on_progress: Callable[[int, Counts], Awaitable[None]] = field(default=_no_progress)
    show_progress: Callable[[int, Counts], Awaitable[None]] = field(default=_no_progress)
    # A broadcast missed by more than the grace while the bot was down: its author decides.
    ask_late: Callable[[Broadcast], Awaitable[None]] = field(default=_nobody_asked)
    # Reports per reporter in the last hour. Kept in memory on purpose: a stored log of
    # who filed when would tie anonymous reports to people by their times.
    report_quota: SlidingWindow = field(default_factory=lambda: SlidingWindow(3600.0))
    # The key of anonymous reports (bot.keys): from the environment or its file, never
    # the database; a throwaway one in sandbox mode.
    keyring: Keyring = field(default_factory=lambda: Keyring.generate(throwaway=True))
    # Each wijk's linked channel, read by every join (bot.channels.active_for_wijk) and
    # changed by a coordinator a few times a year.
    wijk_channels: Expiring[str, Any] = field(default_factory=lambda: Expiring(CHANNELS_TTL))
    # Work started by a handler that must outlive it; held so it is not collected.
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    def later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in a task of its own; a failure is logged, never lost silently."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work failed", exc_info=task.exception())

    async def settle(self) -> None:
        """Wait for the background work still under way (shutdown, tests)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # What /metrics shows (bot.metrics) and when Telegram last answered (the readiness
    # check): made with the services, each application its own.
    metrics: Metrics = field(default_factory=Metrics)
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    # Webhook mode, while leading: hands stored updates to the handlers (bot.inbox).
    dispatcher: Dispatcher | None = None
    # The HTTP server of the webhook, health and metrics (bot.web), while it listens.
    web: WebServer | None = None

    # One sender per database (bot.lease): set while the bot runs.
    lease: Lease | None = None
    leadership: Leadership | None = None

    @property
    def leading(self) -> bool:
        """Whether this process sends and schedules (holds the sender lease)."""
        return self.leadership is not None and self.leadership.leading

    async def may_start(self) -> bool:
        """Whether an update may start here now: the lease's fence covers it (bot.lease)."""
        return self.lease is None or await self.lease.confirm()

    @property
    def role(self) -> str:
        """ "sender" or "standby", as health checks and the log name it."""
        return "sender" if self.leading else "standby"

    @property
    def sessions(self) -> SessionFactory:
        if self._sessions is None:
            raise RuntimeError("the database is not open yet (post_init has not run)")
        return self._sessions


SERVICES_KEY = "services"


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """CallbackContext with typed access to the services."""

    # Set by handlers.auth.requires for the handler it guards: the roles it checked.
    roles: Roles | None = None

    @property
    def services(self) -> Services:
        return services_of(self.application)


def services_of(application: Application[Any, Any, Any, Any, Any, Any]) -> Services:
    services = application.bot_data[SERVICES_KEY]
    assert isinstance(services, Services)
    return services
