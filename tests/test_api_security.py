"""Tenants who compete (issue 18): writes that cannot be lost, optimistic concurrency,
ids a tenant cannot probe, keys that die with their enterprise. Real servers over real HTTP
on a real SQLite file; concurrent writers are threads, two servers and another OS process."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import LiveServer, serving, start_server

from symbiosis.store import open_store

PARK = "Xiangtan Economic Development Zone (illustrative)"

# a writer outside the servers, as `symbiosis db import`-style tools are: it adds offers
# straight through the store's row writes while the servers are busy
_STORE_WRITER = """
import sys
from symbiosis.store import open_store
from symbiosis.store.records import RowWrite
store = open_store(sys.argv[1])
for i in range(int(sys.argv[2])):
    r = store.write_row(RowWrite("offers", "add", None, {"enterprise_id": "XT-PWR1",
                        "material": "fly_ash", "quantity": 1.0 + i}), source="other process")
    print(r.id, flush=True)
store.close()
"""


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, demo_path: Path) -> Iterator[LiveServer]:
    yield from serving(tmp_path_factory.mktemp("security"), demo_path)


def _store_offer_ids(api: LiveServer) -> set[str]:
    with open_store(f"sqlite://{api.folder / 'store.db'}") as store:
        return {str(o["id"]) for o in store.dataset_rows().offers}


def test_concurrent_creates_from_two_servers_and_a_process_lose_nothing(
        api: LiveServer, tmp_path: Path) -> None:
    # a second server (its own process-level lock and cache) on the same store file
    second = start_server(tmp_path / "second", store=f"sqlite://{api.folder / 'store.db'}")
    try:
        servers = [api, second]
        keys = [(s, s.key("enterprise", owner)) for s in servers
                for owner in ("XT-PWR1", "LD-STL1")]
        before = _store_offer_ids(api)
        acknowledged: list[str] = []
        failures: list[str] = []
        lock = threading.Lock()

        def client(server: LiveServer, key: str, owner: str, n: int) -> None:
            with server.client(key) as c:
                for i in range(n):
                    r = c.post("/api/offers", json={"enterprise_id": owner,
                                                    "material": "fly_ash",
                                                    "quantity": 100 + i})
                    with lock:
                        if r.status_code == 201:
                            acknowledged.append(r.json()["id"])
                        else:
                            failures.append(f"{r.status_code} {r.text[:200]}")

        threads = []
        for (server, key), owner in zip(keys, ["XT-PWR1", "LD-STL1"] * 2, strict=True):
            for _ in range(2):  # two clients per key: 8 clients, 160 creates
                threads.append(threading.Thread(target=client, args=(server, key, owner, 20)))
        other = subprocess.Popen(
            [sys.executable, "-c", _STORE_WRITER, f"sqlite://{api.folder / 'store.db'}", "20"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out, err = other.communicate(timeout=600)
        assert other.returncode == 0, err
        written_elsewhere = out.split()
        assert failures == []
        assert len(acknowledged) == 160 and len(written_elsewhere) == 20
        stored = _store_offer_ids(api)
        new = stored - before
        # every acknowledged write is stored, under the id it was acknowledged with: 0 lost
        assert set(acknowledged) | set(written_elsewhere) == new
        assert len(new) == 180 and len(set(acknowledged)) == 160
        # and each server's view agrees with the store
        for server in servers:
            with server.client() as c:
                assert c.get("/api/offers", params={"limit": 1}).json()["count"] == len(stored)
    finally:
        second.stop()


def test_if_match_refuses_a_stale_version_with_412(api: LiveServer) -> None:
    with api.client(api.key("enterprise", "XT-PWR1")) as c:
        made = c.post("/api/offers", json={"enterprise_id": "XT-PWR1", "material": "fly_ash",
                                           "quantity": 10})
        assert made.status_code == 201
        oid, tag = made.json()["id"], made.headers["ETag"]
        assert c.get(f"/api/offers/{oid}").headers["ETag"] == tag
        first = c.patch(f"/api/offers/{oid}", json={"quantity": 11}, headers={"If-Match": tag})
        assert first.status_code == 200 and first.headers["ETag"] != tag
        # a second editor still holding the first version is refused, and nothing changes
        stale = c.patch(f"/api/offers/{oid}", json={"quantity": 99}, headers={"If-Match": tag})
        assert stale.status_code == 412
        assert stale.json()["error"]["code"] == "precondition_failed"
        assert c.get(f"/api/offers/{oid}").json()["quantity"] == 11
        assert c.delete(f"/api/offers/{oid}", headers={"If-Match": tag}).status_code == 412
        assert c.delete(f"/api/offers/{oid}", headers={
            "If-Match": first.headers["ETag"]}).status_code == 204
    with api.client() as c:
        ent = c.get("/api/enterprises/XT-PWR1")
        stale_tag = ent.headers["ETag"]
        assert c.patch("/api/enterprises/XT-PWR1", json={"name": "Xiangtan power (renamed)"},
                       headers={"If-Match": stale_tag}).status_code == 200
        assert c.patch("/api/enterprises/XT-PWR1", json={"name": "lost update"},
                       headers={"If-Match": stale_tag}).status_code == 412
        assert c.get("/api/enterprises/XT-PWR1").json()["name"] == "Xiangtan power (renamed)"


def test_a_tenant_cannot_choose_ids_so_cannot_probe_them(api: LiveServer) -> None:
    """409 for another enterprise's id and 201 for a free one told who exists; a non-admin
    now gets the same 422 for both, and store-picked ids say nothing about the owner."""
    with api.client() as c:
        taken = c.get("/api/offers", params={"enterprise_id": "LD-STL1"}).json()["data"][0]["id"]
    body = {"enterprise_id": "XT-PWR1", "material": "fly_ash", "quantity": 1}
    with api.client(api.key("enterprise", "XT-PWR1")) as c:
        answers = [c.post("/api/offers", json=body | {"id": given}) for given in
                   (taken, "OF-FREE-NEVER-USED")]
        assert [r.status_code for r in answers] == [422, 422]
        assert answers[0].json()["error"]["message"] == answers[1].json()["error"]["message"]
        made = c.post("/api/offers", json=body).json()["id"]
        assert made.startswith("OF-") and "XT-PWR1" not in made and "fly_ash" not in made
    with api.client(api.key("park_manager", PARK)) as c:
        r = c.post("/api/enterprises", json={"id": "LD-STL1", "name": "x", "lon": 112.9,
                                             "lat": 27.9})
        assert r.status_code == 422
        made_ent = c.post("/api/enterprises", json={"name": "x", "lon": 112.9, "lat": 27.9})
        assert made_ent.status_code == 201 and made_ent.json()["id"].startswith("E-")


def test_deleting_an_enterprise_revokes_its_keys_and_retires_its_id(api: LiveServer) -> None:
    with api.client() as c:
        ent = c.post("/api/enterprises", json={"id": "T-GONE", "name": "soon gone",
                                               "lon": 112.9, "lat": 27.9, "park": PARK})
        assert ent.status_code == 201
    key = api.key("enterprise", "T-GONE")
    with api.client(key) as c:
        assert c.get("/api/enterprises/T-GONE").status_code == 200
    with api.client(api.key("park_manager", PARK)) as c:
        assert c.delete("/api/enterprises/T-GONE").status_code == 204
    with api.client(key) as c:
        assert c.get("/api/me").status_code == 401
    with api.client() as c:  # the id is never handed out again, not even by an admin
        again = c.post("/api/enterprises", json={"id": "T-GONE", "name": "new owner",
                                                 "lon": 113.0, "lat": 28.0, "park": PARK})
        assert again.status_code == 409
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {key}"}) as c:
        assert c.post("/api/offers", json={"enterprise_id": "T-GONE", "material": "fly_ash",
                                           "quantity": 1}).status_code == 401
