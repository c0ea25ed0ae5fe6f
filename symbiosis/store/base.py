"""The `Repository` protocol both stores implement, and the store URL parser."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from symbiosis.errors import StoreError
from symbiosis.store.records import (
    DatasetRows,
    DatasetVersion,
    Park,
    RowWrite,
    RowWriteResult,
    RunInfo,
    RunRecord,
)

if TYPE_CHECKING:
    from symbiosis.dataset import Dataset

__all__ = ["BATCH_ROWS", "Progress", "Repository", "StoreConflictError", "StoreURL",
           "default_store_url", "now_iso", "parse_store_url"]

# rows per UNWIND statement / executemany call: large enough to amortise round trips,
# small enough that one message stays well under a megabyte
BATCH_ROWS = 2000
Progress = Callable[[str, int], None]  # (table, rows written so far) after each batch


class StoreConflictError(StoreError):
    """A write lost a race: the store's version moved on since the caller read it
    (compare-and-swap), or the id it would create exists or was retired. Nothing was
    written; read again and retry (an HTTP API answers 412 or 409)."""


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the microsecond."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@runtime_checkable
class Repository(Protocol):
    """A store of one region's dataset (parks, enterprises, offers and needs with every
    column, and every optional table of the contract: substitutions, distances, transport,
    carbon, hazardous, licences, contracts, storage), its versions and its match runs.
    Writes are all-or-nothing; reads see the last complete import."""

    url: str

    def init(self) -> None:
        """Create (or migrate) the schema; safe to call on an existing store."""

    def import_dataset(self, dataset: Dataset, source: str = "",
                       progress: Progress | None = None, *,
                       expected_version: int | None = None) -> DatasetVersion:
        """Make `dataset` the store's current data as a new version, all or nothing.

        `expected_version`: the version the caller based the import on (0: an empty
        store); if the store's current version is another, nothing is written
        (compare-and-swap, so an import never silently replaces a write it did not see).
        An enterprise whose id is in the current data keeps its identity
        (`enterprise_uids`); every other one gets a new identity.

        Raises:
            StoreConflictError: the version moved on.
        """

    def enterprise_uids(self) -> dict[str, str]:
        """The internal, immutable identity of every current enterprise, by display id:
        created with the enterprise, kept by updates and by imports that list it again,
        never given to a later enterprise with the same display id (API keys and proposals
        bind to it)."""

    def enterprise_uid(self, enterprise_id: str) -> str | None:
        """The identity of the current enterprise with this display id (None: none)."""

    def current_version(self) -> DatasetVersion | None:
        """The version the current data came from (None for an empty store)."""

    def versions(self) -> list[DatasetVersion]:
        """Every import, oldest first."""

    def dataset_rows(self) -> DatasetRows:
        """The current dataset as rows (StoreError if nothing was imported)."""

    def parks(self) -> list[Park]:
        """Parks of the current dataset with their enterprise counts, by name."""

    def write_row(self, write: RowWrite, *, expected_version: int | None = None,
                  source: str = "") -> RowWriteResult:
        """Add, update or delete ONE enterprise, offer or need as one transaction that writes
        only that row (and a deleted enterprise's listings and distances) and records a new
        version with the new content hash. An `add` without an id gets one picked inside
        the transaction. `expected_version`: the version the caller read; if the store's
        current version is another, nothing is written (compare-and-swap). Deleted ids are
        retired and never created again by `write_row` (an import replaces the whole
        dataset and may bring any id back: it is the administrator's word). `source` is
        recorded with the version; a `{id}` in it is replaced by the row's id (the one the
        store picked, for an `add` without one), so the history names every row written.

        Raises:
            StoreConflictError: the version moved on, or the id exists or was retired.
            StoreError: no dataset yet, an unknown row or enterprise, a bad column.
        """

    def save_run(self, run: RunRecord) -> RunInfo:
        """Record a match run (all or nothing); returns it with its id."""

    def runs(self) -> list[RunInfo]:
        """Every stored run, oldest first."""

    def run(self, run_id: int) -> RunRecord:
        """One run with its exchanges (StoreError if there is no such run)."""

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Repository:
        """Use as a context manager: closed on exit."""

    def __exit__(self, *exc: object) -> None:
        """Close."""


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL: `sqlite:///path` or `neo4j://` / `bolt://` (+s, +ssc)."""

    scheme: str
    path: Path | None = None
    uri: str = ""
    user: str | None = None
    password: str | None = None
    database: str | None = None

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite store."""
        return self.scheme == "sqlite"


BOLT_SCHEMES = ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")


def default_store_url() -> str:
    """`SYMBIOSIS_STORE`, else `SYMBIOSIS_NEO4J_URI`, else a SQLite file under
    $XDG_DATA_HOME (~/.local/share)."""
    env = os.environ.get("SYMBIOSIS_STORE") or os.environ.get("SYMBIOSIS_NEO4J_URI")
    if env:
        return env
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite://{base / 'symbiosis' / 'symbiosis.db'}"


def parse_store_url(url: str) -> StoreURL:
    """Parse a store URL. Bolt credentials and database come from the URL
    (`bolt://user:pw@host:7687/db`) or else SYMBIOSIS_NEO4J_USER / _PASSWORD / _DATABASE."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # everything after 'sqlite://' is the path: sqlite:///tmp/a.db -> /tmp/a.db,
        # sqlite://a.db -> a.db (relative), sqlite://~/a.db -> the home folder
        raw = unquote(url.split("://", 1)[1])
        if not raw.strip("/"):
            raise StoreError(f"store URL '{url}' names no file; use sqlite:///path/to.db")
        path = Path(raw)
        return StoreURL("sqlite", path=path.expanduser())
    if scheme in BOLT_SCHEMES:
        if not parts.hostname:
            raise StoreError(f"store URL '{url}' names no host; e.g. bolt://localhost:7687")
        port = f":{parts.port}" if parts.port else ""
        database = parts.path.strip("/") or os.environ.get("SYMBIOSIS_NEO4J_DATABASE") or None
        return StoreURL(
            scheme, uri=f"{scheme}://{parts.hostname}{port}",
            user=unquote(parts.username) if parts.username
            else os.environ.get("SYMBIOSIS_NEO4J_USER", "neo4j"),
            password=unquote(parts.password) if parts.password is not None
            else os.environ.get("SYMBIOSIS_NEO4J_PASSWORD"),
            database=database)
    raise StoreError(f"unknown store URL '{url}': use sqlite:///path, neo4j://host:port "
                     "or bolt://host:port")
