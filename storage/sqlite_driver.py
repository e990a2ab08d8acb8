"""SQLite through aiosqlite in one thread hop per statement, not four.

SQLAlchemy's aiosqlite adapter sends each statement to aiosqlite's worker thread as
separate calls: open a cursor, execute, fetch the rows, close the cursor; and a rollback
whenever a connection goes back to the pool, also after a commit. Each call is a trip to
the worker thread and back (a queue, a context switch, a wake-up of the event loop): in
the join stampede about fourteen trips per update. Four instead saved about 8% of the
bot's CPU per update there (bench/residents_join.py, runs of each taken in turn).

Here a statement's cursor is opened, executed, read and closed in one function on the
worker thread, and a commit or rollback with no transaction open is not sent at all:
sqlite3 would do nothing with it (it checks the same flag). Everything else, errors,
isolation level and termination included, is SQLAlchemy's and aiosqlite's own.

aiosqlite has no public call for "run this function on the connection's thread";
`Connection._execute` is the one SQLAlchemy's adapter reaches into too (through its
queue). The versions are pinned in constraints.txt, and the whole suite runs on it.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# (description, rowcount, lastrowid): what SQLAlchemy reads of a cursor after execute.
_Meta = tuple[Any, int, int | None]
_NO_META: _Meta = (None, -1, None)


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[list[Any] | None, _Meta]:
    """On the worker thread: the whole life of a cursor."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        rows = cursor.fetchall() if cursor.description else None
        return rows, (cursor.description, cursor.rowcount, cursor.lastrowid)
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor that holds results, not an aiosqlite cursor."""

    __slots__ = ("_meta",)

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # Not the parent's __init__: that opens an aiosqlite cursor (a trip) per statement.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._meta = _NO_META

    @property
    def description(self) -> Any:
        return self._meta[0]

    @property
    def rowcount(self) -> int:
        return self._meta[1]

    @property
    def lastrowid(self) -> int:
        return self._meta[2]  # type: ignore[return-value]

    async def _async_soft_close(self) -> None:
        """Nothing to close: the rows are already here."""

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._one_trip(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._one_trip(operation, seq_of_parameters, many=True)

    async def _one_trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            rows, self._meta = await connection._execute(
                _run, connection._conn, operation, parameters, many
            )
        self._rows = collections.deque(rows) if rows is not None else collections.deque()

    def nextset(self) -> None:
        """SQLite returns one result set per statement: moving on leaves none (DB-API:
        the rest of the current set is dropped, and None says there is no next one)."""
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        """sqlite3 ignores it too."""


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = OneHopCursor

    def _in_transaction(self) -> bool:
        # Read on the event loop's thread: every statement of this connection has come
        # back already (the pool lends it to one user at a time, who awaits each).
        connection: sqlite3.Connection | None = self._connection._connection
        return connection is not None and connection.in_transaction

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module for `create_async_engine(module=...)`: aiosqlite, one hop a statement."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        creator = kw.pop("async_creator_fn", None)
        connection = creator(*arg, **kw) if creator else aiosqlite.connect(*arg, **kw)
        if not creator:
            connection._thread.daemon = True  # as SQLAlchemy's: a forgotten engine ends with us
        return OneHopConnection(self, await_(connection))


def dbapi() -> OneHopDBAPI:
    return OneHopDBAPI(aiosqlite, sqlite3)
