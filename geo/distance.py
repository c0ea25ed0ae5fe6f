"""Great-circle distances and the radius query behind candidate arcs.

DESIGN.md fixes the default distance so results are comparable: haversine on a sphere of
R = 6371.0088 km (the IUGG mean Earth radius R1 of GRS 80, Moritz 1980, "Geodetic
Reference System 1980", Bulletin Géodésique 54) times a circuity factor (default 1.3,
road km per straight-line km) unless a known road distance is supplied.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "BRUTE_FORCE_PAIRS",
    "DEFAULT_CIRCUITY",
    "EARTH_RADIUS_KM",
    "haversine_km",
    "pairs_within_km",
]

EARTH_RADIUS_KM = 6371.0088
DEFAULT_CIRCUITY = 1.3
# below this many (a, b) pairs a chunked all-pairs pass beats building a k-d tree
# (and spares the 0.4 s scipy.spatial import); above it the tree wins by far
BRUTE_FORCE_PAIRS = 4_000_000
_CHUNK = 2_000_000

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def haversine_km(
    lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike
) -> FloatArray:
    """Great-circle distance in km between points given in WGS 84 decimal degrees."""
    lam1, phi1, lam2, phi2 = (np.radians(np.asarray(v, dtype=float))
                              for v in (lon1, lat1, lon2, lat2))
    h = (np.sin((phi2 - phi1) / 2.0) ** 2
         + np.cos(phi1) * np.cos(phi2) * np.sin((lam2 - lam1) / 2.0) ** 2)
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _unit_xyz(lon: FloatArray, lat: FloatArray) -> FloatArray:
    lam, phi = np.radians(lon), np.radians(lat)
    return np.column_stack((np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)))


def pairs_within_km(
    lon_a: ArrayLike,
    lat_a: ArrayLike,
    lon_b: ArrayLike,
    lat_b: ArrayLike,
    radius_km: float,
) -> tuple[IntArray, IntArray, FloatArray]:
    """All (i, j) with great-circle distance(a[i], b[j]) <= radius_km, and that distance.

    Exact at the boundary whichever path runs: the k-d tree (on unit-sphere xyz, with a
    slightly widened chord) only proposes pairs; the haversine decides. Pairs come sorted by
    i then j, so the output is the same from both paths.
    """
    lon_a, lat_a, lon_b, lat_b = (np.asarray(v, dtype=float)
                                  for v in (lon_a, lat_a, lon_b, lat_b))
    n_a, n_b = len(lon_a), len(lon_b)
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, float))
    if n_a == 0 or n_b == 0 or radius_km < 0:
        return empty
    if n_a * n_b <= BRUTE_FORCE_PAIRS or not np.isfinite(radius_km) \
            or radius_km >= np.pi * EARTH_RADIUS_KM:
        return _pairs_brute(lon_a, lat_a, lon_b, lat_b, radius_km)
    return _pairs_tree(lon_a, lat_a, lon_b, lat_b, radius_km)


def _pairs_brute(lon_a: FloatArray, lat_a: FloatArray, lon_b: FloatArray, lat_b: FloatArray,
                 radius_km: float) -> tuple[IntArray, IntArray, FloatArray]:
    rows_per_chunk = max(1, _CHUNK // len(lon_b))
    out_i, out_j, out_d = [], [], []
    for start in range(0, len(lon_a), rows_per_chunk):
        stop = min(start + rows_per_chunk, len(lon_a))
        d = haversine_km(lon_a[start:stop, None], lat_a[start:stop, None],
                         lon_b[None, :], lat_b[None, :])
        i, j = np.nonzero(d <= radius_km)
        out_i.append(i + start)
        out_j.append(j)
        out_d.append(d[i, j])
    return (np.concatenate(out_i).astype(np.int64), np.concatenate(out_j).astype(np.int64),
            np.concatenate(out_d))


def _pairs_tree(lon_a: FloatArray, lat_a: FloatArray, lon_b: FloatArray, lat_b: FloatArray,
                radius_km: float) -> tuple[IntArray, IntArray, FloatArray]:
    from scipy.spatial import cKDTree  # lazy: 0.4 s to import, only large instances need it

    chord = 2.0 * np.sin(min(radius_km / (2.0 * EARTH_RADIUS_KM), np.pi / 2))
    tree_a = cKDTree(_unit_xyz(lon_a, lat_a))
    tree_b = cKDTree(_unit_xyz(lon_b, lat_b))
    found = tree_a.sparse_distance_matrix(tree_b, chord * (1 + 1e-9) + 1e-12,
                                          output_type="ndarray")
    i = found["i"].astype(np.int64)
    j = found["j"].astype(np.int64)
    d = haversine_km(lon_a[i], lat_a[i], lon_b[j], lat_b[j])
    keep = d <= radius_km
    i, j, d = i[keep], j[keep], d[keep]
    order = np.lexsort((j, i))
    return i[order], j[order], d[order]
