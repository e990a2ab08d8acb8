"""The control API under ``/sandbox/...``: play the users and inspect what the bot did.

JSON in, ``{"ok": true, "result": ...}`` / ``{"ok": false, "description": ...}`` out, so a
person can drive it with curl (see README.md) and ``SandboxClient`` is a thin wrapper.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import mimetypes
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from sandbox import page_strings, webapp
from sandbox.botapi import BotApi, Params, json_response
from sandbox.config import Limits
from sandbox.errors import ApiError, ControlError
from sandbox.state import (
    ChatRecord,
    Fault,
    FloodControl,
    Json,
    StoredMessage,
    UserRecord,
    World,
)

MAX_WAIT = 120.0
# How often an open page's event stream looks again without being woken: it catches
# changes nothing signals (a user added to a group in another tab) and keeps proxies from
# closing an idle stream.
EVENTS_TICK = 1.0
# Presses one press_burst may queue: a flood, bounded so one request stays quick.
MAX_BURST = 10_000
# A tiny valid WebP (1x1) so that a sticker can be downloaded like a real file.
STICKER_BYTES = base64.b64decode("UklGRiQAAABXRUJQVlA4IBgAAAAwAQCdASoBAAEAAwA0JaQAA3AA/vuUAAA=")

ControlHandler = Callable[[web.Request], Awaitable[Any]]


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ControlError(f"{name} must be an integer, got {value!r}") from None


def _opt_int(value: Any, name: str) -> int | None:
    return None if value in (None, "") else _int(value, name)


def _bool(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _float(value: Any, name: str, default: float) -> float:
    if value in (None, ""):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ControlError(f"{name} must be a number, got {value!r}") from None


def describe_chat(chat: ChatRecord, limit: int = 20) -> str:
    """A short human-readable transcript used in timeout messages."""
    messages = list(chat.messages.values())[-limit:]
    if not messages:
        return "(no messages)"
    lines = []
    for message in messages:
        data = message.data
        who = "bot" if message.from_bot else str(data.get("from", {}).get("id", "channel"))
        body = (
            data.get("text")
            or data.get("caption")
            or next(
                (
                    k
                    for k in (
                        "photo",
                        "document",
                        "sticker",
                        "location",
                        "new_chat_members",
                        "left_chat_member",
                        "new_chat_title",
                        "migrate_to_chat_id",
                        "migrate_from_chat_id",
                        "group_chat_created",
                    )
                    if k in data
                ),
                "?",
            )
        )
        flags = (" (edited)" if message.edit_count else "") + (
            " (deleted)" if message.deleted else ""
        )
        buttons = [
            b.get("callback_data") or b.get("url") or b["text"]
            for row in data.get("reply_markup", {}).get("inline_keyboard", [])
            for b in row
        ]
        suffix = f" buttons={buttons}" if buttons else ""
        lines.append(f"  #{data['message_id']} {who}: {body!r}{flags}{suffix}")
    return "\n".join(lines)


class ControlApi:
    def __init__(self, world: World, bot_api: BotApi) -> None:
        self.world = world
        self.bot_api = bot_api

    def routes(self) -> list[web.RouteDef]:
        w = self._wrap
        return [
            web.get("/sandbox/users", w(self.list_users)),
            web.post("/sandbox/users", w(self.create_user)),
            web.post("/sandbox/users/{user_id}/block", w(self.block)),
            web.post("/sandbox/users/{user_id}/unblock", w(self.unblock)),
            web.get("/sandbox/users/{user_id}/webapp", w(self.webapp)),
            web.post("/sandbox/send", w(self.send)),
            web.post("/sandbox/send_location", w(self.send_location)),
            web.post("/sandbox/send_photo", w(self.send_photo)),
            web.post("/sandbox/send_sticker", w(self.send_sticker)),
            web.post("/sandbox/send_document", w(self.send_document)),
            web.post("/sandbox/edit", w(self.edit)),
            web.post("/sandbox/press", w(self.press)),
            web.post("/sandbox/press_burst", w(self.press_burst)),
            web.get("/sandbox/callbacks/{query_id}", w(self.callback_answer)),
            web.get("/sandbox/chats", w(self.list_chats)),
            web.post("/sandbox/chats", w(self.create_chat)),
            web.get("/sandbox/chats/{chat_id}", w(self.get_chat)),
            web.get("/sandbox/chats/{chat_id}/messages", w(self.messages)),
            web.get("/sandbox/chats/{chat_id}/wait", w(self.wait)),
            web.get("/sandbox/chats/{chat_id}/messages/{message_id}/wait_edit", w(self.wait_edit)),
            web.post("/sandbox/chats/{chat_id}/{action}", w(self.chat_action)),
            web.get("/sandbox/requests", w(self.requests)),
            web.get("/sandbox/refusals", w(self.refusals)),
            web.get("/sandbox/updates", w(self.pending_updates)),
            web.get("/sandbox/commands", w(self.commands)),
            web.get("/sandbox/limits", w(self.get_limits)),
            web.post("/sandbox/limits", w(self.set_limits)),
            web.get("/sandbox/faults", w(self.get_faults)),
            web.post("/sandbox/faults", w(self.add_fault)),
            web.delete("/sandbox/faults", w(self.clear_faults)),
            web.post("/sandbox/reset", w(self.reset)),
            web.get("/sandbox/strings", w(self.page_strings)),
            # Raw answers, not JSON envelopes: the page's event stream and its downloads.
            web.get("/sandbox/events", self.events),
            web.get("/sandbox/files/{file_id}", self.file),
        ]

    @staticmethod
    def _wrap(handler: ControlHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def wrapped(request: web.Request) -> web.Response:
            try:
                result = await handler(request)
            except ControlError as exc:
                return json_response({"ok": False, "description": exc.description}, exc.status)
            except ApiError as exc:
                return json_response({"ok": False, "description": exc.description}, 400)
            return json_response({"ok": True, "result": result})

        return wrapped

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        body: dict[str, Any] = dict(request.query)
        if request.body_exists:
            # `curl -d '{...}'` labels JSON as a form; people type that, so sniff the body.
            looks_json = request.content_type == "application/json" or (
                request.content_type != "multipart/form-data"
                and (await request.read()).lstrip().startswith(b"{")
            )
            if looks_json:
                try:
                    data = json.loads(await request.read())
                except ValueError:
                    raise ControlError("body is not valid JSON") from None
                if not isinstance(data, dict):
                    raise ControlError("body must be a JSON object")
                body.update(data)
            else:
                form = await request.post()
                for key, value in form.items():
                    body[key] = value.file.read() if isinstance(value, web.FileField) else value
        return body

    # ------------------------------------------------------------------ users

    async def list_users(self, request: web.Request) -> list[Json]:
        return [user.to_dict() for user in self.world.users.values()]

    async def create_user(self, request: web.Request) -> Json:
        body = await self._body(request)
        world = self.world
        user_id = _opt_int(body.get("user_id"), "user_id")
        if user_id is None:
            while world.next_user_id in world.users:
                world.next_user_id += 1
            user_id = world.next_user_id
            world.next_user_id += 1
        if user_id <= 0 or user_id == world.bot_user.id:
            raise ControlError(f"user_id {user_id} is not usable")
        if user_id in world.users:
            raise ControlError(f"user {user_id} already exists")
        user = UserRecord(
            id=user_id,
            first_name=str(body.get("first_name") or "Anna"),
            last_name=body.get("last_name") or None,
            username=body.get("username") or None,
            language_code=body.get("language_code", "nl") or None,
        )
        world.users[user_id] = user
        if _bool(body.get("started")):
            # As if the user had written to the bot long ago: reachable, no update queued.
            world.private_chat(user).started = True
        return user.to_dict()

    async def block(self, request: web.Request) -> bool:
        self.world.set_blocked(_int(request.match_info["user_id"], "user_id"), True)
        return True

    async def unblock(self, request: web.Request) -> bool:
        self.world.set_blocked(_int(request.match_info["user_id"], "user_id"), False)
        return True

    async def webapp(self, request: web.Request) -> Json:
        """Open the bot's Mini App as this user: initData signed with the bot's token and
        the URL a client would open (`url`, else the web_app of the user's menu button)."""
        user = self.world.users.get(_int(request.match_info["user_id"], "user_id"))
        if user is None:
            raise ControlError("no such user", 404)
        url = request.query.get("url")
        if not url:
            chat = self.world.chats.get(user.id)
            button = (chat.menu_button if chat else None) or self.world.default_menu_button
            url = (button.get("web_app") or {}).get("url") if button["type"] == "web_app" else None
        if not url:
            raise ControlError("no url given and no web_app menu button for this user")
        init_data = webapp.sign(self.world.config.token, user)
        return {"url": webapp.launch_url(url, init_data), "init_data": init_data}

    # ------------------------------------------------------------------ user actions

    def _post(self, body: dict[str, Any], content: Json) -> Json:
        message = self.world.user_post(
            _int(body.get("user_id"), "user_id"),
            _opt_int(body.get("chat_id"), "chat_id"),
            content,
            reply_to_message_id=_opt_int(body.get("reply_to_message_id"), "reply_to_message_id"),
        )
        # The Bot API side wakes a chat's watchers when the bot writes; a user writing
        # must wake them too, or a second tab sees the message only at its next tick.
        self.world.notify_chat(message.data["chat"]["id"])
        return message.snapshot()

    async def send(self, request: web.Request) -> Json:
        body = await self._body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text:
            raise ControlError("text must be a non-empty string")
        return self._post(body, {"text": text})

    async def send_location(self, request: web.Request) -> Json:
        body = await self._body(request)
        latitude = _float(body.get("latitude"), "latitude", float("nan"))
        longitude = _float(body.get("longitude"), "longitude", float("nan"))
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ControlError("latitude/longitude out of range")
        return self._post(body, {"location": {"latitude": latitude, "longitude": longitude}})

    def _upload(self, body: dict[str, Any], field: str) -> bytes:
        """A file a user sends: a multipart file, or base64 in `field` or `field_base64`."""
        data = body.get(field)
        if isinstance(data, str):
            data = base64.b64decode(data)
        elif body.get(f"{field}_base64"):
            data = base64.b64decode(body[f"{field}_base64"])
        if not isinstance(data, bytes | bytearray) or not data:
            raise ControlError(f"{field} (multipart file or base64 string) is required")
        self.world.user(_int(body.get("user_id"), "user_id"))
        return bytes(data)

    async def send_photo(self, request: web.Request) -> Json:
        body = await self._body(request)
        data = self._upload(body, "photo")
        stored = self.bot_api.store_file("photo", data, None, None)
        if body.get("file_size") is not None:
            # Acts out a photo larger than the test uploads (Telegram reports sizes it holds).
            stored.declared_size = _int(body.get("file_size"), "file_size")
        content: Json = {"photo": stored.media()}
        if body.get("caption"):
            content["caption"] = str(body["caption"])
        return self._post(body, content)

    async def send_document(self, request: web.Request) -> Json:
        body = await self._body(request)
        data = self._upload(body, "document")
        file_name = str(body.get("file_name") or "document")
        mime_type = str(body.get("mime_type") or "application/octet-stream")
        stored = self.bot_api.store_file("document", data, file_name, mime_type)
        content: Json = {"document": stored.media()}
        if body.get("caption"):
            content["caption"] = str(body["caption"])
        return self._post(body, content)

    async def send_sticker(self, request: web.Request) -> Json:
        body = await self._body(request)
        self.world.user(_int(body.get("user_id"), "user_id"))
        stored = self.bot_api.store_file("sticker", STICKER_BYTES, None, "image/webp")
        return self._post(body, {"sticker": stored.media()})

    async def edit(self, request: web.Request) -> Json:
        body = await self._body(request)
        message = self.world.user_edit(
            _int(body.get("user_id"), "user_id"),
            _int(body.get("chat_id"), "chat_id"),
            _int(body.get("message_id"), "message_id"),
            str(body.get("text") or ""),
        )
        self.world.notify_chat(message.data["chat"]["id"])
        return message.snapshot()

    async def press(self, request: web.Request) -> Json:
        body = await self._body(request)
        data = body.get("data")
        if not isinstance(data, str):
            raise ControlError("data must be a string")
        record = self.world.press(
            _int(body.get("user_id"), "user_id"),
            _int(body.get("chat_id"), "chat_id"),
            _int(body.get("message_id"), "message_id"),
            data,
            verify=not _bool(body.get("forged")),
        )
        return {"callback_query_id": record.id}

    async def press_burst(self, request: web.Request) -> Json:
        """`count` presses of one button at once, as a flooding client sends them.

        One request for the whole burst, so a test's flood costs the sandbox, not the
        client side of the event loop the bot under test shares.
        """
        body = await self._body(request)
        data = body.get("data")
        if not isinstance(data, str):
            raise ControlError("data must be a string")
        count = _int(body.get("count"), "count")
        if not 1 <= count <= MAX_BURST:
            raise ControlError(f"count must be between 1 and {MAX_BURST}")
        ids = [
            self.world.press(
                _int(body.get("user_id"), "user_id"),
                _int(body.get("chat_id"), "chat_id"),
                _int(body.get("message_id"), "message_id"),
                data,
                verify=not _bool(body.get("forged")),
            ).id
            for _ in range(count)
        ]
        return {"callback_query_ids": ids}

    async def callback_answer(self, request: web.Request) -> Json | None:
        timeout = min(_float(request.query.get("timeout"), "timeout", 5.0), MAX_WAIT)
        query_id = request.match_info["query_id"]
        record = self.world.callbacks.get(query_id)
        if record is None:
            raise ControlError(f"unknown callback query {query_id}", 404)
        await self.world.callback_signal.wait_until(lambda: record.answer is not None, timeout)
        return record.answer

    # ------------------------------------------------------------------ chats

    async def list_chats(self, request: web.Request) -> list[Json]:
        return [self._chat_view(chat) for chat in self.world.chats.values()]

    def _chat_view(self, chat: ChatRecord) -> Json:
        view = chat.to_dict()
        view["members"] = {str(uid): status for uid, status in chat.members.items()}
        view["bot_status"] = (
            ("kicked" if chat.blocked else "member") if chat.type == "private" else chat.bot.status
        )
        view["bot_can_post_messages"] = chat.bot.can_post_messages
        if chat.migrated_to is not None:
            view["migrated_to"] = chat.migrated_to
        return view

    async def create_chat(self, request: web.Request) -> Json:
        body = await self._body(request)
        chat_type = str(body.get("type") or "group")
        if chat_type == "group" and _bool(body.get("supergroup")):
            chat_type = "supergroup"
        chat = self.world.create_chat(
            chat_type,
            str(body.get("title") or ""),
            _int(body.get("creator_id"), "creator_id"),
            str(body["username"]) if body.get("username") else None,
        )
        return chat.to_dict()

    async def get_chat(self, request: web.Request) -> Json:
        return self._chat_view(self.world.control_chat(_int(request.match_info["chat_id"], "id")))

    async def chat_action(self, request: web.Request) -> Any:
        world = self.world
        chat_id = _int(request.match_info["chat_id"], "chat_id")
        action = request.match_info["action"]
        body = await self._body(request)
        by = _opt_int(body.get("by"), "by")
        if action == "add_member":
            world.add_member(chat_id, _int(body.get("user_id"), "user_id"), by)
        elif action == "remove_member":
            world.remove_member(chat_id, _int(body.get("user_id"), "user_id"), by)
        elif action == "set_admin":
            world.set_admin(
                chat_id, _int(body.get("user_id"), "user_id"), _bool(body.get("is_admin"), True)
            )
        elif action == "add_bot":
            world.add_bot(
                chat_id,
                _int(by, "by"),
                _bool(body.get("admin")),
                _bool(body.get("can_post_messages"), True),
            )
        elif action == "remove_bot":
            world.remove_bot(chat_id, _int(by, "by"))
        elif action == "set_bot_admin":
            world.set_bot_admin(
                chat_id,
                _bool(body.get("is_admin"), True),
                _int(by, "by"),
                _bool(body.get("can_post_messages"), True),
            )
        elif action in ("follow", "unfollow"):
            world.follow(chat_id, _int(body.get("user_id"), "user_id"), action == "follow")
        elif action == "migrate":
            return world.migrate(chat_id).to_dict()
        elif action == "set_title":
            world.set_title(chat_id, str(body.get("title") or ""), _int(by, "by"))
        else:
            raise ControlError(f"unknown chat action {action!r}", 404)
        # Service messages (joined, left, title) are new messages in the chat.
        world.notify_chat(chat_id)
        return True

    async def messages(self, request: web.Request) -> list[Json]:
        chat = self.world.control_chat(_int(request.match_info["chat_id"], "chat_id"))
        bot_only = _bool(request.query.get("bot_only"))
        return [m.snapshot() for m in chat.messages.values() if m.from_bot or not bot_only]

    async def wait(self, request: web.Request) -> list[Json]:
        chat_id = _int(request.match_info["chat_id"], "chat_id")
        after = _int(request.query.get("after", 0), "after")
        count = max(_int(request.query.get("count", 1), "count"), 1)
        timeout = min(_float(request.query.get("timeout"), "timeout", 5.0), MAX_WAIT)
        world = self.world

        def found() -> list[StoredMessage]:
            chat = world.chats.get(chat_id)
            if chat is None:
                return []
            return [m for mid, m in chat.messages.items() if mid > after and m.from_bot]

        await world.chat_signal(chat_id).wait_until(lambda: len(found()) >= count, timeout)
        result = found()
        if len(result) < count:
            chat = world.chats.get(chat_id)
            transcript = describe_chat(chat) if chat is not None else "(chat does not exist)"
            errors = [
                f"  {r['method']} -> {r['status']} {r['error']}"
                for r in list(world.requests)[-5:]
                if r["error"]
            ]
            hint = ("\nrecent failed Bot API calls:\n" + "\n".join(errors)) if errors else ""
            raise ControlError(
                f"timed out after {timeout:g}s waiting for {count} bot message(s) in chat "
                f"{chat_id} after message_id {after}; got {len(result)}. Chat:\n"
                f"{transcript}{hint}",
                408,
            )
        return [m.snapshot() for m in result[:count]]

    async def wait_edit(self, request: web.Request) -> Json:
        chat = self.world.control_chat(_int(request.match_info["chat_id"], "chat_id"))
        message_id = _int(request.match_info["message_id"], "message_id")
        edits = max(_int(request.query.get("edits", 1), "edits"), 1)
        timeout = min(_float(request.query.get("timeout"), "timeout", 5.0), MAX_WAIT)
        message = chat.messages.get(message_id)
        if message is None:
            raise ControlError(f"message {message_id} not found in chat {chat.id}", 404)

        def done() -> bool:
            return message.edit_count >= edits or message.deleted

        if not await self.world.chat_signal(chat.id).wait_until(done, timeout):
            raise ControlError(
                f"timed out after {timeout:g}s waiting for message {message_id} in chat "
                f"{chat.id} to be edited (edits so far: {message.edit_count}). Chat:\n"
                f"{describe_chat(chat)}",
                408,
            )
        return message.snapshot()

    # ------------------------------------------------------------------ inspection & settings

    async def requests(self, request: web.Request) -> list[Json]:
        method = request.query.get("method")
        wanted = method.lower() if method else None
        return [r for r in self.world.requests if wanted is None or r["method"].lower() == wanted]

    async def refusals(self, request: web.Request) -> dict[str, int]:
        return dict(self.world.refusals)

    async def pending_updates(self, request: web.Request) -> list[Json]:
        return [json.loads(text) for _, text in self.world.updates]

    async def commands(self, request: web.Request) -> list[Json]:
        params: Json = {}
        if request.query.get("scope"):
            params["scope"] = request.query["scope"]
        if request.query.get("language_code"):
            params["language_code"] = request.query["language_code"]
        return await self.bot_api.get_my_commands(Params(params, {}))

    async def get_limits(self, request: web.Request) -> Json:
        return dataclasses.asdict(self.world.flood.limits)

    async def set_limits(self, request: web.Request) -> Json:
        body = await self._body(request)
        current = self.world.flood.limits
        known = {f.name: f.type for f in dataclasses.fields(Limits)}
        changes: dict[str, Any] = {}
        for key, value in body.items():
            if key not in known:
                raise ControlError(f"unknown limit {key!r}; known: {sorted(known)}")
            default = getattr(current, key)
            if isinstance(default, bool):
                changes[key] = _bool(value)
            elif isinstance(default, int):
                changes[key] = _int(value, key)
            else:
                changes[key] = _float(value, key, default)
        self.world.flood = FloodControl(dataclasses.replace(current, **changes))
        return dataclasses.asdict(self.world.flood.limits)

    async def get_faults(self, request: web.Request) -> list[Json]:
        return [fault.to_dict() for fault in self.world.faults]

    async def add_fault(self, request: web.Request) -> Json:
        body = await self._body(request)
        method = str(body.get("method") or "")
        if not method:
            raise ControlError("method is required")
        times = _int(body.get("times", 1), "times")
        if times < 1:
            raise ControlError("times must be at least 1")
        error_code = _opt_int(body.get("error_code"), "error_code")
        if error_code is not None and not 400 <= error_code <= 599:
            raise ControlError("error_code must be an HTTP error status (400-599)")
        fault = Fault(
            method=method.lower(),
            chat_id=_opt_int(body.get("chat_id"), "chat_id"),
            times=times,
            delay=_float(body.get("delay"), "delay", 0.0),
            error_code=error_code,
            description=str(body.get("description") or "Internal Server Error"),
            retry_after=_opt_int(body.get("retry_after"), "retry_after"),
        )
        self.world.faults.append(fault)
        return fault.to_dict()

    async def clear_faults(self, request: web.Request) -> bool:
        self.world.faults.clear()
        return True

    async def page_strings(self, request: web.Request) -> Json:
        """The page's own words in a language (?lang=pl); Dutch for one the bot lacks."""
        return page_strings.strings(request.query.get("lang"))

    async def reset(self, request: web.Request) -> bool:
        self.world.reset()
        return True

    # ------------------------------------------------------------------ the page

    def _world_view(self, user_id: int | None) -> Json:
        """What the page's menus show: the users, and the chats `user_id` is in or may follow."""
        world = self.world
        chats: list[Json] = []
        for chat in world.chats.values():
            if chat.migrated_to is not None:
                continue
            if chat.type == "private":
                if chat.id != user_id:
                    continue
                status: str | None = "member"
            else:
                status = chat.members.get(user_id) if user_id is not None else None
                # A channel is listed to everyone, so it can be followed; a group only to
                # its members, as on Telegram (someone adds you).
                if status is None and chat.type != "channel":
                    continue
            view = chat.to_dict()
            view["status"] = status
            view["bot_status"] = chat.bot.status if chat.type != "private" else "member"
            if chat.type == "private":
                # The chat's menu button as a client draws it: the page shows a web_app one.
                view["menu_button"] = chat.menu_button or world.default_menu_button
            chats.append(view)
        bot = world.bot_user
        return {
            "bot": {"id": bot.id, "username": bot.username, "first_name": bot.first_name},
            "users": [user.to_dict() for user in world.users.values()],
            "chats": chats,
        }

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events for the page: `world` (users and chats) and `msg` (one message).

        Each message is sent once, then again only when it changed (an edit, new buttons,
        a deletion), so the page updates that one bubble and never redraws the chat.
        """
        try:
            user_id = _opt_int(request.query.get("user_id"), "user_id")
            chat_id = _opt_int(request.query.get("chat_id"), "chat_id")
        except ControlError as exc:
            return json_response({"ok": False, "description": exc.description}, exc.status)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        world = self.world
        sent: dict[int, Json] = {}
        last_world: Json | None = None

        def changes() -> list[Json]:
            chat = world.chats.get(chat_id) if chat_id is not None else None
            if chat is None:
                return []
            fresh = []
            for message_id, message in chat.messages.items():
                snapshot = message.snapshot()
                if sent.get(message_id) != snapshot:
                    sent[message_id] = snapshot
                    fresh.append(snapshot)
            return fresh

        async def emit(event: str, data: Any) -> None:
            payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            await response.write(f"event: {event}\ndata: {payload}\n\n".encode())

        pending: list[Json] = []

        def woken() -> bool:
            pending.extend(changes())
            return bool(pending)

        try:
            # A page that reconnects (the sandbox restarted) starts from a clean chat.
            await emit("hello", {"chat_id": chat_id, "user_id": user_id})
            while True:
                view = self._world_view(user_id)
                if view != last_world:
                    last_world = view
                    await emit("world", view)
                for snapshot in pending or changes():
                    await emit("msg", snapshot)
                pending.clear()
                if chat_id is None:
                    await asyncio.sleep(EVENTS_TICK)
                else:
                    await world.chat_signal(chat_id).wait_until(woken, EVENTS_TICK)
        except ConnectionResetError:
            # The tab closed: nothing to clean up but this loop.
            pass
        return response

    async def file(self, request: web.Request) -> web.Response:
        """A file's bytes for the page (the Bot API's download route needs the token)."""
        stored = self.world.files.get(request.match_info["file_id"])
        if stored is None:
            return json_response({"ok": False, "description": "file not found"}, 404)
        headers = {}
        if stored.kind == "document":
            # Sent as a download under its own name, never shown inline as the page's own
            # content: a bot's HTML or SVG document must not run in the page's origin.
            name = stored.file_name or "document"
            headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
        headers["X-Content-Type-Options"] = "nosniff"
        return web.Response(
            body=stored.data,
            content_type=stored.mime_type
            or mimetypes.guess_type(stored.file_path)[0]
            or "application/octet-stream",
            headers=headers,
        )
