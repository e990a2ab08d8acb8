"""The Mini App's API at city scale (issue 17): p50/p95 of each call over real HTTP.

Fills the database as bench/stats.py does (100,000 residents, 300 groups, 2,000
broadcasts, 1,000,000 reports by default; a fresh SQLite file, or the PostgreSQL
database named by --url, whose public schema is DROPPED first), then in a process of
its own serves bot.miniapp on a free port, as the bot's server does, and calls each API
route --runs times with initData signed as Telegram signs it (sandbox.webapp) for an
administrator. The first call of each is reported apart (cold). Target: p95 < 100 ms.

On PostgreSQL the reports are made by the server itself (bench/growth.py's generate_series
filler), so a million take a minute, not a quarter of an hour; one in fifty is then left
open ("received") and one in fifty "in_behandeling", so the app's report list has rows.

    .venv/bin/python bench/miniapp.py
    .venv/bin/python bench/miniapp.py --reports 100000 --runs 20     # a quick look
    .venv/bin/python bench/miniapp.py --url postgresql://postgres@127.0.0.1:5432/test_x
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import timed  # noqa: E402 - needs ROOT on the path
from bench.growth import add_reports  # noqa: E402
from bench.stats import _services, city_parser, describe, fill, fill_then_measure  # noqa: E402

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
    "reports",
    "reports?status=afgehandeld",
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


async def fill_postgres(url: str, args: argparse.Namespace) -> None:
    """bench/stats.py's city without its reports, then the reports made in SQL."""
    from sqlalchemy import text

    await fill(url, argparse.Namespace(**{**vars(args), "reports": 0}))
    await add_reports(url, 0, args.reports)
    services = _services(url)
    async with services.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE reports SET status = CASE WHEN id % 50 = 0 THEN 'received' "
                "ELSE 'in_behandeling' END WHERE id % 25 = 0"
            )
        )
    async with services.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE reports"))
    await services.engine.dispose()


def main() -> None:
    args = city_parser(__doc__).parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.url, args.runs))))
        return
    if args.url and not args.no_fill:
        asyncio.run(fill_postgres(args.url, args))
        args.no_fill = True
    figures = fill_then_measure(args, __file__)
    print(describe(args, "Mini App API"))
    for key, value in figures.items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
