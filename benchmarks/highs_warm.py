"""A warm start for the certified sparse rounds: HiGHS crossover from OR-Tools' optimum.

OR-Tools' min-cost flow cannot warm start, so every certified sparse round (matching.sparse)
solves from scratch, and the national instance needs three rounds of 15-20 s. This probe
measures the route that would make rounds after the first cheap: take the first round's
optimal flow (OR-Tools) and the node potentials the certificate computes anyway, hand both
to HiGHS's crossover as a primal-dual solution, which returns an optimal *basis*; then add
columns (the arcs pricing adds) and let HiGHS re-optimise from that basis.

The LP is the single-stage form of the default objective (module docstring of
matching.sparse): minimise sum (km_a - M) x_a, offer rows sum_out x <= supply, need rows
sum_in x <= demand, 0 <= x_a <= min(supply, demand), with M = BIG_M_KM per unit (more than
any path on the instance). Row duals come from the potentials p of the residual graph with
the sink t: y_o = min(0, -M - p_o + p_t), z_n = min(0, p_n - p_t).

Prints, for DATASET_DIR (the engine's own candidates): OR-Tools' solve, HiGHS's cold dual
simplex, the crossover, a re-run right after it (0 iterations when the basis is optimal),
and a warm re-solve after adding ADD columns (copies of existing arcs 0.5 km cheaper, which
must enter). Measured 2026-11-30 on the 3,000-enterprise province (332,199 arcs): OR-Tools
0.48 s, HiGHS cold 3.87 s, crossover 0.09 s (optimal), re-run 0 iterations, 100 columns
added and re-solved in 0.16 s (420 iterations). On the national instance's nearest-3 set
(401,269 arcs, 188,658 rows): OR-Tools 8.4 s, HiGHS cold 8.7 s, crossover 0.46 s (optimal),
100 columns re-solved in 0.98 s. On its nearest-30 set (3,172,024 arcs, the first round of
the certified solve): OR-Tools 28 s in that run, crossover 1.75 s (status unknown; one
iteration then makes it optimal, 1.3 s), 100 columns re-solved in 9.3 s (14,919
iterations) - about half an OR-Tools round, so the warm route pays only for rounds that add
few arcs, and whether it pays for the 31,690 arcs of the second round is untested.

HiGHS 1.16's crossover ends the process with a segmentation fault when it is the first
thing run on a freshly passed model (seen on the province and the national sets); a run
capped at 0 simplex iterations first (SOLVE_FIRST) avoids it.

Usage: python benchmarks/highs_warm.py DATASET_DIR [--add N] [--no-cold]
       (highspy: `pip install -e ".[bench]"`)
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

__all__ = ["main", "probe"]

BIG_M_KM = 1e4  # per unit: more than any candidate path's km on a province
SOLVE_FIRST = True


def _lp(highspy: Any, supply: np.ndarray, demand: np.ndarray, offer: np.ndarray,
        need: np.ndarray, cost: np.ndarray, cap: np.ndarray) -> Any:
    from scipy.sparse import csc_matrix

    n_s, n_d, n_a = len(supply), len(demand), len(cost)
    matrix = csc_matrix((np.ones(2 * n_a), (np.concatenate([offer, n_s + need]),
                                            np.concatenate([np.arange(n_a)] * 2))),
                        shape=(n_s + n_d, n_a))
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_a, n_s + n_d
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, np.zeros(n_a), cap
    lp.row_lower_ = np.full(n_s + n_d, -np.inf)
    lp.row_upper_ = np.concatenate([supply, demand])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_ = matrix.indptr, matrix.indices
    lp.a_matrix_.value_ = matrix.data
    h.passModel(lp)
    return h


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--add", type=int, default=100, help="columns added before the re-solve")
    ap.add_argument("--no-cold", action="store_true", help="skip HiGHS's own cold solve")
    args = ap.parse_args(argv)
    from symbiosis.dataset import load_dataset
    from symbiosis.matching import model
    from symbiosis.matching.candidates import build_candidates

    ds = load_dataset(args.dataset)
    supply, demand, offer, need, km, _ = model._network_inputs(ds, build_candidates(ds),
                                                               None)
    probe(supply, demand, offer, need, km, args.add, not args.no_cold)
    return 0


def probe(supply: np.ndarray, demand: np.ndarray, offer: np.ndarray, need: np.ndarray,
          km: np.ndarray, add_columns: int, cold: bool = True) -> None:
    """Print the steps' seconds for this transport network (offer and need rows,
    arcs offer -> need with their km); `cold` False skips HiGHS's own cold solve (minutes
    on millions of arcs)."""
    import highspy

    from symbiosis.matching.flow import solve_transport_mcf
    from symbiosis.matching.sparse import node_potentials, residual_arcs

    offer, need = offer.astype(np.int64), need.astype(np.int64)
    n_s, n_d, n_a = len(supply), len(demand), len(km)
    t = time.perf_counter()
    ref = solve_transport_mcf(supply, demand, offer, need, km)
    print(f"OR-Tools min-cost flow: {time.perf_counter() - t:.2f} s, {n_a:,} arcs, "
          f"delivered {ref.stages[0]:,.0f}, sum(q x km) {ref.stages[1]:,.3f}")
    assert ref.scales is not None
    scale = ref.scales.distance
    cost, cap = km - BIG_M_KM, np.minimum(supply[offer], demand[need])

    if cold:
        h = _lp(highspy, supply, demand, offer, need, cost, cap)
        t = time.perf_counter()
        h.run()
        print(f"HiGHS cold: {time.perf_counter() - t:.2f} s, {h.getModelStatus()}, "
              f"{h.getInfo().simplex_iteration_count:,} iterations")

    # potentials of the residual graph of OR-Tools' flow, at its own integer costs
    f = np.rint(ref.flows).astype(np.int64)
    sup, dem = np.rint(supply).astype(np.int64), np.rint(demand).astype(np.int64)
    shipped, received = np.bincount(offer, f, n_s), np.bincount(need, f, n_d)
    sink = n_s + n_d
    tails, heads, costs = residual_arcs(sup, dem, offer, need, f, np.rint(km * scale),
                                        int(BIG_M_KM * scale))
    p = node_potentials(sink + 1, tails, heads, costs) / scale
    y = np.minimum(-BIG_M_KM - p[:n_s] + p[sink], 0.0)
    z = np.minimum(p[n_s:sink] - p[sink], 0.0)

    h = _lp(highspy, supply, demand, offer, need, cost, cap)
    if SOLVE_FIRST:  # see the module docstring: crossover needs a prior run
        h.setOptionValue("simplex_iteration_limit", 0)
        h.run()
        h.setOptionValue("simplex_iteration_limit", 2**31 - 1)
    sol = highspy.HighsSolution()
    sol.col_value = ref.flows.tolist()
    sol.row_value = np.concatenate([shipped, received]).astype(float).tolist()
    sol.value_valid = True
    sol.col_dual = (cost - y[offer] - z[need]).tolist()
    sol.row_dual = np.concatenate([y, z]).tolist()
    sol.dual_valid = True
    t = time.perf_counter()
    status = h.crossover(sol)
    print(f"crossover from OR-Tools' flow and the potentials: {time.perf_counter() - t:.2f} s,"
          f" {status}, {h.getModelStatus()}")
    t = time.perf_counter()
    h.run()
    print(f"re-run from that basis: {time.perf_counter() - t:.2f} s, "
          f"{h.getInfo().simplex_iteration_count} iterations")

    add = np.linspace(0, n_a - 1, min(add_columns, n_a)).astype(np.int64)
    t = time.perf_counter()
    h.addCols(len(add), cost[add] - 0.5, np.zeros(len(add)), cap[add], 2 * len(add),
              np.arange(0, 2 * len(add), 2),
              np.stack([offer[add], n_s + need[add]], 1).ravel(), np.ones(2 * len(add)))
    h.run()
    print(f"{len(add)} columns added, warm re-solve: {time.perf_counter() - t:.2f} s, "
          f"{h.getModelStatus()}, {h.getInfo().simplex_iteration_count} iterations")


if __name__ == "__main__":
    raise SystemExit(main())
