"""Monthly columns, profiles and storage.csv on load (issue 15): values as the user meant
them, and every bad cell named as file:row:column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import DatasetTables

from symbiosis.dataset import load_dataset, validate_dataset
from symbiosis.errors import InvalidDataError
from symbiosis.months import MONTH_COLUMNS, is_monthly, load_profiles, monthly_quantities

MONTHS = [f"m{t:02d}" for t in range(1, 13)]


def with_months(tables: DatasetTables, table: str, rows: dict[int, list[str]]) -> DatasetTables:
    """Add m01..m12 to `table`, filling the given spreadsheet rows (others blank)."""
    n = len(tables.tables[table]) - 1
    for j, col in enumerate(MONTHS):
        tables.add_column(table, col, [rows.get(r, [""] * 12)[j] for r in range(2, n + 2)])
    return tables


def errors(folder: Path) -> list[str]:
    return [str(p) for p in validate_dataset(folder) if p.severity == "error"]


def test_blank_quantity_takes_the_sum_of_the_months(dataset_tables: DatasetTables,
                                                     tmp_path: Path) -> None:
    kiln = ["0", "0", "100", "100", "50", "50", "50", "50", "50", "50", "50", "50"]
    with_months(dataset_tables, "needs", {2: kiln}).set("needs", 2, "quantity", "")
    data = load_dataset(dataset_tables.write_csv(tmp_path / "ds"))
    assert data.needs.loc["ND1", "quantity"] == 600
    assert is_monthly(data)
    months = monthly_quantities(data.needs)
    assert months[0].tolist() == [float(v) for v in kiln]
    assert months[1] == pytest.approx([200 / 12] * 12)  # no months: even
    assert months.sum(axis=1) == pytest.approx(data.needs["quantity"].to_numpy())


def test_a_dataset_without_months_is_annual(demo_path: Path) -> None:
    data = load_dataset(demo_path)
    assert not is_monthly(data)
    assert not set(MONTH_COLUMNS) & set(data.offers.columns)


def test_months_in_a_unit_are_converted_with_the_quantity(dataset_tables: DatasetTables,
                                                          tmp_path: Path) -> None:
    with_months(dataset_tables, "offers", {2: ["0.01"] * 12})
    dataset_tables.set("offers", 2, "quantity", "").set("offers", 2, "unit", "万吨")
    data = load_dataset(dataset_tables.write_csv(tmp_path / "ds"))
    assert data.offers.loc["OF1", "quantity"] == pytest.approx(1200)
    assert monthly_quantities(data.offers)[0] == pytest.approx([100.0] * 12)


def test_rounded_months_are_scaled_to_the_quantity_with_a_warning(
        dataset_tables: DatasetTables, tmp_path: Path) -> None:
    with_months(dataset_tables, "offers", {2: ["83"] * 12})  # 996, quantity 1000
    folder = dataset_tables.write_csv(tmp_path / "ds")
    data = load_dataset(folder)
    assert monthly_quantities(data.offers)[0].sum() == pytest.approx(1000)
    assert any("scaled" in p.message and p.row == 2 for p in data.warnings)


@pytest.mark.parametrize(("row", "months", "quantity", "expected"), [
    (2, ["100"] * 12, "1000", "offers.csv:2:quantity: quantity 1000 is not the sum of "
                              "m01..m12 (1200)"),
    (2, ["100", "-5"] + ["100"] * 10, "", "offers.csv:2:m02: must be >= 0, got -5"),
    (3, ["x"] + ["10"] * 11, "", "offers.csv:3:m01: not a finite number: 'x'"),
])
def test_bad_months_are_named(dataset_tables: DatasetTables, tmp_path: Path, row: int,
                              months: list[str], quantity: str, expected: str) -> None:
    with_months(dataset_tables, "offers", {row: months}).set("offers", row, "quantity",
                                                             quantity)
    found = errors(dataset_tables.write_csv(tmp_path / "ds"))
    assert any(expected in e for e in found), found
    assert len(found) == 1, found


def test_an_empty_quantity_without_months_is_an_error(dataset_tables: DatasetTables,
                                                      tmp_path: Path) -> None:
    dataset_tables.set("needs", 3, "quantity", "")
    assert [e.split("needs.csv:", 1)[1] for e in errors(dataset_tables.write_csv(
        tmp_path / "ds"))] == ["3:quantity: value is empty"]


def test_a_need_whose_months_are_all_zero_is_an_error(dataset_tables: DatasetTables,
                                                      tmp_path: Path) -> None:
    with_months(dataset_tables, "needs", {4: ["0"] * 12}).set("needs", 4, "quantity", "")
    found = errors(dataset_tables.write_csv(tmp_path / "ds"))
    assert [e.split("needs.csv:", 1)[1] for e in found] == [
        "4:quantity: must be > 0, got 0 (the sum of m01..m12)"]


def test_profiles_named_and_unknown(dataset_tables: DatasetTables, tmp_path: Path) -> None:
    dataset_tables.add_column("needs", "profile",
                              ["cement_kiln_hunan_staggered", "", "cement_kiln_hunan"])
    found = errors(dataset_tables.write_csv(tmp_path / "ds"))
    assert len(found) == 1
    assert "needs.csv:4:profile: unknown profile 'cement_kiln_hunan' (did you mean " \
           "'cement_kiln_hunan_staggered'?)" in found[0]
    dataset_tables.set("needs", 4, "profile", "calendar_days")
    data = load_dataset(dataset_tables.write_csv(tmp_path / "ok"))
    months = monthly_quantities(data.needs)
    shares = load_profiles()["cement_kiln_hunan_staggered"].shares
    assert months[0] == pytest.approx(600 * shares)
    assert months[2] == pytest.approx(900 * np.array([31, 28, 31, 30, 31, 30, 31, 31, 30,
                                                      31, 30, 31]) / 365)


def test_every_builtin_profile_has_a_source_and_weights() -> None:
    for profile in load_profiles().values():
        assert profile.source and profile.confidence
        assert len(profile.weights) == 12 and profile.shares.sum() == pytest.approx(1.0)


def storage_rows(tables: DatasetTables, rows: list[list[str]]) -> DatasetTables:
    tables.tables["storage"] = [["enterprise_id", "material", "capacity", "initial",
                                 "cost_per_unit_month", "loss_pct_per_month"], *rows]
    return tables


def test_storage_is_read_with_its_side_and_listing(dataset_tables: DatasetTables,
                                                   tmp_path: Path) -> None:
    storage_rows(dataset_tables, [["PWR1", "fly_ash", "300", "", "2", ""],
                                  ["CEM1", "fly_ash", "500", "100", "", "1.5"]])
    data = load_dataset(dataset_tables.write_csv(tmp_path / "ds"))
    assert data.storage["side"].tolist() == ["supplier", "receiver"]
    assert data.storage["listing_id"].tolist() == ["OF1", "ND1"]  # fly ash serves admixture
    assert data.storage["initial"].tolist() == [0, 100]
    assert is_monthly(data)


@pytest.mark.parametrize(("row", "expected"), [
    (["XXX", "fly_ash", "300", "", "", ""], "storage.csv:2:enterprise_id: 'XXX' is not an id "
                                            "in enterprises.csv"),
    (["PWR1", "moon_dust", "300", "", "", ""], "storage.csv:2:material: unknown material "
                                               "'moon_dust'"),
    (["PWR1", "fly_ash", "100", "200", "", ""], "storage.csv:2:capacity: capacity 100 is "
                                                "below initial 200"),
    (["PWR1", "fly_ash", "-1", "", "", ""], "storage.csv:2:capacity: must be >= 0, got -1"),
    (["PWR1", "fly_ash", "10", "", "-2", ""], "storage.csv:2:cost_per_unit_month: must be "
                                              ">= 0, got -2"),
    (["PWR1", "fly_ash", "10", "", "", "120"], "storage.csv:2:loss_pct_per_month: must be at "
                                               "most 100 (percent), got 120"),
    (["PWR1", "fly_ash", "ten", "", "", ""], "storage.csv:2:capacity: not a finite number: "
                                             "'ten'"),
])
def test_bad_storage_rows_are_named(dataset_tables: DatasetTables, tmp_path: Path,
                                    row: list[str], expected: str) -> None:
    storage_rows(dataset_tables, [row])
    found = errors(dataset_tables.write_csv(tmp_path / "ds"))
    assert len(found) == 1 and expected in found[0], found


def test_a_store_serving_several_listings_is_an_error(dataset_tables: DatasetTables,
                                                      tmp_path: Path) -> None:
    dataset_tables.append("offers", ["OF4", "PWR1", "fly_ash", "50", "t", "4"])
    storage_rows(dataset_tables, [["PWR1", "fly_ash", "10", "", "", ""],
                                  ["PWR1", "fly_ash", "20", "", "", ""]])
    found = errors(dataset_tables.write_csv(tmp_path / "ds"))
    assert any("storage.csv:2:material: 'PWR1' has 2 offers" in e for e in found), found
    assert any("storage.csv:3:material: storage of 'fly_ash' at 'PWR1' listed twice" in e
               for e in found), found


def test_cli_validate_lists_month_and_storage_problems(dataset_tables: DatasetTables,
                                                       tmp_path: Path, run_cli: Any) -> None:
    with_months(dataset_tables, "offers", {2: ["100"] * 12})
    storage_rows(dataset_tables, [["PWR1", "fly_ash", "100", "200", "", ""]])
    folder = dataset_tables.write_csv(tmp_path / "ds")
    proc = run_cli("validate", folder)
    assert proc.returncode == 1
    assert "offers.csv:2:quantity" in proc.stdout + proc.stderr
    assert "storage.csv:2:capacity" in proc.stdout + proc.stderr
    out = tmp_path / "out"
    proc = run_cli("match", folder, "--out", out)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert not out.exists()
    with pytest.raises(InvalidDataError):
        load_dataset(folder)


def test_cli_profiles_lists_the_hunan_kiln_profile_with_its_source(run_cli: Any) -> None:
    proc = run_cli("profiles", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "cement_kiln_hunan_staggered" in proc.stdout and "85" in proc.stdout
    proc = run_cli("profiles", "--lang", "zh")
    assert proc.returncode == 0 and "错峰" in proc.stdout


def test_months_and_storage_under_chinese_headers(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "enterprises.csv").write_text("id,name,lon,lat\nPWR,电厂,112.90,27.86\n"
                                            "CEM,水泥厂,113.00,27.86\n", encoding="utf-8")
    (folder / "offers.csv").write_text("id,enterprise_id,material,quantity\n"
                                       "OF1,PWR,fly_ash,1200\n", encoding="utf-8")
    months = ",".join(f"{t}月" for t in range(1, 13))
    (folder / "needs.csv").write_text(f"id,enterprise_id,material,quantity,{months}\n"
                                      "ND1,CEM,fly_ash,,0,0,200,200,100,100,100,100,100,"
                                      "100,100,100\n", encoding="utf-8")
    (folder / "库存.csv").write_text("企业编号,物料,库容,期初库存\nPWR,粉煤灰,150,20\n",
                                   encoding="utf-8")
    data = load_dataset(folder)
    assert monthly_quantities(data.needs)[0, :3].tolist() == [0, 0, 200]
    assert data.storage[["enterprise_id", "material", "capacity", "initial"]].values.tolist() \
        == [["PWR", "fly_ash", 150, 20]]
