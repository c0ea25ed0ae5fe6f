"""The embedded store: one SQLite file (stdlib), WAL, foreign keys, versioned schema.

Every write is one `BEGIN IMMEDIATE` transaction: an import replaces the current data
whole or not at all, a crash or SIGKILL mid-write leaves the file as it was (SQLite's
journal), and concurrent writers queue on the write lock (busy timeout) instead of
failing. Readers in WAL mode never block and see the last committed import.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symbiosis.errors import StoreError, StoreUnavailableError
from symbiosis.store.base import BATCH_ROWS, Progress, StoreConflictError, now_iso
from symbiosis.store.records import (
    CORE_LISTING_FIELDS,
    EXCHANGE_FIELDS,
    SIDE_TABLES,
    DatasetRows,
    DatasetVersion,
    Park,
    RowWrite,
    RowWriteResult,
    RunInfo,
    RunRecord,
    apply_row_write,
    next_row_id,
    rows_from_dataset,
    side_columns,
)

if TYPE_CHECKING:
    from symbiosis.dataset import Dataset

__all__ = ["BUSY_TIMEOUT_S", "MIGRATIONS", "SqliteRepository", "connect_sqlite"]

# one entry per schema version; never edit a released entry, append a new one
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE versions (
        version INTEGER PRIMARY KEY AUTOINCREMENT,
        hash TEXT NOT NULL, source TEXT NOT NULL, imported_at TEXT NOT NULL,
        enterprises INTEGER NOT NULL, offers INTEGER NOT NULL, needs INTEGER NOT NULL);
    CREATE TABLE parks (name TEXT PRIMARY KEY);
    CREATE TABLE enterprises (
        id TEXT PRIMARY KEY, name TEXT, sector TEXT,
        lon REAL NOT NULL CHECK (lon BETWEEN -180 AND 180),
        lat REAL NOT NULL CHECK (lat BETWEEN -90 AND 90),
        park TEXT REFERENCES parks(name));
    CREATE TABLE offers (
        id TEXT PRIMARY KEY,
        enterprise_id TEXT NOT NULL REFERENCES enterprises(id) ON DELETE CASCADE,
        material TEXT NOT NULL, quantity REAL NOT NULL CHECK (quantity > 0),
        extra TEXT NOT NULL);
    CREATE TABLE needs (
        id TEXT PRIMARY KEY,
        enterprise_id TEXT NOT NULL REFERENCES enterprises(id) ON DELETE CASCADE,
        material TEXT NOT NULL, quantity REAL NOT NULL CHECK (quantity > 0),
        extra TEXT NOT NULL);
    CREATE INDEX offers_enterprise ON offers(enterprise_id);
    CREATE INDEX needs_enterprise ON needs(enterprise_id);
    CREATE TABLE distances (
        from_id TEXT NOT NULL REFERENCES enterprises(id) ON DELETE CASCADE,
        to_id TEXT NOT NULL REFERENCES enterprises(id) ON DELETE CASCADE,
        distance_km REAL NOT NULL CHECK (distance_km >= 0),
        PRIMARY KEY (from_id, to_id));
    CREATE TABLE substitutions (
        need_material TEXT NOT NULL, offer_material TEXT NOT NULL,
        ratio REAL NOT NULL CHECK (ratio > 0),
        PRIMARY KEY (need_material, offer_material));
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL,
        version INTEGER REFERENCES versions(version), dataset_hash TEXT NOT NULL,
        parameters TEXT NOT NULL, summary TEXT NOT NULL, exchanges INTEGER NOT NULL);
    CREATE TABLE exchanges (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        offer_enterprise_id TEXT NOT NULL, need_enterprise_id TEXT NOT NULL,
        offer_material TEXT NOT NULL, need_material TEXT NOT NULL,
        quantity REAL NOT NULL, distance_km REAL NOT NULL,
        offer_id TEXT, need_id TEXT,
        PRIMARY KEY (run_id, seq));
    """,
    # 2: ids deleted by single-row writes are retired for good (issue 18: never reused)
    """
    CREATE TABLE retired (
        tbl TEXT NOT NULL, id TEXT NOT NULL, retired_at TEXT NOT NULL,
        PRIMARY KEY (tbl, id));
    """,
    # 3: every enterprise gets an internal identity that no later holder of its display id
    # shares (issue 18: keys and proposals bind to it); existing rows get a fresh one each
    """
    ALTER TABLE enterprises ADD COLUMN uid TEXT;
    UPDATE enterprises SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL;
    CREATE UNIQUE INDEX enterprises_uid ON enterprises(uid);
    """,
    # 4: the optional tables of issues 15-16 and the economics overrides (records.SIDE_TABLES;
    # their columns are symbiosis.dataset.SPECS's, checked by the store tests). Existing
    # stores gain them empty. A silo goes with its enterprise, a contract with its listings.
    """
    CREATE TABLE transport (
        seq INTEGER PRIMARY KEY, material TEXT, cny_per_unit_km REAL,
        loading_cny_per_unit REAL, kg_co2e_per_unit_km REAL, cny_per_km_year REAL,
        source TEXT, truck_capacity_t REAL, cny_per_trip_km REAL);
    CREATE TABLE carbon (
        seq INTEGER PRIMARY KEY, need_material TEXT NOT NULL,
        kg_co2e_per_unit REAL NOT NULL, displaced TEXT, source TEXT);
    CREATE TABLE contracts (
        seq INTEGER PRIMARY KEY,
        offer_id TEXT NOT NULL REFERENCES offers(id) ON DELETE CASCADE,
        need_id TEXT NOT NULL REFERENCES needs(id) ON DELETE CASCADE,
        quantity REAL CHECK (quantity > 0));
    CREATE INDEX contracts_offer ON contracts(offer_id);
    CREATE INDEX contracts_need ON contracts(need_id);
    CREATE TABLE storage (
        seq INTEGER PRIMARY KEY,
        enterprise_id TEXT NOT NULL REFERENCES enterprises(id) ON DELETE CASCADE,
        material TEXT NOT NULL, capacity REAL NOT NULL CHECK (capacity >= 0),
        initial REAL, cost_per_unit_month REAL, loss_pct_per_month REAL);
    CREATE INDEX storage_enterprise ON storage(enterprise_id);
    """,
)
BUSY_TIMEOUT_S = 60.0


def connect_sqlite(path: Path, what: str, busy_timeout_s: float = BUSY_TIMEOUT_S
                   ) -> sqlite3.Connection:
    """Open (creating its folder) a SQLite file the way every SQLite file of the project is
    opened: autocommit (transactions are explicit), WAL journal (readers never block the
    writer), foreign keys on, synchronous=NORMAL (durable at checkpoint, safe under WAL),
    `busy_timeout_s` to wait for another writer's lock; usable from several threads.

    Raises:
        StoreUnavailableError: the file cannot be created or opened (`what` names it).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None,
                             check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL")
    except (OSError, sqlite3.Error) as exc:
        raise StoreUnavailableError(f"cannot open {what} {path}: {exc}") from exc
    return db


class SqliteRepository:
    """`Repository` on a SQLite file, created (with its folder) on first use."""

    def __init__(self, path: str | Path, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path).expanduser()
        self.url = f"sqlite://{self.path}"
        self._busy_timeout_s = busy_timeout_s
        self._db = connect_sqlite(self.path, "the store", busy_timeout_s)
        self.init()

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: committed if the block returns, rolled back if not."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailableError(f"the store {self.path} stayed locked by another "
                                        f"writer for {self._busy_timeout_s:g} s: {exc}"
                                        ) from exc
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _schema_version(self) -> int:
        self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = self._db.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def init(self) -> None:
        """Apply the migrations this file lacks, each in its own transaction."""
        if self._schema_version() >= len(MIGRATIONS):
            return
        with self._write() as db:
            current = self._schema_version()  # re-read under the write lock
            for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> SqliteRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ dataset

    def import_dataset(self, dataset: Dataset, source: str = "",
                       progress: Progress | None = None, *,
                       expected_version: int | None = None) -> DatasetVersion:
        """Replace the current data by `dataset` as a new version, in one transaction
        (compare-and-swap on `expected_version`, 0 for an empty store). An enterprise whose
        id is in the current data keeps its identity (`enterprise_uids`); any other gets a
        new one."""
        rows = rows_from_dataset(dataset)
        digest = rows.content_hash()
        source = source or dataset.source
        with self._write() as db:
            self._check_version(db, expected_version)
            uids = dict(db.execute("SELECT id, uid FROM enterprises").fetchall())
            # runs and versions are history and stay; the current data is replaced
            for table in (*SIDE_TABLES, "distances", "offers", "needs", "enterprises",
                          "parks", "substitutions"):
                db.execute(f"DELETE FROM {table}")
            parks = sorted({str(e["park"]) for e in rows.enterprises if e["park"]})
            db.executemany("INSERT INTO parks (name) VALUES (?)", [(p,) for p in parks])
            self._insert(db, "enterprises",
                         ["id", "name", "sector", "lon", "lat", "park", "uid"],
                         [[e["id"], e["name"], e["sector"], e["lon"], e["lat"],
                           e["park"] or None, uids.get(e["id"]) or uuid.uuid4().hex]
                          for e in rows.enterprises], progress)
            for table, body in (("offers", rows.offers), ("needs", rows.needs)):
                extras = rows.extras(table)
                self._insert(db, table, [*CORE_LISTING_FIELDS, "extra"],
                             [[r[c] for c in CORE_LISTING_FIELDS]
                              + [json.dumps({c: r.get(c) for c in extras})] for r in body],
                             progress)
            self._insert(db, "distances", ["from_id", "to_id", "distance_km"],
                         [[d["from_id"], d["to_id"], d["distance_km"]]
                          for d in rows.distances], progress)
            if rows.substitutions is not None:
                self._insert(db, "substitutions", ["need_material", "offer_material", "ratio"],
                             [[s["need_material"], s["offer_material"], s["ratio"]]
                              for s in rows.substitutions], progress)
            for table in SIDE_TABLES:
                columns = list(side_columns(table))
                self._insert(db, table, ["seq", *columns],
                             [[i, *(r.get(c) for c in columns)]
                              for i, r in enumerate(rows.side(table))], progress)
            # the version is the one this transaction wrote: read after the commit, the
            # store's current version may already be another writer's
            return self._record_version(db, rows, source, now_iso(), digest)

    @staticmethod
    def _insert(db: sqlite3.Connection, table: str, columns: list[str],
                values: list[list[Any]], progress: Progress | None) -> None:
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
               f"VALUES ({', '.join('?' * len(columns))})")
        for start in range(0, len(values), BATCH_ROWS):
            db.executemany(sql, values[start:start + BATCH_ROWS])
            if progress is not None:
                progress(table, min(start + BATCH_ROWS, len(values)))

    def _check_version(self, db: sqlite3.Connection, expected: int | None) -> int | None:
        """The current version number (None: empty store), inside a write transaction;
        StoreConflictError if `expected` is given (0: an empty store) and differs."""
        current = db.execute("SELECT value FROM meta WHERE key = 'current'").fetchone()
        number = int(current[0]) if current else None
        if expected is not None and (number or 0) != expected:
            raise StoreConflictError(
                f"the store {self.path} is at version {number or 0}, not {expected}: "
                "another writer changed it; nothing was written, read it again")
        return number

    def enterprise_uids(self) -> dict[str, str]:
        """The internal identity of every current enterprise, by display id."""
        return dict(self._db.execute("SELECT id, uid FROM enterprises").fetchall())

    def enterprise_uid(self, enterprise_id: str) -> str | None:
        """The internal identity of the current enterprise `enterprise_id` (None: none)."""
        row = self._db.execute("SELECT uid FROM enterprises WHERE id = ?",
                               (enterprise_id,)).fetchone()
        return None if row is None else str(row[0])

    def _version(self, row: tuple[Any, ...] | None) -> DatasetVersion | None:
        return None if row is None else DatasetVersion(*row)

    def current_version(self) -> DatasetVersion | None:
        """The version of the current data."""
        return self._version(self._db.execute(
            "SELECT v.version, v.hash, v.source, v.imported_at, v.enterprises, v.offers, "
            "v.needs FROM versions v JOIN meta m ON m.key = 'current' "
            "AND v.version = CAST(m.value AS INTEGER)").fetchone())

    def versions(self) -> list[DatasetVersion]:
        """Every import, oldest first."""
        rows = self._db.execute("SELECT version, hash, source, imported_at, enterprises, "
                                "offers, needs FROM versions ORDER BY version").fetchall()
        return [DatasetVersion(*r) for r in rows]

    def dataset_rows(self) -> DatasetRows:
        """The current dataset as rows, in import order."""
        db = self._db
        db.execute("BEGIN")  # one snapshot for every table
        try:
            return self._read_rows(db)
        finally:
            db.execute("COMMIT")

    def _read_rows(self, db: sqlite3.Connection) -> DatasetRows:
        meta_row = db.execute("SELECT value FROM meta WHERE key = 'dataset'").fetchone()
        if meta_row is None:
            raise StoreError(f"the store {self.path} holds no dataset yet; "
                             "run `symbiosis db import DATASET` first")
        meta = json.loads(meta_row[0])
        ent = [dict(zip(("id", "name", "sector", "lon", "lat", "park"), r, strict=True))
               for r in db.execute("SELECT id, name, sector, lon, lat, park "
                                   "FROM enterprises ORDER BY rowid")]
        for e in ent:
            e["park"] = e["park"] or ""
        listings = {}
        for table in ("offers", "needs"):
            columns = meta["offer_columns" if table == "offers" else "need_columns"]
            listings[table] = [
                {c: row.get(c) for c in columns} for row in (
                    {"id": i, "enterprise_id": e, "material": m, "quantity": q,
                     **json.loads(extra)}
                    for i, e, m, q, extra in db.execute(
                        f"SELECT id, enterprise_id, material, quantity, extra "
                        f"FROM {table} ORDER BY rowid"))]
        dist = [{"from_id": a, "to_id": b, "distance_km": km} for a, b, km in
                db.execute("SELECT from_id, to_id, distance_km FROM distances "
                           "ORDER BY rowid")]
        subs = [{"need_material": n, "offer_material": o, "ratio": r} for n, o, r in
                db.execute("SELECT need_material, offer_material, ratio "
                           "FROM substitutions ORDER BY rowid")]
        side: dict[str, list[dict[str, Any]]] = {}
        for table in SIDE_TABLES:
            columns = side_columns(table)
            side[table] = [dict(zip(columns, r, strict=True)) for r in db.execute(
                f"SELECT {', '.join(columns)} FROM {table} ORDER BY seq")]
        return DatasetRows(ent, listings["offers"], listings["needs"], dist,
                           subs if meta["has_substitutions"] else None,
                           tuple(meta["offer_columns"]), tuple(meta["need_columns"]),
                           hazardous=meta.get("hazardous", []),
                           licences=meta.get("licences", []), **side)

    def write_row(self, write: RowWrite, *, expected_version: int | None = None,
                  source: str = "") -> RowWriteResult:
        """One row added, changed or deleted, and a new version, in one IMMEDIATE
        transaction (writers from every process queue on SQLite's write lock)."""
        with self._write() as db:
            self._check_version(db, expected_version)
            rows = self._read_rows(db)
            table = write.table
            retired = {r[0] for r in db.execute("SELECT id FROM retired WHERE tbl = ?",
                                                (table,))}
            new_id = None
            if write.action == "add" and write.id is None and table in ("enterprises",
                                                                          "offers", "needs"):
                key = f"next_id.{table}"
                found = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
                taken = {str(r["id"]) for r in getattr(rows, table)} | retired
                new_id, counter = next_row_id(table, int(found[0]) if found else 0, taken)
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                           (key, str(counter)))
            applied = apply_row_write(rows, write, retired, new_id)
            row = applied.row
            if table == "enterprises":
                if row is None:
                    db.execute("DELETE FROM enterprises WHERE id = ?", (applied.id,))
                else:
                    if row["park"]:
                        db.execute("INSERT OR IGNORE INTO parks (name) VALUES (?)",
                                   (row["park"],))
                    values = [row["name"], row["sector"], row["lon"], row["lat"],
                              row["park"] or None, applied.id]
                    if write.action == "add":
                        db.execute("INSERT INTO enterprises (name, sector, lon, lat, park, id, "
                                   "uid) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                   [*values, uuid.uuid4().hex])
                    else:
                        db.execute("UPDATE enterprises SET name = ?, sector = ?, lon = ?, "
                                   "lat = ?, park = ? WHERE id = ?", values)
                db.execute("DELETE FROM parks WHERE name NOT IN "
                           "(SELECT park FROM enterprises WHERE park IS NOT NULL)")
            elif row is None:
                db.execute(f"DELETE FROM {table} WHERE id = ?", (applied.id,))
            else:
                extra = json.dumps({c: row.get(c) for c in applied.rows.extras(table)})
                values = [row["enterprise_id"], row["material"], row["quantity"], extra,
                          applied.id]
                if write.action == "add":
                    db.execute(f"INSERT INTO {table} (enterprise_id, material, quantity, extra, "
                               "id) VALUES (?, ?, ?, ?, ?)", values)
                else:
                    db.execute(f"UPDATE {table} SET enterprise_id = ?, material = ?, "
                               "quantity = ?, extra = ? WHERE id = ?", values)
            at = now_iso()
            db.executemany("INSERT INTO retired (tbl, id, retired_at) VALUES (?, ?, ?)",
                           [(t, i, at) for t, ids in applied.retired.items() for i in ids])
            version = self._record_version(
                db, applied.rows,
                source.replace("{id}", applied.id) or f"{write.action} {table} {applied.id}",
                at)
        return RowWriteResult(applied.id, version,
                              tuple(i for ids in applied.retired.values() for i in ids))

    def _record_version(self, db: sqlite3.Connection, rows: DatasetRows, source: str,
                        at: str, digest: str | None = None) -> DatasetVersion:
        """A new version of `rows` (already written) made current, inside `db`'s
        transaction; `digest`: their content hash when the caller has it already."""
        meta = {"offer_columns": list(rows.offer_columns),
                "need_columns": list(rows.need_columns),
                "has_substitutions": rows.substitutions is not None,
                "hazardous": rows.hazardous, "licences": rows.licences}
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('dataset', ?)",
                   (json.dumps(meta),))
        values = (digest or rows.content_hash(), source, at, len(rows.enterprises),
                  len(rows.offers), len(rows.needs))
        cur = db.execute(
            "INSERT INTO versions (hash, source, imported_at, enterprises, offers, needs) "
            "VALUES (?, ?, ?, ?, ?, ?)", values)
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('current', ?)",
                   (str(cur.lastrowid),))
        return DatasetVersion(int(cur.lastrowid or 0), *values)

    def parks(self) -> list[Park]:
        """Parks with their enterprise counts."""
        return [Park(n, c) for n, c in self._db.execute(
            "SELECT p.name, count(e.id) FROM parks p LEFT JOIN enterprises e "
            "ON e.park = p.name GROUP BY p.name ORDER BY p.name")]

    # ------------------------------------------------------------------ runs

    def save_run(self, run: RunRecord) -> RunInfo:
        """Record a run and its exchanges in one transaction."""
        created = now_iso()
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO runs (created_at, version, dataset_hash, parameters, summary, "
                "exchanges) VALUES (?, ?, ?, ?, ?, ?)",
                (created, run.version, run.dataset_hash, json.dumps(run.parameters),
                 json.dumps(run.summary), len(run.exchanges)))
            run_id = int(cur.lastrowid or 0)
            self._insert(db, "exchanges", ["run_id", "seq", *EXCHANGE_FIELDS],
                         [[run_id, i, *(x[f] for f in EXCHANGE_FIELDS)]
                          for i, x in enumerate(run.exchanges)], None)
        return RunInfo(run_id, created, run.version, run.dataset_hash, run.parameters,
                       run.summary, len(run.exchanges))

    _RUN_COLUMNS = "id, created_at, version, dataset_hash, parameters, summary, exchanges"

    @staticmethod
    def _info(row: tuple[Any, ...]) -> RunInfo:
        i, created, version, digest, params, summary, n = row
        return RunInfo(i, created, version, digest, json.loads(params), json.loads(summary), n)

    def runs(self) -> list[RunInfo]:
        """Every run, oldest first."""
        return [self._info(r) for r in self._db.execute(
            f"SELECT {self._RUN_COLUMNS} FROM runs ORDER BY id")]

    def run(self, run_id: int) -> RunRecord:
        """One run with its exchanges in their stored order."""
        row = self._db.execute(f"SELECT {self._RUN_COLUMNS} FROM runs "
                               "WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise StoreError(f"no run {run_id} in the store {self.path}")
        info = self._info(row)
        exchanges = [dict(zip(EXCHANGE_FIELDS, r, strict=True)) for r in self._db.execute(
            f"SELECT {', '.join(EXCHANGE_FIELDS)} FROM exchanges "
            "WHERE run_id = ? ORDER BY seq", (info.id,))]
        return RunRecord(parameters=info.parameters, dataset_hash=info.dataset_hash,
                         summary=info.summary, exchanges=exchanges, version=info.version,
                         id=info.id, created_at=info.created_at)
