"""The web page in a real browser: headless Debian Chromium driven by Playwright against a live
uvicorn server on loopback (the `live_api` fixture: real SQLite files, the demo imported), an
admin key in the URL fragment.

Skipped (with the reason) only when no Chromium binary is found; CI installs Debian's.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from api_support import ADMIN_KEY, LiveServer
from browser_support import TIMEOUT_MS, artifacts, needs_chromium

pytestmark = needs_chromium

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _py_amount(value: float, lang: str = "en") -> str:
    from symbiosis.api.report.numbers import fmt_amount

    return fmt_amount(value, lang)


def _latest_region_run(live: LiveServer) -> dict[str, Any]:
    with live.client() as client:
        runs = client.get("/api/runs", params={"status": "succeeded"}).json()["data"]
    return max((r for r in runs if not r["park"]), key=lambda r: r["created_at"])


def _bad_dataset_zip() -> bytes:
    """The demo as a .zip with the first offer's quantity negative (offers.csv row 2)."""
    demo = ROOT / "data" / "hunan"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(demo.glob("*.csv")):
            text = path.read_text(encoding="utf-8")
            if path.name == "offers.csv":
                head, first, *rest = text.split("\n")
                cells = first.split(",")
                cells[head.split(",").index("quantity")] = "-5"
                text = "\n".join([head, ",".join(cells), *rest])
            archive.writestr(path.name, text)
    return buffer.getvalue()


def test_web_page_in_chromium(live_api: LiveServer, browser: Any) -> None:
    from playwright.sync_api import expect

    base, key = live_api.url, ADMIN_KEY
    external: list[str] = []
    console_errors: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)

        def on_request(request: Any) -> None:
            host = urlsplit(request.url).hostname or ""
            if request.url.startswith(("http:", "https:", "ws:", "wss:")) \
                    and host not in LOOPBACK:
                external.append(request.url)

        page.on("request", on_request)
        page.on("console", lambda m: console_errors.append(m.text)
                if m.type == "error" else None)
        page.on("pageerror", lambda e: console_errors.append(str(e)))

        page.goto(f"{base}/?lang=en#key={key}")
        status = page.locator("#status")
        expect(status).to_have_text("Ready.")
        # the key left the address bar, and the identity is shown
        assert "key=" not in page.url
        expect(page.locator("#me")).to_contain_text("administrator")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        # no run yet: the tiles show a dash
        expect(page.locator("#kpi-utilization")).to_have_text("—")
        # a park: its enterprises on the map (no run yet), then back to the whole region
        with live_api.client() as client:
            park = client.get("/api/parks").json()["data"][0]["name"]
            members = client.get("/api/enterprises", params={"park": park}).json()["count"]
            everyone = client.get("/api/enterprises", params={"limit": 1}).json()["count"]
        points = page.locator("#map .scatterlayer .trace .points path")
        page.get_by_label("Park", exact=True).select_option(park)
        expect(points).to_have_count(members)
        page.get_by_label("Park", exact=True).select_option("")
        expect(points).to_have_count(everyone)
        expect(status).to_have_text("Ready.")

        page.get_by_role("button", name="Run match").click()
        expect(status).to_have_text("Run finished.")
        run = _latest_region_run(live_api)
        # the bulk solid waste rate (issue 12); the demo gives no baseline, so the tile says
        # it covers the listed surplus and claims no target
        kpis = run["kpis"]
        rate = kpis["bulk_rate"] if kpis["bulk_rate"] is not None else kpis["utilization_rate"]
        expect(page.locator("#kpi-utilization")).to_have_text(f"{rate * 100:.1f}%")
        if kpis["bulk_official"] is False:
            expect(page.locator("#tile-utilization h3")).to_have_text(
                "Bulk solid waste: share of listed surplus matched")
            expect(page.locator("#kpi-utilization-target")).to_contain_text(
                "no target claimed")
            expect(page.locator("#kpi-utilization-target")).not_to_contain_text("target 57")
        else:
            verdict = "meets the target" if rate >= 0.57 else "below the target"
            expect(page.locator("#kpi-utilization-target")).to_contain_text(verdict)
        assert page.locator("#kpi-tonne-km").inner_text() != "—"

        # the map: one marker per enterprise of the run, and exchange lines
        with live_api.client() as client:
            result = client.get(f"/api/runs/{run['id']}/result").json()
        traces = page.evaluate("""() => document.getElementById('map').data.map(
            t => ({kind: t.meta && t.meta.kind, type: t.type, n: t.x.length,
                   material: t.meta && t.meta.material}))""")
        assert all(t["type"] == "scatter" for t in traces)
        markers = sum(t["n"] for t in traces if t["kind"] == "enterprises")
        assert markers == len(result["enterprises"]) > 0
        drawn = page.locator("#map .scatterlayer .trace .points path")
        assert drawn.count() == len(result["enterprises"])
        lines = [t for t in traces if t["kind"] == "exchanges"]
        assert lines
        assert {t["material"] for t in lines} == \
            {x["offer_material"] for x in result["exchanges"]}
        legend = page.locator("#map .legend").text_content() or ""
        assert "Coal fly ash" in legend

        # the Sankey (tonnes) renders nodes; it offers only the unit families present
        assert page.locator("#sankey .sankey .sankey-node").count() > 0
        families = {r["family"] for r in page.evaluate("""() => [...document.querySelectorAll(
            '#sankey-family option')].filter(o => !o.hidden).map(o => ({family: o.value}))""")}
        units = {x["unit"] for x in result["exchanges"]}
        assert families == {f for f, u in (("mass", "t"), ("energy", "GJ"), ("water", "m3"))
                            if u in units}
        # every symbol on the map is explained: the legend and the key below it
        expect(page.locator("#map-key")).to_contain_text("square root of the quantity")
        # tiles: amounts with three significant figures, none wider than its tile
        assert page.locator("#kpi-saving").inner_text() == _py_amount(run["kpis"]["saving_cny"])
        assert page.evaluate("""() => [...document.querySelectorAll('.tile, .tile *')]
            .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1).length""") == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= 1400
        # the page's amount rule is the report's (numbers.fmt_amount), in both languages
        samples = [3_800_830.9, 687_239_873, 29_262.8, 17.25, 9_995, 999_999, -1_234_567,
                   0.01234, 0, 100_000_000, 1e4, 123.456]
        for lang in ("en", "zh"):
            shown = page.evaluate("([v, l]) => v.map(x => window.symbiosisFormatAmount(x, l))",
                                  [samples, lang])
            assert shown == [_py_amount(v, lang) for v in samples], lang

        # reopening the page opens on the latest stored run, not on empty tiles
        page.reload()
        expect(status).to_have_text("Ready.")
        expect(page.locator("#kpi-utilization")).to_have_text(f"{rate * 100:.1f}%")
        assert page.locator("#map-empty").is_hidden()

        # the scenario panel: remove a supplier, compare, both columns shown
        supplier = result["exchanges"][0]["offer_enterprise_id"]
        page.get_by_label("Enterprise", exact=True).select_option(supplier)
        page.locator("#sc-add-remove").click()
        expect(page.locator("#sc-changes li")).to_have_count(1)
        # ... and add a planned enterprise with one need, through the form
        page.get_by_label("ID", exact=True).fill("PLAN-CEM1")
        page.get_by_label("Name", exact=True).fill("Planned cement grinding station")
        page.get_by_label("Sector (GB/T 4754)").fill("3011")
        page.get_by_label("Longitude").fill("112.95")
        page.get_by_label("Latitude").fill("27.85")
        page.get_by_role("button", name="Add a need or offer").click()
        row = page.locator("#sc-listings .listing-row")
        row.get_by_label("Kind").select_option("needs")
        row.get_by_label("Material").select_option("cement_admixture")
        row.get_by_label("Quantity").fill("100000")
        page.locator("#sc-add-enterprise").click()
        expect(page.locator("#sc-changes li")).to_have_count(2)
        page.get_by_role("button", name="Compare").click()
        expect(status).to_have_text("Scenario compared.")
        heads = page.locator("#compare-table thead th")
        expect(heads).to_have_text(["Indicator", "Baseline", "Scenario", "Change"])
        expect(page.locator("#compare-table tbody tr")).to_have_count(6)
        expect(page.locator("#compare-changes li")).to_have_count(2)
        expect(page.locator("#compare-changes")).to_contain_text("PLAN-CEM1")
        assert page.locator("#compare-diff tbody tr").count() > 0
        # "what changed that matters" comes first: the rate's move with its cause (the
        # removed supplier's tonnes leave the denominator), then the five largest changes
        summary = page.locator("#compare-summary")
        expect(summary).to_contain_text("What changed that matters")
        assert page.evaluate("""() => document.getElementById('compare-summary')
            .compareDocumentPosition(document.getElementById('compare-table'))
            & Node.DOCUMENT_POSITION_FOLLOWING""")
        expect(page.locator("#compare-kpi-causes li[data-key=utilization_rate]")).to_contain_text(
            "the denominator shrank")
        expect(page.locator("#compare-largest li")).to_have_count(
            min(5, page.locator("#compare-diff tbody tr").count()))

        # gaps: the unused by-products listed, absorbers' locations drawn on the map
        page.get_by_role("button", name="Gaps").click()
        expect(status).to_have_text("Open loops listed.")
        with live_api.client() as client:
            found = client.get("/api/gaps").json()
        assert found["unmatched"]
        expect(page.locator("#gaps-unmatched tbody tr")).to_have_count(len(found["unmatched"]))
        located = [a for a in found["absorbers"] if a.get("location")]
        drawn_gaps = page.evaluate("""() => document.getElementById('map').data
            .filter(t => t.meta && t.meta.kind === 'gaps').map(t => t.x.length)""")
        assert sum(drawn_gaps) == len(located) > 0

        # switch to Chinese: labels, lang attribute and material names follow
        page.get_by_role("button", name="中文").click()
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.locator("#run-button")).to_have_text("运行匹配")
        expect(page.locator("#compare-table thead th")).to_have_text(
            ["指标", "基准", "情景", "变化"])
        expect(status).to_have_text("已列出缺口。")
        assert "粉煤灰" in (page.locator("#map .legend").text_content() or "")

        # back to English for the screenshot (CI machines may lack CJK fonts)
        page.get_by_role("button", name="English").click()
        expect(page.locator("#run-button")).to_have_text("Run match")
        shot = artifacts() / "web.png"
        page.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not external, f"requests left the machine: {external}"
    assert not console_errors, f"console errors: {console_errors}"


def test_web_page_error_message_and_browser_language(live_api: LiveServer,
                                                     browser: Any) -> None:
    """A wrong key shows the API's error in the alert area; a Chinese browser gets Chinese
    labels; a good key typed into the key box then loads the page."""
    from playwright.sync_api import expect

    base, key = live_api.url, ADMIN_KEY
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{base}/#key=sk_wrong_0000")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.locator("#run-button")).to_have_text("运行匹配")
        alert = page.get_by_role("alert")
        expect(alert).to_be_visible()
        expect(alert).to_contain_text("unauthorized")
        page.get_by_label("API 密钥").fill(key)
        page.get_by_role("button", name="使用密钥").click()
        expect(page.locator("#status")).to_have_text("就绪。")
        expect(page.locator("#error")).to_be_hidden()
        expect(page.locator("#me")).to_contain_text("管理员")
        # a dataset with a bad quantity: refused, every problem listed at its file and row
        page.get_by_label("替换区域数据").set_input_files(files=[{
            "name": "bad.zip", "mimeType": "application/zip", "buffer": _bad_dataset_zip()}])
        page.get_by_role("button", name="上传").click()
        expect(alert).to_contain_text("invalid_dataset")
        expect(alert.locator("li")).to_contain_text(["offers.csv:2:quantity"])
        # errors and warnings are counted apart and each line says which it is
        errors = alert.locator("li[data-severity=error]").count()
        warnings = alert.locator("li[data-severity=warning]").count()
        assert errors >= 1
        expect(page.locator("#problem-counts")).to_have_text(f"{errors} 个错误，{warnings} 条警告")
        expect(alert.locator("li[data-severity=error]").first).to_contain_text("错误：")
    finally:
        context.close()


def test_web_page_for_a_park_manager(live_api: LiveServer, browser: Any) -> None:
    """A park manager's key: its own park only (no whole-region option, no upload), and the
    map shows that park's enterprises."""
    from playwright.sync_api import expect

    with live_api.client() as client:
        park = client.get("/api/parks").json()["data"][-1]["name"]
        members = client.get("/api/enterprises", params={"park": park}).json()["count"]
    key = live_api.key("park_manager", park)
    context = browser.new_context(locale="en-GB")
    try:
        page = context.new_page()
        page.goto(f"{live_api.url}/#key={key}")
        expect(page.locator("#status")).to_have_text("Ready.")
        expect(page.locator("#me")).to_contain_text(f"park manager · scope: {park}")
        expect(page.locator("#park-select option")).to_have_text([park])
        expect(page.locator("#upload-form")).to_be_hidden()
        expect(page.locator("#map .scatterlayer .trace .points path")).to_have_count(members)
    finally:
        context.close()
