"""The store keeps every column and every optional file the dataset contract knows (issues
14-17): dataset -> store -> dataset is identical on SQLite and on a real Neo4j 5; old stores
gain the new tables; runs on stored data equal runs on the CSV folder; a bad row rejects the
whole import and leaves the store as it was."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from store_datasets import (
    Records,
    full_records,
    grades_records,
    logistics_records,
    monthly_records,
    write_records,
)
from store_support import Neo4jServer

from symbiosis.dataset import SPECS, TABLES, Dataset, load_dataset, validate_dataset
from symbiosis.errors import InvalidDataError
from symbiosis.store import (
    RowWrite,
    dataset_from_rows,
    open_store,
    rows_from_dataset,
    write_dataset_folder,
)
from symbiosis.store.records import SIDE_TABLES, side_columns
from symbiosis.store.sqlite import MIGRATIONS

if TYPE_CHECKING:
    from conftest import CliRunner

FRAMES = ("enterprises", "offers", "needs", "distances", "transport", "carbon", "licences",
          "contracts", "storage")



def assert_same_dataset(a: Dataset, b: Dataset) -> None:
    """Every frame equal (the enterprises' `crs` aside: a stored enterprise is in WGS 84),
    the same substitution rules and hazardous materials."""
    for name in FRAMES:
        left, right = getattr(a, name), getattr(b, name)
        if name == "enterprises":
            left, right = left.drop(columns="crs"), right.drop(columns="crs")
        pd.testing.assert_frame_equal(left, right, check_like=True, obj=name)
    assert {k: (r.ratio, r.limits) for k, r in a.taxonomy.rules.items()} == \
        {k: (r.ratio, r.limits) for k, r in b.taxonomy.rules.items()}
    assert {s: m.hw_code for s, m in a.taxonomy.materials.items() if m.hazardous} == \
        {s: m.hw_code for s, m in b.taxonomy.materials.items() if m.hazardous}


def test_the_full_dataset_fills_every_column_of_every_table() -> None:
    """The round-trip tests below cover the whole contract: every SPECS column of every
    table (and quality, requirement and month columns) is filled on at least one row, so a
    column added to SPECS fails here until the store keeps it and the dataset fills it."""
    records = full_records()
    assert set(records) == set(TABLES)
    for table in TABLES:
        filled = {k for row in records[table] for k, v in row.items() if v not in ("", None)}
        missing = [s.name for s in SPECS[table] if s.name not in filled]
        assert missing == [], f"{table}: {missing}"
    assert any(k.startswith("q.") for row in records["offers"] for k in row)
    assert {p for row in records["needs"] for k in row for p in ("min.", "max.")
            if k.startswith(p)} == {"min.", "max."}


def test_sqlite_side_tables_have_the_contract_columns(tmp_path: Path) -> None:
    """Each optional table's SQLite columns are SPECS's (a new SPECS column needs a
    migration: this fails until it has one)."""
    with open_store(f"sqlite://{tmp_path / 'a.db'}"):
        pass
    db = sqlite3.connect(tmp_path / "a.db")
    try:
        for table in SIDE_TABLES:
            columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
            assert columns == ["seq", *side_columns(table)], table
    finally:
        db.close()


def test_every_column_and_file_round_trips(store_url: str, tmp_path: Path) -> None:
    folder = write_records(full_records(), tmp_path / "full")
    dataset = load_dataset(folder)
    assert dataset.enterprises.loc["CHM", "crs"] == "gcj02"  # converted on load
    assert dataset.needs.loc["ND5", "quantity"] == 5000  # capped by its licence
    rows = rows_from_dataset(dataset)
    assert all(rows.side(t) for t in SIDE_TABLES)
    with open_store(store_url) as store:
        version = store.import_dataset(dataset)
    with open_store(store_url) as store:  # a new connection reads what was committed
        back = store.dataset_rows()
    assert back == rows
    assert back.content_hash() == rows.content_hash() == version.hash
    again = dataset_from_rows(back)
    assert_same_dataset(again, dataset)
    assert set(again.enterprises["crs"]) == {"wgs84"}
    assert again.needs.loc["ND5", "unlicensed_quantity"] == 8000
    # and through the files `symbiosis db export` writes
    out = tmp_path / "export"
    write_dataset_folder(back, out)
    assert {p.stem for p in out.glob("*.csv")} == set(TABLES)
    assert [p for p in validate_dataset(out) if p.severity == "error"] == []
    assert_same_dataset(load_dataset(out), dataset)
    assert rows_from_dataset(load_dataset(out)) == rows


OPTIONAL_TABLES = [t for t in TABLES if t not in ("enterprises", "offers", "needs")]


def _random_subset(records: Records, rng: random.Random) -> Records:
    """The full records with a random half of the optional tables and of the optional
    columns of offers and needs left out."""
    out: Records = {}
    for table, rows in records.items():
        if table in OPTIONAL_TABLES and rng.random() < 0.5:
            continue
        if table in ("offers", "needs"):
            required = {"id", "enterprise_id", "material", "quantity"}
            columns = {k for row in rows for k in row}
            drop = {c for c in columns - required if rng.random() < 0.5}
            if drop & {f"m{i:02d}" for i in range(1, 13)}:  # months go or stay together
                drop |= {f"m{i:02d}" for i in range(1, 13)}
            rows = [{k: v for k, v in row.items() if k not in drop} for row in rows]
        out[table] = rows
    return out


@pytest.mark.parametrize("seed", range(6))
def test_random_subsets_of_the_contract_round_trip(store_url: str, tmp_path: Path,
                                                   seed: int) -> None:
    """Property: whatever subset of optional columns and files a valid dataset uses, the
    store gives it back identical (invalid combinations are drawn again)."""
    rng = random.Random(seed)
    for attempt in range(50):
        folder = write_records(_random_subset(full_records(), rng), tmp_path / f"{attempt}")
        try:
            dataset = load_dataset(folder)
        except InvalidDataError:
            continue
        break
    else:
        pytest.fail("no valid subset drawn")
    with open_store(store_url) as store:
        store.import_dataset(dataset)
        back = store.dataset_rows()
    assert back == rows_from_dataset(dataset)
    assert_same_dataset(dataset_from_rows(back), dataset)


def test_sqlite_store_of_schema_3_gains_the_new_tables(tmp_path: Path) -> None:
    """A file the released schema 3 wrote (no storage, contracts, transport or carbon
    tables) opens, is migrated, reads back with none of them and the same content hash,
    and then keeps a full dataset."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for number, script in enumerate(MIGRATIONS[:3], start=1):
        for statement in filter(str.strip, script.split(";")):
            db.execute(statement)
        db.execute("INSERT INTO schema_version VALUES (?)", (number,))
    db.execute("INSERT INTO enterprises (id, name, lon, lat, uid) VALUES "
               "('A', 'Plant A', 112.9, 27.8, 'a1'), ('B', 'Plant B', 113.0, 27.9, 'b1')")
    db.execute("INSERT INTO offers VALUES ('O1', 'A', 'fly_ash', 100, '{\"unit\": \"t\"}')")
    db.execute("INSERT INTO needs VALUES ('N1', 'B', 'cement_admixture', 50, '{}')")
    db.execute("INSERT INTO versions (hash, source, imported_at, enterprises, offers, needs) "
               "VALUES ('h', 'old', '2026-11-01T00:00:00+00:00', 2, 1, 1)")
    db.execute("INSERT INTO meta VALUES ('current', '1')")
    db.execute("INSERT INTO meta VALUES ('dataset', ?)", (
        '{"offer_columns": ["id", "enterprise_id", "material", "quantity", "unit"], '
        '"need_columns": ["id", "enterprise_id", "material", "quantity"], '
        '"has_substitutions": false}',))
    db.close()
    plain = {"enterprises": [{"id": "A", "name": "Plant A", "sector": None, "lon": 112.9,
                              "lat": 27.8, "park": ""},
                             {"id": "B", "name": "Plant B", "sector": None, "lon": 113.0,
                              "lat": 27.9, "park": ""}],
             "offers": [{"id": "O1", "enterprise_id": "A", "material": "fly_ash",
                         "quantity": 100.0, "unit": "t"}]}

    with open_store(f"sqlite://{path}") as store:
        rows = store.dataset_rows()
        assert rows.enterprises == plain["enterprises"] and rows.offers == plain["offers"]
        assert all(rows.side(t) == [] for t in SIDE_TABLES)
        assert store.enterprise_uids() == {"A": "a1", "B": "b1"}
        dataset_from_rows(rows)  # valid as it was
        full = load_dataset(write_records(full_records(), tmp_path / "full"))
        store.import_dataset(full, expected_version=1)
        assert store.dataset_rows() == rows_from_dataset(full)
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT max(version) FROM schema_version").fetchone() == (
            len(MIGRATIONS),)
    finally:
        db.close()


def test_neo4j_absent_properties_read_back_as_blanks(neo4j_server: Neo4jServer,
                                                     tmp_path: Path) -> None:
    """Neo4j stores no nulls: a blank cell is an absent property, and a property missing
    from a node written before the column existed reads back as a blank too."""
    neo4j_server.wipe()
    dataset = load_dataset(write_records(full_records(), tmp_path / "full"))
    with open_store(neo4j_server.url()) as store:
        store.import_dataset(dataset)
    assert neo4j_server.cypher("MATCH ()-[c:CONTRACT]->() WHERE c.quantity IS NULL "
                               "RETURN count(c) AS n") == [{"n": 1}]
    # as a store written before silos had running costs and trucks had a size
    neo4j_server.cypher("MATCH (s:Storage) REMOVE s.cost_per_unit_month, s.initial")
    neo4j_server.cypher("MATCH (t:Transport) REMOVE t.truck_capacity_t")
    with open_store(neo4j_server.url()) as store:
        rows = store.dataset_rows()
    assert {r["initial"] for r in rows.storage} == {None}
    assert {r["truck_capacity_t"] for r in rows.transport} == {None}
    again = dataset_from_rows(rows)
    assert list(again.storage["initial"]) == [0.0, 0.0]  # a blank initial stock is 0
    assert again.transport["truck_capacity_t"].isna().all()
    # and as a store written before these tables existed: none of them, same hash as then
    neo4j_server.cypher("MATCH (n) WHERE n:Storage OR n:Transport OR n:CarbonFactor "
                        "DETACH DELETE n")
    neo4j_server.cypher("MATCH ()-[c:CONTRACT]->() DELETE c")
    with open_store(neo4j_server.url()) as store:
        rows = store.dataset_rows()
    assert all(rows.side(t) == [] for t in SIDE_TABLES)
    dataset_from_rows(rows)


def test_a_dataset_without_the_new_tables_keeps_its_content_hash() -> None:
    """Stores and runs recorded before these tables were kept name their data by hash: a
    dataset without them hashes exactly as it did then."""
    import hashlib
    import json

    records = monthly_records()
    del records["storage"]
    from symbiosis.dataset import dataset_from_records

    rows = rows_from_dataset(dataset_from_records(records))
    body = {"enterprises": rows.enterprises, "offers": rows.offers, "needs": rows.needs,
            "distances": rows.distances, "substitutions": rows.substitutions,
            "offer_columns": list(rows.offer_columns),
            "need_columns": list(rows.need_columns)}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, allow_nan=False)
    assert rows.content_hash() == hashlib.sha256(text.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ runs on stored data


def _plain(value: Any) -> Any:
    """A summary without timings (they differ between any two runs)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()
                if "seconds" not in k and k not in ("progress", "dataset", "timings_s")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


CASES = {"monthly": (monthly_records, {}), "grades": (grades_records, {}),
         "logistics": (logistics_records, {"objective": "cost"})}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_stored_dataset_gives_the_plan_of_its_folder(store_url: str, tmp_path: Path,
                                                       case: str) -> None:
    """Months with storage and estimates, blending with heat and water grades, and integer
    logistics with an existing contract: the run on the store's rows (as the HTTP API and
    `db export` run them) is the run on the CSV folder, exchange for exchange."""
    from symbiosis.matching import MatchOptions, solve_match
    from symbiosis.matching.milp import wants_milp
    from symbiosis.months import is_monthly

    build, options = CASES[case]
    folder = write_records(build(), tmp_path / case)
    direct = load_dataset(folder)
    with open_store(store_url) as store:
        store.import_dataset(direct)
        stored = dataset_from_rows(store.dataset_rows(), source="store")
    opts = MatchOptions(**options)
    if case == "monthly":
        assert is_monthly(stored) and len(stored.storage) == 1
        assert stored.offers["estimated"].tolist() == ["no", "yes"]
    if case == "logistics":
        assert wants_milp(stored, opts) and len(stored.contracts) == 1
    a, b = solve_match(direct, opts), solve_match(stored, opts)
    assert len(a.exchanges) > 0
    # a rule's source names the file it came from, or the table for stored rows
    left = a.exchanges.assign(rule_source=a.exchanges["rule_source"].map(
        lambda s: Path(s).stem if s.endswith(".csv") else s))
    pd.testing.assert_frame_equal(left.reset_index(drop=True),
                                  b.exchanges.reset_index(drop=True))
    # the run's figures are the same; sources name the dataset: its folder, or the store
    text = json.dumps(_plain(a.summary.to_dict()), ensure_ascii=False)
    assert json.loads(text.replace(str(folder), "store")) == _plain(b.summary.to_dict())
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], obj=name)


# ------------------------------------------------------------------ atomic writes


def test_a_bad_storage_row_rejects_the_whole_import(store_url: str, tmp_path: Path,
                                                    run_cli: CliRunner) -> None:
    """`db import` of a dataset whose storage.csv row 3 holds less capacity than its
    initial stock names file:row:column, exits 1 and leaves the store exactly as it was."""
    good = load_dataset(write_records(full_records(), tmp_path / "good"))
    with open_store(store_url) as store:
        before = store.import_dataset(good)
        rows = store.dataset_rows()
    records = full_records()
    records["storage"][1].update(capacity=100, initial=400)
    records["offers"][0]["quantity"] = 13  # a change that must not land either
    bad = write_records(records, tmp_path / "bad")
    done = run_cli("db", "import", bad, "--store", store_url)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{bad / 'storage.csv'}:3:capacity" in done.stderr.replace("\n", "")
    assert "Traceback" not in done.stderr
    with open_store(store_url) as store:
        assert store.versions() == [before]
        assert store.dataset_rows() == rows


def test_a_write_that_fails_in_the_storage_rows_changes_nothing(store_url: str,
                                                                tmp_path: Path) -> None:
    """An import that fails while writing storage rows (the last table written) rolls back
    whole: the earlier tables of the same import are not kept either."""
    first = load_dataset(write_records(monthly_records(), tmp_path / "first"))
    full = load_dataset(write_records(full_records(), tmp_path / "full"))
    seen: list[str] = []

    def fail_at_storage(table: str, rows: int) -> None:
        seen.append(table)
        if table == "storage":
            raise RuntimeError("disk on fire")

    with open_store(store_url) as store:
        before = store.import_dataset(first)
        with pytest.raises(RuntimeError, match="disk on fire"):
            store.import_dataset(full, progress=fail_at_storage)
        assert {"offers", "contracts", "transport"} <= set(seen)
        assert store.versions() == [before]
        assert store.dataset_rows() == rows_from_dataset(first)


def test_row_writes_keep_silos_and_contracts_with_their_rows(store_url: str,
                                                             tmp_path: Path) -> None:
    """An updated listing keeps its contracts; a deleted listing takes its contracts and a
    deleted enterprise its silos; every version's hash is its rows' hash."""
    dataset = load_dataset(write_records(full_records(), tmp_path / "full"))
    with open_store(store_url) as store:
        store.import_dataset(dataset)
        for write in (RowWrite("offers", "update", "OF2", {"disposal_cost": 30.0}),
                      RowWrite("needs", "update", "ND1", {"virgin_cost": 90.0}),
                      RowWrite("offers", "update", "OF1", {"disposal_cost": 30.0})):
            done = store.write_row(write)
            rows = store.dataset_rows()
            assert rows.contracts == rows_from_dataset(dataset).contracts  # kept, in order
            assert done.version.hash == rows.content_hash()
        done = store.write_row(RowWrite("offers", "delete", "OF2"))
        rows = store.dataset_rows()
        assert [(c["offer_id"], c["need_id"]) for c in rows.contracts] == [("OF1", "ND1")]
        assert done.version.hash == rows.content_hash()
        done = store.write_row(RowWrite("enterprises", "delete", "PWR"))
        rows = store.dataset_rows()
        assert [s["enterprise_id"] for s in rows.storage] == ["CEM"]
        assert rows.contracts == []  # OF1 was PWR's
        assert done.version.hash == rows.content_hash()
        left = dataset_from_rows(rows)
        assert list(left.storage["enterprise_id"]) == ["CEM"]
        assert len(left.transport) == 3 and len(left.carbon) == 1


# ------------------------------------------------------------------ the flaky concurrent test


def test_sqlite_import_returns_the_version_it_wrote(tmp_path: Path) -> None:
    """The cause of the rare `test_concurrent_writers[sqlite]` failure: an import answered
    with the store's current version read after its commit, so a writer that committed in
    between made it return (and `match --save` record its run against) the other writer's
    version. Here a second writer commits exactly then, through SQLite's statement trace
    hook on the first connection: the import must still return its own version."""
    url = f"sqlite://{tmp_path / 'race.db'}"
    mine = load_dataset(write_records(monthly_records(), tmp_path / "mine"))
    theirs = load_dataset(write_records(grades_records(), tmp_path / "theirs"))
    with open_store(url) as first, open_store(url) as second:
        state = {"committed": False, "interleaved": None}

        def between(statement: str) -> None:
            if state["committed"] and state["interleaved"] is None:
                state["interleaved"] = second.import_dataset(theirs).version
            if statement.strip().upper() == "COMMIT":
                state["committed"] = True

        first._db.set_trace_callback(between)  # type: ignore[attr-defined]
        version = first.import_dataset(mine)
        first._db.set_trace_callback(None)  # type: ignore[attr-defined]
        assert version.version == 1
        assert version.hash == rows_from_dataset(mine).content_hash()
        assert first.versions()[0].hash == version.hash


def test_cli_export_of_the_store_matches_like_the_folder(store_url: str, tmp_path: Path,
                                                         run_cli: CliRunner) -> None:
    """`db import`, `db export`, then `match` on the export: the same exchanges.csv and
    exchanges_monthly.csv as `match` on the folder (months, a silo, estimates)."""
    folder = write_records(monthly_records(), tmp_path / "monthly")
    for args in (("db", "import", folder, "--store", store_url),
                 ("db", "export", tmp_path / "export", "--store", store_url),
                 ("match", folder, "--out", tmp_path / "a"),
                 ("match", tmp_path / "export", "--out", tmp_path / "b")):
        done = run_cli(*args)
        assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "export" / "storage.csv").exists()
    written = sorted(p.name for p in (tmp_path / "a").glob("*.csv"))
    assert {"exchanges.csv", "exchanges_monthly.csv", "storage.csv"} <= set(written)
    for name in written:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), \
            name
    a, b = (_plain(json.loads((tmp_path / d / "summary.json").read_text(encoding="utf-8")))
            for d in "ab")
    assert a == b
