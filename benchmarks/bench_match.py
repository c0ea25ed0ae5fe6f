"""End-to-end benchmark: `symbiosis match` as one process against the bare floor.

For each size: generate the dataset (cached in benchmarks/_work/), run
`symbiosis match DATASET --out OUTDIR` in a child process and time it wall-clock with its peak
RSS, print the engine's own `timings_s` from OUTDIR/summary.json, then run bare_floor.py in a
child process too (same start-up costs) and print the wall-time ratio engine/floor and whether
tonnes_matched and tonne_km agree (relative 1e-6). Prints figures; never decides pass or fail.

Each engine method (`--methods dense,sparse` by default: `symbiosis match --method M`) runs
in the same window as the floor; the sparse run also prints its certificate (rounds, arcs
solved, added by pricing, reduced costs computed), and the methods' results are compared.

Before timing, the engine's package and this folder are compiled to bytecode (`precompile`:
what `pip install` does; PYTHONDONTWRITEBYTECODE, set on the shared machine, otherwise makes
every engine child recompile its modules from source); `--no-precompile` skips it.

Usage: python benchmarks/bench_match.py [--sizes 100,3000,30000,100000] [--repeat K]
       [--methods dense,sparse] [--no-precompile]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ChildRun", "dataset_for", "find_engine", "main", "run_child"]

HERE = Path(__file__).resolve().parent
WORK_DIR = HERE / "_work"
AGREE_RTOL = 1e-6
ENGINE_PHASES = ("load", "candidates", "build", "solve", "report", "total")
FLOOR_PHASES = ("read", "arcs", "build", "solve", "report", "total")
SAMPLE_EVERY_S = 0.1


@dataclass
class ChildRun:
    """One timed child process: wall seconds, exit code, peak memory, and its log file."""

    wall_s: float
    returncode: int
    maxrss_mb: float  # largest single process (wait4 rusage: the child or a waited-for child)
    tree_peak_mb: float  # sampled peak of the summed RSS of the child and its descendants
    log: Path
    data: dict[str, Any] = field(default_factory=dict)
    cpu_s: float = 0.0  # user + system CPU seconds of the child (wait4 rusage)


def find_engine() -> str | None:
    """Path of the `symbiosis` executable: next to this Python first, then on PATH."""
    beside = Path(sys.executable).parent / "symbiosis"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("symbiosis")


def _generator_digest() -> str:
    """Hash of the generator's sources, so that a cached dataset is rebuilt when they change."""
    h = hashlib.sha256()
    for name in ("generate.py", "taxonomy.py"):
        h.update((HERE / name).read_bytes())
    return h.hexdigest()[:16]


def dataset_for(n: int, seed: int) -> Path:
    """The dataset folder for n enterprises, generated now unless a matching cache exists.

    The generator runs in a child process: this process must stay small, because a child
    inherits its parent's peak RSS into its own ru_maxrss when it is forked and exec'd.
    """
    path = WORK_DIR / f"bench_{n}_s{seed}"
    stamp = WORK_DIR / f"{path.name}.json"
    want = {"n": n, "seed": seed, "generator": _generator_digest()}
    files = ("enterprises.csv", "offers.csv", "needs.csv")
    if (
        stamp.exists()
        and json.loads(stamp.read_text()) == want
        and all((path / f).exists() for f in files)
    ):
        return path
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(HERE / "generate.py"),
            str(n),
            "--seed",
            str(seed),
            "--out",
            str(path),
            "--no-count",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    stamp.write_text(json.dumps(want))
    print(f"generated {path} in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def _tree_rss_kib(pid: int) -> int:
    """Summed VmRSS (KiB) of a process and all its descendants, read from /proc."""
    total, stack, seen = 0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        proc = Path("/proc") / str(p)
        try:
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
            for task in (proc / "task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


def run_child(cmd: list[str], log: Path, timeout_s: float | None = None) -> ChildRun:
    """Run cmd with output to `log`; time it and measure its memory (wait4 and /proc samples).

    On timeout the child's own process group (it is started in a new session) is killed.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    peak = [0]
    done = threading.Event()
    with log.open("w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

        def sample() -> None:
            """Track the tree's RSS until the child is reaped; enforce the timeout."""
            while not done.wait(SAMPLE_EVERY_S):
                peak[0] = max(peak[0], _tree_rss_kib(proc.pid))
                if timeout_s is not None and time.perf_counter() - t0 > timeout_s:
                    os.killpg(proc.pid, signal.SIGKILL)
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, tell Popen
    return ChildRun(
        wall, proc.returncode, usage.ru_maxrss / 1024.0,
        max(peak[0], usage.ru_maxrss) / 1024.0, log, cpu_s=usage.ru_utime + usage.ru_stime,
    )


def _tail(path: Path, lines: int = 15) -> str:
    """Last lines of a log file, indented, for error reports."""
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join("    | " + t for t in text)


PRECOMPILE = """
import compileall, sys
import symbiosis, symbiosis.api, symbiosis.geo, symbiosis.matching
ok = all(compileall.compile_dir(d, quiet=1) for m in (symbiosis, symbiosis.api, symbiosis.geo,
         symbiosis.matching) for d in m.__path__)
ok = compileall.compile_dir(sys.argv[1], quiet=1, maxlevels=0) and ok
sys.exit(0 if ok else 1)
"""


def engine_python(engine: str) -> str:
    """The interpreter of the `symbiosis` console script (its shebang), else this one."""
    try:
        with Path(engine).open("rb") as fh:
            first = fh.readline().decode("utf-8", "replace").strip()
    except OSError:
        return sys.executable
    path = first[2:].strip().split()[0] if first.startswith("#!") else ""
    return path if path and Path(path).is_file() else sys.executable


def precompile(engine: str | None) -> None:
    """Write the bytecode of the engine's package and of this folder (the floor's helper)
    before anything is timed, as `pip install` does at install time. With
    PYTHONDONTWRITEBYTECODE set (as on the shared benchmark machine) an editable install
    never caches its bytecode, so every `symbiosis match` child recompiled ~60 modules
    from source (~0.13 s of CPU at 3,000 enterprises) that an installed engine does not;
    the floor is one script plus a small helper."""
    python = engine_python(engine) if engine else sys.executable
    done = subprocess.run([python, "-c", PRECOMPILE, str(HERE)], check=False,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    flag = os.environ.get("PYTHONDONTWRITEBYTECODE")
    print(f"bytecode precompiled ({'ok' if done.returncode == 0 else 'FAILED'}; "
          f"PYTHONDONTWRITEBYTECODE={flag or 'unset'})", flush=True)


def _best(runs: list[ChildRun]) -> ChildRun:
    """The successful run with the least wall time (else the last run)."""
    ok = [r for r in runs if r.returncode == 0]
    return min(ok, key=lambda r: r.wall_s) if ok else runs[-1]


def run_engine(
    engine: str, dataset: Path, tag: str, repeat: int, timeout_s: float | None,
    method: str | None = None,
) -> ChildRun:
    """Run `symbiosis match [--method METHOD]` K times and return the best run with
    summary.json attached."""
    runs = []
    extra = ["--method", method] if method else []
    label = f"{tag}_{method}" if method else tag
    for k in range(repeat):
        outdir = WORK_DIR / "out" / f"engine_{label}"
        shutil.rmtree(outdir, ignore_errors=True)
        r = run_child(
            [engine, "match", str(dataset), "--out", str(outdir), *extra],
            WORK_DIR / "logs" / f"engine_{label}_{k}.log",
            timeout_s,
        )
        summary = outdir / "summary.json"
        if r.returncode == 0 and summary.exists():
            r.data = json.loads(summary.read_text())
        elif r.returncode == 0:
            r.data = {"_error": f"no {summary}"}
        runs.append(r)
    return _best(runs)


def run_floor(dataset: Path, tag: str, repeat: int, timeout_s: float | None) -> ChildRun:
    """Run bare_floor.py in a child process K times and return the best run with its figures."""
    runs = []
    for k in range(repeat):
        js = WORK_DIR / "out" / f"floor_{tag}.json"
        js.unlink(missing_ok=True)
        js.parent.mkdir(parents=True, exist_ok=True)
        r = run_child(
            [sys.executable, str(HERE / "bare_floor.py"), str(dataset), "--json", str(js)],
            WORK_DIR / "logs" / f"floor_{tag}_{k}.log",
            timeout_s,
        )
        if r.returncode == 0 and js.exists():
            r.data = json.loads(js.read_text())
        runs.append(r)
    return _best(runs)


def _num(x: Any) -> float | None:
    """x as a float when it is a number, else None."""
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _agree(a: Any, b: Any) -> str:
    """'yes'/'NO' when both figures are numbers (relative 1e-6), '-' when one is missing."""
    x, y = _num(a), _num(b)
    if x is None or y is None:
        return "-"
    return "yes" if abs(x - y) <= AGREE_RTOL * max(1.0, abs(x), abs(y)) else "NO"


def _fmt(x: Any, spec: str = ",.3f") -> str:
    """Format a number, or '-' when missing."""
    v = _num(x)
    return "-" if v is None else format(v, spec)


def _print_phases(title: str, timings: Any, keys: tuple[str, ...]) -> None:
    """One line of per-phase seconds; tolerates a missing or partial timings object."""
    t = timings if isinstance(timings, dict) else {}
    extra = [k for k in t if k not in keys]
    cells = [f"{k} {_fmt(t.get(k), '.3f')}" for k in (*keys, *extra)]
    print(f"  {title:<14} " + ("  ".join(cells) if t else "(no timings_s)"))


def bench_size(
    n: int, seed: int, engine: str | None, repeat: int, timeout_s: float | None,
    methods: tuple[str, ...] = ("",),
) -> list[dict[str, Any]]:
    """Benchmark one size, the engine once per method (`--method`; "" = the default),
    interleaved with the floor in the same window; print details, return table rows."""
    dataset = dataset_for(n, seed)
    tag = dataset.name
    print(f"\n== {tag} ==", flush=True)
    flo = run_floor(dataset, tag, repeat, timeout_s)
    f = flo.data
    print(
        f"  floor          wall {flo.wall_s:.3f} s, CPU {flo.cpu_s:.3f} s, exit "
        f"{flo.returncode}, peak RSS "
        f"{flo.maxrss_mb:,.0f} MiB"
    )
    if flo.returncode != 0 or not f:
        print(f"  floor FAILED; log {flo.log}:\n{_tail(flo.log)}")
    else:
        _print_phases("floor phases", f.get("timings_s"), FLOOR_PHASES)
        print(
            f"  floor result   tonnes_matched {_fmt(f.get('tonnes_matched'))}, "
            f"tonne_km {_fmt(f.get('tonne_km'))}, {f.get('arcs', 0):,} arcs "
            f"({f.get('arc_method')}), imports {_fmt(f.get('import_s'), '.2f')} s"
        )
    base = {"size": n, "dataset": tag, "arcs": f.get("arcs"),
            "floor_s": flo.wall_s if flo.returncode == 0 else None,
            "floor_mb": flo.tree_peak_mb}
    if engine is None:
        return [base]
    rows = []
    for method in methods:
        row = {**base, "method": method or "default"}
        eng = run_engine(engine, dataset, tag, repeat, timeout_s, method or None)
        s = eng.data
        print(
            f"  engine {row['method']:<7} wall {eng.wall_s:.3f} s, CPU {eng.cpu_s:.3f} s, "
            f"exit {eng.returncode}, "
            f"peak RSS {eng.maxrss_mb:,.0f} MiB (process tree {eng.tree_peak_mb:,.0f} MiB)"
        )
        if eng.returncode != 0 or "_error" in s:
            print(
                f"  engine FAILED ({s.get('_error', 'exit ' + str(eng.returncode))}); "
                f"log {eng.log}:\n{_tail(eng.log)}"
            )
            rows.append({**row, "engine_s": "failed"})
            continue
        _print_phases("engine phases", s.get("timings_s"), ENGINE_PHASES)
        solver = s.get("solver")
        solver = solver if isinstance(solver, dict) else {}
        print(
            f"  engine result  tonnes_matched {_fmt(s.get('tonnes_matched'))}, "
            f"tonne_km {_fmt(s.get('tonne_km'))}, solver {solver.get('status', '-')} "
            f"{_fmt(solver.get('seconds'), '.3f')} s"
        )
        cert = solver.get("certificate")
        if isinstance(cert, dict):
            row.update(rounds=cert.get("rounds"), solved=cert.get("arcs_solved"),
                       added=cert.get("arcs_added"))
            print(
                f"  sparse         {cert.get('rounds')} rounds, solved on "
                f"{_fmt(cert.get('arcs_solved'), ',.0f')} of "
                f"{_fmt(cert.get('arcs_total'), ',.0f')} arcs, "
                f"{_fmt(cert.get('arcs_added'), ',.0f')} added by pricing, "
                f"{_fmt(cert.get('arcs_priced'), ',.0f')} reduced costs, "
                f"{cert.get('violations')} left"
            )
        row.update(
            {
                "engine_s": eng.wall_s,
                "engine_mb": eng.tree_peak_mb,
                "ratio": eng.wall_s / flo.wall_s if row["floor_s"] else None,
                "t_agree": _agree(s.get("tonnes_matched"), f.get("tonnes_matched")),
                "tkm_agree": _agree(s.get("tonne_km"), f.get("tonne_km")),
                "tonnes": s.get("tonnes_matched"),
                "tkm": s.get("tonne_km"),
            }
        )
        print(
            f"  engine/floor   {_fmt(row['ratio'], '.2f')}x wall, "
            f"{_fmt(eng.cpu_s / flo.cpu_s if flo.cpu_s else None, '.2f')}x CPU; "
            f"tonnes_matched agree "
            f"{row['t_agree']}, tonne_km agree {row['tkm_agree']}"
        )
        rows.append(row)
    done = [r for r in rows if isinstance(r.get("engine_s"), float)]
    if len(done) > 1:
        first = done[0]
        for r in done[1:]:
            print(
                f"  {r['method']} vs {first['method']}: tonnes_matched agree "
                f"{_agree(r['tonnes'], first['tonnes'])}, tonne_km agree "
                f"{_agree(r['tkm'], first['tkm'])}"
            )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """The closing summary table, one row per size and engine method."""
    head = (
        f"{'size':>8} {'arcs':>12} {'method':>8} {'engine s':>9} {'engine MiB':>10} "
        f"{'floor s':>8} {'floor MiB':>9} {'ratio':>6} {'t agree':>7} {'t-km agree':>10} "
        f"{'rounds':>6} {'arcs solved':>11} {'added':>7}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        eng = r.get("engine_s")
        eng_s = eng if isinstance(eng, str) else _fmt(eng, ".2f")
        arcs = _fmt(r.get("arcs"), ",.0f")
        print(
            f"{r['size']:>8,} {arcs:>12} {r.get('method', '-'):>8} {eng_s:>9} "
            f"{_fmt(r.get('engine_mb'), ',.0f'):>10} "
            f"{_fmt(r.get('floor_s'), '.2f'):>8} {_fmt(r.get('floor_mb'), ',.0f'):>9} "
            f"{_fmt(r.get('ratio'), '.2f'):>6} {r.get('t_agree', '-'):>7} "
            f"{r.get('tkm_agree', '-'):>10} {_fmt(r.get('rounds'), ',.0f'):>6} "
            f"{_fmt(r.get('solved'), ',.0f'):>11} {_fmt(r.get('added'), ',.0f'):>7}"
        )


def main(argv: list[str] | None = None) -> int:
    """CLI: benchmark each requested size; exit 1 only when the engine could not be found."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes",
        default="100,3000",
        help="comma-separated enterprise counts (e.g. 100,3000,30000,100000)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="best of K runs of each program")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per child run")
    ap.add_argument("--engine", default=None, help="path of the symbiosis executable")
    ap.add_argument("--floor-only", action="store_true", help="skip the engine")
    ap.add_argument(
        "--methods",
        default="dense,sparse",
        help="engine --method values to run, comma-separated ('' = the engine's default)",
    )
    ap.add_argument("--no-precompile", action="store_true",
                    help="do not write the engine's bytecode first (see precompile)")
    args = ap.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]

    engine = None if args.floor_only else (args.engine or find_engine())
    if not args.no_precompile:
        precompile(engine)
    missing = engine is None and not args.floor_only
    if missing:
        print(
            "symbiosis is not installed: no `symbiosis` executable next to "
            f"{sys.executable} nor on PATH (pip install -e . in the repo root, or pass "
            "--engine PATH). Running the bare floor only.",
            flush=True,
        )
    methods = tuple(m.strip() for m in args.methods.split(",")) or ("",)
    rows = [
        row
        for n in sizes
        for row in bench_size(n, args.seed, engine, max(1, args.repeat), args.timeout, methods)
    ]
    print_table(rows)
    if missing:
        print("\nengine columns are empty: symbiosis is not installed")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
