"""The Mini App's API at city scale (issue 17): p50/p95 of each call over real HTTP.

Fills the database as bench/stats.py does (100,000 residents, 300 groups, 2,000
broadcasts, 1,000,000 reports by default; a fresh SQLite file, or the PostgreSQL
database named by --url, whose public schema is DROPPED first), then in a process of
its own serves bot.miniapp on a free port, as the bot's server does, and calls each API
route --runs times with initData signed as Telegram signs it (sandbox.webapp) for an
administrator. The first call of each is reported apart (cold). Target: p95 < 100 ms.

    .venv/bin/python bench/miniapp.py
    .venv/bin/python bench/miniapp.py --reports 100000 --runs 20     # a quick look
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import timed  # noqa: E402 - needs ROOT on the path
from bench.stats import _services, run  # noqa: E402

TOKEN = "1000001:SANDBOX-buurtbot-local-only-token"
ADMIN = 900001
CALLS = (
    "me",
    "figures?kind=week",
    "figures?kind=month",
    "figures?kind=year",
    "trend?kind=week",
    "trend?kind=month",
    "trend?kind=year",
    "teams",
    "broadcasts",
)


async def measure(url: str, runs: int) -> dict[str, Any]:
    import aiohttp
    from aiohttp import web

    from bot.miniapp import MiniApp
    from sandbox.state import UserRecord
    from sandbox.webapp import sign

    services = _services(url)
    services.settings = services.settings.with_overrides(admins=frozenset({ADMIN}))
    app = web.Application()
    MiniApp(services, TOKEN).mount(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]  # the free port chosen
    headers = {"Authorization": "tma " + sign(TOKEN, UserRecord(id=ADMIN, first_name="Carla"))}
    figures: dict[str, Any] = {}
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
        for call in CALLS:

            async def get(call: str = call) -> None:
                async with http.get(f"/app/api/{call}", headers=headers) as response:
                    assert response.status == 200, (call, response.status, await response.text())
                    await response.read()

            await timed(figures, call, runs, get)
    await runner.cleanup()
    await services.engine.dispose()
    return figures


def main() -> None:
    run(__doc__, __file__, "Mini App API", measure)


if __name__ == "__main__":
    main()
