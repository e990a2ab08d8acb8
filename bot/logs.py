"""Logging that lets you follow one update: every line carries the update id it belongs to."""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# Set by the first handler group for each update; PTB runs one update's handlers in one
# task, so every line logged while handling it carries the same id. No user ids: an
# update id is enough to follow a request and is not personal data.
current_update: ContextVar[dict[str, Any] | None] = ContextVar("current_update", default=None)


# Libraries that log what they carry (requests, answers, query parameters) below these
# levels; SQLAlchemy's engine logs every statement with its parameters from INFO on.
PAYLOAD_LOGGERS = {
    "telegram": logging.INFO,
    "aiosqlite": logging.INFO,
    "asyncpg": logging.INFO,
    "apscheduler": logging.WARNING,  # "Added job" and "Running job" at INFO: noise
    "sqlalchemy.engine": logging.WARNING,
}


# What the one line at an update's end adds (bot.inbox): which handler, how long, how
# it ended. Names and numbers only, so a JSON line never carries a user or a text.
UPDATE_END = ("handler", "latency_ms", "outcome")


def note_handler(name: str) -> None:
    """Remember which handler took the current update, for the line at its end."""
    context = current_update.get()
    if context is not None:
        context["handler"] = name


class UpdateContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = current_update.get()
        record.update_id = context.get("update_id") if context else None
        record.update_kind = context.get("kind") if context else None
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(update_part)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        update_id = getattr(record, "update_id", None)
        record.update_part = f" [update {update_id}]" if update_id is not None else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("update_id", "update_kind", *UPDATE_END):
            if getattr(record, key, None) is not None:
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(UpdateContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO, which would drown the bot's own lines and,
    # worse, print the bot token that sits in every Bot API URL.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # Their DEBUG lines carry whole requests, answers and query parameters: chat ids,
    # names and texts, an anonymous reporter's among them. Never below INFO.
    for talkative, floor in PAYLOAD_LOGGERS.items():
        logging.getLogger(talkative).setLevel(max(logging.getLevelName(level), floor))
