"""The in-memory Telegram world: users, chats, messages, updates, files and flood control.

Both the Bot API side (``botapi``) and the control side (``control``) mutate one ``World``.
Everything runs on one event loop, so there is no locking; waiting is done with ``Signal``,
which wakes waiters without polling.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sandbox.config import Limits, SandboxConfig
from sandbox.errors import ApiError, ControlError
from sandbox.markup import add_auto_entities

Json = dict[str, Any]

# Telegram's default update set: everything except these, which must be asked for explicitly.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
MAX_STORED_REQUESTS = 10_000
GROUP_ID_BASE = -4_000_000_000
SUPERGROUP_ID_BASE = -1_001_000_000_000


class Signal:
    """Wake every coroutine waiting at the moment ``fire`` is called.

    Cheaper than ``asyncio.Condition`` for this use: no lock, and firing with nobody waiting
    costs one attribute check (it happens on every message the bot sends).
    """

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def fire(self) -> None:
        if not self._waiters:
            return
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_until(self, predicate: Callable[[], bool], seconds: float) -> bool:
        """Wait until ``predicate()`` holds (checked after each fire); False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)
        return True


class TokenBucket:
    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.stamp = now

    def shortfall(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` tokens are available (0 if they are now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= cost:
            return 0.0
        return (cost - self.tokens) / self.rate if self.rate > 0 else math.inf


class FloodControl:
    """Per-chat, per-group and global token buckets; a request must fit in all of them."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._chats: dict[int, TokenBucket] = {}
        self._groups: dict[int, TokenBucket] = {}
        self._global = TokenBucket(limits.global_burst, limits.global_rate, time.monotonic())

    def check(self, chat_id: int, is_group: bool, *, edit: bool = False) -> None:
        """Consume tokens for one message, or raise 429 without consuming anything."""
        limits = self.limits
        if not limits.enabled:
            return
        now = time.monotonic()
        chat_bucket = self._chats.get(chat_id)
        if chat_bucket is None:
            chat_bucket = TokenBucket(limits.per_chat_burst, limits.per_chat_rate, now)
            self._chats[chat_id] = chat_bucket
        # Edits count "lightly": half a message against the chat only.
        if edit:
            buckets = [(chat_bucket, 0.5)]
        else:
            buckets = [(chat_bucket, 1.0), (self._global, 1.0)]
            if is_group:
                group_bucket = self._groups.get(chat_id)
                if group_bucket is None:
                    group_bucket = TokenBucket(
                        limits.group_per_minute, limits.group_per_minute / limits.group_window, now
                    )
                    self._groups[chat_id] = group_bucket
                buckets.append((group_bucket, 1.0))
        wait = max(bucket.shortfall(cost, now) for bucket, cost in buckets)
        if wait > 0:
            retry_after = max(1, math.ceil(wait)) if math.isfinite(wait) else 3600
            raise ApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        for bucket, cost in buckets:
            bucket.tokens -= cost


@dataclass(slots=True)
class UserRecord:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False

    def to_dict(self) -> Json:
        data: Json = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass(slots=True)
class StoredMessage:
    data: Json  # exactly what the Bot API returns for this message
    from_bot: bool
    delivered: bool = False  # whether the bot got it as an update (decides edited_* updates)
    edit_count: int = 0
    deleted: bool = False
    reply_keyboard: Json | None = None  # reply keyboards are not part of Message; kept for tests

    @property
    def message_id(self) -> int:
        return int(self.data["message_id"])

    def snapshot(self) -> Json:
        """The control API's view: the message plus sandbox bookkeeping."""
        view = dict(self.data)
        view["edited"] = self.edit_count > 0
        view["edit_count"] = self.edit_count
        view["deleted"] = self.deleted
        view["from_bot"] = self.from_bot
        if self.reply_keyboard is not None:
            view["reply_keyboard"] = self.reply_keyboard
        return view


@dataclass(slots=True)
class BotMembership:
    status: str = "left"  # left | member | administrator | kicked
    can_post_messages: bool = False
    ever_member: bool = False


@dataclass(slots=True)
class ChatRecord:
    id: int
    type: str  # private | group | supergroup | channel
    title: str | None = None
    username: str | None = None
    user: UserRecord | None = None  # the other party of a private chat
    members: dict[int, str] = field(default_factory=dict)  # user id -> creator/administrator/member
    bot: BotMembership = field(default_factory=BotMembership)
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    migrated_to: int | None = None
    started: bool = False  # private: the user has written to the bot
    blocked: bool = False  # private: the user has blocked the bot
    menu_button: Json | None = None

    @property
    def is_group_like(self) -> bool:
        return self.type != "private"

    def to_dict(self) -> Json:
        if self.user is not None:
            data: Json = {"id": self.id, "type": "private", "first_name": self.user.first_name}
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
            return data
        data = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            data["username"] = self.username
        return data

    def new_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def bot_present(self) -> bool:
        return self.bot.status in ("member", "administrator")


@dataclass(slots=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    kind: str  # photo | document | sticker
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0
    # The size Telegram reports, when a test acts out a file larger than it uploads.
    declared_size: int | None = None

    @property
    def size(self) -> int:
        return self.declared_size if self.declared_size is not None else len(self.data)

    def file_dict(self) -> Json:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }

    def media(self) -> Json | list[Json]:
        """The object a message carries: PhotoSize list, Document or Sticker."""
        base: Json = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        if self.kind == "photo":
            return [{**base, "file_size": self.size, "width": self.width, "height": self.height}]
        if self.kind == "sticker":
            return {
                **base,
                "type": "regular",
                "width": self.width,
                "height": self.height,
                "is_animated": False,
                "is_video": False,
                "emoji": "\U0001f44d",
                "file_size": self.size,
            }
        document = {**base, "file_size": self.size}
        if self.file_name:
            document["file_name"] = self.file_name
        if self.mime_type:
            document["mime_type"] = self.mime_type
        return document


@dataclass(slots=True)
class Fault:
    """A failure the next matching Bot API calls meet (tests of the bot's error paths).

    The call waits ``delay`` seconds; then, with an ``error_code``, it fails with that code
    without taking effect, otherwise it is carried out. A delay beyond the bot's read timeout
    thus plays both kinds of timeout: lost before Telegram acted, or acted on but answered late.
    """

    method: str  # lower case
    chat_id: int | None = None
    times: int = 1
    delay: float = 0.0
    error_code: int | None = None
    description: str = "Internal Server Error"
    # With a 429: the seconds the answer asks to wait, as Telegram's `parameters` carry them.
    retry_after: int | None = None

    def to_dict(self) -> Json:
        return {
            "method": self.method,
            "chat_id": self.chat_id,
            "times": self.times,
            "delay": self.delay,
            "error_code": self.error_code,
            "description": self.description,
            "retry_after": self.retry_after,
        }

    def error(self) -> ApiError | None:
        """What the faulty call answers, when it fails."""
        if self.error_code is None:
            return None
        parameters = {"retry_after": self.retry_after} if self.retry_after is not None else None
        return ApiError(self.error_code, self.description, parameters)


@dataclass(slots=True)
class CallbackRecord:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    created: float
    answer: Json | None = None


def member_dict(user: Json, status: str, chat_type: str, *, can_post: bool = True) -> Json:
    """A ChatMember object with every field python-telegram-bot requires for its status."""
    if status == "creator":
        return {"status": "creator", "user": user, "is_anonymous": False}
    if status == "administrator":
        rights: Json = {
            "status": "administrator",
            "user": user,
            "can_be_edited": False,
            "is_anonymous": False,
            "can_manage_chat": True,
            "can_delete_messages": True,
            "can_manage_video_chats": True,
            "can_restrict_members": True,
            "can_promote_members": False,
            "can_change_info": True,
            "can_invite_users": True,
            "can_post_stories": False,
            "can_edit_stories": False,
            "can_delete_stories": False,
        }
        if chat_type == "channel":
            rights["can_post_messages"] = can_post
            rights["can_edit_messages"] = can_post
        else:
            rights["can_pin_messages"] = True
        if chat_type == "supergroup":
            rights["can_manage_topics"] = False
        return rights
    if status == "kicked":
        return {"status": "kicked", "user": user, "until_date": 0}
    return {"status": status, "user": user}


class World:
    """All state of one sandbox instance."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.bot_user = UserRecord(
            id=config.bot_id,
            first_name=config.bot_first_name,
            username=config.bot_username,
            is_bot=True,
        )
        self.flood = FloodControl(config.limits)
        self.update_signal = Signal()
        self.callback_signal = Signal()
        self._chat_signals: dict[int, Signal] = {}
        self.requests: deque[Json] = deque(maxlen=MAX_STORED_REQUESTS)
        # Every refused request by method and error, kept however many requests follow
        # (the log above forgets the oldest): what a long test run asserts on.
        self.refusals: Counter[str] = Counter()
        # Webhook pushes to a public origin go to these local origins instead, in turn:
        # the reverse proxy (and balancer) in front of a bot (sandbox.webhook). Kept
        # across resets: it describes the network, not the world.
        self.webhook_routes: dict[str, list[str]] = {}
        self.reset()

    def reset(self) -> None:
        """Forget the whole world (keeps the bot identity and wakes nobody)."""
        self.flood = FloodControl(self.config.limits)
        self.users: dict[int, UserRecord] = {}
        self.chats: dict[int, ChatRecord] = {}
        self.next_user_id = self.config.first_user_id
        self.group_seq = 0
        self.supergroup_seq = 0
        # (update_id, JSON text). Serialised when created: it snapshots the objects (a later
        # edit must not rewrite a queued update) and getUpdates only has to join strings.
        self.updates: deque[tuple[int, str]] = deque()
        # Never back: a bot still running after a reset must not meet an id twice.
        self.next_update_id = max(getattr(self, "next_update_id", 0), self.config.first_update_id)
        self.allowed_updates: frozenset[str] | None = None  # None = Telegram's default set
        self.poll_generation = 0
        self.webhook: Json | None = None
        # (unix time, message) of the last failed push, for getWebhookInfo.
        self.webhook_error: tuple[int, str] | None = None
        self.commands: dict[tuple[str, str], list[Json]] = {}
        self.texts: dict[tuple[str, str], str] = {}  # (kind, language) -> description/name
        self.default_menu_button: Json = {"type": "commands"}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.callbacks: dict[str, CallbackRecord] = {}
        self.callback_seq = 0
        self.faults: list[Fault] = []
        self.requests.clear()
        self.refusals.clear()

    def take_fault(self, method: str, chat_id: Any) -> Fault | None:
        """The first fault matching this call, used up once; None if there is none."""
        if not self.faults:
            return None
        name = method.lower()
        for fault in self.faults:
            if fault.method == name and (
                fault.chat_id is None or str(fault.chat_id) == str(chat_id)
            ):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    # ------------------------------------------------------------------ signalling & updates

    def chat_signal(self, chat_id: int) -> Signal:
        signal = self._chat_signals.get(chat_id)
        if signal is None:
            signal = self._chat_signals[chat_id] = Signal()
        return signal

    def notify_chat(self, chat_id: int) -> None:
        signal = self._chat_signals.get(chat_id)
        if signal is not None:
            signal.fire()

    def update_allowed(self, kind: str) -> bool:
        if self.allowed_updates is None:
            return kind not in OPT_IN_UPDATES
        return kind in self.allowed_updates

    def push_update(self, kind: str, payload: Json) -> None:
        # Telegram does not create updates the bot has not asked for, so filter on creation.
        if not self.update_allowed(kind):
            return
        update_id = self.next_update_id
        self.updates.append((update_id, dump_json({"update_id": update_id, kind: payload})))
        self.next_update_id += 1
        self.update_signal.fire()

    def set_allowed_updates(self, kinds: Iterable[str]) -> None:
        chosen = frozenset(kinds)
        self.allowed_updates = chosen or None

    def confirm_updates(self, offset: int) -> None:
        if offset < 0:
            while len(self.updates) > -offset:
                self.updates.popleft()
            return
        while self.updates and self.updates[0][0] < offset:
            self.updates.popleft()

    # ------------------------------------------------------------------ lookups

    def user(self, user_id: int) -> UserRecord:
        user = self.users.get(user_id)
        if user is None:
            raise ControlError(f"user {user_id} does not exist; create it first", 404)
        return user

    def control_chat(self, chat_id: int) -> ChatRecord:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise ControlError(f"chat {chat_id} does not exist", 404)
        return chat

    def chat_by_username(self, username: str) -> ChatRecord | None:
        wanted = username.lstrip("@").lower()
        for chat in self.chats.values():
            if chat.username and chat.username.lower() == wanted:
                return chat
        return None

    def private_chat(self, user: UserRecord) -> ChatRecord:
        chat = self.chats.get(user.id)
        if chat is None:
            chat = ChatRecord(id=user.id, type="private", user=user)
            self.chats[user.id] = chat
        return chat

    def member_status(self, chat: ChatRecord, user_id: int) -> str:
        if user_id == self.bot_user.id:
            return chat.bot.status
        if chat.type == "private":
            return "member" if user_id == chat.id else "left"
        return chat.members.get(user_id, "left")

    def chat_member(self, chat: ChatRecord, user_id: int) -> Json:
        if user_id == self.bot_user.id:
            status = chat.bot.status
            if chat.type == "private":
                status = "kicked" if chat.blocked else "member"
            return member_dict(
                self.bot_user.to_dict(), status, chat.type, can_post=chat.bot.can_post_messages
            )
        user = self.users.get(user_id)
        if user is None:
            raise ApiError(400, "Bad Request: user not found")
        return member_dict(user.to_dict(), self.member_status(chat, user_id), chat.type)

    # ------------------------------------------------------------------ messages

    def store_message(self, chat: ChatRecord, data: Json, *, from_bot: bool) -> StoredMessage:
        message = StoredMessage(data=data, from_bot=from_bot)
        chat.messages[message.message_id] = message
        return message

    def base_message(self, chat: ChatRecord, sender: UserRecord | None) -> Json:
        """Common head of a message: id, sender, chat, date (in Telegram's field order)."""
        data: Json = {"message_id": chat.new_message_id()}
        if chat.type == "channel":
            data["sender_chat"] = chat.to_dict()
        elif sender is not None:
            data["from"] = sender.to_dict()
        data["chat"] = chat.to_dict()
        data["date"] = int(time.time())
        return data

    @staticmethod
    def quoted(message: StoredMessage) -> Json:
        """A message as embedded in reply_to_message (Telegram nests only one level)."""
        return {k: v for k, v in message.data.items() if k != "reply_to_message"}

    def bot_sees(self, chat: ChatRecord, message: Json) -> bool:
        """Whether the bot receives a user's message in a group (privacy mode rules)."""
        if not chat.bot_present():
            return False
        if chat.type == "private" or chat.type == "channel":
            return True
        if not self.config.privacy_mode or chat.bot.status == "administrator":
            return True
        if any(key in message for key in SERVICE_KEYS):
            return True
        reply = message.get("reply_to_message")
        if reply is not None and reply.get("from", {}).get("id") == self.bot_user.id:
            return True
        text = message.get("text") or message.get("caption") or ""
        own = "@" + (self.bot_user.username or "").lower()
        for entity in message.get("entities") or message.get("caption_entities") or ():
            part = utf16_slice(text, entity["offset"], entity["length"]).lower()
            if entity["type"] == "bot_command" and entity["offset"] == 0:
                _, at, target = part.partition("@")
                if not at or "@" + target == own:
                    return True
            elif entity["type"] == "mention" and part == own:
                return True
        return False

    def deliver(self, chat: ChatRecord, message: StoredMessage) -> None:
        """Hand a user-side message to the bot if it would see it."""
        if chat.type == "private":
            if chat.blocked:
                return
        elif not self.bot_sees(chat, message.data):
            return
        message.delivered = True
        self.push_update("channel_post" if chat.type == "channel" else "message", message.data)

    def user_post(
        self,
        user_id: int,
        chat_id: int | None,
        content: Json,
        *,
        reply_to_message_id: int | None = None,
    ) -> StoredMessage:
        """A user sends something (text, photo, ...) in a chat."""
        user = self.user(user_id)
        if chat_id is None or chat_id == user_id:
            chat = self.private_chat(user)
            if chat.blocked:
                raise ControlError(f"user {user_id} has blocked the bot; unblock first")
            chat.started = True
        else:
            chat = self.control_chat(chat_id)
            if chat.migrated_to is not None:
                raise ControlError(f"chat {chat_id} was migrated to {chat.migrated_to}")
            status = chat.members.get(user_id)
            if status is None:
                raise ControlError(f"user {user_id} is not a member of chat {chat_id}")
            if chat.type == "channel" and status == "member":
                raise ControlError(f"user {user_id} is a follower, not an admin, of channel")
        data = self.base_message(chat, user)
        if reply_to_message_id is not None:
            target = chat.messages.get(reply_to_message_id)
            if target is None or target.deleted:
                raise ControlError(f"message {reply_to_message_id} not found in chat {chat.id}")
            data["reply_to_message"] = self.quoted(target)
        if "text" in content:
            text = content["text"]
            if not text:
                raise ControlError("text must not be empty")
            data["text"] = text
            entities = add_auto_entities(text, [])
            if entities:
                data["entities"] = entities
            content = {k: v for k, v in content.items() if k != "text"}
        elif content.get("caption"):
            entities = add_auto_entities(content["caption"], [])
            if entities:
                content = {**content, "caption_entities": entities}
        data.update(content)
        message = self.store_message(chat, data, from_bot=False)
        self.deliver(chat, message)
        return message

    def user_edit(self, user_id: int, chat_id: int, message_id: int, text: str) -> StoredMessage:
        chat = self.control_chat(chat_id)
        message = chat.messages.get(message_id)
        if message is None or message.deleted or message.from_bot:
            raise ControlError(f"no user message {message_id} in chat {chat_id}")
        sender = message.data.get("from", {}).get("id")
        if chat.type != "channel" and sender != user_id:
            raise ControlError(f"message {message_id} was not sent by user {user_id}")
        if "text" not in message.data:
            raise ControlError("only text messages can be edited")
        if not text:
            raise ControlError("text must not be empty")
        message.data["text"] = text
        entities = add_auto_entities(text, [])
        if entities:
            message.data["entities"] = entities
        else:
            message.data.pop("entities", None)
        message.data["edit_date"] = int(time.time())
        message.edit_count += 1
        if message.delivered:
            kind = "edited_channel_post" if chat.type == "channel" else "edited_message"
            self.push_update(kind, message.data)
        return message

    # ------------------------------------------------------------------ callback queries

    def press(
        self, user_id: int, chat_id: int, message_id: int, data: str, *, verify: bool
    ) -> CallbackRecord:
        user = self.user(user_id)
        chat = self.control_chat(chat_id)
        if chat.type == "private":
            if chat_id != user_id:
                raise ControlError(f"user {user_id} cannot see private chat {chat_id}")
            if chat.blocked:
                raise ControlError(f"user {user_id} has blocked the bot")
        elif user_id not in chat.members:
            raise ControlError(f"user {user_id} is not a member of chat {chat_id}")
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise ControlError(f"message {message_id} not found in chat {chat_id}")
        if verify:
            rows = message.data.get("reply_markup", {}).get("inline_keyboard", [])
            offered = [b.get("callback_data") for row in rows for b in row if "callback_data" in b]
            if data not in offered:
                raise ControlError(
                    f"message {message_id} has no button with callback_data {data!r}; "
                    f"buttons: {offered!r}"
                )
        self.callback_seq += 1
        query_id = str(4_000_000_000_000_000_000 + self.callback_seq * 7919)
        record = CallbackRecord(query_id, user_id, chat_id, message_id, time.monotonic())
        self.callbacks[query_id] = record
        self.push_update(
            "callback_query",
            {
                "id": query_id,
                "from": user.to_dict(),
                "message": message.data,
                "chat_instance": str((chat_id * 2_654_435_761) % 9_000_000_000_000_000_000),
                "data": data,
            },
        )
        return record

    # ------------------------------------------------------------------ chats (control side)

    def create_chat(
        self, chat_type: str, title: str, creator_id: int, username: str | None = None
    ) -> ChatRecord:
        if chat_type not in ("group", "supergroup", "channel"):
            raise ControlError(f"unknown chat type {chat_type!r}")
        if not title:
            raise ControlError("title must not be empty")
        self.user(creator_id)
        if chat_type == "group":
            self.group_seq += 1
            chat_id = GROUP_ID_BASE - self.group_seq
        else:
            self.supergroup_seq += 1
            chat_id = SUPERGROUP_ID_BASE - self.supergroup_seq
        if username is not None and self.chat_by_username(username) is not None:
            raise ControlError(f"username {username!r} is taken")
        chat = ChatRecord(
            id=chat_id,
            type=chat_type,
            title=title,
            username=username,
            members={creator_id: "creator"},
        )
        self.chats[chat_id] = chat
        if chat_type != "channel":
            service = self.base_message(chat, self.users[creator_id])
            service[
                "supergroup_chat_created" if chat_type == "supergroup" else "group_chat_created"
            ] = True
            self.store_message(chat, service, from_bot=False)
        return chat

    def _group_chat(self, chat_id: int) -> ChatRecord:
        chat = self.control_chat(chat_id)
        if chat.type == "private":
            raise ControlError("not possible in a private chat")
        if chat.migrated_to is not None:
            raise ControlError(f"chat {chat_id} was migrated to {chat.migrated_to}")
        return chat

    def _service(self, chat: ChatRecord, actor: UserRecord, content: Json) -> None:
        data = self.base_message(chat, actor)
        data.update(content)
        message = self.store_message(chat, data, from_bot=False)
        if chat.type != "channel":
            self.deliver(chat, message)

    def _chat_member_update(
        self, chat: ChatRecord, actor: UserRecord, user: Json, old: str, new: str
    ) -> None:
        # Telegram sends chat_member updates only to bots that administer the chat.
        if chat.bot.status != "administrator":
            return
        self.push_update(
            "chat_member",
            {
                "chat": chat.to_dict(),
                "from": actor.to_dict(),
                "date": int(time.time()),
                "old_chat_member": member_dict(user, old, chat.type),
                "new_chat_member": member_dict(user, new, chat.type),
            },
        )

    def add_member(self, chat_id: int, user_id: int, by: int | None) -> None:
        chat = self._group_chat(chat_id)
        user = self.user(user_id)
        actor = self.user(by) if by is not None else user
        if user_id in chat.members:
            raise ControlError(f"user {user_id} is already a member of chat {chat_id}")
        if by is not None and by not in chat.members:
            raise ControlError(f"user {by} is not a member of chat {chat_id}")
        chat.members[user_id] = "member"
        if chat.type != "channel":
            self._service(chat, actor, {"new_chat_members": [user.to_dict()]})
        self._chat_member_update(chat, actor, user.to_dict(), "left", "member")

    def remove_member(self, chat_id: int, user_id: int, by: int | None) -> None:
        chat = self._group_chat(chat_id)
        user = self.user(user_id)
        actor = self.user(by) if by is not None else user
        old = chat.members.pop(user_id, None)
        if old is None:
            raise ControlError(f"user {user_id} is not a member of chat {chat_id}")
        if chat.type != "channel":
            self._service(chat, actor, {"left_chat_member": user.to_dict()})
        self._chat_member_update(chat, actor, user.to_dict(), old, "left")

    def set_admin(self, chat_id: int, user_id: int, is_admin: bool) -> None:
        chat = self._group_chat(chat_id)
        user = self.user(user_id)
        old = chat.members.get(user_id)
        if old is None:
            raise ControlError(f"user {user_id} is not a member of chat {chat_id}")
        if old == "creator":
            raise ControlError("the creator's rights cannot be changed")
        new = "administrator" if is_admin else "member"
        chat.members[user_id] = new
        creator = next(uid for uid, st in chat.members.items() if st == "creator")
        self._chat_member_update(chat, self.users[creator], user.to_dict(), old, new)

    def _my_chat_member(self, chat: ChatRecord, actor: UserRecord, old: Json, new: Json) -> None:
        self.push_update(
            "my_chat_member",
            {
                "chat": chat.to_dict(),
                "from": actor.to_dict(),
                "date": int(time.time()),
                "old_chat_member": old,
                "new_chat_member": new,
            },
        )

    def set_bot_status(
        self, chat: ChatRecord, actor: UserRecord, status: str, can_post: bool
    ) -> None:
        bot = self.bot_user.to_dict()
        old = member_dict(bot, chat.bot.status, chat.type, can_post=chat.bot.can_post_messages)
        chat.bot.status = status
        chat.bot.can_post_messages = can_post if status == "administrator" else False
        if status in ("member", "administrator"):
            chat.bot.ever_member = True
        new = member_dict(bot, status, chat.type, can_post=chat.bot.can_post_messages)
        self._my_chat_member(chat, actor, old, new)

    def add_bot(self, chat_id: int, by: int, admin: bool, can_post_messages: bool) -> None:
        chat = self._group_chat(chat_id)
        actor = self.user(by)
        if chat.bot_present():
            raise ControlError(f"the bot is already in chat {chat_id}")
        if chat.members.get(by) is None or (
            chat.type == "channel" and chat.members[by] == "member"
        ):
            raise ControlError(f"user {by} may not add the bot to chat {chat_id}")
        self.set_bot_status(chat, actor, "administrator" if admin else "member", can_post_messages)
        if chat.type != "channel":
            self._service(chat, actor, {"new_chat_members": [self.bot_user.to_dict()]})

    def remove_bot(self, chat_id: int, by: int) -> None:
        chat = self._group_chat(chat_id)
        actor = self.user(by)
        if not chat.bot_present():
            raise ControlError(f"the bot is not in chat {chat_id}")
        if chat.members.get(by) not in ("creator", "administrator"):
            raise ControlError(f"user {by} is not an admin of chat {chat_id}")
        self.set_bot_status(chat, actor, "kicked", False)
        if chat.type != "channel":
            # Stored for the record; the bot no longer receives anything from this chat.
            data = self.base_message(chat, actor)
            data["left_chat_member"] = self.bot_user.to_dict()
            self.store_message(chat, data, from_bot=False)

    def set_bot_admin(self, chat_id: int, is_admin: bool, by: int, can_post: bool) -> None:
        chat = self._group_chat(chat_id)
        actor = self.user(by)
        if not chat.bot_present():
            raise ControlError(f"the bot is not in chat {chat_id}")
        if chat.members.get(by) not in ("creator", "administrator"):
            raise ControlError(f"user {by} is not an admin of chat {chat_id}")
        self.set_bot_status(chat, actor, "administrator" if is_admin else "member", can_post)

    def follow(self, chat_id: int, user_id: int, follow: bool) -> None:
        chat = self._group_chat(chat_id)
        if chat.type != "channel":
            raise ControlError(f"chat {chat_id} is not a channel; use add_member")
        user = self.user(user_id)
        if follow:
            if user_id in chat.members:
                raise ControlError(f"user {user_id} already follows channel {chat_id}")
            chat.members[user_id] = "member"
            self._chat_member_update(chat, user, user.to_dict(), "left", "member")
        else:
            if chat.members.get(user_id) != "member":
                raise ControlError(f"user {user_id} is not a follower of channel {chat_id}")
            del chat.members[user_id]
            self._chat_member_update(chat, user, user.to_dict(), "member", "left")

    def migrate(self, chat_id: int) -> ChatRecord:
        old = self._group_chat(chat_id)
        if old.type != "group":
            raise ControlError("only basic groups can be migrated")
        self.supergroup_seq += 1
        new = ChatRecord(
            id=SUPERGROUP_ID_BASE - self.supergroup_seq,
            type="supergroup",
            title=old.title,
            members=dict(old.members),
            bot=BotMembership(old.bot.status, old.bot.can_post_messages, old.bot.ever_member),
        )
        self.chats[new.id] = new
        creator = self.users[next(uid for uid, st in old.members.items() if st == "creator")]
        self._service(old, creator, {"migrate_to_chat_id": new.id})
        old.migrated_to = new.id
        self._service(new, creator, {"migrate_from_chat_id": old.id})
        return new

    def set_title(self, chat_id: int, title: str, by: int) -> None:
        chat = self._group_chat(chat_id)
        actor = self.user(by)
        if not title:
            raise ControlError("title must not be empty")
        if chat.members.get(by) not in ("creator", "administrator"):
            raise ControlError(f"user {by} is not an admin of chat {chat_id}")
        chat.title = title
        self._service(chat, actor, {"new_chat_title": title})

    def set_blocked(self, user_id: int, blocked: bool) -> None:
        user = self.user(user_id)
        chat = self.private_chat(user)
        if chat.blocked == blocked:
            raise ControlError(f"user {user_id} has {'already' if blocked else 'not'} blocked")
        chat.blocked = blocked
        bot = self.bot_user.to_dict()
        states = (member_dict(bot, "member", "private"), member_dict(bot, "kicked", "private"))
        old, new = states if blocked else states[::-1]
        self._my_chat_member(chat, user, old, new)

    # ------------------------------------------------------------------ requests log

    def log_request(self, method: str, params: Json, status: int, error: str | None) -> None:
        if status != 200:
            self.refusals[f"{method}: {error}"] += 1
        self.requests.append(
            {
                "method": method,
                "params": params,
                "status": status,
                "error": error,
                "time": time.time(),
            }
        )


SERVICE_KEYS = (
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "migrate_to_chat_id",
    "migrate_from_chat_id",
    "group_chat_created",
    "supergroup_chat_created",
    "pinned_message",
)


def dump_json(value: Any) -> str:
    """Compact JSON as Telegram sends it (UTF-8, no spaces)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def utf16_slice(text: str, offset: int, length: int) -> str:
    """Cut ``text`` by UTF-16 offsets (entity coordinates)."""
    if text.isascii():
        return text[offset : offset + length]
    encoded = text.encode("utf-16-le")
    return encoded[offset * 2 : (offset + length) * 2].decode("utf-16-le", errors="replace")
