"""One contract for both stores: SQLite and a real Neo4j 5 (tools/neo4j, started by the
session). Every contract test runs on both; a Neo4j test starts from an emptied database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from store_support import Neo4jServer, free_port, start_neo4j

from symbiosis.dataset import load_dataset, validate_dataset
from symbiosis.errors import StoreError, StoreUnavailableError
from symbiosis.store import (
    RowWrite,
    RowWriteResult,
    RunRecord,
    StoreConflictError,
    dataset_from_rows,
    default_store_url,
    open_store,
    parse_store_url,
    rows_from_dataset,
    write_dataset_folder,
)
from symbiosis.store.records import apply_row_write

if TYPE_CHECKING:
    from conftest import DatasetTables

    from symbiosis.dataset import Dataset

ROOT = Path(__file__).resolve().parents[2]



def _frames_equal(a: Dataset, b: Dataset) -> None:
    for name in ("enterprises", "offers", "needs", "distances"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_like=True)
    rules = [{k: (r.ratio, r.limits) for k, r in d.taxonomy.rules.items()} for d in (a, b)]
    assert rules[0] == rules[1]


def _tricky(dataset_tables: DatasetTables, folder: Path) -> Path:
    """The base dataset with quotes, backslashes, Chinese text and an all-empty quality
    column: what a naive store would mangle."""
    dataset_tables.set("enterprises", 2, "name", "Xiangtan power plant 湘潭电厂 'No. 2'")
    dataset_tables.set("enterprises", 3, "name", r"C:\kiln \n 1")
    dataset_tables.set("enterprises", 4, "park", "Zhuzhou park's east")
    dataset_tables.add_column("offers", "q.so3_pct")
    dataset_tables.add_column("needs", "max.loi_pct", ["7", "", ""])
    return dataset_tables.write_csv(folder)


def test_empty_store(store_url: str) -> None:
    with open_store(store_url) as store:
        assert store.current_version() is None
        assert store.versions() == []
        assert store.runs() == []
        assert store.parks() == []
        with pytest.raises(StoreError, match="no dataset"):
            store.dataset_rows()
        with pytest.raises(StoreError, match="no run 7"):
            store.run(7)


def test_import_round_trips_exactly(store_url: str, demo_path: Path, tmp_path: Path,
                                    dataset_tables: DatasetTables) -> None:
    for i, path in enumerate([demo_path, _tricky(dataset_tables, tmp_path / "tricky")]):
        dataset = load_dataset(path)
        with open_store(store_url) as store:
            version = store.import_dataset(dataset, source=f"source {i}")
            assert version.version == i + 1
            assert version.hash == rows_from_dataset(dataset).content_hash()
            assert (version.enterprises, version.offers, version.needs) == (
                len(dataset.enterprises), len(dataset.offers), len(dataset.needs))
        with open_store(store_url) as store:
            rows = store.dataset_rows()
            assert store.current_version() == version
        assert rows == rows_from_dataset(dataset)
        out = tmp_path / f"export{i}"
        write_dataset_folder(rows, out)
        assert [p for p in validate_dataset(out) if p.severity == "error"] == []
        _frames_equal(load_dataset(out), dataset)
        _frames_equal(dataset_from_rows(rows), dataset)


def test_reimport_replaces_and_keeps_history(store_url: str, tmp_path: Path,
                                             dataset_tables: DatasetTables) -> None:
    first = load_dataset(dataset_tables.write_csv(tmp_path / "a"))
    dataset_tables.set("offers", 2, "quantity", "1500")
    dataset_tables.remove("substitutions").remove("distances")
    dataset_tables.tables["needs"].pop()  # ND3 of CEM2 goes
    second = load_dataset(dataset_tables.write_csv(tmp_path / "b"))
    with open_store(store_url) as store:
        v1 = store.import_dataset(first)
        v2 = store.import_dataset(second)
        rows = store.dataset_rows()
        assert rows == rows_from_dataset(second)
        assert rows.substitutions is None and rows.distances == []
        assert [v.version for v in store.versions()] == [1, 2]
        assert [v.hash for v in store.versions()] == [v1.hash, v2.hash]
        assert store.current_version() == v2
        assert [(p.name, p.enterprises) for p in store.parks()] == [("Xiangtan EDZ", 1)]


def test_runs_round_trip(store_url: str, demo_path: Path) -> None:
    from symbiosis.matching import MatchOptions, solve_match

    dataset = load_dataset(demo_path)
    with open_store(store_url) as store:
        version = store.import_dataset(dataset)
        records = []
        for max_km in (60.0, None):
            result = solve_match(dataset, MatchOptions(max_km=max_km))
            record = RunRecord.from_result(result, version.hash)
            record = RunRecord(record.parameters, record.dataset_hash, record.summary,
                               record.exchanges, version=version.version)
            info = store.save_run(record)
            records.append((info, record))
        assert [r.id for r in store.runs()] == [1, 2]
    with open_store(store_url) as store:
        for info, record in records:
            back = store.run(info.id)
            assert back.exchanges == record.exchanges
            assert back.summary == record.summary
            assert back.parameters == record.parameters
            assert (back.version, back.dataset_hash) == (version.version, version.hash)
            assert back.created_at == info.created_at
        listed = store.runs()
        assert [r.exchanges for r in listed] == [len(rec.exchanges) for _, rec in records]
        assert listed[1].parameters["max_km"] is None
        assert listed[0].parameters["max_km"] == 60.0


def test_failed_import_changes_nothing(store_url: str, demo_path: Path, tmp_path: Path,
                                       dataset_tables: DatasetTables) -> None:
    small = load_dataset(dataset_tables.write_csv(tmp_path / "small"))
    demo = load_dataset(demo_path)

    def fail_midway(table: str, rows: int) -> None:
        if table in ("offers", "needs"):
            raise RuntimeError("disk on fire")

    with open_store(store_url) as store:
        before = store.import_dataset(small)
        with pytest.raises(RuntimeError, match="disk on fire"):
            store.import_dataset(demo, progress=fail_midway)
        assert store.current_version() == before
        assert store.versions() == [before]
        assert store.dataset_rows() == rows_from_dataset(small)
        after = store.import_dataset(demo)  # still usable
        assert store.dataset_rows() == rows_from_dataset(demo)
        assert after.version == 2


CHILD = textwrap.dedent("""
    import sys, time
    from symbiosis.dataset import load_dataset
    from symbiosis.store import open_store
    url, path = sys.argv[1], sys.argv[2]
    dataset = load_dataset(path)
    store = open_store(url)
    def stall(table, rows):
        print("writing", table, rows, flush=True)
        time.sleep(3600)
    store.import_dataset(dataset, progress=stall)
""")


def test_killed_writer_leaves_store_intact(store_url: str, demo_path: Path, tmp_path: Path,
                                           dataset_tables: DatasetTables) -> None:
    small = load_dataset(dataset_tables.write_csv(tmp_path / "small"))
    with open_store(store_url) as store:
        before = store.import_dataset(small)
    child = subprocess.Popen([sys.executable, "-c", CHILD, store_url, str(demo_path)],
                             stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert child.stdout is not None
    line = child.stdout.readline()  # the writer is inside its import now
    assert line.startswith("writing"), line
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    with open_store(store_url) as store:
        assert store.current_version() == before
        assert store.dataset_rows() == rows_from_dataset(small)
        store.import_dataset(load_dataset(demo_path))
        assert store.dataset_rows() == rows_from_dataset(load_dataset(demo_path))


WRITER = textwrap.dedent("""
    import sys
    from symbiosis.dataset import load_dataset
    from symbiosis.store import RunRecord, open_store
    url, folders = sys.argv[1], sys.argv[2:]
    with open_store(url) as store:
        for folder in folders:
            version = store.import_dataset(load_dataset(folder))
            rows = [dict(offer_enterprise_id="PWR1", need_enterprise_id="CEM1",
                         offer_material="fly_ash", need_material="cement_admixture",
                         quantity=float(i), distance_km=12.5, offer_id="OF1", need_id="ND1")
                    for i in range(1, 40)]
            store.save_run(RunRecord({"folder": folder}, version.hash, {"n": 1}, rows,
                                     version=version.version))
""")


def test_concurrent_writers(store_url: str, tmp_path: Path,
                            dataset_tables: DatasetTables) -> None:
    folders = []
    for i in range(6):
        dataset_tables.set("offers", 2, "quantity", str(1000 + i))
        folders.append(str(dataset_tables.write_csv(tmp_path / f"v{i}")))
    with open_store(store_url):  # create the schema once, as `db init` would
        pass
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, store_url, *folders[k::3]],
                                cwd=ROOT) for k in range(3)]
    assert [w.wait() for w in writers] == [0, 0, 0]
    hashes = {rows_from_dataset(load_dataset(f)).content_hash(): f for f in folders}
    with open_store(store_url) as store:
        versions = store.versions()
        assert sorted(v.version for v in versions) == list(range(1, 7))
        assert {v.hash for v in versions} == set(hashes)
        current = store.current_version()
        assert current is not None
        assert store.dataset_rows().content_hash() == current.hash
        runs = store.runs()
        assert sorted(r.id for r in runs) == list(range(1, 7))
        for info in runs:
            run = store.run(info.id)
            assert [x["quantity"] for x in run.exchanges] == [float(i) for i in range(1, 40)]
            assert hashes[run.dataset_hash] == run.parameters["folder"]


def test_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_store_url("sqlite:///tmp/a.db").path == Path("/tmp/a.db")
    assert parse_store_url("sqlite://rel/a.db").path == Path("rel/a.db")
    monkeypatch.setenv("SYMBIOSIS_NEO4J_PASSWORD", "s3cret")
    monkeypatch.setenv("SYMBIOSIS_NEO4J_USER", "ops")
    url = parse_store_url("neo4j://db.example:7687/region")
    assert (url.uri, url.user, url.password, url.database) == (
        "neo4j://db.example:7687", "ops", "s3cret", "region")
    url = parse_store_url("bolt://me:pw@127.0.0.1:7688")
    assert (url.uri, url.user, url.password, url.database) == (
        "bolt://127.0.0.1:7688", "me", "pw", None)
    for bad in ("postgres://x", "sqlite://", "bolt://"):
        with pytest.raises(StoreError):
            parse_store_url(bad)
    monkeypatch.delenv("SYMBIOSIS_STORE", raising=False)
    monkeypatch.setenv("SYMBIOSIS_NEO4J_URI", "bolt://graph.example:7687")
    assert default_store_url() == "bolt://graph.example:7687"
    monkeypatch.delenv("SYMBIOSIS_NEO4J_URI")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_store_url() == f"sqlite://{tmp_path / 'xdg' / 'symbiosis' / 'symbiosis.db'}"
    monkeypatch.setenv("SYMBIOSIS_STORE", f"sqlite://{tmp_path / 'env.db'}")
    with open_store() as store:
        assert store.current_version() is None
    assert (tmp_path / "env.db").exists()


def test_unreachable_bolt_server_is_reported() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(StoreUnavailableError, match=rf"127\.0\.0\.1:{port} is unreachable"):
        open_store(f"bolt://127.0.0.1:{port}", retry_s=0.2)


def test_summary_is_plain_json(store_url: str) -> None:
    record = RunRecord({"max_km": None}, "h" * 64,
                       {"note": "it's \\ 湘潭", "nested": {"x": [1, 2.5, None]}}, [])
    with open_store(store_url) as store:
        info = store.save_run(record)
        back = store.run(info.id)
    assert back.summary == record.summary
    assert json.loads(json.dumps(back.summary)) == record.summary
    assert back.version is None and back.exchanges == []


def test_sqlite_file_is_versioned_wal_with_foreign_keys(tmp_path: Path) -> None:
    import sqlite3

    from symbiosis.store.sqlite import MIGRATIONS

    path = tmp_path / "deep" / "folder" / "s.db"
    open_store(f"sqlite://{path}").close()  # created with its folders on first use
    open_store(f"sqlite://{path}").close()  # a second open applies nothing twice
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [
            (n,) for n in range(1, len(MIGRATIONS) + 1)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.execute("PRAGMA foreign_keys=ON")
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO offers VALUES ('O', 'nobody', 'fly_ash', 1, '{}')")
    finally:
        db.close()


def test_lost_connection_is_reported_then_recovered(tmp_path: Path, demo_path: Path) -> None:
    """Neo4j stops under two open stores: the one that retries briefly reports the server
    unreachable; the one that retries longer waits (the driver's managed-transaction retries)
    until the server is back on the same port, and reads the data it kept on disk."""
    import threading

    server = start_neo4j(tmp_path / "neo4j")
    dataset = load_dataset(demo_path)
    brief = open_store(server.url(), retry_s=0.5)
    patient = open_store(server.url(), retry_s=300)
    restarted: list[Neo4jServer] = []
    try:
        brief.import_dataset(dataset)
        server.stop()
        with pytest.raises(StoreUnavailableError, match=r"unreachable.*retried for 0\.5 s"):
            brief.dataset_rows()

        def restart() -> None:  # the same folder and port, a moment later
            restarted.append(start_neo4j(server.folder, server.port))

        thread = threading.Thread(target=restart)
        thread.start()
        try:
            assert patient.dataset_rows() == rows_from_dataset(dataset)
        finally:
            thread.join()
        assert brief.current_version() == patient.current_version()  # usable again
    finally:
        brief.close()
        patient.close()
        server.stop()
        for s in restarted:
            s.stop()


def test_large_run_round_trips(store_url: str) -> None:
    """A run far beyond one small Bolt message: 5,000 exchanges with
    full-precision floats and a 200 KB summary come back exactly."""
    exchanges = [{"offer_enterprise_id": f"E{i % 97}", "need_enterprise_id": f"N{i % 89}",
                  "offer_material": "fly_ash", "need_material": "cement_admixture",
                  "quantity": 1 / (i + 3), "distance_km": 4.3559486823631826 * i,
                  "offer_id": f"O{i}", "need_id": None if i % 2 else f"D{i}"}
                 for i in range(5000)]
    summary = {"big": ["湘潭 'x' \\ \"y\"" * 20 for _ in range(500)], "pi": 3.141592653589793}
    record = RunRecord({"max_km": 1e-300}, "h" * 64, summary, exchanges)
    with open_store(store_url) as store:
        info = store.save_run(record)
        back = store.run(info.id)
    assert back.exchanges == exchanges
    assert back.summary == summary and back.parameters == {"max_km": 1e-300}


def test_neo4j_schema_is_idempotent(neo4j_server: Neo4jServer, demo_path: Path) -> None:
    """Opening the store again (or from several processes) creates each uniqueness
    constraint and index once; the constraints hold against direct writes too."""
    from symbiosis.store.graph import CONSTRAINTS, INDEXES

    neo4j_server.wipe()
    for _ in range(3):
        open_store(neo4j_server.url()).close()
    constraints = neo4j_server.cypher(
        "SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties "
        "RETURN name, type, labelsOrTypes[0] AS label, properties[0] AS prop ORDER BY name")
    assert constraints == sorted(
        ({"name": f"{label.lower()}_{prop}", "type": "UNIQUENESS", "label": label,
          "prop": prop} for label, prop in CONSTRAINTS), key=lambda c: str(c["name"]))
    names = {r["name"] for r in neo4j_server.cypher("SHOW INDEXES YIELD name RETURN name")}
    assert {name for name, _, _ in INDEXES} <= names
    assert neo4j_server.cypher("MATCH (m:Meta) RETURN count(m) AS n") == [{"n": 1}]
    with open_store(neo4j_server.url()) as store:
        store.import_dataset(load_dataset(demo_path))
    import neo4j

    with pytest.raises(neo4j.exceptions.ConstraintError):
        neo4j_server.cypher("CREATE (:Enterprise {id: 'XT-PWR1'})")


def test_neo4j_schema_created_by_concurrent_openers(neo4j_server: Neo4jServer) -> None:
    """Four processes open a store whose schema is gone at the same moment: each succeeds
    (a rule a concurrent opener created first is accepted) and each rule exists once."""
    from symbiosis.store.graph import CONSTRAINTS, INDEXES

    neo4j_server.wipe()
    for name in [r["name"] for r in neo4j_server.cypher(
            "SHOW CONSTRAINTS YIELD name RETURN name")]:
        neo4j_server.cypher(f"DROP CONSTRAINT {name}")
    for name, _, _ in INDEXES:
        neo4j_server.cypher(f"DROP INDEX {name} IF EXISTS")
    assert neo4j_server.cypher("SHOW CONSTRAINTS YIELD name RETURN count(*) AS n") == [{"n": 0}]
    opener = "import sys; from symbiosis.store import open_store; open_store(sys.argv[1]).close()"
    openers = [subprocess.Popen([sys.executable, "-c", opener, neo4j_server.url()], cwd=ROOT)
               for _ in range(4)]
    assert [p.wait() for p in openers] == [0, 0, 0, 0]
    names = [r["name"] for r in neo4j_server.cypher("SHOW CONSTRAINTS YIELD name RETURN name")]
    assert sorted(names) == sorted(f"{label.lower()}_{prop}" for label, prop in CONSTRAINTS)
    indexes = [r["name"] for r in neo4j_server.cypher("SHOW INDEXES YIELD name RETURN name")]
    assert all(indexes.count(name) == 1 for name, _, _ in INDEXES)
    assert neo4j_server.cypher("MATCH (m:Meta) RETURN count(m) AS n") == [{"n": 1}]


def test_neo4j_rollback_leaves_no_trace(neo4j_server: Neo4jServer, demo_path: Path,
                                        tmp_path: Path, dataset_tables: DatasetTables) -> None:
    """A failed import and a killed writer leave exactly the nodes and relationships that
    were there before: a real transaction rollback, no staging to sweep."""
    neo4j_server.wipe()
    small = load_dataset(dataset_tables.write_csv(tmp_path / "small"))
    with open_store(neo4j_server.url()) as store:
        store.import_dataset(small)

    def census() -> list[dict[str, object]]:
        return neo4j_server.cypher(
            "MATCH (n) WITH labels(n)[0] AS label, count(*) AS n "
            "OPTIONAL MATCH ()-[r]->() RETURN label, n, count(r) AS rels ORDER BY label")

    before = census()

    def fail(table: str, rows: int) -> None:
        if table == "needs":
            raise RuntimeError("disk on fire")

    with open_store(neo4j_server.url()) as store, pytest.raises(RuntimeError):
        store.import_dataset(load_dataset(demo_path), progress=fail)
    assert census() == before
    child = subprocess.Popen([sys.executable, "-c", CHILD, neo4j_server.url(), str(demo_path)],
                             stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert child.stdout is not None
    assert child.stdout.readline().startswith("writing")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stdout.close()
    with open_store(neo4j_server.url()) as store:  # waits for the dead writer's lock
        assert store.dataset_rows() == rows_from_dataset(small)
    assert census() == before


# ---------------------------------------------------------------- single-row writes (issue 18)


def test_row_writes(store_url: str, tmp_path: Path, dataset_tables: DatasetTables) -> None:
    """Each enterprise and listing write is one transaction on one row, with the id picked
    inside it, a new version whose hash is the stored rows', compare-and-swap on the version
    and deleted ids retired for good."""
    small = load_dataset(dataset_tables.write_csv(tmp_path / "small"))
    with open_store(store_url) as store:
        first = store.import_dataset(small)
        expected = store.dataset_rows()

        def write(change: RowWrite, **options: Any) -> RowWriteResult:
            nonlocal expected
            done = store.write_row(change, **options)
            expected = apply_row_write(expected, change, set(), done.id).rows
            rows = store.dataset_rows()
            assert rows == expected  # exactly the one row changed, as the pure rule says
            assert store.current_version() == done.version
            assert done.version.hash == rows.content_hash()
            return done

        added = write(RowWrite("offers", "add", values={
            "enterprise_id": "PWR1", "material": "fly_ash", "quantity": 42.5,
            "q.so3_pct": 1.25}))
        assert (added.id, added.version.version) == ("OF-000001", first.version + 1)
        assert "q.so3_pct" in store.dataset_rows().offer_columns
        write(RowWrite("offers", "update", "OF1", {"quantity": 1500.0}),
              expected_version=added.version.version)
        with pytest.raises(StoreConflictError, match=rf"version {first.version + 2}"):
            store.write_row(RowWrite("offers", "update", "OF1", {"quantity": 1.0}),
                            expected_version=added.version.version)  # stale
        deleted = write(RowWrite("needs", "delete", "ND2"))
        assert deleted.retired == ("ND2",)
        with pytest.raises(StoreConflictError, match="never reused"):
            store.write_row(RowWrite("needs", "add", "ND2", {
                "enterprise_id": "CEM1", "material": "set_retarder", "quantity": 1.0}))
        new = write(RowWrite("enterprises", "add", values={
            "name": "Xiangtan brick works", "sector": "3031", "lon": 112.9, "lat": 27.9,
            "park": "Xiangtan EDZ"}))
        assert new.id == "E-000001"
        assert [(p.name, p.enterprises) for p in store.parks()] == [("Xiangtan EDZ", 2)]
        write(RowWrite("enterprises", "update", "PWR1", {"park": "Zhuzhou park"}))
        assert [(p.name, p.enterprises) for p in store.parks()] == [
            ("Xiangtan EDZ", 1), ("Zhuzhou park", 1)]
        gone_pwr = write(RowWrite("enterprises", "delete", "PWR1"))
        assert set(gone_pwr.retired) == {"PWR1", "OF1", "OF2", "OF-000001"}
        rows = store.dataset_rows()
        assert all(o["enterprise_id"] != "PWR1" for o in rows.offers)
        assert all("PWR1" not in (d["from_id"], d["to_id"]) for d in rows.distances)
        assert [(p.name, p.enterprises) for p in store.parks()] == [("Xiangtan EDZ", 1)]
        for bad, message in (
                (RowWrite("offers", "add", values={"enterprise_id": "PWR1",
                                                   "material": "fly_ash", "quantity": 1.0}),
                 "no enterprise 'PWR1'"),
                (RowWrite("enterprises", "add", "PWR1", {"lon": 112.0, "lat": 27.0}),
                 "never reused"),
                (RowWrite("offers", "update", "OF9", {"quantity": 1.0}), "no offer 'OF9'"),
                (RowWrite("needs", "update", "ND1", {"id": "X"}), "not a column"),
                (RowWrite("parks", "add"), "unknown table")):
            with pytest.raises(StoreError, match=message):
                store.write_row(bad)
        again = write(RowWrite("offers", "add", values={
            "enterprise_id": "STL1", "material": "bf_slag", "quantity": 5.0}))
        assert again.id == "OF-000002"  # OF-000001 was retired with PWR1
        history = store.versions()
        assert [v.version for v in history] == list(range(1, 9))
        assert history[-1] == again.version
        assert dataset_from_rows(store.dataset_rows()).enterprises.shape[0] == 4


ROW_WRITER = textwrap.dedent("""
    import sys
    from symbiosis.store import RowWrite, StoreConflictError, open_store
    url, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open_store(url) as store:
        for i in range(n):
            store.write_row(RowWrite("offers", "add", values={
                "enterprise_id": "STL1", "material": "bf_slag", "quantity": float(i + 1),
                "note": f"{who}-{i}"}))
            while True:  # read, modify, write back only if nobody wrote in between
                version = store.current_version().version
                row = next(o for o in store.dataset_rows().offers if o["id"] == "OF1")
                try:
                    store.write_row(RowWrite("offers", "update", "OF1",
                                             {"quantity": row["quantity"] + 1}),
                                    expected_version=version)
                    break
                except StoreConflictError:
                    continue
""")


def test_concurrent_row_writers_lose_nothing(store_url: str, tmp_path: Path,
                                             dataset_tables: DatasetTables) -> None:
    """Three processes add listings (ids picked inside the store's transaction) and
    increment one quantity by read-modify-write with compare-and-swap: every write is kept,
    no id is given twice, no increment is lost."""
    n = 8
    with open_store(store_url) as store:
        store.import_dataset(load_dataset(dataset_tables.write_csv(tmp_path / "small")))
    writers = [subprocess.Popen([sys.executable, "-c", ROW_WRITER, store_url, who, str(n)],
                                cwd=ROOT) for who in "abc"]
    assert [w.wait() for w in writers] == [0, 0, 0]
    with open_store(store_url) as store:
        rows = store.dataset_rows()
        added = [o for o in rows.offers if o["id"].startswith("OF-")]
        assert sorted(o["id"] for o in added) == [f"OF-{k:06d}" for k in range(1, 3 * n + 1)]
        assert sorted(o["note"] for o in added) == sorted(
            f"{who}-{i}" for who in "abc" for i in range(n))
        assert next(o for o in rows.offers if o["id"] == "OF1")["quantity"] == 1000 + 3 * n
        versions = store.versions()
        assert [v.version for v in versions] == list(range(1, 2 + 6 * n))
        assert versions[-1].hash == rows.content_hash()


def test_hazardous_declarations_and_licences_persist(store_url: str) -> None:
    """hazardous.csv and licences.csv survive the store (issue 13): the declared slag and
    the licence come back, the run on the stored rows admits only the licensed kiln, and a
    dataset without them keeps its old content hash."""
    from symbiosis.dataset import dataset_from_records
    from symbiosis.matching import solve_match

    code = "321-002-48"
    records: dict[str, list[dict[str, Any]]] = {
        "enterprises": [{"id": i, "name": i, "lon": 112.9, "lat": 27.8} for i in "ABC"],
        "offers": [{"id": "s", "enterprise_id": "A", "material": "smelting_slag",
                    "quantity": 100}],
        "needs": [{"id": "kB", "enterprise_id": "B", "material": "raw_meal_iron",
                   "quantity": 20},
                  {"id": "kC", "enterprise_id": "C", "material": "raw_meal_iron",
                   "quantity": 20}],
        "distances": [{"from_id": "A", "to_id": k, "distance_km": 10} for k in "BC"],
        "hazardous": [{"material": "smelting_slag", "hw_code": code}],
        "licences": [{"enterprise_id": "B", "hw_code": code, "capacity": 500,
                      "valid_until": "2099-12-31"}]}
    ds = dataset_from_records(records)
    rows = rows_from_dataset(ds)
    assert rows.hazardous == [{"material": "smelting_slag", "hw_code": code}]
    assert rows.licences == [{"enterprise_id": "B", "hw_code": code, "capacity": 500.0,
                              "valid_until": "2099-12-31"}]
    with open_store(store_url) as store:
        store.import_dataset(ds)
        back = store.dataset_rows()
    assert (back.hazardous, back.licences) == (rows.hazardous, rows.licences)
    assert back.content_hash() == rows.content_hash()
    again = dataset_from_rows(back)
    assert again.taxonomy.materials["smelting_slag"].hazardous
    flows = solve_match(again).exchanges
    assert flows["need_id"].tolist() == ["kB"]
    plain = {k: v for k, v in records.items() if k not in ("hazardous", "licences")}
    bare = rows_from_dataset(dataset_from_records(plain))
    assert (bare.hazardous, bare.licences) == ([], [])
    import hashlib

    old_body = {"enterprises": bare.enterprises, "offers": bare.offers, "needs": bare.needs,
                "distances": bare.distances, "substitutions": bare.substitutions,
                "offer_columns": list(bare.offer_columns),
                "need_columns": list(bare.need_columns)}
    text = json.dumps(old_body, sort_keys=True, ensure_ascii=False, allow_nan=False)
    assert bare.content_hash() == hashlib.sha256(text.encode("utf-8")).hexdigest()
