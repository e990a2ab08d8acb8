"""How the cost grows (issue 14, part 3): the same figures at 1x and 10x the data.

* Residents (SQLite, and PostgreSQL with --url), 100,000 and 1,000,000 (--quick: 5,000
  and 50,000), filled by bench/stats.py's filler (300 groups, 2,000 past broadcasts of
  100 recipients each, a fixed number of reports). Measured as the bot runs it:
  /stats week and year (bot.stats.compare + render, bench/stats.py's measure), who gets a
  broadcast to every wijk (bot.broadcasts.recipients), queueing them (the delivery
  engine's enqueue), the outbox claim of one window of rows (storage.outbox.claim as
  bot.delivery calls it) at the start of that broadcast and once half of it is sent, and
  the peak memory of the process that did all of it.
* Reports (PostgreSQL only, --url), 1,000,000 and 10,000,000 (--quick: 100,000 and
  1,000,000), added with server-side generate_series inserts and counted into
  report_daily in SQL: /stats week and year, and as a baseline the year's reports counted
  from the reports table itself (what /stats would do without the counters).

Every figure is the median of --runs (3) measuring processes, with min and max; the last
column is the figure at 10x over the figure at 1x (the machine is shared, so the ratio
within one run says more than either figure).

    .venv/bin/python bench/growth.py --quick                            # SQLite only
    .venv/bin/python bench/growth.py --url postgresql://postgres@127.0.0.1:5432/test_growth \\
        --json growth.json                                              # PG schema DROPPED
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import stats as stats_bench  # noqa: E402 - needs ROOT on the path

# A broadcast id far above the filler's 2,000, so the measured audience is the newest.
BENCH_BROADCAST = 10_000_000
CLAIMS = 5  # claims timed per point of the queue; the median is the run's figure
STATS_CALLS = 3  # warm /stats calls per period after the first (bench/stats.py's --runs)
CHUNK = 1_000_000  # reports per server-side INSERT ... SELECT

SIZES = {
    "full": {"residents": (100_000, 1_000_000), "reports": (1_000_000, 10_000_000),
             "fixed reports": 100_000, "fixed residents": 100_000},
    # For `make bench`: the fills are most of the time, so the residents are half the issue's.
    "quick": {"residents": (5_000, 50_000), "reports": (100_000, 1_000_000),
              "fixed reports": 10_000, "fixed residents": 10_000},
}  # fmt: skip

# (key in the measuring process's figures, what the table calls it, which section)
RESIDENT_FIGURES = [
    ("week p50 ms", "/stats week, ms (warm)"),
    ("year p50 ms", "/stats year, ms (warm)"),
    ("year cold ms", "/stats year, ms (first call)"),
    ("recipients ms", "broadcast to all: who gets it, ms"),
    ("enqueue ms", "broadcast to all: enqueue, ms"),
    ("enqueue us per recipient", "enqueue, µs per recipient"),
    ("claim first ms", "outbox claim of 32, queue start, ms"),
    ("claim half ms", "outbox claim of 32, half sent, ms"),
    ("peak RSS MB (/stats and chart)", "memory after /stats + chart, MB"),
    ("peak RSS MB", "memory after /stats + enqueue, MB"),
]
REPORT_FIGURES = [
    ("week p50 ms", "/stats week, ms (warm)"),
    ("year p50 ms", "/stats year, ms (warm)"),
    ("year cold ms", "/stats year, ms (first call)"),
    (
        "baseline: year's reports from the reports table p50 ms",
        "baseline: count the year's reports, ms",
    ),
    ("peak RSS MB (/stats and chart)", "memory after /stats + chart, MB"),
]


def filler_args(residents: int, reports: int) -> argparse.Namespace:
    """bench/stats.py's city, at this size."""
    return argparse.Namespace(
        residents=residents, groups=300, broadcasts=2_000, deliveries=100, reports=reports
    )


# ---------------------------------------------------------------- fill: reports in SQL


async def add_reports(url: str, first: int, count: int) -> None:
    """Reports first+1 .. first+count, made by PostgreSQL itself, and their report_daily
    counts, so ten million take minutes; then VACUUM ANALYZE as bench/stats.py does."""
    from sqlalchemy import text

    services = stats_bench._services(url)
    areas = [f"wijk:{w.slug}" for w in services.areas.wijken]
    wijken = [w.slug for w in services.areas.wijken]
    for park in services.areas.business_parks:
        areas.append(f"park:{park.slug}")
        wijken.append(park.wijk)
    values = {"areas": areas, "wijken": wijken, "categories": list(services.categories.slugs),
              "days": stats_bench.DAYS - 35, "tz": services.settings.tz.key}  # fmt: skip
    insert = text(
        """
        INSERT INTO reports (ref, created_at, occurred_at, category, area, wijk, description,
                             anonymous, status, photos)
        SELECT 'MV-G-' || lpad(g.i::text, 10, '0'), r.at, r.at,
               (CAST(:categories AS text[]))[1 + floor(random() * cardinality(CAST(:categories AS text[])))::int],
               (CAST(:areas AS text[]))[r.a], (CAST(:wijken AS text[]))[r.a], '', true, 'afgehandeld', ''
        FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g(i)
        CROSS JOIN LATERAL (
            SELECT date_trunc('hour', now() - random() * :days * interval '1 day') AS at,
                   1 + floor(random() * cardinality(CAST(:areas AS text[])))::int AS a,
                   g.i AS keep  -- refers to g: one draw per row, not one for all rows
        ) AS r
        """
    )  # fmt: skip
    # The counts of the new rows only, added onto those already there (bot.reports does
    # one such upsert per report; the local day is the city's).
    count_new = text(
        """
        INSERT INTO report_daily (day, area, category, wijk, count)
        SELECT (created_at AT TIME ZONE :tz)::date, area, category, wijk, count(*)
        FROM reports WHERE id > :after GROUP BY 1, 2, 3, 4
        ON CONFLICT (day, area, category) DO UPDATE SET count = report_daily.count + excluded.count
        """
    )  # fmt: skip
    async with services.engine.begin() as connection:
        after = (await connection.execute(text("SELECT coalesce(max(id), 0) FROM reports"))).one()[0]  # fmt: skip
    for lo in range(first + 1, first + count + 1, CHUNK):
        hi = min(lo + CHUNK - 1, first + count)
        async with services.engine.begin() as connection:
            await connection.execute(insert, {**values, "lo": lo, "hi": hi})
    async with services.engine.begin() as connection:
        await connection.execute(count_new, {"after": after, "tz": values["tz"]})
    async with services.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE"))
    await services.engine.dispose()


async def add_residents(url: str, first: int, count: int) -> None:
    """Residents first+1 .. first+count on PostgreSQL, made by the server as bench/stats.py's
    filler makes them in Python (joined over DAYS days, 10% left again, one membership
    event each), so a million take a minute instead of a quarter of an hour."""
    from sqlalchemy import text

    services = stats_bench._services(url)
    grow = text(
        """
        WITH new AS MATERIALIZED (
            SELECT g.i AS id, (CAST(:wijken AS text[]))[1 + floor(random() * cardinality(CAST(:wijken AS text[])))::int] AS wijk,
                   now() - random() * :days * interval '1 day' AS joined,
                   random() < 0.1 AS gone, random() AS later
            FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g(i)
        ), added AS (
            INSERT INTO users (id, wijk, subscribed, language, active, kinds, follows_channel,
                               created_at, last_seen_at, joined_at)
            SELECT id, wijk, NOT gone, 'nl', true, :kinds, false, joined, joined, joined FROM new
        )
        INSERT INTO membership_events (at, wijk, kind)
        SELECT joined, wijk, 'joined' FROM new
        UNION ALL
        SELECT joined + (now() - joined) * later, wijk, 'left' FROM new WHERE gone
        """
    )  # fmt: skip
    from storage.models import User

    kinds = User.model_fields["kinds"].default
    wijken = [w.slug for w in services.areas.wijken]
    for lo in range(first + 1, first + count + 1, CHUNK):
        hi = min(lo + CHUNK - 1, first + count)
        async with services.engine.begin() as connection:
            await connection.execute(grow, {"wijken": wijken, "days": stats_bench.DAYS,
                                            "kinds": kinds, "lo": lo, "hi": hi})  # fmt: skip
    # The day counters the bot keeps with each join and leave, counted here by the server
    # over all events at once, each under the city's local day.
    count_days = text(
        """
        INSERT INTO membership_daily (day, wijk, kind, count)
        SELECT CAST(at AT TIME ZONE :tz AS date), wijk, kind, count(*) FROM membership_events
        GROUP BY 1, 2, 3
        ON CONFLICT (day, wijk, kind) DO UPDATE SET count = EXCLUDED.count
        """
    )
    async with services.engine.begin() as connection:
        await connection.execute(count_days, {"tz": services.settings.timezone})
    async with services.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE"))
    await services.engine.dispose()


# ---------------------------------------------------------------- measure (a subprocess)


async def broadcast_to_all(url: str) -> dict[str, Any]:
    """A broadcast to every wijk, as bot.broadcasts.start_sending queues it, and the claims
    of the delivery engine on it; the rows are removed after, so every run starts equal."""
    import telegram
    from sqlalchemy import text

    from bot import broadcasts
    from bot.delivery import DeliveryEngine, Outgoing, Pacing, Recipient, make_claimer
    from storage import broadcasts as broadcast_store
    from storage import outbox
    from storage import stats as store
    from storage.models import Broadcast, Delivery, utcnow

    services = stats_bench._services(url)
    now = datetime.now(UTC)
    async with services.sessions() as session:
        await store.add_rows(session=session, model=Broadcast, rows=[
            {"id": BENCH_BROADCAST, "kind": "nieuws", "status": "sending", "author_id": 900001,
             "created_at": now, "started_at": now, "fields": "{}"}])  # fmt: skip

    async def never(_: Delivery) -> Outgoing:  # the engine is not started: nothing is sent
        raise AssertionError("not sending")

    # Never started and never connecting: only its enqueue runs, as start_sending calls it.
    engine = DeliveryEngine(bot=telegram.Bot("1:bench"), sessions=services.sessions, render=never)
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    chats, residents = await broadcasts.recipients(
        services, broadcasts.Audience(everyone=True), "nieuws"
    )
    figures["recipients ms"] = round((time.perf_counter() - started) * 1000, 1)
    started = time.perf_counter()
    queued = [Recipient(r.chat_id, r.kind, r.language, r.not_before) for r in chats]
    chosen = broadcast_store.resident_selects(residents)
    figures["queued"] = await engine.enqueue(BENCH_BROADCAST, queued, chosen=chosen)
    elapsed = time.perf_counter() - started
    figures["enqueue ms"] = round(elapsed * 1000, 1)
    figures["enqueue us per recipient"] = round(elapsed * 1e6 / max(1, figures["queued"]), 2)
    del chats, queued

    async def claims() -> float:
        times = []
        for _ in range(CLAIMS):
            started = time.perf_counter()
            async with services.sessions() as session:
                rows = await outbox.claim(session=session, limit=Pacing().window,
                                          claimer=make_claimer(), expires_at=utcnow() + timedelta(seconds=15))  # fmt: skip
            times.append((time.perf_counter() - started) * 1000)
            assert len(rows) == Pacing().window, "the queue ran dry"
        return round(statistics.median(times), 2)

    figures["claim first ms"] = await claims()
    # Half the audience sent, as halfway through the broadcast.
    half = figures["queued"] // 2
    async with services.engine.begin() as connection:
        await connection.execute(
            text("UPDATE deliveries SET status = :sent WHERE id IN (SELECT id FROM deliveries "
                 "WHERE broadcast_id = :b AND status = :queued ORDER BY id LIMIT :n)"),
            {"sent": "sent", "queued": "queued", "b": BENCH_BROADCAST, "n": half},
        )  # fmt: skip
    figures["claim half ms"] = await claims()
    figures["peak RSS MB"] = stats_bench.peak_rss_mb()
    async with services.engine.begin() as connection:
        await connection.execute(text("DELETE FROM deliveries WHERE broadcast_id = :b"), {"b": BENCH_BROADCAST})  # fmt: skip
        await connection.execute(text("DELETE FROM broadcasts WHERE id = :b"), {"b": BENCH_BROADCAST})  # fmt: skip
    if services.engine.dialect.name == "postgresql":
        async with services.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE deliveries"))
    await services.engine.dispose()
    return figures


async def measure(url: str, section: str) -> dict[str, Any]:
    figures = await stats_bench.measure(url, STATS_CALLS)
    if section == "residents":
        figures.update(await broadcast_to_all(url))
    return figures


def measured(url: str, section: str, runs: int) -> list[dict[str, Any]]:
    """`runs` measuring processes of their own: their memory is the bot's, not the filler's."""
    found = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--measure", section, "--url", url],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        found.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return found


# ---------------------------------------------------------------- table


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def shape(growth: float) -> str:
    """A first reading of 10x the data; the README says why, row by row."""
    if growth < 1.5:
        return "flat"
    if growth < 4:
        return "sub-linear"
    return "linear"


def rows_of(
    section: str, backend: str, sizes: tuple[int, int], runs: tuple[list[dict[str, Any]], ...]
) -> list[dict[str, Any]]:
    figures = RESIDENT_FIGURES if section == "residents" else REPORT_FIGURES
    rows = []
    for key, what in figures:
        small, large = (spread([float(run[key]) for run in at]) for at in runs)
        growth = large["median"] / small["median"] if small["median"] else float("nan")
        rows.append({"key": f"{backend}/{section}/{key}", "what": what, "backend": backend,
                     "section": section, "sizes": list(sizes), "small": small, "large": large,
                     "growth": round(growth, 2), "shape": shape(growth)})  # fmt: skip
    return rows


def cell(figure: dict[str, float]) -> str:
    return f"{figure['median']:g} ({figure['min']:g}–{figure['max']:g})"


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| what | on | at 1× | at 10× | 10× / 1× | reads as |", "|---|---|---|---|---|---|"]
    for row in rows:
        small, large = row["sizes"]
        noun = "residents" if row["section"] == "residents" else "reports"
        lines.append(
            f"| {row['what']} | {row['backend']} | {cell(row['small'])} at {small:,} {noun} | "
            f"{cell(row['large'])} at {large:,} | {row['growth']:.2f} | {row['shape']} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- main


SECTIONS = ("sqlite", "postgresql", "reports")


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = SIZES["quick" if args.quick else "full"]
    backends = [("SQLite", None)] if "sqlite" in args.sections else []
    if args.url and "postgresql" in args.sections:
        backends.append(("PostgreSQL", args.url))
    rows: list[dict[str, Any]] = []
    fills: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend, given in backends:
            runs = []
            have = 0
            for residents in sizes["residents"]:
                url = given or f"sqlite+aiosqlite:///{Path(tmp) / f'growth-{residents}.db'}"
                started = time.perf_counter()
                if given and have:
                    # PostgreSQL grows the same city in place: the same history, more residents.
                    asyncio.run(add_residents(url, have, residents - have))
                else:
                    asyncio.run(stats_bench.fill(url, filler_args(residents, sizes["fixed reports"])))  # fmt: skip
                have = residents
                fills[f"{backend} {residents:,} residents s"] = round(time.perf_counter() - started)
                runs.append(measured(url, "residents", args.runs))
                print(f"{backend}, {residents:,} residents: measured", flush=True)
                if given is None:
                    Path(url.split("///", 1)[1]).unlink()  # a million residents take disk
            rows += rows_of("residents", backend, sizes["residents"], tuple(runs))
    if args.url and "reports" in args.sections:
        runs = []
        asyncio.run(stats_bench.fill(args.url, filler_args(sizes["fixed residents"], 0)))
        have = 0
        for reports in sizes["reports"]:
            started = time.perf_counter()
            asyncio.run(add_reports(args.url, have, reports - have))
            fills[f"PostgreSQL {reports:,} reports s"] = round(time.perf_counter() - started)
            have = reports
            runs.append(measured(args.url, "reports", args.runs))
            print(f"PostgreSQL, {reports:,} reports: measured", flush=True)
        rows += rows_of("reports", "PostgreSQL", sizes["reports"], tuple(runs))
    return {"rows": rows, "fill seconds": fills}


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                         capture_output=True, text=True, check=False)  # fmt: skip
    return out.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="postgresql://... (its public schema is dropped!)")
    parser.add_argument("--quick", action="store_true", help="5k/50k residents, 100k/1M reports")
    parser.add_argument("--runs", type=int, default=3, help="measuring processes per size")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS),
        type=lambda given: [part for part in given.split(",") if part in SECTIONS],
        help="residents on sqlite, on postgresql, reports (on postgresql); default all",
    )  # fmt: skip
    parser.add_argument(
        "--combine", type=Path, nargs="+", metavar="JSON",
        help="print one table of the rows of earlier --json files (and --json them together)",
    )  # fmt: skip
    parser.add_argument("--measure", choices=["residents", "reports"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.url, args.measure))))
        return
    if args.combine:
        parts = [json.loads(path.read_text()) for path in args.combine]
        result = {
            "rows": [row for part in parts for row in part["rows"]],
            "fill seconds": {k: v for part in parts for k, v in part["fill seconds"].items()},
            "parts": [{k: v for k, v in part.items() if k not in ("rows", "fill seconds")}
                      for part in parts],
        }  # fmt: skip
        for part in result["parts"]:
            print(
                f"{part['command']}: {part['date']}, commit {part['commit']}, {part['seconds']} s"
            )
    else:
        started = time.perf_counter()
        result = run(args)
        result.update(
            command=" ".join(["bench/growth.py", *sys.argv[1:]]),
            date=datetime.now(UTC).strftime("%Y-%m-%d"),
            commit=commit(),
            quick=args.quick,
            runs=args.runs,
            seconds=round(time.perf_counter() - started),
        )
        print(f"How the cost grows ({result['command']}, {result['date']}, commit {result['commit']}, "
              f"median of {args.runs} runs with min–max, {result['seconds']} s)")  # fmt: skip
    print(table(result["rows"]))
    print("fill seconds:", result["fill seconds"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
