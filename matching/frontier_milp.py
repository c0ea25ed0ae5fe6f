"""The trade-off frontier when integer logistics apply (min lots, partner limits, contracts,
contract costs, trucks): every point is a MILP of `matching.milp`, with its gap.

The continuous frontier (`matching.frontier`) adds the epsilon row f(x) >= eps to an LP.
The MILP of `matching.milp` takes no such row, so here the points are the supported
Pareto points found by the dichotomic weighted-sum method (Aneja and Nair, Management
Science 25(1), 1979): with F and G the two axes of a plan x,

    A = argmax G + tau F,   B = argmax F + tau G       (the two ends; tau = TIE_BREAK in
                                                        units normalised by each axis' range)
    (a plan stopped within its gap target can still be dominated by another one found: such
    plans are dropped, so the table lists non-dominated plans only)
    for a segment (P, Q) with F_P < F_Q, G_P > G_Q:
        C = argmax (G_P - G_Q) F + (F_Q - F_P) G
        C is a new point, and (P, C), (C, Q) new segments, when it lies above PQ

until `points` plans are solved or no segment has a point above it. A segment's weights
are the normal of PQ, so C is the point farthest beyond the line: each solve adds a
corner of the frontier's convex hull. Points inside the hull (unsupported) are not found;
between two corners the frontier is a staircase of such points, and the table says so.

Per arc a (offer units), the axes are the continuous frontier's, with money net of the
integer costs the MILP charges:

| axis        | F per plan                                                              |
|-------------|-------------------------------------------------------------------------|
| utilization | sum of x_a on mass-family arcs (t)                                      |
| cost        | sum w_a x_a - (F_a + P_a)[x_a > 0] - c_a T_a, CNY (`milp.plan_value` of |
|             | the cost objective: contract, whole pipes, whole truck trips)           |
| co2         | sum co2_net_a x_a / 1000, t CO2e                                        |

A weighted solve is `milp.build_model` under the weighted objective with those weights
(exact pruning and cuts for that objective), whose utilization term is then limited to
mass arcs: that lowers some arc weights, which keeps the pruning and the break-even cut
valid (an arc that could not pay still cannot). `milp.solve_model` solves it: heuristic,
LP bound, MathOpt per batch, incumbent and bound reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from symbiosis.dataset import Dataset
from symbiosis.matching.candidates import Candidates
from symbiosis.matching.economics import ArcValues
from symbiosis.matching.flow import relative_gap
from symbiosis.matching.logistics import ArcLogistics
from symbiosis.matching.milp import (
    DEFAULT_TIME_LIMIT_S,
    MilpModel,
    MilpOutcome,
    build_model,
    plan_value,
    solve_model,
)
from symbiosis.matching.options import MatchOptions, Objective
from symbiosis.types import FloatArray

if TYPE_CHECKING:
    from symbiosis.matching.distributed import Engine

__all__ = [
    "TIE_BREAK",
    "MilpPoint",
    "axis_value",
    "dichotomic_points",
    "money_model",
    "point_gap",
]

# weight of the other axis at the two ends, in range-normalised units: any positive weights
# give a Pareto-optimal plan, and a tie-break far below the gap target (1e-4) would be lost
# in the solver's tolerance, leaving an end that another point dominates
TIE_BREAK = 1e-3
ABOVE_TOL = 1e-9  # relative: a point this close to a segment is on it


@dataclass(frozen=True)
class MilpPoint:
    """One solved plan: flows per candidate arc, its two axis values, the weights that
    found it, and the MILP's facts (objective and bound in the weighted units)."""

    flows: FloatArray
    f: float
    g: float
    weights: tuple[tuple[str, float], ...]
    outcome: MilpOutcome


@dataclass(frozen=True)
class _Shared:
    """What every point's solve reads (an engine task's shared data)."""

    dataset: Dataset
    cand: Candidates
    values: ArcValues
    logistics: ArcLogistics
    options: MatchOptions
    mass: FloatArray  # 1 on mass-family arcs
    money: MilpModel  # every arc, money weights and costs: plan_value = net CNY
    between: tuple[str, str]


def money_model(cand: Candidates, values: ArcValues, logistics: ArcLogistics) -> MilpModel:
    """Every candidate arc with the cost objective's per-unit value, fixed and trip costs:
    `plan_value(model, x)` is the plan's net saving in CNY (the MILP's money term)."""
    n = len(cand)
    share = values.pipe_unit if values.pipe_unit is not None else np.zeros(n)
    truck = logistics.truck_t
    by_truck = (logistics.trip_cny > 0) & np.isfinite(truck)
    return MilpModel(
        arcs=np.arange(n, dtype=np.int64), offer=cand.offer.astype(np.int64),
        need=cand.need.astype(np.int64), ratio=cand.ratio,
        weight=np.asarray(values.saving + share + logistics.road_unit_cny, float),
        fixed=np.asarray(logistics.contract_cny + logistics.pipe_cny, float),
        trip=np.where(by_truck, logistics.trip_cny, 0.0), truck=truck,
        upper=logistics.upper, floor=np.zeros(n), lot=logistics.lot,
        forced=np.zeros(n, bool), supply=logistics.supply, demand=logistics.demand,
        offer_partners=logistics.offer_partners, need_partners=logistics.need_partners)


def axis_value(shared: _Shared, axis: str, flows: FloatArray) -> float:
    """A plan's value on one axis (module docstring's table)."""
    if axis == "utilization":
        return float(shared.mass @ flows)
    if axis == "co2":
        return float(shared.values.co2_net_kg @ flows) / 1000.0
    return plan_value(shared.money, flows)


def _point_task(shared: _Shared, weights: tuple[tuple[str, float], ...]) -> MilpPoint:
    """One weighted MILP (an engine task): build, limit utilization to mass, solve."""
    terms = {k: v for k, v in weights if v > 0}
    options = shared.options.model_copy(update={"objective": Objective.weighted,
                                                "weights": tuple(terms.items())})
    model, _ = build_model(shared.dataset, shared.cand, options, shared.values,
                           shared.logistics)
    util = terms.get("utilization", 0.0)
    if util:  # the weighted objective counts every family; the frontier's axis only mass
        model = replace(model, weight=model.weight - util * (1.0 - shared.mass[model.arcs]))
    limit = shared.options.time_limit_s or DEFAULT_TIME_LIMIT_S
    outcome = solve_model(model, limit, shared.options.mip_gap, shared.options.mip_solver)
    flows = np.zeros(len(shared.cand))
    flows[model.arcs] = outcome.x
    f_name, g_name = shared.between
    return MilpPoint(flows, axis_value(shared, f_name, flows),
                     axis_value(shared, g_name, flows), weights, outcome)


def _range(shared: _Shared, axis: str) -> float:
    """A scale of an axis for the tie-break: the most it could reach, at least 1."""
    upper = shared.logistics.upper
    if axis == "utilization":
        per = shared.mass
    elif axis == "co2":
        per = np.abs(shared.values.co2_net_kg) / 1000.0
    else:
        per = np.abs(shared.money.weight)
    return max(1.0, float((per * upper).sum()))


def dichotomic_points(dataset: Dataset, cand: Candidates, values: ArcValues,
                      logistics: ArcLogistics, options: MatchOptions,
                      between: tuple[str, str], points: int, mass: FloatArray,
                      engine: Engine | None = None) -> list[MilpPoint]:
    """Up to `points` supported Pareto plans of the MILP between the two axes, sorted by
    the swept axis F (module docstring); each level of segments is one `engine.map`."""
    shared = _Shared(dataset, cand, values, logistics, options, mass,
                     money_model(cand, values, logistics), between)
    f_name, g_name = between
    s_f, s_g = _range(shared, f_name), _range(shared, g_name)

    def run(batch: Sequence[tuple[tuple[str, float], ...]]) -> list[MilpPoint]:
        task: Callable[[_Shared, tuple[tuple[str, float], ...]], MilpPoint] = _point_task
        return (engine.map(task, list(batch), shared) if engine is not None
                else [task(shared, w) for w in batch])

    ends = run([((g_name, 1.0 / s_g), (f_name, TIE_BREAK / s_f)),
                ((f_name, 1.0 / s_f), (g_name, TIE_BREAK / s_g))])
    found = [ends[0]]
    if not _same(ends[0], ends[1]):
        found.append(ends[1])
    segments = _open([(ends[0], ends[1])]) if len(found) == 2 else []
    while segments and len(found) < points:
        segments = segments[:points - len(found)]
        weights = [((f_name, p.g - q.g), (g_name, q.f - p.f)) for p, q in segments]
        solved = run(weights)
        nxt: list[tuple[MilpPoint, MilpPoint]] = []
        for (p, q), c, (wf, wg) in zip(segments, solved, weights, strict=True):
            level = wf[1] * p.f + wg[1] * p.g
            here = wf[1] * c.f + wg[1] * c.g
            if here > level + ABOVE_TOL * max(1.0, abs(level)) and \
                    not any(_same(c, k) for k in found):
                found.append(c)
                nxt += [(p, c), (c, q)]
        segments = _open(nxt)
    kept = [p for p in found if not any(_dominates(q, p) for q in found if q is not p)]
    return sorted(kept, key=lambda p: (p.f, -p.g))


def _dominates(a: MilpPoint, b: MilpPoint) -> bool:
    """a at least as good as b on both axes and better on one (beyond rounding)."""
    tol_f = 1e-9 * max(1.0, abs(a.f), abs(b.f))
    tol_g = 1e-9 * max(1.0, abs(a.g), abs(b.g))
    return a.f >= b.f - tol_f and a.g >= b.g - tol_g and (a.f > b.f + tol_f
                                                           or a.g > b.g + tol_g)


def _open(segments: list[tuple[MilpPoint, MilpPoint]]) -> list[tuple[MilpPoint, MilpPoint]]:
    """Segments whose normal has both weights positive (F rises, G falls strictly); a
    point found short of its gap target may break that order, and is then a corner with
    nothing to search beside it."""
    return [(p, q) for p, q in segments if q.f > p.f and p.g > q.g]


def _same(a: MilpPoint, b: MilpPoint) -> bool:
    return math.isclose(a.f, b.f, rel_tol=1e-9, abs_tol=1e-9) and \
        math.isclose(a.g, b.g, rel_tol=1e-9, abs_tol=1e-9)


def point_gap(point: MilpPoint) -> float:
    """The MILP's relative gap for the weighted objective that found the point."""
    return relative_gap(point.outcome.objective, point.outcome.bound)
