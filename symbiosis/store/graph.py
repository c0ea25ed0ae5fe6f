"""The production store: Neo4j 5 over Bolt through the official `neo4j` driver.

Graph model (what Neo4j Browser or Bloom shows; README "The graph" documents every property)::

    (:Park {name})<-[:IN]-(:Enterprise {id, uid, name, sector, lon, lat, park, listed, seq})
    (:Enterprise)-[:OFFERS]->(:Offer {id, enterprise_id, material, quantity, extra, ...})
    (:Offer)-[:OF]->(:Material {slug, name_en, name_zh, unit, family, kind, hazardous})
    (:Enterprise)-[:NEEDS]->(:Need {id, enterprise_id, material, quantity, extra, ...})
    (:Need)-[:OF]->(:Material)
    (:Enterprise)-[:ROAD {distance_km, seq}]->(:Enterprise)      distances.csv
    (:Material)-[:SERVES {ratio, seq}]->(:Material)               substitutions.csv
    (:Enterprise)-[:SUPPLIES {run, seq, material, need_material, quantity, distance_km,
                              offer_id, need_id}]->(:Enterprise)  one edge per exchange
    (:Enterprise)-[:STORES]->(:Storage {seq, enterprise_id, material, capacity, initial,
                                        cost_per_unit_month, loss_pct_per_month})
    (:Storage)-[:OF]->(:Material)                                 storage.csv
    (:Offer)-[:CONTRACT {seq, quantity}]->(:Need)                 contracts.csv
    (:Transport {seq, material, cny_per_unit_km, ...})            transport.csv
    (:CarbonFactor {seq, need_material, kg_co2e_per_unit, ...})   carbon.csv
    (:Run {id, created_at, version, dataset_hash, parameters, summary, exchanges})
    (:Run)-[:ON]->(:Version {version, hash, source, imported_at, enterprises, offers, needs})
    (:Meta {key: 'store', versions, runs, current, offer_columns, need_columns, ...})

Every write is ONE Neo4j transaction run by the driver's managed-transaction API
(`session.execute_write`): an import deletes the current data and writes the new rows in
batches (UNWIND) inside it, so a failure, an exception in a progress callback or a writer
killed mid-import rolls it all back and readers never see a half-written dataset. Writers
serialise on the `:Meta` node's write lock (taken by the first statement of every write), so
version and run numbers are dense and never collide. Transient failures (a lost connection,
a deadlock, a leader switch) are retried by the driver for `retry_s` seconds; each
transaction function first checks whether an earlier attempt already committed (a lost
acknowledgement), so a retry never writes twice. Every value travels as a query parameter.

Only Neo4j 5 (or its calendar-versioned successors) is accepted: other servers that speak
Bolt (FalkorDB, Memgraph) lack real multi-statement rollback and are refused at open.
Offers' and needs' optional columns are kept exactly as JSON in `extra`, and their non-empty
values are also set as properties of their own (`unit`, `q.loi_pct`, `max.loi_pct` ...) so
analysts can query them in Cypher. Storage, contracts, transport and carbon rows keep their
non-empty cells as properties (Neo4j stores no nulls): an absent property reads back as a
blank, so a store written before these tables existed reads back with none of them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from symbiosis.errors import StoreError, StoreUnavailableError
from symbiosis.store.base import BATCH_ROWS, Progress, StoreConflictError, StoreURL, now_iso
from symbiosis.store.records import (
    CORE_LISTING_FIELDS,
    EXCHANGE_FIELDS,
    ID_PREFIX,
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

__all__ = ["CONSTRAINTS", "INDEXES", "GraphRepository"]

T = TypeVar("T")

# (label, property) pairs that are keys: one uniqueness constraint each, named label_prop
CONSTRAINTS = (("Enterprise", "id"), ("Offer", "id"), ("Need", "id"), ("Material", "slug"),
               ("Park", "name"), ("Run", "id"), ("Version", "version"), ("Meta", "key"),
               ("Retired", "key"))
# plain range indexes: (name, pattern, property)
INDEXES = (("version_import_id", "(n:Version)", "n.import_id"),
           ("run_token", "(n:Run)", "n.token"),
           ("supplies_run", "()-[n:SUPPLIES]-()", "n.run"))
# error codes of a schema rule created by a concurrent opener between our check and create
_SCHEMA_RACE = ("Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists",
                "Neo.ClientError.Schema.ConstraintAlreadyExists",
                "Neo.ClientError.Schema.IndexAlreadyExists")

LOCK = "MATCH (m:Meta {key: 'store'}) SET m.lock = $token RETURN m"
CLEAR = (
    "MATCH (s:Storage) DETACH DELETE s",
    "MATCH (t:Transport) DETACH DELETE t",
    "MATCH (c:CarbonFactor) DETACH DELETE c",
    "MATCH (o:Offer) DETACH DELETE o",  # its CONTRACT relationships go with it
    "MATCH (n:Need) DETACH DELETE n",
    "MATCH (:Enterprise)-[r:ROAD]->(:Enterprise) DELETE r",
    "MATCH (:Material)-[r:SERVES]->(:Material) DELETE r",
    "MATCH (:Enterprise)-[r:IN]->(:Park) DELETE r",
    # an enterprise listed now keeps its identity if the import lists it again
    "MATCH (e:Enterprise) WHERE e.listed SET e.listed = false, e.was_listed = true",
)
AFTER_IMPORT = "MATCH (e:Enterprise) WHERE e.was_listed IS NOT NULL REMOVE e.was_listed"
# a new internal identity (32 hex digits, as the SQLite store makes them)
NEW_UID = "replace(randomUUID(), '-', '')"
MIGRATE_UIDS = ("MATCH (e:Enterprise) WHERE e.listed AND e.uid IS NULL "
                f"SET e.uid = {NEW_UID}")
WRITE_ENTERPRISES = """
UNWIND $rows AS r
MERGE (e:Enterprise {id: r.id})
SET e.name = r.name, e.sector = r.sector, e.lon = r.lon, e.lat = r.lat, e.park = r.park,
    e.seq = r.seq, e.listed = true,
    e.uid = CASE WHEN e.was_listed AND e.uid IS NOT NULL THEN e.uid
                 ELSE replace(randomUUID(), '-', '') END
WITH e, r WHERE r.park IS NOT NULL AND r.park <> ''
MERGE (p:Park {name: r.park})
CREATE (e)-[:IN]->(p)
"""
WRITE_LISTINGS = """
UNWIND $rows AS r
MATCH (e:Enterprise {id: r.enterprise_id})
MERGE (mat:Material {slug: r.material})
CREATE (e)-[:%(rel)s]->(o:%(label)s {id: r.id})-[:OF]->(mat)
SET o += r.props, o.enterprise_id = r.enterprise_id, o.material = r.material,
    o.quantity = r.quantity, o.extra = r.extra, o.seq = r.seq
"""
WRITE_MATERIALS = """
UNWIND $rows AS r
MERGE (m:Material {slug: r.slug})
SET m += r
"""
WRITE_DISTANCES = """
UNWIND $rows AS r
MATCH (a:Enterprise {id: r.from_id})
MATCH (b:Enterprise {id: r.to_id})
CREATE (a)-[:ROAD {distance_km: r.distance_km, seq: r.seq}]->(b)
"""
WRITE_SUBSTITUTIONS = """
UNWIND $rows AS r
MERGE (o:Material {slug: r.offer_material})
MERGE (n:Material {slug: r.need_material})
CREATE (o)-[:SERVES {ratio: r.ratio, seq: r.seq}]->(n)
"""
# the optional tables (records.SIDE_TABLES); `r.props` holds the row's non-empty cells
WRITE_SIDE = {
    "storage": """
UNWIND $rows AS r
MATCH (e:Enterprise {id: r.props.enterprise_id})
MERGE (mat:Material {slug: r.props.material})
CREATE (e)-[:STORES]->(s:Storage)-[:OF]->(mat)
SET s = r.props, s.seq = r.seq
""",
    "contracts": """
UNWIND $rows AS r
MATCH (o:Offer {id: r.props.offer_id})
MATCH (n:Need {id: r.props.need_id})
CREATE (o)-[c:CONTRACT]->(n)
SET c = r.props, c.seq = r.seq
""",
    "transport": "UNWIND $rows AS r CREATE (t:Transport) SET t = r.props, t.seq = r.seq",
    "carbon": "UNWIND $rows AS r CREATE (c:CarbonFactor) SET c = r.props, c.seq = r.seq",
}
READ_CONTRACTS_OF = {
    "offers": "MATCH (:Offer {id: $id})-[c:CONTRACT]->(:Need) RETURN properties(c) AS p",
    "needs": "MATCH (:Offer)-[c:CONTRACT]->(:Need {id: $id}) RETURN properties(c) AS p",
}
RESTORE_CONTRACTS = """
UNWIND $rows AS p
MATCH (o:Offer {id: p.offer_id})
MATCH (n:Need {id: p.need_id})
CREATE (o)-[c:CONTRACT]->(n)
SET c = p
"""
READ_SIDE = {
    "storage": "MATCH (x:Storage)",
    "contracts": "MATCH (:Offer)-[x:CONTRACT]->(:Need)",
    "transport": "MATCH (x:Transport)",
    "carbon": "MATCH (x:CarbonFactor)",
}
def _side_params(table: str, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """UNWIND rows of one side table: its non-empty cells and its order."""
    return [{"seq": i, "props": {c: r.get(c) for c in side_columns(table)
                                 if r.get(c) is not None}}
            for i, r in enumerate(body)]


WRITE_VERSION = """
MATCH (m:Meta {key: 'store'})
WITH m, coalesce(m.versions, 0) + 1 AS v
SET m.versions = v, m.current = v, m.offer_columns = $offer_columns,
    m.need_columns = $need_columns, m.has_substitutions = $has_substitutions,
    m.hazardous_json = $hazardous_json, m.licences_json = $licences_json
CREATE (:Version {version: v, import_id: $import_id, hash: $hash, source: $source,
                  imported_at: $imported_at, enterprises: $n_enterprises,
                  offers: $n_offers, needs: $n_needs})
RETURN v
"""
WRITE_ENTERPRISE = """
OPTIONAL MATCH (x:Enterprise) WHERE x.listed
WITH coalesce(max(x.seq), -1) + 1 AS next
MERGE (e:Enterprise {id: $row.id})
SET e.name = $row.name, e.sector = $row.sector, e.lon = $row.lon, e.lat = $row.lat,
    e.park = $row.park, e.listed = true, e.seq = CASE WHEN $add THEN next ELSE e.seq END,
    e.uid = CASE WHEN $add THEN replace(randomUUID(), '-', '') ELSE e.uid END
WITH e
OPTIONAL MATCH (e)-[old:IN]->(:Park)
DELETE old
WITH DISTINCT e WHERE $row.park IS NOT NULL AND $row.park <> ''
MERGE (p:Park {name: $row.park})
CREATE (e)-[:IN]->(p)
"""
DELETE_ENTERPRISE = """
MATCH (e:Enterprise {id: $id})
SET e.listed = false
WITH e
OPTIONAL MATCH (e)-[:OFFERS|NEEDS|STORES]->(listing)
DETACH DELETE listing
WITH DISTINCT e
OPTIONAL MATCH (e)-[r:ROAD|IN]-()
DELETE r
"""
WRITE_RUN = """
MATCH (m:Meta {key: 'store'})
WITH m, coalesce(m.runs, 0) + 1 AS id
SET m.runs = id
CREATE (r:Run {id: id, token: $token, created_at: $created_at, version: $version,
               dataset_hash: $hash, exchanges: $n, parameters: $parameters,
               summary: $summary})
WITH r
OPTIONAL MATCH (v:Version {version: $version})
FOREACH (_ IN CASE WHEN v IS NULL THEN [] ELSE [1] END | CREATE (r)-[:ON]->(v))
RETURN r.id AS id
"""
WRITE_EXCHANGES = """
UNWIND $rows AS r
MERGE (a:Enterprise {id: r.offer_enterprise_id})
MERGE (b:Enterprise {id: r.need_enterprise_id})
CREATE (a)-[s:SUPPLIES {run: $run, seq: r.seq}]->(b)
SET s.material = r.offer_material, s.need_material = r.need_material,
    s.quantity = r.quantity, s.distance_km = r.distance_km,
    s.offer_id = r.offer_id, s.need_id = r.need_id
"""


def _batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH_ROWS):
        yield rows[start:start + BATCH_ROWS]


class GraphRepository:
    """`Repository` on a Neo4j 5 server.

    `retry_s`: how long the driver keeps retrying a transaction that failed transiently (a
    refused or lost connection, a deadlock), with its own exponential backoff; then
    `StoreUnavailableError` names the server.

    Raises:
        StoreError: the server refused a statement, or is not Neo4j 5.
        StoreUnavailableError: it could not be reached within `retry_s`.
    """

    def __init__(self, url: StoreURL, retry_s: float = 30.0,
                 connection_timeout_s: float = 5.0) -> None:
        import neo4j  # lazy: 0.7 s of import time

        self.url = url.uri + (f"/{url.database}" if url.database else "")
        self._retry_s = max(0.0, retry_s)
        auth = (url.user or "neo4j", url.password) if url.password else None
        self._driver = neo4j.GraphDatabase.driver(
            url.uri, auth=auth, connection_timeout=connection_timeout_s,
            connection_acquisition_timeout=2 * connection_timeout_s,
            max_connection_lifetime=3600, max_transaction_retry_time=self._retry_s,
            notifications_min_severity="OFF")  # no planner hints in users' terminals
        self._database = url.database
        try:
            self.init()
        except BaseException:
            self._driver.close()
            raise

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Driver errors -> StoreUnavailableError (after the driver's retries) or StoreError;
        anything else (a progress callback's own exception) passes through unchanged."""
        from neo4j import exceptions as ne

        try:
            yield
        except (ne.ServiceUnavailable, ne.SessionExpired, ne.TransientError,
                ConnectionError, TimeoutError) as exc:
            raise StoreUnavailableError(
                f"the graph store at {self.url} is unreachable ({what}: retried for "
                f"{self._retry_s:g} s, last: {type(exc).__name__}: {exc})") from exc
        except (ne.Neo4jError, ne.DriverError) as exc:
            raise StoreError(f"the graph store at {self.url} refused {what}: {exc}") from exc

    def _write(self, what: str, work: Callable[[Any], T]) -> T:
        """Run `work(tx)` as one managed write transaction (retried by the driver)."""
        with self._errors(what), self._driver.session(database=self._database) as session:
            return session.execute_write(work)

    def _read(self, what: str, work: Callable[[Any], T]) -> T:
        """Run `work(tx)` as one managed read transaction (retried by the driver)."""
        with self._errors(what), self._driver.session(database=self._database) as session:
            return session.execute_read(work)

    def _query(self, what: str, query: str, **params: Any) -> list[dict[str, Any]]:
        """One read statement, its records as dicts."""
        def work(tx: Any) -> list[dict[str, Any]]:
            return [dict(r) for r in tx.run(query, params)]
        return self._read(what, work)

    def init(self) -> None:
        """Check the server is Neo4j 5+, create the uniqueness constraints and indexes (IF
        NOT EXISTS: idempotent, and a concurrent opener's rule is accepted) and the `:Meta`
        node."""
        def components(tx: Any) -> list[dict[str, Any]]:
            return [dict(r) for r in tx.run(
                "CALL dbms.components() YIELD name, versions, edition "
                "RETURN name, versions, edition")]
        try:
            found = self._read("identifying the server", components)
        except StoreUnavailableError:
            raise
        except StoreError as exc:
            raise StoreError(f"the Bolt server at {self.url} is not Neo4j (it has no "
                             "dbms.components()); the store needs Neo4j 5 for real "
                             "transactions") from exc
        versions = [str(v) for r in found for v in r["versions"]]
        if not versions or not all(v.split(".")[0].isdigit() and int(v.split(".")[0]) >= 5
                                   for v in versions):
            raise StoreError(f"the graph store at {self.url} runs Neo4j {versions}; "
                             "the store needs Neo4j 5 or newer")
        from neo4j import exceptions as ne

        statements = [f"CREATE CONSTRAINT {label.lower()}_{prop} IF NOT EXISTS "
                      f"FOR (n:{label}) REQUIRE n.{prop} IS UNIQUE"
                      for label, prop in CONSTRAINTS]
        statements += [f"CREATE INDEX {name} IF NOT EXISTS FOR {pattern} ON ({prop})"
                       for name, pattern, prop in INDEXES]
        def run(statement: str) -> Callable[[Any], Any]:
            return lambda tx: tx.run(statement).consume()

        for statement in statements:
            try:
                self._write("creating the schema", run(statement))
            except StoreError as exc:
                cause = exc.__cause__
                if not (isinstance(cause, ne.Neo4jError) and cause.code in _SCHEMA_RACE):
                    raise
        self._write("creating the store",
                    lambda tx: tx.run("MERGE (m:Meta {key: 'store'})").consume())
        # stores written before enterprises had an identity: give each listed one its own
        self._write("giving enterprises an identity",
                    lambda tx: tx.run(MIGRATE_UIDS).consume())

    def close(self) -> None:
        """Close the driver and its connections."""
        self._driver.close()

    def __enter__(self) -> GraphRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ dataset

    def import_dataset(self, dataset: Dataset, source: str = "",
                       progress: Progress | None = None, *,
                       expected_version: int | None = None) -> DatasetVersion:
        """Replace the current data by `dataset` as a new version, in one transaction
        (compare-and-swap on `expected_version`, 0 for an empty store). An enterprise
        listed now keeps its identity (`enterprise_uids`); any other gets a new one."""
        rows = rows_from_dataset(dataset)
        import_id = uuid.uuid4().hex
        params = {"import_id": import_id, "hash": rows.content_hash(),
                  "source": source or dataset.source, "imported_at": now_iso(),
                  "n_enterprises": len(rows.enterprises), "n_offers": len(rows.offers),
                  "n_needs": len(rows.needs), "offer_columns": list(rows.offer_columns),
                  "need_columns": list(rows.need_columns),
                  "has_substitutions": rows.substitutions is not None,
                  "hazardous_json": json.dumps(rows.hazardous),
                  "licences_json": json.dumps(rows.licences)}
        tables: list[tuple[str, str, list[dict[str, Any]]]] = [
            ("enterprises", WRITE_ENTERPRISES,
             [{**e, "seq": i} for i, e in enumerate(rows.enterprises)]),
            # for analysts: names, unit and family of every material the taxonomy knows
            ("materials", WRITE_MATERIALS, [
                {"slug": m.slug, "name_en": m.name_en, "name_zh": m.name_zh, "unit": m.unit,
                 "family": str(m.family), "kind": m.kind, "hazardous": m.hazardous}
                for m in dataset.taxonomy.materials.values()])]
        for table, label, rel, body in (("offers", "Offer", "OFFERS", rows.offers),
                                        ("needs", "Need", "NEEDS", rows.needs)):
            extras = rows.extras(table)
            tables.append((table, WRITE_LISTINGS % {"label": label, "rel": rel}, [
                {**{c: r[c] for c in CORE_LISTING_FIELDS}, "seq": i,
                 "extra": json.dumps({c: r.get(c) for c in extras}),
                 "props": {c: r[c] for c in extras if r.get(c) is not None}}
                for i, r in enumerate(body)]))
        tables.append(("distances", WRITE_DISTANCES,
                       [{**d, "seq": i} for i, d in enumerate(rows.distances)]))
        tables.append(("substitutions", WRITE_SUBSTITUTIONS,
                       [{**s, "seq": i} for i, s in enumerate(rows.substitutions or [])]))
        tables += [(t, WRITE_SIDE[t], _side_params(t, rows.side(t))) for t in SIDE_TABLES]

        def work(tx: Any) -> int:
            done = tx.run("MATCH (v:Version {import_id: $id}) RETURN v.version AS v",
                          id=import_id).single()
            if done is not None:  # an earlier attempt committed; its answer was lost
                return int(done["v"])
            tx.run(LOCK, token=import_id).consume()  # writers queue here
            if expected_version is not None:
                current = tx.run(self._META).single()["current"]
                if (current or 0) != expected_version:
                    raise StoreConflictError(
                        f"the graph store at {self.url} is at version {current or 0}, not "
                        f"{expected_version}: another writer changed it; nothing was "
                        "written, read it again")
            for statement in CLEAR:
                tx.run(statement).consume()
            for table, query, body in tables:
                written = 0
                for batch in _batches(body):
                    tx.run(query, rows=batch).consume()
                    written += len(batch)
                    if progress is not None:
                        progress(table, written)
            tx.run(AFTER_IMPORT).consume()
            return int(tx.run(WRITE_VERSION, params).single()["v"])

        number = self._write("the import", work)
        return self._versions("WHERE v.version = $v", v=number)[0]

    def write_row(self, write: RowWrite, *, expected_version: int | None = None,
                  source: str = "") -> RowWriteResult:
        """One row added, changed or deleted, and a new version, in one transaction under
        the store's write lock (the `:Meta` node), so writers from every process queue."""
        token = uuid.uuid4().hex
        table = write.table
        at = now_iso()

        def work(tx: Any) -> RowWriteResult:
            done = tx.run("MATCH (v:Version {import_id: $id}) RETURN v.version AS v, "
                          "v.row_id AS row_id, v.retired AS retired", id=token).single()
            if done is not None:  # an earlier attempt committed; its answer was lost
                return RowWriteResult(done["row_id"], self._version_in(tx, int(done["v"])),
                                      tuple(done["retired"]))
            tx.run(LOCK, token=token).consume()
            meta = tx.run(self._META + ", m.next_ids AS next_ids").single()
            if meta is None or meta["current"] is None:
                raise StoreError(f"the graph store at {self.url} holds no dataset yet; "
                                 "run `symbiosis db import DATASET` first")
            if expected_version is not None and (meta["current"] or 0) != expected_version:
                raise StoreConflictError(
                    f"the graph store at {self.url} is at version {meta['current']}, not "
                    f"{expected_version}: read it again")
            rows = self._read_rows(tx, dict(meta))
            retired = {r["id"] for r in tx.run("MATCH (r:Retired {table: $t}) RETURN r.id AS id",
                                               t=table)}
            new_id = None
            counters = json.loads(meta["next_ids"] or "{}")
            if write.action == "add" and write.id is None and table in ID_PREFIX:
                taken = {str(r["id"]) for r in getattr(rows, table)} | retired
                new_id, counters[table] = next_row_id(table, int(counters.get(table, 0)),
                                                      taken)
                tx.run("MATCH (m:Meta {key: 'store'}) SET m.next_ids = $c",
                       c=json.dumps(counters)).consume()
            applied = apply_row_write(rows, write, retired, new_id)
            row = applied.row
            if table == "enterprises":
                if row is None:
                    tx.run(DELETE_ENTERPRISE, id=applied.id).consume()
                else:
                    tx.run(WRITE_ENTERPRISE, row={**row, "id": applied.id},
                           add=write.action == "add").consume()
            else:
                label, rel = ("Offer", "OFFERS") if table == "offers" else ("Need", "NEEDS")
                seq = None
                contracts: list[dict[str, Any]] = []
                if row is not None and write.action == "update":
                    seq = tx.run(f"MATCH (o:{label} {{id: $id}}) RETURN o.seq AS s",
                                 id=applied.id).single()["s"]
                    # the node is written again: its contracts are drawn again as they were
                    contracts = [r["p"] for r in tx.run(
                        READ_CONTRACTS_OF[table], id=applied.id)]
                tx.run(f"MATCH (o:{label} {{id: $id}}) DETACH DELETE o", id=applied.id).consume()
                if row is not None:
                    if seq is None:
                        seq = tx.run(f"MATCH (o:{label}) RETURN coalesce(max(o.seq), -1) + 1 "
                                     "AS s").single()["s"]
                    extras = applied.rows.extras(table)
                    tx.run(WRITE_LISTINGS % {"label": label, "rel": rel}, rows=[
                        {**{c: row[c] for c in CORE_LISTING_FIELDS}, "seq": seq,
                         "extra": json.dumps({c: row.get(c) for c in extras}),
                         "props": {c: row[c] for c in extras if row.get(c) is not None}}]
                           ).consume()
                    tx.run(RESTORE_CONTRACTS, rows=contracts).consume()
            gone = [{"key": f"{t}:{i}", "table": t, "id": i} for t, ids in
                    applied.retired.items() for i in ids]
            tx.run("UNWIND $rows AS r CREATE (x:Retired) SET x = r, x.retired_at = $at",
                   rows=gone, at=at).consume()
            new = applied.rows
            number = int(tx.run(WRITE_VERSION, {
                "import_id": token, "hash": new.content_hash(),
                "source": source.replace("{id}", applied.id)
                or f"{write.action} {table} {applied.id}",
                "imported_at": at, "n_enterprises": len(new.enterprises),
                "n_offers": len(new.offers), "n_needs": len(new.needs),
                "offer_columns": list(new.offer_columns),
                "need_columns": list(new.need_columns),
                "has_substitutions": new.substitutions is not None,
                "hazardous_json": json.dumps(new.hazardous),
                "licences_json": json.dumps(new.licences)}).single()["v"])
            retired_ids = tuple(g["id"] for g in gone)
            tx.run("MATCH (v:Version {version: $v}) SET v.row_id = $id, v.retired = $r",
                   v=number, id=applied.id, r=list(retired_ids)).consume()
            return RowWriteResult(applied.id, self._version_in(tx, number), retired_ids)

        return self._write("writing a row", work)

    def _version_in(self, tx: Any, number: int) -> DatasetVersion:
        found = tx.run(self._VERSION.format(where="WHERE v.version = $v"), v=number).single()
        return DatasetVersion(**dict(found))

    _VERSION = ("MATCH (v:Version) {where} RETURN v.version AS version, v.hash AS hash, "
                "v.source AS source, v.imported_at AS imported_at, "
                "v.enterprises AS enterprises, v.offers AS offers, v.needs AS needs "
                "ORDER BY v.version")

    def _versions(self, where: str = "", **params: Any) -> list[DatasetVersion]:
        return [DatasetVersion(**r) for r in
                self._query("reading versions", self._VERSION.format(where=where), **params)]

    def enterprise_uids(self) -> dict[str, str]:
        """The internal identity of every current enterprise, by display id."""
        return {r["id"]: r["uid"] for r in self._query(
            "reading identities", "MATCH (e:Enterprise) WHERE e.listed "
            "RETURN e.id AS id, e.uid AS uid")}

    def enterprise_uid(self, enterprise_id: str) -> str | None:
        """The internal identity of the current enterprise `enterprise_id` (None: none)."""
        found = self._query("reading an identity", "MATCH (e:Enterprise {id: $id}) "
                            "WHERE e.listed RETURN e.uid AS uid", id=enterprise_id)
        return str(found[0]["uid"]) if found and found[0]["uid"] is not None else None

    def current_version(self) -> DatasetVersion | None:
        """The version of the current data."""
        found = self._versions("MATCH (m:Meta {key: 'store'}) WHERE v.version = m.current")
        return found[0] if found else None

    def versions(self) -> list[DatasetVersion]:
        """Every import, oldest first."""
        return self._versions()

    _META = ("MATCH (m:Meta {key: 'store'}) RETURN m.current AS current, "
             "m.offer_columns AS offer_columns, m.need_columns AS need_columns, "
             "m.has_substitutions AS has_substitutions, m.hazardous_json AS hazardous_json, "
             "m.licences_json AS licences_json")

    def dataset_rows(self) -> DatasetRows:
        """The current data. Neo4j reads are read-committed, so the rows are read in one
        transaction and read again if an import committed in between."""
        def work(tx: Any) -> DatasetRows | None:
            meta = tx.run(self._META).single()
            if meta is None or meta["current"] is None:
                raise StoreError(f"the graph store at {self.url} holds no dataset yet; "
                                 "run `symbiosis db import DATASET` first")
            try:
                rows = self._read_rows(tx, dict(meta))
            except (TypeError, ValueError, KeyError):
                # read committed: a row a concurrent write deleted can be seen half gone;
                # that write changed m.current, so the check below says read again
                rows = None
            again = tx.run(self._META).single()
            if again is not None and again["current"] == meta["current"]:
                if rows is None:
                    raise StoreError(f"the graph store at {self.url} holds a malformed row")
                return rows
            return None

        from neo4j import exceptions as ne

        for _ in range(20):
            try:
                rows = self._read("reading the dataset", work)
            except StoreError as exc:  # a node deleted under the reader's feet
                if isinstance(exc.__cause__, ne.Neo4jError) and "EntityNotFound" in str(
                        exc.__cause__.code):
                    continue
                raise
            if rows is not None:
                return rows
        raise StoreError(f"the graph store at {self.url} kept changing while being read")

    @staticmethod
    def _read_rows(tx: Any, meta: dict[str, Any]) -> DatasetRows:
        def fetch(query: str) -> list[dict[str, Any]]:
            return [dict(r) for r in tx.run(query)]

        ent = fetch("MATCH (e:Enterprise) WHERE e.listed RETURN e.id AS id, e.name AS name, "
                    "e.sector AS sector, e.lon AS lon, e.lat AS lat, e.park AS park "
                    "ORDER BY e.seq")
        listings: dict[str, list[dict[str, Any]]] = {}
        for table, label in (("offers", "Offer"), ("needs", "Need")):
            columns = meta["offer_columns" if table == "offers" else "need_columns"]
            listings[table] = [
                {c: row.get(c) for c in columns} for row in (
                    {"id": r["id"], "enterprise_id": r["e"], "material": r["m"],
                     "quantity": r["q"], **json.loads(r["extra"])}
                    for r in fetch(f"MATCH (o:{label}) RETURN o.id AS id, o.enterprise_id AS e, "
                                   "o.material AS m, o.quantity AS q, o.extra AS extra "
                                   "ORDER BY o.seq"))]
        dist = fetch("MATCH (a:Enterprise)-[d:ROAD]->(b:Enterprise) RETURN a.id AS from_id, "
                     "b.id AS to_id, d.distance_km AS distance_km ORDER BY d.seq")
        subs = fetch("MATCH (o:Material)-[s:SERVES]->(n:Material) RETURN n.slug AS "
                     "need_material, o.slug AS offer_material, s.ratio AS ratio "
                     "ORDER BY s.seq")
        side: dict[str, list[dict[str, Any]]] = {}
        for table in SIDE_TABLES:  # an absent property reads back as None (a blank)
            columns = side_columns(table)
            side[table] = fetch(f"{READ_SIDE[table]} RETURN "
                                + ", ".join(f"x.{c} AS {c}" for c in columns)
                                + " ORDER BY x.seq")
        return DatasetRows(ent, listings["offers"], listings["needs"], dist,
                           subs if meta["has_substitutions"] else None,
                           tuple(meta["offer_columns"]), tuple(meta["need_columns"]),
                           hazardous=json.loads(meta.get("hazardous_json") or "[]"),
                           licences=json.loads(meta.get("licences_json") or "[]"), **side)

    def parks(self) -> list[Park]:
        """Parks with their listed enterprises."""
        return [Park(r["name"], r["n"]) for r in self._query(
            "reading parks", "MATCH (e:Enterprise)-[:IN]->(p:Park) WHERE e.listed "
            "RETURN p.name AS name, count(e) AS n ORDER BY name")]

    # ------------------------------------------------------------------ runs

    def save_run(self, run: RunRecord) -> RunInfo:
        """The Run node (its id the next number, under the store's write lock) and one
        SUPPLIES edge per exchange, in one transaction."""
        token = uuid.uuid4().hex
        created = now_iso()
        rows = [{**x, "seq": i} for i, x in enumerate(run.exchanges)]

        def work(tx: Any) -> int:
            done = tx.run("MATCH (r:Run {token: $token}) RETURN r.id AS id",
                          token=token).single()
            if done is not None:  # an earlier attempt committed; its answer was lost
                return int(done["id"])
            tx.run(LOCK, token=token).consume()
            run_id = int(tx.run(WRITE_RUN, {  # a dict: `parameters` is also run()'s own
                "token": token, "created_at": created, "version": run.version,
                "hash": run.dataset_hash, "n": len(run.exchanges),
                "parameters": json.dumps(run.parameters, ensure_ascii=False),
                "summary": json.dumps(run.summary, ensure_ascii=False)}).single()["id"])
            for batch in _batches(rows):
                tx.run(WRITE_EXCHANGES, rows=batch, run=run_id).consume()
            return run_id

        run_id = self._write("recording the run", work)
        return RunInfo(run_id, created, run.version, run.dataset_hash, run.parameters,
                       run.summary, len(run.exchanges))

    _RUN = ("MATCH (r:Run) {where} RETURN r.id AS id, "
            "r.created_at AS created_at, r.version AS version, r.dataset_hash AS dataset_hash, "
            "r.parameters AS parameters, r.summary AS summary, r.exchanges AS exchanges "
            "ORDER BY r.id")

    def _runs(self, where: str = "", **params: Any) -> Iterator[RunInfo]:
        for r in self._query("reading runs", self._RUN.format(where=where), **params):
            yield RunInfo(r["id"], r["created_at"], r["version"], r["dataset_hash"],
                          json.loads(r["parameters"]), json.loads(r["summary"]),
                          r["exchanges"])

    def runs(self) -> list[RunInfo]:
        """Every run, oldest first."""
        return list(self._runs())

    def run(self, run_id: int) -> RunRecord:
        """One run with its exchanges in their stored order."""
        found = list(self._runs("WHERE r.id = $id", id=int(run_id)))
        if not found:
            raise StoreError(f"no run {run_id} in the graph store at {self.url}")
        info = found[0]
        edges = self._query(
            "reading exchanges",
            "MATCH (a:Enterprise)-[s:SUPPLIES]->(b:Enterprise) WHERE s.run = $run "
            "RETURN a.id AS offer_enterprise_id, b.id AS need_enterprise_id, "
            "s.material AS offer_material, s.need_material AS need_material, "
            "s.quantity AS quantity, s.distance_km AS distance_km, s.offer_id AS offer_id, "
            "s.need_id AS need_id ORDER BY s.seq", run=info.id)
        return RunRecord(parameters=info.parameters, dataset_hash=info.dataset_hash,
                         summary=info.summary,
                         exchanges=[{f: e[f] for f in EXCHANGE_FIELDS} for e in edges],
                         version=info.version, id=info.id, created_at=info.created_at)
