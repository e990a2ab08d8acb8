"""Replicas in webhook mode on PostgreSQL: updates per second for one and for three, and
the failover time when the leader is killed with SIGKILL.

Real `python -m bot run` processes in webhook mode; the sandbox (limits off) runs in
this process and plays Telegram and the balancer in front of the replicas (its
`webhook_routes` take the replicas in turn). Each run gets a freshly wiped database.

- Throughput: N residents send `/start wijk-…` at once; from the first push to the
  last answer, N / seconds. Every replica takes pushes; only the leader handles.
- Failover (three replicas): the leader is killed; the seconds until a standby logs
  that it sends (the lease taken), and until a resident's `/start` sent right after
  the kill is answered (end to end, through whichever replica the balancer picks).

Prints one table, median (min-max) over the runs.

    .venv/bin/python bench/replicas.py --database-url postgresql://postgres@127.0.0.1:5432/bench
        [--runs 3 --residents 400]

The database is wiped before every run: give one of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Below: needs ROOT on the path.
from bot.cli import SANDBOX_TOKEN  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from sandbox.client import SandboxClient  # noqa: E402
from sandbox.config import Limits, SandboxConfig  # noqa: E402
from sandbox.server import SandboxServer  # noqa: E402
from tests.processes import (  # noqa: E402
    ADMIN_ID,
    PUBLIC_ORIGIN,
    Replica,
    bot_environment,
    newcomers,
    start_replicas,
    until,
    wipe_postgres,
)

WITHIN = 120.0  # seconds a phase may take


async def answered(client: SandboxClient, ids: list[int]) -> None:
    await asyncio.gather(*(client.wait_bot_message(uid, timeout=WITHIN) for uid in ids))


async def one_run(
    url: str, replicas_wanted: int, residents: int, failover: bool
) -> dict[str, float]:
    await wipe_postgres(url)
    sandbox = SandboxServer(SandboxConfig(token=SANDBOX_TOKEN, limits=Limits(enabled=False)))
    await sandbox.start(host="127.0.0.1", port=0)
    replicas: list[Replica] = []
    figures: dict[str, float] = {}
    try:
        async with SandboxClient(sandbox.url) as client:
            env = bot_environment(sandbox.api_base_url, url, BUURTBOT_ADMINS=str(ADMIN_ID))
            with tempfile.TemporaryDirectory() as cwd:
                replicas = await start_replicas(env, Path(cwd), replicas_wanted)
                sandbox.state.webhook_routes[PUBLIC_ORIGIN] = [r.origin for r in replicas]
                people = await newcomers(client, residents)
                started = time.monotonic()
                await asyncio.gather(
                    *(client.send(uid, f"/start wijk-{wijk}") for uid, wijk in people.items())
                )
                await answered(client, list(people))
                figures["updates_per_s"] = residents / (time.monotonic() - started)
                if failover:
                    late = (await client.create_user("Laat", language_code="nl"))["id"]
                    leader, *standbys = replicas
                    killed = time.monotonic()
                    leader.process.kill()
                    await client.send(late, "/start")

                    async def taken() -> bool:
                        return any(s.process.said("now sends and schedules") for s in standbys)

                    await until(taken, WITHIN, "a standby takes over")
                    figures["lease_taken_s"] = time.monotonic() - killed
                    await client.wait_bot_message(late, timeout=WITHIN)
                    figures["answered_again_s"] = time.monotonic() - killed
    finally:
        for replica in replicas:
            replica.process.kill()
            await replica.process.stop()
        await sandbox.stop()
    return figures


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


async def run(args: argparse.Namespace) -> None:
    url = load_settings({"DATABASE_URL": args.database_url}).database_url
    rows: list[tuple[str, dict[str, list[float]]]] = []
    for count in (1, 3):
        found: dict[str, list[float]] = {}
        for number in range(args.runs):
            figures = await one_run(url, count, args.residents, failover=count > 1)
            print(f"  {count} replica(s), run {number + 1}: {figures}", flush=True)
            for name, value in figures.items():
                found.setdefault(name, []).append(value)
        rows.append((f"{count} replica{'s' if count > 1 else ''}", found))
    print(f"\n{args.residents} residents joining at once, {args.runs} runs, median (min-max)")
    print("replicas    updates/s          lease taken (s)   answered again (s)")
    for name, found in rows:
        print(
            f"{name:<11} {cell(found['updates_per_s']):<18} "
            f"{cell(found['lease_taken_s']) if 'lease_taken_s' in found else '-':<17} "
            f"{cell(found['answered_again_s']) if 'answered_again_s' in found else '-'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True, help="PostgreSQL, wiped every run")
    parser.add_argument("--runs", type=int, default=3, help="runs per setup (3)")
    parser.add_argument("--residents", type=int, default=400, help="joining at once (400)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
