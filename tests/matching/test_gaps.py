"""Gap analysis: the industry classes behind each need material, the weighted geometric median
(exact on instances solved by hand, cross-checked against scipy on random ones), and the
demo's unmatched by-products with their absorbers."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.optimize import minimize

from symbiosis.dataset import Dataset, dataset_from_records, load_dataset
from symbiosis.errors import OptionsError
from symbiosis.geo.distance import haversine_km
from symbiosis.matching.gaps import Gaps, find_gaps, load_need_sectors, weighted_geometric_median
from symbiosis.matching.model import MatchOptions, solve_match
from symbiosis.matching.result import MatchResult
from symbiosis.taxonomy import load_taxonomy

Rows = list[dict[str, Any]]


def _haul(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray,
          w: np.ndarray) -> float:
    return float((w * haversine_km(lon, lat, lons, lats)).sum())


# ----------------------------------------------------------------------------- sectors


def test_every_input_material_has_sectors_with_4_digit_codes() -> None:
    sectors = load_need_sectors()
    tax = load_taxonomy()
    inputs = {slug for slug, m in tax.materials.items() if m.kind == "input"}
    assert inputs == {"cement_admixture", "concrete_admixture", "set_retarder",
                      "raw_meal_iron", "raw_meal_sial", "raw_meal_calcareous",
                      "wallboard_gypsum", "building_plaster", "gypsum_block", "gypsum_mortar",
                      "road_base", "asphalt_aggregate", "aggregate", "brick_feedstock",
                      "aac_feedstock", "ceramsite_feedstock", "mine_backfill",
                      "subsidence_fill", "fbc_fuel", "process_heat", "process_water",
                      "boiler_feed_water"}
    # boiler make-up water has no built-in supplier (reclaimed water needs desalting first)
    inputs.discard("boiler_feed_water")
    assert all(sectors.get(m) for m in inputs)
    assert set(sectors) <= set(tax.materials)
    seen: set[tuple[str, str]] = set()
    for material, rows in sectors.items():
        for s in rows:
            assert re.fullmatch(r"\d{4}", s.code), s
            assert s.name_en and s.name_zh and s.source.startswith("GB/T 4754-2017")
            assert s.confidence in {"high", "medium", "low"}
            assert (material, s.code) not in seen
            seen.add((material, s.code))
    assert [s.code for s in sectors["cement_admixture"]] == ["3011"]
    assert sectors["wallboard_gypsum"][0].name_zh == "轻质建筑材料制造"
    assert sectors["brick_feedstock"][0].code == "3031"


# ----------------------------------------------------------------------------- the median


def test_collinear_suppliers_the_heaviest_wins() -> None:
    """On the equator (a great circle) the median is the 1-D weighted median: the middle
    point with half the weight, or an end point holding more than half."""
    lons = [110.0, 111.0, 112.0]
    assert weighted_geometric_median(lons, [0, 0, 0], [1, 2, 1]) == (111.0, 0.0)
    assert weighted_geometric_median(lons, [0, 0, 0], [1, 1, 3]) == (112.0, 0.0)
    assert weighted_geometric_median(lons, [0, 0, 0], [5, 1, 1]) == (110.0, 0.0)


def test_a_weight_over_half_pins_the_median() -> None:
    rng = np.random.default_rng(7)
    lon = rng.uniform(110, 114, 9)
    lat = rng.uniform(25, 30, 9)
    w = rng.uniform(1, 10, 9)
    w[4] = w.sum() - w[4] + 0.01  # more than all the others together
    assert weighted_geometric_median(lon, lat, w) == (lon[4], lat[4])


def test_single_and_coincident_suppliers() -> None:
    assert weighted_geometric_median([112.5], [27.5], [3.0]) == (112.5, 27.5)
    # two suppliers at one spot weigh 2 together, more than the pull (1.5) of the third
    assert weighted_geometric_median([112, 112, 113], [27, 27, 28], [1, 1, 1.5]) == (112, 27)
    assert weighted_geometric_median([112, 112], [27, 27], [1, 4]) == (112, 27)


def test_symmetric_cross_has_its_centre_as_median() -> None:
    """Four equal weights symmetric about (112, 0) under two reflections of the sphere: the
    unique minimiser is the fixed point of both."""
    lon, lat = weighted_geometric_median([111, 113, 112, 112], [0, 0, 1, -1], [1, 1, 1, 1])
    assert lon == pytest.approx(112.0, abs=1e-9)
    assert lat == pytest.approx(0.0, abs=1e-9)


def test_a_light_supplier_at_the_crossroads_is_the_median() -> None:
    """Four suppliers of 2.5 due west, east, north and south of (112, 0) at unequal
    distances pull from it with unit forces that cancel, so its own weight of 2 (the
    lightest) holds the median there; the iteration starts elsewhere and must land on it."""
    lon = [110.0, 113.0, 112.0, 112.0, 112.0]
    lat = [0.0, 0.0, 1.5, -0.7, 0.0]
    assert weighted_geometric_median(lon, lat, [2.5, 2.5, 2.5, 2.5, 2.0]) == (112.0, 0.0)


@pytest.mark.parametrize("bad", [
    ([], [], []), ([1.0], [2.0], [0.0]), ([1.0, 2.0], [2.0], [1.0, 1.0]),
    ([1.0], [2.0], [math.nan])])
def test_median_rejects_bad_input(bad: tuple[list[float], ...]) -> None:
    with pytest.raises(ValueError, match=r"weights|equally long"):
        weighted_geometric_median(*bad)


@pytest.mark.parametrize("seed", range(20))
def test_median_agrees_with_scipy(seed: int) -> None:
    """Nelder-Mead on sum w_i haversine from two starts never beats the median by more than
    1e-6 (relative), and the median is within 1e-6 of the best it finds."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 13))
    lons = rng.uniform(110.0, 114.5, n)
    lats = rng.uniform(24.7, 30.1, n)
    w = rng.lognormal(0.0, 1.0 if seed % 4 else 2.5, n)  # every fourth: one may dominate

    def objective(p: np.ndarray) -> float:
        return _haul(float(p[0]), float(p[1]), lons, lats, w)

    ours = objective(np.array(weighted_geometric_median(lons, lats, w)))
    best = math.inf
    for start in (np.array([np.average(lons, weights=w), np.average(lats, weights=w)]),
                  np.array([lons[np.argmax(w)] + 0.01, lats[np.argmax(w)] + 0.01])):
        found = minimize(objective, start, method="Nelder-Mead",
                         options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 20_000,
                                  "maxfev": 40_000})
        best = min(best, float(found.fun))
    assert ours <= best * (1 + 1e-6)
    assert ours == pytest.approx(best, rel=1e-6)


# ----------------------------------------------------------------------------- the gaps


def _meridian_dataset(**extra: Rows) -> Dataset:
    """Three FGD-gypsum suppliers on the meridian 112.9 E (a great circle) at 27.0, 27.5 and
    28.0 N offering 100, 300 and 100 t, and a cement plant far south that needs only cement
    admixture: all 500 t stay unmatched, and the middle supplier holds more than half."""
    ents = [{"id": i, "name": i, "sector": "4411", "lon": 112.9, "lat": lat}
            for i, lat in (("S1", 27.0), ("S2", 27.5), ("S3", 28.0))]
    ents.append({"id": "C1", "name": "C1", "sector": "3011", "lon": 112.9, "lat": 25.0})
    offers = [{"id": f"O{k}", "enterprise_id": f"S{k}", "material": "fgd_gypsum",
               "quantity": q, "q.caso4_2h2o_pct": p}
              for k, q, p in ((1, 100, 93), (2, 300, 95), (3, 100, ""))]
    needs = [{"id": "N1", "enterprise_id": "C1", "material": "cement_admixture",
              "quantity": 1000}]
    return dataset_from_records({"enterprises": ents, "offers": offers, "needs": needs,
                                 **extra})


def test_hand_made_gaps() -> None:
    ds = _meridian_dataset()
    gaps = find_gaps(ds, solve_match(ds), MatchOptions(circuity=1.3))
    assert [u.as_dict() for u in gaps.unmatched] == [{
        "material": "fgd_gypsum", "name_en": "Flue-gas desulphurisation gypsum",
        "name_zh": "脱硫石膏", "unit": "t", "quantity": 500.0, "offers": 3,
        "reasons": {"no_compatible_need": 3}}]
    # built-in rules: FGD gypsum serves set retarder, wallboard gypsum, building plaster,
    # gypsum blocks and plastering gypsum, all at ratio 1
    assert [(a.need_material, a.quantity, a.ratio) for a in gaps.absorbers] == [
        ("building_plaster", 500.0, 1.0), ("gypsum_block", 500.0, 1.0),
        ("gypsum_mortar", 500.0, 1.0), ("set_retarder", 500.0, 1.0),
        ("wallboard_gypsum", 500.0, 1.0)]
    board = gaps.absorbers[4]
    assert (board.lon, board.lat) == (112.9, 27.5)
    half_degree_km = float(haversine_km(112.9, 27.0, 112.9, 27.5)[()])
    assert half_degree_km == pytest.approx(6371.0088 * math.radians(0.5), rel=1e-12)
    assert board.mean_haul_km == pytest.approx(1.3 * 200 * half_degree_km / 500, rel=1e-12)
    assert board.suppliers == ("S2", "S1", "S3")
    assert (board.reach_km, board.quantity_within_reach, board.beyond_reach) == \
        (200.0, 500.0, ())
    assert [s.code for s in board.sectors] == ["3024", "3012"]
    assert board.quality_excluded == 0.0


def test_gaps_follow_the_datasets_substitutions_and_reach() -> None:
    """A dataset rule FGD gypsum -> wallboard gypsum at 0.5 is the whole rule set: one
    absorber, half the tonnes. The outer suppliers are 55.6 km from the median: within
    the 200 km reach at circuity 3 (166.8 km), beyond it at circuity 4 (222.4 km)."""
    subs = [{"need_material": "wallboard_gypsum", "offer_material": "fgd_gypsum",
             "ratio": 0.5}]
    ds = _meridian_dataset(substitutions=subs)
    result = solve_match(ds)
    near = find_gaps(ds, result, MatchOptions(circuity=3.0)).absorbers
    assert [(a.need_material, a.quantity, a.ratio) for a in near] == \
        [("wallboard_gypsum", 250.0, 0.5)]
    assert near[0].beyond_reach == ()
    far = find_gaps(ds, result, MatchOptions(circuity=4.0)).absorbers[0]
    assert far.beyond_reach == ("S1", "S3")
    assert far.quantity_within_reach == 150.0
    with pytest.raises(OptionsError, match="circuity"):
        find_gaps(ds, result, MatchOptions(circuity=0.0))


DemoGaps = tuple[Dataset, MatchResult, Gaps]


@pytest.fixture(scope="module")
def demo_gaps(demo_path: Path) -> DemoGaps:
    ds = load_dataset(demo_path)
    result = solve_match(ds)
    return ds, result, find_gaps(ds, result)


def test_the_demos_tailings_have_no_taker_in_reach(demo_gaps: DemoGaps) -> None:
    """CZ-MIN1's 1,140,000 t of tailings have no compatible need within 80 km: every use a
    rule allows is an absorber located at the mine itself."""
    _, result, gaps = demo_gaps
    tailings = next(u for u in gaps.unmatched if u.material == "tailings")
    assert (tailings.quantity, tailings.offers) == (1_140_000.0, 1)
    assert dict(tailings.reasons) == {"beyond_reach": 1}
    mine = result.offers.set_index("offer_id").loc["OF-CZ-MIN1-tailings"]
    assert mine["reason"] == "beyond_reach"
    uses = [a for a in gaps.absorbers if a.offer_material == "tailings"]
    assert sorted(a.need_material for a in uses) == [
        "aggregate", "brick_feedstock", "mine_backfill", "raw_meal_sial", "road_base"]
    for a in uses:
        assert (a.lon, a.lat) == (113.19192, 25.84198)
        assert a.mean_haul_km == 0.0
        assert a.suppliers == ("CZ-MIN1",)
        assert (a.quantity, a.quantity_within_reach, a.beyond_reach) == \
            (1_140_000.0, 1_140_000.0, ())
        assert a.sectors


def test_the_demos_waste_heat_and_its_temperature_floor(
        demo_gaps: DemoGaps) -> None:
    """Heat is judged at delivery (steam: 10 °C and 2 % per km, heat_pipes.csv). XT-STL1's
    200 °C steam reaches XT-CHM1 (d1 = 3.67 km) at 163 °C and fills its 450,000 GJ with
    450,000 / (1 - 0.02 d1) GJ sent; LD-STL1 fills LD-PAP1's 500,000 GJ with
    500,000 / (1 - 0.02 d2) sent; YY-REF1's 160 °C steam arrives at YY-CHM1 (5.07 km) at
    109 °C, below its 150 °C: all 1,200,000 GJ left for quality, as are ZZ-SMT1's 300,000 GJ
    at 95 °C (below the 120 °C floor of process heat at the source already). A new taker
    at a supplier's site (0 km) takes what is left at the rule's 0.9, except ZZ-SMT1's."""
    _, result, gaps = demo_gaps
    ex = result.exchanges.set_index("offer_id")
    d1 = float(ex.loc["OF-XT-STL1-waste_heat", "distance_km"])
    d2 = float(ex.loc["OF-LD-STL1-waste_heat", "distance_km"])
    xt_left = 700_000 - 450_000 / (1 - 0.02 * d1)
    ld_left = 900_000 - 500_000 / (1 - 0.02 * d2)
    heat = next(u for u in gaps.unmatched if u.material == "waste_heat")
    assert heat.quantity == pytest.approx(xt_left + ld_left + 300_000 + 1_200_000, rel=1e-9)
    # ZZ-SMT1's and YY-REF1's heat have a taker in reach that rejects their temperature
    assert dict(heat.reasons) == {"takers_full": 2, "quality": 2}
    absorber = next(a for a in gaps.absorbers if a.offer_material == "waste_heat")
    assert absorber.need_material == "process_heat"
    assert absorber.quantity == pytest.approx(0.9 * (xt_left + ld_left + 1_200_000),
                                              rel=1e-9)
    assert absorber.quality_excluded == pytest.approx(270_000, rel=1e-12)
    assert "ZZ-SMT1" not in absorber.suppliers
    assert absorber.unit == "GJ" and absorber.reach_km == 10.0
    # three sites 100+ km apart, none within the 10 km a heat pipe is worth of another: the
    # taker sits at the largest (YY-REF1, 1,200,000 GJ x 0.9) and serves it alone
    assert absorber.quantity_within_reach == pytest.approx(0.9 * 1_200_000, rel=1e-9)
    assert absorber.beyond_reach == ("LD-STL1", "XT-STL1")
    site = demo_gaps[0].enterprises.loc["YY-REF1"]
    assert (absorber.lon, absorber.lat) == (float(site["lon"]), float(site["lat"]))
    assert absorber.mean_haul_km == 0.0


def _left(result: MatchResult, a: Any) -> dict[str, float]:
    """Unmatched offer units of the absorber's material per supplier enterprise."""
    offers = result.offers[result.offers["material"] == a.offer_material]
    return offers.groupby("enterprise_id")["unmatched"].sum().to_dict()


def test_demo_gaps_invariants_and_json(demo_gaps: DemoGaps) -> None:
    ds, result, gaps = demo_gaps
    per_material = result.summary.to_dict()["materials"]
    for u in gaps.unmatched:
        assert u.quantity == pytest.approx(per_material[u.material]["unmatched"], rel=1e-9)
    assert [a.quantity for a in gaps.absorbers] == \
        sorted((a.quantity for a in gaps.absorbers), reverse=True)
    for a in gaps.absorbers:
        rule = ds.taxonomy.rule(a.need_material, a.offer_material)
        assert rule is not None and rule.ratio == a.ratio
        assert 0.0 <= a.quantity_within_reach <= a.quantity
        # the location serves the suppliers within reach of it, and among them hauls no
        # more than siting the taker at any one of them would
        served = [e for e in a.suppliers if e not in a.beyond_reach]
        assert served and a.quantity_within_reach == pytest.approx(
            sum(w_e for e, w_e in _left(result, a).items() if e in served) * a.ratio,
            rel=1e-9)
        ents = ds.enterprises.loc[served]
        lons, lats = ents["lon"].to_numpy(float), ents["lat"].to_numpy(float)
        w = np.array([_left(result, a)[e] for e in served]) * a.ratio
        hauls = 1.3 * haversine_km(a.lon, a.lat, lons, lats)
        if a.reach_km is not None:
            assert (hauls <= a.reach_km * (1 + 1e-12)).all()
        at_median = _haul(a.lon, a.lat, lons, lats, w)
        assert a.mean_haul_km == pytest.approx(1.3 * at_median / w.sum(), rel=1e-9,
                                               abs=1e-9)
        for x, y in zip(lons, lats, strict=True):
            assert at_median <= _haul(x, y, lons, lats, w) * (1 + 1e-12)
    body = gaps.as_dict()
    assert json.loads(json.dumps(body, allow_nan=False)) == body
    assert list(body) == ["circuity", "unmatched", "absorbers", "integer"]
    assert body["integer"] is None  # no integer logistics in the demo
    assert list(body["absorbers"][0]) == [
        "offer_material", "need_material", "name_en", "name_zh", "unit", "ratio", "sectors",
        "quantity", "location", "mean_haul_km", "within_reach", "suppliers",
        "quality_excluded", "quality_not_stated", "quality_unverified", "integer_excluded"]


def test_gaps_honour_the_unstated_quality_rule() -> None:
    """Two fly ash suppliers with no taker: S1 (100 t) states LOI 4 % and SO3 1 %, S2 (50 t)
    states nothing. The cement-admixture absorber (LOI and SO3 limited, GB/T 1596-2017)
    takes S1 only by default, 50 t `quality_not_stated` (loi_pct, so3_pct); with unstated
    quality accepted it takes both, 50 t flagged `quality_unverified`. Road base (no limits)
    takes both either way."""
    ents = [{"id": i, "name": i, "lon": 112.9, "lat": lat}
            for i, lat in (("S1", 27.0), ("S2", 27.1), ("K", 20.0))]
    ds = dataset_from_records({
        "enterprises": ents,
        "offers": [{"id": "O1", "enterprise_id": "S1", "material": "fly_ash", "quantity": 100,
                    "q.loi_pct": 4, "q.so3_pct": 1},
                   {"id": "O2", "enterprise_id": "S2", "material": "fly_ash",
                    "quantity": 50}],
        "needs": [{"id": "N", "enterprise_id": "K", "material": "process_water",
                   "quantity": 1}]})
    by_need = {a.need_material: a for a in find_gaps(ds, solve_match(ds)).absorbers}
    cement = by_need["cement_admixture"]
    assert (cement.quantity, cement.suppliers) == (100.0, ("S1",))
    assert cement.quality_not_stated == 50.0
    assert cement.attributes_not_stated == ("loi_pct", "so3_pct")
    assert cement.quality_unverified == 0.0
    assert cement.as_dict()["quality_not_stated"] == {"quantity": 50.0,
                                                      "attributes": ["loi_pct", "so3_pct"]}
    assert by_need["road_base"].quantity == 150.0
    accept = MatchOptions(accept_unstated_quality=True)
    by_need = {a.need_material: a for a in find_gaps(ds, solve_match(ds, accept),
                                                     accept).absorbers}
    cement = by_need["cement_admixture"]
    assert (cement.quantity, cement.suppliers) == (150.0, ("S1", "S2"))
    assert (cement.quality_not_stated, cement.quality_unverified) == (0.0, 50.0)
