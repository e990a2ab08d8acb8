"""The bot as a real process, and the fault scenarios run against it.

`python -m bot run` gets the environment of `bot_environment`; `BotProcess` starts it,
reads its log and kills it with SIGKILL by pid. The two scenarios (residents joining,
a broadcast going out, each through one kill) are shared by the fault tests, which
assert on what they return, and by bench/kill.py, which counts it over many kills.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import text
from sqlmodel import select

from bot.areas import load_areas
from bot.cli import SANDBOX_TOKEN
from bot.i18n import Translator
from bot.keys import Keyring
from handlers.keyboards import language_name
from sandbox.client import SandboxClient
from storage import migrate
from storage.engine import SessionFactory, create_engine
from storage.models import Delivery, InboxStatus, InboxUpdate, User
from tests.journeys.resident import Resident, buttons
from tests.journeys.test_broadcasts import compose

ROOT = Path(__file__).resolve().parent.parent
# A real token needs the key of anonymous reports; a restarted process must open what
# the killed one sealed, so every process of a test shares this one.
TEST_SECRET = "fault-test-" + "k" * 32
ADMIN_ID = 900001  # the coordinator who sends the broadcast (BUURTBOT_ADMINS)
SEND_RATE = 150  # messages a second: the sandbox's limits run 100x faster than Telegram's
MARKER = "Nieuwe wijkboa"  # the title tests/journeys/test_broadcasts.py composes


def bot_environment(api_base_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """The machine's environment without the bot's own variables, then the test's."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "BUURTBOT_", "DATABASE_URL"))
    }
    return env | {
        "TELEGRAM_BOT_TOKEN": SANDBOX_TOKEN,
        "TELEGRAM_API_BASE_URL": api_base_url,
        "DATABASE_URL": database_url,
        "BUURTBOT_SECRET": TEST_SECRET,
        "PYTHONPATH": str(ROOT),
        **extra,
    }


async def until(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.1)


async def wipe_postgres(url: str) -> None:
    """An empty PostgreSQL database migrated to head."""
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("SET LOCAL lock_timeout = '20s'"))
        await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await migrate.upgrade(engine)
    await engine.dispose()


class BotProcess:
    """`python -m bot run` as a real subprocess, its log lines collected as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, env: dict[str, str], cwd: Path, *args: str) -> BotProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", *args,
            cwd=cwd, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(process)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log(self) -> str:
        return "\n".join(self.lines[-30:])

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.lines.append(line.decode(errors="replace").rstrip())

    def said(self, words: str) -> bool:
        return any(words in line for line in self.lines)

    def alive(self) -> None:
        if self.process.returncode is not None:
            raise AssertionError("the bot exited by itself:\n" + self.log)

    async def wait_for(self, words: str, within: float) -> float:
        """Until a log line holds `words`; when that was (time.monotonic)."""

        async def seen() -> bool:
            if not self.said(words):
                self.alive()
            return self.said(words)

        await until(seen, within, f"the bot logs {words!r}")
        return time.monotonic()

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            code = await self.process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        return code

    def kill(self) -> None:
        if self.process.returncode is None:
            os.kill(self.pid, signal.SIGKILL)


async def answers(client: SandboxClient) -> collections.Counter[int]:
    """How many messages the bot got through to each chat."""
    calls = await client.requests("sendMessage")
    return collections.Counter(
        int(call["params"]["chat_id"]) for call in calls if call["status"] == 200
    )


async def conflicts(client: SandboxClient) -> int:
    """getUpdates refused because another poller was there (409)."""
    return len([r for r in await client.requests("getUpdates") if r["status"] == 409])


# ---------------------------------------------------------------- residents joining


def sender(keyring: Keyring, row: InboxUpdate) -> int:
    """Whose update a pending row holds: readable with the bot's key only."""
    assert row.payload is not None
    update = json.loads(keyring.open("inbox", row.payload, bound_to=str(row.update_id)))
    return int(update["message"]["chat"]["id"])


async def inbox_rows(sessions: SessionFactory) -> list[InboxUpdate]:
    async with sessions() as session:
        return list(await session.exec(select(InboxUpdate)))


async def newcomers(client: SandboxClient, count: int) -> dict[int, str]:
    """Residents who never wrote to the bot, each with the wijk their link names."""
    wijken = [wijk.slug for wijk in load_areas().wijken]
    people = await asyncio.gather(
        *(client.create_user(f"Bewoner {i}", language_code="nl") for i in range(count))
    )
    return {int(person["id"]): wijken[i % len(wijken)] for i, person in enumerate(people)}


@dataclass
class JoinRun:
    """What one kill while residents join left behind."""

    ids: list[int]
    wijk_of: dict[int, str]
    answered_at_kill: collections.Counter[int]
    in_flight: set[int]  # their /start in the inbox, unfinished, at the kill
    waiting: set[int]  # their /start still with Telegram at the kill
    final: collections.Counter[int] = field(default_factory=collections.Counter)
    code: int | None = None  # the restarted process's exit code
    log: str = ""

    @property
    def lost_at_kill(self) -> list[int]:
        """Neither answered, nor in the inbox, nor with Telegram: dropped in memory."""
        kept = set(self.answered_at_kill) | self.in_flight | self.waiting
        return [uid for uid in self.ids if uid not in kept]

    @property
    def lost(self) -> list[int]:
        """Never answered, even after the restart."""
        return [uid for uid in self.ids if not self.final[uid]]

    @property
    def doubled(self) -> dict[int, int]:
        return {uid: n for uid, n in self.final.items() if n > 1}


async def join_through_a_kill(
    client: SandboxClient,
    sessions: SessionFactory,
    env: dict[str, str],
    cwd: Path,
    wijk_of: dict[int, str],
    kill_after: int,
    within: float,
) -> JoinRun:
    """Every resident sends `/start wijk-…` at once; the bot is killed (SIGKILL by pid)
    once `kill_after` of them are answered, started again and left to finish, for at
    most `within` seconds a phase. Residents unanswered by then count as lost."""
    ids = list(wijk_of)
    first = await BotProcess.start(env, cwd)
    try:
        await asyncio.gather(*(client.send(uid, f"/start wijk-{wijk_of[uid]}") for uid in ids))

        async def far_enough() -> bool:
            first.alive()
            return len(await answers(client)) >= kill_after

        await until(far_enough, within, f"{kill_after} residents answered")
        first.kill()
    finally:
        first.kill()
        await first.stop()

    keyring = Keyring.from_secret(env["BUURTBOT_SECRET"])
    run = JoinRun(
        ids=ids,
        wijk_of=wijk_of,
        answered_at_kill=await answers(client),
        in_flight={
            sender(keyring, row)
            for row in await inbox_rows(sessions)
            if row.status == InboxStatus.PENDING
        },
        waiting={
            int((update.get("message") or {}).get("chat", {}).get("id", 0))
            for update in await client.pending_updates()
        },
    )

    second = await BotProcess.start(env, cwd)
    try:

        async def finished() -> bool:
            got = await answers(client)
            rows = await inbox_rows(sessions)
            second.alive()
            return (
                all(got[uid] for uid in ids)
                and not any(row.status == InboxStatus.PENDING for row in rows)
                and not await client.pending_updates()
            )

        with contextlib.suppress(AssertionError):  # a resident never answered is `lost`
            await until(finished, within, "every resident answered")
    finally:
        run.code = await second.stop()
        run.log = second.log
    run.final = await answers(client)
    return run


# ---------------------------------------------------------------- a broadcast going out


async def populate(client: SandboxClient, sessions: SessionFactory, count: int) -> list[int]:
    """Residents of Stiphout who started the bot long ago."""
    gate = asyncio.Semaphore(32)

    async def resident(i: int) -> int:
        async with gate:
            return int((await client.create_user(f"Bewoner {i}", started=True))["id"])

    residents = list(await asyncio.gather(*(resident(i) for i in range(count))))
    async with sessions() as session:
        session.add_all(
            User(id=uid, language="nl", wijk="stiphout", subscribed=True) for uid in residents
        )
        await session.commit()
    return residents


async def announce(client: SandboxClient) -> None:
    """The coordinator sends an announcement to Stiphout, through whichever bot answers."""
    lang = Translator(default_language="nl", timezone=ZoneInfo("Europe/Amsterdam"))
    coord = Resident(
        client, await client.create_user("Carla", user_id=ADMIN_ID), lang.for_language("nl")
    )
    welcome = await coord.say("/start")
    if language_name("nl") in buttons(welcome):
        await coord.tap(welcome, language_name("nl"))
    actions = await compose(coord, "nieuws", ["Stiphout"])
    await coord.tap(actions, coord._("Nu versturen"))


async def copies(client: SandboxClient, residents: list[int]) -> collections.Counter[int]:
    """The announcement's copies Telegram accepted, per resident."""
    audience = set(residents)
    return collections.Counter(
        int(r["params"]["chat_id"])
        for r in await client.requests("sendMessage")
        if r["status"] == 200
        and int(r["params"]["chat_id"]) in audience
        and MARKER in str(r["params"].get("text"))
    )


async def out_by(client: SandboxClient, residents: list[int], share: float) -> int:
    """Until that share of the residents got their copy; how many copies were out."""
    out = 0

    async def reached() -> bool:
        nonlocal out
        out = sum((await copies(client, residents)).values())
        return out >= len(residents) * share

    await until(reached, 60, f"{share:.0%} of the broadcast is out")
    return out


async def all_sent(sessions: SessionFactory, residents: list[int]) -> None:
    async def everyone() -> bool:
        async with sessions() as session:
            rows = (await session.exec(select(Delivery.status))).all()
        return len(rows) == len(residents) and set(rows) == {"sent"}

    # A killed engine's last claims come back when they expire (CLAIM_TTL, 15 s) or, on
    # SQLite, at the next start.
    await until(everyone, 60, "every delivery is sent")


def claimer_of(process: BotProcess) -> str:
    return f"claimed by {socket.gethostname()[:40]}:{process.pid}:"


@dataclass
class BroadcastRun:
    """What one kill of the sender mid-broadcast left behind."""

    residents: list[int]
    out_at_kill: int  # copies out when the sender was killed
    conflicts_before_kill: int  # 409s on getUpdates: a second poller while the first lived
    sent: collections.Counter[int]
    takeover: float  # seconds from the kill until another process sends
    code: int  # the surviving process's exit code
    killed_claimer: str  # how the claims of the killed process are named in the log
    gone: str  # why the survivor knew their claimer was gone
    lines: list[str]  # the survivor's log

    @property
    def took_back_the_killed_claims(self) -> bool:
        """The survivor's log says it took back the killed process's claims, and why."""
        return any(
            self.killed_claimer in line and f"which is gone ({self.gone})" in line
            for line in self.lines
        )

    @property
    def missing(self) -> int:
        return sum(1 for uid in self.residents if self.sent[uid] == 0)

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.sent.values())


async def broadcast_through_a_kill(
    client: SandboxClient,
    sessions: SessionFactory,
    env: dict[str, str],
    cwd: Path,
    residents: list[int],
    share: float,
    *,
    standby: bool,
) -> BroadcastRun:
    """The coordinator announces to `residents`; the sender is killed (SIGKILL by pid)
    once `share` of the copies are out. With `standby` (PostgreSQL) a second process
    waits beside it and takes over; without (SQLite) the bot is started again."""
    first = await BotProcess.start(env, cwd)
    survivor: BotProcess | None = None
    try:
        await first.wait_for("now sends and schedules", 60)
        if standby:
            survivor = await BotProcess.start(env, cwd)
            await survivor.wait_for("standby: buurtbot", 60)
        else:
            await first.wait_for("ready", 60)  # polling
        await announce(client)
        out_at_kill = await out_by(client, residents, share)
        conflicts_before_kill = await conflicts(client)
        killed_at = time.monotonic()
        first.kill()
        await first.stop()
        if survivor is None:
            # The lock went with the process: the next start runs, and as the only
            # process on the file it takes the dead one's claims back at once.
            survivor = await BotProcess.start(env, cwd)
        took_over = await survivor.wait_for("now sends and schedules", 60)
        await all_sent(sessions, residents)
        sent = await copies(client, residents)
    finally:
        first.kill()
        await first.stop()
        code = await survivor.stop() if survivor is not None else None
    assert code is not None
    return BroadcastRun(
        residents=residents,
        out_at_kill=out_at_kill,
        conflicts_before_kill=conflicts_before_kill,
        sent=sent,
        takeover=took_over - killed_at,
        code=code,
        killed_claimer=claimer_of(first),
        gone="its claim expired" if standby else "this process holds the database",
        lines=survivor.lines,
    )


# ---------------------------------------------------------------- replicas in webhook mode

PUBLIC_ORIGIN = "https://buurtbot.test"  # the address Telegram pushes to (the proxy's)
WEBHOOK_URL = f"{PUBLIC_ORIGIN}/telegram"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Replica:
    """One `python -m bot run` in webhook mode, with its own listen port."""

    process: BotProcess
    port: int

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.get(self.origin + path) as response:
            return response.status, await response.text()

    async def ready(self) -> dict[str, object]:
        _, body = await self.get("/readyz")
        report = json.loads(body)
        assert isinstance(report, dict), body
        return report

    async def metric(self, line_start: str) -> float:
        """The value of the first /metrics line that starts with `line_start` (0 if none)."""
        _, body = await self.get("/metrics")
        for line in body.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


async def start_replicas(env: dict[str, str], cwd: Path, count: int) -> list[Replica]:
    """`count` processes on one database in webhook mode; the first started leads."""
    replicas: list[Replica] = []
    for index in range(count):
        port = free_port()
        process = await BotProcess.start(
            env | {"BUURTBOT_WEBHOOK_URL": WEBHOOK_URL, "BUURTBOT_LISTEN_PORT": str(port)}, cwd
        )
        replicas.append(Replica(process, port))
        await process.wait_for("listening on", 60)
        if index == 0:
            await process.wait_for("bot @", 60)  # the leader set the webhook
        else:
            await process.wait_for("standby: buurtbot", 60)
    return replicas
