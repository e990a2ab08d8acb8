"""Concurrent update processing that keeps each chat's updates in order, and shares fairly."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

log = logging.getLogger(__name__)

# PTB's process_update (final) takes a slot of the base class's semaphore BEFORE
# do_process_update runs, so a bounded base semaphore lets one chat's queue of waiting
# updates hold every slot while they all wait for that chat's turn. The base semaphore is
# therefore sized never to bind (PTB has already made a task per update, so admitting
# them costs nothing more), and the real bound is taken in do_process_update, after the
# chat's turn has come.
ADMIT_ALL = 1 << 30

# A flooding chat hears "slow down" at most this often, however its queue comes and goes.
SLOW_DOWN_EVERY = 10.0

# Above this many chats remembered as told, the ones told long enough ago are forgotten.
TOLD_KEPT = 1024

SlowDown = Callable[[Update], Awaitable[None]]


def chat_key(update: object) -> int | None:
    """The conversation an update belongs to: its chat, else its user."""
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    return update.effective_user.id if update.effective_user is not None else None


UPDATE_KINDS = (
    "message",
    "edited_message",
    "channel_post",
    "callback_query",
    "my_chat_member",
    "chat_member",
    "edited_channel_post",
)


def update_kind(update: object) -> str:
    """What arrived, as the logs and metrics name it (never what it says)."""
    for kind in UPDATE_KINDS:
        if getattr(update, kind, None) is not None:
            return kind
    return "other"


def is_button_press(update: object) -> bool:
    """A callback query: the one kind of update that may be dropped (a repeat tap)."""
    return isinstance(update, Update) and update.callback_query is not None


@dataclass
class _Chat:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Updates of this chat inside the processor: the one running and those waiting.
    queued: int = 0

    @property
    def waiting(self) -> int:
        return self.queued - (1 if self.lock.locked() else 0)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Many chats at once, one update at a time within a chat, no chat hogging the slots.

    Handlers mostly wait on Telegram and the database; processing updates one by one
    would make every resident wait for everyone else's round trips. Two quick taps in
    one chat must still be handled in order (the second edits what the first drew),
    hence a lock per chat. Locks are FIFO and tasks start in update order, so order
    within a chat is the order Telegram sent.

    A chat first waits for its own turn and only then takes one of the shared slots, so
    a chat holds at most one slot and a flood in one chat cannot make others wait. While
    `max_waiting_per_chat` updates of a chat already wait, a further button press is
    dropped: its handler never runs, and the first one dropped in a burst (at most one
    every `tell_every` seconds) is answered by `slow_down` ("Even rustig aan."); the others
    get no answer at all, which costs Telegram nothing. Commands and messages are never
    dropped.

    Both ends, handled and dropped, go through `_finish`: a dropped press is done too
    (it was answered), which is what whoever tracks completion must see.
    """

    def __init__(
        self,
        max_concurrent_updates: int,
        *,
        max_waiting_per_chat: int,
        slow_down: SlowDown,
        on_dropped: SlowDown | None = None,
        tell_every: float = SLOW_DOWN_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_concurrent_updates < 1:
            raise ValueError("max_concurrent_updates must be a positive integer")
        if max_waiting_per_chat < 1:
            raise ValueError("max_waiting_per_chat must be at least 1")
        # The base __init__ sizes its semaphore by the max_concurrent_updates property,
        # which reads _limit: ADMIT_ALL while it runs, the real bound after.
        self._limit = ADMIT_ALL
        super().__init__(ADMIT_ALL)
        self._limit = max_concurrent_updates
        self._slots = asyncio.BoundedSemaphore(max_concurrent_updates)
        self._running = 0
        self._max_waiting = max_waiting_per_chat
        self._slow_down = slow_down
        # A dropped press is done too: the durable inbox must hear so (bot.inbox).
        self._on_dropped = on_dropped
        self._chats: dict[int, _Chat] = {}
        self._tell_every = tell_every
        self._clock = clock
        self._told_at: dict[int, float] = {}
        self.handled = 0
        self.dropped = 0
        # Presses `sift` already judged a flood: dropped without their handler's objects.
        self._sifted: set[int] = set()
        # Updates that found every slot taken and had to wait: with fewer busy chats than
        # slots this stays 0 however one chat floods, which is the fair share's promise.
        self.waited_for_slot = 0

    @property
    def max_concurrent_updates(self) -> int:
        """The real bound: updates whose handlers run at once."""
        return self._limit

    @property
    def current_concurrent_updates(self) -> int:
        return self._running

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        if self._slots.locked():
            self.waited_for_slot += 1
        async with self._slots:
            self._running += 1
            try:
                yield
            finally:
                self._running -= 1

    def sift(self, items: list[Any]) -> list[Any]:
        """A fetched batch as Telegram's JSON, with each press this processor would drop
        anyway cut down to its id and sender, so python-telegram-bot does not build the
        message and keyboard it came from (about 0.4 ms a press): a flood of a thousand
        taps then costs the other chats a fraction of it.

        Judged as do_process_update judges, one margin safer: the chat's waiting updates
        plus those ahead of it in this batch. The chat's one "slow down" answer is kept
        whole, so the processor can give it.
        """
        ahead: dict[int, int] = {}
        told_here: set[int] = set()
        sifted = []
        for item in items:
            key = _raw_chat_key(item)
            if key is None:
                sifted.append(item)
                continue
            chat = self._chats.get(key)
            waiting = (chat.waiting if chat is not None else 0) + ahead.get(key, 0)
            press = item.get("callback_query")
            if press is not None and waiting > self._max_waiting:
                if key not in told_here and self._tell_due(key):
                    told_here.add(key)
                else:
                    self._sifted.add(item["update_id"])
                    kept = {k: press[k] for k in ("id", "from", "chat_instance") if k in press}
                    sifted.append({"update_id": item["update_id"], "callback_query": kept})
                    continue
            ahead[key] = ahead.get(key, 0) + 1
            sifted.append(item)
        return sifted

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if isinstance(update, Update) and update.update_id in self._sifted:
            self._sifted.discard(update.update_id)
            await self._drop(update, coroutine, None)
            return
        key = chat_key(update)
        if key is None:
            try:
                async with self._slot():
                    await coroutine
            finally:
                self._finish(update, dropped=False)
            return
        chat = self._chats.setdefault(key, _Chat())
        if chat.waiting >= self._max_waiting and is_button_press(update):
            await self._drop(update, coroutine, key)
            return
        chat.queued += 1
        try:
            async with chat.lock, self._slot():
                await coroutine
        finally:
            # Forget idle chats so the table stays as small as the number of busy chats.
            chat.queued -= 1
            if chat.queued == 0:
                del self._chats[key]
            self._finish(update, dropped=False)

    async def _drop(self, update: object, coroutine: Awaitable[Any], key: int | None) -> None:
        # The handler never runs; close its coroutine so it is not left un-awaited.
        if inspect.iscoroutine(coroutine):
            coroutine.close()
        try:
            # A sifted press (key None) is never the one that tells: sift kept that whole.
            if key is not None and self._tell_now(key):
                assert isinstance(update, Update)  # is_button_press said so
                # A slot, not the chat's turn: the answer must come now, not after the queue.
                async with self._slot():
                    await self._slow_down(update)
        finally:
            self._finish(update, dropped=True)
            if self._on_dropped is not None and isinstance(update, Update):
                await self._on_dropped(update)

    def _tell_due(self, key: int) -> bool:
        last = self._told_at.get(key)
        return last is None or self._clock() - last >= self._tell_every

    def _tell_now(self, key: int) -> bool:
        """Whether this chat's burst gets its one answer now (and remember that it did)."""
        if not self._tell_due(key):
            return False
        now = self._clock()
        self._told_at[key] = now
        if len(self._told_at) > TOLD_KEPT:
            # Only chats told recently matter; the rest would grow the table forever.
            self._told_at = {
                chat: at for chat, at in self._told_at.items() if now - at < self._tell_every
            }
        return True

    def _finish(self, update: object, *, dropped: bool) -> None:
        """The one end of every update the processor was given, handled or dropped."""
        if dropped:
            self.dropped += 1
            log.debug("dropped a repeated button press (update %s)", _update_id(update))
        else:
            self.handled += 1

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    @property
    def busy_chats(self) -> int:
        return len(self._chats)


def _raw_chat_key(item: Any) -> int | None:
    """chat_key of an update still in Telegram's JSON, for the kinds a chat floods with."""
    if not isinstance(item, dict):
        return None
    press = item.get("callback_query")
    if isinstance(press, dict):
        message = press.get("message")
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return message["chat"].get("id")
        sender = press.get("from")
        return sender.get("id") if isinstance(sender, dict) else None
    message = item.get("message")
    if isinstance(message, dict) and isinstance(message.get("chat"), dict):
        return message["chat"].get("id")
    return None


def _update_id(update: object) -> int | None:
    return update.update_id if isinstance(update, Update) else None
