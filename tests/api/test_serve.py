"""`symbiosis serve` and `symbiosis keys` as real processes: the first start makes an admin
key and prints the page's URL with it; keys are created, listed and revoked, hashed."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from api_support import free_port

if TYPE_CHECKING:
    from conftest import CliRunner


def test_serve_demo_prints_a_url_with_a_key_and_logs_json(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SYMBIOSIS_STORE": f"sqlite://{tmp_path / 'store.db'}",
           "SYMBIOSIS_STATE": str(tmp_path / "api.db"), "SYMBIOSIS_PORT": str(port)}
    exe = [sys.executable, "-c", "from api.cli import main; main()"]
    proc = subprocess.Popen([*exe, "serve", "--demo"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith(f"http://127.0.0.1:{port}/#key=sk_"), line
        key = line.split("#key=")[1]
        for _ in range(600):
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health")
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert health.json()["dataset_version"] == 1
        me = httpx.get(f"http://127.0.0.1:{port}/api/me", headers={
            "Authorization": f"Bearer {key}", "X-Request-ID": "req-7"})
        assert me.json()["role"] == "admin"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    logs = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    request = next(r for r in logs if r["msg"] == "request" and r["path"] == "/api/me")
    assert request["request_id"] == "req-7" and request["status"] == 200
    assert request["key_id"] == key.split("_")[1] and request["level"] == "info"
    # only the hash of the secret is stored
    with sqlite3.connect(tmp_path / "api.db") as db:
        stored = db.execute("SELECT id, hash FROM api_keys").fetchall()
    assert len(stored) == 1 and key.split("_", 2)[2] not in stored[0][1]


def test_keys_create_list_revoke(run_cli: CliRunner, tmp_path: Path) -> None:
    state = ["--store", f"sqlite://{tmp_path / 's.db'}", "--state", str(tmp_path / "k.db")]
    made = run_cli("keys", "create", "--role", "park_manager", "--scope", "Park A",
                   "--label", "manager", *state)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("sk_") and "park_manager for 'Park A'" in made.stderr
    listed = run_cli("keys", "list", *state)
    assert key.split("_")[1] in listed.stdout and key.split("_", 2)[2] not in listed.stdout
    bad = run_cli("keys", "create", "--role", "admin", "--scope", "Park A", *state)
    assert bad.returncode == 2 and "scope" in bad.stderr
    gone = run_cli("keys", "revoke", key.split("_")[1], *state)
    assert gone.returncode == 0
    again = run_cli("keys", "revoke", key.split("_")[1], *state)
    assert again.returncode == 1 and "no active key" in again.stderr


def test_bad_settings_are_named_without_a_traceback(tmp_path: Path) -> None:
    exe = [sys.executable, "-c", "from api.cli import main; main()"]
    env = {**os.environ, "SYMBIOSIS_STORE": f"sqlite://{tmp_path / 's.db'}",
           "SYMBIOSIS_PORT": "eighty", "SYMBIOSIS_RUN_WORKERS": "0"}
    bad = subprocess.run([*exe, "serve"], env=env, capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 1, bad.stderr
    assert "SYMBIOSIS_PORT" in bad.stderr and "SYMBIOSIS_RUN_WORKERS" in bad.stderr
    assert "Traceback" not in bad.stderr
    env = {**env, "SYMBIOSIS_PORT": "8000", "SYMBIOSIS_RUN_WORKERS": "1",
           "SYMBIOSIS_ADMIN_KEY": "letmein"}
    bad = subprocess.run([*exe, "serve"], env=env, capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 1 and "SYMBIOSIS_ADMIN_KEY must look like" in bad.stderr
    assert "Traceback" not in bad.stderr
