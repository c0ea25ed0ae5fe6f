"""National benchmark: one `symbiosis match` of the 100,000-enterprise instance, its wall time
and peak memory, and (optionally) the candidate phase alone with and without streaming.

This is a heavy job (about 4 minutes and 5 GiB on the 2-core machine): it runs the engine
ONCE. It reuses bench_match's dataset cache (`_work/bench_<n>_s<seed>/`, generated in a
child process the first time) and its child runner (wall clock, `wait4` peak RSS of the
largest process, sampled summed RSS of the process tree).

`--candidates` adds two short child runs of `build_candidates` alone on the same instance,
one searching each material block in one call (`chunk_pairs=None`, the old way) and one
streamed in chunks (the default), each printing arcs, seconds and its own peak RSS: the
before/after of the streamed arc generation without running the whole match twice.

Usage: python benchmarks/bench_national.py [--n 100000] [--seed 0] [--method dense|sparse]
       [--candidates] [--timeout S]

Prints figures; never decides pass or fail.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_match import WORK_DIR, dataset_for, find_engine, run_child  # noqa: E402

__all__ = ["main"]

CANDIDATES_ONLY = """
import json, resource, sys, time
from symbiosis.dataset import load_dataset
from symbiosis.matching.candidates import CHUNK_PAIRS, build_candidates
ds = load_dataset(sys.argv[1])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
cand = build_candidates(ds, None, chunk_pairs=None if sys.argv[2] == "whole" else CHUNK_PAIRS)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"arcs": len(cand), "seconds": seconds, "peak_mib": peak / 1024,
                  "after_load_mib": base / 1024}))
"""


def _candidates_run(dataset: Path, mode: str, timeout: float | None) -> dict[str, float]:
    log = WORK_DIR / "logs" / f"national_candidates_{mode}.log"
    run = run_child([sys.executable, "-c", CANDIDATES_ONLY, str(dataset), mode], log, timeout)
    if run.returncode != 0:
        print(f"candidates ({mode}) failed, exit {run.returncode}: see {log}")
        return {}
    figures: dict[str, float] = json.loads(log.read_text().strip().splitlines()[-1])
    figures["wall_s"] = run.wall_s
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when the engine run finished, 1 otherwise."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="enterprises")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--method", default=None, help="symbiosis match --method")
    ap.add_argument("--candidates", action="store_true",
                    help="also time the candidate phase alone, whole blocks vs streamed")
    ap.add_argument("--no-match", action="store_true", help="skip the full match run")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per child run")
    args = ap.parse_args(argv)

    engine = find_engine()
    if engine is None:
        print("no `symbiosis` executable found next to this Python or on PATH")
        return 1
    dataset = dataset_for(args.n, args.seed)
    print(f"dataset: {dataset}")
    if args.candidates:
        for mode in ("whole", "streamed"):
            f = _candidates_run(dataset, mode, args.timeout)
            if f:
                print(f"candidates {mode:>8}: {f['arcs']:,} arcs in {f['seconds']:.1f} s, peak "
                      f"{f['peak_mib']:,.0f} MiB ({f['after_load_mib']:,.0f} MiB after load)",
                      flush=True)
    if args.no_match:
        return 0
    out = WORK_DIR / "out" / f"national_{args.n}"
    shutil.rmtree(out, ignore_errors=True)
    extra = ["--method", args.method] if args.method else []
    log = WORK_DIR / "logs" / f"national_{args.n}.log"
    run = run_child([engine, "match", str(dataset), "--out", str(out), "-q", *extra], log,
                    args.timeout)
    if run.returncode != 0:
        print(f"match failed or timed out (exit {run.returncode}) after {run.wall_s:.0f} s, "
              f"peak {run.tree_peak_mb:,.0f} MiB; log: {log}")
        return 1
    summary = json.loads((out / "summary.json").read_text())
    timings = summary.get("timings_s", {})
    phases = ", ".join(f"{k} {v:.1f}" for k, v in timings.items()
                       if isinstance(v, int | float))
    print(f"match {args.n:,} enterprises: {run.wall_s:.1f} s wall, peak RSS "
          f"{run.maxrss_mb:,.0f} MiB (largest process), {run.tree_peak_mb:,.0f} MiB (tree)")
    print(f"  arcs {summary.get('candidate_arcs', 0):,}, tonnes matched "
          f"{summary.get('tonnes_matched', 0):,.0f}, t-km {summary.get('tonne_km', 0):,.0f}")
    print(f"  phases (s): {phases}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
