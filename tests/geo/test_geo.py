"""Great-circle distances and the radius query (all-pairs and k-d tree paths agree)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import symbiosis.geo.distance as gd
from symbiosis.geo.distance import EARTH_RADIUS_KM, haversine_km, pairs_within_km


def test_one_degree_of_meridian_is_r_times_pi_over_180() -> None:
    assert haversine_km(112.0, 27.0, 112.0, 28.0) == pytest.approx(
        EARTH_RADIUS_KM * math.pi / 180, rel=1e-12)


def test_quarter_of_the_equator_and_antipodes() -> None:
    assert haversine_km(0, 0, 90, 0) == pytest.approx(EARTH_RADIUS_KM * math.pi / 2)
    assert haversine_km(0, 0, 180, 0) == pytest.approx(EARTH_RADIUS_KM * math.pi)
    assert haversine_km(10, 20, 10, 20) == 0.0


def test_symmetric_and_vectorised() -> None:
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(108, 115, (2, 50)), rng.uniform(24, 30, (2, 50))
    d1 = haversine_km(lon[0], lat[0], lon[1], lat[1])
    d2 = haversine_km(lon[1], lat[1], lon[0], lat[0])
    assert d1.shape == (50,)
    np.testing.assert_allclose(d1, d2, rtol=1e-13)


def _brute_pairs(lon_a, lat_a, lon_b, lat_b, r):  # type: ignore[no-untyped-def]
    d = haversine_km(lon_a[:, None], lat_a[:, None], lon_b[None, :], lat_b[None, :])
    i, j = np.nonzero(d <= r)
    return set(zip(i.tolist(), j.tolist(), strict=True))


@pytest.mark.parametrize("seed", range(4))
def test_tree_and_brute_force_find_the_same_pairs(seed: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The k-d tree path (large inputs) returns exactly the all-pairs answer, boundary and
    co-located points included."""
    rng = np.random.default_rng(seed)
    lon_a, lat_a = rng.uniform(110, 114, 300), rng.uniform(25, 29, 300)
    lon_b, lat_b = rng.uniform(110, 114, 400), rng.uniform(25, 29, 400)
    lon_b[:5], lat_b[:5] = lon_a[:5], lat_a[:5]  # zero distances
    radius = 60.0
    # a pair exactly at the radius (to float precision) must be kept by both paths
    lon_b[5], lat_b[5] = lon_a[6], lat_a[6] + radius / (EARTH_RADIUS_KM * math.pi / 180)
    expected = _brute_pairs(lon_a, lat_a, lon_b, lat_b, radius)
    brute = pairs_within_km(lon_a, lat_a, lon_b, lat_b, radius)
    monkeypatch.setattr(gd, "BRUTE_FORCE_PAIRS", 0)
    tree = pairs_within_km(lon_a, lat_a, lon_b, lat_b, radius)
    for i, j, d in (brute, tree):
        assert set(zip(i.tolist(), j.tolist(), strict=True)) == expected
        assert np.all(d <= radius)
        np.testing.assert_allclose(d, haversine_km(lon_a[i], lat_a[i], lon_b[j], lat_b[j]))
    np.testing.assert_array_equal(brute[0], tree[0])
    np.testing.assert_array_equal(brute[1], tree[1])


def test_empty_inputs_and_infinite_radius() -> None:
    i, j, d = pairs_within_km([], [], [1.0], [1.0], 10)
    assert len(i) == len(j) == len(d) == 0
    i, j, _ = pairs_within_km([0.0, 50.0], [0.0, 0.0], [179.0], [0.0], math.inf)
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 0), (1, 0)]
