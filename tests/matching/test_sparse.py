"""The certified sparse solve: it equals the dense solve exactly (delivered, and
quantity x km at the solver's integer scale) on random transport problems, on the published
min-cost-flow optima and on datasets end to end, and its certificate adds up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_flow import MCF_DIR, published_optima, read_dimacs

from symbiosis import Dataset, dataset_from_records, load_dataset
from symbiosis.errors import SolverError
from symbiosis.matching import MatchOptions, solve_match
from symbiosis.matching import sparse as sparse_module
from symbiosis.matching.flow import (
    FlowSolution,
    SolverStatus,
    solve_min_cost_flow,
    solve_transport_mcf,
)
from symbiosis.matching.parts import arc_components, balanced_bins
from symbiosis.matching.sparse import (
    SOLVERS,
    Certificate,
    certified_min_cost_flow,
    node_potentials,
    solve_transport_sparse,
    sparse_start,
)


def scaled_cost(flows: np.ndarray, km: np.ndarray, scale: int) -> int:
    """sum(flow x km) with km as the solver saw them (integers at its distance scale)."""
    return int(np.rint(flows * 1.0) @ np.rint(km * scale)) if len(km) else 0


def assert_same_optimum(got: FlowSolution, ref: FlowSolution, km: np.ndarray) -> None:
    """Both lexicographic stages of `got` equal `ref`'s: delivered, and sum(q x km), in the
    integers of `ref`'s solver (its quantity and distance scales)."""
    assert ref.scales is not None
    q, scale = ref.scales.quantity, ref.scales.distance
    assert round(got.flows.sum() * q) == round(ref.flows.sum() * q)
    assert scaled_cost(got.flows * q, km, scale) == scaled_cost(ref.flows * q, km, scale)


def check_certificate(cert: Certificate, start: int) -> None:
    """The certificate's counts are consistent with each other."""
    assert cert.violations == 0
    assert cert.rounds == len(cert.added_per_round) >= 1
    assert cert.added_per_round[-1] == 0  # the last round priced out nothing
    assert cert.arcs_added == sum(cert.added_per_round)
    assert cert.arcs_solved == start + cert.arcs_added <= cert.arcs_total
    # every round prices every arc outside the set at that round
    assert cert.arcs_priced >= (cert.arcs_total - cert.arcs_solved) * cert.rounds


@pytest.mark.parametrize("solver", SOLVERS)
def test_hand_instance_from_an_empty_set(solver: str) -> None:
    """k = 0: the first sparse set is empty, so pricing alone must find the optimum.

    o0 (1 t) reaches n0 at 1 km and n1 at 2 km, o1 (1 t) only n0 at 3 km; each need takes
    1 t. The nearest plan (o0 -> n0) delivers 1 t; the optimum delivers 2 t:
    o0 -> n1 and o1 -> n0, 2 + 3 = 5 t-km.
    """
    supply, demand = np.array([1.0, 1.0]), np.array([1.0, 1.0])
    offer, need = np.array([0, 0, 1]), np.array([0, 1, 0])
    km = np.array([1.0, 2.0, 3.0])
    sol, cert = solve_transport_sparse(supply, demand, offer, need, km, k=0, solver=solver)
    assert sol.status is SolverStatus.OPTIMAL
    assert cert.solver == solver and sol.method == ("network_simplex"
                                                    if solver == "network_simplex"
                                                    else "min_cost_flow")
    np.testing.assert_array_equal(sol.flows, [0.0, 1.0, 1.0])
    assert sol.stages == (2.0, 5.0)
    check_certificate(cert, start=0)
    assert cert.rounds >= 2 and cert.arcs_added >= 2


def random_transport(rng: np.random.Generator, low: int, high: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Offers and needs (low to high - 1 of each), a random set of arcs among them, whole
    supplies and demands of 1 to 59: supply, demand, each arc's offer and need."""
    n_s, n_d = (int(v) for v in rng.integers(low, high, 2))
    pairs = rng.choice(n_s * n_d, int(rng.integers(1, n_s * n_d + 1)), replace=False)
    supply = rng.integers(1, 60, n_s).astype(float)
    demand = rng.integers(1, 60, n_d).astype(float)
    return supply, demand, pairs // n_d, pairs % n_d


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("solver", SOLVERS)
def test_sparse_equals_dense_on_random_transport(seed: int, solver: str) -> None:
    """Both stages equal exactly: delivered, and sum(q x km) in the solver's integers,
    whichever solver runs the rounds."""
    rng = np.random.default_rng(seed)
    supply, demand, offer, need = random_transport(rng, 1, 40)
    n_s, n_d = len(supply), len(demand)
    if seed % 2:
        supply, demand = supply / 10, demand / 4  # fractional quantities: quantity scale
    km = np.round(rng.uniform(0, 150, len(offer)), int(rng.integers(0, 4)))
    k = int(rng.integers(0, 4))
    dense = solve_transport_mcf(supply, demand, offer, need, km)
    sparse, cert = solve_transport_sparse(supply, demand, offer, need, km, k=k,
                                          solver=solver)
    assert sparse.status is dense.status is SolverStatus.OPTIMAL
    assert cert.solver == solver
    assert sparse.scales is not None
    assert_same_optimum(sparse, dense, km)
    # the plan is feasible for the full model
    assert np.all(np.bincount(offer, sparse.flows, n_s) <= supply + 1e-9)
    assert np.all(np.bincount(need, sparse.flows, n_d) <= demand + 1e-9)
    check_certificate(cert, start=len(sparse_start(offer, need, km, k)))


def regions(seed: int, n_regions: int = 4) -> tuple[np.ndarray, ...]:
    """A transport problem of `n_regions` far-apart regions (components), each with its
    own offers and needs and random arcs among them."""
    rng = np.random.default_rng(seed)
    parts = []
    n_s = n_d = 0
    for _ in range(n_regions):
        s, d = (int(v) for v in rng.integers(3, 25, 2))
        pairs = rng.choice(s * d, int(rng.integers(s, s * d + 1)), replace=False)
        parts.append((n_s + pairs // d, n_d + pairs % d))
        n_s, n_d = n_s + s, n_d + d
    offer = np.concatenate([p[0] for p in parts])
    need = np.concatenate([p[1] for p in parts])
    supply = rng.integers(1, 60, n_s).astype(float)
    demand = rng.integers(1, 60, n_d).astype(float)
    km = np.round(rng.uniform(0, 150, len(offer)), 2)
    return supply, demand, offer, need, km


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("helper", [False, True])
def test_rounds_solved_in_groups_of_components_equal_dense(
        seed: int, helper: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A round solved as groups of whole components, each on its own renumbered offers and
    needs, with the second group in a helper process (a real spawned process) or not,
    gives the dense optimum, and the same plan either way."""
    supply, demand, offer, need, km = regions(seed)
    dense = solve_transport_mcf(supply, demand, offer, need, km)
    monkeypatch.setattr(sparse_module, "PART_MIN_ARCS", 0)
    monkeypatch.setattr(sparse_module, "PART_HELPER_MIN_ARCS", 0 if helper else 10**12)
    plan, cert = solve_transport_sparse(supply, demand, offer, need, km, k=1,
                                        solver="min_cost_flow")
    monkeypatch.setattr(sparse_module, "PART_HELPER_MIN_ARCS", 10**12)
    alone, _ = solve_transport_sparse(supply, demand, offer, need, km, k=1,
                                      solver="min_cost_flow")
    assert plan.stages[0] == dense.stages[0]
    assert_same_optimum(plan, dense, km)
    assert np.array_equal(plan.flows, alone.flows)
    check_certificate(cert, start=len(sparse_start(offer, need, km, 1)))


def test_later_rounds_solve_only_the_components_that_gained_arcs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With OR-Tools rounds, a round re-solves only the components holding an arc added by
    the last pricing; the others keep their flows, which are still optimal: the plan equals
    the dense optimum, and over these seeds some round solved fewer arcs than its set held."""
    monkeypatch.setattr(sparse_module, "PART_MIN_ARCS", 0)
    fewer = 0
    for seed in range(12):
        supply, demand, offer, need, km = regions(seed, n_regions=6)
        dense = solve_transport_mcf(supply, demand, offer, need, km)
        plan, cert = solve_transport_sparse(supply, demand, offer, need, km, k=1,
                                            solver="min_cost_flow")
        assert plan.stages[0] == dense.stages[0]
        assert_same_optimum(plan, dense, km)
        assert len(cert.resolved_per_round) == cert.rounds
        sizes = np.cumsum([len(sparse_start(offer, need, km, 1)), *cert.added_per_round])
        assert cert.resolved_per_round[0] == sizes[0]
        assert all(r <= n for r, n in zip(cert.resolved_per_round, sizes, strict=False))
        fewer += sum(r < n for r, n in zip(cert.resolved_per_round[1:], sizes[1:],
                                           strict=False))
    assert fewer > 0


def test_groups_hold_whole_components() -> None:
    """Two groups of whole components: no offer or need is in both, and together they hold
    every arc once."""
    supply, demand, offer, need, _ = regions(3, n_regions=5)
    labels = arc_components(offer, need, len(supply), len(demand))
    groups = balanced_bins(labels, 2)
    assert len(groups) == 2
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(offer)))
    assert not set(offer[groups[0]].tolist()) & set(offer[groups[1]].tolist())
    assert not set(need[groups[0]].tolist()) & set(need[groups[1]].tolist())


@pytest.mark.parametrize(("instance", "optimum"), published_optima())
def test_sparse_reproduces_published_min_cost_flow_optimum(instance: str,
                                                           optimum: int) -> None:
    """From the 2 cheapest arcs per node, pricing reaches each documented optimum."""
    tails, heads, lower, cap, cost, supply = read_dimacs(MCF_DIR / instance)
    status, flows, total, cert = certified_min_cost_flow(tails, heads, cap, cost, supply,
                                                         lower, k=2)
    assert status is SolverStatus.OPTIMAL
    assert total == optimum
    assert np.all(flows >= lower) and np.all(flows <= cap)
    balance = np.zeros_like(supply)
    np.add.at(balance, tails, flows)
    np.subtract.at(balance, heads, flows)
    np.testing.assert_array_equal(balance, supply)
    start = len(np.union1d(sparse_start(tails, heads, cost.astype(float), 2),
                           np.flatnonzero(lower > 0)))
    check_certificate(cert, start)
    _, _, dense_total = solve_min_cost_flow(tails, heads, cap, cost, supply, lower)
    assert dense_total == total


def test_general_network_infeasible_is_reported() -> None:
    """Supply with no way out: the hub arcs keep the flow and the status says infeasible."""
    status, flows, _, _ = certified_min_cost_flow(
        np.array([0]), np.array([1]), np.array([1]), np.array([1]), np.array([2, -2]))
    assert status is SolverStatus.INFEASIBLE
    assert flows.tolist() == [1]


def test_potentials_refuse_a_negative_cycle() -> None:
    with pytest.raises(SolverError, match="negative cycle"):
        node_potentials(2, np.array([0, 1]), np.array([1, 0]), np.array([1.0, -2.0]))


def test_potentials_are_shortest_paths() -> None:
    """0 -> 1 (-3), 1 -> 2 (2), 0 -> 2 (5): from a root joined to all at 0."""
    p = node_potentials(3, np.array([0, 1, 0]), np.array([1, 2, 2]),
                        np.array([-3.0, 2.0, 5.0]))
    np.testing.assert_array_equal(p, [0.0, -3.0, -1.0])


def test_sparse_method_end_to_end_on_the_demo(demo_path: Path) -> None:
    """`method=sparse` on the bundled demo: the same delivery and t-km as dense, with a
    certificate in summary.json's solver facts (and none on the dense run)."""
    ds = load_dataset(demo_path)
    dense = solve_match(ds, MatchOptions(method="dense", valuate=False)).summary
    sparse = solve_match(ds, MatchOptions(method="sparse", valuate=False)).summary
    assert sparse.solver.delivered == pytest.approx(dense.solver.delivered, rel=1e-12)
    assert sparse.tonnes_matched == pytest.approx(dense.tonnes_matched, rel=1e-12)
    # equal at the integer scale (metres): at most half a metre per tonne apart
    assert abs(sparse.tonne_km - dense.tonne_km) <= 5e-4 * dense.tonnes_matched
    assert dense.solver.certificate is None
    cert = sparse.solver.certificate
    assert cert is not None and cert.violations == 0
    assert cert.arcs_solved <= cert.arcs_total and cert.rounds >= 1
    assert sparse.model_dump()["solver"]["certificate"]["rounds"] == cert.rounds


def random_dataset(seed: int) -> Dataset:
    """100 gypsum offers and 25 small needs in one town, 25 large needs in another about
    150 km away: the 30 nearest needs of every offer are the 25 small local ones and 5 far
    ones, and each far need's 30 nearest offers are only 30 of the 100, so most offers
    start without a way to most of the far demand and pricing must add it."""
    rng = np.random.default_rng(seed)
    town = np.array([[112.5, 27.5]] * 125 + [[113.6, 28.4]] * 25)
    pos = town + rng.random((150, 2)) * 0.1
    enterprises = [{"id": f"E{i}", "name": f"E{i}", "lon": float(pos[i, 0]),
                    "lat": float(pos[i, 1])} for i in range(150)]
    offers = [{"id": f"O{i}", "enterprise_id": f"E{i}", "material": "fgd_gypsum",
               "quantity": int(rng.integers(1_000, 20_000))} for i in range(100)]
    needs = [{"id": f"N{j}", "enterprise_id": f"E{100 + j}",
              "material": ("wallboard_gypsum", "set_retarder")[j % 2],
              "quantity": int(rng.integers(100, 1_000) if j < 25
                              else rng.integers(50_000, 100_000))} for j in range(50)]
    return dataset_from_records({"enterprises": enterprises, "offers": offers,
                                 "needs": needs})


@pytest.mark.parametrize("seed", range(3))
def test_sparse_equals_dense_end_to_end_with_pricing(seed: int) -> None:
    """Through solve_match: pricing adds arcs (the 30-nearest set is not enough), and
    delivery and the solver's integer objective equal the dense run's."""
    ds = random_dataset(seed)
    common = {"max_km": 500, "accept_unstated_quality": True, "valuate": False}
    dense = solve_match(ds, MatchOptions(method="dense", **common)).summary
    sparse = solve_match(ds, MatchOptions(method="sparse", **common)).summary
    cert = sparse.solver.certificate
    assert cert is not None and cert.arcs_total == 100 * 50
    assert cert.rounds >= 2 and cert.arcs_added > 0  # pricing found missing arcs
    assert cert.arcs_solved < cert.arcs_total
    assert sparse.tonnes_matched == dense.tonnes_matched
    # whole metres x whole tonnes: the t-km of two optima differ by less than 1 m per t
    assert abs(sparse.tonne_km - dense.tonne_km) < 1e-3 * dense.tonnes_matched


def test_cli_method_sparse_writes_the_certificate(run_cli: Any, demo_path: Path,
                                                  tmp_path: Path) -> None:
    """`symbiosis match --method sparse` (a flag derived from MatchOptions) runs and
    summary.json's solver facts carry the certificate."""
    out = tmp_path / "out"
    proc = run_cli("match", demo_path, "--out", out, "--method", "sparse")
    assert proc.returncode == 0, proc.stderr
    solver = json.loads((out / "summary.json").read_text(encoding="utf-8"))["solver"]
    assert solver["certificate"]["violations"] == 0
    assert solver["certificate"]["rounds"] >= 1


def test_spawn_is_refused_where_it_would_break(tmp_path: Path) -> None:
    """Worker processes are spawned only from a main module that is safe to import again:
    pytest (run as a module or from its console script) is, a plain script without the
    `__main__` guard is not, and a daemonic process may not have children at all."""
    import subprocess
    import sys
    import textwrap

    from symbiosis.matching.parts import spawn_safe

    assert spawn_safe()
    code = textwrap.dedent("""
        import multiprocessing, sys
        from symbiosis.matching.parts import spawn_safe
        print(spawn_safe())
        def child(queue):
            queue.put(spawn_safe())
        if __name__ == "__main__":
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            p = ctx.Process(target=child, args=(queue,), daemon=True)
            p.start(); print(queue.get()); p.join()
    """)
    script = tmp_path / "plain_script.py"
    script.write_text(code, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == "False"  # a script beside no interpreter: maybe unguarded
    assert out[-1] == "False"  # the daemonic child


@pytest.mark.parametrize("seed", range(4))
def test_first_set_is_the_same_with_tails_and_heads_side_by_side(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The k cheapest arcs of every offer and need, picked on two threads (the histogram
    path of large sets), are the positions picked on one."""
    rng = np.random.default_rng(seed)
    n = 20_000
    tails, heads = rng.integers(0, 300, n), rng.integers(0, 500, n)
    costs = np.round(rng.uniform(0, 100, n), 1)
    monkeypatch.setattr(sparse_module, "usable_cores", lambda: 2)
    two = sparse_start(tails, heads, costs, 7, prefilter_min=0)
    monkeypatch.setattr(sparse_module, "usable_cores", lambda: 1)
    one = sparse_start(tails, heads, costs, 7, prefilter_min=0)
    plain = sparse_start(tails, heads, costs, 7, prefilter_min=10**9)  # no histogram
    assert np.array_equal(two, one) and np.array_equal(one, plain)
    assert 0 < len(one) < n
