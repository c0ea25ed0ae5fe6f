"""The match report (HTML and XLSX) built from the real outputs of the bundled demo, and the
frontier plots."""

from __future__ import annotations

import json
import re
import shutil
import struct
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest

from symbiosis.api.cli import demo_dataset_path
from symbiosis.api.report import (
    build_report_html,
    build_report_xlsx,
    read_outputs,
    write_frontier_plots,
    write_report,
)
from symbiosis.api.report.model import reason_text
from symbiosis.api.report.numbers import fmt_amount
from symbiosis.dataset import load_dataset
from symbiosis.errors import InvalidDataError
from symbiosis.i18n import catalogue
from symbiosis.matching.model import solve_match
from symbiosis.matching.result import EXCHANGE_COLUMNS, write_outputs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real pipeline on the bundled demo: load -> match -> write_outputs."""
    out = tmp_path_factory.mktemp("demo-out")
    write_outputs(solve_match(load_dataset(demo_dataset_path())), out)
    return out


@pytest.fixture
def out_dir(demo_out: Path, tmp_path: Path) -> Path:
    """A private copy of the demo outputs that a test may edit."""
    return Path(shutil.copytree(demo_out, tmp_path / "out"))


# what a run with money, carbon and prices adds to the three core files (api/report.py's
# contract with matching.result); the report must stand without any of it
OPTIONAL_SUMMARY_KEYS = ("economics", "carbon")
OPTIONAL_FILES = ("enterprises.csv", "needs.csv")
CORE_OFFER_COLUMNS = ["offer_id", "enterprise_id", "material", "offered", "matched",
                      "unmatched", "candidate_needs", "reason"]


def _summary(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def _strip_optional(out: Path) -> None:
    """Reduce an output folder to what a utilization-only run writes."""
    summary = _summary(out)
    for key in OPTIONAL_SUMMARY_KEYS:
        summary.pop(key, None)
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False),
                                      encoding="utf-8")
    for name in OPTIONAL_FILES:
        (out / name).unlink(missing_ok=True)
    for name, core in (("exchanges.csv", EXCHANGE_COLUMNS),
                       ("offers.csv", CORE_OFFER_COLUMNS)):
        frame = pd.read_csv(out / name, dtype=str, keep_default_na=False)
        frame[core].to_csv(out / name, index=False)


@pytest.fixture
def core_dir(out_dir: Path) -> Path:
    """The demo outputs with only the core files and keys."""
    _strip_optional(out_dir)
    return out_dir


def _kpi_values(path: Path, sheet_index: int = 0) -> dict[str, Any]:
    """A label/value/.../key sheet (the KPIs are the first) as key -> value cell."""
    sheet = openpyxl.load_workbook(path).worksheets[sheet_index]
    return {str(row[-1].value): row[1] for row in sheet.iter_rows(min_row=2)}


def _sheet_rows(path: Path, title: str) -> list[tuple[Any, ...]]:
    sheet = openpyxl.load_workbook(path)[title]
    return list(sheet.iter_rows(min_row=2, values_only=True))


def test_html_report_shows_the_demo_kpis_in_both_languages(core_dir: Path) -> None:
    out_dir = core_dir
    summary = _summary(out_dir)
    rate = f"{100 * summary['utilization_rate']:.1f} %"
    pages = {}
    for lang in ("en", "zh"):
        written = write_report(out_dir, lang, ("html",))
        assert written == [out_dir / "report.html"]
        pages[lang] = (out_dir / "report.html").read_text(encoding="utf-8")
    for lang, page in pages.items():
        assert rate in page
        assert "57.0 %" in page  # the provincial target, one decimal like every percentage
        # amounts with three significant figures in the reader's units (万/亿 in Chinese)
        for key in ("tonnes_matched", "tonne_km", "transport_co2_t"):
            assert f">{fmt_amount(summary[key], lang)}<" in page, key
        assert f"{summary['tonnes_matched']:,.0f}" not in page  # no spurious precision
        assert "optimal" in page
        assert f'lang="{"zh-CN" if lang == "zh" else "en"}"' in page
    for m in summary["materials"].values():
        assert f">{m['name_zh']}<" in pages["zh"]
        assert f">{m['name_en']}<" in pages["en"]
        assert f">{m['name_zh']}<" not in pages["en"]
    # the demo gives no generation or existing use: its rate is the share of the listed
    # surplus matched, said not to be the official indicator, and no target is claimed
    assert "所列富余量的匹配比例" in pages["zh"]
    assert "Bulk solid waste: share of listed surplus matched" in pages["en"]
    # the all-listings ratio has its own name, never the listed-surplus one
    assert "Solids matched ÷ listed (every listing, slag powders included)" in pages["en"]
    assert "Share of listed surplus matched (solids)" not in pages["en"]
    assert "NOT the official rate" in pages["en"] and "并非官方综合利用率" in pages["zh"]
    assert "meets the target" not in pages["en"] and "达到目标" not in pages["zh"]
    # offers.csv's reason codes (UnmatchedReason) are shown in the report's language
    assert "beyond reach" in pages["en"] and "超出运输半径" in pages["zh"]
    assert "beyond_reach" not in pages["en"] and "beyond_reach" not in pages["zh"]
    # optional sections are left out of a run without money, carbon or marginal values
    for absent in ("Enterprise gains", "Where expanding", "Net saving", "Money", "Carbon",
                   "Explanation"):
        assert absent not in pages["en"], absent
    assert not list(out_dir.glob(".*.tmp"))


def test_html_is_self_contained(out_dir: Path) -> None:
    write_report(out_dir, "en", ("html",))
    page = (out_dir / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert "url(" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)
    assert page.count("<svg") >= 1 + len(_summary(out_dir)["materials"])  # gauge + bars


def test_xlsx_kpis_are_numbers_equal_to_summary(core_dir: Path) -> None:
    out_dir = core_dir
    summary = _summary(out_dir)
    write_report(out_dir, "en", ("xlsx",))
    path = out_dir / "report.xlsx"
    kpis = _kpi_values(path)
    for key in ("utilization_rate", "tonnes_offered", "tonnes_matched", "tonnes_unmatched",
                "tonne_km", "average_haul_km", "transport_co2_t", "exchanges",
                "enterprise_pairs"):
        cell = kpis[key]
        assert isinstance(cell.value, int | float) and not isinstance(cell.value, bool), key
        # openpyxl writes 16 significant digits (Excel keeps 15)
        assert cell.value == pytest.approx(summary[key], rel=1e-15), key
    assert kpis["utilization_target.value"].value == 0.57
    assert kpis["utilization_rate"].number_format == "0.0%"
    assert kpis["tonnes_matched"].number_format == "#,##0"
    solver = _kpi_values(path, -2)
    assert solver["solver.objective"].value == pytest.approx(summary["solver"]["objective"],
                                                             rel=1e-15)
    assert solver["solver.status"].value == "optimal"

    book = openpyxl.load_workbook(path)
    # the page's order: KPIs, the one-page summary's tables, then the details
    assert book.sheetnames == ["KPIs", "Summary", "Unmatched by reason", "Materials",
                               "Families", "Exchanges", "Unmatched offers", "Solver",
                               "Sources"]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2"
        assert all(c.font.bold for c in sheet[1])
        assert sheet.column_dimensions["A"].width >= 8
    materials = [(m["name_en"], m["unit"], m["offered"], m["matched"], m["unmatched"],
                  m["utilization_rate"], m["exchanges"]) for m in summary["materials"].values()]
    # numbers to the 15-16 significant digits a workbook keeps
    sheet = _sheet_rows(path, "Materials")
    assert len(sheet) == len(materials)
    for got, want in zip(sheet, materials, strict=True):
        assert got[:2] == want[:2]
        assert got[2:] == pytest.approx(want[2:], rel=1e-15)
    assert book["Materials"]["F2"].number_format == "0.0%"

    exchanges = pd.read_csv(out_dir / "exchanges.csv")
    rows = _sheet_rows(path, "Exchanges")
    assert len(rows) == len(exchanges) == summary["exchanges"]
    assert sum(r[4] for r in rows) == pytest.approx(exchanges["quantity"].sum())
    assert [r[4] for r in rows] == sorted((r[4] for r in rows), reverse=True)
    offers = pd.read_csv(out_dir / "offers.csv")
    assert len(_sheet_rows(path, "Unmatched offers")) == int((offers["unmatched"] > 0).sum())


def test_xlsx_in_chinese_round_trips(core_dir: Path) -> None:
    out_dir = core_dir
    summary = _summary(out_dir)
    write_report(out_dir, "zh")
    path = out_dir / "report.xlsx"
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[:4] == ["关键指标", "摘要", "未匹配原因", "物料"]
    assert book["关键指标"]["A2"].value == "固体匹配量÷挂牌量（全部挂牌，含矿渣粉）"
    names = [r[0] for r in _sheet_rows(path, "物料")]
    assert names == [m["name_zh"] for m in summary["materials"].values()]
    assert _kpi_values(path)["tonnes_matched"].value == summary["tonnes_matched"]
    sources = _sheet_rows(path, "数据来源")
    assert sources[0][1] == 0.57  # the target, as a number
    assert any(r[5] == "⚠ 未核实" for r in sources)  # an unverified rule source is marked


def _with_money_and_carbon(out: Path) -> dict[str, Any]:
    """Add the economics/carbon keys and the extra columns and files a cost run writes."""
    summary = _summary(out)
    summary["economics"] = {
        "currency": "CNY/yr", "saving_cny": 123456789.4, "avoided_disposal_cny": 80000000.0,
        "avoided_virgin_cny": 90000000.0, "transport_cny": 45000000.6, "treatment_cny": 1543210.0,
        "transport_rate": {"value": 0.45, "unit": "CNY/t·km",
                           "source": "China road freight index 2024 (test figure)",
                           "confidence": "medium"},
        "exchanges_losing_money": 2, "rates": [],
        "coverage": {"offers_with_disposal_cost": 30, "offers_with_treatment_cost": 5,
                     "offers": 35, "needs_with_virgin_cost": 40, "needs": 42},
        "prices": {"method": "core_midpoint", "note": "midpoint of the core interval"},
    }
    summary["carbon"] = {
        "unit": "t CO2e/yr", "avoided_t": 2345678.26, "transport_t": 29262.84, "net_t": 2316415.41,
        "factors": [
            {"need_material": "cement_admixture", "displaced": "clinker", "value": 866.0,
             "unit": "kg CO2e/t", "source": "test clinker factor", "confidence": "high"},
            {"need_material": "aggregate", "displaced": "crushed stone", "value": 4.2,
             "unit": "kg CO2e/t", "source": "test stone factor", "confidence": "low"},
        ],
    }
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")

    ex = pd.read_csv(out / "exchanges.csv")
    ex["saving_cny"] = ex["quantity"] * 12.5 - ex["unit_km"] * 0.45
    ex["co2_net_t"] = ex["quantity"] * 0.8
    ex["price_cny_per_unit"] = 6.25
    ex["supplier_gain_cny"] = ex["saving_cny"] / 2
    ex["receiver_gain_cny"] = ex["saving_cny"] / 2
    ex["alternatives"] = "none nearer"
    ex.to_csv(out / "exchanges.csv", index=False)

    offers = pd.read_csv(out / "offers.csv", keep_default_na=False)
    offers["explanation"] = np.where(offers["unmatched"] > 0, "nearest need 210 km away", "")
    offers.to_csv(out / "offers.csv", index=False)

    gains = pd.concat([
        ex.groupby("offer_enterprise_id")["supplier_gain_cny"].sum().rename("supplier_gain_cny"),
        ex.groupby("need_enterprise_id")["receiver_gain_cny"].sum().rename("receiver_gain_cny"),
    ], axis=1).fillna(0.0)
    gains.index.name = "enterprise_id"
    gains["name"] = "Plant " + gains.index.str.lower()
    gains["gain_cny"] = gains["supplier_gain_cny"] + gains["receiver_gain_cny"]
    gains["exchanges"] = 1
    gains.reset_index()[["enterprise_id", "name", "supplier_gain_cny", "receiver_gain_cny",
                         "gain_cny", "exchanges"]].to_csv(out / "enterprises.csv", index=False)

    needs = pd.DataFrame({
        "need_id": ["ND-A", "ND-B", "ND-C"], "enterprise_id": ["XT-CEM1", "CS-RMC1", "HY-CEM1"],
        "material": ["cement_admixture", "aggregate", "wallboard_gypsum"],
        "needed": [100.0, 200.0, 300.0], "met": [100.0, 200.0, 250.0],
        "marginal_value": [3.5, 0.0, 17.25], "marginal_unit": ["CNY/t"] * 3})
    needs.to_csv(out / "needs.csv", index=False)
    return summary


def test_money_carbon_gains_and_marginal_values_appear_with_exact_figures(
        out_dir: Path) -> None:
    summary = _with_money_and_carbon(out_dir)
    write_report(out_dir, "en")
    page = (out_dir / "report.html").read_text(encoding="utf-8")
    for title in ("Money", "Carbon", "Enterprise gains", "Where expanding a receiver pays most",
                  "Net saving", "Net saving (CNY/yr)", "Explanation"):
        assert title in page, title
    # three significant figures (numbers.fmt_amount); prices keep their cents
    for figure in ("123 million", "80 million", "90 million", "45 million", "1.54 million",
                   "2.35 million", "2.32 million", "29,300", "17.25", "30"):
        assert figure in page, figure
    assert "123,456,789" not in page and "29,262.8" not in page
    assert "China road freight index 2024 (test figure)" in page
    assert "core midpoint" in page and "nearest need 210 km away" in page
    # the alternatives each exchange beat: in the workbook, not on the printed page
    assert "none nearer" not in page
    assert any("none nearer" in str(c) for r in _sheet_rows(out_dir / "report.xlsx",
                                                             "Exchanges") for c in r)
    # the low-confidence stone factor is flagged; the needs table lists the paying need first
    assert re.search(r'<tr class="flag"><td[^>]*>[^<]*crushed stone', page)
    assert page.index("ND-C") < page.index("ND-A") and "ND-B" not in page

    path = out_dir / "report.xlsx"
    kpis = _kpi_values(path)
    for key in ("saving_cny", "avoided_disposal_cny", "avoided_virgin_cny", "transport_cny",
                "treatment_cny"):
        assert kpis[f"economics.{key}"].value == pytest.approx(summary["economics"][key],
                                                               rel=1e-15)
    for key in ("avoided_t", "transport_t", "net_t"):
        assert kpis[f"carbon.{key}"].value == pytest.approx(summary["carbon"][key], rel=1e-15)
    book = openpyxl.load_workbook(path)
    assert {"Enterprises", "Needs"} <= set(book.sheetnames)
    enterprises = pd.read_csv(out_dir / "enterprises.csv")
    rows = _sheet_rows(path, "Enterprises")
    assert len(rows) == len(enterprises)
    assert rows[0][4] == enterprises["gain_cny"].max()  # largest gain first
    assert [r[5] for r in _sheet_rows(path, "Needs")] == [17.25, 3.5, 0.0]
    header = [c.value for c in book["Exchanges"][1]]
    saving = [r[header.index("Net saving (CNY/yr)")] for r in _sheet_rows(path, "Exchanges")]
    assert sum(saving) == pytest.approx(pd.read_csv(out_dir / "exchanges.csv")
                                        ["saving_cny"].sum())


def test_report_of_the_run_as_written(out_dir: Path) -> None:
    """Whatever optional outputs the pipeline writes today, each shows up in both reports."""
    summary = _summary(out_dir)
    write_report(out_dir, "en")
    page = (out_dir / "report.html").read_text(encoding="utf-8")
    book = openpyxl.load_workbook(out_dir / "report.xlsx")
    kpis = _kpi_values(out_dir / "report.xlsx")
    if "economics" in summary:
        assert "Money" in page
        assert fmt_amount(summary["economics"]["saving_cny"]) in page
        assert kpis["economics.saving_cny"].value == pytest.approx(
            summary["economics"]["saving_cny"], rel=1e-15)
    if "carbon" in summary:
        assert fmt_amount(summary["carbon"]["net_t"]) in page
    for name, title in (("enterprises.csv", "Enterprises"), ("needs.csv", "Needs")):
        assert (title in book.sheetnames) == (out_dir / name).is_file()
        if (out_dir / name).is_file():
            rows = _sheet_rows(out_dir / "report.xlsx", title)
            assert len(rows) == len(pd.read_csv(out_dir / name))


def test_data_values_cannot_inject_markup_or_formulas(out_dir: Path) -> None:
    summary, exchanges, offers, _, _ = read_outputs(out_dir)
    evil = "<script>alert('x')</script>"
    summary = summary.model_copy(update={
        "dataset": f"/tmp/{evil}",
        "utilization_target": summary.utilization_target.model_copy(update={"source": evil})})
    exchanges.loc[0, "offer_enterprise_id"] = '"><img src=x onerror=alert(1)>'
    offers.loc[offers["unmatched"] > 0, "reason"] = evil
    offers["enterprise_id"] = "=HYPERLINK(\"http://example.com\",\"x\")"
    page = build_report_html(summary, exchanges, offers, None, None, "en")
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page

    path = build_report_xlsx(summary, exchanges, offers, None, None, "en",
                             out_dir / "evil.xlsx")
    cell = openpyxl.load_workbook(path)["Unmatched offers"]["B2"]
    assert cell.data_type == "s" and cell.value == "'" + offers["enterprise_id"].iloc[0]


def test_bad_folder_and_arguments(tmp_path: Path, out_dir: Path) -> None:
    with pytest.raises(InvalidDataError) as err:
        write_report(tmp_path)
    assert [p.file for p in err.value.problems] == ["summary.json", "exchanges.csv",
                                                    "offers.csv"]
    (out_dir / "summary.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidDataError, match=r"summary\.json:1: not valid JSON"):
        write_report(out_dir)
    with pytest.raises(ValueError, match="unknown language"):
        write_report(out_dir, "fr")
    with pytest.raises(ValueError, match="unknown report format 'docx'"):
        write_report(out_dir, "en", ("docx",))
    with pytest.raises(ValueError, match="top must be at least 1"):
        write_report(out_dir, "en", ("html",), top=0)


def test_an_older_output_folder_is_refused_with_its_upgrade_path(out_dir: Path,
                                                                 run_cli: Any) -> None:
    """summary.json without `schema_version` (schema 1, before the typed summary): one
    problem naming the field and the command that rewrites the folder; nothing written,
    no traceback from the CLI."""
    body = _summary(out_dir)
    del body["schema_version"]
    (out_dir / "summary.json").write_text(json.dumps(body), encoding="utf-8")
    with pytest.raises(InvalidDataError) as err:
        write_report(out_dir)
    [problem] = err.value.problems
    assert (problem.file, problem.column) == ("summary.json", "schema_version")
    assert "older symbiosis (schema_version 1)" in problem.message
    assert f"symbiosis match DATASET --out {out_dir}" in problem.message
    assert not (out_dir / "report.html").exists()

    proc = run_cli("report", out_dir, "--format", "html")
    assert proc.returncode == 1
    assert "summary.json::schema_version: written by an older symbiosis" in proc.stderr
    assert "Traceback" not in proc.stderr and not (out_dir / "report.html").exists()


def test_a_summary_that_breaks_the_schema_names_every_bad_field(out_dir: Path) -> None:
    body = _summary(out_dir)
    body["tonnes_matched"] = "lots"
    body["materials"]["fly_ash"]["unit"] = None
    del body["solver"]["status"]
    (out_dir / "summary.json").write_text(json.dumps(body), encoding="utf-8")
    with pytest.raises(InvalidDataError) as err:
        write_report(out_dir)
    fields = {p.column for p in err.value.problems}
    assert fields == {"tonnes_matched", "materials.fly_ash.unit", "solver.status", None}
    assert "summary schema" in str(err.value.problems[-1])


def test_empty_run_still_reports(tmp_path: Path, demo_out: Path) -> None:
    """A run with no exchanges and none of the optional sections (money, carbon, parks, the
    official rate, materials): each leaves its part out."""
    summary = read_outputs(demo_out)[0].model_copy(update={
        "utilization_rate": None, "tonnes_matched": 0.0, "exchanges": 0, "materials": {},
        "families": {}, "economics": None, "carbon": None, "parks": None,
        "bulk_solid_waste": None, "transport_co2_t": None, "transport_co2_factor": None})
    exchanges = pd.DataFrame(columns=["offer_enterprise_id", "need_enterprise_id", "quantity"])
    offers = pd.DataFrame(columns=["offer_id", "unmatched", "reason"])
    page = build_report_html(summary, exchanges, offers, None, None, "zh")
    assert "方案中没有交换" in page and "57.0 %" in page
    path = build_report_xlsx(summary, exchanges, offers, None, None, "zh", tmp_path / "r.xlsx")
    assert _kpi_values(path)["tonnes_matched"].value == 0


def _frontier() -> pd.DataFrame:
    return pd.DataFrame({
        "point": [2, 0, 3, 1],
        "utilization_rate": [0.62, 0.80, 0.55, 0.71],
        "tonnes_matched": [6.2e6, 8.0e6, 5.5e6, 7.1e6],
        "saving_cny": [3.1e7, 1.2e7, 3.3e7, 2.4e7],
        "co2_net_t": [1.5e5, 2.0e5, 1.2e5, 1.8e5],
        "tonne_km": [2.1e8, 2.9e8, 1.8e8, 2.5e8],
        "exchanges": [40, 59, 31, 52],
        "plan": ["points/02/exchanges.csv", "points/00/exchanges.csv",
                 "javascript:alert(1)", "points/01/exchanges.csv"],
    })


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_frontier_plots(tmp_path: Path, lang: str) -> None:
    written = write_frontier_plots(_frontier(), tmp_path, "utilization_rate", "saving_cny",
                                   lang=lang, target=0.57)
    assert written == [tmp_path / "frontier.png", tmp_path / "frontier.html"]
    data = (tmp_path / "frontier.png").read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (900, 600)

    page = (tmp_path / "frontier.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", page)  # plotly.js is inline: no CDN
    assert "plotly_click" in page and "window.open" in page
    # the points, sorted by x, as the line's data and in the table below the plot
    assert '"x":[0.55,0.62,0.71,0.8]' in page
    assert '"y":[33000000.0,31000000.0,24000000.0,12000000.0]' in page
    assert r'"points\u002f00\u002fexchanges.csv"' in page
    assert '<a href="points/01/exchanges.csv">' in page
    assert "javascript:alert" not in page  # a plan that is not a relative path is not linked
    assert "33 million" in page and "<td class=\"n\">59</td>" in page
    assert '"x0":0.57' in page  # the target line falls among the points
    if lang == "zh":
        assert "权衡前沿" in page
    assert not list(tmp_path.glob(".*.tmp"))


def test_frontier_target_beyond_the_points_is_a_note(tmp_path: Path) -> None:
    write_frontier_plots(_frontier(), tmp_path, "saving_cny", "utilization_rate", target=0.5)
    page = (tmp_path / "frontier.html").read_text(encoding="utf-8")
    assert "every point meets the 50.0 % target" in page and '"y0":0.5' not in page


def test_frontier_rejects_unknown_axes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot plot 'cost'"):
        write_frontier_plots(_frontier(), tmp_path, "cost", "saving_cny")
    with pytest.raises(ValueError, match="no column co2_net_t"):
        write_frontier_plots(_frontier().drop(columns="co2_net_t"), tmp_path,
                             "utilization_rate", "co2_net_t")


class _Text(HTMLParser):
    """The text a browser shows of a page (script and style bodies left out), and its tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def _page_text(page: str) -> _Text:
    parser = _Text()
    parser.feed(page)
    parser.close()
    return parser


def test_an_enterprise_named_script_shows_as_text(out_dir: Path) -> None:
    """Autoescape: names from the data are text on the page, never markup."""
    _with_money_and_carbon(out_dir)
    gains = pd.read_csv(out_dir / "enterprises.csv")
    evil = "<script>alert(1)</script>"
    gains.loc[0, "name"] = evil
    gains.loc[1, "name"] = '<b onmouseover="x()">bold</b> & co'
    gains.to_csv(out_dir / "enterprises.csv", index=False)
    write_report(out_dir, "en", ("html",))
    page = (out_dir / "report.html").read_text(encoding="utf-8")
    parsed = _page_text(page)
    assert "script" not in parsed.tags and "b" in parsed.tags  # <b> only from the template
    assert parsed.tags.count("b") == page.count("<b>")
    text = "".join(parsed.chunks)
    assert evil in text and '<b onmouseover="x()">bold</b> & co' in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def _english_phrases() -> set[str]:
    """English texts of the report's catalogue domains that a Chinese page must not show:
    the literal parts of each message (placeholders cut out) with two words or more."""
    phrases: set[str] = set()
    for key, texts in catalogue().items():
        if not key.startswith(("report.", "kpi.", "axis.", "obj.", "family.", "reason.")):
            continue
        if texts["en"] == texts["zh"]:
            continue
        for part in re.split(r"\{[^}]*\}", texts["en"]):
            part = part.strip(" .,:;()")
            if len(re.findall(r"[A-Za-z]{2,}", part)) >= 2:
                phrases.add(part)
    return phrases


def test_a_chinese_report_shows_no_english_label(out_dir: Path) -> None:
    _with_money_and_carbon(out_dir)
    write_report(out_dir, "zh")
    page = (out_dir / "report.html").read_text(encoding="utf-8")
    text = " ".join(_page_text(page).chunks)
    book = openpyxl.load_workbook(out_dir / "report.xlsx")
    headers = " ".join([*book.sheetnames, *(str(c.value) for s in book.worksheets
                                            for c in s[1])])
    phrases = _english_phrases()
    assert "Net saving" in phrases and "Largest exchanges" in phrases  # the check can fail
    assert [p for p in phrases if p in text] == []
    assert [p for p in phrases if p in headers] == []
    # the same figures in English do show the English words
    write_report(out_dir, "en", ("html",))
    english = " ".join(_page_text((out_dir / "report.html").read_text(encoding="utf-8")).chunks)
    assert "Net saving" in english and "Largest exchanges" in english


@pytest.mark.parametrize(("reason", "zh"), [
    ("no_compatible_need", "无可用需求"),
    ("beyond_reach;takers_full", "超出运输半径; 半径内需求已满"),
    ("no compatible need within reach", "运输半径内没有兼容的需求"),
    ("something else", "something else"),
])
def test_reasons_in_chinese(reason: str, zh: str) -> None:
    """Reason codes (matching.reasons), several at once, and older folders' sentences."""
    assert reason_text(reason, "zh") == zh


def test_the_report_leads_with_the_official_rate_when_the_baseline_is_given(
        tmp_path: Path) -> None:
    """Fly ash: 100 t generated, 40 t used today, 60 t listed; a cement plant takes 30 t.
    Official rate (40 + 30) / 100 = 70 %, baseline 40 %: the summary says so first, against
    the 57 % target (met)."""
    from symbiosis import dataset_from_records
    from symbiosis.matching import solve_match, write_outputs

    ds = dataset_from_records({
        "enterprises": [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in "PC"],
        "offers": [{"id": "o", "enterprise_id": "P", "material": "fly_ash", "quantity": 60,
                    "generated": 100, "used_existing": 40, "q.loi_pct": 5, "q.so3_pct": 2}],
        "needs": [{"id": "n", "enterprise_id": "C", "material": "cement_admixture",
                   "quantity": 30}],
        "distances": [{"from_id": "P", "to_id": "C", "distance_km": 10}]})
    result = solve_match(ds)
    assert result.summary.bulk_solid_waste is not None
    assert result.summary.bulk_solid_waste.utilization_rate == pytest.approx(0.7)
    write_outputs(result, tmp_path)
    write_report(tmp_path, "en", formats=("html",))
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    summary_part = page[page.index('id="summary"'):]
    first = summary_part[summary_part.index('<div class="official">'):]
    assert first.startswith('<div class="official"><p>Bulk solid waste utilization rate '
                            "(official): 40.0 % today -&gt; 70.0 % with the plan; "
                            "target 57.0 %: met</p>")
