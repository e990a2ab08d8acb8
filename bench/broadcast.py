"""One broadcast to 10,000 residents and 200 groups, with Telegram's flood limits on.

Three processes: the sandbox (Telegram's limits, scaled `--scale` times faster so the run
takes seconds, not minutes), the driver that plays a few residents asking /help every
100 ms during the broadcast, and the bot under test (this process): the real bot from
`build_application`, answering those residents, with its delivery engine paced by
`Pacing().scaled(scale)` to match.

The same run sends the same broadcast the naive way, beside the same interactive bot: one
python-telegram-bot `ExtBot` with `AIORateLimiter` (scaled alike, 3 retries on a 429) and
`asyncio.gather` over every send_message. Its best case: it has a bot and connection pool
of its own, so residents' answers do not queue behind it in the limiter.

Then the same audience as wijk channel followers: 11 channel posts, at Telegram's real
(unscaled) pace.

Figures come from the sandbox's request log: achieved rate (messages per second between
the first and the last delivery, over the scaled 30/s limit), 429s met, duplicates and
missing recipients; the driver gives the residents' reply times.

    .venv/bin/python bench/broadcast.py [--residents 10000 --groups 200 --scale 10]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import tempfile
import time
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

TOKEN = "1000001:SANDBOX-buurtbot-bench-token"
FOUNDER = 900001
ASKERS = 20  # residents taking turns at /help, so none exceeds one message a second
ASK_EVERY = 0.1  # seconds between two /help, all askers together
WIJKEN = 11


# ---------------------------------------------------------------- sandbox (a subprocess)


async def serve(port: int, scale: float) -> None:
    from sandbox import state

    # Both broadcasts' requests must stay in the log the figures are read from.
    state.MAX_STORED_REQUESTS = 1_000_000
    await serve_scaled(TOKEN, port, scale)


# ---------------------------------------------------------------- driver (a subprocess)


async def drive(port: int, askers: list[int], seconds: float) -> list[float]:
    """Residents send /help every ASK_EVERY s for `seconds`; how long each answer took."""
    from sandbox.client import SandboxClient

    latencies: list[float] = []
    async with SandboxClient(f"http://127.0.0.1:{port}") as client:

        async def ask(uid: int) -> None:
            started = time.perf_counter()
            sent = await client.send(uid, "/help")
            await client.wait_bot_message(uid, after=sent["message_id"], timeout=60)
            latencies.append(time.perf_counter() - started)

        tasks = []
        begin = time.perf_counter()
        for i in range(int(seconds / ASK_EVERY)):
            await asyncio.sleep(max(0.0, begin + i * ASK_EVERY - time.perf_counter()))
            tasks.append(asyncio.create_task(ask(askers[i % len(askers)])))
        await asyncio.gather(*tasks)
    return latencies


# ---------------------------------------------------------------- the run (this process)


async def populate(client: Any, residents: int, groups: int) -> dict[str, Any]:
    gate = asyncio.Semaphore(64)

    async def user(i: int) -> int:
        async with gate:
            created = await client.create_user(f"Bewoner {i}", started=True)
            return int(created["id"])

    await client.create_user("Coordinator", user_id=FOUNDER, started=True)
    ids = await asyncio.gather(*(user(i) for i in range(residents + ASKERS)))

    async def group(i: int) -> int:
        async with gate:
            chat = await client.create_group(f"Buurtgroep {i}", creator_id=FOUNDER)
            await client.add_bot(chat["id"], by=FOUNDER)
            return int(chat["id"])

    return {
        "residents": list(ids[:residents]),
        "askers": list(ids[residents:]),
        "groups": list(await asyncio.gather(*(group(i) for i in range(groups)))),
    }


async def channels(client: Any) -> list[int]:
    """The wijk channels, made while the bot runs: it tells the founder about each one in
    their private chat, so they come one at a time, as a coordinator would make them."""
    ids = []
    for i in range(WIJKEN):
        chat = await client.create_channel(f"Wijk {i}", creator_id=FOUNDER)
        await client.add_bot(chat["id"], by=FOUNDER, admin=True, can_post_messages=True)
        ids.append(int(chat["id"]))
        await asyncio.sleep(0.5)
    return ids


async def start_driver(port: int, askers: list[int], seconds: float) -> Any:
    return await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--drive", "--port", str(port),
        "--askers", ",".join(map(str, askers)), "--seconds", str(seconds),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def driver_result(driver: Any) -> list[float]:
    out, _ = await driver.communicate()
    return list(json.loads(out.decode().strip().splitlines()[-1]))


async def figures(
    client: Any, marker: str, expected: list[int], since: float, until: float, limit: float
) -> dict[str, Any]:
    """What the sandbox saw of one broadcast, and of everything else in its time."""
    log = await client.requests()
    during = [r for r in log if since <= r["time"] <= until]
    mine = [
        r
        for r in during
        if r["method"].lower() in ("sendmessage", "sendphoto")
        and marker in str(r["params"].get("text") or r["params"].get("caption") or "")
    ]
    delivered = [r for r in mine if r["status"] == 200]
    floods = sum(1 for r in mine if r["status"] == 429)
    per_chat = collections.Counter(int(r["params"]["chat_id"]) for r in delivered)
    times = sorted(r["time"] for r in delivered)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    rate = (len(times) - 1) / span if len(times) > 1 else 0.0
    return {
        "delivered": len(delivered),
        "rate": rate,
        "fraction": rate / limit,
        "span": span,
        "floods_broadcast": floods,
        "floods_interactive": sum(1 for r in during if r["status"] == 429) - floods,
        "duplicates": sum(count - 1 for count in per_chat.values() if count > 1),
        "missing": sum(1 for chat in expected if per_chat[chat] == 0),
    }


async def naive_run(
    settings: Any, port: int, client: Any, world: dict[str, Any], scale: float, wall: float
) -> dict[str, Any]:
    """The same broadcast the naive way: PTB's AIORateLimiter and asyncio.gather."""
    from telegram.constants import ParseMode
    from telegram.ext import AIORateLimiter, ExtBot

    from bot.transport import AiohttpRequest

    chats = world["residents"] + world["groups"]
    limit = 30.0 * scale
    ask_seconds = 0.8 * len(chats) / (0.95 * limit)
    naive_bot = ExtBot(
        TOKEN,
        base_url=settings.telegram_api_base_url,
        request=AiohttpRequest(connection_pool_size=64),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
        rate_limiter=AIORateLimiter(
            overall_max_rate=30,
            overall_time_period=1 / scale,
            group_max_rate=20,
            group_time_period=60 / scale,
            max_retries=3,
        ),
    )
    async with naive_bot:
        driver = await start_driver(port, world["askers"], ask_seconds)
        since = time.time()
        text = "<b>Witte Voetjes</b> zaterdag [naive]"
        sends = asyncio.gather(
            *(naive_bot.send_message(c, text, parse_mode=ParseMode.HTML) for c in chats),
            return_exceptions=True,
        )
        # Bounded: what has not arrived after 4x the engine's time counts as missing.
        try:
            results = await asyncio.wait_for(sends, 4 * wall + 10)
        except TimeoutError:
            results = [TimeoutError()]
        until = time.time()
        naive_waits = await driver_result(driver)
    naive_row = await figures(client, "[naive]", chats, since, until, limit)
    naive_row |= {"wall": until - since, "reply_p95": percentile(naive_waits, 0.95)}
    naive_row["reply_p50"] = percentile(naive_waits, 0.5)
    naive_row["replies"] = len(naive_waits)
    naive_row["errors"] = sum(1 for r in results if isinstance(r, BaseException))
    return naive_row


async def run(
    residents: int, groups: int, scale: float, tmp: Path, quick: bool, out: str | None
) -> None:

    from bot.app import build_application, running
    from bot.delivery import Counts, Outgoing, Pacing, Recipient
    from bot.services import services_of
    from bot.settings import load_settings
    from sandbox.client import SandboxClient
    from storage import migrate
    from storage.engine import create_engine
    from storage.models import Broadcast, Delivery

    async with sandbox_process(__file__, "--scale", str(scale)) as port:
        database_url = f"sqlite+aiosqlite:///{tmp / 'broadcast.db'}"
        engine = create_engine(database_url)
        await migrate.upgrade(engine)
        await engine.dispose()
        settings = load_settings(
            {
                "DATABASE_URL": database_url,
                "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}/bot",
                # The founder of the groups and channels: the bot stays where they add it.
                "BUURTBOT_ADMINS": str(FOUNDER),
            }
        )
        limit = 30.0 * scale
        async with SandboxClient(f"http://127.0.0.1:{port}") as client:
            world = await populate(client, residents, groups)
            chats = world["residents"] + world["groups"]
            audience = [Recipient(uid, "user", "nl") for uid in world["residents"]] + [
                Recipient(gid, "group") for gid in world["groups"]
            ]
            ask_seconds = 0.8 * len(audience) / (0.95 * limit)
            application = build_application(settings, token=TOKEN)
            async with running(application, poll_timeout=10):
                services = services_of(application)
                delivery = services.delivery
                assert delivery is not None

                async def broadcast_id() -> int:
                    async with services.sessions() as session:
                        row = Broadcast(kind="witte_voetjes", author_id=FOUNDER)
                        session.add(row)
                        await session.commit()
                        assert row.id is not None
                        return row.id

                async def render(row: Delivery) -> Outgoing:
                    return Outgoing(text=f"<b>Witte Voetjes</b> zaterdag [bc{row.broadcast_id}]")

                finals: list[Counts] = []

                async def on_progress(_: int, counts: Counts) -> None:
                    if counts.pending == 0:
                        finals.append(counts)

                world["channels"] = await channels(client)
                # The bot first meets its new groups and channels (an introduction in each);
                # that is setup, not part of what is measured.
                # Quiet means: no update waiting and no message sent for two seconds.
                seen, quiet_since = -1, time.monotonic()
                for _ in range(600):
                    sent = len(await client.requests("sendMessage"))
                    if sent != seen or await client.pending_updates():
                        seen, quiet_since = sent, time.monotonic()
                    elif time.monotonic() - quiet_since >= 2.0:
                        break
                    await asyncio.sleep(0.1)
                services.render_delivery = render
                services.on_progress = on_progress
                # The engine post_init started, paced like the scaled limits.
                await delivery.stop()
                delivery.pacing = Pacing().scaled(scale)
                await delivery.start()

                # 1. buurtbot's delivery engine
                first = await broadcast_id()
                driver = await start_driver(port, world["askers"], ask_seconds)
                since = time.time()
                await delivery.enqueue(first, audience)
                await delivery.idle()
                wall = time.time() - since
                until = time.time()
                engine_waits = await driver_result(driver)
                engine_row = await figures(client, f"[bc{first}]", chats, since, until, limit)
                engine_row |= {"wall": wall, "reply_p95": percentile(engine_waits, 0.95)}
                engine_row["reply_p50"] = percentile(engine_waits, 0.5)
                engine_row["replies"] = len(engine_waits)
                await asyncio.sleep(2.0)  # per-chat and group buckets refill

                # 2. the naive way, beside the same interactive bot (not in --quick)
                naive_row = (
                    None if quick else await naive_run(settings, port, client, world, scale, wall)
                )

                # 3. the same audience following 11 wijk channels, at Telegram's real pace
                await delivery.stop()
                delivery.pacing = Pacing()
                await delivery.start()
                posts = await broadcast_id()
                since = time.time()
                await delivery.enqueue(posts, [Recipient(c, "channel") for c in world["channels"]])
                await delivery.idle()
                channel_seconds = time.time() - since
                channel_row = await figures(
                    client, f"[bc{posts}]", world["channels"], since, time.time(), 30.0
                )

    print(
        f"one broadcast to {residents} residents + {groups} groups = {len(chats)} chats; "
        f"sandbox limits {scale:g}x faster than Telegram's (global {limit:g}/s), SQLite, "
        f"{os.cpu_count()} CPUs; {ASKERS} residents ask /help every {ASK_EVERY * 1000:.0f} ms"
    )
    rows = [("buurtbot", engine_row)] + ([("naive", naive_row)] if naive_row else [])
    for name, row in rows:
        print(
            f"  {name:<9} {row['delivered']:>6} delivered in {row['wall']:6.2f}s   "
            f"rate {row['rate']:7.1f}/s = {row['fraction']:.3f} of the limit   "
            f"429s: broadcast {row['floods_broadcast']}, interactive {row['floods_interactive']}   "
            f"duplicates {row['duplicates']}   missing {row['missing']}   "
            f"/help reply p50 {row['reply_p50'] * 1000:.0f} ms p95 {row['reply_p95'] * 1000:.0f} ms "
            f"({row['replies']} replies)"
            + (f"   errors {row['errors']}" if "errors" in row else "")
        )
    print(
        f"  channels  {channel_row['delivered']} of {WIJKEN} wijk channels posted in "
        f"{channel_seconds:.2f}s at Telegram's real pace (target < 2 s), "
        f"429s {channel_row['floods_broadcast']}"
    )
    print(
        f"  targets: rate >= 0.95 of the limit, 0 429s, 0 duplicates, 0 missing, "
        f"/help p95 < 50 ms; engine final counts {finals[0] if finals else '-'}"
    )
    write_figures(
        out,
        {
            "fraction": engine_row["fraction"],
            "help_p95_ms": engine_row["reply_p95"] * 1000,
            "floods": engine_row["floods_broadcast"] + engine_row["floods_interactive"],
            "duplicates": engine_row["duplicates"],
            "missing": engine_row["missing"],
            "channel_s": channel_seconds,
        },
    )
    print(
        f"reproduce: .venv/bin/python bench/broadcast.py --residents {residents} "
        f"--groups {groups} --scale {scale:g}" + (" --quick" if quick else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument(
        "--scale", type=float, default=10.0, help="limits and pacing this many times faster (10)"
    )
    parser.add_argument("--quick", action="store_true", help="without the naive comparison")
    json_option(parser)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--askers", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        pin(0)
        asyncio.run(serve(args.port, args.scale))
    elif args.drive:
        pin(0)
        askers = [int(a) for a in args.askers.split(",")]
        print(json.dumps(asyncio.run(drive(args.port, askers, args.seconds))))
    else:
        if args.residents > 50_000 or args.groups > 5_000 or not 1 <= args.scale <= 100:
            parser.error("bounded: at most 50,000 residents, 5,000 groups, scale 1-100")
        pin(1)  # the bot alone on the second core; sandbox and driver share the first
        os.environ.setdefault("PTB_TIMEDELTA", "true")
        import logging

        logging.basicConfig(level=logging.WARNING)
        # The naive sender logs a traceback per message it gives up on; the figures count them.
        logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(
                run(args.residents, args.groups, args.scale, Path(tmp), args.quick, args.json)
            )


if __name__ == "__main__":
    main()
