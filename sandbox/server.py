"""Wiring: the aiohttp application and a start/stop wrapper around it."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from sandbox.botapi import BotApi
from sandbox.config import SandboxConfig
from sandbox.control import ControlApi
from sandbox.state import World

STATIC_DIR = Path(__file__).with_name("static")
WORLD_KEY = web.AppKey("sandbox_world", World)
BOT_API_KEY = web.AppKey("sandbox_bot_api", BotApi)
# Telegram accepts uploads up to 50 MB; aiohttp's default body limit is 1 MiB.
MAX_BODY = 50 * 1024 * 1024


def build_app(config: SandboxConfig) -> web.Application:
    """Create the aiohttp application serving the Bot API, file downloads and control API."""
    world = World(config)
    bot_api = BotApi(world)
    app = web.Application(client_max_size=MAX_BODY)
    app[WORLD_KEY] = world
    app[BOT_API_KEY] = bot_api
    app.router.add_route("*", "/bot{token}/{method}", bot_api.handle)
    app.router.add_get("/file/bot{token}/{path:.+}", bot_api.handle_file)
    app.router.add_routes(ControlApi(world, bot_api).routes())
    index = STATIC_DIR / "index.html"
    if index.exists():

        async def serve_index(request: web.Request) -> web.FileResponse:
            return web.FileResponse(index)

        app.router.add_get("/", serve_index)
        # The page's script and style, as plain files: no build step, nothing to install.
        app.router.add_static("/static/", STATIC_DIR)

    async def close_bot_api(app: web.Application) -> None:
        await bot_api.close()

    app.on_cleanup.append(close_bot_api)
    return app


class SandboxServer:
    """A running fake Telegram: ``await server.start()``, point the bot at ``api_base_url``."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.app = build_app(config)
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port = 0

    @property
    def state(self) -> World:
        return self.app[WORLD_KEY]

    @property
    def port(self) -> int:
        if self._runner is None:
            raise RuntimeError("server is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        return self.url + "/bot"

    @property
    def file_base_url(self) -> str:
        return self.url + "/file/bot"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("server already started")
        # Long polls and waits end on their own; don't let shutdown wait for a 50 s poll.
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])  # the one chosen for port 0

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
