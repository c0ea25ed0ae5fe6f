"""A real Neo4j 5 for the store tests: the launcher in tools/neo4j (Neo4j 5.26 community,
embedded, from Maven Central), built with Maven on first use and started on a free loopback
port with its data in a temporary folder. The same `tools/neo4j/run` script is the command
people working on the store use by hand."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NEO4J_RUN", "Neo4jServer", "free_port", "start_neo4j"]

ROOT = Path(__file__).resolve().parents[1]
NEO4J_RUN = ROOT / "tools" / "neo4j" / "run"
START_TIMEOUT_S = 600.0  # a cold Maven download and build included (about 15 s here)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Neo4jServer:
    """A running Neo4j: its process, Bolt port and data folder."""

    process: subprocess.Popen[str]
    port: int
    folder: Path

    def url(self) -> str:
        """bolt://127.0.0.1:PORT (community edition: one database, `neo4j`)."""
        return f"bolt://127.0.0.1:{self.port}"

    def wipe(self) -> None:
        """Delete every node and relationship (the community edition has one user database,
        so tests share it and start from empty; constraints and indexes stay)."""
        import neo4j

        with neo4j.GraphDatabase.driver(self.url(), auth=None) as driver, \
                driver.session() as session:  # IN TRANSACTIONS needs an auto-commit one
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } "
                        "IN TRANSACTIONS OF 10000 ROWS").consume()

    def cypher(self, query: str, **params: object) -> list[dict[str, object]]:
        """Run one statement on the server directly (not through the store)."""
        import neo4j

        with neo4j.GraphDatabase.driver(self.url(), auth=None) as driver, \
                driver.session() as session:
            return [dict(r) for r in session.run(query, params)]  # type: ignore[arg-type]

    def stop(self) -> None:
        """Close its standard input (it shuts down cleanly) and wait; kill if it hangs."""
        if self.process.poll() is None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_neo4j(folder: Path, port: int = 0) -> Neo4jServer:
    """Start `tools/neo4j/run folder port` (it builds the launcher first if needed) and wait
    for the bolt URL it prints when the database is ready.

    Raises:
        RuntimeError: the launcher exited or printed no URL (its log is in the message).
    """
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "launcher.log"
    log = log_path.open("w")
    process = subprocess.Popen([str(NEO4J_RUN), str(folder / "db"), str(port)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                               text=True, cwd=ROOT, env={**os.environ, "MAVEN_OPTS": ""})
    log.close()
    assert process.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    reader.join(START_TIMEOUT_S)
    line = lines[0].strip() if lines else ""
    if not line.startswith("bolt://"):
        if process.poll() is None:
            process.kill()
        process.wait()
        raise RuntimeError(f"Neo4j did not start: {line!r}\n" + log_path.read_text()[-4000:])
    server = Neo4jServer(process, int(line.rsplit(":", 1)[1]), folder)
    deadline = time.monotonic() + 60
    while True:  # the URL is printed once Bolt listens; check it does
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                return server
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"Neo4j printed {line} but does not listen") from None
            time.sleep(0.1)
