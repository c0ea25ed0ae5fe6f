"""Road networks: load a road graph, snap enterprises to it, and take shortest-path
distances only for the pairs that need them.

Formats (`load_roads`):

- any line layer GDAL reads through geopandas/pyogrio: GeoPackage (`.gpkg`, first line
  layer unless `layer=` is given), GeoJSON, Shapefile. Lines that share a vertex are
  connected there; lines that only cross (bridges, flyovers) are not.
- an OpenStreetMap extract: `.osm` XML (read with the standard library) or `.osm.pbf`
  (read with pyosmium, `pip install osmium`). Only ways tagged `highway=` with a class a
  lorry can use are kept (`TRUCK_HIGHWAYS`); `oneway` is ignored (every road both ways).
  A province: download `china-latest.osm.pbf` from download.geofabrik.de (Asia, China) and
  cut it with `osmium extract -b 108.7,24.6,114.3,30.2 china-latest.osm.pbf -o hunan.osm.pbf`
  (osmium-tool), or export a small area as `.osm` from openstreetmap.org.

The graph is the segment graph: every vertex is a node and every segment an undirected
edge weighted by its length in metres in a projected CRS (`geo.crs.metric_crs_for`).
Enterprises are snapped to the nearest segment; the snap leg (straight line) is part of
the distance. Each enterprise gets two virtual nodes, one to leave from and one to arrive
at, joined to both ends of its segment, so no route can pass through an enterprise; two
enterprises on the same segment are also joined along it directly.

Distances: `scipy.sparse.csgraph.dijkstra` from each source enterprise, bounded by the
reach (`limit`), run in chunks on two threads; only the columns of enterprises are kept.
"""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from symbiosis.errors import InvalidDataError, Problem
from symbiosis.geo.crs import metric_crs_for, project, unproject
from symbiosis.types import FloatArray, IntArray

__all__ = [
    "SNAP_WARN_M",
    "TRUCK_HIGHWAYS",
    "RoadNetwork",
    "RoadRouter",
    "load_roads",
    "roads_from_lines",
]


SNAP_WARN_M = 2000.0
# OSM highway classes a lorry may use (https://wiki.openstreetmap.org/wiki/Key:highway)
TRUCK_HIGHWAYS = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
    "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
    "residential", "service", "road", "living_street",
})
_DIJKSTRA_CELLS = 20_000_000  # rows x nodes per dijkstra call (160 MB of float64)


@dataclass(frozen=True)
class RoadNetwork:
    """An undirected segment graph in a metric CRS: node x/y (m), edges u-v with length (m)."""

    x: FloatArray
    y: FloatArray
    u: IntArray
    v: IntArray
    length_m: FloatArray
    crs: str
    source: str = ""

    @property
    def n_nodes(self) -> int:
        """Number of road nodes."""
        return len(self.x)

    @property
    def n_edges(self) -> int:
        """Number of road segments."""
        return len(self.u)

    def lonlat(self) -> tuple[FloatArray, FloatArray]:
        """Node coordinates in WGS 84."""
        return unproject(self.x, self.y, self.crs)

    def to_networkx(self) -> Any:
        """The graph as a `networkx.Graph` (nodes carry `x`, `y` in metres, edges
        `length_m`), for analysis; routing itself runs on scipy's compiled Dijkstra."""
        import networkx as nx

        graph = nx.Graph(crs=self.crs, source=self.source)
        graph.add_nodes_from((i, {"x": float(x), "y": float(y)})
                             for i, (x, y) in enumerate(zip(self.x, self.y, strict=True)))
        graph.add_weighted_edges_from(
            zip(self.u.tolist(), self.v.tolist(), self.length_m.tolist(), strict=True),
            weight="length_m")
        return graph


def roads_from_lines(lines: Any, crs: str | None = None, source: str = "") -> RoadNetwork:
    """A `RoadNetwork` from a GeoSeries of (Multi)LineStrings with a CRS.

    `crs` is the metric CRS to work in (default: chosen from the lines' extent).
    """
    import shapely

    from symbiosis.geo.crs import require_metric, to_metric

    lines = lines[~lines.is_empty & lines.notna()]
    lines = lines.explode(index_parts=False) if len(lines) else lines
    metric = to_metric(lines, crs)
    require_metric(metric, "road length")
    coords, part = shapely.get_coordinates(metric.to_numpy(), return_index=True)
    return _segment_graph(coords, part, str(metric.crs.to_string()), source)


def _segment_graph(coords: FloatArray, part: IntArray, crs: str, source: str) -> RoadNetwork:
    """Nodes = distinct vertices (to the millimetre), edges = consecutive vertices of a part."""
    if len(coords) == 0:
        raise InvalidDataError([Problem(source or "roads", None, None,
                                        "no road lines found")])
    key = np.round(coords[:, :2] * 1000.0).astype(np.int64)
    # distinct vertices by lexsort (np.unique(axis=0) is ~5x slower on millions of rows)
    order = np.lexsort((key[:, 1], key[:, 0]))
    ks = key[order]
    first = np.r_[True, (ks[1:] != ks[:-1]).any(axis=1)]
    uniq = ks[first]
    node = np.empty(len(order), np.int64)
    node[order] = np.cumsum(first) - 1
    same = part[1:] == part[:-1]
    u, v = node[:-1][same], node[1:][same]
    keep = u != v
    u, v = u[keep], v[keep]
    a, b = np.minimum(u, v), np.maximum(u, v)
    xy = uniq / 1000.0
    length = np.hypot(xy[a, 0] - xy[b, 0], xy[a, 1] - xy[b, 1])
    # one edge per node pair, the shortest where lines overlap
    pair = a * np.int64(len(xy)) + b
    order = np.lexsort((length, pair))
    pair, a, b, length = pair[order], a[order], b[order], length[order]
    first = np.r_[True, pair[1:] != pair[:-1]] if len(pair) else np.zeros(0, bool)
    return RoadNetwork(
        x=xy[:, 0].astype(float), y=xy[:, 1].astype(float),
        u=a[first].astype(np.int64), v=b[first].astype(np.int64),
        length_m=length[first].astype(float), crs=crs, source=source)


def load_roads(path: str | Path, layer: str | None = None, crs: str | None = None) -> RoadNetwork:
    """Read a road network (see the module docstring for formats); raise InvalidDataError
    naming the file when it cannot be used.

    Raises:
        InvalidDataError: the file is missing, unreadable, or holds no usable line
            geometry (named as file, row, column).
    """
    path = Path(path)
    label = str(path)
    if not path.exists():
        raise InvalidDataError([Problem(label, None, None, "road network file not found")])
    name = path.name.lower()
    if name.endswith(".osm.pbf") or name.endswith(".pbf"):
        lonlat_lines = _read_osm_pbf(path)
        return _from_lonlat_lines(lonlat_lines, crs, label)
    if name.endswith(".osm"):
        return _from_lonlat_lines(_read_osm_xml(path), crs, label)
    import geopandas as gpd

    try:
        frame = gpd.read_file(path, layer=layer) if layer else _first_line_layer(path)
    except InvalidDataError:
        raise
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InvalidDataError([Problem(label, None, None, f"cannot read roads: {exc}")]) \
            from exc
    from symbiosis.geo.crs import check_layer_coordinates

    problems = check_layer_coordinates(frame, label, "roads")
    if problems:
        raise InvalidDataError(problems)
    kinds = set(frame.geom_type.dropna().unique())
    if not kinds or not kinds <= {"LineString", "MultiLineString"}:
        raise InvalidDataError([Problem(label, None, "geometry",
                                        f"expected road lines, found {sorted(kinds)}")])
    return roads_from_lines(frame.geometry, crs, label)


def _first_line_layer(path: Path) -> Any:
    import geopandas as gpd
    import pyogrio

    layers = pyogrio.list_layers(path)
    for name, geom in layers:
        if geom is not None and "LineString" in str(geom):
            return gpd.read_file(path, layer=name)
    if len(layers) == 1:
        return gpd.read_file(path)
    raise InvalidDataError([Problem(str(path), None, None,
                                    "no line layer found; layers: "
                                    + ", ".join(str(n) for n, _ in layers))])


def _from_lonlat_lines(lines: list[FloatArray], crs: str | None, label: str) -> RoadNetwork:
    if not lines:
        raise InvalidDataError([Problem(label, None, None,
                                        "no highway ways a lorry can use were found")])
    coords = np.concatenate(lines)
    part = np.repeat(np.arange(len(lines)), [len(line) for line in lines])
    crs = crs or metric_crs_for(coords[:, 0], coords[:, 1])
    x, y = project(coords[:, 0], coords[:, 1], crs)
    return _segment_graph(np.column_stack([x, y]), part, crs, label)


def _read_osm_xml(path: Path) -> list[FloatArray]:
    """Highway ways of an .osm XML file as lon/lat arrays (stdlib, streaming)."""
    nodes: dict[str, tuple[float, float]] = {}
    ways: list[list[str]] = []
    try:
        for _, elem in ET.iterparse(path, events=("end",)):
            if elem.tag == "node":
                nodes[elem.attrib["id"]] = (float(elem.attrib["lon"]), float(elem.attrib["lat"]))
                elem.clear()
            elif elem.tag == "way":
                tags = {t.attrib.get("k"): t.attrib.get("v") for t in elem.iter("tag")}
                if tags.get("highway") in TRUCK_HIGHWAYS:
                    ways.append([nd.attrib["ref"] for nd in elem.iter("nd")])
                elem.clear()
    except (ET.ParseError, KeyError, ValueError) as exc:
        raise InvalidDataError([Problem(str(path), None, None,
                                        f"not a readable OSM XML file: {exc}")]) from exc
    out = []
    for refs in ways:
        pts = [nodes[r] for r in refs if r in nodes]
        if len(pts) >= 2:
            out.append(np.asarray(pts, float))
    return out


def _read_osm_pbf(path: Path) -> list[FloatArray]:
    """Highway ways of an .osm.pbf file through pyosmium (optional dependency)."""
    try:
        import osmium
    except ImportError as exc:
        raise InvalidDataError([Problem(str(path), None, None,
                                        "reading .osm.pbf needs pyosmium: pip install osmium "
                                        "(or convert to .osm or .gpkg)")]) from exc
    out: list[FloatArray] = []

    class _Ways(osmium.SimpleHandler):
        def way(self, w: Any) -> None:
            if w.tags.get("highway") in TRUCK_HIGHWAYS:
                pts = [(n.lon, n.lat) for n in w.nodes if n.location.valid()]
                if len(pts) >= 2:
                    out.append(np.asarray(pts, float))

    try:
        _Ways().apply_file(str(path), locations=True)
    except RuntimeError as exc:
        raise InvalidDataError([Problem(str(path), None, None,
                                        f"not a readable OSM PBF file: {exc}")]) from exc
    return out


# ----------------------------------------------------------------------------- routing


@dataclass
class RoadRouter:
    """Enterprises snapped to a `RoadNetwork`, and bounded shortest paths between them.

    Chains of degree-2 nodes (shape points) are collapsed into single edges first
    (`contract`; routes are expanded back to every vertex), which shrinks an OSM graph
    several-fold. Node numbering of the search graph: the K kept road nodes 0..K-1, then
    each enterprise's departure node K + i, then its arrival node K + E + i. `blocked`
    edges (a bool mask over the network's edges) are left out, e.g. those inside a
    drinking-water protection zone for hazardous loads.
    """

    network: RoadNetwork
    lon: FloatArray
    lat: FloatArray
    ids: list[str]
    blocked: NDArray[np.bool_] | None = None
    snap_warn_m: float = SNAP_WARN_M
    threads: int = 2
    contract: bool = True
    snap_m: FloatArray = field(init=False)
    snap_x: FloatArray = field(init=False)
    snap_y: FloatArray = field(init=False)
    ent_x: FloatArray = field(init=False)
    ent_y: FloatArray = field(init=False)
    edge: IntArray = field(init=False)
    t: FloatArray = field(init=False)
    component: IntArray = field(init=False)
    _graph: Any = field(init=False, repr=False)
    # per source enterprise: (limit km it was run with, reachable enterprises, their km);
    # sparse, so a national run keeps only what lies within reach
    _rows: dict[int, tuple[float, NDArray[np.int32], FloatArray]] = field(init=False,
                                                                          repr=False)
    _n: int = field(init=False, repr=False)
    _kept: IntArray = field(init=False, repr=False)
    _chains: tuple[IntArray, IntArray, FloatArray, IntArray] = field(init=False, repr=False)
    _label: IntArray = field(init=False, repr=False)
    _chain_of: dict[tuple[int, int], int] | None = field(default=None, init=False, repr=False)
    _adj: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._rows = {}
        self._snap()
        self._build()

    # -- construction

    def _snap(self) -> None:
        import shapely

        net = self.network
        ex, ey = project(self.lon, self.lat, net.crs)
        self.ent_x, self.ent_y = ex, ey
        usable = np.ones(net.n_edges, bool) if self.blocked is None else ~self.blocked
        ids = np.flatnonzero(usable)
        if len(ids) == 0:
            raise InvalidDataError([Problem(net.source or "roads", None, None,
                                            "the road network has no usable segment")])
        segs = shapely.linestrings(np.stack(
            [np.column_stack([net.x[net.u[ids]], net.y[net.u[ids]]]),
             np.column_stack([net.x[net.v[ids]], net.y[net.v[ids]]])], axis=1))
        tree = shapely.STRtree(segs)
        points = shapely.points(ex, ey)
        (pi, si), dist = tree.query_nearest(points, return_distance=True, all_matches=False)
        edge = np.full(len(ex), -1, np.int64)
        snap = np.full(len(ex), np.inf)
        edge[pi] = ids[si]
        snap[pi] = dist
        # where along the segment the snap point lies (0 at u, 1 at v)
        u, v = net.u[edge], net.v[edge]
        dx, dy = net.x[v] - net.x[u], net.y[v] - net.y[u]
        seg2 = dx * dx + dy * dy
        t = np.clip(((ex - net.x[u]) * dx + (ey - net.y[u]) * dy) / np.where(seg2 > 0, seg2, 1),
                    0.0, 1.0)
        self.edge, self.t, self.snap_m = edge, t, snap
        self.snap_x, self.snap_y = net.x[u] + t * dx, net.y[u] + t * dy

    def _build(self) -> None:
        from scipy.sparse.csgraph import connected_components

        net = self.network
        e = len(self.lon)
        usable = np.ones(net.n_edges, bool) if self.blocked is None else ~self.blocked
        ru, rv, rw = net.u[usable], net.v[usable], net.length_m[usable]
        su, sv = net.u[self.edge], net.v[self.edge]
        if self.contract:
            must = np.zeros(net.n_nodes, bool)
            must[su] = must[sv] = True
            keep, ru, rv, rw, chain, self._label = _contract_chains(net.n_nodes, ru, rv, rw,
                                                                    must)
            self._chains = (ru, rv, rw, chain)
            self._kept = np.flatnonzero(keep)
        else:
            self._kept = np.arange(net.n_nodes)
        renum = np.full(net.n_nodes, -1, np.int64)
        renum[self._kept] = np.arange(len(self._kept))
        n = len(self._kept)
        ru, rv, u, v = renum[ru], renum[rv], renum[su], renum[sv]
        ent = np.arange(e)
        length = net.length_m[self.edge]
        to_u = self.snap_m + self.t * length
        to_v = self.snap_m + (1.0 - self.t) * length
        dep, arr = n + ent, n + e + ent
        # enterprises on the same segment: join them along it directly
        same = pd.DataFrame({"edge": self.edge, "i": ent})
        pairs = same.merge(same, on="edge")
        pairs = pairs[pairs["i_x"] != pairs["i_y"]]
        pi, pj = pairs["i_x"].to_numpy(np.int64), pairs["i_y"].to_numpy(np.int64)
        along = (self.snap_m[pi] + self.snap_m[pj]
                 + np.abs(self.t[pi] - self.t[pj]) * length[pi])
        rows = np.concatenate([ru, rv, dep, dep, u, v, n + pi])
        cols = np.concatenate([rv, ru, u, v, arr, arr, n + e + pj])
        # a zero weight would vanish from the sparse matrix: floor every weight at 1 mm
        weights = np.maximum(np.concatenate([rw, rw, to_u, to_v, to_u, to_v, along]), 1e-3)
        size = n + 2 * e
        # duplicates would add up in a sparse matrix: keep the shortest instead
        self._graph = _min_duplicates(rows, cols, weights, size)
        _, labels = connected_components(self._graph, directed=True, connection="weak")
        self.component = labels[n + ent]
        self._n = n

    def _expand(self, path: list[int]) -> list[int]:
        """Original road node ids of a path over kept nodes, chains put back in order."""
        nodes = [int(self._kept[i]) for i in path]
        if not self.contract or len(nodes) < 2:
            return nodes
        if self._chain_of is None:
            cu, cv, cw, chain = self._chains
            f = pd.DataFrame({"a": np.minimum(cu, cv), "b": np.maximum(cu, cv), "w": cw,
                              "c": chain}).sort_values("w", kind="stable")
            f = f.drop_duplicates(["a", "b"])
            f = f[f["c"] >= 0]
            self._chain_of = dict(zip(zip(f["a"].tolist(), f["b"].tolist(), strict=True),
                                      f["c"].tolist(), strict=True))
            usable = np.ones(self.network.n_edges, bool) if self.blocked is None \
                else ~self.blocked
            self._adj = _adjacency(self.network.n_nodes, self.network.u[usable],
                                   self.network.v[usable])
        out = [nodes[0]]
        for a, b in itertools.pairwise(nodes):
            comp = self._chain_of.get((min(a, b), max(a, b)))
            if comp is not None:
                out += _walk_chain(self._adj, self._label, a, b, comp)
            out.append(b)
        return out

    # -- reporting

    def snap_problems(self) -> list[Problem]:
        """Warnings for enterprises far from any road, and for enterprises on a road
        component that is not the main one."""
        out: list[Problem] = []
        far = np.flatnonzero(self.snap_m > self.snap_warn_m)
        for i in far:
            out.append(Problem(self.network.source or "roads", None, None,
                               f"enterprise {self.ids[i]} is {self.snap_m[i] / 1000:.1f} km "
                               f"from the nearest road (over {self.snap_warn_m / 1000:g} km); "
                               "that leg is counted as a straight line", "warning"))
        counts = np.bincount(self.component)
        main = int(np.argmax(counts)) if len(counts) else -1
        for i in np.flatnonzero(self.component != main):
            out.append(Problem(self.network.source or "roads", None, None,
                               f"enterprise {self.ids[i]} is on a road component not "
                               "connected to the main network; pairs across components use "
                               "great-circle x circuity instead of a road distance",
                               "warning"))
        return out

    # -- distances

    def prepare(self, sources: IntArray, limit_km: FloatArray | float) -> None:
        """Compute and cache road km from each source enterprise to every enterprise,
        within `limit_km` (one value, or one per source)."""
        sources = np.asarray(sources, np.int64)
        limits = np.broadcast_to(np.asarray(limit_km, float), sources.shape)
        todo: dict[float, list[int]] = {}
        for s, lim in zip(sources.tolist(), limits.tolist(), strict=True):
            have = self._rows.get(s)
            if have is None or have[0] < lim:
                todo.setdefault(float(lim), []).append(s)
        for lim, srcs in todo.items():
            self._run(np.unique(np.asarray(srcs, np.int64)), lim)

    def _run(self, sources: IntArray, limit_km: float) -> None:
        from scipy.sparse.csgraph import dijkstra

        e = len(self.lon)
        size = self._graph.shape[0]
        cols = self._n + e + np.arange(e)
        chunk = max(1, min(256, _DIJKSTRA_CELLS // size))
        limit_m = limit_km * 1000.0 if math.isfinite(limit_km) else np.inf

        def one(part: IntArray) -> tuple[IntArray, FloatArray]:
            d = dijkstra(self._graph, directed=True, indices=self._n + part, limit=limit_m)
            return part, d[:, cols] / 1000.0

        parts = [sources[i:i + chunk] for i in range(0, len(sources), chunk)]
        with ThreadPoolExecutor(max_workers=max(1, self.threads)) as pool:
            for part, km in pool.map(one, parts):
                for s, row in zip(part.tolist(), km, strict=True):
                    idx = np.flatnonzero(np.isfinite(row)).astype(np.int32)
                    self._rows[s] = (limit_km, idx, row[idx])

    def km(self, src: IntArray, dst: IntArray, limit_km: float) -> FloatArray:
        """Road km per (source, destination) enterprise pair: inf beyond `limit_km`, nan
        when the two are on road components that do not connect."""
        src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
        out = np.full(len(src), np.inf)
        if len(src) == 0:
            return out
        self.prepare(np.unique(src), limit_km)
        order = np.argsort(src, kind="stable")
        s_sorted = src[order]
        bounds = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1], True])
        for a, b in itertools.pairwise(bounds):
            idx = order[a:b]
            _, reach_idx, reach_km = self._rows[int(s_sorted[a])]
            pos = np.searchsorted(reach_idx, dst[idx])
            pos_ok = np.minimum(pos, max(len(reach_idx) - 1, 0))
            found = (pos < len(reach_idx)) & (reach_idx[pos_ok] == dst[idx]) if len(reach_idx) \
                else np.zeros(len(idx), bool)
            out[idx[found]] = reach_km[pos_ok[found]]
        out[out > limit_km] = np.inf
        out[self.component[src] != self.component[dst]] = np.nan
        return out

    def routes(self, src: IntArray, dst: IntArray,
               limit_km: FloatArray | None = None) -> list[FloatArray | None]:
        """The road route of each pair as an (n, 2) lon/lat array (None when there is no
        road route): enterprise, snap point, road nodes ..., snap point, enterprise (repeated
        points dropped). `limit_km` (per pair, e.g. the known road km) bounds each search."""
        from scipy.sparse.csgraph import dijkstra

        src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
        out: list[FloatArray | None] = [None] * len(src)
        e, n = len(self.lon), self._n
        net = self.network
        paths: list[tuple[int, FloatArray, FloatArray]] = []
        for s in np.unique(src):
            bound = np.inf if limit_km is None else \
                float(np.max(np.asarray(limit_km, float)[src == s])) * 1000.0 + 1.0
            _, pred = dijkstra(self._graph, directed=True, indices=[n + int(s)],
                               return_predecessors=True, limit=bound)
            pred = pred[0]
            for k in np.flatnonzero(src == s):
                target = n + e + int(dst[k])
                if pred[target] < 0:
                    continue
                path = [target]
                while path[-1] != n + s:
                    path.append(int(pred[path[-1]]))
                path.reverse()
                road = self._expand(path[1:-1])  # the road nodes, chains put back
                xs = np.r_[self.ent_x[s], self.snap_x[s], net.x[road], self.snap_x[dst[k]],
                           self.ent_x[dst[k]]]
                ys = np.r_[self.ent_y[s], self.snap_y[s], net.y[road], self.snap_y[dst[k]],
                           self.ent_y[dst[k]]]
                moved = np.r_[True, np.hypot(np.diff(xs), np.diff(ys)) > 1e-3]  # 1 mm
                paths.append((int(k), xs[moved], ys[moved]))
        if paths:  # one projection call for every route: pyproj set-up is the slow part
            lon, lat = unproject(np.concatenate([p[1] for p in paths]),
                                 np.concatenate([p[2] for p in paths]), self.network.crs)
            start = 0
            for pair, px, _ in paths:
                out[pair] = np.column_stack([lon[start:start + len(px)],
                                             lat[start:start + len(px)]])
                start += len(px)
        return out


def _contract_chains(n: int, u: IntArray, v: IntArray, w: FloatArray,
                     must_keep: NDArray[np.bool_]
                     ) -> tuple[NDArray[np.bool_], IntArray, IntArray, FloatArray, IntArray,
                                IntArray]:
    """Collapse chains of degree-2 nodes (shape points: most of an OSM extract) into single
    edges between the nodes kept (junctions, dead ends, the ends of snapped segments).

    Returns the kept-node mask, the new edges (u, v, length, chain id: -1 for an edge that
    was not contracted, else the component label of its inner nodes) and the label of every
    node. Loops that come back to the node they left are dropped (never on a shortest path).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    deg = np.bincount(u, minlength=n) + np.bincount(v, minlength=n)
    keep = (deg != 2) | must_keep
    ku, kv = keep[u], keep[v]
    kk, cc, kc = ku & kv, ~ku & ~kv, ku ^ kv
    inner = coo_matrix((np.ones(int(cc.sum()), np.int8), (u[cc], v[cc])), shape=(n, n))
    _, label = connected_components(inner, directed=False)
    kept_end = np.where(ku[kc], u[kc], v[kc])
    comp = label[np.where(ku[kc], v[kc], u[kc])]
    bw = w[kc]
    inside = np.bincount(label[u[cc]], weights=w[cc], minlength=n)
    order = np.argsort(comp, kind="stable")
    comp_s, kept_s, bw_s = comp[order], kept_end[order], bw[order]
    starts = np.flatnonzero(np.r_[True, comp_s[1:] != comp_s[:-1]]) if len(comp_s) \
        else np.empty(0, np.int64)
    counts = np.diff(np.r_[starts, len(comp_s)])
    s = starts[counts == 2]
    a, b, c = kept_s[s], kept_s[s + 1], comp_s[s]
    total = bw_s[s] + bw_s[s + 1] + inside[c]
    ok = a != b
    new_u = np.concatenate([u[kk], a[ok]])
    new_v = np.concatenate([v[kk], b[ok]])
    new_w = np.concatenate([w[kk], total[ok]])
    chain = np.concatenate([np.full(int(kk.sum()), -1, np.int64), c[ok]])
    return keep, new_u, new_v, new_w, chain, label.astype(np.int64)


def _adjacency(n: int, u: IntArray, v: IntArray) -> Any:
    """Undirected adjacency (CSR) of the road nodes, for walking chains."""
    from scipy.sparse import coo_matrix

    ones = np.ones(2 * len(u), np.int8)
    return coo_matrix((ones, (np.r_[u, v], np.r_[v, u])), shape=(n, n)).tocsr()


def _walk_chain(adj: Any, label: IntArray, a: int, b: int, comp: int) -> list[int]:
    """The inner nodes of chain `comp` in order from kept node `a` towards kept node `b`."""
    indptr, indices = adj.indptr, adj.indices
    out: list[int] = []
    prev = a
    cur = -1
    for x in indices[indptr[a]:indptr[a + 1]].tolist():
        if label[x] == comp:
            cur = x
            break
    while cur not in (-1, b):
        out.append(cur)
        nxt = [x for x in indices[indptr[cur]:indptr[cur + 1]].tolist() if x != prev]
        prev, cur = cur, (nxt[0] if nxt else -1)
    return out


def _min_duplicates(rows: IntArray, cols: IntArray, weights: FloatArray, size: int) -> Any:
    """A CSR matrix keeping the smallest weight where an edge is listed more than once."""
    from scipy.sparse import csr_matrix

    order = np.lexsort((weights, cols, rows))
    r, c, w = rows[order], cols[order], weights[order]
    first = np.r_[True, (r[1:] != r[:-1]) | (c[1:] != c[:-1])]
    return csr_matrix((w[first], (r[first], c[first])), shape=(size, size))
