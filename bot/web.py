"""The bot's one HTTP server: Telegram's webhook, health checks and metrics.

Built by the wiring (bot.app) and started by `running()`, in every replica: a standby
serves the webhook and its checks too, only the leader handles and sends.

* `POST <path of BUURTBOT_WEBHOOK_URL>`: an update from Telegram. The secret header is
  compared in constant time; missing or wrong is 403 (logged once per source address),
  and the body is never read. A good update is answered 200 only once it is committed to
  the durable inbox (bot.inbox); if the database cannot take it the answer is 503, and
  Telegram sends it again later. A replay (the same update_id) is answered 200 too.
* `GET /healthz`: the process lives and its event loop answers.
* `GET /readyz`: the database answers, its migrations are current, Telegram answered
  within `TELEGRAM_FRESH` seconds (else one getMe asks), and whether this replica is the
  sender or a standby, with who leads. 200 when ready, else 503; JSON either way.
* `GET /metrics`: bot.metrics in Prometheus' text format.
* `/app/...`: the coordinator's Mini App and its API (bot.miniapp), mounted by the wiring.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot.inbox import Dispatcher, Inbox
from bot.metrics import Metrics
from bot.transport import Heartbeat
from storage import migrate
from storage import outbox as outbox_store
from storage.engine import answers
from storage.models import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# A poller asks at least every poll timeout (30 s) and a sender every few seconds; a
# standby in webhook mode may call Telegram for minutes not at all, so past this the
# readiness check asks itself (one getMe, at most once per this many seconds).
TELEGRAM_FRESH = 60.0
# Each check of /readyz gets this long; a probe must answer before its own timeout.
CHECK_TIMEOUT = 3.0
# Source addresses whose refusal was logged; a scan from many addresses stops filling
# the log (and memory) here.
REFUSED_KEPT = 1024
# Telegram's updates are a few kilobytes; a bigger body is not one.
MAX_UPDATE_BYTES = 1024 * 1024


class WebServer:
    """aiohttp on one host and port; `start()` binds, `stop()` closes."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        metrics: Metrics,
        heartbeat: Heartbeat,
        state: Callable[[], ServerState],
        webhook_path: str | None = None,
        secret: str | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.metrics = metrics
        self.heartbeat = heartbeat
        # Looked up per request: the database, inbox and lease open after the server.
        self.state = state
        self.secret = secret
        self._refused: set[str] = set()
        self._asked_at: float | None = None
        self.app = web.Application(client_max_size=MAX_UPDATE_BYTES)
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/readyz", self.readyz)
        self.app.router.add_get("/metrics", self.metrics_page)
        if webhook_path is not None:
            if secret is None:
                raise ValueError("a webhook needs a secret token")
            self.app.router.add_post(webhook_path, self.webhook)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.requested_port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])  # the one chosen for port 0 (a test's)
        log.info("listening on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # ------------------------------------------------------------------ webhook

    async def webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        assert self.secret is not None
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            self.metrics.webhook_requests.labels("refused").inc()
            self._log_refusal(request.remote or "unknown", missing=not given)
            return web.json_response({"ok": False, "error": "forbidden"}, status=403)
        state = self.state()
        if state.inbox is None:
            self.metrics.webhook_requests.labels("unavailable").inc()
            return web.json_response({"ok": False, "error": "starting"}, status=503)
        try:
            data = await request.json()
            if not isinstance(data, dict) or type(data.get("update_id")) is not int:
                raise ValueError("no update_id")
            update = Update.de_json(data, state.bot)
        except (ValueError, TypeError, KeyError, TelegramError):
            self.metrics.webhook_requests.labels("bad").inc()
            return web.json_response({"ok": False, "error": "not an update"}, status=400)
        if not isinstance(update, Update):
            self.metrics.webhook_requests.labels("bad").inc()
            return web.json_response({"ok": False, "error": "not an update"}, status=400)
        self.heartbeat.beat()  # Telegram reached us: it is up
        try:
            if state.dispatcher is not None:
                # This replica leads: it keeps what it stored for its own dispatcher.
                fresh = await state.dispatcher.store_own(update, data)
            else:
                stored = await state.inbox.store([update], {update.update_id: data}, handling=False)
                fresh = bool(stored)
        except Exception as error:
            # Not stored, so not 200: Telegram keeps the update and sends it again.
            self.metrics.webhook_requests.labels("unavailable").inc()
            log.warning(
                "webhook: update %s not stored (%s); Telegram sends it again",
                update.update_id,
                type(error).__name__,
            )
            return web.json_response({"ok": False, "error": "not stored"}, status=503)
        self.metrics.webhook_requests.labels("stored" if fresh else "replay").inc()
        return web.json_response({"ok": True})

    def _log_refusal(self, source: str, *, missing: bool) -> None:
        if source in self._refused:
            return
        if len(self._refused) >= REFUSED_KEPT:
            return
        self._refused.add(source)
        log.warning(
            "webhook: refused a request from %s (%s secret token); further ones from there "
            "are refused without a log line",
            source,
            "no" if missing else "a wrong",
        )

    # ------------------------------------------------------------------ health

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        state = self.state()
        report: dict[str, Any] = {"role": state.role, "leader": await _quiet(state.leader())}
        database = state.engine is not None and await _check(answers(state.engine))
        report["database"] = "ok" if database else "not answering"
        current = database and await _quiet(migrate.is_current(state.engine)) is True
        report["migrations"] = "current" if current else ("behind" if database else "unknown")
        telegram = await self._telegram(state.bot)
        age = self.heartbeat.age()
        report["telegram"] = {
            "ok": telegram,
            "answered_seconds_ago": None if age is None else round(age, 1),
        }
        report["ready"] = bool(database and current and telegram)
        return web.json_response(report, status=200 if report["ready"] else 503)

    async def _telegram(self, bot: ExtBot[Any] | None) -> bool:
        age = self.heartbeat.age()
        if age is not None and age <= TELEGRAM_FRESH:
            return True
        now = time.monotonic()
        if bot is None or (self._asked_at is not None and now - self._asked_at < TELEGRAM_FRESH):
            return False
        self._asked_at = now
        # Any answer counts, an error too: the heartbeat beats on every HTTP answer.
        await _check(bot.get_me())
        age = self.heartbeat.age()
        return age is not None and age <= TELEGRAM_FRESH

    # ------------------------------------------------------------------ metrics

    async def metrics_page(self, request: web.Request) -> web.Response:
        state = self.state()
        metrics = self.metrics
        metrics.leader.set(1 if state.role == "sender" else 0)
        metrics.jobs_planned.set(state.jobs())
        if state.inbox is not None and state.engine is not None:
            # The database's figures, whoever sends: a scrape of any replica sees them.
            try:
                counts = await asyncio.wait_for(state.inbox.counts(), CHECK_TIMEOUT)
                metrics.inbox_backlog.set(counts.pending)
                metrics.inbox_dead.set(counts.dead)
                async with state.inbox.sessions() as session:
                    waiting = await asyncio.wait_for(
                        outbox_store.backlog(session=session), CHECK_TIMEOUT
                    )
                metrics.outbox_depth.set(waiting.depth)
                oldest = waiting.oldest
                metrics.outbox_oldest.set(
                    0 if oldest is None else max((utcnow() - oldest).total_seconds(), 0.0)
                )
            except Exception as error:  # the counters still go out; the gauges keep their last
                log.warning("metrics: the database figures failed (%s)", type(error).__name__)
        body = metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class ServerState:
    """What the server reads of the running bot, each time it is asked."""

    def __init__(
        self,
        *,
        bot: ExtBot[Any] | None,
        inbox: Inbox | None,
        engine: Any,
        role: str,
        leader: Callable[[], Awaitable[str | None]],
        jobs: Callable[[], int],
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.bot = bot
        self.inbox = inbox
        self.dispatcher = dispatcher  # while this replica leads in webhook mode
        self.engine = engine
        self.role = role
        self.leader = leader
        self.jobs = jobs


async def _check(work: Awaitable[object]) -> bool:
    """Whether `work` finished within CHECK_TIMEOUT without raising."""
    try:
        await asyncio.wait_for(work, CHECK_TIMEOUT)
    except Exception:
        return False
    return True


async def _quiet(work: Awaitable[T]) -> T | None:
    """What `work` returns, or None when it raises or takes longer than CHECK_TIMEOUT."""
    try:
        return await asyncio.wait_for(work, CHECK_TIMEOUT)
    except Exception:
        return None
