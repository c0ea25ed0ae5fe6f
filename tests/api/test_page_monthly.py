"""The page's monthly charts (issue 15) and the estimated mark in its short exchange table
(issue 14), on a small hand-checkable monthly dataset run through the real API: a power
plant's 1,200 t/yr of fly ash (100 t a month) with a 300 t silo, a cement kiln stopped in
January and February (0, 0, 200, 200, then 100 t a month), and a steel works whose
blast-furnace slag was estimated from its hot metal. Real uvicorn server, real SQLite,
real HTTP, headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import ADMIN_KEY, LiveServer, serving
from browser_support import TIMEOUT_MS, artifacts, needs_chromium

SOURCE = "Horii et al., Nippon Steel Technical Report No. 104 (2013)"
KILN = [0, 0, 200, 200, 100, 100, 100, 100, 100, 100, 100, 100]

FILES = {
    "enterprises.csv": """id,name,sector,lon,lat,park
PWR,Riverside power plant,4411,112.90,27.86,P1
CEM,Hill cement kiln,3011,113.00,27.86,P1
STL,East steel works,3110,112.95,27.90,P2
""",
    "offers.csv": f"""id,enterprise_id,material,quantity,estimated,quantity_low,quantity_high,\
estimate_basis,estimate_source,estimate_confidence
OF-PWR,PWR,fly_ash,1200,,,,,,
OF-STL,STL,bf_slag,3000,yes,2500,3500,"10,000 t hot metal x 0.30 t/t","{SOURCE}",medium
""",
    "needs.csv": "id,enterprise_id,material,quantity," + ",".join(
        f"m{t:02d}" for t in range(1, 13)) + "\n"
    + "ND-CEM-ASH,CEM,fly_ash,," + ",".join(str(v) for v in KILN) + "\n"
    + "ND-CEM-ADM,CEM,cement_admixture,2400" + "," * 12 + "\n",
    "storage.csv": "enterprise_id,material,capacity\nPWR,fly_ash,300\n",
    "distances.csv": "from_id,to_id,distance_km\nPWR,CEM,10\n",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("monthly-data")
    for name, text in FILES.items():
        (path / name).write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, folder: Path) -> Iterator[LiveServer]:
    yield from serving(tmp_path_factory.mktemp("monthly-api"), folder)


@pytest.fixture(scope="module")
def run(api: LiveServer) -> dict[str, Any]:
    with api.client() as c:
        status = c.post("/api/runs", params={"wait": 60}, json={}).json()
        assert status["status"] == "succeeded", status
        result: dict[str, Any] = c.get(f"/api/runs/{status['id']}/result").json()
        monthly = c.get(f"/api/runs/{status['id']}/monthly")
    assert monthly.status_code == 200, monthly.text
    return {"id": status["id"], "result": result, "monthly": monthly.json()}


def test_the_monthly_route_gives_the_hand_computed_plan(run: dict[str, Any],
                                                        folder: Path) -> None:
    """The silo keeps January's and February's 100 t each for the kiln's spring (levels
    100, 200, 100, then 0); every month's figures equal summary.json's, which equal a
    plan solved here from the same files."""
    from symbiosis.dataset import load_dataset
    from symbiosis.matching.model import solve_match

    body = run["monthly"]
    [store] = body["stores"]
    assert (store["enterprise_id"], store["material"], store["capacity"]) == ("PWR", "fly_ash",
                                                                             300.0)
    assert store["levels"] == pytest.approx([100, 200, 100] + [0] * 9, abs=1e-6)
    fly_ash_to_kiln = [m["matched_t"] - 200.0 for m in body["months"]]  # slag: 200 t a month
    assert fly_ash_to_kiln == pytest.approx(KILN, abs=1e-6)
    expected = solve_match(load_dataset(folder)).summary.monthly
    assert expected is not None
    summary = run["result"]["summary"]["monthly"]
    for got, stored, own in zip(body["months"], summary["months"], expected.months,
                                strict=True):
        for key in ("offered_t", "needed_t", "matched_t", "met_t", "stored_t"):
            assert got[key] == stored[key] == pytest.approx(getattr(own, key), abs=1e-6)
        assert got["unmatched_t"] == pytest.approx(got["offered_t"] - got["matched_t"])
        assert got["unmet_t"] == pytest.approx(got["needed_t"] - got["met_t"])
    assert body["months"][0]["unmatched_t"] == pytest.approx(150.0)  # 100 t ash stored, 50 slag


def test_the_monthly_exchanges_csv_sums_to_each_months_matched_tonnes(
        api: LiveServer, run: dict[str, Any], live_api: LiveServer) -> None:
    import csv
    import io

    with api.client() as c:
        text = c.get(f"/api/runs/{run['id']}/exchanges_monthly.csv").text
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    per_month = [sum(float(r["quantity"]) for r in rows if int(r["month"]) == m)
                 for m in range(1, 13)]
    assert per_month == pytest.approx([m["matched_t"] for m in run["monthly"]["months"]])
    ash = [sum(float(r["quantity"]) for r in rows if int(r["month"]) == m
               and r["offer_id"] == "OF-PWR") for m in range(1, 13)]
    assert ash == pytest.approx(KILN)
    with live_api.client() as c:  # an annual run has none
        annual = c.post("/api/runs", params={"wait": 60}, json={}).json()
        assert c.get(f"/api/runs/{annual['id']}/exchanges_monthly.csv").status_code == 404


def test_an_annual_run_has_no_monthly_figures(live_api: LiveServer) -> None:
    with live_api.client() as c:
        status = c.post("/api/runs", params={"wait": 60}, json={}).json()
        answer = c.get(f"/api/runs/{status['id']}/monthly")
    assert answer.status_code == 404
    assert "annual" in answer.json()["error"]["message"]


def test_a_park_key_sees_its_own_stores_only(api: LiveServer) -> None:
    """The silo is P1's: P2's manager gets the months (region aggregates) but no store, and
    no word of the power plant anywhere in its run."""
    key = api.key("park_manager", "P2")
    with api.client(key) as c:
        status = c.post("/api/runs", params={"wait": 60}, json={"park": "P2"}).json()
        monthly = c.get(f"/api/runs/{status['id']}/monthly").json()
        result = c.get(f"/api/runs/{status['id']}/result")
        per_month = c.get(f"/api/runs/{status['id']}/exchanges_monthly.csv").text
    assert len(monthly["months"]) == 12 and monthly["stores"] == []
    assert "OF-PWR" not in per_month and "OF-STL" in per_month  # P2's slag only
    assert result.json()["monthly"]["storage"] == []
    assert "PWR" not in result.text and "Riverside power plant" not in result.text
    assert "Hill cement kiln" in result.text  # the slag's taker: a counterparty
    with api.client() as c:  # the admin reads P1's run with its silo
        p1 = c.post("/api/runs", params={"wait": 60}, json={"park": "P1"}).json()
        stores = c.get(f"/api/runs/{p1['id']}/monthly").json()["stores"]
    assert [s["enterprise_id"] for s in stores] == ["PWR"]


@needs_chromium
def test_the_page_draws_the_monthly_figures_and_marks_the_estimated_offer(
        api: LiveServer, run: dict[str, Any], browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1366, "height": 1000}, locale="en-GB")
    errors: list[str] = []
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{api.url}/?lang=en#key={ADMIN_KEY}")
        expect(page.locator("#status")).to_have_text("Ready.")
        expect(page.locator("#monthly-panel")).to_be_visible()
        traces = page.evaluate("""() => document.getElementById('monthly-flows').data
            .map(t => ({key: t.meta.key, y: t.y, n: t.x.length}))""")
        months = run["result"]["summary"]["monthly"]["months"]
        drawn = {t["key"]: t["y"] for t in traces}
        assert set(drawn) == {"matched", "unmatched", "offered", "needed"}
        for key in ("matched", "offered", "needed"):
            assert drawn[key] == [m[f"{key}_t"] for m in months]
        assert drawn["unmatched"] == pytest.approx(
            [m["offered_t"] - m["matched_t"] for m in months])
        stores = page.evaluate("""() => document.getElementById('monthly-stores').data
            .map(t => ({store: t.meta.store, y: t.y}))""")
        [level] = run["result"]["monthly"]["storage"]
        assert stores == [{"store": "PWR", "y": [level[f"m{t:02d}"] for t in range(1, 13)]}]
        expect(page.locator("#monthly-note")).to_contain_text("Held at year end")
        page.locator("#monthly-panel").screenshot(path=str(artifacts() / "web-monthly.png"))

        # the short exchange table: the estimated slag is marked, with its source
        table = page.locator("#exchange-table")
        expect(table).to_be_visible()
        slag = table.locator("tbody tr", has_text="East steel works")
        mark = slag.locator("abbr.estimated")
        expect(mark).to_have_text("est.")
        expect(mark).to_have_attribute("title", f"Quantity estimated from capacity, not "
                                                f"reported: {SOURCE} (confidence: medium)")
        ash = table.locator("tbody tr", has_text="Riverside power plant")
        expect(ash).to_have_count(1)
        expect(ash.locator("abbr.estimated")).to_have_count(0)
        page.locator("#exchanges-panel").screenshot(path=str(artifacts() / "web-exchanges.png"))
        mark.hover()
        page.get_by_role("button", name="中文").click()
        expect(page.locator("#monthly-h")).to_have_text("全年逐月")
        expect(mark).to_have_text("估算")
    finally:
        context.close()
    assert not errors, f"console errors: {errors}"
