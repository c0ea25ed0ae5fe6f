"""Whole-dataset imports with compare-and-swap, and enterprises' internal identities
(issue 18), on both stores: SQLite and a real Neo4j 5 started by the session. Also the
migration of stores written before identities existed."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from store_support import Neo4jServer

from symbiosis.dataset import load_dataset
from symbiosis.store import RowWrite, StoreConflictError, open_store, rows_from_dataset
from symbiosis.store.sqlite import MIGRATIONS

if TYPE_CHECKING:
    from conftest import DatasetTables

UID = re.compile(r"^[0-9a-f]{32}$")



def test_import_compare_and_swap(store_url: str, tmp_path: Path,
                                 dataset_tables: DatasetTables) -> None:
    data = load_dataset(dataset_tables.write_csv(tmp_path / "small"))
    with open_store(store_url) as store:
        with pytest.raises(StoreConflictError, match="at version 0, not 1"):
            store.import_dataset(data, expected_version=1)
        assert store.current_version() is None and store.versions() == []
        assert store.import_dataset(data, expected_version=0).version == 1
        # a row write lands between the import's read (version 1) and its write
        added = store.write_row(RowWrite("offers", "add", None, {
            "enterprise_id": "PWR1", "material": "fly_ash", "quantity": 5.0}),
            expected_version=1)
        assert added.version.version == 2
        for stale in (0, 1):
            with pytest.raises(StoreConflictError, match="at version 2"):
                store.import_dataset(data, expected_version=stale)
        # nothing written: the row is there, no version was added
        assert [v.version for v in store.versions()] == [1, 2]
        assert added.id in {o["id"] for o in store.dataset_rows().offers}
        assert store.import_dataset(data, expected_version=2).version == 3
        assert added.id not in {o["id"] for o in store.dataset_rows().offers}
        assert store.import_dataset(data).version == 4  # no expectation: no check


def test_enterprises_have_identities_no_later_holder_shares(
        store_url: str, tmp_path: Path, dataset_tables: DatasetTables) -> None:
    data = load_dataset(dataset_tables.write_csv(tmp_path / "small"))
    ids = sorted(str(e["id"]) for e in rows_from_dataset(data).enterprises)
    with open_store(store_url) as store:
        assert store.enterprise_uids() == {}
        store.import_dataset(data)
        first = store.enterprise_uids()
        assert sorted(first) == ids
        assert all(UID.match(u) for u in first.values()) and len(set(first.values())) == \
            len(ids)
        # an update and a re-import that lists them again keep every identity
        store.write_row(RowWrite("enterprises", "update", ids[0], {"name": "renamed"}))
        store.import_dataset(data)
        assert store.enterprise_uids() == first
        # a new enterprise gets its own
        made = store.write_row(RowWrite("enterprises", "add", None,
                                        {"name": "new", "lon": 112.9, "lat": 27.9}))
        uids = store.enterprise_uids()
        assert UID.match(uids[made.id]) and uids[made.id] not in first.values()
        # deleted, then brought back by an import: the same display id, a new identity
        store.write_row(RowWrite("enterprises", "delete", ids[0]))
        assert ids[0] not in store.enterprise_uids()
        store.import_dataset(data)
        again = store.enterprise_uids()
        assert again[ids[0]] != first[ids[0]]
        assert {k: v for k, v in again.items() if k != ids[0]} == \
            {k: v for k, v in first.items() if k != ids[0]}
        # an import that leaves an enterprise out ends its identity too
        rows = rows_from_dataset(data)
        from symbiosis.store import dataset_from_rows, subset_rows

        fewer = subset_rows(rows, set(ids[2:]))
        store.import_dataset(dataset_from_rows(fewer))
        store.import_dataset(data)
        assert store.enterprise_uids()[ids[1]] != again[ids[1]]


def test_sqlite_store_of_schema_2_is_migrated(tmp_path: Path) -> None:
    """A file as the released schema 2 wrote it (no identities) opens, gets one identity
    per enterprise, keeps its data, and imports keep those identities."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for number, script in enumerate(MIGRATIONS[:2], start=1):
        for statement in filter(str.strip, script.split(";")):
            db.execute(statement)
        db.execute("INSERT INTO schema_version VALUES (?)", (number,))
    db.execute("INSERT INTO parks VALUES ('P')")
    db.executemany("INSERT INTO enterprises VALUES (?, ?, NULL, ?, ?, ?)",
                   [("A", "Plant A", 112.9, 27.8, "P"), ("B", "Plant B", 113.0, 27.9, None)])
    db.execute("INSERT INTO offers VALUES ('O1', 'A', 'fly_ash', 100, '{}')")
    db.execute("INSERT INTO needs VALUES ('N1', 'B', 'cement_admixture', 50, '{}')")
    db.execute("INSERT INTO versions (hash, source, imported_at, enterprises, offers, needs) "
               "VALUES ('h', 'old', '2026-11-01T00:00:00+00:00', 2, 1, 1)")
    db.execute("INSERT INTO meta VALUES ('current', '1')")
    db.execute("INSERT INTO meta VALUES ('dataset', ?)", (
        '{"offer_columns": ["id", "enterprise_id", "material", "quantity"], '
        '"need_columns": ["id", "enterprise_id", "material", "quantity"], '
        '"has_substitutions": false}',))
    db.close()

    with open_store(f"sqlite://{path}") as store:
        uids = store.enterprise_uids()
        assert sorted(uids) == ["A", "B"] and all(UID.match(u) for u in uids.values())
        assert uids["A"] != uids["B"]
        rows = store.dataset_rows()
        assert [e["id"] for e in rows.enterprises] == ["A", "B"]
        assert store.current_version() is not None
        from symbiosis.store import dataset_from_rows

        store.import_dataset(dataset_from_rows(rows), expected_version=1)
        assert store.enterprise_uids() == uids  # the migrated identities carry on
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT max(version) FROM schema_version").fetchone() == (
            len(MIGRATIONS),)
        with pytest.raises(sqlite3.IntegrityError):  # identities are unique
            db.execute("UPDATE enterprises SET uid = (SELECT uid FROM enterprises "
                       "WHERE id = 'A') WHERE id = 'B'")
    finally:
        db.close()


def test_neo4j_store_without_identities_is_migrated(neo4j_server: Neo4jServer,
                                                    tmp_path: Path,
                                                    dataset_tables: DatasetTables) -> None:
    neo4j_server.wipe()
    data = load_dataset(dataset_tables.write_csv(tmp_path / "small"))
    with open_store(neo4j_server.url()) as store:
        store.import_dataset(data)
    # as a store written before identities: no uid on any enterprise
    neo4j_server.cypher("MATCH (e:Enterprise) REMOVE e.uid")
    with open_store(neo4j_server.url()) as store:
        uids = store.enterprise_uids()
        assert len(uids) == len(data.enterprises) and all(UID.match(u) for u in uids.values())
        assert len(set(uids.values())) == len(uids)
        store.import_dataset(data)
        assert store.enterprise_uids() == uids
