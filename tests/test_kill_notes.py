"""kill -9 between an anonymous report and the next full hour: its coordinator's note is
neither lost nor sent early (bot.coordinator_notes holds it until the hour).

The bot runs as a real `python -m bot run` process against the sandbox this test serves,
is killed with SIGKILL by pid once the report is filed, and started again. The hour is
then played by the release job itself, run with the clock at the hour, in a bot built by
the same wiring function.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot import coordinator_notes
from bot.app import build_application, running
from bot.categories import load_categories
from bot.cli import SANDBOX_TOKEN
from bot.i18n import Translator
from bot.services import services_of
from bot.settings import Settings
from handlers.keyboards import language_name
from sandbox.client import SandboxClient
from sandbox.server import SandboxServer
from storage.engine import SessionFactory
from storage.models import Report, utcnow
from tests.journeys.resident import Json, Resident, buttons, entrepreneur, file_report
from tests.processes import ADMIN_ID, BotProcess, bot_environment, until

NOTE = "📥"
# Generous: a start on a loaded 2-core machine, migrations included.
START_WITHIN = 60.0


@pytest.fixture
def env(sandbox: SandboxServer, database_url: str) -> dict[str, str]:
    """What `python -m bot run` gets: the test's sandbox and database."""
    return bot_environment(
        sandbox.api_base_url,
        database_url,
        BUURTBOT_ADMINS=str(ADMIN_ID),
        BUURTBOT_LOG_LEVEL="INFO",
    )


async def notes(client: SandboxClient) -> list[Json]:
    return [m for m in await client.bot_messages(ADMIN_ID) if m.get("text", "").startswith(NOTE)]


async def test_a_held_note_survives_a_kill_9_and_waits_for_the_hour(
    client: SandboxClient,
    sessions: SessionFactory,
    settings: Settings,
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    translator = Translator(default_language="nl", timezone=ZoneInfo("Europe/Amsterdam"))

    async def person(name: str, code: str = "nl", *, user_id: int | None = None) -> Resident:
        user = await client.create_user(name, language_code=code, user_id=user_id)
        someone = Resident(client, user, translator.for_language(code))
        welcome = await someone.say("/start")
        if language_name(code) in buttons(welcome):
            await someone.tap(welcome, language_name(code))
        return someone

    first = await BotProcess.start(env, tmp_path)
    try:
        await first.wait_for("held notes released", START_WITHIN)
        coordinator = await person("Carla", user_id=ADMIN_ID)
        zwaan = await entrepreneur(person, coordinator, "Zwaan")
        ref, _ = await file_report(zwaan, load_categories(), anonymous=True)
    finally:
        first.kill()
        await first.stop()
    async with sessions() as session:
        (report,) = await session.exec(select(Report).order_by(col(Report.id)))
    assert (report.ref, report.anonymous) == (ref, True)
    # Whether this test ran across a full hour: then the note is due, not early.
    due = coordinator_notes.full_hour(settings.tz, utcnow()) > report.created_at
    assert await notes(client) == [] or due

    # Started again: the start's release sends nothing before the hour.
    second = await BotProcess.start(env, tmp_path)
    try:
        await second.wait_for("held notes released", START_WITHIN)
        await second.wait_for("ready", START_WITHIN)  # polling
    finally:
        assert await second.stop() == 0, second.log
    assert len(await notes(client)) == (1 if due else 0)

    # At the hour the note goes out, once, and says nothing of the minute it was filed.
    app = build_application(settings, token=SANDBOX_TOKEN)
    async with running(app, poll_timeout=1):
        services = services_of(app)
        assert services.scheduler is not None
        services.scheduler.forget("notes:anonymous")
        if not due:
            early = report.created_at + timedelta(minutes=59)
            assert await coordinator_notes.release(services, early) == 0
        at_hour = report.created_at + timedelta(hours=1)
        assert await coordinator_notes.release(services, at_hour) == (0 if due else 1)
        assert await coordinator_notes.release(services, at_hour) == 0

        async def sent() -> bool:
            return bool(await notes(client))

        await until(sent, 10, "the held note sent")
    (note,) = await notes(client)
    assert note["text"].startswith(f"{NOTE} Nieuwe melding {ref}: ")
    assert not re.search(r"\d:\d\d", note["text"]), note["text"]
