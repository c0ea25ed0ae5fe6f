"""Dataset loading and validation (`symbiosis.dataset`).

Every bad input is reported as `file:row:column` with a precise message, rows counted as a
spreadsheet shows them (header = row 1), every problem in one run; good inputs load. Each
case starts from the small valid base dataset of `conftest.py` and changes one thing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd
import pytest

from symbiosis.dataset import load_dataset, validate_dataset
from symbiosis.errors import InvalidDataError, Problem

if TYPE_CHECKING:
    from conftest import DatasetTables

Format = Literal["csv", "xlsx"]
# (table, row, column, key phrase of the message, severity); `{ent}` in the phrase stands for
# the enterprises file as messages name it (`enterprises.csv` or `ds.xlsx[enterprises]`)
Expected = tuple[str, int | None, str | None, str, Literal["error", "warning"]]
E: Literal["error"] = "error"
W: Literal["warning"] = "warning"


@dataclass(frozen=True)
class Case:
    """One bad input: how to break the base dataset and exactly what must be reported."""

    id: str
    edit: Callable[[DatasetTables], object]
    expected: tuple[Expected, ...]
    csv_only: bool = False


CASES = [
    Case("missing_required_column",
         lambda d: d.drop_column("offers", "quantity"),
         (("offers", 1, "quantity", "required column is missing", E),)),
    Case("empty_required_value",
         lambda d: d.set("offers", 3, "enterprise_id", ""),
         (("offers", 3, "enterprise_id", "value is empty", E),)),
    Case("non_numeric_quantity",
         lambda d: d.set("offers", 2, "quantity", "abc").set("needs", 3, "quantity", "1,5"),
         (("offers", 2, "quantity", "not a finite number: 'abc'", E),
          ("needs", 3, "quantity", "not a finite number: '1,5'", E))),
    Case("quantity_not_positive",
         lambda d: d.set("offers", 2, "quantity", "0").set("needs", 4, "quantity", "-3"),
         (("offers", 2, "quantity", "must be > 0, got 0", E),
          ("needs", 4, "quantity", "must be > 0, got -3", E))),
    Case("quantity_not_finite",
         lambda d: d.set("offers", 3, "quantity", "inf").set("needs", 2, "quantity", "nan"),
         (("offers", 3, "quantity", "not a finite number: 'inf'", E),
          ("needs", 2, "quantity", "not a finite number: 'nan'", E))),
    Case("lon_out_of_range",
         lambda d: d.set("enterprises", 3, "lon", "200"),
         (("enterprises", 3, "lon", "longitude 200 is outside [-180, 180]", E),)),
    Case("lat_out_of_range_swapped",
         lambda d: d.set("enterprises", 4, "lon", "27.83").set("enterprises", 4, "lat", "112.9"),
         (("enterprises", 4, "lat",
           "latitude 112.9 is outside [-90, 90] (are lon and lat swapped?)", E),)),
    Case("duplicate_enterprise_id",
         lambda d: d.append("enterprises", ["CEM1", "Second kiln", "3011", "112.96", "27.91"]),
         (("enterprises", 6, "id", "duplicate id 'CEM1' (first at row 3)", E),)),
    Case("duplicate_offer_id",
         lambda d: d.set("offers", 4, "id", "OF1"),
         (("offers", 4, "id", "duplicate id 'OF1' (first at row 2)", E),)),
    Case("unknown_enterprise_with_suggestion",
         lambda d: d.set("offers", 4, "enterprise_id", "STL2"),
         (("offers", 4, "enterprise_id", "'STL2' is not an id in {ent} (did you mean 'STL1'?)",
           E),)),
    Case("unknown_material_with_suggestion",
         lambda d: d.set("offers", 2, "material", "fly_asj"),
         (("offers", 2, "material",
           "unknown material 'fly_asj' (did you mean 'fly_ash' (粉煤灰, Coal fly ash)?)", E),)),
    Case("unit_contradicts_material",
         lambda d: d.set("offers", 2, "unit", "GJ"),
         (("offers", 2, "unit", "'GJ' is a unit of energy but 'fly_ash' is measured in t "
           "(mass)", E),)),
    Case("distances_unknown_id",
         lambda d: d.set("distances", 2, "to_id", "CEM9").set("distances", 3, "from_id", "QQQ"),
         (("distances", 2, "to_id", "'CEM9' is not an id in {ent}", E),
          ("distances", 3, "from_id", "'QQQ' is not an id in {ent}", E))),
    Case("distances_negative",
         lambda d: d.set("distances", 3, "distance_km", "-4"),
         (("distances", 3, "distance_km", "must be >= 0, got -4", E),)),
    Case("distances_pair_listed_twice",
         lambda d: d.append("distances", ["PWR1", "CEM1", "13"]),
         (("distances", 4, "to_id", "pair listed twice (first at row 2)", E),)),
    Case("substitution_ratio_not_positive",
         lambda d: d.set("substitutions", 3, "ratio", "0").set("substitutions", 4, "ratio",
                                                                "-0.5"),
         (("substitutions", 3, "ratio", "must be > 0, got 0", E),
          ("substitutions", 4, "ratio", "must be > 0, got -0.5", E))),
    Case("substitution_same_material",
         lambda d: d.append("substitutions", ["fly_ash", "fly_ash", "1"]),
         (("substitutions", 5, "offer_material",
           "'fly_ash' always serves 'fly_ash' at ratio 1; remove this row", E),)),
    Case("substitution_duplicate_rule",
         lambda d: d.append("substitutions", ["cement_admixture", "bf_slag", "0.9"]),
         (("substitutions", 5, "offer_material",
           "duplicate rule bf_slag -> cement_admixture (first at row 3)", E),)),
    Case("substitution_cross_family",
         lambda d: d.append("substitutions", ["cement_admixture", "reclaimed_water", "1"]),
         (("substitutions", 5, "offer_material",
           "'reclaimed_water' (water) cannot serve 'cement_admixture' (mass): rules must stay "
           "within one unit family", E),)),
    Case("substitution_material_typo_becomes_custom",
         lambda d: d.set("substitutions", 4, "offer_material", "fgd_gypsm"),
         (("substitutions", 4, "offer_material",
           "material 'fgd_gypsm' is not built in (did you mean 'fgd_gypsum'?): taken as t "
           "(mass)", W),)),
    Case("need_min_above_max",
         lambda d: d.add_column("needs", "min.loi_pct", ["", "5", ""])
                    .add_column("needs", "max.loi_pct", ["", "3", ""]),
         (("needs", 3, "min.loi_pct", "min.loi_pct 5 is above max.loi_pct 3", E),)),
    Case("row_longer_than_header_after_blank_line",
         lambda d: d.insert_blank("offers", 3)
                    .set_row("offers", 5, ["OF3", "STL1", "bf_slag", "800", "t", "", "note"]),
         (("offers", 5, None, "row has 7 fields but the header has 6", E),),
         csv_only=True),
    Case("column_name_typo",
         lambda d: d.rename_column("offers", "quantity", "quantiy"),
         (("offers", 1, "quantiy", "unknown column, ignored (did you mean 'quantity'?)", W),
          ("offers", 1, "quantity", "required column is missing", E))),
    Case("extra_column_is_only_a_warning",
         lambda d: d.add_column("offers", "contact", ["a@pwr.cn", "a@pwr.cn", "b@stl.cn"]),
         (("offers", 1, "contact", "unknown column, ignored; expected columns: id,", W),)),
    Case("unused_quality_attribute",
         lambda d: d.add_column("offers", "q.whiteness", ["80", "", ""]),
         (("offers", 1, "q.whiteness",
           "no rule or need limits 'whiteness'; the column has no effect", W),)),
    Case("blank_lines_keep_row_numbers",
         lambda d: d.insert_blank("offers", 3).insert_blank("offers", 4)
                    .set("offers", 6, "quantity", "abc")
                    .insert_blank("distances", 2).set("distances", 4, "distance_km", "-1"),
         (("offers", 6, "quantity", "not a finite number: 'abc'", E),
          ("distances", 4, "distance_km", "must be >= 0, got -1", E))),
    Case("several_errors_in_every_file",
         lambda d: d.set("enterprises", 3, "lat", "abc")
                    .set("offers", 4, "quantity", "-3")
                    .set("needs", 2, "material", "fly_asj")
                    .set("substitutions", 4, "ratio", "0")
                    .set("distances", 3, "to_id", "CEM9"),
         (("enterprises", 3, "lat", "not a finite number: 'abc'", E),
          ("offers", 4, "quantity", "must be > 0, got -3", E),
          ("needs", 2, "material",
           "unknown material 'fly_asj' (did you mean 'fly_ash' (粉煤灰, Coal fly ash)?)", E),
          ("substitutions", 4, "ratio", "must be > 0, got 0", E),
          ("distances", 3, "to_id", "'CEM9' is not an id in {ent}", E))),
    Case("unusable_table_does_not_hide_other_files",
         lambda d: d.drop_column("offers", "quantity")
                    .set("needs", 3, "enterprise_id", "CEMX")
                    .set("distances", 2, "distance_km", "-1"),
         (("offers", 1, "quantity", "required column is missing", E),
          ("needs", 3, "enterprise_id", "'CEMX' is not an id in {ent}", E),
          ("distances", 2, "distance_km", "must be >= 0, got -1", E))),
]


def write_dataset(tables: DatasetTables, tmp_path: Path, fmt: Format
                  ) -> tuple[Path, Callable[[str], str]]:
    """Write `tables` as a CSV folder or a workbook; return its path and the file label of
    each table as problems name it."""
    if fmt == "csv":
        folder = tables.write_csv(tmp_path / "ds")
        return folder, lambda table: str(folder / f"{table}.csv")
    book = tables.write_xlsx(tmp_path / "ds.xlsx")
    return book, lambda table: f"{book}[{table}]"


def assert_problems(problems: list[Problem], expected: tuple[Expected, ...],
                    label: Callable[[str], str]) -> None:
    """`problems` are exactly `expected` (as a multiset of file/row/column/severity), and each
    message contains its key phrase."""
    ent = Path(label("enterprises")).name
    want = [(label(t), row, col, sev) for t, row, col, _, sev in expected]
    got = [(p.file, p.row, p.column, p.severity) for p in problems]
    assert Counter(got) == Counter(want), "\n".join(map(str, problems))
    for table, row, col, phrase, sev in expected:
        messages = [p.message for p in problems
                    if (p.file, p.row, p.column, p.severity) == (label(table), row, col, sev)]
        assert any(phrase.format(ent=ent) in m for m in messages), (phrase, messages)


# a workbook row cannot hold more cells than its header names: csv_only cases run on CSV only
FORMAT_CASES = [pytest.param(case, fmt, id=f"{case.id}-{fmt}")
                for case in CASES for fmt in ("csv", "xlsx")
                if fmt == "csv" or not case.csv_only]


@pytest.mark.parametrize(("case", "fmt"), FORMAT_CASES)
def test_bad_input_is_reported_precisely(case: Case, fmt: Format, dataset_tables: DatasetTables,
                                         tmp_path: Path) -> None:
    """Each bad input gives exactly the expected problems, located at file:row:column with the
    key phrase, in a CSV folder and in a workbook (`<path>[offers]:row:column`) alike."""
    case.edit(dataset_tables)
    path, label = write_dataset(dataset_tables, tmp_path, fmt)
    assert_problems(validate_dataset(path), case.expected, label)


@pytest.mark.parametrize("case", [c for c in CASES if any(e[4] == E for e in c.expected)],
                         ids=lambda c: c.id)
def test_load_dataset_raises_with_every_error(case: Case, dataset_tables: DatasetTables,
                                              tmp_path: Path) -> None:
    """`load_dataset` refuses a bad dataset, and its exception lists the same problems (errors
    and warnings) as `validate_dataset`."""
    case.edit(dataset_tables)
    folder = dataset_tables.write_csv(tmp_path / "ds")
    with pytest.raises(InvalidDataError) as info:
        load_dataset(folder)
    assert info.value.problems == validate_dataset(folder)
    errors = sum(e[4] == E for e in case.expected)
    assert str(info.value).startswith(f"{errors} problem(s) in the dataset:")


@pytest.mark.parametrize("case", [c for c in CASES if all(e[4] == W for e in c.expected)],
                         ids=lambda c: c.id)
def test_warnings_alone_do_not_stop_loading(case: Case, dataset_tables: DatasetTables,
                                            tmp_path: Path) -> None:
    """A dataset with only warnings loads, carries the warnings, and drops unknown columns."""
    case.edit(dataset_tables)
    folder = dataset_tables.write_csv(tmp_path / "ds")
    dataset = load_dataset(folder)
    assert list(dataset.warnings) == validate_dataset(folder)
    assert len(dataset.offers) == 3
    assert "contact" not in dataset.offers.columns


def test_missing_required_file_does_not_hide_other_files(dataset_tables: DatasetTables,
                                                         tmp_path: Path) -> None:
    """A missing offers.csv is named, and errors in the other files are still listed."""
    dataset_tables.remove("offers").set("needs", 3, "quantity", "abc")
    folder = dataset_tables.write_csv(tmp_path / "ds")
    assert [(p.file, p.row, p.column, p.message) for p in validate_dataset(folder)] == [
        (str(folder / "offers.csv"), None, None, "required file is missing"),
        (str(folder / "needs.csv"), 3, "quantity", "not a finite number: 'abc'"),
    ]


def test_missing_required_sheet(dataset_tables: DatasetTables, tmp_path: Path) -> None:
    """A workbook without an offers sheet is reported against the workbook itself."""
    book = dataset_tables.remove("offers").write_xlsx(tmp_path / "ds.xlsx")
    problems = validate_dataset(book)
    assert [(p.file, p.row, p.column, p.message) for p in problems] == [
        (str(book), None, None, "required sheet 'offers' is missing; the workbook has "
         "'enterprises', 'needs', 'substitutions', 'distances'"),
    ]


def test_missing_dataset_path(tmp_path: Path) -> None:
    """A path that does not exist is one error naming it, not an exception."""
    problems = validate_dataset(tmp_path / "nowhere")
    assert [(p.file, p.severity) for p in problems] == [(str(tmp_path / "nowhere"), "error")]
    assert "not found" in problems[0].message


def test_unknown_enterprise_far_from_every_id_has_no_suggestion(
        dataset_tables: DatasetTables, tmp_path: Path) -> None:
    """'did you mean' appears only when an id is close to a known one."""
    dataset_tables.set("needs", 2, "enterprise_id", "ZZZZZZ")
    folder = dataset_tables.write_csv(tmp_path / "ds")
    (problem,) = validate_dataset(folder)
    assert (problem.row, problem.column) == (2, "enterprise_id")
    assert problem.message == "'ZZZZZZ' is not an id in enterprises.csv"


def test_ragged_row_does_not_hide_other_errors_in_its_file(dataset_tables: DatasetTables,
                                                           tmp_path: Path) -> None:
    """Every over-long row is reported, and the rest of that file is still checked."""
    dataset_tables.set_row("offers", 2, ["OF1", "PWR1", "fly_ash", "1", "000", "t", "4.5"])
    dataset_tables.append("offers", ["OF4", "PWR1", "fly_ash", "10", "t", "", "x", "y"])
    dataset_tables.set("offers", 3, "quantity", "abc")
    folder = dataset_tables.write_csv(tmp_path / "ds")
    label = str(folder / "offers.csv")
    found = [(p.file, p.row, p.column, p.message) for p in validate_dataset(folder)
             if p.severity == "error"]
    assert (label, 2, None, "row has 7 fields but the header has 6") in found
    assert (label, 5, None, "row has 8 fields but the header has 6") in found
    assert (label, 3, "quantity", "not a finite number: 'abc'") in found


def test_gbk_csv_loads_with_a_warning(dataset_tables: DatasetTables, tmp_path: Path) -> None:
    """A CSV saved as GBK/GB18030 (Excel on Chinese Windows) loads with its Chinese text intact
    and a warning naming the file."""
    dataset_tables.set("enterprises", 2, "name", "湘潭电厂")
    dataset_tables.set("enterprises", 3, "name", "湘潭水泥厂")
    dataset_tables.set("enterprises", 2, "park", "湘潭经开区")
    folder = dataset_tables.write_csv(tmp_path / "ds", encoding="gb18030")
    problems = validate_dataset(folder)
    assert [(p.file, p.row, p.column, p.severity) for p in problems] == [
        (str(folder / "enterprises.csv"), None, None, "warning")]
    assert "GB18030" in problems[0].message
    dataset = load_dataset(folder)
    assert dataset.enterprises.loc["PWR1", "name"] == "湘潭电厂"
    assert dataset.enterprises.loc["CEM1", "name"] == "湘潭水泥厂"
    assert dataset.enterprises.loc["PWR1", "park"] == "湘潭经开区"


def test_ids_are_generated_from_spreadsheet_rows(dataset_tables: DatasetTables,
                                                 tmp_path: Path) -> None:
    """Without an id column, offers are named O<row> and needs N<row>, rows as a spreadsheet
    shows them (a blank line counts)."""
    dataset_tables.drop_column("offers", "id").drop_column("needs", "id")
    dataset_tables.insert_blank("offers", 3)
    dataset = load_dataset(dataset_tables.write_csv(tmp_path / "ds"))
    assert dataset.offers.index.tolist() == ["O2", "O4", "O5"]
    assert dataset.needs.index.tolist() == ["N2", "N3", "N4"]
    assert dataset.offers.loc["O5", "material"] == "bf_slag"


def test_base_dataset_loads_with_fixed_index_names(dataset_tables: DatasetTables,
                                                   tmp_path: Path) -> None:
    """The base dataset is clean and loads into frames with the contract's index names and
    typed columns."""
    folder = dataset_tables.write_csv(tmp_path / "ds")
    assert validate_dataset(folder) == []
    ds = load_dataset(folder)
    assert ds.enterprises.index.name == "enterprise_id"
    assert ds.offers.index.name == "offer_id"
    assert ds.needs.index.name == "need_id"
    assert ds.enterprises.index.tolist() == ["PWR1", "CEM1", "CEM2", "STL1"]
    assert ds.offers["quantity"].tolist() == [1000.0, 500.0, 800.0]
    assert ds.offers.loc["OF1", "q.loi_pct"] == 4.5
    assert ds.quality_columns == ["q.loi_pct"]
    assert ds.distances.to_dict("records") == [
        {"from_id": "PWR1", "to_id": "CEM1", "distance_km": 12.5},
        {"from_id": "STL1", "to_id": "CEM2", "distance_km": 130.0},
    ]
    assert set(ds.taxonomy.rules) == {("cement_admixture", "fly_ash"),
                                      ("cement_admixture", "bf_slag"),
                                      ("set_retarder", "fgd_gypsum")}
    assert ds.warnings == ()


def test_workbook_loads_the_same_as_csv_folder(dataset_tables: DatasetTables, demo_path: Path,
                                               tmp_path: Path) -> None:
    """The demo converted to an .xlsx workbook loads into frames identical to the CSV folder's."""
    demo = type(dataset_tables).from_csv_folder(demo_path)
    book = demo.write_xlsx(tmp_path / "demo.xlsx")
    from_csv, from_xlsx = load_dataset(demo_path), load_dataset(book)
    for name in ("enterprises", "offers", "needs", "distances"):
        pd.testing.assert_frame_equal(getattr(from_xlsx, name), getattr(from_csv, name))


def test_bundled_demo_is_clean(demo_path: Path) -> None:
    """The bundled Hunan demo validates with no errors and no warnings."""
    assert validate_dataset(demo_path) == []
    ds = load_dataset(demo_path)
    assert (len(ds.enterprises), len(ds.offers), len(ds.needs)) == (43, 38, 48)
