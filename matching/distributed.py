"""Where the embarrassingly parallel work runs: in this process, one task after another, or
as tasks on a Dask cluster (`distributed`).

Scenario sweeps (`matching.scenario.sweep_scenarios`), frontier points
(`matching.frontier.pareto_frontier`), the keystone ranking (`matching.network.keystones`)
and uncertainty samples (`matching.robust.robust_plan`) each call `Engine.map(task, items,
shared)`: `task(shared, item)` for every item, results in item order. The data every task
reads (the dataset, its candidate arcs, the options) is `shared`: a Dask engine scatters it
to every worker once (`Client.scatter(..., broadcast=True)`) and passes the same future to
every task, so a sweep of 300 re-solves moves the dataset over the network once per worker,
not 300 times.

The tasks are the same functions in both engines and the solves are deterministic, so a Dask
run returns exactly what the serial run returns (tests/matching/test_distributed.py compares
them on a real LocalCluster with two worker processes).

Three ways to start, chosen by `open_engine`:

| call                                   | engine                                        |
|----------------------------------------|-----------------------------------------------|
| `open_engine()`                        | serial, in this process (the default)         |
| `open_engine(workers=N)`               | a Dask LocalCluster of N worker processes,    |
|                                        | one thread each, closed on exit               |
| `open_engine(scheduler="tcp://h:8786")`| an existing Dask cluster (left running)       |

The CLI's `--scheduler` falls back to the `SYMBIOSIS_SCHEDULER` environment setting, so a
sweep written for a laptop runs on a cluster unchanged.

The taxonomy keeps its tables in read-only `types.MappingProxyType` views, which pickle does
not know; importing this module registers a reducer that pickles such a view as the plain
dict it shows (unpickled as a read-only view again), so a `Dataset` travels whole.
"""

from __future__ import annotations

import copyreg
import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from symbiosis.errors import InvalidDataError, Problem, SolverError, SymbiosisError

__all__ = ["SCHEDULER_ENV", "DaskEngine", "Engine", "SerialEngine", "open_engine"]

SCHEDULER_ENV = "SYMBIOSIS_SCHEDULER"

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")


def _mapping_proxy(content: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    """A read-only view again (what an unpickled view is rebuilt with)."""
    return MappingProxyType(content)


def _reduce_mapping_proxy(view: MappingProxyType[Any, Any]) -> tuple[Any, tuple[Any, ...]]:
    return _mapping_proxy, (dict(view),)


copyreg.pickle(MappingProxyType, _reduce_mapping_proxy)


class Engine(Protocol):
    """Runs `task(shared, item)` for every item and returns the results in item order.

    Raises whatever the first failing task raised (`SymbiosisError` subclasses keep their
    class and problems across processes).
    """

    @property
    def name(self) -> str:
        """How the tasks run: `serial`, or `dask <scheduler address>`."""
        ...

    def map(self, task: Callable[[S, T], R], items: Sequence[T], shared: S) -> list[R]: ...


@dataclass(frozen=True)
class SerialEngine:
    """One task after another in this process (the default; no Dask needed)."""

    name: str = "serial"

    def map(self, task: Callable[[S, T], R], items: Sequence[T], shared: S) -> list[R]:
        """`[task(shared, item) for item in items]`."""
        return [task(shared, item) for item in items]


@dataclass(frozen=True)
class _TaskError:
    """A domain error raised in a worker, carried back as plain data (the error classes
    take their problems in `__init__`, which pickle does not call with them)."""

    kind: str
    message: str
    problems: tuple[Problem, ...] = ()

    def reraise(self) -> None:
        if self.kind == "invalid":
            raise InvalidDataError(list(self.problems))
        if self.kind == "solver":
            raise SolverError(self.message)
        raise SymbiosisError(self.message)


def _call(task: Callable[[Any, Any], Any], item: Any, shared: Any) -> Any:
    """What a worker runs: the task, its domain errors turned into `_TaskError`."""
    try:
        return task(shared, item)
    except InvalidDataError as exc:
        return _TaskError("invalid", str(exc), tuple(exc.problems))
    except SolverError as exc:
        return _TaskError("solver", str(exc))
    except SymbiosisError as exc:
        return _TaskError("other", str(exc))


_BATCH = itertools.count()


def _warm() -> None:
    """Import the solver stack in a worker before its first task (about 1 s of imports:
    OR-Tools, pandas, the matching modules), so it is paid at start-up, not by a task."""
    import symbiosis.matching.frontier
    import symbiosis.matching.model
    import symbiosis.matching.network
    import symbiosis.matching.robust
    import symbiosis.matching.scenario  # noqa: F401


class DaskEngine:
    """Tasks on a Dask cluster through a `distributed.Client` (not owned: closing the
    client is the caller's business; `open_engine` does it)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.name = f"dask {client.scheduler.address}"

    @property
    def workers(self) -> int:
        """Workers the scheduler knows now."""
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))

    def map(self, task: Callable[[S, T], R], items: Sequence[T], shared: S) -> list[R]:
        """Scatter `shared` to every worker once, run one task per item, gather in order."""
        if not items:
            return []
        # a list of one: scatter would otherwise scatter a tuple's elements one by one
        [shared_future] = self.client.scatter([shared], broadcast=True, hash=False)
        batch = f"{getattr(task, '__name__', 'task')}-{os.getpid()}-{next(_BATCH)}"
        futures = self.client.map(_call, [task] * len(items), list(items),
                                  shared=shared_future, pure=False,
                                  key=[f"{batch}-{k}" for k in range(len(items))])
        results = self.client.gather(futures)
        self.client.cancel([*futures, shared_future])
        for result in results:
            if isinstance(result, _TaskError):
                result.reraise()
        return list(results)


@contextmanager
def open_engine(scheduler: str | None = None, workers: int | None = None) -> Iterator[Engine]:
    """The engine for a run: serial when neither is given; `scheduler` connects to a running
    Dask scheduler (e.g. `tcp://10.0.0.5:8786`); `workers` starts a LocalCluster of that
    many single-threaded worker processes for the duration of the block.

    Raises:
        SymbiosisError: both given, `workers` < 1, Dask not installed, or no scheduler
            answering at `scheduler` within 30 s.
    """
    if scheduler and workers is not None:
        raise SymbiosisError("give either --scheduler (an existing Dask cluster) or "
                             "--workers (a local one), not both")
    if not scheduler and workers is None:
        yield SerialEngine()
        return
    if workers is not None and workers < 1:
        raise SymbiosisError(f"--workers must be at least 1, got {workers}")
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - a dependency of the package
        raise SymbiosisError("the distributed engine needs Dask: pip install "
                             "'dask[distributed]'") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout=30, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise SymbiosisError(f"no Dask scheduler answers at {scheduler}: {exc}") from None
        try:
            yield DaskEngine(client)
        finally:
            client.close()
        return
    # the scheduler's HTTP server (health, metrics; the dashboard when bokeh is installed) on
    # a free port of the loopback interface: with None it still took 8787 and, when another
    # cluster on the machine held it, warned (an error under the tests' -W error); ":0"
    # alone would listen on every interface
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address="127.0.0.1:0")
    try:
        client = Client(cluster, set_as_default=False)
        try:
            client.run(_warm)
            yield DaskEngine(client)
        finally:
            client.close()
    finally:
        cluster.close()
