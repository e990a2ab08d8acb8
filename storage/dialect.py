"""The few statements whose SQL differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession


def name_of(session: AsyncSession) -> str:
    bind = session.bind
    return bind.dialect.name if bind is not None else "sqlite"


def insert(session: AsyncSession, table: Any) -> Any:
    """INSERT with ON CONFLICT support for the session's database (an upsert builder)."""
    return insert_for(name_of(session), table)


def insert_for(name: str, table: Any) -> Any:
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(table)
