"""Parks (point-in-polygon assignment and KPIs), spatial exports read back with
geopandas, and the geography options of the CLI end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from geo_world import lonlat, world, write_lines, write_polygons

from symbiosis.geo.context import GeoFiles, prepare_geo
from symbiosis.geo.export import material_colour, write_geo
from symbiosis.geo.parks import load_parks
from symbiosis.matching import solve_match

if TYPE_CHECKING:
    from conftest import CliRunner, DatasetTables

# A (park Alpha, stated) ships fly ash to B (inside Alpha's polygon, park cell empty),
# C (inside Beta's polygon) and D (in no park): 60 + 30 + 10 t, all of A's 100 t.
ENTERPRISES = {"A": (0.0, 0.0), "B": (1.0, 0.0), "C": (20.0, 0.0), "D": (50.0, 0.0)}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> GeoFiles:
    folder = tmp_path_factory.mktemp("geo")
    parks = write_polygons(folder / "parks.geojson",
                           [[(-2, -2), (3, -2), (3, 2), (-2, 2), (-2, -2)],
                            [(18, -2), (22, -2), (22, 2), (18, 2), (18, -2)]],
                           name=["Alpha", "Beta"])
    roads = write_lines(folder / "roads.gpkg", [[(-5, 0.1), (60, 0.1)]], name=["main"])
    zones = write_polygons(folder / "zones.geojson",
                           [[(30, 5), (32, 5), (32, 7), (30, 7), (30, 5)]],
                           kind=["drinking_water_protection"], name=["Reservoir"])
    return GeoFiles(roads=roads, parks=parks, zones=zones)


@pytest.fixture(scope="module")
def run(files: GeoFiles):  # type: ignore[no-untyped-def]
    ds = world(ENTERPRISES, [("A", "fly_ash", 100)],
               [("B", "fly_ash", 60), ("C", "fly_ash", 30), ("D", "fly_ash", 10)],
               parks={"A": "Alpha"})
    ctx = prepare_geo(ds, files)
    result = solve_match(ctx.dataset, distances=ctx.distances)
    return ctx, result


def test_parks_are_assigned_by_polygon(run) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = run
    assert ctx.dataset.enterprises["park"].to_dict() == {"A": "Alpha", "B": "Alpha",
                                                         "C": "Beta", "D": ""}
    assert ctx.parks_assigned == 2


def test_park_kpis(run) -> None:  # type: ignore[no-untyped-def]
    ctx, result = run
    parks = ctx.summary(result.exchanges)["parks"]
    assert parks["exchanges"]["within_park"]["quantity"] == {"t": pytest.approx(60.0)}
    assert parks["exchanges"]["across_parks"]["quantity"] == {"t": pytest.approx(30.0)}
    assert parks["exchanges"]["outside_parks"]["quantity"] == {"t": pytest.approx(10.0)}
    assert parks["within_park_share_of_mass"] == pytest.approx(0.6)
    alpha = parks["parks"]["Alpha"]
    assert (alpha["enterprises"], alpha["offered_t"], alpha["matched_t"],
            alpha["exchanges_from_park"], alpha["exchanges_within_park"]) == (2, 100, 100, 3, 1)
    assert parks["parks"]["Beta"]["offered_t"] == 0 and \
        parks["parks"]["Beta"]["utilization_rate"] is None
    assert parks["assigned_by_polygon"] == 2


def test_exports_read_back(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import geopandas as gpd
    import pyogrio

    ctx, result = run
    written = write_geo(tmp_path, ctx.dataset, result.exchanges, router=ctx.router,
                        parks=ctx.parks, zones=ctx.zones)
    assert {p.name for p in written} == {"exchanges.geojson", "enterprises.geojson",
                                         "parks.geojson", "symbiosis.gpkg", "map.png",
                                         "map.html"}
    lines = gpd.read_file(tmp_path / "exchanges.geojson")
    assert lines.crs.to_epsg() == 4326
    lines = lines.sort_values("need_enterprise_id").reset_index(drop=True)
    assert lines["need_enterprise_id"].tolist() == ["B", "C", "D"]
    np.testing.assert_allclose(lines["quantity"], [60, 30, 10])
    assert lines["route"].tolist() == ["road"] * 3
    assert lines["colour"].tolist() == [material_colour("fly_ash")] * 3
    assert lines["width"].tolist() == pytest.approx([0.8 + 5.2 * np.sqrt(q / 60)
                                                     for q in (60, 30, 10)], abs=0.01)
    # each route starts at A, runs along the road at y = 0.1 km and ends at its partner
    for geom, dst in zip(lines.geometry, "BCD", strict=True):
        coords = np.asarray(geom.coords)
        np.testing.assert_allclose(coords[0], lonlat(0, 0), atol=1e-9)
        np.testing.assert_allclose(coords[1], lonlat(0, 0.1), atol=1e-9)
        np.testing.assert_allclose(coords[-1], lonlat(*ENTERPRISES[dst]), atol=1e-9)
    by_km = dict(zip(result.exchanges["need_enterprise_id"], result.exchanges["distance_km"],
                     strict=True))
    assert by_km == pytest.approx({"B": 1.2, "C": 20.2, "D": 50.2}, abs=1e-5)
    layers = {name for name, _ in pyogrio.list_layers(tmp_path / "symbiosis.gpkg")}
    assert layers == {"enterprises", "exchanges", "parks", "zones"}
    points = gpd.read_file(tmp_path / "symbiosis.gpkg", layer="enterprises")
    assert points.set_index("id")["role"].to_dict() == {"A": "supplier", "B": "user",
                                                       "C": "user", "D": "user"}
    parks = gpd.read_file(tmp_path / "parks.geojson")
    assert sorted(parks["name"]) == ["Alpha", "Beta"]
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (tmp_path / "map.html").read_text(encoding="utf-8")
    # plotly.js is inline (no <script src=...>), and no trace type fetches tiles or
    # topojson (geo, mapbox, map traces would)
    assert "Plotly.newPlot" in html and re.search(r"<script[^>]*\bsrc=", html) is None
    call = html[html.index("Plotly.newPlot("):]
    traces, _ = json.JSONDecoder().raw_decode(call[call.index("["):])
    assert {t["type"] for t in traces} == {"scatter", "scattergl"}
    assert {t["name"] for t in traces} >= {"fly_ash", "enterprises", "roads",
                                          "provincial boundary"}


def test_parks_file_problems(tmp_path: Path) -> None:
    from symbiosis.errors import InvalidDataError

    path = write_polygons(tmp_path / "p.geojson", [[(0, 0), (1, 0), (1, 1), (0, 0)]] * 2,
                          name=["Same", "Same"])
    with pytest.raises(InvalidDataError, match=r"features\[1\]\.properties\.name: park "
                                               "'Same' is listed twice"):
        load_parks(path)


@pytest.mark.parametrize("what", ["parks", "zones"])
def test_missing_or_unreadable_layer_files_name_the_file(tmp_path: Path, what: str) -> None:
    from symbiosis.errors import InvalidDataError
    from symbiosis.geo.zones import load_zones

    load = load_parks if what == "parks" else load_zones
    missing = tmp_path / "missing.geojson"
    with pytest.raises(InvalidDataError) as info:
        load(missing)
    assert [str(p) for p in info.value.problems] == [f"{missing}: {what} file not found"]
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "Feat', encoding="utf-8")
    with pytest.raises(InvalidDataError) as info:
        load(broken)
    assert str(info.value.problems[0]).startswith(f"{broken}: cannot read {what}: ")


def test_cli_match_geo_on_the_demo(run_cli: CliRunner, demo_path: Path,
                                   tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli("match", demo_path, "--geo", "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["roads"]["segments"] > 300
    assert summary["roads"]["far_from_road"] == {}
    assert summary["parks"]["assigned_by_polygon"] == 2
    flagged = {f["enterprise_id"] for f in summary["zones"]["chemical_within_1km_of_shoreline"]}
    assert flagged == {"ZZ-CHM1", "YY-CHM1"}
    for name in ("exchanges.geojson", "enterprises.geojson", "parks.geojson",
                 "symbiosis.gpkg", "map.png", "map.html", "exchanges.csv", "summary.json"):
        assert (out / name).exists(), name
    sources = set((out / "exchanges.csv").read_text(encoding="utf-8").split(",road_network,")
                  [1:2])
    assert sources, "no exchange took a road distance"


def test_cli_geo_errors_and_site(run_cli: CliRunner, demo_path: Path, tmp_path: Path) -> None:
    proc = run_cli("match", demo_path, "--roads", tmp_path / "missing.gpkg", "--out",
                   tmp_path / "o")
    assert proc.returncode == 1
    assert "missing.gpkg: road network file not found" in proc.stderr
    assert not (tmp_path / "o").exists()
    zones = demo_path / "zones.geojson"
    near = run_cli("site", "113.2517", "29.4638", "--sector", "2612", "--zones", zones)
    assert near.returncode == 1 and "Not allowed" in near.stdout
    ok = run_cli("site", "113.2517", "29.4638", "--sector", "3011", "--zones", zones,
                 "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["allowed"] is True


def test_cli_map_command(run_cli: CliRunner, dataset_tables: DatasetTables,
                         tmp_path: Path) -> None:
    folder = dataset_tables.write_csv(tmp_path / "ds")
    proc = run_cli("map", folder, "--out", tmp_path / "m", "--quiet")
    assert proc.returncode == 0, proc.stderr
    import geopandas as gpd

    lines = gpd.read_file(tmp_path / "m" / "exchanges.geojson")
    assert set(lines["route"]) == {"straight"}  # no roads beside this dataset
    assert len(lines) == len((tmp_path / "m" / "exchanges.csv").read_text().splitlines()) - 1


def _legend_and_labels(fig):  # type: ignore[no-untyped-def]
    from matplotlib.text import Annotation

    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    labels = [a for a in ax.get_children() if isinstance(a, Annotation)]
    return ax, legend, labels


def test_map_png_has_a_legend_for_every_symbol_and_labels_that_do_not_overlap(
        run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """map.png read through its matplotlib artists: the legend names the material, every
    enterprise role drawn, the parks, the zone, the road and the basemap; the place labels
    (parks here) lie inside the axes and do not overlap; the axes carry no offset text."""
    from symbiosis.geo.export import enterprise_points, exchange_lines, map_figure

    ctx, result = run
    layers = {"enterprises": enterprise_points(ctx.dataset, result.exchanges),
              "exchanges": exchange_lines(ctx.dataset, result.exchanges),
              "parks": ctx.parks, "zones": ctx.zones.frame}
    segments = np.array([[lonlat(-5, 0.1), lonlat(60, 0.1)]])
    fig = map_figure(layers, segments, "world")
    ax, legend, labels = _legend_and_labels(fig)
    assert legend == ["provincial boundary", "road", "park",
                      "drinking-water protection zone", "exchange: fly_ash",
                      "enterprise: supplier", "enterprise: user"]
    assert {a.get_text() for a in labels} >= {"Alpha", "Beta"}
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    boxes = [a.get_window_extent(renderer) for a in labels]
    for i, box in enumerate(boxes):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, labels[i].get_text()
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1, labels[i].get_text()
        assert not any(box.overlaps(other) for other in boxes[i + 1:]), labels[i].get_text()
    assert ax.xaxis.get_offset_text().get_text() == ""
    assert ax.yaxis.get_offset_text().get_text() == ""
    # the saved image has the legend: its box (right of the map) is not blank
    fig.savefig(tmp_path / "map.png")
    from matplotlib.image import imread

    pixels = imread(tmp_path / "map.png")
    box = ax.get_legend().get_window_extent(renderer)
    height = pixels.shape[0]
    region = pixels[int(height - box.y1):int(height - box.y0), int(box.x0):int(box.x1), :3]
    assert region.size and (region < 0.5).mean() > 0.01  # dark legend text and symbols


def test_labels_crowded_on_one_point_are_dropped_not_stacked() -> None:
    """Twelve labels on one point: at most eight positions exist, so some are left out, and
    those placed do not overlap."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from symbiosis.geo.labels import place_labels

    fig = Figure(figsize=(4, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    placed = place_labels(ax, [(5.0, 5.0, f"label number {i}") for i in range(12)])
    assert 1 <= len(placed) <= 8
    renderer = fig.canvas.get_renderer()
    boxes = [a.get_window_extent(renderer) for a in placed]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert [a.get_text() for a in placed] == [f"label number {i}" for i in range(len(placed))]
