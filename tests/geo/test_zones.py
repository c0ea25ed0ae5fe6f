"""Restricted zones on crafted cases: hazardous loads kept out of a drinking-water zone
(excluded without roads, rerouted or excluded with them), the Yangtze 1 km shoreline rule
for chemical enterprises, the siting check, and zone-file validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from geo_world import world, write_lines, write_polygons

from symbiosis.errors import InvalidDataError
from symbiosis.geo.provider import GeoDistances
from symbiosis.geo.roads import RoadRouter, load_roads
from symbiosis.geo.zones import SHORELINE_RULE, check_site, load_zones, shoreline_flags
from symbiosis.matching import solve_match
from symbiosis.matching.candidates import build_candidates

# P offers fly_ash (made hazardous here) and bf_slag; Q1 lies due east across a reservoir
# (the square 4..6 x -1..1 km), Q2 due north, clear of it.
ENTERPRISES = {"P": (0.0, 0.0), "Q1": (10.0, 0.0), "Q2": (0.0, 10.0)}
OFFERS = [("P", "fly_ash", 1000), ("P", "bf_slag", 1000)]
NEEDS = [("Q1", "fly_ash", 100), ("Q1", "bf_slag", 100), ("Q2", "fly_ash", 100)]
RESERVOIR = [(4, -1), (6, -1), (6, 1), (4, 1), (4, -1)]


@pytest.fixture(scope="module")
def zones_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("zones")
    return write_polygons(folder / "zones.geojson", [RESERVOIR],
                          kind=["drinking_water_protection"], name=["Test reservoir"],
                          source=["crafted for the test"])


def _arcs(ds, cand) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    f = cand.frame(ds)
    return set(zip(f["offer_material"], f["offer_enterprise_id"], f["need_enterprise_id"],
                   strict=True))


def test_straight_line_through_the_zone_is_excluded(zones_file: Path) -> None:
    ds = world(ENTERPRISES, OFFERS, NEEDS, hazardous=("fly_ash",))
    geo = GeoDistances(ds, zones=load_zones(zones_file))
    cand = build_candidates(ds, distances=geo)
    assert _arcs(ds, cand) == {("fly_ash", "P", "Q2"), ("bf_slag", "P", "Q1")}
    events = geo.events_frame()
    assert events[["offer_enterprise_id", "need_enterprise_id", "material", "action"]] \
        .to_records(index=False).tolist() == [("P", "Q1", "fly_ash", "excluded")]
    assert events["reason"].iloc[0].startswith("the straight line crosses Test reservoir")


def test_non_hazardous_material_and_no_zone_are_untouched(zones_file: Path) -> None:
    ds = world(ENTERPRISES, OFFERS, NEEDS)  # fly_ash as built in: not hazardous
    geo = GeoDistances(ds, zones=load_zones(zones_file))
    assert len(_arcs(ds, build_candidates(ds, distances=geo))) == 3
    assert geo.events == []


@pytest.fixture(scope="module")
def detour_router(tmp_path_factory: pytest.TempPathFactory) -> RoadRouter:
    """A direct 10 km road P-Q1 through the reservoir, a 16 km detour around it (north to
    y = 3 km), and a 10 km road P-Q2."""
    path = write_lines(tmp_path_factory.mktemp("roads") / "roads.gpkg",
                       [[(0, 0), (10, 0)], [(0, 0), (0, 3), (10, 3), (10, 0)],
                        [(0, 3), (0, 10)]], name=["direct", "detour", "north"])
    ds = world(ENTERPRISES, OFFERS, NEEDS)
    ent = ds.enterprises
    return RoadRouter(load_roads(path), ent["lon"].to_numpy(float),
                      ent["lat"].to_numpy(float), list(ent.index))


def test_hazardous_load_is_rerouted_around_the_zone(zones_file: Path,
                                                    detour_router: RoadRouter) -> None:
    ds = world(ENTERPRISES, OFFERS, NEEDS, hazardous=("fly_ash",))
    geo = GeoDistances(ds, router=detour_router, zones=load_zones(zones_file))
    cand = build_candidates(ds, distances=geo)
    f = cand.frame(ds).set_index(["offer_material", "need_enterprise_id"])["distance_km"]
    assert f[("fly_ash", "Q1")] == pytest.approx(16.0, abs=1e-5)   # around the reservoir
    assert f[("bf_slag", "Q1")] == pytest.approx(10.0, abs=1e-5)   # straight through
    assert f[("fly_ash", "Q2")] == pytest.approx(10.0, abs=1e-5)
    (event,) = geo.events
    assert (event["action"], event["distance_km"], event["rerouted_km"]) == \
        ("rerouted", 10.0, 16.0)
    # the exported route of that exchange goes around the reservoir too
    from symbiosis.geo.export import exchange_lines

    result = solve_match(ds, distances=geo)
    lines = exchange_lines(ds, result.exchanges, detour_router, distances=geo)
    lines = lines.set_index(["material", "need_enterprise_id"])
    zone = load_zones(zones_file).frame.geometry.iloc[0]
    assert not lines.loc[("fly_ash", "Q1"), "geometry"].intersects(zone)
    assert lines.loc[("bf_slag", "Q1"), "geometry"].intersects(zone)


def test_hazardous_load_is_excluded_when_the_detour_is_out_of_reach(
        zones_file: Path, detour_router: RoadRouter) -> None:
    ds = world(ENTERPRISES, OFFERS, NEEDS, hazardous=("fly_ash",))
    geo = GeoDistances(ds, router=detour_router, zones=load_zones(zones_file))
    cand = build_candidates(ds, max_km=12.0, distances=geo)
    assert _arcs(ds, cand) == {("fly_ash", "P", "Q2"), ("bf_slag", "P", "Q1")}
    (event,) = geo.events
    assert event["action"] == "excluded"
    assert event["reason"].startswith("every road route within reach crosses")
    # the solve sees only the permitted arcs
    result = solve_match(ds, distances=GeoDistances(ds, router=detour_router,
                                                    zones=load_zones(zones_file)))
    ex = result.exchanges
    assert set(zip(ex["offer_material"], ex["need_enterprise_id"], strict=True)) == \
        {("fly_ash", "Q1"), ("fly_ash", "Q2"), ("bf_slag", "Q1")}
    row = ex[(ex["offer_material"] == "fly_ash") & (ex["need_enterprise_id"] == "Q1")]
    assert row["distance_km"].iloc[0] == pytest.approx(16.0, abs=1e-5)
    assert row["distance_source"].iloc[0] == "road_network"


@pytest.fixture(scope="module")
def shore_zones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # a river bank along y = 0 from x = -10 to 30 km
    return write_lines(tmp_path_factory.mktemp("shore") / "zones.geojson",
                       [[(-10, 0), (30, 0)]], kind=["yangtze_shoreline"],
                       name=["Test bank"], source=["crafted"])


def test_chemical_enterprises_within_1km_are_flagged(shore_zones: Path) -> None:
    ents = {"CHEM_NEAR": (0.0, 0.5), "CHEM_FAR": (5.0, 1.5), "CEMENT_NEAR": (10.0, 0.2)}
    ds = world(ents, [("CHEM_NEAR", "fly_ash", 1)], [("CEMENT_NEAR", "fly_ash", 1)])
    ent = ds.enterprises.copy()
    ent["sector"] = ["2612", "C2614", "3011"]
    flags = shoreline_flags(ent, load_zones(shore_zones))
    assert flags["enterprise_id"].tolist() == ["CHEM_NEAR"]
    assert flags["distance_m"].iloc[0] == pytest.approx(500.0, abs=0.5)
    assert flags["rule"].iloc[0] == SHORELINE_RULE


def test_siting_check(shore_zones: Path) -> None:
    from geo_world import lonlat

    zones = load_zones(shore_zones)
    (near,) = check_site(*lonlat(3, 0.8), "2612", zones)
    assert near["allowed"] is False and near["distance_m"] == pytest.approx(800, abs=0.5)
    (far,) = check_site(*lonlat(3, 1.2), "2612", zones)
    assert far["allowed"] is True
    (other,) = check_site(*lonlat(3, 0.1), "3011", zones)
    assert other["allowed"] is True and "not chemical" in other["message"]


def test_zone_file_problems_name_the_feature(tmp_path: Path) -> None:
    path = write_polygons(tmp_path / "bad.geojson", [RESERVOIR, RESERVOIR],
                          kind=["nature_reserve", "yangtze_shoreline"], name=["a", ""])
    with pytest.raises(InvalidDataError) as info:
        load_zones(path)
    text = str(info.value)
    assert f"{path}::features[0].properties.kind: unknown zone kind 'nature_reserve'" in text
    assert f"{path}::features[1].properties.name: name is empty" in text
    lines = write_lines(tmp_path / "line.geojson", [[(0, 0), (1, 1)]],
                        kind=["drinking_water_protection"], name=["x"])
    with pytest.raises(InvalidDataError, match=r"features\[0\]\.geometry: a "
                                               "drinking_water_protection zone needs"):
        load_zones(lines)
