"""The SQLite driver that sends a statement to aiosqlite's thread in one trip: it must
behave as SQLAlchemy's own aiosqlite adapter does, only with fewer trips."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine
from storage.sqlite_driver import OneHopConnection

METADATA = MetaData()
ITEMS = Table(
    "items",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String(20), nullable=False, unique=True),
)


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(METADATA.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """What went to aiosqlite's worker thread, by function name."""
    counted: Counter[str] = Counter()
    original = aiosqlite.Connection._execute

    async def counting(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        counted[getattr(fn, "__name__", repr(fn))] += 1
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    return counted


async def test_the_engine_uses_it(sqlite: AsyncEngine) -> None:
    async with sqlite.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection, OneHopConnection)


async def test_a_statement_is_one_trip_and_a_read_only_use_needs_no_rollback(
    sqlite: AsyncEngine, trips: Counter[str]
) -> None:
    async with sqlite.connect() as connection:  # checked out once before counting
        await connection.execute(text("SELECT 1"))
    trips.clear()
    async with sqlite.connect() as connection:
        assert (await connection.execute(select(ITEMS.c.id))).all() == []
    assert trips == Counter({"_run": 1})  # no cursor, fetch, close nor rollback trips


async def test_rows_rowcount_and_lastrowid_as_sqlalchemy_reads_them(sqlite: AsyncEngine) -> None:
    async with sqlite.begin() as connection:
        first = await connection.execute(insert(ITEMS).values(name="stiphout"))
        assert first.inserted_primary_key == (1,)
        many = await connection.execute(insert(ITEMS), [{"name": "brouwhuis"}, {"name": "warande"}])
        assert many.rowcount == 2
        changed = await connection.execute(
            update(ITEMS).where(ITEMS.c.name != "stiphout").values(name=ITEMS.c.name + "!")
        )
        assert changed.rowcount == 2
        returned = await connection.execute(
            insert(ITEMS).values(name="rijpelberg").returning(ITEMS.c.id, ITEMS.c.name)
        )
        assert returned.one() == (4, "rijpelberg")
    async with sqlite.connect() as connection:
        rows = await connection.execute(select(ITEMS.c.name).order_by(ITEMS.c.id))
        assert rows.keys() == ["name"]
        assert rows.scalars().all() == ["stiphout", "brouwhuis!", "warande!", "rijpelberg"]


async def test_an_error_is_sqlalchemys_and_the_transaction_is_rolled_back(
    sqlite: AsyncEngine,
) -> None:
    async def twice() -> None:
        async with sqlite.begin() as connection:
            await connection.execute(insert(ITEMS).values(name="dierdonk"))
            await connection.execute(insert(ITEMS).values(name="dierdonk"))

    async def unknown() -> None:
        async with sqlite.connect() as connection:
            await connection.execute(text("SELECT nothing FROM nowhere"))

    with pytest.raises(IntegrityError):
        await twice()
    with pytest.raises(OperationalError):
        await unknown()
    async with sqlite.connect() as connection:
        assert (await connection.execute(select(ITEMS.c.name))).all() == []


async def test_a_connection_given_back_mid_transaction_is_rolled_back(
    sqlite: AsyncEngine, trips: Counter[str]
) -> None:
    async with sqlite.connect() as connection:
        await connection.execute(insert(ITEMS).values(name="mierlo-hout"))
        # Closed without a commit: the pool's reset must really roll back.
    assert trips["rollback"] == 1
    async with sqlite.connect() as connection:
        assert (await connection.execute(select(ITEMS.c.name))).all() == []


async def test_there_is_no_second_result_set(sqlite: AsyncEngine) -> None:
    def read(connection: Any) -> tuple[Any, Any, list[Any]]:
        cursor = connection.connection.dbapi_connection.cursor()
        cursor.execute("SELECT 1 UNION ALL SELECT 2")
        first = cursor.fetchone()
        moved = cursor.nextset()
        return first, moved, cursor.fetchall()

    async with sqlite.connect() as connection:
        assert await connection.run_sync(read) == ((1,), None, [])
