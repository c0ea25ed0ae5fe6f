"""Coordinate systems a dataset may declare, and the datum maths that bring them to WGS 84.

Most coordinates in China come from map services: GCJ-02 (Amap/高德, Tencent/腾讯; the
"Mars" datum of the national surveying bureau) or BD-09 (Baidu/百度), offset from WGS 84
by a few hundred metres. Both offsets are public formulas, implemented here by hand in
numpy (vectorised):

- WGS 84 -> GCJ-02: a polynomial-plus-sine offset in metres on the Krasovsky 1940
  ellipsoid (a = 6378245.0 m, e^2 = 0.00669342162296594323), converted to degrees at the
  point's latitude. Outside mainland China's rough bounding box GCJ-02 equals WGS 84.
- GCJ-02 -> WGS 84 has no closed form; we invert the forward map by fixed-point iteration
  (w <- w - (f(w) - g)) until the residual is below 1e-9 degrees (about 0.1 mm), which
  takes 3-5 steps because the offset varies slowly.
- GCJ-02 <-> BD-09: a rotation and stretch in polar coordinates about the origin plus a
  constant shift (0.0065, 0.006); the inverse is refined by the same iteration.

EPSG codes (`EPSG:4490` CGCS2000 geographic, `EPSG:4547` CGCS2000 / 3-degree Gauss-Kruger
CM 114E in metres, ...) go through pyproj, imported only when a dataset declares one.

This lives in `symbiosis` (not `geo`) on purpose: the dataset contract says `lon`/`lat`
are WGS 84, and converting at load time keeps that true for every consumer of a `Dataset`
(matching, store, HTTP API) without each one having to know about datums.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from symbiosis.types import FloatArray

__all__ = [
    "BD09",
    "CRS_NAMES",
    "GCJ02",
    "WGS84",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china",
    "normalize_crs",
    "outside_china",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]


WGS84: Final = "wgs84"
GCJ02: Final = "gcj02"
BD09: Final = "bd09"
CRS_NAMES: Final = {WGS84: "WGS 84", GCJ02: "GCJ-02 (Amap/Tencent)", BD09: "BD-09 (Baidu)"}
_ALIASES: Final = {
    "": WGS84, "wgs84": WGS84, "wgs-84": WGS84, "wgs 84": WGS84, "epsg:4326": WGS84,
    "gps": WGS84, "gcj02": GCJ02, "gcj-02": GCJ02, "gcj": GCJ02, "amap": GCJ02,
    "bd09": BD09, "bd-09": BD09, "bd09ll": BD09, "baidu": BD09,
}
_EPSG = re.compile(r"^epsg:\s*(\d{4,6})$")

# Krasovsky 1940 ellipsoid, on which the GCJ-02 offset is defined
_A: Final = 6378245.0
_EE: Final = 0.00669342162296594323
# BD-09's polar stretch constant (3000 * pi / 180)
_X_PI: Final = np.pi * 3000.0 / 180.0
_TOL_DEG: Final = 1e-9
_MAX_ITER: Final = 30


def normalize_crs(text: str) -> str | None:
    """The canonical name of a declared crs (`wgs84`, `gcj02`, `bd09` or `EPSG:<code>`);
    None when the text is not one we know. Empty text means WGS 84."""
    key = text.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    m = _EPSG.match(key)
    return f"EPSG:{m.group(1)}" if m else None


def outside_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Points outside mainland China's rough bounding box, where GCJ-02 = WGS 84.

    The box (72.004-137.8347 E, 0.8293-55.8271 N) is the one every public GCJ-02
    implementation uses; it is coarse (it includes parts of neighbouring countries).
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


# A coarse outline of China (lon, lat), drawn by hand for this one test: mainland China,
# Hainan, Taiwan, Hong Kong and Macau inside; Vietnam, Laos, Myanmar, Bhutan, Nepal, India,
# Pakistan, Central Asia, Mongolia, Russia and the Korean peninsula outside. It is NOT a
# boundary (errors up to a few tens of km near a land border; offshore islands of the South
# China Sea are outside): it only decides whether a GCJ-02 or BD-09 offset can apply.
# Our approximation, checked against the capitals and border towns in tests/symbiosis.
_CHINA_OUTLINE: Final = np.array([
    (121.5, 53.4), (123.6, 53.6), (125.8, 53.1), (127.6, 50.2), (130.6, 48.9),
    (132.6, 47.7), (134.3, 48.45), (134.75, 48.3), (133.2, 45.1), (131.9, 45.3), (131.0, 44.9),
    (131.3, 43.4), (130.7, 42.5), (129.0, 42.0), (128.0, 41.4), (126.6, 41.6),
    (125.3, 40.5), (124.3, 39.9), (123.4, 37.2), (123.0, 31.0), (122.3, 25.6),
    (122.2, 22.0), (120.8, 21.5), (118.0, 21.5), (112.0, 17.5), (108.5, 17.8),
    (108.1, 21.2), (107.95, 21.53), (106.7, 22.0), (106.55, 22.4), (105.9, 22.9),
    (105.3, 23.3), (104.3, 22.7), (103.95, 22.5), (103.0, 22.6), (102.1, 22.4),
    (101.75, 21.15), (101.1, 21.6), (100.2, 21.45), (99.2, 22.1), (99.5, 22.95),
    (98.7, 23.9), (97.7, 23.9), (97.6, 24.8), (98.7, 25.9), (98.7, 27.5), (97.5, 28.3),
    (96.1, 29.4), (92.0, 27.85), (90.5, 28.3), (89.6, 28.2), (89.0, 27.6), (88.9, 27.3),
    (88.1, 27.9), (86.0, 28.0), (84.0, 29.2), (81.0, 30.2), (79.0, 31.3), (78.4, 32.6),
    (79.4, 33.2), (78.0, 35.5), (75.0, 37.0), (74.5, 38.5), (73.5, 39.5), (75.0, 40.4),
    (76.5, 40.5), (78.0, 41.2), (80.2, 42.2), (80.2, 45.0), (82.5, 45.4), (83.0, 47.2),
    (85.5, 47.1), (87.5, 49.1), (90.1, 47.8), (90.9, 46.0), (91.0, 45.2), (93.5, 44.9),
    (95.4, 44.3), (96.4, 42.7), (100.0, 42.6), (104.5, 41.8), (106.8, 42.3),
    (110.4, 42.7), (111.9, 43.6), (113.6, 44.8), (116.5, 46.4), (117.8, 46.6),
    (119.9, 46.6), (119.7, 47.6), (117.8, 47.9), (115.6, 47.9), (116.3, 49.8),
    (117.9, 49.6), (119.3, 50.3), (120.6, 52.0),
])


def in_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Points inside the coarse outline of China (`_CHINA_OUTLINE`), where GCJ-02 and
    BD-09 offsets apply; even-odd ray casting, vectorised over the points.

    `outside_china`'s box, which every public GCJ-02 implementation uses, also covers
    northern Vietnam, Mongolia and Korea: rows there declared GCJ-02 would be shifted by
    hundreds of metres that the map services never applied. This finer test is used to
    refuse that shift (symbiosis.dataset warns and keeps the row as given).
    """
    x = np.asarray(lon, float).ravel()
    y = np.asarray(lat, float).ravel()
    vx, vy = _CHINA_OUTLINE[:, 0], _CHINA_OUTLINE[:, 1]
    wx, wy = np.roll(vx, -1), np.roll(vy, -1)
    inside = np.zeros(len(x), dtype=bool)
    for x0, y0, x1, y1 in zip(vx, vy, wx, wy, strict=True):
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < at)
    return inside.reshape(np.shape(np.asarray(lon, float)))


def _offset_m(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The GCJ-02 offset polynomials, in metres-like units, at x = lon - 105, y = lat - 35."""
    pi = np.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y
             + 0.2 * np.sqrt(np.abs(x)) + common
             + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
             + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0)
    d_lon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y
             + 0.1 * np.sqrt(np.abs(x)) + common
             + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
             + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS 84 -> GCJ-02 (identity outside China)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    d_lon, d_lat = _offset_m(lon - 105.0, lat - 35.0)
    phi = np.radians(lat)
    magic = 1.0 - _EE * np.sin(phi) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = d_lat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = d_lon * 180.0 / (_A / sqrt_magic * np.cos(phi) * np.pi)
    out = outside_china(lon, lat)
    return np.where(out, lon, lon + d_lon), np.where(out, lat, lat + d_lat)


def _invert(forward: Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]],
            lon: FloatArray, lat: FloatArray,
            start: tuple[FloatArray, FloatArray]) -> tuple[FloatArray, FloatArray]:
    """Solve forward(w) = (lon, lat) for w by fixed-point iteration from `start`."""
    w_lon, w_lat = start
    for _ in range(_MAX_ITER):
        f_lon, f_lat = forward(w_lon, w_lat)
        r_lon, r_lat = f_lon - lon, f_lat - lat
        w_lon, w_lat = w_lon - r_lon, w_lat - r_lat
        if max(float(np.max(np.abs(r_lon), initial=0.0)),
               float(np.max(np.abs(r_lat), initial=0.0))) < _TOL_DEG:
            break
    return w_lon, w_lat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 -> WGS 84, exact to 1e-9 degrees (iterated inverse of `wgs84_to_gcj02`)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    return _invert(wgs84_to_gcj02, lon, lat, (lon.copy(), lat.copy()))


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """GCJ-02 -> BD-09."""
    x, y = np.asarray(lon, float), np.asarray(lat, float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """BD-09 -> GCJ-02: the usual closed-form approximation, refined by iteration so that
    `gcj02_to_bd09` of the result gives back the input to 1e-9 degrees."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    x, y = lon - 0.0065, lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _invert(gcj02_to_bd09, lon, lat, (z * np.cos(theta), z * np.sin(theta)))


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS 84 -> BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """BD-09 -> WGS 84 (through GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def epsg_to_wgs84(code: str, x: ArrayLike, y: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Any EPSG CRS -> WGS 84 lon/lat through pyproj (imported on first use).

    Raises ValueError when pyproj does not know the code.
    """
    from pyproj import CRS, Transformer  # lazy: only datasets that declare an EPSG code
    from pyproj.exceptions import CRSError

    try:
        source = CRS.from_user_input(code)
    except CRSError as exc:
        raise ValueError(f"unknown coordinate system {code}") from exc
    transformer = Transformer.from_crs(source, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon, float), np.asarray(lat, float)


def to_wgs84(lon: ArrayLike, lat: ArrayLike, crs: str) -> tuple[FloatArray, FloatArray]:
    """Coordinates in a canonical crs (see `normalize_crs`) -> WGS 84 lon/lat."""
    if crs == WGS84:
        return np.asarray(lon, float), np.asarray(lat, float)
    if crs == GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if crs == BD09:
        return bd09_to_wgs84(lon, lat)
    return epsg_to_wgs84(crs, lon, lat)


def is_projected(code: str) -> bool:
    """True when the EPSG code names a projected CRS (x/y in metres, not degrees)."""
    from pyproj import CRS

    return bool(CRS.from_user_input(code).is_projected)
