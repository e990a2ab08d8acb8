"""Capacity benchmark of the sandbox Bot API server on one CPU core.

The server runs in a subprocess pinned to one core (when ``os.sched_setaffinity`` exists) with
flood limits off; this process drives it over 127.0.0.1 with concurrent aiohttp requests,
encoded as python-telegram-bot encodes them (urlencoded form, JSON-encoded nested values).

    .venv/bin/python bench/sandbox_capacity.py [--requests 20000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

TOKEN = "123456:BENCH"
ROOT = Path(__file__).resolve().parent.parent
MAX_PHASE_SECONDS = 60.0


@dataclass
class PhaseResult:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    def report(self) -> str:
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000
        p95 = ordered[int(len(ordered) * 0.95) - 1] * 1000
        rate = self.requests / self.seconds
        return (
            f"{self.name:<22} {self.requests:>7} req in {self.seconds:6.2f}s  "
            f"{rate:8.0f} req/s  p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  errors {self.errors}"
        )


def serve(port: int, core: int | None) -> None:
    """Child process: run the sandbox until killed."""
    sys.path.insert(0, str(ROOT))
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    from sandbox.config import Limits, SandboxConfig
    from sandbox.server import SandboxServer

    async def main() -> None:
        server = SandboxServer(SandboxConfig(token=TOKEN, limits=Limits.off()))
        await server.start("127.0.0.1", port)
        print(f"READY {server.port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


async def run_phase(
    session: aiohttp.ClientSession,
    name: str,
    url: str,
    bodies: list[dict[str, str]],
    concurrency: int,
) -> PhaseResult:
    latencies: list[float] = []
    errors = 0
    next_index = 0
    deadline = time.monotonic() + MAX_PHASE_SECONDS

    async def worker() -> None:
        nonlocal errors, next_index
        while next_index < len(bodies) and time.monotonic() < deadline:
            body = bodies[next_index]
            next_index += 1
            started = time.perf_counter()
            async with session.post(url, data=body) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return PhaseResult(name, len(latencies), errors, time.perf_counter() - started, latencies)


async def drive(port: int, total: int, concurrency: int, chats: int) -> list[PhaseResult]:
    base = f"http://127.0.0.1:{port}"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        user_ids = []
        for i in range(chats):
            async with session.post(f"{base}/sandbox/users", json={"first_name": f"U{i}"}) as r:
                user_ids.append((await r.json())["result"]["id"])
            async with session.post(
                f"{base}/sandbox/send", json={"user_id": user_ids[-1], "text": "/start"}
            ) as r:
                await r.read()
        api = f"{base}/bot{TOKEN}"
        markup = '{"inline_keyboard":[[{"text":"Gezien","callback_data":"seen:1"}]]}'
        plain = [
            {"chat_id": str(user_ids[i % chats]), "text": f"Melding {i}: verdachte situatie"}
            for i in range(total)
        ]
        rich = [
            {
                "chat_id": str(user_ids[i % chats]),
                "text": f"<b>Melding {i}</b> in de <i>Kerkstraat</i>",
                "parse_mode": "HTML",
                "reply_markup": markup,
            }
            for i in range(total)
        ]
        polls = [{"timeout": "0", "limit": "100"} for _ in range(total)]
        # Warm up connections and code paths so the first phase is not penalised.
        await run_phase(session, "warmup", f"{api}/sendMessage", plain[:500], concurrency)
        return [
            await run_phase(
                session, "sendMessage (plain)", f"{api}/sendMessage", plain, concurrency
            ),
            await run_phase(
                session, "sendMessage (HTML+kb)", f"{api}/sendMessage", rich, concurrency
            ),
            await run_phase(
                session, "getUpdates timeout=0", f"{api}/getUpdates", polls, concurrency
            ),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000, help="requests per phase")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--chats", type=int, default=100, help="distinct private chats")
    parser.add_argument("--core", type=int, default=0, help="CPU core for the server")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--json", metavar="FILE", help="also write this run's figures here")
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.core)
        return
    total = max(1, min(args.requests, 200_000))
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_core = args.core if args.core in cores else None
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "0", "--core", str(args.core)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        if not line or line[0] != "READY":
            raise SystemExit("sandbox server did not start")
        port = int(line[1])
        if server_core is not None and len(cores) > 1:
            # Keep the load generator off the server's core so they do not compete.
            os.sched_setaffinity(0, set(cores) - {server_core})
        results = asyncio.run(drive(port, total, args.concurrency, max(1, args.chats)))
    finally:
        child.terminate()
        child.wait(timeout=10)
    pinned = f"core {server_core}" if server_core is not None else "not pinned"
    print(
        f"sandbox capacity: server on one process ({pinned}), limits off, "
        f"concurrency {args.concurrency}, {os.cpu_count()} CPUs visible"
    )
    for result in results:
        print("  " + result.report())
    command = [
        ".venv/bin/python",
        "bench/sandbox_capacity.py",
        "--requests",
        str(total),
        "--concurrency",
        str(args.concurrency),
        "--chats",
        str(args.chats),
        "--core",
        str(args.core),
    ]
    print("reproduce: " + shlex.join(command))
    if args.json:
        rates = [result.requests / result.seconds for result in results]
        keys = ("plain_rps", "rich_rps", "poll_rps")
        Path(args.json).write_text(json.dumps(dict(zip(keys, rates, strict=True))))


if __name__ == "__main__":
    main()
