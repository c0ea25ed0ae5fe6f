"""The region's dataset as the API sees it: a cached snapshot of the store's current
version, and edits that go through the same validation as a file, all or nothing.

Every store call holds one lock: the SQLite store shares one connection between request
threads, and a reader must never see an import half done. Reads are served from the
snapshot, rebuilt only when the store's version changes (also by a CLI import).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from symbiosis.errors import InvalidDataError, Problem, StoreUnavailableError
from symbiosis.store import (
    DatasetRows,
    DatasetVersion,
    Repository,
    RunInfo,
    RunRecord,
    dataset_from_rows,
    rows_from_dataset,
)
from symbiosis.store.base import StoreConflictError
from symbiosis.store.records import RowWrite, apply_row_write, next_row_id
from symbiosis.types import Row

if TYPE_CHECKING:
    from symbiosis.dataset import Dataset

__all__ = ["EMPTY_ROWS", "WRITE_ATTEMPTS", "Region", "Snapshot", "blank", "dataset_etag"]

# compare-and-swap attempts of one write before answering 503 (another process, e.g.
# `symbiosis db import` or a second server on the same store, kept moving the version);
# between attempts a random wait of up to 5 ms x 2^attempt (capped at 0.5 s): random, so
# servers that lost to each other do not retry in step (full-jitter exponential backoff)
WRITE_ATTEMPTS = 40

EMPTY_ROWS = DatasetRows(
    enterprises=[], offers=[], needs=[], distances=[], substitutions=None,
    offer_columns=("id", "enterprise_id", "material", "quantity", "unit", "disposal_cost",
                   "treatment_cost"),
    need_columns=("id", "enterprise_id", "material", "quantity", "unit", "virgin_cost"))


def dataset_etag(version: DatasetVersion | None) -> str:
    """The strong ETag of a dataset version (RFC 9110 8.8.3): its number and content hash,
    so a tag from another store (or a store made again) never matches by number alone.
    `"ds-0"` for an empty store."""
    if version is None:
        return '"ds-0"'
    return f'"ds-{version.version}-{version.hash[:16]}"'


def blank(value: Any) -> Any:
    """'' and None are both 'not given' in stored rows."""
    return None if value == "" else value


@dataclass
class Snapshot:
    """One version of the region's rows with lookups by id (treat as read-only)."""

    version: DatasetVersion | None
    rows: DatasetRows
    _dataset: Dataset | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.enterprises: dict[str, Row] = {str(e["id"]): e for e in self.rows.enterprises}
        self.offers: dict[str, Row] = {str(o["id"]): o for o in self.rows.offers}
        self.needs: dict[str, Row] = {str(n["id"]): n for n in self.rows.needs}

    @property
    def etag(self) -> str:
        """The ETag of this version (`dataset_etag`)."""
        return dataset_etag(self.version)

    @property
    def version_number(self) -> int | None:
        """The store version, None for an empty store."""
        return self.version.version if self.version else None

    def park_of(self, enterprise_id: str) -> str | None:
        """The park of an enterprise (None: no park or no such enterprise)."""
        ent = self.enterprises.get(enterprise_id)
        return blank(ent.get("park")) if ent else None

    def dataset(self) -> Dataset:
        """The validated dataset of this version (built once, on first use)."""
        with self._lock:
            if self._dataset is None:
                self._dataset = dataset_from_rows(self.rows, source="store")
            return self._dataset


class Region:
    """The store behind the API: snapshot reads, validated all-or-nothing edits, runs."""

    def __init__(self, store: Repository) -> None:
        self.store = store
        self._lock = threading.RLock()
        self._snapshot: Snapshot | None = None

    @property
    def lock(self) -> threading.RLock:
        """Hold it to read and then write with nothing in between (it is reentrant)."""
        return self._lock

    def snapshot(self) -> Snapshot:
        """The current data (one cheap version query; a reload only after a new import)."""
        with self._lock:
            version = self.store.current_version()
            cached = self._snapshot
            if cached is not None and (cached.version == version):
                return cached
            rows = self.store.dataset_rows() if version is not None else EMPTY_ROWS
            self._snapshot = Snapshot(version, rows)
            return self._snapshot

    def edit(self, change: Callable[[DatasetRows], DatasetRows], source: str,
             focus: tuple[str, int] | None = None, dataset: Dataset | None = None,
             check: Callable[[Snapshot], None] | None = None) -> Snapshot:
        """Apply `change` to the current rows, validate the whole dataset as a file would be
        and import it as a new version with compare-and-swap on the version it was computed
        from; InvalidDataError leaves the store as it was.

        Under the region lock: `check(snapshot)` (If-Match, the version an upload was based
        on: it raises to refuse), `change`, validation, then the import, which writes only
        if the store is still at the snapshot's version. If another process moved the
        version in between, the whole step runs again on fresh data (`check` included, so a
        caller that named a version gets its 412 or 409 then), up to `WRITE_ATTEMPTS` times:
        an edit never silently reverts a write it did not see.

        `focus` = (table, index) of the row the request wrote: its problems are reported
        against the request body's fields instead of a row number. `dataset`: the
        validated dataset of `change`'s answer, if the caller has it already (an upload).

        Raises:
            InvalidDataError: the new rows break the dataset contract.
            StoreUnavailableError: the version kept moving (answered 503 with Retry-After).
        """
        for attempt in range(WRITE_ATTEMPTS):
            with self._lock:
                snap = self.snapshot()
                if check is not None:
                    check(snap)
                new_rows = change(snap.rows)
                new_dataset = dataset
                if new_dataset is None:
                    try:
                        new_dataset = dataset_from_rows(new_rows, source="api")
                    except InvalidDataError as exc:
                        raise InvalidDataError(_refocus(exc.problems, focus)) from None
                try:
                    version = self.store.import_dataset(
                        new_dataset, source=source,
                        expected_version=snap.version_number or 0)
                except StoreConflictError:
                    self._snapshot = None  # lost the race: read again, check and retry
                else:
                    self._snapshot = Snapshot(version, rows_from_dataset(new_dataset),
                                              new_dataset)
                    return self._snapshot
            _backoff(attempt)  # outside the lock: let the other writer finish
        raise StoreUnavailableError(
            f"the store kept changing under this write ({WRITE_ATTEMPTS} attempts); retry")

    def write(self, write: RowWrite, source: str,
              check: Callable[[Snapshot], None] | None = None) -> tuple[Snapshot, str]:
        """Write ONE row (`RowWrite`) as one store transaction, validated as a file would be.

        Under the region lock: `check(snapshot)` (visibility, If-Match: it raises to refuse),
        then the dataset with the row applied is validated (the same `dataset_from_rows` as
        `edit`; an `add` without id is validated under a free placeholder id), then the store
        writes the row with compare-and-swap on the version the check and validation saw. The
        id of an `add` without one is picked by the store inside its transaction. If another
        process moved the version in between, the whole step runs again on fresh data (up to
        `WRITE_ATTEMPTS` times), so no acknowledged write is lost or applied to stale data.

        Returns the new snapshot and the row's id.

        Raises:
            InvalidDataError: the row breaks the dataset contract (problems refer to `body`).
            StoreConflictError: an `add` with an id that exists or was deleted.
            StoreError: no dataset yet, an unknown enterprise.
            StoreUnavailableError: the version kept moving (answered 503 with Retry-After).
        """
        for attempt in range(WRITE_ATTEMPTS):
            with self._lock:
                snap = self.snapshot()
                if check is not None:
                    check(snap)
                table = write.table
                probe = None
                if write.action == "add" and write.id is None:
                    taken = {str(r["id"]) for r in getattr(snap.rows, table)}
                    probe = next_row_id(table, 0, taken)[0]
                applied = apply_row_write(snap.rows, write, set(), probe)
                if write.action != "delete":
                    body = getattr(applied.rows, table)
                    at = next(i for i, r in enumerate(body) if r["id"] == applied.id)
                    try:
                        dataset_from_rows(applied.rows, source="api")
                    except InvalidDataError as exc:
                        raise InvalidDataError(_refocus(exc.problems, (table, at))) from None
                try:
                    result = self.store.write_row(write, expected_version=snap.version_number,
                                                  source=source)
                except StoreConflictError:
                    if self.store.current_version() == snap.version:
                        raise  # not a race: the id exists or was retired
                    self._snapshot = None  # lost the race: read again, check and retry
                else:
                    done = apply_row_write(snap.rows, write, set(), result.id)
                    self._snapshot = Snapshot(result.version, done.rows)
                    return self._snapshot, result.id
            _backoff(attempt)  # outside the lock: let the other writer finish
        raise StoreUnavailableError(
            f"the store kept changing under this write ({WRITE_ATTEMPTS} attempts); retry")

    def uid_of(self, enterprise_id: str) -> str | None:
        """The internal identity of the enterprise with this display id now (None: none)."""
        with self._lock:
            return self.store.enterprise_uid(enterprise_id)

    def uids(self) -> dict[str, str]:
        """Every current enterprise's internal identity, by display id."""
        with self._lock:
            return self.store.enterprise_uids()

    # the store's runs, under the same lock

    def save_run(self, record: RunRecord) -> RunInfo:
        """Keep a finished run in the store (so `symbiosis runs diff` sees it too)."""
        with self._lock:
            return self.store.save_run(record)

    def run(self, run_id: int) -> RunRecord:
        """A stored run with its exchanges."""
        with self._lock:
            return self.store.run(run_id)

    def versions(self) -> list[DatasetVersion]:
        """Every import, oldest first."""
        with self._lock:
            return self.store.versions()

    def close(self) -> None:
        """Close the store."""
        with self._lock:
            self.store.close()


def _backoff(attempt: int) -> None:
    """Wait a random time before compare-and-swap attempt `attempt + 1` (see
    WRITE_ATTEMPTS)."""
    time.sleep(random.uniform(0.0, min(0.5, 0.005 * 2 ** attempt)))


def _refocus(problems: list[Problem], focus: tuple[str, int] | None) -> list[Problem]:
    if focus is None:
        return problems
    table, index = focus
    out = []
    for p in problems:
        if p.file == table and p.row == index + 2:
            column = {"q.": "quality.", "min.": "min.", "max.": "max."}
            name = p.column or None
            for prefix, field_prefix in column.items():
                if name and name.startswith(prefix):
                    name = field_prefix + name[len(prefix):]
            out.append(replace(p, file="body", row=None, column=name))
        else:
            out.append(p)
    return out
