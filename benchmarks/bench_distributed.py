"""The distributed engine's speed-up: uncertainty samples of a park (`robust_plan`) and the
keystone ranking of a province (`keystones`), on a Dask LocalCluster of 1 and of 2 worker
processes (cluster start-up timed apart), optionally also serial in this process, every
result checked equal to the first one run; the 1 -> 2 worker speed-up printed for both.

Usage: python benchmarks/bench_distributed.py [--n 300] [--samples 200] [--seed 0]
       [--samples-per-task K] [--workers 1,2] [--serial]
       [--keystone-n 3000] [--keystone-limit M] [--whole 3]

`--keystone-n 0` skips the keystones; `--keystone-limit M` ranks only the first M
enterprises (by id); `--whole K` also times K re-solves of the whole model (the way
keystones were ranked before: a min-cost flow on every arc per enterprise) for comparison.

Prints figures; never decides pass or fail. DESIGN.md's targets: 200 samples of a
300-enterprise park in under 2 minutes and the keystone ranking of the province in under
5 minutes, on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_match import dataset_for  # noqa: E402

__all__ = ["main"]


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def _speedup(seconds: dict[str, float], what: str) -> None:
    one, two = seconds.get("1 worker"), seconds.get("2 workers")
    parts = [f"{k} {v:.1f} s" for k, v in seconds.items()]
    line = f"{what}: " + ", ".join(parts)
    if one and two:
        line += f"; speed-up 1 -> 2 workers x{one / two:.2f}"
    print(line, flush=True)


def _worker_cpu(engine: Any) -> float:
    """CPU seconds the engine's workers have used so far (summed over workers)."""
    return float(sum(engine.client.run(time.process_time).values()))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (always 0: figures only)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="park size for the samples (0: skip)")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--samples-per-task", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--serial", action="store_true", help="also run serially in process")
    ap.add_argument("--keystone-n", type=int, default=3000,
                    help="province size for the keystone ranking (0: skip)")
    ap.add_argument("--keystone-limit", type=int, default=None)
    ap.add_argument("--whole", type=int, default=0,
                    help="time this many whole-model re-solves for comparison")
    args = ap.parse_args(argv)

    from pandas.testing import assert_frame_equal

    from symbiosis.dataset import load_dataset
    from symbiosis.matching.candidates import candidates_for
    from symbiosis.matching.distributed import open_engine
    from symbiosis.matching.network import keystones
    from symbiosis.matching.options import MatchOptions
    from symbiosis.matching.robust import RobustOptions, robust_plan

    workers = [int(w) for w in args.workers.split(",")]
    robust_s: dict[str, float] = {}
    keys_s: dict[str, float] = {}
    park = load_dataset(dataset_for(args.n, args.seed)) if args.n else None
    province = load_dataset(dataset_for(args.keystone_n, args.seed)) \
        if args.keystone_n else None
    settings = RobustOptions(samples=args.samples, seed=args.seed)
    first_robust: Any = None
    first_keys: Any = None
    cand = None
    names: list[str] | None = None
    if province is not None:
        cand = candidates_for(province, MatchOptions())
        offers, needs = province.offers, province.needs
        names = sorted({str(e) for e in offers["enterprise_id"].to_numpy()[cand.offer]} |
                       {str(e) for e in needs["enterprise_id"].to_numpy()[cand.need]})
        if args.keystone_limit is not None:
            names = names[:args.keystone_limit]
        print(f"province {args.keystone_n}: {len(cand):,} arcs, {len(names):,} enterprises "
              f"to re-solve", flush=True)
        if args.whole:
            w_s, _ = _timed(keystones, province, cand=cand, enterprises=names[:args.whole],
                            jobs=1, whole=True)
            print(f"whole-model re-solves (before): {args.whole} in {w_s:.1f} s including "
                  f"the base solve; x{len(names)} enterprises ~ "
                  f"{w_s / (args.whole + 1) * len(names) / 60:.0f} min serial", flush=True)

    def check_robust(label: str, seconds: float, result: Any) -> None:
        nonlocal first_robust
        robust_s[label] = seconds
        if first_robust is None:
            first_robust = result
        else:
            assert_frame_equal(result.exchanges, first_robust.exchanges, check_exact=True)

    def check_keys(label: str, seconds: float, table: Any) -> None:
        nonlocal first_keys
        keys_s[label] = seconds
        if first_keys is None:
            first_keys = table
        else:
            assert_frame_equal(table, first_keys, check_exact=True)

    if args.serial:  # CPU seconds too: on a shared machine they say what a quiet core does
        if park is not None:
            cpu0 = time.process_time()
            check_robust("serial", *_timed(robust_plan, park, robust=settings))
            print(f"robust serial {robust_s['serial']:.1f} s wall, "
                  f"{time.process_time() - cpu0:.1f} s CPU", flush=True)
        if province is not None:
            cpu0 = time.process_time()
            check_keys("serial", *_timed(keystones, province, cand=cand, enterprises=names,
                                         jobs=1))
            print(f"keystones serial {keys_s['serial']:.1f} s wall, "
                  f"{time.process_time() - cpu0:.1f} s CPU", flush=True)
    for count in workers:
        label = f"{count} worker" + ("s" if count > 1 else "")
        t0 = time.perf_counter()
        with open_engine(workers=count) as engine:
            start_s = time.perf_counter() - t0
            line = f"dask, {label}: start {start_s:.1f} s"
            # wall seconds, then CPU seconds of this process + the workers (on a shared
            # machine the CPU says what the work costs, the wall what the load allowed)
            if park is not None:
                cpu0, wcpu0 = time.process_time(), _worker_cpu(engine)
                check_robust(label, *_timed(robust_plan, park, robust=settings,
                                            engine=engine,
                                            samples_per_task=args.samples_per_task))
                cpu = time.process_time() - cpu0 + _worker_cpu(engine) - wcpu0
                line += f"; robust {robust_s[label]:.1f} s wall, {cpu:.1f} s CPU"
            if province is not None:
                cpu0, wcpu0 = time.process_time(), _worker_cpu(engine)
                check_keys(label, *_timed(keystones, province, cand=cand,
                                          enterprises=names, engine=engine))
                cpu = time.process_time() - cpu0 + _worker_cpu(engine) - wcpu0
                line += f"; keystones {keys_s[label]:.1f} s wall, {cpu:.1f} s CPU"
        print(line + " (equal to the first run)", flush=True)
    if park is not None:
        _speedup(robust_s, f"robust, {args.n} enterprises, {args.samples} samples")
    if province is not None and first_keys is not None:
        _speedup(keys_s, f"keystones, {args.keystone_n} enterprises, {len(first_keys)} "
                         "re-solves")
        top = first_keys.iloc[0]
        print(f"top keystone {top['enterprise_id']}: {top['tonnes_lost']:,.0f} t lost",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
