"""The README's Cypher cookbook, run as written against the session's real Neo4j with the demo
imported and two runs saved, each answer checked against the stored runs themselves; and the
Neo4j Browser style file covers every label and relationship type the store writes."""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import pytest

from symbiosis.dataset import load_dataset
from symbiosis.store import RunRecord, diff_runs, open_store
from symbiosis.taxonomy import load_taxonomy

if TYPE_CHECKING:
    from store_support import Neo4jServer

ROOT = Path(__file__).resolve().parents[2]
PARK = "Xiangtan Economic Development Zone (illustrative)"


def cookbook() -> dict[str, str]:
    """The `cypher` blocks of the README's "Cypher cookbook" section, by their first line."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Cypher cookbook", 1)[1]
    section = re.split(r"\n#{2,3} ", section, maxsplit=1)[0]
    blocks = re.findall(r"```cypher\n(.*?)```", section, flags=re.DOTALL)
    return {b.splitlines()[0].lstrip("/ ").strip(): b for b in blocks}


QUERIES = cookbook()


def query(title: str) -> str:
    """The one cookbook query whose title contains `title`."""
    found = [q for t, q in QUERIES.items() if title in t]
    assert len(found) == 1, (title, list(QUERIES))
    return found[0]


@pytest.fixture(scope="module")
def graph(neo4j_server: Neo4jServer, demo_path: Path) -> dict[str, Any]:
    """The demo imported and saved as run 1 (60 km reach) and run 2 (default reaches)."""
    from symbiosis.matching import MatchOptions, solve_match

    neo4j_server.wipe()
    dataset = load_dataset(demo_path)
    runs = {}
    with open_store(neo4j_server.url()) as store:
        version = store.import_dataset(dataset)
        for max_km in (60.0, None):
            made = RunRecord.from_result(solve_match(dataset, MatchOptions(max_km=max_km)),
                                         version.hash)
            info = store.save_run(RunRecord(made.parameters, made.dataset_hash, made.summary,
                                            made.exchanges, version=version.version))
            runs[info.id] = store.run(info.id)
    parks = {str(e): str(p) for e, p in dataset.enterprises["park"].items()}
    return {"server": neo4j_server, "runs": runs, "parks": parks}


def _run(graph: dict[str, Any], title: str, **params: object) -> list[dict[str, Any]]:
    return graph["server"].cypher(query(title), **params)  # type: ignore[no-any-return]


def test_every_cookbook_query_is_checked() -> None:
    assert len(QUERIES) == 4
    for title in ("keystone", "fly ash", "what changed", "longest exchange chains"):
        query(title)


def test_keystone_enterprises(graph: dict[str, Any]) -> None:
    tax = load_taxonomy()
    partners: dict[str, set[str]] = defaultdict(set)
    tonnes: dict[str, float] = defaultdict(float)
    for x in graph["runs"][2].exchanges:
        if tax.material(x["offer_material"]).family != "mass":
            continue
        a, b = x["offer_enterprise_id"], x["need_enterprise_id"]
        partners[a].add(b)
        partners[b].add(a)
        tonnes[a] += x["quantity"]
        tonnes[b] += x["quantity"]
    expected = sorted(partners, key=lambda e: (-len(partners[e]), -tonnes[e], e))[:10]
    rows = _run(graph, "keystone", run=2)
    assert len(rows) == 10
    assert [r["enterprise"] for r in rows] == expected
    for r in rows:
        assert r["partners"] == len(partners[r["enterprise"]])
        assert math.isclose(r["tonnes"], tonnes[r["enterprise"]], rel_tol=1e-12)


def test_where_a_parks_fly_ash_goes(graph: dict[str, Any]) -> None:
    parks = graph["parks"]
    expected = sorted(
        ((x["offer_enterprise_id"], x["need_enterprise_id"], parks.get(x["need_enterprise_id"],
                                                                        ""),
          x["need_material"], x["quantity"], x["distance_km"])
         for x in graph["runs"][2].exchanges
         if x["offer_material"] == "fly_ash" and parks.get(x["offer_enterprise_id"]) == PARK),
        key=lambda r: (-r[4], r[0], r[1], r[3]))
    assert expected, "the demo park should ship fly ash in run 2"
    rows = _run(graph, "fly ash", run=2, park=PARK)
    assert [(r["supplier"], r["receiver"], r["receiver_park"], r["used_as"], r["tonnes"],
             r["distance_km"]) for r in rows] == expected
    assert all(r["receiver_name"] for r in rows)


def test_what_changed_between_two_runs(graph: dict[str, Any]) -> None:
    diff = [d for d in diff_runs(graph["runs"][1], graph["runs"][2])
            if d["change"] != "changed"
            or abs(d["quantity_after"] - d["quantity_before"]) > 1e-6]
    assert {d["change"] for d in diff} >= {"appeared"}
    rows = _run(graph, "what changed", before=1, after=2)
    assert [(r["change"], r["supplier"], r["receiver"], r["material"], r["need_material"])
            for r in rows] == [
        (d["change"], d["offer_enterprise_id"], d["need_enterprise_id"], d["offer_material"],
         d["need_material"]) for d in diff]
    for r, d in zip(rows, diff, strict=True):
        assert math.isclose(r["before"], d["quantity_before"] or 0.0, abs_tol=1e-9)
        assert math.isclose(r["after"], d["quantity_after"] or 0.0, abs_tol=1e-9)


def test_longest_exchange_chains(graph: dict[str, Any]) -> None:
    network = nx.DiGraph()
    network.add_edges_from((x["offer_enterprise_id"], x["need_enterprise_id"])
                           for x in graph["runs"][2].exchanges)
    assert nx.is_directed_acyclic_graph(network)
    longest = nx.dag_longest_path_length(network)
    rows = _run(graph, "longest exchange chains", run=2)
    assert rows and rows[0]["hops"] == longest >= 2
    assert [r["hops"] for r in rows] == sorted((r["hops"] for r in rows), reverse=True)
    for r in rows:
        chain = r["chain"]
        assert len(chain) == r["hops"] + 1
        assert all(network.has_edge(a, b) for a, b in itertools.pairwise(chain))
        assert network.in_degree(chain[0]) == 0 and network.out_degree(chain[-1]) == 0


def test_browser_style_covers_the_graph(graph: dict[str, Any]) -> None:
    style = (ROOT / "tools" / "neo4j" / "symbiosis.grass").read_text(encoding="utf-8")
    server = graph["server"]
    labels = {r["label"] for r in server.cypher("CALL db.labels() YIELD label RETURN label")}
    types = {r["t"] for r in server.cypher(
        "CALL db.relationshipTypes() YIELD relationshipType AS t RETURN t")}
    assert {"Enterprise", "Park", "Offer", "Need", "Material", "Run", "Version"} <= labels
    assert {"SUPPLIES", "OFFERS", "NEEDS", "IN", "OF", "ON", "ROAD"} <= types  # no SERVES:
    # the demo has no substitutions.csv; the style has a rule for it all the same
    assert set(re.findall(r"^node\.(\w+) \{", style, flags=re.M)) >= labels
    assert set(re.findall(r"^relationship\.(\w+) \{", style, flags=re.M)) >= types | {"SERVES"}
    assert style.count("{") == style.count("}")
