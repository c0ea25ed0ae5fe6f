"""Tenants who compete (issue 18, the second round): side channels in the answer order,
formula-like text in workbooks, whole-dataset writes with compare-and-swap, 503 when the
store is locked, keys bound to an enterprise's identity, workers that die with the server.
Real servers over real HTTP on real SQLite files, other OS processes as the rivals."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import openpyxl
import pandas as pd
from api_support import LiveServer, start_server

from symbiosis.bands import distance_band
from symbiosis.store import open_store

if TYPE_CHECKING:
    from conftest import CliRunner

# ---------------- answer order (item 3)


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


# ---------------- workbooks (item 5)


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
    path = build_report_xlsx(result.summary, result.exchanges,
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


# ---------------- whole-dataset writes (item 1)


def _demo_zip(demo_path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for path in sorted(demo_path.glob("*.csv")):
            z.write(path, path.name)
    return buffer.getvalue()


def _flat(text: str) -> str:
    """A CLI message on one line (the console wraps long lines)."""
    return " ".join(text.split())


def _store_url(live: LiveServer) -> str:
    return f"sqlite://{live.folder / 'store.db'}"


def test_stale_uploads_and_imports_are_refused_and_change_nothing(
        tmp_path: Path, demo_path: Path, run_cli: CliRunner) -> None:
    """The issue's revert, both ways round, with the versions named: an API upload based on
    a version a CLI import replaced gets 412; a CLI import based on a version an API edit
    replaced exits 1; in both cases the other side's write is still there."""
    live = start_server(tmp_path / "srv", demo_path)
    try:
        upload = _demo_zip(demo_path)
        with live.client() as admin:
            current = admin.get("/api/datasets/current")
            assert current.status_code == 200
            tag, base = current.headers["ETag"], current.json()["version"]
            assert current.json()["etag"] == tag
            # a CLI import (another process) moves the dataset on
            done = run_cli("db", "import", demo_path, "--store", _store_url(live))
            assert done.returncode == 0, done.stderr
            assert f"as version {base + 1}:" in _flat(done.stdout)
            assert f"it replaced version {base}" in _flat(done.stdout)
            stale = admin.post("/api/datasets", files={"file": ("d.zip", upload)},
                               headers={"If-Match": tag})
            assert stale.status_code == 412, stale.text
            assert stale.json()["error"]["code"] == "precondition_failed"
            fresh = admin.get("/api/datasets/current").headers["ETag"]
            assert fresh != tag
            ok = admin.post("/api/datasets", files={"file": ("d.zip", upload)},
                            headers={"If-Match": fresh})
            assert ok.status_code == 201 and ok.json()["replaced"] == base + 1
            assert ok.headers["ETag"] == ok.json()["etag"]
            at = ok.json()["version"]
            # an API edit lands after the version a CLI import was told to replace
            made = admin.post("/api/offers", json={"enterprise_id": "XT-PWR1",
                                                   "material": "fly_ash", "quantity": 7})
            assert made.status_code == 201
        refused = run_cli("db", "import", demo_path, "--store", _store_url(live),
                          "--expect-version", str(at))
        assert refused.returncode == 1
        message = _flat(refused.stderr)
        assert "nothing imported" in message and "Traceback" not in message
        assert f"is at version {at + 1}" in message
        with open_store(_store_url(live)) as store:
            assert made.json()["id"] in {o["id"] for o in store.dataset_rows().offers}
            assert [v.version for v in store.versions()][-1] == at + 1
        with live.client() as admin:  # the server's view agrees
            assert admin.get(f"/api/offers/{made.json()['id']}").status_code == 200
    finally:
        live.stop()


def test_concurrent_api_edits_uploads_and_cli_imports_lose_nothing(
        tmp_path: Path, demo_path: Path, run_cli: CliRunner) -> None:
    """Two API clients add offers while `symbiosis db import` (other OS processes) and API
    uploads replace the dataset. A whole-dataset write either replaces exactly the version
    before it (it saw every write it replaces) or is refused with nothing written; every
    acknowledged row write is in the store's history, and the final data is the last
    replacement plus every write acknowledged after it: 0 writes lost."""
    live = start_server(tmp_path / "srv", demo_path)
    url = _store_url(live)
    imports_each = 2
    stop = threading.Event()
    pause = threading.Event()  # set: writers hold still so a replacement gets through
    acked: list[str] = []
    replaced: list[tuple[int, int, str]] = []  # (new version, version it replaced, who)
    refusals: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    upload = _demo_zip(demo_path)

    def writer(n: int) -> None:
        with live.client() as c:
            i = 0
            while not stop.is_set():
                if pause.is_set():
                    stop.wait(0.05)
                    continue
                r = c.post("/api/offers", json={"enterprise_id": "XT-PWR1",
                                                "material": "fly_ash", "quantity": 1 + i})
                i += 1
                with lock:
                    if r.status_code == 201:
                        acked.append(r.json()["id"])
                    else:
                        errors.append(f"writer {n}: {r.status_code} {r.text[:200]}")

    def replace_until_done(attempt: Any) -> None:
        for _ in range(imports_each):
            for tries in range(1, 200):
                if tries > 3:
                    pause.set()  # let it through in the end (no endless live-lock)
                if attempt():
                    break
            pause.clear()

    def cli_import() -> bool:
        done = run_cli("db", "import", demo_path, "--store", url)
        if done.returncode == 0:
            m = re.search(r"as version (\d+):.*it replaced version (\d+)", _flat(done.stdout))
            assert m is not None, done.stdout
            with lock:
                replaced.append((int(m.group(1)), int(m.group(2)), "cli"))
            return True
        with lock:
            if "nothing imported" in _flat(done.stderr) and "another writer changed it" in \
                    _flat(done.stderr):
                refusals.append("cli")
            else:
                errors.append(f"cli: {done.returncode} {done.stderr[-300:]}")
        return False

    def api_upload() -> bool:
        with live.client() as c:
            r = c.post("/api/datasets", files={"file": ("d.zip", upload)})
        with lock:
            if r.status_code == 201:
                replaced.append((r.json()["version"], r.json()["replaced"], "api"))
                return True
            if r.status_code == 409 and r.json()["error"]["code"] == "conflict":
                refusals.append("api")
            else:
                errors.append(f"upload: {r.status_code} {r.text[:200]}")
        return False

    try:
        with live.client() as c:  # build the routes once (see test_api_security)
            assert c.get("/api/offers", params={"limit": 1}).status_code == 200
        writers = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
        replacers = [threading.Thread(target=replace_until_done, args=(f,))
                     for f in (cli_import, api_upload)]
        for t in writers + replacers:
            t.start()
        for t in replacers:
            t.join()
        stop.set()
        for t in writers:
            t.join()
        assert errors == []
        assert len(replaced) == 2 * imports_each and acked
        # every replacement replaced the version right before it: it saw all it replaced
        assert all(new == old + 1 for new, old, _ in replaced), replaced
        with open_store(url) as store:
            versions = store.versions()
            rows = store.dataset_rows()
        by_offer = {}
        for v in versions:
            m = re.search(r"add offer (OF-\d+)", v.source)
            if m:
                by_offer[m.group(1)] = v.version
        assert set(acked) <= set(by_offer)  # every acknowledged write was committed
        last = max(new for new, _, _ in replaced)
        demo = {str(i) for i in pd.read_csv(demo_path / "offers.csv")["id"]}
        expected = demo | {o for o in acked if by_offer[o] > last}
        assert {str(o["id"]) for o in rows.offers} == expected
        print(f"writes acknowledged {len(acked)}, replacements {len(replaced)}, "
              f"refused {len(refusals)} ({refusals.count('cli')} CLI), lost 0")
    finally:
        stop.set()
        pause.clear()
        live.stop()


# ---------------- 503 on a locked store (item 2)

# another process holding the write lock of a SQLite file (as a long `db import` or a
# backup tool does) until its standard input closes
_LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
db.execute("ROLLBACK")
db.close()
"""


def _locked(path: Path) -> subprocess.Popen[str]:
    locker = subprocess.Popen([sys.executable, "-c", _LOCKER, str(path)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
    return locker


def _release(locker: subprocess.Popen[str]) -> None:
    assert locker.stdin is not None and locker.stdout is not None
    locker.stdin.close()
    assert locker.wait(timeout=600) == 0
    locker.stdout.close()


def _assert_503(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "store_unavailable"
    assert int(r.headers["Retry-After"]) >= 1


def test_a_store_locked_by_another_process_answers_503_with_retry_after(
        tmp_path: Path, demo_path: Path) -> None:
    live = start_server(tmp_path / "srv", demo_path, store_busy_s=0.2)
    try:
        body = {"enterprise_id": "XT-PWR1", "material": "fly_ash", "quantity": 3}
        with live.client() as c:
            assert c.post("/api/offers", json=body).status_code == 201  # routes built
            count = c.get("/api/offers", params={"limit": 1}).json()["count"]
            locker = _locked(live.folder / "store.db")
            try:
                _assert_503(c.post("/api/offers", json=body))
                _assert_503(c.patch("/api/enterprises/XT-PWR1", json={"name": "x"}))
                _assert_503(c.post("/api/datasets",
                                   files={"file": ("d.zip", _demo_zip(demo_path))}))
                # readers are not blocked (WAL) and see nothing of the refused writes
                listed = c.get("/api/offers", params={"limit": 1})
                assert listed.status_code == 200 and listed.json()["count"] == count
            finally:
                _release(locker)
            assert c.get("/api/enterprises/XT-PWR1").json()["name"] != "x"
            assert c.post("/api/offers", json=body).status_code == 201  # retried: fine
            assert c.get("/api/offers", params={"limit": 1}).json()["count"] == count + 1
            # the server's own state file (keys, jobs, proposals) locked the same way
            locker = _locked(live.folder / "api.db")
            try:
                _assert_503(c.post("/api/keys", json={"role": "enterprise",
                                                      "scope": "XT-PWR1", "label": "x"}))
            finally:
                _release(locker)
            assert c.post("/api/keys", json={"role": "enterprise", "scope": "XT-PWR1",
                                             "label": "x"}).status_code == 201
    finally:
        live.stop()


# ---------------- keys bound to identities (item 4)


def _demo_without(demo_path: Path, enterprise_id: str, folder: Path) -> Path:
    """The demo dataset without one enterprise (its listings and road distances too)."""
    folder.mkdir(parents=True)
    for path in demo_path.glob("*.csv"):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in ("id", "enterprise_id", "from_id", "to_id"):
            if column in frame and (path.stem == "enterprises") == (column == "id"):
                frame = frame[frame[column] != enterprise_id]
        frame.to_csv(folder / path.name, index=False)
    return folder


def _propose_to(live: LiveServer) -> str:
    """CS-BRK1 proposes to take the first offer its search shows; returns the supplier."""
    with live.client(live.key("recycler", "CS-BRK1")) as c:
        hit = c.post("/api/feedstock/search", json={"material": "brick_feedstock",
                                                    "radius_km": 200}).json()["data"][0]
        need = c.get("/api/needs").json()["data"][0]["id"]
        assert c.post("/api/proposals", json={"offer_handle": hit["handle"], "need_id": need,
                                              "quantity": 1000}).status_code == 201
    offers = live.app.state.services.region.snapshot().rows.offers
    return next(str(o["enterprise_id"]) for o in offers
                if _handle(live, str(o["id"])) == hit["handle"])


def _handle(live: LiveServer, offer_id: str) -> str:
    from symbiosis.api.server.routes_market import offer_handle

    return offer_handle(live.app.state.services.handle_secret, offer_id)


def test_a_key_dies_when_imports_give_its_id_to_another_enterprise(
        tmp_path: Path, demo_path: Path, run_cli: CliRunner) -> None:
    """No API call in between: `db import` (another process) drops the enterprise, a second
    one brings the display id back. The old key and the old holder's proposals stay with
    the old identity: 401 for the key, none of the proposals for the new holder."""
    live = start_server(tmp_path / "srv", demo_path)
    try:
        supplier = _propose_to(live)
        old_key = live.key("enterprise", supplier)
        with live.client(old_key) as c:
            assert c.get("/api/proposals").json()["count"] == 1
        url = _store_url(live)
        without = _demo_without(demo_path, supplier, tmp_path / "without")
        for folder in (without, demo_path):
            done = run_cli("db", "import", folder, "--store", url)
            assert done.returncode == 0, done.stderr
        with live.client(old_key) as c:
            assert c.get("/api/proposals").status_code == 401
            assert c.get(f"/api/enterprises/{supplier}").status_code == 401
        live.keys.pop(f"enterprise:{supplier}")
        with live.client(live.key("enterprise", supplier)) as c:
            assert c.get("/api/proposals").json()["count"] == 0
        with live.client(live.key("recycler", "CS-BRK1")) as c:
            assert c.get("/api/proposals").json()["count"] == 1  # the other side keeps it
    finally:
        live.stop()


def test_a_state_file_from_before_identities_is_migrated(tmp_path: Path, demo_path: Path,
                                                         run_cli: CliRunner) -> None:
    """A state file of schema 1 (keys and proposals by display id only): the server binds
    them to the identities holding those ids when it starts; after that a reused id gets
    nothing of them."""
    import hashlib
    import sqlite3

    from symbiosis.api.server.state import MIGRATIONS
    from symbiosis.dataset import load_dataset

    folder = tmp_path / "srv"
    folder.mkdir()
    url = f"sqlite://{folder / 'store.db'}"
    with open_store(url) as store:
        store.import_dataset(load_dataset(demo_path))
        uids = store.enterprise_uids()
    supplier, secret = "XT-PWR1", "s" * 43
    key = f"sk_{'ab' * 6}_{secret}"
    db = sqlite3.connect(folder / "api.db", isolation_level=None)
    for statement in filter(str.strip, MIGRATIONS[0].split(";")):
        db.execute(statement)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.execute("INSERT INTO api_keys VALUES (?, ?, 'enterprise', ?, 'old', "
               "'2026-11-01T00:00:00+00:00', NULL)",
               ("ab" * 6, hashlib.sha256(secret.encode()).hexdigest(), supplier))
    db.execute("INSERT INTO proposals (source, offer_id, need_id, supplier_id, receiver_id, "
               "offer_material, need_material, unit, quantity, distance_km, status, "
               "created_at, created_by) VALUES ('request:x', 'O', 'N', ?, 'CS-BRK1', "
               "'fly_ash', 'brick_feedstock', 't', 10, 60, 'proposed', "
               "'2026-11-01T00:00:00+00:00', 'x')", (supplier,))
    db.close()
    live = start_server(folder)
    try:
        with live.client(key) as c:
            assert c.get("/api/proposals").json()["count"] == 1
        db = sqlite3.connect(folder / "api.db")
        try:
            assert db.execute("SELECT subject FROM api_keys WHERE id = ?",
                              ("ab" * 6,)).fetchone() == (uids[supplier],)
            assert db.execute("SELECT supplier_uid, receiver_uid FROM proposals").fetchone() \
                == (uids[supplier], uids["CS-BRK1"])
        finally:
            db.close()
        for dataset in (_demo_without(demo_path, supplier, tmp_path / "without"), demo_path):
            assert run_cli("db", "import", dataset, "--store", url).returncode == 0
        with live.client(key) as c:
            assert c.get("/api/proposals").status_code == 401
        with live.client(live.key("enterprise", supplier)) as c:
            assert c.get("/api/proposals").json()["count"] == 0
    finally:
        live.stop()


# ---------------- worker processes (item 6)

# a region whose dense solve takes seconds (2,000 suppliers and 2,000 users within 90 km of
# each other: 4 M candidate arcs), so a run is still solving when it is stopped
BIG_N = 2000


def _write_big(folder: Path, n: int = BIG_N, seed: int = 7) -> Path:
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"S{i:05d}" for i in range(n)] + [f"C{i:05d}" for i in range(n)]
    pd.DataFrame({"id": ids, "name": ids, "sector": ["4411"] * n + ["3011"] * n,
                  "lon": (112.5 + rng.random(2 * n) * 0.8).round(5),
                  "lat": (27.6 + rng.random(2 * n) * 0.8).round(5), "park": ""}
                 ).to_csv(folder / "enterprises.csv", index=False)
    pd.DataFrame({"id": [f"O{i:05d}" for i in range(n)], "enterprise_id": ids[:n],
                  "material": "fly_ash", "quantity": rng.integers(100, 10000, n)}
                 ).to_csv(folder / "offers.csv", index=False)
    pd.DataFrame({"id": [f"N{i:05d}" for i in range(n)], "enterprise_id": ids[n:],
                  "material": "cement_admixture", "quantity": rng.integers(100, 10000, n)}
                 ).to_csv(folder / "needs.csv", index=False)
    return folder


def _gone(pid: int) -> bool:
    """True once `pid` has exited (no such process, or a zombie nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc: parent links)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {p for p in found if not _gone(p)}


def _poll(condition: Any, what: str, deadline_s: float = 300.0) -> Any:
    """Wait for `condition()` to be truthy (a liveness check, not a timing assertion)."""
    import time

    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"still waiting for {what} after {deadline_s:g} s")


def _job_phase(state_db: Path, job_id: int) -> tuple[str, str]:
    import sqlite3

    db = sqlite3.connect(state_db)
    try:
        status, phase = db.execute("SELECT status, phase FROM jobs WHERE id = ?",
                                   (job_id,)).fetchone()
    finally:
        db.close()
    return str(status), str(phase)


def test_a_running_solve_is_cancelled_at_once(tmp_path: Path) -> None:
    import time

    big = _write_big(tmp_path / "big")
    live = start_server(tmp_path / "srv", big, process_min_enterprises=1)
    jobs = live.app.state.services.jobs
    try:
        with live.client() as c:
            job = c.post("/api/runs", json={}).json()["id"]
            _poll(lambda: c.get(f"/api/runs/{job}").json()["phase"] == "solve",
                  "the run to reach its solve")
            pid = jobs.worker_pid(job)
            assert pid is not None and not _gone(pid)
            asked = time.perf_counter()
            r = c.post(f"/api/runs/{job}/cancel")
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "cancelled"
            _poll(lambda: _gone(pid), "the worker process to end")
            stopped_s = time.perf_counter() - asked
            now = c.get(f"/api/runs/{job}").json()
            assert now["status"] == "cancelled" and now["kpis"] is None
            assert "cancelled by api key" in now["error"]
            assert c.get(f"/api/runs/{job}/result").status_code == 409
            assert c.post(f"/api/runs/{job}/cancel").status_code == 409  # nothing to stop
            _poll(lambda: jobs.worker_pid(job) is None, "the job thread to let go")
            assert c.get(f"/api/runs/{job}").json()["status"] == "cancelled"
            region = live.app.state.services.region
            with region.lock:
                assert all(r.parameters.get("api_job") != job for r in region.store.runs())
        print(f"cancel to worker gone: {stopped_s:.3f} s")
    finally:
        live.stop()


def _serve(folder: Path, big: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`symbiosis serve` as its own process (the real launcher) on a store holding `big`,
    every run in a worker process."""
    import os

    from api_support import ADMIN_KEY, free_port

    from symbiosis.dataset import load_dataset

    folder.mkdir(parents=True)
    with open_store(f"sqlite://{folder / 'store.db'}") as store:
        store.import_dataset(load_dataset(big))
    port = free_port()
    env = {**os.environ, "SYMBIOSIS_ADMIN_KEY": ADMIN_KEY,
           "SYMBIOSIS_PROCESS_MIN_ENTERPRISES": "1"}
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-c", "from symbiosis.api.cli import main; main()", "serve",
         "--store", f"sqlite://{folder / 'store.db'}", "--state", str(folder / "api.db"),
         "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert server.poll() is None, (folder / "server.log").read_text()
        try:
            return httpx.get(url + "/health", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    _poll(up, "the server to answer")
    return server, url


def _start_solving(url: str, folder: Path, server: subprocess.Popen[bytes]
                   ) -> tuple[int, set[int]]:
    """Start a run and wait until its worker process is solving; returns the job and the
    server's child processes."""
    from api_support import ADMIN_KEY

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                      timeout=120) as c:
        job = int(c.post("/api/runs", json={}).json()["id"])
    _poll(lambda: _job_phase(folder / "api.db", job)[1] == "solve",
          "the run to reach its solve")
    children = _descendants(server.pid)
    assert children  # the worker (and multiprocessing's resource tracker)
    return job, children


def test_workers_die_with_a_killed_server(tmp_path: Path) -> None:
    """SIGKILL leaves the server no chance to clean up: its worker must still go, at once,
    without finishing the solve it was in (it never reaches the report phase)."""
    import signal

    folder = tmp_path / "srv"
    server, url = _serve(folder, _write_big(tmp_path / "big"))
    try:
        job, children = _start_solving(url, folder, server)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=600)
        _poll(lambda: all(_gone(p) for p in children), "the workers to end")
        assert _job_phase(folder / "api.db", job) == ("running", "solve")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_sigterm_stops_the_server_without_waiting_for_a_solve(tmp_path: Path) -> None:
    import signal

    folder = tmp_path / "srv"
    server, url = _serve(folder, _write_big(tmp_path / "big"))
    try:
        job, children = _start_solving(url, folder, server)
        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert server.wait(timeout=600) in (0, -signal.SIGTERM)
        assert '"run stopped"' in (folder / "server.log").read_text()  # by its own shutdown
        _poll(lambda: all(_gone(p) for p in children), "the workers to end")
        # the run was stopped, not finished: failed, saying why, at its solve phase
        assert _job_phase(folder / "api.db", job) == ("failed", "failed")
        import sqlite3

        db = sqlite3.connect(folder / "api.db")
        try:
            error, kpis = db.execute("SELECT error, kpis FROM jobs WHERE id = ?",
                                     (job,)).fetchone()
        finally:
            db.close()
        assert "server stopped" in error and kpis is None
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
