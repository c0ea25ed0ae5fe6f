"""Trade-offs: the Pareto frontier between two objectives by the epsilon-constraint method.

For objectives f (the axis swept, e.g. utilization) and g (the one maximised, e.g. cost),
both linear in the arc flows x (offer units):

    f_max   = max f(x)                                   over the transport polytope P
    f_min   = f at the best g (lexicographic: max g, then max f at that g)
    point k:  g_k = max g(x)  s.t.  f(x) >= eps_k,  eps_k evenly from f_min to f_max
              then max f(x) s.t. g(x) >= g_k, so every point is Pareto-optimal, not only
              weakly so

| term        | f or g per offer unit on arc a                               |
|-------------|--------------------------------------------------------------|
| utilization | 1 on mass-family arcs (tonnes of solid by-product delivered) |
| cost        | saving_a, CNY (`matching.economics`)                         |
| co2         | co2_net_a, kg CO2e                                           |

All arcs take part, money-losing ones included: reaching a higher utilization than the
cost optimum is exactly what costs money. The LPs go to HiGHS over the whole candidate set,
which suits a park or a city (the 10-point target is a 100-enterprise park in seconds).

With integer logistics (min lots, partner limits, contracts, contract costs, trucks: the
runs `solve_match` sends to the MILP, `logistics.wants_milp`) every point is a MILP instead
(`matching.frontier_milp`: the supported points by the dichotomic weighted-sum method, as
the MILP takes no epsilon row), its money net of contract, trip and pipe costs, and the
table's `model` is `milp` with each point's `objective`, `bound` and `gap`. There
`epsilon` is the value the point reaches on the swept axis, not a floor.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from symbiosis.dataset import Dataset
from symbiosis.errors import SolverError
from symbiosis.matching.blending import prepare_grades
from symbiosis.matching.candidates import Candidates, candidates_for
from symbiosis.matching.economics import ArcValues, arc_values
from symbiosis.matching.flow import FlowSolution, SolverStatus, solve_generalized_max_weight_lp
from symbiosis.matching.options import MatchOptions, Method, Objective
from symbiosis.matching.result import MatchResult, SolverFacts, assemble_result

if TYPE_CHECKING:
    from symbiosis.matching.distributed import Engine

__all__ = ["AXES", "Frontier", "pareto_frontier"]

AXES = ("utilization", "cost", "co2")
STAGE_TOLERANCE = 1e-7  # relative slack when a stage's optimum becomes a constraint
FRONTIER_COLUMNS = ["point", "epsilon", "utilization_rate", "tonnes_matched", "saving_cny",
                    "co2_net_t", "tonne_km", "exchanges", "plan",
                    # how the point was solved: lp (HiGHS) or milp (integer logistics), the
                    # maximised objective of that solve, its bound and relative gap
                    "model", "objective", "bound", "gap"]
MILP_NOTE = ("integer logistics ({features}): every point is a MILP (contract, trip and "
             "pipe costs charged whole); the points are the supported ones of the integer "
             "frontier (weighted sums), which between two points may step")


@dataclass(frozen=True)
class Frontier:
    """The frontier table (FRONTIER_COLUMNS, sorted by the swept axis) and each point's plan."""

    table: pd.DataFrame
    plans: tuple[MatchResult, ...]
    between: tuple[str, str]
    seconds: float
    model: str = "lp"  # "milp" with integer logistics
    note: str = ""  # said to the user with the table (the MILP's reading)


def _rows(coef: np.ndarray, floor: float) -> tuple[np.ndarray, float, float]:
    """The constraint coef . x >= floor, relaxed by a hair so a stage's optimum stays
    feasible under the LP's tolerances."""
    slack = STAGE_TOLERANCE * max(1.0, abs(floor))
    return coef, floor - slack, math.inf


@dataclass(frozen=True)
class _Network:
    """What every frontier LP reads: quantities, arcs, ratios, and the two objectives."""

    q_o: np.ndarray
    d_n: np.ndarray
    arc_offer: np.ndarray
    arc_need: np.ndarray
    ratio: np.ndarray
    time_limit_s: float | None
    f: np.ndarray
    g: np.ndarray


def _lp(net: _Network, weights: np.ndarray,
        rows: list[tuple[np.ndarray, float, float]] | None = None) -> FlowSolution:
    sol = solve_generalized_max_weight_lp(net.q_o, net.d_n, net.arc_offer, net.arc_need,
                                          weights, net.ratio, net.time_limit_s, rows)
    if sol.status is not SolverStatus.OPTIMAL:
        raise SolverError(f"frontier LP returned {sol.status}: {sol.detail}")
    return sol


def _lexicographic(net: _Network, first: np.ndarray, second: np.ndarray,
                   rows: list[tuple[np.ndarray, float, float]]) -> FlowSolution:
    best = _lp(net, first, rows)
    return _lp(net, second, [*rows, _rows(first, float(best.flows @ first))])


def _point_task(net: _Network, eps: float) -> FlowSolution:
    """One frontier point (an engine task): max g at f >= eps, then max f at that g."""
    return _lexicographic(net, net.g, net.f, [_rows(net.f, eps)])


def pareto_frontier(dataset: Dataset, between: tuple[str, str] = ("utilization", "cost"),
                    points: int = 10, options: MatchOptions | None = None,
                    engine: Engine | None = None) -> Frontier:
    """Solve `points` epsilon-constraint LPs between the two objectives of `between`; with an
    `engine` (`matching.distributed`) the points are its tasks, the arcs shipped once.

    Raises:
        SolverError: `between` not two different objectives, fewer than 2 points, no
            candidate exchange, or an LP that does not solve to optimality.
    """
    start = time.perf_counter()
    f_name, g_name = between
    if f_name not in AXES or g_name not in AXES or f_name == g_name:
        raise SolverError(f"--between takes two different objectives among "
                          f"{', '.join(AXES)}, got '{f_name},{g_name}'")
    if points < 2:
        raise SolverError(f"a frontier needs at least 2 points, got {points}")
    options = options or MatchOptions()
    cand = candidates_for(dataset, options)
    # the same arcs as a match run: heat judged at delivery where it applies
    dataset, cand, grades = prepare_grades(dataset, cand, options)
    if grades is not None and grades.graded_arcs(cand).any():
        raise SolverError("the frontier does not yet cover blending or heat cascades: run "
                          "the objectives one by one (symbiosis match --objective ...)")
    values = arc_values(dataset, cand, options.economics)
    offer_mat = dataset.offers["material"].to_numpy(dtype=object)
    mass = np.array([str(dataset.taxonomy.materials[str(m)].family) == "mass"
                     for m in offer_mat])[cand.offer].astype(float)
    terms = {"utilization": mass, "cost": values.saving, "co2": values.co2_net_kg}
    f, g = terms[f_name], terms[g_name]
    q_o = dataset.offers["quantity"].to_numpy(float)
    d_n = dataset.needs["quantity"].to_numpy(float)
    arc_offer, arc_need = cand.offer.astype(np.int64), cand.need.astype(np.int64)

    net = _Network(q_o, d_n, arc_offer, arc_need, cand.ratio, options.time_limit_s, f, g)

    if len(cand) == 0:
        raise SolverError("no candidate exchanges: the frontier is empty")
    from symbiosis.matching.logistics import wants_milp

    if wants_milp(dataset, options):
        return _milp_frontier(dataset, cand, values, options, (f_name, g_name), points, mass,
                              engine, start)
    f_max = float(_lexicographic(net, f, g, []).flows @ f)
    f_min = float(_lexicographic(net, g, f, []).flows @ f)
    plans: list[MatchResult] = []
    records: list[dict[str, object]] = []
    epsilons = [float(eps) for eps in np.linspace(f_min, f_max, points)]
    solved = (engine.map(_point_task, epsilons, net) if engine is not None
              else [_point_task(net, eps) for eps in epsilons])
    for k, (eps, sol) in enumerate(zip(epsilons, solved, strict=True)):
        flows = np.where(sol.flows > 0, sol.flows, 0.0)
        facts = SolverFacts(status=SolverStatus.OPTIMAL, objective=float(flows @ g),
                            bound=float(flows @ g), seconds=sol.seconds,
                            methods=("lp_highs",), delivered=float(flows.sum()),
                            components=1, meaning=f"{g_name} at {f_name} >= {eps:.6g}",
                            sense="maximise")
        # the run's options whole, with the point's objective (an LP, whatever `method`)
        point_options = options.model_copy(update={"objective": Objective(g_name),
                                                   "method": Method.lp, "weights": ()})
        result = assemble_result(dataset, cand, flows, facts, point_options, {}, values)
        value = float(flows @ g)
        records.append(_record(k, float(eps), result, "lp", value, value, 0.0))
        plans.append(result)
    table = pd.DataFrame.from_records(records, columns=FRONTIER_COLUMNS)
    return Frontier(table, tuple(plans), (f_name, g_name), time.perf_counter() - start)


def _record(k: int, epsilon: float, result: MatchResult, model: str, objective: float,
            bound: float, gap: float) -> dict[str, object]:
    """One frontier.csv row (`FRONTIER_COLUMNS`) for the point numbered k + 1."""
    s = result.summary
    assert s.economics is not None and s.carbon is not None  # built with `values`
    return {
        "point": k + 1,
        "epsilon": epsilon,
        "utilization_rate": s.utilization_rate,
        "tonnes_matched": s.tonnes_matched,
        "saving_cny": s.economics.saving_cny,
        "co2_net_t": s.carbon.net_t,
        "tonne_km": s.tonne_km,
        "exchanges": s.exchanges,
        "plan": f"points/{k + 1:02d}/exchanges.csv",
        "model": model,
        "objective": objective,
        "bound": bound,
        "gap": gap,
    }


def _milp_frontier(dataset: Dataset, cand: Candidates, values: ArcValues,
                   options: MatchOptions, between: tuple[str, str], points: int,
                   mass: np.ndarray, engine: Engine | None, start: float) -> Frontier:
    """The frontier with integer logistics (module docstring): up to `points` MILP plans.

    Raises:
        InvalidDataError, InfeasibleError: as `matching.milp` (a contract that is no
            candidate, contracts that cannot all be kept).
    """
    from symbiosis.matching.frontier_milp import dichotomic_points, point_gap
    from symbiosis.matching.logistics import arc_logistics, integer_features
    from symbiosis.matching.milp import _exchange_columns  # the MILP's own report columns

    logistics = arc_logistics(dataset, cand, options, values)
    found = dichotomic_points(dataset, cand, values, logistics, options, between, points,
                              mass, engine)
    g_name = between[1]
    money = "cost" in between
    plans: list[MatchResult] = []
    records: list[dict[str, object]] = []
    for k, point in enumerate(found):
        flows = point.flows
        out = point.outcome
        weights = ", ".join(f"{name} x {w:.6g}" for name, w in point.weights)
        facts = SolverFacts(status=out.status, objective=out.objective, bound=out.bound,
                            seconds=out.seconds, methods=(f"milp_{options.mip_solver}",),
                            delivered=float(flows.sum()), components=out.components,
                            meaning=f"weighted sum {weights} (integer logistics)",
                            sense="maximise")
        point_options = options.model_copy(update={"objective": Objective(g_name),
                                                   "method": Method.milp, "weights": ()})
        result = assemble_result(dataset, cand, flows, facts, point_options, {}, values)
        result = _exchange_columns(result, dataset, cand, flows, logistics, money)
        records.append(_record(k, point.f, result, "milp", out.objective, out.bound,
                               point_gap(point)))
        plans.append(result)
    table = pd.DataFrame.from_records(records, columns=FRONTIER_COLUMNS)
    note = MILP_NOTE.format(features=", ".join(integer_features(dataset, options)))
    return Frontier(table, tuple(plans), between, time.perf_counter() - start, "milp", note)
