"""/stats at city scale: 100,000 residents, 300 groups, 2,000 broadcasts, 1,000,000 reports.

Fills a database (a fresh SQLite file, or the PostgreSQL database named by --url, whose
public schema is DROPPED first), then measures in a separate process, as the bot runs it,
what /stats does for a week, a month and a year: the figures of the period and of the
period before (bot.stats.compare) and the text (bot.stats.render). The first call of a
period is reported apart ("cold": it counts and keeps finished broadcasts once); then
--runs calls give p50 and p95. The same process then draws the chart and reports its
peak resident memory (what the bot would need on top of PTB).

Baseline in the same run: the year's reports counted from the reports table itself, as
/stats would without the report_daily counters.

    .venv/bin/python bench/stats.py                                  # SQLite
    .venv/bin/python bench/stats.py --url postgresql://postgres@127.0.0.1:5432/test7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import percentile, timed  # noqa: E402 - needs ROOT on the path

CHUNK = 20_000
DAYS = 400  # more than a year back, so a year's figures have a year before them


def _services(url: str) -> Any:
    from bot.app import build_services
    from bot.settings import load_settings
    from storage.engine import create_engine, create_session_factory

    services = build_services(load_settings({"DATABASE_URL": url}))
    services.engine = create_engine(services.settings.database_url)
    services._sessions = create_session_factory(services.engine)
    return services


# ---------------------------------------------------------------- fill


async def fill(url: str, args: argparse.Namespace) -> dict[str, float]:
    from sqlalchemy import text

    from storage import migrate
    from storage import stats as store
    from storage.models import (
        ActionResult,
        Broadcast,
        Delivery,
        Group,
        MembershipDaily,
        MembershipEvent,
        Reply,
        Report,
        Team,
        User,
    )
    from storage.residents import membership_daily_rows

    services = _services(url)
    engine = services.engine
    if engine.dialect.name == "postgresql":
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    await migrate.upgrade(engine)
    rng = random.Random(7)
    now = datetime.now(UTC)
    wijken = [w.slug for w in services.areas.wijken]
    parks = services.areas.business_parks
    categories = list(services.categories.slugs)
    timings: dict[str, float] = {}

    async def add(model: Any, rows: list[dict[str, Any]]) -> None:
        async with services.sessions() as session:
            for start in range(0, len(rows), CHUNK):
                await store.add_rows(session=session, model=model, rows=rows[start : start + CHUNK])

    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    started = time.perf_counter()
    users, events = [], []
    for uid in range(1, args.residents + 1):
        wijk = rng.choice(wijken)
        joined = ago(rng.uniform(0, DAYS))
        left = rng.random() < 0.1
        users.append({"id": uid, "wijk": wijk, "subscribed": not left, "language": "nl",
                      "created_at": joined, "last_seen_at": joined, "joined_at": joined})  # fmt: skip
        events.append({"at": joined, "wijk": wijk, "kind": "joined"})
        if left:
            events.append({"at": joined + (now - joined) * rng.random(), "wijk": wijk, "kind": "left"})  # fmt: skip
    await add(User, users)
    await add(MembershipEvent, events)
    await add(MembershipDaily, membership_daily_rows(events, services.settings.tz))
    teams = [{"id": i + 1, "name": f"Team {i}", "wijk": rng.choice(wijken), "status": rng.choice(["approved"] * 4 + ["pending", "paused"]),
              "created_at": ago(DAYS), "last_activity_at": ago(rng.uniform(0, 200))} for i in range(50)]  # fmt: skip
    await add(Team, teams)
    await add(Group, [{"chat_id": -1_000_000 - i, "title": f"Buurtapp {i}", "wijk": rng.choice(wijken),
                       "status": rng.choice(["approved"] * 5 + ["pending", "paused", "inactive"]),
                       "created_at": ago(DAYS), "last_activity_at": ago(rng.uniform(0, 200))}
                      for i in range(args.groups)])  # fmt: skip
    timings["residents, teams, groups"] = time.perf_counter() - started

    started = time.perf_counter()
    kinds = ["witte_voetjes", "buurttent", "challenge", "nieuws"]
    broadcasts, deliveries, replies, results = [], [], [], []
    for bid in range(1, args.broadcasts + 1):
        at = ago(rng.uniform(0, DAYS))
        kind = rng.choice(kinds)
        broadcasts.append({"id": bid, "kind": kind, "status": "sent", "author_id": 900001, "fields": "{}",
                           "created_at": at, "started_at": at, "finished_at": at + timedelta(minutes=5)})  # fmt: skip
        audience = rng.sample(range(1, args.residents + 1), args.deliveries)
        for uid in audience:
            status = "sent" if rng.random() < 0.97 else rng.choice(["failed", "blocked", "gone"])
            deliveries.append({"broadcast_id": bid, "chat_id": uid, "recipient": "user", "status": status,
                               "attempts": 1, "sent_at": at})  # fmt: skip
        choice = {"witte_voetjes": "join", "buurttent": "come", "challenge": "team"}.get(kind)
        if choice:
            for uid in audience[: rng.randint(0, args.deliveries // 5)]:
                replies.append({"broadcast_id": bid, "user_id": uid, "choice": choice, "at": at})
        if kind == "witte_voetjes":
            results.append({"broadcast_id": bid, "team_id": rng.randint(1, 50), "homes": rng.randint(0, 60),
                            "recorded_by": 1, "at": at})  # fmt: skip
    await add(Broadcast, broadcasts)
    await add(Delivery, deliveries)
    await add(Reply, replies)
    await add(ActionResult, results)
    timings["broadcasts, deliveries, replies"] = time.perf_counter() - started

    started = time.perf_counter()
    daily: Counter[tuple[Any, str, str, str | None]] = Counter()
    tz = services.settings.tz
    for start in range(0, args.reports, CHUNK):
        rows = []
        for number in range(start, min(start + CHUNK, args.reports)):
            at = ago(rng.uniform(0, DAYS - 35))
            category = rng.choice(categories)
            if rng.random() < 0.3:
                park = rng.choice(parks)
                area, wijk = f"park:{park.slug}", park.wijk
            else:
                wijk = rng.choice(wijken)
                area = f"wijk:{wijk}"
            rows.append({"ref": f"MV-{number:09d}", "created_at": at, "occurred_at": at, "category": category,
                         "area": area, "wijk": wijk, "description": "", "anonymous": True, "status": "afgehandeld"})  # fmt: skip
            daily[(at.astimezone(tz).date(), area, category, wijk)] += 1
        await add(Report, rows)
    async with services.sessions() as session:
        counts = [
            (day, area, category, wijk, n) for (day, area, category, wijk), n in daily.items()
        ]
        for start in range(0, len(counts), CHUNK):
            await store.add_report_counts(session=session, counts=counts[start : start + CHUNK])
    timings["reports and report_daily"] = time.perf_counter() - started
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE"))
    else:
        async with engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
    await engine.dispose()
    return timings


# ---------------------------------------------------------------- measure (a subprocess)


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: ru_maxrss keeps the peak
    of the parent forked before exec (the filler, with a million reports in memory)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return round(int(line.split()[1]) / 1024, 1)


async def measure(url: str, runs: int) -> dict[str, Any]:
    from bot import stats
    from storage import stats as store

    services = _services(url)
    today = stats.today_in(services)
    periods = {
        "week": stats.period_of("week", today).previous(),
        "month": stats.period_of("month", today).previous(),
        "year": stats.period_of("year", today),
    }
    lang = services.translator.for_language("nl")
    figures: dict[str, Any] = {}
    shown: list[stats.Stats] = []  # the last figures computed, for the report below
    for name, period in periods.items():

        async def once(period: stats.Period = period) -> None:
            current, previous = await stats.compare(services, period)
            stats.render(services, stats.View(lang), current, previous, None)
            shown[:] = [current]

        await timed(figures, name, runs, once)
        current = shown[0]
        figures[f"{name} reports"] = current.of(None)["reports"]
    started = time.perf_counter()
    data, _caption = await stats.chart_data(services, lang, current, None)
    png = await stats.chart_png(data)
    figures["chart ms (first, imports matplotlib)"] = round((time.perf_counter() - started) * 1000)
    figures["chart bytes"] = len(png)
    figures["peak RSS MB (/stats and chart)"] = peak_rss_mb()
    start, end = periods["year"].bounds(services.settings.tz)
    times = []
    for _ in range(max(3, runs // 5)):
        started = time.perf_counter()
        async with services.sessions() as session:
            await store.reports_scanned(session=session, start=start, end=end)
        times.append((time.perf_counter() - started) * 1000)
    figures["baseline: year's reports from the reports table p50 ms"] = round(
        percentile(times, 0.5), 1
    )
    await services.engine.dispose()
    return figures


def city_parser(doc: str | None) -> argparse.ArgumentParser:
    """The city's size and the runs, shared with bench/miniapp.py (same fill)."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="postgresql://... (its public schema is dropped!)")
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=300)
    parser.add_argument("--broadcasts", type=int, default=2_000)
    parser.add_argument("--deliveries", type=int, default=100, help="recipients per broadcast")
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument(
        "--sqlite-file", help="keep the SQLite database here (default: a temp file)"
    )
    parser.add_argument("--no-fill", action="store_true", help="measure an earlier --sqlite-file")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    return parser


def fill_then_measure(args: argparse.Namespace, script: str) -> dict[str, Any]:
    """Fill (unless --no-fill), then run `script --measure` in a process of its own: its
    memory and its event loop are the bot's, not the filler's."""
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite+aiosqlite:///{args.sqlite_file or Path(tmp) / 'city.db'}"
        if not args.no_fill:
            started = time.perf_counter()
            timings = asyncio.run(fill(url, args))
            spent = {k: round(v, 1) for k, v in timings.items()}
            print(f"filled in {time.perf_counter() - started:.0f} s:", spent)
        out = subprocess.run(
            [sys.executable, script, "--measure", "--url", url, "--runs", str(args.runs)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def describe(args: argparse.Namespace, what: str) -> str:
    backend = "PostgreSQL" if args.url else "SQLite"
    return (f"{what} on {backend}: {args.residents:,} residents, {args.groups} groups, "
            f"{args.broadcasts:,} broadcasts x {args.deliveries} recipients, {args.reports:,} reports")  # fmt: skip


def run(
    doc: str | None,
    script: str,
    what: str,
    measure: Callable[[str, int], Coroutine[Any, Any, dict[str, Any]]],
) -> None:
    """A city-scale bench's command line: fill, measure apart, print."""
    args = city_parser(doc).parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.url, args.runs))))
        return
    figures = fill_then_measure(args, script)
    print(describe(args, what))
    for key, value in figures.items():
        print(f"  {key}: {value}")


def main() -> None:
    run(__doc__, __file__, "/stats", measure)


if __name__ == "__main__":
    main()
