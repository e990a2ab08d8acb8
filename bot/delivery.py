"""The delivery engine: everything the bot sends unasked leaves through here: broadcasts,
reminders, and the notices of bot.notices (status updates, hotspot alerts, digests, news
for coordinators).

It works off a durable outbox (storage.outbox, one `Delivery` row per recipient) at a
pace Telegram accepts, so a normal broadcast meets no 429 and leaves room for the bot's
interactive answers, which go out through the application's own `Bot` and connection pool.

Delivery guarantee: at least once, with the window kept small.

* A row is "sending" from its claim (at most `Pacing.window` rows at a time) until its
  result is written, which happens right after Telegram answers (results of concurrent
  sends are committed together). A send that has started is shielded: stopping the engine
  or cancelling its worker lets it finish and be recorded, so a stop loses nothing and
  repeats nothing.
* A claim names its engine (`claimer`: host, pid and a random part) and holds for
  `CLAIM_TTL` seconds; the engine renews its claims every `CLAIM_RENEW` seconds while it
  runs. Rows go back to the queue only when their engine is gone: its claim expired, or
  `start(sole=True)` was told that no other engine can be running (the caller holds the
  database's lock file). The rows of a live engine are never taken: two engines on one
  database never claim the same row.
* A crash (the process killed) leaves rows "sending"; they are sent again at the next
  start (sole), or by whichever engine still runs once their claim expires (at most
  `CLAIM_TTL` plus `CLAIM_RENEW` seconds later). Of those, only the ones whose request had
  reached Telegram can arrive twice: at most `Pacing.concurrency` messages per crash.
  A row whose result could not be written is sent again the same way once its claim
  expires, so it too may arrive twice.
* An engine never starts a send on a claim that could expire before Telegram answers
  (`SEND_MARGIN`): if its renewals fail (the database away), it stops sending those rows
  rather than race an engine that took them back.
* `TimedOut` is retried (up to `max_attempts` sends). Telegram may have delivered the
  message that timed out, so a resident may rarely see it twice; for warnings about
  burglaries a duplicate is the better failure than a gap.
* A 429 is not an attempt: sending pauses for `retry_after` and the row is sent after it.

One engine sends per database (bot.lease makes sure): pacing is per engine, so two
engines would together exceed Telegram's limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import telegram
from telegram import InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.metrics import Metrics
from bot.ratelimit import retry_seconds
from bot.tasks import cancelled
from bot.transport import AiohttpRequest, Heartbeat
from storage import channels as channel_store
from storage import groups as group_store
from storage import outbox
from storage import users as user_store
from storage.engine import SessionFactory
from storage.models import Delivery, DeliveryStatus, utcnow

log = logging.getLogger(__name__)

GROUP_LIKE = frozenset({"group", "channel"})
# Seconds before claiming again after the database refused a claim.
CLAIM_RETRY = 1.0
# How long a stop waits for sends under way before it lets go.
STOP_GRACE = 10.0
# How often the idle worker looks for rows held back (quiet hours) that came due.
HELD_BACK_POLL = 60.0
# Seconds a claim holds without renewal. Longer than a stop takes (STOP_GRACE) plus the
# time a leader needs to notice it lost its lease (bot.lease), so an engine that is still
# winding down is never mistaken for a dead one.
CLAIM_TTL = 15.0
# How often a running engine renews its claims, takes back expired ones of engines that
# are gone, and looks for rows that other processes queued.
CLAIM_RENEW = 3.0
# A send is not started on a claim that expires within this many seconds (a send and its
# record take well under this, PTB's timeouts included).
SEND_MARGIN = 5.0
CLAIMER_MAX = 64


def make_claimer() -> str:
    """A name for one engine's claims: host and pid for the operator, and a random part
    because a restarted container gets the same host name and pid again."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"[-CLAIMER_MAX:]


@dataclass(frozen=True)
class Outgoing:
    """What one recipient gets."""

    text: str  # HTML, already escaped by the renderer; the caption when photo is set
    keyboard: InlineKeyboardMarkup | None = None
    photo: str | bytes | None = None  # a Telegram file_id, or a picture drawn here (a chart)
    # An edit of a message sent before (a BuurtTent called off or moved), not a new one.
    edit_of: int | None = None
    markup_only: bool = False  # only its buttons change


@dataclass(frozen=True)
class Recipient:
    chat_id: int
    kind: str  # "user" | "group" | "channel"
    language: str | None = None
    not_before: datetime | None = None  # held back until then (the end of quiet hours)


@dataclass(frozen=True)
class Counts:
    queued: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    gone: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.sending + self.sent + self.failed + self.blocked + self.gone

    @property
    def pending(self) -> int:
        """Rows not yet settled: the broadcast is done when this is 0."""
        return self.queued + self.sending


Render = Callable[[Delivery], Awaitable[Outgoing]]
Progress = Callable[[int, Counts], Awaitable[None]]


@dataclass(frozen=True)
class Pacing:
    """How fast the engine sends. Defaults follow Telegram's Bots FAQ.

    `global_rate` is 0.96 of Telegram's 30 messages/s: the rest (about one message a
    second) is the interactive answers' share, so a resident's button press during a big
    broadcast is not refused. At exactly 0.95 the engine achieved 0.948 in
    bench/broadcast.py (a little is lost to event-loop pauses), under the 0.95 target.
    """

    global_rate: float = 28.8  # messages per second, all chats together
    # Sends the engine may catch up at once after falling behind (a busy event loop); the
    # long-run rate stays global_rate. Well under the burst Telegram grants the whole bot
    # (about 30), so interactive answers still fit.
    global_burst: int = 10
    per_chat_interval: float = 1.0  # seconds between two messages to one chat
    group_per_minute: int = 20  # per group, supergroup or channel
    group_window: float = 60.0  # the "minute" of group_per_minute (shrinks when scaled)
    max_attempts: int = 3  # sends per row on timeouts and network errors
    retry_backoff: float = 1.0  # seconds before the 2nd send of a row, doubling after
    # Requests to Telegram at once. What is in flight is global_rate x latency (Little's
    # law); this is only the cap, and so the bound on copies a crash can send twice. At 8,
    # the sandbox's 10x pace (288/s) at its ~30 ms latency needed 9 and the engine fell to
    # 0.86-0.90 of the rate; Telegram itself needs about 3 (28.8/s at ~100 ms).
    concurrency: int = 16
    # Rows claimed ("sending") at a time; bounds what a crash can cut off.
    window: int = 32
    progress_interval: float = 2.0  # seconds between progress reports of one broadcast

    def scaled(self, factor: float) -> Pacing:
        """Pacing `factor` times faster, to match sandbox.config.Limits.scaled(factor)."""
        if factor <= 0:
            raise ValueError("factor must be positive")
        return dataclasses.replace(
            self,
            global_rate=self.global_rate * factor,
            per_chat_interval=self.per_chat_interval / factor,
            group_window=self.group_window / factor,
            retry_backoff=self.retry_backoff / factor,
        )


def delivery_bot(
    token: str, *, base_url: str, base_file_url: str, heartbeat: Heartbeat | None = None
) -> telegram.Bot:
    """A plain Bot for the engine alone, with a connection pool of its own.

    Not the application's ExtBot: its rate limiter retries and its pool serves residents'
    answers, which must never wait behind a broadcast. Initialise it before use.
    """
    return telegram.Bot(
        token,
        base_url=base_url,
        base_file_url=base_file_url,
        request=AiohttpRequest(connection_pool_size=Pacing().concurrency * 2, heartbeat=heartbeat),
        # Never polls; given so PTB does not open its default httpx client for it.
        get_updates_request=AiohttpRequest(connection_pool_size=1),
    )


class _Pacer:
    """Decides when the next message may leave: per chat, per group and overall.

    The overall rate is a GCRA (a token bucket kept as one timestamp); turns are taken in
    FIFO order under a lock, so rows go out in the order they were claimed.
    """

    def __init__(self, pacing: Pacing) -> None:
        self.pacing = pacing
        self.interval = 1.0 / pacing.global_rate
        self._loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()
        self._tat = 0.0  # theoretical arrival time of the next message
        self._paused_until = 0.0
        self._chat_free: dict[int, float] = {}
        self._group_sent: dict[int, deque[float]] = {}

    def now(self) -> float:
        return self._loop.time()

    def pause(self, seconds: float, chat_id: int) -> None:
        """Telegram said 429: nothing leaves until it allows again, this chat included."""
        until = self.now() + seconds
        self._paused_until = max(self._paused_until, until)
        self._chat_free[chat_id] = max(self._chat_free.get(chat_id, 0.0), until)

    def _chat_ready_at(self, chat_id: int, group_like: bool) -> float:
        ready = self._chat_free.get(chat_id, 0.0)
        sent = self._group_sent.get(chat_id) if group_like else None
        if sent is not None and len(sent) >= self.pacing.group_per_minute:
            ready = max(ready, sent[0] + self.pacing.group_window)
        return ready

    async def turn(self, chat_id: int, group_like: bool) -> None:
        """Wait until a message to this chat may be sent, and take that slot."""
        while True:
            wait = self._chat_ready_at(chat_id, group_like) - self.now()
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._lock:
                while True:
                    now = self.now()
                    earliest = self._tat - (self.pacing.global_burst - 1) * self.interval
                    wait = max(self._paused_until, earliest) - now
                    if wait <= 0:
                        break
                    await asyncio.sleep(wait)
                # Another row for the same chat may have gone first while this one queued.
                if self._chat_ready_at(chat_id, group_like) <= now:
                    self._take(chat_id, group_like, now)
                    return

    def _take(self, chat_id: int, group_like: bool, now: float) -> None:
        self._tat = max(self._tat, now) + self.interval
        if len(self._chat_free) > 50_000:
            # Forget chats whose spacing has passed, so memory stays bounded.
            self._chat_free = {c: t for c, t in self._chat_free.items() if t > now}
        self._chat_free[chat_id] = now + self.pacing.per_chat_interval
        if group_like:
            sent = self._group_sent.setdefault(chat_id, deque(maxlen=self.pacing.group_per_minute))
            sent.append(now)


class _Outcome(Enum):
    DONE = "done"  # the result is final and recorded
    AGAIN = "again"  # send the row again (after a 429, a migration or a timeout)


@dataclass
class _Row:
    """A claimed row, as the engine tracks it between claim and result."""

    id: int
    broadcast_id: int
    chat_id: int
    kind: str
    attempts: int
    delivery: Delivery
    valid_until: float  # event-loop time until which the claim is known to hold
    content: Outgoing | None = None
    backoff: float = 0.0


@dataclass
class _Recorder:
    """Group commit: results that arrive while a write is running go in the next one."""

    sessions: SessionFactory
    pending: list[dict[str, Any]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def write(self, result: dict[str, Any]) -> None:
        self.pending.append(result)
        async with self.lock:
            if not self.pending:
                return  # an earlier writer took this result with its batch
            batch, self.pending = self.pending, []
            async with self.sessions() as session:
                await outbox.record(session=session, results=batch)


class DeliveryEngine:
    """Sends what is queued in the outbox; see the module docstring for the guarantees."""

    def __init__(
        self,
        *,
        bot: telegram.Bot,
        sessions: SessionFactory,
        render: Render,
        pacing: Pacing | None = None,
        on_progress: Progress | None = None,
        claimer: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.bot = bot
        self.metrics = metrics
        self.sessions = sessions
        self.render = render
        self.pacing = pacing or Pacing()
        self.on_progress = on_progress
        self.claimer = claimer or make_claimer()
        self.flood_waits = 0  # 429s met: 0 when the pacing is right
        self._task: asyncio.Task[None] | None = None
        self._progress_task: asyncio.Task[None] | None = None
        self._claims_task: asyncio.Task[None] | None = None
        self._claimed: dict[int, _Row] = {}
        self._senders: set[asyncio.Task[None]] = set()
        self._inflight: set[asyncio.Task[_Outcome]] = set()
        self._touched: set[int] = set()
        self._wake = asyncio.Event()
        self._generation = 0  # bumped by every enqueue that added rows
        self._idle = asyncio.Event()
        self._settled = asyncio.Event()
        self._pacer: _Pacer | None = None
        self._slots: asyncio.Semaphore | None = None
        self._recorder = _Recorder(sessions)

    @property
    def worker(self) -> asyncio.Task[None] | None:
        """The task that claims and dispatches rows (tests cancel it to play a shutdown)."""
        return self._task

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, sole: bool = False) -> None:
        """Start the worker; rows of engines that are gone are queued again first.

        `sole`: the caller knows no other engine runs on this database (it holds the
        database's lock file), so every claim but this engine's is abandoned.
        """
        if self._task is not None and not self._task.done():
            return
        await self._take_back(sole=sole, at_start=True)
        self._pacer = _Pacer(self.pacing)
        self._slots = asyncio.Semaphore(self.pacing.concurrency)
        self._idle.clear()
        self._wake.set()
        self._task = asyncio.create_task(self._work(), name="delivery-worker")
        self._claims_task = asyncio.create_task(self._keep_claims(), name="delivery-claims")
        if self.on_progress is not None:
            self._progress_task = asyncio.create_task(self._report_loop(), name="delivery-progress")

    async def _take_back(self, *, sole: bool, at_start: bool) -> int:
        """Queue again the rows of engines that are gone; say whose and how many."""
        now = utcnow()
        taken = 0
        async with self.sessions() as session:
            for claim in await outbox.claims(session=session, now=now):
                mine = claim.claimer == self.claimer
                if mine and not at_start:
                    # Rows this engine tracks are renewed; an expired one of its own is a
                    # row whose result could not be written.
                    expired_by: datetime | None = now
                elif mine or claim.claimer is None or sole:
                    expired_by = None  # all of them
                elif claim.expired:
                    expired_by = now
                else:
                    if at_start:
                        # Alive, or dead too recently to know: it may still be sending.
                        log.info(
                            "leaving %d deliveries to %s until its claim expires at %s",
                            claim.rows, claim.claimer, claim.expires_at,
                        )  # fmt: skip
                    continue
                count = await outbox.take_back(
                    session=session, claimer=claim.claimer, expired_by=expired_by
                )
                if count:
                    log.warning("taking back %d deliveries %s", count, _whose(claim, mine, sole))
                taken += count
        return taken

    async def _keep_claims(self) -> None:
        """While the engine runs: renew its claims, take back those of engines that are
        gone, and wake the worker for rows another process queued."""
        assert self._pacer is not None
        while True:
            await asyncio.sleep(CLAIM_RENEW)
            try:
                await self._renew()
                if await self._take_back(sole=False, at_start=False):
                    self._idle.clear()
            except Exception:
                # The claims hold for CLAIM_TTL; the next round tries again, and a claim
                # that lapses meanwhile is not sent on (see _run).
                log.exception("renewing delivery claims failed; trying again shortly")
            self._wake.set()

    async def _renew(self) -> None:
        assert self._pacer is not None
        rows = list(self._claimed.values())
        if not rows:
            return
        began = self._pacer.now()
        async with self.sessions() as session:
            await outbox.renew(
                session=session,
                claimer=self.claimer,
                ids=[row.id for row in rows],
                expires_at=utcnow() + timedelta(seconds=CLAIM_TTL),
            )
        for row in rows:
            row.valid_until = max(row.valid_until, began + CLAIM_TTL)

    async def stop(self) -> None:
        """Stop: sends under way finish and are recorded, rows not yet sent stay queued."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # A shutdown must end even if a send never answers: after STOP_GRACE the rows
            # still "sending" are left so, and resent at the next start (at-least-once).
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), STOP_GRACE)
            if not task.done():
                log.warning(
                    "delivery engine did not wind down in %s s; stopping anyway", STOP_GRACE
                )
        claims, self._claims_task = self._claims_task, None
        await cancelled(claims)
        progress, self._progress_task = self._progress_task, None
        if progress is not None:
            # Python 3.11's wait_for can swallow a cancel that lands just as the wait it
            # guards finishes (gh-86296); the loop would then tick on and stop() hang. So
            # cancel again until it takes.
            while not progress.done():
                progress.cancel()
                await asyncio.wait({progress}, timeout=0.1)
            with contextlib.suppress(asyncio.CancelledError):
                await progress
            # The coordinator's progress message shows where sending stopped.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._report(), STOP_GRACE)

    async def enqueue(
        self, broadcast_id: int, recipients: Sequence[Recipient], chosen: Sequence[Any] = ()
    ) -> int:
        """Queue a broadcast's recipients, and the private ones each `chosen` SELECT of
        (chat_id, language, not_before) gives; a recipient already queued is not queued
        again. The chats go first, so the claim (in id order) sends to channels and groups
        before it works through the residents.

        Returns how many rows are new.
        """
        async with self.sessions() as session:
            added = await outbox.enqueue(
                session=session,
                broadcast_id=broadcast_id,
                recipients=[(r.chat_id, r.kind, r.language, r.not_before) for r in recipients],
            )
            for query in chosen:
                added += await outbox.enqueue_chosen(
                    session=session, broadcast_id=broadcast_id, chosen=query
                )
        if added:
            self.queued()
        return added

    def queued(self) -> None:
        """Rows were queued in this process by another way in (bot.notices): send them now
        rather than at the next look for rows other processes queued."""
        self._generation += 1
        self._idle.clear()
        self._wake.set()

    async def counts(self, broadcast_id: int) -> Counts:
        async with self.sessions() as session:
            return Counts(**await outbox.counts(session=session, broadcast_id=broadcast_id))

    async def idle(self) -> None:
        """Wait until nothing is queued or sending (tests and benchmarks)."""
        await self._idle.wait()

    # ------------------------------------------------------------------ the worker

    async def _work(self) -> None:
        claiming: asyncio.Task[list[Delivery]] | None = None
        try:
            while True:
                # Rows held back for quiet hours come due without an enqueue to wake us.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), HELD_BACK_POLL)
                self._wake.clear()
                room = self.pacing.window - len(self._claimed)
                if room <= 0:
                    continue
                # Shielded: a cancel must not cut a commit in half; rows it claimed are
                # put back by _wind_down.
                generation = self._generation
                assert self._pacer is not None
                valid_until = self._pacer.now() + CLAIM_TTL
                claiming = asyncio.create_task(self._claim(room))
                try:
                    rows = await asyncio.shield(claiming)
                except Exception:
                    log.exception("claiming deliveries failed; trying again shortly")
                    claiming = None
                    await asyncio.sleep(CLAIM_RETRY)
                    self._wake.set()
                    continue
                claiming = None
                for delivery in rows:
                    self._dispatch(delivery, valid_until)
                # A claim that began before an enqueue committed cannot have seen its rows.
                if not rows and not self._claimed and generation == self._generation:
                    self._idle.set()
                    self._settled.set()
        finally:
            await self._wind_down(claiming)

    async def _claim(self, limit: int) -> list[Delivery]:
        async with self.sessions() as session:
            return await outbox.claim(
                session=session,
                limit=limit,
                claimer=self.claimer,
                expires_at=utcnow() + timedelta(seconds=CLAIM_TTL),
            )

    def _track(self, delivery: Delivery, valid_until: float) -> _Row:
        assert delivery.id is not None
        row = _Row(
            id=delivery.id,
            broadcast_id=delivery.broadcast_id,
            chat_id=delivery.chat_id,
            kind=delivery.recipient,
            attempts=delivery.attempts,
            delivery=delivery,
            valid_until=valid_until,
        )
        self._claimed[row.id] = row
        return row

    def _dispatch(self, delivery: Delivery, valid_until: float) -> None:
        row = self._track(delivery, valid_until)
        sender = asyncio.create_task(self._run(row), name=f"delivery-{row.id}")
        self._senders.add(sender)
        sender.add_done_callback(self._senders.discard)

    async def _unstoppable(self, work: Awaitable[_Outcome]) -> _Outcome:
        """Run work that must complete once begun (a send and its record), even on stop."""
        task = asyncio.ensure_future(work)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await asyncio.shield(task)

    async def _wind_down(self, claiming: asyncio.Task[list[Delivery]] | None) -> None:
        """Stop waiting rows, let started sends finish, put the rest back in the queue."""
        for sender in list(self._senders):
            sender.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        await asyncio.gather(*self._inflight, return_exceptions=True)
        if claiming is not None:
            for delivery in await claiming:
                self._track(delivery, 0.0)
        unsent = {row.id: row.attempts for row in self._claimed.values()}
        self._claimed.clear()
        if unsent:
            async with self.sessions() as session:
                await outbox.release(session=session, claimer=self.claimer, attempts=unsent)
        self._idle.set()

    async def _run(self, row: _Row) -> None:
        """Pace, send and record one row, sending again while Telegram asks for it."""
        assert self._pacer is not None
        assert self._slots is not None
        try:
            try:
                row.content = await self.render(row.delivery)
            except Exception as error:
                log.exception("rendering delivery %d failed", row.id)
                await self._unstoppable(
                    self._finish(row, DeliveryStatus.FAILED, error=f"render: {error!r}")
                )
                return
            while True:
                if row.backoff:
                    await asyncio.sleep(row.backoff)
                async with self._slots:
                    await self._pacer.turn(row.chat_id, row.kind in GROUP_LIKE)
                    if row.valid_until - self._pacer.now() < SEND_MARGIN:
                        await self._lapsed(row)
                        return
                    # From here the message may reach Telegram: a stop lets it finish.
                    outcome = await self._unstoppable(self._attempt(row))
                if outcome is _Outcome.DONE:
                    return
        except Exception:
            # Most likely the result could not be written: the row stays "sending" in the
            # database, is no longer renewed, and is sent again once its claim expires (by
            # this engine's claim keeper) or at the next start: the at-least-once window.
            log.exception("delivery %d could not be completed", row.id)
            self._claimed.pop(row.id, None)
            self._after_row()

    async def _lapsed(self, row: _Row) -> None:
        """The claim may expire before Telegram answers: another engine may take the row,
        so this one does not send it; it goes back to the queue if it is still ours."""
        log.warning("delivery %d: its claim could not be renewed; not sending it", row.id)
        self._claimed.pop(row.id, None)
        async with self.sessions() as session:
            await outbox.release(
                session=session, claimer=self.claimer, attempts={row.id: row.attempts}
            )
        self._after_row()

    async def _attempt(self, row: _Row) -> _Outcome:
        """One send to Telegram and what its answer means for the row."""
        assert self._pacer is not None
        assert row.content is not None
        try:
            message = await self._send(row.chat_id, row.content)
        except RetryAfter as error:
            seconds = retry_seconds(error)
            self.flood_waits += 1
            if self.metrics is not None:
                self.metrics.flood_wait("delivery", seconds)
            log.warning("flood limit hit; pausing deliveries for %.1f s", seconds)
            self._pacer.pause(seconds, row.chat_id)
            row.backoff = 0.0
            return _Outcome.AGAIN
        except ChatMigrated as error:
            return await self._migrated(row, int(error.new_chat_id))
        except Forbidden as error:
            await self._retire(row)
            row.attempts += 1
            return await self._finish(row, DeliveryStatus.BLOCKED, error=error.message)
        except BadRequest as error:
            row.attempts += 1
            if "chat not found" in error.message.lower():
                await self._retire(row)
                return await self._finish(row, DeliveryStatus.GONE, error=error.message)
            return await self._finish(row, DeliveryStatus.FAILED, error=error.message)
        except NetworkError as error:  # TimedOut included; it may have delivered
            row.attempts += 1
            if row.attempts < self.pacing.max_attempts:
                row.backoff = self.pacing.retry_backoff * 2 ** (row.attempts - 1)
                log.info("delivery %d: %s; sending again", row.id, type(error).__name__)
                return _Outcome.AGAIN
            return await self._finish(
                row, DeliveryStatus.FAILED, error=f"{type(error).__name__}: {error}"
            )
        except TelegramError as error:
            row.attempts += 1
            return await self._finish(
                row, DeliveryStatus.FAILED, error=f"{type(error).__name__}: {error}"
            )
        row.attempts += 1
        return await self._finish(row, DeliveryStatus.SENT, message_id=message.message_id)

    async def _send(self, chat_id: int, content: Outgoing) -> Message:
        if content.edit_of is not None:
            return await self._edit(chat_id, content.edit_of, content)
        if content.photo is not None:
            return await self.bot.send_photo(
                chat_id,
                content.photo,
                caption=content.text,
                parse_mode=ParseMode.HTML,
                reply_markup=content.keyboard,
            )
        return await self.bot.send_message(
            chat_id, content.text, parse_mode=ParseMode.HTML, reply_markup=content.keyboard
        )

    async def _edit(self, chat_id: int, message_id: int, content: Outgoing) -> Message:
        """Paced like a send: an edit counts against Telegram's limits the same way."""
        if content.markup_only:
            edited = await self.bot.edit_message_reply_markup(
                chat_id, message_id, reply_markup=content.keyboard
            )
        elif content.photo is not None:
            edited = await self.bot.edit_message_caption(
                chat_id, message_id, caption=content.text, parse_mode=ParseMode.HTML,
                reply_markup=content.keyboard,
            )  # fmt: skip
        else:
            edited = await self.bot.edit_message_text(
                content.text, chat_id, message_id, parse_mode=ParseMode.HTML,
                reply_markup=content.keyboard,
            )  # fmt: skip
        if not isinstance(edited, Message):
            raise BadRequest("the edit returned no message")
        return edited

    async def _migrated(self, row: _Row, new_chat_id: int) -> _Outcome:
        """The group became a supergroup: it, and this row, follow; then send again."""
        async with self.sessions() as session:
            await group_store.migrate(
                session=session, old_chat_id=row.chat_id, new_chat_id=new_chat_id
            )
            moved = await outbox.move_chat(
                session=session, delivery_id=row.id, new_chat_id=new_chat_id
            )
        if not moved:
            # The broadcast already has a row for the supergroup: that one delivers.
            return await self._finish(
                row, DeliveryStatus.GONE, error=f"migrated to {new_chat_id}, already queued"
            )
        row.chat_id = new_chat_id
        row.delivery.chat_id = new_chat_id
        row.backoff = 0.0
        return _Outcome.AGAIN

    async def _retire(self, row: _Row) -> None:
        """The recipient can no longer be reached: later broadcasts skip it."""
        async with self.sessions() as session:
            if row.kind == "user":
                await user_store.mark_blocked(session=session, user_id=row.chat_id)
            elif row.kind == "group":
                await group_store.deactivate(session=session, chat_id=row.chat_id)
            elif row.kind == "channel":
                await channel_store.deactivate(session=session, chat_id=row.chat_id)
            await session.commit()

    async def _finish(
        self,
        row: _Row,
        status: DeliveryStatus,
        *,
        message_id: int | None = None,
        error: str | None = None,
    ) -> _Outcome:
        # Before the write: a progress tick that sees the result must not see the
        # broadcast touched again afterwards (it would report "done" twice).
        self._touched.add(row.broadcast_id)
        await self._recorder.write(
            {
                "id": row.id,
                "status": status,
                "attempts": row.attempts,
                "chat_id": row.chat_id,
                "message_id": message_id,
                "error": error,
                "sent_at": utcnow() if status == DeliveryStatus.SENT else None,
            }
        )
        self._claimed.pop(row.id, None)
        if self.metrics is not None:
            self.metrics.messages.labels(str(status)).inc()
        self._after_row()
        return _Outcome.DONE

    def _after_row(self) -> None:
        # Claim in batches: wake the worker when half the window is free, or when the
        # window is empty (then it may find the queue empty and report idle).
        free = self.pacing.window - len(self._claimed)
        if free * 2 >= self.pacing.window or not self._claimed:
            self._wake.set()

    # ------------------------------------------------------------------ progress

    async def _report_loop(self) -> None:
        # A tick every progress_interval, and one as soon as the engine runs out of work so
        # the final figures come at once.
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), self.pacing.progress_interval)
            self._settled.clear()
            await self._report()

    async def _report(self) -> None:
        """Tell on_progress the counts of every broadcast that moved since the last report;
        a broadcast that is done is reported once more and then no longer."""
        if self.on_progress is None:
            return
        for broadcast_id in sorted(self._touched):
            counts = await self.counts(broadcast_id)
            if counts.pending == 0:
                self._touched.discard(broadcast_id)
            try:
                await self.on_progress(broadcast_id, counts)
            except Exception:
                log.exception("progress report of broadcast %d failed", broadcast_id)


def _whose(claim: outbox.Claim, mine: bool, sole: bool) -> str:
    """How the log names a claimer whose rows are taken back, and why it may be."""
    if claim.claimer is None:
        return 'left "sending" by a version of the bot that did not name its claims'
    if mine:
        return "this engine claimed and could not finish"
    if sole:
        return f"claimed by {claim.claimer}, which is gone (this process holds the database)"
    return f"claimed by {claim.claimer}, which is gone (its claim expired)"
