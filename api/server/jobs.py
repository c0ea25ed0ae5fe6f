"""Match runs in the background: a POST queues a job and returns at once; a worker thread
solves it (a worker process for large regions, so the server's own threads stay free),
reports its phase and progress, keeps the result in the state file and the run in the
store, where `symbiosis runs diff` sees it too.

Worker processes (issue 18): one spawned child per large run, never a pool, so a run can be
stopped at once by terminating its child (`cancel`, and `close` when the server stops on
SIGTERM or SIGINT). Each child dies with the server even when the server is killed
outright (SIGKILL, the OOM killer): it holds the read end of a "lifeline" pipe whose only
write end the server holds, and a watchdog thread in the child exits the moment that pipe
reports end-of-file (the kernel closes it when the server process dies, whatever killed
it) or the child's parent process changes. A run solved in a server thread (small
regions, well under a second) is cancelled between its phases."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from symbiosis.api.server.state import Job, StateStore
from symbiosis.errors import SymbiosisError
from symbiosis.jsonio import frame_records
from symbiosis.store import DatasetRows, RunRecord

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from symbiosis.api.server.region import Region
    from symbiosis.dataset import Dataset
    from symbiosis.matching.options import MatchOptions

__all__ = ["RunManager", "job_public", "options_from", "solve_rows"]

TERMINATE_GRACE_S = 2.0  # a worker gets SIGTERM, then SIGKILL after this long
STOPPED = "the server stopped before this run finished; start it again"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

log = logging.getLogger("symbiosis.api.runs")
Progress = Callable[[str, float], None]


def options_from(parameters: dict[str, Any]) -> MatchOptions:
    """MatchOptions from a run's stored parameters (the fields of `MatchParameters`), solved
    in one process (`jobs=1`: the server runs jobs side by side).

    Raises:
        OptionsError: a parameter out of bounds (the request body was validated already,
            so only a stored run of an older version can fail here).
    """
    from symbiosis.matching.options import MatchOptions, MatchParameters

    known = {k: v for k, v in parameters.items() if k in MatchParameters.model_fields}
    return MatchOptions(**known, jobs=1)


def solve_rows(rows: DatasetRows, parameters: dict[str, Any], progress: Progress,
               dataset: Dataset | None = None, park: str | None = None) -> dict[str, Any]:
    """Validate (unless `dataset` is the rows already validated), solve and package one
    run: what the state file and the store keep. With `park`, `rows` are the whole region
    (the park's enterprises plan with every partner in reach, in or out of the park) and
    what is kept is the park's view (`matching.park_scope.park_result`)."""
    from symbiosis.matching.model import solve_match
    from symbiosis.store import dataset_from_rows

    progress("validate", 0.05)
    if dataset is None:
        dataset = dataset_from_rows(rows, source="store")
    options = options_from(parameters)
    progress("solve", 0.2)
    result = solve_match(dataset, options)
    from symbiosis.api.server.run_extras import monthly_tables, with_estimate_columns

    result = with_estimate_columns(result, dataset)  # before a park's view blanks ids
    monthly = monthly_tables(result, dataset, park)
    if park is not None:
        from symbiosis.matching.park_scope import park_result

        result = park_result(result, dataset, park)
    progress("report", 0.9)
    record = RunRecord.from_result(result, rows.content_hash())
    enterprises = dataset.enterprises.reset_index().rename(columns={"enterprise_id": "id"})
    if park is not None:
        enterprises = enterprises.loc[(enterprises["park"].astype(str).str.strip()
                                       == park.strip()).to_numpy()]
    keep = [c for c in ("id", "name", "sector", "lon", "lat", "park") if c in enterprises]
    body = {
        "summary": result.summary.to_dict(),
        "enterprises": frame_records(enterprises[keep]),
        "exchanges": frame_records(result.exchanges),
        "offers": frame_records(result.offers),
        "needs": frame_records(result.needs),
    }
    if monthly is not None:  # a monthly plan: the page's monthly charts (run_extras)
        body["monthly"] = monthly
    return {"record": record, "result": body, "kpis": result.headline().model_dump()}


def _solve_in_worker(rows: DatasetRows, parameters: dict[str, Any], state_path: str,
                     job_id: int, park: str | None = None) -> dict[str, Any]:
    """The worker-process entry point (validates again: shipping a frame costs as much):
    progress goes straight to the state file."""
    state = StateStore(state_path)
    try:
        return solve_rows(rows, parameters,
                          lambda phase, share: state.job_progress(job_id, phase, share),
                          park=park)
    finally:
        state.close()


def _die_with_parent(lifeline: Connection, server_pid: int) -> None:
    """In a worker: exit as soon as the server is gone, however it went.

    On Linux the kernel sends SIGKILL to this process when the server dies
    (prctl PR_SET_PDEATHSIG: immediate, even while a C++ solve holds the GIL). Everywhere,
    a watchdog thread waits on `lifeline`, the read end of a pipe whose write end only the
    server holds and on which nothing is ever sent: it becomes readable only at
    end-of-file, when the server closed it or died. A server that died before this ran is
    seen by the parent process id (`server_pid`)."""
    if sys.platform.startswith("linux"):
        import ctypes

        # no prctl (a libc without it): the watchdog thread below still acts
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != server_pid:
        os._exit(3)

    def watch() -> None:
        while True:
            try:
                if lifeline.poll(1.0):
                    break
            except (EOFError, OSError):
                break
            if os.getppid() != server_pid:
                break
        os._exit(3)

    threading.Thread(target=watch, name="symbiosis-lifeline", daemon=True).start()


def _worker_main(lifeline: Connection, results: Connection, server_pid: int,
                 rows: DatasetRows, parameters: dict[str, Any], state_path: str,
                 job_id: int, park: str | None = None) -> None:
    """A worker process: solve one run, send ("ok", output) or ("error", message) back."""
    _die_with_parent(lifeline, server_pid)
    try:
        answer: tuple[str, Any] = ("ok", _solve_in_worker(rows, parameters, state_path,
                                                          job_id, park))
    except SymbiosisError as exc:
        answer = ("error", str(exc))
    except Exception as exc:  # a bug: the job says so
        answer = ("crash", f"{type(exc).__name__}: {exc}")
    results.send(answer)
    results.close()


def _stop(worker: BaseProcess) -> None:
    """Terminate a worker process: SIGTERM, then SIGKILL if it is still there after
    TERMINATE_GRACE_S (a C++ solve may not return to Python to act on SIGTERM; the kill is
    what bounds the wait)."""
    if worker.is_alive():
        worker.terminate()
        worker.join(TERMINATE_GRACE_S)
        if worker.is_alive():
            worker.kill()
            worker.join()


class _CancelledError(Exception):
    """A job was cancelled (or the server is stopping) while it ran."""


class RunManager:
    """Queues, runs and records match runs."""

    def __init__(self, region: Region, state: StateStore, workers: int,
                 process_min_enterprises: int) -> None:
        self.region = region
        self.state = state
        self.process_min_enterprises = process_min_enterprises
        self._threads = ThreadPoolExecutor(max_workers=workers,
                                           thread_name_prefix="symbiosis-run")
        self._lock = threading.Lock()
        self._futures: dict[int, Future[None]] = {}
        self._workers: dict[int, BaseProcess] = {}
        self._stopping: set[int] = set()
        self._closing = False
        failed = state.fail_unfinished("the server stopped before this run finished; "
                                       "start it again")
        if failed:
            log.warning("marked unfinished runs failed", extra={"runs": failed})

    def submit(self, rows: DatasetRows, parameters: dict[str, Any], park: str | None,
               version: int | None, key_id: str, dataset: Dataset | None = None) -> Job:
        """Queue a run of `rows` (parameters already checked; `dataset` if the rows are
        already validated) and return its job."""
        job = self.state.add_job(park, parameters, version, key_id)
        future = self._threads.submit(self._run, job.id, rows, parameters, park, version,
                                      dataset)
        with self._lock:
            self._futures[job.id] = future
        future.add_done_callback(lambda _: self._forget(job.id))
        return job

    def _forget(self, job_id: int) -> None:
        with self._lock:
            self._futures.pop(job_id, None)

    def wait(self, job_id: int, timeout_s: float) -> None:
        """Block up to `timeout_s` for a queued or running job."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None and timeout_s > 0:
            wait_futures([future], timeout=timeout_s)

    def worker_pid(self, job_id: int) -> int | None:
        """The process id of the worker process solving `job_id` (None: none now)."""
        with self._lock:
            worker = self._workers.get(job_id)
            return worker.pid if worker is not None else None

    def cancel(self, job_id: int, who: str) -> bool:
        """Stop a queued or running job: its worker process is terminated at once
        (`_stop`); a run solved in a server thread stops at its next phase. The job ends
        `cancelled` and keeps no result. False if it had finished already."""
        if not self.state.cancel_job(job_id, f"cancelled by {who}"):
            return False
        with self._lock:
            self._stopping.add(job_id)
            worker = self._workers.get(job_id)
        if worker is not None:
            _stop(worker)
        log.info("run cancelled", extra={"job": job_id, "by": who})
        return True

    def _check(self, job_id: int) -> None:
        """Raise _CancelledError if the job was cancelled or the server is stopping."""
        with self._lock:
            if job_id in self._stopping or self._closing:
                raise _CancelledError(job_id)

    def _in_process(self, job_id: int, rows: DatasetRows, parameters: dict[str, Any],
                    park: str | None = None) -> dict[str, Any]:
        """Solve in a spawned worker process that dies with the server (`_die_with_parent`)
        and that `cancel` and `close` terminate."""
        ctx = multiprocessing.get_context("spawn")
        life_read, life_write = ctx.Pipe(duplex=False)
        result_read, result_write = ctx.Pipe(duplex=False)
        worker = ctx.Process(target=_worker_main, name=f"symbiosis-run-{job_id}", daemon=True,
                             args=(life_read, result_write, os.getpid(), rows, parameters,
                                   str(self.state.path), job_id, park))
        try:
            with self._lock:
                if job_id in self._stopping or self._closing:
                    raise _CancelledError(job_id)
                worker.start()
                self._workers[job_id] = worker
            life_read.close()  # the child's ends: the result read sees EOF if it dies
            result_write.close()
            try:
                kind, payload = result_read.recv()
            except EOFError:
                kind, payload = "gone", None
            worker.join()
        finally:
            with self._lock:
                self._workers.pop(job_id, None)
            for end in (result_read, life_write, life_read, result_write):
                end.close()
        self._check(job_id)
        if kind == "ok":
            out: dict[str, Any] = payload
            return out
        if kind == "error":
            raise SymbiosisError(str(payload))
        if kind == "gone":
            raise RuntimeError(f"the worker process stopped (exit code {worker.exitcode})")
        raise RuntimeError(str(payload))

    def _run(self, job_id: int, rows: DatasetRows, parameters: dict[str, Any],
             park: str | None, version: int | None, dataset: Dataset | None) -> None:
        started = time.perf_counter()
        try:
            self._check(job_id)
            if len(rows.enterprises) >= self.process_min_enterprises:
                self.state.job_progress(job_id, "queued for a worker process", 0.01)
                out = self._in_process(job_id, rows, parameters, park)
            else:
                def progress(phase: str, share: float) -> None:
                    self._check(job_id)  # a cancelled run stops between its phases
                    self.state.job_progress(job_id, phase, share)

                out = solve_rows(rows, parameters, progress, dataset, park)
                self._check(job_id)
            record: RunRecord = out["record"]
            stored = self.region.save_run(RunRecord(
                parameters={**record.parameters, "park": park, "api_job": job_id},
                dataset_hash=record.dataset_hash, summary=record.summary,
                exchanges=record.exchanges, version=version))
            body = {"id": job_id, "park": park, "kpis": out["kpis"], **out["result"]}
            self.state.finish_job(job_id, out["kpis"], body, stored.id)
            log.info("run finished", extra={"job": job_id, "park": park,
                                            "seconds": round(time.perf_counter() - started, 3),
                                            "exchanges": len(record.exchanges)})
        except _CancelledError:
            self.state.fail_job(job_id, STOPPED)  # only if not cancelled: server stopping
            log.info("run stopped", extra={"job": job_id})
        except SymbiosisError as exc:
            self.state.fail_job(job_id, str(exc))
            log.warning("run failed", extra={"job": job_id, "error": str(exc)})
        except Exception as exc:  # a bug: the job says so, the log has the traceback
            self.state.fail_job(job_id, f"internal error ({type(exc).__name__}); the server "
                                        "log has the details")
            log.exception("run crashed", extra={"job": job_id})
        finally:
            with self._lock:
                self._stopping.discard(job_id)

    def close(self) -> None:
        """Stop taking runs and stop the running ones at once: worker processes are
        terminated (a server stopping on SIGTERM or SIGINT does not wait for a long solve),
        runs in server threads stop at their next phase; unfinished runs end `failed`
        ("the server stopped")."""
        with self._lock:
            self._closing = True
            workers = list(self._workers.values())
        for worker in workers:
            _stop(worker)
        self._threads.shutdown(wait=True, cancel_futures=True)
        self.state.fail_unfinished(STOPPED)


def job_public(job: Job) -> dict[str, Any]:
    """A job as the API shows it."""
    return {k: v for k, v in asdict(job).items() if k != "created_by"}
