"""What the symbiosis network tells: its size and connectance, who is central, which
enterprises are keystones, and where materials close loops or run down chains.

The network is the directed enterprise graph of a match result (supplier -> receiver, one
edge per pair, weighted by the quantity exchanged) or of the candidate arcs (who *could*
supply whom). Definitions, so figures are comparable between runs:

- size: enterprises with at least one edge (`nodes`), supplier->receiver pairs (`edges`).
- density: edges / (n (n - 1)) over the `nodes` of the network (networkx `density`).
- connectance: L / S^2 with S = every enterprise of the dataset (directed food-web
  connectance, Martinez 1992, Ecological Monographs 62:367).
- betweenness: share of shortest supplier->receiver paths through an enterprise,
  normalised by (n - 1)(n - 2) (Brandes 2001, via networkx).
- keystone: mass-family tonnes matched that the region loses when the enterprise leaves
  with all its offers and needs, the rest re-solved to the optimum.
- cycle: a closed loop of enterprises, each supplying the next (a simple cycle).
- chain: a path from an enterprise that receives nothing to one that supplies nothing,
  through enterprises on no cycle, with at least three enterprises (cascade use).
- partner diversity: distinct partners, and the Shannon index H = -sum p ln p of the
  enterprise's exchanges over its partners (p = share of its exchanges with each one).
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from symbiosis.dataset import Dataset
from symbiosis.jsonio import frame_records
from symbiosis.matching.blending import Grades, prepare_grades, rebuilt_needs
from symbiosis.matching.candidates import Candidates, candidates_for
from symbiosis.matching.model import MatchOptions, solve_candidates
from symbiosis.matching.parts import usable_cores

if TYPE_CHECKING:
    import networkx as nx

    from symbiosis.matching.distributed import Engine
    from symbiosis.matching.result import MatchResult

__all__ = [
    "analyze_network",
    "candidate_graph",
    "chains",
    "cycles",
    "enterprise_table",
    "exchange_graph",
    "keystones",
    "network_size",
]

MAX_LOOPS = 1000  # cycles and chains listed at most (a dense region has very many)
MAX_LOOP_LENGTH = 8
BETWEENNESS_SAMPLE = 1000  # above this many enterprises, betweenness is sampled (seeded)
# re-solves x candidate arcs below which one process beats spawning workers (a spawned
# worker costs ~1 s of imports; a 300-enterprise region, 264 re-solves of ~7 ms, is faster
# alone: benchmarks/README.md)
PARALLEL_MIN_WORK = 50_000_000


def exchange_graph(exchanges: pd.DataFrame) -> nx.DiGraph:
    """Supplier -> receiver graph of exchanges; edge attributes: `quantity` (summed),
    `exchanges` (count), `materials` (sorted offered materials)."""
    import networkx as nx

    graph = nx.DiGraph()
    if len(exchanges):
        grouped = exchanges.groupby(["offer_enterprise_id", "need_enterprise_id"], sort=True)
        agg = grouped.agg(quantity=("quantity", "sum"), exchanges=("quantity", "size"),
                          materials=("offer_material", lambda m: sorted(set(m))))
        for (a, b), row in agg.iterrows():
            graph.add_edge(str(a), str(b), quantity=float(row["quantity"]),
                           exchanges=int(row["exchanges"]), materials=list(row["materials"]))
    return graph


def candidate_graph(dataset: Dataset, cand: Candidates) -> nx.DiGraph:
    """Supplier -> receiver graph of the candidate arcs (each pair once, with its arc count)."""
    import networkx as nx

    offer_ent = dataset.offers["enterprise_id"].to_numpy(dtype=object)[cand.offer]
    need_ent = dataset.needs["enterprise_id"].to_numpy(dtype=object)[cand.need]
    pairs = pd.DataFrame({"a": offer_ent, "b": need_ent}).value_counts(sort=False)
    graph = nx.DiGraph()
    graph.add_edges_from((str(a), str(b), {"arcs": int(n)}) for (a, b), n in pairs.items())
    return graph


def network_size(graph: nx.DiGraph, enterprises: int) -> dict[str, Any]:
    """Nodes, edges, density and connectance (see the module table)."""
    import networkx as nx

    n, edges = graph.number_of_nodes(), graph.number_of_edges()
    return {
        "enterprises": enterprises,
        "nodes": n,
        "edges": edges,
        "density": nx.density(graph) if n > 1 else 0.0,
        "connectance": edges / enterprises**2 if enterprises else 0.0,
        "components": nx.number_weakly_connected_components(graph) if n else 0,
    }


def _canonical(cycle: list[str]) -> list[str]:
    start = cycle.index(min(cycle))
    return cycle[start:] + cycle[:start]


def cycles(graph: nx.DiGraph, limit: int = MAX_LOOPS,
           max_length: int = MAX_LOOP_LENGTH) -> list[list[str]]:
    """Closed loops (each starting at its smallest id), shortest first, at most `limit`."""
    import networkx as nx

    found: list[list[str]] = []
    for cycle in nx.simple_cycles(graph, length_bound=max_length):
        found.append(_canonical([str(c) for c in cycle]))
        if len(found) >= limit:
            break
    return sorted(found, key=lambda c: (len(c), c))


def chains(graph: nx.DiGraph, limit: int = MAX_LOOPS,
           max_length: int = MAX_LOOP_LENGTH) -> list[list[str]]:
    """Cascades of at least three enterprises through enterprises on no cycle, from one
    that receives nothing (within them) to one that supplies nothing, longest first."""
    import networkx as nx

    on_cycle = {n for comp in nx.strongly_connected_components(graph) if len(comp) > 1
                for n in comp}
    dag = graph.subgraph([n for n in graph if n not in on_cycle])
    sources = sorted(n for n in dag if dag.in_degree(n) == 0)
    sinks = sorted(n for n in dag if dag.out_degree(n) == 0)
    found: list[list[str]] = []
    for src in sources:
        for path in nx.all_simple_paths(dag, src, sinks, cutoff=max_length - 1):
            if len(path) >= 3:
                found.append([str(p) for p in path])
                if len(found) >= limit:
                    return sorted(found, key=lambda c: (-len(c), c))
    return sorted(found, key=lambda c: (-len(c), c))


def enterprise_table(graph: nx.DiGraph, dataset: Dataset) -> pd.DataFrame:
    """Per enterprise in the network: degrees, betweenness, partners, materials, Shannon
    diversity of its exchanges over partners; sorted by betweenness, then degree."""
    import networkx as nx

    n = graph.number_of_nodes()
    if n == 0:
        return pd.DataFrame(columns=["enterprise_id", "name", "in_degree", "out_degree",
                                     "degree", "betweenness", "partners", "materials",
                                     "shannon"])
    k = BETWEENNESS_SAMPLE if n > BETWEENNESS_SAMPLE else None
    between = nx.betweenness_centrality(graph, k=k, seed=0 if k else None, normalized=True)
    names = dataset.enterprises["name"]
    rows = []
    for node in graph:
        weights: dict[str, int] = {}
        materials: set[str] = set()
        for _, other, data in graph.out_edges(node, data=True):
            weights[other] = weights.get(other, 0) + data.get("exchanges", 1)
            materials.update(data.get("materials", []))
        for other, _, data in graph.in_edges(node, data=True):
            weights[other] = weights.get(other, 0) + data.get("exchanges", 1)
            materials.update(data.get("materials", []))
        total = sum(weights.values())
        shannon = -sum(w / total * math.log(w / total) for w in weights.values()) \
            if total else 0.0
        rows.append({
            "enterprise_id": str(node),
            "name": str(names.get(node, "")),
            "in_degree": graph.in_degree(node),
            "out_degree": graph.out_degree(node),
            "degree": graph.degree(node),
            "betweenness": float(between[node]),
            "partners": len(weights),
            "materials": len(materials),
            "shannon": shannon + 0.0,  # no -0.0
        })
    table = pd.DataFrame(rows)
    return table.sort_values(["betweenness", "degree", "enterprise_id"],
                             ascending=[False, False, True]).reset_index(drop=True)


# ----------------------------------------------------------------------------- keystones

_WORKER: dict[str, Any] = {}
KEYSTONE_TASKS_PER_WORKER = 8  # engine tasks per worker a ranking is split into (batches)


def _mass_offers(dataset: Dataset) -> np.ndarray:
    fam = {slug: str(m.family) for slug, m in dataset.taxonomy.materials.items()}
    return np.asarray(dataset.offers["material"].map(fam).to_numpy(dtype=object) == "mass",
                      dtype=bool)


@dataclasses.dataclass(frozen=True)
class _Keystones:
    """What every keystone re-solve reads (shipped to each worker once).

    The candidate arcs are cut into independent units: each connected component of the
    offer-need arc graph whose materials the min-cost flow solves, and each rule component
    the generalised LP solves (needs seen at two ratios) as a whole, as `solve_candidates`
    solves it. An enterprise's leaving changes only the units its arcs belong to, so only
    those are re-solved. A component holding a blending need or a heat cascade's return
    (`grades`, `matching.blending.Grades`) is a unit of its own, re-solved by the graded LP
    as `solve_candidates` solves it. `unit_of_arc` is -1 for arcs of units without a mass
    offer (they never change the mass tonnes); `unit_flow` marks the units whose re-solve
    is a maximum flow (the default objective on a pure network whose offers are all mass:
    the tonnes of a lexicographic optimum are its maximum flow, `flow.max_flow_value`).
    """

    dataset: Dataset
    cand: Candidates
    offer_mass: np.ndarray
    options: MatchOptions
    base: float
    unit_of_arc: np.ndarray
    unit_arcs: tuple[np.ndarray, ...]
    unit_base: np.ndarray
    unit_flow: np.ndarray
    quantity_scale: int
    carries: np.ndarray  # arcs with flow at the base optimum
    # per unit re-solved as a maximum flow: each arc's offer and need among the unit's
    # own, and their capacities (offer units), so a re-solve only masks arcs
    unit_local: tuple[tuple[np.ndarray, ...] | None, ...]
    grades: Grades | None = None


def _keystone_units(dataset: Dataset, cand: Candidates, flows: np.ndarray,
                    offer_mass: np.ndarray, options: MatchOptions,
                    grades: Grades | None = None) -> _Keystones:
    """Cut the arcs into units (see `_Keystones`) and note each unit's base mass tonnes."""
    from symbiosis.matching.flow import quantity_scale
    from symbiosis.matching.model import _lp_components, _network_inputs
    from symbiosis.matching.parts import arc_components

    n_o, n_n = len(dataset.offers), len(dataset.needs)
    arc_comp, lp_comp = _lp_components(cand, n_n, options.method)
    if grades is not None and len(cand):  # graded components: the LP's, as in the solve
        graded = np.zeros(len(lp_comp), bool)
        graded[np.unique(arc_comp[grades.graded_arcs(cand)])] = True
        lp_comp = lp_comp | graded
    labels = arc_components(cand.offer, cand.need, n_o, n_n) if len(cand) \
        else np.zeros(0, np.int64)
    on_lp = lp_comp[arc_comp] if len(cand) else np.zeros(0, bool)
    # one key per unit: the LP's rule component, else the arc component
    key = np.where(on_lp, arc_comp, len(lp_comp) + labels)
    _, unit = np.unique(key, return_inverse=True)
    n_units = int(unit.max()) + 1 if len(unit) else 0
    arc_mass = offer_mass[cand.offer]
    has_mass = np.bincount(unit, weights=arc_mass, minlength=n_units) > 0
    all_mass = np.bincount(unit, weights=~arc_mass, minlength=n_units) == 0
    unit_lp = np.bincount(unit, weights=on_lp, minlength=n_units) > 0
    unit_of_arc = np.where(has_mass[unit], unit, -1)
    order = np.argsort(unit, kind="stable")
    bounds = np.searchsorted(unit[order], np.arange(n_units + 1))
    unit_arcs = tuple(order[bounds[u]:bounds[u + 1]] for u in range(n_units))
    unit_base = np.bincount(unit, weights=np.where(arc_mass, flows, 0.0), minlength=n_units)
    # capacities as the min-cost flow sees them (a network need's demand in offer units)
    supply, demand, _, _, _, stock = _network_inputs(dataset, cand, None)
    scale, _ = quantity_scale(np.concatenate([supply, stock[stock > 0], demand]))
    flow_units = (options.objective == "utilization") & all_mass & ~unit_lp
    local: list[tuple[np.ndarray, ...] | None] = []
    for u, arcs in enumerate(unit_arcs):
        if not flow_units[u] or unit_of_arc[arcs[0]] < 0:
            local.append(None)
            continue
        offers, arc_o = np.unique(cand.offer[arcs], return_inverse=True)
        needs, arc_n = np.unique(cand.need[arcs], return_inverse=True)
        local.append((arc_o.astype(np.int64), arc_n.astype(np.int64), supply[offers],
                      demand[needs], stock[offers]))
    return _Keystones(dataset, cand, offer_mass, options,
                      float(flows[arc_mass].sum()), unit_of_arc, unit_arcs, unit_base,
                      flow_units, scale, flows > 0, tuple(local), grades)


def _unit_tonnes(ks: _Keystones, u: int, keep: np.ndarray) -> float:
    """Mass tonnes matched in unit `u` re-solved on the arcs of it that `keep` marks."""
    cand, dataset = ks.cand, ks.dataset
    local = ks.unit_local[u]
    if local is not None:
        from symbiosis.matching.flow import max_flow_value

        arc_o, arc_n, supply, demand, stock = local
        return max_flow_value(supply, demand, arc_o[keep], arc_n[keep], stock,
                              ks.quantity_scale)
    arcs = ks.unit_arcs[u][keep]
    if not len(arcs):
        return 0.0
    sub = cand.subset(arcs)
    flows, _ = solve_candidates(dataset, sub, ks.options.model_copy(update={"jobs": 1}),
                                grades=ks.grades)
    return float(flows[ks.offer_mass[sub.offer]].sum())


def _tonnes_without(ks: _Keystones, enterprise: str) -> float:
    """Mass tonnes matched at the optimum when `enterprise` leaves: its arcs dropped and
    only the units where they carried flow re-solved (the others keep their base
    tonnes)."""
    dataset, cand = ks.dataset, ks.cand
    offer_gone = (dataset.offers["enterprise_id"] == enterprise).to_numpy()
    need_gone = (dataset.needs["enterprise_id"] == enterprise).to_numpy()
    gone = offer_gone[cand.offer] | need_gone[cand.need]
    # a unit where none of the enterprise's arcs carries flow keeps its base optimum (that
    # flow stays feasible without them and nothing can deliver more): no re-solve
    units = np.unique(ks.unit_of_arc[gone & ks.carries])
    units = units[units >= 0]
    if not len(units):
        return ks.base
    before = float(ks.unit_base[units].sum())
    after = 0.0
    for u in units:
        after += _unit_tonnes(ks, int(u), ~gone[ks.unit_arcs[u]])
    return ks.base - before + after


def _without(dataset: Dataset, cand: Candidates, offer_mass: np.ndarray, enterprise: str,
             options: MatchOptions, grades: Grades | None = None) -> float:
    """Mass tonnes matched at the optimum when `enterprise` leaves, the whole model
    re-solved (its arcs dropped): what `_tonnes_without` computes unit by unit, kept for
    the objectives other than the default and as the reference in the tests."""
    offer_gone = (dataset.offers["enterprise_id"] == enterprise).to_numpy()
    need_gone = (dataset.needs["enterprise_id"] == enterprise).to_numpy()
    keep = ~offer_gone[cand.offer] & ~need_gone[cand.need]
    sub = cand.subset(np.flatnonzero(keep))
    if len(sub) == 0:
        return 0.0
    flows, _ = solve_candidates(dataset, sub, options.model_copy(update={"jobs": 1}),
                                grades=grades)
    return float(flows[offer_mass[sub.offer]].sum())


def _after(ks: _Keystones, enterprise: str) -> float:
    """One keystone re-solve: unit by unit for the default objective, else the whole
    model (a value objective prices every arc against every other, so it stays whole)."""
    if ks.options.objective == "utilization":
        return _tonnes_without(ks, enterprise)
    return _without(ks.dataset, ks.cand, ks.offer_mass, enterprise, ks.options, ks.grades)


def _init_worker(ks: _Keystones) -> None:
    _WORKER.update(ks=ks)


def _keystone_task(shared: _Keystones, enterprises: list[str]) -> list[float]:
    """A batch of re-solves as one engine task (`matching.distributed`): a unit re-solve
    takes milliseconds, less than a Dask task's round trip."""
    return [_after(shared, e) for e in enterprises]


def _worker(enterprise: str) -> float:
    return _after(_WORKER["ks"], enterprise)


def keystones(dataset: Dataset, options: MatchOptions | None = None,
              cand: Candidates | None = None, enterprises: list[str] | None = None,
              jobs: int | None = None,
              min_work: int = PARALLEL_MIN_WORK,
              engine: Engine | None = None, whole: bool = False) -> pd.DataFrame:
    """Each enterprise (default: every one with a candidate arc) leaves in turn; the rest is
    re-solved. The model is the one `match` solves: blends, heat judged at delivery and
    heat cascades graded (`matching.blending.prepare_grades`; `cand`, when given, may come
    from `candidates_for` alone). Columns: tonnes matched after, tonnes lost, utilization
    after and its drop (percentage points), ranked by tonnes lost (ties by id).

    A re-solve touches only the independent parts of the model the enterprise has arcs in
    (`_Keystones`): for the default objective the mass tonnes of a pure-network part are
    its maximum flow, found without the costs; a part the generalised LP solves is
    re-solved whole; a part where none of the enterprise's arcs carries flow is not
    re-solved (the base flow stays feasible and maximal without them). The tonnes equal
    a re-solve of the whole model (exactly for whole-unit quantities; otherwise up to the
    order of float sums), which `whole=True` runs instead (the tests compare the two).
    Worker processes (spawned) run the re-solves side by side when `jobs` > 1 and
    re-solves x arcs reaches `min_work` (below that, starting workers costs more than it
    saves). With an `engine` (`matching.distributed`), the re-solves are its tasks
    instead, in batches of enterprises, the dataset and arcs shipped to each worker
    once."""
    options = options or MatchOptions()
    if cand is None:
        cand = candidates_for(dataset, options, None, rebuilt_needs(dataset, options))
    # the model `match` solves: blends, heat at delivery and cascades graded as there
    dataset, cand, grades = prepare_grades(dataset, cand, options)
    flows, _ = solve_candidates(dataset, cand, options, grades=grades)
    offer_mass = _mass_offers(dataset)
    base = float(flows[offer_mass[cand.offer]].sum())
    fam = {slug: str(m.family) for slug, m in dataset.taxonomy.materials.items()}
    offers = dataset.offers
    mass_offered = offers["quantity"].where(offers["material"].map(fam) == "mass", 0.0)
    offered_by = mass_offered.groupby(offers["enterprise_id"]).sum()
    total_offered = float(mass_offered.sum())
    if enterprises is None:
        active = set(offers["enterprise_id"].to_numpy()[cand.offer]) | \
            set(dataset.needs["enterprise_id"].to_numpy()[cand.need])
        enterprises = sorted(str(e) for e in active)
    jobs = usable_cores() if jobs is None else max(1, jobs)
    # the solves read only the offer and need frames; the taxonomy (read-only mapping
    # proxies) is not needed there
    light = dataclasses.replace(dataset, taxonomy=None, warnings=())  # type: ignore
    if whole:
        after = [_without(dataset, cand, offer_mass, e, options, grades)
                 for e in enterprises]
    elif engine is not None:
        ks = _keystone_units(dataset, cand, flows, offer_mass, options, grades)
        tasks = KEYSTONE_TASKS_PER_WORKER * max(1, getattr(engine, "workers", 1))
        size = max(1, math.ceil(len(enterprises) / tasks))
        batches = [enterprises[i:i + size] for i in range(0, len(enterprises), size)]
        after = [a for batch in engine.map(_keystone_task, batches, ks) for a in batch]
    elif jobs > 1 and len(enterprises) >= 2 and len(enterprises) * len(cand) >= min_work:
        ks = _keystone_units(light, cand, flows, offer_mass, options, grades)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                                 initializer=_init_worker, initargs=(ks,)) as pool:
            after = list(pool.map(_worker, enterprises,
                                  chunksize=max(1, len(enterprises) // (4 * jobs))))
    else:
        ks = _keystone_units(dataset, cand, flows, offer_mass, options, grades)
        after = [_after(ks, e) for e in enterprises]
    rate = base / total_offered if total_offered else None
    rows = []
    for ent, matched in zip(enterprises, after, strict=True):
        offered_after = total_offered - float(offered_by.get(ent, 0.0))
        rate_after = matched / offered_after if offered_after > 0 else None
        rows.append({
            "enterprise_id": ent,
            "name": str(dataset.enterprises["name"].get(ent, "")),
            "tonnes_matched_after": matched,
            "tonnes_lost": max(0.0, base - matched),
            "utilization_after": rate_after,
            "utilization_drop_pp": None if rate is None or rate_after is None
            else 100 * (rate - rate_after),
        })
    table = pd.DataFrame(rows, columns=["enterprise_id", "name", "tonnes_matched_after",
                                        "tonnes_lost", "utilization_after",
                                        "utilization_drop_pp"])
    table = table.sort_values(["tonnes_lost", "enterprise_id"], ascending=[False, True],
                              kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table.attrs["tonnes_matched"] = base
    table.attrs["utilization_rate"] = rate
    return table


def analyze_network(dataset: Dataset, result: MatchResult, options: MatchOptions | None = None,
                    jobs: int | None = None, keystone_count: int | None = None,
                    cand: Candidates | None = None,
                    engine: Engine | None = None) -> dict[str, Any]:
    """Everything `symbiosis analyze` reports, JSON-ready: the exchange network (size,
    enterprises, cycles, chains), the candidate network's size, and the keystones."""
    options = options or MatchOptions()
    if cand is None:
        cand = candidates_for(dataset, options)
    graph = exchange_graph(result.exchanges)
    n_ent = len(dataset.enterprises)
    table = enterprise_table(graph, dataset)
    loops, cascades = cycles(graph), chains(graph)
    keys = keystones(dataset, options, cand=cand, enterprises=sorted(graph.nodes), jobs=jobs,
                     engine=engine)
    if keystone_count is not None:
        keys = keys.head(keystone_count)
    return {
        "dataset": dataset.source,
        "parameters": {"max_km": options.max_km, "circuity": options.circuity,
                       "objective": options.objective},
        "exchange_network": {
            **network_size(graph, n_ent),
            "tonnes_matched": result.summary.tonnes_matched,
            "utilization_rate": result.summary.utilization_rate,
            "cycles": len(loops),
            "chains": len(cascades),
            "cycles_capped": len(loops) >= MAX_LOOPS,
        },
        "candidate_network": network_size(candidate_graph(dataset, cand), n_ent),
        "enterprises": frame_records(table),
        "keystones": frame_records(keys),
        "cycles": loops,
        "chains": cascades,
        "definitions": "see matching/network.py: density = E / (n (n - 1)) over enterprises "
                       "in the network; connectance = E / S^2 over every enterprise; "
                       "keystone = mass tonnes matched lost when the enterprise leaves, "
                       "re-solved to the optimum",
    }
