"""Money, carbon and the value objectives: hand-solved instances, Dantzig's TRNSPORT through
the cost objective, the core property of the derived prices on random instances, and the
agreement of weighted objectives with the single ones they reduce to."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trnsport import CITIES, DEMAND, SUPPLY, THOUSAND_MILES

from symbiosis.dataset import Dataset, dataset_from_records
from symbiosis.errors import InvalidDataError, OptionsError, SolverError
from symbiosis.matching.candidates import build_candidates
from symbiosis.matching.economics import arc_values
from symbiosis.matching.model import MatchOptions, parse_weights, solve_match

Rows = list[dict[str, Any]]


def make(enterprises: Rows, offers: Rows, needs: Rows, distances: Rows | None = None,
         **extra: Rows) -> Dataset:
    records: dict[str, Rows] = {"enterprises": enterprises, "offers": offers, "needs": needs,
                                **extra}
    if distances is not None:
        records["distances"] = distances
    return dataset_from_records(records)


def ent(*ids: str) -> Rows:
    """Enterprises at one spot: distances come only from the distances table."""
    return [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in ids]


def plan(result: Any) -> dict[tuple[str, str], float]:
    ex = result.exchanges
    return {(o, n): round(q, 6) for o, n, q in zip(ex["offer_id"], ex["need_id"],
                                                   ex["quantity"], strict=True)}


def two_receivers(**transport: Any) -> Dataset:
    """S1 offers 100 t fly ash (disposal 20, treatment 5 CNY/t); R1 needs 60 t cement
    admixture (virgin 50 CNY/t) at 10 km, R2 100 t (virgin 40) at 30 km; road freight 0.5
    CNY/t-km, loading 2 CNY/t, freight CO2 0.1 kg/t-km.
    Savings per t: S1->R1 = 20 + 50 - (5 + 2) - 5 = 58; S1->R2 = 20 + 40 - (15 + 2) - 5 = 38.
    """
    row = {"material": "", "cny_per_unit_km": 0.5, "loading_cny_per_unit": 2,
           "kg_co2e_per_unit_km": 0.1, **transport}
    return make(ent("S1", "R1", "R2"),
                [{"id": "s1", "enterprise_id": "S1", "material": "fly_ash", "quantity": 100,
                  "q.loi_pct": 3, "q.so3_pct": 1, "disposal_cost": 20, "treatment_cost": 5}],
                [{"id": "r1", "enterprise_id": "R1", "material": "cement_admixture",
                  "quantity": 60, "virgin_cost": 50},
                 {"id": "r2", "enterprise_id": "R2", "material": "cement_admixture",
                  "quantity": 100, "virgin_cost": 40}],
                [{"from_id": "S1", "to_id": "R1", "distance_km": 10},
                 {"from_id": "S1", "to_id": "R2", "distance_km": 30}],
                transport=[row])


def test_arc_values_hand_computed() -> None:
    ds = two_receivers()
    cand = build_candidates(ds)
    values = arc_values(ds, cand)
    by_need = {ds.needs.index[n]: i for i, n in enumerate(cand.need)}
    i1, i2 = by_need["r1"], by_need["r2"]
    assert values.saving[i1] == pytest.approx(58.0)
    assert values.saving[i2] == pytest.approx(38.0)
    assert values.transport[i2] == pytest.approx(17.0)
    # a cement admixture need replaces limestone by default (4.8 kg CO2e/t, not clinker:
    # need_replaces.csv), minus 0.1 kg/t-km haulage
    assert values.co2_net_kg[i1] == pytest.approx(3.8)
    assert values.co2_net_kg[i2] == pytest.approx(1.8)


def test_cost_objective_plan_prices_and_gains_hand_solved() -> None:
    """All 100 t go: 60 to R1, 40 to R2; saving 60 x 58 + 40 x 38 = 5,000 CNY.

    The core is a single point: R2 is not full so it keeps nothing (y2 = 0), the supplier
    keeps u = 38 per t (tight on S1->R2), R1 keeps 58 - 38 = 20 per t. Delivered prices:
    38 = 20 - 5 - 7 + p1 -> p1 = 30 on S1->R1, and 38 = 20 - 5 - 17 + p2 -> p2 = 40.
    Marginal values: a tonne more at R1 is worth 20 (it displaces a tonne to R2), at R2 0;
    a tonne more offered by S1 is worth 38.
    """
    result = solve_match(two_receivers(), MatchOptions(objective="cost"))
    assert plan(result) == {("s1", "r1"): 60.0, ("s1", "r2"): 40.0}
    econ = result.summary.to_dict()["economics"]
    assert econ["saving_cny"] == pytest.approx(5000.0)
    assert econ["avoided_disposal_cny"] == pytest.approx(2000.0)
    assert econ["avoided_virgin_cny"] == pytest.approx(60 * 50 + 40 * 40)
    assert econ["transport_cny"] == pytest.approx(60 * 7 + 40 * 17)
    assert econ["treatment_cny"] == pytest.approx(500.0)
    assert econ["prices"]["method"] == "core_midpoint"
    assert result.solver.objective == pytest.approx(5000.0)
    ex = result.exchanges.set_index("need_id")
    assert ex.loc["r1", "price_cny_per_unit"] == pytest.approx(30.0)
    assert ex.loc["r2", "price_cny_per_unit"] == pytest.approx(40.0)
    assert ex.loc["r1", "price_low_cny_per_unit"] == pytest.approx(30.0)
    assert ex.loc["r1", "price_high_cny_per_unit"] == pytest.approx(30.0)
    # even split of 58: each keeps 29, so p = 29 - (20 - 5 - 7) = 21
    assert ex.loc["r1", "even_split_price_cny_per_unit"] == pytest.approx(21.0)
    gains = result.enterprises.set_index("enterprise_id")["gain_cny"]
    assert gains.to_dict() == pytest.approx({"S1": 3800.0, "R1": 1200.0, "R2": 0.0})
    needs = result.needs.set_index("need_id")["marginal_value"]
    assert needs.to_dict() == pytest.approx({"r1": 20.0, "r2": 0.0})
    offers = result.offers.set_index("offer_id")["marginal_value"]
    assert offers["s1"] == pytest.approx(38.0)


def test_core_range_when_both_sides_are_full() -> None:
    """One supplier and one receiver that exactly fill each other: any split of the 58 CNY/t
    is in the core. The supplier nets 20 - 5 - 7 = 8 per t before any price, so the range
    runs from the receiver-optimal p = -8 (a gate fee: the supplier keeps 0) to the
    supplier-optimal p = 50 (it keeps all 58); the midpoint is 21."""
    ds = make(ent("S1", "R1"),
              [{"id": "s1", "enterprise_id": "S1", "material": "fly_ash", "quantity": 60,
                "q.loi_pct": 3, "q.so3_pct": 1, "disposal_cost": 20, "treatment_cost": 5}],
              [{"id": "r1", "enterprise_id": "R1", "material": "cement_admixture",
                "quantity": 60, "virgin_cost": 50}],
              [{"from_id": "S1", "to_id": "R1", "distance_km": 10}],
              transport=[{"material": "", "cny_per_unit_km": 0.5,
                          "loading_cny_per_unit": 2}])
    ex = solve_match(ds, MatchOptions(objective="cost")).exchanges.iloc[0]
    assert ex["price_low_cny_per_unit"] == pytest.approx(-8.0)
    assert ex["price_high_cny_per_unit"] == pytest.approx(50.0)
    assert ex["price_cny_per_unit"] == pytest.approx(21.0)
    assert ex["supplier_gain_cny"] + ex["receiver_gain_cny"] == pytest.approx(60 * 58)


def test_cost_objective_never_forces_a_losing_exchange() -> None:
    """A steel-slag offer with no disposal cost, 40 km from a road-base need paying 10 CNY/t:
    saving 10 - (20 + 2) = -12 CNY/t. Utilization ships it; cost leaves it and says why."""
    ds = make(ent("S", "R"),
              [{"id": "o", "enterprise_id": "S", "material": "steel_slag", "quantity": 50,
                "q.f_cao_pct": 2, "q.immersion_expansion_pct": 1}],
              [{"id": "n", "enterprise_id": "R", "material": "road_base", "quantity": 50,
                "virgin_cost": 10}],
              [{"from_id": "S", "to_id": "R", "distance_km": 40}],
              transport=[{"material": "", "cny_per_unit_km": 0.5,
                          "loading_cny_per_unit": 2}])
    assert plan(solve_match(ds)) == {("o", "n"): 50.0}
    result = solve_match(ds, MatchOptions(objective="cost"))
    assert plan(result) == {}
    assert result.summary.to_dict()["economics"]["saving_cny"] == 0.0
    why = result.offers.set_index("offer_id").loc["o", "explanation"]
    assert "would not pay" in why and "-12.00 CNY/t" in why


def test_co2_and_cost_objectives_choose_differently() -> None:
    """Fly ash can go to cement raising its admixture share (replaces clinker: 850 kg
    CO2e/t displaced, virgin 30 CNY/t) or raw meal
    (4.8 kg/t, virgin 90 CNY/t), 40 t each, 40 t offered, both at 10 km: cost sends it to raw
    meal, CO2 to cement."""
    ds = make(ent("S", "C", "M"),
              [{"id": "o", "enterprise_id": "S", "material": "fly_ash", "quantity": 40,
                "q.loi_pct": 3, "q.so3_pct": 1}],
              [{"id": "cem", "enterprise_id": "C", "material": "cement_admixture",
                "quantity": 40, "virgin_cost": 30, "replaces": "clinker"},
               {"id": "raw", "enterprise_id": "M", "material": "raw_meal_sial", "quantity": 40,
                "virgin_cost": 90}],
              [{"from_id": "S", "to_id": "C", "distance_km": 10},
               {"from_id": "S", "to_id": "M", "distance_km": 10}])
    assert plan(solve_match(ds, MatchOptions(objective="cost"))) == {("o", "raw"): 40.0}
    result = solve_match(ds, MatchOptions(objective="co2"))
    assert plan(result) == {("o", "cem"): 40.0}
    # 40 t x (850 - 0.078 x 10) kg (GB/T 51366-2019 heavy 30 t diesel truck)
    assert result.summary.to_dict()["carbon"]["net_t"] == pytest.approx(40 * (850 - 0.78) / 1000)
    assert result.solver.objective == pytest.approx(40 * (850 - 0.78) / 1000)


@pytest.mark.parametrize(("weights", "single"), [("cost=1", "cost"), ("co2=1", "co2")])
def test_weights_that_reduce_to_one_objective_give_its_plan(weights: str,
                                                            single: str) -> None:
    ds = demo()
    a = solve_match(ds, MatchOptions(objective=single))
    b = solve_match(ds, MatchOptions(objective="weighted", weights=parse_weights(weights)))
    assert plan(a) == plan(b)
    assert b.solver.objective == pytest.approx(a.solver.objective, rel=1e-12)


def test_scaling_the_weights_keeps_the_optimum() -> None:
    """cost=2.5 has the cost objective's optima (the demo has ties, so the exchanges may be
    another optimal plan; the saving is the same)."""
    ds = demo()
    a = solve_match(ds, MatchOptions(objective="cost"))
    b = solve_match(ds, MatchOptions(objective="weighted", weights=parse_weights("cost=2.5")))
    assert b.solver.objective == pytest.approx(2.5 * a.solver.objective, rel=1e-9)
    assert b.summary.to_dict()["economics"]["saving_cny"] == pytest.approx(
        a.summary.to_dict()["economics"]["saving_cny"], rel=1e-9)


def test_weighted_utilization_term_delivers_the_maximum() -> None:
    ds = demo()
    a = solve_match(ds)
    b = solve_match(ds, MatchOptions(objective="weighted",
                                     weights=parse_weights("utilization=1")))
    for fam, values in a.summary.to_dict()["families"].items():
        assert b.summary.to_dict()["families"][fam]["matched"] == pytest.approx(values["matched"],
                                                                   rel=1e-9)


def test_a_carbon_price_moves_the_plan_towards_co2() -> None:
    """cost=1,co2=P: as P grows the plan's net CO2 never falls and its saving never rises."""
    ds = demo()
    last_co2, last_saving = -np.inf, np.inf
    for price in (0, 50, 500, 5000):
        w = parse_weights(f"cost=1,co2={price}") if price else parse_weights("cost=1")
        k = solve_match(ds, MatchOptions(objective="weighted", weights=w)).summary.to_dict()
        assert k["carbon"]["net_t"] >= last_co2 - 1e-6
        assert k["economics"]["saving_cny"] <= last_saving + 1e-3
        last_co2, last_saving = k["carbon"]["net_t"], k["economics"]["saving_cny"]


def test_dantzig_transport_problem_through_the_cost_objective() -> None:
    """GAMS TRNSPORT (Dantzig 1963): freight 90 USD per case per thousand miles; distances
    in thousand miles through distances.csv; a high virgin price makes delivering every
    case worth it, so the cost optimum is the minimum freight bill, 153.675 thousand USD."""
    ds = make([{"id": c, "name": c, "lon": x, "lat": y} for c, (x, y) in CITIES.items()],
              [{"id": c, "enterprise_id": c, "material": "fly_ash", "quantity": q}
               for c, q in SUPPLY.items()],
              [{"id": c, "enterprise_id": c, "material": "fly_ash", "quantity": q,
                "virgin_cost": 1000} for c, q in DEMAND.items()],
              [{"from_id": a, "to_id": b, "distance_km": d}
               for (a, b), d in THOUSAND_MILES.items()],
              transport=[{"material": "fly_ash", "cny_per_unit_km": 90,
                          "loading_cny_per_unit": 0}])
    result = solve_match(ds, MatchOptions(objective="cost"))
    econ = result.summary.to_dict()["economics"]
    assert result.summary.to_dict()["tonnes_matched"] == 900
    assert econ["transport_cny"] == pytest.approx(153_675.0, rel=1e-12)
    assert econ["saving_cny"] == pytest.approx(900_000 - 153_675.0, rel=1e-12)
    # TRNSPORT has more than one optimal shipment plan; every market gets its demand
    met = result.needs.set_index("need_id")["met"].to_dict()
    assert met == {"new-york": 325, "chicago": 300, "topeka": 275}


_demo: Dataset | None = None


def demo() -> Dataset:
    global _demo
    if _demo is None:
        from symbiosis.api.cli import demo_dataset_path
        from symbiosis.dataset import load_dataset

        _demo = load_dataset(demo_dataset_path())
    return _demo


@st.composite
def market(draw: st.DrawFn) -> Dataset:
    """A random park: 2-6 suppliers of fly ash, 2-6 cement plants, random costs and
    distances (some pairs beyond reach), integral quantities."""
    n_s = draw(st.integers(2, 6))
    n_r = draw(st.integers(2, 6))
    ints = st.integers
    suppliers = [f"S{i}" for i in range(n_s)]
    receivers = [f"R{j}" for j in range(n_r)]
    offers = [{"id": f"o{i}", "enterprise_id": s, "material": "fly_ash",
               "q.loi_pct": 3, "q.so3_pct": 1, "quantity": draw(ints(10, 200)),
               "disposal_cost": draw(ints(0, 40)), "treatment_cost": draw(ints(0, 10))}
              for i, s in enumerate(suppliers)]
    needs = [{"id": f"n{j}", "enterprise_id": r, "material": "cement_admixture",
              "quantity": draw(ints(10, 200)), "virgin_cost": draw(ints(0, 80))}
             for j, r in enumerate(receivers)]
    distances = [{"from_id": s, "to_id": r, "distance_km": draw(ints(1, 400))}
                 for s in suppliers for r in receivers]
    return make(ent(*suppliers, *receivers), offers, needs, distances,
                transport=[{"material": "", "cny_per_unit_km": 0.4,
                            "loading_cny_per_unit": 3}])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(market())
def test_core_prices_are_stable_on_random_markets(ds: Dataset) -> None:
    """The property of the core itself, on every candidate pair: with the midpoint split,
    u_o + y_n >= saving_a (no supplier-receiver pair can both gain by trading outside the
    plan), u, y >= 0 (nobody loses by joining), and the gains add up to the total saving.
    The optimum also matches an independent LP solver (HiGHS through scipy)."""
    from scipy.optimize import linprog

    result = solve_match(ds, MatchOptions(objective="cost"))
    cand = build_candidates(ds)
    values = arc_values(ds, cand)
    w = values.saving
    ex = result.exchanges
    # the supplier's per-unit share is the same on all its exchanges (one u per offer) ...
    u = np.zeros(len(ds.offers))
    y = np.zeros(len(ds.needs))
    pos_o = {k: i for i, k in enumerate(ds.offers.index)}
    pos_n = {k: i for i, k in enumerate(ds.needs.index)}
    for row in ex.itertuples():
        share = row.supplier_gain_cny / row.quantity
        if u[pos_o[row.offer_id]]:
            assert share == pytest.approx(u[pos_o[row.offer_id]], abs=1e-6)
        u[pos_o[row.offer_id]] = share
        y[pos_n[row.need_id]] = row.receiver_gain_cny / row.quantity
    # ... and offers or needs without a full capacity keep nothing beyond their trades
    assert (u >= -1e-6).all() and (y >= -1e-6).all()
    slack = u[cand.offer] + y[cand.need] - w
    assert (slack >= -1e-6).all()
    total = result.summary.to_dict()["economics"]["saving_cny"]
    assert ex["supplier_gain_cny"].sum() + ex["receiver_gain_cny"].sum() == \
        pytest.approx(total, abs=1e-6)
    # independent check of the optimum (every pair may lie beyond reach: nothing to trade)
    n_a = len(cand)
    if n_a == 0:
        assert total == 0.0 and ex.empty
        return
    a_ub = np.zeros((len(ds.offers) + len(ds.needs), n_a))
    a_ub[cand.offer, np.arange(n_a)] = 1
    a_ub[len(ds.offers) + cand.need, np.arange(n_a)] = cand.ratio
    b_ub = np.concatenate([ds.offers["quantity"], ds.needs["quantity"]])
    ref = linprog(-w, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
    assert ref.status == 0
    assert total == pytest.approx(-ref.fun, abs=1e-6)


def test_frontier_is_monotone_and_ends_at_the_single_objective_optima() -> None:
    from symbiosis.matching.frontier import pareto_frontier

    ds = demo()
    frontier = pareto_frontier(ds, ("utilization", "cost"), 6)
    t = frontier.table
    assert list(t["point"]) == [1, 2, 3, 4, 5, 6]
    assert (np.diff(t["tonnes_matched"]) >= -1e-6).all()
    assert (np.diff(t["saving_cny"]) <= 1e-3).all()
    best_util = solve_match(ds).summary.to_dict()["tonnes_matched"]
    best_cost = solve_match(ds, MatchOptions(objective="cost")).summary.to_dict()
    assert t["tonnes_matched"].iloc[-1] == pytest.approx(best_util, rel=1e-7)
    # the stages are chained with a 1e-7 relative slack (GLOP's tolerances)
    assert t["saving_cny"].iloc[0] == pytest.approx(best_cost["economics"]["saving_cny"],
                                                    rel=1e-6)
    # each point's plan is a full result whose totals are the table's
    for row, point in zip(t.itertuples(), frontier.plans, strict=True):
        assert point.summary.to_dict()["tonnes_matched"] == pytest.approx(row.tonnes_matched)


def test_frontier_rejects_bad_axes() -> None:
    from symbiosis.matching.frontier import pareto_frontier

    with pytest.raises(SolverError, match="two different objectives"):
        pareto_frontier(demo(), ("cost", "cost"), 5)
    with pytest.raises(SolverError, match="at least 2 points"):
        pareto_frontier(demo(), ("utilization", "co2"), 1)


@pytest.mark.parametrize(("text", "message"), [
    ("cost", "not term=number"), ("money=1", "not term=number"), ("cost=x", "not a number"),
    ("cost=-1", ">= 0"), ("cost=1,cost=2", "given twice"), ("cost=0", "at least one")])
def test_parse_weights_rejects_malformed_terms(text: str, message: str) -> None:
    with pytest.raises(OptionsError, match=message):
        parse_weights(text)


def test_transport_and_carbon_tables_are_validated() -> None:
    with pytest.raises(InvalidDataError) as err:
        make(ent("S", "R"),
             [{"id": "o", "enterprise_id": "S", "material": "fly_ash", "quantity": 5}],
             [{"id": "n", "enterprise_id": "R", "material": "fly_ash", "quantity": 5}],
             transport=[{"material": "fly_ashh", "cny_per_unit_km": 0.4},
                        {"material": "", "cny_per_unit_km": -1},
                        {"material": "", "cny_per_unit_km": 0.3}],
             carbon=[{"need_material": "cement_admixture", "kg_co2e_per_unit": 800},
                     {"need_material": "cement_admixture", "kg_co2e_per_unit": "lots"}])
    shown = {str(p) for p in err.value.problems if p.severity == "error"}
    assert shown == {
        "transport:2:material: unknown material 'fly_ashh' "
        "(did you mean 'fly_ash' (粉煤灰, Coal fly ash)?)",
        "transport:3:cny_per_unit_km: must be >= 0, got -1",
        "transport:4:material: duplicate value '(every material)' (first at row 3)",
        "carbon:3:kg_co2e_per_unit: not a finite number: 'lots'",
        "carbon:3:need_material: duplicate value 'cement_admixture' (first at row 2)",
    }


def test_dataset_overrides_win_over_built_in_factors() -> None:
    """transport.csv's fly-ash row beats the default row; carbon.csv beats the table."""
    ds = two_receivers()
    ds2 = make(ent("S1", "R1"),
               [{"id": "s1", "enterprise_id": "S1", "material": "fly_ash", "quantity": 10,
                 "q.loi_pct": 3, "q.so3_pct": 1}],
               [{"id": "r1", "enterprise_id": "R1", "material": "cement_admixture",
                 "quantity": 10}],
               [{"from_id": "S1", "to_id": "R1", "distance_km": 10}],
               transport=[{"material": "", "cny_per_unit_km": 0.5},
                          {"material": "fly_ash", "cny_per_unit_km": 1.5}],
               carbon=[{"need_material": "cement_admixture", "kg_co2e_per_unit": 507,
                        "source": "IPCC GPG 2000 calcination only"}])
    values = arc_values(ds2, build_candidates(ds2))
    assert values.transport[0] == pytest.approx(15.0)
    assert values.co2_avoided_kg[0] == pytest.approx(507.0)
    info = {(r["material"], r["field"]): r["source"] for r in values.info["rates"]}
    assert "transport.csv (fly_ash)" in info[("fly_ash", "cny_per_unit_km")]
    assert values.info["carbon_factors"][0]["source"] == "IPCC GPG 2000 calcination only"
    # the built-in road rate applies when nothing overrides it (0.424 CNY/t-km)
    plain = make(ent("S1", "R1"),
                 [{"id": "s1", "enterprise_id": "S1", "material": "fly_ash", "quantity": 10,
                   "q.loi_pct": 3, "q.so3_pct": 1}],
                 [{"id": "r1", "enterprise_id": "R1", "material": "cement_admixture",
                   "quantity": 10}],
                 [{"from_id": "S1", "to_id": "R1", "distance_km": 10}])
    assert arc_values(plain, build_candidates(plain)).transport[0] == pytest.approx(4.24)
    assert len(ds.transport) == 1


def test_explanations_name_the_reason_and_the_competitors() -> None:
    """A tailings offer whose only taker is 95 km away (reach 80 km) says so. To deliver the
    most, PWR1 sends 10 t to the brick plant (7 km) and 40 t to the cement plant (5 km), and
    PWR2 (20 km) fills the cement plant's last 10 t: PWR2's other 40 t find it full, filled by
    both; each exchange lists the other needs its offer had."""
    ds = make(ent("MINE", "BRK", "PWR1", "PWR2", "CEM"),
              [{"id": "tail", "enterprise_id": "MINE", "material": "tailings",
                "quantity": 10},
               {"id": "near", "enterprise_id": "PWR1", "material": "fly_ash", "quantity": 50,
                "q.loi_pct": 3, "q.so3_pct": 1},
               {"id": "far", "enterprise_id": "PWR2", "material": "fly_ash", "quantity": 50,
                "q.loi_pct": 3, "q.so3_pct": 1}],
              [{"id": "bricks", "enterprise_id": "BRK", "material": "brick_feedstock",
                "quantity": 10},
               {"id": "cem", "enterprise_id": "CEM", "material": "cement_admixture",
                "quantity": 50}],
              [{"from_id": "MINE", "to_id": "BRK", "distance_km": 95},
               {"from_id": "PWR1", "to_id": "CEM", "distance_km": 5},
               {"from_id": "PWR2", "to_id": "CEM", "distance_km": 20},
               {"from_id": "PWR1", "to_id": "BRK", "distance_km": 7},
               {"from_id": "PWR2", "to_id": "BRK", "distance_km": 300}])
    result = solve_match(ds)
    why = result.offers.set_index("offer_id")["explanation"]
    assert why["tail"] == ("no compatible need within the 80 km reach; the nearest is "
                           "bricks at BRK, 95.0 km")
    assert why["far"] == ("1 of 1 compatible needs within reach are full: cem (served by "
                          "PWR1, PWR2)")
    assert why["near"] == ""
    alternatives = result.exchanges.set_index(["offer_id", "need_id"])["alternatives"]
    # no costs in this dataset: the saving is minus the haulage, 0.424 CNY/t-km x 7 km
    assert alternatives[("near", "cem")] == ("bricks at BRK (7.0 km, saving -2.97 CNY/t): "
                                             "also used")
    assert alternatives[("far", "cem")] == "the only compatible need in reach"


def test_grinding_power_is_charged_against_the_credit() -> None:
    """Granulated slag to a grinding plant (a by-product intake: no credit) and to a cement
    mill raising its admixture share (replaces clinker, 850 kg/t), 100 t each at 10 km.
    Each tonne is ground: 45 kWh/t (processing_energy.csv) x 0.5306 kg CO2/kWh (MEE/NBS
    2023 national grid factor) = 23.877 kg; road 0.078 kg/t-km (GB/T 51366-2019).
    Grinding plant: 100 x (0 - 0.78 - 23.877) kg; cement mill: 100 x (850 - 0.78 - 23.877)."""
    ds = make(ent("S", "G", "C"),
              [{"id": "o", "enterprise_id": "S", "material": "bf_slag", "quantity": 200}],
              [{"id": "g", "enterprise_id": "G", "material": "bf_slag", "quantity": 100},
               {"id": "c", "enterprise_id": "C", "material": "cement_admixture",
                "quantity": 100, "replaces": "clinker"}],
              [{"from_id": "S", "to_id": "G", "distance_km": 10},
               {"from_id": "S", "to_id": "C", "distance_km": 10}])
    result = solve_match(ds, MatchOptions(accept_unstated_quality=True))
    assert plan(result) == {("o", "g"): 100.0, ("o", "c"): 100.0}
    carbon = result.summary.to_dict()["carbon"]
    grind = 45 * 0.5306
    assert carbon["processing_t"] == pytest.approx(2 * 100 * grind / 1000)
    assert carbon["transport_t"] == pytest.approx(2 * 100 * 0.78 / 1000)
    assert carbon["avoided_t"] == pytest.approx(100 * 850 / 1000)
    assert carbon["net_t"] == pytest.approx((100 * 850 - 200 * (0.78 + grind)) / 1000)
    ex = result.exchanges.set_index("need_id")
    assert ex.loc["g", "co2_net_t"] == pytest.approx(-100 * (0.78 + grind) / 1000)
    assert ex.loc["c", "co2_processing_t"] == pytest.approx(100 * grind / 1000)
    rows = {(p["need_material"], p["offer_material"]): p for p in carbon["processing"]}
    assert set(rows) == {("bf_slag", "bf_slag"), ("cement_admixture", "bf_slag")}
    assert rows[("bf_slag", "bf_slag")]["grid_factor"]["value"] == 0.5306


def test_no_processing_row_no_charge() -> None:
    """Fly ash to a concrete admixture need: no processing row, nothing charged."""
    ds = make(ent("S", "R"),
              [{"id": "o", "enterprise_id": "S", "material": "fly_ash", "quantity": 10}],
              [{"id": "n", "enterprise_id": "R", "material": "concrete_admixture",
                "quantity": 10}],
              [{"from_id": "S", "to_id": "R", "distance_km": 5}])
    result = solve_match(ds, MatchOptions(accept_unstated_quality=True))
    carbon = result.summary.to_dict()["carbon"]
    assert carbon["processing_t"] == 0.0
    assert carbon["processing"] == []
