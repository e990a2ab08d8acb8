"""Log lines carry the update they belong to, as text or JSON."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.logs import (
    JsonFormatter,
    TextFormatter,
    UpdateContextFilter,
    configure_logging,
    current_update,
)


def emit(formatter: logging.Formatter, message: str, *, exc: BaseException | None = None) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(UpdateContextFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger("buurtbot.test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        if exc is None:
            logger.warning(message)
        else:
            logger.error(message, exc_info=exc)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


def test_text_lines_name_the_update() -> None:
    token = current_update.set({"update_id": 4711, "kind": "message"})
    try:
        line = emit(TextFormatter(), "something happened")
    finally:
        current_update.reset(token)
    assert "[update 4711] something happened" in line
    assert "WARNING" in line


def test_lines_outside_an_update_have_no_update_part() -> None:
    assert "[update" not in emit(TextFormatter(), "idle")


def test_json_lines_are_one_object_with_the_update_and_the_exception() -> None:
    token = current_update.set({"update_id": 12, "kind": "callback_query"})
    try:
        line = emit(JsonFormatter(), "broke", exc=ValueError("bad"))
    finally:
        current_update.reset(token)
    entry = json.loads(line)
    assert entry["update_id"] == 12
    assert entry["update_kind"] == "callback_query"
    assert entry["message"] == "broke"
    assert "ValueError: bad" in entry["exception"]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_configure_logging_quietens_token_leaking_loggers(fmt: str) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("DEBUG", fmt)
        assert root.level == logging.DEBUG
        assert logging.getLogger("httpx").level == logging.WARNING
        assert len(root.handlers) == 1
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
