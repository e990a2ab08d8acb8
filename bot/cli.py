"""Command line: `python -m bot run | sandbox | inbox | db ... | areas import | secret ...`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from bot import keys
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

    commands.add_parser(
        "inbox",
        help="count the updates waiting and the dead letters",
        description="Print how many updates wait in the durable inbox (pending) and how "
        "many the bot gave up on after BUURTBOT_INBOX_MAX_ATTEMPTS tries (dead).",
    )

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

    areas = commands.add_parser(
        "areas",
        help="the areas file (wijken, buurten, business parks)",
        description="Make the areas file (BUURTBOT_AREAS_FILE) from open data.",
    )
    areas_commands = areas.add_subparsers(dest="areas_command", required=True, metavar="ACTION")
    cbs = areas_commands.add_parser(
        "import",
        help="turn CBS's Wijk- en Buurtkaart (GeoJSON) into an areas file",
        description="Turn CBS's Wijk- en Buurtkaart (GeoJSON: a wijken layer, a buurten "
        "layer, or both) into an areas file with the polygons and CBS codes of one "
        "gemeente. RD New (EPSG:28992) and other coordinate systems the file names are "
        "transformed to WGS84.",
    )
    cbs.add_argument("files", nargs="+", type=Path, metavar="FILE.geojson")
    cbs.add_argument(
        "--gemeente", required=True, metavar="GMxxxx", help="the CBS code, e.g. GM0794 (Helmond)"
    )
    cbs.add_argument(
        "-o",
        "--output",
        type=Path,
        help="where to write the areas file (default: areas-<GMxxxx>.json here)",
    )
    cbs.add_argument(
        "--park",
        action="append",
        default=[],
        metavar="CODE",
        help="a BU_CODE (or WK_CODE) that is a business park; repeat for more",
    )
    cbs.add_argument("--city", help="the city's name (default: GM_NAAM from the file)")
    cbs.add_argument(
        "--crs", help="the files' coordinate system when they do not say, e.g. EPSG:28992"
    )
    cbs.add_argument("--force", action="store_true", help="replace an existing output file")

    secret = commands.add_parser(
        "secret",
        help="the key of anonymous reports",
        description="The key that lets the bot, and only the bot, tell an anonymous "
        "reporter about their report. It is kept in a file outside the database's folder "
        "(BUURTBOT_SECRET_FILE), never in the database.",
    )
    secret_commands = secret.add_subparsers(dest="secret_command", required=True, metavar="ACTION")
    for name, text in (
        (
            "init",
            "write a new key file (mode 600); a key an older version kept in the database "
            "is moved into it and erased from the database",
        ),
        (
            "rotate",
            "seal every follow-up under a new key and replace the key file; stop the bot "
            "first, start it again after",
        ),
    ):
        action = secret_commands.add_parser(name, help=text, description=text + ".")
        action.add_argument(
            "--file", type=Path, help="the key file (default: BUURTBOT_SECRET_FILE)"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "areas":
        # Works on files only: no settings, no database, so it runs before any .env exists.
        return _areas(args)
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
        if args.command == "inbox":
            return asyncio.run(_inbox(settings))
        if args.command == "sandbox":
            return asyncio.run(_serve_sandbox(settings, args.port))
        if args.command == "secret":
            return asyncio.run(_secret(settings, args))
        # A real token needs the key of anonymous reports; say so before anything starts.
        keys.require(settings)
        return asyncio.run(_run(settings, migrate=args.migrate))
    except ConfigError as exc:
        print(f"buurtbot: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _areas(args: argparse.Namespace) -> int:
    from bot.cbs import CbsError, import_files

    output: Path = args.output or Path(f"areas-{args.gemeente.strip().upper()}.json")
    try:
        counts = import_files(
            args.files,
            args.gemeente,
            output,
            parks=args.park,
            city=args.city,
            crs=args.crs,
            force=args.force,
        )
    except CbsError as exc:
        print(f"buurtbot: {exc}", file=sys.stderr)
        return 2
    print(
        f"areas file written to {output.resolve()}: {counts['wijken']} wijken, "
        f"{counts['buurten']} buurten, {counts['business_parks']} business parks"
    )
    print(f"now set BUURTBOT_AREAS_FILE={output.resolve()} for the bot")
    return 0


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


async def _secret(settings: Settings, args: argparse.Namespace) -> int:
    from bot import reports
    from bot.app import services_on

    path: Path | None = args.file or settings.secret_file
    if args.secret_command == "init":
        if path is None:
            raise ConfigError("BUURTBOT_SECRET_FILE: not set; name the file with --file PATH")
        if settings.secret is not None:
            raise ConfigError(
                "BUURTBOT_SECRET: set; the key is already in the environment. To keep it "
                "in a file instead, write that value to a file of mode 600 and set "
                "BUURTBOT_SECRET_FILE"
            )
        keys.check_location(path, settings)
        try:
            async with services_on(settings, keys.Keyring.generate()) as services:
                stored = await reports.stored_key(services)
        except SQLAlchemyError:
            stored = None  # no database yet: nothing to move
        value = stored or keys.new_secret()
        keys.write_key_file(path, value)
        moved = ""
        if stored is not None:
            async with services_on(settings, keys.Keyring.from_secret(value)) as services:
                settled = await reports.settle_keys(services)
            moved = f"; moved out of the database ({settled.moved} follow-ups sealed anew)"
        print(f"key written to {path} (mode 600){moved}")
        print(f"now set BUURTBOT_SECRET_FILE={path} for the bot")
        return 0
    current = keys.configured(settings)
    if current is None:
        raise ConfigError("BUURTBOT_SECRET_FILE: not set; there is no key to rotate")
    if path is None:
        raise ConfigError(
            "BUURTBOT_SECRET: the key is in the environment; name a new key file with "
            "--file PATH and set BUURTBOT_SECRET_FILE to it afterwards"
        )
    keys.check_location(path, settings)
    # A running bot holds the old key in memory: it must not run while the key changes.
    from bot.app import open_lease
    from bot.lease import LeaseHeld

    lease = open_lease(settings)
    try:
        await lease.prepare()
        if not await lease.try_acquire():
            raise LeaseHeld(settings.database_url, None)
    except LeaseHeld:
        await lease.release()
        print(
            "buurtbot: a bot runs on this database; stop it before rotating the key",
            file=sys.stderr,
        )
        return 3
    value = keys.new_secret()
    waiting = keys.pending(path)
    keys.write_key_file(waiting, value)
    try:
        async with services_on(settings, current) as services:
            await reports.settle_keys(services)
            rotated = await reports.rotate(services, keys.Keyring.from_secret(value))
    except BaseException:
        waiting.unlink()  # the database still opens with the old key
        raise
    finally:
        await lease.release()
    # Only now: the database holds nothing the old key was needed for.
    keys.promote(path)
    print(
        f"new key in {path}: {rotated.sealed} follow-ups sealed anew, "
        f"{rotated.drafts} unfinished report drafts dropped"
        + (f", {rotated.dropped} follow-ups no key opened dropped" if rotated.dropped else "")
    )
    if settings.secret is not None:
        print(f"now unset BUURTBOT_SECRET and set BUURTBOT_SECRET_FILE={path}")


async def _inbox(settings: Settings) -> int:
    from bot.inbox import Inbox
    from storage.engine import create_engine, create_session_factory

    engine = create_engine(settings.database_url)
    try:
        # Counting opens no payload: any key will do.
        inbox = Inbox(
            create_session_factory(engine),
            keys.Keyring.generate(),
            max_attempts=settings.inbox_max_attempts,
        )
        counts = await inbox.counts()
    finally:
        await engine.dispose()
    print(f"pending {counts.pending}")
    print(f"dead {counts.dead}")
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

    # Update ids from the clock (ms): a new sandbox never reuses the ids a kept database
    # has seen (the inbox would skip them as replays), as Telegram never does.
    config = SandboxConfig(
        token=SANDBOX_TOKEN, limits=Limits(), first_update_id=int(time.time() * 1000)
    )
    server = SandboxServer(config)
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


def _sandbox_admins(server: object, admins: frozenset[int] | set[int]) -> list[int]:
    """BUURTBOT_ADMINS as people in the sandbox, there from its start.

    A real administrator has a Telegram account before the bot starts; in a fresh
    sandbox nobody exists yet, and the bot's first calls about them (their command
    menu) would fail. Created as having started the bot, so the menu is set at once.
    """
    from sandbox.state import UserRecord

    world = server.state  # type: ignore[attr-defined]
    made = []
    for admin_id in sorted(admins):
        if admin_id in world.users or admin_id == world.bot_user.id:
            continue
        user = UserRecord(id=admin_id, first_name="Beheerder", language_code="nl")
        world.users[admin_id] = user
        world.private_chat(user).started = True
        made.append(admin_id)
    return made


def _sandbox_instructions(
    url: str, admins: list[int] | None = None, served: list[str] | None = None
) -> str:
    as_admin = [
        f"  Administrator (BUURTBOT_ADMINS) ready as sandbox user {admin_id}: "
        f"send /bericht, /overzicht or /uitnodigen as {admin_id}."
        for admin_id in admins or []
    ]
    return "\n".join(
        [
            "",
            "Sandbox mode: no TELEGRAM_BOT_TOKEN, so the bot talks to a local Bot API.",
            f"  Try it in a browser:   {url}/",
            f"  Bot API:               {url}/bot<token>/<method>, token {SANDBOX_TOKEN}",
            *as_admin,
            *(served or []),
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


def _route_webhook(server: object, application: object) -> list[str]:
    """Webhook mode against the local sandbox: it pushes to this bot's own port, as a
    reverse proxy would forward the public address (sandbox.webhook). Returns the lines
    that tell where the bot's own server answers."""
    from urllib.parse import urlsplit

    from bot.services import services_of

    services = services_of(application)  # type: ignore[arg-type]
    web, url = services.web, services.settings.webhook_url
    if web is None:
        return []
    local = f"http://127.0.0.1:{web.port}"
    lines = [f"  Health and metrics:    {local}/readyz, {local}/metrics"]
    if url is None:
        return lines
    parts = urlsplit(url)
    routes = server.state.webhook_routes  # type: ignore[attr-defined]
    routes[f"{parts.scheme}://{parts.netloc}"] = [local]
    return [
        f"  Webhook mode:          the sandbox pushes {url} to {local}{parts.path or '/'},",
        "                         as the reverse proxy in front of the bot would.",
        *lines,
    ]


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
            admins = _sandbox_admins(server, settings.admins)
            local = settings.with_overrides(telegram_api_base_url=f"{url}/bot")
            application = build_application(local, token=SANDBOX_TOKEN)
            async with running(application, lease=lease):
                served = _route_webhook(server, application)
                print(_sandbox_instructions(url, admins, served), flush=True)
                await _wait_for_signal()
        return 0
    finally:
        await lease.release()  # a no-op when running() released it
