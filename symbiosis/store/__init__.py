"""The store: a region's dataset, its versions and its match runs, kept between commands.

`open_store(url)` gives a `Repository`: SQLite (`sqlite:///path`, the default, created on
first use) or Neo4j over Bolt (`neo4j://host:7687`, `bolt://host:7687`). Both implement
the same protocol and pass the same contract tests. This package never imports ortools or
the matching layer; the neo4j driver is imported only when a Bolt store is opened.
"""

from __future__ import annotations

import os

from symbiosis.store.base import (
    Repository,
    StoreURL,
    default_store_url,
    parse_store_url,
)
from symbiosis.store.records import (
    DatasetRows,
    DatasetVersion,
    Park,
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
    "RunInfo",
    "RunRecord",
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


def open_store(url: str | None = None, *, retries: int | None = None,
               backoff_s: float | None = None) -> Repository:
    """Open (and create or migrate) the store at `url` (default: `default_store_url()`).

    Bolt connections are retried `retries` times (env SYMBIOSIS_STORE_RETRIES, default 5)
    with exponential backoff from `backoff_s` (default 0.2 s).
    """
    target = parse_store_url(url or default_store_url())
    if target.is_sqlite:
        from symbiosis.store.sqlite import SqliteRepository

        assert target.path is not None
        return SqliteRepository(target.path)
    from symbiosis.store.graph import GraphRepository

    tries = retries if retries is not None else int(os.environ.get("SYMBIOSIS_STORE_RETRIES",
                                                                   "5"))
    return GraphRepository(target, retries=tries,
                           backoff_s=0.2 if backoff_s is None else backoff_s)
