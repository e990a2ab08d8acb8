"""Updates of different chats run side by side; updates of one chat stay in order; one chat's
flood neither takes the shared slots nor grows without end (button presses are dropped)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from telegram import CallbackQuery, Chat, Message, Update, User

from bot.updates import PerChatUpdateProcessor, chat_key, is_button_press


def message_update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, Chat.PRIVATE)
    user = User(chat_id, "Anna", is_bot=False)
    return Update(update_id, message=Message(update_id, datetime.now(UTC), chat, from_user=user))


def press_update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, Chat.PRIVATE)
    user = User(chat_id, "Anna", is_bot=False)
    shown = Message(1, datetime.now(UTC), chat, from_user=user)
    query = CallbackQuery(str(update_id), user, "instance", message=shown, data="r1:menu:help")
    return Update(update_id, callback_query=query)


class Answers:
    """The slow_down hook: records which updates got "Even rustig aan"."""

    def __init__(self) -> None:
        self.told: list[int] = []

    async def __call__(self, update: Update) -> None:
        self.told.append(update.update_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def processor(
    slots: int = 16, *, waiting: int = 5, answers: Answers | None = None, clock: Clock | None = None
) -> PerChatUpdateProcessor:
    return PerChatUpdateProcessor(
        slots,
        max_waiting_per_chat=waiting,
        slow_down=answers or Answers(),
        tell_every=10.0,
        clock=clock or Clock(),
    )


async def settle() -> None:
    """Let every ready task run until each waits on something."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_one_chat_in_order_many_chats_at_once() -> None:
    updates = processor()
    log: list[str] = []
    release = asyncio.Event()

    async def handle(name: str, wait: bool) -> None:
        log.append(f"start {name}")
        if wait:
            await release.wait()
        log.append(f"end {name}")

    async with updates:
        first = asyncio.create_task(
            updates.process_update(message_update(1, 10), handle("a1", wait=True))
        )
        second = asyncio.create_task(
            updates.process_update(message_update(2, 10), handle("a2", wait=False))
        )
        other = asyncio.create_task(
            updates.process_update(message_update(3, 20), handle("b1", wait=False))
        )
        await other  # another chat is not held up by chat 10's slow update
        assert log == ["start a1", "start b1", "end b1"]
        assert updates.busy_chats == 1
        release.set()
        await asyncio.gather(first, second)
    assert log[3:] == ["end a1", "start a2", "end a2"]
    assert updates.busy_chats == 0  # idle chats are forgotten
    assert (updates.handled, updates.dropped) == (3, 0)


async def test_updates_without_a_chat_are_processed_directly() -> None:
    updates = processor(4)
    done: list[int] = []

    async def handle() -> None:
        done.append(1)

    async with updates:
        await updates.process_update(object(), handle())
    assert done == [1]
    assert updates.handled == 1
    assert chat_key(object()) is None
    assert chat_key(Update(5)) is None


async def test_a_flooding_chat_holds_one_slot_and_others_get_the_rest() -> None:
    # 4 slots; before the fix chat 10's waiting messages took all of them.
    updates = processor(4, waiting=3)
    release = asyncio.Event()
    ran: list[str] = []

    async def handle(name: str, wait: bool = False) -> None:
        ran.append(name)
        if wait:
            await release.wait()

    async with updates:
        flood = [
            asyncio.create_task(
                updates.process_update(message_update(n, 10), handle(f"a{n}", True))
            )
            for n in range(1, 21)
        ]
        await settle()
        assert updates.current_concurrent_updates == 1  # only chat 10's running update
        others = [
            asyncio.create_task(
                updates.process_update(message_update(100 + n, 20 + n), handle(f"b{n}"))
            )
            for n in range(1, 4)
        ]
        await asyncio.wait_for(asyncio.gather(*others), timeout=5)
        assert ran == ["a1", "b1", "b2", "b3"]
        assert updates.waited_for_slot == 0
        release.set()
        await asyncio.gather(*flood)
    # Messages are never dropped, whatever their number, and they ran in order.
    assert ran[4:] == [f"a{n}" for n in range(2, 21)]
    assert (updates.handled, updates.dropped) == (23, 0)
    assert updates.max_concurrent_updates == 4
    assert updates.current_concurrent_updates == 0


async def test_beyond_the_limit_presses_are_dropped_with_one_answer_messages_kept() -> None:
    answers, clock = Answers(), Clock()
    updates = processor(8, waiting=2, answers=answers, clock=clock)
    release = asyncio.Event()
    ran: list[int] = []

    async def handle(number: int, wait: bool = False) -> None:
        ran.append(number)
        if wait:
            await release.wait()

    async with updates:
        tasks = [
            asyncio.create_task(updates.process_update(message_update(1, 10), handle(1, True)))
        ]
        # Two presses fit in the queue (they wait their turn), the next five do not.
        for number in range(2, 9):
            tasks.append(
                asyncio.create_task(
                    updates.process_update(press_update(number, 10), handle(number))
                )
            )
        # A command and messages beyond the limit still wait, in order.
        for number in range(9, 12):
            tasks.append(
                asyncio.create_task(
                    updates.process_update(message_update(number, 10), handle(number))
                )
            )
        await settle()
        assert answers.told == [4]  # one answer for the burst, to the first press dropped
        assert updates.dropped == 5
        release.set()
        await asyncio.gather(*tasks)
        assert ran == [1, 2, 3, 9, 10, 11]
        assert updates.handled == 6

        # The queue ran empty, but a flood resumed within tell_every is the same burst:
        # not told again. Once tell_every has passed, the next flood is told once more.
        for first, later in ((20, 9.0), (30, 1.0)):
            clock.now += later
            release.clear()
            blocker = asyncio.create_task(
                updates.process_update(message_update(first, 10), handle(first, True))
            )
            presses = [
                asyncio.create_task(updates.process_update(press_update(n, 10), handle(n)))
                for n in range(first + 1, first + 5)
            ]
            await settle()
            release.set()
            await asyncio.gather(blocker, *presses)
    assert answers.told == [4, 33]
    assert ran[6:] == [20, 21, 22, 30, 31, 32]
    assert updates.busy_chats == 0


async def test_a_failing_answer_still_counts_the_press_as_done() -> None:
    async def broken(update: Update) -> None:
        raise RuntimeError("answerCallbackQuery failed")

    updates = PerChatUpdateProcessor(4, max_waiting_per_chat=1, slow_down=broken)
    release = asyncio.Event()

    async def handle(wait: bool = False) -> None:
        if wait:
            await release.wait()

    async with updates:
        first = asyncio.create_task(updates.process_update(message_update(1, 10), handle(True)))
        queued = asyncio.create_task(updates.process_update(press_update(2, 10), handle()))
        await settle()
        # The error goes up to PTB, which hands it to the error handler with the update.
        with pytest.raises(RuntimeError, match="answerCallbackQuery"):
            await updates.process_update(press_update(3, 10), handle())
        release.set()
        await asyncio.gather(first, queued)
    assert (updates.handled, updates.dropped) == (2, 1)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_waiting_per_chat"):
        PerChatUpdateProcessor(4, max_waiting_per_chat=0, slow_down=Answers())
    with pytest.raises(ValueError, match="max_concurrent_updates"):
        PerChatUpdateProcessor(0, max_waiting_per_chat=1, slow_down=Answers())
    assert is_button_press(press_update(1, 10))
    assert not is_button_press(message_update(1, 10))


async def test_chats_told_long_ago_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.updates.TOLD_KEPT", 3)
    answers, clock = Answers(), Clock()
    updates = processor(8, waiting=1, answers=answers, clock=clock)
    release = asyncio.Event()

    async def handle(wait: bool = False) -> None:
        if wait:
            await release.wait()

    async with updates:
        for chat in range(1, 6):
            clock.now += 6.0
            release.clear()
            tasks = [
                asyncio.create_task(updates.process_update(message_update(1, chat), handle(True))),
                asyncio.create_task(updates.process_update(press_update(2, chat), handle())),
            ]
            await settle()
            await updates.process_update(press_update(3, chat), handle())  # dropped, told
            release.set()
            await asyncio.gather(*tasks)
    assert len(answers.told) == 5
    # Past TOLD_KEPT chats (at chat 4) those told over tell_every ago (1 and 2) went.
    assert sorted(updates._told_at) == [3, 4, 5]


async def test_more_busy_chats_than_slots_wait_and_are_counted() -> None:
    # The counter the fair-share journey relies on does count a real wait.
    updates = processor(2, waiting=3)
    release = asyncio.Event()

    async def handle() -> None:
        await release.wait()

    async with updates:
        busy = [
            asyncio.create_task(updates.process_update(message_update(n, 30 + n), handle()))
            for n in range(1, 4)
        ]
        await settle()
        assert updates.current_concurrent_updates == 2
        assert updates.waited_for_slot == 1
        release.set()
        await asyncio.gather(*busy)


def raw_press(update_id: int, chat_id: int) -> dict[str, object]:
    """A press as Telegram's JSON: the message it was under comes whole, keyboard and all."""
    user = {"id": chat_id, "is_bot": False, "first_name": "Anna"}
    keyboard = [[{"text": f"knop {n}", "callback_data": f"r1:menu:{n}"}] for n in range(6)]
    shown = {
        "message_id": 1, "date": 1764576000, "chat": {"id": chat_id, "type": "private"},
        "from": {"id": 1, "is_bot": True, "first_name": "Buurtbot"}, "text": "Menu " * 40,
        "reply_markup": {"inline_keyboard": keyboard},
    }  # fmt: skip
    press = {"id": str(update_id), "from": user, "chat_instance": "c", "data": "r1:menu:help"}
    return {"update_id": update_id, "callback_query": {**press, "message": shown}}


def raw_message(update_id: int, chat_id: int) -> dict[str, object]:
    chat = {"id": chat_id, "type": "private"}
    return {"update_id": update_id, "message": {"message_id": update_id, "date": 1, "chat": chat}}


async def test_a_flood_is_cut_down_before_it_is_parsed_and_dropped_all_the_same() -> None:
    """sift: of a burst the processor would drop anyway, PTB gets only each press's id and
    sender; the presses that fit, every other chat's updates and the one press that gets
    "slow down" stay whole; a cut-down press is dropped (counted, told about) unhandled."""
    answers, clock = Answers(), Clock()
    updates = processor(8, waiting=2, answers=answers, clock=clock)
    batch = [raw_press(n, 10) for n in range(1, 11)] + [raw_message(11, 20), raw_press(12, 20)]
    dropped: list[int] = []

    async def on_dropped(update: Update) -> None:
        dropped.append(update.update_id)

    updates._on_dropped = on_dropped
    sifted = updates.sift(batch)

    whole = [item["update_id"] for item in sifted if "message" in item.get("callback_query", {})]
    # 1 runs, 2 and 3 wait; 4 is the first over the limit: kept whole, for the processor
    # to drop with the burst's one "slow down"; 5-10 are cut; chat 20 is untouched.
    assert whole == [1, 2, 3, 4, 12]
    assert sifted[10] == batch[10]
    cut = sifted[6]
    assert cut == {
        "update_id": 7,
        "callback_query": {"id": "7", "from": batch[6]["callback_query"]["from"], "chat_instance": "c"},  # type: ignore[index]
    }  # fmt: skip

    release = asyncio.Event()
    ran: list[int] = []

    async def handle(number: int) -> None:
        ran.append(number)
        if number == 1:
            await release.wait()

    async with updates:
        tasks = [
            asyncio.create_task(updates.process_update(Update.de_json(item, None), handle(n)))
            for n, item in enumerate(sifted, start=1)
        ]
        await settle()
        release.set()
        await asyncio.gather(*tasks)
    assert sorted(ran) == [1, 2, 3, 11, 12]  # chat 20 need not wait for chat 10
    assert updates.dropped == 7  # 4 by the processor itself, 5-10 as cut
    assert answers.told == [4]  # once for the burst
    assert sorted(dropped) == [4, 5, 6, 7, 8, 9, 10]
    # Nothing is remembered once they are through.
    assert not updates._sifted
