"""Who may see what: every route of the OpenAPI, called with a key of each wrong role and
with keys of the right role but the wrong scope, answers 403 with the one error shape and
nothing else; an out-of-scope id that exists and one that does not get the same answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import LiveServer, serving

PARK = "Xiangtan Economic Development Zone (illustrative)"
OTHER_PARK = "Loudi steel park (illustrative)"
ROLES = ("admin", "park_manager", "enterprise", "recycler")


@dataclass(frozen=True)
class World:
    """The ids the matrix uses: things inside and outside each key's scope."""

    run_id: int
    other_run_id: int
    proposal_id: int
    own_offer: str  # an offer of the enterprise key
    out_offer: str  # an offer of an enterprise in another park
    out_need: str
    own_need: str
    out_enterprise: str
    admin_key_id: str


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, demo_path: Path) -> Iterator[LiveServer]:
    yield from serving(tmp_path_factory.mktemp("access"), demo_path)


@pytest.fixture(scope="module")
def keys(api: LiveServer) -> dict[str, str]:
    return {"admin": api.key("admin", "*"),
            "park_manager": api.key("park_manager", PARK),
            "other_park_manager": api.key("park_manager", OTHER_PARK),
            "enterprise": api.key("enterprise", "XT-PWR1"),
            "other_enterprise": api.key("enterprise", "LD-STL1"),
            "recycler": api.key("recycler", "CS-BRK1")}


@pytest.fixture(scope="module")
def world(api: LiveServer, keys: dict[str, str]) -> World:
    with api.client(keys["admin"]) as c:
        run = c.post("/api/runs", params={"wait": 60}, json={"park": PARK}).json()
        other = c.post("/api/runs", params={"wait": 60}, json={"park": OTHER_PARK}).json()
        assert run["status"] == other["status"] == "succeeded"
        published = c.post(f"/api/runs/{other['id']}/proposals").json()["data"]
        offers = c.get("/api/offers", params={"limit": 1000}).json()["data"]
        needs = c.get("/api/needs", params={"limit": 1000}).json()["data"]
        parks = {e["id"]: e["park"] for e in c.get("/api/enterprises", params={
            "limit": 1000}).json()["data"]}
        admin_key_id = c.get("/api/me").json()["key_id"]
    return World(
        run_id=run["id"], other_run_id=other["id"], proposal_id=published[0]["id"],
        own_offer=next(o["id"] for o in offers if o["enterprise_id"] == "XT-PWR1"),
        out_offer=next(o["id"] for o in offers if parks[o["enterprise_id"]] == OTHER_PARK),
        out_need=next(n["id"] for n in needs if parks[n["enterprise_id"]] == OTHER_PARK),
        own_need=next(n["id"] for n in needs if n["enterprise_id"] == "CS-BRK1"),
        out_enterprise="LD-STL1", admin_key_id=admin_key_id)


Call = tuple[str, str, dict[str, Any]]  # method, url, httpx keyword arguments


def _zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("enterprises.csv", "id,name,lon,lat\n")
        z.writestr("offers.csv", "enterprise_id,material,quantity\n")
        z.writestr("needs.csv", "enterprise_id,material,quantity\n")
    return buffer.getvalue()


# route -> (roles allowed at all, a call whose target is in the allowed roles' scope when
# it has one: wrong roles must get 403 for it)
ROUTES: dict[tuple[str, str], tuple[set[str], Callable[[World], Call]]] = {
    ("GET", "/api/me"): (set(ROLES), lambda w: ("GET", "/api/me", {})),
    ("GET", "/api/materials"): (set(ROLES), lambda w: ("GET", "/api/materials", {})),
    ("GET", "/api/keys"): ({"admin"}, lambda w: ("GET", "/api/keys", {})),
    ("POST", "/api/keys"): ({"admin"}, lambda w: ("POST", "/api/keys", {"json": {
        "role": "enterprise", "scope": "XT-PWR1"}})),
    ("DELETE", "/api/keys/{key_id}"): ({"admin"}, lambda w: (
        "DELETE", f"/api/keys/{w.admin_key_id}", {})),
    ("GET", "/api/parks"): ({"admin", "park_manager"}, lambda w: ("GET", "/api/parks", {})),
    ("POST", "/api/parks"): ({"admin"}, lambda w: ("POST", "/api/parks", {"json": {
        "name": "New park"}})),
    ("GET", "/api/parks/{name}"): ({"admin", "park_manager"}, lambda w: (
        "GET", f"/api/parks/{PARK}", {})),
    ("PATCH", "/api/parks/{name}"): ({"admin", "park_manager"}, lambda w: (
        "PATCH", f"/api/parks/{PARK}", {"json": {"note": "x"}})),
    ("DELETE", "/api/parks/{name}"): ({"admin"}, lambda w: (
        "DELETE", f"/api/parks/{PARK}", {})),
    ("GET", "/api/enterprises"): (set(ROLES), lambda w: ("GET", "/api/enterprises", {})),
    ("POST", "/api/enterprises"): ({"admin", "park_manager"}, lambda w: (
        "POST", "/api/enterprises", {"json": {"id": "Z1", "name": "z", "lon": 112,
                                              "lat": 28, "park": PARK}})),
    ("GET", "/api/enterprises/{enterprise_id}"): (set(ROLES), lambda w: (
        "GET", "/api/enterprises/XT-PWR1", {})),
    ("PATCH", "/api/enterprises/{enterprise_id}"): (set(ROLES), lambda w: (
        "PATCH", "/api/enterprises/XT-PWR1", {"json": {"name": "x"}})),
    ("DELETE", "/api/enterprises/{enterprise_id}"): ({"admin", "park_manager"}, lambda w: (
        "DELETE", "/api/enterprises/XT-PWR1", {})),
    ("GET", "/api/offers"): (set(ROLES), lambda w: ("GET", "/api/offers", {})),
    ("POST", "/api/offers"): (set(ROLES), lambda w: ("POST", "/api/offers", {"json": {
        "enterprise_id": "XT-PWR1", "material": "fly_ash", "quantity": 1}})),
    ("GET", "/api/offers/{offer_id}"): (set(ROLES), lambda w: (
        "GET", f"/api/offers/{w.own_offer}", {})),
    ("PATCH", "/api/offers/{offer_id}"): (set(ROLES), lambda w: (
        "PATCH", f"/api/offers/{w.own_offer}", {"json": {"quantity": 5}})),
    ("DELETE", "/api/offers/{offer_id}"): (set(ROLES), lambda w: (
        "DELETE", f"/api/offers/{w.own_offer}", {})),
    ("GET", "/api/needs"): (set(ROLES), lambda w: ("GET", "/api/needs", {})),
    ("POST", "/api/needs"): (set(ROLES), lambda w: ("POST", "/api/needs", {"json": {
        "enterprise_id": "XT-PWR1", "material": "process_water", "quantity": 1}})),
    ("GET", "/api/needs/{need_id}"): (set(ROLES), lambda w: (
        "GET", f"/api/needs/{w.own_need}", {})),
    ("PATCH", "/api/needs/{need_id}"): (set(ROLES), lambda w: (
        "PATCH", f"/api/needs/{w.own_need}", {"json": {"quantity": 5}})),
    ("DELETE", "/api/needs/{need_id}"): (set(ROLES), lambda w: (
        "DELETE", f"/api/needs/{w.own_need}", {})),
    ("POST", "/api/datasets"): ({"admin", "park_manager"}, lambda w: (
        "POST", "/api/datasets", {"files": {"file": ("d.zip", _zip())}})),
    ("GET", "/api/datasets"): ({"admin"}, lambda w: ("GET", "/api/datasets", {})),
    ("GET", "/api/datasets/current"): ({"admin", "park_manager"}, lambda w: (
        "GET", "/api/datasets/current", {})),
    ("POST", "/api/runs"): ({"admin", "park_manager"}, lambda w: (
        "POST", "/api/runs", {"json": {"park": PARK}})),
    ("GET", "/api/runs"): ({"admin", "park_manager"}, lambda w: ("GET", "/api/runs", {})),
    ("GET", "/api/runs/{run_id}"): ({"admin", "park_manager"}, lambda w: (
        "GET", f"/api/runs/{w.run_id}", {})),
    ("POST", "/api/runs/{run_id}/cancel"): ({"admin", "park_manager"}, lambda w: (
        "POST", f"/api/runs/{w.run_id}/cancel", {})),
    ("GET", "/api/runs/{run_id}/result"): ({"admin", "park_manager"}, lambda w: (
        "GET", f"/api/runs/{w.run_id}/result", {})),
    ("GET", "/api/runs/{run_id}/exchanges.csv"): ({"admin", "park_manager"}, lambda w: (
        "GET", f"/api/runs/{w.run_id}/exchanges.csv", {})),
    ("GET", "/api/runs/{run_id}/exchanges.geojson"): ({"admin", "park_manager"}, lambda w: (
        "GET", f"/api/runs/{w.run_id}/exchanges.geojson", {})),
    ("GET", "/api/runs/{run_id}/monthly"): ({"admin", "park_manager"}, lambda w: (
        "GET", f"/api/runs/{w.run_id}/monthly", {})),
    ("GET", "/api/runs/{run_id}/exchanges_monthly.csv"): ({"admin", "park_manager"},
                                                          lambda w: (
        "GET", f"/api/runs/{w.run_id}/exchanges_monthly.csv", {})),
    ("GET", "/api/runs/{before}/diff/{after}"): ({"admin", "park_manager"}, lambda w: (
        "GET", f"/api/runs/{w.run_id}/diff/{w.run_id}", {})),
    ("POST", "/api/runs/{run_id}/proposals"): ({"admin", "park_manager"}, lambda w: (
        "POST", f"/api/runs/{w.run_id}/proposals", {})),
    ("POST", "/api/proposals"): ({"enterprise", "recycler"}, lambda w: (
        "POST", "/api/proposals", {"json": {"offer_handle": "fs_x", "need_id": w.own_need,
                                            "quantity": 1}})),
    ("GET", "/api/proposals"): (set(ROLES), lambda w: ("GET", "/api/proposals", {})),
    ("GET", "/api/proposals/{proposal_id}"): (set(ROLES), lambda w: (
        "GET", f"/api/proposals/{w.proposal_id}", {})),
    ("GET", "/api/proposals/{proposal_id}/events"): (set(ROLES), lambda w: (
        "GET", f"/api/proposals/{w.proposal_id}/events", {})),
    ("POST", "/api/proposals/{proposal_id}/accept"): ({"enterprise", "recycler"}, lambda w: (
        "POST", f"/api/proposals/{w.proposal_id}/accept", {})),
    ("POST", "/api/proposals/{proposal_id}/decline"): ({"enterprise", "recycler"}, lambda w: (
        "POST", f"/api/proposals/{w.proposal_id}/decline", {})),
    ("POST", "/api/feedstock/search"): ({"admin", "enterprise", "recycler"}, lambda w: (
        "POST", "/api/feedstock/search", {"json": {"material": "fly_ash"}})),
    ("POST", "/api/scenarios"): ({"admin", "park_manager"}, lambda w: (
        "POST", "/api/scenarios", {"json": {"park": PARK, "changes": []}})),
    ("GET", "/api/gaps"): ({"admin", "park_manager"}, lambda w: (
        "GET", "/api/gaps", {"params": {"park": PARK}})),
}


# the right role but the wrong scope: (key name, call) pairs that must be 403
def _out_of_scope(w: World) -> list[tuple[str, Call]]:
    e = w.out_enterprise
    calls: list[tuple[str, Call]] = []
    for who in ("park_manager", "enterprise", "recycler"):
        calls += [
            (who, ("GET", f"/api/enterprises/{e}", {})),
            (who, ("PATCH", f"/api/enterprises/{e}", {"json": {"name": "x"}})),
            (who, ("GET", "/api/offers", {"params": {"enterprise_id": e}})),
            (who, ("GET", "/api/needs", {"params": {"enterprise_id": e}})),
            (who, ("POST", "/api/offers", {"json": {"enterprise_id": e, "material": "fly_ash",
                                                    "quantity": 1}})),
            (who, ("POST", "/api/needs", {"json": {"enterprise_id": e,
                                                   "material": "process_water",
                                                   "quantity": 1}})),
            (who, ("GET", f"/api/offers/{w.out_offer}", {})),
            (who, ("PATCH", f"/api/offers/{w.out_offer}", {"json": {"quantity": 2}})),
            (who, ("DELETE", f"/api/offers/{w.out_offer}", {})),
            (who, ("GET", f"/api/needs/{w.out_need}", {})),
            (who, ("PATCH", f"/api/needs/{w.out_need}", {"json": {"quantity": 2}})),
            (who, ("DELETE", f"/api/needs/{w.out_need}", {})),
        ]
    calls += [
        ("park_manager", ("GET", "/api/enterprises", {"params": {"park": OTHER_PARK}})),
        ("park_manager", ("GET", "/api/offers", {"params": {"park": OTHER_PARK}})),
        ("park_manager", ("GET", f"/api/parks/{OTHER_PARK}", {})),
        ("park_manager", ("PATCH", f"/api/parks/{OTHER_PARK}", {"json": {"note": "x"}})),
        ("park_manager", ("PATCH", f"/api/parks/{PARK}", {"json": {"name": "Mine now"}})),
        ("park_manager", ("DELETE", f"/api/enterprises/{e}", {})),
        ("park_manager", ("POST", "/api/enterprises", {"json": {
            "id": "Z2", "name": "z", "lon": 112, "lat": 28, "park": OTHER_PARK}})),
        ("park_manager", ("POST", "/api/runs", {"json": {"park": OTHER_PARK}})),
        ("park_manager", ("POST", "/api/runs", {"json": {}})),
        ("park_manager", ("GET", "/api/runs", {"params": {"park": OTHER_PARK}})),
        ("park_manager", ("GET", f"/api/runs/{w.other_run_id}", {})),
        ("park_manager", ("POST", f"/api/runs/{w.other_run_id}/cancel", {})),
        ("park_manager", ("GET", f"/api/runs/{w.other_run_id}/result", {})),
        ("park_manager", ("GET", f"/api/runs/{w.other_run_id}/exchanges.csv", {})),
        ("park_manager", ("GET", f"/api/runs/{w.other_run_id}/exchanges.geojson", {})),
        ("park_manager", ("GET", f"/api/runs/{w.other_run_id}/monthly", {})),
        ("park_manager", ("GET", f"/api/runs/{w.other_run_id}/exchanges_monthly.csv", {})),
        ("park_manager", ("GET", f"/api/runs/{w.run_id}/diff/{w.other_run_id}", {})),
        ("park_manager", ("POST", f"/api/runs/{w.other_run_id}/proposals", {})),
        ("park_manager", ("GET", f"/api/proposals/{w.proposal_id}", {})),
        ("park_manager", ("GET", f"/api/proposals/{w.proposal_id}/events", {})),
        ("park_manager", ("POST", "/api/scenarios", {"json": {"park": OTHER_PARK,
                                                              "changes": []}})),
        ("park_manager", ("POST", "/api/scenarios", {"json": {"changes": []}})),
        ("park_manager", ("GET", "/api/gaps", {"params": {"park": OTHER_PARK}})),
        ("park_manager", ("GET", "/api/gaps", {})),
        ("enterprise", ("PATCH", "/api/enterprises/XT-PWR1", {"json": {"park": OTHER_PARK}})),
        ("enterprise", ("GET", f"/api/proposals/{w.proposal_id}", {})),
        ("enterprise", ("GET", f"/api/proposals/{w.proposal_id}/events", {})),
        ("enterprise", ("POST", f"/api/proposals/{w.proposal_id}/accept", {})),
        ("enterprise", ("POST", f"/api/proposals/{w.proposal_id}/decline", {})),
        ("recycler", ("POST", "/api/proposals", {"json": {"offer_handle": "fs_x",
                                                          "need_id": w.out_need,
                                                          "quantity": 1}})),
        ("recycler", ("POST", "/api/feedstock/search", {"json": {
            "material": "fly_ash", "lon": 113.0, "lat": 28.2}})),
        ("other_park_manager", ("POST", f"/api/proposals/{w.proposal_id}/accept", {})),
    ]
    return calls


def _forbidden(r: httpx.Response, call: Call) -> dict[str, Any]:
    assert r.status_code == 403, (call, r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == "forbidden"
    return dict(body["error"])


def _send(c: httpx.Client, call: Call) -> httpx.Response:
    method, url, kwargs = call
    return c.request(method, url, **kwargs)


def test_the_matrix_covers_every_route(api: LiveServer) -> None:
    spec = httpx.get(f"{api.url}/openapi.json").json()
    routes = {(m.upper(), p) for p, item in spec["paths"].items() for m in item
              if p != "/health"}
    assert routes == set(ROUTES)


def test_wrong_roles_get_403_and_nothing_else(api: LiveServer, keys: dict[str, str],
                                              world: World) -> None:
    for (method, path), (allowed, make) in ROUTES.items():
        call = make(world)
        for role in ROLES:
            if role in allowed:
                continue
            with api.client(keys[role]) as c:
                err = _forbidden(_send(c, call), call)
            assert world.out_enterprise not in err["message"], (method, path)


def test_wrong_scopes_get_403_and_nothing_else(api: LiveServer, keys: dict[str, str],
                                               world: World) -> None:
    version = httpx.get(f"{api.url}/health").json()["dataset_version"]
    for who, call in _out_of_scope(world):
        with api.client(keys[who]) as c:
            _forbidden(_send(c, call), call)
    # nothing was changed by any refused write
    assert httpx.get(f"{api.url}/health").json()["dataset_version"] == version


def test_forbidden_reveals_nothing_about_existence(api: LiveServer, keys: dict[str, str],
                                                   world: World) -> None:
    pairs = [("/api/enterprises/{}", world.out_enterprise, "no-such-thing-9"),
             ("/api/offers/{}", world.out_offer, "no-such-thing-9"),
             ("/api/needs/{}", world.out_need, "no-such-thing-9"),
             ("/api/proposals/{}", str(world.proposal_id), "987654")]
    for who in ("park_manager", "enterprise", "recycler"):
        with api.client(keys[who]) as c:
            for template, real, fake in pairs:
                if who == "park_manager" and "proposals" in template:
                    continue
                a = _forbidden(c.get(template.format(real)), ("GET", template, {}))
                b = _forbidden(c.get(template.format(fake)), ("GET", template, {}))
                assert (a["code"], a["message"]) == (b["code"], b["message"]), template
    with api.client(keys["park_manager"]) as c:
        a = _forbidden(c.get(f"/api/runs/{world.other_run_id}"), ("GET", "run", {}))
        b = _forbidden(c.get("/api/runs/987654"), ("GET", "run", {}))
        assert a["message"] == b["message"]


def test_listings_show_only_the_scope(api: LiveServer, keys: dict[str, str]) -> None:
    with api.client(keys["enterprise"]) as c:
        assert [e["id"] for e in c.get("/api/enterprises").json()["data"]] == ["XT-PWR1"]
        assert {o["enterprise_id"] for o in c.get("/api/offers").json()["data"]} == {"XT-PWR1"}
    with api.client(keys["park_manager"]) as c:
        ents = c.get("/api/enterprises").json()["data"]
        assert ents and {e["park"] for e in ents} == {PARK}
        assert [p["name"] for p in c.get("/api/parks").json()["data"]] == [PARK]
        assert all(r["park"] == PARK for r in c.get("/api/runs").json()["data"])
    with api.client(keys["recycler"]) as c:
        assert [e["id"] for e in c.get("/api/enterprises").json()["data"]] == ["CS-BRK1"]
        proposals = c.get("/api/proposals").json()["data"]
        assert all(p["side"] in ("supplier", "receiver") for p in proposals)
