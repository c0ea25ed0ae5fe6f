"""The official bulk solid waste rate (大宗工业固废综合利用率): hand-computed baseline and plan
rates with and without stockpiles and existing use, materials in and out of the bulk scope,
the stockpile drawn only after surplus, the baseline columns' validation, the CLI headline."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from symbiosis import dataset_from_records
from symbiosis.bulk import load_bulk_scope
from symbiosis.errors import InvalidDataError
from symbiosis.matching import MatchOptions, solve_match

Rows = list[dict[str, Any]]


def ents(*ids: str) -> Rows:
    return [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in ids]


def run(offers: Rows, needs: Rows, km: dict[tuple[str, str], float],
        **options: Any) -> Any:
    ids = sorted({r["enterprise_id"] for r in offers + needs})
    ds = dataset_from_records({
        "enterprises": ents(*ids), "offers": offers, "needs": needs,
        "distances": [{"from_id": a, "to_id": b, "distance_km": d}
                      for (a, b), d in km.items()]})
    return solve_match(ds, MatchOptions(**options))


def test_no_baseline_columns_is_flagged_not_official() -> None:
    """100 t fly ash, 60 t taken: 60 % of listed surplus, not the official rate, no
    baseline rate, no target judged."""
    r = run([{"id": "o", "enterprise_id": "A", "material": "fly_ash", "quantity": 100}],
            [{"id": "n", "enterprise_id": "B", "material": "fly_ash", "quantity": 60}],
            {("A", "B"): 10})
    b = r.summary.bulk_solid_waste
    assert b is not None
    assert b.official is False
    assert b.utilization_rate == pytest.approx(0.6)
    assert b.baseline_rate is None
    assert b.target_met is None
    assert "NOT the official" in b.note
    assert r.summary.listed_surplus_share_matched == pytest.approx(0.6)


def test_existing_use_counts_and_non_bulk_is_excluded() -> None:
    """Fly ash: generated 1,000 t, 800 t used today, 200 t surplus, 150 t taken by the plan:
    baseline 800/1000 = 80 %, plan (800 + 150) / 1000 = 95 %, target 57 % met. Waste heat
    and reclaimed water are outside the scope and change nothing."""
    r = run([{"id": "o", "enterprise_id": "A", "material": "fly_ash", "quantity": 200,
              "generated": 1000, "used_existing": 800},
             {"id": "h", "enterprise_id": "A", "material": "waste_heat", "quantity": 500},
             {"id": "w", "enterprise_id": "A", "material": "reclaimed_water",
              "quantity": 500}],
            [{"id": "n", "enterprise_id": "B", "material": "fly_ash", "quantity": 150},
             {"id": "nh", "enterprise_id": "B", "material": "process_heat", "quantity": 500}],
            {("A", "B"): 5})
    b = r.summary.bulk_solid_waste
    assert b is not None and b.official
    assert (b.generated, b.used_existing, b.matched, b.stock_used) == (1000, 800, 150, 0)
    assert b.baseline_rate == pytest.approx(0.8)
    assert b.utilization_rate == pytest.approx(0.95)
    assert b.target.value == 0.57 and len(b.target.sources) == 2
    assert b.target_met is True
    assert b.materials_counted == ["fly_ash"]
    assert b.materials_excluded == ["reclaimed_water", "waste_heat"]
    assert b.materials["fly_ash"].sub_target is None


def test_blank_generated_is_quantity_plus_existing_use() -> None:
    """used_existing 50, surplus 50, generated blank = 100; all 50 taken: 50 % -> 100 %."""
    r = run([{"id": "o", "enterprise_id": "A", "material": "coal_gangue", "quantity": 50,
              "used_existing": 50}],
            [{"id": "n", "enterprise_id": "B", "material": "coal_gangue", "quantity": 80}],
            {("A", "B"): 5})
    b = r.summary.bulk_solid_waste
    assert b is not None
    assert b.generated == 100
    assert b.baseline_rate == pytest.approx(0.5)
    assert b.utilization_rate == pytest.approx(1.0)


@pytest.mark.parametrize("method", ["auto", "lp"])
def test_stock_drawn_after_surplus_counts_in_both_terms(method: str) -> None:
    """Steel slag: generated 300, used today 200, surplus 100, stockpile 50; a need of 130
    takes the 100 t surplus and 30 t of stock: (200 + 130) / (300 + 30) = 100 %, baseline
    200/300."""
    r = run([{"id": "o", "enterprise_id": "A", "material": "steel_slag", "quantity": 100,
              "generated": 300, "used_existing": 200, "stock": 50}],
            [{"id": "n", "enterprise_id": "B", "material": "steel_slag", "quantity": 130}],
            {("A", "B"): 5}, method=method)
    b = r.summary.bulk_solid_waste
    assert b is not None
    assert b.matched == pytest.approx(130)
    assert b.matched_from_surplus == pytest.approx(100)
    assert b.stock_used == pytest.approx(30)
    assert b.stock == 50
    assert b.utilization_rate == pytest.approx(330 / 330)
    assert b.baseline_rate == pytest.approx(200 / 300)
    assert r.exchanges["quantity"].sum() == pytest.approx(130)
    # the listed share counts the stock drawn with what was offered: 130 / (100 + 30)
    assert r.summary.utilization_rate == pytest.approx(1.0)
    assert r.summary.tonnes_unmatched == pytest.approx(0.0)
    assert r.summary.materials["steel_slag"].utilization_rate == pytest.approx(1.0)
    row = r.offers.set_index("offer_id").loc["o"]
    assert (row["offered"], row["stock"]) == (100, 50)
    assert row["stock_used"] == pytest.approx(30) and row["unmatched"] == 0


@pytest.mark.parametrize("method", ["auto", "lp"])
def test_no_stockpile_drawn_while_another_surplus_could_serve(method: str) -> None:
    """A1 (1 km, surplus 10, stock 10) and A2 (50 km, surplus 10) face a need of 20: the plan
    takes both surpluses (10 x 1 + 10 x 50 = 510 t-km) rather than A1's nearer stockpile.
    With a need of 25 it draws 5 t of stock: (0 + 25) / (20 + 5) = 100 %."""
    offers = [{"id": "o1", "enterprise_id": "A1", "material": "fly_ash", "quantity": 10,
               "stock": 10, "used_existing": 0},
              {"id": "o2", "enterprise_id": "A2", "material": "fly_ash", "quantity": 10,
               "used_existing": 0}]
    km = {("A1", "B"): 1, ("A2", "B"): 50}
    r = run(offers, [{"id": "n", "enterprise_id": "B", "material": "fly_ash",
                      "quantity": 20}], km, method=method)
    b = r.summary.bulk_solid_waste
    assert b is not None
    assert b.stock_used == pytest.approx(0.0, abs=1e-9)
    assert r.summary.tonne_km == pytest.approx(510)
    assert b.utilization_rate == pytest.approx(1.0)
    r = run(offers, [{"id": "n", "enterprise_id": "B", "material": "fly_ash",
                      "quantity": 25}], km, method=method)
    b = r.summary.bulk_solid_waste
    assert b is not None
    assert b.stock_used == pytest.approx(5.0)
    assert b.utilization_rate == pytest.approx(25 / 25)
    assert b.generated == 20


def test_sub_targets_exclude_red_mud() -> None:
    """BF slag: generated 100, used 50, surplus 50, 30 taken -> 80 % (smelting slag excluding
    red mud: 73 % met). Red mud: 100 t surplus, none taken: in the 57 % scope, outside the
    73 % group. Overall (50 + 30) / 200 = 40 %: not met. FGD gypsum: generated 100, used 60,
    none taken -> 60 % against 73 %: not met."""
    r = run([{"id": "s", "enterprise_id": "A", "material": "bf_slag", "quantity": 50,
              "generated": 100, "used_existing": 50},
             {"id": "r", "enterprise_id": "A", "material": "red_mud", "quantity": 100,
              "generated": 100, "used_existing": 0},
             {"id": "g", "enterprise_id": "A", "material": "fgd_gypsum", "quantity": 40,
              "generated": 100, "used_existing": 60}],
            [{"id": "n", "enterprise_id": "B", "material": "bf_slag", "quantity": 30}],
            {("A", "B"): 5})
    b = r.summary.bulk_solid_waste
    assert b is not None
    assert b.utilization_rate == pytest.approx((50 + 30 + 60) / 300)
    assert b.target_met is False
    slag = b.groups["smelting_slag_excl_red_mud"]
    assert slag.materials == ["bf_slag"]
    assert slag.utilization_rate == pytest.approx(0.8)
    assert slag.target.value == 0.73 and slag.target_met is True
    gypsum = b.groups["by_product_gypsum"]
    assert gypsum.utilization_rate == pytest.approx(0.6) and gypsum.target_met is False
    assert "red_mud" not in b.groups or b.groups["red_mud"].materials == ["red_mud"]
    assert b.materials["red_mud"].sub_target is None
    assert b.materials["bf_slag"].sub_target_met is True


def test_scope_table_covers_every_built_in_byproduct_with_a_source() -> None:
    from symbiosis import load_taxonomy

    scope = load_bulk_scope()
    byproducts = {s for s, m in load_taxonomy().materials.items() if m.kind == "byproduct"}
    assert byproducts <= set(scope.entries)
    assert all(e.source for e in scope.entries.values())
    assert scope.is_bulk("red_mud") and scope.is_bulk("bottom_ash")
    assert not scope.is_bulk("waste_heat")
    assert scope.total.value == 0.57


@pytest.mark.parametrize(("row", "column", "message"), [
    ({"quantity": 10, "generated": 50, "used_existing": 60}, "generated",
     "generated 50 is below used_existing 60"),
    ({"quantity": 0}, "quantity", "must be > 0, got 0"),
    ({"quantity": 10, "stock": -1}, "stock", "must be >= 0, got -1"),
    ({"quantity": 10, "used_existing": "x"}, "used_existing", "not a finite number: 'x'"),
])
def test_baseline_columns_are_validated(row: dict[str, Any], column: str,
                                        message: str) -> None:
    offer = {"id": "o", "enterprise_id": "A", "material": "fly_ash", **row}
    with pytest.raises(InvalidDataError) as info:
        dataset_from_records({"enterprises": ents("A", "B"), "offers": [offer],
                              "needs": [{"enterprise_id": "B", "material": "fly_ash",
                                         "quantity": 1}]})
    found = [(p.file, p.row, p.column, p.message) for p in info.value.problems]
    assert ("offers", 2, column, message) in found


def test_zero_surplus_allowed_with_a_baseline_and_short_generation_warned() -> None:
    ds = dataset_from_records({
        "enterprises": ents("A", "B"),
        "offers": [{"id": "o", "enterprise_id": "A", "material": "fly_ash", "quantity": 0,
                    "generated": 100, "used_existing": 100},
                   {"id": "p", "enterprise_id": "A", "material": "fly_ash", "quantity": 30,
                    "generated": 100, "used_existing": 80}],
        "needs": [{"enterprise_id": "B", "material": "fly_ash", "quantity": 1}]})
    warned = [(p.row, p.column) for p in ds.warnings if "below used_existing + quantity"
              in p.message]
    assert warned == [(3, "generated")]


def _write(folder: Path, name: str, rows: Rows) -> None:
    with (folder / name).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_cli_leads_with_baseline_to_plan_against_target(tmp_path: Path, run_cli: Any) -> None:
    data = tmp_path / "ds"
    data.mkdir()
    _write(data, "enterprises.csv", ents("A", "B"))
    _write(data, "offers.csv", [{"id": "o", "enterprise_id": "A", "material": "fly_ash",
                                 "quantity": 200, "generated": 1000,
                                 "used_existing": 400}])
    _write(data, "needs.csv", [{"id": "n", "enterprise_id": "B", "material": "fly_ash",
                                "quantity": 150}])
    _write(data, "distances.csv", [{"from_id": "A", "to_id": "B", "distance_km": 3}])
    proc = run_cli("match", data, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "Bulk solid waste utilization rate (official)" in text
    assert "40.0 % today -> 55.0 % with the plan; target 57.0 %: not met" in text
    text_csv = (tmp_path / "out" / "exchanges.csv").read_text(encoding="utf-8-sig")
    ex = list(csv.DictReader(text_csv.splitlines()))
    assert [float(r["quantity"]) for r in ex] == [150.0]
    proc = run_cli("match", data, "--out", tmp_path / "out2", "--lang", "zh")
    assert "大宗工业固废综合利用率（官方口径）" in proc.stdout


def test_slag_powder_is_not_counted_twice_in_the_listed_share() -> None:
    """A steel works lists 100 t granulated slag; the grinding plant takes it in and lists
    the 100 t of powder it grinds, of which a concrete plant takes 40 t. Counting the powder
    too gives (100 + 40) / 200 = 70 %; the slag's tonnes were placed once, at the grinding
    plant: the listed share is 100 / 100 = 100 %, as the official rate counts it (the
    powder is outside the bulk scope). Tonnes offered and matched stay physical (200, 140),
    and so does the contract's utilization_rate (140 / 200)."""
    r = run([{"id": "slag", "enterprise_id": "S", "material": "bf_slag", "quantity": 100},
             {"id": "pow", "enterprise_id": "G", "material": "slag_powder", "quantity": 100}],
            [{"id": "mill", "enterprise_id": "G", "material": "bf_slag", "quantity": 100},
             {"id": "mix", "enterprise_id": "C", "material": "concrete_admixture",
              "quantity": 40}],
            {("S", "G"): 10, ("G", "C"): 10}, accept_unstated_quality=True)
    s = r.summary
    assert s.tonnes_offered == 200.0 and s.tonnes_matched == 140.0
    assert s.listed_surplus_share_matched == 1.0
    assert s.utilization_rate == 0.7  # the CLI contract's matched / offered, all listings
    assert s.materials["slag_powder"].matched == 40.0  # the powder's exchange is reported
    assert s.bulk_solid_waste is not None
    assert s.bulk_solid_waste.materials_counted == ["bf_slag"]
    assert s.bulk_solid_waste.utilization_rate == 1.0
    assert load_bulk_scope().is_derived("slag_powder")
    assert load_bulk_scope().is_derived("steel_slag_powder")
    assert not load_bulk_scope().is_derived("bf_slag")
