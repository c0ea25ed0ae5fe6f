"""Park-run privacy (api/server/park_view.py): a park manager reads the park's own slice,
its counterparties by name, and nothing that names another enterprise of another park,
through every route of a park run (status, list, result with and without gzip, exchanges
CSV and GeoJSON, diff). Real uvicorn server, real SQLite, real HTTP, the bundled demo."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import LiveServer, serving

from symbiosis.api.server.anonymity import outside_label

PARK = "Xiangtan Yuetang steel park (illustrative)"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, demo_path: Path) -> Iterator[LiveServer]:
    yield from serving(tmp_path_factory.mktemp("park-privacy"), demo_path)


@pytest.fixture(scope="module")
def parties(demo_path: Path) -> dict[str, set[str]]:
    """From the region's own plan, solved here: the park's enterprises, the outside
    enterprises at the other end of the park's exchanges, and everyone else (hidden),
    with the listing ids and names of the hidden ones."""
    from symbiosis.dataset import load_dataset
    from symbiosis.matching.model import solve_match

    dataset = load_dataset(demo_path)
    ent = dataset.enterprises
    inside = {str(i) for i in ent.index[(ent["park"] == PARK).to_numpy()]}
    ex = solve_match(dataset).exchanges
    counter = set()
    for src, dst in zip(ex["offer_enterprise_id"], ex["need_enterprise_id"], strict=True):
        if str(src) in inside and str(dst) not in inside:
            counter.add(str(dst))
        if str(dst) in inside and str(src) not in inside:
            counter.add(str(src))
    hidden = {str(i) for i in ent.index} - inside - counter
    listings = {str(i) for frame in (dataset.offers, dataset.needs)
                for i, e in zip(frame.index, frame["enterprise_id"], strict=True)
                if str(e) in hidden}
    names = {str(ent.at[i, "name"]) for i in hidden}
    return {"inside": inside, "counter": counter, "hidden": hidden, "listings": listings,
            "names": names, "counter_names": {str(ent.at[i, "name"]) for i in counter}}


def _leaks(text: str, parties: dict[str, set[str]]) -> list[str]:
    """Hidden enterprise ids (whole tokens), hidden listing ids and names found in `text`."""
    found = [i for i in parties["hidden"]
             if re.search(rf"(?<![A-Za-z0-9_.\-]){re.escape(i)}(?![A-Za-z0-9_\-])", text)]
    found += [i for i in parties["listings"] | parties["names"] if i in text]
    return sorted(found)


def _text(response: Any) -> str:
    assert response.status_code == 200, response.text
    if "json" in response.headers.get("content-type", ""):
        return json.dumps(response.json(), ensure_ascii=False)
    return str(response.text)


@pytest.fixture(scope="module")
def runs(api: LiveServer) -> tuple[int, int]:
    key = api.key("park_manager", PARK)
    ids = []
    with api.client(key) as c:
        for max_km in (None, 80):
            body = {"park": PARK} | ({"max_km": max_km} if max_km else {})
            run = c.post("/api/runs", params={"wait": 60}, json=body).json()
            assert run["status"] == "succeeded", run
            ids.append(run["id"])
    return ids[0], ids[1]


def test_the_stored_park_run_names_enterprises_of_other_parks_that_the_view_hides(
        api: LiveServer, runs: tuple[int, int], parties: dict[str, set[str]]) -> None:
    """The test can fail: the admin, who reads runs as stored, sees other parks'
    enterprises in the offers' explanations of the same run."""
    with api.client() as c:
        stored = _text(c.get(f"/api/runs/{runs[0]}/result"))
    assert _leaks(stored, parties), "the demo park run no longer names outside enterprises"


def test_a_park_key_reads_no_other_park_enterprise_through_any_route_of_a_park_run(
        api: LiveServer, runs: tuple[int, int], parties: dict[str, set[str]]) -> None:
    key = api.key("park_manager", PARK)
    first, second = runs
    with api.client(key) as c:
        answers = {
            "status": c.get(f"/api/runs/{first}"),
            "list": c.get("/api/runs"),
            "result": c.get(f"/api/runs/{first}/result"),
            "result (gzip)": c.get(f"/api/runs/{first}/result",
                                   headers={"Accept-Encoding": "gzip"}),
            "csv": c.get(f"/api/runs/{first}/exchanges.csv"),
            "geojson": c.get(f"/api/runs/{first}/exchanges.geojson"),
            "diff": c.get(f"/api/runs/{second}/diff/{first}"),
        }
    leaks = {route: _leaks(_text(r), parties) for route, r in answers.items()}
    assert not any(leaks.values()), leaks
    body = answers["result"].json()
    assert answers["result (gzip)"].json() == body
    # the park's own slice in full, its counterparties by name
    assert {e["id"] for e in body["enterprises"]} == parties["inside"]
    shown = {x[f"{side}_enterprise_name"] for x in body["exchanges"]
             for side in ("offer", "need")}
    assert parties["counter_names"] <= shown
    assert all(n in answers["csv"].text for n in parties["counter_names"])
    # explanations keep their sense: hidden takers and suppliers read as labels
    explained = " ".join(str(o.get("explanation") or "") for o in body["offers"])
    assert "outside enterprise 1" in explained and "园区外企业1" in explained
    # region totals only as aggregates: same tonnes as the stored summary
    with api.client() as c:
        stored = c.get(f"/api/runs/{first}/result").json()
    assert body["summary"]["tonnes_matched"] == stored["summary"]["tonnes_matched"]
    assert body["summary"]["park_scope"] == stored["summary"]["park_scope"]


def test_the_park_view_keeps_only_the_park_row_of_the_parks_table_and_its_own_stores(
        ) -> None:
    """A body with another park's row and another enterprise's store (the demo has
    neither): the view keeps the park's own and relabels the rest."""
    from symbiosis.api.server.park_view import park_view
    from symbiosis.api.server.region import Snapshot
    from symbiosis.store import DatasetRows

    rows = DatasetRows(
        enterprises=[{"id": "A1", "name": "Alpha works", "park": "P"},
                     {"id": "B1", "name": "Beta cement", "park": "Q"},
                     {"id": "C1", "name": "Gamma power", "park": "Q"}],
        offers=[{"id": "OF-A", "enterprise_id": "A1"}, {"id": "OF-C", "enterprise_id": "C1"}],
        needs=[{"id": "ND-B", "enterprise_id": "B1"}], distances=[], substitutions=None,
        offer_columns=("id", "enterprise_id"), need_columns=("id", "enterprise_id"))
    body = {
        "enterprises": [{"id": "A1", "name": "Alpha works", "park": "P"}],
        "exchanges": [{"offer_enterprise_id": "A1", "need_enterprise_id": "",
                       "need_enterprise_name": "Beta cement", "park_scope": "outbound"}],
        "offers": [{"enterprise_id": "A1",
                    "explanation": "ND-B (served by C1, OF-C); Gamma power is full."}],
        "needs": [],
        "summary": {"parks": {"parks": {"P": {"offered_t": 1.0}, "Q": {"offered_t": 9.0}}},
                    "monthly": {"storage": [{"enterprise_id": "A1"},
                                            {"enterprise_id": "C1"}]},
                    "warnings": ["C1 has no coordinates"]},
        "monthly": {"storage": [{"enterprise_id": "C1"}],
                    "exchanges": [{"offer_enterprise_id": "C1",
                                   "need_enterprise_id": "B1"}]},
    }
    view = park_view(body, "P", Snapshot(None, rows))
    assert list(view["summary"]["parks"]["parks"]) == ["P"]
    assert view["summary"]["monthly"]["storage"] == [{"enterprise_id": "A1"}]
    assert view["monthly"] == {"storage": [], "exchanges": []}
    # B1 is the counterparty (named); C1 is hidden: id, listing id and name, one label
    label = outside_label(1)
    assert view["offers"][0]["explanation"] == \
        f"ND-B (served by {label}, {label}); {label} is full."
    assert view["summary"]["warnings"] == [f"{label} has no coordinates"]
    assert view["exchanges"][0]["need_enterprise_name"] == "Beta cement"
    assert body["summary"]["parks"]["parks"]["Q"] == {"offered_t": 9.0}  # not changed


def test_a_failed_park_runs_error_names_no_enterprise_outside_the_park() -> None:
    """A run's error comes from the whole region's rows (a park is planned with every
    partner): for the park's key it reads with labels, its own enterprise by id."""
    from symbiosis.api.server.park_view import park_job
    from symbiosis.api.server.region import Snapshot
    from symbiosis.store import DatasetRows

    rows = DatasetRows(
        enterprises=[{"id": "A1", "name": "Alpha works", "park": "P"},
                     {"id": "C1", "name": "Gamma power", "park": "Q"}],
        offers=[{"id": "OF-C", "enterprise_id": "C1"}], needs=[], distances=[],
        substitutions=None, offer_columns=("id", "enterprise_id"),
        need_columns=("id", "enterprise_id"))
    job = {"id": 7, "park": "P", "status": "failed", "phase": "validate",
           "error": "offers:2:quantity: OF-C of C1 (Gamma power) is negative; A1 is fine"}
    shown = park_job(job, "P", Snapshot(None, rows))
    label = outside_label(1)
    assert shown["error"] == f"offers:2:quantity: {label} of {label} ({label}) is negative; " \
                             "A1 is fine"
    assert {k: v for k, v in shown.items() if k != "error"} == \
        {k: v for k, v in job.items() if k != "error"}
