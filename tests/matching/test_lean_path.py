"""The lean hot path (issue 17 item 2): the vectorised helpers give exactly what the plain
versions they replaced gave."""

from __future__ import annotations

import numpy as np
import pytest

from symbiosis.matching.explain import best_per_group


def _reference(group: np.ndarray, key: np.ndarray, k: int, n_groups: int) -> np.ndarray:
    """The first k of each group in `np.lexsort((-key, group))` order (the code before)."""
    order = np.lexsort((-key, group))
    out = np.full((n_groups, k), -1, np.int64)
    for g in range(n_groups):
        members = order[group[order] == g][:k]
        out[g, :len(members)] = members
    return out


@pytest.mark.parametrize("seed", range(12))
def test_best_per_group_equals_lexsort_with_ties_and_empty_groups(seed: int) -> None:
    """Random groups (some empty, some smaller than k), keys with many ties (few distinct
    values), k from 1 to 5: the same positions, ties to the lower position."""
    rng = np.random.default_rng(seed)
    n_groups = int(rng.integers(1, 40))
    n = int(rng.integers(0, 400))
    group = rng.integers(0, n_groups, n).astype(np.int32)
    key = rng.integers(-3, 4, n).astype(float) * (0.5 if seed % 2 else 1.0)
    k = int(rng.integers(1, 6))
    assert np.array_equal(best_per_group(group, key, k, n_groups),
                          _reference(group, key, k, n_groups))


def test_best_per_group_small_case_by_hand() -> None:
    """Group 0: keys 1, 5, 5 at positions 0, 2, 3 -> 2, 3 (tie: lower first); group 1:
    one member at 1; group 2: none."""
    group = np.array([0, 1, 0, 0])
    key = np.array([1.0, 7.0, 5.0, 5.0])
    assert best_per_group(group, key, 2, 3).tolist() == [[2, 3], [1, -1], [-1, -1]]


def test_best_per_group_with_infinite_keys_takes_the_lexsort() -> None:
    """-inf and nan keys: the lexsort order (nan last)."""
    group = np.array([0, 0, 0, 1, 1])
    key = np.array([-np.inf, np.nan, 2.0, np.inf, 1.0])
    assert np.array_equal(best_per_group(group, key, 3, 2), _reference(group, key, 3, 2))


@pytest.mark.parametrize("seed", range(10))
def test_frontier_bellman_ford_equals_relaxing_every_edge(seed: int) -> None:
    """Random graphs with negative edges but no negative cycle (potential-shifted positive
    weights), unreachable nodes and parallel edges: bit-identical distances."""
    from symbiosis.matching.prices import _shortest, _shortest_all_edges

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    m = int(rng.integers(0, 400))
    tails = rng.integers(0, n, m).astype(np.int32)
    heads = rng.integers(0, n, m).astype(np.int32)
    potential = rng.normal(0, 5, n)
    weights = rng.random(m) * 3 + potential[tails] - potential[heads]  # reduced: >= 0
    source = int(rng.integers(0, n))
    fast = _shortest(n, source, tails, heads, weights)
    plain = _shortest_all_edges(n, source, tails, heads, weights)
    assert np.array_equal(fast, plain)


def test_frontier_bellman_ford_by_hand_and_negative_cycle() -> None:
    """0 -> 1 (4), 0 -> 2 (1), 2 -> 1 (-2), 1 -> 3 (1): distances 0, -1, 1, 0; node 4 is
    unreachable. Adding 3 -> 2 (-1) closes a negative cycle 2 -> 1 -> 3 -> 2: SolverError."""
    from symbiosis.errors import SolverError
    from symbiosis.matching.prices import _shortest

    tails = np.array([0, 0, 2, 1])
    heads = np.array([1, 2, 1, 3])
    weights = np.array([4.0, 1.0, -2.0, 1.0])
    assert _shortest(5, 0, tails, heads, weights).tolist() == [0.0, -1.0, 1.0, 0.0, np.inf]
    with pytest.raises(SolverError, match="negative cycle"):
        _shortest(5, 0, np.append(tails, 3), np.append(heads, 2), np.append(weights, -1.0))


@pytest.mark.parametrize("seed", range(6))
def test_first_rows_equals_the_per_material_lookup(seed: int) -> None:
    """transport.csv with repeated materials (the first row counts, even when its value is
    NaN), a default row "" and NaNs: `_first_rows` gives what `_value` gives, and nothing
    for a material the table does not list."""
    import pandas as pd

    from symbiosis.matching.economics import _first_rows, _value

    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 12))
    frame = pd.DataFrame({
        "material": rng.choice(["", "fly_ash", "bf_slag", "waste_heat"], n),
        "cny_per_unit_km": np.where(rng.random(n) < 0.3, np.nan, rng.random(n)),
        "loading_cny_per_unit": np.where(rng.random(n) < 0.3, np.nan, rng.random(n) * 9),
    })
    columns = ["cny_per_unit_km", "loading_cny_per_unit"]
    first = _first_rows(frame, columns)
    for material in ("", "fly_ash", "bf_slag", "waste_heat", "red_mud"):
        for column in columns:
            assert first.get(material, {}).get(column) == _value(frame, material, column)
