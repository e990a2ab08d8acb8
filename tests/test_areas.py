"""Areas as data: the shipped Helmond file, locate(), validation, and another city's file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.areas import (
    WIJK_PAYLOAD_PREFIX,
    Areas,
    AreasError,
    default_areas_path,
    distance_m,
    load_areas,
)

HELMOND_WIJKEN = {
    "Binnenstad",
    "Brandevoort",
    "Brouwhuis",
    "Dierdonk",
    "Helmond-Noord",
    "Helmond-Oost",
    "Helmond-West",
    "Mierlo-Hout",
    "Rijpelberg",
    "Stiphout",
    "Warande",
}
# Telegram's rule for a /start deep-link payload.
START_PAYLOAD_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@pytest.fixture(scope="module")
def helmond() -> Areas:
    return load_areas()


def _city(**overrides: Any) -> dict[str, Any]:
    """A small valid file (a made-up Deurne) that tests then break one thing in."""
    data: dict[str, Any] = {
        "_note": "test data, coordinates approximate",
        "city": "Deurne",
        "bbox": {"south": 51.43, "west": 5.74, "north": 51.49, "east": 5.84},
        "wijken": [
            {
                "slug": "centrum",
                "name": "Deurne-Centrum",
                "lat": 51.4615,
                "lon": 5.7940,
                "buurten": [{"slug": "kerkeind", "name": "Kerkeind"}],
            },
            {"slug": "zeilberg", "name": "Zeilberg", "lat": 51.4520, "lon": 5.7700, "buurten": []},
        ],
        "business_parks": [
            {
                "slug": "groote-bottel",
                "name": "Groote Bottel",
                "wijk": "zeilberg",
                "lat": 51.4480,
                "lon": 5.7650,
                "radius_m": 500,
            }
        ],
    }
    data.update(overrides)
    return data


def _write(tmp_path: Path, data: Any, name: str = "areas.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _error(tmp_path: Path, data: Any) -> str:
    path = _write(tmp_path, data)
    with pytest.raises(AreasError) as info:
        load_areas(path)
    message = str(info.value)
    assert message.startswith(f"areas file {path}: "), message
    assert "\n" not in message
    return message


# --- the shipped Helmond file -------------------------------------------------------------


def test_default_path_is_the_shipped_file() -> None:
    path = default_areas_path()
    assert path.is_file()
    assert path.parent.name == "areas"
    assert load_areas(path) == load_areas()


def test_helmond_has_its_eleven_wijken(helmond: Areas) -> None:
    assert helmond.city == "Helmond"
    assert len(helmond.wijken) == 11
    assert {w.name for w in helmond.wijken} == HELMOND_WIJKEN


def test_helmond_buurten_from_the_policy_papers(helmond: Areas) -> None:
    def names(slug: str) -> set[str]:
        wijk = helmond.wijk(slug)
        assert wijk is not None
        return {b.name for b in wijk.buurten}

    assert names("helmond-west") == {"Houtsdonk", "Oud-West"}
    assert names("helmond-oost") == {"Bloemenbuurt", "Straakven", "Beisterveldse Broek"}
    assert names("binnenstad") == {
        "Centrum",
        "Leonardus",
        "Heipoort",
        "Vossenbergh",
        "Stationsgebied",
        "Annabuurt/Suytkade",
        "Steenweg",
    }
    houtsdonk = helmond.buurt("helmond-west", "houtsdonk")
    assert houtsdonk is not None
    assert houtsdonk.name == "Houtsdonk"
    assert helmond.buurt("helmond-west", "steenweg") is None
    assert helmond.buurt("nergens", "houtsdonk") is None


def test_helmond_business_parks(helmond: Areas) -> None:
    names = {p.name for p in helmond.business_parks}
    assert {"Hoogeind", "BZOB", "Groot Schooten"} <= names
    bzob = helmond.park("bzob")
    assert bzob is not None
    assert bzob.wijk is None or helmond.wijk(bzob.wijk) is not None
    assert helmond.park("nergens") is None


def test_every_slug_makes_a_valid_deep_link_payload(helmond: Areas) -> None:
    slugs = [w.slug for w in helmond.wijken] + [p.slug for p in helmond.business_parks]
    slugs += [b.slug for w in helmond.wijken for b in w.buurten]
    for slug in slugs:
        assert re.fullmatch(r"[a-z0-9-]{1,40}", slug), slug
        # Room for a longer prefix than "wijk-" (e.g. "park-" or "buurt-<wijk>-") too.
        assert START_PAYLOAD_RE.fullmatch(f"{WIJK_PAYLOAD_PREFIX}{slug}"), slug
    for wijk in helmond.wijken:
        assert START_PAYLOAD_RE.fullmatch(wijk.start_payload)
        assert helmond.wijk_for_payload(wijk.start_payload) == wijk
    assert helmond.wijk_for_payload("wijk-nergens") is None
    assert helmond.wijk_for_payload("binnenstad") is None


def test_every_centre_lies_in_the_city(helmond: Areas) -> None:
    for place in (*helmond.wijken, *helmond.business_parks):
        assert helmond.contains(place.lat, place.lon), place.slug


# --- locate -------------------------------------------------------------------------------


def test_locate_city_centre_is_binnenstad(helmond: Areas) -> None:
    located = helmond.locate(51.4793, 5.6570)  # Markt / kasteel
    assert located is not None
    assert located.wijk.slug == "binnenstad"
    assert located.park is None
    assert located.wijk_distance_m < 1_000


def test_locate_on_a_business_park(helmond: Areas) -> None:
    for park in helmond.business_parks:
        located = helmond.locate(park.lat, park.lon)
        assert located is not None
        assert located.park == park
        if park.wijk is not None:
            assert located.wijk.slug == park.wijk


def test_locate_outside_the_city_is_none(helmond: Areas) -> None:
    assert not helmond.contains(52.3731, 4.8922)
    assert helmond.locate(52.3731, 4.8922) is None  # Amsterdam, Dam
    assert helmond.locate(float("nan"), 5.6570) is None


def test_distance_m_is_haversine() -> None:
    assert distance_m(51.0, 5.0, 51.0, 5.0) == 0
    # One degree of latitude is about 111.2 km anywhere.
    assert distance_m(51.0, 5.0, 52.0, 5.0) == pytest.approx(111_195, rel=1e-3)


# --- another city -------------------------------------------------------------------------


def test_another_city_loads_and_its_names_come_back(tmp_path: Path) -> None:
    areas = load_areas(_write(tmp_path, _city(), "deurne.json"))
    assert areas.city == "Deurne"
    assert [w.name for w in areas.wijken] == ["Deurne-Centrum", "Zeilberg"]
    assert areas.buurt("centrum", "kerkeind") is not None
    assert areas.wijk("binnenstad") is None
    located = areas.locate(51.4615, 5.7940)
    assert located is not None
    assert located.wijk.name == "Deurne-Centrum"
    on_park = areas.locate(51.4480, 5.7650)
    assert on_park is not None
    assert on_park.park is not None
    assert on_park.park.name == "Groote Bottel"
    assert on_park.wijk.slug == "zeilberg"
    # Helmond's centre is outside Deurne's bbox.
    assert areas.locate(51.4793, 5.6570) is None


def test_business_parks_and_buurten_are_optional(tmp_path: Path) -> None:
    data = _city()
    del data["business_parks"]
    del data["wijken"][0]["buurten"]
    areas = load_areas(_write(tmp_path, data))
    assert areas.business_parks == ()
    assert areas.wijken[0].buurten == ()


def test_whole_numbers_are_fine_for_coordinates(tmp_path: Path) -> None:
    data = _city()
    data["business_parks"][0]["radius_m"] = 500
    data["bbox"] = {"south": 51, "west": 5, "north": 52, "east": 6}
    assert load_areas(_write(tmp_path, data)).bbox.south == 51


# --- validation errors --------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(AreasError, match=r"nope\.json: no such file$"):
        load_areas(path)


def test_areas_error_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        load_areas(tmp_path / "nope.json")


def test_invalid_json(tmp_path: Path) -> None:
    assert "not valid JSON" in _error(tmp_path, '{"city": "Deurne",}')
    assert "line 1" in _error(tmp_path, '{"city": "Deurne",}')


def test_nan_is_rejected(tmp_path: Path) -> None:
    text = json.dumps(_city()).replace("51.4615", "NaN")
    assert "NaN is not allowed" in _error(tmp_path, text)


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    assert "JSON object" in _error(tmp_path, [1, 2])


def test_bad_wijk_slug(tmp_path: Path) -> None:
    data = _city()
    data["wijken"][1]["slug"] = "foo bar"
    message = _error(tmp_path, data)
    assert 'wijk "foo bar": slug must be lowercase letters, digits and dashes' in message


@pytest.mark.parametrize("slug", ["Centrum", "café", "-centrum", "a--b", "", "x" * 41])
def test_slug_format(tmp_path: Path, slug: str) -> None:
    data = _city()
    data["wijken"][0]["slug"] = slug
    assert "slug must be lowercase letters, digits and dashes" in _error(tmp_path, data)


def test_bad_buurt_slug_names_wijk_and_buurt(tmp_path: Path) -> None:
    data = _city()
    data["wijken"][0]["buurten"][0]["slug"] = "Kerk Eind"
    message = _error(tmp_path, data)
    assert 'wijk "centrum": buurt "Kerk Eind": slug must be' in message


def test_bad_park_slug(tmp_path: Path) -> None:
    data = _city()
    data["business_parks"][0]["slug"] = "Groote_Bottel"
    assert 'business park "Groote_Bottel": slug must be' in _error(tmp_path, data)


def test_duplicate_wijk_slug(tmp_path: Path) -> None:
    data = _city()
    data["wijken"][1]["slug"] = "centrum"
    assert 'wijk "centrum": slug is used twice' in _error(tmp_path, data)


def test_duplicate_wijk_name(tmp_path: Path) -> None:
    data = _city()
    data["wijken"][1]["name"] = "deurne-centrum"
    assert 'wijk "deurne-centrum": name is used twice' in _error(tmp_path, data)


def test_duplicate_buurt_slug(tmp_path: Path) -> None:
    data = _city()
    data["wijken"][0]["buurten"].append({"slug": "kerkeind", "name": "Kerkeind-Noord"})
    assert 'wijk "centrum": buurt "kerkeind": slug is used twice' in _error(tmp_path, data)


def test_duplicate_park_slug(tmp_path: Path) -> None:
    data = _city()
    park = dict(data["business_parks"][0], name="Other")
    data["business_parks"].append(park)
    assert 'business park "groote-bottel": slug is used twice' in _error(tmp_path, data)


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_wijk_name(tmp_path: Path, name: str) -> None:
    data = _city()
    data["wijken"][1]["name"] = name
    assert 'wijk "zeilberg": name must not be empty' in _error(tmp_path, data)


def test_empty_city_name(tmp_path: Path) -> None:
    assert "city must not be empty" in _error(tmp_path, _city(city=" "))


def test_latitude_out_of_range(tmp_path: Path) -> None:
    data = _city()
    data["wijken"][0]["lat"] = 95.0
    message = _error(tmp_path, data)
    assert 'wijk "centrum": lat: input should be less than or equal to 90' in message


def test_longitude_out_of_range(tmp_path: Path) -> None:
    data = _city()
    data["business_parks"][0]["lon"] = -181
    message = _error(tmp_path, data)
    assert 'business park "groote-bottel": lon: input should be greater than or equal' in message


def test_coordinate_as_string(tmp_path: Path) -> None:
    data = _city()
    data["wijken"][0]["lat"] = "51.46"
    assert 'wijk "centrum": lat: input should be a valid number' in _error(tmp_path, data)


def test_swapped_coordinates_fall_outside_the_bbox(tmp_path: Path) -> None:
    data = _city()
    data["wijken"][1]["lat"], data["wijken"][1]["lon"] = 5.77, 51.452
    assert 'wijk "zeilberg": centre 5.77, 51.452 lies outside the bbox' in _error(tmp_path, data)


def test_park_wijk_must_exist(tmp_path: Path) -> None:
    data = _city()
    data["business_parks"][0]["wijk"] = "vlierden"
    message = _error(tmp_path, data)
    assert 'business park "groote-bottel": wijk "vlierden" does not exist' in message


def test_park_radius_must_be_positive(tmp_path: Path) -> None:
    data = _city()
    data["business_parks"][0]["radius_m"] = 0
    assert 'business park "groote-bottel": radius_m: input should be greater than 0' in _error(
        tmp_path, data
    )


def test_at_least_one_wijk(tmp_path: Path) -> None:
    data = _city(wijken=[], business_parks=[])
    assert "at least one wijk" in _error(tmp_path, data)


def test_missing_field(tmp_path: Path) -> None:
    data = _city()
    del data["wijken"][1]["lon"]
    assert 'wijk "zeilberg": lon is missing' in _error(tmp_path, data)


def test_missing_city(tmp_path: Path) -> None:
    data = _city()
    del data["city"]
    assert _error(tmp_path, data).endswith(": city is missing")


def test_unknown_key_is_a_typo_not_a_comment(tmp_path: Path) -> None:
    data = _city()
    data["wijken"][0]["buurt"] = data["wijken"][0].pop("buurten")
    assert 'wijk "centrum": unknown key "buurt"' in _error(tmp_path, data)


def test_bad_bbox(tmp_path: Path) -> None:
    bbox = {"south": 51.49, "west": 5.74, "north": 51.43, "east": 5.84}
    assert "bbox: south must be below north" in _error(tmp_path, _city(bbox=bbox))


def test_wijk_without_slug_or_name_is_named_by_position(tmp_path: Path) -> None:
    data = _city()
    data["wijken"][1] = {"lat": 51.45, "lon": 5.77}
    message = _error(tmp_path, data)
    assert "wijk #2: slug is missing (and 1 more problem)" in message


def test_only_the_first_problem_is_spelled_out(tmp_path: Path) -> None:
    data = _city()
    data["wijken"][0]["slug"] = "Bad One"
    data["wijken"][1]["slug"] = "Bad Two"
    message = _error(tmp_path, data)
    assert message.count("slug must be") == 1
    assert message.endswith("(and 1 more problem)")


def test_wijk_that_is_not_an_object(tmp_path: Path) -> None:
    data = _city()
    data["wijken"][1] = "zeilberg"
    assert _error(tmp_path, data).endswith(": wijk #2: must be a JSON object")
