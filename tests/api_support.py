"""A live API server for the tests: real uvicorn on a free loopback port, a real SQLite
store and state file in a temp folder, the demo dataset imported, and an admin key."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from symbiosis.api.server.app import create_app
from symbiosis.api.server.settings import Settings

ADMIN_KEY = "sk_000000000001_" + "A" * 43


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A running server and what the tests need to talk to it."""

    url: str
    folder: Path
    app: Any
    server: uvicorn.Server
    thread: threading.Thread
    keys: dict[str, str] = field(default_factory=dict)

    def client(self, key: str | None = ADMIN_KEY, **headers: str) -> httpx.Client:
        """An HTTP client sending `key` (None: no key)."""
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=120.0)

    def key(self, role: str, scope: str, label: str = "") -> str:
        """A key for role and scope, issued through the API by the admin (cached)."""
        name = f"{role}:{scope}"
        if name not in self.keys:
            with self.client() as c:
                r = c.post("/api/keys", json={"role": role, "scope": scope, "label": label})
                assert r.status_code == 201, r.text
                self.keys[name] = r.json()["key"]
        return self.keys[name]

    def stop(self) -> None:
        """Shut down and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=60)


def start_server(folder: Path, dataset: Path | None = None, **settings: Any) -> LiveServer:
    """Start a server on a fresh store in `folder` (or `store=URL`), optionally importing
    `dataset`."""
    folder.mkdir(parents=True, exist_ok=True)
    settings.setdefault("store", f"sqlite://{folder / 'store.db'}")
    config = Settings(state=folder / "api.db", admin_key=ADMIN_KEY, **settings)
    app = create_app(config)
    if dataset is not None:
        from symbiosis.dataset import load_dataset

        app.state.services.region.edit(lambda rows: rows, "tests",
                                       dataset=load_dataset(dataset))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if server.started:
            break
        time.sleep(0.05)
    else:
        raise RuntimeError("the test server did not start")
    return LiveServer(url, folder, app, server, thread)


def serving(folder: Path, dataset: Path | None = None, **settings: Any) -> Iterator[LiveServer]:
    """A fixture body: start, yield, stop."""
    live = start_server(folder, dataset, **settings)
    try:
        yield live
    finally:
        live.stop()
