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

The marginal value of a store is measured, not estimated: the plan is solved again with the
capacity raised by one quantum (one unit of the integer scale; one unit on the LP path) in
every month, and the change in delivered units and unit-km per unit of capacity is
reported (exact: the optimal value is piecewise linear in the capacity with breakpoints on
the integer scale). Stores that never fill have marginal value 0 without a solve; at most
`MAX_MARGINAL_SOLVES` full stores are re-solved, fullest first, and no more than
`MARGINAL_ARC_BUDGET` arcs in all (a province's network gets none: one re-solve costs
more than the plan); the rest are reported as not computed (null), with a note.
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
from symbiosis.matching.candidates import Candidates, candidates_for
from symbiosis.matching.flow import (
    LP_STAGE_TOLERANCE,
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

__all__ = ["MARGINAL_ARC_BUDGET", "MAX_MARGINAL_SOLVES", "MonthlyNetwork", "MonthlyPlan",
           "build_network", "solve_monthly", "solve_network"]

MAX_MARGINAL_SOLVES = 40  # re-solves for stores' marginal values, fullest first
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
        return SolverStatus.OPTIMAL, flows / self.scales.quantity

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


def _lp_solve(net: MonthlyNetwork, capacity: np.ndarray) -> tuple[SolverStatus, np.ndarray]:
    """The generalised network, stage by stage, as LPs solved by HiGHS (scipy)."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, vstack

    n_arcs = len(net.tails)
    cols = np.arange(n_arcs)
    # node balance: out - gain * in
    incidence = coo_matrix((np.concatenate([np.ones(n_arcs), -net.gain]),
                            (np.concatenate([net.tails, net.heads]),
                             np.concatenate([cols, cols]))),
                           shape=(net.n_nodes, n_arcs)).tocsr()
    need_nodes = np.unique(net.tails[net.kind == 4])
    # every offer and stockpile node, with or without supply this month (the sink is last)
    sources = np.setdiff1d(np.arange(net.n_nodes - 1), need_nodes)
    a_ub = incidence[sources]
    b_ub = net.supply[sources]
    a_eq = incidence[need_nodes]
    b_eq = np.zeros(len(need_nodes))
    bounds = np.column_stack([np.zeros(n_arcs), capacity])
    deliver = (net.kind == 0).astype(float)
    # stage 1: offered units delivered, less what receivers' stores lose (need units): a
    # delivery only to be lost in a store is no use
    stages = [-deliver + (1.0 - net.gain) * (net.kind == 2)]  # each minimised, then fixed
    if (net.kind == 3).any():
        stages.append((net.kind == 3).astype(float))
    stages.append(net.km * (net.kind == 0))
    stages.append(((net.kind == 1) | (net.kind == 2)).astype(float))
    rows_ub, rhs_ub = [a_ub], [b_ub]
    x = np.zeros(n_arcs)
    for objective in stages:
        res = linprog(objective, A_ub=vstack(rows_ub).tocsr(), b_ub=np.concatenate(rhs_ub),
                      A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        if res.status != 0:
            return SolverStatus.ERROR, np.zeros(n_arcs)
        x = res.x
        z = float(objective @ x)
        # fix this stage: objective . x <= z + slack (objective is minimised)
        rows_ub.append(coo_matrix(objective.reshape(1, -1)).tocsr())
        rhs_ub.append(np.array([z + LP_STAGE_TOLERANCE * max(1.0, abs(z))]))
    return SolverStatus.OPTIMAL, np.where(x > FLOW_EPS, x, 0.0)


# ----------------------------------------------------------------------------- solve


def solve_network(net: MonthlyNetwork, n_stores: int,
                  max_marginal_solves: int = MAX_MARGINAL_SOLVES) -> MonthlyPlan:
    """Solve the network (min-cost flow when pure, else LP) and measure each store's
    marginal value (see the module docstring).

    Raises:
        SolverError: a solver did not reach optimality.
    """
    start = time.perf_counter()
    deliver = net.kind == 0
    mcf = _Mcf(net) if net.pure else None
    notes: list[str] = []
    if mcf is not None:
        status, flows = mcf.solve()
        method = "min_cost_flow"
        if status is not SolverStatus.OPTIMAL:  # e.g. BAD_COST_RANGE: the LP is exact too
            notes.append(f"min-cost flow returned {mcf.status_name}; solved as an LP")
            mcf = None
    if mcf is None:
        status, flows = _lp_solve(net, net.capacity)
        method = "lp_highs"
    if status is not SolverStatus.OPTIMAL:
        raise SolverError(f"monthly {method} returned {status}")
    delivered = float(flows[deliver].sum())
    unit_km = float(flows[deliver] @ net.km[deliver])
    solved = time.perf_counter()
    bound = unit_km
    if mcf is not None:
        # the plan is optimal for km rounded to the scale plus one quantum per unit-month
        # held: the true least unit-km is within e x F + (most that can be held) / scale
        err = cost_rounding_error(net.km[deliver], mcf.scales.distance)
        seen = np.rint(net.km[deliver] * mcf.scales.distance) / mcf.scales.distance
        held = float(net.capacity[(net.kind == 1) | (net.kind == 2)].sum())
        bound = min(unit_km, float(flows[deliver] @ seen) - err * delivered
                    - held / mcf.scales.distance)
    used = np.zeros(n_stores)
    per_km = np.zeros(n_stores)
    store_arcs = np.flatnonzero(net.store_of_arc >= 0)
    full = store_arcs[flows[store_arcs] >= net.capacity[store_arcs] * (1 - FULL_TOL)
                      - FULL_TOL]
    fill = np.bincount(net.store_of_arc[full], minlength=n_stores)
    binding = [int(k) for k in np.argsort(-fill, kind="stable") if fill[k] > 0]
    limit = min(max_marginal_solves, MARGINAL_ARC_BUDGET // max(1, len(net.tails)))
    if len(binding) > limit:
        notes.append(f"marginal values measured for the {limit} fullest of "
                     f"{len(binding)} full stores (each is a full re-solve); the others are "
                     "not computed")
        for k in binding[limit:]:
            used[k] = per_km[k] = math.nan
        binding = binding[:limit]
    arcs_of = _arcs_by_store(net, n_stores) if binding else []
    for k in binding:
        arcs = arcs_of[k]
        if mcf is not None:
            step = 1.0 / mcf.scales.quantity
            got, km = mcf.with_capacity(arcs, 1)
        else:
            step = 1.0
            cap = net.capacity.copy()
            cap[arcs] += step
            st, x = _lp_solve(net, cap)
            if st is not SolverStatus.OPTIMAL:
                raise SolverError("monthly LP re-solve for a marginal value failed")
            got, km = float(x[deliver].sum()), float(x[deliver] @ net.km[deliver])
        # per listed unit of capacity: the arcs are in node units
        per_unit = step / net.cap_units[k] if net.cap_units[k] > 0 else math.nan
        used[k] = (got - delivered) / per_unit
        per_km[k] = (km - unit_km) / per_unit
    scales = {} if mcf is None else {"quantity": mcf.scales.quantity,
                                     "distance": mcf.scales.distance,
                                     "distance_weight": mcf.weight}
    exact = mcf is None or (mcf.scales.quantity_exact and bound == unit_km)
    return MonthlyPlan(flows, status, delivered, unit_km, method, solved - start, used,
                       per_km, scales, exact, "; ".join(notes), bound=bound,
                       marginal_seconds=time.perf_counter() - solved,
                       marginal_solves=len(binding))


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
    t1 = time.perf_counter()
    timings["candidates"] = t1 - t0
    pure = _is_pure(dataset, cand, options)
    net = build_network(dataset, cand, pure)
    storage = _stores(dataset)
    t2 = time.perf_counter()
    timings["build"] = t2 - t1
    plan = solve_network(net, len(storage), max_marginal_solves)
    timings["solve"] = plan.seconds
    timings["marginal_values"] = plan.marginal_seconds
    t3 = time.perf_counter()
    x = plan.flows[:net.n_delivery].reshape(len(cand), MONTHS) if len(cand) else \
        np.zeros((0, MONTHS))
    annual = x.sum(axis=1)
    annual_data = _with_supplier_initials(dataset, storage)
    note = "monthly plan (time-expanded network): " + (
        "min-cost flow" if pure else "LP (HiGHS): losses or a need served at two ratios")
    if plan.note:
        note += "; " + plan.note
    facts = SolverFacts(
        status=plan.status, objective=plan.unit_km, bound=plan.bound,
        seconds=plan.seconds, methods=(plan.method,), delivered=plan.delivered,
        components=1, scales={plan.method: plan.scales} if plan.scales else {},
        exact=plan.exact, note=note)
    warnings: list[str] = []
    from symbiosis.matching.blending import blend_needs
    from symbiosis.matching.heat import heat_applies

    if blend_needs(dataset, options.blend).any() or heat_applies(
            dataset, options.heat_at_delivery, options.heat_at_source):
        warnings.append("blending and heat judged at delivery are not planned by month yet: "
                        "the monthly plan takes each offer's quality on its own and heat as "
                        "checked at the source (never above a limit, possibly less matched)")
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
    result = replace(result, tables={"exchanges_monthly": monthly_ex, "storage": levels})
    timings["report"] = time.perf_counter() - t3
    return result.with_timings(timings)


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
        method="min_cost_flow" if pure else "lp_highs",
        note=("matched counts units delivered; what stays in a store at year end is not "
              "matched; a receiver's initial stock is used first and never counts as matched"
              + (f"; {plan.note}" if plan.note else "")),
    )


def _finite(value: Any) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None
