"""Restricted zones and the rules they carry.

A zones file (GeoJSON or GeoPackage, any CRS it declares) has one feature per zone with
properties `kind`, `name` and `source` (the legal basis or where the outline came from):

- `drinking_water_protection` (polygon): no hazardous material (taxonomy `hazardous`
  flag) is routed through it. With a road network the route avoids the zone's roads
  (rerouted, or excluded when no route remains within reach); without one, an exchange
  whose straight line crosses the zone is excluded.
- `yangtze_shoreline` (a bank or river line, or the water surface as a polygon): no new or
  expanded chemical project within 1 km (`SHORELINE_M`). Existing chemical enterprises
  there are flagged, and `check_site` refuses a new chemical tenant.

The 1 km rule: Yangtze River Protection Law of the PRC (中华人民共和国长江保护法, adopted
2020-12-26, in force 2021-03-01), art. 26: chemical parks and chemical projects may not be
newly built or expanded within one kilometre of the shoreline of the Yangtze's main stream
and tributaries (禁止在长江干支流岸线一公里范围内新建、扩建化工园区和化工项目). The rule's
content is confirmed by cnchemicals.com (2021-02-01, "Yangtze River Protection Law to come
into effect on March 1") and by Hunan's 2021 chemical-industry plan as relayed by Hunan Daily
(1 km along the Yangtze, Dongting Lake and the Xiang, Zi, Yuan and Li main streams). The
article number (26, chapter II "planning and control") is our reading of the NPC text; the
excerpts we could retrieve (npc.gov.cn English text, several Chinese reprints) did not show
article 26 itself, so it is marked for verification. "Chemical" here means GB/T 4754-2017
division 26 (化学原料和化学制品制造业), sector codes 26xx; petroleum refining (25xx) is not
included.

Distances and buffers are taken in metres in the projected CRS of `geo.crs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from symbiosis.errors import InvalidDataError, Problem
from symbiosis.geo.crs import (
    check_layer_coordinates,
    metric_crs_for,
    project,
    read_layer,
    require_metric,
)

__all__ = [
    "KINDS",
    "SHORELINE_M",
    "SHORELINE_RULE",
    "WATER_RULE",
    "Zones",
    "check_site",
    "is_chemical_sector",
    "load_zones",
    "shoreline_flags",
]

SHORELINE_M = 1000.0
SHORELINE_RULE = ("Yangtze River Protection Law (2021) art. 26: no new or expanded chemical "
                  "park or project within 1 km of the Yangtze main-stream or tributary "
                  "shoreline")
WATER_RULE = ("no hazardous material may be routed through a drinking-water source "
              "protection zone")
KINDS = ("drinking_water_protection", "yangtze_shoreline")
_GEOMETRY = {"drinking_water_protection": {"Polygon", "MultiPolygon"},
             "yangtze_shoreline": {"LineString", "MultiLineString", "Polygon", "MultiPolygon"}}


def is_chemical_sector(sector: ArrayLike) -> NDArray[np.bool_]:
    """GB/T 4754-2017 division 26 (chemical raw materials and products): codes 26xx,
    with or without the section letter C."""
    s = pd.Series(np.asarray(sector, dtype=object)).astype(str).str.strip().str.upper()
    s = s.str.removeprefix("C")
    return s.str.match(r"^26\d{0,2}$").to_numpy(dtype=bool)


@dataclass(frozen=True)
class Zones:
    """Validated zones: `frame` in WGS 84 (kind, name, source, geometry) and `metric`, the
    same in the projected CRS `crs`."""

    frame: Any
    metric: Any
    crs: str
    source: str

    def of_kind(self, kind: str) -> Any:
        """The metric GeoDataFrame of one kind."""
        return self.metric[self.metric["kind"] == kind]

    @property
    def has_water(self) -> bool:
        """True when the file holds at least one drinking-water protection zone."""
        return bool((self.metric["kind"] == "drinking_water_protection").any())

    def water_crossings(self, x0: ArrayLike, y0: ArrayLike, x1: ArrayLike,
                        y1: ArrayLike) -> list[str]:
        """Per straight segment (metric x/y), the name of the first drinking-water zone it
        crosses, or '' when it crosses none."""
        import shapely

        water = self.of_kind("drinking_water_protection")
        n = len(np.asarray(x0))
        out = [""] * n
        if n == 0 or water.empty:
            return out
        lines = shapely.linestrings(np.stack([np.column_stack([x0, y0]),
                                              np.column_stack([x1, y1])], axis=1))
        tree = shapely.STRtree(water.geometry.to_numpy())
        li, zi = tree.query(lines, predicate="intersects")
        names = water["name"].to_numpy(dtype=object)
        for a, b in zip(li[::-1], zi[::-1], strict=True):  # reversed: first zone wins
            out[int(a)] = str(names[int(b)])
        return out

    def blocked_edges(self, network: Any) -> NDArray[np.bool_]:
        """Road segments of `network` (a geo.roads.RoadNetwork) that touch a drinking-water
        protection zone."""
        import shapely

        water = self.of_kind("drinking_water_protection").to_crs(network.crs)
        mask = np.zeros(network.n_edges, dtype=bool)
        if water.empty:
            return mask
        segs = shapely.linestrings(np.stack(
            [np.column_stack([network.x[network.u], network.y[network.u]]),
             np.column_stack([network.x[network.v], network.y[network.v]])], axis=1))
        tree = shapely.STRtree(segs)
        _, hit = tree.query(water.geometry.to_numpy(), predicate="intersects")
        mask[np.unique(hit)] = True
        return mask


def load_zones(path: str | Path, crs: str | None = None) -> Zones:
    """Read and validate a zones file; every problem names the file and the feature.

    Raises:
        InvalidDataError: every problem in the zone layer (file, row, column).
    """
    label = str(path)
    frame = read_layer(path, "zones")
    problems = check_layer_coordinates(frame, label, "zones")
    for col in ("kind", "name"):
        if col not in frame.columns:
            problems.append(Problem(label, None, col, "required property is missing"))
    if problems:
        raise InvalidDataError(problems)
    if "source" not in frame.columns:
        frame["source"] = ""
    frame["kind"] = frame["kind"].fillna("").astype(str).str.strip()
    frame["name"] = frame["name"].fillna("").astype(str).str.strip()
    frame["source"] = frame["source"].fillna("").astype(str)
    for i, (kind, name, geom) in enumerate(zip(frame["kind"], frame["name"], frame.geometry,
                                               strict=True)):
        where = f"features[{i}]"
        if kind not in KINDS:
            problems.append(Problem(label, None, f"{where}.properties.kind",
                                    f"unknown zone kind '{kind}'; expected one of "
                                    f"{', '.join(KINDS)}"))
            continue
        if not name:
            problems.append(Problem(label, None, f"{where}.properties.name", "name is empty"))
        if geom is None or geom.is_empty or geom.geom_type not in _GEOMETRY[kind]:
            got = "no geometry" if geom is None else geom.geom_type
            problems.append(Problem(label, None, f"{where}.geometry",
                                    f"a {kind} zone needs {' or '.join(sorted(_GEOMETRY[kind]))},"
                                    f" got {got}"))
    if problems:
        raise InvalidDataError(problems)
    frame = frame[["kind", "name", "source", "geometry"]].to_crs("EPSG:4326")
    if crs is None:
        b = frame.total_bounds
        crs = metric_crs_for([b[0], b[2]], [b[1], b[3]])
    metric = frame.to_crs(crs)
    require_metric(metric, "zone distance")
    return Zones(frame=frame, metric=metric, crs=crs, source=label)


def _shoreline_distance_m(zones: Zones, x: NDArray[np.float64],
                          y: NDArray[np.float64]) -> tuple[NDArray[np.float64], list[str]]:
    """Distance (m) from each point to the nearest shoreline zone, and that zone's name."""
    import shapely

    shore = zones.of_kind("yangtze_shoreline")
    if shore.empty or len(x) == 0:
        return np.full(len(x), np.inf), [""] * len(x)
    tree = shapely.STRtree(shore.geometry.to_numpy())
    (pi, zi), dist = tree.query_nearest(shapely.points(x, y), return_distance=True,
                                        all_matches=False)
    d = np.full(len(x), np.inf)
    names = [""] * len(x)
    d[pi] = dist
    zone_names = shore["name"].to_numpy(dtype=object)
    for p, z in zip(pi, zi, strict=True):
        names[int(p)] = str(zone_names[int(z)])
    return d, names


def shoreline_flags(enterprises: pd.DataFrame, zones: Zones) -> pd.DataFrame:
    """Existing chemical enterprises (sector 26xx) within 1 km of a Yangtze shoreline zone:
    `enterprise_id, name, sector, zone, distance_m, rule`."""
    chem = enterprises[is_chemical_sector(enterprises["sector"].to_numpy())]
    x, y = project(chem["lon"].to_numpy(float), chem["lat"].to_numpy(float), zones.crs)
    dist, names = _shoreline_distance_m(zones, x, y)
    near = dist <= SHORELINE_M
    return pd.DataFrame({
        "enterprise_id": chem.index.to_numpy(dtype=object)[near],
        "name": chem["name"].to_numpy(dtype=object)[near],
        "sector": chem["sector"].to_numpy(dtype=object)[near],
        "zone": np.asarray(names, dtype=object)[near],
        "distance_m": np.round(dist[near], 1),
        "rule": SHORELINE_RULE,
    })


def check_site(lon: float, lat: float, sector: str, zones: Zones) -> list[dict[str, Any]]:
    """Siting check for a new tenant at (lon, lat) WGS 84 with a GB/T 4754 `sector`.

    Returns one finding per rule: `rule`, `zone`, `distance_m`, `allowed` (bool) and a
    `message`. A chemical project within 1 km of a Yangtze shoreline zone is not allowed; a
    site inside a drinking-water protection zone is reported (hazardous inputs and outputs
    could not be hauled in or out).
    """
    import shapely

    x, y = project([lon], [lat], zones.crs)
    findings: list[dict[str, Any]] = []
    chemical = bool(is_chemical_sector([sector])[0])
    dist, names = _shoreline_distance_m(zones, x, y)
    if np.isfinite(dist[0]):
        inside = dist[0] <= SHORELINE_M
        allowed = not (chemical and inside)
        if chemical:
            msg = (f"{dist[0]:,.0f} m from {names[0]}: "
                   + ("inside the 1 km band; a chemical project may not be built or expanded "
                      "here" if inside else "outside the 1 km band"))
        else:
            msg = (f"{dist[0]:,.0f} m from {names[0]}; sector {sector} is not chemical "
                   "(GB/T 4754 division 26), so the 1 km rule does not apply")
        findings.append({"rule": SHORELINE_RULE, "zone": names[0],
                         "distance_m": round(float(dist[0]), 1), "allowed": allowed,
                         "message": msg})
    water = zones.of_kind("drinking_water_protection")
    if not water.empty:
        point = shapely.points(x[0], y[0])
        d = water.geometry.distance(point).to_numpy(float)
        k = int(np.argmin(d))
        inside_w = d[k] == 0.0
        findings.append({
            "rule": WATER_RULE, "zone": str(water["name"].iloc[k]),
            "distance_m": round(float(d[k]), 1), "allowed": not inside_w,
            "message": (f"inside {water['name'].iloc[k]}: no hazardous material may be "
                        "hauled through it" if inside_w
                        else f"{d[k]:,.0f} m from {water['name'].iloc[k]}")})
    return findings
