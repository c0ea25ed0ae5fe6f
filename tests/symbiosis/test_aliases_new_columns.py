"""Chinese header aliases for the columns and tables of issues 15 and 16 (issue 16 follow-up):
integer logistics (min_lot, max_partners, contract_cny_per_year, contracts.csv, trucks in
transport.csv), months, storage.csv, heat and water grades and the coefficient of variation.

One hand-made dataset is written twice, with the contract's English headers and with the
headers a Chinese park office uses (symbiosis/data/aliases.csv); both load to equal frames.
"""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from symbiosis.contract import match_key
from symbiosis.dataset import SPECS, TABLES, _contract, load_dataset

MONTHS = [f"m{i:02d}" for i in range(1, 13)]
EN: dict[str, list[list[str]]] = {
    "enterprises": [
        ["id", "name", "sector", "lon", "lat", "park"],
        ["PWR1", "Xiangtan power plant", "4411", "112.88", "27.86", "EDZ"],
        ["CEM1", "Xiangtan cement plant", "3011", "112.95", "27.90", "EDZ"],
        ["WTP1", "Xiangtan water works", "4620", "112.90", "27.87", "EDZ"],
    ],
    "offers": [
        ["id", "enterprise_id", "material", "quantity", "unit", "min_lot", "max_partners",
         "contract_cny_per_year", "cv", "medium", "q.temperature_c", *MONTHS],
        ["OF1", "PWR1", "fly_ash", "1200", "t", "300", "2", "5000", "0.1", "", "",
         *["100"] * 12],
        ["OF2", "PWR1", "waste_heat", "5000", "GJ", "", "", "", "", "steam", "180", *[""] * 12],
        ["OF3", "WTP1", "reclaimed_water", "90000", "m3", "", "", "", "0.05", "", "",
         *[""] * 12],
    ],
    "needs": [
        ["id", "enterprise_id", "material", "quantity", "unit", "min_lot", "max_partners",
         "contract_cny_per_year", "cv", "blend", "water_class", "return_temperature_c",
         "return_share", "min.temperature_c", *MONTHS],
        ["ND1", "CEM1", "cement_admixture", "600", "t", "100", "1", "2000", "0.2", "yes",
         "", "", "", "", *["50"] * 12],
        ["ND2", "CEM1", "process_heat", "3000", "GJ", "", "", "", "", "", "", "90", "0.4",
         "150", *[""] * 12],
        ["ND3", "PWR1", "process_water", "40000", "m3", "", "", "", "", "",
         "cooling_once_through", "", "", "", *[""] * 12],
    ],
    "transport": [
        ["material", "cny_per_unit_km", "loading_cny_per_unit", "kg_co2e_per_unit_km",
         "cny_per_km_year", "truck_capacity_t", "cny_per_trip_km", "source"],
        ["fly_ash", "0.5", "8", "0.078", "", "30", "12", "quote"],
        ["waste_heat", "", "", "", "250000", "", "", "quote"],
    ],
    "carbon": [
        ["need_material", "kg_co2e_per_unit", "displaced", "source"],
        ["cement_admixture", "800", "clinker", "study"],
    ],
    "contracts": [
        ["offer_id", "need_id", "quantity"],
        ["OF1", "ND1", "300"],
    ],
    "storage": [
        ["enterprise_id", "material", "capacity", "initial", "cost_per_unit_month",
         "loss_pct_per_month"],
        ["PWR1", "fly_ash", "500", "100", "2", "0.5"],
    ],
}
ZH_SHEETS = {"enterprises": "企业", "offers": "副产物供给", "needs": "原料需求",
             "transport": "运输", "carbon": "碳排放", "contracts": "现有合同",
             "storage": "贮存设施"}
ZH_COLUMNS: dict[str, dict[str, str]] = {
    "enterprises": {"id": "企业编号", "name": "企业名称", "sector": "行业代码", "lon": "经度",
                    "lat": "纬度", "park": "园区"},
    "offers": {"id": "编号", "enterprise_id": "企业编号", "material": "物料", "quantity": "数量",
               "unit": "单位", "min_lot": "最小批量", "max_partners": "最多合作方",
               "contract_cny_per_year": "合同费用(元/年)", "cv": "变异系数",
               "medium": "介质", "q.temperature_c": "温度(℃)",
               **{m: f"{i}月" for i, m in enumerate(MONTHS, start=1)}},
    "needs": {"id": "编号", "enterprise_id": "企业编号", "material": "物料", "quantity": "数量",
              "unit": "单位", "min_lot": "最低批量", "max_partners": "合作方上限",
              "contract_cny_per_year": "年合同费用", "cv": "年际变异系数",
              "blend": "是否掺配", "water_class": "用水类别",
              "return_temperature_c": "回水温度(℃)", "return_share": "回水热量比例",
              "min.temperature_c": "最低温度(℃)",
              **{m: f"{i}月份" for i, m in enumerate(MONTHS, start=1)}},
    "transport": {"material": "物料", "cny_per_unit_km": "运价(元/吨·公里)",
                  "loading_cny_per_unit": "装卸费(元/吨)",
                  "kg_co2e_per_unit_km": "运输排放因子(kgCO2e/吨·公里)",
                  "cny_per_km_year": "管道年费用(元/公里·年)",
                  "truck_capacity_t": "车辆载重(吨)", "cny_per_trip_km": "运价(元/车·公里)",
                  "source": "来源"},
    "carbon": {"need_material": "需求物料", "kg_co2e_per_unit": "减排因子",
               "displaced": "被替代产品", "source": "数据来源"},
    "contracts": {"offer_id": "供给编号", "need_id": "需求编号", "quantity": "合同量"},
    "storage": {"enterprise_id": "企业编号", "material": "物料", "capacity": "库容",
                "initial": "初始库存", "cost_per_unit_month": "月储存费用",
                "loss_pct_per_month": "月损耗率(%)"},
}
FRAMES = ("enterprises", "offers", "needs", "transport", "carbon", "contracts", "storage")


def _chinese() -> dict[str, list[list[str]]]:
    return {table: [[ZH_COLUMNS[table][h] for h in rows[0]], *rows[1:]]
            for table, rows in EN.items()}


def _write_csv(tables: dict[str, list[list[str]]], folder: Path,
               names: dict[str, str] | None = None) -> Path:
    folder.mkdir()
    for table, rows in tables.items():
        with (folder / f"{(names or {}).get(table, table)}.csv").open(
                "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(rows)
    return folder


def _write_xlsx(tables: dict[str, list[list[str]]], path: Path,
                names: dict[str, str]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for table, rows in tables.items():
        sheet = book.create_sheet(names[table])
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def _assert_same(plain_path: Path, zh_path: Path) -> None:
    plain, zh = load_dataset(plain_path), load_dataset(zh_path)
    for table in FRAMES:
        left, right = getattr(plain, table), getattr(zh, table)
        assert len(left) > 0, table
        pd.testing.assert_frame_equal(left, right[left.columns], check_dtype=False,
                                      obj=table)
    assert plain.offers.loc["OF1", "min_lot"] == 300.0
    assert plain.needs.loc["ND1", "max_partners"] == 1.0
    assert plain.transport.set_index("material").loc["fly_ash", "truck_capacity_t"] == 30.0
    assert plain.contracts["quantity"].tolist() == [300.0]
    assert [w.message for w in zh.warnings] == [w.message for w in plain.warnings]


def test_chinese_csv_headers_load_as_the_english_ones(tmp_path: Path) -> None:
    """Every new column and table under its Chinese header (CSV folder, Chinese file
    names) gives the same frames as the contract's English names."""
    _assert_same(_write_csv(EN, tmp_path / "en"),
                 _write_csv(_chinese(), tmp_path / "zh", ZH_SHEETS))


def test_chinese_workbook_headers_load_as_the_english_ones(tmp_path: Path) -> None:
    """The same with an .xlsx whose sheets carry Chinese names."""
    _assert_same(_write_xlsx(EN, tmp_path / "en.xlsx", {t: t for t in EN}),
                 _write_xlsx(_chinese(), tmp_path / "zh.xlsx", ZH_SHEETS))


@pytest.mark.parametrize("table", [t for t in TABLES if t in ZH_COLUMNS])
def test_every_column_of_the_new_tables_has_a_chinese_alias(table: str) -> None:
    """No column of these tables is left without a Chinese header (aliases.csv)."""
    text = (Path(__file__).parents[2] / "symbiosis" / "data" / "aliases.csv").read_text(
        encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    zh = {r["column"] for r in rows if r["table"] == table and r["lang"] == "zh"}
    missing = [s.name for s in SPECS[table] if s.name not in zh]
    assert missing == []
    contract = _contract()
    for column, header in ZH_COLUMNS[table].items():
        assert contract.column_of(table, header) == column, header
    assert contract.table_of(ZH_SHEETS[table]) == table
    assert match_key("运价(元/车·公里)") != match_key("运价(元/吨·公里)")
