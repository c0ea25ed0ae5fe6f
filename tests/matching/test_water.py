"""Water by quality: reclaimed-water offers state contaminant concentrations, needs take the
limits of a GB/T 19923 use class (symbiosis/data/water_classes.csv), blends meet them on
the volume-weighted average."""

from __future__ import annotations

from pathlib import Path

import pytest
from grades_support import grid, row

from symbiosis.dataset import load_dataset
from symbiosis.errors import InvalidDataError
from symbiosis.grades import water_classes
from symbiosis.matching.model import solve_match

LINKS = {("A", "C"): 4.0, ("B", "C"): 5.0}


def _water(b_qty: float = 240.0, blend: str = "yes") -> tuple[list[dict[str, object]], ...]:
    """a: COD 80 mg/L (over 60), chloride 100; b: COD 40, chloride 300 (over 250)."""
    offers = [row("a", "A", "reclaimed_water", 100,
                  **{"q.cod_mg_l": 80.0, "q.nh3n_mg_l": 5.0, "q.chloride_mg_l": 100.0}),
              row("b", "B", "reclaimed_water", b_qty,
                  **{"q.cod_mg_l": 40.0, "q.nh3n_mg_l": 5.0, "q.chloride_mg_l": 300.0})]
    needs = [row("n", "C", "process_water", 1000, water_class="cooling_recirculating",
                 blend=blend)]
    return offers, needs


def test_the_class_sets_the_needs_limits_for_the_attributes_offers_state() -> None:
    offers, needs = _water()
    data = grid("ABC", LINKS, offers, needs)
    n = data.needs.loc["n"]
    assert (n["max.cod_mg_l"], n["max.nh3n_mg_l"], n["max.chloride_mg_l"]) == (60, 10, 250)
    assert "max.tds_mg_l" not in data.needs  # no offer states TDS: not checked, warned
    warned = [str(p) for p in data.warnings if p.column == "water_class"]
    assert len(warned) == 1
    assert "bod5_mg_l, hardness_mg_l, tds_mg_l" in warned[0]


def test_a_water_blend_by_hand() -> None:
    """COD: 20a - 20b <= 0, so a <= b; chloride: -150a + 50b <= 0, so b <= 3a. a = 100 (all),
    b = 240: 340 m3; COD (8000 + 9600) / 340 = 51.76, chloride (10000 + 72000) / 340 =
    241.18 mg/L; m3-km = 100 x 4 + 240 x 5 = 1600."""
    offers, needs = _water()
    result = solve_match(grid("ABC", LINKS, offers, needs))
    q = dict(zip(result.exchanges["offer_id"], result.exchanges["quantity"], strict=True))
    assert q == pytest.approx({"a": 100.0, "b": 240.0})
    assert result.summary.families["water"].matched == pytest.approx(340.0)
    own = result.blends[result.blends["scope"] == "need"].set_index("attribute")
    assert own.loc["cod_mg_l", "average"] == pytest.approx(17600 / 340)
    assert own.loc["chloride_mg_l", "average"] == pytest.approx(82000 / 340)
    assert "cooling_recirculating" in own.loc["chloride_mg_l", "source"]
    # GB/T 19923's COD limit is also the rule's (rule_limits.csv): one row per scope
    rule = result.blends[result.blends["scope"] == "reclaimed_water->process_water"]
    assert set(rule["attribute"]) == {"cod_mg_l", "nh3n_mg_l"}


def test_more_of_the_clean_offer_binds_the_chloride_row() -> None:
    """b = 400: a <= b and b <= 3a with a <= 100: b = 300, 400 m3, chloride exactly 250."""
    offers, needs = _water(b_qty=400.0)
    result = solve_match(grid("ABC", LINKS, offers, needs))
    q = dict(zip(result.exchanges["offer_id"], result.exchanges["quantity"], strict=True))
    assert q == pytest.approx({"a": 100.0, "b": 300.0})
    own = result.blends[result.blends["scope"] == "need"].set_index("attribute")
    assert own.loc["chloride_mg_l", "average"] == pytest.approx(250.0)


def test_without_blending_neither_water_serves_the_class() -> None:
    offers, needs = _water(blend="no")
    assert solve_match(grid("ABC", LINKS, offers, needs)).exchanges.empty


def test_the_classes_carry_their_standard() -> None:
    classes = water_classes()
    assert {"cooling_once_through", "cooling_recirculating", "washing", "process"} \
        <= set(classes)
    assert all("GB/T 19923" in lim.source for lims in classes.values() for lim in lims)


def test_an_unknown_class_names_file_row_and_column(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "enterprises.csv").write_text(
        "id,name,lon,lat\nA,A,112.9,28.0\nC,C,112.9,28.01\n", encoding="utf-8")
    (folder / "offers.csv").write_text(
        "id,enterprise_id,material,quantity,q.cod_mg_l\na,A,reclaimed_water,100,50\n",
        encoding="utf-8")
    (folder / "needs.csv").write_text(
        "id,enterprise_id,material,quantity,water_class\n"
        "n,C,process_water,100,cooling_recirculating\nm,C,process_water,100,drinking\n",
        encoding="utf-8")
    with pytest.raises(InvalidDataError) as err:
        load_dataset(folder)
    errors = [p for p in err.value.problems if p.severity == "error"]
    assert [(Path(p.file).name, p.row, p.column) for p in errors] == [
        ("needs.csv", 3, "water_class")]
    assert "drinking" in errors[0].message
