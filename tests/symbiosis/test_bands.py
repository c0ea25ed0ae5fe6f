"""Bands that hide exact volumes and distances, and park subsets of stored rows."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from symbiosis.bands import distance_band, quantity_band
from symbiosis.dataset import load_dataset
from symbiosis.store import park_rows, rows_from_dataset


@pytest.mark.parametrize(("value", "low", "high"), [
    (0.0, 0.0, 100.0), (99.9, 0.0, 100.0), (100.0, 100.0, 500.0), (12_300, 10_000, 50_000),
    (5_000_000, 5_000_000, None), (7e9, 5_000_000, None)])
def test_quantity_band_edges(value: float, low: float, high: float | None) -> None:
    band = quantity_band(value, "t")
    assert (band.low, band.high) == (low, high)
    assert band.low <= value and (band.high is None or value < band.high)
    assert band.label.endswith(" t")


def test_distance_band_and_bad_values() -> None:
    assert distance_band(37).label == "25–50 km"
    assert distance_band(250).as_dict() == {"min": 200.0, "max": None, "label": "≥ 200 km"}
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="cannot band"):
            quantity_band(bad)


def test_park_rows_keep_only_the_park(demo_path: Path) -> None:
    rows = rows_from_dataset(load_dataset(demo_path))
    park = next(e["park"] for e in rows.enterprises if e["park"])
    sub = park_rows(rows, park)
    ids = {e["id"] for e in sub.enterprises}
    assert ids and all(e["park"] == park for e in sub.enterprises)
    assert len(ids) == sum(1 for e in rows.enterprises if e["park"] == park)
    assert all(o["enterprise_id"] in ids for o in sub.offers)
    assert {o["id"] for o in sub.offers} == {o["id"] for o in rows.offers
                                            if o["enterprise_id"] in ids}
    assert all(d["from_id"] in ids and d["to_id"] in ids for d in sub.distances)
    assert sub.offer_columns == rows.offer_columns
