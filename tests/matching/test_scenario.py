"""What-if scenarios: changes applied to stored rows (which stay untouched), every bad change
reported at once against its index, and baseline-versus-scenario figures on the demo that
can be checked by hand (a removed plant's tonnes, a new taker's fill, no change = no delta)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from symbiosis.dataset import load_dataset
from symbiosis.errors import InvalidDataError
from symbiosis.matching.model import MatchOptions, solve_match
from symbiosis.matching.scenario import (
    AddEnterprise,
    RemoveEnterprise,
    SetQuantity,
    apply_changes,
    compare_scenario,
)
from symbiosis.matching.summary import Headline
from symbiosis.store import DatasetRows, dataset_from_rows, rows_from_dataset

HEADLINE_KEYS = tuple(Headline.model_fields)

if TYPE_CHECKING:
    from conftest import DatasetTables

# the demo's Xiangtan power plant offers 504,000 t fly ash, 126,000 t bottom ash and
# 129,000 t FGD gypsum, needs 10,000,000 m3 process water, and has one listed distance
XT_PWR1_TONNES = 504_000 + 126_000 + 129_000


@pytest.fixture(scope="module")
def demo_rows(demo_path: Path) -> DatasetRows:
    return rows_from_dataset(load_dataset(demo_path))


@pytest.fixture
def small_rows(dataset_tables: DatasetTables, tmp_path: Path) -> DatasetRows:
    """The 4-enterprise base dataset of conftest (it has substitutions and distances)."""
    return rows_from_dataset(load_dataset(dataset_tables.write_csv(tmp_path / "ds")))


def _where(exc: pytest.ExceptionInfo[InvalidDataError]) -> list[tuple[object, ...]]:
    return [(p.file, p.row, p.column) for p in exc.value.problems]


def test_remove_drops_listings_and_distances_and_leaves_input_alone(
        small_rows: DatasetRows) -> None:
    before = copy.deepcopy(small_rows)
    rows, sentences = apply_changes(small_rows, [RemoveEnterprise("PWR1")])
    assert small_rows == before
    assert [e["id"] for e in rows.enterprises] == ["CEM1", "CEM2", "STL1"]
    assert [o["id"] for o in rows.offers] == ["OF3"]
    assert [n["id"] for n in rows.needs] == ["ND1", "ND2", "ND3"]
    assert rows.distances == [{"from_id": "STL1", "to_id": "CEM2", "distance_km": 130.0}]
    assert rows.substitutions == small_rows.substitutions
    assert sentences == [
        "Remove enterprise PWR1 'Xiangtan power plant' with its 2 offer(s) (fly_ash 1,000 "
        "t/yr, fgd_gypsum 500 t/yr) and 0 need(s) (none); 1 listed distance(s) go with it."]


def test_set_quantity_edits_a_copy(small_rows: DatasetRows) -> None:
    rows, sentences = apply_changes(small_rows, [SetQuantity("offer", "OF1", 1250.5),
                                                 SetQuantity("need", "ND3", 400)])
    assert next(o for o in rows.offers if o["id"] == "OF1")["quantity"] == 1250.5
    assert next(n for n in rows.needs if n["id"] == "ND3")["quantity"] == 400.0
    assert next(o for o in small_rows.offers if o["id"] == "OF1")["quantity"] == 1000.0
    assert sentences == [
        "Set offer OF1 (fly_ash of PWR1) from 1,000 to 1,250.5 t/yr.",
        "Set need ND3 (cement_admixture of CEM2) from 900 to 400 t/yr."]


def test_added_listings_get_stable_unique_ids(small_rows: DatasetRows) -> None:
    add = AddEnterprise(
        {"id": "BRD1", "name": "Board plant", "sector": 3024, "lon": "112.9", "lat": 27.9},
        offers=[{"material": "fly_ash", "quantity": 10, "q.loi_pct": 3},
                {"material": "fly_ash", "quantity": "20"},
                {"id": "MINE", "material": "bf_slag", "quantity": 5}],
        needs=[{"material": "set_retarder", "quantity": 70, "unit": "t"}])
    rows, sentences = apply_changes(small_rows, [add])
    new = [o for o in rows.offers if o["enterprise_id"] == "BRD1"]
    assert [o["id"] for o in new] == ["OF-BRD1-fly_ash", "OF-BRD1-fly_ash-2", "MINE"]
    assert [o["quantity"] for o in new] == [10.0, 20.0, 5.0]
    assert new[0]["q.loi_pct"] == 3.0 and new[1]["q.loi_pct"] is None
    assert [n["id"] for n in rows.needs if n["enterprise_id"] == "BRD1"] == \
        ["ND-BRD1-set_retarder"]
    ent = rows.enterprises[-1]
    assert ent == {"id": "BRD1", "name": "Board plant", "sector": "3024", "lon": 112.9,
                   "lat": 27.9, "park": ""}
    assert sentences == [
        "Add enterprise BRD1 'Board plant' at lon 112.9, lat 27.9, offering fly_ash 10 t/yr, "
        "fly_ash 20 t/yr, bf_slag 5 t/yr and needing set_retarder 70 t/yr."]
    # the rows validate as a file would
    ds = dataset_from_rows(rows)
    assert ds.offers.loc["OF-BRD1-fly_ash", "q.loi_pct"] == 3.0


def test_a_new_attribute_column_reaches_every_row(small_rows: DatasetRows) -> None:
    add = AddEnterprise({"id": "N1", "name": "n", "lon": 112.9, "lat": 27.9},
                        offers=[{"material": "fly_ash", "quantity": 1, "q.so3_pct": 2.5}])
    rows, _ = apply_changes(small_rows, [add])
    assert rows.offer_columns == (*small_rows.offer_columns, "q.so3_pct")
    assert all("q.so3_pct" in o for o in rows.offers)
    assert [o["q.so3_pct"] for o in rows.offers] == [None, None, None, 2.5]


def test_a_removed_id_can_be_reused_by_a_later_addition(small_rows: DatasetRows) -> None:
    rebuilt = AddEnterprise({"id": "PWR1", "name": "new unit", "lon": 112.88, "lat": 27.86},
                            offers=[{"material": "fly_ash", "quantity": 300}])
    rows, _ = apply_changes(small_rows, [RemoveEnterprise("PWR1"), rebuilt])
    assert [(o["id"], o["quantity"]) for o in rows.offers] == \
        [("OF3", 800.0), ("OF-PWR1-fly_ash", 300.0)]
    assert rows.distances == [{"from_id": "STL1", "to_id": "CEM2", "distance_km": 130.0}]


def test_every_bad_change_is_reported_at_its_index(small_rows: DatasetRows) -> None:
    changes = [
        RemoveEnterprise("PWR"),                                   # 0 unknown, suggested
        RemoveEnterprise("PWR1"),                                  # 1 fine
        SetQuantity("offer", "OF1", 5),                            # 2 removed by change 1
        RemoveEnterprise("PWR1"),                                  # 3 removed twice
        SetQuantity("need", "ND1", 0),                             # 4 zero
        SetQuantity("need", "ND3", 10),                            # 5 fine
        SetQuantity("need", "ND3", 20),                            # 6 set twice
        SetQuantity("offer", "OF9", 1),                            # 7 unknown id
        AddEnterprise({"id": "CEM1", "lon": 1, "lat": 2, "colour": "red"},
                      offers=[{"material": "fly_sh", "quantity": -1},
                              {"id": "OF3", "material": "bf_slag", "quantity": 1}],
                      needs=[{"material": "set_retarder", "quantity": 1,
                              "min.caso4 pct": 90}]),              # 8 many problems
        SetQuantity("offers", "OF3", 1),                           # type: ignore[arg-type]
    ]
    with pytest.raises(InvalidDataError) as exc:
        apply_changes(small_rows, changes)
    assert _where(exc) == [
        ("changes", 0, "id"), ("changes", 2, "id"), ("changes", 3, "id"),
        ("changes", 4, "quantity"), ("changes", 6, "id"), ("changes", 7, "id"),
        ("changes", 8, "enterprise.id"), ("changes", 8, "enterprise.colour"),
        ("changes", 8, "offers[0].material"), ("changes", 8, "offers[0].quantity"),
        ("changes", 8, "offers[1].id"), ("changes", 8, "needs[0].min.caso4 pct"),
        ("changes", 9, "listing"),
    ]
    messages = [p.message for p in exc.value.problems]
    assert messages[0] == "'PWR' is not an enterprise id (did you mean 'PWR1'?)"
    assert messages[1] == "offer 'OF1' was removed with enterprise 'PWR1' by change 1"
    assert messages[2] == "enterprise 'PWR1' is already removed by change 1"
    assert messages[4] == "the quantity of need 'ND3' is already set by change 5"
    assert messages[6] == "duplicate id: enterprise 'CEM1' is already in the dataset"
    assert messages[8] == ("unknown material 'fly_sh' (did you mean 'fly_ash' (粉煤灰, Coal fly "
                           "ash)?)")
    assert str(exc.value.problems[0]) == \
        "changes:0:id: 'PWR' is not an enterprise id (did you mean 'PWR1'?)"


def test_value_problems_of_added_rows_point_at_the_change(small_rows: DatasetRows) -> None:
    changes = [SetQuantity("offer", "OF1", 2000),
               AddEnterprise({"id": "N1", "name": "n", "lon": 500, "lat": 27.9},
                             offers=[{"material": "fly_ash", "quantity": 5,
                                      "treatment_cost": -3, "q.loi_pct": "high"}])]
    with pytest.raises(InvalidDataError) as exc:
        compare_scenario(small_rows, changes)
    assert _where(exc) == [("changes", 1, "enterprise.lon"),
                           ("changes", 1, "offers[0].q.loi_pct"),
                           ("changes", 1, "offers[0].treatment_cost")]


def test_a_scenario_without_offers_is_refused_plainly(small_rows: DatasetRows) -> None:
    with pytest.raises(InvalidDataError, match="leaves no offers"):
        compare_scenario(small_rows, [RemoveEnterprise("PWR1"), RemoveEnterprise("STL1")])


def test_no_changes_means_no_difference(demo_rows: DatasetRows) -> None:
    comparison = compare_scenario(demo_rows, [])
    assert comparison.changes == []
    assert comparison.exchanges_diff == []
    assert comparison.baseline == comparison.scenario
    assert set(comparison.delta) == set(HEADLINE_KEYS)
    # numbers move by 0; flags and names (bulk_official, park ...) have no difference
    assert all(v == 0 if isinstance(comparison.baseline[k], int | float)
               and not isinstance(comparison.baseline[k], bool) else v is None
               for k, v in comparison.delta.items())


def test_removing_the_xiangtan_power_plant(demo_rows: DatasetRows, demo_path: Path) -> None:
    comparison = compare_scenario(demo_rows, [RemoveEnterprise("XT-PWR1")])
    # the baseline is exactly a plain run of the demo
    assert comparison.baseline == solve_match(load_dataset(demo_path)).headline().model_dump()
    # 10,083,000 t of by-products plus the 1,350,000 t of slag powder the two grinding
    # plants offer (GB/T 18046-2017)
    assert comparison.baseline["tonnes_offered"] == 11_433_000
    assert comparison.delta["tonnes_offered"] == -XT_PWR1_TONNES
    assert comparison.scenario["tonnes_offered"] == 11_433_000 - XT_PWR1_TONNES
    assert comparison.delta["enterprises"] == -1
    gone = [r for r in comparison.exchanges_diff if r["offer_enterprise_id"] == "XT-PWR1"]
    assert gone and all(r["change"] == "vanished" and r["quantity_after"] is None
                        for r in gone)
    # what it shipped plus what it received (process water) is all that vanished with it
    shipped = comparison.baseline_result.exchanges
    assert sum(r["quantity_before"] for r in gone) == pytest.approx(
        shipped.loc[shipped["offer_enterprise_id"] == "XT-PWR1", "quantity"].sum(), rel=1e-12)
    for key, value in comparison.delta.items():
        a, b = comparison.baseline[key], comparison.scenario[key]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
        assert value == (b - a if numeric else None)


def test_a_board_plant_beside_the_unmatched_phosphogypsum(demo_rows: DatasetRows) -> None:
    """HY-PHO1 has 390,000 t phosphogypsum left over (86 % CaSO4·2H2O, below the 90 % the
    existing board plants ask for). A board plant next to it that asks for no purity takes
    100,000 t, so delivery rises by exactly that."""
    plant = AddEnterprise(
        {"id": "HY-GYP2", "name": "Hengyang board plant 2", "sector": "3024",
         "lon": 112.59, "lat": 26.87, "park": ""},
        needs=[{"material": "wallboard_gypsum", "quantity": 100_000}])
    comparison = compare_scenario(demo_rows, [plant])
    assert comparison.delta["tonnes_matched"] == 100_000
    assert comparison.delta["tonnes_offered"] == 0
    assert comparison.delta["enterprises"] == 1
    into_new = [r for r in comparison.exchanges_diff if r["need_enterprise_id"] == "HY-GYP2"]
    assert all(r["change"] == "appeared" for r in into_new)
    assert sum(r["quantity_after"] for r in into_new) == pytest.approx(100_000, rel=1e-12)
    assert comparison.changes == [
        "Add enterprise HY-GYP2 'Hengyang board plant 2' at lon 112.59, lat 26.87, offering "
        "none and needing wallboard_gypsum 100,000 t/yr."]


def test_set_quantity_and_options_flow_through(demo_rows: DatasetRows) -> None:
    options = MatchOptions(max_km=60.0, valuate=False)
    comparison = compare_scenario(
        demo_rows, [SetQuantity("offer", "OF-CZ-MIN1-tailings", 140_000)], options)
    # the tailings have no taker within reach, so only the offered tonnes move
    assert comparison.delta["tonnes_offered"] == -1_000_000
    assert comparison.delta["tonnes_matched"] == 0
    assert comparison.exchanges_diff == []
    assert comparison.scenario_result.summary.to_dict()["parameters"]["max_km"] == 60.0


def test_as_dict_is_json_without_frames(demo_rows: DatasetRows) -> None:
    body = compare_scenario(demo_rows, [RemoveEnterprise("ZX-PWR1")]).as_dict()
    assert list(body) == ["baseline", "scenario", "delta", "changes", "exchanges_diff",
                          "solver"]
    assert body["solver"]["scenario"]["model"] == "continuous"  # no integer feature
    text = json.dumps(body, allow_nan=False)
    assert json.loads(text) == body
    assert body["exchanges_diff"][0].keys() == {
        "change", "offer_enterprise_id", "need_enterprise_id", "offer_material",
        "need_material", "quantity_before", "quantity_after", "distance_km"}
