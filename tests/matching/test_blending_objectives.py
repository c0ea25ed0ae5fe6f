"""The graded LP under every objective (matching.blending.solve_graded with weights) and
its dual values (prices and marginal values), by hand on tiny instances, and cross-checked
against the network path where no grade constraint binds.

The two-ash instance (tests/matching/test_blending.py): offer a 100 t (LOI 10 %, SO3 1 %)
2 km from the need, offer b 60 t (LOI 4 %, SO3 3 %) 3 km away; the need takes 200 t with
max LOI 7 % and max SO3 2.5 % on the blend's mass-weighted average. Rows:

    LOI:  3a - 3b <= 0        SO3: -1.5a + 0.5b <= 0        a <= 100, b <= 60, a + b <= 200

Money (--transport-rate 0.5, --loading-cost 0): a's disposal 30, b's disposal 10 and
treatment 70, the need's virgin cost 50 CNY/t, so per t
    saving_a = 30 + 50 - 0.5 x 2 = 79,     saving_b = 10 + 50 - 0.5 x 3 - 70 = -11.5.
Carbon: the need replaces clinker (850 kg CO2e/t, replaced_inputs.csv); road freight
0.078 kg/t-km (GB/T 51366-2019), so per t co2_a = 0.849844 t and co2_b = 0.849766 t.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from grades_support import grid, row

from symbiosis.dataset import Dataset
from symbiosis.matching.model import MatchOptions, solve_match

ASH = {"q.fineness_45um_pct": 20.0}
LINKS = {("A", "C"): 2.0, ("B", "C"): 3.0}
MONEY = {"transport_rate": 0.5, "loading_cost": 0.0}
CO2_A = (850 - 0.078 * 2) / 1000
CO2_B = (850 - 0.078 * 3) / 1000


def two_ashes(need_qty: float = 200.0, blend: str = "yes") -> Dataset:
    offers = [row("a", "A", "fly_ash", 100, disposal_cost=30,
                  **{"q.loi_pct": 10.0, "q.so3_pct": 1.0}, **ASH),
              row("b", "B", "fly_ash", 60, disposal_cost=10, treatment_cost=70,
                  **{"q.loi_pct": 4.0, "q.so3_pct": 3.0}, **ASH)]
    needs = [row("n", "C", "fly_ash", need_qty, virgin_cost=50, replaces="clinker",
                 blend=blend, **{"max.loi_pct": 7, "max.so3_pct": 2.5})]
    return grid("ABC", LINKS, offers, needs)


def flows(result: Any) -> dict[str, float]:
    ex = result.exchanges
    return dict(zip(ex["offer_id"], ex["quantity"], strict=True))


@pytest.mark.parametrize(("options", "objective"), [
    # max 79a - 11.5b: the LOI row binds (a <= b) and b is all used, a = b = 60
    ({"objective": "cost", **MONEY}, 60 * 79 + 60 * -11.5),
    ({"objective": "co2"}, 60 * (CO2_A + CO2_B)),
    # w = 1 x utilization + 1 x saving + 80 x co2
    ({"objective": "weighted", "weights": "utilization=1,cost=1,co2=80", **MONEY},
     60 * (1 + 79 + 80 * CO2_A) + 60 * (1 - 11.5 + 80 * CO2_B)),
])
def test_value_objectives_by_hand(options: dict[str, Any], objective: float) -> None:
    result = solve_match(two_ashes(), MatchOptions(**options))
    assert flows(result) == pytest.approx({"a": 60.0, "b": 60.0})
    assert result.solver.objective == pytest.approx(objective, rel=1e-9)
    assert result.solver.methods == ("lp_blend",)
    loi = result.blends.set_index("attribute").loc["loi_pct"]
    assert loi["average"] == pytest.approx(7.0)


def test_an_offer_that_loses_money_is_blended_in_when_the_blend_pays() -> None:
    """b alone loses 11.5 CNY/t (the network path would never ship it), but each t of b
    lets a t of a (79 CNY) into the blend: the cost objective ships both, 4,050 CNY/yr."""
    result = solve_match(two_ashes(), MatchOptions(objective="cost", **MONEY))
    assert result.summary.economics is not None
    ex = result.exchanges.set_index("offer_id")
    assert ex.loc["b", "saving_cny"] == pytest.approx(-690.0)
    assert ex["saving_cny"].sum() == pytest.approx(4050.0)


def test_without_blending_the_cost_objective_ships_nothing() -> None:
    result = solve_match(two_ashes(blend="no"), MatchOptions(objective="cost", **MONEY))
    assert result.exchanges.empty


# --------------------------------------------------------------------------------------
# dual values of the graded LP


def marginals(result: Any) -> tuple[dict[str, float], dict[str, float]]:
    off = result.offers.set_index("offer_id")["marginal_value"].to_dict()
    need = result.needs.set_index("need_id")["marginal_value"].to_dict()
    return off, need


def test_duals_of_the_default_objective_by_hand() -> None:
    """Stage 1 (max a + b) at a = b = 60: a, the need and the SO3 row are slack, so
    u_a = y_n = mu = 0; for a: 1 = 3 lambda, so lambda = 1/3; for b: 1 = u_b - 3 lambda, so
    u_b = 2: one more t of b lets one more t of a into the blend."""
    result = solve_match(two_ashes())
    off, need = marginals(result)
    assert off == pytest.approx({"a": 0.0, "b": 2.0})
    assert need == pytest.approx({"n": 0.0})


def test_a_full_need_is_worth_one_unit_per_unit() -> None:
    """Need of 100 t: a + b <= 100 binds (a in [40, 50], b in [50, 60]); no other row
    binds in every optimum, so y_n = 1 and u_a = u_b = 0."""
    result = solve_match(two_ashes(need_qty=100.0))
    assert result.summary.tonnes_matched == pytest.approx(100.0)
    off, need = marginals(result)
    assert off == pytest.approx({"a": 0.0, "b": 0.0})
    assert need == pytest.approx({"n": 1.0})


def test_duals_of_the_cost_objective_by_hand() -> None:
    """max 79a - 11.5b at a = b = 60: for a, 79 = 3 lambda; for b, -11.5 = u_b - 3 lambda,
    so u_b = 67.5 CNY per t of b. The supplier's share on each arc is min(u_o, w_a)
    (0 for a, -11.5 for b); prices are the shares less what the supplier bears."""
    result = solve_match(two_ashes(), MatchOptions(objective="cost", **MONEY))
    off, need = marginals(result)
    assert off == pytest.approx({"a": 0.0, "b": 67.5})
    assert need == pytest.approx({"n": 0.0})
    ex = result.exchanges.set_index("offer_id")
    # own = disposal - treatment - transport: a 30 - 0 - 1 = 29; b 10 - 70 - 1.5 = -61.5
    assert ex.loc["a", "price_cny_per_unit"] == pytest.approx(0.0 - 29.0)
    assert ex.loc["b", "price_cny_per_unit"] == pytest.approx(-11.5 + 61.5)
    assert ex.loc["a", "price_low_cny_per_unit"] == ex.loc["a", "price_high_cny_per_unit"]
    assert result.summary.economics is not None
    assert result.summary.economics.prices.method == "core_midpoint"
    assert not any("not derived" in w for w in result.summary.warnings)


def test_a_cascade_return_has_a_marginal_value() -> None:
    """S: 100 GJ of steam at 200 °C, 1 km from A (ratio 0.98); A needs 49 GJ and returns
    half of it at 130 °C; B (2 km from A, ratio 0.98) needs 100 GJ at >= 120 °C and gets
    only A's return. Stage 1 maximises listed heat: S's 100 GJ cannot all go to A (A takes
    49 / 0.98 = 50 GJ sent), so the rest has no taker. Duals of stage 1: S is not full
    (u_S = 0); A's need is full and one more GJ of it lets 1 / 0.98 more GJ of S be
    delivered: y_A = 1 / 0.98."""
    offers = [row("s", "S", "waste_heat", 100, medium="steam", **{"q.temperature_c": 200})]
    needs = [row("a", "A", "process_heat", 49, return_temperature_c=130, return_share=0.5,
                 **{"min.temperature_c": 180}),
             row("b", "B", "process_heat", 100, **{"min.temperature_c": 120})]
    result = solve_match(grid("SAB", {("S", "A"): 1.0, ("A", "B"): 2.0}, offers, needs))
    off, need = marginals(result)
    assert off["s"] == pytest.approx(0.0)
    assert need["a"] == pytest.approx(1 / 0.98)
    assert need["b"] == pytest.approx(0.0)


# --------------------------------------------------------------------------------------
# cross-check: where no grade constraint binds, graded LP = network path


def _random(seed: int, blend: str) -> Dataset:
    """Offers that each meet the need's limits on their own (LOI <= 6 < 7): blending
    changes nothing, but blend=yes sends the component to the graded LP."""
    rng = np.random.default_rng(seed)
    n_o, n_n = int(rng.integers(2, 6)), int(rng.integers(1, 4))
    names = "ABCDEFGHIJ"[:n_o + n_n]
    offers = [row(f"o{i}", names[i], "fly_ash", float(rng.integers(10, 200)),
                  disposal_cost=float(rng.integers(0, 40)),
                  treatment_cost=float(rng.integers(0, 30)),
                  **{"q.loi_pct": float(np.round(rng.uniform(1, 6), 2)),
                     "q.so3_pct": 1.0}, **ASH)
              for i in range(n_o)]
    needs = [row(f"n{j}", names[n_o + j], "fly_ash", float(rng.integers(20, 300)),
                 virgin_cost=float(rng.integers(0, 40)),
                 replaces=str(rng.choice(["clinker", "limestone"])), blend=blend,
                 **{"max.loi_pct": 7.0, "max.so3_pct": 2.5})
             for j in range(n_n)]
    links = {(names[i], names[n_o + j]): float(np.round(rng.uniform(1.0, 60.0), 3))
             for i in range(n_o) for j in range(n_n)}
    return grid(names, links, offers, needs)


OBJECTIVES = [{}, {"objective": "cost"}, {"objective": "co2"},
              {"objective": "weighted", "weights": "utilization=1,cost=1,co2=80"}]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("options", OBJECTIVES)
def test_graded_lp_equals_the_network_path_where_no_grade_binds(
        seed: int, options: dict[str, Any]) -> None:
    """Same instance, blend=yes (graded LP) and blend=no (min-cost flow): the same value of
    every stage (delivered and unit-km for utilization; the value for the others) and the
    same marginal value of every offer and need where the dual is unique enough to
    compare: the totals of the two duals' objectives (strong duality: sum q u + sum d y =
    the stage-1 optimum) agree."""
    graded = solve_match(_random(seed, "yes"), MatchOptions(**options))
    network = solve_match(_random(seed, "no"), MatchOptions(**options))
    assert "lp_blend" in graded.solver.methods
    assert "lp_blend" not in network.solver.methods
    assert graded.solver.objective == pytest.approx(network.solver.objective, rel=1e-7,
                                                    abs=1e-6)
    if not options:
        assert graded.summary.tonnes_matched == pytest.approx(
            network.summary.tonnes_matched, rel=1e-8)
    for result in (graded, network):
        data = _random(seed, "no")
        dual = float(data.offers["quantity"].to_numpy() @ result.offers.set_index(
            "offer_id").loc[data.offers.index, "marginal_value"].to_numpy()
            + data.needs["quantity"].to_numpy() @ result.needs.set_index(
            "need_id").loc[data.needs.index, "marginal_value"].to_numpy())
        stage1 = result.summary.tonnes_matched if not options else result.solver.objective
        assert dual == pytest.approx(stage1, rel=1e-6, abs=1e-6)


def test_a_heat_cascade_under_the_co2_objective_by_hand() -> None:
    """The three-user cascade of tests/matching/test_heat.py under --objective co2. Process
    heat replaces coal-boiler heat (105 kg CO2e/GJ, replaced_inputs.csv); pipes carry no
    freight factor, so w_a = 0.105 ratio_a t per GJ sent: the objective is 0.105 t x the
    GJ received. A receives 490, B 200 (from A's return), C 0.98 x 80 = 78.4 (from B's):
    768.4 GJ, 80.682 t CO2e. S's 1,000 GJ are only worth sending where they arrive."""
    offers = [row("s", "S", "waste_heat", 1000, medium="steam", **{"q.temperature_c": 200})]
    needs = [row("a", "A", "process_heat", 490, return_temperature_c=130, return_share=0.5,
                 **{"min.temperature_c": 180}),
             row("b", "B", "process_heat", 200, return_temperature_c=80, return_share=0.4,
                 **{"min.temperature_c": 120}),
             row("c", "C", "process_heat", 100, **{"min.temperature_c": 70})]
    links = {("S", "A"): 1.0, ("A", "B"): 2.0, ("B", "C"): 2.0}
    result = solve_match(grid("SABC", links, offers, needs), MatchOptions(objective="co2"))
    assert result.solver.methods == ("lp_blend",)
    assert result.solver.objective == pytest.approx(0.105 * 768.4, rel=1e-9)
    got = result.exchanges.groupby("need_id")["need_quantity"].sum().to_dict()
    assert got == pytest.approx({"a": 490.0, "b": 200.0, "c": 78.4})
