"""SQLModel tables. Every column here is something a feature needs; /privacy says why."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp(*, nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable)


class UserBase(SQLModel):
    language: str | None = Field(default=None, max_length=16)
    active: bool = Field(default=True)


class User(UserBase, table=True):
    """A person who wrote to the bot in private. Keyed by Telegram user id, nothing else kept."""

    __tablename__ = "users"

    # Telegram user ids exceed 2**31, so the column must be 64-bit on PostgreSQL.
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    blocked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
