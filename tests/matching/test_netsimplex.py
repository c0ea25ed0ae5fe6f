"""The network simplex (matching.netsimplex): exact optima against OR-Tools and by hand,
a warm start that keeps the basis, a basis check that catches a broken one, the dense
transport route through it, and the OR-Tools fallback without the compiled loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_flow import MCF_DIR, published_optima, read_dimacs
from test_sparse import assert_same_optimum, random_transport

from symbiosis.matching import flow as flow_module
from symbiosis.matching import netsimplex
from symbiosis.matching.flow import SolverStatus, solve_min_cost_flow, solve_transport_mcf
from symbiosis.matching.netsimplex import (
    INF_CAP,
    NetworkSimplex,
    NetworkSimplexStatus,
    arc_order,
)
from symbiosis.matching.sparse import solve_transport_sparse


def random_network(rng: np.random.Generator, negative: bool
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """2-30 nodes, up to 120 arcs without loops, capacities 0-19, costs 0-29 (or -5-29),
    supplies from a few random transfers: tails, heads, capacities, costs, supplies."""
    n = int(rng.integers(2, 31))
    m = int(rng.integers(1, 121))
    tail, head = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = tail != head
    tail, head = tail[keep], head[keep]
    cap = rng.integers(0, 20, len(tail))
    cost = rng.integers(-5 if negative else 0, 30, len(tail))
    supply = np.zeros(n, np.int64)
    for _ in range(int(rng.integers(1, 6))):
        a, b = rng.integers(0, n, 2)
        q = int(rng.integers(1, 15))
        supply[a] += q
        supply[b] -= q
    return tail, head, cap, cost, supply


def check_optimal(basis: NetworkSimplex, supply: np.ndarray) -> None:
    """Feasible flow and complementary slackness, recomputed from the arrays with numpy
    (`optimality_violations`), not reported by the C loop."""
    assert basis.optimality_violations(np.append(supply, 0)) == 0


@pytest.mark.parametrize("seed", range(60))
def test_equals_or_tools_on_random_networks(seed: int) -> None:
    """Same status and optimal cost as OR-Tools' min-cost flow (which solves by cost
    scaling: a second, independent method); infeasible networks keep artificial flow."""
    rng = np.random.default_rng(seed)
    tail, head, cap, cost, supply = random_network(rng, negative=seed % 3 == 0)
    basis = NetworkSimplex.with_artificial_root(tail, head, cap, cost, supply)
    assert basis.solve() == NetworkSimplexStatus.OPTIMAL
    status, _, total = solve_min_cost_flow(tail, head, cap, cost, supply)
    n = len(supply)
    if status is SolverStatus.OPTIMAL:
        assert basis.artificial_flow == 0
        f = basis.arc_flows()[n:]
        assert int(f @ cost) == total
        check_optimal(basis, supply)
    else:
        assert status is SolverStatus.INFEASIBLE
        assert basis.artificial_flow > 0


def test_hand_instance() -> None:
    """s (supply 4) to t (demand 4) over a (s->a 1/unit cap 3, a->t 1/unit cap 3) and the
    direct arc s->t (5/unit, cap 10): 3 units by a (cost 2 each), 1 direct: 6 + 5 = 11."""
    tail, head = np.array([0, 1, 0]), np.array([1, 2, 2])
    cap, cost = np.array([3, 3, 10]), np.array([1, 1, 5])
    supply = np.array([4, 0, -4])
    basis = NetworkSimplex.with_artificial_root(tail, head, cap, cost, supply)
    assert basis.solve() == NetworkSimplexStatus.OPTIMAL
    np.testing.assert_array_equal(basis.arc_flows()[3:], [3, 3, 1])
    # potentials price the direct arc at 0 (it carries flow below capacity) and the path
    # arcs at <= 0 (saturated)
    rc = basis.reduced_costs()[3:]
    assert rc[2] == 0 and rc[0] + rc[1] == -3
    check_optimal(basis, supply)


@pytest.mark.parametrize(("instance", "optimum"), published_optima())
def test_published_optima(instance: str, optimum: int) -> None:
    """The NETGEN instances with published optimal costs in the test data."""
    tails, heads, lower, cap, cost, supply = read_dimacs(MCF_DIR / instance)
    if lower.any():
        pytest.skip("lower bounds: the network simplex takes 0 lower bounds")
    basis = NetworkSimplex.with_artificial_root(tails, heads, cap, cost, supply)
    assert basis.solve() == NetworkSimplexStatus.OPTIMAL
    assert basis.artificial_flow == 0
    assert int(basis.arc_flows()[len(supply):] @ cost) == optimum
    check_optimal(basis, supply)


@pytest.mark.parametrize("seed", range(8))
def test_warm_start_after_adding_arcs_equals_a_cold_solve(seed: int) -> None:
    """Solve on all but 30 arcs, add them, solve again from that basis: the optimum of all
    arcs, in fewer pivots than a cold solve of all arcs takes (the sparse rounds' case)."""
    rng = np.random.default_rng(100 + seed)
    n = 60
    m = 1500
    tail, head = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = tail != head
    tail, head = tail[keep], head[keep]
    cap = rng.integers(1, 40, len(tail))
    cost = rng.integers(0, 100, len(tail))
    supply = np.zeros(n, np.int64)
    supply[:10] = 30
    supply[-10:] = -30
    most = len(tail) - 30
    warm = NetworkSimplex.with_artificial_root(tail[:most], head[:most], cap[:most],
                                               cost[:most], supply)
    assert warm.solve() == NetworkSimplexStatus.OPTIMAL
    first = warm.pivots
    warm.add_arcs(tail[most:], head[most:], cap[most:], cost[most:])
    assert warm.solve() == NetworkSimplexStatus.OPTIMAL
    cold = NetworkSimplex.with_artificial_root(tail, head, cap, cost, supply)
    assert cold.solve() == NetworkSimplexStatus.OPTIMAL
    assert warm.artificial_flow == cold.artificial_flow == 0
    f_warm, f_cold = warm.arc_flows()[n:], cold.arc_flows()[n:]
    assert int(f_warm @ cost) == int(f_cold @ cost)
    check_optimal(warm, supply)
    assert warm.pivots - first < cold.pivots / 4


def test_degenerate_network_terminates() -> None:
    """Every cost equal and every capacity equal to the supply: nearly every pivot is
    degenerate. The strongly feasible tree keeps the method from cycling."""
    n = 40
    nodes = np.arange(n)
    tail = np.repeat(nodes, n)
    head = np.tile(nodes, n)
    keep = tail != head
    tail, head = tail[keep], head[keep]
    supply = np.where(nodes < n // 2, 1, -1)
    basis = NetworkSimplex.with_artificial_root(tail, head, np.ones(len(tail)),
                                                np.zeros(len(tail)), supply)
    assert basis.solve(max_pivots=10**6) == NetworkSimplexStatus.OPTIMAL
    assert basis.artificial_flow == 0
    check_optimal(basis, supply)


def test_pivot_limit_then_resume() -> None:
    """A capped solve stops with PIVOT_LIMIT and resumes from its basis to the optimum."""
    rng = np.random.default_rng(7)
    tail, head, cap, cost, supply = random_network(rng, negative=False)
    while True:
        basis = NetworkSimplex.with_artificial_root(tail, head, cap, cost, supply)
        if basis.solve(max_pivots=1) == NetworkSimplexStatus.PIVOT_LIMIT:
            break
        tail, head, cap, cost, supply = random_network(rng, negative=False)
    assert basis.pivots == 1
    assert basis.solve() == NetworkSimplexStatus.OPTIMAL
    status, _, total = solve_min_cost_flow(tail, head, cap, cost, supply)
    if status is SolverStatus.OPTIMAL:
        assert int(basis.arc_flows()[len(supply):] @ cost) == total


def test_uncapacitated_negative_cycle_is_unbounded() -> None:
    """A cycle of uncapacitated arcs with negative total cost: UNBOUNDED, not a loop."""
    tail, head = np.array([0, 1, 2]), np.array([1, 2, 0])
    basis = NetworkSimplex.with_artificial_root(tail, head, np.full(3, INF_CAP),
                                                np.array([1, 1, -3]), np.zeros(3))
    assert basis.solve() == NetworkSimplexStatus.UNBOUNDED


def test_slackness_check_catches_a_broken_basis() -> None:
    """The independent check fails when a flow is moved off the optimum."""
    tail, head = np.array([0, 1, 0]), np.array([1, 2, 2])
    supply = np.array([4, 0, -4])
    basis = NetworkSimplex.with_artificial_root(tail, head, np.array([3, 3, 10]),
                                                np.array([1, 1, 5]), supply)
    basis.solve()
    check_optimal(basis, supply)
    basis.flow[basis.order == 5] += 1  # the direct arc: unbalances s and t
    assert basis.optimality_violations(np.append(supply, 0)) > 0
    basis.flow[basis.order == 5] -= 1
    basis.pi[1] -= 3  # a saturated arc (s -> a) now prices > 0: not complementary
    assert basis.optimality_violations(np.append(supply, 0)) > 0


def test_arc_order_is_a_permutation() -> None:
    for m, n in [(0, 5), (1, 1), (7, 3), (1000, 10), (1000, 2000)]:
        order = arc_order(m, n)
        assert sorted(order.tolist()) == list(range(m))


def test_rejects_unbalanced_supplies_and_bad_trees() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        NetworkSimplex.with_artificial_root(np.array([0]), np.array([1]), np.array([1]),
                                            np.array([1]), np.array([1, 0]))
    with pytest.raises(ValueError, match="tree arc to the root"):
        NetworkSimplex.from_tree(np.array([0]), np.array([1]), np.array([1]),
                                 np.array([1]), np.array([0]), np.array([-1, -1, -1]), 2)


@pytest.mark.parametrize("seed", range(30))
def test_dense_transport_by_simplex_equals_or_tools(seed: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`solve_transport_mcf` through the network simplex (from SIMPLEX_MIN_ARCS arcs; 0
    here) and through OR-Tools: both lexicographic stages equal (delivered, then the sum
    of quantity x km at the solver's integer scale), and the simplex says it solved."""
    rng = np.random.default_rng(500 + seed)
    supply, demand, offer, need = random_transport(rng, 1, 40)
    if seed % 2:
        supply, demand = supply / 10, demand / 4
    if seed % 3 == 0:  # listings with nothing left: their arcs have capacity 0
        supply[rng.random(len(supply)) < 0.2] = 0.0
        demand[rng.random(len(demand)) < 0.2] = 0.0
    km = np.round(rng.uniform(0, 150, len(offer)), int(rng.integers(0, 4)))
    monkeypatch.setattr(flow_module, "SIMPLEX_MIN_ARCS", 10**12)
    ref = solve_transport_mcf(supply, demand, offer, need, km)
    monkeypatch.setattr(flow_module, "SIMPLEX_MIN_ARCS", 0)
    got = solve_transport_mcf(supply, demand, offer, need, km)
    assert ref.method == "min_cost_flow" and got.method == "network_simplex"
    assert got.status is ref.status is SolverStatus.OPTIMAL
    assert ref.scales is not None and got.scales == ref.scales
    assert_same_optimum(got, ref, km)
    assert np.all(np.bincount(offer, got.flows, len(supply)) <= supply + 1e-9)
    assert np.all(np.bincount(need, got.flows, len(demand)) <= demand + 1e-9)


def test_without_the_compiled_loop_or_tools_solves(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine where the C extension was not built (no compiler at install): dense
    transports and sparse rounds both fall back to OR-Tools, with the same optimum."""
    rng = np.random.default_rng(11)
    supply, demand, offer, need = random_transport(rng, 10, 40)
    km = np.round(rng.uniform(0, 150, len(offer)), 2)
    monkeypatch.setattr(flow_module, "SIMPLEX_MIN_ARCS", 0)
    with_c = solve_transport_mcf(supply, demand, offer, need, km)
    sparse_c, cert_c = solve_transport_sparse(supply, demand, offer, need, km, k=1)
    monkeypatch.setattr(netsimplex, "available", lambda: False)
    without = solve_transport_mcf(supply, demand, offer, need, km)
    sparse, cert = solve_transport_sparse(supply, demand, offer, need, km, k=1)
    assert (with_c.method, cert_c.solver) == ("network_simplex", "network_simplex")
    assert (without.method, cert.solver) == ("min_cost_flow", "min_cost_flow")
    assert cert.pivots_per_round == [] and len(cert_c.pivots_per_round) == cert_c.rounds
    for sol in (without, sparse_c, sparse):
        assert sol.stages[0] == pytest.approx(with_c.stages[0], abs=1e-9)
        assert sol.stages[1] == pytest.approx(with_c.stages[1], rel=1e-12)


def test_the_extension_is_built() -> None:
    """CI installs with a C compiler: a silently skipped build would hide the fallback."""
    assert netsimplex.available()


@pytest.mark.parametrize("simplex", [False, True])
def test_prices_get_the_solver_quantum_whichever_solver_ran(
        simplex: bool, demo_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dual prices floor capacities to the min-cost flow's quantity resolution; a plan
    from the network simplex must hand over the same resolution as one from OR-Tools."""
    from symbiosis import load_dataset
    from symbiosis.matching import MatchOptions, model, solve_match

    seen: list[float] = []
    real = model.valuate

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(args[4] if len(args) > 4 else kwargs.get("quantum", 0.0))
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "valuate", spy)
    monkeypatch.setattr(flow_module, "SIMPLEX_MIN_ARCS", 0 if simplex else 10**12)
    result = solve_match(load_dataset(demo_path), MatchOptions())
    assert result.summary.solver.methods == ["network_simplex" if simplex
                                             else "min_cost_flow"]
    scales = result.summary.solver.integer_scales
    (quantity,) = {v["quantity"] for v in scales.values()}
    assert seen == [1.0 / quantity]


@pytest.mark.parametrize(("seed", "km_choices", "size"),
                         [(0, 0, 1), (1, 0, 1), (2, 3, 1), (3, 1, 1), (4, 0, 5), (5, 3, 5)])
def test_larger_transports_with_many_ties(seed: int, km_choices: int, size: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """300 x size offers, 400 x size needs, 20,000 x size^2 arcs; km drawn from a handful
    of values (1 value: every plan of maximum delivery is optimal; 3: heavy ties) or
    continuous (0). Deep trees and long runs of degenerate pivots, dense and in
    warm-started sparse rounds: both stages equal OR-Tools' in exact integers."""
    rng = np.random.default_rng(900 + seed)
    n_s, n_d, m = 300 * size, 400 * size, 20_000 * size * size
    pairs = rng.choice(n_s * n_d, m, replace=False)
    offer, need = pairs // n_d, pairs % n_d
    supply = rng.integers(1, 500, n_s).astype(float)
    demand = rng.integers(1, 400, n_d).astype(float)
    km = (rng.choice(np.array([5.0, 12.5, 40.0])[:km_choices], m) if km_choices
          else np.round(rng.uniform(0, 300, m), 3))
    monkeypatch.setattr(flow_module, "SIMPLEX_MIN_ARCS", 10**12)
    ref = solve_transport_mcf(supply, demand, offer, need, km)
    monkeypatch.setattr(flow_module, "SIMPLEX_MIN_ARCS", 0)
    dense = solve_transport_mcf(supply, demand, offer, need, km)
    sparse, cert = solve_transport_sparse(supply, demand, offer, need, km, k=2)
    assert dense.method == sparse.method == cert.solver == "network_simplex"
    for got in (dense, sparse):
        assert_same_optimum(got, ref, km)
    assert cert.rounds >= 2 and cert.violations == 0


@st.composite
def networks(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """Small networks, loops excluded, supplies balanced by construction."""
    n = draw(st.integers(2, 8))
    # a head is the tail shifted by 1..n-1: never a loop, no filtering
    arcs = [(t, (t + 1 + d) % n, c, w) for t, d, c, w in draw(st.lists(
        st.tuples(st.integers(0, n - 1), st.integers(0, n - 2), st.integers(0, 6),
                  st.integers(-4, 9)), min_size=1, max_size=24))]
    moves = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1),
                                    st.integers(1, 5)), min_size=1, max_size=4))
    supply = np.zeros(n, np.int64)
    for a, b, q in moves:
        supply[a] += q
        supply[b] -= q
    tail, head, cap, cost = (np.array(c, np.int64) for c in zip(*arcs, strict=True))
    return tail, head, cap, cost, supply


@settings(max_examples=300, deadline=None, database=None)
@given(networks())
def test_property_optimal_cost_and_conditions(net: tuple[np.ndarray, ...]) -> None:
    """On any small network: OR-Tools' status, the same optimal cost, and the optimality
    conditions recomputed from the arrays (Hypothesis shrinks a failure to a minimal one)."""
    tail, head, cap, cost, supply = net
    basis = NetworkSimplex.with_artificial_root(tail, head, cap, cost, supply)
    assert basis.solve() == NetworkSimplexStatus.OPTIMAL
    status, _, total = solve_min_cost_flow(tail, head, cap, cost, supply)
    if status is SolverStatus.OPTIMAL:
        assert basis.artificial_flow == 0
        assert int(basis.arc_flows()[len(supply):] @ cost) == total
        check_optimal(basis, supply)
    else:
        assert basis.artificial_flow > 0
