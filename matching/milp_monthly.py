"""Integer logistics month by month (issue 16 with the months of issue 15): whole truck trips
per exchange and MONTH on the time-expanded network of `matching.monthly` (storage, stockpiles,
a kiln stopped in winter), with the exchange's annual minimum lot, contract fixed cost and
partner limits on one binary per exchange-year linking its twelve months.

For each kept arc a (`matching.milp.build_model`: same pruning, weights w_a, fixed costs F_a +
P_a, trip cost c_a, payload K_a, floor max(L_a, B_a)) and month t, over the network arcs e of
`monthly.build_network` (generalised form: a delivery's gain is its rule ratio):

    maximise    sum_{a,t} w_a f_{a,t} - sum_a (F_a + P_a) y_a - sum_{a,t} c_a T_{a,t}
                - sum_{stores s,t} h_s f_{s,t} - sum_{piles} eps_p f_p
    subject to  sum_{e out of v} f_e - sum_{e into v} g_e f_e <= supply_v   offer, pile nodes
                sum_{e out of v} f_e - sum_{e into v} g_e f_e  = 0         need nodes
                f_{a,t} <= U_{a,t} y_a                         (month big-M, tight)
                sum_t f_{a,t} <= min(U_a, sum_t U_{a,t}) y_a     (year big-M)
                sum_t f_{a,t} >= max(L_a, B_a) y_a             (annual lot; break-even)
                f_{a,t} <= K_a T_{a,t},  T_{a,t} <= ceil(U_{a,t} / K_a) y_a
                sum_{a at o} y_a <= P_o,  sum_{a at n} y_a <= P_n  (partners per year)
                y_a = 1 on existing contracts (their least quantity is the floor)
                0 <= f_e <= cap_e,  y_a in {0, 1},  T_{a,t} in Z+

| symbol   | meaning                                                                      |
|----------|------------------------------------------------------------------------------|
| f_{a,t}  | offer units delivered on arc a in month t; f_e on the network's other arcs   |
|          | (stores carried month to month, stockpile draws, consumption)                |
| U_{a,t}  | min(the arc's capacity, what offer o can have in month t: its month, a full  |
|          | supplier store, its stockpile; what need n can take in t: its month and a    |
|          | full receiver store, over the ratio)                                         |
| T_{a,t}  | truck trips of month t: 25 t a month by 30-t trucks is one trip a month, 12  |
|          | a year, not ceil(300 / 30) = 10                                              |
| h_s      | money objectives: cost_per_unit_month of the store (CNY per unit-month held);|
|          | otherwise 1e-7 per unit-month (hold as little as the plan allows); at a      |
|          | receiver's store the units it loses are charged at the need's best value     |
| eps_p    | 1e-6 per unit drawn from a historical stockpile (this year's surplus first)  |

It reuses `matching.milp`'s machinery: the same kept arcs and pruning, decomposition by
connected component (stores and stockpiles belong to their listing's component) packed into
batches, one deadline for the whole solve (batches not started keep the heuristic plan and
their LP bound), and MathOpt HiGHS or SCIP warm-started from a feasible plan. The continuous
monthly plan (the LP relaxation of the model above, per batch; its optimum is the bound) is
rounded: exchanges whose annual flow clears its floor and pays its fixed and trip costs are
kept within the partner limits, the LP is re-solved with those exchanges fixed open and the
rest closed (trips counted whole afterwards), and again without the exchanges the rounding
dropped (ROUNDING_PASSES at most); the best plan is MathOpt's hint.

Not modelled by month: the relaxation values of binding limits (annual runs report them) and
the marginal value of storage capacity (an LP dual has no meaning for the integer plan).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from symbiosis.dataset import Dataset
from symbiosis.errors import InfeasibleError, SolverError
from symbiosis.i18n import t
from symbiosis.matching.flow import SolverStatus, relative_gap
from symbiosis.matching.logistics import arc_logistics, integer_features
from symbiosis.matching.milp import (
    BATCH_ARCS,
    DEFAULT_TIME_LIMIT_S,
    MILP_MEANING,
    MIN_BATCH_SECONDS,
    BatchFacts,
    MilpModel,
    _arc_weights,
    _batches,
    _blocked,
    _components,
    _exchange_columns,
    _parse_progress,
    _with_blocked,
    batch_report,
    build_model,
    integer_inputs,
    outcome_status,
    run_mathopt,
    stop_note,
)
from symbiosis.matching.monthly import (
    MonthlyNetwork,
    MonthlyPlan,
    _monthly_exchanges,
    _monthly_summary,
    _storage_levels,
    _stores,
    _with_supplier_initials,
    build_network,
)
from symbiosis.matching.options import MatchOptions
from symbiosis.matching.result import MatchResult, SolverFacts, assemble_result
from symbiosis.months import MONTHS
from symbiosis.types import FloatArray, IntArray

if TYPE_CHECKING:
    from symbiosis.geo.provider import GeoDistances

__all__ = ["MonthlyMilp", "MonthlyOutcome", "build_monthly_model", "month_trips",
           "solve_match_milp_monthly", "solve_monthly_model"]

HOLD_EPS = 1e-7  # per unit-month held, objectives without money
PILE_EPS = 1e-6  # per unit drawn from a historical stockpile
ROUNDING_PASSES = 3
LP_MIN_SECONDS = 60.0  # an LP is not cut short before this: the bound needs its optimum
_EPS = 1e-9
_TRIP_TOL = 1e-7  # a load within this of whole trucks needs no extra trip


@dataclass(frozen=True)
class MonthlyMilp:
    """The monthly model over the kept arcs of `model` (k = 0..len(model)-1) and the
    network `net`: per kept arc its month caps, per network arc its objective and the
    component it belongs to (-1: no kept arc reaches it, left out)."""

    model: MilpModel
    net: MonthlyNetwork
    month_upper: FloatArray  # (kept arcs, 12): U_{a,t}
    net_weight: FloatArray  # objective per unit on every network arc
    net_comp: IntArray  # component label per network arc (-1: left out)
    labels: IntArray  # component label per kept arc

    def delivery(self, k: IntArray) -> IntArray:
        """Network positions of kept arcs `k`' deliveries, arc-major (k*12 + t)."""
        return (np.repeat(self.model.arcs[k] * MONTHS, MONTHS)
                + np.tile(np.arange(MONTHS), len(k))).astype(np.int64)


def build_monthly_model(model: MilpModel, net: MonthlyNetwork, dataset: Dataset,
                        money: float) -> MonthlyMilp:
    """Month caps, network objective and components for `model` on `net` (built with
    pure=False, so need nodes are in need units and a delivery's gain is its ratio)."""
    T = MONTHS  # noqa: N806 (the model's symbol)
    kind = net.kind
    n_base = len(dataset.offers) * T
    p_base = n_base + len(dataset.needs) * T
    sink = net.n_nodes - 1
    # what an offer node can have in a month (its supply, a full store, its pile) and a
    # need node can take (its consumption, a full store)
    inflow = (kind == 1) | (kind == 3)
    avail = net.supply[:sink] + np.bincount(net.heads[inflow], weights=net.capacity[inflow],
                                            minlength=net.n_nodes)[:sink]
    outflow = (kind == 2) | (kind == 4)
    take = np.bincount(net.tails[outflow], weights=net.capacity[outflow],
                       minlength=net.n_nodes)
    d = (np.repeat(model.arcs * T, T) + np.tile(np.arange(T), len(model))).astype(np.int64)
    gain = net.gain[d]
    with np.errstate(divide="ignore", invalid="ignore"):
        cap = np.minimum.reduce([net.capacity[d], avail[net.tails[d]],
                                 take[net.heads[d]] / gain,
                                 np.repeat(model.upper, T)])
    month_upper = np.maximum(np.nan_to_num(cap, nan=0.0), 0.0).reshape(len(model), T)
    weight = np.zeros(len(net.tails))
    weight[d] = np.repeat(model.weight, T)
    storage = _stores(dataset)
    stores = np.flatnonzero((kind == 1) | (kind == 2))
    if len(stores):
        per_month = storage["cost_per_unit_month"].to_numpy(float) if len(storage) else \
            np.zeros(0)
        owner = net.store_of_arc[stores]
        held = (np.nan_to_num(per_month[owner], nan=0.0) / np.maximum(net.cap_units[owner],
                                                                       1e-300)
                * money) if money else np.full(len(stores), HOLD_EPS)
        # what a receiver's store loses is no delivery: charged at the need's best value
        best_n = np.zeros(len(dataset.needs))
        np.maximum.at(best_n, model.need, np.maximum(model.weight, 0.0) / model.ratio)
        need_of = (net.tails[stores] - n_base) // T
        lost = np.where(kind[stores] == 2, (1.0 - net.gain[stores])
                        * best_n[np.clip(need_of, 0, len(best_n) - 1)], 0.0)
        weight[stores] = -(held + lost)
    weight[kind == 3] = -PILE_EPS
    # components: the listing a non-delivery arc belongs to (a pile's is the offer it feeds)
    labels = _components(model) if len(model) else np.zeros(0, np.int64)
    comp_o = np.full(len(dataset.offers), -1, np.int64)
    comp_n = np.full(len(dataset.needs), -1, np.int64)
    comp_o[model.offer] = labels
    comp_n[model.need] = labels
    node = np.where(kind == 3, net.heads, net.tails)
    net_comp = np.full(len(net.tails), -1, np.int64)
    at_offer = node < n_base
    at_need = (node >= n_base) & (node < p_base)
    other = kind != 0
    net_comp[other & at_offer] = comp_o[node[other & at_offer] // T]
    net_comp[other & at_need] = comp_n[(node[other & at_need] - n_base) // T]
    net_comp[d] = np.repeat(labels, T)
    return MonthlyMilp(model, net, month_upper, weight, net_comp, labels)


def month_trips(x: FloatArray, truck: FloatArray) -> FloatArray:
    """Whole trips per month for loads x (arcs, 12) by payload truck (arcs,): ceil(x / K),
    0 in a month without a load or where no truck is given."""
    with np.errstate(invalid="ignore", divide="ignore"):
        trips = np.ceil(x / truck[:, None] - _TRIP_TOL)
    ok = np.isfinite(truck)[:, None] & (x > _EPS)
    return np.where(ok, np.maximum(trips, 1.0), 0.0)


# ----------------------------------------------------------------------------- one batch


@dataclass
class _Batch:
    """One batch's MILP as arrays: variables f (cols: the batch's deliveries k-major, then
    its other network arcs), y (arcs `with_y`, local), T (arcs `with_t`, local, x 12)."""

    mm: MonthlyMilp
    k: IntArray  # kept arcs of the batch
    cols: IntArray  # network arcs, deliveries first
    with_y: IntArray
    with_t: IntArray
    lb: FloatArray
    ub: FloatArray
    integer: np.ndarray
    obj: FloatArray
    rows: IntArray
    colsm: IntArray
    coefs: FloatArray
    row_lo: FloatArray
    row_hi: FloatArray

    @property
    def nf(self) -> int:
        return len(self.cols)

    def proto(self, lb: FloatArray, ub: FloatArray, integer: bool) -> Any:
        from ortools.math_opt import model_pb2

        p = model_pb2.ModelProto()
        n = len(self.lb)
        p.variables.ids.extend(range(n))
        p.variables.lower_bounds.extend(lb.tolist())
        p.variables.upper_bounds.extend(ub.tolist())
        p.variables.integers.extend((self.integer & integer).tolist())
        p.linear_constraints.ids.extend(range(len(self.row_lo)))
        p.linear_constraints.lower_bounds.extend(self.row_lo.tolist())
        p.linear_constraints.upper_bounds.extend(self.row_hi.tolist())
        order = np.lexsort((self.colsm, self.rows))
        m = p.linear_constraint_matrix
        m.row_ids.extend(self.rows[order].tolist())
        m.column_ids.extend(self.colsm[order].tolist())
        m.coefficients.extend(self.coefs[order].tolist())
        p.objective.maximize = True
        nz = np.flatnonzero(self.obj != 0)
        p.objective.linear_coefficients.ids.extend(nz.tolist())
        p.objective.linear_coefficients.values.extend(self.obj[nz].tolist())
        return p

    def loads(self, f: FloatArray) -> FloatArray:
        """(batch arcs, 12) deliveries of variable values f."""
        return f[:len(self.k) * MONTHS].reshape(len(self.k), MONTHS)

    def complete(self, f: FloatArray) -> FloatArray:
        """The full variable vector of flows f: y = an exchange carries something in the
        year (contracts: 1), T = whole trips per month."""
        model = self.mm.model
        x = self.loads(f)
        y = (x[self.with_y].sum(axis=1) > _EPS) | model.forced[self.k[self.with_y]]
        trips = month_trips(x[self.with_t], model.truck[self.k[self.with_t]])
        return np.concatenate([f[:self.nf], y.astype(float), trips.reshape(-1)])

    def value(self, f: FloatArray) -> float:
        return float(self.obj @ self.complete(f))

    def feasible(self, f: FloatArray, tol: float = 1e-6) -> bool:
        """Node balances, caps, annual floors and partner limits hold for flows f."""
        v = self.complete(f)
        if np.any(v < self.lb - tol * np.maximum(1.0, np.abs(self.lb))) or \
                np.any(v > self.ub + tol * np.maximum(1.0, np.abs(self.ub))):
            return False
        act = np.bincount(self.rows, weights=self.coefs * v[self.colsm],
                          minlength=len(self.row_lo))
        scale = tol * np.maximum(1.0, np.maximum(np.abs(np.nan_to_num(self.row_lo, posinf=0,
                                                                       neginf=0)),
                                                 np.abs(np.nan_to_num(self.row_hi, posinf=0,
                                                                      neginf=0))))
        return bool(np.all(act >= self.row_lo - scale) and np.all(act <= self.row_hi + scale))


def _build_batch(mm: MonthlyMilp, k: IntArray) -> _Batch:
    """The arrays of the module docstring's MILP on kept arcs `k` (whole components)."""
    T = MONTHS  # noqa: N806 (the model's symbol)
    model, net = mm.model, mm.net
    comps = np.unique(mm.labels[k])
    deliveries = mm.delivery(k)
    others = np.flatnonzero((net.kind != 0) & np.isin(mm.net_comp, comps))
    cols = np.concatenate([deliveries, others])
    nf = len(cols)
    binary = model.binary[k]
    with_y = np.flatnonzero(binary)
    with_t = np.flatnonzero(model.trips[k])
    ny, nt = len(with_y), len(with_t) * T
    y_id = nf + np.arange(ny)
    y_of = np.full(len(k), -1, np.int64)
    y_of[with_y] = y_id
    t_id = nf + ny + np.arange(nt)
    upper_m = mm.month_upper[k]
    truck = model.truck[k]
    ceil_trips = np.ceil(upper_m[with_t] / truck[with_t, None] - 1e-9).reshape(-1)
    cap = net.capacity[cols].copy()
    cap[:len(deliveries)] = upper_m.reshape(-1)
    lb = np.concatenate([np.zeros(nf), model.forced[k[with_y]].astype(float), np.zeros(nt)])
    ub = np.concatenate([cap, np.ones(ny), np.maximum(ceil_trips, 0.0)])
    integer = np.concatenate([np.zeros(nf, bool), np.ones(ny + nt, bool)])
    obj = np.concatenate([mm.net_weight[cols], -model.fixed[k[with_y]],
                          -np.repeat(model.trip[k[with_t]], T)])
    rows: list[IntArray] = []
    cs: list[IntArray] = []
    ks: list[FloatArray] = []
    lo: list[FloatArray] = []
    hi: list[FloatArray] = []
    n_rows = 0

    def block(r: IntArray, c: IntArray, v: FloatArray, low: FloatArray, high: FloatArray
              ) -> None:
        nonlocal n_rows
        rows.append(np.asarray(r, np.int64) + n_rows)
        cs.append(np.asarray(c, np.int64))
        ks.append(np.asarray(v, float))
        lo.append(low)
        hi.append(high)
        n_rows += len(low)

    # node balances: out - gain x in (the sink is free)
    sink = net.n_nodes - 1
    local = np.arange(nf)
    tails, heads = net.tails[cols], net.heads[cols]
    keep_h = heads != sink
    nodes = np.unique(np.concatenate([tails, heads[keep_h]]))
    r_t = np.searchsorted(nodes, tails)
    r_h = np.searchsorted(nodes, heads[keep_h])
    need_nodes = np.unique(net.tails[net.kind == 4])  # need nodes: consumption out
    is_need = np.isin(nodes, need_nodes)
    block(np.concatenate([r_t, r_h]), np.concatenate([local, local[keep_h]]),
          np.concatenate([np.ones(nf), -net.gain[cols][keep_h]]),
          np.where(is_need, 0.0, -np.inf), np.where(is_need, 0.0, net.supply[nodes]))
    # f_{a,t} - U_{a,t} y_a <= 0 for arcs with y
    if ny:
        fpos = (with_y[:, None] * T + np.arange(T)).reshape(-1)
        r = np.arange(ny * T)
        block(np.concatenate([r, r]), np.concatenate([fpos, np.repeat(y_id, T)]),
              np.concatenate([np.ones(ny * T), -upper_m[with_y].reshape(-1)]),
              np.full(ny * T, -np.inf), np.zeros(ny * T))
    # sum_t f_{a,t} - U_a y_a <= 0, U_a = min(annual cap, sum of the month caps): without
    # it the relaxation pays only max_t f_t / U_t of the fixed cost for an even flow
    if ny:
        year_cap = np.minimum(model.upper[k[with_y]], upper_m[with_y].sum(axis=1))
        fpos = (with_y[:, None] * T + np.arange(T)).reshape(-1)
        r = np.repeat(np.arange(ny), T)
        block(np.concatenate([r, np.arange(ny)]), np.concatenate([fpos, y_id]),
              np.concatenate([np.ones(ny * T), -year_cap]), np.full(ny, -np.inf),
              np.zeros(ny))
    # sum_t f_{a,t} - floor_a y_a >= 0
    floor = model.floor[k[with_y]]
    has = np.flatnonzero(floor > 0)
    if len(has):
        fpos = (with_y[has][:, None] * T + np.arange(T)).reshape(-1)
        r = np.repeat(np.arange(len(has)), T)
        r2 = np.arange(len(has))
        block(np.concatenate([r, r2]), np.concatenate([fpos, y_id[has]]),
              np.concatenate([np.ones(len(fpos)), -floor[has]]), np.zeros(len(has)),
              np.full(len(has), np.inf))
    # f - K T <= 0;  T - ceil(U/K) y <= 0
    if nt:
        fpos = (with_t[:, None] * T + np.arange(T)).reshape(-1)
        r = np.arange(nt)
        block(np.concatenate([r, r]), np.concatenate([fpos, t_id]),
              np.concatenate([np.ones(nt), -np.repeat(truck[with_t], T)]),
              np.full(nt, -np.inf), np.zeros(nt))
        block(np.concatenate([r, r]), np.concatenate([t_id, np.repeat(y_of[with_t], T)]),
              np.concatenate([np.ones(nt), -ceil_trips]), np.full(nt, -np.inf), np.zeros(nt))
    # partners per year
    for ends, limits in ((model.offer, model.offer_partners),
                         (model.need, model.need_partners)):
        e = ends[k[with_y]]
        lim = limits[e]
        sel = lim > 0
        if sel.any():
            keys, loc = np.unique(e[sel], return_inverse=True)
            block(loc, y_id[sel], np.ones(int(sel.sum())), np.full(len(keys), -np.inf),
                  limits[keys].astype(float))
    return _Batch(mm, k, cols, with_y, with_t, lb, ub, integer, obj, np.concatenate(rows),
                  np.concatenate(cs), np.concatenate(ks), np.concatenate(lo),
                  np.concatenate(hi))


def _solution(result: Any, n: int) -> FloatArray | None:
    if not len(result.solutions) or not result.solutions[0].HasField("primal_solution"):
        return None
    sparse = result.solutions[0].primal_solution.variable_values
    dense = np.zeros(n)
    dense[np.fromiter(sparse.ids, np.int64)] = np.fromiter(sparse.values, float)
    return dense


def _clean(b: _Batch, f: FloatArray) -> FloatArray:
    """Flows within their bounds, solver dust removed from the deliveries."""
    out = np.clip(f[:b.nf], 0.0, b.ub[:b.nf])
    d = len(b.k) * MONTHS
    out[:d][out[:d] < 1e-9 * np.maximum(1.0, b.ub[:d])] = 0.0
    return out


def _lp(b: _Batch, lb: FloatArray, ub: FloatArray, solver: str, seconds: float,
        required: bool = False) -> tuple[FloatArray | None, float]:
    """The batch's LP with these variable bounds: (flows, optimum), or (None, inf) when
    infeasible or (not `required`) stopped by its time limit. An LP gets at least
    LP_MIN_SECONDS.

    Raises:
        SolverError: a `required` LP (the relaxation: the bound) stopped without an optimum.
    """
    from ortools.math_opt import result_pb2

    del solver  # LPs always go to HiGHS (SCIP is a MILP solver)
    result, _ = run_mathopt(b.proto(lb, ub, integer=False), "highs",
                            max(seconds, LP_MIN_SECONDS), 0.0, barrier=True)
    reason = result.termination.reason
    if reason in (result_pb2.TERMINATION_REASON_INFEASIBLE,
                  result_pb2.TERMINATION_REASON_INFEASIBLE_OR_UNBOUNDED):
        return None, math.inf
    if reason != result_pb2.TERMINATION_REASON_OPTIMAL:
        if not required:
            return None, math.inf
        why = result.termination.detail or str(reason)
        raise SolverError(f"monthly integer logistics: the LP relaxation of a batch of "
                          f"{len(b.k)} exchanges stopped without an optimum ({why}); raise "
                          "--time-limit")
    dense = _solution(result, len(b.lb))
    if dense is None:
        return None, math.inf
    dual = float(result.termination.objective_bounds.dual_bound)
    value = float(b.obj @ dense)
    return dense[:b.nf], max(value, dual) if math.isfinite(dual) else value


def _round(b: _Batch, f: FloatArray) -> IntArray:
    """Exchanges to open from flows f: contracts, then those whose annual flow clears its
    floor and pays its fixed and trip costs, best first, within the partner limits."""
    model = b.mm.model
    k = b.k
    x = b.loads(f)
    annual = x.sum(axis=1)
    trips = month_trips(x, model.truck[k]).sum(axis=1)
    worth = model.weight[k] * annual - model.fixed[k] - model.trip[k] * trips
    ok = (annual > _EPS) & (annual >= model.floor[k] * (1 - 1e-9) - 1e-9) & (worth > 0)
    ok |= model.forced[k]
    cnt_o: dict[int, int] = {}
    cnt_n: dict[int, int] = {}
    chosen: list[int] = []
    order = np.argsort(-np.where(model.forced[k], np.inf, worth), kind="stable")
    for i in order.tolist():
        if not ok[i]:
            continue
        o, n = int(model.offer[k[i]]), int(model.need[k[i]])
        lo, ln = int(model.offer_partners[o]), int(model.need_partners[n])
        if not model.forced[k[i]] and ((lo and cnt_o.get(o, 0) >= lo)
                                       or (ln and cnt_n.get(n, 0) >= ln)):
            continue
        cnt_o[o] = cnt_o.get(o, 0) + 1
        cnt_n[n] = cnt_n.get(n, 0) + 1
        chosen.append(i)
    return np.array(sorted(chosen), np.int64)


def _fixed_bounds(b: _Batch, open_: IntArray, banned: np.ndarray | None = None
                  ) -> tuple[FloatArray, FloatArray]:
    """Variable bounds with exchanges `open_` (local) open and every other one with a y
    closed (deliveries at 0); `banned` closes arcs without y too."""
    lb, ub = b.lb.copy(), b.ub.copy()
    is_open = np.zeros(len(b.k), bool)
    is_open[open_] = True
    closed = np.zeros(len(b.k), bool)
    closed[b.with_y] = ~is_open[b.with_y]
    if banned is not None:
        closed |= banned & ~is_open
    f_closed = (np.flatnonzero(closed)[:, None] * MONTHS + np.arange(MONTHS)).reshape(-1)
    ub[f_closed] = 0.0
    y_pos = b.nf + np.arange(len(b.with_y))
    lb[y_pos] = is_open[b.with_y].astype(float)
    ub[y_pos] = is_open[b.with_y].astype(float)
    return lb, ub


def _heuristic(b: _Batch, lp_f: FloatArray, solver: str, deadline: float
               ) -> FloatArray:
    """Round the continuous plan, re-solve with the exchanges fixed, repeat without the
    dropped ones; the best feasible plan (all-closed, contracts kept, at worst)."""
    best: FloatArray | None = None
    best_v = -math.inf
    banned = np.zeros(len(b.k), bool)
    seed = lp_f
    for _ in range(ROUNDING_PASSES):
        left = deadline - time.perf_counter()
        if left < MIN_BATCH_SECONDS and best is not None:
            break
        open_ = _round(b, seed)
        lb, ub = _fixed_bounds(b, open_)
        f, _ = _lp(b, lb, ub, solver, max(left, MIN_BATCH_SECONDS))
        if f is not None:
            f = _clean(b, f)
            v = b.value(f)
            if v > best_v and b.feasible(f):
                best, best_v = f, v
        x = b.loads(seed).sum(axis=1)
        dropped = (x > _EPS) & ~np.isin(np.arange(len(b.k)), open_) & \
            ~b.mm.model.forced[b.k]
        if not dropped.any():
            break
        banned |= dropped
        lb, ub = _fixed_bounds(b, np.arange(len(b.k))[~banned], None)
        lb[b.nf:b.nf + len(b.with_y)] = b.lb[b.nf:b.nf + len(b.with_y)]  # y free again
        ub[b.nf:b.nf + len(b.with_y)] = np.where(banned[b.with_y], 0.0, 1.0)
        nxt, _ = _lp(b, lb, ub, solver, max(deadline - time.perf_counter(),
                                            MIN_BATCH_SECONDS))
        if nxt is None:
            break
        seed = nxt
    if best is None and not b.mm.model.forced[b.k].any():
        best = np.zeros(b.nf)  # nothing open: feasible
    if best is None:  # only the contracts open: solved as an LP
        lb, ub = _fixed_bounds(b, np.flatnonzero(b.mm.model.forced[b.k]))
        f, _ = _lp(b, lb, ub, solver, max(deadline - time.perf_counter(), 0.0),
                   required=True)
        if f is None:
            raise InfeasibleError("the existing contracts cannot all be kept by month "
                                  "(stores, months, lots and partner limits)")
        best = _clean(b, f)
    return best


@dataclass(frozen=True)
class MonthlyOutcome:
    """Flows on every network arc, deliveries per (candidate arc, month), and the facts."""

    flows: FloatArray
    x: FloatArray  # (candidate arcs, 12)
    objective: float
    bound: float
    status: SolverStatus
    seconds: float
    heuristic_objective: float
    heuristic_seconds: float  # per batch, the LP relaxation and the rounding, summed
    continuous_bound: float
    components: int
    batch_facts: tuple[BatchFacts, ...]
    batches_solved: int
    progress: tuple[tuple[float, float, float], ...] = ()

    @property
    def gap(self) -> float:
        return relative_gap(self.objective, self.bound)


def solve_monthly_model(mm: MonthlyMilp, n_candidates: int, time_limit_s: float, gap: float,
                        solver: str = "highs", batch_arcs: int = BATCH_ARCS
                        ) -> MonthlyOutcome:
    """Per batch of whole components: the LP relaxation (bound and seed), rounding and
    re-solves (a feasible plan), then MathOpt warm-started, all within one deadline.

    Raises:
        InfeasibleError: existing contracts that cannot all be kept.
    """
    t0 = time.perf_counter()
    deadline = t0 + max(time_limit_s, 0.0)
    flows = np.zeros(len(mm.net.tails))
    batches = _batches(mm.labels, batch_arcs) if len(mm.model) else []
    sizes = np.array([len(b) for b in batches], float)
    remaining = float(sizes.sum())
    facts: list[BatchFacts] = []
    heuristic = lp_total = heuristic_s = 0.0
    solved = 0
    progress: tuple[tuple[float, float, float], ...] = ()
    biggest = int(np.argmax(sizes)) if len(sizes) else -1
    for i, k in enumerate(batches):
        share = sizes[i] / max(remaining, 1.0)
        remaining -= sizes[i]
        b = _build_batch(mm, k)
        started = time.perf_counter()
        lp_f, lp_bound = _lp(b, b.lb, b.ub, solver,
                             max(deadline - started, MIN_BATCH_SECONDS), required=True)
        if lp_f is None:
            raise InfeasibleError("the existing contracts cannot all be kept by month "
                                  "(stores, months, lots and partner limits)")
        f = _heuristic(b, lp_f, solver, started + share * max(deadline - started, 0.0) / 2)
        heuristic_s += time.perf_counter() - started
        here = b.value(f)
        heuristic += here
        lp_total += lp_bound
        bound = max(lp_bound, here)
        state = "lp_bound"
        seconds = 0.0
        if bound - here > gap * max(1.0, abs(here)):
            left = deadline - time.perf_counter()
            state = "not_started"
            if left >= MIN_BATCH_SECONDS:
                solved += 1
                res, lines = run_mathopt(b.proto(b.lb, b.ub, integer=True), solver,
                                         left * share, gap, b.complete(f))
                seconds = time.perf_counter() - started
                dense = _solution(res, len(b.lb))
                if dense is not None:
                    got = _clean(b, dense)
                    if b.value(got) > here and b.feasible(got):
                        f, here = got, b.value(got)
                dual = float(res.termination.objective_bounds.dual_bound)
                if math.isfinite(dual):
                    bound = min(bound, max(dual, here))
                from ortools.math_opt import result_pb2

                optimal = res.termination.reason == result_pb2.TERMINATION_REASON_OPTIMAL
                state = ("optimal" if optimal else "gap_reached"
                         if relative_gap(here, bound) <= gap else "time_limit")
                if i == biggest and solver == "highs":
                    progress = _parse_progress(lines)
        flows[b.cols] = f
        facts.append(BatchFacts(len(k), len(np.unique(mm.labels[k])), here,
                                max(bound, here), state, seconds))
    x = flows[:mm.net.n_delivery].reshape(n_candidates, MONTHS) if n_candidates else \
        np.zeros((0, MONTHS))
    objective = float(sum(f.incumbent for f in facts))
    return MonthlyOutcome(
        flows=flows, x=x, objective=objective,
        bound=max(float(sum(f.bound for f in facts)), objective),
        status=outcome_status(facts), seconds=time.perf_counter() - t0,
        heuristic_objective=heuristic, heuristic_seconds=heuristic_s,
        continuous_bound=lp_total,
        components=len(np.unique(mm.labels)), batch_facts=tuple(facts),
        batches_solved=solved, progress=progress)


# ----------------------------------------------------------------------------- the run


def _trips_column(frame: Any, dataset: Dataset, cand: Any, trips: FloatArray,
                  truck: FloatArray) -> FloatArray:
    """exchanges_monthly.csv's `trips`: the month's whole trips (NaN: not by truck)."""
    if not len(frame):
        return np.zeros(0)
    key = cand.offer.astype(np.int64) * len(dataset.needs) + cand.need
    o = dataset.offers.index.get_indexer(frame["offer_id"]).astype(np.int64)
    n = dataset.needs.index.get_indexer(frame["need_id"]).astype(np.int64)
    order = np.argsort(key, kind="stable")
    arcs = order[np.searchsorted(key[order], o * len(dataset.needs) + n)]
    month = frame["month"].to_numpy(np.int64) - 1
    return np.where(np.isfinite(truck[arcs]), trips[arcs, month], np.nan)


def solve_match_milp_monthly(dataset: Dataset, options: MatchOptions,
                             timings: dict[str, float] | None = None,
                             distances: GeoDistances | None = None) -> MatchResult:
    """The monthly plan with integer logistics: annual exchanges (trips = the sum of the
    months'), exchanges_monthly.csv with `trips`, storage levels, summary `monthly` and
    `solver.milp` (incumbent, bound, gap, per batch).

    Raises:
        SolverError: a money objective on a dataset without costs.
        InvalidDataError: an existing contract that is no candidate exchange.
        InfeasibleError: existing contracts that cannot all be kept.
    """
    timings = {} if timings is None else timings
    cand, values, money = integer_inputs(dataset, options, distances, timings)
    t1 = time.perf_counter()
    storage = _stores(dataset)
    annual_data = _with_supplier_initials(dataset, storage)  # initial stock counts as stock
    logistics = arc_logistics(annual_data, cand, options, values)
    model, code = build_model(annual_data, cand, options, values, logistics)
    net = build_network(dataset, cand, pure=False)
    mm = build_monthly_model(model, net, dataset, money)
    limit = options.time_limit_s or DEFAULT_TIME_LIMIT_S
    t2 = time.perf_counter()
    timings["build"] = t2 - t1
    out = solve_monthly_model(mm, len(cand), limit, options.mip_gap, options.mip_solver)
    t3 = time.perf_counter()
    timings["solve"] = t3 - t2
    x = out.x
    annual = x.sum(axis=1)
    trips_m = month_trips(x, logistics.truck_t)
    w = _arc_weights(options, cand, values, logistics, money)
    warnings: list[str] = []
    if not money and bool(logistics.contract_cny.any() or logistics.trip_cny.any()):
        warnings.append(t("milp.money_ignored", "en", objective=str(options.objective)))
    if options.valuate:
        warnings.append("prices and need marginal values are not derived for a monthly "
                        "integer plan")
    facts = SolverFacts(
        status=out.status, objective=out.objective, bound=out.bound, seconds=out.seconds,
        methods=(f"milp_{options.mip_solver}",), delivered=float(annual.sum()),
        components=out.components,
        meaning=MILP_MEANING.get(str(options.objective), "") + "; month by month, storage "
        "held and stockpiles drawn charged (see matching.milp_monthly)",
        sense="maximise", exact=True,
        note=stop_note(out.status, out.batch_facts, limit, options.mip_gap))
    score = w if options.objective != "utilization" else None
    result = assemble_result(annual_data, cand, annual, facts, options, timings, values,
                             None, score, tuple(warnings))
    result = _exchange_columns(result, dataset, cand, annual, logistics, bool(money),
                               arc_trips=trips_m.sum(axis=1))
    unmatched = result.offers["unmatched"].to_numpy(float)
    fixed = money * (logistics.contract_cny + logistics.pipe_cny)
    room = np.full(len(cand), np.inf)
    room[model.arcs] = mm.month_upper.sum(axis=1)  # what an arc can carry over the months
    blocked = _blocked(dataset, cand, code, w, fixed, logistics, annual, unmatched, room)
    result = replace(result, offers=_with_blocked(result.offers, blocked, dataset))
    n_st = len(storage)
    plan = MonthlyPlan(out.flows, out.status, float(annual.sum()),
                       float(annual @ cand.distance_km), f"milp_{options.mip_solver}",
                       out.seconds, np.full(n_st, np.nan), np.full(n_st, np.nan), {}, True,
                       "marginal values of storage are not computed for an integer plan")
    monthly_ex = _monthly_exchanges(dataset, cand, x)
    monthly_ex["trips"] = _trips_column(monthly_ex, dataset, cand, trips_m,
                                        logistics.truck_t)
    levels = _storage_levels(dataset, storage, net, plan)
    section = _monthly_summary(dataset, cand, x, net, levels, False, plan).model_dump()
    section["method"] = f"milp_{options.mip_solver}"
    result = result.with_summary(monthly=section)
    result = replace(result, tables={"exchanges_monthly": monthly_ex, "storage": levels})
    milp = {
        "solver": options.mip_solver, "time_limit_s": limit, "gap_target": options.mip_gap,
        "incumbent": out.objective, "bound": out.bound, "gap": out.gap,
        "heuristic_objective": out.heuristic_objective,
        "heuristic_seconds": round(out.heuristic_seconds, 4),
        # a plan for every batch exists after their LPs and roundings (MathOpt aside)
        "first_plan_seconds": round(out.heuristic_seconds, 4),
        "continuous_bound": out.continuous_bound, "components": out.components,
        "batches": len(out.batch_facts),
        "batches_at_target": sum(f.state in ("lp_bound", "optimal", "gap_reached")
                                 for f in out.batch_facts),
        "batches_solved": out.batches_solved,
        "batches_stopped": sum(f.state in ("time_limit", "not_started")
                               for f in out.batch_facts),
        "batch_report": batch_report(out.batch_facts),
        "arcs": len(model), "arcs_pruned": int(len(cand) - len(model)),
        "binaries": int(model.binary.sum()), "trip_integers": int(model.trips.sum()) * MONTHS,
        "features": integer_features(dataset, options), "progress": [list(p) for p in
                                                                      out.progress],
        "relaxations": [],
        "scope": "monthly plan: whole trips per exchange and month; minimum lot, contract "
                 "cost and partner limits per exchange-year; relaxation values not computed",
    }
    solver_section = result.summary.solver.model_dump()
    solver_section["milp"] = milp
    result = result.with_summary(solver=solver_section)
    timings["report"] = time.perf_counter() - t3
    return result.with_timings(timings)
