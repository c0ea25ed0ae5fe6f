"""What the web page adds to the API: the offline basemap, the demo fallback when nothing is
stored, and planned enterprises given in GCJ-02 or BD-09. Real uvicorn servers on loopback
(real SQLite files), real HTTP, and headless Debian Chromium for what the page shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from api_support import ADMIN_KEY, LiveServer, serving
from browser_support import TIMEOUT_MS, artifacts, needs_chromium

from symbiosis.crs import wgs84_to_bd09, wgs84_to_gcj02

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

# a planned cement grinding station between Xiangtan and Zhuzhou, WGS 84
PLANNED_WGS84 = (112.95, 27.85)


@pytest.fixture(scope="module")
def empty_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server whose store holds nothing (no dataset imported)."""
    yield from serving(tmp_path_factory.mktemp("empty-api"))


def _scenario(client: Any, lon: float, lat: float, crs: str | None) -> dict[str, Any]:
    change: dict[str, Any] = {
        "op": "add_enterprise",
        "enterprise": {"id": "PLAN-CEM1", "name": "Planned cement grinding station",
                       "sector": "3011", "lon": lon, "lat": lat},
        "needs": [{"material": "cement_admixture", "quantity": 100000}]}
    if crs is not None:
        change["crs"] = crs
    response = client.post("/api/scenarios", json={"changes": [change]})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_planned_enterprise_in_gcj02_or_bd09_lands_where_it_does_in_wgs84(
        live_api: LiveServer) -> None:
    """The same site given in WGS 84, in GCJ-02 and in BD-09 (converted here with the CLI's
    forward formulas) gives the same scenario to the tonne-km; the GCJ-02 numbers read as
    WGS 84 (the site moved by the offset, about 500 m) give a different haul."""
    lon, lat = PLANNED_WGS84
    glon, glat = (float(v[0]) for v in wgs84_to_gcj02([lon], [lat]))
    blon, blat = (float(v[0]) for v in wgs84_to_bd09([lon], [lat]))
    with live_api.client() as client:
        wgs = _scenario(client, lon, lat, None)
        gcj = _scenario(client, glon, glat, "gcj02")
        bd = _scenario(client, blon, blat, "bd09")
        raw = _scenario(client, glon, glat, "wgs84")
        bad = client.post("/api/scenarios", json={"changes": [{
            "op": "add_enterprise", "crs": "epsg:3857",
            "enterprise": {"id": "X", "name": "X", "lon": lon, "lat": lat}}]})
    assert wgs["scenario"]["tonnes_matched"] > wgs["baseline"]["tonnes_matched"]
    for other in (gcj, bd):
        assert other["scenario"]["tonne_km"] == pytest.approx(wgs["scenario"]["tonne_km"],
                                                              rel=1e-9)
        assert other["scenario"]["tonnes_matched"] == wgs["scenario"]["tonnes_matched"]
    assert abs(raw["scenario"]["tonne_km"] - wgs["scenario"]["tonne_km"]) > 1.0
    assert bad.status_code == 422
    assert "crs" in bad.text


def test_the_basemap_and_the_demo_need_no_key_and_stay_out_of_the_openapi(
        empty_api: LiveServer, demo_path: Path) -> None:
    from symbiosis.dataset import load_dataset
    from symbiosis.matching.model import solve_match

    with empty_api.client(key=None) as client:
        base = client.get("/api/basemap")
        demo = client.get("/api/demo")
        spec = client.get("/openapi.json").json()
        runs = client.get("/api/runs")
    assert base.status_code == 200 and demo.status_code == 200
    assert runs.status_code == 401  # the stored data still needs a key
    assert "/api/basemap" not in spec["paths"] and "/api/demo" not in spec["paths"]
    body = demo.json()
    expected = solve_match(load_dataset(demo_path)).summary
    assert body["demo"] is True
    assert body["kpis"]["tonnes_matched"] == pytest.approx(expected.tonnes_matched, rel=1e-12)
    assert body["summary"]["tonne_km"] == pytest.approx(expected.tonne_km, rel=1e-12)
    assert len(body["enterprises"]) == len(load_dataset(demo_path).enterprises)
    places = {p["name_en"] for p in base.json()["places"]}
    assert {"Hunan", "Changsha", "Jishou"} <= places


def _watch(page: Any) -> tuple[list[str], list[str]]:
    external: list[str] = []
    errors: list[str] = []

    def on_request(request: Any) -> None:
        host = urlsplit(request.url).hostname or ""
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host not in LOOPBACK:
            external.append(request.url)

    page.on("request", on_request)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return external, errors


@needs_chromium
def test_an_empty_store_shows_the_demo_labelled_as_demo_data(empty_api: LiveServer,
                                                              browser: Any) -> None:
    """No dataset stored: the page opens on the demo's figures under a "Demo data" banner
    (with a key, and before any key is entered), never on empty tiles."""
    from playwright.sync_api import expect

    with empty_api.client(key=None) as client:
        demo = client.get("/api/demo").json()
    rate = f"{demo['kpis']['bulk_rate'] * 100:.1f}%"  # the first tile: the bulk rate
    context = browser.new_context(viewport={"width": 1366, "height": 1000}, locale="en-GB")
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        external, errors = _watch(page)
        page.goto(f"{empty_api.url}/?lang=en")  # no key yet
        banner = page.locator("#demo-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Demo data")
        expect(banner).to_contain_text("until an API key is entered")
        expect(page.locator("#kpi-utilization")).to_have_text(rate)
        expect(page.locator("body")).to_have_class("demo")

        page.close()
        page = context.new_page()  # a fresh load with the key (a fragment alone does not reload)
        page.set_default_timeout(TIMEOUT_MS)
        external, errors = _watch(page)
        page.goto(f"{empty_api.url}/?lang=en#key={ADMIN_KEY}")
        expect(page.locator("#status")).to_have_text("Ready.")
        banner = page.locator("#demo-banner")
        expect(banner).to_contain_text("nothing is stored for this selection")
        expect(page.locator("#kpi-utilization")).to_have_text(rate)
        expect(page.locator("#run-info")).to_have_text("Demo data")
        markers = page.evaluate("""() => document.getElementById('map').data
            .filter(t => t.meta && t.meta.kind === 'enterprises')
            .reduce((n, t) => n + t.x.length, 0)""")
        assert markers == len(demo["enterprises"])
        assert page.locator("#kpi-tonne-km").inner_text() != "—"
        page.screenshot(path=str(artifacts() / "web-demo.png"), full_page=True)

        page.get_by_role("button", name="中文").click()
        expect(banner).to_contain_text("演示数据")
    finally:
        context.close()
    assert not external, f"requests left the machine: {external}"
    assert not errors, f"console errors: {errors}"


@needs_chromium
def test_the_map_draws_the_offline_basemap_with_place_labels(live_api: LiveServer,
                                                             browser: Any) -> None:
    """Provincial boundaries and prefecture seats under the enterprises, cut to the data's
    box, labelled in the page's language, with their attribution; nothing fetched from
    outside."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1366, "height": 1000}, locale="en-GB")
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        external, errors = _watch(page)
        page.goto(f"{live_api.url}/?lang=en#key={ADMIN_KEY}")
        expect(page.locator("#status")).to_have_text("Ready.")
        expect(page.locator("#demo-banner")).to_be_hidden()  # the stored demo is real data
        traces = page.evaluate("""() => document.getElementById('map').data.map(t => ({
            kind: t.meta && t.meta.kind, level: t.meta && t.meta.level, n: t.x.length,
            text: t.mode === 'text' ? t.text : null, name: t.name}))""")
        kinds = [t["kind"] for t in traces]
        assert kinds[:2] == ["basemap", "places"]  # drawn first, so under everything else
        boundary = traces[0]
        assert boundary["n"] > 100 and boundary["name"] == "Provincial boundary"
        seats = next(t for t in traces if t["level"] == "seat")
        assert {"Changsha", "Xiangtan", "Zhuzhou", "Hengyang"} <= set(seats["text"])
        provinces = next(t for t in traces if t["level"] == "province")
        assert "Hunan" in provinces["text"] and "Xinjiang" not in provinces["text"]
        expect(page.locator("#map .scatterlayer .textpoint").first).to_be_visible()
        legend = page.locator("#map .legend").text_content() or ""
        assert "Provincial boundary" in legend and "Prefecture seat" in legend
        expect(page.locator("#map-attribution")).to_contain_text("Natural Earth")
        # the axes frame the enterprises (plotly widens one axis to keep the scale), not
        # the whole of China
        with live_api.client() as client:
            lons = [e["lon"] for e in client.get("/api/enterprises",
                                                 params={"limit": 1000}).json()["data"]]
        x_range = page.evaluate("() => document.getElementById('map')._fullLayout.xaxis.range")
        assert x_range[0] < min(lons) < max(lons) < x_range[1]
        assert x_range[1] - x_range[0] < 10

        page.get_by_role("button", name="中文").click()
        seats_zh = page.evaluate("""() => document.getElementById('map').data
            .find(t => t.meta && t.meta.level === 'seat').text""")
        assert "长沙" in seats_zh
    finally:
        context.close()
    assert not external, f"requests left the machine: {external}"
    assert not errors, f"console errors: {errors}"


@needs_chromium
def test_the_planned_enterprise_form_sends_gcj02_coordinates_for_the_server_to_convert(
        live_api: LiveServer, browser: Any) -> None:
    from playwright.sync_api import expect

    lon, lat = PLANNED_WGS84
    glon, glat = (float(v[0]) for v in wgs84_to_gcj02([lon], [lat]))
    context = browser.new_context(viewport={"width": 1366, "height": 1000}, locale="en-GB")
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{live_api.url}/?lang=en#key={ADMIN_KEY}")
        expect(page.locator("#status")).to_have_text("Ready.")
        page.get_by_label("ID", exact=True).fill("PLAN-CEM1")
        page.get_by_label("Name", exact=True).fill("Planned cement grinding station")
        page.get_by_label("Sector (GB/T 4754)").fill("3011")
        page.get_by_label("Coordinate system").select_option("gcj02")
        page.get_by_label("Longitude").fill(repr(glon))
        page.get_by_label("Latitude").fill(repr(glat))
        page.get_by_role("button", name="Add a need or offer").click()
        row = page.locator("#sc-listings .listing-row")
        row.get_by_label("Kind").select_option("needs")
        row.get_by_label("Material").select_option("cement_admixture")
        row.get_by_label("Quantity").fill("100000")
        page.locator("#sc-add-enterprise").click()
        with page.expect_request(lambda r: r.url.endswith("/api/scenarios")) as sent:
            page.get_by_role("button", name="Compare").click()
        expect(page.locator("#status")).to_have_text("Scenario compared.")
        body = sent.value.post_data_json
        [change] = body["changes"]
        assert change["crs"] == "gcj02"
        assert (change["enterprise"]["lon"], change["enterprise"]["lat"]) == (glon, glat)
        with live_api.client() as client:
            wgs = _scenario(client, lon, lat, None)
        shown = page.evaluate("""() => [...document.querySelectorAll(
            '#compare-table tbody tr')].map(r => r.cells[2].textContent)""")
        expected = f"{wgs['scenario']['tonnes_matched']:,.0f}"
        assert expected in shown
    finally:
        context.close()
