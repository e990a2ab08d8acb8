"""kill -9 at random seeded moments: what each kill costs in lost and doubled messages.

The fault tests' scenarios (tests/processes.py), run over many kills and counted
instead of asserted. The bot is a real `python -m bot run` process, killed with SIGKILL
by pid; the sandbox (its limits scaled 100x, as in the suite) runs in this process.
Every kill gets a fresh sandbox and a fresh database.

- Residents join: N residents send `/start wijk-…` at once; the bot is killed after a
  seeded number of answers and started again. Per kill: residents never answered after
  the restart (lost), answers sent twice (duplicates), and updates stored in the inbox
  but unfinished at the kill (of these, the ones whose handler was running may be
  answered twice: the documented duplicate window, at most MAX_CONCURRENT_UPDATES).
- A broadcast goes out: the coordinator announces to R residents; the sender is killed
  once a seeded share of the copies is out. On SQLite the bot is started again; on
  PostgreSQL (`--database-url`) a standby waits beside it and takes over. Per kill:
  copies missing, copies duplicated (the sandbox counts each copy per chat), copies out
  at the kill, and seconds from the kill until a process sends again (the takeover).

Prints one table: per scenario and backend the median and the min-max over the kills.

    .venv/bin/python bench/kill.py [--kills 5 --residents 400 --recipients 2000 --seed 1]
        [--database-url postgresql://postgres@127.0.0.1:5432/bench] [--quick]

`--quick` is 3 kills, 200 residents and 1,000 recipients. The PostgreSQL database is
wiped before every kill: give one of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Below: needs ROOT on the path.
from bench.common import json_option, write_figures  # noqa: E402
from bot.cli import SANDBOX_TOKEN  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from sandbox import state  # noqa: E402
from sandbox.client import SandboxClient  # noqa: E402
from sandbox.config import Limits, SandboxConfig  # noqa: E402
from sandbox.server import SandboxServer  # noqa: E402
from storage import migrate  # noqa: E402
from storage.engine import SessionFactory, create_engine, create_session_factory  # noqa: E402
from tests.processes import (  # noqa: E402
    ADMIN_ID,
    SEND_RATE,
    bot_environment,
    broadcast_through_a_kill,
    join_through_a_kill,
    newcomers,
    populate,
    wipe_postgres,
)

QUICK = {"kills": 3, "residents": 200, "recipients": 1_000}
FULL = {"kills": 5, "residents": 400, "recipients": 2_000}
WITHIN = 60.0  # seconds a phase may take before the unanswered count as lost


@dataclass
class Row:
    """One scenario on one backend: a figure per kill, by name."""

    scenario: str
    backend: str
    figures: dict[str, list[float]] = field(default_factory=dict)

    def add(self, **values: float) -> None:
        for name, value in values.items():
            self.figures.setdefault(name, []).append(value)

    def cell(self, name: str) -> str:
        values = self.figures.get(name)
        if not values:
            return "-"
        digits = 0 if all(float(v).is_integer() for v in values) else 1
        median = f"{statistics.median(values):.{digits}f}"
        return f"{median} ({min(values):.{digits}f}-{max(values):.{digits}f})"


COLUMNS = {
    "lost": "lost",
    "duplicates": "duplicates",
    "in_flight": "unfinished at kill",
    "out_at_kill": "out at kill",
    "takeover": "sending again (s)",
}


def table(rows: list[Row]) -> str:
    head = ["scenario", "backend", "kills", *COLUMNS.values()]
    body = [
        [r.scenario, r.backend, str(len(r.figures["lost"])), *(r.cell(c) for c in COLUMNS)]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in [head, *body]
    )


@dataclass
class World:
    """What one kill runs in: a fresh sandbox, its client and a fresh database."""

    sandbox: SandboxServer
    client: SandboxClient
    url: str
    sessions: SessionFactory
    folder: Path  # the bot's working directory


@asynccontextmanager
async def world(url: str | None) -> AsyncIterator[World]:
    """A fresh sandbox and a fresh database: a SQLite file, or `url` wiped and migrated."""
    # Every copy of a large broadcast must stay in the log the figures are read from.
    state.MAX_STORED_REQUESTS = 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if url is None:
            url = f"sqlite+aiosqlite:///{folder / 'buurtbot.db'}"
            engine = create_engine(url)
            await migrate.upgrade(engine)
        else:
            await wipe_postgres(url)
            engine = create_engine(url)
        sandbox = SandboxServer(SandboxConfig(token=SANDBOX_TOKEN, limits=Limits().scaled(100)))
        await sandbox.start(host="127.0.0.1", port=0)
        try:
            async with SandboxClient(sandbox.url) as client:
                yield World(sandbox, client, url, create_session_factory(engine), folder)
        finally:
            await sandbox.stop()
            await engine.dispose()


async def join_kills(row: Row, url: str | None, residents: int, kills: int, seed: int) -> None:
    for kill in range(kills):
        rng = random.Random(f"{seed}:join:{kill}")  # the same moments on every backend
        kill_after = rng.randint(residents // 10, residents * 9 // 10)
        async with world(url) as w:
            env = bot_environment(w.sandbox.api_base_url, w.url, BUURTBOT_LOG_LEVEL="WARNING")
            wijk_of = await newcomers(w.client, residents)
            run = await join_through_a_kill(
                w.client, w.sessions, env, w.folder, wijk_of, kill_after, WITHIN
            )
        row.add(
            lost=len(run.lost),
            duplicates=sum(n - 1 for n in run.doubled.values()),
            in_flight=len(run.in_flight),
        )
        print(
            f"  {row.backend} join, kill {kill + 1}: after {len(run.answered_at_kill)} answers; "
            f"{len(run.in_flight)} unfinished, {len(run.lost)} lost, {len(run.doubled)} doubled"
            + ("" if run.code == 0 else f"; the restarted bot exited {run.code}"),
            file=sys.stderr,
        )


async def broadcast_kills(
    row: Row, url: str | None, recipients: int, kills: int, seed: int
) -> None:
    for kill in range(kills):
        share = random.Random(f"{seed}:broadcast:{kill}").uniform(0.1, 0.9)
        async with world(url) as w:
            env = bot_environment(
                w.sandbox.api_base_url, w.url,
                BUURTBOT_ADMINS=str(ADMIN_ID), BUURTBOT_SEND_RATE=str(SEND_RATE),
            )  # fmt: skip
            residents = await populate(w.client, w.sessions, recipients)
            run = await broadcast_through_a_kill(
                w.client, w.sessions, env, w.folder, residents, share, standby=url is not None
            )
        row.add(
            lost=run.missing,
            duplicates=run.duplicates,
            out_at_kill=run.out_at_kill,
            takeover=run.takeover,
        )
        print(
            f"  {row.backend} broadcast, kill {kill + 1}: at {run.out_at_kill} copies out; "
            f"{run.missing} missing, {run.duplicates} duplicated, sending again after "
            f"{run.takeover:.1f} s"
            + ("" if run.code == 0 else f"; the survivor exited {run.code}"),
            file=sys.stderr,
        )


async def run(args: argparse.Namespace, command: str) -> None:
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    if args.database_url:
        backends.append(
            ("postgresql", load_settings({"DATABASE_URL": args.database_url}).database_url)
        )
    rows = []
    for backend, url in backends:
        restart = "standby takes over" if url else "restart"
        joining = Row(f"{args.residents} residents join (restart)", backend)
        await join_kills(joining, url, args.residents, args.kills, args.seed)
        going_out = Row(f"broadcast to {args.recipients} ({restart})", backend)
        await broadcast_kills(going_out, url, args.recipients, args.kills, args.seed)
        rows += [joining, going_out]
    print(
        f"kill -9 at seeded random moments: median (min-max) over {args.kills} kills; "
        f"{os.cpu_count()} CPUs; lost = residents never answered / copies missing"
    )
    print(table(rows))
    print(f"reproduce: {command}")
    joined, sent = rows[0], rows[1]  # SQLite's: the figures bench/run.py tracks
    write_figures(
        args.json,
        {
            "join_lost": statistics.median(joined.figures["lost"]),
            "join_duplicates": statistics.median(joined.figures["duplicates"]),
            "broadcast_missing": statistics.median(sent.figures["lost"]),
            "broadcast_duplicates": statistics.median(sent.figures["duplicates"]),
            "takeover_s": statistics.median(sent.figures["takeover"]),
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, help=f"kills per scenario ({FULL['kills']})")
    parser.add_argument("--residents", type=int, help=f"joining at once ({FULL['residents']})")
    parser.add_argument("--recipients", type=int, help=f"of the broadcast ({FULL['recipients']})")
    parser.add_argument("--seed", type=int, default=1, help="picks the moments of the kills (1)")
    parser.add_argument("--database-url", help="also on this PostgreSQL database (wiped!)")
    parser.add_argument("--quick", action="store_true", help="3 kills, 200 and 1,000")
    json_option(parser)
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if not (1 <= args.kills <= 50 and 10 <= args.residents <= 2_000):
        parser.error("bounded: 1-50 kills, 10-2,000 residents")
    if not 10 <= args.recipients <= 20_000:
        parser.error("bounded: 10-20,000 recipients")
    if args.database_url and not args.database_url.startswith("postgres"):
        parser.error("--database-url: a PostgreSQL URL (SQLite runs anyway)")
    command = " ".join([".venv/bin/python", "bench/kill.py", *sys.argv[1:]])
    asyncio.run(run(args, command))


if __name__ == "__main__":
    main()
