"""Industrial parks as polygons: assign enterprises by point-in-polygon, and the park KPIs.

A parks file (GeoJSON or GeoPackage with a CRS) has one polygon per park and a `name`
property; an enterprise whose `park` cell is empty takes the name of the park polygon it
lies in (a stated `park` is kept). The KPIs speak the provincial plans' push for exchange
inside parks (园区内企业废物资源交换利用): per park, what its enterprises offer and place,
and for all exchanges, how much stays inside one park, crosses between parks, or involves
an enterprise outside every park.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from symbiosis.dataset import Dataset
from symbiosis.errors import InvalidDataError, Problem
from symbiosis.geo.crs import check_layer_coordinates, read_layer

__all__ = ["assign_parks", "empty_parks", "load_parks", "park_kpis"]

def load_parks(path: str | Path) -> Any:
    """Park polygons (GeoDataFrame in WGS 84 with `name`); problems name file and feature.

    Raises:
        InvalidDataError: every problem in the park layer (file, row, column).
    """
    label = str(path)
    frame = read_layer(path, "parks")
    problems = check_layer_coordinates(frame, label, "parks")
    if "name" not in frame.columns:
        problems.append(Problem(label, None, "name", "required property is missing"))
        raise InvalidDataError(problems)
    frame["name"] = frame["name"].fillna("").astype(str).str.strip()
    for i, (name, geom) in enumerate(zip(frame["name"], frame.geometry, strict=True)):
        if not name:
            problems.append(Problem(label, None, f"features[{i}].properties.name",
                                    "name is empty"))
        if geom is None or geom.geom_type not in ("Polygon", "MultiPolygon"):
            got = "no geometry" if geom is None else geom.geom_type
            problems.append(Problem(label, None, f"features[{i}].geometry",
                                    f"a park needs a Polygon or MultiPolygon, got {got}"))
    dup = frame["name"].duplicated() & (frame["name"] != "")
    for i in np.flatnonzero(dup.to_numpy()).tolist():
        problems.append(Problem(label, None, f"features[{i}].properties.name",
                                f"park '{frame['name'].iloc[i]}' is listed twice"))
    if problems:
        raise InvalidDataError(problems)
    return frame[["name", "geometry"]].to_crs("EPSG:4326")


def assign_parks(dataset: Dataset, parks: Any) -> tuple[Dataset, int]:
    """A dataset whose enterprises with an empty `park` take the park polygon they lie in,
    and how many were assigned. Points on a shared boundary take the first park listed."""
    import geopandas as gpd

    ent = dataset.enterprises
    empty = (ent["park"].astype(str) == "").to_numpy()
    if not empty.any() or parks.empty:
        return dataset, 0
    points = gpd.GeoDataFrame(
        {"pos": np.flatnonzero(empty)},
        geometry=gpd.points_from_xy(ent["lon"].to_numpy(float)[empty],
                                    ent["lat"].to_numpy(float)[empty]),
        crs="EPSG:4326")
    hits = gpd.sjoin(points, parks.reset_index(drop=True), how="inner",
                     predicate="intersects")
    hits = hits.sort_values(["pos", "index_right"]).drop_duplicates("pos")
    if hits.empty:
        return dataset, 0
    park = ent["park"].to_numpy(dtype=object).copy()
    park[hits["pos"].to_numpy(np.int64)] = hits["name"].to_numpy(dtype=object)
    out = ent.copy()
    out["park"] = park
    return replace(dataset, enterprises=out), len(hits)


def empty_parks(dataset: Dataset, parks: Any, label: str = "parks") -> list[Problem]:
    """A warning for each park polygon that contains no enterprise of the dataset (whatever
    its `park` cell says): its coordinates are likely wrong (swapped, another datum, another
    place) or the park is not in this dataset, and its KPIs would silently be empty."""
    import geopandas as gpd

    ent = dataset.enterprises
    if parks.empty:
        return []
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(ent["lon"].to_numpy(float),
                                                          ent["lat"].to_numpy(float)),
                              crs="EPSG:4326")
    frame = parks.reset_index(drop=True)
    hits = gpd.sjoin(frame, points, how="inner", predicate="intersects")
    found = set(hits.index.tolist())
    out: list[Problem] = []
    for i, name in enumerate(frame["name"]):
        if i not in found:
            out.append(Problem(label, None, f"features[{i}]",
                               f"park '{name}' contains no enterprise of the dataset: check "
                               "that its coordinates are lon/lat in WGS 84 and cover the "
                               "enterprises' locations", "warning"))
    return out


def _family(dataset: Dataset, materials: pd.Series) -> pd.Series:
    fam = {s: str(m.family) for s, m in dataset.taxonomy.materials.items()}
    return materials.map(fam)


def park_kpis(dataset: Dataset, exchanges: pd.DataFrame) -> dict[str, Any]:
    """`summary["parks"]`: per park (enterprises, offered/matched per unit family, exchanges
    within the park) and exchanges within one park / across parks / outside parks."""
    ent = dataset.enterprises
    park_of = ent["park"].astype(str)
    offers = dataset.offers
    ex = exchanges
    a = park_of.reindex(ex["offer_enterprise_id"]).to_numpy(dtype=object)
    b = park_of.reindex(ex["need_enterprise_id"]).to_numpy(dtype=object)
    where = np.where((a == "") | (b == ""), "outside_parks",
                     np.where(a == b, "within_park", "across_parks"))
    ex_fam = _family(dataset, ex["offer_material"]).to_numpy(dtype=object)
    off_fam = _family(dataset, offers["material"]).to_numpy(dtype=object)
    off_park = park_of.reindex(offers["enterprise_id"]).to_numpy(dtype=object)
    units = {"mass": "t", "energy": "GJ", "water": "m3"}

    def by_family(mask: np.ndarray) -> dict[str, float]:
        q = ex["quantity"].to_numpy(float)
        return {units[f]: float(q[mask & (ex_fam == f)].sum()) for f in units
                if (mask & (ex_fam == f)).any()}

    split: dict[str, dict[str, Any]] = {}
    for kind in ("within_park", "across_parks", "outside_parks"):
        sel = where == kind
        split[kind] = {"exchanges": int(sel.sum()), "quantity": by_family(sel),
                       "t_km": float(ex["unit_km"].to_numpy(float)[sel
                                     & (ex_fam == "mass")].sum())}
    mass_total = sum(split[k]["quantity"].get("t", 0.0) for k in split)
    per_park: dict[str, Any] = {}
    for name in sorted(set(park_of) - {""}):
        members = park_of == name
        o_sel = off_park == name
        offered_t = float(offers["quantity"].to_numpy(float)[o_sel & (off_fam == "mass")].sum())
        given = a == name
        matched_t = float(ex["quantity"].to_numpy(float)[given & (ex_fam == "mass")].sum())
        inside = given & (b == name)
        per_park[name] = {
            "enterprises": int(members.sum()),
            "offered_t": offered_t,
            "matched_t": matched_t,
            "utilization_rate": matched_t / offered_t if offered_t > 0 else None,
            "exchanges_from_park": int(given.sum()),
            "exchanges_within_park": int(inside.sum()),
            "within_park_quantity": by_family(inside),
        }
    return {
        "enterprises_in_parks": int((park_of != "").sum()),
        "parks": per_park,
        "exchanges": split,
        "within_park_share_of_mass": (split["within_park"]["quantity"].get("t", 0.0)
                                      / mass_total if mass_total > 0 else None),
    }
