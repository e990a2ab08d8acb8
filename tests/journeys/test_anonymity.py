"""Anonymous for real: the adversary holds a copy of the database files and the logs.

The reporter is an entrepreneur, so role_grants (their role, with their first name),
users and the audit log of the grant name them from before they report: that is what
the role needs, and it exists whether they report or not. What the adversary must not
find is anything that appeared *because* they reported: every occurrence of their id
and name after filing was there already before, byte for byte and row for row.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot import reports as service
from bot.app import BotApplication, build_application, running
from bot.cli import SANDBOX_TOKEN
from bot.keys import Keyring, SealError, new_secret, pending, write_key_file
from bot.logs import PAYLOAD_LOGGERS, configure_logging
from bot.services import services_of
from bot.settings import Settings
from sandbox.client import SandboxClient
from storage import reports as store
from storage.engine import SessionFactory, create_session_factory
from storage.models import Delivery, Report, ReportDraft, ReportFollowUp
from tests.journeys.conftest import people
from tests.journeys.resident import (
    MakePerson,
    Resident,
    buttons,
    category,
    entrepreneur,
    file_report,
    invite_link,
    next_message,
    start_report,
)
from tests.journeys.test_reports import ADMIN_ID, PNG, report_rows

REPORTER_ID = 86420975
REPORTER_NAME = "Zwanetta"


@contextmanager
def debug_log() -> Iterator[io.StringIO]:
    """The bot's own logging at DEBUG, as `python -m bot run` sets it up, into a buffer."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("DEBUG", "text")
    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(root.handlers[0].formatter)
    capture.addFilter(root.handlers[0].filters[0])
    # The sandbox plays Telegram in this process; its lines are Telegram's, not the bot's.
    capture.addFilter(lambda record: not record.name.startswith(("sandbox", "aiohttp.server")))
    root.addHandler(capture)
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name in PAYLOAD_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)


class Copy:
    """What the adversary reads: every byte of the files, and every row as a dump line."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)

    @property
    def sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    def files(self) -> bytes:
        path = Path(str(self.url.database))
        return b"".join(
            Path(f"{path}{suffix}").read_bytes()
            for suffix in ("", "-wal", "-shm")
            if Path(f"{path}{suffix}").exists()
        )

    def dump(self) -> list[str]:
        if self.sqlite:
            with sqlite3.connect(str(self.url.database)) as connection:
                return list(connection.iterdump())
        result = subprocess.run(
            [
                "pg_dump",
                "--data-only",
                "-h",
                self.url.host or "127.0.0.1",
                "-p",
                str(self.url.port or 5432),
                "-U",
                self.url.username or "postgres",
                str(self.url.database),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.splitlines()


NEEDLES = [
    str(REPORTER_ID).encode(),
    REPORTER_NAME.encode(),
    struct.pack(">i", REPORTER_ID),  # SQLite keeps an integer in as few bytes as it needs
    struct.pack(">q", REPORTER_ID),
]


def counts(data: bytes) -> list[int]:
    return [data.count(needle) for needle in NEEDLES]


def naming(dump: list[str]) -> set[str]:
    return {line for line in dump if str(REPORTER_ID) in line or REPORTER_NAME in line}


async def shed(services_sessions: SessionFactory) -> None:
    async with services_sessions() as session:
        await store.shed_history(session=session)


@pytest.mark.skipif(
    os.environ.get("TEST_DATABASE_URL") is not None
    and subprocess.run(["which", "pg_dump"], capture_output=True).returncode != 0,
    reason="pg_dump is not installed",
)
async def test_a_copy_of_the_database_and_the_debug_log_name_no_anonymous_reporter(
    bot: BotApplication,
    person: MakePerson,
    client: SandboxClient,
    sessions: SessionFactory,
    database_url: str,
) -> None:
    services = services_of(bot)
    copy = Copy(database_url)
    coordinator = await person("Carla", user_id=ADMIN_ID)
    # BZOB with one entrepreneur: the small park the narrowing attack used.
    zwanetta = await entrepreneur_with_id(person, coordinator)
    # The coordinator's note that her invite was used is out and erased before the copy
    # is taken: it came of the invite, which names her anyway, not of her reports.
    await notes_settled(sessions)
    await shed(sessions)
    before_files, before_dump = copy.files(), copy.dump()

    with debug_log() as logged:
        # 1. From the small park, with a photo, staying on the park after the warning.
        first = await report_with_photo(zwanetta, bot, client)
        # 2. A typed street, no photo, widened to the wijk.
        second = await report_typed_street(zwanetta, bot)
        # 3. Straight from the buttons, widened to the whole city.
        third, _ = await file_report(
            zwanetta, bot, what="overlast", anonymous=True, few="Onder heel {city}"
        )
        await services.settle()  # the history is shed a moment after each report

    after_files, after_dump = copy.files(), copy.dump()
    # Nothing that names her appeared by reporting: not in the bytes (WAL and shm
    # included), not in any row, not in the log.
    if copy.sqlite:
        grown = [
            (needle, b, a)
            for needle, b, a in zip(NEEDLES, counts(before_files), counts(after_files), strict=True)
            if a > b
        ]
        assert grown == [], grown
    assert naming(after_dump) == naming(before_dump)
    log_text = logged.getvalue()
    assert log_text, "the bot logged nothing at DEBUG"
    assert str(REPORTER_ID) not in log_text
    assert REPORTER_NAME not in log_text

    rows = {row.ref: row for row in await report_rows(sessions)}
    assert {first, second, third} <= set(rows)
    assert rows[first].area == "park:bzob"
    assert rows[second].area == "wijk:brouwhuis"
    assert (rows[second].street, rows[second].latitude) == (None, None)
    assert (rows[third].area, rows[third].wijk) == ("city", None)
    for ref in (first, second, third):
        report = rows[ref]
        assert report.reporter_id is None
        # Filed "just now": both times to the hour, so no grant or other time pins it.
        assert (report.created_at.minute, report.created_at.second) == (0, 0)
    assert (rows[third].occurred_at.minute, rows[third].occurred_at.second) == (0, 0)

    # Without the key the follow-ups lead nowhere and follow no report's order.
    async with sessions() as session:
        follow_ups = list(await session.exec(select(ReportFollowUp)))
        assert list(await session.exec(select(ReportDraft))) == []
    assert len(follow_ups) == 3
    stranger = Keyring.generate()
    for row in follow_ups:
        with pytest.raises(SealError):
            service.chat_of(stranger, row)
        assert row.label not in {stranger.label("followup", ref) for ref in rows}
    assert stored_order(copy, after_dump) == sorted(row.label for row in follow_ups)
    if copy.sqlite:
        async with sessions() as session:
            with pytest.raises((OperationalError, DBAPIError)):
                await session.exec(text("SELECT rowid FROM report_followups"))  # type: ignore[call-overload]

    # With the key, the status still reaches her.
    listing = await coordinator.say("/vermoedens")
    details = await coordinator.tap(listing, f"Details {second}")
    ask = await coordinator.tap(details, "⬜ in behandeling")
    await coordinator.tap(ask, "Zonder bericht")
    told = await next_message(zwanetta.client, zwanetta.id, after=zwanetta.last_id)
    assert second in told["text"]

    # Once she is told, nothing of that stays either: the outbox row that held her chat
    # beside her report's news is scrubbed, and no older version of it is left behind.
    async def scrubbed() -> bool:
        async with sessions() as session:
            rows = await session.exec(select(Delivery).where(Delivery.chat_id == REPORTER_ID))
            return rows.first() is None

    for _ in range(100):
        if await scrubbed():
            break
        await asyncio.sleep(0.05)
    assert await scrubbed()
    await asyncio.sleep(0.3)  # the history is shed right after the scrub
    if copy.sqlite:
        files = copy.files()
        grown = [
            (needle, b, a)
            for needle, b, a in zip(NEEDLES, counts(before_files), counts(files), strict=True)
            if a > b
        ]
        assert grown == [], grown
    assert naming(copy.dump()) == naming(before_dump)


def stored_order(copy: Copy, dump: list[str]) -> list[str]:
    """The follow-ups' labels in the order the files keep them (what a dump lists)."""
    if copy.sqlite:
        found = [re.search(r"'([0-9a-f]{64})'", line) for line in dump]
        return [
            match.group(1)
            for line, match in zip(dump, found, strict=True)
            if match and '"report_followups"' in line
        ]
    start = next(
        i for i, line in enumerate(dump) if line.startswith("COPY public.report_followups")
    )
    labels = []
    for line in dump[start + 1 :]:
        if line == "\\.":
            break
        labels.append(line.split("\t")[0])
    return labels


async def notes_settled(sessions: SessionFactory) -> None:
    """Until no outbox row still holds a message (sent and scrubbed, bot.notices)."""

    async def settled() -> bool:
        async with sessions() as session:
            held = await session.exec(select(Delivery).where(col(Delivery.content).is_not(None)))
            return held.first() is None

    for _ in range(200):
        if await settled():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("a notice was not sent within 10 s")


async def entrepreneur_with_id(person: MakePerson, coordinator: Resident) -> Resident:
    """The reporter, with an id and a name distinctive enough to search bytes for."""

    _ = coordinator._
    code = await invite_link(coordinator, _("ondernemer"), "BZOB", "1", _("1 dag"))
    someone = await person(REPORTER_NAME, user_id=REPORTER_ID)
    welcome = await someone.say(f"/start inv-{code}")
    assert someone._("Meld een vermoeden") in buttons(welcome)
    return someone


async def report_with_photo(someone: Resident, bot: BotApplication, client: SandboxClient) -> str:
    step = await start_report(someone)
    step = await someone.tap(step, category(someone, "voertuig", bot))
    step = await someone.tap(step, "BZOB")
    step = await someone.tap(step, "Nu net")
    step = await someone.say('Een bus met "valse" borden,\nrijdt rondjes <b>& wacht</b>.')
    sent = await client.send_photo(someone.id, PNG)
    photos = await someone.next_reply(after=sent["message_id"])
    warned = await someone.tap(photos, "Klaar")
    warned = await someone.tap(warned, "🕶 Anoniem")
    assert warned["text"].startswith("Let op: weinig mensen melden over BZOB.")
    summary = await someone.tap(warned, "Toch onder BZOB")
    return await send(someone, summary)


async def report_typed_street(someone: Resident, bot: BotApplication) -> str:
    step = await start_report(someone)
    step = await someone.tap(step, category(someone, "overlast", bot))
    step = await someone.say("Churchilllaan")
    step = await someone.tap(step, "BZOB")
    step = await someone.tap(step, "Eerder vandaag")
    step = await someone.say("00:00")
    step = await someone.say("Iemand probeert deuren van auto's open te trekken.")
    step = await someone.tap(step, "Geen foto")
    # She takes the park's wijk: the street goes with the precise place.
    warned = await someone.tap(step, "🕶 Anoniem")
    summary = await someone.tap(warned, "Onder wijk Brouwhuis")
    assert "Churchilllaan" not in summary["text"]
    return await send(someone, summary)


async def send(someone: Resident, summary: dict[str, object]) -> str:
    done = await someone.tap(summary, "✅ Versturen")
    found = re.search(r"MV-\d{4}-\d{6}", str(done["text"]))
    assert found, done["text"]
    return found.group(0)


async def test_report_numbers_are_never_given_twice(
    bot: BotApplication, person: MakePerson, sessions: SessionFactory
) -> None:
    """SQLite would give the highest erased rowid again; AUTOINCREMENT never does."""
    coordinator = await person("Carla", user_id=ADMIN_ID)
    eva = await entrepreneur(person, coordinator, "Eva")
    first, _ = await file_report(eva, bot)
    second, _ = await file_report(eva, bot)
    async with sessions() as session:
        ids = [report.id for report in await report_rows(sessions) if report.ref == second]
        await store.erase(session=session, ids=[i for i in ids if i is not None], labels=[])
    third, _ = await file_report(eva, bot)
    assert len({first, second, third}) == 3
    async with sessions() as session:
        kept = list(await session.exec(select(Report.ref).order_by(col(Report.id))))
    assert kept == [first, third]


async def test_status_updates_reach_the_reporter_after_the_key_is_rotated(
    settings: Settings,
    engine: AsyncEngine,
    client: SandboxClient,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """File anonymously, stop, `python -m bot secret rotate`, start: the status arrives."""
    # Not beside the SQLite file (tmp_path): the bot would rightly refuse that.
    tmp_path = tmp_path_factory.mktemp("elsewhere")
    path = tmp_path / "keys" / "secret"
    write_key_file(path, new_secret())
    configured = settings.with_overrides(secret_file=path)
    first = build_application(configured, token=SANDBOX_TOKEN)
    async with running(first, poll_timeout=1):
        person = people(first, client)
        coordinator = await person("Carla", user_id=ADMIN_ID)
        eva = await entrepreneur(person, coordinator, "Eva")
        ref, _ = await file_report(eva, first, anonymous=True)
        await services_of(first).settle()
    old = path.read_text()

    rotated = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "secret",
        "rotate",
        cwd=tmp_path,
        env={**os.environ, "DATABASE_URL": database_url, "BUURTBOT_SECRET_FILE": str(path)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await rotated.communicate()
    assert rotated.returncode == 0, err.decode()
    assert "1 follow-ups sealed anew" in out.decode()
    assert path.read_text() != old
    assert (path.stat().st_mode & 0o777) == 0o600
    assert not pending(path).exists()
    async with create_session_factory(engine)() as session:
        (row,) = list(await session.exec(select(ReportFollowUp)))
    with pytest.raises(SealError):
        service.chat_of(Keyring.from_secret(old), row)

    second = build_application(configured, token=SANDBOX_TOKEN)
    async with running(second, poll_timeout=1):
        listing = await coordinator.say("/vermoedens")
        details = await coordinator.tap(listing, f"Details {ref}")
        ask = await coordinator.tap(details, "⬜ in behandeling")
        await coordinator.tap(ask, "Zonder bericht")
        told = await next_message(eva.client, eva.id, after=eva.last_id)
        assert ref in told["text"]
