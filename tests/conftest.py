"""Shared fixtures: a real database (SQLite file, or PostgreSQL with TEST_DATABASE_URL),
a real sandbox Bot API server, and the real bot talking to it over HTTP."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import BotApplication, build_application, running
from bot.cli import SANDBOX_TOKEN
from bot.settings import Settings, load_settings
from sandbox.client import SandboxClient
from sandbox.config import Limits, SandboxConfig
from sandbox.server import SandboxServer
from storage import migrate
from storage.engine import SessionFactory, create_engine, create_session_factory

# Fast enough that a journey never waits on a bucket, strict enough to still be one.
TEST_LIMITS = Limits().scaled(100)


def postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    return load_settings({"DATABASE_URL": url}).database_url if url else None


# Every test that touches the database runs on SQLite, and on PostgreSQL too when
# TEST_DATABASE_URL names one (.ci/run sets it when a server answers).
BACKENDS = ["sqlite", *(["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])]


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in production (bot.cli): PTB 22 warns whenever it builds a RetryAfter unless told
    # to use timedelta periods, and warnings are errors here.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database: a fresh SQLite file, or a wiped PostgreSQL schema."""
    url = postgres_url()
    if request.param == "sqlite" or url is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'buurtbot.db'}"
        return
    engine = create_engine(url)
    async with engine.begin() as connection:
        # Never wait forever on a lock a leaked connection holds: fail the test instead.
        await connection.execute(text("SET LOCAL lock_timeout = '20s'"))
        await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    yield url


@pytest.fixture
async def pg_url() -> str:
    """An empty PostgreSQL database migrated to head (the tests of real processes)."""
    # Here, not at the top: tests.processes imports journey modules, which import this.
    from tests.processes import wipe_postgres

    url = postgres_url()
    if url is None:
        pytest.skip("needs PostgreSQL: set TEST_DATABASE_URL")
    await wipe_postgres(url)
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database migrated to head."""
    engine = create_engine(database_url)
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionFactory:
    return create_session_factory(engine)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    server = SandboxServer(SandboxConfig(token=SANDBOX_TOKEN, limits=TEST_LIMITS))
    await server.start(host="127.0.0.1", port=0)
    yield server
    await server.stop()


@pytest.fixture
async def client(sandbox: SandboxServer) -> AsyncIterator[SandboxClient]:
    async with SandboxClient(sandbox.url) as client:
        yield client


@pytest.fixture
def settings(database_url: str, sandbox: SandboxServer) -> Settings:
    return load_settings(
        {
            "DATABASE_URL": database_url,
            "TELEGRAM_API_BASE_URL": sandbox.api_base_url,
            "BUURTBOT_ADMINS": "900001",
        }
    )


@pytest.fixture
async def app(settings: Settings, engine: AsyncEngine) -> BotApplication:
    """The bot, built by the same wiring function users run, not yet started."""
    return build_application(settings, token=SANDBOX_TOKEN)


@pytest.fixture
async def bot(app: BotApplication) -> AsyncIterator[BotApplication]:
    """The bot, long polling the sandbox."""
    async with running(app, poll_timeout=1):
        yield app
