"""The queries of the sender lease on PostgreSQL: one session-level advisory lock.

The session passed in must be bound to one dedicated connection (bot.lease holds it): a
session-level advisory lock belongs to the connection, lives on across transactions and
goes when the connection does, so a process killed with -9 lets go of it at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import column, func, table
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

_locks = table(
    "pg_locks",
    column("locktype"),
    column("granted"),
    column("pid"),
    column("classid"),
    column("objid"),
    column("objsubid"),
    column("database"),
)
_databases = table("pg_database", column("oid"), column("datname"))
_activity = table("pg_stat_activity", column("pid"), column("application_name"))


def lease_engine(url: str, *, name: str, timeout: float) -> AsyncEngine:
    """An engine for the lease's one connection, apart from the bot's pool: the pool's
    pre-ping and recycling must never close the connection that holds the lock."""
    return create_async_engine(
        url,
        poolclass=NullPool,
        # asyncpg: how long to wait for the server, and the name pg_stat_activity shows.
        connect_args={"timeout": timeout, "server_settings": {"application_name": name}},
    )


def _is_lock(key: int) -> list[Any]:
    # pg_locks shows a bigint advisory key as two 32-bit halves, with objsubid 1. It lists
    # the whole server's locks, and an advisory key is the database's own: without the
    # database, /readyz named a bot of another database on the same server as leader.
    this_database = (
        select(_databases.c.oid)
        .where(_databases.c.datname == func.current_database())
        .scalar_subquery()
    )
    return [
        _locks.c.database == this_database,
        _locks.c.locktype == "advisory",
        _locks.c.granted.is_(True),
        _locks.c.classid == (key >> 32) & 0xFFFFFFFF,
        _locks.c.objid == key & 0xFFFFFFFF,
        _locks.c.objsubid == 1,
    ]


async def try_lock(*, session: AsyncSession, key: int) -> bool:
    """Take the lock if nobody holds it; never waits."""
    got = (await session.exec(select(func.pg_try_advisory_lock(key)))).one()
    await session.commit()
    return bool(got)


async def holds(*, session: AsyncSession, key: int) -> bool:
    """Whether this connection still holds the lock (the server may have ended the
    connection's backend, e.g. pg_terminate_backend, without the process noticing)."""
    count = (
        await session.exec(
            select(func.count())
            .select_from(_locks)
            .where(*_is_lock(key), _locks.c.pid == func.pg_backend_pid())
        )
    ).one()
    await session.commit()
    return bool(count)


async def holder(*, session: AsyncSession, key: int) -> str | None:
    """The application name of the connection that holds the lock, if one holds it."""
    name = (
        await session.exec(
            select(_activity.c.application_name)
            .select_from(_locks.join(_activity, _activity.c.pid == _locks.c.pid))
            .where(*_is_lock(key))
        )
    ).first()
    await session.commit()
    return str(name) if name is not None else None


async def unlock(*, session: AsyncSession, key: int) -> None:
    await session.exec(select(func.pg_advisory_unlock(key)))
    await session.commit()
