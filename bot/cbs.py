"""CBS's Wijk- en Buurtkaart into an areas file (bot.areas): `python -m bot areas import`.

CBS publishes the wijken and buurten of every gemeente each year as polygons with the
properties GM_CODE, GM_NAAM, WK_CODE, WK_NAAM, BU_CODE and BU_NAAM (in upper or lower
case; the newer GeoPackages and PDOK's services spell them out as gemeentecode,
gemeentenaam, wijkcode, wijknaam, buurtcode and buurtnaam: those are read too). One or more GeoJSON files go in: a wijken layer, a buurten
layer, or both. A feature with a BU_CODE is a buurt, one with a WK_CODE and no BU_CODE a
wijk; a wijk that is not in the files is the union of its buurten. Features CBS marks as
water only (WATER = JA) are left out: nobody shares a location from a lake.

Coordinates: GeoJSON's own WGS84 longitude/latitude, or whatever CRS the file names
("crs" member, as GDAL writes it) or --crs gives, transformed with pyproj. CBS's usual
RD New (EPSG:28992) becomes WGS84 to about a metre. A file with numbers far outside
longitude/latitude and no CRS is refused rather than guessed.

Every error is a CbsError whose text is one line for the operator.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import shapely.errors
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from bot.areas import SLUG_MAX_LENGTH, AreasError, load_areas

__all__ = ["CbsError", "convert", "import_files", "read_features"]

WGS84 = CRS.from_epsg(4326)
# Six decimals of a degree are about 10 cm: more than CBS's own precision, far less text.
DECIMALS = 6
# Room round the polygons in the bbox, in degrees (about 500 m).
BBOX_MARGIN = 0.005
_GM_RE = re.compile(r"GM[0-9]{4}")
# The spelled-out names of newer CBS files, as the short ones this module reads.
_ALIASES = {
    "GEMEENTECODE": "GM_CODE",
    "GEMEENTENAAM": "GM_NAAM",
    "WIJKCODE": "WK_CODE",
    "WIJKNAAM": "WK_NAAM",
    "BUURTCODE": "BU_CODE",
    "BUURTNAAM": "BU_NAAM",
}


class CbsError(ValueError):
    """The CBS file cannot become an areas file; ``str()`` is one line."""


@dataclass
class Feature:
    properties: dict[str, Any]  # upper-cased keys
    geometry: BaseGeometry
    source: Path

    def get(self, key: str) -> str | None:
        value = self.properties.get(key)
        if value is None:
            return None
        text = str(value).strip()
        return text or None

    @property
    def gemeente(self) -> str | None:
        if code := self.get("GM_CODE"):
            return code.upper()
        # A layer without GM_CODE still says it in its codes: WK0794.. and BU0794...
        own = self.get("BU_CODE") or self.get("WK_CODE")
        return f"GM{own[2:6]}" if own and len(own) >= 6 else None


@dataclass
class _Wijk:
    code: str
    name: str | None
    geometry: BaseGeometry | None = None
    buurten: list[Feature] = field(default_factory=list)


def _crs_of(data: dict[str, Any], path: Path, given: str | None) -> CRS:
    named = given
    if named is None:
        member = data.get("crs")
        if isinstance(member, dict):
            properties = member.get("properties")
            if isinstance(properties, dict) and isinstance(properties.get("name"), str):
                named = properties["name"]
    if named is None:
        return WGS84
    try:
        crs = CRS.from_user_input(named)
    except CRSError:
        raise CbsError(f"{path}: unknown coordinate system {named!r}") from None
    # urn:ogc:def:crs:EPSG::4326 in GeoJSON still means longitude first, as CRS84 does.
    return WGS84 if crs.equals(WGS84, ignore_axis_order=True) else crs


def _to_wgs84(geometry: BaseGeometry, transformer: Transformer | None) -> BaseGeometry:
    if transformer is not None:

        def project(points: np.ndarray) -> np.ndarray:
            lon, lat = transformer.transform(points[:, 0], points[:, 1])
            return np.column_stack([lon, lat])

        geometry = shapely.transform(geometry, project)
    return shapely.set_precision(geometry, 10**-DECIMALS)


def read_features(path: Path, crs: str | None = None) -> list[Feature]:
    """The polygons of one GeoJSON FeatureCollection, in WGS84."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CbsError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CbsError(f"{path}: cannot read: {exc}") from None
    except ValueError as exc:
        raise CbsError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise CbsError(f"{path}: not a GeoJSON FeatureCollection")
    raw = data.get("features")
    if not isinstance(raw, list):
        raise CbsError(f"{path}: features must be a list")
    source = _crs_of(data, path, crs)
    transformer = None if source == WGS84 else Transformer.from_crs(source, WGS84, always_xy=True)
    features = []
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("geometry"), dict):
            raise CbsError(f"{path}: feature #{number} has no geometry")
        if item["geometry"].get("type") not in {"Polygon", "MultiPolygon"}:
            raise CbsError(
                f"{path}: feature #{number} is a {item['geometry'].get('type')}, "
                "not a Polygon or MultiPolygon"
            )
        try:
            geometry = shape(item["geometry"])
        except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.ShapelyError):
            raise CbsError(f"{path}: feature #{number} has broken coordinates") from None
        properties = item.get("properties") or {}
        if not isinstance(properties, dict):
            raise CbsError(f"{path}: feature #{number} has no properties")
        if transformer is None and not _plausible_lonlat(geometry):
            raise CbsError(
                f"{path}: coordinates are not longitude/latitude and the file names no "
                "CRS; CBS's RD New? add --crs EPSG:28992"
            )
        keys = {_ALIASES.get(str(k).upper(), str(k).upper()): v for k, v in properties.items()}
        feature = Feature(keys, geometry, path)
        feature.geometry = _to_wgs84(geometry, transformer)
        features.append(feature)
    return features


def _plausible_lonlat(geometry: BaseGeometry) -> bool:
    west, south, east, north = geometry.bounds
    return -180 <= west <= east <= 180 and -90 <= south <= north <= 90


def slugify(text: str) -> str:
    """'Helmond-Noord' -> 'helmond-noord', 'Sint-Trudo (De Loop)' -> 'sint-trudo-de-loop'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:SLUG_MAX_LENGTH].rstrip("-")


def _unique(wanted: str, code: str, taken: set[str]) -> str:
    """A slug not yet used here; the CBS code's digits make a clash unique."""
    slug = wanted or code.lower()
    if slug in taken:
        suffix = "-" + code.lower()
        slug = slug[: SLUG_MAX_LENGTH - len(suffix)].rstrip("-") + suffix
    taken.add(slug)
    return slug


def _unique_name(wanted: str, code: str, taken: set[str]) -> str:
    name = wanted if wanted.casefold() not in taken else f"{wanted} ({code})"
    taken.add(name.casefold())
    return name


def _geojson(geometry: BaseGeometry) -> dict[str, Any]:
    # mapping() gives tuples; lists keep the file plain JSON for anyone reading it.
    return json.loads(json.dumps(mapping(geometry)))


def _centre(geometry: BaseGeometry) -> tuple[float, float]:
    """A point certainly inside (a centroid can fall outside a crescent): lat, lon."""
    point = geometry.representative_point()
    return round(point.y, DECIMALS), round(point.x, DECIMALS)


def _valid(geometry: BaseGeometry) -> BaseGeometry:
    # Rounding can pinch a thin polygon into an invalid one; make_valid keeps its area.
    if geometry.is_valid:
        return geometry
    fixed = shapely.make_valid(geometry)
    polygons = [g for g in getattr(fixed, "geoms", [fixed]) if g.geom_type.endswith("Polygon")]
    return shapely.union_all(polygons)


def convert(
    features: Iterable[Feature],
    gemeente: str,
    *,
    parks: Sequence[str] = (),
    city: str | None = None,
) -> dict[str, Any]:
    """The areas file (as JSON data) of one gemeente's wijken, buurten and parks."""
    gemeente = gemeente.strip().upper()
    if not _GM_RE.fullmatch(gemeente):
        raise CbsError(f"--gemeente {gemeente!r}: a CBS code is GM and four digits, e.g. GM0794")
    every = list(features)
    mine = [f for f in every if f.gemeente == gemeente]
    if not mine:
        found = sorted({g for f in every if (g := f.gemeente)})
        hint = f" (it has {', '.join(found[:5])}{'…' if len(found) > 5 else ''})" if found else ""
        raise CbsError(f"no wijk or buurt of {gemeente} in the file{hint}")
    land = [f for f in mine if (f.get("WATER") or "").upper() != "JA"]
    wijken: dict[str, _Wijk] = {}
    for feature in land:
        code = feature.get("WK_CODE")
        if code is None:
            raise CbsError(f"{feature.source}: a feature of {gemeente} has no WK_CODE")
        wijk = wijken.setdefault(code, _Wijk(code=code, name=None))
        if feature.get("BU_CODE"):
            wijk.buurten.append(feature)
            wijk.name = wijk.name or feature.get("WK_NAAM")
        else:
            wijk.geometry = feature.geometry
            wijk.name = feature.get("WK_NAAM") or wijk.name
    for wijk in wijken.values():
        if wijk.name is None:
            raise CbsError(f"wijk {wijk.code}: no name (WK_NAAM); give the wijken layer too")
        if wijk.geometry is None:
            wijk.geometry = shapely.union_all([b.geometry for b in wijk.buurten])
        wijk.geometry = _valid(wijk.geometry)

    parks_wanted = {code.strip().upper() for code in parks}
    known = {b.get("BU_CODE") for w in wijken.values() for b in w.buurten} | set(wijken)
    if missing := sorted(parks_wanted - known):
        raise CbsError(f"--park {missing[0]}: no buurt or wijk of {gemeente} has that code")

    wijk_slugs: set[str] = set()
    wijk_names: set[str] = set()
    out_wijken: list[dict[str, Any]] = []
    out_parks: list[dict[str, Any]] = []
    park_slugs: set[str] = set()
    park_names: set[str] = set()
    for wijk in sorted(wijken.values(), key=lambda w: w.code):
        assert wijk.name is not None
        assert wijk.geometry is not None
        slug = _unique(slugify(wijk.name), wijk.code, wijk_slugs)
        lat, lon = _centre(wijk.geometry)
        buurt_slugs: set[str] = set()
        buurt_names: set[str] = set()
        out_buurten = []
        for buurt in sorted(wijk.buurten, key=lambda b: b.get("BU_CODE") or ""):
            code = buurt.get("BU_CODE") or ""
            name = _unique_name(buurt.get("BU_NAAM") or code, code, buurt_names)
            geometry = _valid(buurt.geometry)
            out_buurten.append(
                {
                    "slug": _unique(slugify(name), code, buurt_slugs),
                    "name": name,
                    "code": code,
                    "geometry": _geojson(geometry),
                }
            )
            if code in parks_wanted:
                out_parks.append(_park(name, code, slug, geometry, park_slugs, park_names))
        if wijk.code in parks_wanted:
            out_parks.append(
                _park(wijk.name, wijk.code, slug, wijk.geometry, park_slugs, park_names)
            )
        out_wijken.append(
            {
                "slug": slug,
                "name": _unique_name(wijk.name, wijk.code, wijk_names),
                "code": wijk.code,
                "lat": lat,
                "lon": lon,
                "geometry": _geojson(wijk.geometry),
                "buurten": out_buurten,
            }
        )
    west, south, east, north = shapely.union_all([w.geometry for w in wijken.values()]).bounds
    name = city or next((n for f in mine if (n := f.get("GM_NAAM"))), None)
    if name is None:
        raise CbsError(f"the file has no GM_NAAM for {gemeente}; name the city with --city")
    return {
        "_note": (
            f"Made by `python -m bot areas import` from CBS's Wijk- en Buurtkaart "
            f"({', '.join(sorted({f.source.name for f in mine}))}) for {gemeente}. "
            "Geometry in WGS84 longitude/latitude."
        ),
        "city": name,
        "code": gemeente,
        "bbox": {
            "south": round(south - BBOX_MARGIN, DECIMALS),
            "west": round(west - BBOX_MARGIN, DECIMALS),
            "north": round(north + BBOX_MARGIN, DECIMALS),
            "east": round(east + BBOX_MARGIN, DECIMALS),
        },
        "wijken": out_wijken,
        "business_parks": out_parks,
    }


def _park(
    name: str,
    code: str,
    wijk: str | None,
    geometry: BaseGeometry,
    slugs: set[str],
    names: set[str],
) -> dict[str, Any]:
    lat, lon = _centre(geometry)
    return {
        "slug": _unique(slugify(name), code, slugs),
        "name": _unique_name(name, code, names),
        "code": code,
        "wijk": wijk,
        "lat": lat,
        "lon": lon,
        "geometry": _geojson(geometry),
    }


def import_files(
    paths: Sequence[Path],
    gemeente: str,
    output: Path,
    *,
    parks: Sequence[str] = (),
    city: str | None = None,
    crs: str | None = None,
    force: bool = False,
) -> dict[str, int]:
    """Read CBS's files, write the areas file to `output` and read it back as the bot
    will; the counts of what it holds."""
    if output.exists() and not force:
        raise CbsError(f"{output}: exists already; choose another --output or add --force")
    features = [f for path in paths for f in read_features(path, crs)]
    data = convert(features, gemeente, parks=parks, city=city)
    output.parent.mkdir(parents=True, exist_ok=True)
    written = output.with_name(output.name + ".new")
    written.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    try:
        areas = load_areas(written)  # what the bot cannot load must not replace anything
    except AreasError as exc:
        written.unlink()
        raise CbsError(f"the result does not load: {exc.problem}") from None
    written.replace(output)
    return {
        "wijken": len(areas.wijken),
        "buurten": sum(len(w.buurten) for w in areas.wijken),
        "business_parks": len(areas.business_parks),
    }
