"""A made-up gemeente in the shape of CBS's Wijk- en Buurtkaart, for the import and the map.

Proefstad (GM9999), near Helmond, in WGS84 degrees:

    51.500 +-----------------------------+
           | Noord (WK999901)   [ ]      |   [ ] an empty hole (a lake): outside the city
           |   west | oost   [Eiland]    |   Eiland (WK999903) fills a hole of Noord
    51.475 +--------+--------------------+   the border Noord/Zuid
           | Zuid (WK999902)             |   [Molen] a detached part of Zuid
           |   Dorp | Bedrijventerrein   |             (MultiPolygon)
    51.450 +-----------------------------+
         5.600    5.625                5.650

Buurten are the wijken cut west/east of 5.625, so they keep the holes. A gemeente next
door (GM8888) and a water-only buurt are in the files too, to be left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry

GEMEENTE = "GM9999"
NORTH_HOLE = box(5.620, 51.485, 5.630, 51.490)  # Eiland
LAKE = box(5.640, 51.490, 5.645, 51.495)  # a hole nobody fills
NOORD = box(5.600, 51.475, 5.650, 51.500).difference(NORTH_HOLE).difference(LAKE)
EILAND = NORTH_HOLE
MOLEN = box(5.660, 51.455, 5.670, 51.465)  # Zuid's detached part
ZUID = MultiPolygon([box(5.600, 51.450, 5.650, 51.475), MOLEN])
WEST = box(5.5, 51.4, 5.625, 51.6)
EAST = box(5.625, 51.4, 5.8, 51.6)
WATER = box(5.600, 51.440, 5.650, 51.4499)  # a water-only buurt (WATER = JA)
NEIGHBOUR = box(5.700, 51.450, 5.720, 51.470)  # GM8888's


def _feature(geometry: BaseGeometry, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": mapping(geometry)}


def wijken_layer() -> list[dict[str, Any]]:
    common = {"GM_CODE": GEMEENTE, "GM_NAAM": "Proefstad", "WATER": "NEE"}
    return [
        _feature(NOORD, WK_CODE="WK999901", WK_NAAM="Noord", **common),
        _feature(ZUID, WK_CODE="WK999902", WK_NAAM="Zuid", **common),
        _feature(EILAND, WK_CODE="WK999903", WK_NAAM="Het Eiland", **common),
        _feature(NEIGHBOUR, WK_CODE="WK888801", WK_NAAM="Elders", GM_CODE="GM8888"),
    ]


def buurten_layer() -> list[dict[str, Any]]:
    # The newer spelled-out keys, one in lower case, and no gemeentecode: the gemeente is
    # read from the codes.
    def buurt(geometry: BaseGeometry, code: str, name: str, wijk: str, **more: Any) -> Any:
        return _feature(geometry, buurtcode=code, BUURTNAAM=name, wijkcode=wijk, **more)

    return [
        buurt(NOORD.intersection(WEST), "BU99990101", "Noord-West", "WK999901"),
        buurt(NOORD.intersection(EAST), "BU99990102", "Noord-Oost", "WK999901"),
        buurt(ZUID.intersection(WEST), "BU99990201", "Dorp", "WK999902"),
        buurt(ZUID.intersection(EAST), "BU99990202", "Bedrijventerrein Zuid", "WK999902"),
        buurt(EILAND, "BU99990301", "Het Eiland", "WK999903"),
        buurt(WATER, "BU99990209", "Plas", "WK999902", water="JA"),
    ]


def collection(features: list[dict[str, Any]], crs: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs is not None:
        data["crs"] = {"type": "name", "properties": {"name": crs}}
    return data


def in_rd(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same features in RD New (EPSG:28992), as CBS publishes them."""
    to_rd = Transformer.from_crs(4326, 28992, always_xy=True)

    def project(points: np.ndarray) -> np.ndarray:
        return np.column_stack(to_rd.transform(points[:, 0], points[:, 1]))

    return [
        {**f, "geometry": mapping(shapely.transform(shape(f["geometry"]), project))}
        for f in features
    ]


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
