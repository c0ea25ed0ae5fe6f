"""The solver layer: published min-cost-flow optima, hand-solved transport problems, scaling
guards, and agreement between min-cost flow and the LP."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import glop_reference
import networkx as nx
import numpy as np
import pytest

from symbiosis.matching.flow import (
    SolverStatus,
    choose_scales,
    solve_generalized_transport_lp,
    solve_min_cost_flow,
    solve_transport_mcf,
)

MCF_DIR = Path(__file__).resolve().parents[1] / "data" / "mcf"


def read_dimacs(path: Path) -> tuple[np.ndarray, ...]:
    """Parse a DIMACS .min file into 0-based tails, heads, lower, capacity, cost, supply."""
    supply: np.ndarray | None = None
    arcs: list[tuple[int, int, int, int, int]] = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "p":
            supply = np.zeros(int(parts[2]), np.int64)
        elif parts[0] == "n":
            assert supply is not None
            supply[int(parts[1]) - 1] = int(parts[2])
        elif parts[0] == "a":
            t, h, lo, cap, cost = (int(v) for v in parts[1:6])
            arcs.append((t - 1, h - 1, lo, cap, cost))
    assert supply is not None
    a = np.array(arcs, dtype=np.int64)
    return a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4], supply


def published_optima() -> list[tuple[str, int]]:
    with (MCF_DIR / "optima.csv").open() as fh:
        return [(r["instance_file"], int(r["documented_optimal_cost"]))
                for r in csv.DictReader(fh)]


@pytest.mark.parametrize(("instance", "optimum"), published_optima())
def test_reproduces_published_min_cost_flow_optimum(instance: str, optimum: int) -> None:
    """OR-Tools behind our wrapper reaches the documented optimum of each NETGEN instance."""
    tails, heads, lower, cap, cost, supply = read_dimacs(MCF_DIR / instance)
    status, flows, total = solve_min_cost_flow(tails, heads, cap, cost, supply, lower)
    assert status is SolverStatus.OPTIMAL
    assert total == optimum
    # the flow itself is feasible: bounds and conservation hold
    assert np.all(flows >= lower) and np.all(flows <= cap)
    balance = np.zeros_like(supply)
    np.add.at(balance, tails, flows)
    np.subtract.at(balance, heads, flows)
    assert np.array_equal(balance, supply)


def test_min_cost_flow_agrees_with_networkx_on_bradley_example() -> None:
    """A second, independent algorithm (networkx network simplex) gives the same cost."""
    tails, heads, _, cap, cost, supply = read_dimacs(MCF_DIR / "bradley_hax_magnanti_1977.min")
    g = nx.DiGraph()
    for node, s in enumerate(supply):
        g.add_node(node, demand=-int(s))
    for t, h, c, w in zip(tails, heads, cap, cost, strict=True):
        g.add_edge(int(t), int(h), capacity=int(c), weight=int(w))
    nx_cost, _ = nx.network_simplex(g)
    assert solve_min_cost_flow(tails, heads, cap, cost, supply)[2] == nx_cost == 150


def test_lower_bounds_are_honoured() -> None:
    """An arc with a lower bound carries at least that much even when it is dearer."""
    tails, heads = np.array([0, 0]), np.array([1, 1])
    status, flows, total = solve_min_cost_flow(tails, heads, np.array([10, 10]),
                                               np.array([1, 5]), np.array([4, -4]),
                                               lower=np.array([0, 3]))
    assert status is SolverStatus.OPTIMAL
    assert flows.tolist() == [1, 3] and total == 1 + 15


def test_infeasible_network_reports_status() -> None:
    """Supply that cannot reach demand is reported as infeasible, not raised."""
    status, flows, _ = solve_min_cost_flow(np.array([0]), np.array([1]), np.array([1]),
                                           np.array([1]), np.array([5, -5]))
    assert status is SolverStatus.INFEASIBLE
    assert flows.tolist() == [0]


# A 2x2 transport problem solved by hand:
# supplies s0 = 10, s1 = 5; demands d0 = 8, d1 = 4; arcs s0-d0 (5 km), s0-d1 (1 km),
# s1-d1 (1 km). At most 12 can be delivered (total demand). Sending s0->d0 8 and 4 to d1
# from either supplier costs 8*5 + 4*1 = 44, the minimum at that maximum.
SUP, DEM = np.array([10.0, 5.0]), np.array([8.0, 4.0])
ARC_S, ARC_D, KM = np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([5.0, 1.0, 1.0])


def test_transport_mcf_hand_solved() -> None:
    sol = solve_transport_mcf(SUP, DEM, ARC_S, ARC_D, KM)
    assert sol.status is SolverStatus.OPTIMAL
    assert sol.stages == (12.0, 44.0)
    assert sol.flows[0] == 8.0 and sol.flows[1] + sol.flows[2] == 4.0
    assert sol.gap == 0.0


def test_transport_lp_hand_solved() -> None:
    sol = solve_generalized_transport_lp(SUP, DEM, ARC_S, ARC_D, KM, np.ones(3))
    assert sol.status is SolverStatus.OPTIMAL
    assert sol.stages[0] == pytest.approx(12.0, rel=1e-9)
    assert sol.objective == pytest.approx(44.0, rel=1e-7)


def test_generalized_lp_uses_ratios() -> None:
    """With ratio 0.5 on s1->d1, d1 (4 units) takes 8 units of s1's offer.

    Max delivered = 8 (s0->d0) + 2 (s0->d1, spare s0) ... worked out: s0 has 10, s1 has 5.
    d0 only from s0 (<= 8); d1 from s0 at ratio 1 or s1 at ratio 0.5 (<= 4 need units).
    Offer units delivered are maximised by filling d1 from s1 (5 offer units use 2.5 need
    units) and the remaining 1.5 need units from s0: 8 + 1.5 + 5 = 14.5; tonne-km
    = 8*5 + 1.5*1 + 5*1 = 46.5.
    """
    sol = solve_generalized_transport_lp(SUP, DEM, ARC_S, ARC_D, KM,
                                         np.array([1.0, 1.0, 0.5]))
    assert sol.stages[0] == pytest.approx(14.5, rel=1e-9)
    assert sol.objective == pytest.approx(46.5, rel=1e-7)
    assert sol.flows == pytest.approx([8.0, 1.5, 5.0], abs=1e-6)


def test_scales_are_exact_for_decimal_data() -> None:
    """Quantities with one decimal and km with three are scaled without rounding."""
    s = choose_scales(np.array([12.5, 3.0]), np.array([1.234, 7.0]), num_nodes=4)
    assert (s.quantity, s.distance, s.quantity_exact, s.distance_exact) == (10, 1000, True,
                                                                             True)


def test_scales_back_off_instead_of_overflowing() -> None:
    """Huge totals reduce the quantity scale; costs stay within OR-Tools' int64 check."""
    s = choose_scales(np.array([3e14 + 0.5]), np.array([123.4567891]), num_nodes=10)
    assert s.quantity == 1  # 3e15 at one decimal would pass 2**50
    assert choose_scales(np.array([1e14 + 0.5]), np.array([1.0]), 10).quantity == 10
    assert not s.quantity_exact
    assert (123.4567891 * s.distance + 1) * 13 < 2**62


def test_mcf_result_is_computed_in_floats_not_from_saturating_cost() -> None:
    """A transport whose integer total cost exceeds int64 still reports the true figures."""
    big = 1e12
    sol = solve_transport_mcf(np.array([big]), np.array([big]), np.array([0]), np.array([0]),
                              np.array([9000.123]))
    assert sol.status is SolverStatus.OPTIMAL
    assert sol.stages[0] == big
    assert sol.objective == pytest.approx(big * 9000.123, rel=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_mcf_and_lp_agree_on_random_transport(seed: int) -> None:
    """Two independent solve paths reach the same optimum on both lexicographic stages."""
    rng = np.random.default_rng(seed)
    n_s, n_d = int(rng.integers(2, 25)), int(rng.integers(2, 25))
    n_a = int(rng.integers(1, n_s * n_d + 1))
    flat = rng.choice(n_s * n_d, size=n_a, replace=False)
    arc_s, arc_d = flat // n_d, flat % n_d
    km = rng.uniform(0.5, 150, n_a).round(3)
    sup = rng.uniform(1, 1000, n_s).round(1)
    dem = rng.uniform(1, 1000, n_d).round(1)
    mcf = solve_transport_mcf(sup, dem, arc_s, arc_d, km)
    lp = solve_generalized_transport_lp(sup, dem, arc_s, arc_d, km, np.ones(n_a))
    assert mcf.stages[0] == pytest.approx(lp.stages[0], rel=1e-9)
    assert mcf.objective == pytest.approx(lp.objective, rel=1e-6)


def _glop_transport(supply: np.ndarray, demand: np.ndarray, arc_s: np.ndarray,
                    arc_d: np.ndarray, ratio: np.ndarray, weights: np.ndarray) -> object:
    """max sum w x over the generalised transport rows as a MathOpt ModelProto, built by
    hand: the second solver the HiGHS LPs are held to, and the path blending still takes."""
    from ortools.math_opt import model_pb2

    n_s, n_a = len(supply), len(arc_s)
    proto = model_pb2.ModelProto()
    proto.variables.ids.extend(range(n_a))
    proto.variables.lower_bounds.extend([0.0] * n_a)
    proto.variables.upper_bounds.extend([float("inf")] * n_a)
    proto.variables.integers.extend([False] * n_a)
    rows = n_s + len(demand)
    proto.linear_constraints.ids.extend(range(rows))
    proto.linear_constraints.lower_bounds.extend([-float("inf")] * rows)
    proto.linear_constraints.upper_bounds.extend([*map(float, supply), *map(float, demand)])
    entries = sorted([(int(arc_s[a]), a, 1.0) for a in range(n_a)]
                     + [(n_s + int(arc_d[a]), a, float(ratio[a])) for a in range(n_a)])
    matrix = proto.linear_constraint_matrix
    for row, col, coefficient in entries:
        matrix.row_ids.append(row)
        matrix.column_ids.append(col)
        matrix.coefficients.append(coefficient)
    proto.objective.maximize = True
    proto.objective.linear_coefficients.ids.extend(range(n_a))
    proto.objective.linear_coefficients.values.extend(map(float, weights))
    return proto


def _random_generalised(seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    n_s, n_d = int(rng.integers(2, 12)), int(rng.integers(2, 12))
    pairs = [(i, j) for i in range(n_s) for j in range(n_d) if rng.random() < 0.5]
    if not pairs:
        pairs = [(0, 0)]
    arc_s = np.array([i for i, _ in pairs])
    arc_d = np.array([j for _, j in pairs])
    n_a = len(pairs)
    return (rng.integers(1, 500, n_s).astype(float), rng.integers(1, 500, n_d).astype(float),
            arc_s, arc_d, rng.choice([0.5, 0.8, 0.9, 1.0, 1.25], n_a),
            rng.integers(1, 60, n_a).astype(float))


@pytest.mark.parametrize("seed", range(25))
def test_highs_max_weight_lp_equals_glop_and_its_duals_close_the_gap(seed: int) -> None:
    """The HiGHS LP's optimum equals GLOP's (through MathOpt) on random generalised
    transports; its duals are feasible (u_s + ratio_a v_d >= w_a) and their objective equals
    the plan's (strong duality), so the prices built on them are the LP's."""
    from symbiosis.matching import flow

    sup, dem, arc_s, arc_d, ratio, w = _random_generalised(seed)
    sol = flow.solve_generalized_max_weight_lp(sup, dem, arc_s, arc_d, w, ratio)
    glop = glop_reference.solve(_glop_transport(sup, dem, arc_s, arc_d, ratio, w))
    best = glop.termination.objective_bounds.primal_bound
    assert sol.status is SolverStatus.OPTIMAL and sol.method == "lp_highs"
    assert sol.objective == pytest.approx(best, rel=1e-7)
    assert np.all(np.bincount(arc_s, weights=sol.flows, minlength=len(sup))
                  <= sup * (1 + 1e-9))
    assert np.all(np.bincount(arc_d, weights=sol.flows * ratio, minlength=len(dem))
                  <= dem * (1 + 1e-9))
    u, v = sol.duals["supply"], sol.duals["demand"]
    assert np.all(u[arc_s] + ratio * v[arc_d] >= w - 1e-6)
    assert sup @ u + dem @ v == pytest.approx(sol.objective, rel=1e-7)


@pytest.mark.parametrize("seed", range(15))
def test_highs_lexicographic_stages_equal_glop_stages(seed: int) -> None:
    """Both stages of the generalised transport (most delivered, then least t-km at that
    delivery) equal two GLOP solves of the same stages; with a stockpile, the stock drawn is
    the least that reaches the same delivery."""
    from symbiosis.matching import flow

    sup, dem, arc_s, arc_d, ratio, km = _random_generalised(seed)
    sol = flow.solve_generalized_transport_lp(sup, dem, arc_s, arc_d, km, ratio)
    proto = _glop_transport(sup, dem, arc_s, arc_d, ratio, np.ones(len(km)))
    z1 = glop_reference.solve(proto).termination.objective_bounds.primal_bound
    row = len(proto.linear_constraints.ids)
    proto.linear_constraints.ids.append(row)
    proto.linear_constraints.lower_bounds.append(z1 * (1 - flow.LP_STAGE_TOLERANCE))
    proto.linear_constraints.upper_bounds.append(float("inf"))
    for a in range(len(km)):
        proto.linear_constraint_matrix.row_ids.append(row)
        proto.linear_constraint_matrix.column_ids.append(a)
        proto.linear_constraint_matrix.coefficients.append(1.0)
    proto.objective.maximize = False
    del proto.objective.linear_coefficients.values[:]
    proto.objective.linear_coefficients.values.extend(map(float, km))
    z2 = glop_reference.solve(proto).termination.objective_bounds.primal_bound
    assert sol.status is SolverStatus.OPTIMAL
    assert sol.stages[0] == pytest.approx(z1, rel=1e-9)
    assert sol.objective == pytest.approx(z2, rel=1e-6, abs=1e-6)
    assert sol.bound <= sol.objective


def test_highs_stockpile_stage_by_hand() -> None:
    """Offer A: surplus 10 t, 30 km from the need; offer B: no surplus but 10 t of
    stockpile, 5 km away; the need takes 15 t (ratio 1). Most delivered is 15 t; the least
    stock that reaches it is 5 t, so A ships its 10 t although B is nearer, and t-km are
    10 x 30 + 5 x 5 = 325."""
    from symbiosis.matching import flow

    sol = flow.solve_generalized_transport_lp(
        np.array([10.0, 0.0]), np.array([15.0]), np.array([0, 1]), np.array([0, 0]),
        np.array([30.0, 5.0]), np.array([1.0, 1.0]), stock=np.array([0.0, 10.0]))
    assert sol.status is SolverStatus.OPTIMAL
    # each stage is solved on the last one's optimal face: exact, not within a tolerance
    assert sol.stages == pytest.approx((15.0, 5.0, 325.0), rel=1e-12)
    assert sol.flows == pytest.approx([10.0, 5.0], rel=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_highs_later_stage_keeps_the_first_stage_optimum_exactly(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the optimal face the t-km stage delivers exactly z1 (the row fallback, used when
    HiGHS gives no duals, may give up 1e-9 of it and drops flows under its slack), and
    both ways reach the same t-km to that slack."""
    from symbiosis.matching import flow

    sup, dem, arc_s, arc_d, ratio, km = _random_generalised(seed)
    face = flow.solve_generalized_transport_lp(sup, dem, arc_s, arc_d, km, ratio)
    assert face.flows.sum() == pytest.approx(face.stages[0], rel=1e-12, abs=1e-9)
    monkeypatch.setattr(flow._HighsLP, "keep_optimal_face", lambda self, scale: False)
    row = flow.solve_generalized_transport_lp(sup, dem, arc_s, arc_d, km, ratio)
    assert face.detail == "" and "held to within 1e-09" in row.detail  # said, not hidden
    assert row.stages[0] == face.stages[0]
    # the row lets 1e-9 go, and flows under ten times that slack are dropped as noise
    assert row.flows.sum() >= face.stages[0] * (1 - 1e-7)
    assert row.objective == pytest.approx(face.objective, rel=1e-6, abs=1e-6)
    assert row.objective <= face.objective + 1e-6  # the slack can only help t-km


def test_highs_lp_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    """No banner or log on stdout or stderr: `symbiosis match --json` prints summary.json
    alone."""
    from symbiosis.matching import flow

    sup, dem, arc_s, arc_d, ratio, km = _random_generalised(0)
    flow.solve_generalized_transport_lp(sup, dem, arc_s, arc_d, km, ratio)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_highs_lp_reports_infeasible_rows() -> None:
    """Extra rows no plan can meet give status INFEASIBLE, not a plan."""
    from symbiosis.matching import flow

    sup, dem, arc_s, arc_d, ratio, w = _random_generalised(1)
    sol = flow.solve_generalized_max_weight_lp(
        sup, dem, arc_s, arc_d, w, ratio,
        extra_rows=[(np.ones(len(w)), sup.sum() + 1, math.inf)])
    assert sol.status is SolverStatus.INFEASIBLE


def test_long_chain_with_inexact_km_solves_within_the_potential_guard() -> None:
    """A 2,000-offer alternating chain (offer i -> need i far, offer i+1 -> need i near) with
    inexact km: the finest scale of the old guard (max_cost x nodes) made OR-Tools stop with
    BAD_COST_RANGE when potentials ran down the chain; the potential guard solves it, and the
    plan's km equal an independent LP's (scipy HiGHS) within the reported bound."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    n = 2000
    rng = np.random.default_rng(0)
    sup = np.full(n, 10.0)
    sup[0] = 11.0
    dem = np.full(n, 10.0)
    tails = np.concatenate([np.arange(n), np.arange(1, n)])
    heads = np.concatenate([np.arange(n), np.arange(0, n - 1)])
    km = np.concatenate([rng.uniform(100, 300, n), rng.uniform(0.1, 1, n - 1)]) + 1 / 3
    sol = solve_transport_mcf(sup, dem, tails, heads, km)
    assert sol.status is SolverStatus.OPTIMAL, sol.detail
    assert sol.scales is not None and not sol.scales.distance_exact
    assert sol.flows.sum() == pytest.approx(dem.sum(), abs=1e-9)
    m = len(km)
    cols = np.arange(m)
    a_sup = coo_matrix((np.ones(m), (tails, cols)), shape=(n, m))
    a_dem = coo_matrix((np.ones(m), (heads, cols)), shape=(n, m))
    lp = linprog(km, A_ub=a_sup, b_ub=sup, A_eq=a_dem, b_eq=dem, bounds=(0, None),
                 method="highs")
    assert lp.status == 0
    assert sol.bound <= lp.fun + 1e-6 * lp.fun
    assert sol.objective == pytest.approx(lp.fun, rel=1e-9)
