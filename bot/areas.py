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
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

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


@dataclass(frozen=True, slots=True)
class Wijk:
    slug: str
    name: str
    lat: float
    lon: float
    buurten: tuple[Buurt, ...] = ()

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
    radius_m: float


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
    """Where a point lies: a wijk always, a business park when the point is on one."""

    wijk: Wijk
    park: BusinessPark | None
    wijk_distance_m: float  # from the point to the wijk's centre


@dataclass(frozen=True, slots=True)
class Areas:
    city: str
    wijken: tuple[Wijk, ...]
    business_parks: tuple[BusinessPark, ...]
    bbox: BBox

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
        """The wijk (and business park, if any) of a point; None outside the city's bbox.

        APPROXIMATION until real wijk polygons are loaded: the wijk is the one whose centre
        is nearest (haversine), and a park is a circle of ``radius_m`` round its centre. Near
        a wijk border this can name the neighbouring wijk, so treat the answer as a
        suggestion the user confirms, never as a fact. When the point is on a park that
        names its wijk, that wijk wins over the nearest centre, since the data says so.
        """
        if not self.contains(lat, lon):
            return None
        park = _nearest(
            (p, d)
            for p in self.business_parks
            if (d := distance_m(lat, lon, p.lat, p.lon)) <= p.radius_m
        )
        wijk = self.wijk(park.wijk) if park is not None and park.wijk is not None else None
        if wijk is None:
            wijk = _nearest((w, distance_m(lat, lon, w.lat, w.lon)) for w in self.wijken)
        if wijk is None:  # only for a hand-built Areas without wijken; load_areas forbids it
            return None
        return Located(
            wijk=wijk, park=park, wijk_distance_m=distance_m(lat, lon, wijk.lat, wijk.lon)
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
    return _build(model)


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


class _BuurtModel(_Strict):
    slug: Slug
    name: Name


class _WijkModel(_Strict):
    slug: Slug
    name: Name
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    # Empty is allowed: a city may not (yet) know or use buurten for every wijk.
    buurten: list[_BuurtModel] = Field(default_factory=list)


class _ParkModel(_Strict):
    slug: Slug
    name: Name
    wijk: str | None = None
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=20_000)


class _BBoxModel(_Strict):
    south: float = Field(ge=-90, le=90)
    west: float = Field(ge=-180, le=180)
    north: float = Field(ge=-90, le=90)
    east: float = Field(ge=-180, le=180)


class _AreasModel(_Strict):
    city: Name
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
    wijk_slugs = {w.slug for w in model.wijken}
    for p in model.business_parks:
        if p.wijk is not None and p.wijk not in wijk_slugs:
            return f'business park "{p.slug}": wijk "{p.wijk}" does not exist'
        if not (box.south <= p.lat <= box.north and box.west <= p.lon <= box.east):
            return (
                f'business park "{p.slug}": centre {p.lat}, {p.lon} lies outside the bbox '
                "(lat/lon swapped?)"
            )
    return None


def _build(model: _AreasModel) -> Areas:
    return Areas(
        city=model.city,
        wijken=tuple(
            Wijk(
                slug=w.slug,
                name=w.name,
                lat=w.lat,
                lon=w.lon,
                buurten=tuple(Buurt(slug=b.slug, name=b.name) for b in w.buurten),
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
            )
            for p in model.business_parks
        ),
        bbox=BBox(
            south=model.bbox.south,
            west=model.bbox.west,
            north=model.bbox.north,
            east=model.bbox.east,
        ),
    )
