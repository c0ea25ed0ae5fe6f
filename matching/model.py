"""The matching models: the default lexicographic max-delivered then min quantity x km, and
the value objectives (cost, CO2, weighted) that maximise sum_a w_a x_a.

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
ratio) and goes to min-cost flow (OR-Tools, or from flow.SIMPLEX_MIN_ARCS arcs our network
simplex); a component with a need served at two different
ratios is a generalised flow and goes to the HiGHS LP
(`flow.solve_generalized_transport_lp`). A component holding a need that
blends offers or a heat cascade's return goes to the graded LP (`matching.blending`).

Value objectives (`cost`, `co2`, `weighted`; see `matching.economics` for w_a):

    maximise    sum_a w_a x_a        over arcs with w_a > 0 (nothing is forced in)
    subject to  the same offer and need capacities

| objective | w_a per offer unit                                                  |
|-----------|---------------------------------------------------------------------|
| cost      | saving_a (CNY)                                                      |
| co2       | co2_net_a / 1000 (t CO2e)                                           |
| weighted  | utilization x 1 + cost x saving_a + co2 x co2_net_a / 1000 (t CO2e) |

With weights `cost=1,co2=P`, P reads as a carbon price in CNY per t CO2e. Pure-network parts
go to min-cost flow with an optional-shipment sink, the rest to one HiGHS LP per component;
components with blending or a heat cascade to the graded LP with the same w_a
(`matching.blending.solve_graded`), whose first-stage duals give their prices.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from symbiosis.dataset import Dataset
from symbiosis.errors import OptionsError, SolverError
from symbiosis.i18n import t
from symbiosis.matching.blending import (
    Grades,
    annotate,
    blend_needs,
    prepare_grades,
    rebuilt_needs,
    solve_graded,
)
from symbiosis.matching.candidates import Candidates, candidates_for
from symbiosis.matching.economics import ArcValues, arc_values
from symbiosis.matching.flow import (
    FlowSolution,
    SolverStatus,
    solve_generalized_max_weight_lp,
    solve_generalized_transport_lp,
    solve_transport_max_weight,
    solve_transport_mcf,
)
from symbiosis.matching.heat import heat_applies, heat_stated
from symbiosis.matching.lean import explains, lean_result, lean_warnings
from symbiosis.matching.options import MatchOptions, Method, Objective, parse_weights
from symbiosis.matching.parts import arc_components, balanced_bins, spawn_safe, usable_cores
from symbiosis.matching.prices import Valuation, valuate
from symbiosis.matching.result import MatchResult, SolverFacts, assemble_result
from symbiosis.matching.sparse import Certificate, with_certificate

if TYPE_CHECKING:
    from symbiosis.geo.provider import GeoDistances

__all__ = ["OBJECTIVES", "MatchOptions", "Method", "Objective", "objective_weights",
           "parse_weights", "solve_candidates", "solve_match", "usable_cores"]

OBJECTIVES = tuple(o.value for o in Objective)
OBJECTIVE_MEANING = {
    "utilization": "sum of quantity x distance_km at maximum delivery (t-km + GJ-km + m3-km)",
    "cost": "total saving, CNY/yr",
    "co2": "net CO2e avoided, t/yr",
    "weighted": "weighted value: utilization x offer units + cost x CNY + co2 x t CO2e",
}
# from this many pure-network arcs `method auto` solves sparse (certified, the rounds run
# by the warm-started network simplex of matching.netsimplex). Below it one dense solve
# (the network simplex too, from flow.SIMPLEX_MIN_ARCS arcs) is as fast: the 3,000-enterprise
# benchmark province (332,199 arcs) takes 1.03 s dense and 1.02 s sparse, wall, paired.
# Above it the sparse set keeps the solver's arrays small: the national instance (31 M
# arcs) solves on 3 M, 26.4 s and 2,960 MiB end to end against 77.1 s for the bare floor
# (benchmarks/bench_match.py, bench_national.py, 2026-11-30).
SPARSE_AUTO_MIN_ARCS = 500_000
# below this many network arcs one in-process solve beats splitting and spawning workers
PARALLEL_MIN_ARCS = 2_000_000
# split only when the busiest worker gets at most this share of the arcs; a national
# instance whose cities chain into one giant component gains nothing from workers
PARALLEL_MAX_SHARE = 0.7


def objective_weights(options: MatchOptions, values: ArcValues) -> np.ndarray:
    """w_a per offer unit for a value objective (see the module docstring)."""
    if options.objective == "cost":
        return values.saving
    if options.objective == "co2":
        return values.co2_net_kg / 1000.0
    if options.objective == "weighted":
        terms = dict(options.weights)
        w = np.zeros(len(values.saving))
        if terms.get("utilization"):
            w += terms["utilization"]
        if terms.get("cost"):
            w += terms["cost"] * values.saving
        if terms.get("co2"):
            w += terms["co2"] * values.co2_net_kg / 1000.0
        return w
    raise SolverError(f"objective '{options.objective}' has no arc weights")


def _rule_components(cand: Candidates) -> np.ndarray:
    """Component id per rule: materials joined by the rules the arcs use.

    Kept per rule, not per arc: at 10^7 arcs a per-arc id array costs hundreds of MB. A
    union-find over the few dozen rules: importing scipy.sparse for it cost 0.3-0.9 s of a
    run's start-up.
    """
    if not cand.rules:
        return np.zeros(0, np.int64)
    parent: dict[str, str] = {}

    def root(m: str) -> str:
        parent.setdefault(m, m)
        while parent[m] != m:
            parent[m] = parent[parent[m]]
            m = parent[m]
        return m

    for r in cand.rules:
        parent[root(r.offer_material)] = root(r.need_material)
    labels: dict[str, int] = {}
    return np.array([labels.setdefault(root(r.offer_material), len(labels))
                     for r in cand.rules], dtype=np.int64)


def _lp_components(cand: Candidates, n_needs: int,
                   method: Method) -> tuple[np.ndarray, np.ndarray]:
    """Component of each arc, and which components go to the LP: those with a need served at
    two ratios (all of them with method 'lp'; an error with method 'mcf')."""
    if not len(cand):
        return np.zeros(0, np.int64), np.zeros(0, bool)
    comp_of_rule = _rule_components(cand)
    lp_comp = np.zeros(len(np.unique(comp_of_rule)), dtype=bool)
    lp_comp[comp_of_rule[cand.rule[cand.mixed_ratio_needs(n_needs)[cand.need]]]] = True
    if method == "mcf" and lp_comp.any():
        raise SolverError("min-cost flow cannot solve needs served at two different "
                          "ratios; use method 'auto' or 'lp'")
    if method == "lp":
        lp_comp[:] = True
    return comp_of_rule[cand.rule], lp_comp


def _solver_facts(flows: np.ndarray, costs: np.ndarray, solutions: list[FlowSolution],
                  t_solve: float, cost_scale: str, **meaning: str) -> SolverFacts:
    """The combined facts of the solves: objective sum(costs x flows) recomputed in float."""
    for sol in solutions:
        if sol.status is not SolverStatus.OPTIMAL:
            raise SolverError(f"{sol.method} returned {sol.status}: {sol.detail}")
    objective = float(flows @ costs) if len(flows) else 0.0
    bound = sum(s.bound for s in solutions) if solutions else 0.0
    inexact = sorted({what for s in solutions if s.scales is not None
                      for what, exact in (("quantities", s.scales.quantity_exact),
                                          (cost_scale, s.scales.distance_exact))
                      if not exact})
    notes = [] if not inexact else [
        "min-cost flow saw " + " and ".join(inexact) + " rounded to its integer scale: the "
        "plan is optimal for the rounded data; bound and gap say how far from the true "
        "optimum it can be"]
    # what an optimal solve says of itself (an LP's stages held by a row, not a face)
    notes += sorted({f"{s.method}: {s.detail}" for s in solutions if s.detail})
    return SolverFacts(
        status=SolverStatus.OPTIMAL,
        objective=objective,
        bound=bound if math.isfinite(bound) else objective,
        exact=not inexact,
        note="; ".join(notes),
        seconds=time.perf_counter() - t_solve,
        methods=tuple(sorted({s.method for s in solutions})),
        delivered=float(flows.sum()),
        components=len(solutions),
        scales={s.method: {"quantity": s.scales.quantity, cost_scale: s.scales.distance}
                for s in solutions if s.scales is not None},
        **meaning,
    )


def _network_inputs(dataset: Dataset, cand: Candidates,
                    arcs: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """Supply (this year's surplus), demand, arc ends, km of pure-network arcs (None = every
    arc) and each offer's stockpile, offer units.

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
    stock = np.where(used_o, offer_stock(dataset), 0.0)
    return (supply, demand, offer, need, cand.distance_km if every else cand.distance_km[arcs],
            stock)


def offer_stock(dataset: Dataset) -> np.ndarray:
    """Each offer's stockpile that may also be drawn (`stock`, blank = 0), offer units."""
    if "stock" not in dataset.offers:
        return np.zeros(len(dataset.offers))
    return np.nan_to_num(dataset.offers["stock"].to_numpy(float), nan=0.0)


def _solve_network(dataset: Dataset, cand: Candidates, arcs: np.ndarray | None,
                   jobs: int | None) -> list[tuple[np.ndarray | None, FlowSolution]]:
    """Min-cost flow on pure-network arcs (None = every arc); large networks are split
    into independent components solved side by side in worker processes."""
    def one_solve() -> list[tuple[np.ndarray | None, FlowSolution]]:
        return [(arcs, solve_transport_mcf(*_network_inputs(dataset, cand, arcs)))]

    jobs = usable_cores() if jobs is None else max(1, jobs)
    size = len(cand) if arcs is None else len(arcs)
    if jobs == 1 or size < PARALLEL_MIN_ARCS or not spawn_safe():
        return one_solve()
    offer = cand.offer if arcs is None else cand.offer[arcs]
    need = cand.need if arcs is None else cand.need[arcs]
    labels = arc_components(offer, need, len(dataset.offers), len(dataset.needs))
    del offer, need
    bins = balanced_bins(labels, jobs)
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


def _solve_value(dataset: Dataset, cand: Candidates, options: MatchOptions,
                 weights: np.ndarray, grades: Grades | None = None,
                 graded_out: list[tuple[np.ndarray, FlowSolution]] | None = None
                 ) -> tuple[np.ndarray, SolverFacts]:
    """max sum w_a x_a over arcs with w_a > 0: network parts by min-cost flow, needs seen at
    two ratios by one LP per component; components holding a blending need or a heat
    cascade's return (`grades`) by the graded LP with the same w_a (`solve_graded`)."""
    flows = np.zeros(len(cand))
    t_solve = time.perf_counter()
    graded_groups = _graded_groups(cand, grades)
    graded = np.zeros(len(cand), bool)
    for arcs in graded_groups:
        graded[arcs] = True
    live = np.flatnonzero((weights > 0) & ~graded) if graded_groups else \
        np.flatnonzero(weights > 0)
    sub = cand.subset(live)
    arc_comp, lp_comp = _lp_components(sub, len(dataset.needs), options.method)
    solutions: list[FlowSolution] = []
    network = np.flatnonzero(~lp_comp[arc_comp])
    if len(network):
        supply, demand, offer, need, _, stock = _network_inputs(dataset, sub, network)
        # value objectives draw on surplus and stockpile alike (both are offered); the
        # report attributes delivered units to this year's surplus first
        sol = solve_transport_max_weight(supply + stock, demand, offer, need,
                                         weights[live[network]])
        solutions.append(sol)
        flows[live[network]] = sol.flows
    for c in np.flatnonzero(lp_comp):
        arcs = np.flatnonzero(arc_comp == c)
        if len(arcs):
            supply, demand, arc_s, arc_d = sub.lp_inputs(dataset, arcs)
            supply = supply + offer_stock(dataset)[np.unique(sub.offer[arcs])]
            sol = solve_generalized_max_weight_lp(supply, demand, arc_s, arc_d,
                                                  weights[live[arcs]], sub.ratio[arcs],
                                                  options.time_limit_s)
            solutions.append(sol)
            flows[live[arcs]] = sol.flows
    for arcs in graded_groups:
        assert grades is not None
        sol = solve_graded(dataset, cand, arcs, grades, options.time_limit_s, weights)
        solutions.append(sol)
        flows[arcs] = sol.flows
        if graded_out is not None:
            graded_out.append((arcs, sol))
    facts = _solver_facts(flows, weights, solutions, t_solve, "weight",
                          meaning=OBJECTIVE_MEANING[options.objective], sense="maximise")
    return flows, facts


def _graded_groups(cand: Candidates, grades: Grades | None) -> list[np.ndarray]:
    """Arc positions of each component (materials joined by rules) that needs the graded
    LP: one holding a blending need or a heat cascade's return (`Grades.graded_arcs`)."""
    if grades is None or not len(cand):
        return []
    mask = grades.graded_arcs(cand)
    if not mask.any():
        return []
    comp = _rule_components(cand)[cand.rule]
    return [np.flatnonzero(comp == c) for c in np.unique(comp[mask])]


def solve_candidates(dataset: Dataset, cand: Candidates, options: MatchOptions,
                     values: ArcValues | None = None, grades: Grades | None = None,
                     graded_out: list[tuple[np.ndarray, FlowSolution]] | None = None
                     ) -> tuple[np.ndarray, SolverFacts]:
    """Flow per candidate arc (offer units) and the combined solver facts. With `grades`
    (`matching.blending.prepare_grades`) the components holding a blending need or a heat
    cascade's return go to the graded LP, for every objective (the value objectives with
    the same w_a as the network path); each graded solve (its arc positions and solution,
    whose `duals` give the prices) is appended to `graded_out` when given.

    Raises:
        SolverError: a money objective (cost, or weighted with a cost term) on a dataset that
            gives no avoided cost: every saving would be a bare transport cost.
    """
    graded_comp = np.zeros(0, bool)
    if options.objective != "utilization":
        values = values if values is not None else arc_values(dataset, cand,
                                                              options.economics)
        _require_costs(options, values)
        return _solve_value(dataset, cand, options, objective_weights(options, values),
                            grades, graded_out)
    flows = np.zeros(len(cand))
    arc_comp, lp_comp = _lp_components(cand, len(dataset.needs), options.method)
    if grades is not None and len(cand):
        graded_comp = np.zeros(len(lp_comp), bool)
        graded_comp[np.unique(arc_comp[grades.graded_arcs(cand)])] = True
        lp_comp = lp_comp | graded_comp  # off the min-cost flow; solved below
    t_solve = time.perf_counter()
    solved: list[tuple[np.ndarray | None, FlowSolution]] = []
    certificates: list[Certificate] = []
    notes: list[str] = []  # why a sparse request was solved densely
    if not lp_comp.any():
        if len(cand):
            solved += _solve_network_by_method(dataset, cand, None, options, certificates,
                                           notes)
    else:
        network = np.flatnonzero(~lp_comp[arc_comp])

        def lp_parts() -> list[tuple[np.ndarray, FlowSolution, bool]]:
            """The LP components in order: (arcs, solution, graded)."""
            out = []
            for c in np.flatnonzero(lp_comp):
                arcs = np.flatnonzero(arc_comp == c)
                if len(arcs) and c < len(graded_comp) and graded_comp[c]:
                    assert grades is not None
                    out.append((arcs, solve_graded(dataset, cand, arcs, grades,
                                                   options.time_limit_s), True))
                elif len(arcs):
                    stock = offer_stock(dataset)[np.unique(cand.offer[arcs])]
                    out.append((arcs, solve_generalized_transport_lp(
                        *cand.lp_inputs(dataset, arcs), cand.distance_km[arcs],
                        cand.ratio[arcs], options.time_limit_s,
                        stock if stock.any() else None), False))
            return out

        # the LP parts (HiGHS, which releases the GIL while it runs) solve on a thread
        # beside the network solve: the national instance's heat LP (0.9 s; 7 s on GLOP)
        # then costs no wall time; same solutions, in the same order, either way
        side = None
        if len(network) and usable_cores() > 1:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=1)
            side = pool.submit(lp_parts)
        try:
            if len(network):  # with the LP beside it, no helper process: two cores
                solved += _solve_network_by_method(dataset, cand, network, options,
                                                   certificates, notes, side is None)
            lps = side.result() if side is not None else lp_parts()
        finally:
            if side is not None:
                pool.shutdown()
        for arcs, sol, graded in lps:
            solved.append((arcs, sol))
            if graded and graded_out is not None:
                graded_out.append((arcs, sol))
    for where, sol in solved:
        if sol.status is not SolverStatus.OPTIMAL:
            continue  # _solver_facts raises, naming the solver
        if where is None:
            flows = np.asarray(sol.flows, float)
        else:
            flows[where] = sol.flows
    facts = _solver_facts(flows, cand.distance_km, [sol for _, sol in solved], t_solve,
                          "distance")
    if notes:
        facts = replace(facts, note="; ".join([facts.note, *notes] if facts.note else notes))
    return flows, with_certificate(facts, certificates)


# --------------------------------------------------------------------------------------
# the certified sparse solve (matching.sparse): which arc set the min-cost flow runs on

def _solve_network_by_method(dataset: Dataset, cand: Candidates, arcs: np.ndarray | None,
                             options: MatchOptions, certificates: list[Certificate],
                             notes: list[str], helper: bool = True
                             ) -> list[tuple[np.ndarray | None, FlowSolution]]:
    """Min-cost flow of the default objective on pure-network arcs (None = every arc).

    Method `sparse` solves on a sparse arc set certified by pricing every arc
    (`matching.sparse.solve_transport_sparse`; its certificate is appended to
    `certificates`); `auto`, `dense` and `mcf` solve on every arc at once
    (`_solve_network`, split into worker processes on very large instances). Same optimum
    either way; a network with stockpiles (offers' `stock`) is solved densely whatever the
    method, and carries no certificate. `auto` is dense below SPARSE_AUTO_MIN_ARCS network
    arcs, sparse from there, with the rounds warm-started by the network simplex (figures
    beside the constant). `helper` False keeps OR-Tools rounds (the fallback where the
    simplex is not built or big M is too large for it) in this process (an LP part is
    solving on the other core).
    """
    size = len(cand) if arcs is None else len(arcs)
    if options.method is not Method.sparse and not (
            options.method is Method.auto and size >= SPARSE_AUTO_MIN_ARCS):
        return _solve_network(dataset, cand, arcs, options.jobs)
    from symbiosis.matching.sparse import SparsePrecisionError, solve_transport_sparse

    supply, demand, offer, need, km, stock = _network_inputs(dataset, cand, arcs)
    if stock.any():  # stockpile arcs are not priced by the sparse loop: solved densely
        notes.append("method sparse: offers with stockpiles are solved densely (no "
                      "certificate)")
        return _solve_network(dataset, cand, arcs, options.jobs)
    try:
        solution, certificate = solve_transport_sparse(supply, demand, offer, need, km,
                                                       helper=helper)
    except SparsePrecisionError as exc:
        notes.append(f"method sparse: solved densely instead ({exc})")
        return _solve_network(dataset, cand, arcs, options.jobs)
    certificates.append(certificate)
    return [(arcs, solution)]


def _require_costs(options: MatchOptions, values: ArcValues) -> None:
    money = options.objective == "cost" or dict(options.weights).get("cost", 0.0) > 0
    if money and not values.info.get("costs_given", True):
        raise SolverError(
            f"objective '{options.objective}' needs costs, and the dataset gives none: add "
            "disposal_cost to offers and/or virgin_cost to needs (CNY per unit), or run "
            "with --disposal-tax-floor where the environmental protection tax applies; "
            "without costs every exchange would only cost transport")


def solve_match(dataset: Dataset, options: MatchOptions | None = None,
                timings: dict[str, float] | None = None,
                distances: GeoDistances | None = None) -> MatchResult:
    """Candidates -> optimal flows -> `MatchResult` for a validated dataset; `distances`
    (geo.GeoDistances) brings road distances and zone rules."""
    options = options or MatchOptions()
    timings = {} if timings is None else timings
    from symbiosis.matching.logistics import wants_milp
    from symbiosis.months import is_monthly

    if wants_milp(dataset, options):  # lots, partners, contracts, trucks (issue 16)
        if blend_needs(dataset, options.blend).any() or (
                not options.heat_at_source and heat_stated(dataset, options.heat_at_delivery)):
            raise OptionsError(
                "blend", "integer logistics (min_lot, max_partners, contracts, trucks) "
                "cannot yet be combined with blending or heat by temperature: run them separately")
        if is_monthly(dataset):  # whole trips per month, lots and contracts per year
            from symbiosis.matching.milp_monthly import solve_match_milp_monthly

            result = solve_match_milp_monthly(dataset, options, timings, distances)
        else:
            from symbiosis.matching.milp import solve_match_milp

            result = solve_match_milp(dataset, options, timings, distances)
        if heat_applies(dataset, options.heat_at_delivery, options.heat_at_source):
            # heat at delivery is only the default here: the MILP keeps the source check
            result = result.with_summary(warnings=[*result.summary.warnings,
                                                   t("heat.milp_at_source")])
        return result
    if is_monthly(dataset):  # months, profiles or storage: the time-expanded plan
        from symbiosis.matching.monthly import solve_monthly

        return solve_monthly(dataset, options, timings, distances)
    t0 = time.perf_counter()
    cand = candidates_for(dataset, options, distances, rebuilt_needs(dataset, options))
    dataset, cand, grades = prepare_grades(dataset, cand, options, distances)
    t1 = time.perf_counter()
    timings["candidates"] = t1 - t0
    # the default objective needs no money to solve: its per-arc values (six arrays the size
    # of the arcs) are built for the report, so they never add to the solver's peak memory
    values = arc_values(dataset, cand, options.economics) \
        if options.objective != "utilization" else None
    graded: list[tuple[np.ndarray, FlowSolution]] = []
    flows, facts = solve_candidates(dataset, cand, options, values, grades, graded)
    t2 = time.perf_counter()
    timings["build"] = max(0.0, t2 - t1 - facts.seconds)
    timings["solve"] = facts.seconds
    score, valuation, warnings = None, None, []
    full = explains(options, len(cand))  # matching.lean: explanations and duals, or lean
    warnings += lean_warnings(options, len(cand))
    if full and options.valuate:
        try:
            score, valuation = _valuate(dataset, cand, flows, facts, options, values,
                                        graded)
        except SolverError as exc:  # the plan stands; only its prices are missing
            warnings.append(f"prices and marginal values not derived: {exc}")
        timings["prices"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    if not full:  # values, report and figures on the flowing arcs only (matching.lean)
        result = lean_result(dataset, cand, flows, facts, options, timings, values,
                             tuple(warnings))
    else:
        if values is None:  # built after the duals too, whose edge arrays are as large
            values = arc_values(dataset, cand, options.economics)
        result = assemble_result(dataset, cand, flows, facts, options, timings, values,
                                 valuation, score, tuple(warnings))
    if grades is not None:
        result = annotate(result, dataset, cand, flows, grades)
    timings["report"] = time.perf_counter() - t3
    return result.with_timings(timings)


def _valuate(dataset: Dataset, cand: Candidates, flows: np.ndarray, facts: SolverFacts,
             options: MatchOptions, values: ArcValues | None,
             graded: list[tuple[np.ndarray, FlowSolution]] | None = None
             ) -> tuple[np.ndarray | None, Valuation]:
    """The objective's arc weights as the solver saw them, and the plan's dual values.

    Min-cost flow rounded the weights to its integer scale; the duals are computed on the
    same rounded weights so they are exact for the plan the solver returned. Arcs solved by
    the graded LP (`graded`) take that LP's first-stage duals (`solve_graded`); the rest are
    valued by `matching.prices.valuate` on their own (components share no offer or need).

    Raises:
        SolverError: a graded solve returned no duals, or `valuate` failed.
    """
    # the integer min-cost flow's scales, whichever solver ran it (OR-Tools or the network
    # simplex: the same scales, chosen before the solver is)
    mcf = facts.scales.get("min_cost_flow", facts.scales.get("network_simplex", {}))
    quantum = 1.0 / mcf["quantity"] if "quantity" in mcf else 0.0
    if options.objective == "utilization":
        score = None
        seen = np.ones(len(cand))
    else:
        assert values is not None  # value objectives solved with them
        score = objective_weights(options, values)
        seen = score
        if "weight" in mcf:
            seen = np.rint(score * mcf["weight"]) / mcf["weight"]
    if not graded:
        return score, valuate(dataset, cand, flows, seen, quantum)
    return score, _with_graded_duals(dataset, cand, flows, seen, quantum, graded)


def _with_graded_duals(dataset: Dataset, cand: Candidates, flows: np.ndarray,
                       seen: np.ndarray, quantum: float,
                       graded: list[tuple[np.ndarray, FlowSolution]]) -> Valuation:
    """`valuate` on the arcs outside the graded components, merged with the graded LP's
    duals: one dual point, so the core's two ends coincide there (as for `lp_dual`)."""
    inside = np.zeros(len(cand), bool)
    for arcs, _ in graded:
        inside[arcs] = True
    rest = np.flatnonzero(~inside)
    base = valuate(dataset, cand.subset(rest), flows[rest], seen[rest], quantum)
    low = np.full(len(cand), np.nan)
    high = np.full(len(cand), np.nan)
    low[rest], high[rest] = base.supplier_low, base.supplier_high
    offer_marginal = base.offer_marginal.copy()
    need_marginal = base.need_marginal.copy()
    for arcs, sol in graded:
        if not sol.duals:
            raise SolverError(f"the graded LP returned no dual values ({sol.detail})")
        low[arcs] = high[arcs] = sol.duals["share"]
        u, y = sol.duals["offer"], sol.duals["need"]
        offer_marginal = np.where(np.isfinite(u), u, offer_marginal)
        need_marginal = np.where(np.isfinite(y), y, need_marginal)
    methods = [m for m in base.method.split("+") if m != "none"] + ["lp_blend_dual"]
    return Valuation(low, high, offer_marginal, need_marginal, "+".join(methods))
