"""The default objective as a generic two-stage LP with HiGHS (scipy.optimize.linprog).

Stage 1 maximises the quantity delivered; stage 2 minimises sum(flow x distance_km) with the
stage-1 total held exactly (retried with a 1e-9 relative slack should HiGHS call that
infeasible). Same arcs as bare_floor.py, whose figures are
printed beside the LP's so the two can be checked against each other. Comparison only: a
network solver should beat this by a wide margin.

Usage: python benchmarks/highs_lp.py DATASET_DIR [--method auto|kdtree|brute]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bare_floor import Arcs, build_arcs, peak_rss_mb, read_dataset, run
from scipy import sparse
from scipy.optimize import linprog
from taxonomy import UNIT

__all__ = ["main", "solve_lp"]

RETRY_SLACK = 1e-9  # stage 2 retry keeps at least (1 - slack) x the stage-1 maximum
AGREE_RTOL = 1e-6


def _rows(
    offers: pd.DataFrame,
    needs: pd.DataFrame,
    arcs: Arcs,
) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """Supply and demand rows (A x <= b) and per-arc upper bounds min(offer, need)."""
    n_o, n_a = len(offers), arcs.size
    q_o = offers["quantity"].to_numpy(float)
    q_n = needs["quantity"].to_numpy(float)
    rows = np.concatenate([arcs.offer, n_o + arcs.need])
    cols = np.concatenate([np.arange(n_a), np.arange(n_a)])
    a_ub = sparse.csr_matrix((np.ones(2 * n_a), (rows, cols)), shape=(n_o + len(needs), n_a))
    return a_ub, np.concatenate([q_o, q_n]), np.minimum(q_o[arcs.offer], q_n[arcs.need])


def solve_lp(
    offers: pd.DataFrame, needs: pd.DataFrame, arcs: Arcs, lp_method: str = "highs"
) -> dict[str, Any]:
    """Solve both stages with HiGHS; return flows, objective values and seconds per stage."""
    t0 = time.perf_counter()
    a_ub, b_ub, cap = _rows(offers, needs, arcs)
    bounds = np.column_stack([np.zeros(arcs.size), cap])
    t1 = time.perf_counter()
    s1 = linprog(-np.ones(arcs.size), A_ub=a_ub, b_ub=b_ub, bounds=bounds, method=lp_method)
    t2 = time.perf_counter()
    if s1.status != 0:
        raise SystemExit(f"stage 1 failed: {s1.message}")
    v1 = -float(s1.fun)
    a2 = sparse.vstack([a_ub, sparse.csr_matrix(-np.ones((1, arcs.size)))], format="csr")
    t3 = time.perf_counter()
    for slack in (0.0, RETRY_SLACK):
        b2 = np.append(b_ub, -v1 * (1.0 - slack))
        s2 = linprog(arcs.distance_km, A_ub=a2, b_ub=b2, bounds=bounds, method=lp_method)
        if s2.status != 2:  # 2 = infeasible
            break
    t4 = time.perf_counter()
    if s2.status != 0:
        raise SystemExit(f"stage 2 failed: {s2.message}")
    return {
        "x": np.asarray(s2.x),
        "stage1_objective": v1,
        "stage2_objective": float(s2.fun),
        "stage1_slack": slack,
        "timings_s": {
            "lp_build": (t1 - t0) + (t3 - t2),
            "stage1": t2 - t1,
            "stage2": t4 - t3,
            "total": t4 - t0,
        },
    }


def _agree(a: float, b: float) -> bool:
    """True when two figures agree to AGREE_RTOL relative."""
    return abs(a - b) <= AGREE_RTOL * max(1.0, abs(a), abs(b))


def main(argv: list[str] | None = None) -> int:
    """CLI: run the floor, then the LP on the same arcs, and print both sets of figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--method", choices=("auto", "kdtree", "brute"), default="auto")
    ap.add_argument(
        "--lp-method",
        choices=("highs", "highs-ds", "highs-ipm"),
        default="highs",
        help="scipy linprog method (highs lets HiGHS choose)",
    )
    args = ap.parse_args(argv)

    floor = run(args.dataset, args.method)
    ent, offers, needs = read_dataset(args.dataset)
    arcs = build_arcs(ent, offers, needs, args.method)
    print(
        f"HiGHS LP ({args.lp_method}) on {args.dataset}: {arcs.size:,} arcs, "
        f"{len(offers) + len(needs):,} rows"
    )
    lp = solve_lp(offers, needs, arcs, args.lp_method)
    x = lp["x"]
    mass = offers["material"].map(UNIT).to_numpy()[arcs.offer] == "t"
    lp_t = float(x[mass].sum())
    lp_tkm = float(np.dot(x[mass], arcs.distance_km[mass]))
    fl_total = sum(floor["matched_by_unit"].values())
    fl_cost = sum(floor["flow_km_by_unit"].values())

    for k, v in lp["timings_s"].items():
        print(f"  {k:<9} {v:9.3f} s")
    if lp["stage1_slack"]:
        print(f"  stage 2 needed a {lp['stage1_slack']:g} relative slack on the stage-1 total")
    print(
        f"  floor total {floor['timings_s']['total']:.3f} s  "
        f"(LP / floor = {lp['timings_s']['total'] / floor['timings_s']['total']:.0f}x)"
    )
    print(f"  peak RSS {peak_rss_mb():,.0f} MiB (floor and LP in one process)")
    rows = (
        ("stage 1: delivered, all units", lp["stage1_objective"], fl_total),
        ("stage 2: sum(flow x km), all units", lp["stage2_objective"], fl_cost),
        ("tonnes_matched", lp_t, floor["tonnes_matched"]),
        ("tonne_km", lp_tkm, floor["tonne_km"]),
    )
    print(f"  {'figure':<36} {'HiGHS LP':>22} {'bare floor':>22}  agree")
    for name, a, b in rows:
        print(
            f"  {name:<36} {a:>22,.3f} {b:>22,.3f}  {'yes' if _agree(a, b) else 'NO'}"
            f" ({abs(a - b) / max(1.0, abs(b)):.1e})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
