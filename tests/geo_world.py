"""A small hand-made world for the geography tests, laid out in metres in EPSG:4547
(CGCS2000 / 3-degree Gauss-Kruger CM 114E) around (500 km, 3100 km), i.e. near 114E 28N.

Enterprises are placed by x/y in km and converted to WGS 84, so the expected road
distances can be worked out by hand from the segment lengths."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from symbiosis.dataset import Dataset, dataset_from_records
from symbiosis.geo.crs import unproject
from symbiosis.taxonomy import load_taxonomy

CRS = "EPSG:4547"
X0, Y0 = 500_000.0, 3_100_000.0


def xy(x_km: float, y_km: float) -> tuple[float, float]:
    """A point given in km from the origin, as metric coordinates."""
    return X0 + 1000.0 * x_km, Y0 + 1000.0 * y_km


def lonlat(x_km: float, y_km: float) -> tuple[float, float]:
    """A point given in km from the origin, in WGS 84."""
    lon, lat = unproject([X0 + 1000.0 * x_km], [Y0 + 1000.0 * y_km], CRS)
    return float(lon[0]), float(lat[0])


def write_lines(path: Path, lines_km: list[list[tuple[float, float]]],
                **props: list[Any]) -> Path:
    """Write LineStrings (vertices in km) as a GeoPackage/GeoJSON in EPSG:4547."""
    import geopandas as gpd
    from shapely.geometry import LineString

    geoms = [LineString([xy(*p) for p in line]) for line in lines_km]
    frame = gpd.GeoDataFrame(dict(props), geometry=geoms, crs=CRS)
    if path.suffix == ".geojson":
        frame = frame.to_crs("EPSG:4326")
    frame.to_file(path)
    return path


def write_polygons(path: Path, rings_km: list[list[tuple[float, float]]],
                   **props: list[Any]) -> Path:
    """Write Polygons (rings in km) as GeoJSON (WGS 84)."""
    import geopandas as gpd
    from shapely.geometry import Polygon

    geoms = [Polygon([xy(*p) for p in ring]) for ring in rings_km]
    gpd.GeoDataFrame(dict(props), geometry=geoms, crs=CRS).to_crs("EPSG:4326").to_file(path)
    return path


def world(enterprises: dict[str, tuple[float, float]],
          offers: list[tuple[str, str, float]], needs: list[tuple[str, str, float]],
          hazardous: tuple[str, ...] = (), parks: dict[str, str] | None = None) -> Dataset:
    """A dataset with enterprises at km positions; `hazardous` materials get the flag."""
    tax = load_taxonomy()
    if hazardous:
        mats = dict(tax.materials)
        for slug in hazardous:
            mats[slug] = replace(mats[slug], hazardous=True)
        tax = replace(tax, materials=MappingProxyType(mats))
    parks = parks or {}
    ent = []
    for eid, (x, y) in enterprises.items():
        lon, lat = lonlat(x, y)
        ent.append({"id": eid, "name": eid, "sector": "3011", "lon": f"{lon:.10f}",
                    "lat": f"{lat:.10f}", "park": parks.get(eid, "")})
    return dataset_from_records({
        "enterprises": ent,
        "offers": [{"enterprise_id": e, "material": m, "quantity": q} for e, m, q in offers],
        "needs": [{"enterprise_id": e, "material": m, "quantity": q} for e, m, q in needs],
    }, taxonomy=tax)
