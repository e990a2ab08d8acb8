"""Hostile users against the real running bot, through the sandbox (issue 12).

Seeded: the same seed plays the same users, texts and presses (the bot's own answers may
still interleave differently between runs, since users act concurrently). Used by
tests/test_fuzz.py (a few hundred updates) and bench/fuzz.py (as many as asked).

The users who fuzz hold no roles. Before they start, a coordinator (BUURTBOT_ADMINS) and
an entrepreneur use their menus, so the fuzzers can replay the buttons those two got; a
snapshot of everything only a role may change is taken then, and compared after.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import select
from telegram.ext import CommandHandler

from bot import reports as report_service
from bot.app import BotApplication
from bot.roles import Role, grant
from bot.services import services_of
from bot.updates import PerChatUpdateProcessor
from sandbox.client import SandboxClient, SandboxError
from sandbox.state import World
from storage.models import (
    ActionResult,
    AuditEntry,
    Broadcast,
    Channel,
    Group,
    Invite,
    Report,
    RoleGrant,
    Team,
)
from storage.notices import NOTICE

Json = dict[str, Any]
ADMIN_ID = 900001  # in BUURTBOT_ADMINS of the test settings and of bench/fuzz.py
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81"
    b"\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)

# Pieces of hostile text: parse-mode specials, right-to-left and zero-width characters,
# combining marks, astral and joined emoji, control-like characters, injection look-alikes.
PIECES = (
    "<b>",
    "</b>",
    "<i>niet dicht",
    "&",
    "&amp;",
    "&lt;",
    "&#",
    "<a href='javascript:alert(1)'>x</a>",
    "<script>alert(1)</script>",
    "<tg-spoiler>",
    "<",
    ">",
    "_*[]()~`>#+-=|{}.!",
    "*vet*",
    "_schuin_",
    "[link](http://example.com)",
    "`code",
    "```",
    "\\",
    "||spoiler||",
    "مرحبا بالجيران",
    "שלום",
    "\u202eevil\u202c",
    "\u200f",
    "\u200e",
    "\u200b",
    "\u200d",
    "\u2060",
    "\ufeff",
    "e\u0301\u0301\u0301",
    "Z\u0335\u0336\u0337",
    "𝕳𝖊𝖑𝖒𝖔𝖓𝖉",
    "👩\u200d👩\u200d👧\u200d👦",
    "🇳🇱",
    "\t",
    "\n",
    "\n\n\n",
    "   ",
    "Robert'); DROP TABLE users;--",
    "%s%s%n",
    "{wijk}",
    "{0}",
    "@buurtbot_sandbox_bot",
    "#inbraak",
    "/start",
    "https://t.me/buurtbot_sandbox_bot?start=wijk-stiphout",
    "Brandevoort",
    "14:30",
    "24-11 14:30",
    "ja",
    "0",
    "-1",
    "99999999999999999999",
    "²",
    "٣",
)
# Buttons that leave a flow (callback data endings): a walk mostly takes the others.
EXITS = (":stop", ":restart", ":melding", ":start", ":taal", ":lang")
LANGUAGES = ("nl", "en", "pl", "tr", "ar", "nl-BE", "en-GB", "xx", "", "zh-hans", "AR")
START_PAYLOADS = (
    "wijk-stiphout",
    "wijk-<b>",
    "wijk-",
    "inv-",
    "inv-AAAAAAAAAAAAAAAA",
    "rem-1",
    "rem-x",
    "rem-99999999999999",
    "rem-²",
    "mv-1",
    "x" * 64,
    "wijk-stiphout-brandevoort",
)
# Inside Helmond, and outside it: elsewhere in the country, the sea, the poles, the edges.
LOCATIONS = (
    (51.48, 5.66),
    (51.4801, 5.6602),
    (52.37, 4.89),
    (0.0, 0.0),
    (-89.9, 179.9),
    (90.0, -180.0),
    (51.44, 5.58),
    (51.52, 5.74),
)


def hostile_text(rng: random.Random) -> str:
    """A text a hostile or careless user types: pieces glued together, sometimes huge."""
    roll = rng.random()
    if roll < 0.08:
        return rng.choice(("x", "é", "مر", "👩\u200d👦", "<b>")) * rng.choice((4096, 4097, 5000))
    if roll < 0.12:
        return rng.choice(PIECES) * rng.randint(40, 400)
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6))).strip() or "?"


def hostile_name(rng: random.Random) -> str:
    """A first name with specials; Telegram allows 1-64 characters."""
    name = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 4))).strip()
    return (name or "<b>")[:64]


def buttons_of(message: Json) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [
        button["callback_data"]
        for row in markup.get("inline_keyboard", [])
        for button in row
        if "callback_data" in button
    ]


def mutate(rng: random.Random, data: str) -> str:
    """Callback data as a modified client might send it: cut, padded, parts swapped."""
    parts = data.split(":")
    choice = rng.randrange(7)
    if choice == 0:
        return data[: rng.randint(0, len(data))]
    if choice == 1:
        return data + ":" + rng.choice(("1", "x", "", "-1", "99999999999999999999"))
    if choice == 2 and len(parts) > 2:
        parts[rng.randrange(1, len(parts))] = rng.choice(
            ("0", "-1", "<b>", "", "٣", "1e9", "2147483648", "99999999999999999999")
        )
        return ":".join(parts)
    if choice == 3:
        return "r0:" + ":".join(parts[1:])
    if choice == 4:
        return ("r1:" + rng.choice(PIECES))[:64]
    if choice == 5:
        return rng.choice(("", " ", "r1", "r1:", "::::", "r1:menu:" + "x" * 56))
    return ":".join(rng.sample(parts, len(parts)))


@dataclass
class Action:
    """One hostile step and whether it deserves an answer (private messages, presses)."""

    kind: str
    user_id: int
    chat_id: int
    message_id: int | None = None
    callback_query_id: str | None = None
    deserves: bool = True
    # A press on a group post that only the group's registration may change: its edits
    # before, to compare after (a private chat's button must not change a shared post).
    post_edits: int | None = None


@dataclass
class Counts:
    """What a fuzz run found; the test asserts on it and the bench prints it."""

    updates: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    deserving: int = 0
    unanswered: list[str] = field(default_factory=list)
    # Group posts that a press of a private chat's button changed for everyone.
    posts_changed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)
    escalations: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    dropped: int = 0

    @property
    def entity_refusals(self) -> int:
        return sum(n for what, n in self.refusals.items() if "parse entities" in what.lower())

    def lines(self) -> list[str]:
        return [
            f"updates {self.updates} (actions: "
            + ", ".join(f"{kind} {n}" for kind, n in sorted(self.actions.items()))
            + ")",
            f"deserving an answer {self.deserving}, unanswered {len(self.unanswered)}"
            + (f": {self.unanswered[:5]}" if self.unanswered else ""),
            f"error-handler hits and other errors logged {len(self.errors)}"
            + (f": {self.errors[:3]}" if self.errors else ""),
            f"requests refused for bad entities {self.entity_refusals}",
            "requests refused, all: "
            + (", ".join(f"{what} x{n}" for what, n in sorted(self.refusals.items())) or "none"),
            f"group posts changed by a private button {len(self.posts_changed)}"
            + (f": {self.posts_changed[:3]}" if self.posts_changed else ""),
            f"changes only a role may make {len(self.escalations)}"
            + (f": {self.escalations}" if self.escalations else ""),
            f"presses dropped by fair share {self.dropped}",
        ]


class ErrorLog(logging.Handler):
    """Every ERROR the bot logs: the error handler's own line, or PTB's for anything else."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def logged_errors() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


async def privileges(bot: BotApplication) -> dict[str, Any]:
    """Everything a user without a role may not change, as comparable values."""
    # Read before the session below: SQLite has one connection.
    may_report = await report_service.residents_may_report(services_of(bot))
    async with services_of(bot).sessions() as session:

        async def rows(*columns: Any) -> list[tuple[Any, ...]]:
            result = await session.exec(select(*columns).order_by(*columns))
            return [tuple(row) for row in result]

        async def count(model: Any) -> int:
            return int((await session.exec(select(func.count()).select_from(model))).one())

        # Notices (a coordinator's note about a resident's report, a status update) are
        # the bot's own unasked messages, which anyone's report may cause: not a change
        # only a role may make.
        notice_ids = set(
            (await session.exec(select(Broadcast.id).where(Broadcast.kind == NOTICE))).all()
        )
        notices = {f"broadcast:{bid}" for bid in notice_ids}

        async def audited() -> list[str]:
            result = await session.exec(
                select(AuditEntry.action, AuditEntry.subject).order_by(AuditEntry.id)
            )
            return [action for action, subject in result if subject not in notices]

        return {
            "role grants": await rows(RoleGrant.user_id, RoleGrant.role, RoleGrant.scope),
            "invites": await count(Invite),
            "audit entries": await audited(),
            "teams decided": await rows(Team.id, Team.status),
            "groups decided": [
                row
                for row in await rows(Group.id, Group.status)
                if row[1] not in ("new", "pending")
            ],
            "channels": await rows(Channel.id, Channel.status),
            "broadcasts": [
                (bid, status)
                for bid, status in await rows(Broadcast.id, Broadcast.status)
                if bid not in notice_ids
            ],
            "action results": await count(ActionResult),
            "report statuses": [
                row for row in await rows(Report.id, Report.status) if row[1] != "received"
            ],
            "residents may report": may_report,
        }


class Fuzzer:
    """Plays `users` role-less users for `rounds` rounds, every user one action a round."""

    def __init__(
        self,
        bot: BotApplication,
        client: SandboxClient,
        world: World,
        *,
        seed: int,
        users: int = 12,
        rounds: int = 25,
        settle_timeout: float = 60.0,
    ) -> None:
        self.bot = bot
        self.client = client
        self.world = world
        self.rng = random.Random(seed)
        self.user_count = users
        self.rounds = rounds
        self.settle_timeout = settle_timeout
        processor = bot.update_processor
        assert isinstance(processor, PerChatUpdateProcessor)
        self.processor = processor
        self.commands = sorted(
            {
                command
                for handler in bot.handlers[0]
                if isinstance(handler, CommandHandler)
                for command in handler.commands
            }
        )
        self.users: list[Json] = []
        self.harvest: list[str] = []  # callback data other users got
        self.sent: dict[int, list[int]] = {}  # each fuzzer's own text messages
        self.group: Json | None = None
        self.group_turn_taken = False
        self.walkers: set[int] = set()
        self.counts = Counts()

    # ------------------------------------------------------------------ the run

    async def run(self) -> Counts:
        with logged_errors() as errors:
            await self._privileged_users()
            await self._fuzzers()
            await self.settle()
            before = await privileges(self.bot)
            for _ in range(self.rounds):
                self.group_turn_taken = False
                actions = await asyncio.gather(*(self._act(user) for user in self.users))
                await self.settle()
                await self._check([action for action in actions if action is not None])
            await self.settle()
            after = await privileges(self.bot)
            # The coordinator looks at what the fuzzers left: names, titles, reports rendered.
            await self._coordinator_looks()
            await self.settle()
        counts = self.counts
        counts.updates = self.world.next_update_id - 1
        counts.errors = [f"{r.name}: {r.getMessage()}"[:300] for r in errors.records]
        counts.refusals = await self.client.refusals()
        counts.escalations = {
            key: (before[key], after[key]) for key in before if before[key] != after[key]
        }
        counts.dropped = self.processor.dropped
        return counts

    async def settle(self) -> None:
        """Wait until the bot has finished every update the sandbox has made."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settle_timeout
        while self.processor.handled + self.processor.dropped < self.world.next_update_id - 1:
            if loop.time() > deadline:
                raise AssertionError(
                    f"the bot finished {self.processor.handled + self.processor.dropped} of "
                    f"{self.world.next_update_id - 1} updates in {self.settle_timeout} s"
                )
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ setup

    async def _start(self, user: Json) -> None:
        sent = await self.client.send(user["id"], "/start")
        await self.client.wait_bot_message(user["id"], after=sent["message_id"])

    async def _privileged_users(self) -> None:
        """A coordinator and an entrepreneur use their menus; their buttons are harvested."""
        services = services_of(self.bot)
        admin = await self.client.create_user(hostile_name(self.rng), user_id=ADMIN_ID)
        boss = await self.client.create_user(hostile_name(self.rng), language_code="en")
        await grant(
            services,
            boss["id"],
            Role.ENTREPRENEUR,
            "park:bzob",
            name=boss["first_name"],
            by=ADMIN_ID,
        )
        # Residents may file reports too, so the fuzzers reach the report questions.
        await report_service.set_residents_may_report(services, True, ADMIN_ID)
        for user, commands in (
            (admin, ("/uitnodigen", "/rollen", "/overzicht", "/bericht", "/stats", "/gepland")),
            (boss, ("/melding", "/mijnmeldingen", "/help")),
        ):
            await self._start(user)
            for command in commands:
                sent = await self.client.send(user["id"], command)
                await self.settle()
                for message in await self.client.bot_messages(user["id"]):
                    if message["message_id"] > sent["message_id"]:
                        self.harvest += buttons_of(message)
        # One step deeper on the invite menu: the role and scope buttons.
        for data in [d for d in self.harvest if d.startswith("r1:inv:")][:3]:
            message = (await self.client.bot_messages(ADMIN_ID))[-1]
            if data in buttons_of(message):
                await self.client.press(ADMIN_ID, ADMIN_ID, message["message_id"], data)
                await self.settle()
                self.harvest += buttons_of((await self.client.bot_messages(ADMIN_ID))[-1])
        await self.client.send(ADMIN_ID, "/annuleer")
        await self.client.send(boss["id"], "/annuleer")
        self.harvest = sorted(set(self.harvest))

    async def _fuzzers(self) -> None:
        for _ in range(self.user_count):
            user = await self.client.create_user(
                hostile_name(self.rng),
                language_code=self.rng.choice(LANGUAGES),
                username=self.rng.choice((None, "buurt_" + str(self.rng.randrange(10**6)))),
            )
            self.users.append(user)
            self.sent[user["id"]] = []
            if len(self.users) % 2:
                self.walkers.add(user["id"])
            # Most join a wijk first, so the questions residents get (a report's) are
            # reached too; the others stay strangers.
            if self.rng.random() < 0.7:
                wijk = self.rng.choice(services_of(self.bot).areas.wijken).slug
                sent = await self.client.send(user["id"], f"/start wijk-{wijk}")
                await self.client.wait_bot_message(user["id"], after=sent["message_id"])
            else:
                await self._start(user)
        # A group of some of them with the bot in it, titled like the rest of their input.
        founder = self.users[0]
        self.group = await self.client.create_group(
            hostile_name(self.rng), creator_id=founder["id"]
        )
        for user in self.users[1 : max(2, self.user_count // 2)]:
            await self.client.add_member(self.group["id"], user["id"], by=founder["id"])
        await self.client.add_bot(self.group["id"], by=founder["id"])

    # ------------------------------------------------------------------ one action

    async def _act(self, user: Json) -> Action | None:
        kinds = {
            "walk": 14,
            "text": 8,
            "command": 10,
            "start payload": 3,
            "press own": 8,
            "replay": 4,
            "forge other": 8,
            "forge mutated": 5,
            "sticker": 2,
            "document": 2,
            "photo": 2,
            "location": 3,
            "edit": 3,
            "group": 6,
        }
        if user["id"] in self.walkers:
            kinds["walk"] = 120  # about half their steps follow the bot's lead, deep in flows
        kind = self.rng.choices(list(kinds), weights=list(kinds.values()))[0]
        if kind == "group" and self.group_turn_taken:
            kind = "text"  # one group action a round: the group is one chat, one queue
        if kind == "group":
            self.group_turn_taken = True
        self.counts.actions[kind] += 1
        try:
            action: Action | None = await getattr(self, "_" + kind.replace(" ", "_"))(user)
        except SandboxError:
            # The sandbox refused the user's step itself (as Telegram's app would not let
            # them take it): no update was made, so there is nothing to check.
            self.counts.actions["refused by the sandbox"] += 1
            return None
        return action

    def _private(self, kind: str, user: Json, sent: Json) -> Action:
        return Action(kind, user["id"], user["id"], message_id=sent["message_id"])

    async def _text(self, user: Json) -> Action:
        sent = await self.client.send(user["id"], hostile_text(self.rng))
        self.sent[user["id"]].append(sent["message_id"])
        return self._private("text", user, sent)

    async def _command(self, user: Json) -> Action:
        command = "/" + self.rng.choice(self.commands)
        if self.rng.random() < 0.2:
            command += "@buurtbot_sandbox_bot"
        if self.rng.random() < 0.6:
            command += " " + " ".join(
                hostile_text(self.rng)[:200] for _ in range(self.rng.randint(1, 3))
            )
        sent = await self.client.send(user["id"], command)
        self.sent[user["id"]].append(sent["message_id"])
        return self._private("command", user, sent)

    async def _start_payload(self, user: Json) -> Action:
        sent = await self.client.send(user["id"], "/start " + self.rng.choice(START_PAYLOADS))
        return self._private("start payload", user, sent)

    async def _own_messages_with_buttons(self, user: Json) -> list[Json]:
        return [m for m in await self.client.bot_messages(user["id"]) if buttons_of(m)]

    async def _press(
        self, user: Json, chat_id: int, message_id: int, data: str, *, forged: bool
    ) -> Action:
        if forged:
            pressed = await self.client.press_forged(user["id"], chat_id, message_id, data)
        else:
            pressed = await self.client.press(user["id"], chat_id, message_id, data)
        return Action("press", user["id"], chat_id, callback_query_id=pressed["callback_query_id"])

    async def _press_own(self, user: Json) -> Action | None:
        shown = await self._own_messages_with_buttons(user)
        if not shown:
            return await self._command(user)
        # Mostly the newest: a user walking through a journey, now and then an older one.
        message = shown[-1] if self.rng.random() < 0.7 else self.rng.choice(shown[-4:])
        data = self.rng.choice(buttons_of(message))
        return await self._press(user, user["id"], message["message_id"], data, forged=False)

    async def _walk(self, user: Json) -> Action | None:
        """Go on where the bot led: its newest buttons, or typed text where it asked a question."""
        messages = await self.client.bot_messages(user["id"])
        # The newest buttons among the last two messages: a refusal ("use the buttons
        # above") may stand under the question the user is at.
        shown = [m for m in messages[-2:] if buttons_of(m)]
        asked = bool(messages) and messages[-1].get("text", "").rstrip().endswith(("?", ":"))
        if shown and not (asked and self.rng.random() < 0.5):
            newest = shown[-1]
            # Mostly onwards: a way out now and then, or the walk never gets deep.
            onwards = [d for d in buttons_of(newest) if not d.endswith(EXITS)]
            data = self.rng.choice(
                onwards if onwards and self.rng.random() < 0.9 else buttons_of(newest)
            )
            return await self._press(user, user["id"], newest["message_id"], data, forged=False)
        if not asked and self.rng.random() < 0.4:
            # Out of any flow: start the longest one, a report, with its typed steps.
            sent = await self.client.send(user["id"], "/melding")
            return self._private("walk", user, sent)
        return await self._text(user)

    async def _any_bot_message(self, user: Json) -> Json | None:
        messages = await self.client.bot_messages(user["id"])
        return self.rng.choice(messages) if messages else None

    async def _replay(self, user: Json) -> Action | None:
        """A button pressed again on an old message, whose keyboard may be gone by now."""
        messages = await self.client.bot_messages(user["id"])
        pressed_before = [m for m in messages if m.get("edit_count") or buttons_of(m)]
        if not pressed_before:
            return await self._text(user)
        message = self.rng.choice(pressed_before)
        data = self.rng.choice(buttons_of(message) or self.harvest or ["r1:menu:help"])
        return await self._press(user, user["id"], message["message_id"], data, forged=True)

    async def _forge_other(self, user: Json) -> Action | None:
        message = await self._any_bot_message(user)
        if message is None or not self.harvest:
            return await self._text(user)
        data = self.rng.choice(self.harvest)
        return await self._press(user, user["id"], message["message_id"], data, forged=True)

    async def _forge_mutated(self, user: Json) -> Action | None:
        message = await self._any_bot_message(user)
        if message is None:
            return await self._text(user)
        pool = self.harvest + buttons_of(message) or ["r1:menu:help"]
        data = mutate(self.rng, self.rng.choice(pool))
        return await self._press(user, user["id"], message["message_id"], data, forged=True)

    async def _sticker(self, user: Json) -> Action:
        return self._private("sticker", user, await self.client.send_sticker(user["id"]))

    async def _document(self, user: Json) -> Action:
        sent = await self.client.send_document(
            user["id"],
            self.rng.randbytes(self.rng.randint(1, 2048)),
            # Hostile but sendable: no line breaks in a file name (a multipart header).
            file_name=("".join(c for c in hostile_name(self.rng) if c >= " ") + ".pdf")[-60:],
            mime_type=self.rng.choice(("application/pdf", "image/png", "text/html")),
            caption=self.rng.choice((None, hostile_text(self.rng)[:1024])),
        )
        return self._private("document", user, sent)

    async def _photo(self, user: Json) -> Action:
        caption = self.rng.choice((None, hostile_text(self.rng)[:1024]))
        return self._private(
            "photo", user, await self.client.send_photo(user["id"], PNG, caption=caption)
        )

    async def _location(self, user: Json) -> Action:
        latitude, longitude = self.rng.choice(LOCATIONS)
        sent = await self.client.send_location(user["id"], latitude, longitude)
        return self._private("location", user, sent)

    async def _edit(self, user: Json) -> Action:
        own = self.sent[user["id"]]
        if not own:
            return await self._text(user)
        message_id = self.rng.choice(own)
        await self.client.edit(user["id"], user["id"], message_id, hostile_text(self.rng))
        # The edit is answered with a new message after the last one in the chat.
        last = (await self.client.messages(user["id"]))[-1]
        return Action("edit", user["id"], user["id"], message_id=last["message_id"])

    async def _group(self, user: Json) -> Action | None:
        """In the group: commands, texts, replies, stickers, presses; none needs an answer."""
        assert self.group is not None
        chat = await self.client.chat(self.group["id"])
        if str(user["id"]) not in chat["members"] or chat["members"][str(user["id"])] in (
            "left",
            "kicked",
        ):
            return await self._text(user)
        group_id = int(chat["id"])
        step = self.rng.choices(range(5), weights=(2, 2, 1, 4, 1))[0]
        bot_messages = await self.client.bot_messages(group_id)
        if step == 0:
            text = (
                "/"
                + self.rng.choice(self.commands)
                + self.rng.choice(("", "@buurtbot_sandbox_bot"))
            )
            sent = await self.client.send(
                user["id"], text + " " + hostile_text(self.rng)[:100], chat_id=group_id
            )
        elif step == 1 and bot_messages:
            sent = await self.client.send(
                user["id"],
                hostile_text(self.rng),
                chat_id=group_id,
                reply_to_message_id=self.rng.choice(bot_messages)["message_id"],
            )
        elif step == 2:
            sent = await self.client.send_sticker(user["id"], chat_id=group_id)
        elif step == 3 and bot_messages:
            message = self.rng.choice(bot_messages)
            # The post's own buttons, others' buttons, and the buttons of their own chat.
            mine = [
                d for m in (await self.client.bot_messages(user["id"]))[-3:] for d in buttons_of(m)
            ]
            data = self.rng.choice(buttons_of(message) + self.harvest + mine or ["r1:menu:help"])
            action = await self._press(user, group_id, message["message_id"], data, forged=True)
            self.counts.actions["group press"] += 1
            if not data.startswith("r1:grp:"):
                action.message_id = message["message_id"]
                action.post_edits = message.get("edit_count", 0)
            return action
        else:
            sent = await self.client.send(user["id"], hostile_text(self.rng), chat_id=group_id)
        return Action("group", user["id"], group_id, message_id=sent["message_id"], deserves=False)

    # ------------------------------------------------------------------ checks

    async def _check(self, actions: list[Action]) -> None:
        """After the bot settled: every private message and every press got an answer."""
        for action in actions:
            if not action.deserves:
                continue
            self.counts.deserving += 1
            if action.post_edits is not None:
                post = next(
                    m
                    for m in await self.client.bot_messages(action.chat_id)
                    if m["message_id"] == action.message_id
                )
                if post.get("edit_count", 0) != action.post_edits:
                    self.counts.posts_changed.append(post.get("text", "")[:60])
            if action.callback_query_id is not None:
                record = self.world.callbacks[action.callback_query_id]
                if record.answer is None:
                    self.counts.unanswered.append(
                        f"press {action.callback_query_id} by {action.user_id}"
                    )
                continue
            messages = await self.client.bot_messages(action.chat_id)
            if not any(m["message_id"] > (action.message_id or 0) for m in messages):
                self.counts.unanswered.append(
                    f"{action.kind} {action.message_id} by {action.user_id}"
                )

    async def _coordinator_looks(self) -> None:
        for command in ("/rollen", "/overzicht", "/vermoedens", "/stats", "/help"):
            await self.client.send(ADMIN_ID, command)
            await self.settle()
