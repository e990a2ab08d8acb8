"""Async client for the sandbox control API (tests, REPL sessions, demos)."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

import aiohttp

Json = dict[str, Any]
# Extra seconds the HTTP request may take beyond a server-side wait.
WAIT_SLACK = 5.0


class SandboxError(Exception):
    """The control API refused a request (the message explains why)."""


class SandboxTimeout(SandboxError, TimeoutError):
    """A wait ran out; catchable as ``SandboxError`` and as ``asyncio.TimeoutError``."""


class SandboxClient:
    """Drive the sandbox as Telegram users would, and inspect what the bot did.

    ``SandboxClient(server.url)``; use ``async with`` (or call ``close``) when it creates its own
    session. All methods return plain dicts in Telegram's JSON shape.
    """

    def __init__(self, url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.url = url.rstrip("/")
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> SandboxClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def _call(
        self,
        http_method: str,
        path: str,
        *,
        json_body: Json | None = None,
        params: dict[str, str] | None = None,
        data: aiohttp.FormData | None = None,
        http_timeout: float = 30.0,
    ) -> Any:
        async with self._http().request(
            http_method,
            self.url + path,
            json=json_body,
            params=params,
            data=data,
            timeout=aiohttp.ClientTimeout(total=http_timeout),
        ) as response:
            text = await response.text()
        try:
            payload = json.loads(text)
        except ValueError:
            raise SandboxError(
                f"{http_method} {path}: HTTP {response.status}: {text[:200]}"
            ) from None
        if not payload.get("ok"):
            description = payload.get("description", text)
            if response.status == 408:
                raise SandboxTimeout(description)
            raise SandboxError(description)
        return payload["result"]

    @staticmethod
    def _clean(values: Json) -> Json:
        return {k: v for k, v in values.items() if v is not None}

    # ------------------------------------------------------------------ users

    async def create_user(
        self,
        first_name: str = "Anna",
        *,
        user_id: int | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "nl",
        started: bool = False,
    ) -> Json:
        """A user; with ``started`` one who wrote to the bot before (reachable, no update)."""
        body = self._clean(
            {
                "first_name": first_name,
                "user_id": user_id,
                "last_name": last_name,
                "username": username,
            }
        )
        body["language_code"] = language_code or ""
        if started:
            body["started"] = True
        return await self._call("POST", "/sandbox/users", json_body=body)

    async def users(self) -> list[Json]:
        return await self._call("GET", "/sandbox/users")

    async def block(self, user_id: int) -> None:
        await self._call("POST", f"/sandbox/users/{user_id}/block")

    async def unblock(self, user_id: int) -> None:
        await self._call("POST", f"/sandbox/users/{user_id}/unblock")

    async def webapp(self, user_id: int, url: str | None = None) -> Json:
        """{"url", "init_data"}: the bot's Mini App as this user opens it (signed)."""
        params = {"url": url} if url else None
        result: Json = await self._call("GET", f"/sandbox/users/{user_id}/webapp", params=params)
        return result

    # ------------------------------------------------------------------ user actions

    async def send(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        reply_to_message_id: int | None = None,
    ) -> Json:
        body = self._clean(
            {
                "user_id": user_id,
                "text": text,
                "chat_id": chat_id,
                "reply_to_message_id": reply_to_message_id,
            }
        )
        return await self._call("POST", "/sandbox/send", json_body=body)

    async def send_location(
        self, user_id: int, latitude: float, longitude: float, *, chat_id: int | None = None
    ) -> Json:
        body = self._clean(
            {"user_id": user_id, "latitude": latitude, "longitude": longitude, "chat_id": chat_id}
        )
        return await self._call("POST", "/sandbox/send_location", json_body=body)

    async def send_photo(
        self,
        user_id: int,
        data: bytes,
        *,
        caption: str | None = None,
        chat_id: int | None = None,
        file_size: int | None = None,
    ) -> Json:
        form = aiohttp.FormData()
        form.add_field("user_id", str(user_id))
        if file_size is not None:
            form.add_field("file_size", str(file_size))
        if chat_id is not None:
            form.add_field("chat_id", str(chat_id))
        if caption is not None:
            form.add_field("caption", caption)
        form.add_field("photo", data, filename="photo.jpg", content_type="image/jpeg")
        return await self._call("POST", "/sandbox/send_photo", data=form)

    async def send_document(
        self,
        user_id: int,
        data: bytes,
        *,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        chat_id: int | None = None,
    ) -> Json:
        form = aiohttp.FormData()
        form.add_field("user_id", str(user_id))
        form.add_field("file_name", file_name)
        form.add_field("mime_type", mime_type)
        if chat_id is not None:
            form.add_field("chat_id", str(chat_id))
        if caption is not None:
            form.add_field("caption", caption)
        form.add_field("document", data, filename=file_name, content_type=mime_type)
        return await self._call("POST", "/sandbox/send_document", data=form)

    async def send_sticker(self, user_id: int, *, chat_id: int | None = None) -> Json:
        body = self._clean({"user_id": user_id, "chat_id": chat_id})
        return await self._call("POST", "/sandbox/send_sticker", json_body=body)

    async def edit(self, user_id: int, chat_id: int, message_id: int, text: str) -> Json:
        body = {"user_id": user_id, "chat_id": chat_id, "message_id": message_id, "text": text}
        return await self._call("POST", "/sandbox/edit", json_body=body)

    async def press(self, user_id: int, chat_id: int, message_id: int, data: str) -> Json:
        """Press an inline button that really is on the message (else SandboxError)."""
        body = {"user_id": user_id, "chat_id": chat_id, "message_id": message_id, "data": data}
        return await self._call("POST", "/sandbox/press", json_body=body)

    async def press_forged(self, user_id: int, chat_id: int, message_id: int, data: str) -> Json:
        """Send a callback query with arbitrary data, as a modified client could."""
        body = {
            "user_id": user_id,
            "chat_id": chat_id,
            "message_id": message_id,
            "data": data,
            "forged": True,
        }
        return await self._call("POST", "/sandbox/press", json_body=body)

    async def press_burst(
        self,
        user_id: int,
        chat_id: int,
        message_id: int,
        data: str,
        count: int,
        *,
        forged: bool = True,
    ) -> list[str]:
        """`count` presses of one button in one request; their callback query ids."""
        body = {
            "user_id": user_id,
            "chat_id": chat_id,
            "message_id": message_id,
            "data": data,
            "count": count,
            "forged": forged,
        }
        result = await self._call("POST", "/sandbox/press_burst", json_body=body)
        return [str(query_id) for query_id in result["callback_query_ids"]]

    async def callback_answer(
        self,
        callback_query_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109 - the server waits
    ) -> Json | None:
        """Wait for the bot's answerCallbackQuery parameters (None if it did not answer)."""
        return await self._call(
            "GET",
            f"/sandbox/callbacks/{callback_query_id}",
            params={"timeout": str(timeout)},
            http_timeout=timeout + WAIT_SLACK,
        )

    # ------------------------------------------------------------------ chats

    async def create_group(self, title: str, *, creator_id: int, supergroup: bool = False) -> Json:
        body = {
            "type": "supergroup" if supergroup else "group",
            "title": title,
            "creator_id": creator_id,
        }
        return await self._call("POST", "/sandbox/chats", json_body=body)

    async def create_channel(
        self, title: str, *, creator_id: int, username: str | None = None
    ) -> Json:
        """A channel; with a username it is public (t.me/<username>)."""
        body = self._clean(
            {"type": "channel", "title": title, "creator_id": creator_id, "username": username}
        )
        return await self._call("POST", "/sandbox/chats", json_body=body)

    async def chats(self) -> list[Json]:
        return await self._call("GET", "/sandbox/chats")

    async def chat(self, chat_id: int) -> Json:
        """The chat plus sandbox details: members, bot_status, migrated_to."""
        return await self._call("GET", f"/sandbox/chats/{chat_id}")

    async def _chat_action(self, chat_id: int, action: str, body: Json) -> Any:
        return await self._call(
            "POST", f"/sandbox/chats/{chat_id}/{action}", json_body=self._clean(body)
        )

    async def add_member(self, chat_id: int, user_id: int, *, by: int | None = None) -> None:
        await self._chat_action(chat_id, "add_member", {"user_id": user_id, "by": by})

    async def remove_member(self, chat_id: int, user_id: int, *, by: int | None = None) -> None:
        await self._chat_action(chat_id, "remove_member", {"user_id": user_id, "by": by})

    async def set_admin(self, chat_id: int, user_id: int, is_admin: bool = True) -> None:
        await self._chat_action(chat_id, "set_admin", {"user_id": user_id, "is_admin": is_admin})

    async def add_bot(
        self, chat_id: int, *, by: int, admin: bool = False, can_post_messages: bool = True
    ) -> None:
        body = {"by": by, "admin": admin, "can_post_messages": can_post_messages}
        await self._chat_action(chat_id, "add_bot", body)

    async def remove_bot(self, chat_id: int, *, by: int) -> None:
        await self._chat_action(chat_id, "remove_bot", {"by": by})

    async def set_bot_admin(
        self, chat_id: int, is_admin: bool, *, by: int, can_post_messages: bool = True
    ) -> None:
        body = {"is_admin": is_admin, "by": by, "can_post_messages": can_post_messages}
        await self._chat_action(chat_id, "set_bot_admin", body)

    async def follow(self, channel_id: int, user_id: int) -> None:
        await self._chat_action(channel_id, "follow", {"user_id": user_id})

    async def unfollow(self, channel_id: int, user_id: int) -> None:
        await self._chat_action(channel_id, "unfollow", {"user_id": user_id})

    async def migrate(self, chat_id: int) -> Json:
        return await self._chat_action(chat_id, "migrate", {})

    async def set_title(self, chat_id: int, title: str, *, by: int) -> None:
        await self._chat_action(chat_id, "set_title", {"title": title, "by": by})

    # ------------------------------------------------------------------ inspection

    async def messages(self, chat_id: int) -> list[Json]:
        return await self._call("GET", f"/sandbox/chats/{chat_id}/messages")

    async def bot_messages(self, chat_id: int) -> list[Json]:
        return await self._call(
            "GET", f"/sandbox/chats/{chat_id}/messages", params={"bot_only": "1"}
        )

    async def wait_bot_messages(
        self,
        chat_id: int,
        count: int,
        *,
        after: int = 0,
        timeout: float = 5.0,  # noqa: ASYNC109 - the server waits
    ) -> list[Json]:
        """Wait until the bot has sent ``count`` messages with message_id > ``after``.

        Raises SandboxTimeout (a SandboxError and a TimeoutError) with a transcript of the chat.
        """
        return await self._call(
            "GET",
            f"/sandbox/chats/{chat_id}/wait",
            params={"after": str(after), "count": str(count), "timeout": str(timeout)},
            http_timeout=timeout + WAIT_SLACK,
        )

    async def wait_bot_message(
        self,
        chat_id: int,
        *,
        after: int = 0,
        timeout: float = 5.0,  # noqa: ASYNC109 - the server waits
    ) -> Json:
        """The first bot message with message_id > ``after`` (waiting for it if needed)."""
        messages = await self.wait_bot_messages(chat_id, 1, after=after, timeout=timeout)
        return messages[0]

    async def wait_edited(
        self,
        chat_id: int,
        message_id: int,
        *,
        edits: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - the server waits
    ) -> Json:
        """Wait until a message has been edited ``edits`` times (or deleted); returns it."""
        return await self._call(
            "GET",
            f"/sandbox/chats/{chat_id}/messages/{message_id}/wait_edit",
            params={"edits": str(edits), "timeout": str(timeout)},
            http_timeout=timeout + WAIT_SLACK,
        )

    async def requests(self, method: str | None = None) -> list[Json]:
        """Bot API calls the bot made: method, params, status, error, time."""
        params = {"method": method} if method else None
        return await self._call("GET", "/sandbox/requests", params=params)

    async def refusals(self) -> dict[str, int]:
        """How often each method was refused, by error: "sendMessage: Bad Request: ..."."""
        return dict(await self._call("GET", "/sandbox/refusals"))

    async def pending_updates(self) -> list[Json]:
        return await self._call("GET", "/sandbox/updates")

    async def commands(
        self, scope: Json | None = None, language_code: str | None = None
    ) -> list[Json]:
        params: dict[str, str] = {}
        if scope is not None:
            params["scope"] = json.dumps(scope)
        if language_code:
            params["language_code"] = language_code
        return await self._call("GET", "/sandbox/commands", params=params)

    async def limits(self) -> Json:
        return await self._call("GET", "/sandbox/limits")

    async def set_limits(self, **fields: Any) -> Json:
        return await self._call("POST", "/sandbox/limits", json_body=fields)

    async def add_fault(
        self,
        method: str,
        *,
        chat_id: int | None = None,
        times: int = 1,
        delay: float = 0.0,
        error_code: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> Json:
        """Make the next ``times`` calls of ``method`` (to ``chat_id``) wait and/or fail
        (``retry_after``: a 429's wait, in its ``parameters``)."""
        body = self._clean(
            {
                "method": method,
                "chat_id": chat_id,
                "times": times,
                "delay": delay,
                "error_code": error_code,
                "description": description,
                "retry_after": retry_after,
            }
        )
        return await self._call("POST", "/sandbox/faults", json_body=body)

    async def faults(self) -> list[Json]:
        return await self._call("GET", "/sandbox/faults")

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/sandbox/faults")

    async def reset(self) -> None:
        await self._call("POST", "/sandbox/reset")

    async def page_strings(self, lang: str) -> Json:
        """The page's own words in a language: lang, dir, time_locale, strings."""
        return await self._call("GET", "/sandbox/strings", params={"lang": lang})
