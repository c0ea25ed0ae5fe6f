"""The server's own state in one SQLite file: API keys (hashed), match-run jobs with their
results, the park registry, and exchange proposals with their audit trail.

The region's data stays in the store (SQLite or Neo4j); this file holds what only the
server needs, so a graph store shared with analysts never holds key hashes. Every write is
one IMMEDIATE transaction; readers in WAL mode never block.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symbiosis.store.base import now_iso
from symbiosis.store.sqlite import BUSY_TIMEOUT_S, connect_sqlite

__all__ = ["ApiKey", "Job", "ParkInfo", "Proposal", "ProposalEvent", "StateStore"]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, hash TEXT NOT NULL, role TEXT NOT NULL, scope TEXT NOT NULL,
        label TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT);
    CREATE TABLE parks (
        name TEXT PRIMARY KEY, name_zh TEXT, note TEXT, created_at TEXT NOT NULL);
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, status TEXT NOT NULL, progress REAL NOT NULL,
        phase TEXT NOT NULL, park TEXT, parameters TEXT NOT NULL, created_at TEXT NOT NULL,
        started_at TEXT, finished_at TEXT, error TEXT, store_run_id INTEGER,
        dataset_version INTEGER, kpis TEXT, result BLOB, created_by TEXT NOT NULL);
    CREATE INDEX jobs_park ON jobs(park);
    CREATE TABLE proposals (
        id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL,
        offer_id TEXT NOT NULL, need_id TEXT NOT NULL,
        supplier_id TEXT NOT NULL, receiver_id TEXT NOT NULL,
        supplier_park TEXT, receiver_park TEXT,
        offer_material TEXT NOT NULL, need_material TEXT NOT NULL, unit TEXT NOT NULL,
        quantity REAL NOT NULL CHECK (quantity > 0), distance_km REAL NOT NULL,
        status TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT NOT NULL,
        supplier_accepted_at TEXT, receiver_accepted_at TEXT, agreed_at TEXT,
        declined_at TEXT, UNIQUE (source, offer_id, need_id));
    CREATE INDEX proposals_supplier ON proposals(supplier_id);
    CREATE INDEX proposals_receiver ON proposals(receiver_id);
    CREATE TABLE proposal_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        proposal_id INTEGER NOT NULL REFERENCES proposals(id) ON DELETE CASCADE,
        at TEXT NOT NULL, action TEXT NOT NULL, actor_side TEXT NOT NULL,
        key_id TEXT NOT NULL, role TEXT NOT NULL, note TEXT NOT NULL DEFAULT '');
    """,
    # 2: enterprise and recycler keys, and proposal parties, bind to the enterprise's
    # internal identity in the store (issue 18), not to its reusable display id
    """
    ALTER TABLE api_keys ADD COLUMN subject TEXT;
    ALTER TABLE proposals ADD COLUMN supplier_uid TEXT;
    ALTER TABLE proposals ADD COLUMN receiver_uid TEXT;
    """,
)


@dataclass(frozen=True)
class ApiKey:
    """A stored key: never the secret, only its hash."""

    id: str
    hash: str
    role: str
    scope: str
    label: str
    created_at: str
    revoked_at: str | None
    subject: str | None = None  # the enterprise identity (store uid) of a party key


@dataclass(frozen=True)
class ParkInfo:
    """A registered park's own fields (its enterprises live in the store)."""

    name: str
    name_zh: str | None
    note: str | None
    created_at: str


@dataclass(frozen=True)
class Job:
    """A match run as the server tracks it; `result` is loaded only when asked for."""

    id: int
    status: str
    progress: float
    phase: str
    park: str | None
    parameters: dict[str, Any]
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    store_run_id: int | None
    dataset_version: int | None
    kpis: dict[str, Any] | None
    created_by: str


@dataclass(frozen=True)
class Proposal:
    """A proposed exchange between an offer and a need, and where it stands."""

    id: int
    source: str
    offer_id: str
    need_id: str
    supplier_id: str
    receiver_id: str
    supplier_park: str | None
    receiver_park: str | None
    offer_material: str
    need_material: str
    unit: str
    quantity: float
    distance_km: float
    status: str
    created_at: str
    created_by: str
    supplier_accepted_at: str | None
    receiver_accepted_at: str | None
    agreed_at: str | None
    declined_at: str | None
    supplier_uid: str | None = None  # the parties' identities (store uids) when proposed
    receiver_uid: str | None = None


@dataclass(frozen=True)
class ProposalEvent:
    """One step of a proposal's audit trail: who (side, role, key) did what, when."""

    id: int
    proposal_id: int
    at: str
    action: str
    actor_side: str
    key_id: str
    role: str
    note: str


_JOB_COLUMNS = ("id, status, progress, phase, park, parameters, created_at, started_at, "
                "finished_at, error, store_run_id, dataset_version, kpis, created_by")


def _job(row: tuple[Any, ...]) -> Job:
    values = list(row)
    values[5] = json.loads(values[5])
    values[12] = json.loads(values[12]) if values[12] else None
    return Job(*values)


class StateStore:
    """The server's SQLite file, created (with its folder) on first use."""

    def __init__(self, path: str | Path, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._db = connect_sqlite(self.path, "the server state", busy_timeout_s)
        self._migrate()

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _migrate(self) -> None:
        with self._write() as db:
            has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone()
            done = int(db.execute("SELECT value FROM meta WHERE key='schema_version'")
                       .fetchone()[0]) if has_meta else 0
            for script in MIGRATIONS[done:]:
                for statement in (s.strip() for s in script.split(";")):
                    if statement:
                        db.execute(statement)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                       (str(len(MIGRATIONS)),))

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def meta(self, key: str) -> str | None:
        """A server setting kept in the file (e.g. the secret behind feedstock handles)."""
        rows = self._read("SELECT value FROM meta WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta_once(self, key: str, value: str) -> str:
        """Store `value` under `key` unless one is there; return what is stored."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))
            return str(db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()[0])

    # ------------------------------------------------------------------ keys

    def add_key(self, key_id: str, digest: str, role: str, scope: str, label: str,
                subject: str | None = None) -> ApiKey:
        """Store a new key's hash (and, for a party key, its enterprise's identity)."""
        created = now_iso()
        with self._write() as db:
            db.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                       (key_id, digest, role, scope, label, created, subject))
        return ApiKey(key_id, digest, role, scope, label, created, None, subject)

    def bind_key(self, key_id: str, subject: str) -> bool:
        """Bind a party key that has no identity yet (issued before identities existed, or
        by `symbiosis keys create` without the store) to `subject`; False if it had one."""
        with self._write() as db:
            return db.execute("UPDATE api_keys SET subject=? WHERE id=? AND subject IS NULL",
                              (subject, key_id)).rowcount == 1

    def bind_identities(self, uids: dict[str, str]) -> tuple[int, int]:
        """The migration to identities: every active party key without one, and every
        proposal party without one, is bound to the identity that holds its display id
        now (`uids`: display id -> store uid; the best evidence there is: whoever holds
        the id when the server first runs with identities). Ids not held stay unbound: such
        a key is refused at use, such a proposal is seen by no party. Returns how many
        keys and proposal parties were bound."""
        with self._write() as db:
            keys = 0
            for key_id, scope in db.execute(
                    "SELECT id, scope FROM api_keys WHERE subject IS NULL AND revoked_at IS "
                    "NULL AND role IN ('enterprise', 'recycler')").fetchall():
                if scope in uids:
                    keys += db.execute("UPDATE api_keys SET subject=? WHERE id=?",
                                       (uids[scope], key_id)).rowcount
            parties = 0
            for side in ("supplier", "receiver"):
                for pid, party in db.execute(
                        f"SELECT id, {side}_id FROM proposals WHERE {side}_uid IS NULL"
                        ).fetchall():
                    if party in uids:
                        parties += db.execute(f"UPDATE proposals SET {side}_uid=? WHERE id=?",
                                              (uids[party], pid)).rowcount
            return keys, parties

    def key(self, key_id: str) -> ApiKey | None:
        """A key by id (revoked ones included)."""
        rows = self._read("SELECT * FROM api_keys WHERE id=?", (key_id,))
        return ApiKey(*rows[0]) if rows else None

    def api_keys(self) -> list[ApiKey]:
        """Every key, oldest first."""
        return [ApiKey(*r) for r in self._read("SELECT * FROM api_keys ORDER BY created_at, id")]

    def revoke_key(self, key_id: str) -> bool:
        """Revoke a key; False if there is no such active key."""
        with self._write() as db:
            cur = db.execute("UPDATE api_keys SET revoked_at=? WHERE id=? AND revoked_at IS NULL",
                             (now_iso(), key_id))
            return cur.rowcount == 1

    def revoke_keys_of(self, enterprise_id: str) -> int:
        """Revoke every active enterprise or recycler key of `enterprise_id` (its enterprise
        was deleted: a key must never pass to whoever holds that id later). Returns how
        many were revoked."""
        with self._write() as db:
            cur = db.execute("UPDATE api_keys SET revoked_at=? WHERE scope=? AND revoked_at "
                             "IS NULL AND role IN ('enterprise', 'recycler')",
                             (now_iso(), enterprise_id))
            return int(cur.rowcount)

    def retire_party(self, enterprise_id: str) -> int:
        """Detach a deleted enterprise's proposals from its id (the party id becomes
        `<id>#deleted-<time>`), so whoever holds that id later sees none of them; the
        other side and the park managers still do. Returns how many were detached."""
        mark = f"{enterprise_id}#deleted-{now_iso()}"
        with self._write() as db:
            n = db.execute("UPDATE proposals SET supplier_id=? WHERE supplier_id=?",
                           (mark, enterprise_id)).rowcount
            n += db.execute("UPDATE proposals SET receiver_id=? WHERE receiver_id=?",
                            (mark, enterprise_id)).rowcount
            return int(n)

    # ------------------------------------------------------------------ parks

    def parks(self) -> dict[str, ParkInfo]:
        """Registered parks by name."""
        return {r[0]: ParkInfo(*r) for r in self._read("SELECT * FROM parks ORDER BY name")}

    def put_park(self, name: str, name_zh: str | None, note: str | None) -> ParkInfo:
        """Register or update a park's own fields."""
        with self._write() as db:
            old = db.execute("SELECT created_at FROM parks WHERE name=?", (name,)).fetchone()
            created = old[0] if old else now_iso()
            db.execute("INSERT OR REPLACE INTO parks VALUES (?, ?, ?, ?)",
                       (name, name_zh, note, created))
        return ParkInfo(name, name_zh, note, created)

    def rename_park(self, old: str, new: str) -> None:
        """Move a registered park's fields to a new name (and its run jobs' park)."""
        with self._write() as db:
            db.execute("UPDATE parks SET name=? WHERE name=?", (new, old))
            db.execute("UPDATE jobs SET park=? WHERE park=?", (new, old))

    def delete_park(self, name: str) -> None:
        """Forget a registered park."""
        with self._write() as db:
            db.execute("DELETE FROM parks WHERE name=?", (name,))

    # ------------------------------------------------------------------ jobs

    def add_job(self, park: str | None, parameters: dict[str, Any], version: int | None,
                created_by: str) -> Job:
        """A queued run."""
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO jobs (status, progress, phase, park, parameters, created_at, "
                "dataset_version, created_by) VALUES ('queued', 0, 'queued', ?, ?, ?, ?, ?)",
                (park, json.dumps(parameters), now_iso(), version, created_by))
            job_id = int(cur.lastrowid or 0)
        job = self.job(job_id)
        assert job is not None
        return job

    def job(self, job_id: int) -> Job | None:
        """One job without its result."""
        rows = self._read(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id=?", (job_id,))
        return _job(rows[0]) if rows else None

    def jobs(self, park: str | None = None, *, any_park: bool = True,
             status: str | None = None, limit: int = 100, offset: int = 0
             ) -> tuple[list[Job], int]:
        """Jobs newest first: all (`any_park`), or those of one park (None = whole region),
        optionally of one status; and how many there are in all."""
        clauses: list[str] = []
        args: tuple[Any, ...] = ()
        if not any_park:
            clauses.append("park IS NULL" if park is None else "park=?")
            args += () if park is None else (park,)
        if status is not None:
            clauses.append("status=?")
            args += (status,)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        total = int(self._read(f"SELECT count(*) FROM jobs {where}", args)[0][0])
        rows = self._read(f"SELECT {_JOB_COLUMNS} FROM jobs {where} ORDER BY id DESC "
                          "LIMIT ? OFFSET ?", (*args, limit, offset))
        return [_job(r) for r in rows], total

    def job_progress(self, job_id: int, phase: str, progress: float) -> None:
        """Mark a job running at `phase`."""
        with self._write() as db:
            db.execute("UPDATE jobs SET status='running', phase=?, progress=?, "
                       "started_at=coalesce(started_at, ?) WHERE id=? AND status IN "
                       "('queued', 'running')", (phase, progress, now_iso(), job_id))

    def finish_job(self, job_id: int, kpis: dict[str, Any], result: dict[str, Any],
                   store_run_id: int | None) -> None:
        """Store a succeeded job's KPIs and result (gzip JSON)."""
        blob = gzip.compress(json.dumps(result, allow_nan=False).encode("utf-8"), 5)
        with self._write() as db:  # a job cancelled meanwhile stays cancelled
            db.execute("UPDATE jobs SET status='succeeded', phase='done', progress=1, "
                       "finished_at=?, kpis=?, result=?, store_run_id=? WHERE id=? AND "
                       "status IN ('queued', 'running')",
                       (now_iso(), json.dumps(kpis, allow_nan=False), blob, store_run_id,
                        job_id))

    def fail_job(self, job_id: int, error: str) -> None:
        """Mark an unfinished job failed with a message a user can act on."""
        with self._write() as db:
            db.execute("UPDATE jobs SET status='failed', phase='failed', finished_at=?, "
                       "error=? WHERE id=? AND status IN ('queued', 'running')",
                       (now_iso(), error, job_id))

    def cancel_job(self, job_id: int, reason: str) -> bool:
        """Mark a queued or running job cancelled; False if it had finished."""
        with self._write() as db:
            return db.execute("UPDATE jobs SET status='cancelled', phase='cancelled', "
                              "finished_at=?, error=? WHERE id=? AND status IN ('queued', "
                              "'running')", (now_iso(), reason, job_id)).rowcount == 1

    def fail_unfinished(self, error: str) -> int:
        """Fail jobs a previous server process left queued or running."""
        with self._write() as db:
            return db.execute("UPDATE jobs SET status='failed', phase='failed', finished_at=?, "
                              "error=? WHERE status IN ('queued', 'running')",
                              (now_iso(), error)).rowcount

    def job_result_gzip(self, job_id: int) -> bytes | None:
        """A succeeded job's result as stored: gzip of its JSON (served as it is)."""
        rows = self._read("SELECT result FROM jobs WHERE id=?", (job_id,))
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else None

    def job_result(self, job_id: int) -> dict[str, Any] | None:
        """A succeeded job's result, parsed."""
        blob = self.job_result_gzip(job_id)
        if blob is None:
            return None
        data: dict[str, Any] = json.loads(gzip.decompress(blob))
        return data

    # ------------------------------------------------------------------ proposals

    def add_proposals(self, rows: list[dict[str, Any]], key_id: str, role: str,
                      actor_side: str) -> tuple[list[int], int]:
        """Insert proposals (existing (source, offer, need) ones are kept); returns the ids
        of every row asked for and how many were new. Each new one gets a 'proposed' event.
        A row's `supplier_uid` / `receiver_uid` are its parties' identities (None: none)."""
        ids: list[int] = []
        created = 0
        at = now_iso()
        with self._write() as db:
            for r in rows:
                cur = db.execute(
                    "INSERT OR IGNORE INTO proposals (source, offer_id, need_id, supplier_id, "
                    "receiver_id, supplier_park, receiver_park, offer_material, need_material, "
                    "unit, quantity, distance_km, status, created_at, created_by, "
                    "supplier_uid, receiver_uid) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'proposed', ?, ?, ?, ?)",
                    (r["source"], r["offer_id"], r["need_id"], r["supplier_id"],
                     r["receiver_id"], r["supplier_park"], r["receiver_park"],
                     r["offer_material"], r["need_material"], r["unit"], r["quantity"],
                     r["distance_km"], at, key_id, r.get("supplier_uid"),
                     r.get("receiver_uid")))
                pid = int(db.execute("SELECT id FROM proposals WHERE source=? AND offer_id=? "
                                     "AND need_id=?", (r["source"], r["offer_id"],
                                                       r["need_id"])).fetchone()[0])
                if cur.rowcount == 1:
                    created += 1
                    db.execute("INSERT INTO proposal_events (proposal_id, at, action, "
                               "actor_side, key_id, role) VALUES (?, ?, 'proposed', ?, ?, ?)",
                               (pid, at, actor_side, key_id, role))
                ids.append(pid)
        return ids, created

    def proposal(self, proposal_id: int) -> Proposal | None:
        """One proposal."""
        rows = self._read("SELECT * FROM proposals WHERE id=?", (proposal_id,))
        return Proposal(*rows[0]) if rows else None

    def proposals(self) -> list[Proposal]:
        """Every proposal, newest first (the caller filters by scope)."""
        return [Proposal(*r) for r in self._read("SELECT * FROM proposals ORDER BY id DESC")]

    def proposal_events(self, proposal_id: int) -> list[ProposalEvent]:
        """A proposal's audit trail, oldest first."""
        return [ProposalEvent(*r) for r in self._read(
            "SELECT * FROM proposal_events WHERE proposal_id=? ORDER BY id", (proposal_id,))]

    def act_on_proposal(self, proposal_id: int, side: str, action: str, key_id: str,
                        role: str, note: str = "") -> Proposal:
        """Record `side`'s accept or decline, atomically with the state change it makes:
        both sides accepted -> agreed. Raises ValueError when the proposal cannot move so."""
        at = now_iso()
        with self._write() as db:
            row = db.execute("SELECT status, supplier_accepted_at, receiver_accepted_at "
                             "FROM proposals WHERE id=?", (proposal_id,)).fetchone()
            if row is None:
                raise KeyError(proposal_id)
            status, sup_at, rec_at = row
            if status in ("agreed", "declined"):
                raise ValueError(f"proposal {proposal_id} is already {status}")
            mine = sup_at if side == "supplier" else rec_at
            events = [(action, side)]
            if action == "decline":
                db.execute("UPDATE proposals SET status='declined', declined_at=? WHERE id=?",
                           (at, proposal_id))
            else:
                if mine is not None:
                    raise ValueError(f"the {side} already accepted proposal {proposal_id}")
                column = f"{side}_accepted_at"
                other = rec_at if side == "supplier" else sup_at
                status = "agreed" if other is not None else f"accepted_by_{side}"
                db.execute(f"UPDATE proposals SET {column}=?, status=?, agreed_at=? WHERE id=?",
                           (at, status, at if status == "agreed" else None, proposal_id))
                if status == "agreed":
                    events.append(("agreed", "system"))
            for act, actor in events:
                db.execute("INSERT INTO proposal_events (proposal_id, at, action, actor_side, "
                           "key_id, role, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (proposal_id, at, act, actor, key_id if actor != "system" else "",
                            role if actor != "system" else "system", note))
        out = self.proposal(proposal_id)
        assert out is not None
        return out
