"""Geography sanity (issue 14, item 6): park, zone and road layers whose coordinates cannot
be what their CRS says are errors naming the file, the feature and the likely fix; a park
polygon containing no enterprise is a warning."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from symbiosis.errors import InvalidDataError
from symbiosis.geo.context import GeoFiles, prepare_geo
from symbiosis.geo.parks import load_parks
from symbiosis.geo.roads import load_roads
from symbiosis.geo.zones import load_zones

# a park around Xiangtan (112.9 E, 27.85 N), and the same ring in EPSG:4547 metres
RING = [[112.85, 27.80], [112.95, 27.80], [112.95, 27.90], [112.85, 27.90], [112.85, 27.80]]
RING_M = [[485_000.0, 3_075_000.0], [495_000.0, 3_075_000.0], [495_000.0, 3_086_000.0],
          [485_000.0, 3_086_000.0], [485_000.0, 3_075_000.0]]


def _geojson(path: Path, rings: list[list[list[float]]], **props: list[str]) -> Path:
    features = [{"type": "Feature",
                 "properties": {k: v[i] for k, v in props.items()},
                 "geometry": {"type": "Polygon", "coordinates": [ring]}}
                for i, ring in enumerate(rings)]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}),
                    encoding="utf-8")
    return path


def test_swapped_park_polygon_is_an_error_naming_the_feature(tmp_path: Path) -> None:
    swapped = [[lat, lon] for lon, lat in RING]
    path = _geojson(tmp_path / "parks.geojson", [RING, swapped], name=["Good", "Swapped"])
    with pytest.raises(InvalidDataError) as info:
        load_parks(path)
    assert [str(p) for p in info.value.problems] == [
        f"{path}::features[1].geometry: longitude and latitude look swapped (x 27.8 reads as "
        "a latitude, y 112.85 as a longitude); write each point as [lon, lat]"]


def test_park_polygon_in_metres_in_a_geojson_is_an_error_with_the_fix(tmp_path: Path) -> None:
    path = _geojson(tmp_path / "parks.geojson", [RING_M], name=["Metres"])
    with pytest.raises(InvalidDataError) as info:
        load_parks(path)
    (problem,) = info.value.problems
    assert problem.column == "features[0].geometry"
    assert problem.message.startswith("coordinates (485000, 3075000) are outside "
                                      "longitude/latitude range: they look like metres of a "
                                      "projected CRS although the file says EPSG:4326")
    assert "reproject it to WGS 84 lon/lat (EPSG:4326)" in problem.message


def _no_crs_layer(path: Path, geometry: str) -> Path:
    import geopandas as gpd
    from shapely.geometry import LineString, Polygon

    geom = Polygon(RING_M) if geometry == "polygon" else LineString(RING_M[:3])
    frame = gpd.GeoDataFrame({"name": ["x"], "kind": ["drinking_water_protection"]},
                             geometry=[geom], crs=None)
    with warnings.catch_warnings():  # the point of the test: a layer saved without a CRS
        warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)
        frame.to_file(path, driver="GPKG")
    return path


@pytest.mark.parametrize("what", ["parks", "zones", "roads"])
def test_layer_in_metres_without_a_crs_is_an_error(tmp_path: Path, what: str) -> None:
    path = _no_crs_layer(tmp_path / f"{what}.gpkg", "line" if what == "roads" else "polygon")
    load = {"parks": load_parks, "zones": load_zones, "roads": load_roads}[what]
    with pytest.raises(InvalidDataError) as info:
        load(path)
    (problem,) = info.value.problems
    assert problem.file == str(path)
    assert problem.message.startswith(
        f"the {what} layer has no coordinate system and its coordinates look projected "
        "(|x| up to 495000, |y| up to 3086000: metres, not degrees); save it with its CRS")


def test_swapped_zone_is_an_error(tmp_path: Path) -> None:
    path = _geojson(tmp_path / "zones.geojson", [[[lat, lon] for lon, lat in RING]],
                    kind=["drinking_water_protection"], name=["Reservoir"])
    with pytest.raises(InvalidDataError, match=r"features\[0\]\.geometry: longitude and "
                                               "latitude look swapped"):
        load_zones(path)


def test_park_containing_no_enterprise_is_a_warning(tmp_path: Path) -> None:
    from symbiosis.dataset import dataset_from_records

    far = [[x + 2.0, y] for x, y in RING]  # 200 km east: a typo in the longitudes
    path = _geojson(tmp_path / "parks.geojson", [RING, far], name=["Xiangtan", "Typo"])
    data = dataset_from_records({
        "enterprises": [{"id": "A", "name": "a", "lon": 112.9, "lat": 27.85},
                        {"id": "B", "name": "b", "lon": 113.1, "lat": 28.2}],
        "offers": [{"enterprise_id": "A", "material": "fly_ash", "quantity": 5000}],
        "needs": [{"enterprise_id": "B", "material": "fly_ash", "quantity": 100}]})
    ctx = prepare_geo(data, GeoFiles(parks=path))
    assert ctx.dataset.enterprises["park"].to_dict() == {"A": "Xiangtan", "B": ""}
    assert [str(p) for p in ctx.warnings] == [
        f"{path}: warning: assigned 1 enterprise(s) with an empty park cell to the park "
        "polygon they lie in",
        f"{path}::features[1]: warning: park 'Typo' contains no enterprise of the dataset: "
        "check that its coordinates are lon/lat in WGS 84 and cover the enterprises' "
        "locations"]
