"""Benchmark of the decision features: the cost objective (with core prices, explanations and
marginal values) on the 3,000-enterprise instance, and a 10-point Pareto frontier on a
100-enterprise park.

The generated datasets carry no money, so this script adds seeded, illustrative economics
(disposal cost per offer, virgin cost per need, in CNY per unit; ranges below, chosen only to
give the solver realistic spreads) into benchmarks/_work/<name>_econ/. Targets (issue 3):
cost objective under 30 s, frontier under 10 s. Prints figures; never decides pass or fail.

Usage: python benchmarks/bench_decisions.py [--sizes 3000] [--frontier-size 100] [--points 10]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from generate import WORK_DIR, build  # noqa: E402

# illustrative CNY per unit: (low, high)
DISPOSAL = {"waste_heat": (0, 0), "reclaimed_water": (0, 1)}
DISPOSAL_DEFAULT = (10, 40)
VIRGIN = {
    "cement_admixture": (60, 100), "concrete_admixture": (100, 200), "set_retarder": (80, 150),
    "raw_meal": (30, 60), "wallboard_gypsum": (60, 120), "road_base": (30, 60),
    "aggregate": (40, 80), "brick_feedstock": (20, 40), "mine_backfill": (10, 30),
    "process_heat": (40, 80), "process_water": (2, 5),
}


def with_economics(src: Path, seed: int = 0) -> Path:
    """A copy of `src` whose offers and needs carry seeded disposal and virgin costs."""
    dst = src.with_name(src.name + "_econ")
    if (dst / "needs.csv").exists():
        return dst
    rng = np.random.default_rng(seed)
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "enterprises.csv", dst / "enterprises.csv")
    offers = pd.read_csv(src / "offers.csv")
    lo, hi = np.array([DISPOSAL.get(m, DISPOSAL_DEFAULT) for m in offers["material"]]).T
    offers["disposal_cost"] = np.round(lo + rng.random(len(offers)) * (hi - lo), 1)
    offers.to_csv(dst / "offers.csv", index=False)
    needs = pd.read_csv(src / "needs.csv")
    lo, hi = np.array([VIRGIN.get(m, (0, 0)) for m in needs["material"]]).T
    needs["virgin_cost"] = np.round(lo + rng.random(len(needs)) * (hi - lo), 1)
    needs.to_csv(dst / "needs.csv", index=False)
    return dst


def bench_cost(n: int) -> None:
    from symbiosis.dataset import load_dataset
    from symbiosis.matching.model import MatchOptions, solve_match
    from symbiosis.matching.result import write_outputs

    path = with_economics(build(n) if not (WORK_DIR / f"hunan_{n}_s0").exists()
                          else WORK_DIR / f"hunan_{n}_s0")
    t0 = time.perf_counter()
    ds = load_dataset(path)
    timings: dict[str, float] = {"load": time.perf_counter() - t0}
    result = solve_match(ds, MatchOptions(objective="cost"), timings)
    out = WORK_DIR / f"decisions_{n}"
    t1 = time.perf_counter()
    write_outputs(result, out)
    timings["write"] = time.perf_counter() - t1
    total = time.perf_counter() - t0
    econ = result.summary.to_dict()["economics"]
    print(f"cost objective, {n:,} enterprises: {result.candidates:,} arcs, "
          f"{len(result.exchanges):,} exchanges, saving {econ['saving_cny']:,.0f} CNY/yr, "
          f"utilization {result.summary.to_dict()['utilization_rate']:.1%}")
    print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    print(f"  in-process total {total:.2f} s (target < 30 s), peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    exe = Path(sys.executable).with_name("symbiosis")
    if exe.exists():
        t = time.perf_counter()
        subprocess.run([str(exe), "match", str(path), "--objective", "cost", "--quiet",
                        "--out", str(out) + "_cli"], check=True)
        print(f"  `symbiosis match --objective cost` as one process: "
              f"{time.perf_counter() - t:.2f} s")


def bench_frontier(n: int, points: int) -> None:
    from symbiosis.dataset import load_dataset
    from symbiosis.matching.frontier import pareto_frontier

    base = WORK_DIR / f"hunan_{n}_s0"
    path = with_economics(base if base.exists() else build(n))
    ds = load_dataset(path)
    for between in (("utilization", "cost"), ("utilization", "co2")):
        t = time.perf_counter()
        frontier = pareto_frontier(ds, between, points)
        seconds = time.perf_counter() - t
        tab = frontier.table
        print(f"frontier {between[0]} x {between[1]}, {n} enterprises, {points} points: "
              f"{seconds:.2f} s (target < 10 s); utilization "
              f"{tab['utilization_rate'].min():.1%} -> {tab['utilization_rate'].max():.1%}, "
              f"saving {tab['saving_cny'].max():,.0f} -> {tab['saving_cny'].min():,.0f} CNY")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="3000")
    ap.add_argument("--frontier-size", type=int, default=100)
    ap.add_argument("--points", type=int, default=10)
    args = ap.parse_args(argv)
    for n in (int(s) for s in args.sizes.split(",") if s):
        bench_cost(n)
    bench_frontier(args.frontier_size, args.points)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
