"""`symbiosis sweep` (issue 16 follow-up, issue 17 item 3): a grid or table of scenarios,
one CSV row each, equal to solving each scenario on its own with `solve_match`; the same
rows from a real two-worker Dask LocalCluster; bad scenarios named file:row:column with
nothing written.

The dataset is the hand-solved contract-cost instance of tests/matching/test_milp.py:
fly ash saving 30 CNY/t disposal - 10 km x 1 CNY/t.km = 20 CNY/t per exchange. With a
500 CNY contract O1 (100 t) nets 1,500; O2 nets 20 x q - 500 when that is positive.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import CliRunner

from symbiosis.dataset import load_dataset
from symbiosis.matching import MatchOptions, solve_match

TABLES = {
    "enterprises": [["id", "name", "lon", "lat"], ["A", "A", "112.9", "27.8"],
                    ["B", "B", "112.9", "27.8"], ["D", "D", "112.9", "27.8"]],
    "offers": [["id", "enterprise_id", "material", "quantity", "disposal_cost"],
               ["O1", "A", "fly_ash", "100", "30"], ["O2", "D", "fly_ash", "20", "30"]],
    "needs": [["id", "enterprise_id", "material", "quantity"], ["N1", "B", "fly_ash", "200"]],
    "distances": [["from_id", "to_id", "distance_km"], ["A", "B", "10"], ["D", "B", "10"]],
    "transport": [["material", "cny_per_unit_km", "loading_cny_per_unit"], ["", "1", "0"]],
}
# (contract_cost, O2 quantity) -> saving, CNY/yr, by hand
EXPECTED = {("0", "20"): 2400.0, ("0", "50"): 3000.0,
            ("500", "20"): 1500.0, ("500", "50"): 2000.0}


def _write(folder: Path, tables: dict[str, list[list[str]]]) -> Path:
    folder.mkdir(parents=True)
    for name, rows in tables.items():
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(rows)
    return folder


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return _write(tmp_path / "ds", TABLES)


def _grid(run_cli: CliRunner, dataset: Path, out: Path, *extra: str) -> list[dict[str, str]]:
    done = run_cli("sweep", dataset, "--param", "contract_cost=0,500", "--param",
                   "offer:O2=20,50", "--objective", "cost", "--mip-gap", "0", "--out", out,
                   *extra)
    assert done.returncode == 0, done.stderr
    return _rows(out / "sweep.csv")


def test_grid_sweep_equals_solving_each_scenario_alone(run_cli: CliRunner, dataset: Path,
                                                       tmp_path: Path) -> None:
    rows = _grid(run_cli, dataset, tmp_path / "out")
    assert [(r["contract_cost"], r["offer:O2"]) for r in rows] == list(EXPECTED)
    for row in rows:
        key = (row["contract_cost"], row["offer:O2"])
        assert float(row["saving_cny"]) == pytest.approx(EXPECTED[key], rel=1e-9)
        # the same scenario solved on its own: the dataset with O2 edited, the options set
        tables = {k: [list(r) for r in v] for k, v in TABLES.items()}
        tables["offers"][2][3] = key[1]
        alone = solve_match(load_dataset(_write(tmp_path / f"alone-{'-'.join(key)}", tables)),
                            MatchOptions(objective="cost", mip_gap=0.0,
                                         contract_cost=float(key[0])))
        head = alone.headline()
        assert float(row["saving_cny"]) == pytest.approx(head.saving_cny, rel=1e-12)
        assert float(row["tonnes_matched"]) == pytest.approx(head.tonnes_matched, rel=1e-12)
        assert int(row["exchanges"]) == head.exchanges
        assert float(row["objective"]) == pytest.approx(alone.summary.solver.objective,
                                                        rel=1e-12)
        assert row["model"] == ("milp" if key[0] == "500" else "continuous")
        assert row["features"] == ("contract_cost" if key[0] == "500" else "")
        assert float(row["gap"]) == pytest.approx(0.0, abs=1e-9)
        assert row["bulk_rate"] != ""  # the official rate's column, here the listed share
        assert row["bulk_official"] == "false"


def test_sweep_on_a_two_worker_local_cluster_gives_the_same_rows(
        run_cli: CliRunner, dataset: Path, tmp_path: Path) -> None:
    serial = _grid(run_cli, dataset, tmp_path / "serial")
    dask = _grid(run_cli, dataset, tmp_path / "dask", "--workers", "2")
    assert dask == serial


def test_scenario_files_csv_and_json(run_cli: CliRunner, dataset: Path,
                                     tmp_path: Path) -> None:
    """A named table of scenarios; a blank cell leaves that parameter as it is."""
    table = tmp_path / "s.csv"
    table.write_text("scenario,contract_cost,offer:O2,remove\nbase,,,\ncontract,500,50,\n"
                     "no O1,500,,A\n", encoding="utf-8")
    done = run_cli("sweep", dataset, "--scenarios", table, "--objective", "cost",
                   "--out", tmp_path / "csv", "--quiet")
    assert done.returncode == 0, done.stderr
    rows = _rows(tmp_path / "csv" / "sweep.csv")
    assert [r["scenario"] for r in rows] == ["base", "contract", "no O1"]
    # base 2,400; contract 2,000; without A only O2 (20 t, 400 < 500): nothing pays
    assert [float(r["saving_cny"]) for r in rows] == pytest.approx([2400.0, 2000.0, 0.0])
    assert [int(r["exchanges"]) for r in rows] == [2, 2, 0]
    body = [{"scenario": "contract", "contract_cost": 500, "offer:O2": 50}]
    (tmp_path / "s.json").write_text(json.dumps(body), encoding="utf-8")
    done = run_cli("sweep", dataset, "--scenarios", tmp_path / "s.json", "--objective",
                   "cost", "--out", tmp_path / "json", "--quiet")
    assert done.returncode == 0, done.stderr
    assert float(_rows(tmp_path / "json" / "sweep.csv")[0]["saving_cny"]) == \
        pytest.approx(2000.0)


def test_bad_scenarios_are_named_and_nothing_is_written(run_cli: CliRunner, dataset: Path,
                                                        tmp_path: Path) -> None:
    table = tmp_path / "bad.csv"
    table.write_text("scenario,max_km,offer:O9,colour\nok,50,,\nbad,-3,10,red\n",
                     encoding="utf-8")
    out = tmp_path / "out"
    done = run_cli("sweep", dataset, "--scenarios", table, "--out", out)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    err = " ".join(done.stderr.split())
    assert f"{table}:1:colour: unknown parameter" in err  # once, at the header
    assert f"{table}:2:colour" not in err
    assert f"{table}:3:max_km: Input should be greater than 0" in err
    assert f"{table}:3:offer:O9: " in err  # no such offer
    assert not out.exists()
    done = run_cli("sweep", dataset, "--param", "offer:O9=5", "--out", out)
    assert done.returncode == 1
    assert "--param::offer:O9: 'O9' is not an offer id" in " ".join(done.stderr.split())
    assert not out.exists()
    done = run_cli("sweep", dataset, "--out", out)
    assert done.returncode == 2  # neither --scenarios nor --param: a usage error
