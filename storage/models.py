"""SQLModel tables. Every column here is something a feature needs; /privacy says why."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp(*, nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class UserBase(SQLModel):
    language: str | None = Field(default=None, max_length=16)
    active: bool = Field(default=True)
    # The resident's subscription: which wijk (and optionally buurt) they follow in this chat.
    wijk: str | None = Field(default=None, max_length=40)
    buurt: str | None = Field(default=None, max_length=40)
    subscribed: bool = Field(default=False)
    # Announcement kinds the resident wants, comma-separated (see bot.residents.KINDS).
    kinds: str = Field(default="witte_voetjes,buurttent,challenge,nieuws", max_length=200)
    # Quiet hours as minutes after local midnight; None means no quiet hours.
    quiet_start: int | None = Field(default=None, ge=0, lt=1440)
    quiet_end: int | None = Field(default=None, ge=0, lt=1440)


class User(UserBase, table=True):
    """A person who wrote to the bot in private. Keyed by Telegram user id, nothing else kept."""

    __tablename__ = "users"
    __table_args__ = (Index("ix_users_wijk_subscribed", "wijk", "subscribed"),)

    # Telegram user ids exceed 2**31, so the column must be 64-bit on PostgreSQL.
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    blocked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    joined_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class MembershipEvent(SQLModel, table=True):
    """That someone joined, left or moved in a wijk, and when; never who.

    This is what the figures count after a resident has erased their data, so it
    holds no user id by design.
    """

    __tablename__ = "membership_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(index=True))
    wijk: str = Field(max_length=40, index=True)
    kind: str = Field(max_length=16)  # joined | left
