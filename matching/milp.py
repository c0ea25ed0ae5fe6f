"""Plans a logistics manager would sign (issue 16): trucks, minimum lots, contracts and
pipes as a mixed-integer model, built to solve well.

For each kept candidate arc a (symbols of `matching.logistics`; w_a the objective's value
per offer unit, with road freight and pipe shares taken out where trips and pipes are
charged whole):

    maximise    sum_a w_a x_a - sum_a (F_a + P_a) y_a - sum_a c_a T_a
    subject to  sum_{a out of o} x_a        <= q_o + stock_o       (offer)
                sum_{a into n} r_a x_a      <= d_n                 (need, need units)
                x_a <= U_a y_a                                     (tight big-M)
                x_a >= max(L_a, B_a) y_a                           (lot; break-even)
                x_a <= K_a T_a,  y_a <= T_a <= ceil(U_a / K_a) y_a  (whole trips)
                sum_{a at o} y_a <= P_o,  sum_{a at n} y_a <= P_n  (partners)
                y_a = 1, x_a >= max(L_a, Q_a)                      (existing contracts)
                x_a >= 0,  y_a in {0, 1},  T_a in Z+

| symbol | meaning                                                                      |
|--------|------------------------------------------------------------------------------|
| x_a    | quantity on arc a, offer units/yr (continuous)                               |
| y_a    | 1 if the exchange exists (only on arcs with a fixed cost, lot, partner limit |
|        | or contract; elsewhere x_a alone)                                            |
| T_a    | truck trips a year (only where a trip cost is given)                         |
| B_a    | (F_a + P_a + c_a) / w_a: below it an exchange loses money, so no optimal     |
|        | plan has one; a valid cut that tightens the fixed-charge relaxation          |

w_a per objective: cost = saving_a + pipe share + road freight replaced by trips (CNY);
weighted = the weighted value with the same money terms times the cost weight; co2 = t CO2e
net; utilization = 1 - 1e-3 km_a / (max km + 1) per unit (the most delivered, distance as a
small tie-break: not the exact lexicographic optimum of the continuous models). Fixed and
trip costs are money: they enter only objectives with a money term (cost, weighted with
cost > 0); under the others the structural limits (lots, partners, contracts) still hold
and a warning says the costs were not used.

How it solves well:

1. Exact pruning: an arc whose best value alone, min(w U - c U / K, w U - c) - F - P, is
   not positive (or whose lot exceeds U) can be removed from every optimal plan (removing
   it loosens every constraint), so it never reaches the solver.
2. Decomposition: connected components of the offer-need graph of the kept arcs (one unit
   family each: rules never mix families), packed into batches of whole components up to
   BATCH_ARCS arcs. One deadline for the whole call (heuristic, batches, relaxations): the
   time goes only to batches the LP bound does not prove, each its share (by arcs) of what
   is left when it starts, the largest last with all of it; the run's gap target is shared
   (what the proved batches leave of gap x |plan| becomes an absolute tolerance of the
   others); with less than MIN_BATCH_SECONDS left no batch is launched (HiGHS's presolve
   and the model build are not interruptible, and a province has many batches): those keep
   the heuristic plan and their LP bound, and the status is `time_limit`.
3. Continuous plan: the LP with fixed and trip costs spread over full load (F/U, c/K per
   unit) is exactly the LP relaxation without the lot and partner rows, so its optimum is
   a valid bound; solved by min-cost flow (or the HiGHS LP when a need sees two ratios).
4. Round and repair: from the continuous plan, keep flows that clear their lot and pay
   their fixed costs, round truck loads down to whole trucks where the last partial truck
   loses money, respect partner limits by value, then fill the freed capacity greedily by
   value; then re-solve the LP without the arcs it dropped and round again (a few passes
   within ROUNDING_SECONDS, the best per component kept); a feasible plan in seconds on a
   province. Then a close-one local search (`local_search`: close an open exchange,
   re-solve, round and repair; first improvement) on the components the LP does not prove,
   within LOCAL_SEARCH_SHARE of the budget: in the high-fixed-cost regime the rounding opens
   exchanges just above break-even that a larger exchange would use better. The result is
   the MathOpt solution hint, and a batch whose plan is already within the gap target of
   its LP bound is proved without MathOpt.
5. MathOpt with HiGHS (or SCIP) per batch, time limit and relative gap target; incumbent,
   bound and gap are reported per run (summary.json `solver.milp`), with HiGHS's progress
   (seconds, incumbent, bound) of the largest batch.
"""

from __future__ import annotations

import datetime
import math
import re
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from symbiosis.dataset import Dataset
from symbiosis.errors import InfeasibleError, SolverError
from symbiosis.i18n import t
from symbiosis.matching.candidates import Candidates, candidates_for
from symbiosis.matching.economics import ArcValues, arc_values
from symbiosis.matching.flow import (
    SolverStatus,
    relative_gap,
    solve_generalized_max_weight_lp,
    solve_transport_max_weight,
)
from symbiosis.matching.logistics import (
    ArcLogistics,
    arc_logistics,
    integer_features,
    wants_milp,
)
from symbiosis.matching.options import MatchOptions
from symbiosis.matching.reasons import UnmatchedReason
from symbiosis.matching.result import MatchResult, SolverFacts, assemble_result
from symbiosis.types import FloatArray, IntArray

if TYPE_CHECKING:
    from symbiosis.geo.provider import GeoDistances

__all__ = ["BATCH_ARCS", "BATCH_STATES", "DEFAULT_TIME_LIMIT_S", "BatchFacts", "MilpModel",
           "MilpOutcome", "batch_report", "build_model", "continuous_plan", "outcome_status",
           "plan_value", "round_and_repair", "run_mathopt", "solve_match_milp", "solve_model",
           "spread_weights", "stop_note", "wants_milp"]

DEFAULT_TIME_LIMIT_S = 60.0
BATCH_ARCS = 4000  # small components are solved together up to this many arcs
RELAX_MAX = 5  # binding limits re-solved relaxed, at most
ROUNDING_PASSES = 3  # LP re-solves of the round-and-repair heuristic
ROUNDING_SECONDS = 10.0  # no new pass starts after this long
LOCAL_SEARCH_SHARE = 0.25  # of the time limit, at most, for the close-one local search
UTILIZATION_KM_WEIGHT = 1e-3
_EPS = 1e-9

# pruning codes per candidate arc
KEPT, LOT_ABOVE_CAPACITY, NO_GAIN, FIXED_COST = 0, 1, 2, 3


@dataclass(frozen=True)
class MilpModel:
    """The model over the kept arcs (positions `arcs` into the candidates) in objective
    units; per-offer and per-need arrays are over every listing."""

    arcs: IntArray
    offer: IntArray
    need: IntArray
    ratio: FloatArray
    weight: FloatArray  # w_a
    fixed: FloatArray  # F_a + P_a, objective units
    trip: FloatArray  # c_a, objective units (0 = trips not charged)
    truck: FloatArray  # K_a (NaN = no trucks)
    upper: FloatArray  # U_a
    floor: FloatArray  # max(L_a, B_a), or the contract's least quantity
    lot: FloatArray  # L_a
    forced: np.ndarray  # bool: an existing contract
    supply: FloatArray
    demand: FloatArray
    offer_partners: IntArray
    need_partners: IntArray

    def __len__(self) -> int:
        return len(self.arcs)

    @property
    def binary(self) -> np.ndarray:
        """Arcs with a y_a."""
        limited = (self.offer_partners[self.offer] > 0) | (self.need_partners[self.need] > 0)
        return (self.fixed > 0) | (self.floor > 0) | limited | self.forced | (self.trip > 0)

    @property
    def trips(self) -> np.ndarray:
        """Arcs with whole trips T_a charged."""
        return (self.trip > 0) & np.isfinite(self.truck)

    def subset(self, idx: IntArray) -> MilpModel:
        """The model on kept arcs `idx` (positions into this model)."""
        return replace(self, **{k: getattr(self, k)[idx] for k in _ARC_FIELDS})


_ARC_FIELDS = ("arcs", "offer", "need", "ratio", "weight", "fixed", "trip", "truck", "upper",
               "floor", "lot", "forced")


def _trips_of(model: MilpModel, x: FloatArray) -> FloatArray:
    """Whole trips per arc for quantities x (0 where no truck)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        trips = np.ceil(x / model.truck - 1e-7)
    return np.where(np.isfinite(model.truck) & (x > _EPS), np.maximum(trips, 1.0), 0.0)


def arc_contributions(model: MilpModel, x: FloatArray) -> FloatArray:
    """Each arc's term of the objective for quantities x: w x - (F + P)[x > 0] - c trips."""
    return np.asarray(model.weight * x - np.where(x > _EPS, model.fixed, 0.0)
                      - model.trip * _trips_of(model, x), float)


def plan_value(model: MilpModel, x: FloatArray) -> float:
    """The objective of quantities x on the model's arcs, recomputed in float."""
    return float(arc_contributions(model, x).sum())


def _money_weight(options: MatchOptions) -> float:
    if options.objective == "cost":
        return 1.0
    if options.objective == "weighted":
        return float(dict(options.weights).get("cost", 0.0))
    return 0.0


def _arc_weights(options: MatchOptions, cand: Candidates, values: ArcValues,
                 logistics: ArcLogistics, money: float) -> FloatArray:
    from symbiosis.matching.model import objective_weights

    if options.objective == "utilization":
        km = cand.distance_km
        top = float(km.max()) + 1.0 if len(km) else 1.0
        return 1.0 - UTILIZATION_KM_WEIGHT * km / top
    w = np.asarray(objective_weights(options, values), float)
    if money:
        share = values.pipe_unit if values.pipe_unit is not None else 0.0
        w = w + money * (share + logistics.road_unit_cny)
    return w


def build_model(dataset: Dataset, cand: Candidates, options: MatchOptions,
                values: ArcValues, logistics: ArcLogistics) -> tuple[MilpModel, IntArray]:
    """The kept arcs' model and, per candidate arc, why it was pruned (KEPT, ...).

    Raises:
        InfeasibleError: existing contracts that together exceed a need, or whose least
            quantity exceeds what their arc can carry.
    """
    money = _money_weight(options)
    w = _arc_weights(options, cand, values, logistics, money)
    fixed = money * (logistics.contract_cny + logistics.pipe_cny)
    trip = money * logistics.trip_cny
    truck = logistics.truck_t
    upper, lot = logistics.upper, logistics.lot
    forced = np.zeros(len(cand), bool)
    forced[logistics.forced] = True
    by_truck = (trip > 0) & np.isfinite(truck)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_trip = np.where(by_truck, trip / truck, 0.0)
        best = np.minimum(w * upper - per_trip * upper,
                          w * upper - np.where(by_truck, trip, 0.0)) - fixed
        breakeven = np.where((fixed + np.where(by_truck, trip, 0.0) > 0) & (w > 0),
                             (fixed + np.where(by_truck, trip, 0.0)) / w, 0.0)
    code = np.full(len(cand), KEPT, np.int64)
    code[lot > upper * (1 + 1e-12)] = LOT_ABOVE_CAPACITY
    code[(code == KEPT) & (w <= 0)] = NO_GAIN
    code[(code == KEPT) & (best <= 0)] = FIXED_COST
    code[forced] = KEPT
    floor = np.maximum(lot, breakeven)
    floor[forced] = 0.0
    floor[logistics.forced] = np.maximum(floor[logistics.forced], logistics.forced_min)
    if (floor[forced] > upper[forced] * (1 + 1e-9)).any():
        bad = np.flatnonzero(forced & (floor > upper * (1 + 1e-9)))
        raise InfeasibleError(_contract_text(dataset, cand, bad, "keep more than their "
                                             "offer or need can carry"))
    _check_forced_needs(dataset, cand, logistics)
    keep = np.flatnonzero(code == KEPT)
    model = MilpModel(
        arcs=keep, offer=cand.offer[keep].astype(np.int64),
        need=cand.need[keep].astype(np.int64), ratio=cand.ratio[keep],
        weight=w[keep], fixed=fixed[keep], trip=np.where(by_truck, trip, 0.0)[keep],
        truck=truck[keep], upper=upper[keep], floor=np.minimum(floor, upper)[keep],
        lot=lot[keep], forced=forced[keep], supply=logistics.supply,
        demand=logistics.demand, offer_partners=logistics.offer_partners,
        need_partners=logistics.need_partners)
    return model, code


def _contract_text(dataset: Dataset, cand: Candidates, arcs: IntArray, what: str) -> str:
    pairs = ", ".join(f"{dataset.offers.index[cand.offer[a]]} -> "
                      f"{dataset.needs.index[cand.need[a]]}" for a in arcs[:5])
    return f"existing contracts {pairs} {what}"


def _check_forced_needs(dataset: Dataset, cand: Candidates, logistics: ArcLogistics) -> None:
    if not len(logistics.forced):
        return
    arcs = logistics.forced
    load = np.bincount(cand.need[arcs], weights=logistics.forced_min * cand.ratio[arcs],
                       minlength=len(dataset.needs))
    over = np.flatnonzero(load > logistics.demand * (1 + 1e-9))
    if len(over):
        raise InfeasibleError(f"existing contracts into need(s) "
                              f"{', '.join(map(str, dataset.needs.index[over][:5]))} keep "
                              "more than the need's quantity")
    out = np.bincount(cand.offer[arcs], weights=logistics.forced_min,
                      minlength=len(dataset.offers))
    over = np.flatnonzero(out > logistics.supply * (1 + 1e-9))
    if len(over):
        raise InfeasibleError(f"existing contracts from offer(s) "
                              f"{', '.join(map(str, dataset.offers.index[over][:5]))} keep "
                              "more than the offer's quantity")


# ----------------------------------------------------------------------------- continuous


def spread_weights(model: MilpModel) -> FloatArray:
    """w_a - (F_a + P_a) / U_a - c_a / K_a: the value per unit with fixed and trip costs
    spread over full load (the LP relaxation's objective)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(model.weight - model.fixed / model.upper - np.where(
            model.trip > 0, model.trip / model.truck, 0.0), float)


def continuous_plan(model: MilpModel) -> tuple[FloatArray, float]:
    """The LP relaxation without lot and partner rows: fixed and trip costs spread over full
    load (F/U and c/K per unit). Returns (quantities, its optimum): the optimum bounds the
    MILP from above (y >= x/U and T >= x/K in any feasible point, and fewer rows)."""
    spread = spread_weights(model)
    live = np.flatnonzero(spread > 0)
    x = np.zeros(len(model))
    if not len(live):
        return x, 0.0
    o, n, r = model.offer[live], model.need[live], model.ratio[live]
    n_needs = len(model.demand)
    lo = np.full(n_needs, np.inf)
    hi = np.full(n_needs, -np.inf)
    np.minimum.at(lo, n, r)
    np.maximum.at(hi, n, r)
    if np.all(lo[n] == hi[n]):
        need_ratio = np.ones(n_needs)
        need_ratio[n] = r
        used_o = np.bincount(o, minlength=len(model.supply)) > 0
        used_n = np.bincount(n, minlength=n_needs) > 0
        sol = solve_transport_max_weight(np.where(used_o, model.supply, 0.0),
                                         np.where(used_n, model.demand / need_ratio, 0.0),
                                         o, n, spread[live])
    else:
        uo, o_loc = np.unique(o, return_inverse=True)
        un, n_loc = np.unique(n, return_inverse=True)
        sol = solve_generalized_max_weight_lp(model.supply[uo], model.demand[un], o_loc,
                                              n_loc, spread[live], r)
    if sol.status is not SolverStatus.OPTIMAL:
        raise SolverError(f"continuous plan: {sol.method} returned {sol.status}")
    x[live] = np.minimum(sol.flows, model.upper[live])
    return x, float(max(sol.bound, sol.objective))


# ----------------------------------------------------------------------------- heuristic


def round_and_repair(model: MilpModel, start: FloatArray,
                     banned: np.ndarray | None = None) -> FloatArray:
    """A feasible plan from the continuous plan `start`: contracts first, then the
    continuous flows that clear their lot and pay their fixed and trip costs (a partial
    last truck dropped when it loses money), then freed capacity filled greedily by value
    (never on `banned` arcs); partner limits and capacities hold throughout.
    Deterministic."""
    m = len(model)
    x = np.zeros(m)
    res_o = model.supply.astype(float).copy()
    res_n = model.demand.astype(float).copy()
    cnt_o = np.zeros(len(model.supply), np.int64)
    cnt_n = np.zeros(len(model.demand), np.int64)
    lim_o, lim_n = model.offer_partners, model.need_partners
    w, fixed, trip, truck = model.weight, model.fixed, model.trip, model.truck
    floor, upper, ratio = model.floor, model.upper, model.ratio
    offer, need = model.offer, model.need

    def value(a: int, q: float) -> float:
        if q <= _EPS:
            return 0.0
        v = w[a] * q - fixed[a]
        if trip[a] > 0:
            v -= trip[a] * max(1.0, math.ceil(q / truck[a] - 1e-9))
        return float(v)

    def best(a: int, cap: float) -> float:
        """The quantity in [floor, cap] worth most (0 when none pays)."""
        if cap < floor[a] - 1e-9 or cap <= _EPS:
            return 0.0
        q = cap
        if trip[a] > 0:
            full = math.floor(cap / truck[a] + 1e-9) * truck[a]
            if full >= floor[a] - 1e-9 and full > _EPS and value(a, full) > value(a, cap):
                q = full
        return q if value(a, q) > 0 else 0.0

    counted = np.zeros(m, bool)  # an exchange (or a contract) counted as a partner

    def put(a: int, q: float) -> None:
        o, n = offer[a], need[a]
        if not counted[a] and q > _EPS:
            counted[a] = True
            cnt_o[o] += 1
            cnt_n[n] += 1
        res_o[o] -= q - x[a]
        res_n[n] -= (q - x[a]) * ratio[a]
        x[a] = q

    for a in np.flatnonzero(model.forced).tolist():  # contracts: partners even at 0
        counted[a] = True
        cnt_o[offer[a]] += 1
        cnt_n[need[a]] += 1
        put(a, float(max(floor[a], 0.0)))
    spread = spread_weights(model)
    first = np.flatnonzero((start > _EPS) & ~model.forced)
    first = first[np.argsort(-spread[first], kind="stable")]
    for a in first.tolist():
        o, n = offer[a], need[a]
        if (lim_o[o] and cnt_o[o] >= lim_o[o]) or (lim_n[n] and cnt_n[n] >= lim_n[n]):
            continue
        room = min(res_o[o], res_n[n] / ratio[a], upper[a])
        q = best(a, min(max(start[a], floor[a]), room))
        if q > 0:
            put(a, q)
    order = np.argsort(-spread, kind="stable")
    for a in order.tolist():
        if spread[a] <= 0 and not model.forced[a]:
            break
        if banned is not None and banned[a]:
            continue
        o, n = offer[a], need[a]
        new = not counted[a]
        if new and ((lim_o[o] and cnt_o[o] >= lim_o[o]) or (lim_n[n] and cnt_n[n] >= lim_n[n])):
            continue
        room = min(x[a] + res_o[o], x[a] + res_n[n] / ratio[a], upper[a])
        if room <= x[a] + _EPS:
            continue
        q = best(a, room)
        if q > x[a] + _EPS and value(a, q) > value(a, x[a]):
            put(a, q)
    return x


def _iterated_rounding(model: MilpModel, lp_x: FloatArray, x: FloatArray,
                       labels: IntArray, deadline: float) -> FloatArray:
    """Round and repair again from the LP re-solved without the arcs the last rounding
    dropped (their flow missed a lot or did not pay its fixed costs), ROUNDING_PASSES times
    at most and only while before `deadline` (a perf_counter value: the heuristic stays a
    matter of seconds on a province); per component the best plan found is kept
    (components share no constraint, and the objective adds up over arcs)."""
    best = x.copy()
    comp = np.unique(labels, return_inverse=True)[1] if len(labels) else labels
    best_by = np.bincount(comp, weights=arc_contributions(model, best))
    banned = np.zeros(len(model), bool)
    seed, plan = lp_x, x
    for _ in range(ROUNDING_PASSES):
        if time.perf_counter() > deadline:
            break
        dropped = (seed > _EPS) & (plan <= _EPS) & ~model.forced
        if not dropped.any():
            break
        banned |= dropped
        keep = np.flatnonzero(~banned)
        seed = np.zeros(len(model))
        seed[keep] = continuous_plan(model.subset(keep))[0]
        plan = round_and_repair(model, seed)
        value_by = np.bincount(comp, weights=arc_contributions(model, plan),
                               minlength=len(best_by))
        better = value_by > best_by + 1e-9
        if better.any():
            take = better[comp]
            best[take] = plan[take]
            best_by = np.where(better, value_by, best_by)
    return best


def local_search(model: MilpModel, x: FloatArray, deadline: float) -> FloatArray:
    """Close-one local search on the feasible plan x: for each open exchange, worst
    contribution first, close it, re-solve the continuous plan without it and round and
    repair (the freed capacity may open other exchanges); keep the first plan that is
    better and start again, until no closing helps or `deadline` (a perf_counter value).

    In the high-fixed-cost regime the rounding opens exchanges just above break-even whose
    offer or need would be worth more to a larger exchange; closing one is the move that
    MathOpt's own heuristics rarely make from the hint. Deterministic up to the deadline.
    """
    best = x.copy()
    best_v = plan_value(model, best)
    banned = np.zeros(len(model), bool)
    tried = np.zeros(len(model), bool)
    while time.perf_counter() < deadline:
        contrib = arc_contributions(model, best)
        live = np.flatnonzero((best > _EPS) & ~model.forced & ~tried)
        if not len(live):
            break
        improved = False
        for a in live[np.argsort(contrib[live], kind="stable")].tolist():
            if time.perf_counter() >= deadline:
                break
            tried[a] = True
            ban = banned.copy()
            ban[a] = True
            keep = np.flatnonzero(~ban)
            seed = np.zeros(len(model))
            seed[keep] = continuous_plan(model.subset(keep))[0]
            plan = round_and_repair(model, seed, ban)
            value = plan_value(model, plan)
            if value > best_v + 1e-9 * max(1.0, abs(best_v)):
                best, best_v, banned = plan, value, ban
                tried[:] = False
                tried[ban] = True
                improved = True
                break
        if not improved:
            break
    return best


# ----------------------------------------------------------------------------- MILP


@dataclass(frozen=True)
class BatchResult:
    """One MathOpt solve: its quantities, incumbent, bound and progress."""

    x: FloatArray
    objective: float
    bound: float
    status: str
    seconds: float
    progress: tuple[tuple[float, float, float], ...] = ()


def _proto(model: MilpModel) -> tuple[Any, IntArray, IntArray]:
    """The MILP of the module docstring as a MathOpt ModelProto built from arrays; returns
    it with the arcs carrying y (variables m..m+ny-1) and T (after them)."""
    from ortools.math_opt import model_pb2

    m = len(model)
    with_y = np.flatnonzero(model.binary)
    with_t = np.flatnonzero(model.trips)
    ny, nt = len(with_y), len(with_t)
    y_id = m + np.arange(ny)
    t_id = m + ny + np.arange(nt)
    proto = model_pb2.ModelProto()
    v = proto.variables
    n_var = m + ny + nt
    v.ids.extend(range(n_var))
    x_lo = np.where(model.forced, model.floor, 0.0)
    y_lo = model.forced[with_y].astype(float)
    ceil_trips = np.ceil(model.upper[with_t] / model.truck[with_t] - 1e-9)
    v.lower_bounds.extend(np.concatenate([x_lo, y_lo, np.zeros(nt)]).tolist())
    v.upper_bounds.extend(np.concatenate([model.upper, np.ones(ny), ceil_trips]).tolist())
    v.integers.extend([False] * m + [True] * (ny + nt))
    rows: list[IntArray] = []
    cols: list[IntArray] = []
    coefs: list[FloatArray] = []
    lower: list[FloatArray] = []
    upper: list[FloatArray] = []
    n_rows = 0

    def block(r: IntArray, c: IntArray, k: FloatArray, lo: FloatArray, hi: FloatArray,
              count: int) -> None:
        nonlocal n_rows
        rows.append(r + n_rows)
        cols.append(c)
        coefs.append(k)
        lower.append(lo)
        upper.append(hi)
        n_rows += count

    arcs = np.arange(m)
    uo, o_loc = np.unique(model.offer, return_inverse=True)
    un, n_loc = np.unique(model.need, return_inverse=True)
    block(o_loc, arcs, np.ones(m), np.full(len(uo), -np.inf), model.supply[uo], len(uo))
    block(n_loc, arcs, model.ratio, np.full(len(un), -np.inf), model.demand[un], len(un))
    j = np.arange(ny)
    # x - U y <= 0 and x - floor y >= 0
    block(np.concatenate([j, j]), np.concatenate([with_y, y_id]),
          np.concatenate([np.ones(ny), -model.upper[with_y]]), np.full(ny, -np.inf),
          np.zeros(ny), ny)
    has_floor = with_y[model.floor[with_y] > 0]
    kf = np.arange(len(has_floor))
    y_of = np.full(m, -1, np.int64)
    y_of[with_y] = y_id
    block(np.concatenate([kf, kf]), np.concatenate([has_floor, y_of[has_floor]]),
          np.concatenate([np.ones(len(kf)), -model.floor[has_floor]]), np.zeros(len(kf)),
          np.full(len(kf), np.inf), len(kf))
    k = np.arange(nt)
    # x - K T <= 0; T - ceil(U/K) y <= 0; y - T <= 0 (trips only with an exchange)
    block(np.concatenate([k, k]), np.concatenate([with_t, t_id]),
          np.concatenate([np.ones(nt), -model.truck[with_t]]), np.full(nt, -np.inf),
          np.zeros(nt), nt)
    ty = y_of[with_t]
    block(np.concatenate([k, k]), np.concatenate([t_id, ty]),
          np.concatenate([np.ones(nt), -ceil_trips]), np.full(nt, -np.inf), np.zeros(nt), nt)
    block(np.concatenate([k, k]), np.concatenate([ty, t_id]),
          np.concatenate([np.ones(nt), -np.ones(nt)]), np.full(nt, -np.inf), np.zeros(nt),
          nt)
    for ends, limits in ((model.offer, model.offer_partners), (model.need, model.need_partners)):
        lim = limits[ends[with_y]]
        sel = lim > 0
        if not sel.any():
            continue
        keys, loc = np.unique(ends[with_y][sel], return_inverse=True)
        block(loc, y_id[sel], np.ones(int(sel.sum())), np.full(len(keys), -np.inf),
              limits[keys].astype(float), len(keys))
    proto.linear_constraints.ids.extend(range(n_rows))
    proto.linear_constraints.lower_bounds.extend(np.concatenate(lower).tolist())
    proto.linear_constraints.upper_bounds.extend(np.concatenate(upper).tolist())
    r_all, c_all, k_all = np.concatenate(rows), np.concatenate(cols), np.concatenate(coefs)
    order = np.lexsort((c_all, r_all))
    mat = proto.linear_constraint_matrix
    mat.row_ids.extend(r_all[order].tolist())
    mat.column_ids.extend(c_all[order].tolist())
    mat.coefficients.extend(k_all[order].tolist())
    proto.objective.maximize = True
    obj = np.concatenate([model.weight, -model.fixed[with_y], -model.trip[with_t]])
    nz = np.flatnonzero(obj != 0)
    proto.objective.linear_coefficients.ids.extend(nz.tolist())
    proto.objective.linear_coefficients.values.extend(obj[nz].tolist())
    return proto, with_y, with_t


_HIGHS_TIME = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _parse_progress(lines: list[str]) -> tuple[tuple[float, float, float], ...]:
    """(seconds, incumbent, bound) from HiGHS's branch-and-bound log rows, which read
    `[src] nodes queue leaves explored% BestBound BestSol Gap cuts inlp confl lpiters Ts`."""
    out: list[tuple[float, float, float]] = []
    for line in lines:
        tokens = line.split()
        if len(tokens) < 10:
            continue
        when = _HIGHS_TIME.match(tokens[-1])
        pct = next((i for i, tok in enumerate(tokens) if tok.endswith("%")), None)
        if when is None or pct is None or pct + 2 >= len(tokens):
            continue
        try:
            bound, best = float(tokens[pct + 1]), float(tokens[pct + 2])
        except ValueError:
            continue
        if math.isfinite(best) and math.isfinite(bound):  # JSON has no infinities
            out.append((float(when.group(1)), best, bound))
    return tuple(out)


def run_mathopt(proto: Any, solver: str, time_limit_s: float, gap: float,
                hint: FloatArray | None = None, absolute_gap: float = 1e-6,
                barrier: bool = False) -> tuple[Any, list[str]]:
    """Solve a MathOpt ModelProto with HiGHS or SCIP: (the SolveResultProto, HiGHS's log
    lines). `hint` gives a value to every variable (a warm start); `time_limit_s` is the
    solver's own limit (HiGHS checks it between presolve steps and at nodes); the solve
    stops at the relative `gap` or the `absolute_gap` (objective units), whichever first.
    `barrier` solves an LP by interior point and crossover (HiGHS IPX: 10.6 s CPU against
    18.3 s for its dual simplex on a 300-enterprise park's monthly relaxation).

    Raises:
        SolverError: an invalid model or parameter.
    """
    from ortools.math_opt import model_parameters_pb2
    from ortools.math_opt.core.python import solver as core_solver
    from ortools.math_opt.python import callback, init_arguments, parameters

    params = parameters.SolveParameters(
        time_limit=datetime.timedelta(seconds=max(time_limit_s, 0.01)),
        relative_gap_tolerance=gap, absolute_gap_tolerance=max(absolute_gap, 1e-6),
        threads=None if solver == "highs" else 1,  # HiGHS takes threads only globally
        lp_algorithm=parameters.LPAlgorithm.BARRIER if barrier else None)
    model_params = model_parameters_pb2.ModelSolveParametersProto()
    if hint is not None:
        h = model_params.solution_hints.add()
        h.variable_values.ids.extend(range(len(hint)))
        h.variable_values.values.extend(np.asarray(hint, float).tolist())
    kind = (parameters.SolverType.HIGHS if solver == "highs"
            else parameters.SolverType.GSCIP)
    lines: list[str] = []
    try:
        result = core_solver.solve(
            proto, kind.value, init_arguments.StreamableSolverInitArguments().to_proto(),
            params.to_proto(), model_params, lines.extend,
            callback.CallbackRegistration().to_proto(), None, None)
    except Exception as exc:  # pybind11 StatusNotOk: an invalid model or parameter
        raise SolverError(f"MathOpt {solver}: {exc}") from None
    return result, lines


def _solve_batch(model: MilpModel, hint: FloatArray, time_limit_s: float, gap: float,
                 solver: str, absolute_gap: float = 1e-6) -> BatchResult:
    """One MathOpt solve of `model` warm-started from the feasible `hint`."""
    from ortools.math_opt import result_pb2

    start = time.perf_counter()
    proto, with_y, with_t = _proto(model)
    left = time_limit_s - (time.perf_counter() - start)  # the build counts against it
    y_hint = (hint[with_y] > _EPS).astype(float)
    t_hint = _trips_of(model, hint)[with_t]
    values = np.concatenate([hint, y_hint, t_hint])
    result, lines = run_mathopt(proto, solver, max(left, 0.01), gap, values, absolute_gap)
    seconds = time.perf_counter() - start
    reason = result.termination.reason
    hint_value = plan_value(model, hint)
    bound = float(result.termination.objective_bounds.dual_bound)
    if reason == result_pb2.TERMINATION_REASON_INFEASIBLE:
        raise InfeasibleError("the existing contracts cannot all be kept together with "
                              "the lots and partner limits")
    x = hint
    status = "feasible"
    if len(result.solutions) and result.solutions[0].HasField("primal_solution"):
        sparse = result.solutions[0].primal_solution.variable_values
        dense = np.zeros(len(values))
        dense[np.fromiter(sparse.ids, np.int64)] = np.fromiter(sparse.values, float)
        got = np.clip(dense[:len(model)], 0.0, model.upper)
        # within the solver's tolerances: no flow without its exchange, no load above its
        # whole trips (else a 30.0000001-t load would count a fourth truck)
        got[with_y[np.rint(dense[len(model) + np.arange(len(with_y))]) < 0.5]] = 0.0
        trips = np.rint(dense[len(model) + len(with_y) + np.arange(len(with_t))])
        got[with_t] = np.minimum(got[with_t], trips * model.truck[with_t])
        got[got < 1e-7 * np.maximum(1.0, model.upper)] = 0.0
        if plan_value(model, got) >= hint_value and _feasible(model, got):
            x = got
    objective = plan_value(model, x)
    if not math.isfinite(bound):
        bound = math.inf
    if reason == result_pb2.TERMINATION_REASON_OPTIMAL:
        status = "optimal"
    return BatchResult(x, objective, max(bound, objective), status, seconds,
                       _parse_progress(lines) if solver == "highs" else ())


def _feasible(model: MilpModel, x: FloatArray, tol: float = 1e-6) -> bool:
    """Capacities, lots, partner limits and contracts hold for x (within tolerance)."""
    live = x > _EPS
    out = np.bincount(model.offer, weights=x, minlength=len(model.supply))
    into = np.bincount(model.need, weights=x * model.ratio, minlength=len(model.demand))
    ok = bool(np.all(out <= model.supply * (1 + tol) + tol)
              and np.all(into <= model.demand * (1 + tol) + tol))
    ok &= bool(np.all(x[live] >= model.floor[live] * (1 - tol) - tol))
    ok &= bool(np.all(x[model.forced] >= model.floor[model.forced] * (1 - tol) - tol))
    for ends, lim in ((model.offer, model.offer_partners), (model.need, model.need_partners)):
        count = np.bincount(ends[live], minlength=len(lim))
        ok &= bool(np.all((lim == 0) | (count <= lim)))
    return ok


def _components(model: MilpModel) -> IntArray:
    """Connected component of each kept arc in the offer-need graph."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n_o, n_n = len(model.supply), len(model.demand)
    graph = coo_matrix((np.ones(len(model), np.int8), (model.offer, n_o + model.need)),
                       shape=(n_o + n_n, n_o + n_n))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels[model.offer], np.int64)


def _batches(labels: IntArray, batch_arcs: int = BATCH_ARCS) -> list[IntArray]:
    """Kept-arc positions grouped into batches of whole components up to `batch_arcs` arcs
    (smallest first: the largest batch, last, gets whatever time is left)."""
    if not len(labels):
        return []
    _, comp = np.unique(labels, return_inverse=True)
    sizes = np.bincount(comp)
    order = np.argsort(sizes, kind="stable")
    batch_of = np.zeros(len(sizes), np.int64)
    current, filled = 0, 0
    for c in order.tolist():
        if filled and filled + sizes[c] > batch_arcs:
            current, filled = current + 1, 0
        batch_of[c] = current
        filled += int(sizes[c])
    by_arc = batch_of[comp]
    return [np.flatnonzero(by_arc == b) for b in range(current + 1)]


# how a batch ended: proved by the LP bound alone, by MathOpt (optimal or within the gap
# target), stopped by the time limit with MathOpt's incumbent and bound, or never started
# because the run's budget was spent (the round-and-repair plan and the LP bound)
BATCH_STATES = ("lp_bound", "optimal", "gap_reached", "time_limit", "not_started")
MIN_BATCH_SECONDS = 0.1  # a batch is not launched with less than this left of the budget


@dataclass(frozen=True)
class BatchFacts:
    """One batch of whole components: its arcs and components, the plan's objective on it
    (`incumbent`), a bound on its optimum and how it ended (one of BATCH_STATES)."""

    arcs: int
    components: int
    incumbent: float
    bound: float
    state: str
    seconds: float = 0.0

    @property
    def gap(self) -> float:
        """Relative gap between incumbent and bound."""
        return relative_gap(self.incumbent, self.bound)


@dataclass(frozen=True)
class MilpOutcome:
    """The solved model: quantities per kept arc and the facts of the solve."""

    x: FloatArray
    objective: float
    bound: float
    status: SolverStatus
    seconds: float
    heuristic_objective: float
    heuristic_seconds: float
    continuous_bound: float
    components: int
    batches: int
    batches_at_target: int
    batches_solved: int = 0
    progress: tuple[tuple[float, float, float], ...] = ()
    notes: tuple[str, ...] = field(default=())
    batch_facts: tuple[BatchFacts, ...] = ()
    first_plan_seconds: float = 0.0

    @property
    def gap(self) -> float:
        """Relative gap between incumbent and bound."""
        return relative_gap(self.objective, self.bound)

    @property
    def batches_stopped(self) -> int:
        """Batches stopped by the time limit or never started."""
        return sum(b.state in ("time_limit", "not_started") for b in self.batch_facts)


def outcome_status(facts: list[BatchFacts]) -> SolverStatus:
    """OPTIMAL when every batch reached the gap target; TIME_LIMIT when the budget stopped
    one (a plan, a bound and a gap all the same); else FEASIBLE."""
    if all(f.state in ("lp_bound", "optimal", "gap_reached") for f in facts):
        return SolverStatus.OPTIMAL
    if any(f.state in ("time_limit", "not_started") for f in facts):
        return SolverStatus.TIME_LIMIT
    return SolverStatus.FEASIBLE


def _polish(model: MilpModel, x: FloatArray, lp_x: FloatArray, labels: IntArray,
            gap: float, deadline: float) -> FloatArray:
    """`local_search` on the components whose plan the LP bound does not prove within the
    gap, largest LP gap first, each on its own (they share no constraint); nothing when the
    whole run is within its gap target already."""
    if time.perf_counter() >= deadline:
        return x
    comp = np.unique(labels, return_inverse=True)[1]
    here = np.bincount(comp, weights=arc_contributions(model, x))
    lp = np.bincount(comp, weights=spread_weights(model) * lp_x, minlength=len(here))
    open_ = np.flatnonzero(lp - here > gap * np.maximum(1.0, np.abs(here)))
    if float((lp - here).sum()) <= gap * max(1.0, abs(float(here.sum()))):
        return x  # the run is within its gap target already (see solve_model)
    x = x.copy()
    for c in open_[np.argsort(-(lp - here)[open_], kind="stable")].tolist():
        if time.perf_counter() >= deadline:
            break
        idx = np.flatnonzero(comp == c)
        x[idx] = local_search(model.subset(idx), x[idx], deadline)
    return x


def solve_model(model: MilpModel, time_limit_s: float, gap: float,
                solver: str = "highs", start: FloatArray | None = None,
                batch_arcs: int = BATCH_ARCS) -> MilpOutcome:
    """Continuous plan -> round and repair -> MathOpt per batch of components, warm-started.

    `time_limit_s` is the budget of the whole call, heuristic included: each batch gets
    its share (by arcs) of what is left when it starts, the last and largest all of it; once
    less than MIN_BATCH_SECONDS is left no batch is launched, and those batches keep the
    round-and-repair plan with their LP bound (state `not_started`, status TIME_LIMIT).
    `start` replaces the continuous plan as the heuristic's seed (a relaxation re-solve
    seeds with the plan it improves on).
    """
    t0 = time.perf_counter()
    deadline = t0 + max(time_limit_s, 0.0)
    lp_x, lp_bound = continuous_plan(model)
    labels = _components(model) if len(model) else np.zeros(0, np.int64)
    x = round_and_repair(model, lp_x) if start is None else round_and_repair(model, start)
    t_first = time.perf_counter() - t0  # a feasible plan exists from here on
    if start is None:
        x = _iterated_rounding(model, lp_x, x, labels, min(t0 + ROUNDING_SECONDS, deadline))
    if start is not None and plan_value(model, start) > plan_value(model, x) \
            and _feasible(model, start):
        x = start.copy()
    if start is None and len(model):
        x = _polish(model, x, lp_x, labels, gap,
                    min(time.perf_counter() + LOCAL_SEARCH_SHARE * time_limit_s, deadline))
    t_heur = time.perf_counter() - t0
    heuristic = plan_value(model, x)
    # the LP decomposes by component: its value on a batch's arcs is the batch's LP optimum
    # (plus the integer-scale slack of the min-cost flow, charged to every batch)
    lp_value = spread_weights(model) * lp_x
    lp_slack = max(lp_bound - float(lp_value.sum()), 0.0)
    batches = _batches(labels, batch_arcs)
    here_b = np.array([plan_value(model.subset(idx), x[idx]) for idx in batches])
    lp_b = np.array([float(lp_value[idx].sum()) + lp_slack for idx in batches])
    slack = np.maximum(lp_b - here_b, 0.0)
    proved = slack <= gap * np.maximum(1.0, np.abs(here_b))
    # the gap target is the run's: what the proved batches leave of gap x |plan| is shared
    # by the others as an absolute tolerance (by arcs), so a small batch is not polished
    # for minutes while the run is already within the target
    allowed = gap * max(1.0, abs(float(here_b.sum())))
    if float(slack.sum()) <= allowed:
        proved[:] = True
    spare = max(allowed - float(slack[proved].sum()), 0.0)
    sizes = np.array([len(b) for b in batches], float)
    open_size = float(sizes[~proved].sum())
    remaining = open_size
    solved = 0  # batches that went to MathOpt (the others were proved by the LP bound)
    facts: list[BatchFacts] = []
    progress: tuple[tuple[float, float, float], ...] = ()
    biggest = int(np.argmax(np.where(proved, -1.0, sizes))) if len(sizes) else -1
    for i, idx in enumerate(batches):
        n_comp = len(np.unique(labels[idx]))
        here = float(here_b[i])
        if proved[i]:  # the LP bound proves it already
            facts.append(BatchFacts(len(idx), n_comp, here, max(float(lp_b[i]), here),
                                    "lp_bound"))
            continue
        share = sizes[i] / max(remaining, 1.0)
        remaining -= sizes[i]
        left = deadline - time.perf_counter()
        if left < MIN_BATCH_SECONDS:  # the budget is spent: the heuristic plan stays
            facts.append(BatchFacts(len(idx), n_comp, here, max(float(lp_b[i]), here),
                                    "not_started"))
            continue
        solved += 1
        absolute = spare * sizes[i] / max(open_size, 1.0)
        res = _solve_batch(model.subset(idx), x[idx], left * share, gap, solver, absolute)
        x[idx] = res.x
        bound = min(res.bound, max(float(lp_b[i]), res.objective))
        state = ("optimal" if res.status == "optimal" else "gap_reached"
                 if relative_gap(res.objective, bound) <= gap
                 or bound - res.objective <= absolute else "time_limit")
        facts.append(BatchFacts(len(idx), n_comp, res.objective, max(bound, res.objective),
                                state, res.seconds))
        if i == biggest:
            progress = res.progress
    objective = plan_value(model, x)
    bound = float(sum(f.bound for f in facts))
    bound = min(bound, max(lp_bound, objective)) if math.isfinite(lp_bound) else bound
    return MilpOutcome(x=x, objective=objective, bound=max(bound, objective),
                       status=outcome_status(facts), seconds=time.perf_counter() - t0,
                       heuristic_objective=heuristic, heuristic_seconds=t_heur,
                       first_plan_seconds=t_first,
                       continuous_bound=lp_bound, components=len(np.unique(labels)),
                       batches=len(batches),
                       batches_at_target=sum(f.state in ("lp_bound", "optimal",
                                                         "gap_reached") for f in facts),
                       batches_solved=solved, progress=progress, batch_facts=tuple(facts))


# ----------------------------------------------------------------------------- explanations


@dataclass(frozen=True)
class Blocked:
    """Why an offer's remaining quantity found no exchange under an integer limit."""

    reason: UnmatchedReason
    key: str
    params: dict[str, Any]
    worth: float  # w_a x room of the blocked arc: ranks the limits worth relaxing
    limit: tuple[str, str, int] | None = None  # (side, listing position kind, index)


def _blocked(dataset: Dataset, cand: Candidates, code: IntArray, w: FloatArray,
             fixed: FloatArray, logistics: ArcLogistics, flows: FloatArray,
             unmatched: FloatArray, arc_room: FloatArray | None = None
             ) -> dict[int, list[Blocked]]:
    """Per offer with quantity left: the integer limits that keep it from its arcs that
    would pay per unit (w_a > 0). `arc_room` (per candidate arc) caps what an arc could
    carry at all (a monthly plan: the sum of its months' caps)."""
    offers, needs = dataset.offers, dataset.needs
    met = np.bincount(cand.need, weights=flows * cand.ratio, minlength=len(needs))
    free_n = np.maximum(logistics.demand - met, 0.0)
    live = flows > _EPS
    cnt_o = np.bincount(cand.offer[live], minlength=len(offers))
    cnt_n = np.bincount(cand.need[live], minlength=len(needs))
    order = np.argsort(cand.offer, kind="stable")
    starts = np.searchsorted(cand.offer[order], np.arange(len(offers) + 1))
    lot_o = _listing_column(offers, "min_lot")
    lot_n = _listing_column(needs, "min_lot")
    out: dict[int, list[Blocked]] = {}
    for o in np.flatnonzero(unmatched > _EPS).tolist():
        found: list[Blocked] = []
        for a in order[starts[o]:starts[o + 1]].tolist():
            if w[a] <= 0 or live[a]:
                continue
            n = int(cand.need[a])
            room = min(float(unmatched[o]), float(free_n[n] / cand.ratio[a]))
            if arc_room is not None:
                room = min(room, float(arc_room[a]))
            need_id = str(needs.index[n])
            if logistics.lot[a] > 0 and (room < logistics.lot[a] - 1e-9
                                         or code[a] == LOT_ABOVE_CAPACITY):
                side = ("offer", o) if lot_o[o] / 1.0 >= lot_n[n] / cand.ratio[a] \
                    else ("need", n)
                found.append(Blocked(UnmatchedReason.BELOW_MIN_LOT, "milp.below_min_lot", {
                    "need": need_id, "lot": float(logistics.lot[a]), "room": room},
                    float(w[a]) * max(room, 0.0), ("min_lot", side[0], side[1])))
            elif room > _EPS and ((logistics.offer_partners[o] and
                                   cnt_o[o] >= logistics.offer_partners[o]) or
                                  (logistics.need_partners[n] and
                                   cnt_n[n] >= logistics.need_partners[n])):
                side = ("offer", o) if logistics.offer_partners[o] and \
                    cnt_o[o] >= logistics.offer_partners[o] else ("need", n)
                limit = int(logistics.offer_partners[o] if side[0] == "offer"
                            else logistics.need_partners[n])
                found.append(Blocked(UnmatchedReason.PARTNER_LIMIT, "milp.partner_limit", {
                    "need": need_id, "limit": limit,
                    "listing": str(offers.index[o] if side[0] == "offer"
                                   else needs.index[n])},
                    float(w[a]) * room, ("max_partners", side[0], side[1])))
            elif fixed[a] > 0 and room > _EPS and (code[a] == FIXED_COST
                                                  or w[a] * room <= fixed[a]):
                found.append(Blocked(UnmatchedReason.FIXED_COST, "milp.fixed_cost", {
                    "need": need_id, "fixed": float(fixed[a]),
                    "saving": float(w[a] * room)}, 0.0))
        if found:
            out[o] = found
    return out


def _with_blocked(offers_frame: pd.DataFrame, blocked: dict[int, list[Blocked]],
                  dataset: Dataset) -> pd.DataFrame:
    """offers.csv with the integer reasons first; `below_resolution` dropped where an
    integer limit is the real reason."""
    frame = offers_frame.copy()
    reasons = frame["reason"].to_numpy(dtype=object).copy()
    texts = frame["explanation"].to_numpy(dtype=object).copy()
    units = [dataset.taxonomy.materials[str(m)].unit for m in dataset.offers["material"]]
    for o, found in blocked.items():
        codes: list[str] = []
        for b in found:
            if b.reason.value not in codes:
                codes.append(b.reason.value)
        old = [c for c in str(reasons[o]).split(";")
               if c and c != UnmatchedReason.BELOW_RESOLUTION.value and c not in codes]
        reasons[o] = ";".join(codes + old)
        sentences: list[str] = []
        for b in found[:3]:
            sentences.append(t(b.key, "en", unit=units[o], **b.params))
        more = len(found) - 3
        if more > 0:
            sentences.append(t("milp.more", "en", count=more))
        kept = str(texts[o]) if old else ""
        texts[o] = t("explain.sep", "en").join(sentences + ([kept] if kept else []))
    frame["reason"] = reasons
    frame["explanation"] = texts
    return frame


def _relaxations(dataset: Dataset, cand: Candidates, options: MatchOptions,
                 values: ArcValues, logistics: ArcLogistics, blocked: dict[int, list[Blocked]],
                 flows: FloatArray, time_limit_s: float,
                 deadline: float = math.inf) -> list[dict[str, Any]]:
    """What relaxing each binding limit is worth: the best RELAX_MAX by the value of the
    arc it blocks, each re-solved with only that limit relaxed (a min lot to 0, a partner
    limit by one) on the components it touches, seeded with the current plan."""
    limits: dict[tuple[str, str, int], float] = {}
    for found in blocked.values():
        for b in found:
            if b.limit is not None:
                limits[b.limit] = max(limits.get(b.limit, 0.0), b.worth)
    chosen = sorted(limits.items(), key=lambda kv: -kv[1])[:RELAX_MAX]
    out: list[dict[str, Any]] = []
    lot_o = _listing_column(dataset.offers, "min_lot")
    lot_n = _listing_column(dataset.needs, "min_lot")
    for (kind, side, idx), _worth in chosen:
        if deadline - time.perf_counter() < min(time_limit_s, MIN_BATCH_SECONDS):
            break  # the run's budget is spent
        frame = dataset.offers if side == "offer" else dataset.needs
        listing = str(frame.index[idx])
        ends = cand.offer if side == "offer" else cand.need
        if kind == "min_lot":
            own = lot_o if side == "offer" else lot_n
            current, relaxed = float(own[idx]), 0.0
            lo, ln = lot_o.copy(), lot_n.copy()
            (lo if side == "offer" else ln)[idx] = 0.0
            lot = logistics.lot.copy()
            mine = ends == idx
            lot[mine] = np.maximum(lo[cand.offer[mine]], ln[cand.need[mine]] / cand.ratio[mine])
            changed = replace(logistics, lot=lot)
        else:
            lims = (logistics.offer_partners if side == "offer"
                    else logistics.need_partners).copy()
            current = float(lims[idx])
            lims[idx] += 1
            relaxed = float(lims[idx])
            changed = (replace(logistics, offer_partners=lims) if side == "offer"
                       else replace(logistics, need_partners=lims))
        model, _ = build_model(dataset, cand, options, values, changed)
        labels = _components(model)
        touched = np.unique(labels[(model.offer if side == "offer" else model.need) == idx])
        sel = np.flatnonzero(np.isin(labels, touched))
        if not len(sel):
            continue
        sub = model.subset(sel)
        seed = flows[sub.arcs]
        before = plan_value(sub, seed)
        res = solve_model(sub, min(time_limit_s, deadline - time.perf_counter()),
                          options.mip_gap, options.mip_solver, start=seed)
        out.append({"limit": kind, "side": side, "listing": listing, "current": current,
                    "relaxed": relaxed, "objective_before": before,
                    "objective_after": res.objective, "gain": res.objective - before,
                    "gain_bound": res.bound - before, "seconds": res.seconds})
    return out


def _listing_column(frame: pd.DataFrame, column: str) -> FloatArray:
    if column not in frame:
        return np.zeros(len(frame))
    return np.nan_to_num(frame[column].to_numpy(float), nan=0.0)


# ----------------------------------------------------------------------------- the run


def _exchange_columns(result: MatchResult, dataset: Dataset, cand: Candidates,
                      flows: FloatArray, logistics: ArcLogistics, money: bool,
                      arc_trips: FloatArray | None = None) -> MatchResult:
    """Trips, contract and pipe cost per exchange; with money, transport and saving with
    whole trips and contract costs (the continuous report charges per-t freight).
    `arc_trips` (per candidate arc) replaces ceil(annual / K): a monthly plan's trips are
    the sum of its months'."""
    ex = result.exchanges
    if not len(ex):
        return result
    key = cand.offer.astype(np.int64) * len(dataset.needs) + cand.need
    o = dataset.offers.index.get_indexer(ex["offer_id"])
    n = dataset.needs.index.get_indexer(ex["need_id"])
    order = np.argsort(key, kind="stable")
    arcs = order[np.searchsorted(key[order], o.astype(np.int64) * len(dataset.needs) + n)]
    q = flows[arcs]
    truck = logistics.truck_t[arcs]
    with np.errstate(invalid="ignore", divide="ignore"):
        trips = np.where(np.isfinite(truck), np.maximum(np.ceil(q / truck - 1e-9), 1.0),
                         np.nan)
    if arc_trips is not None:
        trips = np.where(np.isfinite(truck), arc_trips[arcs], np.nan)
    ex = ex.copy()
    ex["trips"] = trips
    ex["contract_cny"] = logistics.contract_cny[arcs]
    ex["pipe_cny"] = logistics.pipe_cny[arcs]
    if money and "transport_cny" in ex:
        priced = logistics.trip_cny[arcs] > 0
        change = np.where(priced, np.nan_to_num(trips) * logistics.trip_cny[arcs]
                          - q * logistics.road_unit_cny[arcs], 0.0)
        ex["transport_cny"] = ex["transport_cny"] + change
        delta = -change - logistics.contract_cny[arcs]
        if ex["saving_cny"].notna().any():
            ex["saving_cny"] = ex["saving_cny"] + delta
        for side in ("supplier_gain_cny", "receiver_gain_cny"):
            if side in ex:
                ex[side] = ex[side] + delta / 2.0
    result = replace(result, exchanges=ex)
    econ = result.summary.economics
    if money and econ is not None:
        body = econ.model_dump()
        body["transport_cny"] = float(ex["transport_cny"].sum())
        if econ.saving_cny is not None:
            body["saving_cny"] = float(ex["saving_cny"].sum())
            body["exchanges_losing_money"] = int((ex["saving_cny"] < 0).sum())
        body["note"] = (body["note"] + " " if body["note"] else "") + (
            "MILP: transport counts whole truck trips where a trip cost is given; saving "
            "is net of contract costs (contract_cny) and whole pipes (pipe_cny)")
        result = result.with_summary(economics=body)
    return result


def integer_inputs(dataset: Dataset, options: MatchOptions,
                   distances: GeoDistances | None, timings: dict[str, float]
                   ) -> tuple[Candidates, ArcValues, float]:
    """The candidate arcs (timed into `timings["candidates"]`), their money and carbon
    values, and the objective's money weight: what an integer run, annual or monthly,
    starts from.

    Raises:
        SolverError: a money objective on a dataset without costs.
    """
    from symbiosis.matching.model import _require_costs

    t0 = time.perf_counter()
    cand = candidates_for(dataset, options, distances)
    timings["candidates"] = time.perf_counter() - t0
    values = arc_values(dataset, cand, options.economics)
    if options.objective != "utilization":
        _require_costs(options, values)
    return cand, values, _money_weight(options)


def solve_match_milp(dataset: Dataset, options: MatchOptions,
                     timings: dict[str, float] | None = None,
                     distances: GeoDistances | None = None) -> MatchResult:
    """The annual plan with integer logistics: candidates -> model -> heuristic -> MILP ->
    `MatchResult` with trips, contract and pipe costs per exchange, the integer reasons for
    what is left, and the solver section's `milp` facts (incumbent, bound, gap, progress,
    relaxations). Monthly datasets go to `matching.milp_monthly` (trips per month).

    Raises:
        SolverError: a money objective on a dataset without costs.
        InvalidDataError: an existing contract that is no candidate exchange.
        InfeasibleError: existing contracts that cannot all be kept.
    """
    timings = {} if timings is None else timings
    cand, values, money = integer_inputs(dataset, options, distances, timings)
    t1 = time.perf_counter()
    logistics = arc_logistics(dataset, cand, options, values)
    model, code = build_model(dataset, cand, options, values, logistics)
    limit = options.time_limit_s or DEFAULT_TIME_LIMIT_S
    t2 = time.perf_counter()
    outcome = solve_model(model, limit, options.mip_gap, options.mip_solver)
    t3 = time.perf_counter()
    timings["build"] = t2 - t1
    timings["solve"] = t3 - t2
    flows = np.zeros(len(cand))
    flows[model.arcs] = outcome.x
    w = _arc_weights(options, cand, values, logistics, money)
    fixed = money * (logistics.contract_cny + logistics.pipe_cny)
    features = integer_features(dataset, options)
    warnings: list[str] = []
    money_given = bool(logistics.contract_cny.any() or logistics.trip_cny.any())
    if not money and money_given:
        warnings.append(t("milp.money_ignored", "en", objective=str(options.objective)))
    facts = SolverFacts(
        status=outcome.status, objective=outcome.objective, bound=outcome.bound,
        seconds=outcome.seconds, methods=(f"milp_{options.mip_solver}",),
        delivered=float(flows.sum()), components=outcome.components,
        meaning=MILP_MEANING.get(str(options.objective), ""), sense="maximise", exact=True,
        note=stop_note(outcome.status, outcome.batch_facts, limit, options.mip_gap))
    score = w if options.objective != "utilization" else None
    result = assemble_result(dataset, cand, flows, facts, options, timings, values, None,
                             score, tuple(warnings))
    result = _exchange_columns(result, dataset, cand, flows, logistics, bool(money))
    status = result.offers
    unmatched = status["unmatched"].to_numpy(float)
    blocked = _blocked(dataset, cand, code, w, fixed, logistics, flows, unmatched)
    result = replace(result, offers=_with_blocked(status, blocked, dataset))
    t4 = time.perf_counter()
    # the relaxations share what is left of the run's budget (never more than 10 s each)
    left = limit - (t4 - t2)
    relaxations = _relaxations(dataset, cand, options, values, logistics, blocked, flows,
                               min(10.0, limit / 10.0, left / RELAX_MAX),
                               t4 + left) if blocked and left > MIN_BATCH_SECONDS else []
    timings["relaxations"] = time.perf_counter() - t4
    section = {
        "solver": options.mip_solver, "time_limit_s": limit, "gap_target": options.mip_gap,
        "incumbent": outcome.objective, "bound": outcome.bound, "gap": outcome.gap,
        "heuristic_objective": outcome.heuristic_objective,
        "heuristic_seconds": round(outcome.heuristic_seconds, 4),
        "first_plan_seconds": round(outcome.first_plan_seconds, 4),
        "continuous_bound": outcome.continuous_bound, "components": outcome.components,
        "batches": outcome.batches, "batches_at_target": outcome.batches_at_target,
        "batches_solved": outcome.batches_solved,
        "batches_stopped": outcome.batches_stopped,
        "batch_report": batch_report(outcome.batch_facts),
        "arcs": len(model), "arcs_pruned": int(len(cand) - len(model)),
        "binaries": int(model.binary.sum()), "trip_integers": int(model.trips.sum()),
        "features": features, "progress": [list(p) for p in outcome.progress],
        "relaxations": relaxations,
        "scope": "annual plan (a dataset with months gets whole trips per month)",
    }
    solver = result.summary.solver.model_dump()
    solver["milp"] = section
    result = result.with_summary(solver=solver)
    timings["report"] = time.perf_counter() - t3 - timings["relaxations"]
    return result.with_timings(timings)


def stop_note(status: SolverStatus, facts: tuple[BatchFacts, ...], limit: float,
              gap: float) -> str:
    """solver.note of a MILP run: empty when proved within the gap target."""
    if status is SolverStatus.OPTIMAL:
        return ""
    stopped = sum(f.state in ("time_limit", "not_started") for f in facts)
    return (f"time limit {limit:g} s reached before the gap target {gap:g}"
            + (f" ({stopped} of {len(facts)} batches stopped or never started: they keep "
               "the round-and-repair plan and report their LP bound)" if stopped else "")
            + ": the plan is the best found; bound and gap say how far from the optimum it "
            "can be")


def batch_report(facts: tuple[BatchFacts, ...]) -> list[dict[str, Any]]:
    """solver.milp.batch_report: per batch of components, its incumbent, bound, gap and
    how it ended (BATCH_STATES)."""
    return [{"arcs": f.arcs, "components": f.components, "incumbent": f.incumbent,
             "bound": f.bound, "gap": f.gap, "state": f.state,
             "seconds": round(f.seconds, 4)} for f in facts]


MILP_MEANING = {
    "utilization": "offered units delivered, each weighted 1 - 0.001 x km / (max km + 1) "
                   "(most delivered, distance as a tie-break), under lots, partner limits "
                   "and contracts",
    "cost": "total saving, CNY/yr, net of contract costs, whole truck trips and whole pipes",
    "co2": "net CO2e avoided, t/yr, under lots, partner limits and contracts",
    "weighted": "weighted value; money terms net of contract costs, trips and pipes",
}
