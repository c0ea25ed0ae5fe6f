"""The monthly plan (issue 15): a time-expanded network over twelve months with storage.

The annual model (`matching.model`) balances a year; this one balances each month, so a
kiln stopped in winter cannot take the ash a power plant makes then, unless a silo carries
it. Same lexicographic objective as the annual run:

    maximise    sum_{a,t} x_{a,t}                      offered units delivered over the year
    then min    sum_{o,t} p_{o,t}                      drawn from historical stockpiles
    then min    sum_{a,t} km_a x_{a,t}                 quantity x distance (t-km ...)
    then min    sum_{s,t} h_{s,t}                      unit-months held (ship now, not later)
    subject to, for every offer o and month t (supplier store s of o, when there is one):
        sum_a x_{a,t} + h_{s,t} <= q_{o,t} + (1 - l_s) h_{s,t-1} + p_{o,t} + [t = 1] i_s
    for every need n and month t (receiver store r of n, when there is one):
        sum_a ratio_a x_{a,t} + (1 - l_r) h_{r,t-1} = c_{n,t} + h_{r,t}
        c_{n,t} <= d_{n,t} - f_{n,t}
    0 <= h_{s,t} <= capacity_s - g_{s,t},   sum_t p_{o,t} <= stock_o,   x, c >= 0

| symbol      | attribute                                                           |
|-------------|---------------------------------------------------------------------|
| x_{a,t}     | flow on candidate arc a in month t, offer units                     |
| q_{o,t}     | offer o's month t (`m01`..`m12`, its `profile`, or quantity / 12)   |
| d_{n,t}     | need n's month t, the same way                                      |
| h_{s,t}     | held in store s at the end of month t (t = 1..11; December's stays) |
| i_s, l_s    | `storage.initial`, `storage.loss_pct_per_month` / 100               |
| f, g        | a receiver's initial stock used first (FIFO) in month t, and what   |
|             | is left of it in the store                                          |
| p_{o,t}     | drawn from offer o's historical stockpile (`stock`) in month t      |

A receiver's initial stock is used first (first in, first out): it lowers the need of the
first months (f) and occupies the store while it lasts (g); it is not a delivery, so it
never counts as matched. A supplier's initial stock is offered on 1 January and, once
delivered, counts as drawn from stock (the annual `stock` column's meaning). What is in a
store at year end is not matched. `cost_per_unit_month` is reported, not optimised (CNY and
t-km do not add up); the last stage holds as little as the plan allows.

Without losses and with one ratio per need this is a pure network, solved by OR-Tools
`SimpleMinCostFlow.solve_max_flow_with_min_cost` in one call: the stockpile arcs cost more
than any cycle (as `matching.flow.stock_penalty`), and each unit-month held costs one
quantum of the distance scale, so holding is the last tie-break and the reported `bound`
on the least unit-km allows for it (at most the stores' total capacity / scale, a few
t-km in a province's billions; 0 when no store can hold). Losses
(l > 0) or a need served at two ratios make it a generalised flow: the same model as an LP
(HiGHS through scipy), stage by stage.

The marginal value of a store's capacity (one more listed unit held in every month) is read
from the duals, for every store, with the lexicographic objective taken stage by stage:

- delivered units per unit of capacity (stage 1, the one a park manager reads as "where a
  bigger silo pays"): on the min-cost-flow part, the minimum cut of the maximum flow (the
  nodes the residual network reaches from the sources with supply left; each of the
  store's month arcs across the cut adds one unit per unit of capacity: exact integer
  arithmetic, one breadth-first search for all stores); on the LP part, the stage-1 duals
  of the store arcs' bounds (HiGHS). The most deliverable is concave in the capacities, and
  either value is a supergradient of it: the derivative where that is unique, else between
  the right and the left derivative (the tests re-solve to check both, `marginal_by_resolve`);
- unit-km per unit of capacity (the distance stage, at the delivered optimum): on the LP part
  the bound's dual of the unit-km stage chained through the earlier stages' fixing rows
  (d z_k / d c = y_k,c + sum_j y_k,fix_j d z_j / d c); on the min-cost-flow part measured by
  re-solving with one quantum more capacity, for at most `MAX_MARGINAL_SOLVES` full stores,
  fullest first, within `MARGINAL_ARC_BUDGET` network arcs (a province's network gets none);
  the others are reported as not computed (null), with a note.

Stores that never fill have marginal values 0. Blending, heat judged at delivery and the heat
cascade month by month are `matching.monthly_grades`: their components go to the staged LP,
the others stay in the min-cost flow.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from symbiosis.dataset import Dataset
from symbiosis.errors import OptionsError, SolverError
from symbiosis.matching.blending import Grades, prepare_grades
from symbiosis.matching.candidates import Candidates, candidates_for
from symbiosis.matching.flow import (
    SolverStatus,
    choose_scales,
    cost_rounding_error,
    to_scaled_int,
)
from symbiosis.matching.options import MatchOptions, Method
from symbiosis.matching.result import (
    MatchResult,
    SolverFacts,
    assemble_result,
    exchange_columns,
)
from symbiosis.matching.summary import MonthKpis, MonthlySummary, StorageKpis
from symbiosis.months import MONTHS, load_profiles, monthly_quantities

if TYPE_CHECKING:
    from symbiosis.geo.provider import GeoDistances
    from symbiosis.matching.monthly_grades import GradedRows, LpStages

__all__ = ["MARGINAL_ARC_BUDGET", "MAX_MARGINAL_SOLVES", "MonthlyNetwork", "MonthlyPlan",
           "build_network", "solve_monthly", "solve_network"]

MAX_MARGINAL_SOLVES = 40  # re-solves for stores' unit-km marginal values (network part)
# ... and at most this many network arcs re-solved in all: a park's 100,000-arc network
# gets twenty; a province's 4 M arcs none (one re-solve there costs more than the plan)
MARGINAL_ARC_BUDGET = 2_000_000
MONTH_NAMES = tuple(f"m{t:02d}" for t in range(1, MONTHS + 1))
FLOW_EPS = 1e-9
FULL_TOL = 1e-6  # a store within this (relative and absolute) of its capacity is full


@dataclass(frozen=True)
class MonthlyNetwork:
    """The time-expanded network as parallel arrays (arc kinds in this order: delivery
    a*12+t, supplier stores, receiver stores, stockpile draws, consumption n*12+t).

    Nodes: offer o month t = o*12+t; need n month t = n_base + n*12+t; stockpile k =
    p_base + k; the sink last. `supply` is the most each node may send (offers, piles),
    `gain` the units that arrive per unit sent (loss, ratio on the LP path), `unit` the
    divisor that puts a need's node in offer units (its single ratio; 1 on the LP path).
    """

    tails: np.ndarray
    heads: np.ndarray
    capacity: np.ndarray
    km: np.ndarray  # distance per unit sent (delivery arcs), 0 elsewhere
    gain: np.ndarray
    kind: np.ndarray  # 0 delivery, 1 supplier store, 2 receiver store, 3 pile, 4 consumption
    supply: np.ndarray
    n_nodes: int
    n_delivery: int
    store_of_arc: np.ndarray  # storage row of a store arc, -1 elsewhere
    pure: bool
    fifo_used: np.ndarray  # (stores, 12): a receiver's initial stock used in month t
    fifo_left: np.ndarray  # (stores, 12): what is left of it at the end of month t
    cap_units: np.ndarray  # per storage row: node units per listed capacity unit

    def arcs_of(self, kind: int) -> np.ndarray:
        """Positions of the arcs of one kind."""
        return np.flatnonzero(self.kind == kind)


@dataclass(frozen=True)
class MonthlyPlan:
    """Flows per network arc, what the solve did, and the marginal values per storage row
    (delivered units and unit-km per extra unit of capacity; NaN where not computed)."""

    flows: np.ndarray
    status: SolverStatus
    delivered: float
    unit_km: float
    method: str
    seconds: float
    marginal_used: np.ndarray
    marginal_unit_km: np.ndarray
    scales: dict[str, int]
    exact: bool
    note: str = ""
    bound: float = math.nan  # on the least unit-km (honest when distances were rounded)
    marginal_seconds: float = 0.0
    marginal_solves: int = 0


STORE_COLUMNS = ("enterprise_id", "material", "capacity", "initial", "cost_per_unit_month",
                 "loss_pct_per_month", "side", "listing_id")


def _stores(dataset: Dataset) -> pd.DataFrame:
    """The storage rows that serve a listing (`symbiosis.storage.check_storage`), with every
    column even when the dataset has none."""
    s = dataset.storage
    if "side" not in s.columns:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("enterprise_id", "material",
                                                                "side", "listing_id")
                                          else float) for c in STORE_COLUMNS})
    return s[s["side"] != ""].reset_index(drop=True)


def _store_units(dataset: Dataset, storage: pd.DataFrame, cand: Candidates,
                 need_unit: np.ndarray) -> np.ndarray:
    """Node units per listed unit of each store's capacity: 1 at a supplier; at a receiver
    the store's material converted to the need's units (its rule ratio), then divided by the
    need node's unit."""
    tax = dataset.taxonomy
    need_pos = {nid: i for i, nid in enumerate(dataset.needs.index)}
    out = np.ones(len(storage))
    for k, (side, listing, material) in enumerate(zip(storage["side"], storage["listing_id"],
                                                      storage["material"], strict=True)):
        if side != "receiver":
            continue
        n = need_pos[listing]
        need_mat = str(dataset.needs["material"].iat[n])
        rule = tax.rule(need_mat, str(material))
        ratio = rule.ratio if rule is not None else 1.0
        out[k] = ratio / need_unit[n]
    return out


def build_network(dataset: Dataset, cand: Candidates, pure: bool) -> MonthlyNetwork:
    """The time-expanded network of `dataset` over the candidate arcs `cand`."""
    n_o, n_n, n_a = len(dataset.offers), len(dataset.needs), len(cand)
    T = MONTHS  # noqa: N806 (the model's symbol)
    profiles = load_profiles()
    supply_ot = monthly_quantities(dataset.offers, profiles)
    demand_nt = monthly_quantities(dataset.needs, profiles)
    stock = np.nan_to_num(dataset.offers["stock"].to_numpy(float), nan=0.0) \
        if "stock" in dataset.offers else np.zeros(n_o)
    need_unit = np.ones(n_n)
    if pure and n_a:
        need_unit[cand.need] = cand.ratio  # one ratio per need on the pure path
    storage = _stores(dataset)
    cap_units = _store_units(dataset, storage, cand, need_unit)
    offer_pos = {oid: i for i, oid in enumerate(dataset.offers.index)}
    need_pos = {nid: i for i, nid in enumerate(dataset.needs.index)}

    # a receiver's initial stock is used first and occupies its store while it lasts
    n_s = len(storage)
    fifo_used = np.zeros((n_s, T))
    fifo_left = np.zeros((n_s, T))
    demand = demand_nt / need_unit[:, None]
    supply = supply_ot.copy()
    for k in range(n_s):
        init = float(storage["initial"].iat[k]) * cap_units[k]
        if storage["side"].iat[k] == "supplier":
            supply[offer_pos[storage["listing_id"].iat[k]], 0] += init
            continue
        n = need_pos[storage["listing_id"].iat[k]]
        keep = 1.0 - float(storage["loss_pct_per_month"].iat[k]) / 100.0
        left = init
        for t in range(T):
            use = min(left, demand[n, t])
            fifo_used[k, t] = use
            demand[n, t] -= use
            left = (left - use) * (keep if t < T - 1 else 1.0)
            fifo_left[k, t] = left

    n_base = n_o * T
    piles = np.flatnonzero(stock > 0)
    p_base = n_base + n_n * T
    sink = p_base + len(piles)
    months = np.arange(T)
    # delivery arcs, arc-major: a*12 + t
    off_total = supply.sum(axis=1) + stock
    need_total = demand.sum(axis=1)
    d_tail = (np.repeat(cand.offer.astype(np.int64) * T, T) + np.tile(months, n_a))
    d_head = (n_base + np.repeat(cand.need.astype(np.int64) * T, T) + np.tile(months, n_a))
    # an arc never carries more than its offer has, nor more than its need takes in a year
    # (in offer units; a need with a store may take more: what its store loses)
    gain_a = cand.ratio / need_unit[cand.need]
    stored = np.zeros(n_n, dtype=bool)
    for listing in storage.loc[storage["side"] == "receiver", "listing_id"]:
        stored[need_pos[listing]] = True
    need_cap = np.where(stored[cand.need], np.inf, need_total[cand.need] / gain_a)
    d_cap = np.repeat(np.minimum(off_total[cand.offer], need_cap), T)
    d_km = np.repeat(cand.distance_km.astype(float), T)
    d_gain = np.repeat(cand.ratio / need_unit[cand.need], T)
    tails, heads, caps, kms, gains, kinds, owner = [d_tail], [d_head], [d_cap], [d_km], \
        [d_gain], [np.zeros(n_a * T, np.int8)], [np.full(n_a * T, -1)]
    for side, kind in (("supplier", 1), ("receiver", 2)):
        rows = np.flatnonzero(storage["side"].to_numpy(dtype=object) == side) if n_s else \
            np.zeros(0, np.int64)
        for k in rows.tolist():
            listing = storage["listing_id"].iat[k]
            base = int(offer_pos[listing] * T if side == "supplier" else
                       n_base + need_pos[listing] * T)
            cap = float(storage["capacity"].iat[k]) * cap_units[k] - fifo_left[k, :T - 1]
            tails.append(base + months[:-1])
            heads.append(base + months[1:])
            caps.append(np.maximum(cap, 0.0))
            kms.append(np.zeros(T - 1))
            keep = 1.0 - float(storage["loss_pct_per_month"].iat[k]) / 100.0
            gains.append(np.full(T - 1, keep))
            kinds.append(np.full(T - 1, kind, np.int8))
            owner.append(np.full(T - 1, k))
    if len(piles):
        tails.append(np.repeat(p_base + np.arange(len(piles)), T))
        heads.append(np.repeat(piles.astype(np.int64) * T, T) + np.tile(months, len(piles)))
        caps.append(np.repeat(stock[piles], T))
        kms.append(np.zeros(len(piles) * T))
        gains.append(np.ones(len(piles) * T))
        kinds.append(np.full(len(piles) * T, 3, np.int8))
        owner.append(np.full(len(piles) * T, -1))
    tails.append(n_base + np.arange(n_n * T))
    heads.append(np.full(n_n * T, sink))
    caps.append(demand.reshape(-1))
    kms.append(np.zeros(n_n * T))
    gains.append(np.ones(n_n * T))
    kinds.append(np.full(n_n * T, 4, np.int8))
    owner.append(np.full(n_n * T, -1))
    node_supply = np.zeros(sink + 1)
    node_supply[:n_base] = supply.reshape(-1)
    node_supply[p_base:sink] = stock[piles]
    return MonthlyNetwork(
        tails=np.concatenate(tails).astype(np.int64), heads=np.concatenate(heads).astype(np.int64),
        capacity=np.concatenate(caps), km=np.concatenate(kms), gain=np.concatenate(gains),
        kind=np.concatenate(kinds), supply=node_supply, n_nodes=sink + 1,
        n_delivery=n_a * T, store_of_arc=np.concatenate(owner).astype(np.int64), pure=pure,
        fifo_used=fifo_used, fifo_left=fifo_left, cap_units=cap_units)


# ----------------------------------------------------------------------------- min-cost flow


class _Mcf:
    """The pure network in one OR-Tools SimpleMinCostFlow, kept for the marginal re-solves."""

    def __init__(self, net: MonthlyNetwork) -> None:
        from ortools.graph.python import min_cost_flow  # lazy: keep start-up lean

        self.net = net
        deliver = net.kind == 0
        store = (net.kind == 1) | (net.kind == 2)
        pile = net.kind == 3
        self.weight = 1  # a unit-month held costs one distance quantum (see the bound)
        quantities = np.concatenate([net.supply[net.supply > 0],
                                     net.capacity[(net.kind == 4) | store]])
        # the penalty guard always: potentials along the long paths of a time-expanded
        # network overflow OR-Tools' cost scaling at the annual model's cost range
        self.scales = choose_scales(quantities, net.km[deliver] * self.weight,
                                    2 * net.n_nodes, penalty=True)
        q = self.scales.quantity
        cost = np.zeros(len(net.tails), np.int64)
        cost[deliver] = np.rint(net.km[deliver] * self.scales.distance).astype(np.int64) \
            * self.weight
        cost[store] = 1
        if pile.any():
            top = int(cost.max()) if len(cost) else 0
            cost[pile] = (net.n_nodes + 1) * max(top, 1) + 1
        self.cost = cost
        self.cap = to_scaled_int(net.capacity, q)
        supply = to_scaled_int(net.supply, q)
        supply[-1] = -int(self.cap[net.kind == 4].sum())
        self.supply = supply
        self.unit_km = 0.0
        self.smcf = min_cost_flow.SimpleMinCostFlow()
        self.smcf.add_arcs_with_capacity_and_unit_cost(net.tails, net.heads, self.cap, cost)
        self.smcf.set_nodes_supplies(np.arange(net.n_nodes), supply)
        self.deliver = np.flatnonzero(deliver)

    def solve(self) -> tuple[SolverStatus, np.ndarray]:
        status = self.smcf.solve_max_flow_with_min_cost()
        self.status_name = str(getattr(status, "name", status))
        if status != self.smcf.OPTIMAL:
            return SolverStatus.ERROR, np.zeros(len(self.net.tails))
        flows = np.asarray(self.smcf.flows(np.arange(len(self.net.tails))), np.float64)
        x = flows[self.deliver] / self.scales.quantity
        self.unit_km = float(x @ self.net.km[self.deliver])
        return SolverStatus.OPTIMAL, flows / self.scales.quantity

    def min_cut_arcs(self) -> np.ndarray:
        """Mask of the arcs that cross the minimum cut of the solved maximum flow: from
        the nodes the residual network reaches from the sources with supply left (a super
        source) to the others. Exact: integer flows and capacities."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import breadth_first_order

        net = self.net
        n = net.n_nodes
        flow = np.asarray(self.smcf.flows(np.arange(len(net.tails))), np.int64)
        out = np.bincount(net.tails, weights=flow, minlength=n)
        into = np.bincount(net.heads, weights=flow, minlength=n)
        left = np.flatnonzero((self.supply - out + into)[:-1] > 0)
        fwd = flow < self.cap
        back = flow > 0
        src = np.concatenate([net.tails[fwd], net.heads[back], np.full(len(left), n)])
        dst = np.concatenate([net.heads[fwd], net.tails[back], left])
        graph = coo_matrix((np.ones(len(src), np.int8), (src, dst)),
                           shape=(n + 1, n + 1)).tocsr()
        reached = np.zeros(n + 1, bool)
        reached[breadth_first_order(graph, n, directed=True,
                                    return_predecessors=False)] = True
        return reached[net.tails] & ~reached[net.heads]

    def with_capacity(self, arcs: np.ndarray, extra: int) -> tuple[float, float]:
        """Delivered units and unit-km with `extra` integer units on `arcs`' capacity."""
        for a in arcs:
            self.smcf.set_arc_capacity(int(a), int(self.cap[a]) + extra)
        try:
            status = self.smcf.solve_max_flow_with_min_cost()
            if status != self.smcf.OPTIMAL:
                raise SolverError(f"min-cost flow re-solve returned {status.name}")
            x = np.asarray(self.smcf.flows(self.deliver), np.float64) / self.scales.quantity
        finally:
            for a in arcs:
                self.smcf.set_arc_capacity(int(a), int(self.cap[a]))
        return float(x.sum()), float(x @ self.net.km[self.deliver])


# ----------------------------------------------------------------------------- LP


def _lp_solve(net: MonthlyNetwork, capacity: np.ndarray,
              lp_part: LpPart | None = None) -> LpStages:
    """The generalised network (or its LP part), stage by stage, as LPs solved by HiGHS
    (scipy): `matching.monthly_grades.solve_staged_lp`.

    Raises:
        SolverError: HiGHS did not prove a stage optimal.
    """
    from symbiosis.matching.monthly_grades import solve_staged_lp

    if lp_part is None:
        return solve_staged_lp(net, capacity)
    return solve_staged_lp(net, capacity, lp_part.arcs, lp_part.nodes, lp_part.rows,
                           lp_part.listed)


@dataclass(frozen=True)
class LpPart:
    """The part of a network the LP solves (the rest is pure min-cost flow): arc and node
    masks, the graded rows (`matching.monthly_grades.graded_rows`) and which delivery arcs
    carry listed offers (None: all)."""

    arcs: np.ndarray
    nodes: np.ndarray
    rows: GradedRows | None = None
    listed: np.ndarray | None = None


# ----------------------------------------------------------------------------- solve


def _masked(net: MonthlyNetwork, lp_part: LpPart) -> MonthlyNetwork:
    """`net` without its LP part: zero capacity on the LP's arcs, no supply at its nodes."""
    return replace(net, capacity=np.where(lp_part.arcs, 0.0, net.capacity),
                   supply=np.where(lp_part.nodes, 0.0, net.supply), pure=True)


def _solve_flows(net: MonthlyNetwork, capacity: np.ndarray, lp_part: LpPart | None,
                 notes: list[str]) -> tuple[np.ndarray, list[str], _Mcf | None,
                                            LpStages | None]:
    """Flows of the whole network (min-cost flow where pure, LP elsewhere), the methods
    used, and the solver objects whose duals give the marginal values.

    Raises:
        SolverError: a solver did not reach optimality.
    """
    methods: list[str] = []
    flows = np.zeros(len(net.tails))
    mcf: _Mcf | None = None
    lp: LpStages | None = None
    if lp_part is None and net.pure:
        mcf = _Mcf(replace(net, capacity=capacity))
        status, flows = mcf.solve()
        if status is SolverStatus.OPTIMAL:
            return flows, ["min_cost_flow"], mcf, None
        # e.g. BAD_COST_RANGE: the LP is exact too
        notes.append(f"min-cost flow returned {mcf.status_name}; solved as an LP")
        mcf = None
        net = replace(net, pure=False)
    if lp_part is not None and not lp_part.arcs.all():
        mcf = _Mcf(_masked(replace(net, capacity=capacity), lp_part))
        status, flows = mcf.solve()
        if status is not SolverStatus.OPTIMAL:
            raise SolverError(f"monthly min-cost flow returned {mcf.status_name}")
        methods.append("min_cost_flow")
    if lp_part is None or lp_part.arcs.any():
        lp = _lp_solve(net, capacity, lp_part)
        flows = flows + lp.flows
        methods.append("lp_highs")
    return flows, methods, mcf, lp


def solve_network(net: MonthlyNetwork, n_stores: int,
                  max_marginal_solves: int = MAX_MARGINAL_SOLVES,
                  lp_part: LpPart | None = None) -> MonthlyPlan:
    """Solve the network (min-cost flow where pure, LP on `lp_part` or on all of it when
    not pure) and read each store's marginal value from the duals (module docstring).

    Raises:
        SolverError: a solver did not reach optimality.
    """
    start = time.perf_counter()
    deliver = net.kind == 0
    notes: list[str] = []
    flows, methods, mcf, lp = _solve_flows(net, net.capacity, lp_part, notes)
    delivered = float(flows[deliver].sum())
    unit_km = float(flows[deliver] @ net.km[deliver])
    solved = time.perf_counter()
    bound = unit_km
    if mcf is not None:
        # the plan is optimal for km rounded to the scale plus one quantum per unit-month
        # held: the true least unit-km is within e x F + (most that can be held) / scale
        mine = np.flatnonzero(deliver & (mcf.net.capacity > 0))
        err = cost_rounding_error(net.km[mine], mcf.scales.distance)
        seen = np.rint(net.km[mine] * mcf.scales.distance) / mcf.scales.distance
        got = float(flows[mine].sum())
        held = float(mcf.net.capacity[(net.kind == 1) | (net.kind == 2)].sum())
        bound = unit_km - float(flows[mine] @ net.km[mine]) + min(
            float(flows[mine] @ net.km[mine]),
            float(flows[mine] @ seen) - err * got - held / mcf.scales.distance)
    used, per_km, measured = _dual_marginals(net, n_stores, mcf, lp, flows,
                                             max_marginal_solves, lp_part, notes)
    used, per_km = used + 0.0, per_km + 0.0  # no "-0" in the reports
    scales = {} if mcf is None else {"quantity": mcf.scales.quantity,
                                     "distance": mcf.scales.distance,
                                     "distance_weight": mcf.weight}
    exact = mcf is None or (mcf.scales.quantity_exact and bound == unit_km)
    return MonthlyPlan(flows, SolverStatus.OPTIMAL, delivered, unit_km, "+".join(methods),
                       solved - start, used, per_km, scales, exact, "; ".join(notes),
                       bound=bound, marginal_seconds=time.perf_counter() - solved,
                       marginal_solves=measured)


def _dual_marginals(net: MonthlyNetwork, n_stores: int, mcf: _Mcf | None,
                    lp: LpStages | None, flows: np.ndarray, max_marginal_solves: int,
                    lp_part: LpPart | None, notes: list[str]
                    ) -> tuple[np.ndarray, np.ndarray, int]:
    """Per store: delivered units and unit-km per extra listed unit of capacity.

    Delivered (stage 1 of the lexicographic objective): from the duals, for every store.
    On the LP part, the capacity bounds' duals of stage 1; on the min-cost-flow part, the
    minimum cut of the maximum flow (the nodes the residual network reaches from the
    sources with supply left): each of the store's month arcs that crosses it adds one
    unit per unit of capacity. Either is a supergradient of the (concave) most deliverable:
    exactly the derivative where that is unique, else between the right and the left
    derivative.

    Unit-km (the distance stage, at the delivered optimum): on the LP part from the duals,
    chained through the earlier stages' fixing rows (`monthly_grades.LpStages`); on the
    min-cost-flow part by re-solving with one quantum more capacity, for at most
    `max_marginal_solves` full stores (fullest first) within `MARGINAL_ARC_BUDGET`; NaN for
    the others, with a note. Stores that never fill have marginal values 0.
    """
    used = np.zeros(n_stores)
    per_km = np.zeros(n_stores)
    arcs_of = _arcs_by_store(net, n_stores)
    lp_store = np.zeros(n_stores, bool)
    if lp is not None:
        km_stage = lp.names.index("unit-km")
        for k in range(n_stores):
            arcs = arcs_of[k]
            if len(arcs) and (lp_part is None or bool(lp_part.arcs[arcs[0]])):
                lp_store[k] = True
                used[k] = -float(lp.capacity_grad[0][arcs].sum()) * net.cap_units[k]
                per_km[k] = float(lp.capacity_grad[km_stage][arcs].sum()) * net.cap_units[k]
    if mcf is None:
        return used, per_km, 0
    cut = mcf.min_cut_arcs()
    store_arcs = np.flatnonzero(net.store_of_arc >= 0)
    mine = store_arcs[~lp_store[net.store_of_arc[store_arcs]]]
    crossing = np.bincount(net.store_of_arc[mine], weights=cut[mine].astype(float),
                           minlength=n_stores)
    used = np.where(lp_store, used, crossing * net.cap_units)
    full = mine[flows[mine] >= mcf.net.capacity[mine] * (1 - FULL_TOL) - FULL_TOL]
    fill = np.bincount(net.store_of_arc[full], minlength=n_stores)
    binding = [int(k) for k in np.argsort(-fill, kind="stable") if fill[k] > 0]
    limit = min(max_marginal_solves, MARGINAL_ARC_BUDGET // max(1, len(net.tails)))
    if len(binding) > limit:
        notes.append(f"unit-km marginal values measured for the {limit} fullest of "
                     f"{len(binding)} full stores of the network (each is a full re-solve); "
                     "the others are not computed")
        for k in binding[limit:]:
            per_km[k] = math.nan
        binding = binding[:limit]
    for k in binding:
        _, km = mcf.with_capacity(arcs_of[k], 1)
        step = 1.0 / mcf.scales.quantity
        per_unit = step / net.cap_units[k] if net.cap_units[k] > 0 else math.nan
        # the LP part's unit-km is unchanged by a store of the network part
        per_km[k] = (km - mcf.unit_km) / per_unit
    return used, per_km, len(binding)


def marginal_by_resolve(net: MonthlyNetwork, n_stores: int, step: float,
                        lp_part: LpPart | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per store, the change in delivered units per listed unit of its capacity, right
    (+`step` node units on each of its month arcs) and left (-`step`), measured by solving
    the plan again (two solves a store): the cross-check of the dual values in the tests.

    Raises:
        SolverError: a solver did not reach optimality.
    """
    deliver = net.kind == 0
    arcs_of = _arcs_by_store(net, n_stores)
    base, _, _, _ = _solve_flows(net, net.capacity, lp_part, [])
    got = float(base[deliver].sum())
    right, left = np.zeros(n_stores), np.zeros(n_stores)
    for k in range(n_stores):
        for sign, out in ((1.0, right), (-1.0, left)):
            cap = net.capacity.copy()
            cap[arcs_of[k]] = np.maximum(cap[arcs_of[k]] + sign * step, 0.0)
            flows, _, _, _ = _solve_flows(net, cap, lp_part, [])
            out[k] = (float(flows[deliver].sum()) - got) / (sign * step / net.cap_units[k])
    return right, left


def _is_pure(dataset: Dataset, cand: Candidates, options: MatchOptions) -> bool:
    if options.method is Method.lp:
        return False
    storage = _stores(dataset)
    lossy = bool((storage["loss_pct_per_month"].to_numpy(float) > 0).any())
    return not lossy and not bool(cand.mixed_ratio_needs(len(dataset.needs)).any())


def solve_monthly(dataset: Dataset, options: MatchOptions | None = None,
                  timings: dict[str, float] | None = None,
                  distances: GeoDistances | None = None,
                  max_marginal_solves: int = MAX_MARGINAL_SOLVES) -> MatchResult:
    """The monthly plan as a `MatchResult`: annual exchanges and KPIs are the sums of the
    months (exchanges.csv, summary.json as in an annual run), with `exchanges_monthly` and
    `storage` tables and the summary's `monthly` section.

    Raises:
        OptionsError: an objective other than `utilization` (the monthly plan solves the
            default lexicographic objective only).
        SolverError: a solver did not reach optimality.
    """
    options = options or MatchOptions()
    timings = {} if timings is None else timings
    if options.objective != "utilization":
        raise OptionsError("objective", f"'{options.objective}': a monthly plan (m01..m12, "
                           "profile or storage.csv in the dataset) solves the default "
                           "objective only")
    t0 = time.perf_counter()
    cand = candidates_for(dataset, options, distances)
    dataset, cand, grades = prepare_grades(dataset, cand, options, distances)
    t1 = time.perf_counter()
    timings["candidates"] = t1 - t0
    storage = _stores(dataset)
    lp_part: LpPart | None = None
    if grades is None:
        pure = _is_pure(dataset, cand, options)
        net = build_network(dataset, cand, pure)
    else:
        net, lp_part = _graded_network(dataset, cand, grades, storage, options)
        pure = lp_part is None
    t2 = time.perf_counter()
    timings["build"] = t2 - t1
    plan = solve_network(net, len(storage), max_marginal_solves, lp_part)
    timings["solve"] = plan.seconds
    timings["marginal_values"] = plan.marginal_seconds
    t3 = time.perf_counter()
    x = plan.flows[:net.n_delivery].reshape(len(cand), MONTHS) if len(cand) else \
        np.zeros((0, MONTHS))
    annual = x.sum(axis=1)
    annual_data = _with_supplier_initials(dataset, storage)
    if grades is not None:
        note = "monthly plan (time-expanded network): " + (
            "min-cost flow" if pure else
            "LP (HiGHS) for the components with blending, heat judged at delivery, a heat "
            "cascade, losses or a need served at two ratios; min-cost flow for the others")
    else:
        note = "monthly plan (time-expanded network): " + (
            "min-cost flow" if pure else "LP (HiGHS): losses or a need served at two ratios")
    if plan.note:
        note += "; " + plan.note
    methods = tuple(plan.method.split("+"))
    facts = SolverFacts(
        status=plan.status, objective=plan.unit_km, bound=plan.bound,
        seconds=plan.seconds, methods=methods, delivered=plan.delivered,
        components=1, scales={"min_cost_flow": plan.scales} if plan.scales else {},
        exact=plan.exact, note=note)
    warnings: list[str] = []
    if options.valuate:
        warnings.append("prices and need marginal values are not derived for a monthly "
                        "plan; each store's marginal value is in storage.csv")
    drawn = float(plan.flows[net.kind == 3].sum())
    attributed = float(np.clip(
        np.bincount(cand.offer, weights=annual, minlength=len(dataset.offers))
        - dataset.offers["quantity"].to_numpy(float), 0.0, None).sum())
    if drawn > attributed * (1 + 1e-9) + 1e-6:
        warnings.append(f"the plan draws {drawn:,.6g} from stockpiles over the months (a "
                        "month's surplus that no one takes is not kept); the annual figures "
                        f"attribute deliveries to this year's surplus first and count "
                        f"{attributed:,.6g} as drawn")
    result = assemble_result(annual_data, cand, annual, facts, options, timings,
                             warnings=tuple(warnings))
    monthly_ex = _monthly_exchanges(dataset, cand, x)
    levels = _storage_levels(dataset, storage, net, plan)
    section = _monthly_summary(dataset, cand, x, net, levels, pure, plan)
    result = result.with_summary(monthly=section.model_dump())
    tables = {"exchanges_monthly": monthly_ex, "storage": levels}
    if grades is not None:
        from symbiosis.matching.blending import annotate
        from symbiosis.matching.monthly_grades import blends_by_month

        result = annotate(result, annual_data, cand, annual, grades)
        if grades.limits:
            tables["blends_monthly"] = blends_by_month(dataset, cand, x, grades)
    result = replace(result, tables=tables)
    timings["report"] = time.perf_counter() - t3
    return result.with_timings(timings)


def _graded_network(dataset: Dataset, cand: Candidates, grades: Grades,
                    storage: pd.DataFrame, options: MatchOptions
                    ) -> tuple[MonthlyNetwork, LpPart | None]:
    """The time-expanded network of a graded run and the part the LP takes
    (`matching.monthly_grades`): the components with a graded arc, a need at two ratios or
    a lossy store; None when no component needs it (then the network is pure)."""
    from symbiosis.matching.monthly_grades import graded_rows, merge_networks, split_components

    split = split_components(dataset, cand, grades, storage, options.method is Method.lp)
    if not split.lp_components:
        return build_network(dataset, cand, True), None
    lp_net = build_network(dataset, cand, False)
    pure_net = build_network(dataset, cand, True) \
        if split.lp_components < split.components else None
    stock = np.nan_to_num(dataset.offers["stock"].to_numpy(float), nan=0.0) \
        if "stock" in dataset.offers else np.zeros(len(dataset.offers))
    nodes = split.lp_nodes(lp_net, np.flatnonzero(stock > 0))
    arcs = nodes[lp_net.tails]
    offer_pos = {oid: i for i, oid in enumerate(dataset.offers.index)}
    need_pos = {nid: i for i, nid in enumerate(dataset.needs.index)}
    lp_stores = np.array([bool(split.lp_offer[offer_pos[listing]]) if side == "supplier"
                          else bool(split.lp_need[need_pos[listing]])
                          for side, listing in zip(storage["side"], storage["listing_id"],
                                                   strict=True)], dtype=bool)
    net = merge_networks(lp_net, pure_net, arcs, nodes, lp_stores)
    listed = np.ones(len(net.tails), bool)
    if grades.returns:
        ret = np.zeros(len(dataset.offers), bool)
        ret[np.fromiter(grades.returns, np.int64)] = True
        listed[:net.n_delivery] = ~np.repeat(ret[cand.offer], MONTHS)
    return net, LpPart(arcs, nodes, graded_rows(dataset, cand, grades), listed)


def _with_supplier_initials(dataset: Dataset, storage: pd.DataFrame) -> Dataset:
    """The dataset the annual figures read: a supplier store's initial stock counts with
    the offer's historical stockpile (`stock`), so delivering it is reported as drawn."""
    sup = storage[(storage["side"] == "supplier") & (storage["initial"] > 0)] \
        if len(storage) else storage
    if not len(sup):
        return dataset
    offers = dataset.offers.copy()
    stock = np.nan_to_num(offers["stock"].to_numpy(float), nan=0.0) \
        if "stock" in offers else np.zeros(len(offers))
    pos = {oid: i for i, oid in enumerate(offers.index)}
    for listing, init in zip(sup["listing_id"], sup["initial"], strict=True):
        stock[pos[listing]] += float(init)
    offers["stock"] = stock
    return replace(dataset, offers=offers)


def _monthly_exchanges(dataset: Dataset, cand: Candidates, x: np.ndarray) -> pd.DataFrame:
    """One row per exchange and month with a flow (exchanges_monthly.csv)."""
    a, t = np.nonzero(x > FLOW_EPS * np.maximum(1.0, x.sum(axis=1, keepdims=True)))
    frame = pd.DataFrame({"month": t + 1, **exchange_columns(dataset, cand, a, x[a, t])})
    return frame.sort_values(["month", "offer_material", "offer_enterprise_id",
                              "need_enterprise_id", "offer_id", "need_id"],
                             kind="stable").reset_index(drop=True)


def _arcs_by_store(net: MonthlyNetwork, n_stores: int) -> list[np.ndarray]:
    """The network arcs of each store, in month order (one pass, not one scan per store)."""
    at = np.flatnonzero(net.store_of_arc >= 0)
    owner = net.store_of_arc[at]
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(n_stores + 1))
    return [at[order[bounds[k]:bounds[k + 1]]] for k in range(n_stores)]


def _storage_levels(dataset: Dataset, storage: pd.DataFrame, net: MonthlyNetwork,
                    plan: MonthlyPlan) -> pd.DataFrame:
    """Per storage row: the level at the end of each month (listed units), the year-end
    stock, what was lost, the holding cost and the marginal value of capacity."""
    T = MONTHS  # noqa: N806 (the model's symbol)
    levels = np.zeros((len(storage), T))
    lost = np.zeros(len(storage))
    inflow = np.bincount(net.heads, weights=plan.flows * net.gain, minlength=net.n_nodes)
    arcs_of = _arcs_by_store(net, len(storage))
    outflow = np.bincount(net.tails, weights=plan.flows, minlength=net.n_nodes)
    for k in range(len(storage)):
        arcs = arcs_of[k]
        held = plan.flows[arcs] + net.fifo_left[k, :T - 1]
        keep = 1.0 - float(storage["loss_pct_per_month"].iat[k]) / 100.0
        lost[k] = float(held.sum() * (1.0 - keep))
        levels[k, :T - 1] = held
        # December: what the node still holds after its last month (not matched)
        node = int(net.heads[arcs[-1]]) if len(arcs) else -1
        if node >= 0:
            left = float(inflow[node] - outflow[node] + net.supply[node])
            levels[k, T - 1] = min(max(left, 0.0),
                                   float(storage["capacity"].iat[k]) * net.cap_units[k]) \
                + net.fifo_left[k, T - 1]
        levels[k] /= net.cap_units[k] if net.cap_units[k] > 0 else 1.0
        lost[k] /= net.cap_units[k] if net.cap_units[k] > 0 else 1.0
    cap = storage["capacity"].to_numpy(float) if len(storage) else np.zeros(0)
    cost = storage["cost_per_unit_month"].to_numpy(float) if len(storage) else np.zeros(0)
    unit = [dataset.taxonomy.materials[str(m)].unit for m in storage["material"]] \
        if len(storage) else []
    frame = pd.DataFrame({
        "enterprise_id": storage["enterprise_id"].to_numpy(dtype=object)
        if len(storage) else np.zeros(0, dtype=object),
        "material": storage["material"].to_numpy(dtype=object)
        if len(storage) else np.zeros(0, dtype=object),
        "side": storage["side"].to_numpy(dtype=object)
        if len(storage) else np.zeros(0, dtype=object),
        "listing_id": storage["listing_id"].to_numpy(dtype=object)
        if len(storage) else np.zeros(0, dtype=object),
        "unit": np.array(unit, dtype=object),
        "capacity": cap,
        "initial": storage["initial"].to_numpy(float) if len(storage) else np.zeros(0),
    })
    for t, name in enumerate(MONTH_NAMES):
        frame[name] = levels[:, t]
    frame["year_end"] = levels[:, T - 1] if len(storage) else np.zeros(0)
    frame["months_full"] = (levels[:, :T - 1] >= cap[:, None] * (1 - FULL_TOL) - FULL_TOL
                            ).sum(axis=1) \
        if len(storage) else np.zeros(0, np.int64)
    frame["lost"] = lost
    frame["holding_cost_cny"] = (levels[:, :T - 1].sum(axis=1) * cost) if len(storage) \
        else np.zeros(0)
    frame["marginal_used_per_unit"] = plan.marginal_used
    frame["marginal_unit_km_per_unit"] = plan.marginal_unit_km
    return frame


def _monthly_summary(dataset: Dataset, cand: Candidates, x: np.ndarray,
                     net: MonthlyNetwork, levels: pd.DataFrame, pure: bool,
                     plan: MonthlyPlan) -> MonthlySummary:
    """summary.json's `monthly` section: mass-family figures per month, the stores."""
    tax = dataset.taxonomy
    profiles = load_profiles()
    fam_o = np.array([str(tax.materials[m].family) for m in dataset.offers["material"]])
    fam_n = np.array([str(tax.materials[m].family) for m in dataset.needs["material"]])
    mass_o, mass_n = fam_o == "mass", fam_n == "mass"
    supply = monthly_quantities(dataset.offers, profiles)
    demand = monthly_quantities(dataset.needs, profiles)
    arc_mass = mass_o[cand.offer] if len(cand) else np.zeros(0, bool)
    km = cand.distance_km.astype(float)
    ratio = cand.ratio
    mass_store = np.array([str(tax.materials[str(m)].family) == "mass"
                           for m in levels["material"]], dtype=bool)
    months = []
    for t in range(MONTHS):
        xt = x[:, t] if len(cand) else np.zeros(0)
        months.append(MonthKpis(
            month=t + 1,
            offered_t=float(supply[mass_o, t].sum()),
            needed_t=float(demand[mass_n, t].sum()),
            matched_t=float(xt[arc_mass].sum()),
            met_t=float((xt * ratio)[arc_mass].sum()),
            tonne_km=float((xt * km)[arc_mass].sum()),
            stored_t=float(levels[MONTH_NAMES[t]].to_numpy(float)[mass_store].sum()),
            exchanges=int((xt > FLOW_EPS).sum()),
        ))
    stores = [StorageKpis(
        enterprise_id=str(r.enterprise_id), material=str(r.material),
        side="supplier" if r.side == "supplier" else "receiver",
        capacity=float(r.capacity), year_end=float(r.year_end), lost=float(r.lost),
        months_full=int(r.months_full), holding_cost_cny=float(r.holding_cost_cny),
        marginal_used_per_unit=_finite(r.marginal_used_per_unit),
        marginal_unit_km_per_unit=_finite(r.marginal_unit_km_per_unit))
        for r in levels.itertuples(index=False)]
    named = sorted({str(p) for frame in (dataset.offers, dataset.needs)
                    if "profile" in frame for p in frame["profile"] if str(p)})
    return MonthlySummary(
        months=months,
        storage=stores,
        profiles={p: profiles[p].source for p in named if p in profiles},
        year_end_stock_t=float(levels["year_end"].to_numpy(float)[mass_store].sum()),
        lost_t=float(levels["lost"].to_numpy(float)[mass_store].sum()),
        holding_cost_cny=float(levels["holding_cost_cny"].sum()),
        stockpile_drawn=float(plan.flows[net.kind == 3].sum()),
        method=plan.method,
        note=("matched counts units delivered; what stays in a store at year end is not "
              "matched; a receiver's initial stock is used first and never counts as matched"
              + (f"; {plan.note}" if plan.note else "")),
    )


def _finite(value: Any) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None
