"""The production store: Neo4j 5 over Bolt through the official `neo4j` driver.

Graph model (what Neo4j Browser or Bloom shows)::

    (:Park {name})<-[:IN]-(:Enterprise {id, name, sector, lon, lat, park, listed})
    (:Enterprise)-[:OFFERS]->(:Offer {id, material, quantity, extra})-[:OF]->(:Material {slug})
    (:Enterprise)-[:NEEDS]->(:Need {id, material, quantity, extra})-[:OF]->(:Material)
    (:Enterprise)-[:ROAD {distance_km}]->(:Enterprise)          distances.csv
    (:Material)-[:SERVES {ratio}]->(:Material)                   substitutions.csv
    (:Enterprise)-[:SUPPLIES {run, material, need_material, quantity, distance_km}]->(:Enterprise)
    (:Run {id, parameters, summary})-[:ON]->(:Version {version, hash, source})

All-or-nothing without relying on multi-statement transactions (FalkorDB, which the tests
use as the Bolt server, commits every statement on its own): an import first writes its
rows in batches (UNWIND) as `:Staged` nodes keyed by an import id, invisible to readers,
then publishes them in ONE statement that swaps the current data; a failed import deletes
its staged nodes, and staging left by a killed writer is swept after an hour. A run's
SUPPLIES edges are written first and its `:Run` node last, so a half-written run is never
listed. Every value travels as a query parameter. Cypher stays within what Neo4j 5 and
FalkorDB both accept; the two differ only in constraints (Neo4j gets uniqueness
constraints, FalkorDB plain indexes). FalkorDB announces itself with a Neo4j agent string,
so the kind of server is probed with `dbms.components()`, which only Neo4j has.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from symbiosis.errors import StoreError, StoreUnavailableError
from symbiosis.store.base import BATCH_ROWS, Progress, StoreURL, now_iso
from symbiosis.store.records import (
    EXCHANGE_FIELDS,
    DatasetRows,
    DatasetVersion,
    Park,
    RunInfo,
    RunRecord,
    rows_from_dataset,
)

if TYPE_CHECKING:
    from symbiosis.dataset import Dataset

__all__ = ["GraphRepository"]

STALE_STAGING = timedelta(hours=1)
# (label, property) pairs that are keys; Neo4j gets uniqueness constraints on them
KEYS = (("Enterprise", "id"), ("Offer", "id"), ("Need", "id"), ("Material", "slug"),
        ("Park", "name"), ("Run", "id"), ("Version", "version"), ("Meta", "key"),
        ("Staged", "key"))
INDEXES = (("Staged", "import_id"), ("Version", "import_id"))

PUBLISH = """
MATCH (m:Meta {key: 'store'})
SET m.lock = $import_id
WITH m, coalesce(m.versions, 0) + 1 AS v
SET m.versions = v, m.current = v, m.offer_columns = $offer_columns,
    m.need_columns = $need_columns, m.has_substitutions = $has_substitutions
CREATE (:Version {version: v, import_id: $import_id, hash: $hash, source: $source,
                  imported_at: $imported_at, enterprises: $n_enterprises,
                  offers: $n_offers, needs: $n_needs})
WITH count(*) AS c0
MATCH (o:Offer) DETACH DELETE o
WITH count(*) AS c1
MATCH (n:Need) DETACH DELETE n
WITH count(*) AS c2
MATCH (:Enterprise)-[r:ROAD]->(:Enterprise) DELETE r
WITH count(*) AS c3
MATCH (:Material)-[r:SERVES]->(:Material) DELETE r
WITH count(*) AS c4
MATCH (:Enterprise)-[r:IN]->(:Park) DELETE r
WITH count(*) AS c5
MATCH (e:Enterprise) WHERE e.listed = true SET e.listed = false
WITH count(*) AS c6
MATCH (s:Staged {import_id: $import_id, kind: 'enterprise'})
MERGE (e:Enterprise {id: s.id})
SET e.name = s.name, e.sector = s.sector, e.lon = NUM(s.lon),
    e.lat = NUM(s.lat), e.park = s.park,
    e.seq = s.seq, e.listed = true
WITH count(*) AS c7
MATCH (s:Staged {import_id: $import_id, kind: 'enterprise'}) WHERE s.park <> ''
MATCH (e:Enterprise {id: s.id})
MERGE (p:Park {name: s.park})
CREATE (e)-[:IN]->(p)
WITH count(*) AS c8
MATCH (s:Staged {import_id: $import_id, kind: 'offers'})
MATCH (e:Enterprise {id: s.enterprise_id})
MERGE (mat:Material {slug: s.material})
CREATE (e)-[:OFFERS]->(o:Offer {id: s.id, enterprise_id: s.enterprise_id,
        material: s.material, quantity: NUM(s.quantity), extra: s.extra,
        seq: s.seq})-[:OF]->(mat)
WITH count(*) AS c9
MATCH (s:Staged {import_id: $import_id, kind: 'needs'})
MATCH (e:Enterprise {id: s.enterprise_id})
MERGE (mat:Material {slug: s.material})
CREATE (e)-[:NEEDS]->(n:Need {id: s.id, enterprise_id: s.enterprise_id,
        material: s.material, quantity: NUM(s.quantity), extra: s.extra,
        seq: s.seq})-[:OF]->(mat)
WITH count(*) AS c10
MATCH (s:Staged {import_id: $import_id, kind: 'distances'})
MATCH (a:Enterprise {id: s.from_id})
MATCH (b:Enterprise {id: s.to_id})
CREATE (a)-[:ROAD {distance_km: NUM(s.distance_km), seq: s.seq}]->(b)
WITH count(*) AS c11
MATCH (s:Staged {import_id: $import_id, kind: 'substitutions'})
MERGE (o:Material {slug: s.offer_material})
MERGE (n:Material {slug: s.need_material})
CREATE (o)-[:SERVES {ratio: NUM(s.ratio), seq: s.seq}]->(n)
WITH count(*) AS c12
MATCH (s:Staged {import_id: $import_id}) DELETE s
WITH count(*) AS c13
RETURN c13 AS staged
"""
PUBLISH = " ".join(PUBLISH.split())  # FalkorDB takes Bolt messages of 4 KB at most
# FalkorDB 4.16 drops the connection (and crashes) on a Bolt message over ~4,090 bytes
FALKORDB_MESSAGE_BYTES = 3900
FALKORDB_RECORD_BYTES = 60_000  # and it cannot send a record of 64 KB or more back


def _is_transient(exc: BaseException) -> bool:
    from neo4j import exceptions as ne

    return isinstance(exc, ne.ServiceUnavailable | ne.SessionExpired | ne.TransientError
                      | ConnectionError | TimeoutError)


class GraphRepository:
    """`Repository` on a Neo4j 5 (or any Bolt + Cypher) server.

    `retries` attempts per statement on a lost or refused connection, waiting `backoff_s`,
    then twice that, and so on; then `StoreUnavailableError` says which server failed.
    """

    def __init__(self, url: StoreURL, retries: int = 5, backoff_s: float = 0.2,
                 connection_timeout_s: float = 5.0) -> None:
        import neo4j  # lazy: 0.7 s of import time

        self.url = url.uri + (f"/{url.database}" if url.database else "")
        self._target = url
        self._retries = max(1, retries)
        self._backoff_s = backoff_s
        auth = (url.user or "neo4j", url.password) if url.password else None
        self._driver = neo4j.GraphDatabase.driver(
            url.uri, auth=auth, connection_timeout=connection_timeout_s,
            connection_acquisition_timeout=2 * connection_timeout_s,
            max_connection_lifetime=3600)
        self._database = url.database
        self._falkordb = False
        self._budget: int | None = None  # largest message in bytes, None = no limit
        try:
            self.init()
        except BaseException:
            self._driver.close()
            raise

    # ------------------------------------------------------------------ plumbing

    def _call(self, what: str, work: Callable[[Any], Any]) -> Any:
        """Run `work(session)`, retrying transient failures with exponential backoff."""
        from neo4j import exceptions as ne

        delay = self._backoff_s
        for attempt in range(1, self._retries + 1):
            try:
                with self._driver.session(database=self._database) as session:
                    return work(session)
            except Exception as exc:
                if not _is_transient(exc):
                    if isinstance(exc, ne.Neo4jError | ne.DriverError):
                        raise StoreError(f"the graph store at {self.url} refused {what}: "
                                         f"{exc}") from exc
                    raise
                if attempt == self._retries:
                    raise StoreUnavailableError(
                        f"the graph store at {self.url} is unreachable ({what} failed "
                        f"{attempt} times, last: {type(exc).__name__}: {exc})") from exc
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _encode(self, value: Any) -> Any:
        """FalkorDB 4.16 splices string parameters into its query text between single
        quotes without escaping them (`it's` fails, `a\\b` loses its backslash), so for
        FalkorDB every string is escaped the way its parser unescapes it. Neo4j: as is."""
        if not self._falkordb:
            return value
        if isinstance(value, str):
            return value.replace("\\", "\\\\").replace("'", "\\'")
        if isinstance(value, float):
            # it also prints floats with six decimals (4.3559486823631826 -> 4.355949), and
            # its toFloat(string) is single precision; integers pass exactly, so a float
            # goes as [m, e] with value = m * 2^e, m a 53-bit integer (see NUM)
            mantissa, exponent = math.frexp(value)
            return [int(mantissa * 2**53), exponent - 53]
        if isinstance(value, dict):
            return {k: self._encode(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._encode(v) for v in value]
        return value

    def _query(self, what: str, query: str, **params: Any) -> list[dict[str, Any]]:
        params = self._encode(params)
        query = self._numbers(query)

        def work(session: Any) -> list[dict[str, Any]]:
            return [dict(r) for r in session.run(query, params)]
        result: list[dict[str, Any]] = self._call(what, work)
        return result

    def _numbers(self, query: str) -> str:
        """Expand NUM(x) in a query: x itself on Neo4j, x rebuilt from [m, e] on FalkorDB
        (exact: an int64 to double below 2^53 times a power of two)."""
        template = r"(toFloat(\1[0]) * 2.0 ^ \1[1])" if self._falkordb else r"\1"
        return re.sub(r"NUM\(([\w.]+)\)", template, query)

    def _size(self, value: Any) -> int:
        """Bytes a value takes in a message, roughly (PackStream is a little smaller)."""
        return len(json.dumps(value, ensure_ascii=False, default=str).encode("utf-8"))

    def _batches(self, query: str, rows: list[dict[str, Any]],
                 **params: Any) -> Iterator[list[dict[str, Any]]]:
        """Rows in batches of BATCH_ROWS, and under the server's message size if it has one."""
        if self._budget is None:
            for start in range(0, len(rows), BATCH_ROWS):
                yield rows[start:start + BATCH_ROWS]
            return
        room = (self._budget - len(self._numbers(query).encode("utf-8"))
                - self._size(self._encode(params)) - 64)
        batch: list[dict[str, Any]] = []
        used = 0
        for row in rows:
            size = self._size(self._encode(row))
            if size > room:
                raise StoreError(f"a row is too large for the graph store at {self.url}, "
                                 f"which takes Bolt messages of at most {self._budget} "
                                 f"bytes: {str(row)[:200]}")
            if batch and (used + size > room or len(batch) >= BATCH_ROWS):
                yield batch
                batch, used = [], 0
            batch.append(row)
            used += size
        if batch:
            yield batch

    def init(self) -> None:
        """Detect the server kind, create keys/indexes and the store's meta node, and sweep
        staging left by writers that died."""
        def probe(session: Any) -> bool:
            from neo4j import exceptions as ne

            try:
                session.run("CALL dbms.components() YIELD name RETURN name").consume()
            except ne.Neo4jError:
                return True
            return False

        self._falkordb = bool(self._call("a connection check", probe))
        self._budget = FALKORDB_MESSAGE_BYTES if self._falkordb else None
        if self._falkordb:
            have = {(r["label"], p) for r in
                    self._query("reading indexes", "CALL db.indexes()")
                    for p in r["properties"]}
            for label, prop in (*KEYS, *INDEXES):
                if (label, prop) not in have:
                    # label and property are this module's constants, never user input
                    self._query("creating an index",
                                f"CREATE INDEX FOR (n:{label}) ON (n.{prop})")
        else:
            for label, prop in KEYS:
                self._query("creating a constraint",
                            f"CREATE CONSTRAINT {label.lower()}_{prop} IF NOT EXISTS "
                            f"FOR (n:{label}) REQUIRE n.{prop} IS UNIQUE")
            for label, prop in INDEXES:
                self._query("creating an index",
                            f"CREATE INDEX {label.lower()}_{prop} IF NOT EXISTS "
                            f"FOR (n:{label}) ON (n.{prop})")
        self._query("creating the store", "MERGE (m:Meta {key: 'store'})")
        cutoff = (datetime.now(UTC) - STALE_STAGING).isoformat()
        self._query("sweeping stale staging",
                    "MATCH (s:Staged) WHERE s.staged_at < $cutoff DELETE s", cutoff=cutoff)

    def close(self) -> None:
        """Close the driver. FalkorDB 4.16's Bolt server loses the handshake of the next
        connection after a client's GOODBYE; one bare connect absorbs that."""
        self._driver.close()
        if self._falkordb:
            parts = urlsplit(self._target.uri)
            try:
                with socket.create_connection((parts.hostname or "localhost",
                                               parts.port or 7687), timeout=1.0):
                    pass
            except OSError:
                pass

    def __enter__(self) -> GraphRepository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ dataset

    def _stage(self, import_id: str, kind: str, rows: list[dict[str, Any]],
               progress: Progress | None) -> None:
        at = now_iso()
        query = ("UNWIND $rows AS r MERGE (s:Staged {key: r.key}) "
                 "SET s += r, s.import_id = $import_id, s.kind = $kind, s.staged_at = $at")
        keyed = [{**{k: v for k, v in r.items() if v is not None},
                  "key": f"{import_id}:{kind}:{i}", "seq": i} for i, r in enumerate(rows)]
        done = 0
        for batch in self._batches(query, keyed, kind=kind, at=at, import_id=import_id):
            self._query(f"staging {kind}", query, rows=batch, kind=kind, at=at,
                        import_id=import_id)
            done += len(batch)
            if progress is not None:
                progress(kind, done)

    def import_dataset(self, dataset: Dataset, source: str = "",
                       progress: Progress | None = None) -> DatasetVersion:
        """Stage the rows in batches, then publish them in one statement."""
        rows = rows_from_dataset(dataset)
        import_id = uuid.uuid4().hex
        params = {"import_id": import_id, "hash": rows.content_hash(),
                  "source": source or dataset.source, "imported_at": now_iso(),
                  "n_enterprises": len(rows.enterprises), "n_offers": len(rows.offers),
                  "n_needs": len(rows.needs), "offer_columns": list(rows.offer_columns),
                  "need_columns": list(rows.need_columns),
                  "has_substitutions": rows.substitutions is not None}
        try:
            self._stage(import_id, "enterprise",
                        [{**e, "name": e["name"] or "", "sector": e["sector"] or "",
                          "park": e["park"] or ""} for e in rows.enterprises], progress)
            for kind, body in (("offers", rows.offers), ("needs", rows.needs)):
                extras = rows.extras(kind)
                self._stage(import_id, kind, [
                    {"id": r["id"], "enterprise_id": r["enterprise_id"],
                     "material": r["material"], "quantity": r["quantity"],
                     "extra": json.dumps({c: r.get(c) for c in extras})} for r in body],
                    progress)
            self._stage(import_id, "distances", rows.distances, progress)
            self._stage(import_id, "substitutions", rows.substitutions or [], progress)
            self._publish(import_id, params)
        except BaseException:
            # if the server is unreachable now, the sweep in init() removes it later
            with contextlib.suppress(StoreError):
                self._query("discarding a failed import",
                            "MATCH (s:Staged {import_id: $import_id}) DELETE s",
                            import_id=import_id)
            raise
        found = self._query("reading the new version",
                            "MATCH (v:Version {import_id: $import_id}) RETURN v.version AS v",
                            import_id=import_id)
        return self._versions(f"WHERE v.version = {int(found[0]['v'])}")[0]

    def _publish(self, import_id: str, params: dict[str, Any]) -> None:
        """The one statement that swaps the data. Retried only if it did not happen: a
        lost connection after the server committed must not publish twice."""
        check = "MATCH (v:Version {import_id: $import_id}) RETURN count(v) AS n"
        delay = self._backoff_s
        for attempt in range(1, self._retries + 1):
            try:
                with self._driver.session(database=self._database) as session:
                    session.run(self._numbers(PUBLISH), self._encode(params)).consume()
                return
            except Exception as exc:
                if not _is_transient(exc):
                    raise StoreError(f"the graph store at {self.url} refused the import: "
                                     f"{exc}") from exc
                if attempt == self._retries:
                    raise StoreUnavailableError(
                        f"the graph store at {self.url} is unreachable (import failed "
                        f"{attempt} times, last: {type(exc).__name__}: {exc})") from exc
                time.sleep(delay)
                delay *= 2
                if self._query("checking the import", check, import_id=import_id
                               )[0]["n"]:
                    return

    _VERSION = ("MATCH (v:Version) {where} RETURN v.version AS version, v.hash AS hash, "
                "v.source AS source, v.imported_at AS imported_at, "
                "v.enterprises AS enterprises, v.offers AS offers, v.needs AS needs "
                "ORDER BY v.version")

    def _versions(self, where: str = "") -> list[DatasetVersion]:
        return [DatasetVersion(**r) for r in
                self._query("reading versions", self._VERSION.format(where=where))]

    def current_version(self) -> DatasetVersion | None:
        """The version of the current data."""
        meta = self._meta()
        if meta.get("current") is None:
            return None
        found = self._versions(f"WHERE v.version = {int(meta['current'])}")
        return found[0] if found else None

    def versions(self) -> list[DatasetVersion]:
        """Every import, oldest first."""
        return self._versions()

    def _meta(self) -> dict[str, Any]:
        rows = self._query("reading the store", "MATCH (m:Meta {key: 'store'}) RETURN "
                           "m.current AS current, m.offer_columns AS offer_columns, "
                           "m.need_columns AS need_columns, "
                           "m.has_substitutions AS has_substitutions")
        return rows[0] if rows else {}

    def dataset_rows(self) -> DatasetRows:
        """The current data; read again if an import published in between."""
        for _ in range(10):
            meta = self._meta()
            if meta.get("current") is None:
                raise StoreError(f"the graph store at {self.url} holds no dataset yet; "
                                 "run `symbiosis db import DATASET` first")
            rows = self._read_rows(meta)
            if self._meta().get("current") == meta["current"]:
                return rows
        raise StoreError(f"the graph store at {self.url} kept changing while being read")

    def _read_rows(self, meta: dict[str, Any]) -> DatasetRows:
        ent = self._query("reading enterprises",
                          "MATCH (e:Enterprise) WHERE e.listed = true RETURN e.id AS id, "
                          "e.name AS name, e.sector AS sector, e.lon AS lon, e.lat AS lat, "
                          "e.park AS park ORDER BY e.seq")
        listings: dict[str, list[dict[str, Any]]] = {}
        for table, label in (("offers", "Offer"), ("needs", "Need")):
            listings[table] = [
                {"id": r["id"], "enterprise_id": r["e"], "material": r["m"],
                 "quantity": r["q"], **json.loads(r["extra"])}
                for r in self._query(f"reading {table}",
                                     f"MATCH (o:{label}) RETURN o.id AS id, "
                                     "o.enterprise_id AS e, o.material AS m, o.quantity AS q, "
                                     "o.extra AS extra ORDER BY o.seq")]
        dist = self._query("reading distances",
                           "MATCH (a:Enterprise)-[d:ROAD]->(b:Enterprise) RETURN a.id AS "
                           "from_id, b.id AS to_id, d.distance_km AS distance_km "
                           "ORDER BY d.seq")
        subs = self._query("reading substitutions",
                           "MATCH (o:Material)-[s:SERVES]->(n:Material) RETURN n.slug AS "
                           "need_material, o.slug AS offer_material, s.ratio AS ratio "
                           "ORDER BY s.seq")
        return DatasetRows(ent, listings["offers"], listings["needs"], dist,
                           subs if meta["has_substitutions"] else None,
                           tuple(meta["offer_columns"]), tuple(meta["need_columns"]))

    def parks(self) -> list[Park]:
        """Parks with their listed enterprises."""
        return [Park(r["name"], r["n"]) for r in self._query(
            "reading parks", "MATCH (e:Enterprise)-[:IN]->(p:Park) WHERE e.listed = true "
            "RETURN p.name AS name, count(e) AS n ORDER BY name")]

    # ------------------------------------------------------------------ runs

    def save_run(self, run: RunRecord) -> RunInfo:
        """Reserve an id, write the SUPPLIES edges in batches, then the Run node."""
        run_id = int(self._query(
            "reserving a run id",
            "MATCH (m:Meta {key: 'store'}) SET m.lock = $token "
            "WITH m, coalesce(m.runs, 0) + 1 AS id SET m.runs = id RETURN id",
            token=uuid.uuid4().hex)[0]["id"])
        created = now_iso()
        edges = ("UNWIND $rows AS r "
                 "MERGE (a:Enterprise {id: r.offer_enterprise_id}) "
                 "MERGE (b:Enterprise {id: r.need_enterprise_id}) "
                 "MERGE (a)-[s:SUPPLIES {run: $run, seq: r.seq}]->(b) "
                 "SET s.material = r.offer_material, s.need_material = r.need_material, "
                 "s.quantity = NUM(r.quantity), s.distance_km = NUM(r.distance_km), "
                 "s.offer_id = r.offer_id, s.need_id = r.need_id")
        try:
            rows = [{**x, "seq": i} for i, x in enumerate(run.exchanges)]
            for batch in self._batches(edges, rows, run=run_id):
                self._query("writing exchanges", edges, rows=batch, run=run_id)
            # the node is listed only once `complete`; long JSON goes in in parts
            self._query(
                "recording the run",
                "MERGE (r:Run {id: $id}) SET r.created_at = $created_at, r.version = $version, "
                "r.dataset_hash = $hash, r.exchanges = $n, r.parameters = '', r.summary = ''",
                id=run_id, created_at=created, version=run.version, hash=run.dataset_hash,
                n=len(run.exchanges))
            for prop, value in (("parameters", run.parameters), ("summary", run.summary)):
                text = json.dumps(value, ensure_ascii=False)
                if self._falkordb and len(text.encode("utf-8")) > FALKORDB_RECORD_BYTES:
                    # its Bolt server cannot send a record over 64 KB back (the reader hangs)
                    raise StoreError(f"the run's {prop} ({len(text):,} characters of JSON) "
                                     f"is too large for the FalkorDB store at {self.url}")
                step = (self._budget or 10**9) // 4  # a UTF-8 character is up to 4 bytes
                for start in range(0, len(text), step):
                    self._query("recording the run",
                                f"MATCH (r:Run {{id: $id}}) SET r.{prop} = r.{prop} + $part",
                                id=run_id, part=text[start:start + step])
            self._query("recording the run",
                        "MATCH (r:Run {id: $id}) SET r.complete = true WITH r "
                        "MATCH (v:Version {version: $version}) MERGE (r)-[:ON]->(v)",
                        id=run_id, version=run.version)
        except BaseException:
            with contextlib.suppress(StoreError):
                self._query("discarding a failed run",
                            "MATCH ()-[s:SUPPLIES {run: $run}]->() DELETE s", run=run_id)
                self._query("discarding a failed run", "MATCH (r:Run {id: $id}) DELETE r",
                            id=run_id)
            raise
        return RunInfo(run_id, created, run.version, run.dataset_hash, run.parameters,
                       run.summary, len(run.exchanges))

    _RUN = ("MATCH (r:Run) WHERE r.complete = true {where} RETURN r.id AS id, "
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
        found = list(self._runs("AND r.id = $id", id=int(run_id)))
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
