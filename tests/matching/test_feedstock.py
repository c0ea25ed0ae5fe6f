"""Feedstock search: exact distances and delivered costs on a hand-made dataset, the radius
boundary, substitutes, quality limits, both sort orders, bad arguments, agreement with what a
match run charges, and an anonymised form that leaks neither ids nor exact quantities."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from symbiosis.dataset import Dataset, dataset_from_records, load_dataset
from symbiosis.errors import InvalidDataError
from symbiosis.matching.candidates import build_candidates
from symbiosis.matching.economics import arc_values
from symbiosis.matching.feedstock import FeedstockHit, search_feedstock, site_km
from symbiosis.matching.model import MatchOptions

R_KM = 6371.0088
# suppliers due north of the search point on the meridian 112 E: a great circle, so k tenths
# of a degree are exactly k x R x pi / 1800 km; x 1.3 circuity
STEP_KM = 1.3 * R_KM * math.pi / 1800.0
POINT = (112.0, 28.0)


ACCEPT = MatchOptions(accept_unstated_quality=True)


def find(*args: Any, **kwargs: Any) -> list[FeedstockHit]:
    """search_feedstock with unstated quality accepted (the run option), as most of these
    cases are about distances, costs and ranking; the default is tested on its own."""
    kwargs["options"] = ACCEPT if kwargs.get("options") is None else \
        kwargs["options"].model_copy(update={"accept_unstated_quality": True})
    return search_feedstock(*args, **kwargs)


def _dataset() -> Dataset:
    """FA1 (power plant, 28.1 N): 1,234 t fly ash, LOI 4.0 %, treatment 10 CNY/t, and 333 t
    FGD gypsum. FA2 (power plant, 28.3 N): 567 t fly ash, LOI 9.0 % (above the 8 % cement
    and concrete limit). SL1 (slag grinding plant, 28.2 N): 890 t slag powder, LOI 0.5 %,
    treatment 5. CM1 (cement plant at the search point) needs cement admixture; FA2 -> CM1
    is listed at 30 km. Road freight 0.5 CNY/t-km and loading 2 CNY/t by default, slag
    0.3 CNY/t-km (its own transport row, loading from the default row)."""
    ents = [{"id": "FA1", "name": "FA1", "sector": "4411", "lon": 112.0, "lat": 28.1,
             "park": "North park"},
            {"id": "FA2", "name": "FA2", "sector": "4411", "lon": 112.0, "lat": 28.3},
            {"id": "SL1", "name": "SL1", "sector": "C3120", "lon": 112.0, "lat": 28.2},
            {"id": "CM1", "name": "CM1", "sector": "3011", "lon": 112.0, "lat": 28.0}]
    offers = [
        {"id": "o-fa1", "enterprise_id": "FA1", "material": "fly_ash", "quantity": 1234,
         "treatment_cost": 10, "q.loi_pct": 4.0},
        {"id": "o-gy1", "enterprise_id": "FA1", "material": "fgd_gypsum", "quantity": 333},
        {"id": "o-fa2", "enterprise_id": "FA2", "material": "fly_ash", "quantity": 567,
         "q.loi_pct": 9.0},
        {"id": "o-sl1", "enterprise_id": "SL1", "material": "slag_powder", "quantity": 890,
         "treatment_cost": 5, "q.loi_pct": 0.5}]
    needs = [{"id": "n-cm1", "enterprise_id": "CM1", "material": "cement_admixture",
              "quantity": 5000}]
    return dataset_from_records({
        "enterprises": ents, "offers": offers, "needs": needs,
        "distances": [{"from_id": "FA2", "to_id": "CM1", "distance_km": 30}],
        "transport": [{"material": "", "cny_per_unit_km": 0.5, "loading_cny_per_unit": 2},
                      {"material": "slag_powder", "cny_per_unit_km": 0.3}]})


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return _dataset()


def _keys(hits: list[FeedstockHit]) -> list[tuple[str, str | None]]:
    return [(h.offer_id, h.serves) for h in hits]


def test_exact_distances_and_delivered_costs(ds: Dataset) -> None:
    hits = find(ds, "fly_ash", *POINT, 50.0)
    assert _keys(hits) == [("o-fa1", None), ("o-sl1", "cement_admixture"),
                           ("o-sl1", "concrete_admixture"), ("o-fa2", None)]
    fa1, sl1, fa2 = hits[0], hits[1], hits[3]
    assert fa1.distance_km == pytest.approx(STEP_KM, rel=1e-12)
    assert sl1.distance_km == pytest.approx(2 * STEP_KM, rel=1e-12)
    assert fa2.distance_km == pytest.approx(3 * STEP_KM, rel=1e-12)
    assert fa1.delivered_cost_cny_per_unit == pytest.approx(0.5 * STEP_KM + 2 + 10, rel=1e-12)
    assert sl1.delivered_cost_cny_per_unit == pytest.approx(0.3 * 2 * STEP_KM + 2 + 5,
                                                            rel=1e-12)
    assert fa2.delivered_cost_cny_per_unit == pytest.approx(0.5 * 3 * STEP_KM + 2, rel=1e-12)
    assert (fa1.material, fa1.ratio, fa1.quantity, fa1.unit) == ("fly_ash", 1.0, 1234.0, "t")
    assert fa1.quality == {"loi_pct": 4.0}
    assert (fa1.sector, fa1.park, fa2.park) == ("4411", "North park", None)
    assert fa1.unverified == ()
    # slag powder serving concrete admixture meets its LOI limit; it does not state its
    # activity index or SO3 (a search shows such offers, flagged; a match run would not)
    assert hits[2].unverified == ("activity_28d_pct", "so3_pct")


def test_radius_boundary_is_inclusive(ds: Dataset) -> None:
    exact = find(ds, "fly_ash", *POINT, STEP_KM * (1 + 1e-12),
                             include_substitutes=False)
    assert _keys(exact) == [("o-fa1", None)]
    just_short = find(ds, "fly_ash", *POINT, STEP_KM * (1 - 1e-12),
                                  include_substitutes=False)
    assert just_short == []
    on_it = find(ds, "fly_ash", *POINT, exact[0].distance_km,
                             include_substitutes=False)
    assert _keys(on_it) == [("o-fa1", None)]
    assert _keys(find(ds, "fly_ash", *POINT, 0.0)) == []
    assert len(find(ds, "fly_ash", *POINT, math.inf)) == 4


def test_substitutes_on_and_off(ds: Dataset) -> None:
    off = find(ds, "fly_ash", *POINT, 50.0, include_substitutes=False)
    assert _keys(off) == [("o-fa1", None), ("o-fa2", None)]
    # gypsum shares no use with fly ash, and fly ash's road-base use is not one of slag
    # powder's
    on = find(ds, "fly_ash", *POINT, 50.0)
    assert "o-gy1" not in {h.offer_id for h in on}
    assert {h.serves for h in on} == {None, "cement_admixture", "concrete_admixture"}
    # from the slag powder's side, fly ash stands in for cement and concrete admixture;
    # the 9 % LOI ash for neither (both limit LOI to 8 %)
    slag = find(ds, "slag_powder", *POINT, 50.0)
    assert _keys(slag) == [("o-fa1", "cement_admixture"), ("o-fa1", "concrete_admixture"),
                           ("o-sl1", None)]
    assert slag[1].unverified == ("fineness_45um_pct", "so3_pct")


def test_a_need_material_finds_every_source_with_its_ratio(ds: Dataset) -> None:
    hits = find(ds, "concrete_admixture", *POINT, 50.0)
    # the 9 % LOI ash fails the 8 % limit of GB/T 1596 grade II; the gypsum serves no
    # concrete; the slag powder meets LOI <= 1 %
    assert _keys(hits) == [("o-fa1", "concrete_admixture"), ("o-sl1", "concrete_admixture")]
    assert [h.ratio for h in hits] == [1.0, 1.0]
    gypsum = find(ds, "set_retarder", *POINT, 50.0, include_substitutes=False)
    assert _keys(gypsum) == [("o-gy1", "set_retarder")]


def test_quality_limits_need_a_stated_value(ds: Dataset) -> None:
    hits = find(ds, "fly_ash", *POINT, 50.0, limits={"max.loi_pct": 8})
    assert {h.offer_id for h in hits} == {"o-fa1", "o-sl1"}
    assert _keys(find(ds, "fly_ash", *POINT, 50.0,
                                  limits={"min.loi_pct": 4, "max.loi_pct": 4.0})) == \
        [("o-fa1", None)]
    # the gypsum states no LOI, so a searcher asking for one does not get it
    assert find(ds, "set_retarder", *POINT, 50.0,
                            limits={"max.loi_pct": 50}) == []
    # SO3 is a known attribute (a rule limits it) that no offer here states
    assert find(ds, "fly_ash", *POINT, 50.0, limits={"max.so3_pct": 4}) == []


def test_sorting_both_ways_and_limit(ds: Dataset) -> None:
    by_cost = find(ds, "fly_ash", *POINT, 50.0, sort="delivered_cost")
    assert _keys(by_cost) == [("o-sl1", "cement_admixture"), ("o-sl1", "concrete_admixture"),
                              ("o-fa1", None), ("o-fa2", None)]
    costs = [h.delivered_cost_cny_per_unit for h in by_cost]
    assert costs == sorted(costs)
    by_km = find(ds, "fly_ash", *POINT, 50.0, sort="distance")
    assert [h.distance_km for h in by_km] == sorted(h.distance_km for h in by_km)
    assert _keys(find(ds, "fly_ash", *POINT, 50.0, limit=2)) == \
        [("o-fa1", None), ("o-sl1", "cement_admixture")]


def test_searching_as_an_enterprise_uses_its_listed_distances(ds: Dataset) -> None:
    hits = find(ds, "fly_ash", *POINT, 50.0, include_substitutes=False,
                            exclude_enterprise="CM1", sort="delivered_cost")
    # FA2 is 3 x 14.46 = 43.4 km by great circle x 1.3 but listed at 30 km: at 17 CNY/t
    # it now beats FA1 (0.5 x 14.46 + 2 + 10 = 19.23)
    assert [(h.offer_id, h.distance_km) for h in hits] == \
        [("o-fa2", 30.0), ("o-fa1", pytest.approx(STEP_KM, rel=1e-12))]
    assert hits[0].delivered_cost_cny_per_unit == 0.5 * 30 + 2
    own = find(ds, "fly_ash", 112.0, 28.1, 50.0, include_substitutes=False,
                           exclude_enterprise="FA1")
    assert _keys(own) == [("o-fa2", None)]
    # a proposal from CM1's search keeps the km that search showed, listed or computed
    assert site_km(ds, "CM1", "FA2") == 30.0
    assert site_km(ds, "CM1", "FA1") == pytest.approx(STEP_KM, rel=1e-12)


def test_delivered_cost_is_what_a_match_run_charges(ds: Dataset) -> None:
    """The cement plant's arcs in a run cost transport + loading + treatment per tonne:
    the search from its site, as CM1, charges the same for each offer."""
    # the search lists offers that do not state a limited attribute (flagged); the run
    # takes them only with unstated quality accepted
    cand = build_candidates(ds, accept_unstated_quality=True)
    values = arc_values(ds, cand)
    run = {str(ds.offers.index[o]): float(t + tr)
           for o, t, tr in zip(cand.offer, values.transport, values.treatment, strict=True)}
    hits = find(ds, "cement_admixture", *POINT, 500.0, exclude_enterprise="CM1")
    assert {h.offer_id for h in hits} == {"o-fa1", "o-sl1"}  # FA2's 9 % LOI fails
    assert set(run) == {"o-fa1", "o-sl1"}
    for h in hits:
        assert h.delivered_cost_cny_per_unit == pytest.approx(run[h.offer_id], rel=1e-12)


def test_bad_arguments_are_all_reported(ds: Dataset) -> None:
    # options that skipped their own validation (a circuity of 0) are still caught here
    bad = MatchOptions()
    object.__setattr__(bad, "circuity", 0.0)
    with pytest.raises(InvalidDataError) as exc:
        find(ds, "flyashh", 200.0, 28.0, -1.0,
                         limits={"max.loi": 3, "loi_pct": 1, "min.loi_pct": math.nan},
                         sort="price", limit=0, options=bad,  # type: ignore[arg-type]
                         exclude_enterprise="CM2")
    found = [(p.file, p.row, p.column, p.message) for p in exc.value.problems]
    assert found[0] == ("search", None, "material",
                        "unknown material 'flyashh' (did you mean 'fly_ash' (粉煤灰, Coal fly "
                        "ash)?)")
    assert [c for _, _, c, _ in found] == [
        "material", "lon", "radius_km", "circuity", "sort", "limit", "exclude_enterprise",
        "max.loi", "loi_pct", "min.loi_pct"]
    assert found[7][3] == "no offer states and no rule limits 'loi' (did you mean 'loi_pct'?)"
    assert found[6][3] == "'CM2' is not an enterprise id (did you mean 'CM1'?)"


def _numbers(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return [float(value)] if isinstance(value, int | float) and not isinstance(value, bool) \
        else []


def test_public_form_leaks_neither_id_nor_quantity(ds: Dataset) -> None:
    hits = find(ds, "fly_ash", *POINT, 50.0)
    for k, hit in enumerate(hits):
        public = hit.as_public(f"h{k}")
        text = json.dumps(public, ensure_ascii=False, allow_nan=False)
        for secret in (hit.offer_id, hit.enterprise_id, "FA1", "FA2", "SL1"):
            assert secret not in text
        assert hit.quantity not in _numbers(public)
    public = hits[0].as_public("h0")
    assert public == {
        "handle": "h0", "material": "fly_ash", "serves": None, "ratio": 1.0, "unit": "t",
        "quantity_band": {"min": 1000.0, "max": 5000.0, "label": "1,000–5,000 t"},
        "distance_km": 14, "delivered_cost_cny_per_unit": round(0.5 * STEP_KM + 12, 2),
        "quality": {"loi_pct": 4.0}, "sector_division": "44", "park": "North park",
        "unverified": []}
    assert hits[1].as_public("x")["sector_division"] == "31"  # "C3120": section letter first
    assert hits[0].as_dict()["enterprise_id"] == "FA1"


def test_demo_feedstock_for_a_board_plant(demo_path: Path) -> None:
    """From the Hengyang board plant (HY-GYP1), gypsum within 200 km, cheapest first: the
    pre-treated phosphogypsum next door (3.4 km) costs its 35 CNY/t treatment (the raw
    phosphogypsum serves no board plant), so Leiyang's FGD gypsum
    (71.5 km, 5 CNY/t treatment) delivers cheaper at the built-in 0.424 CNY/t-km."""
    demo = load_dataset(demo_path)
    site = demo.enterprises.loc["HY-GYP1"]
    hits = find(demo, "wallboard_gypsum", float(site["lon"]), float(site["lat"]),
                            200.0, sort="delivered_cost", exclude_enterprise="HY-GYP1")
    assert [h.offer_id for h in hits][:2] == ["OF-LY-PWR1-fgd_gypsum",
                                              "OF-HY-PHO1-phosphogypsum_treated"]
    for h in hits:
        assert h.serves == "wallboard_gypsum" and h.distance_km <= 200.0
        assert h.delivered_cost_cny_per_unit == pytest.approx(
            0.424 * h.distance_km + float(demo.offers.loc[h.offer_id, "treatment_cost"]),
            rel=1e-12)
    costs = np.array([h.delivered_cost_cny_per_unit for h in hits])
    assert np.all(np.diff(costs) >= 0)


def test_unstated_quality_is_no_hit_by_default(ds: Dataset) -> None:
    """Without the run option a hit must state every attribute its rule limits (issue 13):
    FA1 states LOI only, so its fly ash for cement (LOI, SO3 ... limited) is no hit; the
    slag powder states the LOI its rule limits and is; with the option FA1 is found and
    names what it does not state."""
    assert _keys(search_feedstock(ds, "cement_admixture", *POINT, 50.0)) == [
        ("o-sl1", "cement_admixture")]
    accepted = {h.offer_id: h for h in find(ds, "cement_admixture", *POINT, 50.0)}
    assert accepted["o-fa1"].unverified
    stated = _dataset_stating_all("fly_ash", "cement_admixture")
    hits = search_feedstock(stated, "cement_admixture", *POINT, 50.0)
    assert [h.offer_id for h in hits] == ["o-fa1"] and hits[0].unverified == ()


def _dataset_stating_all(material: str, need: str) -> Dataset:
    """FA1 alone, stating every attribute the rule (need <- material) limits, at its limit."""
    from symbiosis.taxonomy import load_taxonomy

    rule = load_taxonomy().rule(need, material)
    assert rule is not None and rule.limits
    quality = {f"q.{lim.attribute}": lim.value for lim in rule.limits}
    return dataset_from_records({
        "enterprises": [{"id": "FA1", "name": "FA1", "lon": 112.0, "lat": 28.1},
                        {"id": "CM1", "name": "CM1", "lon": 112.0, "lat": 28.0}],
        "offers": [{"id": "o-fa1", "enterprise_id": "FA1", "material": material,
                    "quantity": 10, **quality}],
        "needs": [{"id": "n", "enterprise_id": "CM1", "material": need, "quantity": 1}]})


def test_material_names_in_either_language(ds: Dataset) -> None:
    """粉煤灰 and "Coal fly ash" search fly ash; a misspelling suggests in both languages."""
    assert _keys(find(ds, "粉煤灰", *POINT, 50.0)) == _keys(find(ds, "fly_ash", *POINT, 50.0))
    assert _keys(find(ds, "Coal fly ash", *POINT, 50.0)) == \
        _keys(find(ds, "fly_ash", *POINT, 50.0))
    with pytest.raises(InvalidDataError, match="did you mean 'fly_ash' \\(粉煤灰, Coal fly ash\\)"):
        search_feedstock(ds, "fly_sh", *POINT, 50.0)
