"""The one distance rule (`geo.distance.pair_km` / `DistanceRule`) and the one reach rule
(`candidates.reach_km`): distances.csv both ways, great circle x circuity, the labels
exchanges.csv carries, and candidates, feedstock and gaps agreeing on the same km."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from symbiosis.dataset import Dataset, dataset_from_records
from symbiosis.geo.distance import (
    EARTH_RADIUS_KM,
    DistanceRule,
    DistanceSource,
    DistanceTable,
    pair_km,
)
from symbiosis.matching.candidates import build_candidates, reach_km
from symbiosis.matching.feedstock import search_feedstock, site_km
from symbiosis.matching.gaps import find_gaps
from symbiosis.matching.model import MatchOptions, solve_match
from symbiosis.taxonomy import load_taxonomy

STEP_KM = EARTH_RADIUS_KM * math.pi / 1800  # 0.1 degree of latitude
Rows = list[dict[str, Any]]


def meridian(lats: dict[str, float], offers: Rows, needs: Rows,
             distances: Rows | None = None) -> Dataset:
    records: dict[str, Rows] = {
        "enterprises": [{"id": i, "name": i, "lon": 112.9, "lat": lat}
                        for i, lat in lats.items()],
        "offers": offers, "needs": needs}
    if distances is not None:
        records["distances"] = distances
    return dataset_from_records(records)


def test_labels_are_those_exchanges_csv_always_carried() -> None:
    codes = np.array([s.code for s in DistanceSource], np.int8)
    assert codes.tolist() == [0, 1, 2, 3]
    assert DistanceSource.labels(codes, 1.3).tolist() == [
        "great_circle_x1.3", "distances.csv", "road_network",
        "great_circle_x1.3_no_road_connection"]
    assert DistanceSource.of(2) is DistanceSource.ROAD


def test_pair_km_lists_both_ways_unless_both_are_listed() -> None:
    """Four enterprises 0.1 degree apart on a meridian. A->B is listed (one way: it serves
    B->A too); C->D and D->C are both listed with different km; A->C is not listed."""
    lat = np.array([28.0, 28.1, 28.2, 28.3])
    lon = np.full(4, 112.9)
    table = DistanceTable.build([0, 2, 3], [1, 3, 2], [50.0, 7.0, 9.0], 4)
    km, code = pair_km([0, 1, 2, 3, 0], [1, 0, 3, 2, 2], lon, lat, circuity=1.5, table=table)
    assert km[:4].tolist() == [50.0, 50.0, 7.0, 9.0]
    assert km[4] == pytest.approx(2 * STEP_KM * 1.5, rel=1e-12)
    assert code.tolist() == [1, 1, 1, 1, 0]
    assert np.isnan(table.lookup(np.array([0]), np.array([3]))[0])


def test_within_finds_listed_pairs_beyond_the_radius_and_drops_listed_far_ones() -> None:
    """B is 0.1 degree from A (14.5 km x 1.3) but listed at 60 km; C is 2 degrees away
    (289 km) but listed at 30 km: with a 40 km reach only C is within reach."""
    lat = np.array([28.0, 28.1, 30.0])
    rule = DistanceRule(np.full(3, 112.9), lat, 1.3,
                        DistanceTable.build([0, 2], [1, 0], [60.0, 30.0], 3))
    i, j, km, code = rule.within(np.array([0]), np.array([1, 2]), 40.0)
    assert (i.tolist(), j.tolist(), km.tolist(), code.tolist()) == ([0], [1], [30.0], [1])
    # unlisted, the 0.1 degree pair is within reach at great circle x circuity
    plain = DistanceRule(rule.lon, rule.lat, 1.3)
    i, j, km, code = plain.within(np.array([0]), np.array([1, 2]), 40.0)
    assert (i.tolist(), j.tolist(), code.tolist()) == ([0], [0], [0])
    assert km[0] == pytest.approx(STEP_KM * 1.3, rel=1e-12)


def test_reach_km_max_km_overrides_every_material() -> None:
    tax = load_taxonomy()
    assert reach_km(tax, "fly_ash", None) == 150.0
    assert reach_km(tax, "fly_ash", 12.5) == 12.5
    assert reach_km(tax, "waste_heat", 300.0) == 300.0


def _fly_ash(distances: Rows | None = None) -> Dataset:
    return meridian({"CM": 28.0, "FA1": 28.1, "FA2": 28.3},
                    [{"id": "o1", "enterprise_id": "FA1", "material": "fly_ash",
                      "quantity": 10, "q.loi_pct": 5.0, "q.so3_pct": 2.0},
                     {"id": "o2", "enterprise_id": "FA2", "material": "fly_ash",
                      "quantity": 10, "q.loi_pct": 5.0, "q.so3_pct": 2.0}],
                    [{"id": "n", "enterprise_id": "CM", "material": "cement_admixture",
                      "quantity": 100}], distances)


@pytest.mark.parametrize("listed", [None, [{"from_id": "CM", "to_id": "FA2",
                                            "distance_km": 30.0}]])
def test_feedstock_and_candidates_agree_on_the_km(listed: Rows | None) -> None:
    ds = _fly_ash(listed)
    options = MatchOptions(circuity=1.7)
    cand = build_candidates(ds, circuity=1.7)
    arc = {str(ds.offers.index[o]): km for o, km in zip(cand.offer, cand.distance_km,
                                                        strict=True)}
    hits = search_feedstock(ds, "fly_ash", 112.9, 28.0, 500.0, include_substitutes=False,
                            options=options, exclude_enterprise="CM")
    assert {h.offer_id: h.distance_km for h in hits} == arc
    assert site_km(ds, "CM", "FA2", options) == arc["o2"]
    assert arc["o1"] == pytest.approx(STEP_KM * 1.7, rel=1e-12)
    assert arc["o2"] == (30.0 if listed else pytest.approx(3 * STEP_KM * 1.7, rel=1e-12))


def _gypsum(distances: Rows | None = None) -> Dataset:
    """S1, S2, S3 at 27.0, 27.5 and 28.0 N offer 100, 300 and 100 t FGD gypsum that no
    need takes (reach 200 km; S1-S2 and S2-S3 are 55.6 km apart, S1-S3 111.2 km)."""
    return meridian({"S1": 27.0, "S2": 27.5, "S3": 28.0, "C1": 25.0},
                    [{"id": f"O{k}", "enterprise_id": f"S{k}", "material": "fgd_gypsum",
                      "quantity": q} for k, q in ((1, 100), (2, 300), (3, 100))],
                    [{"id": "N1", "enterprise_id": "C1", "material": "cement_admixture",
                      "quantity": 1000}], distances)


def test_gaps_honour_max_km() -> None:
    """At max_km 50 no other supplier is within 55.6 x 1.3 km of a site: the taker sits at
    S2 and serves S2 alone; the reach reported is max_km."""
    ds = _gypsum()
    options = MatchOptions(max_km=50.0)
    gaps = find_gaps(ds, solve_match(ds, options), options)
    board = next(a for a in gaps.absorbers if a.need_material == "wallboard_gypsum")
    assert board.reach_km == 50.0
    assert (board.lon, board.lat) == (112.9, 27.5)
    assert (board.quantity_within_reach, board.beyond_reach) == (300.0, ("S1", "S3"))
    assert board.mean_haul_km == 0.0
    wide = find_gaps(ds, solve_match(ds), MatchOptions())
    board = next(a for a in wide.absorbers if a.need_material == "wallboard_gypsum")
    assert (board.reach_km, board.quantity_within_reach, board.beyond_reach) == \
        (200.0, 500.0, ())


def test_gaps_read_distances_csv() -> None:
    """S1-S2 and S3-S2 listed at 40 and 45 km: within a 50 km max_km after all. The median
    is S2 (it holds 300 of 500 t) and the hauls are the listed km."""
    ds = _gypsum([{"from_id": "S1", "to_id": "S2", "distance_km": 40.0},
                  {"from_id": "S2", "to_id": "S3", "distance_km": 45.0}])
    options = MatchOptions(max_km=50.0)
    gaps = find_gaps(ds, solve_match(ds, options), options)
    board = next(a for a in gaps.absorbers if a.need_material == "wallboard_gypsum")
    assert (board.lon, board.lat) == (112.9, 27.5)
    assert (board.quantity_within_reach, board.beyond_reach) == (500.0, ())
    assert board.mean_haul_km == pytest.approx((100 * 40 + 100 * 45) / 500, rel=1e-12)


def test_gap_location_is_within_reach_of_every_supplier_it_serves() -> None:
    """Three sites 300 km apart in a triangle (X, Y 100 t each; Z1 100 t with Z2 50 t 11 km
    away): the haul-minimising point of all four lies near the middle, about 175 km x 1.3
    from each corner, beyond the 200 km reach. The location serves Z1 and Z2 (the most one
    site gathers within reach) and lists X and Y beyond reach."""
    sites = {"X": (112.9, 25.0), "Y": (115.9, 25.0), "Z1": (114.4, 27.6),
             "Z2": (114.4, 27.7), "C": (110.0, 20.0)}
    ds = dataset_from_records({
        "enterprises": [{"id": e, "name": e, "lon": x, "lat": y}
                        for e, (x, y) in sites.items()],
        "offers": [{"id": f"o{e}", "enterprise_id": e, "material": "fgd_gypsum",
                    "quantity": q} for e, q in (("X", 100), ("Y", 100), ("Z1", 100),
                                                 ("Z2", 50))],
        "needs": [{"id": "n", "enterprise_id": "C", "material": "cement_admixture",
                   "quantity": 1}]})
    gaps = find_gaps(ds, solve_match(ds))
    assert gaps.absorbers
    for a in gaps.absorbers:
        assert a.reach_km == 200.0
        assert a.beyond_reach == ("X", "Y")
        assert a.quantity_within_reach == 150.0 * a.ratio
        assert (a.lon, a.lat) == sites["Z1"]
        assert a.mean_haul_km == pytest.approx(50 / 150 * STEP_KM * 1.3, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_candidates_are_exactly_the_pairs_the_rule_puts_within_reach(seed: int) -> None:
    """Random park: 30 enterprises within about 1 degree, fly ash offers, cement-admixture
    needs, about 120 pairs listed in distances.csv (some both ways, some far beyond
    their great-circle km). The arcs are exactly the offer-need pairs of different
    enterprises whose `pair_km` is <= max_km, at that km; an offer left without arcs is
    explained with the smallest `pair_km` to a need."""
    rng = np.random.default_rng(seed)
    n = 30
    ids = [f"E{k}" for k in range(n)]
    lon, lat = 112.5 + rng.random(n), 27.5 + rng.random(n)
    offers = [{"id": f"o{k}", "enterprise_id": ids[k], "material": "fly_ash",
               "quantity": 10, "q.loi_pct": 5.0, "q.so3_pct": 2.0} for k in range(0, n, 2)]
    needs = [{"id": f"n{k}", "enterprise_id": ids[k], "material": "cement_admixture",
              "quantity": 15} for k in range(1, n, 3)]
    pairs = {(int(a), int(b)) for a, b in rng.integers(0, n, (120, 2)) if a != b}
    listed = [{"from_id": ids[a], "to_id": ids[b], "distance_km": float(rng.uniform(5, 150))}
              for a, b in sorted(pairs)]
    ds = dataset_from_records({
        "enterprises": [{"id": i, "name": i, "lon": x, "lat": y}
                        for i, x, y in zip(ids, lon, lat, strict=True)],
        "offers": offers, "needs": needs, "distances": listed})
    circuity, max_km = float(rng.uniform(1.1, 1.6)), float(rng.uniform(15, 40))
    cand = build_candidates(ds, max_km, circuity)
    rule = DistanceRule.of(ds, circuity)
    off_ent = ds.enterprises.index.get_indexer(ds.offers["enterprise_id"])
    need_ent = ds.enterprises.index.get_indexer(ds.needs["enterprise_id"])
    o, m = np.meshgrid(np.arange(len(ds.offers)), np.arange(len(ds.needs)), indexing="ij")
    o, m = o.ravel(), m.ravel()
    km, _ = rule.km(off_ent[o], need_ent[m])
    ok = (km <= max_km) & (off_ent[o] != need_ent[m])
    expected = {(int(a), int(b)): float(d) for a, b, d in zip(o[ok], m[ok], km[ok],
                                                                strict=True)}
    got = {(int(a), int(b)): float(d) for a, b, d in zip(cand.offer, cand.need,
                                                          cand.distance_km, strict=True)}
    assert got == expected
    result = solve_match(ds, MatchOptions(max_km=max_km, circuity=circuity))
    status = result.offers.set_index("offer_id")
    for k in range(len(ds.offers)):
        if (o[ok] == k).any():
            continue
        mine = (o == k) & (off_ent[o] != need_ent[m])
        nearest = float(km[mine].min())
        assert status["reason"].iloc[k] == "beyond_reach"
        assert status["explanation"].iloc[k].endswith(f", {nearest:.1f} km")
