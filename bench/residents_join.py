"""2,000 residents join their wijk at once, through the sandbox, beside a bare echo bot.

Three processes: the sandbox (limits off), the driver that plays the residents, and the
bot under test (this process, alone on its core where the machine allows). The same
run measures a bare python-telegram-bot echo bot on the same sandbox, so the figures
are a ratio against a baseline, not absolute numbers from a noisy machine.

Per update it reports the end-to-end latency the resident sees (send or tap until the
bot's answer is there; with 2,000 residents waiting at once this includes the queue) and
the bot's own service time (update received until handled).

Each bot first takes one stampede unmeasured (`--cold` leaves it out), so the figures
are a running bot's, not its start-up's. Cold, the echo bot's CPU per update jumped
between about 1.8 and 4.4 ms from one process to the next: a py-spy profile puts the
difference in httpcore's pool, which looks through every connection it holds for each
request, and how many it holds depends on how the first burst happened to arrive.

    .venv/bin/python bench/residents_join.py [--residents 2000] [--cold]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402 - needs ROOT on the path
    arrive,
    json_option,
    percentile,
    pin,
    sandbox_process,
    serve_unlimited,
    write_figures,
)

TOKEN = "1000001:SANDBOX-buurtbot-bench-token"
WIJKEN = [
    "binnenstad", "brandevoort", "brouwhuis", "dierdonk", "helmond-noord", "helmond-oost",
    "helmond-west", "mierlo-hout", "rijpelberg", "stiphout", "warande",
]  # fmt: skip


# ---------------------------------------------------------------- driver (a subprocess)


async def drive(port: int, residents: int, mode: str, rate: float) -> dict[str, Any]:
    from sandbox.client import SandboxClient

    latencies: list[float] = []
    import aiohttp

    # One connection per waiting resident: aiohttp's default pool of 100 would make the
    # driver, not the bot, the queue the residents wait in.
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    async with session, SandboxClient(f"http://127.0.0.1:{port}", session) as client:
        gate = asyncio.Semaphore(200)

        async def create(i: int) -> int:
            async with gate:
                user = await client.create_user(f"Bewoner {i}", language_code="nl")
                return int(user["id"])

        ids = await asyncio.gather(*(create(i) for i in range(residents)))

        async def timed(step: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
            started = time.perf_counter()
            result = await step()
            latencies.append(time.perf_counter() - started)
            return result

        async def echo_user(uid: int) -> None:
            for text in ("/start", "nederlands", "binnenstad", "houtsdonk"):
                sent = await client.send(uid, text)
                await timed(
                    lambda s=sent: client.wait_bot_message(uid, after=s["message_id"], timeout=120)
                )

        async def join_user(index: int, uid: int) -> None:
            async def send_start() -> dict[str, Any]:
                sent = await client.send(uid, "/start")
                return await client.wait_bot_message(uid, after=sent["message_id"], timeout=120)

            message = await timed(send_start)
            wijk = WIJKEN[index % len(WIJKEN)]
            for data in ("r1:lang:nl:wijk", f"r1:wijk:{wijk}", f"r1:buurt:{wijk}:-"):
                labels = {
                    b.get("callback_data")
                    for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
                    for b in row
                }
                if data not in labels:
                    if data.startswith("r1:lang:"):
                        continue  # a welcome in the resident's language asks the wijk at once
                    break  # a wijk without buurten is joined one tap earlier
                edits = message.get("edit_count", 0) + 1
                message_id = message["message_id"]

                async def tap(d: str = data, e: int = edits, m: int = message_id) -> dict[str, Any]:
                    await client.press(uid, uid, m, d)
                    return await client.wait_edited(uid, m, edits=e, timeout=120)

                message = await timed(tap)

        elapsed, errors = await arrive(
            residents,
            rate,
            lambda i: echo_user(ids[i]) if mode == "echo" else join_user(i, ids[i]),
            "resident",
        )
    return {"updates": len(latencies), "elapsed": elapsed, "latencies": latencies, "errors": errors}


# ---------------------------------------------------------------- bots under test


async def run_bot(kind: str, api_base: str, database_url: str) -> tuple[Any, list[float]]:
    from telegram import Update
    from telegram.ext import ApplicationBuilder, MessageHandler, filters

    from bot.app import MAX_CONCURRENT_UPDATES, build_application
    from bot.settings import load_settings
    from bot.updates import PerChatUpdateProcessor
    from storage import migrate
    from storage.engine import create_engine

    if kind == "echo":

        async def echo(update: Update, context: Any) -> None:
            message = update.effective_message
            if message is not None and message.text:
                await message.reply_text(message.text)

        # The same concurrency as buurtbot, so the ratio compares the work per update.
        application = (
            ApplicationBuilder()
            .token(TOKEN)
            .base_url(api_base)
            .job_queue(None)
            .concurrent_updates(
                PerChatUpdateProcessor(
                    MAX_CONCURRENT_UPDATES, max_waiting_per_chat=5, slow_down=_no_answer
                )
            )
            .build()
        )
        application.add_handler(MessageHandler(filters.TEXT, echo))
    else:
        engine = create_engine(database_url)
        await migrate.upgrade(engine)
        await engine.dispose()
        settings = load_settings({"DATABASE_URL": database_url, "TELEGRAM_API_BASE_URL": api_base})
        application = build_application(settings, token=TOKEN)

    service: list[float] = []
    process = application.process_update

    async def timed_process(update: object) -> None:
        started = time.perf_counter()
        await process(update)
        service.append(time.perf_counter() - started)

    application.process_update = timed_process  # type: ignore[method-assign]
    return application, service


async def _no_answer(update: object) -> None:
    """The echo bot never drops a press (it gets none): nothing to say."""


@contextlib.asynccontextmanager
async def polling(application: Any) -> AsyncIterator[None]:
    """The echo bot by long polling: PTB's own path, no buurtbot services, lease or inbox."""
    await application.initialize()
    await application.updater.start_polling(timeout=10, poll_interval=0.0)
    await application.start()
    try:
        yield
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


async def measure(
    kind: str, residents: int, tmp: Path, rate: float = 0.0, *, warm_up: bool = False
) -> dict[str, Any]:
    from bot.app import running

    async with sandbox_process(__file__, quiet=True) as port:
        database_url = f"sqlite+aiosqlite:///{tmp / f'{kind}-{residents}-{rate:g}.db'}"
        application, service = await run_bot(kind, f"http://127.0.0.1:{port}/bot", database_url)
        runner = polling(application) if kind == "echo" else running(application, poll_timeout=10)
        async with runner:

            async def drive_once() -> bytes:
                driver = await asyncio.create_subprocess_exec(
                    sys.executable, __file__, "--drive", "--port", str(port),
                    "--residents", str(residents), "--mode", kind, "--rate", str(rate),
                    cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                out, _ = await driver.communicate()
                return out

            if warm_up:
                # Steady state, not start-up: both bots first take one stampede unmeasured
                # (first-use imports, compiled statements, an HTTP pool already opened).
                await drive_once()
                service.clear()
            cpu_before = time.process_time()
            out = await drive_once()
            cpu = time.process_time() - cpu_before
        result = json.loads(out.decode().strip().splitlines()[-1])
    latencies = result.pop("latencies")
    return {
        "kind": kind,
        **result,
        "updates_per_s": result["updates"] / result["elapsed"],
        "e2e_p50_ms": percentile(latencies, 0.50) * 1000,
        "e2e_p95_ms": percentile(latencies, 0.95) * 1000,
        "service_p50_ms": percentile(service, 0.50) * 1000,
        "service_p95_ms": percentile(service, 0.95) * 1000,
        "service_mean_ms": statistics.fmean(service) * 1000 if service else float("nan"),
        "cpu_ms_per_update": cpu / max(1, len(service)) * 1000,
    }


def report(row: dict[str, Any]) -> str:
    return (
        f"  {row['kind']:<9} {row['updates']:>6} updates in {row['elapsed']:6.2f}s "
        f"{row['updates_per_s']:8.0f} updates/s   end-to-end p50 {row['e2e_p50_ms']:7.1f} ms "
        f"p95 {row['e2e_p95_ms']:7.1f} ms   bot service p50 {row['service_p50_ms']:5.1f} ms "
        f"p95 {row['service_p95_ms']:5.1f} ms   bot CPU {row['cpu_ms_per_update']:.2f} ms/update   "
        f"errors {row['errors']}"
    )


async def main(
    residents: int,
    rate: float,
    paced: int,
    profile: bool = False,
    out: str | None = None,
    paced_echo: bool = True,
    warm_up: bool = True,
) -> None:
    pin(1)  # the bot alone on the second core; sandbox and driver share the first
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    import logging

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        echo = await measure("echo", residents, Path(tmp), warm_up=warm_up)
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        buurtbot = await measure("buurtbot", residents, Path(tmp), warm_up=warm_up)
        if profile:
            profiler.disable()
            profiler.dump_stats(str(ROOT / "data" / "residents_join.prof"))
        # The paced echo run is for the eye (the bare bot's latency at the same pace); no
        # figure needs it, so make bench leaves it out.
        kinds = ("echo", "buurtbot") if paced_echo else ("buurtbot",)
        paced_rows = (
            [await measure(kind, paced, Path(tmp), rate) for kind in kinds] if paced else []
        )
    warmed = ", each bot after one unmeasured stampede" if warm_up else ", cold"
    print(
        f"{residents} residents at once, sandbox limits off, SQLite, {os.cpu_count()} CPUs{warmed}"
    )
    print(report(echo))
    print(report(buurtbot))
    ratio = buurtbot["updates_per_s"] / echo["updates_per_s"]
    print(f"  throughput buurtbot / echo: {ratio:.2f} (target >= 0.9); "
          f"buurtbot service p95 {buurtbot['service_p95_ms']:.1f} ms (target < 50 ms)")  # fmt: skip
    if paced_rows:
        print(
            f"{paced} residents arriving at {rate:g}/s (the latency a resident sees at a steady pace)"
        )
        for row in paced_rows:
            print(report(row))
    figures = {
        "ratio": ratio,
        "cpu_ms_per_update": buurtbot["cpu_ms_per_update"],
        # The baseline's own cost: the ratio moves with it (see the module's docstring).
        "echo_cpu_ms_per_update": echo["cpu_ms_per_update"],
        "errors": buurtbot["errors"]
        + sum(row["errors"] for row in paced_rows if row["kind"] == "buurtbot"),
    }
    if paced_rows:
        figures["paced_p95_ms"] = paced_rows[-1]["e2e_p95_ms"]
    write_figures(out, figures)
    print(
        f"reproduce: .venv/bin/python bench/residents_join.py --residents {residents} "
        f"--rate {rate:g} --paced {paced}{'' if warm_up else ' --cold'}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--residents", type=int, default=2000)
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help="cProfile the bot to data/")
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["echo", "buurtbot"], help=argparse.SUPPRESS)
    parser.add_argument(
        "--rate", type=float, default=40.0, help="arrivals per second in the paced run (40)"
    )
    parser.add_argument(
        "--paced", type=int, default=400, help="residents in the paced run (400; 0 skips it)"
    )
    parser.add_argument(
        "--no-paced-echo", action="store_true", help="leave out the echo bot's paced run"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="measure the stampede without the unmeasured one before it (start-up included)",
    )
    json_option(parser)
    args = parser.parse_args()
    if args.serve:
        serve_unlimited(TOKEN, args.port)
    elif args.drive:
        pin(0)
        print(json.dumps(asyncio.run(drive(args.port, args.residents, args.mode, args.rate))))
    else:
        asyncio.run(
            main(
                args.residents, args.rate, args.paced, args.profile, args.json,
                paced_echo=not args.no_paced_echo, warm_up=not args.cold,
            )
        )  # fmt: skip
