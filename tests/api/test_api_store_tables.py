"""The HTTP API keeps every table a dataset carries (storage, contracts, transport, carbon,
months, grades, logistics, estimates): an admin's upload is stored whole, a park manager's
upload brings its park's silos, and a run through the API is the run on the CSV folder."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from api_support import LiveServer, serving
from store_datasets import Records, full_records, monthly_records, write_records

from symbiosis.dataset import load_dataset
from symbiosis.store import open_store, rows_from_dataset

PARK = "Xiangtan EDZ"


def _zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for path in sorted(folder.glob("*.csv")):
            z.write(path, path.name)
    return buffer.getvalue()


def _upload(api: LiveServer, records: Records, folder: Path, key: str | None = None
            ) -> dict[str, Any]:
    write_records(records, folder)
    with api.client(key) if key else api.client() as c:
        r = c.post("/api/datasets", files={"file": ("data.zip", _zip(folder))})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _stored(api: LiveServer) -> Any:
    with open_store(f"sqlite://{api.folder / 'store.db'}") as store:
        return store.dataset_rows()


@pytest.fixture
def empty_api(tmp_path: Path) -> Any:
    yield from serving(tmp_path / "srv")


def test_an_admin_upload_is_stored_whole(empty_api: LiveServer, tmp_path: Path) -> None:
    body = _upload(empty_api, full_records(), tmp_path / "full")
    expected = rows_from_dataset(load_dataset(tmp_path / "full"))
    assert body["hash"] == expected.content_hash()
    assert not [w for w in body.get("warnings", []) if "overrides" in w["message"]]
    rows = _stored(empty_api)
    assert rows == expected
    assert len(rows.storage) == 2 and len(rows.contracts) == 2 and len(rows.transport) == 3


def test_a_run_through_the_api_is_the_run_on_the_folder(empty_api: LiveServer,
                                                        tmp_path: Path) -> None:
    from symbiosis.matching import solve_match

    _upload(empty_api, monthly_records(), tmp_path / "monthly")
    expected = solve_match(load_dataset(tmp_path / "monthly"))
    with empty_api.client() as c:
        r = c.post("/api/runs", params={"wait": 60}, json={})
        assert r.status_code == 200, r.text
        run = r.json()
        assert run["status"] == "succeeded", run
        result = c.get(f"/api/runs/{run['id']}/result").json()
    got = sorted((x["offer_id"], x["need_id"], round(float(x["quantity"]), 9))
                 for x in result["exchanges"])
    ex = expected.exchanges
    assert got == sorted(zip(ex["offer_id"], ex["need_id"],
                             (round(float(q), 9) for q in ex["quantity"]), strict=True))
    assert result["summary"]["monthly"] == expected.summary.to_dict()["monthly"]
    assert run["kpis"]["tonnes_matched"] == pytest.approx(expected.summary.tonnes_matched)


def test_a_park_upload_brings_its_silos_and_keeps_the_others(empty_api: LiveServer,
                                                            tmp_path: Path) -> None:
    _upload(empty_api, full_records(), tmp_path / "full")
    key = empty_api.key("park_manager", PARK)
    park: Records = {
        "enterprises": [{"id": "PWR", "name": "power plant", "lon": 112.90, "lat": 27.86,
                         "park": PARK}],
        "offers": [{"id": "OF1", "enterprise_id": "PWR", "material": "fly_ash",
                    "quantity": 900}],
        "needs": [{"id": "NDX", "enterprise_id": "PWR", "material": "process_water",
                   "quantity": 10}],
        "storage": [{"enterprise_id": "PWR", "material": "fly_ash", "capacity": 250}],
        "transport": [{"material": "", "cny_per_unit_km": 9}],
    }
    body = _upload(empty_api, park, tmp_path / "park", key)
    assert [w["file"] for w in body["warnings"] if "overrides" in w["message"]] == [
        "data.zip/transport.csv"]
    rows = _stored(empty_api)
    # the park's one enterprise replaces CEM and PWR; STL, CHM and WTR keep theirs
    assert sorted(e["id"] for e in rows.enterprises) == ["CHM", "PWR", "STL", "WTR"]
    assert [(s["enterprise_id"], s["capacity"]) for s in rows.storage] == [("PWR", 250.0)]
    assert rows.contracts == []  # both were between the park's old listings
    assert rows.transport == rows_from_dataset(load_dataset(tmp_path / "full")).transport
