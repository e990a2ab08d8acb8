"""Command line: `python -m bot run | sandbox | db ...`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence

from bot.logs import configure_logging
from bot.settings import ConfigError, Settings, load_settings

log = logging.getLogger("bot")

# The sandbox accepts exactly this token; it never leaves the machine.
SANDBOX_TOKEN = "1000001:SANDBOX-buurtbot-local-only-token"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Buurtbot: Telegram bot for buurtpreventie. "
        "Configuration comes from the environment and .env (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="start the bot (sandbox mode when TELEGRAM_BOT_TOKEN is not set)",
        description="Start the bot by long polling. With TELEGRAM_BOT_TOKEN it talks to "
        "Telegram (or TELEGRAM_API_BASE_URL); without it, it starts the local sandbox Bot "
        "API on 127.0.0.1:BUURTBOT_SANDBOX_PORT and connects to that, so you can try it "
        "without a token.",
    )
    run.add_argument(
        "--migrate", action="store_true", help="apply database migrations before starting"
    )

    sandbox = commands.add_parser(
        "sandbox",
        help="run only the sandbox Bot API server",
        description="Run the local sandbox Bot API server alone, for a bot started elsewhere "
        "with TELEGRAM_API_BASE_URL=http://127.0.0.1:PORT/bot and the printed token.",
    )
    sandbox.add_argument("--port", type=int, help="port (default BUURTBOT_SANDBOX_PORT)")

    db = commands.add_parser(
        "db", help="database migrations", description="Manage the database schema (Alembic)."
    )
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser(
        "upgrade", help="apply migrations", description="Apply migrations up to a revision."
    )
    upgrade.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    downgrade = db_commands.add_parser(
        "downgrade", help="revert migrations", description="Revert migrations to a revision."
    )
    downgrade.add_argument("revision", help="target, e.g. -1 or base")
    db_commands.add_parser(
        "current", help="show the applied revision", description="Show the applied revision."
    )
    revision = db_commands.add_parser(
        "revision",
        help="write a new migration from the models (developers)",
        description="Autogenerate the next migration from the difference between the "
        "models and a database migrated to head.",
    )
    revision.add_argument("-m", "--message", required=True, help="what the migration does")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Opt in to PTB's coming behaviour (RetryAfter.retry_after as a timedelta) now, so the
    # delivery code is written once and PTB does not warn on every flood answer.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"buurtbot: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        if args.command == "db":
            return asyncio.run(_db(settings, args))
        if args.command == "sandbox":
            return asyncio.run(_serve_sandbox(settings, args.port))
        return asyncio.run(_run(settings, migrate=args.migrate))
    except KeyboardInterrupt:
        return 130


async def _db(settings: Settings, args: argparse.Namespace) -> int:
    from storage import migrate
    from storage.engine import create_engine

    engine = create_engine(settings.database_url)
    try:
        if args.db_command == "upgrade":
            await migrate.upgrade(engine, args.revision)
        elif args.db_command == "downgrade":
            await migrate.downgrade(engine, args.revision)
        elif args.db_command == "revision":
            await migrate.autogenerate(engine, args.message)
        print(f"database at revision {await migrate.current_revision(engine) or 'base'}")
    finally:
        await engine.dispose()
    return 0


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


@contextlib.asynccontextmanager
async def _sandbox_server(port: int) -> AsyncIterator[object]:
    from sandbox.config import Limits, SandboxConfig
    from sandbox.server import SandboxServer

    server = SandboxServer(SandboxConfig(token=SANDBOX_TOKEN, limits=Limits()))
    try:
        await server.start(host="127.0.0.1", port=port)
    except OSError as exc:
        raise SystemExit(
            f"buurtbot: cannot start the sandbox on 127.0.0.1:{port} ({exc.strerror}); "
            "set BUURTBOT_SANDBOX_PORT to a free port"
        ) from None
    try:
        yield server
    finally:
        await server.stop()


def _sandbox_instructions(url: str) -> str:
    return "\n".join(
        [
            "",
            "Sandbox mode: no TELEGRAM_BOT_TOKEN, so the bot talks to a local Bot API.",
            f"  Try it in a browser:   {url}/",
            "  Or act as a user with curl, e.g.:",
            f'    curl -s -X POST {url}/sandbox/users -d \'{{"first_name": "Anna", '
            '"language_code": "nl"}\'',
            f'    curl -s -X POST {url}/sandbox/send -d \'{{"user_id": 100001, '
            '"text": "/start"}\'',
            f"    curl -s {url}/sandbox/chats/100001/messages",
            "  All control routes: sandbox/README.md.  Stop with Ctrl-C.",
            "",
        ]
    )


async def _serve_sandbox(settings: Settings, port: int | None) -> int:
    async with _sandbox_server(port if port is not None else settings.sandbox_port) as server:
        url = server.url  # type: ignore[attr-defined]
        print(f"Sandbox Bot API on {url}/bot<token>/<method>, token {SANDBOX_TOKEN}")
        print(_sandbox_instructions(url), flush=True)
        await _wait_for_signal()
    return 0


async def _run(settings: Settings, *, migrate: bool) -> int:
    from bot.app import build_application, open_lease, running
    from bot.lease import LeaseHeld

    # First of all: a second bot on the same SQLite file stops here, before it migrates,
    # opens the sandbox's port or says anything to Telegram.
    lease = open_lease(settings)
    try:
        await lease.prepare()
    except LeaseHeld as held:
        print(f"buurtbot: {held}", file=sys.stderr)
        return 3
    try:
        if migrate:
            await _db(settings, argparse.Namespace(db_command="upgrade", revision="head"))
        if not settings.sandbox_mode:
            application = build_application(settings)
            async with running(application, lease=lease):
                log.info("running against %s; stop with Ctrl-C", settings.telegram_api_base_url)
                await _wait_for_signal()
            return 0
        async with _sandbox_server(settings.sandbox_port) as server:
            url = server.url  # type: ignore[attr-defined]
            local = settings.with_overrides(telegram_api_base_url=f"{url}/bot")
            application = build_application(local, token=SANDBOX_TOKEN)
            async with running(application, lease=lease):
                print(_sandbox_instructions(url), flush=True)
                await _wait_for_signal()
        return 0
    finally:
        await lease.release()  # a no-op when running() released it
