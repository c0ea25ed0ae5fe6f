"""Scenarios, sweeps, frontier points and gaps with integer logistics (issue 16 follow-up):
each re-solve goes through the MILP (`matching.milp`) when the data or options ask for it and
reports its gap; gaps, which do not re-solve, say their figures rest on the plan given and
on a continuous reading of what a newcomer could take.

The instance is the hand-solved one of tests/matching/test_milp.py: fly ash saving
30 CNY/t disposal - 10 km x 1 CNY/t.km = 20 CNY/t on every exchange, a contract costing
500 CNY/yr. O1 (100 t) saves 2,000 - 500 = 1,500; O2 (20 t) would save 400 < 500.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from symbiosis import Dataset, dataset_from_records
from symbiosis.matching import MatchOptions, solve_match
from symbiosis.matching.result import MatchResult
from symbiosis.matching.scenario import SetQuantity, compare_scenario, sweep_scenarios
from symbiosis.store import rows_from_dataset

Rows = list[dict[str, Any]]
ROAD: Rows = [{"material": "", "cny_per_unit_km": 1, "loading_cny_per_unit": 0}]
COST = MatchOptions(objective="cost", contract_cost=500, mip_gap=0.0)
FREE = MatchOptions(objective="cost")


def ash(oid: str, ent: str, qty: float, **extra: Any) -> dict[str, Any]:
    return {"id": oid, "enterprise_id": ent, "material": "fly_ash", "quantity": qty, **extra}


def km(a: str, b: str, d: float) -> dict[str, Any]:
    return {"from_id": a, "to_id": b, "distance_km": d}


def two_suppliers() -> Dataset:
    records: dict[str, Rows] = {
        "enterprises": [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in "ABD"],
        "offers": [ash("O1", "A", 100, disposal_cost=30), ash("O2", "D", 20, disposal_cost=30)],
        "needs": [ash("N1", "B", 200)],
        "distances": [km("A", "B", 10), km("D", "B", 10)],
        "transport": ROAD}
    return dataset_from_records(records)


def plan(result: MatchResult) -> dict[tuple[str, str], float]:
    ex = result.exchanges
    return {(o, n): float(q) for o, n, q in zip(ex["offer_id"], ex["need_id"], ex["quantity"],
                                                strict=True)}


def test_scenario_with_a_contract_cost_goes_through_the_milp() -> None:
    """O2 raised to 50 t saves 1,000 > 500: the MILP takes it (1,500 -> 2,000 CNY, +500);
    the continuous model, without the contract, goes 2,400 -> 3,000 (+600)."""
    ds = two_suppliers()
    rows = rows_from_dataset(ds)
    change = [SetQuantity("offer", "O2", 50)]
    milp = compare_scenario(rows, change, COST, carry=ds)
    assert plan(milp.baseline_result) == {("O1", "N1"): 100.0}
    assert plan(milp.scenario_result) == {("O1", "N1"): 100.0, ("O2", "N1"): 50.0}
    assert milp.baseline["saving_cny"] == pytest.approx(1500.0)
    assert milp.scenario["saving_cny"] == pytest.approx(2000.0)
    assert milp.delta["saving_cny"] == pytest.approx(500.0)
    for side in (milp.baseline_solver, milp.scenario_solver):
        assert side["model"] == "milp"
        assert side["features"] == ["contract_cost"]
        assert side["gap"] == pytest.approx(0.0, abs=1e-9)
        assert side["status"] == "optimal"
    assert milp.as_dict()["solver"]["scenario"]["objective"] == pytest.approx(2000.0)
    lp = compare_scenario(rows, change, FREE, carry=ds)
    assert lp.scenario_solver["model"] == "continuous"
    assert (lp.baseline["saving_cny"], lp.scenario["saving_cny"]) == pytest.approx(
        (2400.0, 3000.0))


def test_scenario_keeps_the_transport_table() -> None:
    """Stored rows now hold transport.csv (store schema 4), and `carry` keeps it as well: both
    sides price freight at 1 CNY/t.km as the dataset says, not at the built-in rate."""
    ds = two_suppliers()
    rows = rows_from_dataset(ds)
    direct = solve_match(ds, COST)
    kept = compare_scenario(rows, [], COST, carry=ds)
    assert kept.baseline["saving_cny"] == pytest.approx(direct.headline().saving_cny)
    from_rows = compare_scenario(rows, [], COST)
    assert from_rows.baseline["saving_cny"] == pytest.approx(direct.headline().saving_cny)
    # the built-in freight rate would give another saving: the test can fail
    builtin = solve_match(replace(ds, transport=ds.transport.iloc[0:0]), COST)
    assert builtin.headline().saving_cny != pytest.approx(direct.headline().saving_cny)


def test_sweep_with_contracts_equals_one_scenario_at_a_time() -> None:
    ds = two_suppliers()
    rows = rows_from_dataset(ds)
    grid = [[SetQuantity("offer", "O2", q)] for q in (20, 25, 30)]
    swept = sweep_scenarios(rows, grid, COST, carry=ds)
    # 20 t and 25 t save 400 and 500: not more than the contract (the break-even cut drops
    # an exchange worth exactly nothing); 30 t saves 600 - 500 = 100 more
    assert [s.scenario["saving_cny"] for s in swept] == pytest.approx([1500.0, 1500.0, 1600.0])
    for one, changes in zip(swept, grid, strict=True):
        alone = compare_scenario(rows, changes, COST, carry=ds)
        assert one.scenario == alone.scenario
        assert one.scenario_solver == alone.scenario_solver


# ----------------------------------------------------------------------------- frontier


def three_suppliers() -> Dataset:
    """O1 100 t nets 1,500; O2 20 t nets 400 - 500 = -100; O3 10 t nets 200 - 500 = -300."""
    records: dict[str, Rows] = {
        "enterprises": [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in "ABDE"],
        "offers": [ash("O1", "A", 100, disposal_cost=30), ash("O2", "D", 20, disposal_cost=30),
                   ash("O3", "E", 10, disposal_cost=30)],
        "needs": [ash("N1", "B", 200)],
        "distances": [km("A", "B", 10), km("D", "B", 10), km("E", "B", 10)],
        "transport": ROAD}
    return dataset_from_records(records)


def test_frontier_with_a_contract_cost_is_solved_as_a_milp() -> None:
    """The supported corners by hand: (100 t, 1,500 CNY) with O1 alone, (120 t, 1,400) with
    O2 too, (130 t, 1,100) with all three; (110 t, 1,200) with O3 instead of O2 is dominated.
    Without the contract every exchange pays 20 CNY/t: one point, (130 t, 2,600 CNY)."""
    from symbiosis.matching.frontier import pareto_frontier

    ds = three_suppliers()
    front = pareto_frontier(ds, ("utilization", "cost"), 10,
                            MatchOptions(contract_cost=500, mip_gap=0.0))
    t = front.table
    assert front.model == "milp" and "contract_cost" in front.note
    assert t["tonnes_matched"].tolist() == pytest.approx([100.0, 120.0, 130.0])
    assert t["saving_cny"].tolist() == pytest.approx([1500.0, 1400.0, 1100.0])
    assert t["exchanges"].tolist() == [1, 2, 3]
    assert t["model"].tolist() == ["milp"] * 3
    assert t["gap"].tolist() == pytest.approx([0.0] * 3, abs=1e-9)
    assert t["epsilon"].tolist() == pytest.approx([100.0, 120.0, 130.0])
    assert [plan(p) for p in front.plans][1] == {("O1", "N1"): 100.0, ("O2", "N1"): 20.0}
    assert front.plans[0].exchanges["contract_cny"].tolist() == [500.0]
    lp = pareto_frontier(ds, ("utilization", "cost"), 3)
    assert lp.model == "lp"
    assert lp.table["tonnes_matched"].tolist() == pytest.approx([130.0] * 3)
    assert lp.table["saving_cny"].tolist() == pytest.approx([2600.0] * 3)


def test_milp_frontier_points_on_a_local_cluster_equal_serial() -> None:
    from symbiosis.matching.distributed import open_engine
    from symbiosis.matching.frontier import pareto_frontier

    ds = three_suppliers()
    options = MatchOptions(contract_cost=500, mip_gap=0.0)
    serial = pareto_frontier(ds, ("utilization", "cost"), 10, options)
    with open_engine(workers=2) as engine:
        dask = pareto_frontier(ds, ("utilization", "cost"), 10, options, engine)
    cols = [c for c in serial.table.columns if c != "plan"]
    assert dask.table[cols].equals(serial.table[cols])


# ----------------------------------------------------------------------------- gaps


def test_gaps_with_a_partner_limit_flag_the_relaxation_and_leave_out_a_full_offer() -> None:
    """O1 (100 t, one partner at most) fills N1 (60 t, 10 km; O2 is 20 km away): 40 t of
    O1 are left but O1 has its one partner, so a newcomer can take only O2's 20 t; the
    absorber says so and the gaps say their absorbers are the continuous relaxation's."""
    from symbiosis.matching.gaps import find_gaps

    records: dict[str, Rows] = {
        "enterprises": [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in "ABD"],
        "offers": [ash("O1", "A", 100, max_partners=1), ash("O2", "D", 20)],
        "needs": [ash("N1", "B", 60)],
        "distances": [km("A", "B", 10), km("D", "B", 20)],
        "transport": ROAD}
    ds = dataset_from_records(records)
    result = solve_match(ds)
    assert plan(result) == {("O1", "N1"): 60.0}
    gaps = find_gaps(ds, result)
    assert gaps.integer is not None
    assert gaps.integer["features"] == ["max_partners"]
    assert gaps.integer["plan"] == "milp"
    assert gaps.integer["absorbers_basis"] == "continuous_relaxation"
    assert gaps.unmatched[0].quantity == pytest.approx(60.0)
    taker = next(a for a in gaps.absorbers if a.need_material == "fly_ash")
    assert taker.quantity == pytest.approx(20.0)
    assert taker.integer_excluded == pytest.approx(40.0)
    assert taker.suppliers == ("D",)
    body = gaps.as_dict()
    assert body["integer"]["absorbers_basis"] == "continuous_relaxation"
    # without the partner limit nothing is left out, and nothing is flagged
    free = dataset_from_records({**records, "offers": [ash("O1", "A", 100),
                                                       ash("O2", "D", 20)]})
    plain = find_gaps(free, solve_match(free))
    assert plain.integer is None
    assert next(a for a in plain.absorbers if a.need_material == "fly_ash").quantity == \
        pytest.approx(60.0)


@pytest.mark.parametrize("seed", [1, 3, 4])
def test_milp_frontier_points_never_dominate_each_other(seed: int) -> None:
    """Random instances with contract costs and minimum lots: sorted by tonnes, the points'
    saving strictly falls (no point is dominated by another), each point's plan keeps its
    lots, and with a gap target of 0 every point is proven optimal for its weights."""
    import numpy as np

    from symbiosis.matching.frontier import pareto_frontier

    rng = np.random.default_rng(seed)
    ents = [f"E{i}" for i in range(8)]
    offers = [ash(f"O{i}", ents[i], float(rng.integers(20, 200)),
                  disposal_cost=float(rng.integers(10, 40)),
                  **({"min_lot": 15.0} if rng.random() < 0.5 else {}))
              for i in range(5)]
    needs = [ash(f"N{j}", ents[5 + j], float(rng.integers(50, 250))) for j in range(3)]
    dist = [km(ents[i], ents[5 + j], float(rng.integers(2, 30)))
            for i in range(5) for j in range(3)]
    records: dict[str, Rows] = {
        "enterprises": [{"id": e, "name": e, "lon": 112.9, "lat": 27.8} for e in ents],
        "offers": offers, "needs": needs, "distances": dist, "transport": ROAD}
    ds = dataset_from_records(records)
    front = pareto_frontier(ds, ("utilization", "cost"), 8,
                            MatchOptions(contract_cost=300, mip_gap=0.0))
    t = front.table
    assert front.model == "milp" and len(t) >= 2  # a trade-off to check on each seed
    assert (np.diff(t["tonnes_matched"].to_numpy(float)) > 0).all()
    assert (np.diff(t["saving_cny"].to_numpy(float)) < 0).all()
    assert t["gap"].max() == pytest.approx(0.0, abs=1e-7)
    lots = {o["id"]: o.get("min_lot", 0.0) for o in offers}
    for p in front.plans:
        for (o, _n), q in plan(p).items():
            assert q >= lots[o] - 1e-6
