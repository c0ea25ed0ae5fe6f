"""Data in the form a park office has it (issue 14, items 1-3): Chinese and English aliases
for sheets, headers and materials, title rows, units, and Excel habits (merged cells,
formulas, percent formats, thousands separators, full-width digits, UTF-16 and BOM CSVs).

Every case is a hand-made workbook (openpyxl) or CSV (Python codecs) edited from the small
base dataset of conftest.py; values are checked exactly.
"""

from __future__ import annotations

import codecs
import csv
import math
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import DatasetTables

from symbiosis import readers
from symbiosis.contract import match_key
from symbiosis.dataset import ROW, load_dataset, validate_dataset
from symbiosis.errors import InvalidDataError, Problem
from symbiosis.matching import solve_match

ZH_SHEETS = {"enterprises": "企业", "offers": "副产物供给", "needs": "原料需求",
             "substitutions": "替代", "distances": "距离"}
ZH_COLUMNS = {
    "enterprises": {"id": "企业编号", "name": "企业名称", "sector": "行业代码", "lon": "经度",
                    "lat": "纬度", "park": "园区"},
    "offers": {"id": "编号", "enterprise_id": "企业编号", "material": "物料名称",
               "quantity": "数量", "unit": "单位"},
    "needs": {"id": "编号", "enterprise_id": "企业编号", "material": "物料",
              "quantity": "数量", "unit": "单位"},
}
ZH_MATERIALS = {"fly_ash": "粉煤灰", "fgd_gypsum": "脱硫石膏", "bf_slag": "高炉渣",
                "cement_admixture": "水泥混合材", "set_retarder": "水泥缓凝剂"}


def _messages(problems: list[Problem]) -> list[tuple[str, int | None, str | None, str, str]]:
    return [(Path(p.file).name, p.row, p.column, p.message, p.severity) for p in problems]


def _to_chinese(d: DatasetTables) -> DatasetTables:
    """The base dataset as a Chinese office writes it: Chinese headers and material names,
    quantities in 万吨 (or 千吨) with a unit per row."""
    for table, names in ZH_COLUMNS.items():
        header = d.tables[table][0]
        d.tables[table][0] = [names.get(h, h) for h in header]
    for table in ("offers", "needs"):
        rows = d.tables[table]
        m, q, u = (rows[0].index(c) for c in ("物料名称" if table == "offers" else "物料",
                                              "数量", "单位"))
        for row in rows[1:]:
            row[m] = ZH_MATERIALS[row[m]]
            row[q] = f"{float(row[q]) / 1000:g}"
            row[u] = "千吨"
    return d


def _xlsx(d: DatasetTables, path: Path, sheets: dict[str, str] | None = None) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for name, rows in d.tables.items():
        ws = book.create_sheet((sheets or {}).get(name, name))
        for row in rows:
            ws.append([_number_or_text(v) for v in row])
    book.save(path)
    return path


def _number_or_text(text: str) -> object:
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) and text.strip() == text and "," not in text \
        else text


# ----------------------------------------------------------------------------- item 1


def test_match_key_ignores_case_width_and_spaces() -> None:
    """`Quantity`, full-width `ＱＵＡＮＴＩＴＹ` and `enterprise id` match the contract names."""
    assert match_key("Quantity") == match_key("ＱＵＡＮＴＩＴＹ") == match_key("quantity")
    assert match_key("enterprise id") == match_key("Enterprise_ID") == "enterpriseid"
    assert match_key("企业 编号") == match_key("企业编号")


def test_chinese_workbook_gives_the_same_plan_as_the_plain_format(
        dataset_tables: DatasetTables, tmp_path: Path) -> None:
    """Chinese sheet names, headers, material names and 千吨 give the same dataset and the
    same exchanges as the plain contract."""
    plain = load_dataset(dataset_tables.write_xlsx(tmp_path / "plain.xlsx"))
    zh = load_dataset(_xlsx(_to_chinese(dataset_tables), tmp_path / "zh.xlsx", ZH_SHEETS))
    for table in ("enterprises", "offers", "needs"):
        left = getattr(plain, table)
        right = getattr(zh, table)[left.columns]
        pd.testing.assert_frame_equal(left, right, check_dtype=False)
    a = solve_match(plain).exchanges
    b = solve_match(zh).exchanges
    assert len(a) > 0
    same = [c for c in a.columns if c != "rule_source"]  # names the file the rule came from
    pd.testing.assert_frame_equal(a[same].reset_index(drop=True),
                                  b[same].reset_index(drop=True))


def test_chinese_csv_files_are_found_by_their_names(dataset_tables: DatasetTables,
                                                    tmp_path: Path) -> None:
    """企业.csv, 副产物供给.csv and 原料需求.csv are the enterprises, offers and needs."""
    folder = tmp_path / "zh"
    folder.mkdir()
    for table, rows in _to_chinese(dataset_tables).tables.items():
        with (folder / f"{ZH_SHEETS[table]}.csv").open("w", encoding="utf-8",
                                                      newline="") as f:
            csv.writer(f).writerows(rows)
    dataset = load_dataset(folder)
    assert dataset.offers.loc["OF1", "quantity"] == 1000.0
    assert dataset.offers.loc["OF1", "material"] == "fly_ash"
    assert dataset.needs.loc["ND3", "quantity"] == 900.0


def test_capitalised_headers_are_accepted(dataset_tables: DatasetTables,
                                          tmp_path: Path) -> None:
    """`Quantity`, `ＵＮＩＴ` (full-width) and `Enterprise ID` are the contract's columns."""
    dataset_tables.rename_column("offers", "quantity", "Quantity")
    dataset_tables.rename_column("offers", "unit", "ＵＮＩＴ")
    dataset_tables.rename_column("offers", "enterprise_id", "Enterprise ID")
    dataset = load_dataset(dataset_tables.write_csv(tmp_path / "ds"))
    assert dataset.offers.loc["OF3", "quantity"] == 800.0
    assert dataset.offers.loc["OF3", "enterprise_id"] == "STL1"
    assert dataset.warnings == ()


def test_missing_sheet_lists_the_sheets_that_exist(dataset_tables: DatasetTables,
                                                   tmp_path: Path) -> None:
    """A sheet named by nothing in the contract is reported with the sheets there are."""
    book = _xlsx(dataset_tables, tmp_path / "ds.xlsx", {"offers": "Sheet3"})
    (problem,) = validate_dataset(book)
    assert problem.message == ("required sheet 'offers' is missing; the workbook has "
                               "'enterprises', 'Sheet3', 'needs', 'substitutions', 'distances'")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_header_below_title_rows_is_found_and_rows_keep_their_numbers(
        dataset_tables: DatasetTables, tmp_path: Path, fmt: str) -> None:
    """Two title rows above the header: the header is row 3, a warning says so, and a bad
    value in the first data row is reported at row 4 under the user's own header."""
    dataset_tables.tables["offers"][0] = ["编号", "企业编号", "物料", "数量", "单位", "q.loi_pct"]
    dataset_tables.set("offers", 2, "数量", "abc")
    rows = dataset_tables.tables["offers"]
    dataset_tables.tables["offers"] = [["湘潭经开区副产物台账（2025年）"], [], *rows]
    path = (dataset_tables.write_csv(tmp_path / "ds") if fmt == "csv"
            else _xlsx(dataset_tables, tmp_path / "ds.xlsx"))
    name = "offers.csv" if fmt == "csv" else "ds.xlsx[offers]"
    assert _messages(validate_dataset(path)) == [
        (name, 3, None, "header taken from row 3; the 2 row(s) above it are read as titles",
         "warning"),
        (name, 4, "数量", "not a finite number: 'abc'", "error"),
    ]


def test_chinese_material_names_and_synonyms_resolve(dataset_tables: DatasetTables,
                                                     tmp_path: Path) -> None:
    """粉煤灰 (the taxonomy's name_zh) and 水渣 (a synonym) resolve, with a note each."""
    dataset_tables.set("offers", 2, "material", "粉煤灰").set("offers", 4, "material", "水渣")
    folder = dataset_tables.write_csv(tmp_path / "ds")
    dataset = load_dataset(folder)
    assert dataset.offers.loc[["OF1", "OF3"], "material"].tolist() == ["fly_ash", "bf_slag"]
    assert _messages(list(dataset.warnings)) == [
        ("offers.csv", 2, "material", "'粉煤灰' read as material 'fly_ash' (粉煤灰, Coal fly ash)",
         "warning"),
        ("offers.csv", 4, "material",
         "'水渣' read as material 'bf_slag' (高炉渣, Blast-furnace slag (granulated))",
         "warning"),
    ]


def test_unknown_chinese_material_gets_a_bilingual_suggestion(
        dataset_tables: DatasetTables, tmp_path: Path) -> None:
    """A near-miss Chinese name is an error suggesting the slug with both names."""
    dataset_tables.set("offers", 2, "material", "粉煤炭")
    (problem,) = validate_dataset(dataset_tables.write_csv(tmp_path / "ds"))
    assert (problem.row, problem.column, problem.message) == (
        2, "material",
        "unknown material '粉煤炭' (did you mean 'fly_ash' (粉煤灰, Coal fly ash)?)")


# ----------------------------------------------------------------------------- item 2


@pytest.mark.parametrize(("material", "quantity", "unit", "extra", "expected"), [
    ("fly_ash", "5.4", "万吨", {}, 54_000.0),
    ("fly_ash", "5.4", "万t", {}, 54_000.0),
    ("fly_ash", "3", "千吨", {}, 3_000.0),
    ("fly_ash", "3", "kt", {}, 3_000.0),
    ("fly_ash", "1200", "吨", {}, 1_200.0),
    ("fly_ash", "1200", "t/a", {}, 1_200.0),
    ("fly_ash", "10", "t/d", {"operating_days": "330"}, 3_300.0),
    ("fly_ash", "2", "t/h", {"operating_hours": "5000"}, 10_000.0),
    ("waste_heat", "1000", "MWh", {}, 3_600.0),  # 1 MWh = 3.6 GJ exactly
    ("waste_heat", "2.5", "万GJ", {}, 25_000.0),
    ("waste_heat", "5000", "MJ", {}, 5.0),
    ("reclaimed_water", "3", "万m3", {}, 30_000.0),
    ("reclaimed_water", "40", "m³", {}, 40.0),
])
def test_units_convert_into_the_material_unit(dataset_tables: DatasetTables, tmp_path: Path,
                                              material: str, quantity: str, unit: str,
                                              extra: dict[str, str], expected: float) -> None:
    """Each unit is converted per row into the material's unit per year."""
    dataset_tables.set("offers", 2, "material", material).set("offers", 2, "quantity",
                                                              quantity)
    dataset_tables.set("offers", 2, "unit", unit).set("offers", 2, "q.loi_pct", "")
    for column, value in extra.items():
        dataset_tables.add_column("offers", column, [value, "", ""])
    dataset = load_dataset(dataset_tables.write_csv(tmp_path / "ds"))
    assert dataset.offers.loc["OF1", "quantity"] == pytest.approx(expected, rel=1e-12)
    assert dataset.offers.loc["OF1", "unit"] == dataset.taxonomy.materials[material].unit


@pytest.mark.parametrize(("unit", "extra", "column", "message"), [
    ("万m3", {}, "unit", "'万m3' is a unit of water but 'fgd_gypsum' is measured in t (mass)"),
    ("MWh", {}, "unit", "'MWh' is a unit of energy but 'fgd_gypsum' is measured in t (mass)"),
    ("t/d", {}, "operating_days",
     "'t/d' needs operating_days (how many days a year the plant runs) on the row"),
    ("t/h", {"operating_hours": "9000"}, "operating_hours",
     "operating_hours must be in (0, 8784], got 9000"),
    ("桶", {}, "unit", "unknown unit '桶'; use one of t, 吨, kt, 千吨, 万吨, t/d, t/h, GJ, MJ, "
     "万GJ, MWh, m3, 万m3 (per year unless /d or /h)"),
])
def test_unit_errors_name_the_row(dataset_tables: DatasetTables, tmp_path: Path, unit: str,
                                  extra: dict[str, str], column: str, message: str) -> None:
    """A unit of the wrong family, a rate without its operating time, an unknown unit."""
    dataset_tables.set("offers", 3, "unit", unit)
    for name, value in extra.items():
        dataset_tables.add_column("offers", name, ["", value, ""])
    problems = [p for p in validate_dataset(dataset_tables.write_csv(tmp_path / "ds"))
                if p.severity == "error"]
    assert _messages(problems) == [("offers.csv", 3, column, message, "error")]


def test_implausibly_small_fly_ash_of_a_power_plant_is_a_warning(
        dataset_tables: DatasetTables, tmp_path: Path) -> None:
    """54 t/yr of fly ash from a thermal power plant (4411) is most likely 万吨 read as t."""
    dataset_tables.set("offers", 2, "quantity", "54").set("offers", 2, "unit", "")
    dataset = load_dataset(dataset_tables.write_csv(tmp_path / "ds"))
    assert _messages(list(dataset.warnings)) == [
        ("offers.csv", 2, "quantity",
         "54 t/yr of fly_ash is implausibly small for sector 4411 (火力发电 thermal power "
         "(GB/T 4754-2017); expected at least 1000 t/yr): is it in 万吨, or a monthly "
         "figure? State the unit in a unit column", "warning")]


# ----------------------------------------------------------------------------- item 3


def test_merged_park_cells_are_filled_down_with_a_warning(dataset_tables: DatasetTables,
                                                          tmp_path: Path) -> None:
    """A park name merged over three rows belongs to each of the three enterprises."""
    path = dataset_tables.write_xlsx(tmp_path / "ds.xlsx")
    book = openpyxl.load_workbook(path)
    ws = book["enterprises"]
    ws["F2"] = "湘潭经开区"
    ws.merge_cells("F2:F4")
    book.save(path)
    dataset = load_dataset(path)
    assert dataset.enterprises["park"].tolist() == ["湘潭经开区"] * 3 + [""]
    assert _messages(list(dataset.warnings)) == [
        ("ds.xlsx[enterprises]", None, None,
         "merged cells F2:F4: '湘潭经开区' filled into every row of the range", "warning")]


def test_formula_without_a_saved_value_is_an_error(dataset_tables: DatasetTables,
                                                   tmp_path: Path) -> None:
    """openpyxl writes formulas without their value: the cell cannot be read."""
    path = dataset_tables.write_xlsx(tmp_path / "ds.xlsx")
    book = openpyxl.load_workbook(path)
    book["offers"]["D3"] = "=200+300"
    book.save(path)
    assert _messages(validate_dataset(path)) == [
        ("ds.xlsx[offers]", 3, "quantity",
         "formula without a saved value: open and save it in Excel", "error"),
        ("ds.xlsx[offers]", 3, "quantity", "value is empty", "error"),
    ]


def test_percent_formatted_cell_reads_as_the_percentage_shown(
        dataset_tables: DatasetTables, tmp_path: Path) -> None:
    """0.095 formatted as 9.5 % in q.loi_pct is 9.5, with a note."""
    path = dataset_tables.write_xlsx(tmp_path / "ds.xlsx")
    book = openpyxl.load_workbook(path)
    cell = book["offers"]["F2"]
    cell.value = 0.095
    cell.number_format = "0.0%"
    book.save(path)
    dataset = load_dataset(path)
    assert dataset.offers.loc["OF1", "q.loi_pct"] == 9.5
    assert _messages(list(dataset.warnings)) == [
        ("ds.xlsx[offers]", 2, "q.loi_pct", "percent values read as the percentage shown "
         "(e.g. 0.095 shown as 9.5 % -> 9.5): rows 2", "warning")]


@pytest.mark.parametrize(("text", "expected", "note"), [
    ("12,000", 12_000.0, "numbers written with thousands separators read as plain numbers"),
    ("１２０００", 12_000.0, "numbers written with full-width characters read as plain numbers"),
    ("1.2万", 12_000.0, "numbers written with '万' multiplier read as plain numbers"),
    ("1.2万吨", 12_000.0, "numbers written with unit in the cell read as plain numbers"),
])
def test_office_number_forms_are_read_with_a_warning(dataset_tables: DatasetTables,
                                                     tmp_path: Path, text: str,
                                                     expected: float, note: str) -> None:
    """Thousands separators, full-width digits and 万 in a number column."""
    dataset_tables.set("offers", 2, "quantity", text).set("offers", 2, "unit", "")
    dataset = load_dataset(dataset_tables.write_csv(tmp_path / "ds"))
    assert dataset.offers.loc["OF1", "quantity"] == expected
    assert _messages(list(dataset.warnings)) == [
        ("offers.csv", 2, "quantity", f"{note}: rows 2", "warning")]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_utf16_and_bom_csvs_read_correctly(dataset_tables: DatasetTables, tmp_path: Path,
                                           encoding: str) -> None:
    """Excel's "Unicode text" (UTF-16, tab-separated) and UTF-8 with a BOM."""
    dataset_tables.set("enterprises", 2, "name", "湘潭电厂")
    folder = dataset_tables.write_csv(tmp_path / "ds")
    delimiter = "\t" if encoding == "utf-16" else ","
    for path in folder.glob("*.csv"):
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        text = "\r\n".join(delimiter.join(r) for r in rows) + "\r\n"
        path.write_bytes(codecs.encode(text, encoding))
    dataset = load_dataset(folder)
    assert dataset.enterprises.loc["PWR1", "name"] == "湘潭电厂"
    assert dataset.offers.loc["OF1", "quantity"] == 1000.0
    assert dataset.warnings == ()


def test_undecodable_csv_names_itself_and_the_fix(dataset_tables: DatasetTables,
                                                  tmp_path: Path) -> None:
    """Bytes that are neither UTF-8, UTF-16 nor GB18030 are one error naming the file."""
    folder = dataset_tables.write_csv(tmp_path / "ds")
    (folder / "needs.csv").write_bytes(b"id,enterprise_id\n\xff\xfa\xff\x80,x\n")
    with pytest.raises(InvalidDataError) as info:
        load_dataset(folder)
    assert _messages(info.value.problems) == [
        ("needs.csv", None, None, "cannot decode the file: it is not UTF-8, UTF-16 or GB18030 "
         "text. Open it in Excel and save it as 'CSV UTF-8 (comma delimited)'", "error")]


def test_parse_number_forms() -> None:
    """The number forms taken apart, and the row-number column shared with dataset.py."""
    assert readers.parse_number("12万吨") == readers.Parsed(12.0, "万吨", ("unit in the cell",))
    assert readers.parse_number("9.5%").value == 9.5
    assert readers.parse_number("1,5").value is None
    assert readers.ROW == ROW


def test_formula_with_a_saved_value_uses_the_value(dataset_tables: DatasetTables,
                                                   tmp_path: Path) -> None:
    """A formula saved by Excel carries its value (`<v>`): that value is read, silently."""
    path = dataset_tables.write_xlsx(tmp_path / "ds.xlsx")
    book = openpyxl.load_workbook(path)
    book["offers"]["D3"] = "=200+300"
    book.save(path)
    saved = tmp_path / "saved.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(saved, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if b"<f>200+300</f><v />" in data:
                data = data.replace(b"<f>200+300</f><v />", b"<f>200+300</f><v>500</v>")
            dst.writestr(item, data)
    dataset = load_dataset(saved)
    assert dataset.offers.loc["OF2", "quantity"] == 500.0
    assert dataset.warnings == ()


def test_unit_in_the_cell_must_agree_with_the_unit_column(dataset_tables: DatasetTables,
                                                          tmp_path: Path) -> None:
    """`1.2万吨` under a unit column saying `t` is a contradiction, not a guess."""
    dataset_tables.set("offers", 2, "quantity", "1.2万吨")
    problems = [p for p in validate_dataset(dataset_tables.write_csv(tmp_path / "ds"))
                if p.severity == "error"]
    assert _messages(problems) == [
        ("offers.csv", 2, "quantity", "the cell says '万吨' but the unit column says 't'",
         "error")]
