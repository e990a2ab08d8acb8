"""Meld een Vermoeden under load: 500 reporters filing at once, and the digest and hotspot
queries over 1,000,000 stored reports.

Part 1 runs three processes as bench/residents_join.py does: the sandbox (limits off) and
the driver that plays the reporters share one core, the bot under test (this process)
has the other. Every reporter files one complete report by the same buttons a person
taps (/melding, which answers with the 112 card and the first question, what, where,
when, a typed description, no photo, anonymous or not, send). Per step it reports the bot's own service time (update received until handled)
and the end-to-end time the reporter sees; with 500 at once the end-to-end time is
mostly the queue. A second run has the same reporters start at once but act as people
do, each step after a pause of `--think` x 0.5-1.5 seconds; a third, paced run shows the
latency at a steady arrival rate.

Part 2 fills a database with 1,000,000 reports over a year (14 areas, 7 categories,
with their report_daily counters) and times the daily digest (city-wide and one wijk)
and the hotspot check, beside the same digest computed from the reports table itself.

    .venv/bin/python bench/reports.py [--reporters 500] [--rate 20 --paced 200]
                                      [--stored 1000000] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
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
FIRST_ID = 300000
CATEGORIES = ["persoon", "voertuig", "inbraak", "drugs", "overlast", "ondermijning", "anders"]
AREAS = [
    ("park:hoogeind", None), ("park:bzob", "brouwhuis"), ("park:groot-schooten", None),
    ("wijk:binnenstad", "binnenstad"), ("wijk:brandevoort", "brandevoort"),
    ("wijk:brouwhuis", "brouwhuis"), ("wijk:dierdonk", "dierdonk"),
    ("wijk:helmond-noord", "helmond-noord"), ("wijk:helmond-oost", "helmond-oost"),
    ("wijk:helmond-west", "helmond-west"), ("wijk:mierlo-hout", "mierlo-hout"),
    ("wijk:rijpelberg", "rijpelberg"), ("wijk:stiphout", "stiphout"), ("wijk:warande", "warande"),
]  # fmt: skip
STEPS = ["melding", "what", "where", "when", "describe", "photos", "anonymous", "send"]
ACTION_STEPS = {
    "mvc": "what", "mva": "where", "mvw": "when", "mvp": "photos", "mvn": "anonymous",
    "mvx": "send",
}  # fmt: skip


# ---------------------------------------------------------------- driver (a subprocess)


async def drive(port: int, reporters: int, rate: float, think: float) -> dict[str, Any]:
    import aiohttp

    from sandbox.client import SandboxClient

    latencies: dict[str, list[float]] = defaultdict(list)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    async with session, SandboxClient(f"http://127.0.0.1:{port}", session) as client:
        gate = asyncio.Semaphore(200)

        async def create(i: int) -> int:
            async with gate:
                user = await client.create_user(
                    f"Ondernemer {i}", user_id=FIRST_ID + i, language_code="nl"
                )
                return int(user["id"])

        ids = await asyncio.gather(*(create(i) for i in range(reporters)))

        async def file(index: int, uid: int) -> None:
            # A person reads, thinks and taps: with `think`, each step waits a pause drawn
            # round it (0.5x to 1.5x) before it is sent; the pause is not in the timings.
            rng = random.Random(index)

            async def pause() -> None:
                if think > 0:
                    await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))

            area = AREAS[index % len(AREAS)][0].split(":")
            taps = [
                ("what", f"r1:mvc:{CATEGORIES[index % len(CATEGORIES)]}"),
                ("where", f"r1:mva:{area[0]}:{area[1]}"),
                ("when", "r1:mvw:now"),
            ]
            await pause()
            started = time.perf_counter()
            sent = await client.send(uid, "/melding")
            # The 112 card to tap and call, then the first question.
            _card, first = await client.wait_bot_messages(
                uid, 2, after=sent["message_id"], timeout=300
            )
            latencies["melding"].append(time.perf_counter() - started)
            for number, (step, data) in enumerate(taps, start=1):
                await pause()
                started = time.perf_counter()
                await client.press(uid, uid, first["message_id"], data)
                await client.wait_edited(uid, first["message_id"], edits=number, timeout=300)
                latencies[step].append(time.perf_counter() - started)
            await pause()
            started = time.perf_counter()
            sent = await client.send(uid, "Bestelbus rijdt steeds rondjes langs de loodsen.")
            second = await client.wait_bot_message(uid, after=sent["message_id"], timeout=300)
            latencies["describe"].append(time.perf_counter() - started)
            anonymous = "yes" if index % 2 else "no"
            for number, (step, data) in enumerate(
                [
                    ("photos", "r1:mvp:done"),
                    ("anonymous", f"r1:mvn:{anonymous}"),
                    ("send", "r1:mvx:send"),
                ],
                start=1,
            ):
                await pause()
                started = time.perf_counter()
                await client.press(uid, uid, second["message_id"], data)
                done = await client.wait_edited(
                    uid, second["message_id"], edits=number, timeout=300
                )
                latencies[step].append(time.perf_counter() - started)
            if "MV-" not in done["text"]:
                raise RuntimeError(f"no reference number: {done['text'][:80]}")

        elapsed, errors = await arrive(
            reporters, rate, lambda index: file(index, ids[index]), "reporter"
        )
    return {"elapsed": elapsed, "latencies": latencies, "errors": errors}


# ---------------------------------------------------------------- the bot under test


def step_of(update: Any) -> str | None:
    if update.callback_query is not None:
        parts = (update.callback_query.data or "").split(":")
        return ACTION_STEPS.get(parts[1]) if len(parts) > 1 else None
    message = update.effective_message
    if message is not None and message.text:
        return "melding" if message.text.startswith("/melding") else "describe"
    return None


async def measure(reporters: int, tmp: Path, rate: float, think: float = 0.0) -> dict[str, Any]:
    from bot.app import build_application, running
    from bot.settings import load_settings
    from storage import migrate
    from storage import roles as role_store
    from storage.engine import create_engine, create_session_factory

    async with sandbox_process(__file__, quiet=True) as port:
        database_url = f"sqlite+aiosqlite:///{tmp / f'reports-{reporters}-{rate:g}-{think:g}.db'}"
        engine = create_engine(database_url)
        await migrate.upgrade(engine)
        sessions = create_session_factory(engine)
        async with sessions() as session:
            for i in range(reporters):
                park = AREAS[i % 3][0]
                await role_store.grant(
                    session=session,
                    user_id=FIRST_ID + i,
                    role="entrepreneur",
                    scope=park,
                    name=f"Ondernemer {i}",
                    by=None,
                )
        await engine.dispose()
        settings = load_settings(
            {
                "DATABASE_URL": database_url,
                "TELEGRAM_API_BASE_URL": f"http://127.0.0.1:{port}/bot",
                "BUURTBOT_SECRET": "bench-" + "s" * 40,
            }
        )
        application = build_application(settings, token=TOKEN)
        service: dict[str, list[float]] = defaultdict(list)
        process = application.process_update

        async def timed_process(update: Any) -> None:
            started = time.perf_counter()
            await process(update)
            step = step_of(update)
            if step is not None:
                service[step].append(time.perf_counter() - started)

        application.process_update = timed_process  # type: ignore[method-assign]
        async with running(application, poll_timeout=10):
            cpu_before = time.process_time()
            driver = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--drive", "--port", str(port),
                "--reporters", str(reporters), "--rate", str(rate), "--think", str(think),
                cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await driver.communicate()
            cpu = time.process_time() - cpu_before
        result = json.loads(out.decode().strip().splitlines()[-1])
    updates = sum(len(values) for values in service.values())
    return {
        "elapsed": result["elapsed"],
        "errors": result["errors"],
        "e2e": result["latencies"],
        "service": service,
        "updates": updates,
        "cpu_ms_per_update": cpu / max(1, updates) * 1000,
    }


def print_steps(title: str, row: dict[str, Any]) -> float:
    """Prints the steps' figures; returns the slowest step's end-to-end p95 in ms."""
    print(title)
    print(
        f"  {row['updates']} updates in {row['elapsed']:.2f} s "
        f"({row['updates'] / row['elapsed']:.0f}/s), bot CPU {row['cpu_ms_per_update']:.2f} ms "
        f"per update, errors {row['errors']}"
    )
    worst = slowest = 0.0
    for step in STEPS:
        e2e, own = row["e2e"].get(step, []), row["service"].get(step, [])
        worst = max(worst, percentile(own, 0.95) * 1000)
        slowest = max(slowest, percentile(e2e, 0.95) * 1000)
        print(
            f"  {step:<10} bot service p50 {percentile(own, 0.5) * 1000:6.1f} ms "
            f"p95 {percentile(own, 0.95) * 1000:6.1f} ms   end-to-end p50 "
            f"{percentile(e2e, 0.5) * 1000:7.1f} ms p95 {percentile(e2e, 0.95) * 1000:7.1f} ms"
        )
    print(f"  worst step: bot service p95 {worst:.1f} ms (target < 50 ms)")
    return slowest


# ---------------------------------------------------------------- 1,000,000 stored reports


async def fill(database_url: str, stored: int, today: date) -> float:
    from sqlalchemy import insert, text

    from storage import migrate
    from storage.engine import create_engine
    from storage.models import Report, ReportDaily

    engine = create_engine(database_url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    await migrate.upgrade(engine)
    started = time.perf_counter()
    rng = random.Random(6)
    counts: dict[tuple[date, str, str], int] = defaultdict(int)
    wijk_of = dict(AREAS)
    chunk = 20_000
    end = datetime.combine(today, datetime.min.time()).astimezone()
    for offset in range(0, stored, chunk):
        rows = []
        for number in range(offset, min(stored, offset + chunk)):
            created = end - timedelta(seconds=rng.randrange(365 * 86400))
            area, _ = AREAS[rng.randrange(len(AREAS))]
            category = CATEGORIES[rng.randrange(len(CATEGORIES))]
            counts[(created.date(), area, category)] += 1
            rows.append(
                {
                    "ref": f"MV-{created.year}-{number + 1:07d}",
                    "created_at": created,
                    "occurred_at": created,
                    "category": category,
                    "area": area,
                    "wijk": wijk_of[area],
                    "description": "Bestelbus rijdt steeds rondjes langs de loodsen.",
                    "anonymous": bool(number % 2),
                    "reporter_id": None if number % 2 else FIRST_ID + number % 500,
                    "status": "received",
                    "photos": "",
                }
            )
        async with engine.begin() as connection:
            await connection.execute(insert(Report), rows)
    daily = [
        {"day": day, "area": area, "category": category, "wijk": wijk_of[area], "count": count}
        for (day, area, category), count in counts.items()
    ]
    async with engine.begin() as connection:
        for offset in range(0, len(daily), chunk):
            await connection.execute(insert(ReportDaily), daily[offset : offset + chunk])
        # Fresh statistics, as a database that has grown over a year would have.
        await connection.execute(text("ANALYZE"))
    await engine.dispose()
    return time.perf_counter() - started


async def time_queries(database_url: str, today: date, runs: int) -> dict[str, list[float]]:
    from sqlalchemy import case, func
    from sqlmodel import col, select

    from storage import reports as store
    from storage.engine import create_engine, create_session_factory
    from storage.models import Report

    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    timings: dict[str, list[float]] = defaultdict(list)
    rng = random.Random(7)
    first, split, last = today - timedelta(days=14), today - timedelta(days=7), today
    start = datetime.combine(first, datetime.min.time()).astimezone()
    middle = datetime.combine(split, datetime.min.time()).astimezone()
    stop = datetime.combine(last, datetime.min.time()).astimezone()
    for _ in range(runs):
        async with sessions() as session:
            began = time.perf_counter()
            rows = await store.digest_counts(
                session=session, first=first, split=split, last=last - timedelta(days=1)
            )
            timings["digest, city-wide (report_daily)"].append(time.perf_counter() - began)
            assert rows
            began = time.perf_counter()
            await store.digest_counts(
                session=session,
                first=first,
                split=split,
                last=last - timedelta(days=1),
                wijk="brouwhuis",
            )
            timings["digest, one wijk (report_daily)"].append(time.perf_counter() - began)
            area, _ = AREAS[rng.randrange(len(AREAS))]
            began = time.perf_counter()
            await store.recent_count(
                session=session,
                category=CATEGORIES[rng.randrange(len(CATEGORIES))],
                area=area,
                since=stop - timedelta(hours=24),
                up_to_id=2**31 - 1,  # up to the newest, as for a report just filed
            )
            timings["hotspot check (24 h, one category and area)"].append(
                time.perf_counter() - began
            )
    # The baseline: the same digest straight from the reports table.
    for _ in range(max(3, runs // 10)):
        async with sessions() as session:
            created = col(Report.created_at)
            began = time.perf_counter()
            result = await session.exec(
                select(
                    Report.area,
                    Report.category,
                    func.sum(case((created >= middle, 1), else_=0)),
                    func.sum(case((created < middle, 1), else_=0)),
                )
                .where(created >= start, created < stop)
                .group_by(col(Report.area), col(Report.category))
            )
            result.all()
            timings["baseline: the digest from the reports table"].append(
                time.perf_counter() - began
            )
    await engine.dispose()
    return timings


async def queries(stored: int, runs: int, database_url: str | None, tmp: Path) -> float:
    """Prints the queries' figures; returns the city-wide digest's p95 in ms."""
    from bot.settings import load_settings

    url = load_settings(
        {"DATABASE_URL": database_url or f"sqlite+aiosqlite:///{tmp / 'million.db'}"}
    ).database_url
    today = date.today()
    filled = await fill(url, stored, today)
    backend = url.split(":", 1)[0]
    print(f"{stored:,} reports stored in {backend} in {filled:.0f} s; {runs} runs each")
    timings = await time_queries(url, today, runs)
    for name, values in timings.items():
        print(
            f"  {name:<46} p50 {percentile(values, 0.5) * 1000:8.2f} ms   "
            f"p95 {percentile(values, 0.95) * 1000:8.2f} ms"
        )
    digest = timings["digest, city-wide (report_daily)"]
    baseline = timings["baseline: the digest from the reports table"]
    faster = percentile(baseline, 0.5) / percentile(digest, 0.5)
    print(
        f"  digest p95 {percentile(digest, 0.95) * 1000:.1f} ms (target < 300 ms); "
        f"{faster:.0f}x faster than the baseline (p50)"
    )
    return percentile(digest, 0.95) * 1000


async def main(args: argparse.Namespace) -> None:
    pin(1)  # the bot alone on the second core; sandbox and driver share the first
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    import logging

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        if args.reporters:
            burst = await measure(args.reporters, Path(tmp), 0.0)
            print_steps(f"{args.reporters} reporters filing at once (SQLite, limits off)", burst)
        if args.reporters and args.think:
            people = await measure(args.reporters, Path(tmp), 0.0, args.think)
            print_steps(
                f"{args.reporters} reporters filing at once as people do: each step after a "
                f"pause of {args.think * 0.5:g}-{args.think * 1.5:g} s (SQLite, limits off)",
                people,
            )
        figures: dict[str, float] = {}
        if args.paced:
            paced = await measure(args.paced, Path(tmp), args.rate)
            figures["paced_worst_p95_ms"] = print_steps(
                f"{args.paced} reporters arriving at {args.rate:g}/s", paced
            )
            figures["errors"] = paced["errors"]
        if args.stored:
            figures["digest_p95_ms"] = await queries(
                args.stored, args.runs, args.database_url, Path(tmp)
            )
    write_figures(args.json, figures)
    print(
        f"reproduce: .venv/bin/python bench/reports.py --reporters {args.reporters} "
        f"--think {args.think:g} --rate {args.rate:g} --paced {args.paced} --stored {args.stored}"
        + (" --database-url ..." if args.database_url else "")
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reporters", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="arrivals/s, paced run (20)")
    parser.add_argument(
        "--think",
        type=float,
        default=6.0,
        help="seconds a person takes per step, for a run of all reporters at once with "
        "human pauses (6; 0 skips)",
    )
    parser.add_argument("--paced", type=int, default=200, help="reporters, paced run (0 skips)")
    parser.add_argument("--stored", type=int, default=1_000_000, help="reports for part 2")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per query")
    parser.add_argument("--database-url", help="PostgreSQL for part 2 (its schema is wiped!)")
    json_option(parser)
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_unlimited(TOKEN, args.port)
    elif args.drive:
        pin(0)
        print(json.dumps(asyncio.run(drive(args.port, args.reporters, args.rate, args.think))))
    else:
        asyncio.run(main(args))
