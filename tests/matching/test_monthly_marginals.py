"""Storage marginal values from the duals (issue 15, matching.monthly): every store gets one,
and each lies between the right and the left derivative measured by re-solving (equal to
both where the derivative is unique), on the min-cost-flow path, the LP path and the
graded LP."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_monthly import KILN, _months, random_instance
from test_monthly_grades import random_graded

from symbiosis.dataset import Dataset, dataset_from_records
from symbiosis.matching.blending import prepare_grades
from symbiosis.matching.candidates import candidates_for
from symbiosis.matching.model import solve_match
from symbiosis.matching.monthly import (
    LpPart,
    MonthlyNetwork,
    _graded_network,
    _stores,
    build_network,
    marginal_by_resolve,
    solve_network,
)
from symbiosis.matching.options import MatchOptions

STEP = 0.01  # node units: breakpoints of the most deliverable lie at least 1/11 apart here
TOL = 1e-3  # tonnes per tonne: LP tolerances over a step of 0.01


def check_between(net: MonthlyNetwork, n_stores: int, lp_part: LpPart | None,
                  dual: np.ndarray) -> tuple[int, int]:
    """Assert right <= dual <= left for every store; count stores with a unique nonzero
    derivative and degenerate ones."""
    unique_nonzero = degenerate = 0
    rights, lefts = marginal_by_resolve(net, n_stores, STEP, lp_part)
    for k, (right, left) in enumerate(zip(rights, lefts, strict=True)):
        assert right - TOL <= dual[k] <= left + TOL, (k, right, dual[k], left)
        if abs(left - right) <= TOL:
            assert dual[k] == pytest.approx(right, abs=TOL)
            unique_nonzero += abs(right) > TOL
        else:
            degenerate += 1
    return unique_nonzero, degenerate


def network_of(data: Dataset, pure: bool) -> tuple[MonthlyNetwork, int]:
    cand = candidates_for(data, MatchOptions())
    return build_network(data, cand, pure), len(_stores(data))


def bigger_stores(seed: int) -> Dataset:
    """`random_instance` with smaller silos (they fill more often)."""
    from dataclasses import replace

    data = random_instance(seed)
    storage = data.storage.copy()
    storage["capacity"] = np.floor(storage["capacity"].to_numpy(float) / 3)
    return replace(data, storage=storage)


@pytest.mark.parametrize("pure", [True, False])
def test_dual_marginal_values_lie_between_the_resolve_derivatives(pure: bool) -> None:
    seen_nonzero = 0
    for seed in range(10 if pure else 5):  # the LP re-solves are the slower
        net, n_stores = network_of(bigger_stores(seed), pure)
        plan = solve_network(net, n_stores)
        assert plan.method == ("min_cost_flow" if pure else "lp_highs")
        assert np.isfinite(plan.marginal_used).all()
        nonzero, _ = check_between(net, n_stores, None, plan.marginal_used)
        seen_nonzero += nonzero
    assert seen_nonzero >= 2  # the check is not vacuous


def test_graded_marginal_values_lie_between_the_resolve_derivatives() -> None:
    seen_nonzero = 0
    for seed in (0, 2, 3, 4):
        _, data = random_graded(seed, flat=False, storage=True)
        options = MatchOptions()
        cand = candidates_for(data, options)
        data, cand, grades = prepare_grades(data, cand, options)
        assert grades is not None
        storage = _stores(data)
        net, lp_part = _graded_network(data, cand, grades, storage, options)
        assert lp_part is not None
        plan = solve_network(net, len(storage), lp_part=lp_part)
        nonzero, _ = check_between(net, len(storage), lp_part, plan.marginal_used)
        seen_nonzero += nonzero
    assert seen_nonzero >= 1


def many_silos(n: int) -> Dataset:
    """`n` power plants, each with a 150 t silo, 10 km from one kiln stopped in January and
    February whose need takes everything in the other months: every silo fills in
    February, and one more tonne of any silo is one more tonne delivered."""
    ents: list[dict[str, Any]] = [{"id": "CEM", "name": "kiln", "lon": 113.0, "lat": 27.86}]
    offers, storage = [], []
    for i in range(n):
        ents.append({"id": f"P{i}", "name": f"plant {i}", "lon": 112.9, "lat": 27.86})
        offers.append({"id": f"O{i}", "enterprise_id": f"P{i}", "material": "fly_ash",
                       "quantity": 1200})
        storage.append({"enterprise_id": f"P{i}", "material": "fly_ash", "capacity": 150})
    need = {"id": "N", "enterprise_id": "CEM", "material": "fly_ash", "quantity": ""}
    need.update(_months([q * n * 2 for q in KILN]))
    dist = [{"from_id": f"P{i}", "to_id": "CEM", "distance_km": 10} for i in range(n)]
    return dataset_from_records({"enterprises": ents, "offers": offers, "needs": [need],
                                 "distances": dist, "storage": storage})


def test_every_store_gets_its_marginal_value_without_a_cap() -> None:
    """60 full silos (more than the 40 re-solves the measured values allowed)."""
    result = solve_match(many_silos(60))
    table = result.tables["storage"]
    assert len(table) == 60
    assert (table["months_full"] == 1).all()
    assert table["marginal_used_per_unit"].tolist() == pytest.approx([1.0] * 60, abs=1e-12)
    stores = result.summary.monthly.storage
    assert all(s.marginal_used_per_unit == pytest.approx(1.0) for s in stores)


def test_the_lp_path_reads_unit_km_from_the_chained_duals() -> None:
    """The hand-computed silo of test_monthly (capacity 150, binding in February): one more
    tonne held is one more tonne delivered over 10 km, on the LP path too."""
    from test_monthly import plant_and_kiln

    silo = [{"enterprise_id": "PWR", "material": "fly_ash", "capacity": 150}]
    result = solve_match(plant_and_kiln(silo), MatchOptions(method="lp"))
    assert result.solver.methods == ("lp_highs",)
    row = result.tables["storage"].iloc[0]
    assert row["marginal_used_per_unit"] == pytest.approx(1.0, abs=1e-9)
    assert row["marginal_unit_km_per_unit"] == pytest.approx(10.0, abs=1e-7)
