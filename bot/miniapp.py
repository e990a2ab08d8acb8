"""The coordinator's Mini App on the bot's own HTTP server (bot.web), issue 17.

* `GET /app/`: the page (bot/static/miniapp, plain HTML, CSS and JS, no build step).
* `GET /app/api/me|figures|trend|teams|broadcasts|reports|map`, `GET /app/api/yearly.xlsx|pdf`,
  `POST /app/api/reports/{ref}` (one report's details, audited as the chat's Details
  button) and `POST /app/api/teams/{kind}/{id}/ask` (the chat's "still active?"
  button): JSON (or the file) for the page (`map`: the wijken's polygons as SVG paths,
  bot.geomap, when the areas file has them). Every call
  carries Telegram's initData (`Authorization: tma <initData>`), checked by
  bot.initdata, and the role is looked up anew on each call (bot.cockpit): a role
  taken away an hour ago does not live on in a tab left open. No initData or a bad one
  is 401; a valid one of someone without the role is 403; both JSON with a short reason.

* `GET /app/toegankelijkheid?lang=xx`: the accessibility statement, public, in the
  reader's language (the page links to it with the language it was given).

Everything is read through bot.cockpit; this module knows HTTP and nothing of storage.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from bot import accessibility, cockpit, geomap, initdata, stats, yearly
from bot.areas import Wijk
from bot.callbacks import row_id
from bot.cockpit import CockpitError, Reader
from bot.i18n import N_
from bot.initdata import InitDataError
from bot.overview import NOBODY_TO_ASK, OverviewError
from bot.reports import ReportError
from bot.services import Services
from bot.stats import StatsError

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static" / "miniapp"
PREFIX = "/app"
RTL = {"ar"}

# The page's texts, translated per reader from the bot's own catalogs.
TEXTS: dict[str, str] = {
    "title": N_("Overzicht voor de coördinator"),
    "loading": N_("Even laden…"),
    "failed": N_("Dat lukte niet. Probeer het nog eens."),
    "map": N_("Kaart van de wijken"),
    "map_note": N_(
        "Elke tegel is een wijk. De plek is ongeveer: we kennen alleen het midden van elke wijk, "
        "niet de grenzen."
    ),
    "map_note_geo": N_("De kaart toont de grenzen van de wijken. Kies een wijk voor de cijfers."),
    "map_figure": N_("Kleur naar"),
    "whole_city": N_("Hele stad"),
    "figures": N_("Cijfers"),
    "trend": N_("Verloop"),
    "week": N_("Week"),
    "month": N_("Maand"),
    "year": N_("Jaar"),
    "previous": N_("Vorige periode"),
    "next": N_("Volgende periode"),
    "before": N_("ervoor"),
    "teams": N_("Teams en groepen"),
    "team": N_("Team"),
    "group": N_("Groep"),
    "status_approved": N_("actief"),
    "status_pending": N_("wacht"),
    "status_paused": N_("gepauzeerd"),
    "dormant": N_("slapend"),
    "last_sign": N_("Laatste teken van leven"),
    "broadcasts": N_("Berichten"),
    "state_planned": N_("gepland"),
    "state_sending": N_("wordt verstuurd"),
    "state_sent": N_("verstuurd"),
    "state_called_off": N_("gaat niet door"),
    "delivered": N_("bezorgd"),
    "failed_count": N_("mislukt"),
    "waiting": N_("wacht"),
    "replies": N_("Reacties"),
    "everyone": N_("heel de stad"),
    "none": N_("Niets te zien."),
    "hidden": N_("Kleine aantallen (minder dan {n}) tonen we niet."),
    "yearly": N_("Jaarrapport {year} downloaden (.xlsx)"),
    "yearly_pdf": N_("Jaarrapport {year} downloaden (PDF)"),
    "reports": N_("Meldingen"),
    "reports_note": N_(
        "Alleen nummer, soort, plek en datum. De details open je apart; dat wordt vastgelegd."
    ),
    "details": N_("Details {ref}"),
    "filed": N_("Gemeld"),
    "happened": N_("Gebeurd"),
    "ask": N_("Vraag of {name} nog actief is"),
    "asked": N_("Vraag verstuurd."),
    "not_reached": N_("Deze persoon is niet bereikbaar."),
    "statement": N_("Toegankelijkheid"),
    "now_states": N_("Teams en groepen zoals ze nu zijn: van toen is niets bewaard."),
}


def wijk_tiles(wijken: list[Wijk]) -> list[dict[str, Any]]:
    """Each wijk on a small grid, north up, by its centre: a tile map, not a real map.

    A wijk whose cell is taken goes to the nearest free one, so no two tiles overlap.
    """
    if not wijken:
        return []
    # Square-ish and no wider than needed: at 320 px each tile keeps room for its name.
    side = math.ceil(math.sqrt(len(wijken)))
    lats = [w.lat for w in wijken]
    lons = [w.lon for w in wijken]

    def cell(value: float, low: float, high: float) -> int:
        return 0 if high == low else round((value - low) / (high - low) * (side - 1))

    taken: set[tuple[int, int]] = set()
    tiles = []
    for wijk in sorted(wijken, key=lambda w: (-w.lat, w.lon)):
        want = (
            cell(max(lats) - wijk.lat + min(lats), min(lats), max(lats)),
            cell(wijk.lon, min(lons), max(lons)),
        )
        free = [(r, c) for r in range(side) for c in range(side) if (r, c) not in taken]
        row, col = min(free, key=lambda rc: ((rc[0] - want[0]) ** 2 + (rc[1] - want[1]) ** 2, rc))
        taken.add((row, col))
        tiles.append({"key": wijk.slug, "name": wijk.name, "row": row, "col": col})
    return sorted(tiles, key=lambda t: (t["row"], t["col"]))


Handler = Callable[[web.Request, Reader], Awaitable[dict[str, Any] | web.Response]]


class MiniApp:
    """The page and its API, mounted on the bot's aiohttp application."""

    def __init__(self, services: Services, token: str) -> None:
        self.services = services
        self.token = token
        # The drawing per set of wijken shown: the polygons never change while the bot runs.
        self._maps: dict[tuple[str, ...] | None, dict[str, Any]] = {}

    def mount(self, app: web.Application) -> None:
        app.router.add_get(PREFIX, self.index)
        app.router.add_get(PREFIX + "/", self.index)
        app.router.add_static(PREFIX + "/static/", STATIC, append_version=True)
        for name, handler in (
            ("me", self.me),
            ("figures", self.figures),
            ("trend", self.trend),
            ("teams", self.teams),
            ("broadcasts", self.broadcasts),
            ("map", self.map),
            ("reports", self.reports),
            ("yearly.xlsx", self.yearly),
            ("yearly.pdf", self.yearly),
        ):
            app.router.add_get(f"{PREFIX}/api/{name}", self._guarded(handler))
        # POST: each has an effect (an audit row, a message to someone).
        app.router.add_post(PREFIX + "/api/reports/{ref}", self._guarded(self.details))
        app.router.add_post(PREFIX + "/api/teams/{kind}/{id}/ask", self._guarded(self.ask))
        app.router.add_get(PREFIX + "/toegankelijkheid", self.statement)

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    def _guarded(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def guarded(request: web.Request) -> web.Response:
            scheme, _sep, given = request.headers.get("Authorization", "").partition(" ")
            try:
                if scheme.lower() != "tma":
                    raise InitDataError("no initData")
                user = initdata.validate(given.strip(), self.token, datetime.now(UTC))
            except InitDataError as error:
                return _refuse(401, error.key)
            try:
                who = await cockpit.reader(self.services, user.id)
            except CockpitError as error:
                lang = self.services.translator.for_language(user.language_code or "")
                return _refuse(403, lang.gettext(error.key))
            try:
                body = await handler(request, who)
            except CockpitError as error:
                return _refuse(403, who.lang.gettext(error.key))
            except (StatsError, ReportError, OverviewError) as error:
                return _refuse(400, who.lang.gettext(error.key))
            if isinstance(body, web.Response):
                body.headers["Cache-Control"] = "no-store"
                return body
            return web.json_response(body, headers={"Cache-Control": "no-store"})

        return guarded

    async def me(self, request: web.Request, who: Reader) -> dict[str, Any]:
        """Who reads, the page's texts in their language, and the tiles of the map."""
        areas = self.services.areas
        wijken = [w for w in areas.wijken if who.wijken is None or w.slug in who.wijken]
        return {
            "user_id": who.user_id,
            "language": who.lang.code,
            "dir": "rtl" if who.lang.code in RTL else "ltr",
            "city": areas.city,
            "scope": "city" if who.city else "wijk",
            "year": stats.today_in(self.services).year,  # the city's, not the phone's
            "texts": {key: who.lang.gettext(msgid) for key, msgid in TEXTS.items()},
            "tiles": wijk_tiles(wijken),
            # The shipped Helmond file has centres only: then the page draws the tiles.
            "geographic": areas.geographic,
        }

    async def figures(self, request: web.Request, who: Reader) -> dict[str, Any]:
        today = stats.today_in(self.services)
        code = request.query.get("period", "")
        if code:
            period = stats.period_from_code(code, today)
            if period is None:
                raise StatsError(stats.BAD_PERIOD)
        else:
            kind = request.query.get("kind", "week")
            if kind not in cockpit.TREND_PERIODS:
                raise StatsError(stats.BAD_PERIOD)
            period = stats.period_of(kind, today)
        return await cockpit.figures(self.services, who, period)

    async def trend(self, request: web.Request, who: Reader) -> dict[str, Any]:
        return await cockpit.trend(self.services, who, request.query.get("kind", "week"))

    async def teams(self, request: web.Request, who: Reader) -> dict[str, Any]:
        return await cockpit.teams_and_groups(self.services, who)

    async def broadcasts(self, request: web.Request, who: Reader) -> dict[str, Any]:
        return await cockpit.broadcasts(self.services, who)

    async def map(self, request: web.Request, who: Reader) -> dict[str, Any]:
        """The wijken this reader sees, drawn from their polygons (none: not geographic)."""
        if who.wijken not in self._maps:
            areas = self.services.areas
            shown = [w for w in areas.wijken if who.wijken is None or w.slug in who.wijken]
            self._maps[who.wijken] = geomap.svg_map(areas, shown)
        return self._maps[who.wijken]

    async def reports(self, request: web.Request, who: Reader) -> dict[str, Any]:
        return await cockpit.report_list(self.services, who, request.query.get("status"))

    async def details(self, request: web.Request, who: Reader) -> dict[str, Any]:
        return await cockpit.report_details(self.services, who, request.match_info["ref"])

    async def ask(self, request: web.Request, who: Reader) -> dict[str, Any]:
        item_id = row_id(request.match_info["id"])
        if item_id is None:
            raise OverviewError(NOBODY_TO_ASK)
        sent = await cockpit.ask_still_active(
            self.services, who, request.match_info["kind"], item_id
        )
        return {"ok": True, "sent": sent}

    async def statement(self, request: web.Request) -> web.Response:
        lang = self.services.translator.for_language(request.query.get("lang", ""))
        page = accessibility.statement(lang, self.services.areas.city, RTL)
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    async def yearly(self, request: web.Request, who: Reader) -> web.Response:
        """The yearly report, .xlsx or PDF by the path (every wijk in it: for the council,
        so coordinators only)."""
        if not who.city:
            raise CockpitError(cockpit.COORDINATORS_ONLY)
        today = stats.today_in(self.services)
        year = stats.period_from_code("y" + request.query.get("year", str(today.year)), today)
        if year is None:
            raise StatsError(stats.BAD_PERIOD)
        as_pdf = request.path.endswith(".pdf")
        make = yearly.yearly_pdf if as_pdf else yearly.yearly_report
        body, name = await make(self.services, who.lang, year)
        return web.Response(
            body=body,
            content_type="application/pdf" if as_pdf else XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _refuse(status: int, reason: str) -> web.Response:
    return web.json_response({"ok": False, "error": reason}, status=status)
