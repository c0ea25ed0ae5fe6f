"""The store: a region's dataset, its versions and its match runs, kept between commands.

`open_store(url)` gives a `Repository`: SQLite (`sqlite:///path`, the default, created on
first use) or Neo4j over Bolt (`neo4j://host:7687`, `bolt://host:7687`). Both implement
the same protocol and pass the same contract tests. This package never imports ortools or
the matching layer; the neo4j driver is imported only when a Bolt store is opened.
"""

from __future__ import annotations

import os

from symbiosis.errors import StoreError
from symbiosis.store.base import (
    Repository,
    StoreConflictError,
    StoreURL,
    default_store_url,
    parse_store_url,
)
from symbiosis.store.records import (
    DatasetRows,
    DatasetVersion,
    Park,
    RowWrite,
    RowWriteResult,
    RunInfo,
    RunRecord,
    dataset_from_rows,
    diff_runs,
    json_safe,
    park_rows,
    rows_from_dataset,
    subset_rows,
    write_dataset_folder,
)

__all__ = [
    "DatasetRows",
    "DatasetVersion",
    "Park",
    "Repository",
    "RowWrite",
    "RowWriteResult",
    "RunInfo",
    "RunRecord",
    "StoreConflictError",
    "StoreURL",
    "dataset_from_rows",
    "default_store_url",
    "diff_runs",
    "json_safe",
    "open_store",
    "park_rows",
    "parse_store_url",
    "rows_from_dataset",
    "subset_rows",
    "write_dataset_folder",
]


def open_store(url: str | None = None, *, retry_s: float | None = None,
               busy_timeout_s: float | None = None) -> Repository:
    """Open (and create or migrate) the store at `url` (default: `default_store_url()`).

    A Bolt store retries a transaction that failed transiently (a refused or lost
    connection, a deadlock) for `retry_s` seconds (env SYMBIOSIS_STORE_RETRY_S, default 30)
    with the driver's exponential backoff, then raises `StoreUnavailableError`. A SQLite
    store's writer waits `busy_timeout_s` (default 60) for another writer's lock, then raises
    `StoreUnavailableError`.

    Raises:
        StoreError: a bad URL, or a server that refused the schema or is not Neo4j 5.
        StoreUnavailableError: the file or server cannot be reached.
    """
    target = parse_store_url(url or default_store_url())
    if target.is_sqlite:
        from symbiosis.store.sqlite import SqliteRepository

        assert target.path is not None
        if busy_timeout_s is None:
            return SqliteRepository(target.path)
        return SqliteRepository(target.path, busy_timeout_s)
    from symbiosis.store.graph import GraphRepository

    if retry_s is None:
        text = os.environ.get("SYMBIOSIS_STORE_RETRY_S", "30")
        try:
            retry_s = float(text)
        except ValueError:
            raise StoreError(f"SYMBIOSIS_STORE_RETRY_S={text!r} is not a number of "
                             "seconds") from None
    return GraphRepository(target, retry_s=retry_s)
