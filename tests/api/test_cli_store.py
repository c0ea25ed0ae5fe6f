"""`symbiosis db`, `symbiosis runs`, `match --save` as real processes, on a SQLite file
and on the session's Neo4j."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from store_support import Neo4jServer, free_port

from symbiosis.dataset import load_dataset
from symbiosis.store import open_store

if TYPE_CHECKING:
    from conftest import CliRunner, DatasetTables


def test_import_export_round_trip(run_cli: CliRunner, demo_path: Path, tmp_path: Path) -> None:
    store = f"sqlite://{tmp_path / 'db' / 's.db'}"
    init = run_cli("db", "init", "--store", store)
    assert init.returncode == 0, init.stderr
    assert "holds no dataset yet" in init.stdout
    done = run_cli("db", "import", demo_path, "--store", store)
    assert done.returncode == 0, done.stderr
    assert "as version 1: 43 enterprises, 38 offers, 48 needs, 12 parks" in done.stdout
    out = tmp_path / "export"
    exported = run_cli("db", "export", out, "--store", store)
    assert exported.returncode == 0, exported.stderr
    assert run_cli("validate", out).returncode == 0
    a, b = load_dataset(demo_path), load_dataset(out)
    for name in ("enterprises", "offers", "needs", "distances"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_like=True)
    history = run_cli("db", "history", "--store", store)
    assert "1 *" in history.stdout


def test_bad_dataset_writes_nothing(run_cli: CliRunner, dataset_tables: DatasetTables,
                                    tmp_path: Path) -> None:
    store = f"sqlite://{tmp_path / 's.db'}"
    dataset_tables.set("offers", 3, "quantity", "abc")
    bad = run_cli("db", "import", dataset_tables.write_csv(tmp_path / "bad"), "--store", store)
    assert bad.returncode == 1
    assert "offers.csv:3:quantity: not a finite number: 'abc'" in bad.stderr
    assert "Traceback" not in bad.stderr
    with open_store(store) as repo:
        assert repo.versions() == []


def test_saved_runs_list_show_diff(run_cli: CliRunner, demo_path: Path,
                                   tmp_path: Path) -> None:
    store = f"sqlite://{tmp_path / 's.db'}"
    for km in ("60", "150"):
        run = run_cli("match", demo_path, "--out", tmp_path / f"out{km}", "--max-km", km,
                      "--save", "--store", store, "--quiet")
        assert run.returncode == 0, run.stderr
    with open_store(store) as repo:
        assert len(repo.versions()) == 1  # the second run found the same data stored
        runs = repo.runs()
        first, second = repo.run(1), repo.run(2)
    assert [r.parameters["max_km"] for r in runs] == [60.0, 150.0]
    listed = run_cli("runs", "list", "--store", store)
    assert listed.returncode == 0 and "150" in listed.stdout
    assert run_cli("db", "runs", "--store", store).stdout == listed.stdout
    shown = run_cli("runs", "show", "2", "--store", store)
    assert shown.returncode == 0 and "Largest exchanges" in shown.stdout
    diff = run_cli("runs", "diff", "1", "2", "--store", store)
    assert diff.returncode == 0, diff.stderr
    keys = [{(x["offer_enterprise_id"], x["need_enterprise_id"], x["offer_material"],
              x["need_material"]) for x in r.exchanges} for r in (first, second)]
    assert f"{len(keys[1] - keys[0])} appeared, {len(keys[0] - keys[1])} vanished" \
        in diff.stdout
    missing = run_cli("runs", "show", "9", "--store", store)
    assert missing.returncode == 1 and "no run 9" in missing.stderr


def test_bolt_store_from_the_cli(run_cli: CliRunner, neo4j_server: Neo4jServer,
                                 demo_path: Path, tmp_path: Path) -> None:
    neo4j_server.wipe()
    store = neo4j_server.url()
    done = run_cli("db", "import", demo_path, "--store", store)
    assert done.returncode == 0, done.stderr
    run = run_cli("match", demo_path, "--out", tmp_path / "o", "--save", "--store", store,
                  "--quiet")
    assert run.returncode == 0, run.stderr
    shown = run_cli("runs", "show", "1", "--store", store)
    assert shown.returncode == 0 and "version 1" in shown.stdout
    exported = run_cli("db", "export", tmp_path / "x", "--store", store)
    assert exported.returncode == 0
    assert run_cli("validate", tmp_path / "x").returncode == 0


def test_unreachable_store_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SYMBIOSIS_STORE": f"bolt://127.0.0.1:{port}",
           "SYMBIOSIS_STORE_RETRY_S": "0", "NO_COLOR": "1", "COLUMNS": "200"}
    run = subprocess.run([sys.executable, "-m", "symbiosis.api.cli", "runs", "list"], env=env,
                         capture_output=True, text=True, cwd=tmp_path, check=False)
    assert run.returncode == 1
    assert "unreachable" in run.stderr and f"127.0.0.1:{port}" in run.stderr
    assert "Traceback" not in run.stderr
