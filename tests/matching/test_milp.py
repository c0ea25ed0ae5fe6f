"""Integer logistics (issue 16, `matching.milp`): hand-solved instances (a fixed cost that
makes an exchange not worth it, a minimum lot that excludes a small flow, trips rounding up
and whole trucks, a partner limit, an existing contract), agreement with a second MILP
solver (scipy.optimize.milp, HiGHS) on random instances, the heuristic's feasibility, and
bad input named by file:row:column."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

from symbiosis import Dataset, dataset_from_records, validate_dataset
from symbiosis.errors import InfeasibleError, InvalidDataError
from symbiosis.matching import MatchOptions, solve_match
from symbiosis.matching.candidates import candidates_for
from symbiosis.matching.economics import arc_values
from symbiosis.matching.logistics import arc_logistics, capital_recovery_factor
from symbiosis.matching.milp import (
    _feasible,
    build_model,
    continuous_plan,
    plan_value,
    round_and_repair,
    solve_model,
    wants_milp,
)
from symbiosis.matching.result import MatchResult

Rows = list[dict[str, Any]]
ROAD = [{"material": "", "cny_per_unit_km": 1, "loading_cny_per_unit": 0}]


def make(offers: Rows, needs: Rows, distances: Rows, transport: Rows | None = None,
         contracts: Rows | None = None, ents: tuple[str, ...] = ("A", "B", "C", "D")
         ) -> Dataset:
    """A dataset whose enterprises share one spot: every km comes from `distances`."""
    records: dict[str, Rows] = {
        "enterprises": [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in ents],
        "offers": offers, "needs": needs, "distances": distances,
        "transport": transport if transport is not None else ROAD}
    if contracts is not None:
        records["contracts"] = contracts
    return dataset_from_records(records)


def ash(oid: str, ent: str, qty: float, **extra: Any) -> dict[str, Any]:
    return {"id": oid, "enterprise_id": ent, "material": "fly_ash", "quantity": qty, **extra}


def km(a: str, b: str, d: float) -> dict[str, Any]:
    return {"from_id": a, "to_id": b, "distance_km": d}


def plan(result: MatchResult) -> dict[tuple[str, str], float]:
    ex = result.exchanges
    return {(o, n): float(q) for o, n, q in zip(ex["offer_id"], ex["need_id"], ex["quantity"],
                                                strict=True)}


def reason(result: MatchResult, offer: str) -> list[str]:
    row = result.offers.set_index("offer_id").loc[offer]
    return str(row["reason"]).split(";")


def milp_section(result: MatchResult) -> dict[str, Any]:
    section = result.summary.to_dict()["solver"]["milp"]
    assert section is not None
    return dict(section)


# ----------------------------------------------------------------------------- hand-solved


def test_contract_cost_makes_the_small_exchange_not_worth_it() -> None:
    """Saving 30 - 10 km x 1 = 20 CNY/t. O1 (100 t) saves 2,000 - 500 contract = 1,500;
    O2 (20 t) would save 400 < 500: left out, reason fixed_cost. Objective 1,500."""
    ds = make([ash("O1", "A", 100, disposal_cost=30), ash("O2", "D", 20, disposal_cost=30)],
              [ash("N1", "B", 200)], [km("A", "B", 10), km("D", "B", 10)])
    result = solve_match(ds, MatchOptions(objective="cost", contract_cost=500))
    assert plan(result) == {("O1", "N1"): 100.0}
    assert result.summary.solver.objective == pytest.approx(1500.0, rel=1e-9)
    assert result.summary.solver.status == "optimal"
    assert reason(result, "O2")[0] == "fixed_cost"
    assert result.exchanges["contract_cny"].tolist() == [500.0]
    assert result.exchanges["saving_cny"].tolist() == pytest.approx([1500.0])
    # without the contract cost both exchanges pay: the LP plan
    free = solve_match(ds, MatchOptions(objective="cost"))
    assert plan(free) == {("O1", "N1"): 100.0, ("O2", "N1"): 20.0}


def test_contract_cost_column_of_both_sides_adds_up() -> None:
    """Offer side 300 + need side 150 = 450 per exchange: O2's 20 t x 20 = 400 < 450."""
    ds = make([ash("O1", "A", 100, disposal_cost=30, contract_cny_per_year=300),
               ash("O2", "D", 20, disposal_cost=30, contract_cny_per_year=300)],
              [ash("N1", "B", 200, contract_cny_per_year=150)],
              [km("A", "B", 10), km("D", "B", 10)])
    assert wants_milp(ds, MatchOptions())
    result = solve_match(ds, MatchOptions(objective="cost"))
    assert plan(result) == {("O1", "N1"): 100.0}
    assert result.summary.solver.objective == pytest.approx(2000.0 - 450.0)


def test_min_lot_excludes_the_small_flow_and_its_relaxation_is_valued() -> None:
    """O1 (100 t, min lot 40): N1 takes 30 t at 10 km, N2 60 t at 20 km. Without the lot
    90 t go; with it N1's 30 t is below the lot: 60 t to N2 only; relaxing the lot to 0
    is worth the 30 t again."""
    ds = make([ash("O1", "A", 100, min_lot=40)],
              [ash("N1", "B", 30), ash("N2", "C", 60)], [km("A", "B", 10), km("A", "C", 20)])
    result = solve_match(ds)
    assert plan(result) == {("O1", "N2"): 60.0}
    assert result.summary.tonnes_matched == 60.0
    assert reason(result, "O1")[0] == "below_min_lot"
    assert "minimum lot is 40.0 t/yr" in str(
        result.offers.set_index("offer_id").at["O1", "explanation"])
    relax = milp_section(result)["relaxations"]
    assert [(r["limit"], r["listing"], r["current"], r["relaxed"]) for r in relax] == \
        [("min_lot", "O1", 40.0, 0.0)]
    # 30 t more at weight 1 - 0.001 x 10 / 21 each
    assert relax[0]["gain"] == pytest.approx(30 * (1 - 1e-3 * 10 / 21), rel=1e-9)
    assert plan(solve_match(ds, MatchOptions(method="mcf"))) == \
        {("O1", "N1"): 30.0, ("O1", "N2"): 60.0}


def test_need_min_lot_in_need_units() -> None:
    """A need's lot applies to each supplier: N1 (50 t, min lot 25) between O1 (20 t) and
    O2 (40 t): O1's 20 t is below it, O2 sends 40 t."""
    ds = make([ash("O1", "A", 20), ash("O2", "C", 40)], [ash("N1", "B", 50, min_lot=25)],
              [km("A", "B", 5), km("C", "B", 50)])
    result = solve_match(ds)
    assert plan(result) == {("O2", "N1"): 40.0}
    assert reason(result, "O1")[0] == "below_min_lot"


def test_trips_round_up() -> None:
    """70 t by 30-t trucks is 3 trips (not 2.33): 70 x 100 - 3 x 5 x 10 = 6,850 CNY."""
    truck = [*ROAD, {"material": "fly_ash", "truck_capacity_t": 30, "cny_per_trip_km": 5}]
    ds = make([ash("O1", "A", 70, disposal_cost=100)], [ash("N1", "B", 100)],
              [km("A", "B", 10)], truck)
    result = solve_match(ds, MatchOptions(objective="cost"))
    assert plan(result) == {("O1", "N1"): 70.0}
    assert result.exchanges["trips"].tolist() == [3.0]
    assert result.exchanges["transport_cny"].tolist() == pytest.approx([150.0])
    assert result.summary.solver.objective == pytest.approx(6850.0, rel=1e-9)


def test_partial_last_truck_is_left_when_it_loses_money() -> None:
    """3 CNY/t saved, a trip costs 50: a full truck nets 90 - 50 = 40, the last 10 t would
    net 30 - 50 < 0: 60 t in 2 trips (80 CNY) beats 70 t in 3 (60 CNY)."""
    truck = [*ROAD, {"material": "fly_ash", "truck_capacity_t": 30, "cny_per_trip_km": 5}]
    ds = make([ash("O1", "A", 70, disposal_cost=3)], [ash("N1", "B", 100)],
              [km("A", "B", 10)], truck)
    result = solve_match(ds, MatchOptions(objective="cost"))
    assert plan(result) == {("O1", "N1"): 60.0}
    assert result.exchanges["trips"].tolist() == [2.0]
    assert result.summary.solver.objective == pytest.approx(80.0, rel=1e-9)


def test_partner_limit_and_its_relaxation() -> None:
    """O1 (100 t, at most 1 partner): N1 60 t at 10 km, N2 60 t at 20 km: 60 t to the
    nearer N1 only; one more partner is worth the 40 t that then go to N2."""
    ds = make([ash("O1", "A", 100, max_partners=1)],
              [ash("N1", "B", 60), ash("N2", "C", 60)], [km("A", "B", 10), km("A", "C", 20)])
    result = solve_match(ds)
    assert plan(result) == {("O1", "N1"): 60.0}
    assert reason(result, "O1")[0] == "partner_limit"
    relax = milp_section(result)["relaxations"]
    assert [(r["limit"], r["listing"], r["current"], r["relaxed"]) for r in relax] == \
        [("max_partners", "O1", 1.0, 2.0)]
    assert relax[0]["gain"] == pytest.approx(40 * (1 - 1e-3 * 20 / 21), rel=1e-9)
    # the option applies where the listing states none; the column wins
    loose = make([ash("O1", "A", 100, max_partners=2)],
                 [ash("N1", "B", 60), ash("N2", "C", 60)],
                 [km("A", "B", 10), km("A", "C", 20)])
    assert len(plan(solve_match(loose, MatchOptions(max_partners=1)))) == 2
    free = make([ash("O1", "A", 100)], [ash("N1", "B", 60), ash("N2", "C", 60)],
                [km("A", "B", 10), km("A", "C", 20)])
    assert plan(solve_match(free, MatchOptions(max_partners=1))) == {("O1", "N1"): 60.0}


def test_existing_contract_stays() -> None:
    """The partner-limited offer has a contract with the farther N2: it stays, 60 t."""
    ds = make([ash("O1", "A", 100, max_partners=1)],
              [ash("N1", "B", 60), ash("N2", "C", 60)], [km("A", "B", 10), km("A", "C", 20)],
              contracts=[{"offer_id": "O1", "need_id": "N2"}])
    assert plan(solve_match(ds)) == {("O1", "N2"): 60.0}
    # a contract keeping a quantity that no plan can deliver is an error, not a plan
    too_much = make([ash("O1", "A", 100)], [ash("N1", "B", 60)], [km("A", "B", 10)],
                    contracts=[{"offer_id": "O1", "need_id": "N1", "quantity": 80}])
    with pytest.raises(InfeasibleError):
        solve_match(too_much)


def test_contract_that_is_no_candidate_names_its_row(tmp_path: Path) -> None:
    ds = make([ash("O1", "A", 100)], [ash("N1", "B", 60)], [km("A", "B", 900)],
              contracts=[{"offer_id": "O1", "need_id": "N1"}])
    with pytest.raises(InvalidDataError) as err:
        solve_match(ds)
    assert ":2:need_id:" in str(err.value.problems[0])


def test_no_integer_feature_keeps_the_continuous_models() -> None:
    ds = make([ash("O1", "A", 100)], [ash("N1", "B", 60)], [km("A", "B", 10)])
    assert not wants_milp(ds, MatchOptions())
    assert wants_milp(ds, MatchOptions(method="milp"))
    assert solve_match(ds).summary.solver.milp is None
    forced = solve_match(ds, MatchOptions(method="milp"))
    assert plan(forced) == {("O1", "N1"): 60.0}
    assert milp_section(forced)["gap"] <= 1e-12


def test_money_ignored_under_utilization_is_said() -> None:
    ds = make([ash("O1", "A", 100, disposal_cost=30)], [ash("N1", "B", 60)],
              [km("A", "B", 10)])
    result = solve_match(ds, MatchOptions(contract_cost=100000))
    assert plan(result) == {("O1", "N1"): 60.0}  # utilization: the contract is not weighed
    assert any("no money term" in w for w in result.summary.warnings)


def test_capital_recovery_factor_matches_the_pipe_table() -> None:
    """pipe_costs.csv annualises at 8 %/yr over 20 years: CRF 0.1019."""
    assert capital_recovery_factor(0.08, 20) == pytest.approx(0.10185, abs=5e-6)
    assert capital_recovery_factor(0.0, 20) == 0.05
    with pytest.raises(ValueError):
        capital_recovery_factor(0.08, 0)


# ----------------------------------------------------------------------------- random


def _random_dataset(seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    n_o, n_n = int(rng.integers(3, 7)), int(rng.integers(3, 7))
    ents = tuple(f"E{i}" for i in range(n_o + n_n))
    offers = [ash(f"O{i}", ents[i], float(rng.integers(10, 120)),
                  disposal_cost=float(rng.integers(5, 40)),
                  **({"min_lot": float(rng.integers(5, 10))} if rng.random() < 0.4 else {}),
                  **({"max_partners": int(rng.integers(1, 3))} if rng.random() < 0.4 else {}),
                  **({"contract_cny_per_year": float(rng.integers(0, 600))} if rng.random() < 0.5
                     else {}))
              for i in range(n_o)]
    needs = [ash(f"N{j}", ents[n_o + j], float(rng.integers(10, 120)),
                 virgin_cost=float(rng.integers(0, 20)),
                 **({"min_lot": float(rng.integers(5, 10))} if rng.random() < 0.3 else {}),
                 **({"max_partners": int(rng.integers(1, 3))} if rng.random() < 0.3 else {}))
             for j in range(n_n)]
    dist = [km(ents[i], ents[n_o + j], float(rng.integers(1, 40)))
            for i in range(n_o) for j in range(n_n)]
    truck = [*ROAD, {"material": "fly_ash", "truck_capacity_t": int(rng.integers(8, 30)),
                     "cny_per_trip_km": float(rng.integers(1, 6))}]
    return make(offers, needs, dist, truck, ents=ents)


def _scipy_objective(ds: Dataset, options: MatchOptions) -> float:
    """The docstring's MILP written again from the raw per-arc inputs for
    scipy.optimize.milp: every arc (no pruning, no break-even cut), x, y, T for all."""
    cand = candidates_for(ds, options)
    values = arc_values(ds, cand, options.economics)
    lg = arc_logistics(ds, cand, options, values)
    m = len(cand)
    share = values.pipe_unit if values.pipe_unit is not None else 0.0
    w = values.saving + share + lg.road_unit_cny
    fixed = lg.contract_cny + lg.pipe_cny
    k = lg.truck_t
    trips_ub = np.ceil(lg.upper / k)
    # variables: x (m), y (m), T (m)
    c = -np.concatenate([w, -fixed, -lg.trip_cny])
    rows = lil_matrix((len(ds.offers) + len(ds.needs) + 5 * m + len(ds.offers)
                       + len(ds.needs), 3 * m))
    lo: list[float] = []
    hi: list[float] = []
    r = 0
    for o in range(len(ds.offers)):
        for a in np.flatnonzero(cand.offer == o):
            rows[r, a] = 1
        lo.append(-np.inf)
        hi.append(lg.supply[o])
        r += 1
    for n in range(len(ds.needs)):
        for a in np.flatnonzero(cand.need == n):
            rows[r, a] = cand.ratio[a]
        lo.append(-np.inf)
        hi.append(lg.demand[n])
        r += 1
    for a in range(m):
        for coefs, low, high in (({a: 1, m + a: -lg.upper[a]}, -np.inf, 0),
                                 ({a: 1, m + a: -lg.lot[a]}, 0, np.inf),
                                 ({a: 1, 2 * m + a: -k[a]}, -np.inf, 0),
                                 ({2 * m + a: 1, m + a: -trips_ub[a]}, -np.inf, 0),
                                 ({m + a: 1, 2 * m + a: -1}, -np.inf, 0)):
            for col, v in coefs.items():
                rows[r, col] = v
            lo.append(low)
            hi.append(high)
            r += 1
    for ends, lim in ((cand.offer, lg.offer_partners), (cand.need, lg.need_partners)):
        for i in range(len(lim)):
            for a in np.flatnonzero(ends == i):
                rows[r, m + a] = 1
            lo.append(-np.inf)
            hi.append(float(lim[i]) if lim[i] else np.inf)
            r += 1
    res = milp(c, constraints=LinearConstraint(rows.tocsr(), lo, hi),
               integrality=np.concatenate([np.zeros(m), np.ones(2 * m)]),
               bounds=Bounds(np.zeros(3 * m), np.concatenate([lg.upper, np.ones(m),
                                                              trips_ub])),
               options={"mip_rel_gap": 1e-9})
    assert res.success
    return float(-res.fun)


@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_scipy_milp_on_random_instances(seed: int) -> None:
    """Same optimum as an independent formulation solved by scipy's HiGHS; the plan
    respects every limit; the heuristic's plan is feasible and no better than the MILP."""
    ds = _random_dataset(seed)
    options = MatchOptions(objective="cost", mip_gap=0.0, contract_cost=200)
    result = solve_match(ds, options)
    expected = _scipy_objective(ds, options)
    assert result.summary.solver.objective == pytest.approx(expected, rel=1e-6, abs=1e-6)
    section = milp_section(result)
    assert section["batches_solved"] == 1  # these instances need MathOpt, not the LP bound
    assert section["heuristic_objective"] <= section["incumbent"] + 1e-6
    assert section["incumbent"] <= section["bound"] + 1e-6
    assert section["bound"] <= section["continuous_bound"] + 1e-6
    cand = candidates_for(ds, options)
    values = arc_values(ds, cand, options.economics)
    model, _ = build_model(ds, cand, options, values,
                           arc_logistics(ds, cand, options, values))
    start, _ = continuous_plan(model)
    heuristic = round_and_repair(model, start)
    assert _feasible(model, heuristic)
    # the reported heuristic adds LP re-solves to this first rounding, never worse
    assert plan_value(model, heuristic) <= section["heuristic_objective"] + 1e-9
    ex = result.exchanges
    if len(ex):
        per_offer = ex.groupby("offer_id").size()
        limits = ds.offers["max_partners"].dropna()
        assert all(per_offer.get(o, 0) <= lim for o, lim in limits.items())
        lots = ds.offers["min_lot"].reindex(ex["offer_id"]).fillna(0).to_numpy()
        assert np.all(ex["quantity"].to_numpy() >= lots - 1e-6)


def test_scip_gives_the_same_optimum() -> None:
    ds = _random_dataset(3)
    a = solve_match(ds, MatchOptions(objective="cost", mip_gap=0.0, contract_cost=200))
    b = solve_match(ds, MatchOptions(objective="cost", mip_gap=0.0, contract_cost=200,
                                     mip_solver="scip"))
    assert b.summary.solver.objective == pytest.approx(a.summary.solver.objective, rel=1e-6)
    assert b.summary.solver.methods == ["milp_scip"]


def test_solve_model_reports_a_bound_when_stopped_early() -> None:
    """A time limit too short to prove anything still returns a feasible plan, its
    incumbent no worse than the heuristic's and a finite bound above it."""
    ds = _random_dataset(5)
    options = MatchOptions(objective="cost", contract_cost=200)
    cand = candidates_for(ds, options)
    values = arc_values(ds, cand, options.economics)
    model, _ = build_model(ds, cand, options, values, arc_logistics(ds, cand, options, values))
    out = solve_model(model, 0.001, 0.0)
    assert _feasible(model, out.x)
    assert out.heuristic_objective <= out.objective + 1e-9 <= out.bound + 2e-9
    assert math.isfinite(out.bound)


# ----------------------------------------------------------------------------- bad input


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def test_bad_logistics_input_is_named_by_file_row_column(tmp_path: Path) -> None:
    _write(tmp_path, "enterprises.csv", "id,name,lon,lat\nA,a,112.9,28.2\nB,b,112.95,28.2\n")
    _write(tmp_path, "offers.csv", "id,enterprise_id,material,quantity,min_lot,max_partners,"
           "contract_cny_per_year\nO1,A,fly_ash,100,150,1.5,-3\nO2,A,fly_ash,100,50,2,10\n")
    _write(tmp_path, "needs.csv", "id,enterprise_id,material,quantity,min_lot,max_partners\n"
           "N1,B,fly_ash,80,90,0\n")
    _write(tmp_path, "transport.csv", "material,truck_capacity_t,cny_per_trip_km\n"
           "fly_ash,30.5,-2\n,0,\n")
    _write(tmp_path, "contracts.csv", "offer_id,need_id,quantity\nO1,N9,5\nO2,N1,500\n"
           "O2,N1,1\n")
    found = {(Path(p.file).name, p.row, p.column): p.message
             for p in validate_dataset(tmp_path) if p.severity == "error"}
    assert found == {
        ("offers.csv", 2, "min_lot"): "min_lot 150 is above the quantity 100",
        ("offers.csv", 2, "max_partners"): "must be a whole number, got 1.5",
        ("offers.csv", 2, "contract_cny_per_year"): "must be >= 0, got -3",
        ("needs.csv", 2, "min_lot"): "min_lot 90 is above the quantity 80",
        ("needs.csv", 2, "max_partners"): "must be > 0, got 0",
        ("transport.csv", 2, "truck_capacity_t"): "must be a whole number, got 30.5",
        ("transport.csv", 2, "cny_per_trip_km"): "must be >= 0, got -2",
        ("transport.csv", 3, "truck_capacity_t"): "must be > 0, got 0",
        ("contracts.csv", 2, "need_id"): "'N9' is not an id in needs",
        ("contracts.csv", 4, "need_id"): "contract listed twice (first at row 3)",
        ("contracts.csv", 4, "quantity"): "contracts of offer 'O2' keep 501, above its "
                                          "quantity 100",
    }


def test_bad_options_are_refused() -> None:
    from symbiosis.errors import OptionsError

    for bad in ({"contract_cost": -1}, {"max_partners": 0}, {"mip_gap": 2},
                {"mip_solver": "cplex"}):
        with pytest.raises(OptionsError):
            MatchOptions(**bad)


def test_highs_progress_rows_are_read_from_its_log() -> None:
    """Rows of HiGHS 1.x's branch-and-bound table (as MathOpt relays them): seconds,
    incumbent, bound; rows without an incumbent and other lines are skipped."""
    from symbiosis.matching.milp import _parse_progress

    lines = [
        "Src  Proc. InQueue |  Leaves   Expl. | BestBound       BestSol              Gap |"
        "   Cuts   InLp Confl. | LpIters     Time",
        " H       0       0         0   0.00%   1.2e+05         -inf                 inf"
        "        0      0      0         0     0.1s",
        "         0       0         0   0.00%   1584439813      1581463934         0.19%"
        "        0      0      0      2855     1.2s",
        "Solving report",
    ]
    assert _parse_progress(lines) == ((1.2, 1581463934.0, 1584439813.0),)


def test_integer_logistics_with_blending_is_refused_not_silently_ungraded() -> None:
    """The MILP does not model blends: asking for both is an OptionsError, never a plan
    that quietly drops the blend limits."""
    from symbiosis.errors import OptionsError

    ds = make([ash("O1", "A", 100, min_lot=40, **{"q.loi_pct": 5.0})],
              [ash("N1", "B", 60, **{"max.loi_pct": 8.0})], [km("A", "B", 10)])
    with pytest.raises(OptionsError, match="blending"):
        solve_match(ds, MatchOptions(blend=True))
    assert plan(solve_match(ds)) == {("O1", "N1"): 60.0}
