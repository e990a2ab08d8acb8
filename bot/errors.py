"""The one shape of a domain error: a message key the handler translates, and its values."""

from __future__ import annotations

from typing import Any


class KeyedError(Exception):
    """A request that cannot be honoured; `key` is a message id (Dutch source text) and
    `values` fill its placeholders. Tests assert the key, handlers translate it."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values
