"""Run the sandbox standalone: ``python -m sandbox --token 123456:TEST --port 8081``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from sandbox.config import Limits, SandboxConfig
from sandbox.server import SandboxServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--token", default="123456:SANDBOX-TOKEN", help="bot token to accept")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--bot-username", default="buurtbot_sandbox_bot")
    parser.add_argument("--no-limits", action="store_true", help="disable flood limits")
    parser.add_argument("--no-privacy", action="store_true", help="bot sees all group messages")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    config = SandboxConfig(
        token=args.token,
        bot_username=args.bot_username,
        limits=Limits.off() if args.no_limits else Limits(),
        privacy_mode=not args.no_privacy,
    )
    server = SandboxServer(config)
    await server.start(args.host, args.port)
    print(f"sandbox listening on {server.url}", flush=True)
    print(f"  bot:     base_url={server.api_base_url} base_file_url={server.file_base_url}")
    print(f"  control: {server.url}/sandbox/...   browser: {server.url}/", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
