"""A city with CBS polygons (issue 17, part 3), over real HTTP: a shared location goes to the
polygon it lies in, and the Mini App draws the real map, for a coordinator and a wijkboa."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import BotApplication, running
from bot.cli import main
from bot.roles import Role, grant
from bot.services import services_of
from bot.settings import Settings
from sandbox.client import SandboxClient
from tests import cbs_sample
from tests.cbs_sample import GEMEENTE, collection, in_rd, write
from tests.journeys.resident import MakePerson
from tests.journeys.test_miniapp import CHROMIUM, api, base, needs_chromium, rendered, signed
from tests.journeys.test_reports import ADMIN_ID, category, entrepreneur, press_new, start_report

STEP = 0.00002  # about 2 m
# Just south of the border with Noord, far west: nearer to Noord's centre than to Zuid's.
NEAR_BORDER_IN_ZUID = (51.475 - STEP, 5.6001)
IN_THE_LAKE = (51.4925, 5.6425)  # a hole in Noord that no wijk fills


@pytest.fixture(scope="module")
def proefstad_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Imported from RD New, as CBS publishes it, by the command an operator runs."""
    folder = tmp_path_factory.mktemp("proefstad")
    layers = cbs_sample.wijken_layer() + cbs_sample.buurten_layer()
    source = write(
        folder / "cbs.geojson", collection(in_rd(layers), crs="urn:ogc:def:crs:EPSG::28992")
    )
    output = folder / "areas.json"
    argv = ["areas", "import", str(source), "--gemeente", GEMEENTE, "-o", str(output)]
    assert main([*argv, "--park", "BU99990202"]) == 0
    return output


@pytest.fixture
def settings(settings: Settings, proefstad_file: Path) -> Settings:
    return settings.with_overrides(listen_port=0, areas_file=proefstad_file)


@pytest.fixture
async def bot(app: BotApplication) -> AsyncIterator[BotApplication]:
    async with running(app, poll_timeout=1):
        yield app


async def test_a_shared_location_goes_to_the_polygon_it_lies_in(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    admin = await person("Beheer", user_id=ADMIN_ID)
    eva = await entrepreneur(person, admin, "Eva", park="Bedrijventerrein Zuid")
    _ = eva._
    where = await eva.tap(await start_report(eva), category(eva, "voertuig", bot))
    await press_new(eva, where, "📍 " + _("Mijn locatie delen"))

    sent = await client.send_location(eva.id, *IN_THE_LAKE)
    outside = await eva.next_reply(after=sent["message_id"])
    assert outside["text"] == _(
        "Die plek ligt buiten {city}. Meldingen gaan alleen over {city}. Kies het terrein of de wijk met de knoppen."
    ).format(city="Proefstad")
    sent = await client.send_location(eva.id, *NEAR_BORDER_IN_ZUID)
    placed, _when = await client.wait_bot_messages(eva.id, 2, after=sent["message_id"])
    assert placed["text"] == "📍 Zuid"


async def test_the_map_is_geographic_for_a_coordinator_and_a_wijkboa(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    await person("Carla", user_id=ADMIN_ID)
    status, me = await api(bot, "/app/api/me", await signed(client, ADMIN_ID))
    assert status == 200
    assert me["geographic"] is True
    assert me["texts"]["map_note_geo"]
    status, drawn = await api(bot, "/app/api/map", await signed(client, ADMIN_ID))
    assert status == 200
    assert [w["key"] for w in drawn["wijken"]] == ["noord", "zuid", "het-eiland"]
    assert [w["code"] for w in drawn["wijken"]] == ["WK999901", "WK999902", "WK999903"]
    assert drawn["wijken"][0]["path"].count("M") == 3  # Noord with its two holes

    boa = await person("Bas")
    await grant(services_of(bot), boa.id, Role.WIJKBOA, "wijk:zuid", name="Bas", by=ADMIN_ID)
    status, own = await api(bot, "/app/api/map", await signed(client, boa.id))
    assert status == 200
    assert [w["key"] for w in own["wijken"]] == ["zuid"]
    assert {b["wijk"] for b in own["buurten"]} == {"zuid"}
    resident = await person("Anna", wijk="noord")
    status, refused = await api(bot, "/app/api/map", await signed(client, resident.id))
    assert status == 403
    assert refused["ok"] is False


@needs_chromium
async def test_the_page_draws_the_wijken_as_shapes_to_tap(
    bot: BotApplication, person: MakePerson, client: SandboxClient
) -> None:
    assert CHROMIUM is not None
    await person("Carla", user_id=ADMIN_ID)
    await person("Anna", wijk="zuid")
    opened = await client.webapp(ADMIN_ID, url=base(bot) + "/app/")
    dom = await rendered(opened["url"])
    assert 'class="geo"' in dom
    assert dom.count('role="button" aria-pressed=') == 3
    assert 'aria-label="Zuid: 1"' in dom  # coloured by residents, Anna in Zuid
    assert "De kaart toont de grenzen van de wijken." in dom
    assert "Elke tegel is een wijk" not in dom
    assert "Dat lukte niet" not in dom
