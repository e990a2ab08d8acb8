"""The city's wijken (districts), their buurten and its business parks, read from a data file.

Nothing in the code knows which city it serves: the shipped ``data/areas/helmond.json`` is
only the default, and another city points ``BUURTBOT_AREAS_FILE`` (``Settings.areas_file``)
at its own file with the same shape::

    {
      "city": "Deurne",
      "bbox": {"south": 51.43, "west": 5.74, "north": 51.49, "east": 5.84},
      "wijken": [{"slug": "centrum", "name": "Centrum", "lat": 51.46, "lon": 5.79,
                  "buurten": [{"slug": "kerkeind", "name": "Kerkeind"}]}],
      "business_parks": [{"slug": "fabriekstraat", "name": "Fabriekstraat",
                          "wijk": "centrum", "lat": 51.45, "lon": 5.78, "radius_m": 600}]
    }

Keys starting with ``_`` (or ``$``) are comments and are ignored, so a file can carry a
``"_note"``. Usage: ``areas = load_areas(settings.areas_file)`` once at start-up.

Boundaries are optional. A file made by ``python -m bot areas import`` (bot.cbs, from the
CBS Wijk- en Buurtkaart) also carries, for the city, each wijk, buurt and business park,
its CBS ``code`` (GM_CODE, WK_CODE, BU_CODE) and a ``geometry``: a GeoJSON Polygon or
MultiPolygon (holes allowed) in WGS84 longitude/latitude. Either every wijk has one or none
does: then a point belongs to the polygon it lies in, and outside every wijk it is outside
the city. Without polygons (Helmond's shipped file) a point goes to the nearest centre.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import shapely
import shapely.errors
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

__all__ = [
    "SLUG_MAX_LENGTH",
    "WIJK_PAYLOAD_PREFIX",
    "Areas",
    "AreasError",
    "BBox",
    "BusinessPark",
    "Buurt",
    "Located",
    "Wijk",
    "default_areas_path",
    "distance_m",
    "load_areas",
]

# Slugs end up in deep links (t.me/<bot>?start=wijk-<slug>); Telegram allows a start
# payload of at most 64 characters of [A-Za-z0-9_-], so 40 leaves room for a prefix.
SLUG_MAX_LENGTH = 40
WIJK_PAYLOAD_PREFIX = "wijk-"
_SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_SLUG_RULE = (
    f"must be lowercase letters, digits and dashes (no leading, trailing or double dash, "
    f"at most {SLUG_MAX_LENGTH} characters)"
)
_EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius; plenty for "which centre is nearest"


class AreasError(ValueError):
    """The areas file is missing, unreadable or invalid; ``str()`` is one line for the log."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"areas file {path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Buurt:
    slug: str
    name: str
    code: str | None = None  # CBS BU_CODE, e.g. BU07940101
    geometry: BaseGeometry | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Wijk:
    slug: str
    name: str
    lat: float
    lon: float
    buurten: tuple[Buurt, ...] = ()
    code: str | None = None  # CBS WK_CODE, e.g. WK079401
    geometry: BaseGeometry | None = field(default=None, repr=False, compare=False)

    @property
    def start_payload(self) -> str:
        """The ``/start`` deep-link payload that opens this wijk (``wijk-<slug>``)."""
        return WIJK_PAYLOAD_PREFIX + self.slug

    def buurt(self, slug: str) -> Buurt | None:
        return next((b for b in self.buurten if b.slug == slug), None)


@dataclass(frozen=True, slots=True)
class BusinessPark:
    slug: str
    name: str
    wijk: str | None  # slug of the wijk it belongs to; None for parks between wijken
    lat: float
    lon: float
    # A park is its polygon when the file has one, else a circle of radius_m round its centre.
    radius_m: float | None
    code: str | None = None
    geometry: BaseGeometry | None = field(default=None, repr=False, compare=False)

    def covers(self, point: Point, lat: float, lon: float) -> bool:
        if self.geometry is not None:
            return self.geometry.intersects(point)
        return (
            self.radius_m is not None and distance_m(lat, lon, self.lat, self.lon) <= self.radius_m
        )


@dataclass(frozen=True, slots=True)
class BBox:
    south: float
    west: float
    north: float
    east: float

    def contains(self, lat: float, lon: float) -> bool:
        # Written so that NaN compares false and so falls outside.
        return self.south <= lat <= self.north and self.west <= lon <= self.east


@dataclass(frozen=True, slots=True)
class Located:
    """Where a point lies: a wijk always, a business park when the point is on one, and
    the buurt when the file has the buurten's polygons."""

    wijk: Wijk
    park: BusinessPark | None
    wijk_distance_m: float  # from the point to the wijk's centre
    buurt: Buurt | None = None


class _Polygons:
    """The wijken's polygons in an STRtree, each prepared: a point is tested only against
    the few whose box holds it, and each test reuses the polygon's prepared index."""

    def __init__(self, wijken: tuple[Wijk, ...]) -> None:
        shapes = [w.geometry for w in wijken]
        for geometry in shapes:
            shapely.prepare(geometry)
        self.wijken = wijken
        self.tree = shapely.STRtree(shapes)

    def wijk_at(self, point: Point) -> Wijk | None:
        # Sorted: a point exactly on a shared border goes to the wijk listed first, so
        # the answer never depends on the tree's order.
        for index in sorted(self.tree.query(point, predicate="intersects")):
            return self.wijken[int(index)]
        return None


@dataclass(frozen=True, slots=True)
class Areas:
    city: str
    wijken: tuple[Wijk, ...]
    business_parks: tuple[BusinessPark, ...]
    bbox: BBox
    code: str | None = None  # CBS GM_CODE, e.g. GM0794
    _polygons: _Polygons | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once with the areas (load_areas at start-up), never per located point.
        if self._polygons is None and self.geographic:
            object.__setattr__(self, "_polygons", _Polygons(self.wijken))

    @property
    def geographic(self) -> bool:
        """Whether the file knows the wijken's boundaries, not only their centres."""
        return bool(self.wijken) and all(w.geometry is not None for w in self.wijken)

    # A city has a dozen or two wijken, so a linear scan beats keeping indexes in sync.
    def wijk(self, slug: str) -> Wijk | None:
        return next((w for w in self.wijken if w.slug == slug), None)

    def park(self, slug: str) -> BusinessPark | None:
        return next((p for p in self.business_parks if p.slug == slug), None)

    def buurt(self, wijk_slug: str, buurt_slug: str) -> Buurt | None:
        wijk = self.wijk(wijk_slug)
        return wijk.buurt(buurt_slug) if wijk is not None else None

    def wijk_for_payload(self, payload: str) -> Wijk | None:
        """The wijk a ``/start wijk-<slug>`` payload points to, or None."""
        if not payload.startswith(WIJK_PAYLOAD_PREFIX):
            return None
        return self.wijk(payload.removeprefix(WIJK_PAYLOAD_PREFIX))

    def area_name(self, key: str) -> str:
        """The name behind an area key ("wijk:<slug>", "park:<slug>" or "city"); unknown
        keys as is."""
        if key == "city":
            return self.city
        kind, _, slug = key.partition(":")
        found = self.wijk(slug) if kind == "wijk" else self.park(slug) if kind == "park" else None
        return found.name if found is not None else key

    def contains(self, lat: float, lon: float) -> bool:
        """Whether the point lies inside the city's bounding box."""
        return self.bbox.contains(lat, lon)

    def locate(self, lat: float, lon: float) -> Located | None:
        """The wijk (and business park and buurt, if any) of a point; None outside the city.

        With polygons the wijk is the one the point lies in (a point on a shared border
        goes to the wijk listed first), and outside every wijk is outside the city.
        Without them it is an APPROXIMATION: the wijk whose centre is nearest (haversine),
        within the city's bbox. Near a wijk border that can name the neighbouring wijk, so
        treat the answer as a suggestion the user confirms, never as a fact; there, when
        the point is on a park that names its wijk, that wijk wins, since the data says so.
        A park is its polygon, or else a circle of ``radius_m`` round its centre.
        """
        if not self.contains(lat, lon):
            return None
        point = Point(lon, lat)
        parks = [p for p in self.business_parks if p.covers(point, lat, lon)]
        # A park drawn as a polygon is where the point is; of circles, the nearest centre.
        park = next((p for p in parks if p.geometry is not None), None) or _nearest(
            (p, distance_m(lat, lon, p.lat, p.lon)) for p in parks
        )
        if self._polygons is not None:
            wijk = self._polygons.wijk_at(point)
        else:
            wijk = self.wijk(park.wijk) if park is not None and park.wijk is not None else None
            if wijk is None:
                wijk = _nearest((w, distance_m(lat, lon, w.lat, w.lon)) for w in self.wijken)
        if wijk is None:  # outside every polygon, or a hand-built Areas without wijken
            return None
        buurt = next(
            (b for b in wijk.buurten if b.geometry is not None and b.geometry.intersects(point)),
            None,
        )
        return Located(
            wijk=wijk,
            park=park,
            wijk_distance_m=distance_m(lat, lon, wijk.lat, wijk.lon),
            buurt=buurt,
        )


_T = TypeVar("_T")


def _nearest(candidates: Iterable[tuple[_T, float]]) -> _T | None:
    best = min(candidates, key=lambda pair: pair[1], default=None)
    return best[0] if best is not None else None


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def default_areas_path() -> Path:
    """The shipped default file (Helmond).

    Found next to this module rather than via importlib.resources so that it resolves to
    a real path both in a checkout/editable install and in an installed wheel (the file
    is package data: pyproject packages ``*.json``).
    """
    return Path(__file__).resolve().parent / "data" / "areas" / "helmond.json"


def load_areas(path: Path | None = None) -> Areas:
    """Read and validate an areas file; None means the shipped default.

    Raises AreasError with one line naming the file and the first problem found.
    """
    path = default_areas_path() if path is None else Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AreasError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AreasError(path, f"cannot read: {exc}") from None
    try:
        raw = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError, or NaN/Infinity from _reject_constant
        raise AreasError(path, f"not valid JSON: {exc}") from None
    raw = _strip_comments(raw)
    if not isinstance(raw, dict):
        raise AreasError(path, "must contain a JSON object at the top level")
    try:
        model = _AreasModel.model_validate(raw)
    except ValidationError as exc:
        raise AreasError(path, _describe(exc, raw)) from None
    problem = _cross_check(model)
    if problem is not None:
        raise AreasError(path, problem)
    return _build(model, path)


# --- validation ---------------------------------------------------------------------------
# pydantic checks each field; _cross_check then does what needs the whole file (uniqueness,
# references, centres inside the bbox). Both report the first problem as one line, because
# an operator reading a start-up log wants "what, where", not a traceback.


def _reject_constant(name: str) -> Any:
    # json accepts NaN/Infinity by default; a coordinate of NaN would silently never match.
    raise ValueError(f"{name} is not allowed")


def _strip_comments(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_comments(v)
            for k, v in value.items()
            if not (isinstance(k, str) and k.startswith(("_", "$")))
        }
    if isinstance(value, list):
        return [_strip_comments(v) for v in value]
    return value


def _check_slug(value: str) -> str:
    if len(value) > SLUG_MAX_LENGTH or not _SLUG_RE.fullmatch(value):
        raise ValueError(_SLUG_RULE)
    return value


def _check_name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


Slug = Annotated[str, AfterValidator(_check_slug)]
Name = Annotated[str, AfterValidator(_check_name)]


class _Strict(BaseModel):
    # strict: "51.4" as a string or true as a number is a mistake in the file, not data.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


_CODE_RE = re.compile(r"[A-Z]{2}[0-9]{4,8}")


def _check_code(value: str) -> str:
    if not _CODE_RE.fullmatch(value):
        raise ValueError("must be a CBS code such as GM0794, WK079401 or BU07940101")
    return value


Code = Annotated[str, AfterValidator(_check_code)]


class _GeometryModel(BaseModel):
    # Not strict: coordinates are plain JSON numbers, shapely checks their shape.
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]


class _BuurtModel(_Strict):
    slug: Slug
    name: Name
    code: Code | None = None
    geometry: _GeometryModel | None = None


class _WijkModel(_Strict):
    slug: Slug
    name: Name
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    # Empty is allowed: a city may not (yet) know or use buurten for every wijk.
    buurten: list[_BuurtModel] = Field(default_factory=list)
    code: Code | None = None
    geometry: _GeometryModel | None = None


class _ParkModel(_Strict):
    slug: Slug
    name: Name
    wijk: str | None = None
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float | None = Field(default=None, gt=0, le=20_000)
    code: Code | None = None
    geometry: _GeometryModel | None = None


class _BBoxModel(_Strict):
    south: float = Field(ge=-90, le=90)
    west: float = Field(ge=-180, le=180)
    north: float = Field(ge=-90, le=90)
    east: float = Field(ge=-180, le=180)


class _AreasModel(_Strict):
    city: Name
    code: Code | None = None
    bbox: _BBoxModel
    wijken: list[_WijkModel]
    business_parks: list[_ParkModel] = Field(default_factory=list)


_SECTIONS = {"wijken": "wijk", "buurten": "buurt", "business_parks": "business park"}


def _label(section: str, index: int, item: Any) -> str:
    """'wijk "foo bar"': the slug as written, else the name, else the position."""
    kind = _SECTIONS[section]
    if isinstance(item, dict):
        for key in ("slug", "name"):
            text = item.get(key)
            if isinstance(text, str) and text.strip():
                return f'{kind} "{text}"'
    return f"{kind} #{index + 1}"


def _describe(exc: ValidationError, raw: dict[str, Any]) -> str:
    errors = exc.errors()
    first = errors[0]
    parts: list[str] = []
    node: Any = raw
    loc = list(first["loc"])
    field = ""
    while loc:
        key = loc.pop(0)
        if key in _SECTIONS and loc and isinstance(loc[0], int):
            index = loc.pop(0)
            items = node.get(key) if isinstance(node, dict) else None
            node = items[index] if isinstance(items, list) and index < len(items) else None
            parts.append(_label(str(key), index, node))
        else:
            field = ".".join([field, str(key)]) if field else str(key)
            node = node.get(key) if isinstance(node, dict) else None

    msg = first["msg"]
    kind = first["type"]
    if kind in {"model_type", "dict_type"}:
        text = f"{field} must be a JSON object" if field else "must be a JSON object"
    elif not field:
        text = msg
    elif kind == "value_error":
        # Our validators phrase the rule to follow the field name: "slug must be ...".
        text = f"{field} {msg.removeprefix('Value error, ')}"
    elif kind == "missing":
        text = f"{field} is missing"
    elif kind == "extra_forbidden":
        text = f'unknown key "{field}" (comments must start with "_")'
    else:
        text = f"{field}: {msg[:1].lower()}{msg[1:]}"
    more = len(errors) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return ": ".join([*parts, text]) + suffix


def _duplicate(values: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for value in values:
        key = value.casefold()
        if key in seen:
            return value
        seen.add(key)
    return None


def _cross_check(model: _AreasModel) -> str | None:
    box = model.bbox
    if not (box.south < box.north and box.west < box.east):
        return "bbox: south must be below north and west below east"
    if not model.wijken:
        return "wijken: at least one wijk is needed"
    if (dup := _duplicate(w.slug for w in model.wijken)) is not None:
        return f'wijk "{dup}": slug is used twice'
    if (dup := _duplicate(w.name for w in model.wijken)) is not None:
        return f'wijk "{dup}": name is used twice'
    for w in model.wijken:
        if not (box.south <= w.lat <= box.north and box.west <= w.lon <= box.east):
            return (
                f'wijk "{w.slug}": centre {w.lat}, {w.lon} lies outside the bbox (lat/lon swapped?)'
            )
        if (dup := _duplicate(b.slug for b in w.buurten)) is not None:
            return f'wijk "{w.slug}": buurt "{dup}": slug is used twice'
        if (dup := _duplicate(b.name for b in w.buurten)) is not None:
            return f'wijk "{w.slug}": buurt "{dup}": name is used twice'
    if (dup := _duplicate(p.slug for p in model.business_parks)) is not None:
        return f'business park "{dup}": slug is used twice'
    if (dup := _duplicate(p.name for p in model.business_parks)) is not None:
        return f'business park "{dup}": name is used twice'
    with_shape = [w.slug for w in model.wijken if w.geometry is not None]
    if with_shape and len(with_shape) < len(model.wijken):
        bare = next(w.slug for w in model.wijken if w.geometry is None)
        return (
            f'wijk "{bare}": geometry is missing; either every wijk has one or none does '
            f'(wijk "{with_shape[0]}" has one)'
        )
    wijk_slugs = {w.slug for w in model.wijken}
    for p in model.business_parks:
        if p.radius_m is None and p.geometry is None:
            return f'business park "{p.slug}": needs a radius_m or a geometry'

        if p.wijk is not None and p.wijk not in wijk_slugs:
            return f'business park "{p.slug}": wijk "{p.wijk}" does not exist'
        if not (box.south <= p.lat <= box.north and box.west <= p.lon <= box.east):
            return (
                f'business park "{p.slug}": centre {p.lat}, {p.lon} lies outside the bbox '
                "(lat/lon swapped?)"
            )
    return None


def _geometry(
    path: Path, label: str, model: _GeometryModel | None, box: _BBoxModel
) -> BaseGeometry | None:
    """A checked, prepared shapely geometry, or AreasError naming the item."""
    if model is None:
        return None
    try:
        geometry = shape(model.model_dump())
    except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.ShapelyError):
        raise AreasError(path, f"{label}: geometry is not a valid GeoJSON {model.type}") from None
    if geometry.is_empty:
        raise AreasError(path, f"{label}: geometry is empty")
    if not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        raise AreasError(path, f"{label}: geometry is not a valid polygon ({reason})")
    west, south, east, north = geometry.bounds
    if not (box.west <= west and east <= box.east and box.south <= south and north <= box.north):
        raise AreasError(
            path, f"{label}: geometry lies outside the bbox (not WGS84 longitude, latitude?)"
        )
    shapely.prepare(geometry)
    return geometry


def _build(model: _AreasModel, path: Path) -> Areas:
    box = model.bbox

    def shaped(label: str, item: _WijkModel | _BuurtModel | _ParkModel) -> BaseGeometry | None:
        return _geometry(path, label, item.geometry, box)

    return Areas(
        city=model.city,
        code=model.code,
        wijken=tuple(
            Wijk(
                slug=w.slug,
                name=w.name,
                lat=w.lat,
                lon=w.lon,
                code=w.code,
                geometry=shaped(f'wijk "{w.slug}"', w),
                buurten=tuple(
                    Buurt(
                        slug=b.slug,
                        name=b.name,
                        code=b.code,
                        geometry=shaped(f'wijk "{w.slug}": buurt "{b.slug}"', b),
                    )
                    for b in w.buurten
                ),
            )
            for w in model.wijken
        ),
        business_parks=tuple(
            BusinessPark(
                slug=p.slug,
                name=p.name,
                wijk=p.wijk,
                lat=p.lat,
                lon=p.lon,
                radius_m=p.radius_m,
                code=p.code,
                geometry=shaped(f'business park "{p.slug}"', p),
            )
            for p in model.business_parks
        ),
        bbox=BBox(south=box.south, west=box.west, north=box.north, east=box.east),
    )
