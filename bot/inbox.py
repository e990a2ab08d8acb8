"""The durable inbox: no update is lost to a crash, none is applied twice.

Guarantee. An update is written to the `inbox` table (its JSON, `update_id` unique)
before Telegram is told it arrived. With long polling, Telegram forgets an update
only when the *next* getUpdates carries an offset past it; `InboxBot.get_updates`
stores the batch before it returns, so by the time the offset moves, the batch is in
the database. (A webhook calls `Inbox.store` before it answers 200.) If the store
fails, getUpdates fails and Telegram keeps the updates.

An update is marked done when its handlers have finished (`InboxApplication`); the
payload is deleted at once, only the id stays (a day) to recognise a replay: the same
update_id fetched again (after a crash before the offset moved) is skipped. At start,
before polling, the pending rows are handled first, in update order per chat.

Duplicates: an update whose handler was running at the kill is handled again at
start; whatever it had already sent (an answer) may be sent a second time. The
database side does not double: every use case commits once, and the rules are
idempotent (joining the wijk one already follows records nothing). So the duplicate
window is the updates in flight at the kill: at most one per chat, at most as many as
the bot handles at once (MAX_CONCURRENT_UPDATES).

A leader that loses the lease without dying (its lock's connection cut, or the process
stuck past the lease's idle limit and then resumed; bot.lease) is no worse. Each try of
a stored update starts only while the lease's fence covers it (`may_start`); past it the
update is left pending for the next leader, which leads only once that fence is over.
A handler already running finishes, but is not tried again, nor apologised for. So the
window is the same: the updates whose try had started when the fence ran out, at most
one per chat and at most MAX_CONCURRENT_UPDATES, each handled at most twice
(tests/test_replicas.py stops a leader with 32 updates queued: 8 running, 24 left).

Failures. A handler that raises is tried again at once (same chat order), up to
BUURTBOT_INBOX_MAX_ATTEMPTS tries in all; a crash while it ran counts as a try too,
so an update that kills the bot cannot kill it forever. A message a failing try had
already sent before it raised may be sent again by the next try (the second part of
the duplicate window). After the last try the user gets the error handler's apology
and the row becomes a dead letter: no payload, only the error's name (a KeyedError's
key, else the exception class).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, ExtBot

from bot.errors import KeyedError
from bot.keys import Keyring, SealError
from bot.logs import current_update
from bot.tasks import cancelled
from bot.updates import chat_key, update_kind
from storage import inbox as store
from storage.engine import SessionFactory
from storage.models import InboxStatus, utcnow

log = logging.getLogger(__name__)

# A replay comes within seconds (the offset was not confirmed before a crash); a day is
# far beyond that, and done rows hold nothing but the id.
KEEP_DONE = timedelta(days=1)
# Dead letters hold no text; kept a month so administrators see them in /overzicht.
KEEP_DEAD = timedelta(days=30)
# Between two tries of a failing handler: long enough for a lock or a hiccup to pass,
# short enough that the user's apology (after the last try) comes soon.
RETRY_PAUSE = 0.1
# The purpose of the key that seals payloads (bot.keys).
SEAL = "inbox"
# Webhook mode: how often the leader looks for updates other replicas stored, and how
# many it holds in memory at once (the rest wait in the table).
DISPATCH_EVERY = 0.5
MAX_IN_HAND = 500
# Dropped presses are marked done together, this long after the first of them.
DONE_SOON_DELAY = 0.25


class InboxUnavailable(TelegramError):
    """Fetched updates could not be stored. A TelegramError so that PTB's polling loop
    backs off (1 s, growing to 30 s) and fetches the same updates again, unconfirmed."""


@dataclass(frozen=True)
class InboxCounts:
    pending: int
    dead: int


def error_name(error: BaseException) -> str:
    """What a dead letter keeps of a failure: a key or a class name, never its text."""
    return error.key if isinstance(error, KeyedError) else type(error).__name__


class Inbox:
    """The inbox service: store, finish, fail, recover, count, prune."""

    def __init__(self, sessions: SessionFactory, keyring: Keyring, *, max_attempts: int) -> None:
        self.sessions = sessions
        # Payloads are sealed: an update may be an anonymous reporter's, with their user id
        # and words, and its row's old versions outlive it (WAL, dead row versions).
        self.keyring = keyring
        self.max_attempts = max_attempts
        # Ids fetched again that were already stored: the processing step skips them.
        self._replays: set[int] = set()
        self._done_soon: set[int] = set()
        self._flusher: asyncio.Task[None] | None = None
        # Done marks waiting for the one write that takes them all (a group commit).
        self._marks: dict[int, asyncio.Future[None]] = {}
        self._marker: asyncio.Task[None] | None = None
        self.mark_writes = 0  # how many writes the done marks took: fewer than updates

    async def store(
        self,
        updates: Sequence[Update],
        raw: Mapping[int, Any] | None = None,
        *,
        handling: bool = True,
        tried: bool | None = None,
    ) -> list[Update]:
        """Store new updates before anyone confirms them; returns those that are new.

        `raw`: the JSON Telegram sent, by update id, where the caller has it; sealing
        that spares serialising each parsed update again (a millisecond an update).
        `handling`: this process hands them to its handlers right after (long polling),
        so the others are replays for `is_replay` to tell the processing step. A webhook
        stores without handling: the leader takes the rows from the table (Dispatcher).
        `tried`: whether the first try counts already (by default: when `handling`).
        """
        if not updates:
            return []
        known = raw or {}
        rows = [(u.update_id, self._seal(u, known.get(u.update_id))) for u in updates]
        async with self.sessions() as session:
            new = await store.store(
                session=session, updates=rows, tried=handling if tried is None else tried
            )
            await session.commit()
        fresh = [u for u in updates if u.update_id in new]
        replays = [u.update_id for u in updates if u.update_id not in new]
        if replays:
            log.info("skipping %d updates already stored (replays): %s", len(replays), replays)
            if handling:
                self._replays.update(replays)
        return fresh

    def is_replay(self, update_id: int) -> bool:
        if update_id in self._replays:
            self._replays.discard(update_id)
            return True
        return False

    async def done(self, update_id: int) -> None:
        """Handled: returns once the mark is written.

        Marks that arrive while one write is under way go together in the next one, so
        a busy bot writes a few marks per transaction instead of one transaction per
        update; on SQLite's single connection that was half of every update's writes.
        Nobody waits longer than one write for it.
        """
        future = self._marks.get(update_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            # Read by whoever awaits it; this keeps a waiter cancelled meanwhile from
            # leaving a "never retrieved" exception behind.
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._marks[update_id] = future
        if self._marker is None or self._marker.done():
            self._marker = asyncio.get_running_loop().create_task(self._write_marks())
        await asyncio.shield(future)

    async def _write_marks(self) -> None:
        while self._marks:
            batch, self._marks = self._marks, {}
            try:
                async with self.sessions() as session:
                    await store.finish_many(session=session, update_ids=sorted(batch))
                    await session.commit()
                self.mark_writes += 1
            except Exception as error:  # each waiting update hears of it, as one write would
                for future in batch.values():
                    if not future.done():
                        future.set_exception(error)
            else:
                for future in batch.values():
                    if not future.done():
                        future.set_result(None)

    def done_soon(self, update_id: int) -> None:
        """A dropped repeat press: marked done with the others of its burst in one write a
        moment later, not one write each, which a flood would queue before everyone
        else's queries. A crash before that replays presses nobody waits for."""
        self._done_soon.add(update_id)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        # Until none wait: marks that came in while a flush was writing go with the next.
        while self._done_soon:
            await asyncio.sleep(DONE_SOON_DELAY)
            await self.flush()

    async def close(self) -> None:
        """At shutdown: what waits is written now, not by a timer that would outlive us."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
        if self._marker is not None:
            await asyncio.gather(self._marker, return_exceptions=True)
        await self.flush()

    async def flush(self) -> None:
        """Write the done marks still waiting."""
        ids, self._done_soon = sorted(self._done_soon), set()
        if ids:
            async with self.sessions() as session:
                await store.finish_many(session=session, update_ids=ids)
                await session.commit()

    async def failed(self, update_id: int, error: BaseException, attempts: int) -> int | None:
        """A try failed: the next try's number, or None once the update is a dead letter."""
        name = error_name(error)
        async with self.sessions() as session:
            if attempts >= self.max_attempts:
                await store.bury(session=session, update_id=update_id, error=name)
                await session.commit()
                log.warning(
                    "update %s failed %d times (%s): dead letter", update_id, attempts, name
                )
                return None
            await store.record_failure(session=session, update_id=update_id, error=name)
            next_try = await store.begin_try(session=session, update_id=update_id)
            await session.commit()
        log.warning(
            "update %s failed (%s), try %d of %d", update_id, name, attempts, self.max_attempts
        )
        return next_try or None

    async def pending(
        self, bot: ExtBot[Any], *, skip: Collection[int] = (), limit: int | None = None
    ) -> list[tuple[Update, int]]:
        """The unfinished updates, oldest first, with the tries they have had."""
        async with self.sessions() as session:
            rows = await store.pending(session=session, skip=skip, limit=limit)
        found = []
        for row in rows:
            if row.payload is None:
                continue
            update = await self._open(bot, row.update_id, row.payload)
            if update is not None:
                found.append((update, row.attempts))
        return found

    async def _open(self, bot: ExtBot[Any], update_id: int, payload: str) -> Update | None:
        try:
            plain = self.keyring.open(SEAL, payload, bound_to=str(update_id))
        except SealError:
            # Sealed under another key (a throwaway sandbox key, or before a rotation):
            # nobody can read it, so it can never be handled.
            await self.failed(update_id, SealError(SEAL), self.max_attempts)
            return None
        return Update.de_json(json.loads(plain), bot)

    def _seal(self, update: Update, raw: Any = None) -> str:
        content = raw if raw is not None else update.to_dict()
        plain = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
        return self.keyring.seal(SEAL, plain, bound_to=str(update.update_id))

    async def give_back(self, update_id: int) -> None:
        """The try counted when this process took the update never ran (it lost the lease
        first): uncounted, so failovers alone cannot make it a dead letter."""
        async with self.sessions() as session:
            await store.give_back_try(session=session, update_id=update_id)
            await session.commit()

    async def begin_replay(self, update_id: int, attempts: int) -> int | None:
        """A stored update is about to be handled again: its try number, or None when it
        had all its tries already (it was running each time the bot died) and is buried."""
        async with self.sessions() as session:
            if attempts >= self.max_attempts:
                await store.bury(session=session, update_id=update_id, error="Interrupted")
                await session.commit()
                log.warning("update %s was running at %d crashes: dead letter", update_id, attempts)
                return None
            next_try = await store.begin_try(session=session, update_id=update_id)
            await session.commit()
        return next_try or None

    async def take(
        self,
        bot: ExtBot[Any],
        *,
        skip: Collection[int],
        limit: int,
        own: Mapping[int, Update] | None = None,
    ) -> list[tuple[Update, int]]:
        """The leader takes the pending updates not in its hands, oldest first, counting
        each one's try in one write for all (webhook mode: many small arrivals, where
        one write per update would double the database's work). Those that had all
        their tries already (running at each crash) are buried, as in `begin_replay`.

        `own`: updates this process stored itself with their try counted (the leader's
        own pushes, `Dispatcher.store_own`), by id: for those only the id is read, no
        payload opened and no try counted again.
        """
        if own:
            found = await self._pending_mostly_own(bot, skip=skip, limit=limit, own=own)
        else:
            found = await self.pending(bot, skip=skip, limit=limit)
        counted = {
            update.update_id: attempts
            for update, attempts in found
            if update.update_id in (own or {}) and 0 < attempts < self.max_attempts
        }
        rest = [(update, attempts) for update, attempts in found if update.update_id not in counted]
        worn = [update.update_id for update, attempts in rest if attempts >= self.max_attempts]
        fresh = [update.update_id for update, attempts in rest if attempts < self.max_attempts]
        tries: dict[int, int] = {}
        if worn or fresh:
            async with self.sessions() as session:
                for update_id in worn:
                    await store.bury(session=session, update_id=update_id, error="Interrupted")
                tries = await store.begin_tries(session=session, update_ids=fresh)
                await session.commit()
        for update_id in worn:
            log.warning("update %s was running at every try: dead letter", update_id)
        tries.update(counted)
        return [
            (update, tries[update.update_id]) for update, _ in found if update.update_id in tries
        ]

    async def _pending_mostly_own(
        self, bot: ExtBot[Any], *, skip: Collection[int], limit: int, own: Mapping[int, Update]
    ) -> list[tuple[Update, int]]:
        """`pending`, reading and opening only the payloads of the rows not in `own`."""
        async with self.sessions() as session:
            rows = await store.pending_ids(session=session, skip=skip, limit=limit)
            sealed = await store.payloads(
                session=session, update_ids=[i for i, _ in rows if i not in own]
            )
        found = []
        for update_id, attempts in rows:
            update = own.get(update_id)
            if update is None and update_id in sealed:
                update = await self._open(bot, update_id, sealed[update_id])
            if update is not None:
                found.append((update, attempts))
        return found

    async def counts(self) -> InboxCounts:
        async with self.sessions() as session:
            found = await store.counts(session=session)
        return InboxCounts(pending=found[InboxStatus.PENDING], dead=found[InboxStatus.DEAD])

    async def prune(self) -> None:
        """Forget done rows after a day and dead letters after a month."""
        now = utcnow()
        async with self.sessions() as session:
            removed = await store.prune(
                session=session, done_before=now - KEEP_DONE, dead_before=now - KEEP_DEAD
            )
            await session.commit()
        if removed:
            log.info("inbox: forgot %d finished updates", removed)


class InboxBot(ExtBot[None]):
    """The application's bot: getUpdates stores what it fetched before returning it.

    The Updater confirms a batch with its next getUpdates call, which it makes only
    after this one returned; so nothing is confirmed that is not stored.
    """

    __slots__ = ("_fetched", "_inbox_of", "_sift")

    def __init__(
        self,
        inbox_of: Callable[[], Inbox | None],
        *,
        sift: Callable[[list[Any]], list[Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        with self._unfrozen():
            # Looked up per call: the inbox opens with the database in post_init.
            self._inbox_of = inbox_of
            # What the update processor would drop, cut down before PTB parses it (its sift).
            self._sift = sift
            # The last getUpdates' JSON as Telegram sent it, by update id (see _post).
            self._fetched: dict[int, Any] = {}

    async def _post(self, endpoint: str, data: Any = None, **kwargs: Any) -> Any:
        # The one place the JSON of fetched updates passes before PTB parses it; kept
        # to be sealed as it came. The Updater's getUpdates calls follow one another.
        result = await super()._post(endpoint, data, **kwargs)
        if endpoint == "getUpdates" and isinstance(result, list):
            # Filled in place: the bot's attributes are frozen after __init__.
            self._fetched.clear()
            self._fetched.update(
                (item["update_id"], item) for item in result if "update_id" in item
            )
            if self._sift is not None:
                # The inbox seals each update whole (_fetched); only PTB gets less.
                return self._sift(result)
        return result

    async def put_html(
        self,
        chat_id: int,
        text: str,
        keyboard: InlineKeyboardMarkup | None = None,
        *,
        message_id: int | None = None,
    ) -> int | None:
        """Send an HTML text, or with `message_id` put it in place of that message's;
        returns the message's id.

        What Telegram answers (the whole message with its keyboard) is not built into
        PTB objects: most answers are never read, and building one was about a twentieth
        of the bot's CPU per update. Errors are PTB's, as for send_message.
        """
        data: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": ParseMode.HTML}
        if keyboard is not None:
            data["reply_markup"] = keyboard
        if message_id is not None:
            data["message_id"] = message_id
        result = await self._post("editMessageText" if message_id else "sendMessage", data)
        return int(result["message_id"]) if isinstance(result, dict) else message_id

    async def answer_callback_query(self, *args: Any, **kwargs: Any) -> bool:
        """A press answered too late (Telegram allows about 15 s; a queue after a restart,
        or a stampede, takes longer) is still carried out: only the spinner on the
        button could not be stopped. Raising would fail the handler before its edit, try
        it again and bury it, and the tap would be lost."""
        try:
            return await super().answer_callback_query(*args, **kwargs)
        except BadRequest as error:
            if "query is too old" not in error.message.lower():
                raise
            log.info("a button press was answered too late; handled anyway")
            return False

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        updates = await super().get_updates(*args, **kwargs)
        inbox = self._inbox_of()
        if not updates or inbox is None:
            return updates
        try:
            await inbox.store(updates, self._fetched)
        except Exception as exc:
            raise InboxUnavailable(f"updates not stored, fetched again: {exc!r}"[:200]) from exc
        # All of them go back, replays too: the Updater's next offset is the last id + 1,
        # and holding back a replay would have Telegram send it forever.
        return updates


# (kind, handler, outcome, seconds): what the metrics count of an update's end.
Finished = Callable[[str, str, str, float], None]


@dataclass
class _Try:
    final: bool
    error: BaseException | None = None


class InboxApplication(Application[Any, Any, Any, Any, Any, Any]):
    """Application whose updates finish in the inbox: done, tried again, or dead.

    Hooked here rather than in the update processor, which only orders and shares the
    slots: the handlers' outcome is known in process_update and process_error. Every
    update's end is logged once (id, kind, handler, latency, outcome: never a user or a
    text) and handed to `on_finished` (the metrics).
    """

    __slots__ = (
        "_from_store", "_inbox_of", "_may_start", "_on_finished", "_tries", "in_hand", "left"
    )  # fmt: skip

    def __init__(
        self,
        *,
        inbox_of: Callable[[], Inbox | None],
        on_finished: Finished | None = None,
        may_start: Callable[[], Awaitable[bool]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._inbox_of = inbox_of
        self._on_finished = on_finished
        # Asked as each stored update's turn comes: whether this process still leads
        # (bot.lease's fence). No: the update stays pending for the next leader.
        self._may_start = may_start
        self.left = 0  # updates left to the next leader so
        self._tries: dict[int, _Try] = {}
        # Rows the Dispatcher queued, with the tries they had: handled as stored ones.
        self._from_store: dict[int, int] = {}
        # Updates queued or running in this process: the Dispatcher never takes them again.
        self.in_hand: set[int] = set()

    def queue_stored(self, update: Update, attempt: int) -> None:
        """Hand a stored row whose try `attempt` is counted (Inbox.take) to the handlers
        through the update queue, in its order."""
        self.in_hand.add(update.update_id)
        self._from_store[update.update_id] = attempt
        self.update_queue.put_nowait(update)

    def dropped(self, update_id: int) -> None:
        """The update processor dropped a repeated press: its process_update never runs."""
        self.in_hand.discard(update_id)
        self._from_store.pop(update_id, None)

    async def process_update(self, update: object) -> None:
        inbox = self._inbox_of()
        if inbox is None or not isinstance(update, Update):
            await super().process_update(update)
            return
        try:
            attempt = self._from_store.pop(update.update_id, None)
            # A replay was stored (and its try counted) before: none of ours to give back.
            replay = attempt is None and inbox.is_replay(update.update_id)
            if not await self._still_leads(update, counted=not replay):
                return
            if attempt is not None:
                await self._handle(inbox, update, attempt)
            elif not replay:
                await self._handle(inbox, update, 1)
        finally:
            self.in_hand.discard(update.update_id)

    async def _still_leads(
        self, update: Update, *, started: bool = False, counted: bool = True
    ) -> bool:
        """Asked before each try of a stored update. A leader stopping normally keeps the
        lease to its end, so what it queued still runs; one that lost it leaves the rest
        pending for the next leader."""
        if self._may_start is None or await self._may_start():
            return True
        if not started:
            self.left += 1
            log.info("update %s left to the next leader: this process lost the lease",
                     update.update_id)  # fmt: skip
            inbox = self._inbox_of()
            if inbox is not None and counted:
                await inbox.give_back(update.update_id)
        return False

    async def handle_stored(self, update: Update, attempts: int) -> None:
        """Handle an update stored before a restart (or by another replica), counting
        the try a crash cost (none for a row nobody started)."""
        inbox = self._inbox_of()
        assert inbox is not None
        if not await self._still_leads(update, counted=False):  # begin_replay counts below
            return
        attempt = await inbox.begin_replay(update.update_id, attempts)
        if attempt is not None:
            await self._handle(inbox, update, attempt)

    async def _handle(self, inbox: Inbox, update: Update, attempt: int) -> None:
        started = time.monotonic()
        first = attempt
        current_update.set({"update_id": update.update_id, "kind": update_kind(update)})
        outcome = "dead"
        while True:
            current = _Try(final=attempt >= inbox.max_attempts)
            self._tries[update.update_id] = current
            try:
                await super().process_update(update)
            finally:
                del self._tries[update.update_id]
            if current.error is None:
                await inbox.done(update.update_id)
                outcome = "done" if attempt == first else "retried"
                break
            if not await self._still_leads(update, started=True):
                # The lease went while it ran (a timeout after a stop, say): its row, its
                # next try and any apology are the new leader's, which may have it done.
                outcome = "left"
                break
            next_try = await inbox.failed(update.update_id, current.error, attempt)
            if next_try is None:
                if not current.final:
                    # Not in the inbox (handed to process_update directly, never stored):
                    # no row to try again from, so the apology held back comes now.
                    await super().process_error(update, current.error)
                break
            await asyncio.sleep(RETRY_PAUSE * attempt)
            if not await self._still_leads(update, started=True):
                outcome = "left"  # a try is a start too: after a lost lease, not ours
                break
            attempt = next_try
        self._finished(update, outcome, time.monotonic() - started)

    def _finished(self, update: Update, outcome: str, seconds: float) -> None:
        context = current_update.get() or {}
        handler = str(context.get("handler") or "none")
        kind = update_kind(update)
        log.info(
            "update %s (%s) handled by %s in %.1f ms: %s",
            update.update_id, kind, handler, seconds * 1000, outcome,
            extra={"handler": handler, "latency_ms": round(seconds * 1000, 1), "outcome": outcome},
        )  # fmt: skip
        if self._on_finished is not None:
            self._on_finished(kind, handler, outcome, seconds)

    async def process_error(
        self,
        update: object | None,
        error: Exception,
        job: Any = None,
        coroutine: Any = None,
    ) -> bool:
        current = self._tries.get(update.update_id) if isinstance(update, Update) else None
        if current is not None:
            current.error = error
            if not current.final:
                # Not the last try: no apology yet, and no further handler groups; the
                # whole update runs again.
                return True
        return await super().process_error(update, error, job, coroutine)


class Dispatcher:
    """Webhook mode, in the leader: hands the stored updates to the handlers, oldest first.

    Every replica stores what Telegram pushes to it (`Inbox.store(handling=False)`) and
    answers 200; only the leader handles, taking the pending rows in update_id order and
    queueing them to the application, whose update processor keeps each chat's order. So
    two replicas never handle one chat at once, and an update stored by a replica that
    dies right after its 200 is handled all the same. Telegram pushes a chat's next
    update only once the one before was answered, and the answer comes after the commit,
    so a chat's rows are in the table in their order when the leader reads them.

    A push to the leader itself is stored with its try counted and kept in memory
    (`store_own`), and wakes the dispatcher at once; rows stored by another replica are
    found within `every` seconds. Each look reads the ids of the pending rows (in
    update_id order) and opens only the payloads of rows it does not hold already, with
    one write that counts the tries of those; arrivals while it reads are taken together
    at its next look. A new leader's first look finds what the old one left unfinished:
    those were running at its death (that try counts) or left when it lost the lease
    (their tries given back: failovers alone never make a dead letter).
    """

    def __init__(
        self, application: InboxApplication, inbox: Inbox, *, every: float = DISPATCH_EVERY
    ) -> None:
        self.application = application
        self.inbox = inbox
        self.every = every
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        # Updates pushed to this process while it leads, kept as parsed: the next look
        # reads only their ids, never their payloads again (`store_own`).
        self._own: dict[int, Update] = {}

    def wake(self) -> None:
        self._wake.set()

    async def store_own(self, update: Update, raw: Any) -> bool:
        """A push to this replica, the leader: stored (with its first try counted) before
        the caller answers 200, and kept in memory for the next look; whether it is new.

        Kept before the commit, so that no look can read the row while it is not yet
        kept; a look that runs before the commit does not see the row and leaves it to
        the next. Order is safe: the look that queues it read the table after its commit,
        so it sees every earlier update of the chat too, whichever replica stored it.
        """
        update_id = update.update_id
        own = len(self._own) < MAX_IN_HAND and update_id not in self.application.in_hand
        if own:
            self._own[update_id] = update
        try:
            fresh = await self.inbox.store([update], {update_id: raw}, handling=False, tried=own)
        except BaseException:
            self._own.pop(update_id, None)
            raise
        if not fresh:
            self._own.pop(update_id, None)  # a replay: the row (if pending) is read as stored
        self.wake()
        return bool(fresh)

    async def start(self) -> None:
        if self._task is None:
            self._wake.set()
            self._task = asyncio.create_task(self._loop(), name="inbox-dispatcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancelled(task)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.every)
            self._wake.clear()
            try:
                await self.dispatch()
            except Exception as error:
                if not self._failing:
                    log.warning("inbox: cannot read stored updates (%s)", type(error).__name__)
                self._failing = True
            else:
                self._failing = False

    async def dispatch(self) -> int:
        """Queue the stored updates not yet in hand; returns how many."""
        in_hand = self.application.in_hand
        room = MAX_IN_HAND - len(in_hand)
        if room <= 0:
            return 0  # the rest waits in the table, not in memory
        found = await self.inbox.take(
            self.application.bot, skip=set(in_hand), limit=room, own=dict(self._own)
        )
        queued = 0
        for update, attempt in found:
            self._own.pop(update.update_id, None)
            if update.update_id not in in_hand:
                self.application.queue_stored(update, attempt)
                queued += 1
        return queued


async def recover(application: InboxApplication, inbox: Inbox, *, concurrency: int) -> int:
    """Handle the updates left unfinished by the last run, in order per chat; returns how many.

    Runs before polling starts, so a chat's stored updates come before its new ones.
    """
    stored = await inbox.pending(application.bot)
    if not stored:
        return 0
    log.info("handling %d updates left unfinished by the last run", len(stored))
    chats: dict[int | None, list[tuple[Update, int]]] = defaultdict(list)
    loose: list[list[tuple[Update, int]]] = []
    for update, attempts in stored:
        key = chat_key(update)
        if key is None:
            loose.append([(update, attempts)])
        else:
            chats[key].append((update, attempts))
    slots = asyncio.Semaphore(concurrency)

    async def one_chat(queue: Iterable[tuple[Update, int]]) -> None:
        async with slots:
            for update, attempts in queue:
                await application.handle_stored(update, attempts)

    await asyncio.gather(*(one_chat(queue) for queue in [*chats.values(), *loose]))
    return len(stored)
