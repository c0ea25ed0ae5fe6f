"""Datum conversions (GCJ-02, BD-09), the dataset's `crs` column, and metric CRS rules."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symbiosis import crs as c
from symbiosis.dataset import load_dataset, validate_dataset
from symbiosis.errors import InvalidDataError
from symbiosis.geo.crs import GeographicDistanceError, metric_crs_for, require_metric

if TYPE_CHECKING:
    from conftest import DatasetTables

# Published reference pairs. GCJ-02 is a state-defined transform with no official public
# test vectors; these are the values the widely used open-source implementations publish
# in their own tests:
# - wandergis/coordtransform, test/app.js: input (116.404, 39.915) ->
#   wgs84togcj02 [116.41024449916938, 39.91640428150164],
#   gcj02tobd09 [116.41036949371029, 39.92133699351021],
#   bd09togcj02 [116.39762729119315, 39.90865673957631] (closed-form approximation),
#   gcj02towgs84 [116.39775550083061, 39.91359571849836] (one-step approximation).
# - hujiulong/gcoord, test/unit/crs/GCJ02.spec.js: GCJ-02 (123, 45) -> WGS 84
#   (122.99395597, 44.99804071) and -> BD-09 (123.00636499, 45.00636899), both checked
#   there to 5 decimals.
# - a third open-source test (a Python "geoToolbox" package): WGS 84 (lon 116.0, lat 40.0)
#   -> GCJ-02 (116.006141221789, 40.001213650174).
BEIJING = (116.404, 39.915)


def test_wgs84_to_gcj02_matches_published_points() -> None:
    lon, lat = c.wgs84_to_gcj02(*BEIJING)
    assert float(lon) == pytest.approx(116.41024449916938, abs=1e-9)
    assert float(lat) == pytest.approx(39.91640428150164, abs=1e-9)
    lon, lat = c.wgs84_to_gcj02(116.0, 40.0)
    # this implementation uses a slightly different eccentricity constant: 1e-7 deg = 1 cm
    assert float(lon) == pytest.approx(116.006141221789, abs=1e-6)
    assert float(lat) == pytest.approx(40.001213650174, abs=1e-6)


def test_gcoord_points() -> None:
    lon, lat = c.gcj02_to_wgs84(123.0, 45.0)
    assert float(lon) == pytest.approx(122.99395597, abs=5e-7)
    assert float(lat) == pytest.approx(44.99804071, abs=5e-7)
    lon, lat = c.gcj02_to_bd09(123.0, 45.0)
    assert float(lon) == pytest.approx(123.00636499, abs=1e-8)
    assert float(lat) == pytest.approx(45.00636899, abs=1e-8)


def test_gcj02_and_bd09_match_published_points() -> None:
    lon, lat = c.gcj02_to_bd09(*BEIJING)
    assert float(lon) == pytest.approx(116.41036949371029, abs=1e-12)
    assert float(lat) == pytest.approx(39.92133699351021, abs=1e-12)
    # the published inverses are approximations; ours is iterated to 1e-9 deg, so it
    # agrees with them to their error (~2e-7 and ~5e-7 deg, under 6 cm) ...
    lon, lat = c.bd09_to_gcj02(*BEIJING)
    assert float(lon) == pytest.approx(116.39762729119315, abs=1e-6)
    assert float(lat) == pytest.approx(39.90865673957631, abs=1e-6)
    lon, lat = c.gcj02_to_wgs84(*BEIJING)
    assert float(lon) == pytest.approx(116.39775550083061, abs=1e-6)
    assert float(lat) == pytest.approx(39.91359571849836, abs=1e-6)
    # ... and, unlike them, maps back exactly
    back = c.wgs84_to_gcj02(lon, lat)
    assert np.allclose(back, BEIJING, atol=1e-9, rtol=0)


def test_offset_is_hundreds_of_metres_in_hunan() -> None:
    lon, lat = c.wgs84_to_gcj02(112.9, 27.85)  # Xiangtan
    d_m = np.hypot((lon - 112.9) * 111_320 * np.cos(np.radians(27.85)), (lat - 27.85) * 111_195)
    assert 300 < float(d_m) < 800


def test_outside_china_gcj_equals_wgs() -> None:
    lon, lat = np.array([2.35, -74.0, 151.2]), np.array([48.85, 40.7, -33.9])
    g_lon, g_lat = c.wgs84_to_gcj02(lon, lat)
    np.testing.assert_array_equal(g_lon, lon)
    np.testing.assert_array_equal(g_lat, lat)
    w_lon, w_lat = c.gcj02_to_wgs84(lon, lat)
    np.testing.assert_array_equal(w_lon, lon)
    np.testing.assert_array_equal(w_lat, lat)


china = st.tuples(st.floats(73.0, 135.0), st.floats(18.0, 53.0))


@settings(max_examples=200, deadline=None)
@given(st.lists(china, min_size=1, max_size=20))
def test_round_trips_are_exact(points: list[tuple[float, float]]) -> None:
    lon, lat = np.array(points).T
    for forward, inverse in ((c.wgs84_to_gcj02, c.gcj02_to_wgs84),
                             (c.gcj02_to_bd09, c.bd09_to_gcj02),
                             (c.wgs84_to_bd09, c.bd09_to_wgs84)):
        back = inverse(*forward(lon, lat))
        np.testing.assert_allclose(back[0], lon, atol=1e-8, rtol=0)
        np.testing.assert_allclose(back[1], lat, atol=1e-8, rtol=0)


@pytest.mark.parametrize(("text", "canonical"), [
    ("", "wgs84"), ("WGS84", "wgs84"), ("EPSG:4326", "wgs84"), ("GCJ-02", "gcj02"),
    ("bd09", "bd09"), ("epsg:4490", "EPSG:4490"), ("EPSG: 4547", "EPSG:4547"),
    ("mars", None), ("4326", None),
])
def test_normalize_crs(text: str, canonical: str | None) -> None:
    assert c.normalize_crs(text) == canonical


def test_dataset_converts_declared_rows_and_says_so(dataset_tables: DatasetTables,
                                                    tmp_path: Path) -> None:
    g_lon, g_lat = c.wgs84_to_gcj02(112.88, 27.86)
    b_lon, b_lat = c.wgs84_to_bd09(112.95, 27.90)
    from symbiosis.geo.crs import project

    x, y = project([113.13], [27.83], "EPSG:4547")
    t = dataset_tables.add_column("enterprises", "crs", ["gcj02", "BD-09", "EPSG:4547", ""])
    t.set("enterprises", 2, "lon", f"{float(g_lon):.10f}").set(
        "enterprises", 2, "lat", f"{float(g_lat):.10f}")
    t.set("enterprises", 3, "lon", f"{float(b_lon):.10f}").set(
        "enterprises", 3, "lat", f"{float(b_lat):.10f}")
    t.set("enterprises", 4, "lon", f"{float(x[0]):.4f}").set(
        "enterprises", 4, "lat", f"{float(y[0]):.4f}")
    ds = load_dataset(t.write_csv(tmp_path / "ds"))
    ent = ds.enterprises
    assert ent.loc["PWR1", "lon"] == pytest.approx(112.88, abs=1e-8)
    assert ent.loc["PWR1", "lat"] == pytest.approx(27.86, abs=1e-8)
    assert ent.loc["CEM1", "lon"] == pytest.approx(112.95, abs=1e-8)
    assert ent.loc["CEM2", "lon"] == pytest.approx(113.13, abs=1e-8)
    assert ent.loc["CEM2", "lat"] == pytest.approx(27.83, abs=1e-8)
    assert list(ent["crs"]) == ["gcj02", "bd09", "EPSG:4547", "wgs84"]
    notes = {p.message for p in ds.warnings if p.column == "crs"}
    assert notes == {"converted 1 enterprise(s) from GCJ-02 (Amap/Tencent) to WGS 84",
                     "converted 1 enterprise(s) from BD-09 (Baidu) to WGS 84",
                     "converted 1 enterprise(s) from EPSG:4547 to WGS 84"}


def test_bad_crs_is_reported_with_row_and_column(dataset_tables: DatasetTables,
                                                 tmp_path: Path) -> None:
    t = dataset_tables.add_column("enterprises", "crs", ["mars", "", "EPSG:999999", ""])
    t.set("enterprises", 4, "lon", "500000").set("enterprises", 4, "lat", "3100000")
    folder = t.write_csv(tmp_path / "ds")
    errors = [str(p) for p in validate_dataset(folder) if p.severity == "error"]
    label = str(folder / "enterprises.csv")
    assert f"{label}:2:crs: unknown coordinate system 'mars': use wgs84, gcj02, bd09 or an " \
           "EPSG code such as EPSG:4490" in errors
    assert f"{label}:4:crs: unknown coordinate system EPSG:999999" in errors
    with pytest.raises(InvalidDataError):
        load_dataset(folder)


def test_projected_values_out_of_range_after_conversion(dataset_tables: DatasetTables,
                                                        tmp_path: Path) -> None:
    t = dataset_tables.add_column("enterprises", "crs", ["", "", "EPSG:4490", ""])
    t.set("enterprises", 4, "lon", "500000").set("enterprises", 4, "lat", "3100000")
    problems = validate_dataset(t.write_csv(tmp_path / "ds"))
    assert any(p.row == 4 and p.column == "lon" and "not a valid point in EPSG:4490"
               in p.message for p in problems)


def test_metric_crs_choice() -> None:
    assert metric_crs_for([112.0, 113.0], [27.0, 28.0]) == "EPSG:4546"  # CGCS2000 CM 111E
    assert metric_crs_for([113.9], [22.5]) == "EPSG:4547"  # CM 114E
    assert metric_crs_for([2.35], [48.85]) == "EPSG:32631"  # UTM 31N
    assert metric_crs_for([151.2], [-33.9]) == "EPSG:32756"


def test_a_distance_in_degrees_is_an_error() -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    frame = gpd.GeoSeries([Point(112.9, 27.8)], crs="EPSG:4326")
    with pytest.raises(GeographicDistanceError, match="in degrees"):
        require_metric(frame)
    require_metric(frame.to_crs("EPSG:4547"))


def test_workbook_crs_column(dataset_tables: DatasetTables, tmp_path: Path) -> None:
    """The same column works in an .xlsx workbook."""
    g_lon, g_lat = c.wgs84_to_gcj02(112.88, 27.86)
    t = dataset_tables.add_column("enterprises", "crs", ["GCJ02", "", "", ""])
    t.set("enterprises", 2, "lon", f"{float(g_lon):.10f}").set(
        "enterprises", 2, "lat", f"{float(g_lat):.10f}")
    ds = load_dataset(t.write_xlsx(tmp_path / "ds.xlsx"))
    assert ds.enterprises.loc["PWR1", "lon"] == pytest.approx(112.88, abs=1e-8)
    assert ds.enterprises.loc["PWR1", "lat"] == pytest.approx(27.86, abs=1e-8)
