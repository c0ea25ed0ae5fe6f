"""The matching model end to end on datasets: exact optima of hand-solved instances,
reach/table/quality semantics, and invariants plus solver agreement on random instances."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.sparse import coo_matrix
from trnsport import CITIES, DEMAND, SUPPLY, THOUSAND_MILES

from symbiosis import Dataset, dataset_from_records, load_taxonomy
from symbiosis.matching import MatchOptions, build_candidates, solve_match

Rows = list[dict[str, Any]]


def make(enterprises: Rows, offers: Rows, needs: Rows, distances: Rows | None = None,
         substitutions: Rows | None = None) -> Dataset:
    """A validated dataset from rows (the same validation as files)."""
    records: dict[str, Rows] = {"enterprises": enterprises, "offers": offers, "needs": needs}
    if distances is not None:
        records["distances"] = distances
    if substitutions is not None:
        records["substitutions"] = substitutions
    return dataset_from_records(records)


def ent(*ids: str, lon: float = 112.9, lat: float = 27.8) -> Rows:
    """Enterprises at one spot: distances then come only from the distances table."""
    return [{"id": i, "name": i, "lon": lon, "lat": lat} for i in ids]


def flows(ds: Dataset, **options: Any) -> dict[tuple[str, str], float]:
    result = solve_match(ds, MatchOptions(**options))
    ex = result.exchanges
    return {(o, n): q for o, n, q in zip(ex["offer_id"], ex["need_id"], ex["quantity"],
                                         strict=True)}


def test_offer_split_between_two_needs_hand_solved() -> None:
    """100 t of fly ash, needs of 60 t at 10 km and 60 t at 20 km: all 100 t go, the near
    need is filled first: 60 x 10 + 40 x 20 = 1,400 t-km."""
    ds = make(ent("A", "B", "C"),
              [{"id": "o", "enterprise_id": "A", "material": "fly_ash", "quantity": 100}],
              [{"id": "nb", "enterprise_id": "B", "material": "fly_ash", "quantity": 60},
               {"id": "nc", "enterprise_id": "C", "material": "fly_ash", "quantity": 60}],
              [{"from_id": "A", "to_id": "B", "distance_km": 10},
               {"from_id": "A", "to_id": "C", "distance_km": 20}])
    result = solve_match(ds)
    s = result.summary.to_dict()
    assert flows(ds) == {("o", "nb"): 60.0, ("o", "nc"): 40.0}
    assert s["tonnes_offered"] == 100.0
    assert s["tonnes_matched"] == 100.0
    assert s["utilization_rate"] == 1.0
    assert s["tonne_km"] == pytest.approx(1400.0, rel=1e-12)
    assert s["average_haul_km"] == pytest.approx(14.0)
    assert s["solver"]["status"] == "optimal" and s["solver"]["gap"] == 0.0
    assert list(result.exchanges["distance_source"]) == ["distances.csv"] * 2


def test_maximum_delivery_beats_nearest_neighbour() -> None:
    """Greedy nearest-first would send A's ash to C and strand D. The optimum delivers all
    100 t: A->D (30 km) and B->C (10 km) = 50*30 + 50*10 = 2,000 t-km."""
    ds = make(ent("A", "B", "C", "D"),
              [{"id": "oa", "enterprise_id": "A", "material": "fly_ash", "quantity": 50},
               {"id": "ob", "enterprise_id": "B", "material": "fly_ash", "quantity": 50}],
              [{"id": "nc", "enterprise_id": "C", "material": "fly_ash", "quantity": 50},
               {"id": "nd", "enterprise_id": "D", "material": "fly_ash", "quantity": 50}],
              [{"from_id": "A", "to_id": "C", "distance_km": 5},
               {"from_id": "B", "to_id": "C", "distance_km": 10},
               {"from_id": "A", "to_id": "D", "distance_km": 30},
               {"from_id": "B", "to_id": "D", "distance_km": 400}])
    assert flows(ds) == {("oa", "nd"): 50.0, ("ob", "nc"): 50.0}
    assert solve_match(ds).summary.tonne_km == pytest.approx(2000.0)


def test_cross_material_rule_and_reach() -> None:
    """Fly ash serves a cement-admixture need through the built-in rule; a listed road
    distance beyond fly ash's reach removes the arc, and --max-km brings it back."""
    reach = load_taxonomy().material("fly_ash").default_reach_km
    assert reach is not None
    ds = make(ent("A", "B"),
              [{"id": "o", "enterprise_id": "A", "material": "fly_ash", "quantity": 10,
                "q.loi_pct": 3, "q.so3_pct": 1}],
              [{"id": "n", "enterprise_id": "B", "material": "cement_admixture",
                "quantity": 10}],
              [{"from_id": "B", "to_id": "A", "distance_km": reach + 1}])  # reverse listed
    assert flows(ds) == {}
    assert flows(ds, max_km=reach + 1) == {("o", "n"): 10.0}
    ex = solve_match(ds, MatchOptions(max_km=reach + 1)).exchanges
    assert ex.loc[0, "rule"] == "fly_ash->cement_admixture"
    assert ex.loc[0, "distance_km"] == reach + 1


def test_great_circle_times_circuity_and_reach_boundary() -> None:
    """Unlisted pairs use haversine x circuity; an arc exists iff that is <= reach."""
    # one degree of latitude = 111.19508 km; x 1.3 = 144.55 km
    ds = make([{"id": "A", "name": "A", "lon": 112.0, "lat": 27.0},
               {"id": "B", "name": "B", "lon": 112.0, "lat": 28.0}],
              [{"id": "o", "enterprise_id": "A", "material": "fly_ash", "quantity": 1}],
              [{"id": "n", "enterprise_id": "B", "material": "fly_ash", "quantity": 1}])
    ex = solve_match(ds).exchanges
    assert ex.loc[0, "distance_km"] == pytest.approx(111.19508 * 1.3, rel=1e-6)
    assert flows(ds, max_km=144.5) == {}
    assert flows(ds, max_km=144.6) == {("o", "n"): 1.0}
    assert flows(ds, circuity=1.0, max_km=111.2) == {("o", "n"): 1.0}


def test_never_ships_to_itself() -> None:
    ds = make(ent("A", "B"),
              [{"id": "o", "enterprise_id": "A", "material": "fly_ash", "quantity": 10}],
              [{"id": "self", "enterprise_id": "A", "material": "fly_ash", "quantity": 10},
               {"id": "other", "enterprise_id": "B", "material": "fly_ash", "quantity": 4}],
              [{"from_id": "A", "to_id": "B", "distance_km": 50}])
    assert flows(ds) == {("o", "other"): 4.0}


def test_quality_limits_of_rule_and_need() -> None:
    """The built-in LOI limit keeps a high-LOI ash out of cement admixture; an offer that
    does not state a limited attribute is kept out too, unless unstated quality is accepted
    (then the arc is flagged), and never reaches a need that asks for LOI itself."""
    limit = next(lim for lim in load_taxonomy().rule("cement_admixture", "fly_ash").limits
                 if lim.attribute == "loi_pct")
    assert limit.bound == "max"
    ds = make(ent("A", "B", "C", "D"),
              [{"id": "high", "enterprise_id": "A", "material": "fly_ash", "quantity": 10,
                "q.loi_pct": limit.value + 1.5, "q.so3_pct": 1},
               {"id": "ok", "enterprise_id": "B", "material": "fly_ash", "quantity": 10,
                "q.loi_pct": limit.value - 1, "q.so3_pct": 1},
               {"id": "unstated", "enterprise_id": "C", "material": "fly_ash",
                "quantity": 10}],
              [{"id": "cem", "enterprise_id": "D", "material": "cement_admixture",
                "quantity": 100},
               {"id": "picky", "enterprise_id": "D", "material": "fly_ash", "quantity": 100,
                "max.loi_pct": limit.value + 2}],
              [{"from_id": x, "to_id": "D", "distance_km": 10} for x in "ABC"])
    result = solve_match(ds)
    got = {(o, n) for o, n in zip(result.exchanges["offer_id"], result.exchanges["need_id"],
                                  strict=True)}

    def arcs_of(cand: Any) -> set[tuple[str, str]]:
        return {(ds.offers.index[o], ds.needs.index[n]) for o, n in zip(cand.offer, cand.need,
                                                                        strict=True)}

    arcs = arcs_of(build_candidates(ds))
    assert ("high", "cem") not in arcs and ("high", "picky") in arcs
    assert ("ok", "cem") in arcs and ("unstated", "cem") not in arcs
    assert ("unstated", "picky") not in arcs
    assert got <= arcs
    unstated = result.offers.set_index("offer_id").loc["unstated"]
    assert unstated["reason"] == "quality_not_stated"
    assert unstated["quality_not_stated"] == "loi_pct, so3_pct"
    accepted = build_candidates(ds, accept_unstated_quality=True)
    assert arcs_of(accepted) == arcs | {("unstated", "cem")}
    flagged = {(ds.offers.index[o], ds.needs.index[n]) for o, n, f in
               zip(accepted.offer, accepted.need, accepted.quality_unverified, strict=True) if f}
    assert flagged == {("unstated", "cem")}


def test_uniform_ratio_is_solved_as_a_network() -> None:
    """Waste heat serves process heat at the rule's ratio r: a 45 GJ need takes 45 / r GJ
    of the offer; min-cost flow handles it (one ratio per need)."""
    ratio = load_taxonomy().rule("process_heat", "waste_heat").ratio
    ds = make(ent("A", "B"),
              [{"id": "o", "enterprise_id": "A", "material": "waste_heat", "quantity": 100,
                "q.temperature_c": 200}],
              [{"id": "n", "enterprise_id": "B", "material": "process_heat", "quantity": 45}],
              [{"from_id": "A", "to_id": "B", "distance_km": 2}])
    # the rule's flat ratio: heat checked at the source (the default judges it at delivery,
    # ratio 1 - loss x km, tests/matching/test_heat.py)
    result = solve_match(ds, MatchOptions(heat_at_source=True))
    ex = result.exchanges.iloc[0]
    assert ex["quantity"] == pytest.approx(45 / ratio, rel=1e-9)
    assert ex["need_quantity"] == pytest.approx(45, rel=1e-9)
    assert result.solver.methods == ("min_cost_flow",)
    fam = result.summary.to_dict()["families"]["energy"]
    assert fam["matched"] == pytest.approx(45 / ratio) and result.summary.tonnes_offered == 0


def test_mixed_ratios_go_to_the_lp_hand_solved() -> None:
    """A need served at two ratios is a generalised flow. Need 90 GJ; waste heat 100 GJ at
    ratio 0.9 (5 km), 'steam' 50 GJ at ratio 1 (1 km). Offer units delivered are maximal
    (100) when all waste heat goes (100 x 0.9 = 90 fills the need): 100 x 5 = 500 GJ-km."""
    ds = make(ent("A", "S", "B"),
              [{"id": "w", "enterprise_id": "A", "material": "waste_heat", "quantity": 100,
                "q.temperature_c": 200},
               {"id": "s", "enterprise_id": "S", "material": "steam", "quantity": 50}],
              [{"id": "n", "enterprise_id": "B", "material": "process_heat", "quantity": 90}],
              [{"from_id": "A", "to_id": "B", "distance_km": 5},
               {"from_id": "S", "to_id": "B", "distance_km": 1}],
              [{"need_material": "process_heat", "offer_material": "waste_heat",
                "ratio": 0.9},
               {"need_material": "process_heat", "offer_material": "steam", "ratio": 1}])
    assert ds.taxonomy.material("steam").unit == "GJ"  # inherited through the rule
    result = solve_match(ds)
    assert result.solver.methods == ("lp_highs",)
    got = flows(ds)
    assert got[("w", "n")] == pytest.approx(100, rel=1e-7)
    assert got.get(("s", "n"), 0.0) == pytest.approx(0, abs=1e-5)
    assert result.summary.to_dict()["families"]["energy"]["unit_km"] == pytest.approx(500, rel=1e-6)


def test_families_do_not_mix() -> None:
    """Water and heat never count toward tonnes; the mass rate is mass over mass."""
    ds = make(ent("A", "B"),
              [{"id": "w", "enterprise_id": "A", "material": "reclaimed_water",
                "quantity": 1000, "q.cod_mg_l": 30, "q.nh3n_mg_l": 5},
               {"id": "f", "enterprise_id": "A", "material": "fly_ash", "quantity": 10}],
              [{"id": "pw", "enterprise_id": "B", "material": "process_water",
                "quantity": 400},
               {"id": "fa", "enterprise_id": "B", "material": "fly_ash", "quantity": 5}],
              [{"from_id": "A", "to_id": "B", "distance_km": 3}])
    k = solve_match(ds).summary.to_dict()
    assert (k["tonnes_offered"], k["tonnes_matched"], k["utilization_rate"]) == (10, 5, 0.5)
    assert k["tonne_km"] == pytest.approx(15)
    assert k["families"]["water"]["matched"] == 400
    assert k["families"]["water"]["utilization_rate"] == 0.4


def test_no_candidates_gives_an_empty_optimal_result() -> None:
    ds = make(ent("A", "B"),
              [{"id": "o", "enterprise_id": "A", "material": "tailings", "quantity": 10}],
              [{"id": "n", "enterprise_id": "B", "material": "set_retarder", "quantity": 5}])
    result = solve_match(ds)
    assert result.exchanges.empty and result.status == "optimal"
    assert result.summary.utilization_rate == 0.0
    assert result.offers.loc[0, "reason"] == "no_compatible_need"


# ---------------------------------------------------------------- random instances

OFFER_MATERIALS = ["fly_ash", "bf_slag", "steel_slag", "fgd_gypsum", "waste_heat",
                   "reclaimed_water", "coal_gangue"]
NEED_MATERIALS = ["cement_admixture", "road_base", "set_retarder", "process_heat",
                  "process_water", "fly_ash", "aggregate"]


def random_dataset(seed: int, n_ent: int = 40) -> Dataset:
    """Enterprises in a ~100 km box (heat and water only reach close partners), random
    offers and needs, and a road-distance table for some pairs."""
    rng = np.random.default_rng(seed)
    ids = [f"E{i}" for i in range(n_ent)]
    lon = rng.uniform(112.5, 113.5, n_ent)
    lat = rng.uniform(27.5, 28.3, n_ent)
    enterprises = [{"id": i, "name": i, "lon": x, "lat": y}
                   for i, x, y in zip(ids, lon, lat, strict=True)]
    offers = [{"id": f"o{k}", "enterprise_id": ids[rng.integers(n_ent)],
               "material": OFFER_MATERIALS[rng.integers(len(OFFER_MATERIALS))],
               "quantity": float(rng.integers(1, 500)) / 4}
              for k in range(int(rng.integers(10, 40)))]
    needs = [{"id": f"n{k}", "enterprise_id": ids[rng.integers(n_ent)],
              "material": NEED_MATERIALS[rng.integers(len(NEED_MATERIALS))],
              "quantity": float(rng.integers(1, 500)) / 4}
             for k in range(int(rng.integers(10, 40)))]
    pairs = {(int(a), int(b)) for a, b in rng.integers(0, n_ent, (15, 2)) if a != b}
    distances = [{"from_id": ids[a], "to_id": ids[b],
                  "distance_km": round(float(rng.uniform(0.5, 200)), 2)} for a, b in pairs]
    return make(enterprises, offers, needs, distances)


def highs_two_stage(ds: Dataset, max_km: float | None) -> tuple[float, float]:
    """An independent solve of the same model with HiGHS (scipy): stage values."""
    cand = build_candidates(ds, max_km)
    n_a, n_o, n_n = len(cand), len(ds.offers), len(ds.needs)
    if n_a == 0:
        return 0.0, 0.0
    rows = np.concatenate([cand.offer, n_o + cand.need])
    cols = np.concatenate([np.arange(n_a), np.arange(n_a)])
    vals = np.concatenate([np.ones(n_a), cand.ratio])
    a_ub = coo_matrix((vals, (rows, cols)), shape=(n_o + n_n, n_a)).tocsr()
    b_ub = np.concatenate([ds.offers["quantity"].to_numpy(float),
                           ds.needs["quantity"].to_numpy(float)])
    first = linprog(-np.ones(n_a), A_ub=a_ub, b_ub=b_ub, method="highs")
    z1 = -first.fun
    a2 = coo_matrix(np.vstack([a_ub.toarray(), -np.ones((1, n_a))]))
    second = linprog(cand.distance_km, A_ub=a2, b_ub=np.append(b_ub, -z1 * (1 - 1e-10)),
                     method="highs")
    return z1, float(second.fun)


@pytest.mark.parametrize("seed", range(15))
def test_random_instances_invariants_and_solver_agreement(seed: int) -> None:
    """No offer or need exceeded, reach respected, no self-shipment, only candidate arcs;
    min-cost flow, the GLOP LP and HiGHS agree on both lexicographic stages."""
    ds = random_dataset(seed)
    tax = ds.taxonomy
    max_km = None if seed % 3 else 60.0
    auto = solve_match(ds, MatchOptions(max_km=max_km))
    ex = auto.exchanges
    offered = ds.offers["quantity"]
    needed = ds.needs["quantity"]
    sent = ex.groupby("offer_id")["quantity"].sum()
    got = ex.groupby("need_id")["need_quantity"].sum()
    assert np.all(sent <= offered.reindex(sent.index) * (1 + 1e-9))
    assert np.all(got <= needed.reindex(got.index) * (1 + 1e-9))
    assert not (ex["offer_enterprise_id"] == ex["need_enterprise_id"]).any()
    for row in ex.itertuples():
        reach = max_km if max_km is not None else tax.material(row.offer_material) \
            .default_reach_km
        assert row.distance_km <= reach + 1e-9
        assert tax.rule(row.need_material, row.offer_material) is not None
        assert row.quantity > 0
    # mass balance of the report: matched + unmatched = offered, per offer
    np.testing.assert_allclose(auto.offers["matched"] + auto.offers["unmatched"],
                               auto.offers["offered"], rtol=1e-9, atol=1e-9)

    lp = solve_match(ds, MatchOptions(max_km=max_km, method="lp"))
    delivered = auto.solver.delivered
    assert lp.solver.delivered == pytest.approx(delivered, rel=1e-8, abs=1e-8)
    assert lp.solver.objective == pytest.approx(auto.solver.objective, rel=1e-6, abs=1e-6)
    z1, z2 = highs_two_stage(ds, max_km)
    assert z1 == pytest.approx(delivered, rel=1e-8, abs=1e-8)
    assert z2 == pytest.approx(auto.solver.objective, rel=1e-6, abs=1e-6)


def two_region_dataset() -> Dataset:
    """Two copies of a random park 1,000 km apart: two independent halves."""
    rng = np.random.default_rng(7)
    enterprises, offers, needs = [], [], []
    for region, (lon0, lat0) in enumerate([(112.0, 27.0), (121.0, 31.0)]):
        for i in range(30):
            eid = f"R{region}E{i}"
            enterprises.append({"id": eid, "name": eid, "lon": lon0 + rng.uniform(0, 0.5),
                                "lat": lat0 + rng.uniform(0, 0.5)})
            offers.append({"enterprise_id": eid, "material": "fly_ash",
                           "quantity": float(rng.integers(1, 100)), "q.loi_pct": 3,
                           "q.so3_pct": 1})
            needs.append({"enterprise_id": eid, "material": "cement_admixture",
                          "quantity": float(rng.integers(1, 100))})
    return make(enterprises, offers, needs)


def test_independent_components_solved_in_workers_match_one_solve(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Splitting into components solved by worker processes gives the same optimum."""
    import symbiosis.matching.model as model

    ds = two_region_dataset()
    one = solve_match(ds, MatchOptions(jobs=1))
    monkeypatch.setattr(model, "PARALLEL_MIN_ARCS", 1)
    split = solve_match(ds, MatchOptions(jobs=2))
    assert split.solver.components == 2 and one.solver.components == 1
    assert split.solver.delivered == one.solver.delivered
    assert split.solver.objective == pytest.approx(one.solver.objective, rel=1e-9)


def test_dantzig_transport_problem_through_a_distance_table() -> None:
    """Dantzig (1963) / GAMS TRNSPORT: plants Seattle 350, San Diego 600; markets New York
    325, Chicago 300, Topeka 275; distances in thousand miles. All 900 cases are delivered
    and the minimum sum(q x d) is 1,707.5, i.e. the published 153.675 thousand USD at
    90 USD per case per thousand miles. Real coordinates are thousands of km apart, so only
    the distance table can make these arcs."""
    ds = make([{"id": c, "name": c, "lon": x, "lat": y} for c, (x, y) in CITIES.items()],
              [{"id": c, "enterprise_id": c, "material": "fly_ash", "quantity": q}
               for c, q in SUPPLY.items()],
              [{"id": c, "enterprise_id": c, "material": "fly_ash", "quantity": q}
               for c, q in DEMAND.items()],
              [{"from_id": a, "to_id": b, "distance_km": d}
               for (a, b), d in THOUSAND_MILES.items()])
    result = solve_match(ds)
    assert result.summary.tonnes_matched == 900
    assert result.summary.tonne_km * 90 / 1000 == pytest.approx(153.675, rel=1e-12)
    assert flows(ds) == {("seattle", "chicago"): 300, ("seattle", "new-york"): 50,
                         ("san-diego", "new-york"): 275, ("san-diego", "topeka"): 275}


def test_lp_parts_beside_the_network_give_the_same_plan(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A need served at two ratios (an LP part) beside a fly-ash network part: solving the
    LP on a thread beside the min-cost flow (two cores) gives the plan of solving them one
    after the other (one core), and both parts are solved."""
    from symbiosis.matching import model

    ds = make(ent("A", "S", "B", "F", "C"),
              [{"id": "w", "enterprise_id": "A", "material": "waste_heat", "quantity": 100,
                "q.temperature_c": 200},
               {"id": "s", "enterprise_id": "S", "material": "steam", "quantity": 50},
               {"id": "f", "enterprise_id": "F", "material": "fly_ash", "quantity": 80}],
              [{"id": "n", "enterprise_id": "B", "material": "process_heat", "quantity": 90},
               {"id": "c", "enterprise_id": "C", "material": "fly_ash", "quantity": 60}],
              [{"from_id": "A", "to_id": "B", "distance_km": 5},
               {"from_id": "S", "to_id": "B", "distance_km": 1},
               {"from_id": "F", "to_id": "C", "distance_km": 7}],
              [{"need_material": "process_heat", "offer_material": "waste_heat",
                "ratio": 0.9},
               {"need_material": "process_heat", "offer_material": "steam", "ratio": 1}])
    monkeypatch.setattr(model, "usable_cores", lambda: 1)
    alone = solve_match(ds)
    monkeypatch.setattr(model, "usable_cores", lambda: 2)
    beside = solve_match(ds)
    assert set(beside.solver.methods) == {"min_cost_flow", "lp_highs"}
    assert beside.exchanges.equals(alone.exchanges)
    assert flows(ds)[("f", "c")] == 60.0
    assert flows(ds)[("w", "n")] == pytest.approx(100, rel=1e-7)
    assert beside.summary.solver.objective == alone.summary.solver.objective
