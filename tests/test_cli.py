"""The command line: help for every subcommand, migrations, and sandbox mode end to end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.cli import SANDBOX_TOKEN, build_parser, main
from sandbox.client import SandboxClient

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "run"),
        (["run"], "sandbox Bot"),
        (["sandbox"], "sandbox Bot API server alone"),
        (["db"], "Manage the database schema"),
        (["db", "upgrade"], "Apply migrations"),
        (["db", "downgrade"], "Revert migrations"),
        (["db", "revision"], "Autogenerate"),
        (["areas", "import"], "Turn CBS's Wijk- en Buurtkaart (GeoJSON"),
    ],
)
def test_help_explains_each_command(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*argv, "--help"])
    assert exit_.value.code == 0
    assert says in " ".join(capsys.readouterr().out.split())


def test_unknown_command_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["fly"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_db_upgrade_and_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "current"]) == 0
    assert main(["db", "downgrade", "base"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("database at revision 0")
    assert out[1] == out[0]
    assert out[2] == "database at revision base"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for_port(port: int, process: asyncio.subprocess.Process) -> None:
    for _ in range(200):
        if process.returncode is not None:
            raise AssertionError("the bot exited before it listened")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise AssertionError(f"nothing listens on {port}")


@dataclass
class Run:
    """`python -m bot run --migrate` as `make run` starts it, and what it printed."""

    process: asyncio.subprocess.Process
    stdout: str = ""
    stderr: str = ""


@contextlib.asynccontextmanager
async def make_run(tmp_path: Path, sandbox_port: int, **extra: str) -> AsyncIterator[Run]:
    """The bot in sandbox mode on a fresh machine, until the block ends (then Ctrl-C)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "BUURTBOT_", "DATABASE_URL"))
    }
    env |= {"BUURTBOT_SANDBOX_PORT": str(sandbox_port), "PYTHONPATH": str(ROOT), **extra}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--migrate",
        cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    run = Run(process)
    try:
        await wait_for_port(sandbox_port, process)
        yield run
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
        run.stdout, run.stderr = stdout.decode(), stderr.decode()


async def test_run_without_token_starts_the_sandbox_and_answers_start(tmp_path: Path) -> None:
    """What `make run` does on a fresh machine: migrate, then the bot in sandbox mode."""
    port = free_port()
    # An administrator, as the README suggests for trying the coordinator's side.
    async with make_run(tmp_path, port, BUURTBOT_ADMINS="100050") as run:
        async with SandboxClient(f"http://127.0.0.1:{port}") as client:
            user = await client.create_user("Fatima", language_code="en")
            await client.send(user["id"], "/start")
            reply = await client.wait_bot_message(user["id"], timeout=15)
            # The administrator exists in the sandbox from the start, their menu set.
            admin = next(u for u in await client.users() if u["id"] == 100050)
            assert admin["first_name"] == "Beheerder"
            menu = await client.commands(scope={"type": "chat", "chat_id": 100050})
            assert "uitnodigen" in [command["command"] for command in menu]
        assert "Always call 112 first" in reply["text"]
    assert run.process.returncode == 0, run.stderr
    assert "Sandbox mode" in run.stdout
    assert f"token {SANDBOX_TOKEN}" in run.stdout
    assert "sandbox user 100050" in run.stdout
    # No warning (nor a traceback) about an administrator the sandbox did not know.
    assert "has not started" not in run.stderr
    assert "Traceback" not in run.stderr
    assert (tmp_path / "data" / "buurtbot.db").exists()  # the default database, migrated


async def test_make_run_in_webhook_mode_as_the_readme_says(tmp_path: Path) -> None:
    """`BUURTBOT_WEBHOOK_URL=https://buurtbot.example/telegram BUURTBOT_LISTEN_PORT=8090
    make run`: the sandbox pushes to the bot's own port, Dutch and English residents are
    answered, and /readyz and /metrics answer on that port."""
    port, listen = free_port(), free_port()
    hook = "https://buurtbot.example/telegram"
    async with (
        make_run(
            tmp_path, port, BUURTBOT_WEBHOOK_URL=hook, BUURTBOT_LISTEN_PORT=str(listen)
        ) as run,
        SandboxClient(f"http://127.0.0.1:{port}") as client,
    ):
        anna = await client.create_user("Anna", language_code="nl")
        john = await client.create_user("John", language_code="en")
        await client.send(anna["id"], "/start")
        await client.send(john["id"], "/start")
        dutch = await client.wait_bot_message(anna["id"], timeout=15)
        english = await client.wait_bot_message(john["id"], timeout=15)
        assert dutch["text"].startswith("Welkom bij Buurtbot")
        assert english["text"].startswith("Welcome to Buurtbot")
        assert not await client.requests("getUpdates")  # pushed, not polled
        local = f"http://127.0.0.1:{listen}"
        done = 'buurtbot_updates_total{kind="message",outcome="done"} 2.0'
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{local}/readyz") as response:
                ready = await response.json()
            metrics = ""
            for _ in range(100):  # an update is counted once marked done, after its answer
                async with http.get(f"{local}/metrics") as response:
                    metrics = await response.text()
                if done in metrics:
                    break
                await asyncio.sleep(0.1)
        assert ready["ready"] is True
        assert ready["role"] == "sender"
        assert 'buurtbot_webhook_requests_total{answer="stored"} 2.0' in metrics
        assert done in metrics
    assert run.process.returncode == 0, run.stderr
    assert f"the sandbox pushes {hook} to {local}/telegram" in run.stdout
    assert f"{local}/readyz" in run.stdout
    assert "Traceback" not in run.stderr
