"""One user floods the bot with button presses; how fast is another user's /help meanwhile?

Three processes, as in bench/residents_join.py: the sandbox and the driver share one
core, the bot under test (this process) has the other, so the figures are the bot's and
not the sandbox's (Telegram's servers do not share the bot's CPU). The sandbox's flood
limits are --scale times Telegram's (default 10: 10 messages/s per chat, 300/s in all),
so every press the bot handles edits a message and meets the chat's limit. The flood
comes in bursts (default 1,000 presses as 20 bursts of 50, one every 40 ms); after each
burst two other users send /help, 20 ms apart (each /help from another user, so no one
of them meets their own chat's limit). Runs buurtbot's update processor, then (with
--naive) the one it replaced, which took a shared slot before waiting for the chat's
turn. tests/journeys/test_fair_share.py plays the same flood in one process.

    .venv/bin/python bench/flood.py [--presses 1000] [--burst 50] [--scale 10] [--naive]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402 - needs ROOT on the path
    json_option,
    percentile,
    pin,
    sandbox_process,
    serve_scaled,
    write_figures,
)

TOKEN = "1000001:SANDBOX-buurtbot-flood-token"


def naive_processor(slots: int) -> Any:
    """The processor before issue 12: the chat's lock taken inside a shared slot."""
    from telegram.ext import BaseUpdateProcessor

    from bot.updates import chat_key

    class SlotFirst(BaseUpdateProcessor):
        def __init__(self) -> None:
            super().__init__(slots)
            self.locks: dict[int, asyncio.Lock] = {}

        async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
            key = chat_key(update)
            async with self.locks.setdefault(key or 0, asyncio.Lock()):
                await coroutine

        async def initialize(self) -> None:
            """Nothing to open."""

        async def shutdown(self) -> None:
            """Nothing to close."""

    return SlotFirst()


async def drive(port: int, presses: int, burst: int) -> dict[str, Any]:
    """The flooder and the others, in a process of their own: its clock is not the bot's."""
    from sandbox.client import SandboxClient

    latencies: list[float] = []
    async with SandboxClient(f"http://127.0.0.1:{port}") as client:
        flooder = await client.create_user("Fenna")
        others = [await client.create_user(f"Bewoner {n}") for n in range(2 * presses // burst)]
        for user in (flooder, *others):
            sent = await client.send(user["id"], "/help")
            await client.wait_bot_message(user["id"], after=sent["message_id"], timeout=60)
        target = (await client.bot_messages(flooder["id"]))[-1]

        async def timed_help(other: dict[str, Any]) -> None:
            start = time.perf_counter()
            sent = await client.send(other["id"], "/help")
            await client.wait_bot_message(other["id"], after=sent["message_id"], timeout=90)
            latencies.append(time.perf_counter() - start)

        helps = []
        started = time.perf_counter()
        for round_ in range(presses // burst):
            screen = "r1:menu:help" if round_ % 2 else "r1:menu:privacy"
            await client.press_burst(
                flooder["id"], flooder["id"], target["message_id"], screen, burst
            )
            helps.append(asyncio.create_task(timed_help(others[2 * round_])))
            await asyncio.sleep(0.02)
            helps.append(asyncio.create_task(timed_help(others[2 * round_ + 1])))
            await asyncio.sleep(0.02)
        flood_seconds = time.perf_counter() - started
        await asyncio.gather(*helps)
    return {"flood s": flood_seconds, "latencies": latencies}


async def run(presses: int, burst: int, scale: float, naive: bool) -> dict[str, float]:
    from bot.app import MAX_CONCURRENT_UPDATES, build_application, running
    from bot.settings import load_settings
    from bot.updates import PerChatUpdateProcessor
    from storage import migrate
    from storage.engine import create_engine

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'flood.db'}"
        engine = create_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()
        async with sandbox_process(__file__, "--scale", str(scale)) as port:
            settings = load_settings(
                {
                    "DATABASE_URL": url,
                    "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}/bot",
                    "BUURTBOT_LOG_LEVEL": "ERROR",
                }
            )
            application = build_application(settings, token=TOKEN)
            if naive:
                # Only here, for the comparison: swap in the old processor before it starts.
                application._update_processor = naive_processor(MAX_CONCURRENT_UPDATES)
            async with running(application, poll_timeout=1):
                driver = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--drive", "--port", str(port),
                    "--presses", str(presses), "--burst", str(burst),
                    cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                out, _ = await driver.communicate()
                processor = application.update_processor
                dropped = processor.dropped if isinstance(processor, PerChatUpdateProcessor) else 0
    result = json.loads(out.decode().strip().splitlines()[-1])
    latencies = result["latencies"]
    return {
        "flood s": result["flood s"],
        "p50 ms": percentile(latencies, 0.5) * 1000,
        "p95 ms": percentile(latencies, 0.95) * 1000,
        "max ms": max(latencies) * 1000,
        "dropped": dropped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presses", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--scale", type=float, default=10.0, help="sandbox limits this much faster")
    parser.add_argument("--naive", action="store_true", help="also run the old processor")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    json_option(parser)
    args = parser.parse_args()
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    if args.serve:
        pin(0)
        asyncio.run(serve_scaled(TOKEN, args.port, args.scale))
        return
    if args.drive:
        pin(0)
        print(json.dumps(asyncio.run(drive(args.port, args.presses, args.burst))))
        return
    pin(1)  # the bot alone on the second core; sandbox and driver share the first
    runs = [False, True] if args.naive else [False]
    for naive in runs:
        figures = asyncio.run(run(args.presses, args.burst, args.scale, naive))
        name = "slot before the chat's turn (before)" if naive else "buurtbot (chat's turn first)"
        print(
            f"{name}: {args.presses} presses in {figures['flood s']:.2f} s; the other user's "
            f"/help p50 {figures['p50 ms']:.0f} ms, p95 {figures['p95 ms']:.0f} ms, "
            f"max {figures['max ms']:.0f} ms; presses dropped {figures['dropped']:.0f}"
        )
        if not naive:
            write_figures(args.json, {"p95_ms": figures["p95 ms"], "dropped": figures["dropped"]})


if __name__ == "__main__":
    main()
