"""The Mini App's geographic map in a real browser (issue 17, part 3): the wijken of a city
with CBS polygons drawn as shapes, opened by a tap and by the keyboard, at phone and
desktop width, without serious axe-core findings on the map."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.app import BotApplication, running
from bot.cli import main
from bot.settings import Settings
from sandbox.client import SandboxClient
from tests import cbs_sample
from tests.browser.helpers import AXE
from tests.cbs_sample import GEMEENTE, collection, write
from tests.journeys.conftest import people
from tests.journeys.test_broadcasts import ADMIN_ID
from tests.journeys.test_miniapp import base

if TYPE_CHECKING:
    from playwright.async_api import Browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    source = write(
        tmp_path / "cbs.geojson",
        collection(cbs_sample.wijken_layer() + cbs_sample.buurten_layer()),
    )
    output = tmp_path / "areas.json"
    assert main(["areas", "import", str(source), "--gemeente", GEMEENTE, "-o", str(output)]) == 0
    return settings.with_overrides(listen_port=0, areas_file=output)


@pytest.fixture
async def bot(app: BotApplication) -> AsyncIterator[BotApplication]:
    async with running(app, poll_timeout=1):
        yield app


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
async def test_a_wijk_on_the_map_opens_by_tap_and_by_enter(
    bot: BotApplication, client: SandboxClient, browser: Browser, viewport: dict[str, int]
) -> None:
    person = people(bot, client)
    await person("Carla", user_id=ADMIN_ID)
    await person("Anna", wijk="zuid")
    opened = await client.webapp(ADMIN_ID, url=base(bot) + "/app/")
    context = await browser.new_context(viewport=viewport, has_touch=viewport is PHONE)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(opened["url"])
    shapes = page.locator("#map path.wijk")
    await shapes.first.wait_for()
    assert await shapes.count() == 3
    assert await page.locator("#map").get_attribute("class") == "geo"
    box = await page.locator("#map svg").bounding_box()
    assert box is not None
    assert box["width"] <= viewport["width"]  # fits the screen, no sideways scrolling

    zuid = page.locator('#map path[data-key="zuid"]')
    if viewport is PHONE:
        await zuid.tap()
    else:
        await zuid.click()
    assert await page.locator("#place").input_value() == "zuid"
    assert await zuid.get_attribute("aria-pressed") == "true"

    # Keyboard: Tab reaches the wijken; Enter opens the one in focus, which keeps focus.
    await page.locator('#map path[data-key="noord"]').focus()
    await page.keyboard.press("Enter")
    assert await page.locator("#place").input_value() == "noord"
    focused = await page.evaluate("document.activeElement.dataset.key")
    assert focused == "noord"
    assert await page.locator('#map path[data-key="zuid"]').get_attribute("aria-pressed") == "false"

    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("async () => await axe.run('#map')")
    serious = [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == []
    assert errors == []
    await context.close()
