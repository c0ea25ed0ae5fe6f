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

`--phases` adds one in-process child run of the match with its RSS sampled every 50 ms and
printed per phase (where the peak memory is); `--floor` runs the bare floor right after the
engine and prints the ratio and whether tonnes and t-km agree (paired in one run).

Usage: python benchmarks/bench_national.py [--n 100000] [--seed 0] [--method dense|sparse]
       [--candidates] [--phases] [--floor] [--timeout S]

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

from bench_match import (  # noqa: E402
    WORK_DIR,
    _agree,
    dataset_for,
    find_engine,
    run_child,
    run_floor,
)

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


PHASES_RUN = """
import json, resource, sys, threading, time
from pathlib import Path
samples = []
def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
stop = threading.Event()
def sample():
    while not stop.wait(0.05):
        samples.append((time.perf_counter(), rss_mib()))
threading.Thread(target=sample, daemon=True).start()
t0 = time.perf_counter()
from symbiosis.dataset import load_dataset
from symbiosis.matching import MatchOptions, solve_match
from symbiosis.matching.result import write_outputs
ds = load_dataset(sys.argv[1])
t_load = time.perf_counter()
timings = {}
opts = {"method": sys.argv[3]} if sys.argv[3] else {}
result = solve_match(ds, MatchOptions(**opts), timings)
t_match = time.perf_counter()
write_outputs(result, Path(sys.argv[2]))
t_write = time.perf_counter()
stop.set()
# phase windows: solve_match's timings in order, from the end of the load
bounds, at = [("load", t0, t_load)], t_load
for name in ("candidates", "build", "solve", "prices", "report"):
    if name in timings:
        bounds.append((name, at, at + timings[name]))
        at += timings[name]
bounds += [("rest of match", at, t_match), ("write", t_match, t_write)]
def peak(a, b):  # a phase shorter than the sampling step: the last sample before its end
    inside = [m for t, m in samples if a <= t <= b]
    return max(inside) if inside else max([m for t, m in samples if t <= b][-1:] or [0.0])
peaks = {name: peak(a, b) for name, a, b in bounds}
print(json.dumps({"phase_seconds": {n: b - a for n, a, b in bounds}, "phase_peak_mib": peaks,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "wall_s": t_write - t0}))
"""


def _phases_run(dataset: Path, method: str | None, timeout: float | None) -> None:
    """The match in one child process with its RSS sampled every 50 ms, printed per phase
    (load, candidates, build, solve, prices, report, write): where the peak is."""
    log = WORK_DIR / "logs" / "national_phases.log"
    out = WORK_DIR / "out" / "national_phases"
    shutil.rmtree(out, ignore_errors=True)
    run = run_child([sys.executable, "-c", PHASES_RUN, str(dataset), str(out), method or ""],
                    log, timeout)
    if run.returncode != 0:
        print(f"phases run failed, exit {run.returncode}: see {log}")
        return
    figures = json.loads(log.read_text().strip().splitlines()[-1])
    print(f"phases run: {figures['wall_s']:.1f} s in process, peak RSS "
          f"{figures['peak_mib']:,.0f} MiB (getrusage)")
    for name, seconds in figures["phase_seconds"].items():
        print(f"  {name:<14} {seconds:7.1f} s   peak RSS "
              f"{figures['phase_peak_mib'][name]:8,.0f} MiB")


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
    ap.add_argument("--phases", action="store_true",
                    help="also run the match in process with its RSS sampled per phase")
    ap.add_argument("--floor", action="store_true",
                    help="also run the bare floor (bare_floor.py) right after the engine, "
                         "paired: ratio and agreement of tonnes and t-km")
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
    if args.phases:
        _phases_run(dataset, args.method, args.timeout)
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
    cert = (summary.get("solver") or {}).get("certificate")
    if isinstance(cert, dict):
        print(f"  sparse ({cert.get('solver')}): {cert['rounds']} rounds, solved on "
              f"{cert['arcs_solved']:,} of "
              f"{cert['arcs_total']:,} arcs, {cert['arcs_added']:,} added "
              f"{cert.get('added_per_round')}, round seconds {cert.get('round_seconds')}, "
              f"arcs re-solved per round {cert.get('resolved_per_round')}, "
              f"pivots per round {cert.get('pivots_per_round')}, "
              f"{cert['violations']} violations left")
    for note in summary.get("warnings", []):
        print(f"  note: {note}")
    if args.floor:
        flo = run_floor(dataset, dataset.name, 1, args.timeout)
        f = flo.data
        if flo.returncode != 0 or not f:
            print(f"floor failed (exit {flo.returncode}): see {flo.log}")
            return 1
        print(f"floor: {flo.wall_s:.1f} s wall, peak RSS {flo.maxrss_mb:,.0f} MiB; tonnes "
              f"{f.get('tonnes_matched', 0):,.0f}, t-km {f.get('tonne_km', 0):,.0f}; "
              f"phases {f.get('timings_s')}")
        print(f"engine/floor {run.wall_s / flo.wall_s:.2f}x wall; tonnes agree "
              f"{_agree(summary.get('tonnes_matched'), f.get('tonnes_matched'))}, t-km agree "
              f"{_agree(summary.get('tonne_km'), f.get('tonne_km'))} (relative 1e-6)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
