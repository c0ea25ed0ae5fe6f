"""The distributed engine: keystones, frontier points, scenario sweeps and uncertainty samples
run as tasks on a real Dask LocalCluster (two worker processes, started here) return exactly
what the serial run returns; domain errors raised in a worker come back with their problems.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from symbiosis.dataset import Dataset, load_dataset
from symbiosis.errors import InvalidDataError, SymbiosisError
from symbiosis.matching import MatchOptions
from symbiosis.matching.distributed import DaskEngine, Engine, SerialEngine, open_engine
from symbiosis.matching.frontier import pareto_frontier
from symbiosis.matching.network import keystones
from symbiosis.matching.robust import RobustOptions, robust_plan
from symbiosis.matching.scenario import (
    RemoveEnterprise,
    SetQuantity,
    compare_scenario,
    sweep_scenarios,
)
from symbiosis.store import DatasetRows, rows_from_dataset


@pytest.fixture(scope="module")
def cluster() -> Iterator[Engine]:
    """A LocalCluster of two single-threaded worker processes for this module."""
    with open_engine(workers=2) as engine:
        assert isinstance(engine, DaskEngine)
        assert engine.workers == 2
        yield engine


@pytest.fixture(scope="module")
def demo(demo_path: Path) -> Dataset:
    return load_dataset(demo_path)


@pytest.fixture(scope="module")
def demo_rows(demo: Dataset) -> DatasetRows:
    return rows_from_dataset(demo)


def test_a_dataset_pickles_whole(demo: Dataset) -> None:
    """The taxonomy's read-only views travel as read-only views."""
    back = pickle.loads(pickle.dumps(demo))
    assert dict(back.taxonomy.materials) == dict(demo.taxonomy.materials)
    with pytest.raises(TypeError):
        back.taxonomy.materials["x"] = None  # type: ignore[index]
    assert_frame_equal(back.offers, demo.offers)


def test_serial_engine_maps_in_order() -> None:
    assert SerialEngine().map(lambda s, x: s * x, [1, 2, 3], 10) == [10, 20, 30]


def test_keystones_on_the_cluster_equal_serial(demo: Dataset, cluster: Engine) -> None:
    serial = keystones(demo, jobs=1)
    on_dask = keystones(demo, engine=cluster)
    assert len(serial) > 10
    assert_frame_equal(on_dask, serial, check_exact=True)
    assert on_dask.attrs == serial.attrs


def test_frontier_points_on_the_cluster_equal_serial(demo: Dataset, cluster: Engine) -> None:
    serial = pareto_frontier(demo, ("utilization", "co2"), 4)
    on_dask = pareto_frontier(demo, ("utilization", "co2"), 4, engine=cluster)
    assert_frame_equal(on_dask.table, serial.table, check_exact=True)
    for a, b in zip(on_dask.plans, serial.plans, strict=True):
        assert_frame_equal(a.exchanges, b.exchanges, check_exact=True)


def test_scenario_sweep_on_the_cluster_equals_one_by_one(demo_rows: DatasetRows,
                                                         cluster: Engine) -> None:
    sweeps = [[RemoveEnterprise("XT-PWR1")], [RemoveEnterprise("LD-STL1")],
              [SetQuantity("offer", "OF-CD-PWR1-fly_ash", 1_000.0)], []]
    options = MatchOptions()
    on_dask = sweep_scenarios(demo_rows, sweeps, options, engine=cluster)
    serial = sweep_scenarios(demo_rows, sweeps, options)
    for k, changes in enumerate(sweeps):
        single = compare_scenario(demo_rows, changes, options)
        for got in (on_dask[k], serial[k]):
            assert got.as_dict() == single.as_dict()
            assert_frame_equal(got.scenario_result.exchanges,
                               single.scenario_result.exchanges, check_exact=True)
    assert on_dask[-1].delta["tonnes_matched"] == 0  # no change, no delta
    assert on_dask[0].delta["tonnes_matched"] < 0


def test_an_invalid_scenario_raised_in_a_worker_keeps_its_problems(
        demo_rows: DatasetRows, cluster: Engine) -> None:
    sweeps = [[RemoveEnterprise("XT-PWR1")], [RemoveEnterprise("NO-SUCH")]]
    with pytest.raises(InvalidDataError) as serial:
        sweep_scenarios(demo_rows, sweeps)
    with pytest.raises(InvalidDataError) as on_dask:
        sweep_scenarios(demo_rows, sweeps, engine=cluster)
    assert on_dask.value.problems == serial.value.problems
    assert [(p.file, p.column) for p in on_dask.value.problems] == [("changes", "id")]


def test_robust_samples_on_the_cluster_equal_serial(demo: Dataset, cluster: Engine) -> None:
    settings = RobustOptions(samples=12, seed=7)
    serial = robust_plan(demo, robust=settings)
    on_dask = robust_plan(demo, robust=settings, engine=cluster)
    assert_frame_equal(on_dask.exchanges, serial.exchanges, check_exact=True)
    assert_frame_equal(on_dask.samples, serial.samples, check_exact=True)
    assert on_dask.kpis == serial.kpis and on_dask.plan == serial.plan
    assert on_dask.engine.startswith("dask ") and serial.engine == "serial"


def test_an_existing_scheduler_by_address(cluster: Engine) -> None:
    """`--scheduler ADDRESS`: a second client on the running cluster; the shared value is
    one scattered object the tasks all read."""
    assert isinstance(cluster, DaskEngine)
    address = cluster.client.scheduler.address
    shared = np.arange(5.0)
    with open_engine(scheduler=address) as engine:
        assert isinstance(engine, DaskEngine)
        got = engine.map(_dot, [0, 1, 2], shared)
    assert got == [0.0, 10.0, 20.0]


def _dot(shared: np.ndarray, k: int) -> float:
    return float(shared.sum() * k)


def test_engine_choice_is_checked() -> None:
    with pytest.raises(SymbiosisError, match="not both"), \
            open_engine(scheduler="tcp://127.0.0.1:1", workers=2):
        pass
    with pytest.raises(SymbiosisError, match="at least 1"), open_engine(workers=0):
        pass
    with open_engine() as engine:
        assert isinstance(engine, SerialEngine)


def test_cli_robust_with_workers(run_cli: object, demo_path: Path, tmp_path: Path) -> None:
    """`symbiosis robust --workers 2` starts a cluster and writes the serial run's files."""
    run = run_cli  # type: ignore[assignment]
    for extra, name in (((), "serial"), (("--workers", "2"), "dask")):
        done = run("robust", demo_path, "--samples", "6", "--seed", "3", "-q",  # type: ignore[operator]
                   "--out", tmp_path / name, *extra)
        assert done.returncode == 0, done.stderr
    a = pd.read_csv(tmp_path / "serial" / "robust.csv")
    b = pd.read_csv(tmp_path / "dask" / "robust.csv")
    assert_frame_equal(a, b, check_exact=True)
    assert (tmp_path / "serial" / "robust_samples.csv").read_bytes() == \
        (tmp_path / "dask" / "robust_samples.csv").read_bytes()


def test_batched_robust_samples_equal_unbatched(demo: Dataset, cluster: Engine) -> None:
    """Samples solved 5 to a task (in this process and on the cluster) equal samples solved
    one by one with the same seed: each sample draws from its own seed."""
    settings = RobustOptions(samples=12, seed=3)
    unbatched = robust_plan(demo, robust=settings)
    for engine in (SerialEngine(), cluster):
        batched = robust_plan(demo, robust=settings, engine=engine, samples_per_task=5)
        assert_frame_equal(batched.exchanges, unbatched.exchanges, check_exact=True)
        assert_frame_equal(batched.samples, unbatched.samples, check_exact=True)
        assert batched.kpis == unbatched.kpis and batched.plan == unbatched.plan
    with pytest.raises(SymbiosisError, match="samples_per_task"):
        robust_plan(demo, robust=settings, engine=cluster, samples_per_task=0)
