"""The report as a park office prints it: amounts with three significant figures (万/亿 in
Chinese), a one-page summary first, per-park sections, names beside ids, sources that are
documents; and, in real headless Chromium, a page that fits 1,366 px and A4 print with no
tile text overflowing its box, and a PDF printed on A4. Screenshots are kept under
build/test-artifacts/ (or $SYMBIOSIS_ARTIFACTS)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from browser_support import TIMEOUT_MS, artifacts

from symbiosis.api.cli import demo_dataset_path
from symbiosis.api.report import chromium_path, fmt_amount, write_report
from symbiosis.api.report.model import official_source
from symbiosis.dataset import load_dataset
from symbiosis.matching.model import solve_match
from symbiosis.matching.result import write_outputs

A4_PRINT_WIDTH_PX = 688  # 210 mm - 2 x 12 mm of @page margin, at 96 px per inch (rounded down)


@pytest.mark.parametrize(("value", "en", "zh"), [
    (3_800_830.9, "3.8 million", "380万"),
    (687_239_873, "687 million", "6.87亿"),
    (29_262.8, "29,300", "2.93万"),
    (17.25, "17.3", "17.3"),  # halves away from zero, as JavaScript's toPrecision
    (9_995, "10,000", "1万"),  # rounding carries into the next unit
    (999_999, "1 million", "100万"),
    (-1_234_567, "-1.23 million", "-123万"),
    (0.01234, "0.0123", "0.0123"),
    (0, "0", "0"),
    (None, "–", "–"),
    (float("nan"), "–", "–"),
])
def test_amounts_have_three_significant_figures_in_the_readers_units(
        value: float | None, en: str, zh: str) -> None:
    assert fmt_amount(value, "en") == en
    assert fmt_amount(value, "zh") == zh


def test_sources_shown_are_documents_not_web_copies() -> None:
    text, dropped = official_source(
        "factors.csv road_freight_cost_cny_per_tkm: Ministry of Transport road-freight "
        "monitoring pilot to May 2015, as reported by sxcoal.com (reference/coefficients/a.csv)")
    assert (text, dropped) == ("Ministry of Transport road-freight monitoring pilot to May "
                               "2015", True)
    assert official_source("MoT pilot 2015, as reported by sxcoal.com (reference/coefficients/"
                           "coefficients.csv china_truck_cost_FTL)") == ("MoT pilot 2015", True)
    assert official_source("Recovered heat (factors.csv steam_loss_frac_max)") \
        == ("Recovered heat", False)
    assert official_source("GB 175-2023 5.2.3; see https://github.com/someone/slag-notes") \
        == ("GB 175-2023 5.2.3", True)
    # an official host and a paper stay as written
    ipcc = "IPCC 2006 Vol. 2 https://www.ipcc-nggip.iges.or.jp/public/2006gl/"
    assert official_source(ipcc) == (ipcc, False)
    paper = "Fort & Cerny (2018) J. Cleaner Production 177: 795-802"
    assert official_source(paper) == (paper, False)


# the parks part of summary.json as geo.parks writes it (matching.summary.ParksSummary)
PARKS = {
    "enterprises_in_parks": 5,
    "parks": {
        "Leiyang circular-economy park": {
            "enterprises": 3, "offered_t": 885000.0, "matched_t": 885000.0,
            "utilization_rate": 1.0, "exchanges_from_park": 8, "exchanges_within_park": 3,
            "within_park_quantity": {"t": 446000.0}},
        "Hengyang chemical park": {
            "enterprises": 2, "offered_t": 500000.0, "matched_t": 179000.0,
            "utilization_rate": 0.358, "exchanges_from_park": 4, "exchanges_within_park": 1,
            "within_park_quantity": {"t": 60000.0}}},
    "exchanges": {
        "within_park": {"exchanges": 4, "quantity": {"t": 506000.0}, "t_km": 2_120_000.0},
        "across_parks": {"exchanges": 8, "quantity": {"t": 1_064_000.0}, "t_km": 9.9e7},
        "outside_parks": {"exchanges": 2, "quantity": {"t": 30000.0}, "t_km": 1.5e6}},
    "within_park_share_of_mass": 0.316,
}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled demo through the real pipeline, with the parks part added to its
    summary.json (the demo without `--parks` has none)."""
    out = tmp_path_factory.mktemp("print-out")
    write_outputs(solve_match(load_dataset(demo_dataset_path())), out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    summary["parks"] = PARKS
    (out / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return out


@pytest.fixture
def run_dir(demo_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo_run, tmp_path / "out"))


def _section(page: str, name: str) -> str:
    start = page.index(f'<section class="{name}"')
    return page[start:page.index("</section>", start)]


def test_summary_comes_first_with_names_largest_exchanges_and_blockers(run_dir: Path) -> None:
    exchanges = pd.read_csv(run_dir / "exchanges.csv")
    names = pd.read_csv(run_dir / "enterprises.csv").set_index("enterprise_id")["name"]
    write_report(run_dir, "en", ("html",), top=3)
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    summary = _section(page, "summary")
    assert page.index('<section class="summary"') < page.index('<section class="details"')
    # the ten largest exchanges, by name with the id beside it, largest first
    largest = exchanges.sort_values("quantity", ascending=False, kind="stable").head(10)
    rows = re.findall(r'<td class="c-exchange">([^<]*)</td>', summary)
    assert len(rows) == 10
    for row, ex in zip(rows, largest.itertuples(), strict=True):
        supplier = f"{names[ex.offer_enterprise_id]} ({ex.offer_enterprise_id})"
        receiver = f"{names[ex.need_enterprise_id]} ({ex.need_enterprise_id})"
        assert row == f"{supplier} → {receiver}"
    # what blocks the rest: the unmatched tonnes per reason add up to the offers' unmatched
    offers = pd.read_csv(run_dir / "offers.csv")
    blocked = offers[offers["unmatched"] > 0]
    assert "What blocks the rest" in summary and "beyond reach" in summary
    cells = re.findall(r'<td class="n c-offers">(\d+)</td>', summary)
    assert sum(map(int, cells)) == len(blocked)
    # --top cuts the details' long tables (the workbook keeps every row)
    details = _section(page, "details")
    exchange_table = details[details.index('id="exchanges"'):]
    exchange_table = exchange_table[:exchange_table.index("</table>")]
    assert exchange_table.count("<tr>") == 1 + 3  # header + three rows
    assert f"Showing 3 of {len(exchanges)}" in details


def test_header_names_the_dataset_not_its_path(run_dir: Path) -> None:
    write_report(run_dir, "zh", ("html",))
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    install = str(demo_dataset_path())
    assert install not in page and str(demo_dataset_path().parent) not in page
    assert "<title>产业共生匹配报告 — hunan</title>" in page
    assert "<b>数据集</b>: hunan<" in page


def test_per_park_section_with_rates_and_split(run_dir: Path) -> None:
    write_report(run_dir, "zh", ("html",))
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    parks = _section(page, "parks")
    assert "分园区" in parks and "跨园区" in parks
    # the larger park first; 885,000 t -> 88.5万, 179,000 t / 500,000 t = 35.8 %
    assert parks.index("Leiyang circular-economy park") < parks.index("Hengyang chemical park")
    assert ">88.5万<" in parks and ">17.9万<" in parks and "35.8 %" in parks
    assert ">106万<" in parks  # across parks, 1,064,000 t
    # a run without parks has no parks section
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    del summary["parks"]
    (run_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    write_report(run_dir, "zh", ("html",))
    assert '<section class="parks"' not in (run_dir / "report.html").read_text(encoding="utf-8")


def test_appendix_cites_documents_only(run_dir: Path) -> None:
    write_report(run_dir, "en", ("html",))
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    appendix = _section(page, "appendix")
    assert "Methods" in appendix and "minimum-cost flow" in appendix
    assert "GB 175-2023" in appendix  # a standard a rule rests on
    for copy in ("sxcoal.com", "github.com", "factors.csv", "reference/"):
        assert copy not in page, copy


# --------------------------------------------------------------------------- in Chromium

CHROMIUM = chromium_path()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium (install Debian's chromium or set SYMBIOSIS_CHROMIUM)")



@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


# every element inside a tile or a table cell whose text is wider than its box
OVERFLOWING = """() => [...document.querySelectorAll('.tile, .tile *, td, th')]
  .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
  .map(e => `${e.tagName}.${e.className}: ${e.textContent.trim().slice(0, 60)}`)"""


@needs_chromium
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_fits_the_screen_and_a4_print(run_dir: Path, browser: Any, lang: str) -> None:
    write_report(run_dir, lang, ("html",))
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(TIMEOUT_MS)
    page.goto((run_dir / "report.html").as_uri())
    shots = artifacts()
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366
        assert page.evaluate(OVERFLOWING) == []
        tiles = page.locator(".summary .tile")
        assert tiles.count() >= 4
        page.screenshot(path=str(shots / f"report-{lang}-1366.png"), full_page=True)
        # A4 portrait in print media: the printable width of the page's @page box
        page.emulate_media(media="print")
        page.set_viewport_size({"width": A4_PRINT_WIDTH_PX, "height": 1000})
        assert page.evaluate("document.documentElement.scrollWidth") <= A4_PRINT_WIDTH_PX
        assert page.evaluate(OVERFLOWING) == []
        page.screenshot(path=str(shots / f"report-{lang}-a4-print.png"), full_page=True)
        assert errors == []
    finally:
        page.close()


@needs_chromium
def test_pdf_is_printed_on_a4(run_dir: Path) -> None:
    written = write_report(run_dir, "zh", ("pdf",))
    assert written == [run_dir / "report.pdf"]
    data = (run_dir / "report.pdf").read_bytes()
    assert data.startswith(b"%PDF-")
    # A4 portrait is 595 x 842 pt; Chromium writes each page's MediaBox in the clear
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert boxes and all(round(float(w)) == 595 and round(float(h)) == 842 for w, h in boxes)
    assert len(boxes) >= 2  # the summary page, then the rest
    assert not (run_dir / "report.html").exists()  # the PDF alone leaves no page behind
    assert not list(run_dir.glob(".*"))
    shutil.copy(run_dir / "report.pdf", artifacts() / "report-zh.pdf")


# --------------------------------------------------------------------------- fonts

# the same glyph drawn from two different characters: equal pixels mean both are the
# "missing glyph" box, i.e. no font drew Chinese
GLYPHS_DIFFER = """() => {
  const draw = ch => { const c = document.createElement('canvas'); c.width = c.height = 40;
    const g = c.getContext('2d'); g.font = '32px sans-serif'; g.fillText(ch, 2, 34);
    return Array.from(g.getImageData(0, 0, 40, 40).data).join(','); };
  return draw('汉') !== draw('园');
}"""


@needs_chromium
def test_chinese_renders_with_a_cjk_font_or_the_user_is_told(
        run_dir: Path, browser: Any, caplog: pytest.LogCaptureFixture) -> None:
    from symbiosis.api.report.fonts import cjk_font, no_cjk_font_message

    font = cjk_font()
    page = browser.new_page()
    try:
        page.goto((run_dir / "summary.json").as_uri())
        drawn = page.evaluate(GLYPHS_DIFFER)
    finally:
        page.close()
    # matplotlib and Chromium see the same system fonts (fontconfig)
    assert drawn == (font is not None)
    with caplog.at_level("WARNING"):
        write_report(run_dir, "zh", ("pdf",))
    warned = [r.getMessage() for r in caplog.records if "CJK" in r.getMessage()]
    assert warned == ([] if font else [f"report.pdf: {no_cjk_font_message()}"])
    assert "fonts-noto-cjk" in no_cjk_font_message()


def test_frontier_axes_do_not_exaggerate_a_small_change() -> None:
    from symbiosis.api.report.plots import honest_limits

    # 75.0 % to 75.1 %: shown on a 5-point window around it, not as a steep line
    assert honest_limits(pd.Series([0.750, 0.751]), rate=True) == pytest.approx((0.7255, 0.7755))
    # near 100 % the window stays within 0..1
    assert honest_limits(pd.Series([0.999, 1.0]), rate=True) == pytest.approx((0.95, 1.0))
    # 1,000,000 to 1,001,000 CNY: a window of 5 % of the largest value
    assert honest_limits(pd.Series([1_000_000.0, 1_001_000.0]), rate=False) == \
        pytest.approx((975_475.0, 1_025_525.0))
    # data that already span enough keep matplotlib's limits
    assert honest_limits(pd.Series([0.55, 0.80]), rate=True) is None
    assert honest_limits(pd.Series([float("nan")]), rate=True) is None
