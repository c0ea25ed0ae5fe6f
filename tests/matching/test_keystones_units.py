"""Keystone re-solves of only the part of the model an enterprise has arcs in (a maximum
flow on a pure network, the whole rule component on the generalised LP) give the ranking a
re-solve of the whole model gives, on random regions of several towns and materials."""

from __future__ import annotations

import numpy as np
import pytest
from pandas.testing import assert_frame_equal

from symbiosis import Dataset, dataset_from_records
from symbiosis.matching import MatchOptions
from symbiosis.matching.distributed import SerialEngine
from symbiosis.matching.flow import max_flow_value, solve_transport_mcf
from symbiosis.matching.network import keystones

TOWNS = np.array([[112.5, 27.5], [113.0, 28.2], [111.5, 27.0]])
OFFERED = ("fgd_gypsum", "phosphogypsum", "fly_ash", "reclaimed_water")
NEEDED = ("wallboard_gypsum", "set_retarder", "cement_admixture", "process_water")


def random_region(seed: int, ratios: bool) -> Dataset:
    """60 enterprises in three towns ~50-150 km apart, whole-unit quantities; with
    `ratios`, wallboard gypsum takes phosphogypsum at 0.8 (needs seen at two ratios: the
    gypsum part goes to the generalised LP), else every rule has ratio 1."""
    rng = np.random.default_rng(seed)
    town = rng.integers(0, 3, 60)
    pos = TOWNS[town] + rng.random((60, 2)) * 0.2
    enterprises = [{"id": f"E{i:02d}", "name": f"E{i}", "lon": float(pos[i, 0]),
                    "lat": float(pos[i, 1])} for i in range(60)]
    offers = [{"id": f"O{k}", "enterprise_id": f"E{int(rng.integers(60)):02d}",
               "material": OFFERED[int(rng.integers(4))],
               "quantity": int(rng.integers(100, 5_000))} for k in range(50)]
    needs = [{"id": f"N{k}", "enterprise_id": f"E{int(rng.integers(60)):02d}",
              "material": NEEDED[int(rng.integers(4))],
              "quantity": int(rng.integers(100, 5_000))} for k in range(50)]
    rules = [("wallboard_gypsum", "fgd_gypsum", 1), ("set_retarder", "fgd_gypsum", 1),
             ("set_retarder", "phosphogypsum", 1), ("cement_admixture", "fly_ash", 1),
             ("process_water", "reclaimed_water", 1),
             ("wallboard_gypsum", "phosphogypsum", 0.8 if ratios else 1)]
    subs = [{"need_material": n, "offer_material": o, "ratio": r} for n, o, r in rules]
    return dataset_from_records({"enterprises": enterprises, "offers": offers,
                                 "needs": needs, "substitutions": subs})


OPTIONS = MatchOptions(max_km=120, accept_unstated_quality=True, valuate=False)


@pytest.mark.parametrize("ratios", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_unit_resolves_equal_whole_resolves(seed: int, ratios: bool) -> None:
    ds = random_region(seed, ratios)
    whole = keystones(ds, OPTIONS, whole=True)
    parts = keystones(ds, OPTIONS)
    assert whole["tonnes_lost"].gt(0).sum() >= 5  # the ranking is not trivially flat
    if ratios:  # LP tonnes are floats: the same LPs, summed in another order (the whole
        # re-solve leaves ~1e-11 t of noise where nothing is lost, which would rank)
        by_id = parts.set_index("enterprise_id").loc[whole["enterprise_id"]]
        np.testing.assert_allclose(by_id["tonnes_matched_after"],
                                   whole["tonnes_matched_after"], rtol=1e-12, atol=1e-6)
        losing = whole["tonnes_lost"] > 1e-6
        assert parts["enterprise_id"][parts["tonnes_lost"] > 1e-6].tolist() == \
            whole["enterprise_id"][losing].tolist()
    else:
        assert_frame_equal(parts, whole, check_exact=True)


def test_batched_engine_tasks_equal_one_by_one() -> None:
    """Enterprises go out in batches (`KEYSTONE_TASKS_PER_WORKER`): same table."""
    ds = random_region(5, False)
    assert_frame_equal(keystones(ds, OPTIONS, engine=SerialEngine()), keystones(ds, OPTIONS),
                       check_exact=True)


@pytest.mark.parametrize("seed", range(5))
def test_max_flow_value_is_the_lexicographic_delivery(seed: int) -> None:
    """The maximum flow equals what the lexicographic min-cost flow delivers, stockpiles
    included (offer capacity = surplus + stock)."""
    rng = np.random.default_rng(seed)
    supply = rng.integers(0, 50, 15).astype(float)
    stock = np.where(rng.random(15) < 0.3, rng.integers(1, 20, 15), 0).astype(float)
    demand = rng.integers(0, 60, 12).astype(float)
    arcs = np.unique(rng.integers(0, [15, 12], (60, 2)), axis=0)
    km = rng.random(len(arcs)) * 100
    mcf = solve_transport_mcf(supply, demand, arcs[:, 0], arcs[:, 1], km, stock)
    assert max_flow_value(supply, demand, arcs[:, 0], arcs[:, 1], stock) == \
        mcf.stages[0] == float(mcf.flows.sum())


def test_max_flow_value_by_hand() -> None:
    """Offers 5 (+1 stock) and 3; needs 4 and 10; arcs 0->0, 1->1, 0->1: 4 + 3 + 2 = 9."""
    assert max_flow_value(np.array([5.0, 3.0]), np.array([4.0, 10.0]), np.array([0, 1, 0]),
                          np.array([0, 1, 1]), np.array([1.0, 0.0])) == 9.0
    assert max_flow_value(np.array([5.0]), np.array([4.0]), np.array([], np.int64),
                          np.array([], np.int64)) == 0.0


def test_keystones_rank_the_model_match_solves_blends_included() -> None:
    """A blend that neither fly ash meets alone (`test_blending.two_ashes`): match delivers
    120 t; without A, B or C nothing can be delivered, so each loses the 120 t, re-solved
    unit by unit and whole alike. (Ranked on the plain model, without the blend, the
    table was empty: no offer meets the need's limits alone, so there was no arc.)"""
    from grades_support import grid
    from test_blending import LINKS, two_ashes

    from symbiosis.matching.model import solve_match

    offers, needs = two_ashes(blend="yes")
    ds = grid("ABC", LINKS, offers, needs)
    assert solve_match(ds).summary.tonnes_matched == pytest.approx(120.0)
    for whole in (False, True):
        table = keystones(ds, MatchOptions(), whole=whole).set_index("enterprise_id")
        assert sorted(table.index) == ["A", "B", "C"]
        assert table["tonnes_lost"].to_dict() == pytest.approx({"A": 120, "B": 120,
                                                                "C": 120})
        assert table["tonnes_matched_after"].to_dict() == pytest.approx({"A": 0, "B": 0,
                                                                         "C": 0})


@pytest.mark.parametrize("seed", range(4))
def test_keystones_of_random_blends_start_from_the_match_and_agree_whole(seed: int) -> None:
    """Random blends (`test_blending`'s generator): every row's tonnes after plus tonnes
    lost is the match's tonnes (the same model), and the unit re-solves equal the whole
    ones."""
    from grades_support import grid, row
    from test_blending import ASH

    from symbiosis.matching.model import solve_match

    rng = np.random.default_rng(seed)
    n_o, n_n = int(rng.integers(3, 6)), int(rng.integers(2, 4))
    names = "ABCDEFGHIJ"[:n_o + n_n]
    v = np.round(rng.uniform(1.0, 12.0, (n_o, 2)), 2)
    limits = np.round(rng.uniform(4.0, 8.0, (n_n, 2)), 2)
    offers = [row(f"o{i}", names[i], "fly_ash", int(rng.integers(10, 200)),
                  **{"q.loi_pct": v[i, 0], "q.so3_pct": v[i, 1]}, **ASH) for i in range(n_o)]
    needs = [row(f"n{j}", names[n_o + j], "fly_ash", int(rng.integers(20, 300)),
                 blend="yes", **{"max.loi_pct": limits[j, 0], "max.so3_pct": limits[j, 1]})
             for j in range(n_n)]
    links = {(names[i], names[n_o + j]): float(rng.uniform(1, 9))
             for i in range(n_o) for j in range(n_n)}
    ds = grid(names, links, offers, needs)
    matched = solve_match(ds).summary.tonnes_matched
    parts = keystones(ds, MatchOptions()).set_index("enterprise_id")
    whole = keystones(ds, MatchOptions(), whole=True).set_index("enterprise_id")
    assert len(parts) == n_o + n_n
    base = parts["tonnes_matched_after"] + parts["tonnes_lost"]
    np.testing.assert_allclose(base.to_numpy(), matched, rtol=1e-9)
    np.testing.assert_allclose(parts.loc[whole.index, "tonnes_matched_after"],
                               whole["tonnes_matched_after"], rtol=1e-9, atol=1e-6)
