"""Benchmark of the integer-logistics MILP (issue 16, `matching.milp`): gap over time.

Cases (targets from DESIGN.md; figures, never pass or fail):

- park: 300 enterprises with fixed contract costs and 30-t trucks, objective cost, to a proven
  gap <= 1 % within 60 s on 2 cores;
- province: 3,000 enterprises, the same logistics, to a feasible plan with a reported gap
  within 10 minutes (run it once: the machine is shared);
- monthly: the park x 12 months with storage (`bench_monthly.build`: power plants' seasons,
  staggered kiln stops, silos), the same logistics with whole trips per exchange and month
  (`matching.milp_monthly`), 300 s (its LP relaxation alone takes ~10 s CPU).

The generated datasets carry no money or trucks, so this script adds seeded, illustrative
economics (`bench_decisions.with_economics`) and a transport.csv: 30-t trucks for every
material in t at TRIP_CNY_PER_KM per trip-km (illustrative: about 0.4 CNY/t-km for a full
30-t load), and runs with --contract-cost CONTRACT_CNY (illustrative: a weighbridge account
and a contract's administration). Prints, per case: seconds per phase, arcs kept and pruned,
binaries and trip integers, components and batches, the round-and-repair plan's objective and
seconds, the continuous (LP) bound, the incumbent, bound and gap at the end, and the HiGHS
progress rows (seconds, incumbent, bound, gap) of the largest batch.

Usage: python benchmarks/bench_milp.py [--cases park,province] [--park-size 300]
       [--province-size 3000] [--gap 0.01] [--solver highs|scip] [--contract-cost CNY]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_decisions import with_economics  # noqa: E402
from generate import WORK_DIR, build  # noqa: E402

TRUCK_T = 30
TRIP_CNY_PER_KM = 12.0  # illustrative: ~0.4 CNY/t-km x 30 t
CONTRACT_CNY = 20_000.0  # illustrative, per exchange and year


def with_logistics(src: Path) -> Path:
    """A copy of the economics dataset `src` with 30-t trucks in transport.csv."""
    dst = src.with_name(src.name + "_trucks")
    if not (dst / "transport.csv").exists():
        dst.mkdir(parents=True, exist_ok=True)
        for name in ("enterprises.csv", "offers.csv", "needs.csv", "storage.csv"):
            if (src / name).exists():
                shutil.copy(src / name, dst / name)
        (dst / "transport.csv").write_text(
            "material,truck_capacity_t,cny_per_trip_km,source\n"
            f",{TRUCK_T},{TRIP_CNY_PER_KM},illustrative benchmark value\n", encoding="utf-8")
    return dst


def dataset_path(n: int, monthly: bool = False) -> Path:
    if monthly:
        from bench_monthly import build as build_monthly

        base = WORK_DIR / f"monthly_{n}_s0"
        econ = with_economics(base if (base / "storage.csv").exists() else build_monthly(n))
        if not (econ / "storage.csv").exists():
            shutil.copy(base / "storage.csv", econ / "storage.csv")
        return with_logistics(econ)
    base = WORK_DIR / f"hunan_{n}_s0"
    return with_logistics(with_economics(base if base.exists() else build(n)))


def run_case(name: str, n: int, time_limit_s: float, gap: float, solver: str,
             contract_cny: float = CONTRACT_CNY, monthly: bool = False) -> None:
    from symbiosis.dataset import load_dataset
    from symbiosis.matching.model import MatchOptions, solve_match

    path = dataset_path(n, monthly)
    t0 = time.perf_counter()
    ds = load_dataset(path)
    timings: dict[str, float] = {"load": time.perf_counter() - t0}
    options = MatchOptions(objective="cost", contract_cost=contract_cny,
                           time_limit_s=time_limit_s, mip_gap=gap, mip_solver=solver)
    t1 = time.perf_counter()
    result = solve_match(ds, options, timings)
    wall = time.perf_counter() - t1
    s = result.summary
    m = s.solver.milp
    assert m is not None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n== {name}: {n} enterprises, {s.offers} offers, {s.needs} needs, "
          f"{s.candidate_arcs:,} candidate arcs ({path.name})")
    print(f"   solver {m.solver}, time limit {time_limit_s:g} s, gap target {gap:g}, "
          f"contract cost {contract_cny:,.0f} CNY/yr, {TRUCK_T}-t trucks at "
          f"{TRIP_CNY_PER_KM:g} CNY/trip-km")
    print("   phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in s.timings_s.items()))
    print(f"   arcs kept {m.arcs:,}, pruned {m.arcs_pruned:,}; binaries {m.binaries:,}, "
          f"trip integers {m.trip_integers:,}; components {m.components:,} in "
          f"{m.batches} batches ({m.batches_at_target} at the gap target)")
    before = sum(v for k, v in s.timings_s.items() if k in ("load", "candidates", "build"))
    print(f"   first feasible plan {before + m.first_plan_seconds:.2f} s after the start "
          f"(load, candidates, model, first rounding); round-and-repair and local search "
          f"{m.heuristic_objective:,.0f} CNY/yr in {m.heuristic_seconds:.2f} s; continuous "
          f"bound {m.continuous_bound:,.0f}")
    states: dict[str, int] = {}
    for b in m.batch_report:
        states[b.state] = states.get(b.state, 0) + 1
    print("   batches: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
          + "; worst batch gap " + (f"{100 * max(b.gap for b in m.batch_report):.3f} %"
                                    if m.batch_report else "-"))
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(f"   process CPU {cpu.ru_utime + cpu.ru_stime:.1f} s (the machine is shared: wall "
          "seconds under load are not CPU seconds)")
    print(f"   incumbent {m.incumbent:,.0f}  bound {m.bound:,.0f}  gap {100 * m.gap:.3f} %  "
          f"status {s.solver.status}  solve {s.solver.seconds:.1f} s  wall {wall:.1f} s  "
          f"peak RSS {peak:,.0f} MiB")
    print(f"   exchanges {s.exchanges:,}, tonnes matched {s.tonnes_matched:,.0f} of "
          f"{s.tonnes_offered:,.0f}")
    if m.progress:
        print("   largest batch, HiGHS progress (s, incumbent, bound, gap %):")
        step = max(1, len(m.progress) // 25)
        rows = m.progress[::step] + ([m.progress[-1]] if len(m.progress) % step else [])
        for sec, inc, bnd in rows:
            g = abs(bnd - inc) / max(1.0, abs(inc)) if abs(inc) != float("inf") else float("inf")
            print(f"     {sec:7.1f}  {inc:16,.0f}  {bnd:16,.0f}  {100 * g:8.3f}")
    for r in m.relaxations:
        print(f"   relax {r.limit} of {r.listing} {r.current:g} -> {r.relaxed:g}: "
              f"gain {r.gain:,.0f} (at most {r.gain_bound:,.0f}) in {r.seconds:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="park")
    parser.add_argument("--park-size", type=int, default=300)
    parser.add_argument("--province-size", type=int, default=3000)
    parser.add_argument("--gap", type=float, default=0.01)
    parser.add_argument("--solver", default="highs", choices=("highs", "scip"))
    parser.add_argument("--contract-cost", type=float, default=CONTRACT_CNY,
                        help="CNY/yr per exchange (a harder fixed-charge model when large)")
    args = parser.parse_args(argv)
    for case in args.cases.split(","):
        if case == "park":
            run_case("park", args.park_size, 60.0, args.gap, args.solver,
                     args.contract_cost)
        elif case == "monthly":
            run_case("monthly park", args.park_size, 300.0, args.gap, args.solver,
                     args.contract_cost, monthly=True)
        elif case == "province":
            run_case("province", args.province_size, 600.0, args.gap, args.solver,
                     args.contract_cost)
        else:
            parser.error(f"unknown case {case!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
