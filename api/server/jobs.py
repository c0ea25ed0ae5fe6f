"""Match runs in the background: a POST queues a job and returns at once; a worker thread
solves it (a worker process for large regions, so the server's own threads stay free),
reports its phase and progress, keeps the result in the state file and the run in the
store, where `symbiosis runs diff` sees it too."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from symbiosis.api.server.state import Job, StateStore
from symbiosis.errors import SymbiosisError
from symbiosis.jsonio import frame_records
from symbiosis.store import DatasetRows, RunRecord

if TYPE_CHECKING:
    from symbiosis.api.server.region import Region
    from symbiosis.dataset import Dataset
    from symbiosis.matching.options import MatchOptions

__all__ = ["RunManager", "job_public", "options_from", "solve_rows"]

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


class RunManager:
    """Queues, runs and records match runs."""

    def __init__(self, region: Region, state: StateStore, workers: int,
                 process_min_enterprises: int) -> None:
        self.region = region
        self.state = state
        self.process_min_enterprises = process_min_enterprises
        self._threads = ThreadPoolExecutor(max_workers=workers,
                                           thread_name_prefix="symbiosis-run")
        self._processes: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._futures: dict[int, Future[None]] = {}
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

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._processes is None:
                self._processes = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            return self._processes

    def _run(self, job_id: int, rows: DatasetRows, parameters: dict[str, Any],
             park: str | None, version: int | None, dataset: Dataset | None) -> None:
        started = time.perf_counter()
        try:
            if len(rows.enterprises) >= self.process_min_enterprises:
                self.state.job_progress(job_id, "queued for a worker process", 0.01)
                out = self._pool().submit(_solve_in_worker, rows, parameters,
                                          str(self.state.path), job_id, park).result()
            else:
                out = solve_rows(rows, parameters,
                                 lambda phase, share: self.state.job_progress(
                                     job_id, phase, share), dataset, park)
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
        except SymbiosisError as exc:
            self.state.fail_job(job_id, str(exc))
            log.warning("run failed", extra={"job": job_id, "error": str(exc)})
        except Exception as exc:  # a bug: the job says so, the log has the traceback
            self.state.fail_job(job_id, f"internal error ({type(exc).__name__}); the server "
                                        "log has the details")
            log.exception("run crashed", extra={"job": job_id})

    def close(self) -> None:
        """Stop taking runs; wait for the running ones."""
        self._threads.shutdown(wait=True, cancel_futures=True)
        if self._processes is not None:
            self._processes.shutdown(wait=True, cancel_futures=True)


def job_public(job: Job) -> dict[str, Any]:
    """A job as the API shows it."""
    return {k: v for k, v in asdict(job).items() if k != "created_by"}
