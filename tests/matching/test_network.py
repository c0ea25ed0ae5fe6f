"""Network analysis on a hand-built region whose loop, chain and keystone are known:

    A -fly_ash 100-> B -bf_slag 200-> C -steel_slag 300-> A      (a closed loop)
    D -fgd_gypsum 50-> E -tailings 400-> F                       (a cascade)
    G lists nothing.

Every material is offered once and needed once, with an empty substitutions table, so the
optimum uses every offer in full. Removing an enterprise loses exactly the exchanges it
takes part in: C 500 t, E 450, A 400, F 400, B 300, D 50.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from symbiosis.dataset import Dataset, load_dataset
from symbiosis.matching import MatchOptions, solve_match
from symbiosis.matching.network import (
    analyze_network,
    chains,
    cycles,
    enterprise_table,
    exchange_graph,
    keystones,
    network_size,
)

if TYPE_CHECKING:
    from conftest import CliRunner

FLOWS = [("A", "B", "fly_ash", 100), ("B", "C", "bf_slag", 200), ("C", "A", "steel_slag", 300),
         ("D", "E", "fgd_gypsum", 50), ("E", "F", "tailings", 400)]


def write_region(folder: Path) -> Path:
    """The region above as a dataset folder (enterprises 0.01 degrees apart)."""
    folder.mkdir(parents=True, exist_ok=True)
    ents = ["id,name,sector,lon,lat,park"] + [
        f"{e},Plant {e},,{112.9 + 0.01 * i:.2f},27.9,Demo park" for i, e in enumerate("ABCDEFG")]
    offers = ["id,enterprise_id,material,quantity"]
    needs = ["id,enterprise_id,material,quantity"]
    for i, (a, b, mat, q) in enumerate(FLOWS):
        offers.append(f"O{i},{a},{mat},{q}")
        needs.append(f"N{i},{b},{mat},{q}")
    (folder / "enterprises.csv").write_text("\n".join(ents) + "\n", encoding="utf-8")
    (folder / "offers.csv").write_text("\n".join(offers) + "\n", encoding="utf-8")
    (folder / "needs.csv").write_text("\n".join(needs) + "\n", encoding="utf-8")
    (folder / "substitutions.csv").write_text("need_material,offer_material,ratio\n",
                                              encoding="utf-8")
    return folder


@pytest.fixture
def region(tmp_path: Path) -> Dataset:
    return load_dataset(write_region(tmp_path / "region"))


def test_network_figures(region: Dataset) -> None:
    result = solve_match(region)
    assert result.summary.to_dict()["utilization_rate"] == pytest.approx(1.0)
    graph = exchange_graph(result.exchanges)
    assert sorted(graph.edges) == sorted((a, b) for a, b, _, _ in FLOWS)
    size = network_size(graph, len(region.enterprises))
    assert size == {"enterprises": 7, "nodes": 6, "edges": 5, "density": 5 / 30,
                    "connectance": 5 / 49, "components": 2}
    assert cycles(graph) == [["A", "B", "C"]]
    assert chains(graph) == [["D", "E", "F"]]
    table = enterprise_table(graph, region).set_index("enterprise_id")
    # directed betweenness normalised by (n-1)(n-2) = 20: A, B, C, E each lie on one path
    assert table["betweenness"].to_dict() == pytest.approx(
        {"A": 0.05, "B": 0.05, "C": 0.05, "E": 0.05, "D": 0.0, "F": 0.0})
    assert table.loc["A", ["in_degree", "out_degree", "partners", "materials"]].tolist() \
        == [1, 1, 2, 2]
    assert table.loc["A", "shannon"] == pytest.approx(math.log(2))
    assert table.loc["D", "shannon"] == 0.0


@pytest.mark.parametrize("jobs", [1, 2])
def test_keystones(region: Dataset, jobs: int) -> None:
    keys = keystones(region, jobs=jobs, min_work=0)
    assert keys["enterprise_id"].tolist() == ["C", "E", "A", "F", "B", "D"]
    assert keys["tonnes_lost"].tolist() == [500, 450, 400, 400, 300, 50]
    assert keys["rank"].tolist() == [1, 2, 3, 4, 5, 6]
    c = keys.iloc[0]
    # without C: 550 of the 750 t still offered are matched
    assert c["utilization_after"] == pytest.approx(550 / 750)
    assert c["utilization_drop_pp"] == pytest.approx(100 * (1 - 550 / 750))


def test_analysis_is_json(region: Dataset) -> None:
    result = solve_match(region, MatchOptions())
    report = analyze_network(region, result, jobs=1)
    text = json.dumps(report)
    back = json.loads(text)
    assert back["keystones"][0]["enterprise_id"] == "C"
    assert back["cycles"] == [["A", "B", "C"]]
    assert back["exchange_network"]["edges"] == 5
    assert back["candidate_network"]["edges"] == 5


def test_analyze_command(run_cli: CliRunner, tmp_path: Path) -> None:
    folder = write_region(tmp_path / "region")
    out = tmp_path / "analysis"
    run = run_cli("analyze", folder, "--out", out, "--jobs", "1")
    assert run.returncode == 0, run.stderr
    assert "Keystone" in run.stdout and "A -> B -> C -> A" in run.stdout
    report = json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    assert report["keystones"][0]["enterprise_id"] == "C"
    assert (out / "network.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
