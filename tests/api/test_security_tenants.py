"""Tenants who compete (issue 18, the second round): side channels in the answer order,
formula-like text in workbooks, whole-dataset writes with compare-and-swap, 503 when the
store is locked, keys bound to an enterprise's identity, workers that die with the server.
Real servers over real HTTP on real SQLite files, other OS processes as the rivals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
from api_support import LiveServer, start_server

from symbiosis.bands import distance_band

# ------------------------------------------------------------------ answer order (item 3)


def _exact_hits(live: LiveServer, material: str, site: str) -> list[Any]:
    """The server's own exact hits for a party search from `site` (what the API bands)."""
    from symbiosis.matching.feedstock import search_feedstock

    snap = live.app.state.services.region.snapshot()
    home = snap.enterprises[site]
    return search_feedstock(snap.dataset(), material, float(home["lon"]), float(home["lat"]),
                            200, limit=10_000, exclude_enterprise=site)


def test_feedstock_order_reveals_no_more_than_the_bands(tmp_path: Path, demo_path: Path
                                                         ) -> None:
    """Move a supplier inside its distance band past a rival in the same band: a party's
    answer (order included, also cut to one hit) must not change, since the order is
    band first, then a keyed hash, never the exact distance."""
    live = start_server(tmp_path / "srv", demo_path)
    try:
        searcher, material = "CS-BRK1", "fly_ash"
        hits = _exact_hits(live, material, searcher)
        by_supplier = {h.enterprise_id: h.distance_km for h in hits}
        band = distance_band(min(by_supplier.values()))
        same = sorted((km, s) for s, km in by_supplier.items()
                      if distance_band(km) == band)
        assert len(same) >= 2, same  # the demo has three suppliers at 50-100 km
        (near_km, near), (far_km, _) = same[0], same[-1]
        assert band.high is not None
        target_km = (far_km + band.high) / 2  # past the farthest rival, same band

        key = live.key("recycler", searcher)
        query = {"material": material, "radius_km": 200, "limit": 500}

        def answers() -> tuple[list[Any], list[Any]]:
            with live.client(key) as c:
                full = c.post("/api/feedstock/search", json=query)
                first = c.post("/api/feedstock/search", json=query | {"limit": 1})
            assert full.status_code == 200 and first.status_code == 200, full.text
            return full.json()["data"], first.json()["data"]

        before, before_first = answers()
        bands = [h["distance_band"]["min"] for h in before]
        assert bands == sorted(bands)  # band order holds
        with live.client() as admin:
            home = admin.get(f"/api/enterprises/{searcher}").json()
            there = admin.get(f"/api/enterprises/{near}").json()
            scale = target_km / near_km  # along the line from the searcher: km ~ linear
            moved = {"lon": home["lon"] + (there["lon"] - home["lon"]) * scale,
                     "lat": home["lat"] + (there["lat"] - home["lat"]) * scale}
            assert admin.patch(f"/api/enterprises/{near}", json=moved).status_code == 200
        after_km = {h.enterprise_id: h.distance_km for h in _exact_hits(live, material,
                                                                         searcher)}
        # the move did what the test needs: now the farthest of its band, still in it
        assert distance_band(after_km[near]) == band
        assert after_km[near] > max(km for s, km in after_km.items()
                                    if s != near and distance_band(km) == band)
        after, after_first = answers()
        assert after == before and after_first == before_first
    finally:
        live.stop()


# ------------------------------------------------------------------ workbooks (item 5)


def test_xlsx_text_cells_starting_like_formulas_are_neutralised(tmp_path: Path) -> None:
    from symbiosis.api.report.xlsx import build_report_xlsx
    from symbiosis.dataset import load_dataset
    from symbiosis.matching.model import solve_match
    from symbiosis.matching.options import MatchOptions

    dataset = load_dataset(Path(__file__).resolve().parents[2] / "data" / "hunan")
    result = solve_match(dataset, MatchOptions())
    offers = result.offers.reset_index()
    payloads = ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-3+cmd|' /C calc'!A0", "@SUM(A1)",
                "\tTAB", "\rCR"]
    unmatched = offers.index[offers["unmatched"] > 0]
    assert len(unmatched) >= len(payloads)
    for i, text in zip(unmatched, payloads, strict=False):
        offers.loc[i, "enterprise_id"] = text
    path = build_report_xlsx(result.summary.to_dict(), result.exchanges,
                             offers.set_index("offer_id"), None, None, "en",
                             tmp_path / "evil.xlsx")
    book = openpyxl.load_workbook(path)
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row
             if c.value is not None]
    texts = {c.value for c in cells if c.data_type == "s"}
    for text in payloads:
        # (XML reads a CR back as LF)
        assert "'" + text.replace("\r", "\n") in texts, text  # quoted as in the CSV writer
    for c in cells:
        assert c.data_type != "f", (c.coordinate, c.value)  # no formula anywhere
        if isinstance(c.value, str):
            assert not c.value.startswith(("=", "+", "-", "@", "\t", "\r")), c.value
    # numbers stay numbers (a negative one included)
    numbers = [c.value for c in cells if c.data_type == "n"]
    assert numbers and all(isinstance(v, int | float) for v in numbers)
    frame = pd.read_excel(path, sheet_name=None)
    assert any(("'" + payloads[0]) in set(map(str, f.to_numpy().ravel()))
               for f in frame.values())
