"""Dual values of a plan: fair and stable prices, and what more capacity would be worth.

For a value objective (max sum_a w_a x_a, x_a in offer units), the LP dual is

    min  sum_o q_o u_o + sum_n D_n y_n    s.t.  u_o + y_n >= w_a  for every arc a = (o, n),
                                                u, y >= 0

with D_n the need's capacity in offer units (d_n / ratio). Shapley and Shubik (1971, "The
assignment game I: the core", Int. J. Game Theory 1: 111-130) show the dual optima are the
core: splitting each exchange's value so that offer o keeps u_o and need n keeps y_n per unit
leaves no supplier-receiver pair that would both gain by trading outside the plan (u_o + y_n
>= w_a), and nobody worse off than not trading (u, y >= 0). The core is a lattice; its two
ends are the supplier-optimal point (largest u) and the receiver-optimal point (largest y).
We report its midpoint as the price, and both ends as the negotiable range.

Given an optimal flow, the duals are exactly the potentials of a system of difference
constraints (phi_o = u_o, phi_n = -y_n, phi_Z = 0 for a zero node Z):

    phi_n <= phi_o - w_a        every arc          (u_o + y_n >= w_a)
    phi_o <= phi_n + w_a        arcs with flow     (complementary slackness: tight)
    phi_Z <= phi_o, phi_n <= phi_Z                 (u, y >= 0)
    phi_o <= phi_Z  if o is not full,  phi_Z <= phi_n  if n is not full

Shortest paths from Z give the pointwise largest phi (supplier-optimal); shortest paths in
the reversed graph give the smallest (receiver-optimal). The receiver-optimal y_n is also the
smallest dual of need n's capacity, i.e. the objective gained by one more unit of capacity
(a right derivative): the marginal value a park manager reads as "where expanding pays".
Needs served at two ratios are generalised flow, not difference constraints; there we take
the LP's dual (HiGHS; one core point, reported as both ends).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symbiosis.dataset import Dataset
from symbiosis.errors import SolverError
from symbiosis.matching.candidates import Candidates
from symbiosis.matching.flow import SolverStatus, solve_generalized_max_weight_lp
from symbiosis.matching.shortest import frontier_bellman_ford
from symbiosis.types import FloatArray, IntArray

__all__ = ["Valuation", "core_potentials", "valuate"]

# relative: a capacity used to within this share counts as full, and a flow below this share
# of its offer is solver noise (LP tolerances), not an exchange that must be tight
FULL_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Valuation:
    """Dual values of a plan, all per unit and in the objective's units.

    `supplier_low`/`supplier_high` give, per arc and per offer unit, the supplier's share of
    w_a at the receiver-optimal and supplier-optimal ends of the core (NaN off the plan's
    arcs); `offer_marginal` and `need_marginal` are what one more unit of offer or need
    capacity (in that side's own unit) would add to the objective.
    """

    supplier_low: FloatArray
    supplier_high: FloatArray
    offer_marginal: FloatArray
    need_marginal: FloatArray
    method: str

    @property
    def supplier_mid(self) -> FloatArray:
        """The core midpoint: the supplier's share per offer unit on each arc."""
        return (self.supplier_low + self.supplier_high) / 2.0


def _shortest(n_nodes: int, source: int, tails: IntArray, heads: IntArray,
              weights: FloatArray) -> FloatArray:
    """Distances from `source` (`matching.shortest.frontier_bellman_ford`; weights may be
    negative), improvements below 1e-9 of the largest weight taken as float noise.

    Raises:
        SolverError: still improving after n_nodes + 1 rounds (a negative cycle).
    """
    dist = np.full(n_nodes, np.inf)
    dist[source] = 0.0
    tol = 1e-9 * max(1.0, float(np.max(np.abs(weights))) if len(weights) else 1.0)
    if not frontier_bellman_ford(dist, np.array([source]), tails, heads, weights, tol):
        raise SolverError("prices: the plan is not optimal for these values (a negative "
                          "cycle in the dual graph)")
    return dist


def _shortest_all_edges(n_nodes: int, source: int, tails: IntArray, heads: IntArray,
                        weights: FloatArray) -> FloatArray:
    """`_shortest` relaxing every edge in every round: the plain algorithm, kept as the
    reference the tests hold `_shortest` to."""
    dist = np.full(n_nodes, np.inf)
    dist[source] = 0.0
    tol = 1e-9 * max(1.0, float(np.max(np.abs(weights))) if len(weights) else 1.0)
    for _ in range(n_nodes + 1):
        reach = dist[tails] + weights
        better = reach < dist[heads] - tol
        if not better.any():
            return dist
        np.minimum.at(dist, heads[better], reach[better])
    raise SolverError("prices: the plan is not optimal for these values (a negative cycle "
                      "in the dual graph)")


def core_potentials(offer_cap: FloatArray, need_cap: FloatArray, arc_offer: IntArray,
                    arc_need: IntArray, arc_weight: FloatArray, flows: FloatArray,
                    quantum: float = 0.0) -> tuple[FloatArray, FloatArray, FloatArray,
                                                   FloatArray]:
    """(u_low, y_low, u_high, y_high): receiver- and supplier-optimal core points.

    Capacities and flows in offer units; `quantum` is the solver's quantity resolution, so
    that a capacity floored to it still counts as full. Arcs must have w_a > 0.
    """
    n_o, n_n = len(offer_cap), len(need_cap)
    z = n_o + n_n
    shipped_o = np.bincount(arc_offer, weights=flows, minlength=n_o)
    shipped_n = np.bincount(arc_need, weights=flows, minlength=n_n)
    def as_solved(cap: FloatArray) -> FloatArray:
        """The capacity the integer solver saw: floored to its quantum."""
        return np.floor(cap / quantum * (1 + 1e-12)) * quantum if quantum > 0 else cap

    full_o = shipped_o >= as_solved(offer_cap) * (1 - FULL_TOLERANCE)
    full_n = shipped_n >= as_solved(need_cap) * (1 - FULL_TOLERANCE)
    used = flows > FULL_TOLERANCE * np.maximum(1.0, offer_cap[arc_offer])
    # int32 node ids: a national plan has 10^7 arcs, so every edge array counts
    node = np.int32 if z < 2**31 - 1 else np.int64
    o_node = np.asarray(arc_offer, node)
    n_node = np.asarray(arc_need, node) + n_o
    offers = np.arange(n_o, dtype=node)
    needs = np.arange(n_o, z, dtype=node)
    open_o, open_n = offers[~full_o], needs[~full_n]
    zero_o, zero_n = np.full(n_o, z, dtype=node), np.full(n_n, z, dtype=node)
    # edge (t, h, c) means phi_h <= phi_t + c
    tails = np.concatenate([o_node, n_node[used], offers, zero_o[:len(open_o)], zero_n,
                            open_n])
    heads = np.concatenate([n_node, o_node[used], zero_o, open_o, needs,
                            zero_n[:len(open_n)]])
    weights = np.concatenate([-arc_weight, arc_weight[used],
                              np.zeros(n_o + len(open_o) + n_n + len(open_n))])
    high = _shortest(z + 1, z, tails, heads, weights)
    low = -_shortest(z + 1, z, heads, tails, weights)
    return low[:n_o], -low[n_o:z], high[:n_o], -high[n_o:z]


def valuate(dataset: Dataset, cand: Candidates, flows: FloatArray, weights: FloatArray,
            quantum: float = 0.0, method_name: str = "core") -> Valuation:
    """Core range per arc and marginal values per offer and need for an optimal plan.

    `weights` are the objective's w_a per offer unit as the solver saw them (rounded to its
    integer scale for min-cost flow), `quantum` its quantity resolution.

    Raises:
        SolverError: the dual LP does not solve to optimality.
    """
    n_o, n_n = len(dataset.offers), len(dataset.needs)
    q_o = dataset.offers["quantity"].to_numpy(float)
    d_n = dataset.needs["quantity"].to_numpy(float)
    low = np.full(len(cand), np.nan)
    high = np.full(len(cand), np.nan)
    offer_marginal = np.zeros(n_o)
    need_marginal = np.zeros(n_n)
    live = np.flatnonzero(weights > 0)
    # the default objective values every arc alike: no copy of 10^7 arcs for the subset
    sub = cand if len(live) == len(cand) else cand.subset(live)
    mixed = sub.mixed_ratio_needs(n_n)
    on_mixed = mixed[sub.need]
    # everything an offer touches through a mixed need is solved together by the LP
    mixed_offer = np.zeros(n_o, bool)
    mixed_offer[sub.offer[on_mixed]] = True
    lp_arc = mixed_offer[sub.offer] | on_mixed
    pure = np.flatnonzero(~lp_arc)
    methods: list[str] = []
    if len(pure):
        ratio_n = np.ones(n_n)
        ratio_n[sub.need[pure]] = sub.ratio[pure]
        u_lo, y_lo, u_hi, _y_hi = core_potentials(
            q_o, d_n / ratio_n, sub.offer[pure].astype(np.int64),
            sub.need[pure].astype(np.int64), weights[live[pure]], flows[live[pure]],
            quantum)
        o, n = sub.offer[pure], sub.need[pure]
        low[live[pure]] = np.minimum(u_lo[o], weights[live[pure]])
        high[live[pure]] = np.minimum(u_hi[o], weights[live[pure]])
        touched_o = np.zeros(n_o, bool)
        touched_o[o] = True
        touched_n = np.zeros(n_n, bool)
        touched_n[n] = True
        offer_marginal[touched_o] = u_lo[touched_o]
        need_marginal[touched_n] = (y_lo / ratio_n)[touched_n]
        methods.append(method_name)
    lp = np.flatnonzero(lp_arc)
    if len(lp):
        off_u, off_local = np.unique(sub.offer[lp], return_inverse=True)
        need_u, need_local = np.unique(sub.need[lp], return_inverse=True)
        sol = solve_generalized_max_weight_lp(q_o[off_u], d_n[need_u], off_local, need_local,
                                              weights[live[lp]], sub.ratio[lp])
        if sol.status is not SolverStatus.OPTIMAL or not sol.duals:
            raise SolverError(f"prices: the dual LP returned {sol.status}: {sol.detail}")
        u, v = sol.duals["supply"], sol.duals["demand"]
        share = np.minimum(u[off_local], weights[live[lp]])
        low[live[lp]] = share
        high[live[lp]] = share
        offer_marginal[off_u] = u
        need_marginal[need_u] = v
        methods.append("lp_dual")
    return Valuation(low, high, offer_marginal, need_marginal, "+".join(methods) or "none")
