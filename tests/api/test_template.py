"""`symbiosis template` and `symbiosis estimate` (api/cli_template.py): the blank workbook
reads back as a valid empty dataset, its filled example loads, its drop-downs offer values
the loader accepts, and an estimate run writes a dataset that a match run takes."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from openpyxl import load_workbook

from symbiosis.api.cli_template import TEMPLATE_COLUMNS, template_headers, write_template
from symbiosis.contract import match_key, material_resolver
from symbiosis.dataset import _contract, load_dataset, validate_dataset
from symbiosis.estimate import _contract as capacities_contract
from symbiosis.taxonomy import load_taxonomy

if TYPE_CHECKING:
    from conftest import CliRunner


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_header_is_an_alias_of_its_column(lang: str) -> None:
    for table, (_, headers) in template_headers(lang).items():
        contract = capacities_contract() if table == "capacities" else _contract()
        assert contract.table_of(template_headers(lang)[table][0]) == table
        for column, header in zip(TEMPLATE_COLUMNS[table], headers, strict=True):
            assert contract.column_of(table, header) == column, (table, header)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_blank_workbook_reads_back_as_a_valid_empty_dataset(lang: str, tmp_path: Path) -> None:
    path = write_template(tmp_path / "t.xlsx", lang)
    assert validate_dataset(path) == []
    data = load_dataset(path)
    assert (len(data.enterprises), len(data.offers), len(data.needs)) == (0, 0, 0)
    wb = load_workbook(path)
    names = {"zh": ["填写说明", "企业", "副产物供给", "原料需求", "产能", "选项"],
             "en": ["instructions", "enterprises", "offers", "needs", "capacities", "lists"]}
    assert wb.sheetnames == names[lang]
    offers = wb[names[lang][2]]
    assert [c.value for c in offers[1]] == template_headers(lang)["offers"][1]
    # drop-downs: material (column C) and unit (E) from the lists sheet, ids from enterprises
    rules = {str(dv.sqref): dv.formula1 for dv in offers.data_validations.dataValidation}
    assert rules["C2:C1001"] == f"'{names[lang][5]}'!$A$2:$A$21"
    assert rules["E2:E1001"].startswith(f"'{names[lang][5]}'!$E$2:")
    assert rules["B2:B1001"] == f"'{names[lang][1]}'!$A$2:$A$1001"
    ent_rules = {str(dv.sqref) for dv in wb[names[lang][1]].data_validations.dataValidation}
    assert {"C2:C1001", "G2:G1001"} <= ent_rules  # sector, crs
    text = " ".join(str(c.value) for row in wb[names[lang][0]].iter_rows() for c in row
                    if c.value is not None)
    assert "symbiosis validate" in text and "E01" in text  # instructions and example rows


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_drop_down_value_is_accepted(lang: str, tmp_path: Path) -> None:
    """Each material label of the lists sheet resolves to a material; each unit and
    coordinate system is one the loader knows."""
    from symbiosis import units
    from symbiosis.crs import normalize_crs

    wb = load_workbook(write_template(tmp_path / "t.xlsx", lang))
    lists = wb.worksheets[-1]
    columns = [[v.value for v in c[1:] if v.value is not None] for c in lists.iter_cols()]
    tax = load_taxonomy()
    resolver = material_resolver(tax)
    offer_materials, need_materials = columns[0], columns[2]
    assert len(offer_materials) == 20 and len(need_materials) == len(tax.materials)
    for label in offer_materials + need_materials:
        assert label in tax.materials or match_key(label) in resolver, label
    assert {resolver.get(match_key(m), m) for m in need_materials} == set(tax.materials)
    for unit in columns[4]:
        assert units.lookup(unit) is not None, unit
    for crs in columns[5]:
        assert normalize_crs(crs) is not None, crs
    assert "4411" in columns[6] and "0810" in columns[6]  # sector codes keep leading zeros


def test_filled_example_loads_with_its_units_converted(tmp_path: Path) -> None:
    path = write_template(tmp_path / "t.xlsx", "zh", example=True)
    assert [p for p in validate_dataset(path) if p.severity == "error"] == []
    data = load_dataset(path)
    assert data.enterprises.loc["E01", "name"] == "湘江电厂（示例）"
    assert data.enterprises.loc["E01", "sector"] == "4411"
    offer = data.offers.loc["O1"]
    assert (offer["material"], offer["quantity"], offer["estimated"]) == ("fly_ash", 120_000,
                                                                           "no")
    assert data.needs.loc["N1", "quantity"] == 80_000  # 8 万吨


def test_csv_template_folder_round_trip(run_cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "模板"
    proc = run_cli("template", "--lang", "zh", out)
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in out.iterdir()} == {"产能.csv", "副产物供给.csv", "原料需求.csv",
                                               "企业.csv", "填写说明.txt"}
    raw = (out / "企业.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel on Chinese Windows
    header = raw.decode("utf-8-sig").splitlines()[0]
    assert header == "企业编号,企业名称,行业代码,经度,纬度,园区,坐标系"
    assert validate_dataset(out) == []


def test_estimate_writes_a_dataset_that_matches(run_cli: CliRunner, tmp_path: Path) -> None:
    """The filled example: E01 reported 12 万吨 of fly ash itself, so only bottom ash and
    FGD gypsum are estimated (600 MW x 5000 h x 0.30 tce/MWh x 1.40 = 1.26 Mt coal;
    x 20 % x 0.15 = 37,800 t bottom ash). The estimated dataset validates and matches."""
    book = write_template(tmp_path / "t.xlsx", "zh", example=True)
    out = tmp_path / "est"
    proc = run_cli("estimate", book, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "2 estimated offer(s) and 0 estimated need(s)" in proc.stdout
    with (out / "offers.csv").open(encoding="utf-8-sig") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    assert rows["O1"]["estimated"] == "" and rows["O1"]["quantity"] == "120000"
    bottom = rows["est-E01-bottom_ash"]
    assert (bottom["estimated"], bottom["quantity"], bottom["quantity_low"],
            bottom["quantity_high"]) == ("yes", "37800", "23520", "55440")
    assert "net_coal_rate" in bottom["estimate_basis"]
    assert bottom["estimate_confidence"] == "unverified"
    data = load_dataset(out)
    assert sorted(data.offers.index[data.offers["estimated"] == "yes"]) == [
        "est-E01-bottom_ash", "est-E01-fgd_gypsum"]
    match = run_cli("match", out, "--out", tmp_path / "run", "--json")
    assert match.returncode == 0, match.stderr
    # the only exchange: the estimated bottom ash to the cement plant's admixture need (the
    # reported fly ash states no quality, so no rule admits it); all of it rests on an
    # estimate, and at the low end (23,520 t) the route would carry only that
    summary = json.loads(match.stdout)
    assert summary["estimates"] == {
        "offers": 2, "needs": 0, "tonnes_offered": 37_800 + 62_330,
        "tonnes_offered_low": 23_520 + 49_100, "tonnes_offered_high": 55_440 + 79_860,
        "tonnes_matched": 37_800, "tonnes_matched_if_low": 23_520, "share_of_matched": 1.0,
        "tonnes_into_estimated_needs": 0}
    with (tmp_path / "run" / "exchanges.csv").open(encoding="utf-8-sig") as f:
        (exchange,) = list(csv.DictReader(f))
    assert (exchange["offer_id"], exchange["offer_estimated"], exchange["quantity"]) == (
        "est-E01-bottom_ash", "yes", "37800")
    assert (exchange["offer_enterprise_name"], exchange["need_enterprise_name"]) == (
        "湘江电厂（示例）", "湘潭水泥（示例）")
    with (tmp_path / "run" / "offers.csv").open(encoding="utf-8-sig") as f:
        flags = {r["offer_id"]: r["estimated"] for r in csv.DictReader(f)}
    assert flags == {"O1": "no", "est-E01-bottom_ash": "yes", "est-E01-fgd_gypsum": "yes"}


def test_estimate_without_capacities_fails_cleanly(run_cli: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "enterprises.csv").write_text("id,name,lon,lat\nA,a,112.9,28.2\n",
                                            encoding="utf-8")
    proc = run_cli("estimate", folder, "--out", tmp_path / "est")
    assert proc.returncode == 1
    assert "no capacities sheet or file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "est").exists()
