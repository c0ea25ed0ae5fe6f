"""The offline basemap: China's provincial boundaries and place labels, drawn under the
enterprises on the web page and in map.png, fetched from nowhere.

Data (`geo/data/`, sources and licences in its README.md): `china_admin1.geojson`, Natural
Earth 1:10m admin-1 (public domain), simplified; `hunan_places.csv`, the seats of Hunan's
prefectures, coordinates from GeoNames (CC BY 4.0). Standard library only (json, csv), so
loading it costs no heavy import. Coordinates are WGS 84 lon/lat degrees.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

__all__ = ["ATTRIBUTION", "Basemap", "Place", "Ring", "basemap_json", "basemap_within",
           "load_basemap"]

DATA = Path(str(resources.files("symbiosis.geo") / "data"))
BOUNDARIES_FILE = DATA / "china_admin1.geojson"
PLACES_FILE = DATA / "hunan_places.csv"
ATTRIBUTION = {"en": "Boundaries: Natural Earth (public domain); places: GeoNames (CC BY 4.0). "
                     "For orientation only, not a reviewed map.",
               "zh": "边界：Natural Earth（公有领域）；地名：GeoNames（CC BY 4.0）。"
                     "仅供方位参考，非审核地图。"}
DEFAULT_MARGIN_DEG = 0.5

Ring = tuple[tuple[float, float], ...]  # one closed boundary ring, (lon, lat) pairs


@dataclass(frozen=True)
class Place:
    """A label: a province at its label point, or a prefecture seat."""

    name_en: str
    name_zh: str
    lon: float
    lat: float
    kind: Literal["province", "seat"]

    def name(self, lang: str) -> str:
        """The label in `lang` ("zh" or anything else for English)."""
        return self.name_zh if lang == "zh" else self.name_en


@dataclass(frozen=True)
class Basemap:
    """Boundary rings (each province's outer and inner rings) and labels."""

    rings: tuple[Ring, ...]
    places: tuple[Place, ...]

    def lines(self) -> tuple[list[float | None], list[float | None]]:
        """Every ring as one polyline trace: x (lon) and y (lat) with None between rings
        (the form plotly and matplotlib's NaN-split lines draw)."""
        xs: list[float | None] = []
        ys: list[float | None] = []
        for ring in self.rings:
            xs += [p[0] for p in ring] + [None]
            ys += [p[1] for p in ring] + [None]
        return xs, ys

    def plot_boundaries(self, ax: Any, colour: str, width: float) -> Any | None:
        """Draw the rings on a matplotlib Axes under everything else; the legend handle
        ("provincial boundary"), or None when there is nothing to draw."""
        if not self.rings:
            return None
        from matplotlib.lines import Line2D  # lazy: matplotlib only where a plot is drawn

        nan = float("nan")
        xs, ys = self.lines()
        ax.plot([nan if v is None else v for v in xs], [nan if v is None else v for v in ys],
                color=colour, linewidth=width, zorder=0.5)
        return Line2D([0], [0], color=colour, linewidth=width, label="provincial boundary")


def _rings(geometry: dict[str, Any]) -> list[Ring]:
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" \
        else [geometry["coordinates"]]
    return [tuple((float(x), float(y)) for x, y in ring) for poly in polygons for ring in poly]


@cache
def load_basemap() -> Basemap:
    """The whole basemap: every provincial ring, province labels and prefecture seats.

    Raises:
        OSError: a data file is missing (a broken install).
    """
    body = json.loads(BOUNDARIES_FILE.read_text(encoding="utf-8"))
    rings: list[Ring] = []
    places: list[Place] = []
    for feature in body["features"]:
        p = feature["properties"]
        rings += _rings(feature["geometry"])
        places.append(Place(p["name_en"], p["name_zh"], float(p["label_lon"]),
                            float(p["label_lat"]), "province"))
    with PLACES_FILE.open(encoding="utf-8", newline="") as handle:
        places += [Place(r["name_en"], r["name_zh"], float(r["lon"]), float(r["lat"]), "seat")
                   for r in csv.DictReader(handle)]
    return Basemap(tuple(rings), tuple(places))


def basemap_within(bounds: tuple[float, float, float, float],
                   margin_deg: float = DEFAULT_MARGIN_DEG) -> Basemap:
    """The part of the basemap around `bounds` (min lon, min lat, max lon, max lat) grown by
    `margin_deg`: the rings whose box meets it, the labels inside it. Rings are whole (the
    plot's axes clip them)."""
    x0, y0 = bounds[0] - margin_deg, bounds[1] - margin_deg
    x1, y1 = bounds[2] + margin_deg, bounds[3] + margin_deg
    full = load_basemap()

    def meets(ring: Ring) -> bool:
        xs = [p[0] for p in ring]
        ys = [p[1] for p in ring]
        return min(xs) <= x1 and max(xs) >= x0 and min(ys) <= y1 and max(ys) >= y0

    return Basemap(tuple(r for r in full.rings if meets(r)),
                   tuple(p for p in full.places if x0 <= p.lon <= x1 and y0 <= p.lat <= y1))


@cache
def basemap_json() -> dict[str, Any]:
    """The whole basemap for the web page: `x`/`y` polylines (None between rings),
    `places` [{name_en, name_zh, lon, lat, kind}] and the attribution in both languages."""
    full = load_basemap()
    xs, ys = full.lines()
    return {"x": xs, "y": ys,
            "places": [{"name_en": p.name_en, "name_zh": p.name_zh, "lon": p.lon,
                        "lat": p.lat, "kind": p.kind} for p in full.places],
            "attribution": ATTRIBUTION}
