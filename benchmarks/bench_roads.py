"""Road-network distances at province scale: 3,000 enterprises (generate.py's Hunan layout)
on a synthetic province-sized road graph of a few hundred thousand segments.

The graph: ~170,000 nodes over Hunan's extent (108.8-114.3 E, 24.6-30.1 N), 60 % spread
evenly and 40 % clustered around the enterprises' towns (roads are dense where industry
is), joined by a Delaunay triangulation of which 70 % of the edges are kept (edges longer
than 12 km dropped), each weighted by its length in metres in CGCS2000 / GK CM 111E. It is
written once to a GeoPackage in benchmarks/_work/ so that loading is measured from a file,
as a user's would be.

Prints seconds per phase (read roads, snap, candidates = bounded Dijkstra + the rest,
solve, report), the arc count with and without roads, and which phase dominates.

    python benchmarks/bench_roads.py [--n 3000] [--seed 0] [--nodes 170000]
        [--shape-m 300] [--no-contract]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

WORK = HERE / "_work"
CRS = "EPSG:4546"


def build_graph(path: Path, n_nodes: int, centres_lonlat: np.ndarray, seed: int,
                shape_m: float = 0.0) -> int:
    """Write the synthetic road graph to `path` (GeoPackage); return its segment count.

    With `shape_m` > 0 every road gets a shape point every `shape_m` metres, offset up to
    15 m sideways, as OSM ways have (junction-to-junction edges become chains)."""
    import geopandas as gpd
    import shapely
    from scipy.spatial import Delaunay

    from symbiosis.geo.crs import project

    rng = np.random.default_rng(seed)
    x0, y0 = project([108.8], [24.6], CRS)
    x1, y1 = project([114.3], [30.1], CRS)
    n_even = int(0.6 * n_nodes)
    even = np.column_stack([rng.uniform(x0[0], x1[0], n_even), rng.uniform(y0[0], y1[0], n_even)])
    cx, cy = project(centres_lonlat[:, 0], centres_lonlat[:, 1], CRS)
    pick = rng.integers(0, len(cx), n_nodes - n_even)
    near = np.column_stack([cx[pick], cy[pick]]) + rng.normal(0, 6000, (n_nodes - n_even, 2))
    pts = np.vstack([even, near])
    tri = Delaunay(pts)
    s = tri.simplices
    e = np.unique(np.sort(np.vstack([s[:, [0, 1]], s[:, [1, 2]], s[:, [0, 2]]]), axis=1), axis=0)
    length = np.hypot(*(pts[e[:, 0]] - pts[e[:, 1]]).T)
    keep = (rng.random(len(e)) < 0.7) & (length < 12_000)
    e = e[keep]
    if shape_m > 0:
        a, b = pts[e[:, 0]], pts[e[:, 1]]
        k = np.maximum(1, np.ceil(np.hypot(*(b - a).T) / shape_m).astype(int))
        part = np.repeat(np.arange(len(e)), k + 1)
        t = np.concatenate([np.linspace(0.0, 1.0, m + 1) for m in k])
        xy = a[part] + t[:, None] * (b - a)[part]
        inner = (t > 0) & (t < 1)
        xy[inner] += rng.uniform(-15, 15, (int(inner.sum()), 2))
        lines = shapely.linestrings(xy, indices=part)
        segs = int(k.sum())
    else:
        lines = shapely.linestrings(np.stack([pts[e[:, 0]], pts[e[:, 1]]], axis=1))
        segs = len(e)
    frame = gpd.GeoDataFrame({"kind": np.full(len(e), "synthetic")}, geometry=lines, crs=CRS)
    path.unlink(missing_ok=True)
    frame.to_file(path, layer="roads", driver="GPKG")
    return segs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nodes", type=int, default=170_000)
    parser.add_argument("--shape-m", type=float, default=0.0,
                        help="add a shape point every this many metres (OSM-like ways)")
    parser.add_argument("--no-contract", action="store_true",
                        help="search the full graph instead of the chain-contracted one")
    args = parser.parse_args(argv)

    import generate

    WORK.mkdir(exist_ok=True)
    data = WORK / f"hunan_{args.n}_s{args.seed}"
    if not (data / "enterprises.csv").exists():
        generate.build(args.n, args.seed, data)
    shape = f"_shape{args.shape_m:g}" if args.shape_m > 0 else ""
    roads_path = WORK / f"roads_{args.nodes}_s{args.seed}{shape}.gpkg"

    from symbiosis.dataset import load_dataset
    from symbiosis.geo.provider import GeoDistances
    from symbiosis.geo.roads import RoadRouter, load_roads
    from symbiosis.matching.candidates import build_candidates
    from symbiosis.matching.model import MatchOptions, solve_candidates
    from symbiosis.matching.result import assemble_result

    ds = load_dataset(data)
    ent = ds.enterprises
    lonlat = np.column_stack([ent["lon"].to_numpy(float), ent["lat"].to_numpy(float)])
    if not roads_path.exists():
        t = time.perf_counter()
        segs = build_graph(roads_path, args.nodes, lonlat, args.seed, args.shape_m)
        print(f"generated {segs:,} segments in {time.perf_counter() - t:.1f} s -> {roads_path}")

    timings: dict[str, float] = {}
    t = time.perf_counter()
    net = load_roads(roads_path)
    timings["read roads (GeoPackage -> segment graph)"] = time.perf_counter() - t
    t = time.perf_counter()
    router = RoadRouter(net, lonlat[:, 0], lonlat[:, 1], [str(i) for i in ent.index],
                        contract=not args.no_contract)
    timings["snap enterprises + build graph"] = time.perf_counter() - t
    geo = GeoDistances(ds, router=router)
    t = time.perf_counter()
    import symbiosis.matching.candidates as mc

    dijkstra_s = 0.0
    original = router._run

    def timed_run(sources: np.ndarray, limit_km: float) -> None:
        nonlocal dijkstra_s
        t0 = time.perf_counter()
        original(sources, limit_km)
        dijkstra_s += time.perf_counter() - t0

    router._run = timed_run  # type: ignore[method-assign]
    cand = mc.build_candidates(ds, distances=geo)
    total_cand = time.perf_counter() - t
    timings["candidates: bounded Dijkstra (2 threads)"] = dijkstra_s
    timings["candidates: the rest"] = total_cand - dijkstra_s
    options = MatchOptions()
    t = time.perf_counter()
    flows, facts = solve_candidates(ds, cand, options)
    timings["solve (OR-Tools)"] = time.perf_counter() - t
    t = time.perf_counter()
    result = assemble_result(ds, cand, flows, facts, options, {})
    timings["report"] = time.perf_counter() - t
    t = time.perf_counter()
    plain = build_candidates(ds)
    plain_s = time.perf_counter() - t

    sources = result.exchanges["distance_source"].value_counts().to_dict()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"dataset: {args.n} enterprises, {len(ds.offers):,} offers, {len(ds.needs):,} needs")
    print(f"roads: {net.n_nodes:,} nodes, {net.n_edges:,} segments, "
          f"{net.length_m.sum() / 1000:,.0f} km ({net.crs})")
    print(f"search graph: {router._n:,} road nodes after contracting shape-point chains "
          f"(contract={not args.no_contract})")
    print(f"snap: median {np.median(router.snap_m):.0f} m, max {router.snap_m.max():.0f} m; "
          f"{len(np.unique(router.component))} road component(s) hold enterprises")
    print(f"sources run: {len(router._rows):,} enterprises")
    print(f"arcs: {len(cand):,} with roads vs {len(plain):,} with great-circle x 1.3 "
          f"({plain_s:.2f} s)")
    print(f"exchanges: {len(result.exchanges):,} by distance source {sources}; "
          f"utilization {result.summary.to_dict()['utilization_rate']:.4f}, "
          f"tonne-km {result.summary.to_dict()['tonne_km']:,.0f}")
    total = sum(timings.values())
    for name, sec in timings.items():
        print(f"  {name:45s} {sec:7.2f} s  {100 * sec / total:5.1f} %")
    print(f"  {'total':45s} {total:7.2f} s   peak RSS {rss:,.0f} MiB")
    top = max(timings, key=lambda k: timings[k])
    print(f"dominates: {top} ({100 * timings[top] / total:.0f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
