"""The Bot API side: ``/bot<token>/<method>`` and ``/file/bot<token>/<path>``.

Parameters arrive as query string, JSON, urlencoded form or multipart (python-telegram-bot
sends forms whose nested objects are JSON-encoded strings), so every accessor coerces like
Telegram does: ``"123"`` is an int, ``"true"`` a bool, a JSON string an object.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.config import SandboxConfig
from sandbox.errors import ApiError, bad_request, forbidden
from sandbox.markup import (
    ParseError,
    add_auto_entities,
    is_valid_url,
    parse,
    strip_text,
    utf16_len,
)
from sandbox.state import (
    ChatRecord,
    Json,
    StoredFile,
    StoredMessage,
    World,
    dump_json,
    member_dict,
)
from sandbox.webhook import WebhookPusher

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_BUTTONS = 100
DEFAULT_PHOTO_SIZE = (800, 600)
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
SCOPE_TYPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
LANGUAGE_RE = re.compile(r"[a-z]{2}")
CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to "
    "delete the webhook first"
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
logger = logging.getLogger(__name__)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
JSON_TYPE = "application/json"


@dataclass(slots=True)
class Upload:
    filename: str | None
    content_type: str | None
    data: bytes


class Params:
    """Request parameters with Telegram's lenient type coercion."""

    __slots__ = ("files", "raw")

    def __init__(self, raw: dict[str, Any], files: dict[str, Upload]) -> None:
        self.raw = raw
        self.files = files

    def has(self, name: str) -> bool:
        return self.raw.get(name) not in (None, "")

    def text(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return json.dumps(value)

    def integer(self, name: str, error: ApiError) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise error

    def number(self, name: str) -> float | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def flag(self, name: str) -> bool:
        value = self.raw.get(name)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)

    def obj(self, name: str, error: ApiError) -> Any:
        value = self.raw.get(name)
        if isinstance(value, str):
            if not value:
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise error from None
        return value


class RawJson(str):
    """A result that is already JSON text (pre-serialised updates)."""

    __slots__ = ()


def _dump(payload: Any) -> bytes:
    return dump_json(payload).encode()


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=_dump(payload), status=status, content_type=JSON_TYPE)


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, JPEG or GIF, read from the header; None if unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01, 0xFF) or 0xD0 <= marker <= 0xD7:
                i += 1 if marker == 0xFF else 2
                continue
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            (segment,) = struct.unpack(">H", data[i + 2 : i + 4])
            i += 2 + segment
    return None


def _image_ext(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return ".png"
    if data[:3] == b"GIF":
        return ".gif"
    return ".jpg"


Handler = Callable[[Params], Awaitable[Any]]


class BotApi:
    """Implements the Bot API methods on top of a ``World``."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.config: SandboxConfig = world.config
        self._session: aiohttp.ClientSession | None = None
        self.pusher = WebhookPusher(world)
        self._methods: dict[str, Handler] = {
            name.lower(): handler
            for name, handler in {
                "getMe": self.get_me,
                "logOut": self.always_true,
                "close": self.always_true,
                "getUpdates": self.get_updates,
                "setWebhook": self.set_webhook,
                "deleteWebhook": self.delete_webhook,
                "getWebhookInfo": self.get_webhook_info,
                "setMyCommands": self.set_my_commands,
                "deleteMyCommands": self.delete_my_commands,
                "getMyCommands": self.get_my_commands,
                "setMyDescription": self.set_my_description,
                "getMyDescription": self.get_my_description,
                "setMyShortDescription": self.set_my_short_description,
                "getMyShortDescription": self.get_my_short_description,
                "setMyName": self.set_my_name,
                "getMyName": self.get_my_name,
                "setChatMenuButton": self.set_chat_menu_button,
                "getChatMenuButton": self.get_chat_menu_button,
                "sendMessage": self.send_message,
                "sendPhoto": self.send_photo,
                "sendDocument": self.send_document,
                "sendLocation": self.send_location,
                "sendContact": self.send_contact,
                "sendChatAction": self.send_chat_action,
                "editMessageText": self.edit_message_text,
                "editMessageCaption": self.edit_message_caption,
                "editMessageReplyMarkup": self.edit_message_reply_markup,
                "deleteMessage": self.delete_message,
                "answerCallbackQuery": self.answer_callback_query,
                "getFile": self.get_file,
                "getChat": self.get_chat,
                "getChatMember": self.get_chat_member,
                "getChatAdministrators": self.get_chat_administrators,
                "getChatMemberCount": self.get_chat_member_count,
                "getChatMembersCount": self.get_chat_member_count,
                "leaveChat": self.leave_chat,
            }.items()
        }

    async def close(self) -> None:
        await self.pusher.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ HTTP entry points

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.match_info["token"] != self.config.token:
            return json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        handler = self._methods.get(method.lower())
        if handler is None:
            return json_response({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        params: Params | None = None
        try:
            params = await self._read_params(request)
            fault = self.world.take_fault(method, params.raw.get("chat_id"))
            if fault is not None:
                if fault.delay > 0:
                    await asyncio.sleep(fault.delay)
                error = fault.error()
                if error is not None:
                    raise error
            result = await handler(params)
        except ApiError as exc:
            logged = params.raw if params is not None else {}
            self.world.log_request(method, logged, exc.code, exc.description)
            return json_response(exc.payload(), exc.code)
        except Exception as exc:
            # A sandbox bug must not look like a network failure to the bot: answer in
            # Telegram's shape and keep the traceback in the log.
            logger.exception("sandbox failed on %s", method)
            description = f"Internal Server Error: sandbox bug: {exc!r}"
            self.world.log_request(method, params.raw if params else {}, 500, description)
            return json_response({"ok": False, "error_code": 500, "description": description}, 500)
        self.world.log_request(method, params.raw, 200, None)
        if isinstance(result, RawJson):
            body = ('{"ok":true,"result":' + result + "}").encode()
            return web.Response(body=body, content_type=JSON_TYPE)
        return json_response({"ok": True, "result": result})

    async def handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.config.token:
            return json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        stored = self.world.files_by_path.get(request.match_info["path"])
        if stored is None:
            return json_response({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    async def _read_params(self, request: web.Request) -> Params:
        raw: dict[str, Any] = dict(request.query) if request.query_string else {}
        files: dict[str, Upload] = {}
        if request.method == "POST" and request.body_exists:
            ctype = request.content_type
            if ctype == JSON_TYPE:
                try:
                    body = json.loads(await request.read() or b"{}")
                except ValueError:
                    raise bad_request("can't parse JSON body") from None
                if not isinstance(body, dict):
                    raise bad_request("JSON body must be an object")
                raw.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = Upload(value.filename, value.content_type, value.file.read())
                    else:
                        raw[key] = value
        return Params(raw, files)

    # ------------------------------------------------------------------ chat access

    def _chat(self, params: Params) -> ChatRecord:
        """Resolve chat_id (int or @username) like Telegram, including migration errors."""
        raw = params.raw.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        chat: ChatRecord | None = None
        if isinstance(raw, str) and raw.strip().startswith("@"):
            chat = self.world.chat_by_username(raw.strip())
        else:
            chat_id = params.integer("chat_id", bad_request("chat not found"))
            if chat_id is not None:
                chat = self.world.chats.get(chat_id)
                if chat is None and chat_id in self.world.users:
                    raise forbidden("bot can't initiate conversation with a user")
        if chat is None:
            raise bad_request("chat not found")
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        return chat

    def _readable_chat(self, params: Params) -> ChatRecord:
        chat = self._chat(params)
        if chat.type == "private":
            return chat
        kind = "group" if chat.type == "group" else chat.type
        if chat.bot.status == "kicked":
            raise forbidden(f"bot was kicked from the {kind} chat")
        if chat.bot.status == "left":
            if not chat.bot.ever_member:
                raise bad_request("chat not found")
            raise forbidden(f"bot is not a member of the {kind} chat")
        return chat

    def _sendable_chat(self, params: Params) -> ChatRecord:
        chat = self._readable_chat(params)
        if chat.type == "private":
            if chat.blocked:
                raise forbidden("bot was blocked by the user")
            if not chat.started:
                raise forbidden("bot can't initiate conversation with a user")
        elif chat.type == "channel" and not (
            chat.bot.status == "administrator" and chat.bot.can_post_messages
        ):
            raise bad_request("need administrator rights in the channel chat")
        return chat

    # ------------------------------------------------------------------ formatting helpers

    def _formatted(
        self, params: Params, text: str, text_field: str, entities_field: str
    ) -> tuple[str, list[Json]]:
        """Apply parse_mode or explicit entities, then Telegram's trimming and auto-entities."""
        explicit = params.obj(entities_field, bad_request("can't parse entities JSON object"))
        if explicit:
            entities = self._explicit_entities(explicit, text)
        else:
            mode = params.text("parse_mode")
            try:
                text, entities = parse(
                    text, mode, strict_ampersand=self.config.strict_html_ampersand
                )
            except ParseError as exc:
                raise bad_request(f"can't parse entities: {exc}") from None
            except ValueError:
                raise bad_request("unsupported parse_mode") from None
        text, entities = strip_text(text, entities)
        entities = [e for e in (self._resolve_mention(e) for e in entities) if e is not None]
        if text:
            entities = add_auto_entities(text, entities)
        return text, entities

    def _explicit_entities(self, value: Any, text: str) -> list[Json]:
        if not isinstance(value, list):
            raise bad_request("can't parse entities JSON object")
        total = utf16_len(text)
        result: list[Json] = []
        for item in value:
            if not (
                isinstance(item, dict)
                and isinstance(item.get("type"), str)
                and isinstance(item.get("offset"), int)
                and isinstance(item.get("length"), int)
            ):
                raise bad_request("can't parse MessageEntity JSON object")
            if item["length"] > 0 and 0 <= item["offset"] < total:
                entity = dict(item)
                entity["length"] = min(item["length"], total - item["offset"])
                result.append(entity)
        return result

    def _resolve_mention(self, entity: Json) -> Json | None:
        if entity["type"] != "text_mention":
            return entity
        user = self.world.users.get(entity["user"]["id"])
        if user is None:
            return None
        return {**entity, "user": user.to_dict()}

    def _reply_markup(self, params: Params) -> tuple[Json | None, Json | None]:
        """Validate reply_markup; return (inline keyboard, other keyboard)."""
        error = bad_request("can't parse reply keyboard markup JSON object")
        markup = params.obj("reply_markup", error)
        if markup is None:
            return None, None
        if not isinstance(markup, dict):
            raise error
        if "inline_keyboard" in markup:
            return self._inline_keyboard(markup["inline_keyboard"]), None
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array')
            for row in rows:
                for button in row:
                    label = button.get("text") if isinstance(button, dict) else button
                    if not isinstance(label, str) or not label:
                        raise bad_request("can't parse keyboard button: Text must be non-empty")
            return None, markup
        if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
            return None, markup
        raise error

    def _inline_keyboard(self, rows: Any) -> Json:
        if not isinstance(rows, list):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array'
            )
        clean_rows: list[list[Json]] = []
        count = 0
        for row in rows:
            if not isinstance(row, list):
                raise bad_request(
                    'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
                )
            clean_row: list[Json] = []
            for button in row:
                clean_row.append(self._inline_button(button))
                count += 1
            if clean_row:
                clean_rows.append(clean_row)
        if count > MAX_BUTTONS:
            raise bad_request("BUTTONS_TOO_MUCH")
        return {"inline_keyboard": clean_rows}

    @staticmethod
    def _inline_button(button: Any) -> Json:
        prefix = "can't parse inline keyboard button: "
        if not isinstance(button, dict):
            raise bad_request(prefix + "InlineKeyboardButton must be an Object")
        text = button.get("text")
        if not isinstance(text, str):
            raise bad_request(prefix + 'Field "text" must be of type String')
        if not text.strip():
            raise bad_request(prefix + "Text must be non-empty")
        actions = [name for name in BUTTON_ACTIONS if button.get(name) is not None]
        if not actions:
            raise bad_request(prefix + "Text buttons are unallowed in the inline keyboard")
        if len(actions) > 1:
            raise bad_request(
                prefix
                + "exactly one of the optional fields must be used, got "
                + ", ".join(actions)
            )
        action = actions[0]
        value = button[action]
        if action == "callback_data":
            if not isinstance(value, str) or not 1 <= len(value.encode()) <= MAX_CALLBACK_DATA:
                raise bad_request("BUTTON_DATA_INVALID")
        elif action == "url" and (not isinstance(value, str) or not is_valid_url(value)):
            raise bad_request(f"inline keyboard button URL '{value}' is invalid: Wrong HTTP URL")
        return {"text": text, action: value}

    def _reply_target(self, params: Params, chat: ChatRecord) -> StoredMessage | None:
        reply = params.obj(
            "reply_parameters", bad_request("can't parse reply parameters JSON object")
        )
        allow_missing = params.flag("allow_sending_without_reply")
        target_chat = chat
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
            if reply.get("chat_id") not in (None, chat.id):
                other = self.world.chats.get(int(reply["chat_id"]))
                if other is None:
                    raise bad_request("chat not found")
                target_chat = other
        elif reply is not None:
            raise bad_request("can't parse reply parameters JSON object")
        else:
            message_id = params.integer(
                "reply_to_message_id", bad_request("message to be replied not found")
            )
        if message_id is None:
            return None
        target = target_chat.messages.get(int(message_id))
        if target is None or target.deleted:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return target

    def _publish(
        self,
        chat: ChatRecord,
        content: Json,
        reply: StoredMessage | None,
        markups: tuple[Json | None, Json | None],
    ) -> Json:
        data = self.world.base_message(chat, self.world.bot_user)
        if reply is not None:
            data["reply_to_message"] = self.world.quoted(reply)
        data.update(content)
        inline, other = markups
        if inline is not None and inline["inline_keyboard"]:
            data["reply_markup"] = inline
        message = self.world.store_message(chat, data, from_bot=True)
        message.reply_keyboard = other
        self.world.notify_chat(chat.id)
        return data

    # ------------------------------------------------------------------ identity & updates

    async def always_true(self, params: Params) -> bool:
        return True

    async def get_me(self, params: Params) -> Json:
        me = self.world.bot_user.to_dict()
        me.update(
            can_join_groups=True,
            can_read_all_group_messages=not self.config.privacy_mode,
            supports_inline_queries=False,
            can_connect_to_business=False,
            has_main_web_app=False,
        )
        return me

    async def get_updates(self, params: Params) -> RawJson:
        world = self.world
        if world.webhook is not None:
            raise ApiError(409, CONFLICT_WEBHOOK)
        invalid = bad_request("invalid parameter")
        offset = params.integer("offset", invalid)
        # Telegram clamps limit and timeout instead of rejecting them.
        limit = min(max(params.integer("limit", invalid) or 100, 1), 100)
        timeout = min(max(params.number("timeout") or 0.0, 0.0), self.config.long_poll_max)
        allowed = params.obj("allowed_updates", bad_request("can't parse allowed_updates"))
        if isinstance(allowed, list):
            world.set_allowed_updates(str(kind) for kind in allowed)
        if offset is not None:
            world.confirm_updates(offset)
        world.poll_generation += 1
        generation = world.poll_generation
        # A newer getUpdates terminates the one still waiting, as on Telegram.
        world.update_signal.fire()
        if not world.updates and timeout > 0:
            await world.update_signal.wait_until(
                lambda: bool(world.updates) or world.poll_generation != generation, timeout
            )
            if world.poll_generation != generation:
                raise ApiError(409, CONFLICT_POLL)
        chosen = [text for _, (_, text) in zip(range(limit), world.updates, strict=False)]
        return RawJson("[" + ",".join(chosen) + "]")

    async def set_webhook(self, params: Params) -> bool:
        url = params.text("url") or ""
        if not url:
            return await self.delete_webhook(params)
        match = re.match(r"^([a-z]+)://([^/:]+)(?::(\d+))?", url, re.IGNORECASE)
        if match is None:
            raise bad_request("bad webhook: invalid webhook URL specified")
        if match.group(1).lower() != "https":
            raise bad_request("bad webhook: HTTPS url must be provided for webhook")
        if match.group(3) and int(match.group(3)) not in (80, 88, 443, 8443):
            raise bad_request(
                "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
            )
        max_connections = params.integer("max_connections", bad_request("invalid max_connections"))
        secret = params.text("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("secret token contains unallowed characters")
        allowed = params.obj("allowed_updates", bad_request("can't parse allowed_updates"))
        if isinstance(allowed, list):
            self.world.set_allowed_updates(str(kind) for kind in allowed)
        if params.flag("drop_pending_updates"):
            self.world.updates.clear()
        self.world.webhook = {
            "url": url,
            "max_connections": min(max(max_connections or 40, 1), 100),
            "ip_address": "127.0.0.1",
            "has_secret_token": secret is not None,
            "secret_token": secret,
        }
        self.world.webhook_error = None
        # A long poll in progress is cut off, like when a second client starts polling.
        self.world.poll_generation += 1
        self.world.update_signal.fire()
        # From now on Telegram pushes what is queued (sandbox.webhook).
        self.pusher.start()
        return True

    async def delete_webhook(self, params: Params) -> bool:
        self.world.webhook = None
        self.world.webhook_error = None
        if params.flag("drop_pending_updates"):
            self.world.updates.clear()
        self.world.update_signal.fire()  # the pusher sees it and stops
        return True

    async def get_webhook_info(self, params: Params) -> Json:
        world = self.world
        info: Json = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(world.updates),
        }
        if world.webhook is not None:
            info["url"] = world.webhook["url"]
            info["max_connections"] = world.webhook["max_connections"]
            info["ip_address"] = world.webhook["ip_address"]
            if world.allowed_updates is not None:
                info["allowed_updates"] = sorted(world.allowed_updates)
            if world.webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = world.webhook_error
        return info

    # ------------------------------------------------------------------ commands & profile

    def _command_key(self, params: Params) -> tuple[str, str]:
        scope = params.obj("scope", bad_request("can't parse BotCommandScope JSON object"))
        if scope is None:
            scope = {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in SCOPE_TYPES:
            raise bad_request("unsupported bot command scope type")
        canonical: Json = {"type": scope["type"]}
        if scope["type"] in ("chat", "chat_administrators", "chat_member"):
            chat = self._chat(Params({"chat_id": scope.get("chat_id")}, {}))
            canonical["chat_id"] = chat.id
            if scope["type"] == "chat_member":
                user_id = scope.get("user_id")
                if not isinstance(user_id, int) or user_id not in self.world.users:
                    raise bad_request("user not found")
                canonical["user_id"] = user_id
        language = params.text("language_code") or ""
        if language and not LANGUAGE_RE.fullmatch(language):
            raise bad_request("invalid language code specified")
        return json.dumps(canonical, sort_keys=True), language

    async def set_my_commands(self, params: Params) -> bool:
        commands = params.obj("commands", bad_request("can't parse commands JSON object"))
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        clean: list[Json] = []
        for item in commands:
            if not isinstance(item, dict):
                raise bad_request("can't parse BotCommand JSON object")
            command, description = item.get("command"), item.get("description")
            if not isinstance(command, str) or not COMMAND_RE.fullmatch(command):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": command, "description": description})
        key = self._command_key(params)
        if clean:
            self.world.commands[key] = clean
        else:
            self.world.commands.pop(key, None)
        return True

    async def delete_my_commands(self, params: Params) -> bool:
        self.world.commands.pop(self._command_key(params), None)
        return True

    async def get_my_commands(self, params: Params) -> list[Json]:
        return list(self.world.commands.get(self._command_key(params), []))

    def _set_text(self, params: Params, kind: str, limit: int) -> bool:
        value = params.text(kind) or ""
        if len(value) > limit:
            raise bad_request(f"{kind.replace('_', ' ')} is too long")
        language = params.text("language_code") or ""
        if language and not LANGUAGE_RE.fullmatch(language):
            raise bad_request("invalid language code specified")
        if value:
            self.world.texts[(kind, language)] = value
        else:
            self.world.texts.pop((kind, language), None)
        return True

    def _get_text(self, params: Params, kind: str) -> Json:
        language = params.text("language_code") or ""
        value = self.world.texts.get((kind, language)) or self.world.texts.get((kind, ""), "")
        if kind == "name" and not value:
            value = self.world.bot_user.first_name
        return {kind: value}

    async def set_my_description(self, params: Params) -> bool:
        return self._set_text(params, "description", 512)

    async def get_my_description(self, params: Params) -> Json:
        return self._get_text(params, "description")

    async def set_my_short_description(self, params: Params) -> bool:
        return self._set_text(params, "short_description", 120)

    async def get_my_short_description(self, params: Params) -> Json:
        return self._get_text(params, "short_description")

    async def set_my_name(self, params: Params) -> bool:
        return self._set_text(params, "name", 64)

    async def get_my_name(self, params: Params) -> Json:
        return self._get_text(params, "name")

    async def set_chat_menu_button(self, params: Params) -> bool:
        button = params.obj("menu_button", bad_request("can't parse menu button JSON object"))
        if button is None:
            button = {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in (
            "commands",
            "web_app",
            "default",
        ):
            raise bad_request("unsupported menu button type")
        if button["type"] == "web_app" and not (
            isinstance(button.get("text"), str) and isinstance(button.get("web_app"), dict)
        ):
            raise bad_request("can't parse menu button JSON object")
        if params.has("chat_id"):
            chat = self._chat(params)
            if chat.type != "private":
                raise bad_request("menu button can be set only in private chats")
            chat.menu_button = None if button["type"] == "default" else button
        else:
            self.world.default_menu_button = (
                {"type": "commands"} if button["type"] == "default" else button
            )
        return True

    async def get_chat_menu_button(self, params: Params) -> Json:
        if params.has("chat_id"):
            chat = self._chat(params)
            if chat.menu_button is not None:
                return chat.menu_button
        return self.world.default_menu_button

    # ------------------------------------------------------------------ sending

    async def send_message(self, params: Params) -> Json:
        chat = self._sendable_chat(params)
        raw = params.text("text")
        if not raw:
            raise bad_request("message text is empty")
        text, entities = self._formatted(params, raw, "text", "entities")
        if not text:
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        markups = self._reply_markup(params)
        reply = self._reply_target(params, chat)
        preview = params.obj(
            "link_preview_options", bad_request("can't parse link preview options")
        )
        self.world.flood.check(chat.id, chat.is_group_like)
        content: Json = {"text": text}
        if entities:
            content["entities"] = entities
        if isinstance(preview, dict) and preview:
            content["link_preview_options"] = preview
        return self._publish(chat, content, reply, markups)

    async def send_location(self, params: Params) -> Json:
        chat = self._sendable_chat(params)
        latitude, longitude = params.number("latitude"), params.number("longitude")
        if latitude is None or not -90 <= latitude <= 90:
            raise bad_request("wrong latitude")
        if longitude is None or not -180 <= longitude <= 180:
            raise bad_request("wrong longitude")
        markups = self._reply_markup(params)
        reply = self._reply_target(params, chat)
        self.world.flood.check(chat.id, chat.is_group_like)
        location = {"latitude": latitude, "longitude": longitude}
        return self._publish(chat, {"location": location}, reply, markups)

    async def send_contact(self, params: Params) -> Json:
        chat = self._sendable_chat(params)
        phone, first = params.text("phone_number"), params.text("first_name")
        if not phone:
            raise bad_request("phone_number is empty")
        if not first or not first.strip():
            raise bad_request("first_name is empty")
        markups = self._reply_markup(params)
        reply = self._reply_target(params, chat)
        self.world.flood.check(chat.id, chat.is_group_like)
        contact: Json = {"phone_number": phone, "first_name": first}
        if params.text("last_name"):
            contact["last_name"] = params.text("last_name")
        return self._publish(chat, {"contact": contact}, reply, markups)

    async def send_chat_action(self, params: Params) -> bool:
        self._sendable_chat(params)
        if params.text("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    async def send_photo(self, params: Params) -> Json:
        return await self._send_media(params, "photo")

    async def send_document(self, params: Params) -> Json:
        return await self._send_media(params, "document")

    async def _send_media(self, params: Params, kind: str) -> Json:
        chat = self._sendable_chat(params)
        stored = await self._input_file(params, kind)
        content: Json = {kind: stored.media()}
        raw_caption = params.text("caption")
        if raw_caption:
            caption, entities = self._formatted(params, raw_caption, "caption", "caption_entities")
            if utf16_len(caption) > MAX_CAPTION:
                raise bad_request("message caption is too long")
            if caption:
                content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        markups = self._reply_markup(params)
        reply = self._reply_target(params, chat)
        self.world.flood.check(chat.id, chat.is_group_like)
        return self._publish(chat, content, reply, markups)

    async def _input_file(self, params: Params, kind: str) -> StoredFile:
        upload = params.files.get(kind)
        value = params.text(kind)
        if upload is None and value and value.startswith("attach://"):
            upload = params.files.get(value[len("attach://") :])
            if upload is None:
                raise bad_request(f"there is no {kind} in the request")
        if upload is not None:
            return self.store_file(kind, upload.data, upload.filename, upload.content_type)
        if not value:
            raise bad_request(f"there is no {kind} in the request")
        if re.match(r"^https?://", value, re.IGNORECASE):
            data = await self._fetch(value)
            name = value.rsplit("/", 1)[-1].split("?", 1)[0] or None
            return self.store_file(kind, data, name, None)
        stored = self.world.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if (stored.kind == "photo") != (kind == "photo"):
            raise bad_request("type of file mismatch")
        return stored

    async def _fetch(self, url: str) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
                if response.status != 200:
                    raise bad_request("wrong HTTP URL specified")
                data = await response.read()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise bad_request("wrong HTTP URL specified") from None
        if not data:
            raise bad_request("wrong HTTP URL specified")
        return data

    def store_file(
        self, kind: str, data: bytes, file_name: str | None, mime_type: str | None
    ) -> StoredFile:
        """Register bytes as a Telegram file (also used for photos users send)."""
        if not data:
            raise bad_request("file must be non-empty")
        world = self.world
        seq = len(world.files) + 1
        prefix = {"photo": "AgACAgQ", "document": "BQACAgQ", "sticker": "CAACAgQ"}[kind]
        width = height = 0
        if kind == "photo":
            width, height = image_size(data) or DEFAULT_PHOTO_SIZE
            path = f"photos/file_{seq}{_image_ext(data)}"
            mime_type = None
            file_name = None
        elif kind == "sticker":
            width = height = 512
            path = f"stickers/file_{seq}.webp"
        else:
            suffix = ""
            if file_name and "." in file_name:
                suffix = "." + file_name.rsplit(".", 1)[1][:10]
            path = f"documents/file_{seq}{suffix}"
        stored = StoredFile(
            file_id=f"{prefix}AAxkBAA{seq:08d}",
            file_unique_id=f"AQAD{seq:06d}",
            data=data,
            kind=kind,
            file_path=path,
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
        )
        world.files[stored.file_id] = stored
        world.files_by_path[path] = stored
        return stored

    async def get_file(self, params: Params) -> Json:
        stored = self.world.files.get(params.text("file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        return stored.file_dict()

    # ------------------------------------------------------------------ editing & deleting

    def _editable(self, params: Params) -> tuple[ChatRecord, StoredMessage]:
        if params.has("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._sendable_chat(params)
        message_id = params.integer("message_id", bad_request("message to edit not found"))
        if message_id is None:
            raise bad_request("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return chat, message

    def _apply_edit(
        self, chat: ChatRecord, message: StoredMessage, changes: Json, inline: Json | None
    ) -> Json:
        data = message.data
        new_markup = inline if inline is not None and inline["inline_keyboard"] else None
        if all(data.get(k) == v for k, v in changes.items()) and data.get("reply_markup") == (
            new_markup
        ):
            raise bad_request(NOT_MODIFIED)
        self.world.flood.check(chat.id, chat.is_group_like, edit=True)
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        if new_markup is None:
            data.pop("reply_markup", None)
        else:
            data["reply_markup"] = new_markup
        data["edit_date"] = int(time.time())
        message.edit_count += 1
        self.world.notify_chat(chat.id)
        return data

    async def edit_message_text(self, params: Params) -> Json:
        chat, message = self._editable(params)
        raw = params.text("text")
        if not raw:
            raise bad_request("message text is empty")
        if "text" not in message.data:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._formatted(params, raw, "text", "entities")
        if not text:
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        inline, _ = self._reply_markup(params)
        changes = {"text": text, "entities": entities or None}
        return self._apply_edit(chat, message, changes, inline)

    async def edit_message_caption(self, params: Params) -> Json:
        chat, message = self._editable(params)
        if not any(k in message.data for k in ("photo", "document")):
            raise bad_request("there is no caption in the message to edit")
        raw = params.text("caption") or ""
        caption, entities = self._formatted(params, raw, "caption", "caption_entities")
        if utf16_len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        inline, _ = self._reply_markup(params)
        changes = {"caption": caption or None, "caption_entities": entities or None}
        return self._apply_edit(chat, message, changes, inline)

    async def edit_message_reply_markup(self, params: Params) -> Json:
        chat, message = self._editable(params)
        inline, _ = self._reply_markup(params)
        return self._apply_edit(chat, message, {}, inline)

    async def delete_message(self, params: Params) -> bool:
        chat = self._readable_chat(params)
        message_id = params.integer("message_id", bad_request("message to delete not found"))
        message = chat.messages.get(message_id or 0)
        if message is None or message.deleted:
            raise bad_request("message to delete not found")
        if (
            chat.type != "private"
            and chat.bot.status != "administrator"
            and not (message.from_bot and chat.type != "channel")
        ):
            raise bad_request("message can't be deleted")
        message.deleted = True
        self.world.notify_chat(chat.id)
        return True

    async def answer_callback_query(self, params: Params) -> bool:
        query = self.world.callbacks.get(params.text("callback_query_id") or "")
        if (
            query is None
            or query.answer is not None
            or time.monotonic() - query.created > self.config.callback_query_timeout
        ):
            raise bad_request(QUERY_TOO_OLD)
        text = params.text("text") or ""
        if len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        url = params.text("url")
        if url and not is_valid_url(url):
            raise bad_request("URL_INVALID")
        answer: Json = {"text": text, "show_alert": params.flag("show_alert")}
        if url:
            answer["url"] = url
        cache_time = params.integer("cache_time", bad_request("invalid cache_time"))
        if cache_time is not None:
            answer["cache_time"] = cache_time
        query.answer = answer
        self.world.callback_signal.fire()
        return True

    # ------------------------------------------------------------------ chat information

    async def get_chat(self, params: Params) -> Json:
        chat = self._readable_chat(params)
        info = chat.to_dict()
        info.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        if chat.type in ("group", "supergroup"):
            info["permissions"] = {
                "can_send_messages": True,
                "can_send_audios": True,
                "can_send_documents": True,
                "can_send_photos": True,
                "can_send_videos": True,
                "can_send_video_notes": True,
                "can_send_voice_notes": True,
                "can_send_polls": True,
                "can_send_other_messages": True,
                "can_add_web_page_previews": True,
                "can_change_info": False,
                "can_invite_users": True,
                "can_pin_messages": False,
                "can_manage_topics": False,
            }
        if chat.type == "private" and chat.user is not None:
            info["accent_color_id"] = chat.user.id % 7
        return info

    async def get_chat_member(self, params: Params) -> Json:
        chat = self._readable_chat(params)
        user_id = params.integer("user_id", bad_request("invalid user_id specified"))
        if user_id is None:
            raise bad_request("invalid user_id specified")
        return self.world.chat_member(chat, user_id)

    async def get_chat_administrators(self, params: Params) -> list[Json]:
        chat = self._readable_chat(params)
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        admins = [
            member_dict(self.world.users[uid].to_dict(), status, chat.type)
            for uid, status in chat.members.items()
            if status in ("creator", "administrator")
        ]
        if chat.bot.status == "administrator":
            admins.append(self.world.chat_member(chat, self.world.bot_user.id))
        return admins

    async def get_chat_member_count(self, params: Params) -> int:
        chat = self._readable_chat(params)
        if chat.type == "private":
            return 2
        return len(chat.members) + (1 if chat.bot_present() else 0)

    async def leave_chat(self, params: Params) -> bool:
        chat = self._readable_chat(params)
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        bot = self.world.bot_user
        self.world.set_bot_status(chat, bot, "left", False)
        if chat.type != "channel":
            data = self.world.base_message(chat, bot)
            data["left_chat_member"] = bot.to_dict()
            self.world.store_message(chat, data, from_bot=False)
        return True
