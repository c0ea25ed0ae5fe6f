"""Carbon against what really changes (issue 12, item 2): a need is credited only for the
virgin production it stops, stated in `replaces` or taken from the conservative default."""

from __future__ import annotations

from typing import Any

import pytest

from symbiosis import dataset_from_records
from symbiosis.errors import InvalidDataError
from symbiosis.matching import solve_match


def run(need: dict[str, Any]) -> Any:
    return solve_match(dataset_from_records({
        "enterprises": [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in "AB"],
        "offers": [{"id": "o", "enterprise_id": "A", "material": "fly_ash", "quantity": 100,
                    "q.loi_pct": 5.0, "q.so3_pct": 2.0}],  # meets GB/T 1596-2017 for cement
        "needs": [{"id": "n", "enterprise_id": "B", "quantity": 100, **need}],
        "distances": [{"from_id": "A", "to_id": "B", "distance_km": 10}]}))


@pytest.mark.parametrize(("need", "kg_per_t", "displaced"), [
    # present admixture demand: the conservative default, limestone, not clinker
    ({"material": "cement_admixture"}, 4.8, "limestone"),
    # the plant raises its admixture share: clinker is no longer made
    ({"material": "cement_admixture", "replaces": "clinker"}, 850.0, "clinker"),
    # changing supplier stops no virgin production
    ({"material": "cement_admixture", "replaces": "other_byproduct"}, 0.0, "other_byproduct"),
    # a grinding plant's fly-ash intake is a by-product need: no credit by default
    ({"material": "fly_ash"}, 0.0, "other_byproduct"),
])
def test_counterfactual_credit(need: dict[str, Any], kg_per_t: float, displaced: str) -> None:
    """100 t of fly ash over 10 km: avoided = 100 x factor / 1000 t CO2e."""
    result = run(need)
    carbon = result.summary.carbon
    assert carbon is not None
    assert carbon.avoided_t == pytest.approx(100 * kg_per_t / 1000)
    assert carbon.net_t == pytest.approx(carbon.avoided_t - carbon.transport_t)
    (factor,) = carbon.factors
    assert factor.displaced.startswith(displaced) and factor.source
    assert result.exchanges["co2_avoided_t"].sum() == pytest.approx(carbon.avoided_t)


def test_unknown_replaces_is_a_located_error() -> None:
    with pytest.raises(InvalidDataError) as info:
        run({"material": "cement_admixture", "replaces": "clinkr"})
    found = [(p.file, p.row, p.column) for p in info.value.problems]
    assert ("needs", 2, "replaces") in found
    assert "did you mean 'clinker'" in str(info.value)
