"""Why offered quantity is left unmatched: one tiny hand-made instance per reason, the
facts each reason carries, the km measured with the run's own distance rule (distances.csv,
roads, max_km), and the sentences in English and Chinese from the catalogue."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from geo_world import world, write_lines, write_polygons

from symbiosis.dataset import Dataset, dataset_from_records
from symbiosis.geo.distance import EARTH_RADIUS_KM
from symbiosis.geo.provider import GeoDistances
from symbiosis.geo.roads import RoadRouter, load_roads
from symbiosis.geo.zones import load_zones
from symbiosis.matching.candidates import build_candidates
from symbiosis.matching.explain import (
    UnmatchedExplanation,
    analyse_unmatched,
    explain_exchanges,
    explain_unmatched,
)
from symbiosis.matching.model import MatchOptions, solve_match
from symbiosis.matching.reasons import UnmatchedReason
from symbiosis.matching.result import MatchResult

Rows = list[dict[str, Any]]
STEP_KM = EARTH_RADIUS_KM * math.pi / 1800  # 0.1 degree of latitude


def make(ents: dict[str, float], offers: Rows, needs: Rows, distances: Rows | None = None,
         **extra: Rows) -> Dataset:
    """Enterprises on the 112.9 E meridian at the given latitudes."""
    records: dict[str, Rows] = {
        "enterprises": [{"id": i, "name": i, "lon": 112.9, "lat": lat}
                        for i, lat in ents.items()],
        "offers": offers, "needs": needs, **extra}
    if distances is not None:
        records["distances"] = distances
    return dataset_from_records(records)


# fly ash that states (and meets) the GB/T 1596-2017 limits its rules set: an attribute a rule
# limits and the offer does not state blocks the arc (matching.admission)
FLY_ASH_QUALITY = {"q.loi_pct": 5.0, "q.so3_pct": 2.0, "q.fineness_45um_pct": 20.0}


def offer(oid: str, ent: str, material: str, qty: float, **cols: Any) -> dict[str, Any]:
    stated = FLY_ASH_QUALITY if material == "fly_ash" else {}
    return {"id": oid, "enterprise_id": ent, "material": material, "quantity": qty,
            **stated, **cols}


def need(nid: str, ent: str, material: str, qty: float, **cols: Any) -> dict[str, Any]:
    return {"id": nid, "enterprise_id": ent, "material": material, "quantity": qty, **cols}


def why(result: MatchResult, offer_id: str) -> tuple[str, str]:
    row = result.offers.set_index("offer_id").loc[offer_id]
    return str(row["reason"]), str(row["explanation"])


def analysed(ds: Dataset, options: MatchOptions | None = None,
             distances: GeoDistances | None = None) -> list[UnmatchedExplanation | None]:
    """The structured reasons of a default-objective run."""
    options = options or MatchOptions()
    result = solve_match(ds, options, distances=distances)
    cand = build_candidates(ds, options.max_km, options.circuity, distances)
    flows = np.zeros(len(cand))
    key = {(str(ds.offers.index[o]), str(ds.needs.index[n])): a
           for a, (o, n) in enumerate(zip(cand.offer, cand.need, strict=True))}
    for row in result.exchanges.itertuples():
        flows[key[(row.offer_id, row.need_id)]] = row.quantity
    return analyse_unmatched(ds, cand, flows, result.offers["unmatched"].to_numpy(float),
                             None, None)


def test_no_compatible_need() -> None:
    ds = make({"A": 28.0, "B": 28.1}, [offer("o", "A", "tailings", 10)],
              [need("n", "B", "set_retarder", 5)])
    assert why(solve_match(ds), "o") == ("no_compatible_need",
                                         "no need in the dataset takes tailings")


def test_beyond_reach_names_the_nearest_need_and_the_reach() -> None:
    """Tailings reach 80 km; the brick plant is 0.7 degree north: 7 x 11.12 x 1.3 km."""
    ds = make({"MINE": 27.0, "BRK": 27.7, "FAR": 29.0},
              [offer("o", "MINE", "tailings", 10)],
              [need("b", "BRK", "brick_feedstock", 10), need("f", "FAR", "brick_feedstock", 10)])
    reason, text = why(solve_match(ds), "o")
    km = 7 * STEP_KM * 1.3
    assert reason == "beyond_reach"
    assert text == ("no compatible need within the 80 km reach; the nearest is b at BRK, "
                    f"{km:.1f} km")
    (fact,) = analysed(ds)[0].facts  # type: ignore[union-attr]
    assert fact.params["km"] == pytest.approx(km, rel=1e-12)
    assert fact.params["reach"] == 80.0
    # max_km overrides the material's reach, in the run and in the explanation alike
    assert why(solve_match(ds, MatchOptions(max_km=200.0)), "o")[0] == ""
    reason, text = why(solve_match(ds, MatchOptions(max_km=50.0)), "o")
    assert reason == "beyond_reach" and "within the 50 km reach" in text


def test_beyond_reach_km_is_the_listed_km_of_the_candidate_arc() -> None:
    """distances.csv lists MINE-BRK at 95 km (listed BRK->MINE, so it serves both ways): the
    explanation says 95 km, the km of the arc a longer reach creates."""
    ds = make({"MINE": 27.0, "BRK": 27.1}, [offer("o", "MINE", "tailings", 10)],
              [need("b", "BRK", "brick_feedstock", 10)],
              [{"from_id": "BRK", "to_id": "MINE", "distance_km": 95}])
    (explained,) = analysed(ds)
    assert explained is not None and explained.reasons == (UnmatchedReason.BEYOND_REACH,)
    assert explained.facts[0].params["km"] == 95.0
    arc = build_candidates(ds, max_km=100.0)
    assert arc.distance_km.tolist() == [95.0]
    assert arc.distance_labels().tolist() == ["distances.csv"]


def test_takers_full_names_who_fills_them() -> None:
    """N needs 50 t; A (0.1 degree away) fills it, B (0.2 degree) finds it full."""
    ds = make({"N": 28.0, "A": 28.1, "B": 28.2},
              [offer("a", "A", "fly_ash", 50), offer("b", "B", "fly_ash", 30)],
              [need("n", "N", "cement_admixture", 50)])
    result = solve_match(ds)
    assert why(result, "a") == ("", "")
    assert why(result, "b") == ("takers_full",
                                "1 of 1 compatible needs within reach are full: n (served by A)")


def test_takers_full_lists_every_supplier_in_each_language() -> None:
    """N needs 50 t: A (30 t, nearest) and B (20 t) fill it; C (10 t, farthest) finds it
    full, served by A and B."""
    ds = make({"N": 28.0, "A": 28.1, "B": 28.2, "C": 28.3},
              [offer("a", "A", "fly_ash", 30), offer("b", "B", "fly_ash", 20),
               offer("c", "C", "fly_ash", 10)],
              [need("n", "N", "cement_admixture", 50)])
    inputs = _run_inputs(ds)
    en, zh = (explain_unmatched(*inputs, lang=lang)[2] for lang in ("en", "zh"))
    assert en == "1 of 1 compatible needs within reach are full: n (served by A, B)"
    assert zh == "运输半径内 1 个兼容需求中有 1 个已满：n（由 A、B 供应）"


def test_no_gain_is_not_called_full_when_the_need_is_empty() -> None:
    """Steel slag with no disposal cost, 40 km from a road-base need paying 10 CNY/t:
    saving 10 - (0.5 x 40 + 2) = -12 CNY/t. The cost objective leaves the need empty and
    the offer whole, and says it does not pay, not that takers are full."""
    ds = make({"S": 28.0, "R": 28.1},
              [offer("o", "S", "steel_slag", 50, **{"q.f_cao_pct": 2.0,  # aged: GB/T 25824
                                                    "q.immersion_expansion_pct": 1.0})],
              [need("n", "R", "road_base", 50, virgin_cost=10)],
              [{"from_id": "S", "to_id": "R", "distance_km": 40}],
              transport=[{"material": "", "cny_per_unit_km": 0.5,
                          "loading_cny_per_unit": 2}])
    result = solve_match(ds, MatchOptions(objective="cost"))
    assert result.exchanges.empty
    reason, text = why(result, "o")
    assert reason == "no_gain"
    assert text == "1 would not pay under this objective (best saving -12.00 CNY/t to n)"


def test_quality_names_attribute_value_limit_and_need() -> None:
    """Fly ash with 9.5 % LOI; the cement plant's rule allows 8 % (GB/T 1596), the brick
    plant takes it: quality for the cement need even though the brick need is full."""
    ds = make({"P": 28.0, "C": 28.1, "K": 28.2},
              [offer("o", "P", "fly_ash", 100, **{"q.loi_pct": 9.5})],
              [need("cem", "C", "cement_admixture", 50), need("brk", "K", "brick_feedstock", 20)])
    result = solve_match(ds)
    reason, text = why(result, "o")
    assert reason == "takers_full;quality"
    assert text == ("1 of 1 compatible needs within reach are full: brk (served by P); "
                    "cem at C requires loi_pct ≤ 8, the offer has 9.5")
    assert explain_unmatched(*_run_inputs(ds), lang="zh")[0] == (
        "运输半径内 1 个兼容需求中有 1 个已满：brk（由 P 供应）；"
        "C 的 cem 要求 loi_pct ≤ 8，该供给为 9.5")


def _run_inputs(ds: Dataset) -> tuple[Any, ...]:
    cand = build_candidates(ds)
    result = solve_match(ds)
    flows = np.zeros(len(cand))
    for a, (o, n) in enumerate(zip(cand.offer, cand.need, strict=True)):
        hit = result.exchanges[(result.exchanges["offer_id"] == ds.offers.index[o])
                               & (result.exchanges["need_id"] == ds.needs.index[n])]
        flows[a] = float(hit["quantity"].sum())
    return ds, cand, flows, result.offers["unmatched"].to_numpy(float), None, None


def test_a_need_own_requirement_and_an_unstated_attribute() -> None:
    """Heat at 95 degC against a 120 degC floor is quality, not 'no taker in reach'; heat
    that does not state its temperature is quality_not_stated."""
    ds = make({"H": 28.0, "G": 28.0005, "C": 28.001},
              [offer("hot", "H", "waste_heat", 100, **{"q.temperature_c": 95}),
               offer("blind", "G", "waste_heat", 100)],
              [need("n", "C", "process_heat", 100, **{"min.temperature_c": 120})])
    result = solve_match(ds)
    assert why(result, "hot") == (
        "quality", "n at C requires temperature_c ≥ 120, the offer has 95")
    assert why(result, "blind") == (
        "quality_not_stated", "n at C requires temperature_c ≥ 120, which the offer does "
        "not state")


def test_alternatives_speak_both_languages() -> None:
    ds = make({"N1": 28.0, "N2": 28.2, "A": 28.1},
              [offer("a", "A", "fly_ash", 10)],
              [need("n1", "N1", "cement_admixture", 50), need("n2", "N2", "cement_admixture", 50)])
    cand = build_candidates(ds)
    flows = np.array([10.0, 0.0]) if cand.need[0] == 0 else np.array([0.0, 10.0])
    used = np.flatnonzero(flows > 0)
    en = explain_exchanges(ds, cand, flows, used, None, None)
    zh = explain_exchanges(ds, cand, flows, used, None, None, lang="zh")
    km = STEP_KM * 1.3
    assert en == [f"n2 at N2 ({km:.1f} km): worse"]
    assert zh == [f"N2 的 n2（{km:.1f} 公里）：较差"]


# ----------------------------------------------------------------------------- roads

# A(0,0) -> B(10,0) -> C(10,10) is 20 km; A -> D(0,5) -> C is 5 + sqrt(125) = 16.180 km
LINES = [[(0, 0), (10, 0), (10, 10)], [(0, 0), (0, 5), (10, 10)]]
ROAD_KM = 5 + math.sqrt(125) + 0.1  # P on A to Q 100 m beyond C
ENTERPRISES = {"P": (0.0, 0.0), "Q": (10.0, 10.1)}


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> RoadRouter:
    from geo_world import lonlat

    path = write_lines(tmp_path_factory.mktemp("roads") / "roads.gpkg", LINES,
                       name=["east-north", "north-diagonal"])
    lon, lat = np.array([lonlat(*p) for p in ENTERPRISES.values()]).T
    return RoadRouter(load_roads(path), lon, lat, list(ENTERPRISES))


def test_with_roads_the_explanation_km_is_the_road_km_of_the_arc(router: RoadRouter) -> None:
    """Q is 14.2 km from P in a straight line (18.5 km x 1.3) but 16.28 km by road: a 16 km
    reach leaves the fly ash unmatched at the road km, a 17 km reach makes that arc."""
    ds = world(ENTERPRISES, offers=[("P", "fly_ash", 10)], needs=[("Q", "fly_ash", 10)])
    geo = GeoDistances(ds, router=router)
    (explained,) = analysed(ds, MatchOptions(max_km=16.0), geo)
    assert explained is not None and explained.reasons == (UnmatchedReason.BEYOND_REACH,)
    km = explained.facts[0].params["km"]
    assert km == pytest.approx(ROAD_KM, abs=1e-5)
    arc = build_candidates(ds, 17.0, distances=GeoDistances(ds, router=router))
    assert arc.distance_km.tolist() == [km]
    assert arc.distance_labels().tolist() == ["road_network"]
    result = solve_match(ds, MatchOptions(max_km=16.0), distances=geo)
    assert why(result, result.offers["offer_id"].iloc[0])[1].endswith(f"{ROAD_KM:.1f} km")


# ----------------------------------------------------------------------------- zones

RESERVOIR = [(4, -1), (6, -1), (6, 1), (4, 1), (4, -1)]


def test_forbidden_zone(tmp_path: Path) -> None:
    """Hazardous fly ash whose only taker lies across a drinking-water reservoir."""
    zones = write_polygons(tmp_path / "zones.geojson", [RESERVOIR],
                           kind=["drinking_water_protection"], name=["Test reservoir"],
                           source=["crafted for the test"])
    ds = world({"P": (0.0, 0.0), "Q1": (10.0, 0.0)}, offers=[("P", "fly_ash", 100)],
               needs=[("Q1", "fly_ash", 100)], hazardous=("fly_ash",))
    result = solve_match(ds, distances=GeoDistances(ds, zones=load_zones(zones)))
    reason, text = why(result, result.offers["offer_id"].iloc[0])
    assert reason == "forbidden_zone"
    assert text == f"every route to {ds.needs.index[0]} at Q1 crosses a restricted zone"


def test_heat_without_a_temperature_against_a_standard_floor_is_quality_not_stated() -> None:
    """Waste heat that states no temperature, against the rule's 120 degC floor (the need
    states none of its own): the graded run builds the heat arcs once, after the plain
    arcs, and still tells the offer's owner which attribute to state."""
    ds = make({"H": 28.0, "G": 28.0005, "C": 28.001},
              [offer("hot", "H", "waste_heat", 100, **{"q.temperature_c": 160}),
               offer("blind", "G", "waste_heat", 100)],
              [need("n", "C", "process_heat", 100)])
    result = solve_match(ds)
    reason, text = why(result, "blind")
    assert reason == "quality_not_stated"
    assert "temperature_c" in text
    assert why(result, "hot")[0] != "quality_not_stated"
