"""The command line: help for every subcommand, migrations, and sandbox mode end to end."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

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


async def test_run_without_token_starts_the_sandbox_and_answers_start(tmp_path: Path) -> None:
    """What `make run` does on a fresh machine: migrate, then the bot in sandbox mode."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "BUURTBOT_", "DATABASE_URL"))
    }
    # An administrator, as the README suggests for trying the coordinator's side.
    env |= {
        "BUURTBOT_SANDBOX_PORT": str(port),
        "PYTHONPATH": str(ROOT),
        "BUURTBOT_ADMINS": "100050",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--migrate",
        cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await wait_for_port(port, process)
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
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 0, stderr.decode()
    assert "Sandbox mode" in stdout.decode()
    assert f"token {SANDBOX_TOKEN}" in stdout.decode()
    assert "sandbox user 100050" in stdout.decode()
    # No warning (nor a traceback) about an administrator the sandbox did not know.
    assert "has not started" not in stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert (tmp_path / "data" / "buurtbot.db").exists()  # the default database, migrated
