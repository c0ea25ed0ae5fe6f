"""The transport solvers alone, on a benchmark instance's own network: OR-Tools' min-cost
flow (the baseline) against the network simplex (matching.netsimplex), timed in the same run.

For DATASET_DIR it builds the engine's candidates and network inputs once, then prints:

* dense: `flow.solve_transport_mcf` on every arc, through OR-Tools and through the network
  simplex (SIMPLEX_MIN_ARCS forced either way), the seconds, their ratio, and whether both
  stages agree (delivered, and sum(q x km) at the solver's integer scale);
* with --sparse: `sparse.solve_transport_sparse` with OR-Tools rounds from scratch and with
  the warm-started simplex rounds: seconds, ratio, rounds, arcs added and pivots per round.

Usage: python benchmarks/bench_simplex.py DATASET_DIR [--sparse] [--no-dense] [--repeat K]
(e.g. benchmarks/_work/bench_3000_s0, or bench_100000_s0 after bench_national.py made it;
OR-Tools' dense national solve takes about 70 s and 6 GiB.)
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

__all__ = ["main"]


def _agree(a: Any, b: Any, km: np.ndarray) -> str:
    """Both lexicographic stages equal at the solver's integer scale."""
    q, s = a.scales.quantity, a.scales.distance
    same_q = round(a.flows.sum() * q) == round(b.flows.sum() * q)
    cost_a, cost_b = _exact_cost(a.flows, km, q, s), _exact_cost(b.flows, km, q, s)
    return "yes" if same_q and cost_a == cost_b else f"NO ({cost_a} vs {cost_b})"


def _exact_cost(flows: np.ndarray, km: np.ndarray, q: int, s: int) -> int:
    """sum(flow x km) in the solver's integers, exactly (Python ints: the sums pass 2**53)."""
    live = np.flatnonzero(flows)
    f = np.rint(flows[live] * q).astype(np.int64).tolist()
    c = np.rint(km[live] * s).astype(np.int64).tolist()
    return sum(x * y for x, y in zip(f, c, strict=True))


def _best(run: Any, repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--sparse", action="store_true", help="also the certified sparse rounds")
    ap.add_argument("--no-dense", action="store_true", help="skip the dense solves")
    ap.add_argument("--repeat", type=int, default=1, help="best of K runs of each solve")
    args = ap.parse_args(argv)
    from symbiosis.dataset import load_dataset
    from symbiosis.matching import flow, model, netsimplex
    from symbiosis.matching.candidates import build_candidates
    from symbiosis.matching.sparse import solve_transport_sparse

    if not netsimplex.available():
        print("the network simplex's C loop is not built (no compiler at install?)")
        return 1
    ds = load_dataset(args.dataset)
    supply, demand, offer, need, km, _ = model._network_inputs(ds, build_candidates(ds),
                                                               None)
    print(f"{args.dataset}: {len(supply):,} offers, {len(demand):,} needs, {len(km):,} arcs")

    if not args.no_dense:
        flow.SIMPLEX_MIN_ARCS = 2**62
        base_s, base = _best(lambda: flow.solve_transport_mcf(supply, demand, offer, need,
                                                              km), args.repeat)
        flow.SIMPLEX_MIN_ARCS = 0
        ns_s, ns = _best(lambda: flow.solve_transport_mcf(supply, demand, offer, need, km),
                         args.repeat)
        print(f"dense  OR-Tools {base_s:8.3f} s ({base.method})   network simplex "
              f"{ns_s:8.3f} s ({ns.method})   ratio {ns_s / base_s:.3f}   both stages "
              f"agree: {_agree(base, ns, km)}")
    if args.sparse:
        runs = {}
        for solver in ("min_cost_flow", "network_simplex"):
            t = time.perf_counter()
            sol, cert = solve_transport_sparse(supply, demand, offer, need, km,
                                               solver=solver)
            runs[solver] = (time.perf_counter() - t, sol, cert)
            print(f"sparse {solver:16s} {runs[solver][0]:8.3f} s   {cert.rounds} rounds, "
                  f"added {cert.added_per_round}, round seconds "
                  f"{[round(x, 2) for x in cert.round_seconds]}, pivots "
                  f"{cert.pivots_per_round or '-'}")
        (a_s, a, _), (b_s, b, _) = runs["min_cost_flow"], runs["network_simplex"]
        print(f"sparse ratio (simplex / OR-Tools) {b_s / a_s:.3f}; both stages agree: "
              f"{_agree(a, b, km)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
