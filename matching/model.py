"""The default matching model: lexicographic max-delivered, then min quantity x km.

    maximise    sum_a x_a                       (offered units delivered, per family)
    then min    sum_a km_a * x_a                at that maximum
    subject to  sum_{a out of offer o} x_a        <= q_o      (offer quantity)
                sum_{a into need n} ratio_a * x_a <= d_n      (need quantity, need units)
                x_a >= 0

| symbol  | attribute                                   |
|---------|---------------------------------------------|
| x_a     | flow on candidate arc a, in offer units/yr  |
| q_o     | `offers.quantity`                           |
| d_n     | `needs.quantity`                            |
| km_a    | `Candidates.distance_km`                    |
| ratio_a | `Rule.ratio` of the arc's rule              |

Materials linked by rules form independent components (unit families never mix). A
component in which every need sees a single ratio is a pure network (divide d_n by its
ratio) and goes to OR-Tools min-cost flow; a component with a need served at two different
ratios is a generalised flow and goes to the GLOP LP.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from matching.candidates import Candidates, build_candidates
from matching.flow import (
    FlowSolution,
    SolverStatus,
    solve_generalized_transport_lp,
    solve_transport_mcf,
)
from matching.result import MatchResult, SolverFacts, assemble_result
from symbiosis.dataset import Dataset
from symbiosis.errors import SolverError

if TYPE_CHECKING:
    from geo.provider import GeoDistances

__all__ = ["MatchOptions", "solve_candidates", "solve_match"]

Method = Literal["auto", "mcf", "lp"]
OBJECTIVES = ("utilization",)
# below this many network arcs one in-process solve beats splitting and spawning workers
PARALLEL_MIN_ARCS = 2_000_000
# split only when the busiest worker gets at most this share of the arcs; a national
# instance whose cities chain into one giant component gains nothing from workers
PARALLEL_MAX_SHARE = 0.7


@dataclass(frozen=True)
class MatchOptions:
    """Parameters of one match run (the CLI flags, one to one)."""

    max_km: float | None = None
    circuity: float = 1.3
    objective: str = "utilization"
    method: Method = "auto"
    time_limit_s: float | None = None
    jobs: int | None = None  # worker processes for large networks; None = every usable core


def _rule_components(cand: Candidates) -> np.ndarray:
    """Component id per rule: materials joined by the rules the arcs use (union-find).

    Kept per rule, not per arc: at 10^7 arcs a per-arc id array costs hundreds of MB.
    """
    parent: dict[str, str] = {}

    def find(m: str) -> str:
        while parent.setdefault(m, m) != m:
            parent[m] = parent[parent[m]]
            m = parent[m]
        return m

    for rule in cand.rules:
        a, b = find(rule.offer_material), find(rule.need_material)
        if a != b:
            parent[a] = b
    roots = sorted({find(r.offer_material) for r in cand.rules})
    return np.array([roots.index(find(r.offer_material)) for r in cand.rules], dtype=np.int64)


def _mixed_ratio_needs(cand: Candidates, n_needs: int) -> np.ndarray:
    """Mask of needs reached at two different ratios (they need the generalised LP)."""
    lo = np.full(n_needs, np.inf)
    hi = np.full(n_needs, -np.inf)
    np.minimum.at(lo, cand.need, cand.ratio)
    np.maximum.at(hi, cand.need, cand.ratio)
    return lo < hi


def _network_inputs(dataset: Dataset, cand: Candidates,
                    arcs: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Supply, demand, arc ends and km of pure-network arcs (None = every arc), offer units.

    Nodes are all offers then all needs; those without an arc in `arcs` get no supply, so no
    renumbering pass over the arcs is needed. A need's demand is divided by its one ratio.
    """
    every = arcs is None  # the common case: no gather copies of 10^7 arcs
    offer = cand.offer if every else cand.offer[arcs]
    need = cand.need if every else cand.need[arcs]
    n_o, n_n = len(dataset.offers), len(dataset.needs)
    used_o = np.bincount(offer, minlength=n_o) > 0
    used_n = np.bincount(need, minlength=n_n) > 0
    need_ratio = np.ones(n_n)
    need_ratio[need] = cand.ratio if every else cand.ratio[arcs]
    supply = np.where(used_o, dataset.offers["quantity"].to_numpy(float), 0.0)
    demand = np.where(used_n, dataset.needs["quantity"].to_numpy(float) / need_ratio, 0.0)
    return supply, demand, offer, need, cand.distance_km if every else cand.distance_km[arcs]


def _arc_components(offer: np.ndarray, need: np.ndarray, n_offers: int,
                    n_needs: int) -> np.ndarray:
    """Connected component of each arc in the offer-need graph: far-apart regions and
    unrelated materials are independent problems."""
    from scipy.sparse import coo_matrix  # lazy: only large instances are split
    from scipy.sparse.csgraph import connected_components

    n = n_offers + n_needs
    graph = coo_matrix((np.ones(len(offer), np.int8), (offer, n_offers + need)),
                       shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels[offer]


def _balanced_bins(labels: np.ndarray, bins: int) -> list[np.ndarray]:
    """Positions grouped into `bins` sets of whole components, largest first to the
    least-loaded bin (arc count as the proxy for solve time)."""
    counts = np.bincount(labels)
    load = np.zeros(bins)
    assign = np.zeros(len(counts), np.int64)
    for comp in np.argsort(counts)[::-1]:
        if counts[comp] == 0:
            break
        target = int(np.argmin(load))
        assign[comp] = target
        load[target] += counts[comp]
    of_arc = assign[labels]
    return [idx for b in range(bins) if len(idx := np.flatnonzero(of_arc == b))]


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _solve_network(dataset: Dataset, cand: Candidates, arcs: np.ndarray | None,
                   jobs: int | None) -> list[tuple[np.ndarray | None, FlowSolution]]:
    """Min-cost flow on pure-network arcs (None = every arc); large networks are split
    into independent components solved side by side in worker processes."""
    def one_solve() -> list[tuple[np.ndarray | None, FlowSolution]]:
        return [(arcs, solve_transport_mcf(*_network_inputs(dataset, cand, arcs)))]

    jobs = _usable_cores() if jobs is None else max(1, jobs)
    size = len(cand) if arcs is None else len(arcs)
    if jobs == 1 or size < PARALLEL_MIN_ARCS:
        return one_solve()
    offer = cand.offer if arcs is None else cand.offer[arcs]
    need = cand.need if arcs is None else cand.need[arcs]
    labels = _arc_components(offer, need, len(dataset.offers), len(dataset.needs))
    del offer, need
    bins = _balanced_bins(labels, jobs)
    if max(len(b) for b in bins) > PARALLEL_MAX_SHARE * size:
        return one_solve()
    groups = bins if arcs is None else [arcs[b] for b in bins]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: forking a process that holds solver and BLAS threads is unsafe
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(groups), mp_context=context) as pool:
        futures = [pool.submit(solve_transport_mcf, *_network_inputs(dataset, cand, g))
                   for g in groups]
        return [(g, f.result()) for g, f in zip(groups, futures, strict=True)]


def _solve_lp(dataset: Dataset, cand: Candidates, arcs: np.ndarray,
              time_limit_s: float | None) -> FlowSolution:
    offers_q = dataset.offers["quantity"].to_numpy(float)
    needs_q = dataset.needs["quantity"].to_numpy(float)
    off_u, off_local = np.unique(cand.offer[arcs], return_inverse=True)
    need_u, need_local = np.unique(cand.need[arcs], return_inverse=True)
    return solve_generalized_transport_lp(offers_q[off_u], needs_q[need_u], off_local,
                                          need_local, cand.distance_km[arcs],
                                          cand.ratio[arcs], time_limit_s)


def solve_candidates(dataset: Dataset, cand: Candidates,
                     options: MatchOptions) -> tuple[np.ndarray, SolverFacts]:
    """Flow per candidate arc (offer units) and the combined solver facts."""
    if options.objective not in OBJECTIVES:
        raise SolverError(f"unknown objective '{options.objective}'; "
                          f"available: {', '.join(OBJECTIVES)}")
    flows = np.zeros(len(cand))
    comp_of_rule = _rule_components(cand)
    n_comp = len(np.unique(comp_of_rule))
    mixed_need = _mixed_ratio_needs(cand, len(dataset.needs))
    mixed_comp = np.zeros(n_comp, dtype=bool)
    mixed_comp[comp_of_rule[cand.rule[mixed_need[cand.need]]]] = True
    if options.method == "mcf" and mixed_comp.any():
        raise SolverError("min-cost flow cannot solve needs served at two different "
                          "ratios; use method 'auto' or 'lp'")
    lp_comp = np.ones(n_comp, bool) if options.method == "lp" else mixed_comp
    t_solve = time.perf_counter()
    solved: list[tuple[np.ndarray | None, FlowSolution]] = []
    if not lp_comp.any():
        if len(cand):
            solved += _solve_network(dataset, cand, None, options.jobs)
    else:
        arc_comp = comp_of_rule[cand.rule]
        network = np.flatnonzero(~lp_comp[arc_comp])
        if len(network):
            solved += _solve_network(dataset, cand, network, options.jobs)
        for c in np.flatnonzero(lp_comp):
            arcs = np.flatnonzero(arc_comp == c)
            if len(arcs):
                solved.append((arcs, _solve_lp(dataset, cand, arcs, options.time_limit_s)))
    solutions: list[FlowSolution] = []
    for where, sol in solved:
        if sol.status is not SolverStatus.OPTIMAL:
            raise SolverError(f"{sol.method} returned {sol.status}: {sol.detail}")
        if where is None:
            flows = np.asarray(sol.flows, float)
        else:
            flows[where] = sol.flows
        solutions.append(sol)
    objective = float(flows @ cand.distance_km) if len(cand) else 0.0
    bound = sum(s.bound for s in solutions) if solutions else 0.0
    facts = SolverFacts(
        status=SolverStatus.OPTIMAL,
        objective=objective,
        bound=bound if math.isfinite(bound) else objective,
        seconds=time.perf_counter() - t_solve,
        methods=tuple(sorted({s.method for s in solutions})),
        delivered=float(flows.sum()),
        components=len(solved),
        scales={s.method: {"quantity": s.scales.quantity, "distance": s.scales.distance}
                for s in solutions if s.scales is not None},
    )
    return flows, facts


def solve_match(dataset: Dataset, options: MatchOptions | None = None,
                timings: dict[str, float] | None = None,
                distances: GeoDistances | None = None) -> MatchResult:
    """Candidates -> optimal flows -> `MatchResult` for a validated dataset; `distances`
    (geo.GeoDistances) brings road distances and zone rules."""
    options = options or MatchOptions()
    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    cand = build_candidates(dataset, options.max_km, options.circuity, distances)
    t1 = time.perf_counter()
    timings["candidates"] = t1 - t0
    flows, facts = solve_candidates(dataset, cand, options)
    t2 = time.perf_counter()
    timings["build"] = max(0.0, t2 - t1 - facts.seconds)
    timings["solve"] = facts.seconds
    result = assemble_result(dataset, cand, flows, facts, options, timings)
    timings["report"] = time.perf_counter() - t2
    return result
