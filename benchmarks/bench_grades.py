"""Benchmark: a park with blending, heat grades and water grades, solved exactly.

A seeded `build(n)` writes a park of n enterprises (default 300) in a 16 km x 16 km square
to a CSV folder: power and boiler plants offering fly ash (stated LOI, SO3, fineness) and
waste heat (steam or hot water at 110-350 °C), cement and concrete plants taking blended
admixture, heat users with minimum supply temperatures (a third give back heat: a cascade),
reclaimed-water plants with COD, ammonia, chloride, hardness and dissolved solids, and
water users by GB/T 19923 use class. Every fly-ash and water need blends.

It then times each phase in this process (load, candidates + grades, solve, report, write)
with the peak RSS, and the same park solved without blending or heat grades (the plain
min-cost-flow run) as the baseline in the same process. Prints figures; never decides pass
or fail. Target (DESIGN.md): the graded annual park exact in well under 10 s (the 12-month
version is the months engineer's).

Usage: python benchmarks/bench_grades.py [--n 300] [--seed 0] [--repeat 3]
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

__all__ = ["build", "main"]

LON0, LAT0 = 112.90, 27.85  # Xiangtan
SIDE_DEG = 0.15  # about 16 km


def build(n: int = 300, seed: int = 0, out: Path | None = None) -> Path:
    """Write the seeded park of `n` enterprises to `out` (a CSV folder; default a temporary
    folder) and return its path."""
    rng = np.random.default_rng(seed)
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="bench_grades_"))
    out.mkdir(parents=True, exist_ok=True)
    roles = rng.choice(["power", "cement", "heat_user", "water_plant", "water_user"],
                       size=n, p=[0.15, 0.10, 0.30, 0.10, 0.35])
    ids = [f"E{i:04d}" for i in range(n)]
    ents = pd.DataFrame({"id": ids, "name": ids,
                         "lon": np.round(LON0 + rng.uniform(0, SIDE_DEG, n), 6),
                         "lat": np.round(LAT0 + rng.uniform(0, SIDE_DEG, n), 6)})
    offers: list[dict[str, object]] = []
    needs: list[dict[str, object]] = []
    for eid, role in zip(ids, roles, strict=True):
        if role == "power":
            offers.append({"enterprise_id": eid, "material": "fly_ash",
                           "quantity": float(rng.integers(20, 300)) * 1000,
                           "q.loi_pct": round(float(rng.uniform(2, 12)), 2),
                           "q.so3_pct": round(float(rng.uniform(0.5, 4.5)), 2),
                           "q.fineness_45um_pct": round(float(rng.uniform(8, 40)), 1)})
            temp = round(float(rng.uniform(110, 350)), 1)
            offers.append({"enterprise_id": eid, "material": "waste_heat",
                           "quantity": float(rng.integers(50, 800)) * 1000,
                           "q.temperature_c": temp,
                           "medium": "steam" if temp > 130 else "hot_water"})
        elif role == "cement":
            needs.append({"enterprise_id": eid, "material": str(rng.choice(
                ["cement_admixture", "concrete_admixture"])),
                          "quantity": float(rng.integers(50, 400)) * 1000, "blend": "yes"})
        elif role == "heat_user":
            floor = round(float(rng.uniform(80, 220)), 1)
            row: dict[str, object] = {"enterprise_id": eid, "material": "process_heat",
                                      "quantity": float(rng.integers(20, 300)) * 1000,
                                      "min.temperature_c": floor}
            if rng.random() < 0.33:
                row["return_temperature_c"] = round(floor - float(rng.uniform(30, 70)), 1)
                row["return_share"] = round(float(rng.uniform(0.2, 0.6)), 2)
            needs.append(row)
        elif role == "water_plant":
            offers.append({"enterprise_id": eid, "material": "reclaimed_water",
                           "quantity": float(rng.integers(100, 2000)) * 1000,
                           "q.cod_mg_l": round(float(rng.uniform(20, 90)), 1),
                           "q.nh3n_mg_l": round(float(rng.uniform(1, 15)), 2),
                           "q.chloride_mg_l": round(float(rng.uniform(80, 400)), 1),
                           "q.hardness_mg_l": round(float(rng.uniform(150, 600)), 1),
                           "q.tds_mg_l": round(float(rng.uniform(400, 1500)), 1)})
        else:
            needs.append({"enterprise_id": eid, "material": "process_water",
                          "quantity": float(rng.integers(50, 800)) * 1000,
                          "water_class": str(rng.choice(
                              ["cooling_once_through", "cooling_recirculating", "washing",
                               "process"])),
                          "blend": "yes"})
    ents.to_csv(out / "enterprises.csv", index=False)
    off = pd.DataFrame(offers)
    off.insert(0, "id", [f"O{i:04d}" for i in range(len(off))])
    off.to_csv(out / "offers.csv", index=False)
    nd = pd.DataFrame(needs)
    nd.insert(0, "id", [f"N{i:04d}" for i in range(len(nd))])
    nd.to_csv(out / "needs.csv", index=False)
    return out


def _plain(folder: Path) -> Path:
    """The same park without the grade columns: the plain run's input."""
    plain = Path(tempfile.mkdtemp(prefix="bench_grades_plain_"))
    for name in ("enterprises", "offers", "needs"):
        frame = pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
        frame = frame.drop(columns=[c for c in ("medium", "blend", "water_class",
                                                "return_temperature_c", "return_share")
                                    if c in frame])
        frame.to_csv(plain / f"{name}.csv", index=False)
    return plain


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(folder: Path, label: str, graded: bool) -> dict[str, float]:
    from symbiosis.dataset import load_dataset
    from symbiosis.matching.model import MatchOptions, solve_match
    from symbiosis.matching.result import write_outputs

    t0 = time.perf_counter()
    data = load_dataset(folder)
    t1 = time.perf_counter()
    timings: dict[str, float] = {}
    result = solve_match(data, MatchOptions(blend=graded, heat_at_delivery=graded,
                                            valuate=not graded), timings)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        write_outputs(result, out)
    t3 = time.perf_counter()
    s = result.summary
    blended = int((result.blends["quantity"] > 0).sum()) if len(result.blends) else 0
    print(f"{label:>6}: load {t1 - t0:6.3f} s | candidates+grades "
          f"{timings.get('candidates', 0):6.3f} s | build {timings.get('build', 0):6.3f} s"
          f" | solve {timings.get('solve', 0):6.3f} s | report "
          f"{timings.get('report', 0):6.3f} s | write {t3 - t2:6.3f} s | total "
          f"{t3 - t0:6.3f} s")
    fam = s.families
    print(f"        arcs {s.candidate_arcs}, exchanges {s.exchanges}, methods "
          f"{','.join(result.solver.methods)}, status {s.solver.status}, gap "
          f"{s.solver.gap:.2e}; t {fam['mass'].matched:,.0f}/{fam['mass'].offered:,.0f}, "
          f"GJ {fam['energy'].matched:,.0f}/{fam['energy'].offered:,.0f}, m3 "
          f"{fam['water'].matched:,.0f}/{fam['water'].offered:,.0f}; blend rows with flow "
          f"{blended}; peak RSS {_peak_mb():,.0f} MB")
    return {"total": t3 - t0, "solve": timings.get("solve", 0.0)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    folder = build(args.n, args.seed)
    plain = _plain(folder)
    print(f"park of {args.n} enterprises (seed {args.seed}): {folder}")
    graded, base = [], []
    for k in range(args.repeat):
        print(f"-- run {k + 1}")
        graded.append(_run(folder, "graded", True))
        base.append(_run(plain, "plain", False))
    g = min(r["total"] for r in graded)
    b = min(r["total"] for r in base)
    print(f"best of {args.repeat}: graded {g:.3f} s, plain {b:.3f} s, ratio {g / b:.2f}x "
          "(target: graded annual park well under 10 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
