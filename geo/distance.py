"""The one distance rule between enterprises, great-circle distances and the radius query
behind candidate arcs.

DESIGN.md fixes the default distance so results are comparable: haversine on a sphere of
R = 6371.0088 km (the IUGG mean Earth radius R1 of GRS 80, Moritz 1980, "Geodetic
Reference System 1980", Bulletin Géodésique 54) times a circuity factor (default 1.3,
road km per straight-line km) unless a known road distance is supplied.

`pair_km` is that rule, and the only place it is written: the km between enterprise pairs
is the dataset's distances.csv entry (a pair listed one way serves both ways unless both
are listed), else the road network's km when one is given (`geo.GeoDistances`, which also
applies restricted-zone rules), else great circle x circuity; each pair says where its km
came from (`DistanceSource`). `DistanceRule` holds one run's inputs to it (positions,
circuity, table, roads) so candidates, explanations, gaps and feedstock ask the same
question the same way; `DistanceRule.within` is the radius query plus that rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from symbiosis.geo.constants import DEFAULT_CIRCUITY, EARTH_RADIUS_KM
from symbiosis.types import FloatArray, IntArray

if TYPE_CHECKING:
    from symbiosis.dataset import Dataset

__all__ = [
    "BRUTE_FORCE_PAIRS",
    "DEFAULT_CIRCUITY",
    "EARTH_RADIUS_KM",
    "ComputedDistances",
    "DistanceRule",
    "DistanceSource",
    "DistanceTable",
    "haversine_km",
    "pair_km",
    "pairs_within_km",
]

# below this many (a, b) pairs a chunked all-pairs pass beats building a k-d tree
# (and spares the 0.4 s scipy.spatial import); above it the tree wins by far
BRUTE_FORCE_PAIRS = 4_000_000
_CHUNK = 2_000_000

CodeArray = NDArray[np.int8]


def haversine_km(
    lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike
) -> FloatArray:
    """Great-circle distance in km between points given in WGS 84 decimal degrees."""
    lam1, phi1, lam2, phi2 = (np.radians(np.asarray(v, dtype=float))
                              for v in (lon1, lat1, lon2, lat2))
    h = (np.sin((phi2 - phi1) / 2.0) ** 2
         + np.cos(phi1) * np.cos(phi2) * np.sin((lam2 - lam1) / 2.0) ** 2)
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _haversine_pairs(lon_a: FloatArray, lat_a: FloatArray, lon_b: FloatArray,
                     lat_b: FloatArray, i: IntArray, j: IntArray) -> FloatArray:
    """`haversine_km` of the pairs (a[i], b[j]), its radians and cosines taken once per
    point rather than once per pair (bit-identical: the same operations on the same
    values)."""
    lam_a, phi_a = np.radians(lon_a), np.radians(lat_a)
    lam_b, phi_b = np.radians(lon_b), np.radians(lat_b)
    phi1, phi2 = phi_a[i], phi_b[j]
    h = (np.sin((phi2 - phi1) / 2.0) ** 2
         + np.cos(phi_a)[i] * np.cos(phi_b)[j] * np.sin((lam_b[j] - lam_a[i]) / 2.0) ** 2)
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
    d = _haversine_pairs(lon_a, lat_a, lon_b, lat_b, i, j)
    keep = d <= radius_km
    i, j, d = i[keep], j[keep], d[keep]
    # one sort of the (unique) pair keys i * n_b + j: half a two-key lexsort's time
    order = np.argsort(i * len(lon_b) + j)
    return i[order], j[order], d[order]


# ----------------------------------------------------------------------------- the rule


class DistanceSource(StrEnum):
    """Where a pair's km came from. The int8 code of a member (its position, `code`) is what
    arrays of pairs carry; `label` is the text written to exchanges.csv's
    `distance_source` (the great-circle labels name the circuity: `great_circle_x1.3`)."""

    GREAT_CIRCLE = "great_circle"
    TABLE = "distances.csv"
    ROAD = "road_network"
    NO_ROAD_CONNECTION = "no_road_connection"  # great circle: the road components do not connect

    @property
    def code(self) -> int:
        """The member's int8 code in arrays of pairs (0 great circle, 1 distances.csv,
        2 road, 3 great circle for want of a road connection)."""
        return _SOURCES.index(self)

    @classmethod
    def of(cls, code: int) -> DistanceSource:
        """The member with int8 code `code`."""
        return _SOURCES[int(code)]

    def label(self, circuity: float) -> str:
        """The exchanges.csv label, e.g. `great_circle_x1.3`, `distances.csv`."""
        gc = f"great_circle_x{circuity:g}"
        if self is DistanceSource.GREAT_CIRCLE:
            return gc
        if self is DistanceSource.NO_ROAD_CONNECTION:
            return f"{gc}_no_road_connection"
        return self.value

    @staticmethod
    def labels(codes: NDArray[np.integer], circuity: float) -> NDArray[np.object_]:
        """The exchanges.csv label of every code in `codes` (Python strings)."""
        names = np.array([s.label(circuity) for s in _SOURCES], dtype=object)
        return names[np.asarray(codes, dtype=np.int64)]


_SOURCES: tuple[DistanceSource, ...] = tuple(DistanceSource)


class ComputedDistances(Protocol):
    """A road network (and zone rules) for pairs that distances.csv does not list:
    `geo.GeoDistances` implements it."""

    @property
    def has_roads(self) -> bool:
        """True when a road network is attached (great circle is then only a lower bound)."""
        ...

    def computed_km(self, src: IntArray, dst: IntArray, material: str | None,
                    gc_km: FloatArray, circuity: float, limit_km: float,
                    log: bool = True) -> tuple[FloatArray, CodeArray]:
        """km per pair (inf beyond `limit_km` or where no permitted route exists) and its
        `DistanceSource` code; `log` records zone decisions for the report."""
        ...


@dataclass(frozen=True)
class DistanceTable:
    """distances.csv as sorted keys over ordered enterprise-position pairs
    (from_pos * n_enterprises + to_pos), both directions: a pair listed one way serves
    both ways unless the other direction is listed too."""

    keys: IntArray
    km: FloatArray
    n_enterprises: int

    @classmethod
    def build(cls, from_pos: ArrayLike, to_pos: ArrayLike, km: ArrayLike,
              n_enterprises: int) -> DistanceTable | None:
        """The table of the listed pairs (positions into the enterprise table); None when
        nothing is listed. A pair listed twice the same way keeps its first row."""
        a = np.asarray(from_pos, dtype=np.int64)
        b = np.asarray(to_pos, dtype=np.int64)
        dist = np.asarray(km, dtype=float)
        if len(a) == 0:
            return None
        n = int(n_enterprises)
        forward, backward = a * n + b, b * n + a
        only_back = ~np.isin(backward, forward)
        keys = np.concatenate([forward, backward[only_back]])
        both = np.concatenate([dist, dist[only_back]])
        keys, first = np.unique(keys, return_index=True)
        return cls(keys, both[first], n)

    @classmethod
    def of(cls, dataset: Dataset) -> DistanceTable | None:
        """The table of `dataset.distances` (None when it lists nothing)."""
        d, ids = dataset.distances, dataset.enterprises.index
        if d.empty:
            return None
        return cls.build(ids.get_indexer(d["from_id"]), ids.get_indexer(d["to_id"]),
                         d["distance_km"].to_numpy(float), len(ids))

    def lookup(self, src: IntArray, dst: IntArray) -> FloatArray:
        """Listed km per (src, dst) enterprise-position pair; nan where not listed."""
        key = np.asarray(src, np.int64) * self.n_enterprises + np.asarray(dst, np.int64)
        pos = np.searchsorted(self.keys, key)
        pos_ok = np.minimum(pos, len(self.keys) - 1)
        found = self.keys[pos_ok] == key
        return np.where(found, self.km[pos_ok], np.nan)

    def listed(self, src: IntArray, dst: IntArray) -> NDArray[np.bool_]:
        """Which (src, dst) pairs are listed."""
        key = np.asarray(src, np.int64) * self.n_enterprises + np.asarray(dst, np.int64)
        return np.isin(key, self.keys)

    def pairs_between(self, src: IntArray, dst: IntArray,
                      limit_km: float) -> tuple[IntArray, IntArray, FloatArray]:
        """Every (i, j) with (src[i], dst[j]) listed at km <= limit_km, and that km:
        grouped by listed pair in key order, then by i, then by j."""
        src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
        keep = self.km <= limit_km
        keys, km = self.keys[keep], self.km[keep]
        n = self.n_enterprises
        # i by enterprise, j by enterprise: sorted so each listed pair expands in order
        i_order = np.argsort(src, kind="stable")
        j_order = np.argsort(dst, kind="stable")
        s_sorted, d_sorted = src[i_order], dst[j_order]
        lo_i = np.searchsorted(s_sorted, keys // n, side="left")
        hi_i = np.searchsorted(s_sorted, keys // n, side="right")
        lo_j = np.searchsorted(d_sorted, keys % n, side="left")
        hi_j = np.searchsorted(d_sorted, keys % n, side="right")
        count = (hi_i - lo_i) * (hi_j - lo_j)
        live = np.flatnonzero(count > 0)
        out_i, out_j, out_d = [], [], []
        for k in live.tolist():
            ii = i_order[lo_i[k]:hi_i[k]]
            jj = j_order[lo_j[k]:hi_j[k]]
            out_i.append(np.repeat(ii, len(jj)))
            out_j.append(np.tile(jj, len(ii)))
            out_d.append(np.full(len(ii) * len(jj), km[k]))
        if not out_i:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        return (np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d))


def pair_km(src: ArrayLike, dst: ArrayLike, lon: FloatArray, lat: FloatArray, *,
            circuity: float = DEFAULT_CIRCUITY, table: DistanceTable | None = None,
            roads: ComputedDistances | None = None, material: str | None = None,
            limit_km: float = math.inf, gc_km: FloatArray | None = None,
            log: bool = True) -> tuple[FloatArray, CodeArray]:
    """The km between enterprise pairs (src[k], dst[k]) and where each came from.

    `src`, `dst`: enterprise positions (rows of `lon`/`lat`, WGS 84 degrees), shape (k,).
    The rule (DESIGN.md): the `table` (distances.csv) entry where the pair is listed, as it
    is, no circuity; else the road km from `roads` (a `ComputedDistances` such as
    `geo.GeoDistances`, which applies zone rules for `material`; pairs on road components
    that do not connect fall back to great circle x circuity); else great circle x
    `circuity`. With roads, pairs whose road km exceeds `limit_km` come back as inf (the
    bounded search does not look further); `gc_km` passes great-circle km already known.

    Returns:
        (km, code): float km per pair (inf = no permitted route within `limit_km`) and the
        int8 `DistanceSource` code per pair.
    """
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    gc = haversine_km(lon[src], lat[src], lon[dst], lat[dst]) if gc_km is None \
        else np.asarray(gc_km, float)
    km = gc * circuity
    code = np.full(len(src), DistanceSource.GREAT_CIRCLE.code, np.int8)
    computed = np.ones(len(src), bool)
    if table is not None and len(src):
        listed = table.lookup(src, dst)
        has = ~np.isnan(listed)
        km[has] = listed[has]
        code[has] = DistanceSource.TABLE.code
        computed = ~has
    if roads is not None and computed.any():
        calc = np.flatnonzero(computed)
        km[calc], code[calc] = roads.computed_km(src[calc], dst[calc], material, gc[calc],
                                                 circuity, limit_km, log)
    return km, code


@dataclass(frozen=True)
class DistanceRule:
    """One run's distance inputs: enterprise positions (WGS 84, row order of the enterprise
    table), circuity, distances.csv and optionally roads and zones. `km` is `pair_km` with
    them; `within` finds every pair within a reach under the same rule."""

    lon: FloatArray
    lat: FloatArray
    circuity: float = DEFAULT_CIRCUITY
    table: DistanceTable | None = None
    roads: ComputedDistances | None = None

    @classmethod
    def of(cls, dataset: Dataset, circuity: float = DEFAULT_CIRCUITY,
           roads: ComputedDistances | None = None) -> DistanceRule:
        """The rule of `dataset` (its positions and distances.csv) at `circuity`.

        Raises:
            ValueError: circuity not a positive finite number.
        """
        if not (circuity > 0 and math.isfinite(circuity)):
            raise ValueError(f"circuity must be a positive number, got {circuity}")
        ent = dataset.enterprises
        return cls(ent["lon"].to_numpy(float), ent["lat"].to_numpy(float), float(circuity),
                   DistanceTable.of(dataset), roads)

    @property
    def has_roads(self) -> bool:
        """True when road km replace great circle x circuity."""
        return self.roads is not None and self.roads.has_roads

    def search_radius_km(self, reach_km: float) -> float:
        """The great-circle radius that holds every computed pair within `reach_km`: the
        reach itself with roads (great circle is a lower bound of road km), else
        reach / circuity."""
        if self.has_roads:
            return reach_km
        # widened by a hair so no pair with great circle x circuity <= reach is lost to
        # rounding; `within` then decides on the km itself
        return reach_km / self.circuity * (1.0 + 1e-12)

    def km(self, src: ArrayLike, dst: ArrayLike, material: str | None = None,
           limit_km: float = math.inf, gc_km: FloatArray | None = None,
           log: bool = True) -> tuple[FloatArray, CodeArray]:
        """`pair_km` under this rule (see there)."""
        return pair_km(src, dst, self.lon, self.lat, circuity=self.circuity,
                       table=self.table, roads=self.roads, material=material,
                       limit_km=limit_km, gc_km=gc_km, log=log)

    def within(self, src: IntArray, dst: IntArray, reach_km: float,
               material: str | None = None, log: bool = True
               ) -> tuple[IntArray, IntArray, FloatArray, CodeArray]:
        """Every (i, j) whose enterprises src[i] != dst[j] are at most `reach_km` apart
        under this rule, with the km and its source code.

        Computed pairs come first (by i then j, from the radius query), then the listed
        pairs (distances.csv) found anywhere, whatever their great-circle distance.
        """
        src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
        i, j, gc = pairs_within_km(self.lon[src], self.lat[src], self.lon[dst],
                                   self.lat[dst], self.search_radius_km(reach_km))
        if self.table is not None:
            unlisted = ~self.table.listed(src[i], dst[j])
            ti, tj, tkm = self.table.pairs_between(src, dst, reach_km)
            i, j, gc = i[unlisted], j[unlisted], gc[unlisted]
        else:
            ti = tj = np.empty(0, np.int64)
            tkm = np.empty(0)
        distinct = src[i] != dst[j]
        i, j, gc = i[distinct], j[distinct], gc[distinct]
        km = gc * self.circuity
        code = np.full(len(i), DistanceSource.GREAT_CIRCLE.code, np.int8)
        if self.roads is not None and len(i):
            km, code = self.roads.computed_km(src[i], dst[j], material, gc, self.circuity,
                                              reach_km, log)
        keep = km <= reach_km
        listed_ok = src[ti] != dst[tj]
        return (np.concatenate([i[keep], ti[listed_ok]]),
                np.concatenate([j[keep], tj[listed_ok]]),
                np.concatenate([km[keep], tkm[listed_ok]]),
                np.concatenate([code[keep], np.full(int(listed_ok.sum()),
                                                    DistanceSource.TABLE.code, np.int8)]))
