"""The HTTP API over real HTTP: a live uvicorn against real SQLite files in a temp folder.

Resources round-trip and validate like files, uploads are all or nothing, runs give the
engine's own figures in JSON, CSV and GeoJSON, proposals move through their states with an
audit trail, and every error has one shape.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from api_support import ADMIN_KEY, LiveServer, serving

from symbiosis.dataset import load_dataset
from symbiosis.matching.model import solve_match

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import DatasetTables
    from store_support import Neo4jServer

PARK = "Xiangtan Economic Development Zone (illustrative)"


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == r.headers["X-Request-ID"]
    return dict(body["error"])


def _version(c: httpx.Client) -> int:
    return int(c.get("/health").json()["dataset_version"])


def _run(c: httpx.Client, **options: Any) -> dict[str, Any]:
    r = c.post("/api/runs", params={"wait": 60}, json=options)
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["status"] == "succeeded", run
    return dict(run)


# ------------------------------------------------------------------ conventions


def test_health_request_ids_and_the_error_shape(live_api: LiveServer) -> None:
    with live_api.client(None) as anon:
        health = anon.get("/health", headers={"X-Request-ID": "trace-42"})
        assert health.status_code == 200
        assert health.json()["status"] == "ok" and health.json()["store"] == "sqlite"
        assert health.headers["X-Request-ID"] == "trace-42"
        # a request id that could forge log lines is replaced
        odd = anon.get("/health", headers={"X-Request-ID": "a b\"}"})
        assert odd.headers["X-Request-ID"] != "a b\"}" and len(odd.headers["X-Request-ID"]) == 16
        err = _error(anon.get("/api/me"), 401, "unauthorized")
        assert "API key is required" in err["message"]
        _error(anon.get("/api/me", headers={"Authorization": "Bearer sk_nope"}), 401,
               "unauthorized")
        # the right id with a wrong secret is refused like any other bad key
        forged = ADMIN_KEY[:-1] + "B"
        _error(anon.get("/api/me", headers={"X-API-Key": forged}), 401, "unauthorized")
        _error(anon.get("/api/nowhere"), 404, "not_found")
    with live_api.client() as c:
        me = c.get("/api/me").json()
        assert me == {"key_id": "000000000001", "role": "admin", "scope": "*",
                      "label": "SYMBIOSIS_ADMIN_KEY"}
        _error(c.delete("/api/me"), 405, "method_not_allowed")


def test_openapi_documents_every_route_with_errors_and_examples(live_api: LiveServer) -> None:
    spec = httpx.get(f"{live_api.url}/openapi.json").json()
    assert {"HTTPBearer", "APIKeyHeader"} <= set(spec["components"]["securitySchemes"])
    operations = [(path, method, op) for path, item in spec["paths"].items()
                  for method, op in item.items()]
    assert len(operations) >= 40
    for path, method, op in operations:
        assert op.get("summary"), (method, path)
        if path != "/health":
            assert {"401", "403", "422"} <= set(op["responses"]), (method, path)
            assert op.get("security"), (method, path)
    schemas = spec["components"]["schemas"]
    for name in ("EnterpriseCreate", "OfferCreate", "NeedCreate", "RunOptions", "KeyCreate",
                 "ScenarioRequest", "FeedstockQuery", "ProposalCreate"):
        assert schemas[name].get("examples"), name
    assert schemas["ErrorResponse"]["properties"]["error"]


# ------------------------------------------------------------------ resources


def test_enterprise_crud_round_trip_and_field_errors(live_api: LiveServer) -> None:
    body = {"id": "T-GYP1", "name": "Planned gypsum board plant 石膏板厂", "sector": "3024",
            "lon": 112.95, "lat": 27.86, "park": PARK}
    with live_api.client() as c:
        before = _version(c)
        r = c.post("/api/enterprises", json=body)
        assert r.status_code == 201, r.text
        assert r.json() == body
        assert _version(c) == before + 1
        assert c.get("/api/enterprises/T-GYP1").json() == body
        _error(c.post("/api/enterprises", json=body), 409, "conflict")
        patched = c.patch("/api/enterprises/T-GYP1", json={"name": "Gypsum board plant",
                                                           "lon": 112.96})
        assert patched.status_code == 200
        assert patched.json() == body | {"name": "Gypsum board plant", "lon": 112.96}
        found = c.get("/api/enterprises", params={"park": PARK, "sector": "30"}).json()
        assert "T-GYP1" in [e["id"] for e in found["data"]]
        assert all(e["park"] == PARK and e["sector"].startswith("30") for e in found["data"])
        page = c.get("/api/enterprises", params={"limit": 5, "offset": 40}).json()
        assert page["count"] == 44 and len(page["data"]) == 4
        bad = _error(c.post("/api/enterprises", json=body | {"id": "T-2", "lon": 200,
                                                            "sector": "cement"}),
                     422, "invalid_request")
        assert {(p["file"], p["column"]) for p in bad["problems"]} == {("body", "lon"),
                                                                      ("body", "sector")}
        nulls = _error(c.patch("/api/enterprises/T-GYP1", json={"lat": None}), 422,
                       "invalid_request")
        assert nulls["problems"][0]["column"] == "lat"
        version = _version(c)
        assert c.delete("/api/enterprises/T-GYP1").status_code == 204
        assert _version(c) == version + 1
        _error(c.get("/api/enterprises/T-GYP1"), 404, "not_found")


def test_listing_errors_name_the_field_and_change_nothing(live_api: LiveServer) -> None:
    with live_api.client() as c:
        version = _version(c)
        offers = c.get("/api/offers").json()["count"]
        bad = _error(c.post("/api/offers", json={"enterprise_id": "XT-PWR1",
                                                 "material": "fly_ahs", "quantity": 5}),
                     422, "invalid_dataset")
        assert bad["problems"] == [{"file": "body", "row": None, "column": "material",
                                    "message": "unknown material 'fly_ahs' (did you mean "
                                               "'fly_ash' (粉煤灰, Coal fly ash)?)",
                                    "severity": "error"}]
        _error(c.post("/api/offers", json={"enterprise_id": "XT-PWR1", "material": "fly_ash",
                                           "quantity": -1}), 422, "invalid_request")
        _error(c.post("/api/offers", json={"enterprise_id": "NOPE", "material": "fly_ash",
                                           "quantity": 1}), 422, "invalid_request")
        # a quality attribute name the dataset cannot hold is a field error
        _error(c.post("/api/offers", json={"enterprise_id": "XT-PWR1", "material": "fly_ash",
                                           "quantity": 1, "quality": {"LOI %": 3}}), 422,
               "invalid_request")
        assert _version(c) == version
        assert c.get("/api/offers").json()["count"] == offers


def test_offer_and_need_crud(live_api: LiveServer) -> None:
    with live_api.client() as c:
        r = c.post("/api/offers", json={"enterprise_id": "XT-PWR1", "material": "fly_ash",
                                        "quantity": 1200.5, "disposal_cost": 25,
                                        "quality": {"loi_pct": 3.5, "new_attr": 1}})
        assert r.status_code == 201, r.text
        offer = r.json()
        assert offer["id"] == "OF-000001"  # picked by the store: opaque, never reused
        assert offer["unit"] == "t" and offer["quantity"] == 1200.5
        assert offer["quality"] == {"loi_pct": 3.5, "new_attr": 1.0}
        oid = offer["id"]
        upd = c.patch(f"/api/offers/{oid}", json={"quantity": 900,
                                                  "quality": {"new_attr": None}}).json()
        assert upd["quantity"] == 900 and upd["quality"] == {"loi_pct": 3.5}
        assert upd["disposal_cost"] == 25
        listed = c.get("/api/offers", params={"enterprise_id": "XT-PWR1",
                                              "material": "fly_ash"}).json()
        assert sorted(o["id"] for o in listed["data"]) == [oid, "OF-XT-PWR1-fly_ash"]
        assert c.delete(f"/api/offers/{oid}").status_code == 204
        _error(c.get(f"/api/offers/{oid}"), 404, "not_found")

        need = c.post("/api/needs", json={"enterprise_id": "XX-CEM1", "id": "ND-T1",
                                          "material": "set_retarder", "quantity": 3000,
                                          "virgin_cost": 60, "min": {"caso4_2h2o_pct": 85}})
        assert need.status_code == 201, need.text
        assert need.json() == {"id": "ND-T1", "enterprise_id": "XX-CEM1",
                               "material": "set_retarder", "unit": "t", "quantity": 3000.0,
                               "virgin_cost": 60.0, "min": {"caso4_2h2o_pct": 85.0},
                               "max": {}}
        upd = c.patch("/api/needs/ND-T1", json={"max": {"loi_pct": 8}, "min": {
            "caso4_2h2o_pct": None}}).json()
        assert upd["min"] == {} and upd["max"] == {"loi_pct": 8.0}
        assert c.delete("/api/needs/ND-T1").status_code == 204


def test_parks_register_rename_and_refuse_delete(live_api: LiveServer) -> None:
    with live_api.client() as c:
        parks = c.get("/api/parks").json()
        xt = next(p for p in parks["data"] if p["name"] == PARK)
        assert xt["enterprises"] > 0 and not xt["registered"]
        assert c.post("/api/parks", json={"name": "Planned park", "name_zh": "规划园区"}
                      ).status_code == 201
        got = c.get("/api/parks/Planned park").json()
        assert got == {"name": "Planned park", "name_zh": "规划园区", "note": None,
                       "registered": True, "enterprises": 0, "offers": 0, "needs": 0,
                       "lon": None, "lat": None}
        renamed = c.patch("/api/parks/Planned park", json={"name": "Park B", "note": "x"})
        assert renamed.json()["name"] == "Park B" and renamed.json()["note"] == "x"
        assert c.delete("/api/parks/Park B").status_code == 204
        _error(c.get("/api/parks/Park B"), 404, "not_found")
        _error(c.delete(f"/api/parks/{PARK}"), 409, "conflict")


# ------------------------------------------------------------------ uploads


def _zip(tables: DatasetTables, folder: Path, prefix: str = "") -> bytes:
    tables.write_csv(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for path in sorted(folder.glob("*.csv")):
            z.write(path, prefix + path.name)
    return buffer.getvalue()


@pytest.fixture
def fresh_api(tmp_path: Path, demo_path: Path) -> Iterator[LiveServer]:
    """A server of its own, for tests that replace the whole dataset."""
    yield from serving(tmp_path / "srv", demo_path)


def test_broken_upload_lists_every_problem_and_keeps_the_store(
        fresh_api: LiveServer, dataset_tables: DatasetTables, tmp_path: Path) -> None:
    dataset_tables.set("offers", 3, "quantity", "-5").set("needs", 2, "enterprise_id", "NOPE")
    data = _zip(dataset_tables, tmp_path / "bad", prefix="mydata/")
    with fresh_api.client() as c:
        version, offers = _version(c), c.get("/api/offers").json()["count"]
        err = _error(c.post("/api/datasets", files={"file": ("park.zip", data)}), 422,
                     "invalid_dataset")
        found = {(p["file"], p["row"], p["column"]) for p in err["problems"]
                 if p["severity"] == "error"}
        assert ("park.zip/offers.csv", 3, "quantity") in found
        assert ("park.zip/needs.csv", 2, "enterprise_id") in found
        assert _version(c) == version and c.get("/api/offers").json()["count"] == offers
        junk = _error(c.post("/api/datasets", files={"file": ("x.zip", b"not a zip")}), 422,
                      "invalid_dataset")
        assert junk["problems"][0]["file"] == "x.zip"
        missing = _error(c.post("/api/datasets", files={"file": ("x.zip", _zip(
            dataset_tables.remove("needs"), tmp_path / "partial"))}), 422, "invalid_dataset")
        assert any(p["file"] == "x.zip/needs.csv" and "missing" in p["message"]
                   for p in missing["problems"])
        assert _version(c) == version


def test_valid_uploads_replace_the_region_zip_and_xlsx(
        fresh_api: LiveServer, dataset_tables: DatasetTables, tmp_path: Path) -> None:
    expected = load_dataset(dataset_tables.write_csv(tmp_path / "good"))
    with fresh_api.client() as c:
        version = _version(c)
        r = c.post("/api/datasets", files={"file": ("good.zip", _zip(dataset_tables,
                                                                       tmp_path / "z"))})
        assert r.status_code == 201, r.text
        assert r.json()["version"] == version + 1
        assert r.json()["enterprises"] == len(expected.enterprises)
        assert c.get("/api/enterprises").json()["count"] == len(expected.enterprises)
        book = dataset_tables.write_xlsx(tmp_path / "good.xlsx")
        r = c.post("/api/datasets", files={"file": ("good.xlsx", book.read_bytes())})
        assert r.status_code == 201, r.text
        # same content: a new version with the same hash
        assert r.json()["version"] == version + 2
        versions = c.get("/api/datasets").json()["data"]
        assert versions[-1]["hash"] == versions[-2]["hash"]
        assert "upload good.xlsx" in versions[-1]["source"]


def test_park_manager_upload_replaces_only_its_park(fresh_api: LiveServer,
                                                    tmp_path: Path, demo_path: Path) -> None:
    key = fresh_api.key("park_manager", PARK)
    with fresh_api.client() as admin:
        others = [e for e in admin.get("/api/enterprises", params={"limit": 1000}).json()[
            "data"] if e["park"] != PARK]
    ent = io.StringIO()
    w = csv.writer(ent, lineterminator="\n")
    w.writerows([["id", "name", "sector", "lon", "lat", "park"],
                 ["XT-NEW1", "New slag user", "3011", "112.9", "27.86", ""]])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("enterprises.csv", ent.getvalue())
        z.writestr("offers.csv", "enterprise_id,material,quantity\n")
        z.writestr("needs.csv", "enterprise_id,material,quantity\nXT-NEW1,cement_admixture,"
                                "5000\n")
    with fresh_api.client(key) as c:
        r = c.post("/api/datasets", files={"file": ("park.zip", buffer.getvalue())})
        assert r.status_code == 201, r.text
        mine = c.get("/api/enterprises").json()["data"]
        assert [e["id"] for e in mine] == ["XT-NEW1"] and mine[0]["park"] == PARK
        # an enterprise of another park cannot be claimed
        buffer2 = io.BytesIO()
        with zipfile.ZipFile(buffer2, "w") as z:
            z.writestr("enterprises.csv", f"id,name,lon,lat,park\n{others[0]['id']},x,112,"
                                          "27,\n")
            z.writestr("offers.csv", "enterprise_id,material,quantity\n")
            z.writestr("needs.csv", "enterprise_id,material,quantity\n")
        err = _error(c.post("/api/datasets", files={"file": ("p2.zip", buffer2.getvalue())}),
                     422, "invalid_dataset")
        assert err["problems"][0]["column"] == "id"
    with fresh_api.client() as admin:
        after = [e for e in admin.get("/api/enterprises", params={"limit": 1000}).json()[
            "data"] if e["park"] != PARK]
        assert after == others


# ------------------------------------------------------------------ runs


def test_run_results_match_the_engine(fresh_api: LiveServer, demo_path: Path) -> None:
    expected = solve_match(load_dataset(demo_path))
    with fresh_api.client() as c:
        run = _run(c, park=None)
        result = c.get(f"/api/runs/{run['id']}/result").json()
    assert run["kpis"]["utilization_target"] == 0.57
    assert result["kpis"] == run["kpis"]
    assert len(result["exchanges"]) == run["kpis"]["exchanges"] == len(expected.exchanges)
    assert result["summary"]["enterprises"] == 43
    assert run["kpis"]["saving_cny"] == pytest.approx(
        expected.summary.to_dict()["economics"]["saving_cny"], rel=1e-9)
    assert run["kpis"]["tonnes_offered"] == pytest.approx(expected.summary.tonnes_offered)
    assert run["kpis"]["tonnes_matched"] == pytest.approx(expected.summary.tonnes_matched)
    assert run["kpis"]["tonne_km"] == pytest.approx(expected.summary.tonne_km, rel=1e-9)


def test_run_formats_and_diff(fresh_api: LiveServer) -> None:
    with fresh_api.client() as c:
        first = _run(c)
        csv_text = c.get(f"/api/runs/{first['id']}/exchanges.csv")
        assert csv_text.headers["content-type"].startswith("text/csv")
        assert csv_text.text.startswith("\ufeff")  # the one CSV writer: BOM for Excel
        rows = list(csv.DictReader(io.StringIO(csv_text.text.removeprefix("\ufeff"))))
        assert len(rows) == first["kpis"]["exchanges"]
        assert list(rows[0])[:6] == ["offer_enterprise_id", "need_enterprise_id",
                                     "offer_material", "need_material", "quantity",
                                     "distance_km"]
        assert sum(float(r["quantity"]) for r in rows if r["unit"] == "t") == pytest.approx(
            first["kpis"]["tonnes_matched"])
        packed = c.get(f"/api/runs/{first['id']}/result")
        assert packed.headers["content-encoding"] == "gzip"
        plain = c.get(f"/api/runs/{first['id']}/result",
                      headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.json() == packed.json() and plain.json()["id"] == first["id"]
        geo = c.get(f"/api/runs/{first['id']}/exchanges.geojson")
        assert geo.headers["content-type"] == "application/geo+json"
        features = geo.json()["features"]
        assert len(features) == len(rows)
        enterprises = {e["id"]: e for e in c.get("/api/enterprises",
                                                 params={"limit": 1000}).json()["data"]}
        for f in features:
            src = enterprises[f["properties"]["offer_enterprise_id"]]
            assert f["geometry"]["coordinates"][0] == [src["lon"], src["lat"]]
            assert f["properties"]["color"].startswith("#")
        # a power plant closes: its exchanges vanish in the diff
        assert c.delete("/api/enterprises/XT-PWR1").status_code == 204
        second = _run(c)
        assert second["dataset_version"] == first["dataset_version"] + 1
        diff = c.get(f"/api/runs/{first['id']}/diff/{second['id']}").json()["data"]
        vanished = [d for d in diff if d["change"] == "vanished"]
        assert vanished and {d["offer_enterprise_id"] for d in vanished} >= {"XT-PWR1"}
        assert all(d["offer_enterprise_id"] != "XT-PWR1" for d in diff
                   if d["change"] != "vanished")
        listed = c.get("/api/runs").json()
        assert [r["id"] for r in listed["data"]][:2] == [second["id"], first["id"]]
        _error(c.get("/api/runs/999/result"), 404, "not_found")
        _error(c.post("/api/runs", json={"objective": "weighted"}), 422, "invalid_request")


def test_the_api_on_a_bolt_graph_store(neo4j_server: Neo4jServer, tmp_path: Path,
                                       demo_path: Path) -> None:
    neo4j_server.wipe()
    expected = solve_match(load_dataset(demo_path))
    for live in serving(tmp_path / "bolt", demo_path, store=neo4j_server.url()):
        with live.client() as c:
            assert c.get("/health").json()["store"] == "bolt"
            assert c.get("/api/enterprises").json()["count"] == 43
            r = c.patch("/api/offers/OF-XT-PWR1-fly_ash", json={"quantity": 500000.5})
            assert r.status_code == 200, r.text
            assert c.get("/api/offers/OF-XT-PWR1-fly_ash").json()["quantity"] == 500000.5
            _error(c.post("/api/offers", json={"enterprise_id": "XT-PWR1",
                                               "material": "fly_ahs", "quantity": 5}),
                   422, "invalid_dataset")
            run = _run(c)
            assert run["kpis"]["tonnes_offered"] == pytest.approx(
                expected.summary.tonnes_offered - 3999.5)
            assert run["store_run_id"] is not None


def test_park_run_stays_inside_the_park(live_api: LiveServer) -> None:
    key = live_api.key("park_manager", PARK)
    with live_api.client(key) as c:
        run = _run(c, park=PARK)
        result = c.get(f"/api/runs/{run['id']}/result").json()
        ids = {e["id"] for e in c.get("/api/enterprises").json()["data"]}
        assert {e["id"] for e in result["enterprises"]} == ids
        assert all(x["offer_enterprise_id"] in ids and x["need_enterprise_id"] in ids
                   for x in result["exchanges"])
        assert run["park"] == PARK and run["kpis"]["enterprises"] == len(ids)
        assert [r["id"] for r in c.get("/api/runs").json()["data"]] == [run["id"]]


def test_a_province_run_does_not_block_other_requests(tmp_path: Path, demo_path: Path
                                                      ) -> None:
    # runs of at least 10 enterprises go to a worker process; the server keeps answering
    for live in serving(tmp_path / "srv", demo_path, process_min_enterprises=10):
        with live.client() as c:
            started = c.post("/api/runs", json={})
            assert started.status_code == 202
            assert started.json()["status"] in ("queued", "running")
            assert c.get("/health").status_code == 200
            assert c.get("/api/enterprises").json()["count"] == 43
            during = c.get(f"/api/runs/{started.json()['id']}").json()
            assert during["status"] in ("queued", "running"), during
            done = c.post("/api/runs", params={"wait": 0}, json={}).json()
            for _ in range(2400):
                state = c.get(f"/api/runs/{started.json()['id']}").json()
                if state["status"] not in ("queued", "running"):
                    break
                live.app.state.services.jobs.wait(started.json()["id"], 0.25)
            assert state["status"] == "succeeded", state
            assert state["progress"] == 1.0 and state["kpis"]["exchanges"] > 0
            live.app.state.services.jobs.wait(done["id"], 120)


# ------------------------------------------------------------------ proposals


def test_proposal_lifecycle_reveals_names_only_when_agreed(fresh_api: LiveServer) -> None:
    with fresh_api.client() as admin:
        run = _run(admin)
        published = admin.post(f"/api/runs/{run['id']}/proposals").json()
        assert published["created"] == run["kpis"]["exchanges"]
        again = admin.post(f"/api/runs/{run['id']}/proposals").json()
        assert again["created"] == 0 and again["count"] == published["count"]
        p = next(x for x in published["data"] if x["supplier"]["enterprise_id"] == "XT-PWR1")
    supplier = fresh_api.key("enterprise", "XT-PWR1")
    receiver_id = p["receiver"]["enterprise_id"]
    receiver = fresh_api.key("enterprise", receiver_id)
    with fresh_api.client(supplier) as s, fresh_api.client(receiver) as r:
        seen = s.get(f"/api/proposals/{p['id']}").json()
        assert seen["side"] == "supplier" and seen["receiver"] is None
        assert seen["quantity"] is None and seen["distance_km"] is None
        assert seen["source"] is None
        assert seen["quantity_band"]["min"] <= p["quantity"] < (seen["quantity_band"]["max"]
                                                               or float("inf"))
        assert seen["distance_band"]["label"].endswith("km")
        assert seen["supplier"]["enterprise_id"] == "XT-PWR1"
        text = json.dumps(s.get("/api/proposals").json(), ensure_ascii=False)
        assert receiver_id not in text
        assert r.post(f"/api/proposals/{p['id']}/accept").json()["status"] == \
            "accepted_by_receiver"
        _error(r.post(f"/api/proposals/{p['id']}/accept"), 409, "conflict")
        still = s.get(f"/api/proposals/{p['id']}").json()
        assert still["accepted_by_receiver"] and still["receiver"] is None
        agreed = s.post(f"/api/proposals/{p['id']}/accept").json()
        assert agreed["status"] == "agreed"
        assert agreed["receiver"]["enterprise_id"] == receiver_id
        assert agreed["quantity"] == p["quantity"]
        _error(s.post(f"/api/proposals/{p['id']}/decline"), 409, "conflict")
        events = r.get(f"/api/proposals/{p['id']}/events").json()["data"]
        assert [(e["action"], e["actor_side"]) for e in events] == [
            ("proposed", "admin"), ("accept", "receiver"), ("accept", "supplier"),
            ("agreed", "system")]
        assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    with fresh_api.client() as admin:
        trail = admin.get(f"/api/proposals/{p['id']}/events").json()["data"]
        assert trail[1]["key_id"] == receiver.split("_")[1]
        other = next(x for x in published["data"] if x["id"] != p["id"])
    with fresh_api.client(fresh_api.key("enterprise", other["supplier"]["enterprise_id"])) as o:
        assert o.post(f"/api/proposals/{other['id']}/decline").json()["status"] == "declined"


# ------------------------------------------------------------------ scenarios, gaps, feedstock


def test_scenario_compares_with_the_baseline_and_stores_nothing(fresh_api: LiveServer) -> None:
    with fresh_api.client() as c:
        version = _version(c)
        plain = c.post("/api/scenarios", json={"changes": []}).json()
        assert all(v in (0, None) for v in plain["delta"].values()), plain["delta"]
        assert plain["exchanges_diff"] == []
        offered = {o["id"]: o["quantity"] for o in c.get(
            "/api/offers", params={"enterprise_id": "XT-PWR1"}).json()["data"]}
        r = c.post("/api/scenarios", json={"changes": [
            {"op": "remove_enterprise", "id": "XT-PWR1"}]})
        assert r.status_code == 200, r.text
        body = r.json()
        solid = sum(q for oid, q in offered.items() if not oid.endswith(("heat", "water")))
        assert body["delta"]["tonnes_offered"] == pytest.approx(-solid)
        assert body["baseline"]["tonnes_offered"] - body["scenario"]["tonnes_offered"] == \
            pytest.approx(solid)
        assert any(d["offer_enterprise_id"] == "XT-PWR1" and d["change"] == "vanished"
                   for d in body["exchanges_diff"])
        assert "XT-PWR1" in body["changes"][0]
        assert {"unmatched", "absorbers"} <= set(body["gaps"])
        bad = _error(c.post("/api/scenarios", json={"changes": [
            {"op": "set_quantity", "listing": "offer", "id": "OF-NOPE", "quantity": 5}]}),
            422, "invalid_dataset")
        assert bad["problems"][0]["file"] == "changes" and bad["problems"][0]["row"] == 0
        assert _version(c) == version


def test_gaps_name_the_unmatched_tailings_and_a_location(live_api: LiveServer) -> None:
    with live_api.client() as c:
        gaps = c.get("/api/gaps").json()
    tailings = next(u for u in gaps["unmatched"] if u["material"] == "tailings")
    assert tailings["quantity"] == pytest.approx(1_140_000)
    absorbers = [a for a in gaps["absorbers"] if a["offer_material"] == "tailings"]
    assert absorbers and all(a["sectors"] for a in absorbers)
    assert all(-180 <= a["location"]["lon"] <= 180 for a in absorbers)


def test_feedstock_search_hides_volumes_and_leads_to_a_proposal(fresh_api: LiveServer) -> None:
    recycler = fresh_api.key("recycler", "CS-BRK1")
    with fresh_api.client() as admin:
        exact = admin.post("/api/feedstock/search", json={
            "material": "brick_feedstock", "lon": 113.06261, "lat": 28.27069,
            "radius_km": 200}).json()["data"]  # a party's 150 km is snapped up to 200
        _error(admin.post("/api/feedstock/search", json={"material": "fly_ash"}), 422,
               "invalid_request")
    with fresh_api.client(recycler) as c:
        r = c.post("/api/feedstock/search", json={"material": "brick_feedstock",
                                                  "radius_km": 150})
        assert r.status_code == 200, r.text
        hits = r.json()["data"]
        assert len(hits) == len(exact) > 0
        text = json.dumps(hits, ensure_ascii=False)
        # a party's hits come in band order, then a keyed hash (not by exact distance)
        exact_by = {(h["handle"], h["material"], h["serves"]): h for h in exact}
        pairs = [(hit, exact_by[(hit["handle"], hit["material"], hit["serves"])])
                 for hit in hits]
        for hit, full in pairs:
            assert full["enterprise_id"] not in text and full["offer_id"] not in text
            assert "quantity" not in hit
            band = hit["quantity_band"]
            assert band["min"] <= full["quantity"] and (band["max"] is None
                                                       or full["quantity"] < band["max"])
        assert "distance_km" not in text and "delivered_cost_cny_per_unit" not in text
        lows = [h["distance_band"]["min"] for h in hits]
        assert lows == sorted(lows)
        for hit, full in pairs:
            band = hit["distance_band"]
            assert band["min"] <= full["distance_km"] and (band["max"] is None
                                                           or full["distance_km"] < band["max"])
        need = c.get("/api/needs").json()["data"][0]
        proposal = c.post("/api/proposals", json={"offer_handle": hits[0]["handle"],
                                                  "need_id": need["id"], "quantity": 1000})
        assert proposal.status_code == 201, proposal.text
        view = proposal.json()
        assert view["side"] == "receiver" and view["supplier"] is None
        assert view["status"] == "proposed"
        _error(c.post("/api/proposals", json={"offer_handle": hits[0]["handle"],
                                              "need_id": need["id"], "quantity": 1000}),
               409, "conflict")
        _error(c.post("/api/proposals", json={"offer_handle": "fs_unknown",
                                              "need_id": need["id"], "quantity": 1}),
               404, "not_found")
    supplier_id = pairs[0][1]["enterprise_id"]
    with fresh_api.client(fresh_api.key("enterprise", supplier_id)) as s:
        mine = s.get("/api/proposals").json()["data"]
        assert [p["id"] for p in mine] == [view["id"]]
        assert mine[0]["side"] == "supplier" and mine[0]["receiver"] is None


def test_oversized_uploads_and_zip_bombs_are_refused(tmp_path: Path, demo_path: Path) -> None:
    # uploads capped at 10 KB here: a bigger file, and a small zip unpacking to 5 MB
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("enterprises.csv", "id,name,lon,lat\n" + "\n" * 5_000_000)
        z.writestr("offers.csv", "enterprise_id,material,quantity\n")
        z.writestr("needs.csv", "enterprise_id,material,quantity\n")
    assert len(bomb.getvalue()) < 10_000
    for live in serving(tmp_path / "srv", demo_path, max_upload_mb=0.01):
        with live.client() as c:
            version = _version(c)
            big = _error(c.post("/api/datasets", files={"file": ("big.zip", b"PK" * 8000)}),
                         413, "payload_too_large")
            assert "0.01 MB" in big["message"]
            _error(c.post("/api/datasets", files={"file": ("bomb.zip", bomb.getvalue())}),
                   413, "payload_too_large")
            assert _version(c) == version
