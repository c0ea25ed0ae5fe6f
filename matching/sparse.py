"""Certified sparse solve: min-cost flow on a few arcs, priced against all of them.

The optimum of the default objective uses about 1 % of the candidate arcs of a province, so
the model is solved on a sparse set (the `k` nearest arcs of every offer and of every need),
then every excluded arc is priced with the optimal node potentials (reduced costs), in
chunks; arcs that price out (negative reduced cost) join the set and the model is solved
again, until none does. LP duality then certifies that the sparse optimum is the optimum of
the full model (every arc of the full model has a non-negative reduced cost at a feasible
flow that is optimal on the sparse set: the complementary-slackness conditions of the full
min-cost-flow LP hold).

The lexicographic default as one min-cost flow (what the potentials price)
-------------------------------------------------------------------------

Nodes: every offer o (supply q_o), every need n, a sink t (demand sum_o q_o). Arcs:
o -> n for every candidate arc (integer cost c_a = rint(km_a x s), s the distance scale of
the solve, capacity min(q_o, d_n)); o -> t "unserved" (cost M, capacity q_o); n -> t
(cost 0, capacity d_n, in offer units: d_n / ratio_n). With

    M = K x c_max + 1,   K = min(#offers, #needs),   c_max = max_a c_a over ALL candidate arcs

the min-cost flows of this network are exactly the lexicographic optima (maximise the
quantity delivered, then minimise sum(q x km)):

*Proof.* Let x be a min-cost flow and suppose some flow on the candidate arcs alone ships
more. Then the residual graph of x restricted to candidate arcs holds an augmenting path P
from an offer o with unserved supply (flow on o -> t) to a need n with spare capacity (the
flow decomposition of the difference of the two flows gives one). P is a simple path that
alternates forward arcs o' -> n' and backward arcs n' -> o', so it has at most K forward
arcs, each costing at most c_max, and backward arcs cost <= 0: cost(P) <= K x c_max < M. The
cycle t -> o (backward unserved arc, cost -M), P, n -> t (cost 0) is a residual cycle of
cost < 0, contradicting the optimality of x. So every min-cost flow delivers the maximum;
all such flows pay the same M x (unserved total), hence among them x minimises
sum_a c_a x_a: the lexicographic optimum. Each unit family (and each connected component)
is a separate part of the same network, so one M serves all families at once. []

The sparse solve itself runs the exact lexicographic min-cost flow of `flow.py`
(`solve_transport_mcf`) on the arcs of the set, which by the same proof is a min-cost flow of
the network above restricted to those arcs (c_max over all arcs is >= c_max over the set).
M only enters the potentials, which are computed in float64 on integers below 2**53 (exact).

Potentials: shortest-path distances p from a virtual root (0-cost arcs to every node) in the
residual graph of the sparse optimum (no negative cycle: it is optimal), by a vectorised
Bellman-Ford. An excluded arc o -> n (flow 0, capacity > 0) prices out when
c_a + p_o - p_n < 0. When none does, p is a feasible dual of the full network with x
complementary: x is optimal for the full model.

Every arc that prices out joins the set (ADD_PER_NODE None; an integer n makes the pricing
partial: only the n most negative out of every offer and into every need join, the rest are
priced again against the next potentials); termination holds because each round adds at
least one arc of a finite set. On the national instance k = 30 with every violator added
took 3 rounds and 57.6 s, k = 20 with 16 per node 4 rounds and 66 s, k = 40 3 rounds and
65.6 s (2026-11-30, this function alone on the arcs of benchmarks/bench_national.py's
instance, load about 1.5): OR-Tools' time per round follows the nodes more than the arcs,
so fewer rounds win.

Pricing reads the candidate arrays that `matching.candidates` built (streamed from the
spatial index in offer chunks, then held compactly: int32 ends, 30 bytes an arc), in
PRICE_CHUNK slices. Regenerating the pairs from the spatial index at every round instead
would hold no arcs but cost a candidate pass per round (about 11 s on the 31 M-arc
national instance, against 0.1-0.2 s to price them from the arrays, measured 2026-11-30);
the arrays are 0.9 GiB of a national run, and the solver's share, which the sparse set
cuts from 31 M arcs to about 2.4 M, was the peak. `model.solve_candidates` takes this route
by default from `model.SPARSE_AUTO_MIN_ARCS` network arcs (`--method sparse` at any size).

`certified_min_cost_flow` is the same loop for a general network (DIMACS semantics, used to
check the method on published optima): artificial arcs to and from a hub node at cost
(n x max|c| + 1) keep every sparse subproblem feasible and never carry flow at the optimum
of a feasible instance (a flow on them would close a negative cycle with any feasible
path: same argument).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import BrokenExecutor, Executor, Future
from dataclasses import dataclass, field, fields, replace
from functools import partial

import numpy as np
from numpy.typing import NDArray

from symbiosis.errors import SolverError
from symbiosis.matching import netsimplex
from symbiosis.matching.flow import (
    FlowSolution,
    Scales,
    SolverStatus,
    choose_scales,
    solve_min_cost_flow,
    solve_transport_mcf,
    to_scaled_int,
)
from symbiosis.matching.parts import arc_components, balanced_bins, spawn_safe, usable_cores
from symbiosis.matching.result import SolverFacts
from symbiosis.matching.shortest import frontier_bellman_ford
from symbiosis.matching.summary import SolverSummary, SparseCertificate
from symbiosis.types import FloatArray, IntArray

__all__ = [
    "DEFAULT_K",
    "EXACT_FLOAT_INT",
    "PRICE_CHUNK",
    "Certificate",
    "CertifiedFacts",
    "SparsePrecisionError",
    "certified_min_cost_flow",
    "node_potentials",
    "residual_arcs",
    "solve_transport_sparse",
    "sparse_start",
    "with_certificate",
]

DEFAULT_K = 30  # nearest arcs kept per offer and per need in the first sparse set
PRICE_CHUNK = 1_000_000  # arcs priced at a time: the pricing never holds more temporaries
ADD_PER_NODE: int | None = None  # violators entering per offer and need a round (None: all)
MAX_ROUNDS = 1000  # every round adds >= 1 arc and the set is finite; this only guards bugs
SOLVERS = ("network_simplex", "min_cost_flow")  # the rounds' solver (solve_transport_sparse)


@dataclass
class Certificate:
    """The facts that certify a sparse optimum: `rounds` solves, `arcs_priced` reduced
    costs computed in all, `arcs_added` arcs that priced out and joined the set,
    `arcs_solved` arcs in the final set out of `arcs_total`, `big_m` the unserved-supply
    cost (integer, distance-scale units; for a general network the hub arcs' cost),
    `violations` reduced costs < 0 left at the end (0: the loop only stops there, and
    raises after MAX_ROUNDS), `added_per_round` the arcs each round added (last: 0),
    `round_seconds` each round's solve, potentials and pricing, `resolved_per_round` the
    arcs each round solved (the components that gained arcs; the others keep their flows;
    with the network simplex, every arc of the set, from the last round's basis),
    `solver` the rounds' solver ("network_simplex", warm-started, "min_cost_flow",
    OR-Tools from scratch, or "both" for merged parts), `pivots_per_round` the simplex
    pivots of each round (empty for min_cost_flow)."""

    rounds: int = 0
    arcs_priced: int = 0
    arcs_added: int = 0
    arcs_solved: int = 0
    arcs_total: int = 0
    k: int = DEFAULT_K
    big_m: int = 0
    violations: int = 0
    added_per_round: list[int] = field(default_factory=list)
    round_seconds: list[float] = field(default_factory=list)
    resolved_per_round: list[int] = field(default_factory=list)
    solver: str = "min_cost_flow"
    pivots_per_round: list[int] = field(default_factory=list)

    def merge(self, other: Certificate) -> Certificate:
        """The facts of two independent parts taken together."""
        return Certificate(
            rounds=max(self.rounds, other.rounds),
            arcs_priced=self.arcs_priced + other.arcs_priced,
            arcs_added=self.arcs_added + other.arcs_added,
            arcs_solved=self.arcs_solved + other.arcs_solved,
            arcs_total=self.arcs_total + other.arcs_total, k=self.k,
            big_m=max(self.big_m, other.big_m),
            violations=self.violations + other.violations,
            added_per_round=self.added_per_round + other.added_per_round,
            round_seconds=self.round_seconds + other.round_seconds,
            resolved_per_round=self.resolved_per_round + other.resolved_per_round,
            solver=self.solver if self.solver == other.solver else "both",
            pivots_per_round=self.pivots_per_round + other.pivots_per_round)


EXACT_FLOAT_INT = 2**53  # every integer below this is exact in a float64


class SparsePrecisionError(SolverError):
    """The instance's integer costs are too fine for exact float64 pricing: solve densely."""


def node_potentials(n_nodes: int, tails: IntArray, heads: IntArray,
                    costs: FloatArray) -> FloatArray:
    """Shortest-path distance to every node from a virtual root joined to all nodes at cost
    0 (so every distance is <= 0), over the arcs (tails, heads, costs) of a residual graph.

    A frontier Bellman-Ford (`matching.shortest`); costs are integers held in float64
    (exact below 2**53), so no tolerance.

    Raises:
        SolverError: a negative cycle (the flow whose residual graph this is was not optimal).
    """
    dist = np.zeros(n_nodes)
    if not frontier_bellman_ford(dist, np.unique(tails), tails, heads, costs):
        raise SolverError("negative cycle in the residual graph: the sparse solve was not "
                          "optimal")
    return dist


def sparse_start(tails: IntArray, heads: IntArray, costs: FloatArray,
                 k: int = DEFAULT_K, prefilter_min: int | None = None) -> IntArray:
    """Positions of the `k` cheapest arcs out of every tail and into every head (sorted;
    ties go to the earlier position).

    Large arc sets are first cut by a histogram pass (`_cheapest_bins`): per group, the arcs
    in cost bins past the first bin that holds the group's k-th cheapest arc cannot be among
    its k cheapest, so only the arcs up to that bin are sorted. Same positions as sorting
    all arcs, without two argsorts of every arc (a national instance: 31 M arcs, ~19 s and
    ~1.5 GiB of sort temporaries before; a few passes of bincount now). `prefilter_min`
    (default PREFILTER_MIN_ARCS) is the arc count from which the histogram pass runs.
    """
    keep = np.zeros(len(tails), bool)
    if k <= 0 or not len(tails):
        return np.flatnonzero(keep)
    costs = np.asarray(costs, float)
    big = len(costs) >= (PREFILTER_MIN_ARCS if prefilter_min is None else prefilter_min) \
        and bool(np.isfinite(costs).all())

    def cheapest(group: IntArray) -> IntArray:
        """Positions of the k cheapest arcs of every group value."""
        pool = _cheapest_bins(group, costs, k) if big else None
        g_all = group if pool is None else group[pool]
        c_all = costs if pool is None else costs[pool]
        by_cost = np.argsort(c_all, kind="stable")
        order = by_cost[np.argsort(g_all[by_cost], kind="stable")]  # by group, then cost
        g = g_all[order]
        first = np.r_[True, g[1:] != g[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(g)), 0))
        chosen = order[np.arange(len(g)) - start < k]
        return chosen if pool is None else pool[chosen]

    if big and usable_cores() > 1:  # tails and heads side by side (numpy sorts drop the GIL)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=2) as threads:
            found = list(threads.map(cheapest, (tails, heads)))
    else:
        found = [cheapest(tails), cheapest(heads)]
    for chosen in found:
        keep[chosen] = True
    return np.flatnonzero(keep)


PREFILTER_MIN_ARCS = 1_000_000  # below this, sorting every arc is cheap enough
PREFILTER_BINS = 64  # cost bins per group in the histogram pass (finer near 0: sqrt)


def _cheapest_bins(group: IntArray, costs: FloatArray, k: int) -> IntArray:
    """Positions (ascending) of the arcs whose cost bin is at most the bin holding their
    group's k-th cheapest arc: a superset of every group's k cheapest, ties included (equal
    costs share a bin). Bins are monotone in cost, sqrt-spaced between the least and the
    largest cost; all passes are linear (bincount), in PRICE_CHUNK slices."""
    lo, hi = float(costs.min()), float(costs.max())
    span = hi - lo if hi > lo else 1.0
    n_groups = int(group.max()) + 1
    bins = np.empty(len(costs), np.int16)
    counts = np.zeros(n_groups * PREFILTER_BINS, np.int64)
    for chunk in _chunks(len(costs)):
        b = np.sqrt((costs[chunk] - lo) / span) * (PREFILTER_BINS - 1)
        bins[chunk] = np.minimum(b.astype(np.int16), PREFILTER_BINS - 1)
        key = group[chunk].astype(np.int64) * PREFILTER_BINS + bins[chunk]
        counts += np.bincount(key, minlength=len(counts))
    cum = np.cumsum(counts.reshape(n_groups, PREFILTER_BINS), axis=1)
    # first bin where the group has k arcs (its last bin when it has fewer)
    last = np.minimum((cum < k).sum(axis=1), PREFILTER_BINS - 1).astype(np.int16)
    found = [np.flatnonzero(bins[chunk] <= last[group[chunk]]) + chunk.start
             for chunk in _chunks(len(costs))]
    return np.concatenate(found)


def _price(tails: IntArray, heads: IntArray, unit_cost: Callable[[slice], IntArray],
           p_tail: np.ndarray, p_head: np.ndarray, active: np.ndarray,
           cert: Certificate, per_node: int | None = None) -> IntArray:
    """Positions of excluded arcs whose reduced cost unit_cost + p_tail - p_head is
    negative (costs are integers: < -0.5; int64 throughout with int64 potentials), priced
    PRICE_CHUNK arcs at a time; with `per_node`, only the `per_node` most negative out of
    every tail and into every head."""
    found: list[IntArray] = []
    found_rc: list[FloatArray] = []
    for chunk in _chunks(len(tails)):
        out = ~active[chunk]
        rc = unit_cost(chunk) + p_tail[tails[chunk]] - p_head[heads[chunk]]
        bad = np.flatnonzero((rc < -0.5) & out)
        cert.arcs_priced += int(out.sum())
        if len(bad):
            found.append(bad + chunk.start)
            found_rc.append(rc[bad])
    if not found:
        return np.empty(0, np.int64)
    bad, rc = np.concatenate(found), np.concatenate(found_rc)
    if per_node is None:
        return bad
    # partial pricing: the most violated arcs of every node enter; the others are priced
    # again next round against new potentials (they may no longer price out)
    return bad[sparse_start(tails[bad], heads[bad], rc, per_node)]


def _priced_out(arc_supply: IntArray, arc_demand: IntArray, arc_km: FloatArray,
                scale: int, p_offer: np.ndarray, p_need: np.ndarray, sup: IntArray,
                dem: IntArray, active: NDArray[np.bool_], cert: Certificate,
                round_start: float) -> IntArray:
    """One round's pricing of the transport arcs: the excluded arcs whose reduced cost at
    these potentials is negative (`_price`, ADD_PER_NODE), less those whose capacity
    rounds to zero (they cannot carry flow, so they never price out). They join `active`;
    `cert` records the round."""
    bad = _price(arc_supply, arc_demand, partial(_scaled, arc_km, scale), p_offer, p_need,
                 active, cert, ADD_PER_NODE)
    bad = bad[np.minimum(sup[arc_supply[bad]], dem[arc_demand[bad]]) > 0]
    cert.added_per_round.append(len(bad))
    cert.round_seconds.append(time.perf_counter() - round_start)
    cert.arcs_added += len(bad)
    active[bad] = True
    return bad


def _scaled(values: FloatArray, scale: float, chunk: slice | IntArray) -> IntArray:
    """Integer costs of the arcs in `chunk` at `scale` (as the solver rounded them), int64:
    exact against the network simplex's int64 potentials, and against float potentials
    (integers below 2**53) alike."""
    return np.rint(values[chunk] * scale).astype(np.int64)


def _rounded_bound(flows: FloatArray, km: FloatArray, scale: int, objective: float) -> float:
    """The honest lower bound of `flow._rounded_bound` (the optimum for the km the solver
    rounded to `scale` is within max|km - km'| per unit of the true one), computed in
    PRICE_CHUNK slices: no temporaries the size of all arcs."""
    err = max((float(np.max(np.abs(km[c] - np.rint(km[c] * scale) / scale)))
               for c in _chunks(len(km))), default=0.0)
    if err == 0.0:
        return objective
    live = np.flatnonzero(flows)
    seen = float(flows[live] @ (np.rint(km[live] * scale) / scale))
    return seen - err * float(flows.sum())


def _full_scales(quantities: FloatArray, km: FloatArray, n_nodes: int,
                 cost_limit: float, chunk: int = PRICE_CHUNK) -> Scales:
    """`flow.choose_scales` over all arcs, one PRICE_CHUNK slice at a time (its temporaries
    are several arrays the size of its input: about 1 GiB at 31 M arcs).

    Every slice is given the longest arc too, so each sees the same largest cost and room;
    the scale of all arcs is then the finest slice's (an inexact slice takes the finest
    the room allows, an exact one the decimals it needs, at most that), exact only when
    every slice is.
    """
    top = np.array([float(np.max(km))])
    parts = [choose_scales(quantities, np.concatenate([km[c], top]), n_nodes,
                           cost_limit=cost_limit) for c in _chunks(len(km), chunk)]
    return replace(parts[0], distance=max(p.distance for p in parts),
                   distance_exact=all(p.distance_exact for p in parts))


def _chunks(n: int, size: int = PRICE_CHUNK) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def residual_arcs(sup: IntArray, dem: IntArray, offer: IntArray, need: IntArray,
                  flows: IntArray, costs: FloatArray, big_m: int
                  ) -> tuple[IntArray, IntArray, FloatArray]:
    """The residual graph of an integer transport flow in the big-M network of the module
    docstring: nodes are the offers (0..len(sup)-1), the needs after them and the sink
    last; arcs offer -> need with `flows` and integer `costs` (float64), capacities
    min(sup, dem). Returns tails, heads and costs of every residual arc (forward where
    flow can rise, backward where it can fall, and the sink's arcs: unserved supply at
    cost `big_m`, spare demand at 0), for `node_potentials`."""
    n_s, n_d = len(sup), len(dem)
    sink = n_s + n_d
    shipped = np.bincount(offer, weights=flows, minlength=n_s).astype(np.int64)
    received = np.bincount(need, weights=flows, minlength=n_d).astype(np.int64)
    fwd, bwd = flows < np.minimum(sup[offer], dem[need]), flows > 0
    offers, needs = np.arange(n_s), np.arange(n_d)
    served = shipped > 0  # o -> t forward residual: unserved flow can fall
    unserved = sup - shipped > 0  # t -> o: unserved flow can rise back
    open_need = received < dem
    taken = received > 0
    tails = np.concatenate([offer[fwd], n_s + need[bwd], offers[served],
                            np.full(int(unserved.sum()), sink), n_s + needs[open_need],
                            np.full(int(taken.sum()), sink)])
    heads = np.concatenate([n_s + need[fwd], offer[bwd], np.full(int(served.sum()), sink),
                            offers[unserved], np.full(int(open_need.sum()), sink),
                            n_s + needs[taken]])
    residual_costs = np.concatenate([
        costs[fwd], -costs[bwd], np.full(int(served.sum()), float(big_m)),
        np.full(int(unserved.sum()), -float(big_m)), np.zeros(int(open_need.sum())),
        np.zeros(int(taken.sum()))])
    return tails, heads, residual_costs


def solve_transport_sparse(supply: FloatArray, demand: FloatArray, arc_supply: IntArray,
                           arc_demand: IntArray, arc_km: FloatArray, k: int = DEFAULT_K,
                           *, helper: bool = True, solver: str = "network_simplex"
                           ) -> tuple[FlowSolution, Certificate]:
    """The lexicographic transport of `flow.solve_transport_mcf` (same arguments, same
    optimum: maximum quantity shipped, then minimum sum(q x km)), solved on a sparse arc set
    grown by pricing until no arc of the full set has a negative reduced cost (see the
    module docstring). Returns the solution over all arcs and its certificate.

    `solver` "network_simplex" (default) solves the big-M network of the module docstring
    with `matching.netsimplex`, warm-started from the last round's basis, and prices with
    its potentials; "min_cost_flow" solves each round from scratch with OR-Tools (as
    PART_BINS groups of components, the second in a helper process unless `helper` is
    False) and prices with Bellman-Ford potentials of the residual graph. The network
    simplex is taken where its compiled loop was built (`netsimplex.available`) and its
    int64 potentials cannot overflow (`netsimplex.fits`); otherwise OR-Tools solves (the
    certificate's `solver` says which). Same optimal value either
    way; among several optimal plans the two may return different ones.

    Raises:
        SolverError: a sparse solve is not optimal, or the loop does not converge.
    """
    started = time.perf_counter()  # the solve's seconds: every round, potentials, pricing
    n_s, n_d, n_a = len(supply), len(demand), len(arc_km)
    cert = Certificate(arcs_total=n_a, k=k)
    if n_a == 0:
        sol = solve_transport_mcf(supply, demand, arc_supply, arc_demand, arc_km)
        return sol, cert
    # int32 ends stay int32 (a national instance: 2 x 125 MB, not 2 x 250 MB)
    arc_supply, arc_demand = np.asarray(arc_supply), np.asarray(arc_demand)
    active = np.zeros(n_a, bool)
    active[sparse_start(arc_supply, arc_demand, arc_km, k)] = True
    n_paths = netsimplex.path_count(arc_supply, arc_demand)
    km_max = float(arc_km.max())
    # every solve uses a distance scale whose unserved-supply cost (paths x largest cost)
    # stays an exact float64 integer, so the pricing below is exact
    cost_limit = EXACT_FLOAT_INT / (n_paths + 2)
    # one scale for every round, chosen on ALL arcs (a round's arcs may have fewer decimals
    # or a shorter longest arc, which would pick a different, finer scale than the dense
    # solve's, and a big M past 2**53)
    scales = _full_scales(np.concatenate([supply, demand]), arc_km, n_s + n_d, cost_limit)
    if solver not in SOLVERS:
        raise ValueError(f"solver {solver!r}: expected one of {', '.join(SOLVERS)}")
    big_m = n_paths * int(np.rint(km_max * scales.distance)) + 1
    if solver == "network_simplex" and netsimplex.available() and netsimplex.fits(
            n_s + n_d + 1, big_m):
        return _certify_simplex(supply, demand, arc_supply, arc_demand, arc_km, active,
                                scales, big_m, cert, started)
    pool = _helper(int(active.sum())) if helper else None
    try:
        return _certify(supply, demand, arc_supply, arc_demand, arc_km, active, scales,
                        big_m, cert, started, pool)
    finally:
        _close(pool)


def _certify(supply: FloatArray, demand: FloatArray, arc_supply: IntArray,
             arc_demand: IntArray, arc_km: FloatArray, active: NDArray[np.bool_],
             scales: Scales, big_m: int, cert: Certificate,
             started: float, helper: Executor | None) -> tuple[FlowSolution, Certificate]:
    """The rounds of `solve_transport_sparse`: solve on `active`, price, add, repeat."""
    n_s, n_d, n_a = len(supply), len(demand), len(arc_km)
    sink = n_s + n_d
    previous: FloatArray | None = None  # last round's flows (over its arcs, then this one's)
    last_arcs: IntArray = np.empty(0, np.int64)  # last round's arcs
    changed: NDArray[np.bool_] | None = None  # this round's arcs that joined last round
    while True:
        cert.rounds += 1
        if cert.rounds > MAX_ROUNDS:
            raise SolverError(f"sparse pricing did not converge in {MAX_ROUNDS} rounds")
        round_start = time.perf_counter()
        arcs = np.flatnonzero(active)
        if previous is not None:  # carry the flows over to this round's positions
            carried = np.zeros(len(arcs))
            carried[np.searchsorted(arcs, last_arcs)] = previous
            changed = np.ones(len(arcs), bool)
            changed[np.searchsorted(arcs, last_arcs)] = False
            previous = carried
        sol, resolved = _solve_parts(supply, demand, arc_supply[arcs], arc_demand[arcs],
                                     arc_km[arcs], scales, helper, previous, changed)
        cert.resolved_per_round.append(resolved)
        if sol.status is not SolverStatus.OPTIMAL:
            return sol, cert
        assert sol.scales is not None
        scale = sol.scales.distance
        assert scale == scales.distance  # every round at the one scale big M was made for
        # residual capacities in the solver's own integers (capacities floored as it did)
        sup = to_scaled_int(supply, sol.scales.quantity)
        dem = to_scaled_int(demand, sol.scales.quantity)
        if big_m >= EXACT_FLOAT_INT:
            raise SparsePrecisionError(
                f"sparse pricing is exact only for integer costs below 2**53; at this "
                f"instance's distance scale ({scale} per km) the unserved-supply cost is "
                f"{big_m:.3g}")
        cert.big_m = big_m
        f = np.rint(sol.flows * sol.scales.quantity).astype(np.int64)
        tails, heads, costs = residual_arcs(sup, dem, arc_supply[arcs], arc_demand[arcs],
                                            f, np.rint(arc_km[arcs] * scale), big_m)
        p = node_potentials(sink + 1, tails, heads, costs)

        if not len(_priced_out(arc_supply, arc_demand, arc_km, scale, p[:n_s], p[n_s:sink],
                               sup, dem, active, cert, round_start)):
            break
        last_arcs, previous = arcs, sol.flows
    flows = np.zeros(n_a)
    flows[arcs] = sol.flows
    cert.arcs_solved = len(arcs)
    objective = float(flows @ arc_km)
    bound = _rounded_bound(flows, arc_km, scale, objective)
    seconds = time.perf_counter() - started
    return FlowSolution(SolverStatus.OPTIMAL, flows, objective, bound, seconds,
                        sol.method, stages=(float(flows.sum()), objective),
                        scales=sol.scales), cert


def _certify_simplex(supply: FloatArray, demand: FloatArray, arc_supply: IntArray,
                     arc_demand: IntArray, arc_km: FloatArray, active: NDArray[np.bool_],
                     scales: Scales, big_m: int, cert: Certificate,
                     started: float) -> tuple[FlowSolution, Certificate]:
    """The rounds of `solve_transport_sparse` on one warm-started network simplex basis.

    The network is the module docstring's big-M network: offers, needs, and the sink as the
    tree's root. The first basis is the sink star (every offer's supply on its unserved
    arc, every need's arc to the sink empty), strongly feasible as the method requires.
    Each round pivots to an optimum of the arcs in the set, prices every excluded arc with
    the basis's potentials (int64, exact), and adds the ones that price out at flow 0: the
    basis stays feasible, and the next round starts from it. On the 31 M-arc national
    network the first round took 4.0 s, the next three 1.3, 0.6 and 0.2 s (28,318, 105 and
    3 arcs added; 531,502, 57,500, 589 and 1 pivots), where OR-Tools took 15-20 s a round
    (benchmarks/bench_national.py, 2026-11-30).

    The end is checked without trusting the solver: flows within their bounds, every node
    balanced, and complementary slackness on every arc of the set (reduced cost >= 0 where
    flow can rise, <= 0 where it can fall); with no excluded arc pricing out, these are
    the optimality conditions of the full model's LP.

    Raises:
        SolverError: the basis fails that check, or the loop does not converge.
    """
    n_s, n_d, n_a = len(supply), len(demand), len(arc_km)
    sink = n_s + n_d
    scale = scales.distance
    sup = to_scaled_int(supply, scales.quantity)
    dem = to_scaled_int(demand, scales.quantity)
    cert.big_m, cert.solver = big_m, "network_simplex"

    def caps(idx: IntArray) -> IntArray:
        return np.minimum(sup[arc_supply[idx]], dem[arc_demand[idx]])

    arcs = np.flatnonzero(active)
    basis = netsimplex.transport_basis(sup, dem, arc_supply[arcs], arc_demand[arcs],
                                       caps(arcs), _scaled(arc_km, scale, arcs), big_m)
    members = [arcs]
    pivots = 0
    while True:
        cert.rounds += 1
        if cert.rounds > MAX_ROUNDS:
            raise SolverError(f"sparse pricing did not converge in {MAX_ROUNDS} rounds")
        round_start = time.perf_counter()
        status = basis.solve()
        # no negative cycle can be uncapacitated: only the unserved arcs are, at cost M > 0
        if status != netsimplex.NetworkSimplexStatus.OPTIMAL:
            raise SolverError(f"network simplex ended with status {status}")
        cert.pivots_per_round.append(basis.pivots - pivots)
        pivots = basis.pivots
        cert.resolved_per_round.append(len(basis.tail) - sink)
        pi = basis.pi
        bad = _priced_out(arc_supply, arc_demand, arc_km, scale, pi[:n_s], pi[n_s:sink],
                          sup, dem, active, cert, round_start)
        if not len(bad):
            break
        members.append(bad)
        basis.add_arcs(arc_supply[bad], n_s + np.asarray(arc_demand[bad], np.int64),
                       caps(bad), _scaled(arc_km, scale, bad))
    cert.violations = basis.optimality_violations()
    if cert.violations:
        raise SolverError(f"network simplex basis fails {cert.violations} optimality "
                          "conditions")
    arcs = np.concatenate(members)
    flows = np.zeros(n_a)
    flows[arcs] = basis.arc_flows()[sink:] / scales.quantity
    cert.arcs_solved = len(arcs)
    objective = float(flows @ arc_km)
    bound = _rounded_bound(flows, arc_km, scale, objective)
    return FlowSolution(SolverStatus.OPTIMAL, flows, objective, bound,
                        time.perf_counter() - started, "network_simplex",
                        stages=(float(flows.sum()), objective), scales=scales), cert


PART_MIN_ARCS = 200_000  # below this many arcs a round is one solve (no grouping)
PART_HELPER_MIN_ARCS = 500_000  # from this many arcs in a round, a second process solves
PART_BINS = 2  # a round's components are solved in this many groups (fixed: same plan
# whatever the cores)


def _helper(arcs: int) -> Executor | None:
    """A one-process pool that solves a round's second group of components beside this
    process, on a machine with more than one usable core and rounds of at least
    PART_HELPER_MIN_ARCS arcs (None otherwise). Started now, warmed by importing OR-Tools,
    so its start-up overlaps the first round's preparation."""
    if arcs < PART_HELPER_MIN_ARCS or usable_cores() < 2 or not spawn_safe():
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: forking a process that holds solver and BLAS threads is unsafe
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    pool.submit(_warm)
    return pool


def _warm() -> None:
    from ortools.graph.python import min_cost_flow  # noqa: F401


def _close(helper: Executor | None) -> None:
    if helper is not None:
        helper.shutdown(wait=True, cancel_futures=True)


def _solve_group(inputs: tuple[FloatArray, FloatArray, IntArray, IntArray, FloatArray],
                 scales: Scales) -> FlowSolution:
    supply, demand, offer, need, km = inputs
    return solve_transport_mcf(supply, demand, offer, need, km, scales=scales)


def _solve_parts(supply: FloatArray, demand: FloatArray, arc_supply: IntArray,
                 arc_demand: IntArray, arc_km: FloatArray, scales: Scales,
                 helper: Executor | None, previous: FloatArray | None = None,
                 changed: NDArray[np.bool_] | None = None) -> tuple[FlowSolution, int]:
    """`flow.solve_transport_mcf` on these arcs, solved as PART_BINS groups of whole
    connected components, each group on its own offers and needs only (renumbered): on
    the national instance's first round (2.2 M arcs, one component of 1.7 M) that is 15.2 s
    in one process against 18.9 s for one solve over all 189,000 nodes, and 12.5 s with the
    smaller group in `helper`'s process (benchmarks/bench_national.py). The groups are the
    same whatever the helper, so the plan is too. Flows over these arcs (status OPTIMAL
    only when every group's is) and how many arcs were solved.

    With `previous` (the last round's optimal flows, here over these arcs) and `changed`
    (the arcs that joined since), only the components holding a changed arc are solved:
    a component without one is the same problem as in the last round (its arcs, offers and
    needs are exactly that round's component), so its optimal flows stand.
    """
    start = time.perf_counter()
    n_a = len(arc_km)
    if n_a < PART_MIN_ARCS:  # one solve: no components to find (nor scipy to import)
        return solve_transport_mcf(supply, demand, arc_supply, arc_demand, arc_km,
                                   scales=scales), n_a
    labels = arc_components(arc_supply, arc_demand, len(supply), len(demand))
    flows = np.zeros(n_a)
    solve = np.arange(n_a)
    if previous is not None and changed is not None:
        dirty = np.zeros(int(labels.max()) + 1 if n_a else 0, bool)
        dirty[labels[changed]] = True
        solve = np.flatnonzero(dirty[labels])
        kept = ~dirty[labels]
        flows[kept] = previous[kept]
    groups = [solve[g] for g in sorted(balanced_bins(labels[solve], PART_BINS), key=len,
                                       reverse=True)] if len(solve) else []
    if len(groups) == 1 and len(solve) == n_a:
        return solve_transport_mcf(supply, demand, arc_supply, arc_demand, arc_km,
                                   scales=scales), n_a

    def inputs(g: IntArray) -> tuple[FloatArray, FloatArray, IntArray, IntArray,
                                     FloatArray]:
        offers, o_local = np.unique(arc_supply[g], return_inverse=True)
        needs, n_local = np.unique(arc_demand[g], return_inverse=True)
        return supply[offers], demand[needs], o_local, n_local, arc_km[g]

    later: list[Future[FlowSolution] | None] = [
        helper.submit(_solve_group, inputs(g), scales) if helper is not None else None
        for g in groups[1:]]
    solutions = [_solve_group(inputs(groups[0]), scales)] if groups else []
    for g, future in zip(groups[1:], later, strict=True):
        try:
            solutions.append(future.result() if future is not None
                             else _solve_group(inputs(g), scales))
        except BrokenExecutor:  # the helper died (e.g. killed): solve the group here
            solutions.append(_solve_group(inputs(g), scales))
    for g, sol in zip(groups, solutions, strict=True):
        if sol.status is not SolverStatus.OPTIMAL:
            return replace(sol, flows=np.zeros(n_a)), len(solve)
        flows[g] = sol.flows
    objective = float(flows @ arc_km)
    return FlowSolution(SolverStatus.OPTIMAL, flows, objective, objective,
                        time.perf_counter() - start, "min_cost_flow",
                        stages=(float(flows.sum()), objective), scales=scales), len(solve)


def certified_min_cost_flow(tails: IntArray, heads: IntArray, capacities: IntArray,
                            unit_costs: IntArray, supplies: IntArray,
                            lower: IntArray | None = None, k: int = DEFAULT_K
                            ) -> tuple[SolverStatus, IntArray, int, Certificate]:
    """`flow.solve_min_cost_flow` (integer DIMACS min-cost flow, same arguments and result)
    solved on a sparse arc set grown by pricing (module docstring). Arcs with a lower bound
    are always in the set. Status INFEASIBLE when the hub arcs still carry flow.

    Raises:
        SolverError: the loop does not converge.
    """
    tails = np.asarray(tails, np.int64)
    heads = np.asarray(heads, np.int64)
    caps = np.asarray(capacities, np.int64)
    # an arc of capacity 0 never carries flow, so it never prices out
    usable_cost = np.where(caps > 0, unit_costs, np.iinfo(np.int64).max // 4).astype(float)
    costs = np.asarray(unit_costs, np.int64)
    supply = np.asarray(supplies, np.int64)
    lo = np.zeros(len(tails), np.int64) if lower is None else np.asarray(lower, np.int64)
    n, n_a = len(supply), len(tails)
    hub = n
    big = (n + 1) * int(np.abs(costs).max(initial=0)) + 1
    room = int(np.abs(supply).sum()) + int(caps.sum())
    nodes = np.arange(n)
    art_t = np.concatenate([nodes, np.full(n, hub)])
    art_h = np.concatenate([np.full(n, hub), nodes])
    art_cap = np.full(2 * n, room, np.int64)
    art_cost = np.full(2 * n, big, np.int64)
    cert = Certificate(arcs_total=n_a, k=k, big_m=big)
    active = np.zeros(n_a, bool)
    active[sparse_start(tails, heads, costs.astype(float), k)] = True
    active |= lo > 0
    while True:
        cert.rounds += 1
        if cert.rounds > MAX_ROUNDS:
            raise SolverError(f"sparse pricing did not converge in {MAX_ROUNDS} rounds")
        arcs = np.flatnonzero(active)
        t_all = np.concatenate([tails[arcs], art_t])
        h_all = np.concatenate([heads[arcs], art_h])
        cap_all = np.concatenate([caps[arcs], art_cap])
        cost_all = np.concatenate([costs[arcs], art_cost])
        lo_all = np.concatenate([lo[arcs], np.zeros(2 * n, np.int64)])
        status, f, _ = solve_min_cost_flow(t_all, h_all, cap_all, cost_all,
                                           np.append(supply, 0), lo_all)
        if status is not SolverStatus.OPTIMAL:
            return status, np.zeros(n_a, np.int64), 0, cert
        fwd, bwd = f < cap_all, f > lo_all
        p = node_potentials(n + 1, np.concatenate([t_all[fwd], h_all[bwd]]),
                            np.concatenate([h_all[fwd], t_all[bwd]]),
                            np.concatenate([cost_all[fwd], -cost_all[bwd]]).astype(float))

        bad = _price(tails, heads, partial(_scaled, usable_cost, 1.0), p, p, active, cert)
        cert.added_per_round.append(len(bad))
        if not len(bad):
            break
        cert.arcs_added += len(bad)
        active[bad] = True
    cert.arcs_solved = len(arcs)
    flows = np.zeros(n_a, np.int64)
    flows[arcs] = f[:len(arcs)]
    if f[len(arcs):].any():
        return SolverStatus.INFEASIBLE, flows, 0, cert
    total = int(sum(int(a) * int(b) for a, b in zip(flows, costs, strict=True) if a))
    return SolverStatus.OPTIMAL, flows, total, cert


@dataclass(frozen=True)
class CertifiedFacts(SolverFacts):
    """Solver facts with the certificate of the sparse solves behind them."""

    certificate: Certificate | None = None

    def as_summary(self) -> SolverSummary:
        """The `solver` object of summary.json, with its `certificate`."""
        summary = super().as_summary()
        if self.certificate is None:
            return summary
        c = self.certificate
        return summary.model_copy(update={"certificate": SparseCertificate(
            rounds=c.rounds, arcs_priced=c.arcs_priced, arcs_added=c.arcs_added,
            arcs_solved=c.arcs_solved, arcs_total=c.arcs_total, k=c.k, big_m=c.big_m,
            violations=c.violations, added_per_round=list(c.added_per_round),
            round_seconds=[round(x, 3) for x in c.round_seconds],
            resolved_per_round=list(c.resolved_per_round),
            solver=c.solver,  # type: ignore[arg-type]
            pivots_per_round=list(c.pivots_per_round))})


def with_certificate(facts: SolverFacts, certificates: list[Certificate]) -> SolverFacts:
    """`facts` carrying the merged certificate of `certificates` (unchanged when empty)."""
    if not certificates:
        return facts
    merged = certificates[0]
    for other in certificates[1:]:
        merged = merged.merge(other)
    return CertifiedFacts(**{f.name: getattr(facts, f.name) for f in fields(facts)},
                          certificate=merged)
