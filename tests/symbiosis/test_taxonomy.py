"""The built-in taxonomy against the standards in force: which rules exist and which do not,
the limits they carry, the unstated-quality default and its switch, and the verification
mark and source hygiene of every row of the taxonomy tables."""

from __future__ import annotations

import csv
import re
from importlib import resources
from typing import Any

import numpy as np
import pytest

from symbiosis import Dataset, dataset_from_records, load_taxonomy
from symbiosis.matching import MatchOptions, build_candidates, solve_match
from symbiosis.matching.admission import blocked_by_offer
from symbiosis.matching.reasons import UnmatchedReason
from symbiosis.taxonomy import VERIFICATION_MARKS

Rows = list[dict[str, Any]]
TABLES = ("materials", "rules", "rule_limits", "carbon", "factors", "need_sectors")


def rows_of(name: str) -> list[dict[str, str]]:
    text = resources.files("symbiosis").joinpath("data", f"{name}.csv").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def serves(need: str) -> set[str]:
    tax = load_taxonomy()
    return {o for (n, o) in tax.rules if n == need}


# ------------------------------------------------------------------ rules per the standards

@pytest.mark.parametrize("offer", ["steel_slag", "smelting_slag", "steel_slag_powder",
                                   "cfb_ash", "red_mud", "tailings", "phosphogypsum",
                                   "electrolytic_mn_residue", "carbide_slag"])
def test_gb175_2023_admits_no_other_cement_admixture(offer: str) -> None:
    """GB 175-2023 (in force 2024-06-01, wholly mandatory) lists only granulated BF slag or
    slag powder, fly ash, pozzolanic materials, limestone and sandstone; steel slag or
    non-ferrous slag as an admixture is non-compliant production."""
    assert load_taxonomy().rule("cement_admixture", offer) is None


def test_cement_admixtures_are_exactly_the_gb175_constituents() -> None:
    # bottom ash and calcined gangue enter as pozzolanic materials (GB/T 2847)
    assert serves("cement_admixture") == {"fly_ash", "semidry_fgd_ash", "bf_slag",
                                          "slag_powder", "bottom_ash", "coal_gangue"}


def test_cfb_ash_is_not_gb1596_fly_ash_and_has_its_own_uses() -> None:
    """GB/T 1596-2017 3.1 excludes ash from circulating fluidised-bed boilers."""
    tax = load_taxonomy()
    assert tax.rule("concrete_admixture", "cfb_ash") is None
    assert tax.rule("cement_admixture", "cfb_ash") is None
    assert {n for (n, o) in tax.rules if o == "cfb_ash"} == {"road_base", "mine_backfill",
                                                              "subsidence_fill"}
    assert "3.1" in tax.materials["cfb_ash"].source


def test_gb1596_2017_grade_ii_limits_for_concrete_and_cement_limits() -> None:
    tax = load_taxonomy()
    concrete = {(lim.attribute, lim.bound): lim.value
                for lim in tax.rules[("concrete_admixture", "fly_ash")].limits}
    assert concrete == {("fineness_45um_pct", "max"): 30.0, ("loi_pct", "max"): 8.0,
                        ("so3_pct", "max"): 3.0}
    cement = {(lim.attribute, lim.bound): lim.value
              for lim in tax.rules[("cement_admixture", "fly_ash")].limits}
    assert cement == {("loi_pct", "max"): 8.0, ("so3_pct", "max"): 3.5}
    for need in ("cement_admixture", "concrete_admixture"):
        semi = {lim.attribute: lim.value for lim in tax.rules[(need, "semidry_fgd_ash")].limits}
        assert semi["caso3_hemihydrate_pct"] == 3.0  # GB/T 1596-2017 6.4
        assert "6.4" in " ".join(lim.source for lim in tax.rules[(need, "semidry_fgd_ash")].limits)


def test_slag_reaches_concrete_plants_as_slag_powder_only() -> None:
    tax = load_taxonomy()
    assert tax.rule("concrete_admixture", "bf_slag") is None  # must be ground first
    s95 = {lim.attribute: lim.value for lim in tax.rules[("concrete_admixture",
                                                           "slag_powder")].limits}
    assert s95 == {"loi_pct": 1.0, "activity_28d_pct": 95.0, "so3_pct": 4.0}
    assert tax.materials["slag_powder"].product_standard == "GB/T 18046-2017"


def test_steel_slag_uses_aged_slag_under_its_own_standards() -> None:
    tax = load_taxonomy()
    assert tax.rule("aggregate", "steel_slag") is None  # GB/T 24765 is for asphalt
    for need, std in (("road_base", "GB/T 25824-2010"), ("asphalt_aggregate",
                                                        "GB/T 24765-2009")):
        rule = tax.rules[(need, "steel_slag")]
        assert std in rule.source
        assert {lim.attribute for lim in rule.limits} == {"f_cao_pct",
                                                          "immersion_expansion_pct"}
    assert "GB/T 20491-2017" in tax.rules[("concrete_admixture", "steel_slag_powder")].source


def test_raw_meal_is_split_and_no_material_fills_both_correctives() -> None:
    tax = load_taxonomy()
    assert "raw_meal" not in tax.materials
    iron, sial = serves("raw_meal_iron"), serves("raw_meal_sial")
    assert iron == {"steel_slag", "red_mud", "smelting_slag"}
    assert sial == {"fly_ash", "coal_gangue", "bottom_ash", "tailings"}
    assert not iron & sial
    assert serves("raw_meal_calcareous") == {"carbide_slag"}


def test_phosphogypsum_raw_goes_to_backfill_and_pretreated_to_gypsum_uses() -> None:
    tax = load_taxonomy()
    raw = {n for (n, o) in tax.rules if o == "phosphogypsum"}
    treated = {n for (n, o) in tax.rules if o == "phosphogypsum_treated"}
    assert raw == {"mine_backfill"}
    assert treated == {"set_retarder", "wallboard_gypsum", "building_plaster",
                       "gypsum_block", "gypsum_mortar"}
    limits = {lim.attribute for lim in tax.rules[("set_retarder",
                                                  "phosphogypsum_treated")].limits}
    assert limits == {"p2o5_soluble_pct", "f_soluble_pct"}
    assert "2026-07-01" in tax.materials["phosphogypsum_treated"].source


def test_missing_uses_now_present() -> None:
    tax = load_taxonomy()
    for need, offer in [("aac_feedstock", "fly_ash"), ("ceramsite_feedstock", "fly_ash"),
                        ("building_plaster", "fgd_gypsum"), ("gypsum_block", "fgd_gypsum"),
                        ("gypsum_mortar", "fgd_gypsum"), ("concrete_admixture", "slag_powder"),
                        ("concrete_admixture", "steel_slag_powder"),
                        ("fbc_fuel", "coal_gangue"), ("subsidence_fill", "coal_gangue"),
                        ("mine_backfill", "tailings"), ("raw_meal_iron", "smelting_slag"),
                        ("set_retarder", "fgd_gypsum"), ("road_base", "electrolytic_mn_residue")]:
        assert tax.rule(need, offer) is not None, (need, offer)
    for slug in ("electrolytic_mn_residue", "semidry_fgd_ash", "cfb_ash", "carbide_slag"):
        assert tax.materials[slug].kind == "byproduct"


def test_reclaimed_water_by_use_class() -> None:
    tax = load_taxonomy()
    assert tax.rule("boiler_feed_water", "reclaimed_water") is None  # needs desalting first
    rule = tax.rules[("process_water", "reclaimed_water")]
    assert {lim.attribute for lim in rule.limits} == {"cod_mg_l", "nh3n_mg_l"}
    assert "GB/T 19923" in rule.source


def test_every_rule_names_its_materials_and_a_source() -> None:
    tax = load_taxonomy()
    for (need, offer), rule in tax.rules.items():
        assert need in tax.materials and offer in tax.materials
        assert tax.materials[need].family == tax.materials[offer].family
        assert re.search(r"GB|JC/T|JTG|HJ |Order|assumption|Dutta", rule.source), rule.key


# ------------------------------------------------------------------ verification marks

@pytest.mark.parametrize("table", TABLES)
def test_every_row_carries_a_verification_mark(table: str) -> None:
    for i, row in enumerate(rows_of(table), start=2):
        mark = row["verification"].split(":", 1)[0].split(" ", 1)[0]
        assert mark in VERIFICATION_MARKS, f"{table}.csv:{i}: {row['verification']!r}"


PERSONAL_OR_MIRROR = re.compile(
    r"github|zmshe|FinlayShaw|JulesProject|scope3emission|fangxingfoods|questionai|scribd"
    r"|360docs|wanglu\.net|120\.79\.24\.31|civilcn|@[0-9a-f]{7,40}", re.IGNORECASE)


@pytest.mark.parametrize("table", TABLES)
def test_no_user_facing_source_is_a_personal_repository_or_a_mirror(table: str) -> None:
    """Sources name standards, laws, official documents or papers; the copy that was read
    (if any) is named in the verification mark, never a personal repository or mirror."""
    for i, row in enumerate(rows_of(table), start=2):
        assert "http" not in row["source"], f"{table}.csv:{i}: {row['source']}"
        for column, text in row.items():
            assert not PERSONAL_OR_MIRROR.search(text or ""), f"{table}.csv:{i}:{column}"


# ------------------------------------------------------------------ unstated quality

def concrete_case(quality: dict[str, float]) -> Dataset:
    ents = [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in ("P", "R")]
    offer = {"id": "fa", "enterprise_id": "P", "material": "fly_ash", "quantity": 100,
             **{f"q.{k}": v for k, v in quality.items()}}
    return dataset_from_records({
        "enterprises": ents, "offers": [offer],
        "needs": [{"id": "rmc", "enterprise_id": "R", "material": "concrete_admixture",
                   "quantity": 60}],
        "distances": [{"from_id": "P", "to_id": "R", "distance_km": 10}]})


def test_unstated_quality_gives_no_arc_and_names_the_attributes() -> None:
    ds = concrete_case({"loi_pct": 4.0})
    cand = build_candidates(ds)
    assert len(cand) == 0
    assert blocked_by_offer(cand, 1)["quality_not_stated"].tolist() == [
        "fineness_45um_pct, so3_pct"]
    status = solve_match(ds).offers
    assert status["reason"].tolist() == [UnmatchedReason.QUALITY_NOT_STATED.value]
    assert status["quality_not_stated"].tolist() == ["fineness_45um_pct, so3_pct"]
    assert "fineness_45um_pct, so3_pct" in status["explanation"].iat[0]


def test_the_switch_accepts_unstated_quality_and_flags_the_arc() -> None:
    ds = concrete_case({"loi_pct": 4.0})
    cand = build_candidates(ds, accept_unstated_quality=True)
    assert len(cand) == 1 and cand.quality_unverified.tolist() == [True]
    assert len(cand.blocked_offer) == 0
    # a stated value outside a limit still fails with the switch on
    bad = build_candidates(concrete_case({"loi_pct": 9.0}), accept_unstated_quality=True)
    assert len(bad) == 0


def test_stated_quality_within_the_grade_gives_an_unflagged_arc() -> None:
    ds = concrete_case({"loi_pct": 4.0, "fineness_45um_pct": 30.0, "so3_pct": 1.0})
    cand = build_candidates(ds)
    assert len(cand) == 1 and cand.quality_unverified.tolist() == [False]
    result = solve_match(ds)
    assert result.exchanges["quantity"].tolist() == [60.0]
    # grade II 45 µm limit is 30 %: 30.5 fails, and is a stated failure, not unstated
    over = build_candidates(concrete_case({"loi_pct": 4.0, "fineness_45um_pct": 30.5,
                                           "so3_pct": 1.0}))
    assert len(over) == 0 and len(over.blocked_offer) == 0


def test_a_rule_without_limits_needs_no_statement() -> None:
    """Fly ash to raw meal (no limit) flows with no quality stated at all."""
    ents = [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in ("P", "K")]
    ds = dataset_from_records({
        "enterprises": ents,
        "offers": [{"id": "fa", "enterprise_id": "P", "material": "fly_ash", "quantity": 50}],
        "needs": [{"id": "si", "enterprise_id": "K", "material": "raw_meal_sial",
                   "quantity": 40}]})
    result = solve_match(ds, MatchOptions())
    assert result.exchanges["quantity"].tolist() == [40.0]
    assert np.array_equal(build_candidates(ds).quality_unverified, [False])


# ------------------------------------------------------------------ codes beside the EWC

def test_general_solid_wastes_carry_a_ledger_category_and_hazardous_ones_an_hw_code() -> None:
    """Chinese codes beside the EWC codes: each general industrial solid waste carries its
    ledger category (MEE Announcement 2021 No. 82, SWnn), products made from wastes (slag
    powders) carry their product standard instead, and hazardous wastes carry a National
    Hazardous Waste List code whose last two digits are their HW class."""
    from symbiosis.taxonomy import HW_CODE, hw_category_of

    for slug, mat in load_taxonomy().materials.items():
        if mat.kind != "byproduct" or mat.family != "mass":
            continue
        if mat.hazardous:
            assert HW_CODE.match(mat.hw_code), slug
            assert mat.hw_category == hw_category_of(mat.hw_code), slug
            assert mat.ewc_code.endswith("*"), slug  # EWC marks hazardous entries with *
        elif slug in {"slag_powder", "steel_slag_powder"}:
            assert mat.product_standard and not mat.cn_category, slug
        else:
            assert re.match(r"^SW\d{2} \S", mat.cn_category), slug
            assert not mat.hw_code, slug
