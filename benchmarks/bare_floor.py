"""The bare floor: the least a matcher must do, timed phase by phase.

Reads the dataset CSVs with pandas, builds the candidate arcs with numpy (a cKDTree on
unit-sphere xyz, or chunked brute force), and solves the default lexicographic objective (max
offered quantity delivered, then min sum(flow x distance_km)) with OR-Tools
`SimpleMinCostFlow.solve_max_flow_with_min_cost()` on integer metres. Ratio-1 rules only, so the
model is a pure network; `symbiosis match` is compared against this script.

Usage: python benchmarks/bare_floor.py DATASET_DIR [--method auto|kdtree|brute] [--json OUT]
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from ortools.graph.python import min_cost_flow  # noqa: E402
from taxonomy import (  # noqa: E402
    CIRCUITY,
    EARTH_RADIUS_KM,
    MASS_MATERIALS,
    REACH_KM,
    UNIT,
    need_materials_served_by,
)

__all__ = ["Arcs", "build_arcs", "main", "read_dataset", "run", "solve_arcs"]

_T_IMPORTED = time.perf_counter()

METRES_PER_KM = 1000  # integer cost scale: arc cost = round(distance_km * 1000) metres
BRUTE_PAIRS_PER_CHUNK = 4_000_000
# 'auto' uses brute force (~20 ns a pair test here) when the whole dataset needs fewer pair
# tests than this, since the cKDTree costs a 0.35 s scipy.spatial import; cKDTree otherwise.
AUTO_BRUTE_MAX_PAIRS = 15_000_000


@dataclass(frozen=True)
class Arcs:
    """Candidate arcs as parallel arrays: offer row, need row and distance_km."""

    offer: np.ndarray
    need: np.ndarray
    distance_km: np.ndarray
    method: str

    @property
    def size(self) -> int:
        """Number of arcs."""
        return int(self.offer.size)


def read_dataset(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Read enterprises, offers and needs CSVs; offers/needs get the enterprise's row number.

    Unsupported optional files (distances.csv, substitutions.csv) raise, so that the floor never
    silently solves a different model from the engine's.
    """
    path = Path(path)
    for extra in ("distances.csv", "substitutions.csv"):
        if (path / extra).exists():
            raise SystemExit(f"{path / extra}: the bare floor does not support this file")
    ent = pd.read_csv(path / "enterprises.csv", dtype={"id": str, "sector": str, "park": str})
    offers = pd.read_csv(path / "offers.csv", dtype={"id": str, "enterprise_id": str})
    needs = pd.read_csv(path / "needs.csv", dtype={"id": str, "enterprise_id": str})
    index = pd.Index(ent["id"])
    for name, frame in (("offers", offers), ("needs", needs)):
        pos = index.get_indexer(frame["enterprise_id"])
        if (pos < 0).any():
            bad = frame["enterprise_id"][pos < 0].iloc[0]
            raise SystemExit(f"{name}.csv: unknown enterprise_id {bad!r}")
        frame["ent"] = pos
    return ent, offers, needs


def _haversine_km(
    lon1: np.ndarray,
    lat1: np.ndarray,
    lon2: np.ndarray,
    lat2: np.ndarray,
) -> np.ndarray:
    """Great-circle distance in km (haversine, R = 6371.0088 km) of radian coordinates."""
    a = (
        np.sin((lat2 - lat1) * 0.5) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) * 0.5) ** 2
    )
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def _pairs_kdtree(
    xyz_o: np.ndarray,
    xyz_n: np.ndarray,
    chord: float,
) -> tuple[np.ndarray, np.ndarray]:
    """All (offer, need) point pairs within a unit-sphere chord, via two cKDTrees."""
    from scipy.spatial import cKDTree  # 0.7 s import, only this method

    t_o, t_n = cKDTree(xyz_o), cKDTree(xyz_n)
    pairs = t_o.sparse_distance_matrix(t_n, chord, output_type="ndarray")
    return pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)


def _pairs_brute(
    lon_o: np.ndarray, lat_o: np.ndarray, lon_n: np.ndarray, lat_n: np.ndarray, max_gc_km: float
) -> tuple[np.ndarray, np.ndarray]:
    """All (offer, need) pairs within a great-circle distance, by chunked brute force."""
    step = max(1, BRUTE_PAIRS_PER_CHUNK // max(1, lon_n.size))
    ii: list[np.ndarray] = []
    jj: list[np.ndarray] = []
    for s in range(0, lon_o.size, step):
        d = _haversine_km(
            lon_o[s : s + step, None], lat_o[s : s + step, None], lon_n[None, :], lat_n[None, :]
        )
        i, j = np.nonzero(d <= max_gc_km)
        ii.append(i + s)
        jj.append(j)
    if not ii:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(ii).astype(np.int64), np.concatenate(jj).astype(np.int64)


def build_arcs(
    ent: pd.DataFrame, offers: pd.DataFrame, needs: pd.DataFrame, method: str = "auto"
) -> Arcs:
    """Every compatible (offer, need) pair of different enterprises within the offer's reach.

    distance_km = haversine x 1.3; the spatial search is a superset, the exact filter is
    `distance_km <= REACH_KM[offer material]` on the haversine, as the engine does it.
    """
    lon = np.radians(ent["lon"].to_numpy(float))
    lat = np.radians(ent["lat"].to_numpy(float))
    o_ent, n_ent = offers["ent"].to_numpy(), needs["ent"].to_numpy()
    o_mat, n_mat = offers["material"].to_numpy(), needs["material"].to_numpy()
    xyz: np.ndarray | None = None
    out_o: list[np.ndarray] = []
    out_n: list[np.ndarray] = []
    out_d: list[np.ndarray] = []
    groups: list[tuple[str, np.ndarray, np.ndarray]] = []
    for mat in sorted(set(o_mat)):
        if mat not in REACH_KM:
            raise SystemExit(f"offers.csv: unknown offer material {mat!r}")
        nj = np.flatnonzero(np.isin(n_mat, need_materials_served_by(mat)))
        if nj.size:
            groups.append((mat, np.flatnonzero(o_mat == mat), nj))
    pick = method
    if pick == "auto":
        tests = sum(oi.size * nj.size for _, oi, nj in groups)
        pick = "brute" if tests <= AUTO_BRUTE_MAX_PAIRS else "kdtree"
    for mat, oi, nj in groups:
        reach = REACH_KM[mat]
        max_gc = reach / CIRCUITY
        eo, en = o_ent[oi], n_ent[nj]
        if pick == "kdtree":
            if xyz is None:
                xyz = np.column_stack(
                    [np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)]
                )
            chord = 2.0 * np.sin(max_gc / (2.0 * EARTH_RADIUS_KM)) * (1 + 1e-9) + 1e-12
            i, j = _pairs_kdtree(xyz[eo], xyz[en], chord)
        elif pick == "brute":
            i, j = _pairs_brute(lon[eo], lat[eo], lon[en], lat[en], max_gc * (1 + 1e-9))
        else:
            raise ValueError(f"unknown method {method!r}")
        a, b = eo[i], en[j]
        dist = _haversine_km(lon[a], lat[a], lon[b], lat[b]) * CIRCUITY
        keep = (dist <= reach) & (a != b)
        out_o.append(oi[i[keep]])
        out_n.append(nj[j[keep]])
        out_d.append(dist[keep])
    if not out_o:
        return Arcs(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), pick)
    return Arcs(np.concatenate(out_o), np.concatenate(out_n), np.concatenate(out_d), pick)


def _quantity_scale(*quantities: np.ndarray) -> int:
    """1 when every quantity is whole, else 1000 (quantities are rounded to 1/1000 units)."""
    whole = all(np.array_equal(q, np.round(q)) for q in quantities)
    return 1 if whole else 1000


def solve_arcs(
    offers: pd.DataFrame,
    needs: pd.DataFrame,
    arcs: Arcs,
) -> tuple[np.ndarray, dict[str, float]]:
    """Build and solve the min-cost max-flow; return flows per arc and build/solve seconds.

    Nodes: offers 0..O-1 (supply = quantity), needs O..O+N-1 (demand = quantity); arc cost in
    integer metres, capacity min(offer, need).
    """
    t0 = time.perf_counter()
    q_o = offers["quantity"].to_numpy(float)
    q_n = needs["quantity"].to_numpy(float)
    scale = _quantity_scale(q_o, q_n)
    s_o = np.rint(q_o * scale).astype(np.int64)
    s_n = np.rint(q_n * scale).astype(np.int64)
    n_o = s_o.size
    smcf = min_cost_flow.SimpleMinCostFlow()
    if arcs.size:
        smcf.add_arcs_with_capacity_and_unit_cost(
            arcs.offer.astype(np.int32),
            (arcs.need + n_o).astype(np.int32),
            np.minimum(s_o[arcs.offer], s_n[arcs.need]),
            np.rint(arcs.distance_km * METRES_PER_KM).astype(np.int64),
        )
    smcf.set_nodes_supplies(np.arange(n_o + s_n.size, dtype=np.int32), np.concatenate([s_o, -s_n]))
    t1 = time.perf_counter()
    if arcs.size == 0:
        return np.zeros(0), {"build": t1 - t0, "solve": 0.0}
    status = smcf.solve_max_flow_with_min_cost()
    if status != smcf.OPTIMAL:
        raise SystemExit(f"min-cost flow failed: status {status}")
    flows = np.asarray(smcf.flows(np.arange(arcs.size, dtype=np.int32)), dtype=float) / scale
    t2 = time.perf_counter()
    return flows, {"build": t1 - t0, "solve": t2 - t1}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(path: Path, method: str = "auto") -> dict[str, Any]:
    """Run the whole floor on one dataset folder and return its figures as a dict.

    Keys: timings_s (read, arcs, build, solve, report, total), arcs, tonnes_offered,
    tonnes_matched, tonne_km, matched/offered per unit, flow_km per unit, peak_rss_mb.
    """
    t0 = time.perf_counter()
    ent, offers, needs = read_dataset(Path(path))
    t1 = time.perf_counter()
    arcs = build_arcs(ent, offers, needs, method)
    t2 = time.perf_counter()
    flows, t_solve = solve_arcs(offers, needs, arcs)
    t3 = time.perf_counter()
    units = sorted(set(UNIT.values()))
    codes, mats = pd.factorize(offers["material"])
    unit_code = np.array([units.index(UNIT[m]) for m in mats], dtype=np.int64)
    unit_of_arc = unit_code[codes[arcs.offer]]
    mass = unit_of_arc == units.index("t")
    matched = np.bincount(unit_of_arc, weights=flows, minlength=len(units))
    flow_km = np.bincount(unit_of_arc, weights=flows * arcs.distance_km, minlength=len(units))
    offered = offers.groupby(offers["material"].map(UNIT))["quantity"].sum()
    result: dict[str, Any] = {
        "dataset": str(path),
        "enterprises": len(ent),
        "offers": len(offers),
        "needs": len(needs),
        "arcs": arcs.size,
        "arc_method": arcs.method,
        "tonnes_offered": float(offers["quantity"][offers["material"].isin(MASS_MATERIALS)].sum()),
        "tonnes_matched": float(flows[mass].sum()),
        "tonne_km": float(np.dot(flows[mass], arcs.distance_km[mass])),
        "offered_by_unit": {u: float(offered.get(u, 0.0)) for u in units},
        "matched_by_unit": {u: float(matched[k]) for k, u in enumerate(units)},
        "flow_km_by_unit": {u: float(flow_km[k]) for k, u in enumerate(units)},
        "arcs_used": int(np.count_nonzero(flows)),
    }
    t4 = time.perf_counter()
    result["timings_s"] = {
        "read": t1 - t0,
        "arcs": t2 - t1,
        **t_solve,
        "report": t4 - t3,
        "total": t4 - t0,
    }
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def print_result(res: dict[str, Any]) -> None:
    """Print the floor's figures, one per line."""
    print(f"bare floor: {res['dataset']}")
    print(
        f"  {res['enterprises']:,} enterprises, {res['offers']:,} offers, "
        f"{res['needs']:,} needs, {res['arcs']:,} arcs ({res['arc_method']}), "
        f"{res['arcs_used']:,} used"
    )
    for phase, sec in res["timings_s"].items():
        print(f"  {phase:<8} {sec:9.3f} s")
    if "import_s" in res:
        print(f"  (imports {res['import_s']:.3f} s before 'read')")
    rate = res["tonnes_matched"] / res["tonnes_offered"] if res["tonnes_offered"] else 0.0
    print(
        f"  tonnes matched {res['tonnes_matched']:,.0f} of {res['tonnes_offered']:,.0f} "
        f"({rate:.1%}), tonne_km {res['tonne_km']:,.3f}"
    )
    for u in ("GJ", "m3"):
        if res["offered_by_unit"].get(u):
            print(
                f"  {u} matched {res['matched_by_unit'][u]:,.0f} of "
                f"{res['offered_by_unit'][u]:,.0f}, {u}-km {res['flow_km_by_unit'][u]:,.1f}"
            )
    print(f"  peak RSS {res['peak_rss_mb']:,.0f} MiB")


def main(argv: list[str] | None = None) -> int:
    """CLI: run the floor on DATASET_DIR, print the figures, optionally write them as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument(
        "--method",
        choices=("auto", "kdtree", "brute"),
        default="auto",
        help="spatial search for candidate arcs (auto: brute force when small)",
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    res = run(args.dataset, args.method)
    res["import_s"] = _T_IMPORTED - _T_START
    print_result(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
