"""HTTP API benchmark on loopback: figures, never pass/fail.

The server is `symbiosis serve` in its own process (so client and server do not share a
GIL), on a fresh SQLite store and state file under `benchmarks/_work/api_<n>/`, with a
fixed admin key. The seeded generated dataset (`generate.build(n)`) is uploaded through
`POST /api/datasets`; a park-manager key is issued (`POST /api/keys`) for the dataset's
largest park. Then, per size:

- listing reads under load: `GET /api/enterprises?limit=100`, `GET /api/offers?limit=100`
  and `GET /api/runs/{id}/result` (the whole stored result of a run: region for the admin,
  its park for the park manager), N concurrent clients x M requests, for both keys;
- match runs (the first size only, by default 100 enterprises, as the whole region with
  the admin key): `POST /api/runs?wait=30` end to end with 1, 2 and 4 concurrent clients,
  K runs each; it prints how many came back 200 and `succeeded` (it never fails on it); the
  run's own phases (`summary.timings_s`) and the job's queue and in-job seconds show where
  the time goes.

Latencies are client-side wall times per request, body read to its last byte (httpx, one
keep-alive connection per client thread); next to them the server's own milliseconds per
request from its JSON request log (found by the `X-Request-ID` the client sends). Peak
memory: the server's VmHWM (and its worker processes', where a large run was solved in one)
from /proc, the client's ru_maxrss.

    python benchmarks/bench_api.py [--sizes 100,3000] [--concurrency 8] [--requests 25]
                                   [--runs 10] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

ADMIN_KEY = "sk_00000000be01_" + "B" * 43
RUN_CLIENTS = (1, 2, 4)
RUN_WAIT_S = 30
TIMEOUT_S = 300.0
SERVER_START_S = 120.0
SOLO_REQUESTS = 10  # one client alone first: warms the route up, gives the unloaded p50


# ------------------------------------------------------------------ the server process


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status_kib(pid: int, field_name: str) -> int | None:
    """A `/proc/<pid>/status` memory field in KiB (None if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def descendants(pid: int) -> list[int]:
    """Every live process under `pid` (from the ppid field of /proc/*/stat)."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent_of[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent_of.items() if pp == p]
        found += kids
        frontier += kids
    return found


@dataclass
class Server:
    """A `symbiosis serve` child process and where it keeps its files."""

    proc: subprocess.Popen[bytes]
    url: str
    folder: Path
    start_s: float

    def memory(self) -> dict[str, Any]:
        """Peak and current RSS of the server, and the peak of its worker processes."""
        workers = [(p, proc_status_kib(p, "VmHWM")) for p in descendants(self.proc.pid)]
        peaks = [kib for _, kib in workers if kib]
        return {"server_peak_mib": _mib(proc_status_kib(self.proc.pid, "VmHWM")),
                "server_rss_mib": _mib(proc_status_kib(self.proc.pid, "VmRSS")),
                "worker_processes": len(workers),
                "worker_peak_mib": _mib(max(peaks)) if peaks else None}

    def stop(self) -> None:
        """SIGINT (uvicorn shuts down gracefully), then SIGKILL after 30 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _mib(kib: int | None) -> float | None:
    return None if kib is None else kib / 1024


def start_server(folder: Path) -> Server:
    """`symbiosis serve` (the real launcher: JSON request logs to a file) on a fresh store."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    port = free_port()
    env = {**os.environ, "SYMBIOSIS_ADMIN_KEY": ADMIN_KEY}
    cmd = [sys.executable, "-c", "from api.cli import main; main()", "serve",
           "--store", f"sqlite:///{folder / 'store.db'}", "--state", str(folder / "api.db"),
           "--port", str(port)]
    log = (folder / "server.log").open("wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    server = Server(proc, url, folder, 0.0)
    deadline = t0 + SERVER_START_S
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}; see "
                               f"{folder / 'server.log'}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                server.start_s = time.perf_counter() - t0
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"the server did not answer within {SERVER_START_S:.0f} s")


def client(url: str, key: str) -> httpx.Client:
    """One keep-alive connection sending `key`."""
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                        timeout=TIMEOUT_S)


def _check(r: httpx.Response, *codes: int) -> Any:
    if r.status_code not in codes:
        raise RuntimeError(f"{r.request.method} {r.request.url.path} -> {r.status_code}: "
                           f"{r.text[:500]}")
    return r.json()


def zip_dataset(folder: Path) -> bytes:
    """The dataset folder's CSV files as an in-memory zip (what a user would upload)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.glob("*.csv")):
            archive.write(path, path.name)
    return buffer.getvalue()


def largest_park(folder: Path) -> tuple[str | None, int]:
    """The park with the most enterprises in the dataset (None if it has no parks)."""
    import csv

    counts: dict[str, int] = {}
    with (folder / "enterprises.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("park"):
                counts[row["park"]] = counts.get(row["park"], 0) + 1
    if not counts:
        return None, 0
    name = min(counts, key=lambda p: (-counts[p], p))
    return name, counts[name]


# ------------------------------------------------------------------ load


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks (numpy's default)."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


@dataclass
class Load:
    """What N clients saw doing M requests each."""

    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bytes_total: int = 0
    wall_s: float = 0.0
    bodies: list[Any] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """Percentiles in ms, errors, throughput."""
        n = len(self.latencies_s)
        ms = [x * 1000 for x in self.latencies_s]
        return {"requests": n, "errors": n - self.statuses.get(200, 0),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
                "p99_ms": percentile(ms, 99), "max_ms": max(ms) if ms else float("nan"),
                "mean_ms": sum(ms) / n if n else float("nan"),
                "req_per_s": n / self.wall_s if self.wall_s else float("nan"),
                "kib_per_response": self.bytes_total / n / 1024 if n else 0.0,
                "wall_s": self.wall_s}


Call = Callable[[httpx.Client], tuple[int, int, Any]]  # -> status, bytes, parsed body


def load(url: str, key: str, call: Call, concurrency: int, requests: int,
         tag: str = "bench") -> Load:
    """`concurrency` threads, each with its own connection, doing `call` `requests` times,
    released together by a barrier. Wall time runs from the release to the last answer.
    Request ids are `<tag>.<client>.<i>`, so the server's log lines can be found."""
    out = Load()
    lock = threading.Lock()
    barrier = threading.Barrier(concurrency + 1)
    failures: list[BaseException] = []

    def worker(who: int) -> None:
        samples: list[tuple[float, int, int, Any]] = []
        try:
            with client(url, key) as c:
                c.get("/api/me")  # connect before the clock starts
                barrier.wait()
                for i in range(requests):
                    c.headers["X-Request-ID"] = f"{tag}.{who}.{i}"
                    t0 = time.perf_counter()
                    status, size, body = call(c)
                    samples.append((time.perf_counter() - t0, status, size, body))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
            barrier.abort()
        with lock:
            for dt, status, size, body in samples:
                out.latencies_s.append(dt)
                out.statuses[status] = out.statuses.get(status, 0) + 1
                out.bytes_total += size
                if body is not None:
                    out.bodies.append(body)

    threads = [threading.Thread(target=worker, args=(i,), name=f"client-{i}")
               for i in range(concurrency)]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a client failed: raised below
        barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    out.wall_s = time.perf_counter() - t0
    if failures:
        raise RuntimeError(f"a client failed: {failures[0]!r}") from failures[0]
    return out


def server_ms(log: Path) -> dict[str, list[float]]:
    """The server's own milliseconds per request (its JSON request log), by request tag."""
    out: dict[str, list[float]] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("msg") == "request" and "ms" in rec:
            out.setdefault(str(rec.get("request_id", "")).split(".")[0], []).append(rec["ms"])
    return out


def _get(path: str) -> Call:
    """GET `path`, reading the body to its last byte without keeping it (a 7 MB result
    held per request would grow the client, not the server)."""
    def call(c: httpx.Client) -> tuple[int, int, Any]:
        with c.stream("GET", path) as r:
            size = sum(len(chunk) for chunk in r.iter_raw())
        return r.status_code, size, None

    return call


def _post_run(body: dict[str, Any]) -> Call:
    """POST a run and keep the job it answers with."""
    def call(c: httpx.Client) -> tuple[int, int, Any]:
        r = c.post(f"/api/runs?wait={RUN_WAIT_S}", json=body)
        return r.status_code, len(r.content), r.json() if r.status_code in (200, 202) else None

    return call


def _iso_s(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def run_breakdown(url: str, job: dict[str, Any]) -> dict[str, Any]:
    """Where a finished run's time went: queue, in-job, and the engine's own phases."""
    with client(url, ADMIN_KEY) as c:
        result = _check(c.get(f"/api/runs/{job['id']}/result"), 200)
    timings = result["summary"].get("timings_s", {})
    return {"id": job["id"], "status": job["status"],
            "queue_s": _iso_s(job.get("created_at"), job.get("started_at")),
            "job_s": _iso_s(job.get("started_at"), job.get("finished_at")),
            "engine_s": sum(timings.values()), "timings_s": timings,
            "exchanges": len(result["exchanges"])}


def one_run(url: str, key: str, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """One `POST /api/runs?wait=30` (seconds end to end, the finished job)."""
    with client(url, key) as c:
        t0 = time.perf_counter()
        job = _check(c.post(f"/api/runs?wait={RUN_WAIT_S}", json=body), 200)
        seconds = time.perf_counter() - t0
    if job["status"] != "succeeded":
        raise RuntimeError(f"run {job['id']} {job['status']}: {job.get('error')}")
    return seconds, job


# ------------------------------------------------------------------ one size


def bench_size(n: int, seed: int, concurrency: int, requests: int, runs: int,
               with_runs: bool) -> dict[str, Any]:
    """Start a server, upload the n-enterprise dataset and measure; returns the figures."""
    path = generate.build(n, seed)
    park, park_size = largest_park(path)
    server = start_server(generate.WORK_DIR / f"api_{n}")
    out: dict[str, Any] = {"size": n, "seed": seed, "dataset": str(path), "park": park,
                           "park_enterprises": park_size, "phases_s": {
                               "server_start": server.start_s}}
    print(f"\n== {n:,} enterprises ({path.name}); server pid {server.proc.pid} at "
          f"{server.url}, up in {server.start_s:.2f} s", flush=True)
    try:
        with client(server.url, ADMIN_KEY) as admin:
            t0 = time.perf_counter()
            upload = _check(admin.post("/api/datasets", files={
                "file": (f"{path.name}.zip", zip_dataset(path), "application/zip")}), 201)
            out["phases_s"]["upload"] = time.perf_counter() - t0
            print(f"upload: {upload['enterprises']:,} enterprises, {upload['offers']:,} offers, "
                  f"{upload['needs']:,} needs in {out['phases_s']['upload']:.2f} s", flush=True)
            keys = {"admin": ADMIN_KEY}
            if park is not None:
                keys["park_manager"] = _check(admin.post("/api/keys", json={
                    "role": "park_manager", "scope": park, "label": "bench_api"}), 201)["key"]
                print(f"park-manager key for '{park}' ({park_size} enterprises)")
            else:
                print("the generated data has no parks: admin key only")

        # one run per key to read results of (the admin's is the whole region); the first
        # run after start-up also pays the engine's imports (and at 1,000 enterprises or more
        # the start of the worker process), so the region is run a second time
        result_of: dict[str, int] = {}
        for phase, role in (("first_run_admin", "admin"), ("first_run_park_manager",
                            "park_manager"), ("second_run_admin", "admin")):
            if role not in keys:
                continue
            body = {} if role == "admin" else {"park": park}
            seconds, job = one_run(server.url, keys[role], body)
            result_of.setdefault(role, job["id"])
            label = "region" if role == "admin" else f"park '{park}'"
            out["phases_s"][phase] = seconds
            out[phase] = b = run_breakdown(server.url, job)
            print(f"{phase.split('_')[0]} run ({label}, {role}): {seconds:.3f} s end to end; "
                  f"queue {b['queue_s']:.3f} s, in job {b['job_s']:.3f} s, engine "
                  f"{b['engine_s']:.3f} s, {b['exchanges']:,} exchanges", flush=True)

        reads: list[dict[str, Any]] = []
        for role, key in keys.items():
            routes = {"GET /api/enterprises?limit=100": "/api/enterprises?limit=100",
                      "GET /api/offers?limit=100": "/api/offers?limit=100",
                      "GET /api/runs/{id}/result": f"/api/runs/{result_of[role]}/result"}
            for name, target in routes.items():
                tag = f"r{n}-{role}-{len(reads)}"
                alone = load(server.url, key, _get(target), 1, SOLO_REQUESTS,  # and warm-up
                             tag=tag + "-solo")
                got = load(server.url, key, _get(target), concurrency, requests, tag=tag)
                row = {"key": role, "route": name, "clients": concurrency, **got.figures(),
                       "solo_p50_ms": alone.figures()["p50_ms"], "tag": tag}
                reads.append(row)
                _print_row(n, row)
        out["reads"] = reads
        out["memory_after_reads"] = server.memory()

        if with_runs:
            out["runs"] = bench_runs(server.url, runs)
        out["memory"] = server.memory()
    finally:
        server.stop()
    logged = server_ms(server.folder / "server.log")
    for row in out.get("reads", []) + out.get("runs", []):
        ms = logged.get(row["tag"], [])
        row["server_p50_ms"] = percentile(ms, 50)
        row["server_p99_ms"] = percentile(ms, 99)
        if "solo_p50_ms" in row:
            row["server_solo_p50_ms"] = percentile(logged.get(row["tag"] + "-solo", []), 50)
    return out


def bench_runs(url: str, runs: int) -> list[dict[str, Any]]:
    """`POST /api/runs?wait=30` of the whole region (admin), 1, 2 and 4 clients x `runs`."""
    rows = []
    for clients in RUN_CLIENTS:
        tag = f"runs{clients}"
        got = load(url, ADMIN_KEY, _post_run({}), clients, runs, tag=tag)
        jobs = [b for b in got.bodies if b is not None]
        succeeded = sum(1 for b in jobs if b["status"] == "succeeded")
        breakdown = [run_breakdown(url, j) for j in jobs if j["status"] == "succeeded"]
        figures = got.figures()
        row = {"key": "admin", "route": "POST /api/runs?wait=30 (region)", "clients": clients,
               "tag": tag,
               **figures, "succeeded": succeeded, "all_succeeded": succeeded ==
               figures["requests"] and figures["errors"] == 0,
               "queue_s_p50": percentile([b["queue_s"] or 0 for b in breakdown], 50),
               "job_s_p50": percentile([b["job_s"] or 0 for b in breakdown], 50),
               "engine_s_p50": percentile([b["engine_s"] for b in breakdown], 50),
               "timings_s_p50": {k: percentile([b["timings_s"].get(k, 0) for b in breakdown],
                                               50) for k in (breakdown[0]["timings_s"]
                                                             if breakdown else {})}}
        rows.append(row)
        print(f"runs x{clients}: {succeeded}/{figures['requests']} succeeded; p50 "
              f"{figures['p50_ms']:.0f} ms, p99 {figures['p99_ms']:.0f} ms, max "
              f"{figures['max_ms']:.0f} ms, {figures['req_per_s']:.2f} runs/s; per run p50: "
              f"queue {row['queue_s_p50'] * 1000:.0f} ms, in job {row['job_s_p50'] * 1000:.0f} "
              f"ms, engine {row['engine_s_p50'] * 1000:.0f} ms", flush=True)
    return rows


# ------------------------------------------------------------------ report


def _print_row(n: int, row: dict[str, Any]) -> None:
    server = "".join(f" {row[k]:>8.1f}" for k in ("server_solo_p50_ms", "server_p50_ms",
                                                  "server_p99_ms") if k in row)
    print(f"{n:>6,} {row['key']:<13} {row['route']:<32} {row['clients']:>3} "
          f"{row['requests']:>5} {row['errors']:>4} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} "
          f"{row['p99_ms']:>8.1f} {row['max_ms']:>8.1f} {row['req_per_s']:>8.1f} "
          f"{row['kib_per_response']:>9.1f} {row['solo_p50_ms']:>9.1f}{server}", flush=True)


HEADER = (f"{'size':>6} {'key':<13} {'route':<32} {'cli':>3} {'reqs':>5} {'err':>4} "
          f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>8} "
          f"{'KiB/resp':>9} {'1-cli p50':>9}")
SERVER_HEADER = f" {'1-cli srv':>8} {'srv p50':>8} {'srv p99':>8}"


def print_summary(results: list[dict[str, Any]]) -> None:
    """Every figure as one table, then the runs and memory."""
    print("\n== listing reads: client-side ms per request with N clients; 1-cli p50 = one "
          "client alone;\n   srv = the server's own ms per request (its request log: "
          "middleware to response start), alone and with N clients")
    print(HEADER + SERVER_HEADER)
    for res in results:
        for row in res["reads"]:
            _print_row(res["size"], row)
    for res in results:
        if not res.get("runs"):
            continue
        print(f"\n== match runs: POST /api/runs?wait={RUN_WAIT_S} of the {res['size']:,}-"
              "enterprise region (admin), end to end")
        print(f"{'clients':>7} {'runs':>5} {'ok':>4} {'p50 ms':>8} {'p95 ms':>8} "
              f"{'p99 ms':>8} {'max ms':>8} {'runs/s':>7} {'queue':>7} {'in job':>7} "
              f"{'engine':>7}  engine phases p50 (ms)")
        for r in res["runs"]:
            phases = ", ".join(f"{k} {v * 1000:.0f}" for k, v in r["timings_s_p50"].items())
            print(f"{r['clients']:>7} {r['requests']:>5} {r['succeeded']:>4} "
                  f"{r['p50_ms']:>8.0f} {r['p95_ms']:>8.0f} {r['p99_ms']:>8.0f} "
                  f"{r['max_ms']:>8.0f} {r['req_per_s']:>7.2f} "
                  f"{r['queue_s_p50'] * 1000:>7.0f} {r['job_s_p50'] * 1000:>7.0f} "
                  f"{r['engine_s_p50'] * 1000:>7.0f}  {phases}")
        every = all(r["all_succeeded"] for r in res["runs"])
        print(f"every run succeeded: {'yes' if every else 'NO'}")
    print("\n== phases and memory")
    for res in results:
        phases = ", ".join(f"{k} {v:.2f} s" for k, v in res["phases_s"].items())
        mem = res["memory"]
        worker = (f"; worker process peak {mem['worker_peak_mib']:.0f} MiB"
                  if mem["worker_peak_mib"] else "")
        print(f"{res['size']:>6,}: {phases}; server peak RSS {mem['server_peak_mib']:.0f} MiB "
              f"(now {mem['server_rss_mib']:.0f}){worker}")
    print(f"client peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} "
          "MiB")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,3000", help="enterprise counts (the first one "
                    "also gets the match-run load)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--concurrency", type=int, default=8, help="clients for the reads")
    ap.add_argument("--requests", type=int, default=25, help="requests per read client")
    ap.add_argument("--runs", type=int, default=10, help="runs per client (1, 2, 4 clients)")
    ap.add_argument("--no-runs", action="store_true", help="skip the match-run load")
    ap.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(f"python {sys.version.split()[0]}, httpx {httpx.__version__}, {os.cpu_count()} "
          f"cores, load average {os.getloadavg()[0]:.2f}; reads: {args.concurrency} clients "
          f"x {args.requests} requests; runs: {'/'.join(map(str, RUN_CLIENTS))} clients x "
          f"{args.runs}")
    print(HEADER)
    results = [bench_size(n, args.seed, args.concurrency, args.requests, args.runs,
                          with_runs=i == 0 and not args.no_runs)
               for i, n in enumerate(sizes)]
    print_summary(results)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"argv": sys.argv[1:], "cores": os.cpu_count(),
                                         "results": results}, indent=2, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
