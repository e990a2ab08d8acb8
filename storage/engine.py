"""The async engine and session factory; opened in the application's post_init, never at import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_driver

SessionFactory = async_sessionmaker[AsyncSession]


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # WAL lets the scheduler and the update loop read while a broadcast writes;
    # busy_timeout turns a momentary lock into a short wait instead of an error.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # What is deleted is overwritten with zeros, not left in free pages for a copy of the
    # file to show (a report draft, an erased resident).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for `url`; for a SQLite file, its folder is created first."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # SQLite has one writer. With several connections, concurrent updates collide on
        # the write lock and SQLite's busy handler sleeps in growing steps (1, 2, 5 ...
        # 100 ms); one connection queues them instead, each taking a millisecond.
        kwargs |= {"pool_size": 1, "max_overflow": 0, "pool_timeout": 60}
        if parsed.get_driver_name() == "aiosqlite":
            kwargs["module"] = sqlite_driver.dbapi()
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    # expire_on_commit=False: handlers read attributes after commit without another round trip.
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def answers(engine: AsyncEngine) -> None:
    """One trivial query: raises when the database does not answer."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
