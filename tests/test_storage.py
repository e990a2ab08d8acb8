"""Storage: migrations are the schema, SQLite runs in WAL mode, queries behave on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select

from storage import conversations, migrate, users
from storage.engine import SessionFactory, create_engine
from storage.models import Broadcast, SQLModel, User


async def test_upgrade_creates_schema_at_head(engine: AsyncEngine) -> None:
    assert await migrate.current_revision(engine) == migrate.head_revision()
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    assert "users" in tables


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    """A model change without a migration fails here, not in production."""

    def diff(sync_connection: object) -> list[object]:
        context = MigrationContext.configure(sync_connection, opts={"compare_type": True})  # type: ignore[arg-type]
        return list(compare_metadata(context, SQLModel.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_downgrade_to_base_and_back(engine: AsyncEngine) -> None:
    await migrate.downgrade(engine, "base")
    assert await migrate.current_revision(engine) is None
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    assert "users" not in tables
    await migrate.upgrade(engine)
    assert await migrate.current_revision(engine) == migrate.head_revision()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: object) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/nested/dir/wal.db")
    try:
        async with engine.connect() as connection:
            journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
            foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one()
    finally:
        await engine.dispose()
    assert journal == "wal"
    assert foreign_keys == 1


async def test_touch_user_creates_then_updates(sessions: SessionFactory) -> None:
    big_id = 7_123_456_789  # Telegram ids no longer fit in 32 bits
    async with sessions() as session:
        contact = await users.touch_user(session=session, user_id=big_id, language="tr")
        await session.commit()
        first = await users.get_user(session=session, user_id=big_id)
    assert contact == users.Contact(language="tr", wijk=None, buurt=None, subscribed=False)
    assert first is not None
    assert first.active
    assert first.kinds == "witte_voetjes,buurttent,challenge,nieuws"  # the column's default
    async with sessions() as session:
        await users.mark_blocked(session=session, user_id=big_id)
        await session.commit()
        blocked = await users.get_user(session=session, user_id=big_id)
    assert blocked is not None
    assert not blocked.active
    assert blocked.blocked_at is not None
    async with sessions() as session:
        # A later language from Telegram does not replace the row's: only a new row takes it.
        contact = await users.touch_user(session=session, user_id=big_id, language="pl")
        await session.commit()
        again = await users.get_user(session=session, user_id=big_id)
    assert contact.language == "tr"
    assert again is not None
    assert again.active
    assert again.blocked_at is None
    assert again.created_at == first.created_at
    assert again.last_seen_at >= first.last_seen_at


async def test_timestamps_come_back_as_aware_utc(sessions: SessionFactory) -> None:
    async with sessions() as session:
        await users.touch_user(session=session, user_id=42)
        await session.commit()
    async with sessions() as session:
        user = await session.get(User, 42)
    assert user is not None
    assert user.created_at.tzinfo is not None
    assert user.created_at.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - user.created_at).total_seconds()) < 60


async def test_naive_datetimes_are_refused(sessions: SessionFactory) -> None:
    async with sessions() as session:
        session.add(User(id=43, created_at=datetime(2026, 1, 1), last_seen_at=datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="naive datetime"):
            await session.commit()


async def test_set_language_is_remembered(sessions: SessionFactory) -> None:
    async with sessions() as session:
        await users.set_language(session=session, user_id=44, language="pl")
        await session.commit()
    async with sessions() as session:
        user = await users.get_user(session=session, user_id=44)
    assert user is not None
    assert user.language == "pl"


async def test_mark_blocked_of_unknown_user_is_a_no_op(sessions: SessionFactory) -> None:
    async with sessions() as session:
        await users.mark_blocked(session=session, user_id=45)
        assert await users.get_user(session=session, user_id=45) is None


async def test_user_queries_leave_the_commit_to_the_caller(sessions: SessionFactory) -> None:
    """A use case of several rows commits once: a query that committed by itself would
    leave the first rows behind when a later step fails."""
    async with sessions() as session:
        await users.touch_user(session=session, user_id=46)
        await session.rollback()
    async with sessions() as session:
        assert await users.get_user(session=session, user_id=46) is None


async def test_json_columns_take_long_escaped_text(sessions: SessionFactory) -> None:
    """A 2,000-character announcement full of quotes and newlines, as a conversation's
    answers and as a broadcast's fields: JSON doubles it, and PostgreSQL refuses what
    does not fit its column."""
    text = '"\n' * 1000
    data = {"kind": "nieuws", "fields": {"title": '"' * 80, "text": text}}
    async with sessions() as session:
        await conversations.put(session=session, user_id=1, flow="bc", step="field", data=data)
    async with sessions() as session:
        state = await conversations.get(session=session, user_id=1)
        assert state is not None
        assert conversations.data_of(state) == data
        session.add(Broadcast(kind="nieuws", author_id=1, fields=json.dumps(data["fields"])))
        await session.commit()
        (stored,) = list(await session.exec(select(Broadcast)))
    assert json.loads(stored.fields)["text"] == text
