"""Road networks: loading, snapping, exact shortest paths on a hand-made graph, fallbacks
for disconnected parts, and road distances inside the candidate arcs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from geo_world import lonlat, world, write_lines

from symbiosis.errors import InvalidDataError
from symbiosis.geo.distance import haversine_km
from symbiosis.geo.provider import GeoDistances
from symbiosis.geo.roads import RoadRouter, load_roads
from symbiosis.matching.candidates import build_candidates

# A(0,0) -> B(10,0) -> C(10,10) is 20 km; A -> D(0,5) -> C is 5 + sqrt(125) = 16.180 km.
# An island road (30,0)-(32,0) connects to nothing.
LINES = [[(0, 0), (10, 0), (10, 10)], [(0, 0), (0, 5), (10, 10)], [(30, 0), (32, 0)]]
A_TO_C = 5 + math.sqrt(125)
ENTERPRISES = {
    "P": (0.0, 0.0),     # on A: snap 0
    "Q": (10.0, 10.1),   # 100 m beyond C
    "M": (5.0, -0.2),    # 200 m off the middle of A-B (same segment as P)
    "R": (31.0, 0.05),   # on the island, 50 m off
    "S": (5.0, 20.0),    # 11.18 km from the nearest road (C)
}
IDS = list(ENTERPRISES)


@pytest.fixture(scope="module")
def roads_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lines(tmp_path_factory.mktemp("roads") / "roads.gpkg", LINES,
                       name=["east-north", "north-diagonal", "island"])


@pytest.fixture(scope="module")
def router(roads_file: Path) -> RoadRouter:
    pts = [lonlat(*p) for p in ENTERPRISES.values()]
    lon, lat = np.array(pts).T
    return RoadRouter(load_roads(roads_file), lon, lat, IDS)


def test_graph_is_built_from_the_line_vertices(roads_file: Path) -> None:
    net = load_roads(roads_file)
    assert net.crs == "EPSG:4547"  # chosen from the data: CGCS2000 CM 114E
    assert (net.n_nodes, net.n_edges) == (6, 5)  # A, B, C, D and the island's two ends
    np.testing.assert_allclose(sorted(net.length_m),
                               sorted([10000, 10000, 5000, 1000 * math.sqrt(125), 2000]),
                               atol=1e-3)


def test_snap_distances(router: RoadRouter) -> None:
    np.testing.assert_allclose(router.snap_m[:4], [0.0, 100.0, 200.0, 50.0], atol=1e-3)
    assert router.snap_m[4] == pytest.approx(1000 * math.sqrt(125), abs=1e-2)


def test_shortest_paths_are_exact(router: RoadRouter) -> None:
    P, Q, M, R = 0, 1, 2, 3  # noqa: N806
    km = router.km(np.array([P, P, M, Q]), np.array([Q, M, Q, M]), 100.0)
    # P->Q: A-D-C then the 100 m snap leg; P->M: along the shared segment, 5 km + 200 m;
    # M->Q: 200 m + 5 km to B + 10 km up to C + 100 m (the diagonal route is longer)
    np.testing.assert_allclose(km, [A_TO_C + 0.1, 5.2, 15.3, 15.3], atol=1e-5)
    # over the limit: inf; across components: nan
    far = router.km(np.array([P, P]), np.array([Q, R]), 16.0)
    assert np.isinf(far[0]) and np.isnan(far[1])


def test_route_geometry_follows_the_roads(router: RoadRouter) -> None:
    (route,) = router.routes(np.array([0]), np.array([1]))
    assert route is not None
    expected = [lonlat(*p) for p in [(0, 0), (0, 5), (10, 10), (10, 10.1)]]
    np.testing.assert_allclose(route, expected, atol=1e-9)
    (none,) = router.routes(np.array([0]), np.array([3]))
    assert none is None


def test_far_and_disconnected_enterprises_are_reported(router: RoadRouter) -> None:
    messages = [p.message for p in router.snap_problems()]
    assert ("enterprise S is 11.2 km from the nearest road (over 2 km); that leg is counted "
            "as a straight line") in messages
    assert any(m.startswith("enterprise R is on a road component not connected to the main "
                            "network") for m in messages)
    assert all(p.severity == "warning" for p in router.snap_problems())


def _dataset():  # type: ignore[no-untyped-def]
    return world(ENTERPRISES, offers=[("P", "fly_ash", 1000)],
                 needs=[("Q", "fly_ash", 100), ("M", "fly_ash", 100), ("R", "fly_ash", 100)])


def test_candidates_use_road_distances(router: RoadRouter) -> None:
    ds = _dataset()
    cand = build_candidates(ds, circuity=1.3, distances=GeoDistances(ds, router=router))
    frame = cand.frame(ds).assign(source=cand.distance_labels()).set_index("need_enterprise_id")
    assert frame.loc["Q", "distance_km"] == pytest.approx(A_TO_C + 0.1, abs=1e-5)
    assert frame.loc["M", "distance_km"] == pytest.approx(5.2, abs=1e-5)
    p, r = lonlat(0, 0), lonlat(31, 0.05)
    gc = float(haversine_km(p[0], p[1], r[0], r[1]))
    assert frame.loc["R", "distance_km"] == pytest.approx(1.3 * gc, rel=1e-9)
    assert frame["source"].to_dict() == {"Q": "road_network", "M": "road_network",
                                         "R": "great_circle_x1.3_no_road_connection"}


def test_reach_applies_to_the_road_distance(router: RoadRouter) -> None:
    """Q is 14.2 km away in a straight line, inside a 16 km reach, but 16.28 km by road;
    M is 5.2 km by road; R (no road connection) is 40 x 1.3 km away by the fallback."""
    ds = _dataset()
    cand = build_candidates(ds, max_km=16.0, distances=GeoDistances(ds, router=router))
    assert sorted(cand.frame(ds)["need_enterprise_id"]) == ["M"]
    cand = build_candidates(ds, max_km=16.3, distances=GeoDistances(ds, router=router))
    assert sorted(cand.frame(ds)["need_enterprise_id"]) == ["M", "Q"]
    cand = build_candidates(ds, max_km=53.0, distances=GeoDistances(ds, router=router))
    assert sorted(cand.frame(ds)["need_enterprise_id"]) == ["M", "Q", "R"]


def test_matches_networkx_on_a_random_grid(tmp_path: Path) -> None:
    """Enterprises placed on road nodes: our bounded Dijkstra equals networkx's."""
    import networkx as nx

    rng = np.random.default_rng(3)
    n = 8
    jitter = rng.uniform(-0.3, 0.3, (n, n, 2))  # uneven segment lengths, no ties

    def at(i: int, j: int) -> tuple[float, float]:
        return i + float(jitter[i, j, 0]), j + float(jitter[i, j, 1])

    lines = []
    for i in range(n):
        for j in range(n):
            if i + 1 < n and rng.random() < 0.8:
                lines.append([at(i, j), at(i + 1, j)])
            if j + 1 < n and rng.random() < 0.8:
                lines.append([at(i, j), at(i, j + 1)])
    path = write_lines(tmp_path / "grid.gpkg", lines, k=list(range(len(lines))))
    net = load_roads(path)
    graph = net.to_networkx()
    assert graph.number_of_edges() == net.n_edges
    picks = rng.choice(net.n_nodes, 12, replace=False)
    from symbiosis.geo.crs import unproject

    lon, lat = unproject(net.x[picks], net.y[picks], net.crs)
    router = RoadRouter(net, lon, lat, [str(p) for p in picks])
    src, dst = np.meshgrid(np.arange(12), np.arange(12), indexing="ij")
    got = router.km(src.ravel(), dst.ravel(), 1000.0)
    for s, d, km in zip(src.ravel(), dst.ravel(), got, strict=True):
        a, b = int(picks[s]), int(picks[d])
        if s == d:
            continue
        if nx.has_path(graph, a, b):
            want = nx.shortest_path_length(graph, a, b, weight="length_m") / 1000.0
            assert km == pytest.approx(want, abs=1e-5)
        else:
            assert np.isnan(km)


def test_osm_xml_keeps_lorry_roads_only(tmp_path: Path) -> None:
    nodes = {1: lonlat(0, 0), 2: lonlat(3, 0), 3: lonlat(3, 4), 4: lonlat(0, 4)}
    xml = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    xml += [f'<node id="{k}" lat="{la:.10f}" lon="{lo:.10f}"/>' for k, (lo, la) in nodes.items()]
    xml += ['<way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/>'
            '<tag k="highway" v="primary"/></way>',
            '<way id="11"><nd ref="1"/><nd ref="3"/><tag k="highway" v="footway"/></way>',
            '<way id="12"><nd ref="3"/><nd ref="4"/><tag k="waterway" v="river"/></way>',
            "</osm>"]
    path = tmp_path / "tiny.osm"
    path.write_text("\n".join(xml), encoding="utf-8")
    net = load_roads(path)
    assert net.n_edges == 2  # the footway (a 5 km shortcut) and the river are not roads
    assert net.length_m.sum() == pytest.approx(7000.0, abs=0.5)


def test_unusable_road_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidDataError, match="road network file not found"):
        load_roads(tmp_path / "nope.gpkg")
    import geopandas as gpd
    from shapely.geometry import Point

    pts = tmp_path / "points.geojson"
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(112, 28)], crs="EPSG:4326").to_file(pts)
    with pytest.raises(InvalidDataError) as info:
        load_roads(pts)
    assert "expected road lines, found ['Point']" in str(info.value)
    assert str(pts) in str(info.value)


def test_contracting_shape_points_changes_nothing(tmp_path: Path) -> None:
    """Roads drawn with many shape points: the contracted search graph is much smaller and
    gives the same distances and the same route geometry as the full one."""
    rng = np.random.default_rng(5)
    n = 6
    jitter = rng.uniform(-0.2, 0.2, (n, n, 2))

    def at(i: int, j: int) -> np.ndarray:
        return np.array([i * 3 + jitter[i, j, 0], j * 3 + jitter[i, j, 1]])

    lines = []
    for i in range(n):
        for j in range(n):
            for di, dj in ((1, 0), (0, 1)):
                if i + di < n and j + dj < n and rng.random() < 0.85:
                    a, b = at(i, j), at(i + di, j + dj)
                    k = int(rng.integers(3, 12))
                    t = np.linspace(0, 1, k)[:, None]
                    pts = a + t * (b - a) + rng.normal(0, 0.05, (k, 2)) * (t * (1 - t) > 0)
                    lines.append([tuple(p) for p in pts])
    net = load_roads(write_lines(tmp_path / "wiggly.gpkg", lines, k=list(range(len(lines)))))
    pts = [lonlat(*p) for p in rng.uniform(0, 15, (15, 2))]
    lon, lat = np.array(pts).T
    full = RoadRouter(net, lon, lat, [str(i) for i in range(15)], contract=False)
    small = RoadRouter(net, lon, lat, [str(i) for i in range(15)])
    assert small._n < full._n / 2
    src, dst = (a.ravel() for a in np.meshgrid(np.arange(15), np.arange(15), indexing="ij"))
    np.testing.assert_allclose(small.km(src, dst, 500.0), full.km(src, dst, 500.0),
                               atol=1e-9)
    for r_small, r_full in zip(small.routes(src, dst), full.routes(src, dst), strict=True):
        assert (r_small is None) == (r_full is None)
        if r_small is not None:
            np.testing.assert_allclose(r_small, r_full, atol=1e-9)


def test_osm_pbf_through_pyosmium(tmp_path: Path) -> None:
    osmium = pytest.importorskip("osmium")
    path = tmp_path / "tiny.osm.pbf"
    writer = osmium.SimpleWriter(str(path))
    for k, (x, y) in {1: (0, 0), 2: (3, 0), 3: (3, 4)}.items():
        writer.add_node(osmium.osm.mutable.Node(id=k, location=lonlat(x, y)))
    writer.add_way(osmium.osm.mutable.Way(id=10, nodes=[1, 2, 3],
                                          tags={"highway": "secondary"}))
    writer.add_way(osmium.osm.mutable.Way(id=11, nodes=[1, 3], tags={"highway": "cycleway"}))
    writer.close()
    net = load_roads(path)
    assert net.n_edges == 2
    assert net.length_m.sum() == pytest.approx(7000.0, abs=0.5)


def test_roads_in_cgcs2000_geographic(tmp_path: Path) -> None:
    """A layer in EPSG:4490 (CGCS2000 lon/lat) is projected to the metric CRS its extent
    picks; lengths come out in metres, not degrees."""
    import geopandas as gpd
    from shapely.geometry import LineString

    line = LineString([lonlat(0, 0), lonlat(3, 0), lonlat(3, 4)])
    path = tmp_path / "cgcs.gpkg"
    gpd.GeoDataFrame({"k": [1]}, geometry=[line], crs="EPSG:4490").to_file(path)
    net = load_roads(path)
    assert net.crs == "EPSG:4547"
    assert net.length_m.sum() == pytest.approx(7000.0, abs=0.5)


@pytest.mark.parametrize("seed", range(3))
def test_road_km_is_never_below_the_straight_line(seed: int, tmp_path: Path) -> None:
    """Great-circle distance is a lower bound of road distance (what lets candidates be
    searched within the reach before any shortest path is run)."""
    from scipy.spatial import Delaunay

    rng = np.random.default_rng(seed)
    nodes = rng.uniform(0, 30, (40, 2))
    tri = Delaunay(nodes).simplices
    edges = {tuple(sorted((int(a), int(b)))) for t in tri for a, b in ((t[0], t[1]),
                                                                      (t[1], t[2]),
                                                                      (t[0], t[2]))}
    lines = [[tuple(nodes[a]), tuple(nodes[b])] for a, b in sorted(edges)
             if rng.random() < 0.7]
    net = load_roads(write_lines(tmp_path / "r.gpkg", lines, k=list(range(len(lines)))))
    pts = [lonlat(*p) for p in rng.uniform(0, 30, (20, 2))]
    lon, lat = np.array(pts).T
    router = RoadRouter(net, lon, lat, [str(i) for i in range(20)])
    src, dst = (a.ravel() for a in np.meshgrid(np.arange(20), np.arange(20), indexing="ij"))
    km = router.km(src, dst, 1000.0)
    gc = haversine_km(lon[src], lat[src], lon[dst], lat[dst])
    ok = np.isfinite(km)
    assert ok.sum() > 100
    assert np.all(km[ok] >= gc[ok] * (1 - 1e-3))  # GK scale error near the meridian < 0.1 %


def test_asking_for_lengths_in_degrees_raises(roads_file: Path) -> None:
    from symbiosis.geo.crs import GeographicDistanceError

    with pytest.raises(GeographicDistanceError, match=r"road length in degrees \(EPSG:4326\)"):
        load_roads(roads_file, crs="EPSG:4326")
