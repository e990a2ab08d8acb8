"""Wijk polygons (issue 17, part 3): `python -m bot areas import` of a CBS-shaped file, a
point in its polygon (inside, either side of a border, in holes), the codes in exports and
the drawing for the Mini App's map."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openpyxl
import pytest
from pyproj import Transformer

from bot import cbs, geomap, stats, yearly
from bot.areas import Areas, AreasError, distance_m, load_areas
from bot.categories import load_categories
from bot.cli import main
from tests import cbs_sample
from tests.cbs_sample import GEMEENTE, collection, in_rd, write

# A step of 0.00002 degrees is about 2 m north-south and 1.4 m east-west here.
STEP = 0.00002


def imported(tmp_path: Path, data: dict[str, Any], *more: str) -> Areas:
    source = write(tmp_path / "cbs.geojson", data)
    output = tmp_path / "areas.json"
    code = main(["areas", "import", str(source), "--gemeente", GEMEENTE, "-o", str(output), *more])
    assert code == 0
    return load_areas(output)


@pytest.fixture(scope="module")
def proefstad(tmp_path_factory: pytest.TempPathFactory) -> Areas:
    """Both layers in WGS84, with Bedrijventerrein Zuid as a business park."""
    layers = cbs_sample.wijken_layer() + cbs_sample.buurten_layer()
    return imported(tmp_path_factory.mktemp("wgs84"), collection(layers), "--park", "BU99990202")


# (lat, lon, wijk slug or None for "outside the city")
POINTS = [
    (51.490, 5.605, "noord"),
    (51.460, 5.605, "zuid"),
    # Either side of the border Noord/Zuid at 51.475, about 2 m from it.
    (51.475 + STEP, 5.610, "noord"),
    (51.475 - STEP, 5.610, "zuid"),
    # Exactly on it: the wijk listed first in the file, whatever the tree's order.
    (51.475, 5.610, "noord"),
    # Eiland fills a hole in Noord: just inside it, and just outside it in Noord.
    (51.4875, 5.625, "het-eiland"),
    (51.485 + STEP, 5.620 + STEP, "het-eiland"),
    (51.485 - STEP, 5.620 + STEP, "noord"),
    (51.4875, 5.630 + STEP, "noord"),
    # The empty hole (a lake) is in no wijk, so outside the city, as beyond its edge is.
    (51.4925, 5.6425, None),
    (51.490 - STEP, 5.6425, "noord"),
    # Zuid's detached part, and the gap between it and the rest of Zuid.
    (51.460, 5.665, "zuid"),
    (51.460, 5.655, None),
    # Inside the bbox but beyond every wijk, and the water-only buurt left out.
    (51.4995, 5.653, None),
    (51.445, 5.610, None),
]


@pytest.mark.parametrize(("lat", "lon", "wijk"), POINTS)
def test_a_point_belongs_to_the_polygon_it_lies_in(
    proefstad: Areas, lat: float, lon: float, wijk: str | None
) -> None:
    located = proefstad.locate(lat, lon)
    assert (located.wijk.slug if located else None) == wijk


def test_the_nearest_centre_is_not_what_decides(proefstad: Areas) -> None:
    # Far west in Zuid, but nearer to Noord's centre than to Zuid's (Zuid's centre is
    # pulled east by Molen): the polygon wins.
    noord, zuid = proefstad.wijk("noord"), proefstad.wijk("zuid")
    assert noord is not None
    assert zuid is not None
    lat, lon = 51.475 - STEP, 5.6001
    assert distance_m(lat, lon, noord.lat, noord.lon) < distance_m(lat, lon, zuid.lat, zuid.lon)
    located = proefstad.locate(lat, lon)
    assert located is not None
    assert located.wijk.slug == "zuid"


def test_buurten_and_business_parks_by_their_polygons(proefstad: Areas) -> None:
    west = proefstad.locate(51.490, 5.625 - STEP)
    east = proefstad.locate(51.490, 5.625 + STEP)
    assert west is not None
    assert west.buurt is not None
    assert west.buurt.code == "BU99990101"
    assert east is not None
    assert east.buurt is not None
    assert east.buurt.code == "BU99990102"
    assert west.park is None
    on_park = proefstad.locate(51.460, 5.665)  # Molen is part of Bedrijventerrein Zuid
    assert on_park is not None
    assert on_park.park is not None
    assert on_park.park.slug == "bedrijventerrein-zuid"
    assert on_park.park.wijk == "zuid"
    assert on_park.park.code == "BU99990202"
    assert on_park.buurt is not None
    assert on_park.buurt.name == "Bedrijventerrein Zuid"
    in_dorp = proefstad.locate(51.460, 5.610)
    assert in_dorp is not None
    assert in_dorp.park is None
    assert in_dorp.buurt is not None
    assert in_dorp.buurt.name == "Dorp"


def test_the_import_keeps_names_codes_and_a_centre_inside(proefstad: Areas) -> None:
    assert proefstad.city == "Proefstad"
    assert proefstad.code == GEMEENTE
    assert proefstad.geographic
    assert [(w.slug, w.name, w.code) for w in proefstad.wijken] == [
        ("noord", "Noord", "WK999901"),
        ("zuid", "Zuid", "WK999902"),
        ("het-eiland", "Het Eiland", "WK999903"),
    ]
    noord = proefstad.wijk("noord")
    assert noord is not None
    assert [b.name for b in noord.buurten] == ["Noord-West", "Noord-Oost"]
    for wijk in proefstad.wijken:  # not the centroid, which for Noord could be in its hole
        located = proefstad.locate(wijk.lat, wijk.lon)
        assert located is not None
        assert located.wijk == wijk
    # Neither the gemeente next door nor the water-only buurt came along.
    zuid = proefstad.wijk("zuid")
    assert zuid is not None
    assert "Plas" not in {b.name for b in zuid.buurten}
    assert proefstad.wijk("elders") is None


def test_rd_new_is_transformed_to_wgs84(tmp_path: Path, proefstad: Areas) -> None:
    rd = collection(
        in_rd(cbs_sample.wijken_layer() + cbs_sample.buurten_layer()),
        crs="urn:ogc:def:crs:EPSG::28992",
    )
    from_rd = imported(tmp_path, rd)
    for lat, lon, wijk in POINTS:
        located = from_rd.locate(lat, lon)
        assert (located.wijk.slug if located else None) == wijk, (lat, lon)
    assert [w.code for w in from_rd.wijken] == [w.code for w in proefstad.wijken]


def test_rd_new_lands_where_the_rd_origin_is(tmp_path: Path) -> None:
    # Amersfoort's tower, RD's origin (155000, 463000), is at 52.15517 N 5.38721 E.
    square = {
        "type": "Polygon",
        "coordinates": [[[154990, 462990], [155010, 462990], [155010, 463010], [154990, 463010],
                         [154990, 462990]]],
    }  # fmt: skip
    data = collection(
        [{"type": "Feature", "properties": {"WK_CODE": "WK030701"}, "geometry": square}]
    )
    found = cbs.read_features(write(tmp_path / "rd.geojson", data), crs="EPSG:28992")
    centre = found[0].geometry.centroid
    assert centre.y == pytest.approx(52.15517, abs=2e-5)
    assert centre.x == pytest.approx(5.38721, abs=2e-5)


def test_a_buurten_layer_alone_makes_the_wijken_from_its_buurten(tmp_path: Path) -> None:
    buurten = [
        {**f, "properties": {**f["properties"], "wijknaam": name}}
        for f, name in zip(
            cbs_sample.buurten_layer(),
            ["Noord", "Noord", "Zuid", "Zuid", "Het Eiland", "Zuid"],
            strict=True,
        )
    ]
    areas = imported(tmp_path, collection(buurten), "--city", "Proefstad")
    assert [w.name for w in areas.wijken] == ["Noord", "Zuid", "Het Eiland"]
    for lat, lon, wijk in POINTS:
        located = areas.locate(lat, lon)
        assert (located.wijk.slug if located else None) == wijk, (lat, lon)


def run_import(tmp_path: Path, data: Any, *args: str) -> tuple[int, str]:
    source = tmp_path / "in.geojson"
    source.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    output = tmp_path / "out.json"
    argv = ["areas", "import", str(source), "-o", str(output), *args]
    if "--gemeente" not in args:
        argv += ["--gemeente", GEMEENTE]
    return main(argv), str(output)


BAD_FILES = [
    ("{not json", (), "not valid JSON"),
    ({"type": "Feature"}, (), "not a GeoJSON FeatureCollection"),
    (collection(cbs_sample.wijken_layer()), ("--gemeente", "GM0794"),
     "no wijk or buurt of GM0794 in the file (it has GM8888, GM9999)"),
    (collection(cbs_sample.wijken_layer()), ("--gemeente", "Helmond"), "a CBS code is GM"),
    (collection(in_rd(cbs_sample.wijken_layer())), (), "add --crs EPSG:28992"),
    (collection(cbs_sample.wijken_layer(), crs="EPSG:999999"), (), "unknown coordinate system"),
    (collection([{"type": "Feature", "properties": {}, "geometry": {"type": "Point",
                  "coordinates": [5.6, 51.4]}}]), (), "is a Point, not a Polygon"),
    (collection(cbs_sample.buurten_layer()), (), "wijk WK999901: no name (WK_NAAM)"),
    (collection(cbs_sample.wijken_layer()), ("--park", "BU07940101"),
     "--park BU07940101: no buurt or wijk of GM9999 has that code"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "args", "says"), BAD_FILES)
def test_a_wrong_file_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: Any, args: tuple[str, ...], says: str
) -> None:
    code, output = run_import(tmp_path, data, *args)
    err = capsys.readouterr().err
    assert code == 2
    assert says in err
    assert err.count("\n") == 1
    assert err.startswith("buurtbot: ")
    assert not Path(output).exists()


def test_an_existing_file_is_kept_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = collection(cbs_sample.wijken_layer())
    assert run_import(tmp_path, data)[0] == 0
    assert "areas file written to" in capsys.readouterr().out
    assert run_import(tmp_path, data)[0] == 2
    assert "exists already" in capsys.readouterr().err
    assert run_import(tmp_path, data, "--force")[0] == 0


def test_the_command_runs_as_operators_run_it(tmp_path: Path) -> None:
    """A real `python -m bot`, without any settings: it only reads and writes files."""
    source = write(tmp_path / "wijken.geojson", collection(cbs_sample.wijken_layer()))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "areas", "import", str(source), "--gemeente", "gm9999"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = tmp_path / "areas-GM9999.json"
    assert f"areas file written to {written}" in done.stdout
    assert f"BUURTBOT_AREAS_FILE={written}" in done.stdout
    assert load_areas(written).geographic


# --- the areas file's own checks on polygons -----------------------------------------------


def areas_file(tmp_path: Path, **change: Any) -> Path:
    square = [[[5.60, 51.45], [5.65, 51.45], [5.65, 51.50], [5.60, 51.50], [5.60, 51.45]]]
    data: dict[str, Any] = {
        "city": "Proefstad",
        "bbox": {"south": 51.44, "west": 5.59, "north": 51.51, "east": 5.68},
        "wijken": [
            {"slug": "a", "name": "A", "lat": 51.46, "lon": 5.61,
             "geometry": {"type": "Polygon", "coordinates": square}},
            {"slug": "b", "name": "B", "lat": 51.47, "lon": 5.66},
        ],
    }  # fmt: skip
    data["wijken"][1].update(change)
    path = tmp_path / "areas.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


BOW_TIE = {
    "type": "Polygon",
    "coordinates": [[[5.655, 51.46], [5.665, 51.47], [5.665, 51.46], [5.655, 51.47], [5.655, 51.46]]],
}  # fmt: skip
IN_RD = {
    "type": "Polygon",
    "coordinates": [[[172000, 385000], [173000, 385000], [173000, 386000], [172000, 385000]]],
}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({}, 'wijk "b": geometry is missing; either every wijk has one or none does'),
        ({"geometry": BOW_TIE}, 'wijk "b": geometry is not a valid polygon (Self-intersection'),
        ({"geometry": IN_RD}, 'wijk "b": geometry lies outside the bbox (not WGS84'),
        ({"geometry": {"type": "Polygon", "coordinates": [[1, 2]]}}, "not a valid GeoJSON"),
        ({"geometry": {"type": "Point", "coordinates": [5.66, 51.47]}}, "geometry.type"),
        ({"code": "wijk 2"}, "code must be a CBS code"),
    ],
)
def test_the_areas_file_refuses_bad_polygons(
    tmp_path: Path, change: dict[str, Any], says: str
) -> None:
    with pytest.raises(AreasError) as error:
        load_areas(areas_file(tmp_path, **change))
    assert says in str(error.value)
    assert "\n" not in str(error.value)


def test_a_park_needs_a_radius_or_a_polygon(tmp_path: Path) -> None:
    path = areas_file(tmp_path, geometry=BOW_TIE)
    data = json.loads(path.read_text())
    data["wijken"][1].pop("geometry")
    data["wijken"][0].pop("geometry")
    data["business_parks"] = [{"slug": "p", "name": "P", "lat": 51.46, "lon": 5.61}]
    path.write_text(json.dumps(data))
    with pytest.raises(AreasError, match='business park "p": needs a radius_m or a geometry'):
        load_areas(path)


def test_helmonds_shipped_file_keeps_the_nearest_centre() -> None:
    helmond = load_areas()
    assert not helmond.geographic
    stiphout = helmond.wijk("stiphout")
    assert stiphout is not None
    located = helmond.locate(stiphout.lat + 0.001, stiphout.lon)
    assert located is not None
    assert located.wijk == stiphout
    assert located.buurt is None


# --- exports and the map ------------------------------------------------------------------


def test_the_map_is_drawn_from_the_polygons_with_holes(proefstad: Areas) -> None:
    drawn = geomap.svg_map(proefstad, proefstad.wijken)
    assert drawn["geographic"] is True
    assert drawn["viewbox"][:3] == [0, 0, geomap.WIDTH]
    # West to east spans the width; north to south keeps the true proportion: 0.05 degrees
    # of latitude against 0.07 of longitude shrunk by cos(51.475).
    expected = 0.05 / (0.07 * math.cos(math.radians(51.475))) * geomap.WIDTH
    assert drawn["viewbox"][3] == pytest.approx(expected, abs=0.2)
    noord, zuid, eiland = drawn["wijken"]
    assert noord["path"].count("M") == 3  # its outline and its two holes
    assert zuid["path"].count("M") == 2  # two parts
    assert eiland["path"].count("M") == 1
    for item in drawn["wijken"]:
        x, y = item["label"]
        assert 0 <= x <= geomap.WIDTH
        assert 0 <= y <= drawn["viewbox"][3]
    assert {b["code"] for b in drawn["buurten"]} >= {"BU99990101", "BU99990301"}
    # A wijkboa of one wijk sees that wijk, filling the drawing.
    own = geomap.svg_map(proefstad, [proefstad.wijken[2]])
    assert [w["key"] for w in own["wijken"]] == ["het-eiland"]
    assert [b["wijk"] for b in own["buurten"]] == ["het-eiland"]


def test_without_polygons_the_map_says_it_is_not_geographic() -> None:
    helmond = load_areas()
    assert geomap.svg_map(helmond, helmond.wijken) == {"geographic": False}


class _Lang:
    code = "nl"

    def gettext(self, text: str) -> str:
        return text


def test_exports_carry_the_cbs_codes(proefstad: Areas) -> None:
    services: Any = SimpleNamespace(areas=proefstad, categories=load_categories())
    period = stats.period_of("year", date(2026, 6, 1))
    figures = stats.Stats(
        period, {"noord": Counter(subscribed=4), stats.TOTAL: Counter(subscribed=4)}, True
    )
    header, rows = stats._table(services, _Lang(), figures)  # type: ignore[arg-type]
    assert header[:4] == ["periode", "wijk", "CBS-code", "bewoners ingeschreven"]
    assert [row[1:4] for row in rows] == [
        ["Noord", "WK999901", 4],
        ["Zuid", "WK999902", 0],
        ["Het Eiland", "WK999903", 0],
        ["Totaal", "GM9999", 4],
    ]
    book = openpyxl.load_workbook(
        io.BytesIO(yearly.workbook(services, _Lang(), figures, [figures]))  # type: ignore[arg-type]
    )
    for sheet in ("Wijken", "Meldingen per soort"):
        values = list(book[sheet].iter_rows(values_only=True))
        assert values[0][:2] == ("wijk", "CBS-code")
        assert [row[:2] for row in values[1:]] == [
            ("Noord", "WK999901"),
            ("Zuid", "WK999902"),
            ("Het Eiland", "WK999903"),
            ("Totaal", "GM9999"),
        ]


def test_exports_of_a_file_without_codes_have_no_code_column() -> None:
    services: Any = SimpleNamespace(areas=load_areas())
    assert stats.cbs_header(services, _Lang()) == []  # type: ignore[arg-type]
    assert stats.cbs_codes(services) == [[]] * (len(services.areas.wijken) + 1)


def test_transformer_round_trip_is_sub_millimetre() -> None:
    # The test file is made in RD by pyproj and read back by pyproj: check that this
    # round trip itself is exact, so the border tests above measure the import.
    there = Transformer.from_crs(4326, 28992, always_xy=True)
    back = Transformer.from_crs(28992, 4326, always_xy=True)
    x, y = there.transform(5.61, 51.475)
    lon, lat = back.transform(x, y)
    assert abs(lon - 5.61) < 1e-8
    assert abs(lat - 51.475) < 1e-8
