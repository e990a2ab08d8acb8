"""The key of anonymous reports: where it may come from, `secret init`, the move out of
the database, and the refusal to run a real bot without one."""

from __future__ import annotations

import asyncio
import struct
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from sqlmodel import select

from bot import keys
from bot import reports as service
from bot.app import build_services, services_on
from bot.cli import main
from bot.keys import Keyring
from bot.services import Services
from bot.settings import ConfigError, load_settings
from storage import migrate
from storage.engine import create_engine, create_session_factory
from storage.models import BotState, LegacyFollowUp, Report, ReportFollowUp

TOKEN = "123456:" + "A" * 35
OLD = "o" * 64


def key_file(tmp_path: Path, value: str | None = None, mode: int = 0o600) -> Path:
    path = tmp_path / "keys" / "secret"
    keys.write_key_file(path, value or keys.new_secret())
    path.chmod(mode)
    return path


def test_a_real_token_without_a_key_refuses_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/data/bot.db")
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("buurtbot: configuration error: BUURTBOT_SECRET_FILE: not set;")
    assert "python -m bot secret init" in err[0]
    # The same refusal where the wiring builds the services.
    with pytest.raises(ConfigError, match="BUURTBOT_SECRET_FILE: not set"):
        build_services(load_settings({"TELEGRAM_BOT_TOKEN": TOKEN}))


def test_sandbox_mode_runs_on_a_throwaway_key() -> None:
    first = keys.require(load_settings({}))
    assert first.throwaway
    assert not first.same_as(keys.require(load_settings({})))


@pytest.mark.parametrize(
    ("problem", "says"),
    [
        ("missing", "no such file"),
        ("readable", "can be read by others; run `chmod 600"),
        ("short", "holds fewer than 32 characters"),
        ("beside", "lies in the database's folder"),
    ],
)
def test_a_bad_key_file_is_refused(tmp_path: Path, problem: str, says: str) -> None:
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "DATABASE_URL": f"sqlite:///{tmp_path}/data/bot.db"}
    if problem == "missing":
        path = tmp_path / "nowhere"
    elif problem == "readable":
        path = key_file(tmp_path, mode=0o644)
    elif problem == "short":
        path = key_file(tmp_path, value="kort")
    else:
        path = tmp_path / "data" / "secret"
        keys.write_key_file(path, keys.new_secret())
    with pytest.raises(ConfigError, match=says):
        keys.require(load_settings({**env, "BUURTBOT_SECRET_FILE": str(path)}))


def test_a_key_from_the_file_or_the_environment_is_the_same_key(tmp_path: Path) -> None:
    value = keys.new_secret()
    path = key_file(tmp_path, value)
    from_file = keys.require(load_settings({"BUURTBOT_SECRET_FILE": str(path)}))
    from_env = keys.require(load_settings({"BUURTBOT_SECRET": value}))
    assert from_file.same_as(from_env)
    assert not from_file.throwaway


def test_secret_init_writes_a_private_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/data/bot.db")
    path = tmp_path / "etc" / "secret"
    assert main(["secret", "init", "--file", str(path)]) == 0
    assert (path.stat().st_mode & 0o777) == 0o600
    assert len(path.read_text().strip()) == 64
    assert f"BUURTBOT_SECRET_FILE={path}" in capsys.readouterr().out
    before = path.read_text()
    assert main(["secret", "init", "--file", str(path)]) == 2
    assert "a key is never overwritten" in capsys.readouterr().err
    assert path.read_text() == before
    assert main(["secret", "init", "--file", str(tmp_path / "data" / "secret")]) == 2
    assert "lies in the database's folder" in capsys.readouterr().err


async def _old_database(url: str, chat_id: int, token: str) -> str:
    """A database as an older version left it: its key in bot_state, an XOR follow-up."""
    engine = create_engine(url)
    await migrate.upgrade(engine)
    sessions = create_session_factory(engine)
    ref = "MV-2026-000001"
    pad = service._legacy_mac(OLD.encode(), "pad", ref)[:8]
    cipher = bytes(a ^ b for a, b in zip(struct.pack(">q", chat_id), pad, strict=True)).hex()
    async with sessions() as session:
        session.add(BotState(key="secret", value=OLD))
        session.add(Report(ref=ref, category="overlast", area="park:bzob", anonymous=True))
        session.add(
            LegacyFollowUp(
                ref_hash=service._legacy_mac(OLD.encode(), "ref", ref).hex(),
                token_hash=service._legacy_mac(OLD.encode(), "token", token).hex(),
                chat_cipher=cipher,
            )
        )
        await session.commit()
    await engine.dispose()
    return ref


def _opened(url: str, keyring: Keyring) -> AbstractAsyncContextManager[Services]:
    return services_on(load_settings({"DATABASE_URL": url}), keyring)


async def _state(url: str, keyring: Keyring, ref: str) -> tuple[list[str], int, int | None]:
    async with _opened(url, keyring) as services:
        async with services.sessions() as session:
            stored = [row.key for row in await session.exec(select(BotState))]
            legacy = len(list(await session.exec(select(LegacyFollowUp))))
            report = (await session.exec(select(Report).where(Report.ref == ref))).one()
        return stored, legacy, await service.status_recipient(services, report)


def test_secret_init_moves_the_key_out_of_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path}/data/bot.db"
    monkeypatch.setenv("DATABASE_URL", url)
    ref = asyncio.run(_old_database(url, 4242, "ab" * 16))
    path = tmp_path / "etc" / "secret"
    assert main(["secret", "init", "--file", str(path)]) == 0
    assert path.read_text().strip() == OLD
    stored, legacy, chat = asyncio.run(_state(url, Keyring.from_secret(OLD), ref))
    assert (stored, legacy, chat) == ([], 0, 4242)
    # The old token still opens the reporter's own view: the key is the same one.
    assert asyncio.run(_token_ok(url, Keyring.from_secret(OLD), ref, "ab" * 16))


async def _token_ok(url: str, keyring: Keyring, ref: str, token: str) -> bool:
    async with _opened(url, keyring) as services:
        try:
            await service.anonymous_status(services, ref, token)
        except service.ReportError:
            return False
        return True


@pytest.mark.parametrize("configured", ["same", "other"])
async def test_at_start_a_stored_key_is_erased_and_its_follow_ups_sealed_anew(
    database_url: str, configured: str
) -> None:
    ref = await _old_database(database_url, 777, "cd" * 16)
    value = OLD if configured == "same" else keys.new_secret()
    async with _opened(database_url, Keyring.from_secret(value)) as services:
        settled = await service.settle_keys(services)
        assert (settled.moved, settled.erased_key) == (1, True)
        again = await service.settle_keys(services)  # once: nothing left to do
        assert (again.moved, again.erased_key) == (0, False)
        async with services.sessions() as session:
            assert list(await session.exec(select(BotState))) == []
            (row,) = list(await session.exec(select(ReportFollowUp)))
            report = (await session.exec(select(Report).where(Report.ref == ref))).one()
        assert service.chat_of(services.keyring, row) == 777
        assert await service.status_recipient(services, report) == 777
