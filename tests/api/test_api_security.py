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
        for server, key in keys[::2]:
            # FastAPI builds a route's parameters on its first request, inside
            # warnings.catch_warnings(), which is not thread-safe: under pytest's warnings-as-
            # errors a first request racing another turns a pydantic warning into a 500.
            # Build them once first; production does not run with warnings as errors.
            with server.client(key) as c:
                assert c.post("/api/offers", json={"enterprise_id": "XT-PWR1",
                                                   "material": "fly_ash", "quantity": 1}
                              ).status_code == 201
                assert c.get("/api/offers", params={"limit": 1}).status_code == 200
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


def test_a_key_dies_with_its_enterprise_even_when_an_import_removes_it(
        api: LiveServer) -> None:
    """An import replaces the dataset and may drop an enterprise without a DELETE; its keys
    are revoked on their next use, so the id coming back later inherits nothing."""
    with api.client() as c:
        assert c.post("/api/enterprises", json={"id": "T-IMPORTED", "name": "x", "lon": 112.9,
                                                "lat": 27.9, "park": PARK}).status_code == 201
    key = api.key("enterprise", "T-IMPORTED")
    region = api.app.state.services.region
    from symbiosis.api.server.listings import remove_enterprise

    region.edit(lambda rows: remove_enterprise(rows, "T-IMPORTED"), "tests: an import")
    with api.client(key) as c:
        assert c.get("/api/me").status_code == 401
    with api.client() as c:  # the administrator's import brings the id back ...
        assert c.post("/api/enterprises", json={"id": "T-IMPORTED", "name": "new owner",
                                                "lon": 113.0, "lat": 28.0, "park": PARK}
                      ).status_code == 201
    with api.client(key) as c:  # ... but the old key stays dead
        assert c.get("/api/enterprises/T-IMPORTED").status_code == 401
        assert c.get("/api/me").status_code == 401


# ------------------------------------------------------------------ anonymity (item 3)


def _bisect(c: httpx.Client, material: str, handle: str) -> tuple[float, float]:
    """The attack: the largest radius that misses `handle` and the smallest that finds it,
    to 1 m (the issue located a plant to a millimetre this way)."""
    lo, hi = 0.0, 2000.0
    seen_lo, seen_hi = 0.0, 2000.0  # the radius the server says it used (else the asked one)
    while hi - lo > 0.001:
        mid = (lo + hi) / 2
        r = c.post("/api/feedstock/search", json={"material": material, "radius_km": mid,
                                                  "limit": 500})
        assert r.status_code == 200, r.text
        used = float(r.json().get("radius_km", mid))
        if handle in {h["handle"] for h in r.json()["data"]}:
            hi, seen_hi = mid, used
        else:
            lo, seen_lo = mid, used
    return seen_lo, seen_hi


def test_trilateration_by_radius_bisection_fails_to_locate_a_supplier(
        api: LiveServer) -> None:
    import numpy as np

    from symbiosis.geo.distance import haversine_km

    attacker, material = "CS-BRK1", "brick_feedstock"
    with api.client() as admin:
        home = admin.get("/api/enterprises/CS-BRK1").json()
        exact = admin.post("/api/feedstock/search", json={
            "material": material, "lon": home["lon"], "lat": home["lat"],
            "radius_km": 150}).json()["data"]
        target = next(h for h in exact if h["enterprise_id"] != attacker)
        where = admin.get(f"/api/enterprises/{target['enterprise_id']}").json()
    circuity = target["distance_km"] / float(haversine_km(home["lon"], home["lat"],
                                                          where["lon"], where["lat"]))
    key = api.key("recycler", attacker)
    with api.client(key) as c:
        # the shortcuts are closed: no search from another point, no moving one's own site
        assert c.post("/api/feedstock/search", json={"material": material, "lon": 113.0,
                                                     "lat": 28.0}).status_code == 403
        assert c.patch(f"/api/enterprises/{attacker}", json={"lon": home["lon"] + 0.1}
                       ).status_code == 403
        answer = c.post("/api/feedstock/search", json={"material": material,
                                                       "radius_km": 150}).json()
        assert answer["radius_km"] == 200  # snapped up to a band bound
        text = repr(answer)
        assert "distance_km" not in text and "delivered_cost_cny_per_unit" not in text
    # three sites, as in the issue (moved by the administrator: the only way now, audited)
    sites = [(home["lon"], home["lat"]), (home["lon"] + 0.3, home["lat"] + 0.1),
             (home["lon"] - 0.1, home["lat"] - 0.3)]
    rings = []
    try:
        for lon, lat in sites:
            with api.client() as admin:
                assert admin.patch(f"/api/enterprises/{attacker}", json={
                    "lon": lon, "lat": lat}).status_code == 200
            with api.client(key) as c:
                rings.append(_bisect(c, material, target["handle"]))
    finally:
        with api.client() as admin:
            admin.patch(f"/api/enterprises/{attacker}", json={"lon": home["lon"],
                                                              "lat": home["lat"]})
            sources = [v["source"] for v in admin.get("/api/datasets").json()["data"]]
    assert sum("update enterprise CS-BRK1" in s for s in sources) >= 4  # every move audited
    # what the bisection learns: band bounds, a ring at least 5 km wide (not 1 m)
    assert all(hi - lo >= 5.0 for lo, hi in rings), rings
    grid = np.mgrid[-0.5:0.5:0.005, -0.5:0.5:0.005].reshape(2, -1).T
    lon = where["lon"] + grid[:, 0]
    lat = where["lat"] + grid[:, 1]
    fits = np.ones(len(grid), dtype=bool)
    for (slon, slat), (lo, hi) in zip(sites, rings, strict=True):
        d = circuity * haversine_km(slon, slat, lon, lat)
        fits &= (d > lo) & (d <= hi)
    assert fits.any()  # the true place is consistent with what was learnt ...
    spread_km = float(haversine_km(lon[fits].min(), lat[fits].min(), lon[fits].max(),
                                   lat[fits].max()))
    assert spread_km > 5.0  # ... and so is a region at least 5 km across: not located


def test_park_and_sector_shown_only_where_k_suppliers_share_them(api: LiveServer) -> None:
    from symbiosis.api.server.anonymity import K_ANONYMITY

    with api.client() as admin:
        ents = {e["id"]: e for e in admin.get("/api/enterprises",
                                              params={"limit": 1000}).json()["data"]}
        offers = admin.get("/api/offers", params={"limit": 1000}).json()["data"]
    suppliers = {o["enterprise_id"] for o in offers}
    parks: dict[str | None, int] = {}
    for s in suppliers:
        parks[ents[s]["park"]] = parks.get(ents[s]["park"], 0) + 1
    with api.client(api.key("recycler", "CS-BRK1")) as c:
        hits = []
        for material in ("brick_feedstock", "fly_ash", "steel_slag", "gypsum"):
            r = c.post("/api/feedstock/search", json={"material": material,
                                                      "radius_km": 200, "limit": 500})
            if r.status_code == 200:
                hits += r.json()["data"]
    assert hits
    for hit in hits:
        if hit["park"] is not None:
            assert parks[hit["park"]] >= K_ANONYMITY
        if hit["sector_division"] is not None:
            sharing = [s for s in suppliers if (ents[s]["sector"] or "").lstrip(
                "ABCDEFGHIJKLMNOPQRST")[:2] == hit["sector_division"]
                and (hit["park"] is None or ents[s]["park"] == hit["park"])]
            assert len(sharing) >= K_ANONYMITY


# ------------------------------------------------------------------ bounds and 500s (item 4)


def _zip(files: dict[str, bytes], method: int = 8) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def _workbook(demo_path: Path, tmp_path: Path) -> bytes:
    """The demo as an .xlsx (one sheet per table)."""
    import openpyxl

    from symbiosis.dataset import TABLES

    book = openpyxl.Workbook()
    book.remove(book.active)
    for table in TABLES:
        path = demo_path / f"{table}.csv"
        if not path.exists():
            continue
        import csv

        sheet = book.create_sheet(table)
        with path.open(encoding="utf-8") as f:
            for row in csv.reader(f):
                sheet.append(row)
    out = tmp_path / "demo.xlsx"
    book.save(out)
    return out.read_bytes()


def _replace_member(data: bytes, member: str, content: bytes) -> bytes:
    import io
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    files = {i.filename: src.read(i) for i in src.infolist()}
    files[member] = content
    return _zip(files)


def test_parser_failures_are_4xx_never_500(api: LiveServer, demo_path: Path,
                                           tmp_path: Path) -> None:
    good_csv = (demo_path / "enterprises.csv").read_bytes()
    crc = bytearray(_zip({"enterprises.csv": good_csv, "offers.csv": b"", "needs.csv": b""},
                         method=0))  # stored: flip a byte of the data, the CRC no longer fits
    at = bytes(crc).index(good_csv[:20]) + 5
    crc[at] ^= 0x01
    book = _workbook(demo_path, tmp_path)
    broken = _replace_member(book, "xl/worksheets/sheet1.xml", b"<worksheet><sheetData><row>")
    xxe = _replace_member(book, "xl/worksheets/sheet1.xml", (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&x;</t></is></c></row>'
        b'</sheetData></worksheet>'))
    with api.client() as c:
        version = c.get("/api/datasets").json()["data"][-1]["version"]
        for name, data in (("crc.zip", bytes(crc)), ("broken.xlsx", broken),
                           ("xxe.xlsx", xxe)):
            r = c.post("/api/datasets", files={"file": (name, data)})
            assert r.status_code == 422, (name, r.status_code, r.text[:300])
            assert "root:" not in r.text  # no file content leaks back
        assert c.get("/api/datasets").json()["data"][-1]["version"] == version
    with api.client(api.key("recycler", "CS-BRK1")) as c:
        need = c.get("/api/needs").json()["data"][0]["id"]
        r = c.post("/api/proposals", json={"offer_handle": "fs_é中文", "need_id": need,
                                           "quantity": 1})
        assert r.status_code == 422


def test_error_responses_are_capped(api: LiveServer) -> None:
    from symbiosis.api.server.errors import MAX_PROBLEMS

    rows = "\n".join(f"X{i},x,999,999" for i in range(3 * MAX_PROBLEMS))
    data = _zip({"enterprises.csv": f"id,name,lon,lat\n{rows}\n".encode(),
                 "offers.csv": b"id,enterprise_id,material,quantity\n",
                 "needs.csv": b"id,enterprise_id,material,quantity\n"})
    with api.client() as c:
        r = c.post("/api/datasets", files={"file": ("many.zip", data)})
    assert r.status_code == 422
    error = r.json()["error"]
    assert len(error["problems"]) == MAX_PROBLEMS
    assert error["problems_omitted"] >= 2 * MAX_PROBLEMS


def test_uploads_pass_the_api_bounds_and_attributes_come_from_the_taxonomy(
        api: LiveServer, demo_path: Path) -> None:
    ents = (demo_path / "enterprises.csv").read_text(encoding="utf-8")
    header = ents.splitlines()[0].split(",")
    row = dict.fromkeys(header, "") | {"id": "XT-BIG1", "name": "x" * 300, "lon": "112.9",
                                      "lat": "27.9", "park": PARK}
    csv_row = ",".join(row[c] for c in header)
    data = _zip({"enterprises.csv": f"{','.join(header)}\n{csv_row}\n".encode(),
                 "offers.csv": b"id,enterprise_id,material,quantity,q.made_up_attr\n"
                               b"OF-BIG1,XT-BIG1,fly_ash,1e308,1\n",
                 "needs.csv": b"id,enterprise_id,material,quantity\n"})
    with api.client(api.key("park_manager", PARK)) as c:
        r = c.post("/api/datasets", files={"file": ("bounds.zip", data)})
        assert r.status_code == 422, r.text[:300]
        where = {(p["file"], p["row"], p["column"]) for p in r.json()["error"]["problems"]}
        assert ("bounds.zip/enterprises.csv", 2, "name") in where
        assert ("bounds.zip/offers.csv", 2, "quantity") in where
        assert ("bounds.zip/offers.csv", 1, "q.made_up_attr") in where
    with api.client(api.key("enterprise", "XT-PWR1")) as c:
        body = {"enterprise_id": "XT-PWR1", "material": "fly_ash", "quantity": 1}
        r = c.post("/api/offers", json=body | {"quality": {"attr_3000": 1}})
        assert r.status_code == 422 and r.json()["error"]["problems"][0]["column"] == \
            "quality.attr_3000"
        assert c.post("/api/offers", json=body | {"quantity": True}).status_code == 422


def test_a_reused_id_inherits_no_keys_and_no_proposals(tmp_path: Path, demo_path: Path
                                                        ) -> None:
    """The issue's takeover: after a deletion, whoever is given the id again (here by an
    import, the only way now) must not read the old holder's proposals nor use its key."""
    live = start_server(tmp_path / "srv", demo_path)
    try:
        region = live.app.state.services.region
        with live.client() as admin:
            home = admin.get("/api/enterprises/CS-BRK1").json()
            exact = admin.post("/api/feedstock/search", json={
                "material": "brick_feedstock", "lon": home["lon"], "lat": home["lat"],
                "radius_km": 200}).json()["data"]
        supplier = exact[0]["enterprise_id"]
        with live.client(live.key("recycler", "CS-BRK1")) as c:
            hits = c.post("/api/feedstock/search", json={"material": "brick_feedstock",
                                                         "radius_km": 200}).json()["data"]
            need = c.get("/api/needs").json()["data"][0]["id"]
            assert c.post("/api/proposals", json={"offer_handle": hits[0]["handle"],
                                                  "need_id": need, "quantity": 1000}
                          ).status_code == 201
        old_key = live.key("enterprise", supplier)
        with live.client(old_key) as c:
            assert c.get("/api/proposals").json()["count"] == 1
        before = region.snapshot().rows
        with live.client() as admin:
            assert admin.delete(f"/api/enterprises/{supplier}").status_code == 204
        region.edit(lambda _rows: before, "tests: an import brings the id back")
        with live.client(old_key) as c:
            assert c.get("/api/proposals").status_code == 401
        live.keys.pop(f"enterprise:{supplier}")
        with live.client(live.key("enterprise", supplier)) as c:
            assert c.get("/api/proposals").json()["count"] == 0
        with live.client(live.key("recycler", "CS-BRK1")) as c:
            assert c.get("/api/proposals").json()["count"] == 1  # the other side keeps it
    finally:
        live.stop()
