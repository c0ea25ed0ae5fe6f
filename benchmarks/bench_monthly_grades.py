"""Benchmark: a park x 12 months with storage, blending, heat grades and water grades, solved
exactly (issue 15; DESIGN.md target: a 300-enterprise park in under 10 s end to end).

A seeded `build(n)` takes the park of `bench_grades.build` (fly ash with LOI, SO3 and
fineness; steam and hot water at 110-350 °C; heat users with floors, a third of them giving
back heat; reclaimed water by GB/T 19923 use class; every ash and water need blends) and
adds, seeded:

- fly-ash and heat offers of the power plants follow a seasonal load (more in winter and
  summer), with `m01`..`m12` and `quantity` blank;
- cement and concrete plants' needs name the `cement_kiln_hunan_staggered` profile (Hunan's
  staggered production: most kilns stop in winter); heat users take more in winter;
  reclaimed water and its users stay even;
- a silo at every power plant for its fly ash (two months of output) and at every cement
  plant (one month of intake).

Then, in this process: load, candidates + grades, network build, the graded monthly plan
(min-cost flow where no grade applies, the staged HiGHS LP elsewhere), the marginal values,
the report and the written files, each timed, with the peak RSS; and the status (each LP
stage proven optimal, or the run fails). Prints figures; never decides pass or fail.

Usage: python benchmarks/bench_monthly_grades.py [--n 300] [--seed 0] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_grades import build as build_park

__all__ = ["build", "main"]

MONTHS = [f"m{t:02d}" for t in range(1, 13)]
POWER_SEASON = np.array([1.2, 1.15, 1.0, 0.85, 0.85, 0.95, 1.15, 1.2, 0.95, 0.85, 0.9, 1.1])
HEAT_SEASON = np.array([1.4, 1.3, 1.1, 0.9, 0.8, 0.7, 0.7, 0.7, 0.8, 0.9, 1.1, 1.3])


def build(n: int = 300, seed: int = 0, out: Path | None = None) -> Path:
    """Write the seeded monthly park of `n` enterprises (module docstring) to `out` (a CSV
    folder; default a temporary folder) and return its path."""
    folder = build_park(n, seed, out)
    rng = np.random.default_rng(seed + 1)
    offers = pd.read_csv(folder / "offers.csv", dtype={"medium": str}, keep_default_na=False,
                         na_values=[""])
    needs = pd.read_csv(folder / "needs.csv", keep_default_na=False, na_values=[""])
    seasonal = offers["material"].isin(["fly_ash", "waste_heat"]).to_numpy()
    shares = POWER_SEASON * rng.uniform(0.9, 1.1, size=(len(offers), 12))
    shares /= shares.sum(axis=1, keepdims=True)
    months = np.round(offers["quantity"].to_numpy(float)[:, None] * shares)
    for t, name in enumerate(MONTHS):
        offers[name] = np.where(seasonal, months[:, t], np.nan)
    offers.loc[seasonal, "quantity"] = np.nan  # blank: the sum of the months
    kiln = needs["material"].isin(["cement_admixture", "concrete_admixture"]).to_numpy()
    needs["profile"] = np.where(kiln, "cement_kiln_hunan_staggered", "")
    heat = (needs["material"] == "process_heat").to_numpy()
    h_shares = HEAT_SEASON * rng.uniform(0.9, 1.1, size=(len(needs), 12))
    h_shares /= h_shares.sum(axis=1, keepdims=True)
    h_months = np.round(needs["quantity"].to_numpy(float)[:, None] * h_shares)
    for t, name in enumerate(MONTHS):
        needs[name] = np.where(heat, h_months[:, t], np.nan)
    needs.loc[heat, "quantity"] = np.nan
    offers.to_csv(folder / "offers.csv", index=False)
    needs.to_csv(folder / "needs.csv", index=False)
    ash = offers[offers["material"] == "fly_ash"]
    ash_total = ash[MONTHS].sum(axis=1).to_numpy(float)
    cement = needs[kiln]
    storage = pd.concat([
        pd.DataFrame({"enterprise_id": ash["enterprise_id"].to_numpy(),
                      "material": "fly_ash",
                      "capacity": np.round(ash_total / 12 * 2),
                      "cost_per_unit_month": np.round(rng.uniform(1, 4, len(ash)), 1)}),
        pd.DataFrame({"enterprise_id": cement["enterprise_id"].to_numpy(),
                      "material": "fly_ash",
                      "capacity": np.round(cement["quantity"].to_numpy(float) / 12),
                      "cost_per_unit_month": np.round(rng.uniform(1, 4, len(cement)), 1)}),
    ])
    storage.to_csv(folder / "storage.csv", index=False)
    return folder


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(folder: Path) -> dict[str, float]:
    from symbiosis.dataset import load_dataset
    from symbiosis.matching.model import MatchOptions, solve_match
    from symbiosis.matching.result import write_outputs

    t0 = time.perf_counter()
    data = load_dataset(folder)
    t1 = time.perf_counter()
    timings: dict[str, float] = {}
    result = solve_match(data, MatchOptions(), timings)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        write_outputs(result, out)
    t3 = time.perf_counter()
    s = result.summary
    assert s.monthly is not None
    print(f"load {t1 - t0:6.3f} s | candidates+grades {timings.get('candidates', 0):6.3f} s"
          f" | build {timings.get('build', 0):6.3f} s | solve {timings.get('solve', 0):6.3f}"
          f" s | marginal values {timings.get('marginal_values', 0):6.3f} s | report "
          f"{timings.get('report', 0):6.3f} s | write {t3 - t2:6.3f} s | total "
          f"{t3 - t0:6.3f} s")
    fam = s.families
    stores = s.monthly.storage
    full = sum(1 for x in stores if x.months_full > 0)
    valued = sum(1 for x in stores if x.marginal_used_per_unit is not None)
    blends = result.tables.get("blends_monthly")
    print(f"  arcs {s.candidate_arcs} x 12 months, methods {','.join(result.solver.methods)}"
          f", status {s.solver.status}, exact {s.solver.exact}; t "
          f"{fam['mass'].matched:,.0f}/{fam['mass'].offered:,.0f}, GJ "
          f"{fam['energy'].matched:,.0f}/{fam['energy'].offered:,.0f}, m3 "
          f"{fam['water'].matched:,.0f}/{fam['water'].offered:,.0f}; monthly blend rows "
          f"{0 if blends is None else len(blends)}; stores {len(stores)} (full {full}, "
          f"marginal value {valued}); peak RSS {_peak_mb():,.0f} MB")
    return {"total": t3 - t0, "solve": timings.get("solve", 0.0)}


def main(argv: list[str] | None = None) -> int:
    """Build the monthly park, run it `--repeat` times, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    folder = build(args.n, args.seed)
    print(f"monthly graded park of {args.n} enterprises (seed {args.seed}): {folder}")
    runs = []
    for k in range(args.repeat):
        print(f"-- run {k + 1}")
        runs.append(_run(folder))
    best = min(r["total"] for r in runs)
    print(f"best of {args.repeat}: {best:.3f} s end to end in process (target: under 10 s); "
          f"peak RSS {_peak_mb():,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
