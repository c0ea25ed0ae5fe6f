"""The MILP's time budget (issue 16): the whole solve honours it; batches it cannot start
keep the round-and-repair plan and report their LP bound; every batch reports incumbent,
bound and gap, and a run stopped by the budget says so in its status. No wall clock: a
budget of zero seconds is spent before the first batch, deterministically."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from symbiosis import Dataset, dataset_from_records
from symbiosis.matching import MatchOptions, solve_match
from symbiosis.matching.candidates import candidates_for
from symbiosis.matching.economics import arc_values
from symbiosis.matching.logistics import arc_logistics
from symbiosis.matching.milp import (
    MilpModel,
    _components,
    _feasible,
    build_model,
    plan_value,
    solve_model,
)

Rows = list[dict[str, Any]]


def clusters(seed: int, n_clusters: int = 3) -> Dataset:
    """`n_clusters` random fixed-charge instances far apart (two degrees of longitude), so
    each is its own component under --max-km 100; distances within a cluster are given."""
    rng = np.random.default_rng(seed)
    ents: Rows = []
    offers: Rows = []
    needs: Rows = []
    dist: Rows = []
    for c in range(n_clusters):
        n_o, n_n = int(rng.integers(3, 6)), int(rng.integers(3, 6))
        os_ = [f"C{c}O{i}" for i in range(n_o)]
        ns_ = [f"C{c}N{j}" for j in range(n_n)]
        ents += [{"id": e, "name": e, "lon": 108.0 + 2.0 * c, "lat": 27.8} for e in os_ + ns_]
        offers += [{"id": f"o{e}", "enterprise_id": e, "material": "fly_ash",
                    "quantity": float(rng.integers(10, 120)),
                    "disposal_cost": float(rng.integers(5, 40)),
                    **({"min_lot": float(rng.integers(5, 15))} if rng.random() < 0.5 else {})}
                   for e in os_]
        needs += [{"id": f"n{e}", "enterprise_id": e, "material": "fly_ash",
                   "quantity": float(rng.integers(10, 120)),
                   "virgin_cost": float(rng.integers(0, 20)),
                   **({"max_partners": 1} if rng.random() < 0.4 else {})} for e in ns_]
        dist += [{"from_id": a, "to_id": b, "distance_km": float(rng.integers(1, 40))}
                 for a in os_ for b in ns_]
    transport = [{"material": "", "cny_per_unit_km": 1, "loading_cny_per_unit": 0},
                 {"material": "fly_ash", "truck_capacity_t": 25, "cny_per_trip_km": 3}]
    return dataset_from_records({"enterprises": ents, "offers": offers, "needs": needs,
                                 "distances": dist, "transport": transport})


OPTIONS = MatchOptions(objective="cost", contract_cost=300, max_km=100, mip_gap=0.0)


def model_of(ds: Dataset) -> MilpModel:
    cand = candidates_for(ds, OPTIONS)
    values = arc_values(ds, cand, OPTIONS.economics)
    model, _ = build_model(ds, cand, OPTIONS, values, arc_logistics(ds, cand, OPTIONS, values))
    return model


@pytest.mark.parametrize("seed", [1, 2])
def test_a_spent_budget_launches_no_batch_and_reports_every_one(seed: int) -> None:
    model = model_of(clusters(seed))
    n_comp = len(np.unique(_components(model)))
    assert n_comp == 3
    out = solve_model(model, 0.0, 0.0, batch_arcs=1)  # one component per batch
    assert out.batches == n_comp == len(out.batch_facts)
    assert out.batches_solved == 0  # nothing was launched once the budget was gone
    states = [f.state for f in out.batch_facts]
    assert set(states) <= {"lp_bound", "not_started"}
    assert "not_started" in states
    assert out.status == "time_limit"
    assert out.batches_stopped == states.count("not_started")
    for f in out.batch_facts:
        assert math.isfinite(f.bound) and f.bound >= f.incumbent - 1e-9
        assert f.gap == pytest.approx(abs(f.bound - f.incumbent) / max(1.0, abs(f.incumbent)))
    # the batches add up to the run: the heuristic plan, feasible, and a bound above it
    assert _feasible(model, out.x)
    assert out.objective == pytest.approx(sum(f.incumbent for f in out.batch_facts))
    assert out.objective == pytest.approx(out.heuristic_objective)
    assert out.bound == pytest.approx(min(sum(f.bound for f in out.batch_facts),
                                          out.continuous_bound))
    # with time, the same model is proved: every batch at the target, status optimal
    full = solve_model(model, 60.0, 0.0, batch_arcs=1)
    assert full.status == "optimal"
    assert {f.state for f in full.batch_facts} <= {"lp_bound", "optimal", "gap_reached"}
    assert full.objective >= out.objective - 1e-9
    assert full.bound <= out.bound + 1e-6
    assert plan_value(model, full.x) == pytest.approx(full.objective)


def test_the_run_reports_the_stopped_batches_in_its_summary() -> None:
    ds = clusters(1)
    result = solve_match(ds, OPTIONS.model_copy(update={"time_limit_s": 1e-9}))
    solver = result.summary.solver
    assert solver.status == "time_limit"
    assert solver.milp is not None
    report = solver.milp.batch_report
    assert report and solver.milp.batches_stopped == sum(
        b.state == "not_started" for b in report) > 0
    assert solver.milp.batches_solved == 0
    assert solver.milp.relaxations == []  # no budget left for them either
    assert solver.bound >= solver.objective
    assert "time limit" in solver.note
    done = solve_match(ds, OPTIONS)
    assert done.summary.solver.status == "optimal"
    assert done.summary.solver.objective >= solver.objective - 1e-6


def test_local_search_closes_the_exchange_the_rounding_opened_too_many() -> None:
    """O1 (100 t, saving 30 CNY/t before freight at 1 CNY/t-km), N1 (60 t) at 10 km and N2
    (100 t) at 15 km, a contract costs 500. The LP spreads the contract: N1 20 - 500/60 =
    11.7 per t beats N2 15 - 500/100 = 10, so the rounding keeps 60 t to N1 (700) and 40 t
    to N2 (100): 800. Closing N1 sends all 100 t to N2: 1,500 - 500 = 1,000, the optimum."""
    from symbiosis.matching.milp import continuous_plan, local_search, round_and_repair

    ds = dataset_from_records({
        "enterprises": [{"id": e, "name": e, "lon": 112.9, "lat": 27.8} for e in "ABC"],
        "offers": [{"id": "O1", "enterprise_id": "A", "material": "fly_ash",
                    "quantity": 100, "disposal_cost": 30}],
        "needs": [{"id": "N1", "enterprise_id": "B", "material": "fly_ash", "quantity": 60},
                  {"id": "N2", "enterprise_id": "C", "material": "fly_ash", "quantity": 100}],
        "distances": [{"from_id": "A", "to_id": "B", "distance_km": 10},
                      {"from_id": "A", "to_id": "C", "distance_km": 15}],
        "transport": [{"material": "", "cny_per_unit_km": 1, "loading_cny_per_unit": 0}]})
    options = MatchOptions(objective="cost", contract_cost=500)
    cand = candidates_for(ds, options)
    values = arc_values(ds, cand, options.economics)
    model, _ = build_model(ds, cand, options, values, arc_logistics(ds, cand, options, values))
    rounded = round_and_repair(model, continuous_plan(model)[0])
    assert plan_value(model, rounded) == pytest.approx(800.0)
    polished = local_search(model, rounded, math.inf)
    assert plan_value(model, polished) == pytest.approx(1000.0)
    assert _feasible(model, polished)
    result = solve_match(ds, options)
    assert result.summary.solver.milp is not None
    assert result.summary.solver.milp.heuristic_objective == pytest.approx(1000.0)
    assert result.summary.solver.objective == pytest.approx(1000.0)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_local_search_keeps_plans_feasible_and_never_worse(seed: int) -> None:
    from symbiosis.matching.milp import continuous_plan, local_search, round_and_repair

    model = model_of(clusters(seed))
    start = round_and_repair(model, continuous_plan(model)[0])
    out = local_search(model, start, math.inf)
    assert _feasible(model, out)
    assert plan_value(model, out) >= plan_value(model, start) - 1e-9
