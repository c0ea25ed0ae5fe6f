"""Months combined with grades (issue 15, matching.monthly_grades): a blend held month by
month, the heat cascade per month, the monthly graded LP equal to the annual graded LP when
every listing is flat, and equal to the pure monthly network when no grade binds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from grades_support import grid, row

from symbiosis.dataset import Dataset, dataset_from_records
from symbiosis.matching.model import solve_match
from symbiosis.matching.result import write_outputs

ASH = {"q.fineness_45um_pct": 20.0}
LINKS = {("A", "C"): 2.0, ("B", "C"): 3.0}


def months(*values: float) -> dict[str, float]:
    """m01.. for the values given, 0 for the rest of the year."""
    full = [*values] + [0.0] * (12 - len(values))
    return {f"m{t + 1:02d}": v for t, v in enumerate(full)}


def two_month_ashes(blend: str = "yes") -> Dataset:
    """a: LOI 10 % (over 7), SO3 1; b: LOI 4, SO3 3 % (over 2.5); neither alone meets the
    need's max.loi_pct 7 and max.so3_pct 2.5. a makes 50 t in January and February; b 60 t
    in January and only 20 t in February. The need takes up to 200 t a month."""
    offers = [row("a", "A", "fly_ash", "", **months(50, 50),
                  **{"q.loi_pct": 10.0, "q.so3_pct": 1.0}, **ASH),
              row("b", "B", "fly_ash", "", **months(60, 20),
                  **{"q.loi_pct": 4.0, "q.so3_pct": 3.0}, **ASH)]
    needs = [row("n", "C", "fly_ash", "", **months(200, 200),
                  **{"max.loi_pct": 7, "max.so3_pct": 2.5}, blend=blend)]
    return grid("ABC", LINKS, offers, needs)


def test_a_two_month_blend_by_hand() -> None:
    """Each month: LOI 3a - 3b <= 0 (a <= b), SO3 -1.5a + 0.5b <= 0 (b <= 3a).
    January: a <= 50, b <= 60: a = 50, b = 60 (b <= 150), 110 t; LOI (500 + 240) / 110.
    February: b <= 20, so a <= 20: a = b = 20, 40 t; LOI 7.0 exactly, SO3 2.0.
    Year: 150 t (the annual balance would allow a = b = 80, 160 t), t-km 50 x 2 + 60 x 3 +
    20 x 2 + 20 x 3 = 380."""
    result = solve_match(two_month_ashes())
    assert result.summary.monthly is not None
    assert [m.matched_t for m in result.summary.monthly.months] == \
        pytest.approx([110, 40] + [0] * 10, rel=1e-8, abs=1e-7)
    assert result.summary.tonnes_matched == pytest.approx(150.0)
    assert result.summary.tonne_km == pytest.approx(380.0)
    assert "lp_highs" in result.solver.methods
    by_month = result.tables["exchanges_monthly"]
    q = {(m, o): v for m, o, v in zip(by_month["month"], by_month["offer_id"],
                                      by_month["quantity"], strict=True)}
    assert q == pytest.approx({(1, "a"): 50, (1, "b"): 60, (2, "a"): 20, (2, "b"): 20})
    blends = result.tables["blends_monthly"].set_index(["month", "attribute"])
    assert blends.loc[(1, "loi_pct"), "average"] == pytest.approx(740 / 110)
    assert blends.loc[(1, "so3_pct"), "average"] == pytest.approx(230 / 110)
    assert blends.loc[(2, "loi_pct"), "average"] == pytest.approx(7.0)
    assert blends.loc[(2, "so3_pct"), "average"] == pytest.approx(2.0)
    assert blends.loc[(2, "loi_pct"), "quantity"] == pytest.approx(40.0)
    assert set(blends["limit"]) >= {7.0, 2.5}
    # every month's blend meets its limits; the annual blends.csv is the year's average
    assert (blends["average"] <= blends["limit"] + 1e-9).all()
    annual = result.blends.set_index("attribute")
    assert annual.loc["loi_pct", "average"] == pytest.approx((700 + 320) / 150)
    assert not any("not planned by month" in w for w in result.summary.warnings)


def test_without_blending_the_monthly_plan_delivers_none_of_the_two_ashes() -> None:
    result = solve_match(two_month_ashes(blend=""))
    assert result.summary.tonnes_matched == 0
    assert result.solver.methods == ("min_cost_flow",)


def test_blends_monthly_csv_is_written(tmp_path: Path) -> None:
    write_outputs(solve_match(two_month_ashes()), tmp_path)
    text = (tmp_path / "blends_monthly.csv").read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("month,need_id,")
    assert len(text.splitlines()) == 1 + 2 * 2  # two months x two attributes
    assert (tmp_path / "blends.csv").exists() and (tmp_path / "exchanges_monthly.csv").exists()


def test_a_graded_component_and_a_plain_one_are_solved_each_their_own_way() -> None:
    """A second pair far away (D -> E, slag, no limits) stays in the min-cost flow."""
    offers = [row("a", "A", "fly_ash", "", **months(50, 50),
                  **{"q.loi_pct": 10.0, "q.so3_pct": 1.0}, **ASH),
              row("b", "B", "fly_ash", "", **months(60, 20),
                  **{"q.loi_pct": 4.0, "q.so3_pct": 3.0}, **ASH),
              row("d", "D", "bf_slag", "", **months(10, 10, 10))]
    needs = [row("n", "C", "fly_ash", "", **months(200, 200),
                  **{"max.loi_pct": 7, "max.so3_pct": 2.5}, blend="yes"),
             row("e", "E", "bf_slag", "", **months(0, 30, 0))]
    records: dict[str, Any] = {
        "enterprises": [{"id": n, "name": n, "lon": 112.9, "lat": 20.0 + k}
                        for k, n in enumerate("ABCDE")],
        "offers": offers, "needs": needs,
        "distances": [{"from_id": a, "to_id": b, "distance_km": km}
                      for (a, b), km in {**LINKS, ("D", "E"): 5.0}.items()],
        "storage": [{"enterprise_id": "D", "material": "bf_slag", "capacity": 15}],
    }
    result = solve_match(dataset_from_records(records))
    assert result.solver.methods == ("min_cost_flow", "lp_highs")
    # slag: January's 10 held, February 10 made + 10 held + ... the silo carries 10 into
    # February (20 delivered); March's 10 has no taker (the need is 0 then)
    assert result.summary.tonnes_matched == pytest.approx(150.0 + 20.0)
    slag = result.tables["storage"].iloc[0]
    assert slag["m01"] == pytest.approx(10.0)
    assert slag["marginal_used_per_unit"] == pytest.approx(0.0)


# ----------------------------------------------------------------------------- heat


def test_the_heat_cascade_is_bounded_month_by_month() -> None:
    """S: steam at 200 °C, 500 GJ in January and 100 in February. A (1 km) needs 490 GJ a
    month at >= 180 °C and returns half as hot water at 130 °C; B (2 km from A) needs 200
    GJ a month at >= 120 °C.

    January: S sends 500 (ratio 0.98: A receives 490); A returns 245; B takes 200: 200 /
    0.98 sent. February: S sends 100, A receives 98, returns 49; B receives 49 x 0.98.
    The annual balance would let February borrow January's spare return (245 - 204.08);
    the months do not.
    """
    offers = [row("s", "S", "waste_heat", "", medium="steam", **months(500, 100),
                  **{"q.temperature_c": 200})]
    needs = [row("a", "A", "process_heat", "", return_temperature_c=130, return_share=0.5,
                 **months(490, 490), **{"min.temperature_c": 180}),
             row("b", "B", "process_heat", "", **months(200, 200),
                 **{"min.temperature_c": 120})]
    result = solve_match(grid("SAB", {("S", "A"): 1.0, ("A", "B"): 2.0}, offers, needs))
    by_month = result.tables["exchanges_monthly"]
    q = {(m, o): v for m, o, v in zip(by_month["month"], by_month["offer_id"],
                                      by_month["quantity"], strict=True)}
    assert q == pytest.approx({(1, "s"): 500, (2, "s"): 100,
                               (1, "return:a"): 200 / 0.98, (2, "return:a"): 49})
    got = {(m, o): v for m, o, v in zip(by_month["month"], by_month["offer_id"],
                                        by_month["need_quantity"], strict=True)}
    assert got[(2, "return:a")] == pytest.approx(49 * 0.98)
    ex = result.exchanges.set_index("offer_id")
    assert ex.loc["return:a", "quantity"] == pytest.approx(200 / 0.98 + 49)
    assert ex.loc["return:a", "delivered_temperature_c"] == pytest.approx(128.0)
    assert ex.loc["s", "delivered_temperature_c"] == pytest.approx(190.0)
    # lexicographic: listed heat, then the cascade, then GJ-km
    assert result.solver.objective == pytest.approx(600 * 1 + (200 / 0.98 + 49) * 2)


def test_heat_below_a_floor_at_delivery_is_not_planned_in_any_month() -> None:
    """Hot water at 100 °C, 5 km: 95 °C arrives, under the 96 °C floor; 4 km: 96 °C."""
    offers = [row("s", "S", "waste_heat", "", medium="hot_water", **months(10, 10),
                  **{"q.temperature_c": 100})]
    needs = [row("u", "U", "process_heat", "", **months(10, 10), **{"min.temperature_c": 96})]
    far = solve_match(grid("SU", {("S", "U"): 5.0}, offers, needs))
    near = solve_match(grid("SU", {("S", "U"): 4.0}, offers, needs))
    assert far.summary.monthly is not None and far.exchanges.empty
    assert near.tables["exchanges_monthly"]["need_quantity"].tolist() == \
        pytest.approx([10 * 0.96, 10 * 0.96])


# ----------------------------------------------------------------------------- cross-checks


def random_graded(seed: int, flat: bool, storage: bool = False) -> tuple[Dataset, Dataset]:
    """A random park (three ashes with LOI and SO3, two blending needs, two steam offers,
    three heat users, one of them giving back heat): the annual dataset and the same one
    with months (every month a twelfth when `flat`, else random)."""
    rng = np.random.default_rng(seed)
    names = "ABCDEFGHIJ"
    offers, needs = [], []
    for k, e in enumerate("ABC"):
        offers.append(row(f"ash{k}", e, "fly_ash", float(rng.integers(12, 120)) * 12,
                          **{"q.loi_pct": round(float(rng.uniform(2, 12)), 1),
                             "q.so3_pct": round(float(rng.uniform(0.5, 4)), 1)}, **ASH))
    for k, e in enumerate("DE"):
        needs.append(row(f"blend{k}", e, "fly_ash", float(rng.integers(30, 150)) * 12,
                         **{"max.loi_pct": 7, "max.so3_pct": 2.5}, blend="yes"))
    for k, e in enumerate("FG"):
        offers.append(row(f"heat{k}", e, "waste_heat", float(rng.integers(50, 300)) * 12,
                          medium="steam",
                          **{"q.temperature_c": round(float(rng.uniform(180, 300)))}))
    for k, e in enumerate("HIJ"):
        extra: dict[str, Any] = {}
        if k == 0:
            extra = {"return_temperature_c": 110.0, "return_share": 0.5}
        needs.append(row(f"user{k}", e, "process_heat", float(rng.integers(40, 200)) * 12,
                         **{"min.temperature_c": float(rng.integers(100, 170))}, **extra))
    links = {(a, b): round(float(rng.uniform(1, 9)), 1) for a in "ABC" for b in "DE"}
    links |= {(a, b): round(float(rng.uniform(0.5, 6)), 1) for a in "FGH" for b in "HIJ"
              if a != b}
    annual = grid(names, links, offers, needs)
    monthly_offers, monthly_needs = [], []
    for frame, out in ((offers, monthly_offers), (needs, monthly_needs)):
        for r in frame:
            q = float(r["quantity"])
            share = np.full(12, 1 / 12) if flat else rng.dirichlet(np.ones(12))
            out.append({**r, "quantity": "", **{f"m{t + 1:02d}": q * share[t]
                                                for t in range(12)}})
    extra_tables: dict[str, Any] = {}
    if storage:
        extra_tables["storage"] = [
            {"enterprise_id": "A", "material": "fly_ash",
             "capacity": float(rng.integers(0, 200))},
            {"enterprise_id": "D", "material": "fly_ash",
             "capacity": float(rng.integers(0, 200))}]
    return annual, grid(names, links, monthly_offers, monthly_needs, **extra_tables)


@pytest.mark.parametrize("seed", [0, 2, 3, 4, 5])  # seed 1: no ash blend meets the limits
def test_flat_months_without_storage_equal_the_annual_graded_lp(seed: int) -> None:
    annual_data, monthly_data = random_graded(seed, flat=True)
    annual = solve_match(annual_data)
    plan = solve_match(monthly_data)
    assert annual.summary.monthly is None and plan.summary.monthly is not None
    assert "lp_blend" in annual.solver.methods
    assert len(annual.blends) and annual.summary.families["mass"].matched > 0
    assert plan.summary.tonnes_matched == pytest.approx(annual.summary.tonnes_matched,
                                                        rel=1e-7, abs=1e-6)
    for fam in ("mass", "energy"):
        assert plan.summary.families[fam].matched == pytest.approx(
            annual.summary.families[fam].matched, rel=1e-7, abs=1e-6)
    assert plan.solver.objective == pytest.approx(annual.solver.objective, rel=1e-6,
                                                  abs=1e-6)
    # plan tonnes by material (which user of a shared source gets the heat is not unique)
    for material in ("fly_ash", "process_heat"):
        got = plan.exchanges.loc[plan.exchanges["need_material"] == material,
                                 "need_quantity"].sum()
        want = annual.exchanges.loc[annual.exchanges["need_material"] == material,
                                    "need_quantity"].sum()
        assert got == pytest.approx(want, rel=1e-6, abs=1e-5)
    # every month's blend meets its limits
    blends = plan.tables["blends_monthly"]
    ok = np.where(blends["bound"] == "max", blends["average"] <= blends["limit"] + 1e-7,
                  blends["average"] >= blends["limit"] - 1e-7)
    assert ok.all()


def lenient(data: Dataset) -> Dataset:
    """`data` with every ash at LOI 3 and SO3 1: no limit can bind."""
    from dataclasses import replace

    offers = data.offers.copy()
    ash = offers["material"] == "fly_ash"
    offers.loc[ash, "q.loi_pct"] = 3.0
    offers.loc[ash, "q.so3_pct"] = 1.0
    return replace(data, offers=offers)


@pytest.mark.parametrize("seed", range(4))
def test_with_no_binding_grade_the_graded_plan_equals_the_pure_network(seed: int) -> None:
    """Only the ashes (no heat users): blend on and off give the same months and stores;
    blend off runs the pure time-expanded min-cost flow."""
    from dataclasses import replace

    _, data = random_graded(seed, flat=False, storage=True)
    ash = data.offers["material"] == "fly_ash"
    data = lenient(replace(data, offers=data.offers[ash],
                           needs=data.needs[data.needs["material"] == "fly_ash"]))
    graded = solve_match(data)
    plain = solve_match(replace(data, needs=data.needs.assign(blend="")))
    assert graded.solver.methods == ("lp_highs",)
    assert plain.solver.methods == ("min_cost_flow",)
    assert graded.summary.tonnes_matched == pytest.approx(plain.summary.tonnes_matched,
                                                          rel=1e-7, abs=1e-6)
    assert graded.summary.tonne_km == pytest.approx(plain.summary.tonne_km, rel=1e-6,
                                                    abs=1e-5)
    # (which month a silo releases its ash in is not unique: the months may differ)
    assert graded.summary.monthly.year_end_stock_t == pytest.approx(
        plain.summary.monthly.year_end_stock_t, rel=1e-6, abs=1e-5)
    g_used = graded.tables["storage"]["marginal_used_per_unit"].to_numpy(float)
    p_used = plain.tables["storage"]["marginal_used_per_unit"].to_numpy(float)
    assert np.isfinite(g_used).all() and np.isfinite(p_used).all()


def test_random_monthly_blends_keep_every_limit_every_month() -> None:
    for seed in (0, 2, 3):
        _, data = random_graded(seed, flat=False, storage=True)
        plan = solve_match(data)
        blends = plan.tables["blends_monthly"]
        assert len(blends)
        assert (blends["average"] <= blends["limit"] + 1e-7).all()
        by_month = plan.tables["exchanges_monthly"]
        made = dict(zip(data.offers.index, data.offers[[f"m{t:02d}" for t in range(1, 13)]]
                        .to_numpy(float).tolist(), strict=True))
        for (oid, month), q in by_month.groupby(["offer_id", "month"])["quantity"].sum() \
                .items():
            if oid in made and oid != "ash0":  # ash0 (at A) may draw on its silo
                assert q <= made[oid][month - 1] + 1e-6



def test_a_water_blend_by_use_class_month_by_month() -> None:
    """GB/T 19923 cooling_recirculating: COD <= 60, chloride <= 250 mg/L. a: COD 80,
    chloride 100; b: COD 40, chloride 300; so a <= b and b <= 3a each month.
    January: a = 100, b = 240 (340 m3). February: b makes only 50, so a = b = 50 (100 m3;
    COD (4000 + 2000) / 100 = 60, at the limit; chloride 200). The annual balance would take
    a = 200, b = 290 (490 m3). m3-km: 100 x 4 + 240 x 5 + 50 x 4 + 50 x 5 = 2050."""
    offers = [row("a", "A", "reclaimed_water", "", **months(100, 100),
                  **{"q.cod_mg_l": 80.0, "q.nh3n_mg_l": 5.0, "q.chloride_mg_l": 100.0}),
              row("b", "B", "reclaimed_water", "", **months(240, 50),
                  **{"q.cod_mg_l": 40.0, "q.nh3n_mg_l": 5.0, "q.chloride_mg_l": 300.0})]
    needs = [row("n", "C", "process_water", "", **months(1000, 1000),
                 water_class="cooling_recirculating", blend="yes")]
    result = solve_match(grid("ABC", {("A", "C"): 4.0, ("B", "C"): 5.0}, offers, needs))
    assert result.summary.families["water"].matched == pytest.approx(440.0)
    assert result.solver.objective == pytest.approx(2050.0)
    by_month = result.tables["exchanges_monthly"]
    q = {(m, o): v for m, o, v in zip(by_month["month"], by_month["offer_id"],
                                      by_month["quantity"], strict=True)}
    assert q == pytest.approx({(1, "a"): 100, (1, "b"): 240, (2, "a"): 50, (2, "b"): 50})
    blends = result.tables["blends_monthly"]
    own = blends[blends["scope"] == "need"].set_index(["month", "attribute"])
    assert own.loc[(2, "cod_mg_l"), "average"] == pytest.approx(60.0)
    assert own.loc[(2, "chloride_mg_l"), "average"] == pytest.approx(200.0)
    assert own.loc[(1, "chloride_mg_l"), "average"] == pytest.approx(82000 / 340)
    assert "cooling_recirculating" in own.loc[(1, "chloride_mg_l"), "source"]


def test_a_stockpile_not_needed_is_not_drawn_to_save_distance() -> None:
    """The need takes 10 t a month; a (10 km) makes 10 t a month, b (1 km) 1 t a month and
    has a 100 t stockpile. Everything fits without the stockpile, so stage 2 draws none of
    it, and the distance stage may not spend it: b's 12 t at 1 km, a's 108 t at 10 km."""
    ash = {"q.loi_pct": 3.0, "q.so3_pct": 1.0, **ASH}
    offers = [row("a", "A", "fly_ash", "", **{f"m{t:02d}": 10 for t in range(1, 13)}, **ash),
              row("b", "B", "fly_ash", "", **{f"m{t:02d}": 1 for t in range(1, 13)},
                  stock=100, generated=12, used_existing=0, **ash)]
    needs = [row("n", "C", "fly_ash", "", **{f"m{t:02d}": 10 for t in range(1, 13)},
                 **{"max.loi_pct": 7, "max.so3_pct": 2.5}, blend="yes")]
    result = solve_match(grid("ABC", {("A", "C"): 10.0, ("B", "C"): 1.0}, offers, needs))
    assert result.solver.methods == ("lp_highs",)
    assert result.summary.tonnes_matched == pytest.approx(120.0)
    assert result.summary.monthly.stockpile_drawn == pytest.approx(0.0, abs=1e-6)
    assert result.summary.tonne_km == pytest.approx(12 * 1 + 108 * 10)
