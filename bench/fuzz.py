"""A larger seeded fuzz run: hostile users against the real bot, through the sandbox.

The same users and checks as tests/test_fuzz.py (tests/fuzzer.py), with as many updates
as asked. The sandbox and the bot run in this process (as in the test), the sandbox's
limits scaled 100x as in the suite, the database a fresh SQLite file unless given.
Prints the counts; exits 1 when something was found (a crash, an unanswered update, a
request refused for bad entities, a change only a role may make).

    .venv/bin/python bench/fuzz.py --updates 5000 --seed 7 [--users 40]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import json_option, write_figures  # noqa: E402 - needs ROOT on the path

TOKEN = "1000001:SANDBOX-buurtbot-fuzz-token"


async def run(
    updates: int, seed: int, users: int, database_url: str | None, out: str | None = None
) -> int:
    from bot.app import build_application, running
    from bot.settings import load_settings
    from sandbox.client import SandboxClient
    from sandbox.config import Limits, SandboxConfig
    from sandbox.server import SandboxServer
    from storage import migrate
    from storage.engine import create_engine
    from tests.fuzzer import ADMIN_ID, Fuzzer

    with tempfile.TemporaryDirectory() as folder:
        url = database_url or f"sqlite+aiosqlite:///{Path(folder) / 'fuzz.db'}"
        engine = create_engine(load_settings({"DATABASE_URL": url}).database_url)
        await migrate.upgrade(engine)
        await engine.dispose()
        sandbox = SandboxServer(SandboxConfig(token=TOKEN, limits=Limits().scaled(100)))
        await sandbox.start(host="127.0.0.1", port=0)
        try:
            settings = load_settings(
                {
                    "DATABASE_URL": url,
                    "TELEGRAM_API_BASE_URL": sandbox.api_base_url,
                    "BUURTBOT_ADMINS": str(ADMIN_ID),
                    "BUURTBOT_LOG_LEVEL": "ERROR",
                }
            )
            application = build_application(settings, token=TOKEN)
            async with SandboxClient(sandbox.url) as client, running(application, poll_timeout=1):
                # About one update per user a round, besides the setup's.
                rounds = max(1, math.ceil(updates / users))
                fuzzer = Fuzzer(
                    application, client, sandbox.state, seed=seed, users=users, rounds=rounds
                )
                started = time.perf_counter()
                counts = await fuzzer.run()
                elapsed = time.perf_counter() - started
        finally:
            await sandbox.stop()
    print(f"seed {seed}, {users} users, {rounds} rounds, {elapsed:.1f} s")
    for line in counts.lines():
        print(line)
    write_figures(
        out,
        {
            "unanswered": len(counts.unanswered),
            "errors": len(counts.errors),
            "escalations": len(counts.escalations),
            "entity_refusals": counts.entity_refusals,
            "posts_changed": len(counts.posts_changed),
        },
    )
    found = (
        counts.errors
        or counts.unanswered
        or counts.entity_refusals
        or counts.escalations
        or counts.posts_changed
    )
    return 1 if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=2000, help="hostile updates, about")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument(
        "--database-url",
        default=None,
        help="e.g. postgresql://postgres@127.0.0.1:5432/x "
        "(its schema must be empty or at head); default a fresh SQLite file",
    )
    json_option(parser)
    args = parser.parse_args()
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    sys.exit(asyncio.run(run(args.updates, args.seed, args.users, args.database_url, args.json)))


if __name__ == "__main__":
    main()
