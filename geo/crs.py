"""Metric coordinate systems: every length, buffer and snap distance is taken in metres in
a projected CRS chosen from the data, never in degrees.

Inside China the choice is CGCS2000 / 3-degree Gauss-Kruger with the central meridian
nearest the data's mean longitude (EPSG:4534 at 75E ... EPSG:4554 at 135E, the
"CM" variants without a zone prefix in the false easting; scale error < 0.03 % within
1.5 degrees of the meridian, < 0.3 % across a 5-degree province such as Hunan).
Elsewhere it is the UTM zone of the mean longitude on WGS 84 (EPSG:326xx north, 327xx
south). CGCS2000 and WGS 84 agree to a few centimetres, far below what matters here.

The datum conversions (GCJ-02, BD-09) are in `symbiosis.crs`, where the dataset loader
uses them; they are re-exported here for callers of the geo layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from symbiosis.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    normalize_crs,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from symbiosis.errors import InvalidDataError, Problem, SymbiosisError
from symbiosis.types import FloatArray

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "GeographicDistanceError",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_layer_coordinates",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "metric_crs_for",
    "normalize_crs",
    "read_layer",
    "require_metric",
    "to_metric",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]



def read_layer(path: str | Path, what: str, layer: str | None = None) -> Any:
    """A vector layer as a GeoDataFrame; InvalidDataError naming the file when it is missing
    or unreadable (`what` names the layer in the message: "parks", "zones", "roads").

    Raises:
        InvalidDataError: the file is missing or unreadable.
    """
    import geopandas as gpd

    label = str(path)
    if not Path(path).exists():
        raise InvalidDataError([Problem(label, None, None, f"{what} file not found")])
    try:
        return gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InvalidDataError([Problem(label, None, None, f"cannot read {what}: {exc}")]) \
            from exc


_FIX_PROJECTED = ("save it with its CRS (a GeoPackage or shapefile with a .prj, e.g. EPSG:4547 "
                  "CGCS2000 / 3-degree Gauss-Kruger CM 114E) or reproject it to WGS 84 "
                  "lon/lat (EPSG:4326)")


def check_layer_coordinates(frame: Any, label: str, what: str) -> list[Problem]:
    """Errors for a vector layer whose coordinates cannot be what its CRS says.

    - no CRS: an error; when the coordinates lie outside lon/lat range they are taken as
      projected metres and the message says so and how to fix it;
    - a geographic CRS (GeoJSON is always WGS 84 lon/lat, RFC 7946 section 4) with a
      feature outside [-180, 180] x [-90, 90]: an error naming the feature
      (`features[i].geometry`): lon and lat swapped when x fits a latitude and y a
      longitude, else metres of a projected CRS written into a lon/lat file.

    Without these checks such a layer is accepted, no enterprise falls in any park and the
    park drops out of the KPIs without a word.
    """
    problems: list[Problem] = []
    geoms = frame.geometry
    present = geoms.notna().to_numpy() & ~geoms.is_empty.to_numpy()
    bounds = geoms.bounds.to_numpy(float)  # minx, miny, maxx, maxy; NaN for empty
    ax = np.nanmax(np.abs(bounds[:, [0, 2]]), axis=1, initial=0.0)
    ay = np.nanmax(np.abs(bounds[:, [1, 3]]), axis=1, initial=0.0)
    outside = present & ((ax > 180.0) | (ay > 90.0))
    if frame.crs is None:
        if outside.any():
            problems.append(Problem(label, None, None,
                                    f"the {what} layer has no coordinate system and its "
                                    f"coordinates look projected (|x| up to {ax.max():.0f}, "
                                    f"|y| up to {ay.max():.0f}: metres, not degrees); "
                                    + _FIX_PROJECTED))
        else:
            problems.append(Problem(label, None, None,
                                    "the layer has no coordinate system; save it with one "
                                    "(e.g. EPSG:4326 or EPSG:4490)"))
        return problems
    if not frame.crs.is_geographic:
        return problems
    for i in np.flatnonzero(outside).tolist():
        x0, y0 = bounds[i, 0], bounds[i, 1]
        if ax[i] <= 90.0 and ay[i] <= 180.0:
            why = (f"longitude and latitude look swapped (x {x0:g} reads as a latitude, y "
                   f"{y0:g} as a longitude); write each point as [lon, lat]")
        else:
            why = (f"coordinates ({x0:.0f}, {y0:.0f}) are outside longitude/latitude range: "
                   f"they look like metres of a projected CRS although the file says "
                   f"{frame.crs.to_string()} (GeoJSON is always WGS 84 lon/lat); "
                   + _FIX_PROJECTED)
        problems.append(Problem(label, None, f"features[{i}].geometry", why))
    return problems


class GeographicDistanceError(SymbiosisError):
    """A length or distance was asked of geometries in degrees; project them first."""


def metric_crs_for(lon: ArrayLike, lat: ArrayLike) -> str:
    """The projected CRS (an `EPSG:` code) for metric work on points given in WGS 84.

    Raises:
        ValueError: no finite coordinates.
    """
    lon, lat = np.asarray(lon, float).ravel(), np.asarray(lat, float).ravel()
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        raise ValueError("no finite coordinates to choose a projection from")
    mean_lon = float(np.mean(lon[ok]))
    mean_lat = float(np.mean(lat[ok]))
    if 73.5 <= mean_lon <= 136.5 and 3.0 <= mean_lat <= 54.0:
        k = round((mean_lon - 75.0) / 3.0)
        return f"EPSG:{4534 + min(max(k, 0), 20)}"
    zone = min(60, int((mean_lon + 180.0) // 6.0) + 1)
    return f"EPSG:{32600 + zone if mean_lat >= 0 else 32700 + zone}"


def require_metric(frame: gpd.GeoDataFrame | gpd.GeoSeries, what: str = "distance") -> None:
    """Raise `GeographicDistanceError` unless `frame` is in a projected CRS (metres).

    Raises:
        GeographicDistanceError: geometries without a CRS or in a geographic CRS.
    """
    crs = frame.crs
    if crs is None:
        raise GeographicDistanceError(f"cannot take a {what} of geometries without a CRS")
    if not crs.is_projected:
        raise GeographicDistanceError(
            f"cannot take a {what} in degrees ({crs.to_string()}); project to a metric CRS "
            "first (geo.crs.to_metric)")


def to_metric(frame: Any, crs: str | None = None) -> Any:
    """`frame` (GeoDataFrame/GeoSeries) in `crs`; by default as it is when already
    projected, else in the metric CRS its extent picks (`metric_crs_for`).

    Raises:
        GeographicDistanceError: geometries without a CRS.
    """
    if frame.crs is None:
        raise GeographicDistanceError("geometries have no CRS; declare one (GeoJSON is WGS 84)")
    if crs is None:
        if frame.crs.is_projected:
            return frame  # already metric: keep the user's projection
        x0, y0, x1, y1 = frame.total_bounds
        from pyproj import Transformer

        t = Transformer.from_crs(frame.crs, "EPSG:4326", always_xy=True)
        lon, lat = t.transform([x0, x1, x0, x1], [y0, y0, y1, y1])
        crs = metric_crs_for(lon, lat)
    return frame if frame.crs == crs else frame.to_crs(crs)


def project(lon: ArrayLike, lat: ArrayLike, crs: str) -> tuple[FloatArray, FloatArray]:
    """WGS 84 lon/lat -> x/y metres in `crs` (pyproj, imported on use)."""
    from pyproj import Transformer

    t = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = t.transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x, float), np.asarray(y, float)


def unproject(x: ArrayLike, y: ArrayLike, crs: str) -> tuple[FloatArray, FloatArray]:
    """x/y metres in `crs` -> WGS 84 lon/lat."""
    from pyproj import Transformer

    t = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = t.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon, float), np.asarray(lat, float)
