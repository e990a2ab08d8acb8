"""Small pieces every benchmark here uses."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # where `python -m bot` and the benches run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin(core: int | None) -> None:
    """Keep this process on one core, where the machine has it (Linux)."""
    if core is not None and hasattr(os, "sched_setaffinity") and core < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {core})


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@asynccontextmanager
async def sandbox_process(script: str, *args: str, quiet: bool = False) -> AsyncIterator[int]:
    """`script --serve --port N *args` in a process of its own (so the sandbox has its own
    core and the bot's figures are the bot's); yields N once the port answers."""
    port = free_port()
    sandbox = await asyncio.create_subprocess_exec(
        sys.executable, script, "--serve", "--port", str(port), *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL if quiet else None,
    )  # fmt: skip
    try:
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            await asyncio.sleep(0.1)
        yield port
    finally:
        sandbox.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(sandbox.wait(), timeout=10)
        except TimeoutError:
            # Its graceful stop can wait on idle keep-alive connections; the figures are in.
            sandbox.kill()
            await sandbox.wait()


async def arrive(
    count: int, rate: float, act: Callable[[int], Awaitable[None]], who: str
) -> tuple[float, int]:
    """Run act(0) ... act(count - 1): all at once (rate 0), or in an open loop where the
    i-th arrives at i / rate seconds. Returns the elapsed seconds and how many failed."""
    errors = 0

    async def one(index: int) -> None:
        nonlocal errors
        if rate > 0:
            await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
        try:
            await act(index)
        except Exception as exc:  # a benchmark counts failures instead of stopping
            errors += 1
            if errors <= 3:
                print(f"driver: {who} {index} failed: {exc!r}"[:300], file=sys.stderr)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - started, errors


def write_figures(path: str | None, figures: Mapping[str, float]) -> None:
    """One run's figures for `bench/run.py` (`--json FILE`); nothing without a path."""
    if path:
        Path(path).write_text(json.dumps({key: float(value) for key, value in figures.items()}))


def json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="FILE", help="also write this run's figures here")


def serve_unlimited(token: str, port: int) -> None:
    """The `--serve` side of sandbox_process: the sandbox on core 0, limits off."""
    pin(0)
    from sandbox.__main__ import main as serve

    serve(["--token", token, "--port", str(port), "--no-limits"])


async def serve_scaled(token: str, port: int, scale: float) -> None:
    """The `--serve` side of sandbox_process with Telegram's limits `scale` times faster,
    until SIGINT (the benches that measure the bot against the limits)."""
    from sandbox.config import Limits, SandboxConfig
    from sandbox.server import SandboxServer

    server = SandboxServer(SandboxConfig(token=token, limits=Limits().scaled(scale)))
    await server.start("127.0.0.1", port)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    await server.stop()


async def timed(
    figures: dict[str, Any], name: str, runs: int, work: Callable[[], Awaitable[object]]
) -> None:
    """`work` once cold, then `runs` times: its cold, p50 and p95 milliseconds in `figures`."""
    times = []
    for attempt in range(runs + 1):
        started = time.perf_counter()
        await work()
        elapsed = (time.perf_counter() - started) * 1000
        if attempt == 0:
            figures[f"{name} cold ms"] = round(elapsed, 1)
        else:
            times.append(elapsed)
    figures[f"{name} p50 ms"] = round(percentile(times, 0.5), 1)
    figures[f"{name} p95 ms"] = round(percentile(times, 0.95), 1)
