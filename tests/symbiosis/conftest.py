"""Fixtures of the store tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_support import Neo4jServer

BACKENDS = ["sqlite", "neo4j"]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store of each kind (the Neo4j one is the session's server, wiped)."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'store' / 'symbiosis.db'}"
    server: Neo4jServer = request.getfixturevalue("neo4j_server")
    server.wipe()
    return server.url()
