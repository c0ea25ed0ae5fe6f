"""The distributed engine's speed-up: the same uncertainty run (`robust_plan`, N samples of
a park) and keystone ranking, serial in this process, then on a Dask LocalCluster of 1 and
of 2 worker processes (cluster start-up timed apart), with the results checked equal.

Usage: python benchmarks/bench_distributed.py [--n 300] [--samples 200] [--seed 0]
       [--workers 1,2] [--keystones]

Prints figures; never decides pass or fail. DESIGN.md's target: 200 samples of a
300-enterprise park in under 2 minutes on 2 cores.
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


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (always 0: figures only)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--keystones", action="store_true", help="also rank keystones")
    args = ap.parse_args(argv)

    from pandas.testing import assert_frame_equal

    from symbiosis.dataset import load_dataset
    from symbiosis.matching.distributed import open_engine
    from symbiosis.matching.network import keystones
    from symbiosis.matching.robust import RobustOptions, robust_plan

    data = load_dataset(dataset_for(args.n, args.seed))
    settings = RobustOptions(samples=args.samples, seed=args.seed)
    serial_s, serial = _timed(robust_plan, data, robust=settings)
    print(f"{args.n} enterprises, {args.samples} samples: serial {serial_s:.1f} s "
          f"({len(serial.exchanges):,} exchanges seen)", flush=True)
    key_s = None
    if args.keystones:
        key_s, key_serial = _timed(keystones, data, jobs=1)
        print(f"keystones: serial {key_s:.1f} s ({len(key_serial)} re-solves)", flush=True)
    for workers in (int(w) for w in args.workers.split(",")):
        t0 = time.perf_counter()
        with open_engine(workers=workers) as engine:
            start_s = time.perf_counter() - t0
            run_s, result = _timed(robust_plan, data, robust=settings, engine=engine)
            assert_frame_equal(result.exchanges, serial.exchanges, check_exact=True)
            line = (f"dask, {workers} worker(s): start {start_s:.1f} s, robust {run_s:.1f} s "
                    f"(x{serial_s / run_s:.2f} of serial), equal to serial")
            if args.keystones and key_s is not None:
                k_s, keys = _timed(keystones, data, engine=engine)
                assert_frame_equal(keys, key_serial, check_exact=True)
                line += f"; keystones {k_s:.1f} s (x{key_s / k_s:.2f})"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
