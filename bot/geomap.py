"""The wijken's polygons as SVG paths for the Mini App's map (issue 17), drawn by the page
itself: no tiles, nothing fetched from elsewhere.

Projected simply: longitude times cos(latitude of the middle), latitude upside down. Over a
city of 10 km that is within a fraction of a percent of a proper projection, and keeps the
server free of map libraries. The paths are simplified to about half a unit of a
1000-unit-wide drawing, so a CBS file of megabytes becomes a few kilobytes for a phone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from bot.areas import Areas, Wijk

WIDTH = 1000.0
# Half a unit: finer than a phone's pixel at any width the page is shown.
TOLERANCE = 0.5


def _path(geometry: BaseGeometry) -> str:
    """SVG path data; holes are subpaths, drawn as holes under fill-rule evenodd."""
    polygons = geometry.geoms if isinstance(geometry, MultiPolygon) else [geometry]
    parts = []
    for polygon in polygons:
        if not isinstance(polygon, Polygon) or polygon.is_empty:
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            points = [f"{x:.1f} {y:.1f}" for x, y in ring.coords[:-1]]
            parts.append("M" + " L".join(points) + "Z")
    return "".join(parts)


def svg_map(areas: Areas, wijken: Iterable[Wijk]) -> dict[str, Any]:
    """The drawing of these wijken (and their buurten), or ``geographic: False``."""
    shown = [w for w in wijken if w.geometry is not None]
    if not areas.geographic or not shown:
        return {"geographic": False}
    west, south, east, north = shapely.union_all([w.geometry for w in shown]).bounds
    squeeze = math.cos(math.radians((south + north) / 2))
    scale = WIDTH / max((east - west) * squeeze, 1e-9)

    def project(points: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [(points[:, 0] - west) * squeeze * scale, (north - points[:, 1]) * scale]
        )

    def drawn(geometry: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geometry, project).simplify(TOLERANCE, preserve_topology=True)

    items = []
    buurten = []
    for wijk in shown:
        assert wijk.geometry is not None
        flat = drawn(wijk.geometry)
        label = flat.representative_point()
        items.append(
            {
                "key": wijk.slug,
                "name": wijk.name,
                "code": wijk.code,
                "path": _path(flat),
                "label": [round(label.x, 1), round(label.y, 1)],
            }
        )
        buurten += [
            {"wijk": wijk.slug, "name": b.name, "code": b.code, "path": _path(drawn(b.geometry))}
            for b in wijk.buurten
            if b.geometry is not None
        ]
    height = round((north - south) * scale, 1)
    return {
        "geographic": True,
        "viewbox": [0, 0, WIDTH, height],
        "wijken": items,
        "buurten": buurten,
    }
