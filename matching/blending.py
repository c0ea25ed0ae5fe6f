"""Blending and heat cascades: the graded LP, solved by HiGHS (`flow._HighsLP`).

Where a need takes a blend (`MatchOptions.blend`, or the need's `blend` = yes), every
offer that states the limited attributes may serve it, even one over a limit alone; the
limits hold on the mass-weighted average of what the need receives. For a limit
(attribute k, value L) of need n:

    max limit:  sum_{a into n} (v_{o(a),k} - L) * x_a <= 0
    min limit:  sum_{a into n} (L - v_{o(a),k}) * x_a <= 0

over all arcs into n for the need's own `min.`/`max.` requirements (including its GB/T
19923 water class), and over the arcs of one rule for that rule's limits (a standard's
limit applies to the material it names: fly ash to GB/T 1596, slag to GB/T 18046).
Weights are offer units (t, m3) of each offered material. An offer that does not state a
limited attribute cannot be blended in (its value is unknown), whatever
`accept_unstated_quality` says; temperature is never blended (heat is judged per arc at
delivery, `matching.heat`).

Heat cascade rows (`matching.heat.with_return_offers`): the return offer r of need i

    sum_{a out of r} x_a - share_i * sum_{a into i} ratio_a * x_a <= 0

The rest is the generalised transport LP of `matching.model`. Lexicographic stages, each
solved on the optimal face of the stages before it (`flow._HighsLP.keep_optimal_face`: the
bounds that complementary slackness says every optimum keeps are fixed; where HiGHS gives no
dual solution, a row holds the stage's optimum to within 1e-9 relative instead):

    1. maximise sum x_a over arcs of listed offers          (offered units delivered)
    2. minimise sum s_o                                      (stockpile drawn; if any)
    3. maximise sum x_a over arcs of return offers           (cascaded heat; if any)
    4. minimise sum km_a * x_a                               (unit-km)

| symbol  | attribute                                               |
|---------|---------------------------------------------------------|
| x_a     | flow on arc a, offer units/yr                           |
| v_{o,k} | `offers["q.<k>"]`                                       |
| L       | rule limit (rule_limits.csv) or need `min.`/`max.<k>`    |
| share_i | `needs.return_share`                                    |
| s_o     | stockpile drawn, 0 <= s_o <= `offers.stock`             |

Value objectives (`cost`, `co2`, `weighted`) replace the stages by: 1. maximise
sum w_a x_a with the network path's w_a (`matching.model.objective_weights` over
`matching.economics.arc_values`: one formula for both paths), stockpiles drawn like
surplus; 2. minimise the flow on arcs with w_a <= 0 (kept in the LP: a blend or a cascade
may pay for them). Prices and marginal values are the first stage's duals of the offer and
need rows (`solve_graded`, `matching.model._valuate`).

Components (materials joined by rules) with no blending need and no return offer stay
with min-cost flow (or the ratio LP); this module solves only the others.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from symbiosis.dataset import Dataset
from symbiosis.matching.candidates import Candidates, build_candidates, candidates_for
from symbiosis.matching.flow import (
    LP_STAGE_TOLERANCE,
    FlowSolution,
    SolverStatus,
    _drop_slack_flows,
    _HighsLP,
    held_note,
)
from symbiosis.matching.heat import (
    TEMPERATURE,
    cascade_needs,
    delivered_temperature,
    heat_applies,
    offer_media,
    too_cold,
    with_heat_at_delivery,
    with_return_offers,
)
from symbiosis.taxonomy import QualityLimit, Rule

if TYPE_CHECKING:
    from symbiosis.geo.provider import GeoDistances
    from symbiosis.matching.options import MatchOptions
    from symbiosis.matching.result import MatchResult

__all__ = ["BLEND_COLUMNS", "BlendLimit", "Grades", "blend_frame", "blend_needs",
           "prepare_grades", "rebuilt_needs", "solve_graded"]

STAGE_TOLERANCE_MAX = 1e-6  # widest relative slack a stage's optimum is kept within
NOT_BLENDED = frozenset({TEMPERATURE})  # judged per arc at delivery, never averaged
BLEND_COLUMNS = ["need_id", "need_enterprise_id", "need_material", "attribute", "bound",
                 "limit", "average", "quantity", "offers", "scope", "source"]


@dataclass(frozen=True)
class BlendLimit:
    """One linear blend row: need position, attribute, `min`/`max`, value, the rule it
    belongs to (None: the need's own requirement, over every arc into the need)."""

    need: int
    attribute: str
    bound: str
    value: float
    rule_key: str | None
    source: str


@dataclass(frozen=True)
class Grades:
    """What a graded run adds to the plain model: blending needs and their limits, return
    offers of the heat cascade (offer position -> need position and share), and whether
    heat is judged at delivery."""

    blend_need: NDArray[np.bool_]
    limits: tuple[BlendLimit, ...] = ()
    returns: dict[int, tuple[int, float]] = field(default_factory=dict)
    heat: bool = False

    def graded_arcs(self, cand: Candidates) -> NDArray[np.bool_]:
        """Arcs that need the graded LP: into a blending need, or out of a return offer."""
        mask = self.blend_need[cand.need] if len(self.blend_need) else \
            np.zeros(len(cand), bool)
        if self.returns:
            mask = mask | np.isin(cand.offer, np.fromiter(self.returns, np.int64))
        return mask


def _need_own_limits(dataset: Dataset, n: int) -> list[tuple[str, str, float]]:
    row = dataset.needs.iloc[n]
    out = []
    for column in dataset.needs.columns:
        if column.startswith(("min.", "max.")):
            value = float(row[column])
            bound, attr = column.split(".", 1)
            if math.isfinite(value) and attr not in NOT_BLENDED:
                out.append((attr, bound, value))
    return out


def _rule_limits(rule: Rule | None) -> list[QualityLimit]:
    return [] if rule is None else [lim for lim in rule.limits
                                    if lim.attribute not in NOT_BLENDED]


def blend_needs(dataset: Dataset, blend_all: bool) -> NDArray[np.bool_]:
    """Needs that take a blend: `blend_all` or the need's `blend` = yes, and the need has a
    blendable limit of its own or through a rule of the offers that can serve it."""
    needs = dataset.needs
    asked = np.full(len(needs), blend_all)
    if "blend" in needs:
        asked |= (needs["blend"].astype(str) == "yes").to_numpy()
    tax = dataset.taxonomy
    out = np.zeros(len(needs), bool)
    offered = set(dataset.offers["material"])
    for n in np.flatnonzero(asked):
        mat = str(needs["material"].iat[n])
        limited = bool(_need_own_limits(dataset, int(n))) or any(
            _rule_limits(tax.rule(mat, om)) for om in tax.offer_materials_for(mat)
            if om in offered)
        out[n] = limited
    return out


def _relaxed_arcs(dataset: Dataset, cand: Candidates, blend: NDArray[np.bool_],
                  options: MatchOptions, distances: GeoDistances | None,
                  heat: bool, blending: bool = True) -> Candidates:
    """`cand` with the arcs into the needs in `blend` rebuilt without the limits checked
    later: the blendable ones (`blending`; only offers that state every limited attribute
    are kept) and, when heat is judged at delivery (`heat`), the temperature at the
    source."""
    where = np.flatnonzero(blend)
    needs = dataset.needs.iloc[where].copy()

    def later(attribute: str) -> bool:
        return (heat and attribute in NOT_BLENDED) or (
            blending and attribute not in NOT_BLENDED)

    for column in needs.columns:
        if column.startswith(("min.", "max.")) and later(column.split(".", 1)[1]):
            needs[column] = np.nan
    tax = dataset.taxonomy
    stripped = {key: replace(rule, limits=tuple(lim for lim in rule.limits
                                                if not later(lim.attribute)))
                for key, rule in tax.rules.items()}
    sub = replace(dataset, needs=needs, taxonomy=replace(tax, rules=stripped))
    extra = build_candidates(sub, options.max_km, options.circuity, distances,
                             accept_unstated_quality=options.accept_unstated_quality)
    need = where[extra.need]
    offers = dataset.offers
    keep = np.ones(len(extra), bool)

    def states(attribute: str) -> NDArray[np.bool_]:
        """Per arc of `extra`: whether its offer states `attribute` (a number)."""
        col = f"q.{attribute}"
        if col not in offers:
            return np.zeros(len(extra), bool)
        return np.isfinite(offers[col].to_numpy(float)[extra.offer])

    rules: list[Rule] = list(cand.rules)
    index = {r.key: i for i, r in enumerate(rules)}
    rule_map = np.zeros(len(extra.rules), np.int32)
    for k, r in enumerate(extra.rules):
        original = tax.rule(r.need_material, r.offer_material) or r
        if original.key not in index:
            index[original.key] = len(rules)
            rules.append(original)
        rule_map[k] = index[original.key]
        attrs = [lim.attribute for lim in _rule_limits(original)] if blending else []
        on_rule = extra.rule == k
        for attr in attrs:
            keep &= ~on_rule | states(attr)
    for j, n in enumerate(where if blending else ()):
        own = [a for a, _, _ in _need_own_limits(dataset, int(n))]
        into = extra.need == j
        for attr in own:
            keep &= ~into | states(attr)
    extra = extra.subset(np.flatnonzero(keep))
    need = need[keep]
    # the kept arcs of `cand`, then the rebuilt ones, written into one new array per field
    # (a subset copy then a concatenation held three copies of every arc at once: 2.8 GiB
    # on the national instance)
    kept = ~blend[cand.need]
    n_kept = int(kept.sum())
    every = n_kept == len(cand)  # the first build left these needs out: nothing to drop

    def joined(old: NDArray[Any], new: NDArray[Any], dtype: Any = None) -> NDArray[Any]:
        out = np.empty(n_kept + len(new), dtype or old.dtype)
        out[:n_kept] = old if every else old[kept]
        out[n_kept:] = new
        return out

    code = None
    if cand.distance_code is not None or extra.distance_code is not None:
        code = joined(cand.distance_code if cand.distance_code is not None
                      else cand.from_table.astype(np.int8),
                      extra.distance_code if extra.distance_code is not None
                      else extra.from_table.astype(np.int8), np.int8)
    return replace(
        cand,
        offer=joined(cand.offer, extra.offer, np.int32),
        need=joined(cand.need, need, np.int32),
        distance_km=joined(cand.distance_km, extra.distance_km),
        ratio=joined(cand.ratio, extra.ratio),
        rule=joined(cand.rule, rule_map[extra.rule], np.int32),
        from_table=joined(cand.from_table, extra.from_table),
        quality_unverified=joined(cand.quality_unverified, extra.quality_unverified),
        rules=tuple(rules), distance_code=code).with_blocked(extra.blocked_entries())


def heat_served_needs(dataset: Dataset) -> NDArray[np.bool_]:
    """Needs that an energy-family offer (waste heat) may serve under the dataset's rules:
    the only arcs heat at delivery rebuilds (the others keep theirs, so a dataset with a
    little heat does not build all its arcs twice)."""
    tax = dataset.taxonomy
    family = {slug: str(m.family) for slug, m in tax.materials.items()}
    materials = dataset.needs["material"].astype(str)
    served = {m: any(family.get(o) == "energy" for o in tax.offer_materials_for(m))
              for m in materials.unique()}
    return materials.map(served).to_numpy(dtype=bool)


def _limits(dataset: Dataset, cand: Candidates, blend: NDArray[np.bool_]
            ) -> tuple[BlendLimit, ...]:
    out: list[BlendLimit] = []
    needs = dataset.needs
    for n in np.flatnonzero(blend):
        for attr, bound, value in _need_own_limits(dataset, int(n)):
            wc = str(needs["water_class"].iat[n]) if "water_class" in needs else ""
            src = f"need's {bound}.{attr}" + (f" (GB/T 19923 class {wc})" if wc else "")
            out.append(BlendLimit(int(n), attr, bound, value, None, src))
        for r in sorted({int(i) for i in cand.rule[cand.need == n]}):
            for lim in _rule_limits(cand.rules[r]):
                out.append(BlendLimit(int(n), lim.attribute, lim.bound, lim.value,
                                      cand.rules[r].key, lim.source))
    return tuple(out)


def rebuilt_needs(dataset: Dataset, options: MatchOptions) -> NDArray[np.bool_] | None:
    """The needs whose arcs `prepare_grades` builds again under its own rules (None: none),
    so the first build can leave them out (`build_candidates(skip_needs=...)`) and the
    national instance's heat arcs are not built twice: every need when a cascade adds
    return offers (all arcs are rebuilt), else the heat-served needs when heat is judged at
    delivery and the blending needs."""
    if cascade_needs(dataset).any():
        return np.ones(len(dataset.needs), bool)
    skip = blend_needs(dataset, options.blend)
    if heat_applies(dataset, options.heat_at_delivery, options.heat_at_source):
        skip = skip | heat_served_needs(dataset)
    return skip if skip.any() else None


def prepare_grades(dataset: Dataset, cand: Candidates, options: MatchOptions,
                   distances: GeoDistances | None = None
                   ) -> tuple[Dataset, Candidates, Grades | None]:
    """The dataset and arcs of a graded run, and what grades it (None: nothing does, the
    run is the plain one). Adds the cascade's return offers (rebuilding the arcs), rebuilds
    the arcs into blending needs, and judges heat at delivery (`matching.heat`). `cand`
    may hold the arcs into `rebuilt_needs` or not: the result is the same."""
    blend = blend_needs(dataset, options.blend)
    heat = heat_applies(dataset, options.heat_at_delivery, options.heat_at_source)
    if not blend.any() and not heat and not cascade_needs(dataset).any():
        return dataset, cand, None
    returns: dict[int, tuple[int, float]] = {}
    if cascade_needs(dataset).any():
        n_before = len(dataset.offers)
        dataset = with_return_offers(dataset)
        cand = candidates_for(dataset, options, distances)
        need_pos = dataset.needs.index.get_indexer(
            dataset.offers["cascade_of"].to_numpy(dtype=object)[n_before:])
        share = dataset.needs["return_share"].to_numpy(float)
        returns = {n_before + k: (int(p), float(share[p])) for k, p in enumerate(need_pos)}
    if heat:  # temperature judged at delivery below, not at the source
        cand = _relaxed_arcs(dataset, cand, heat_served_needs(dataset), options,
                             distances, heat=True, blending=False)
    if blend.any():
        cand = _relaxed_arcs(dataset, cand, blend, options, distances, heat)
    if heat:
        cand = with_heat_at_delivery(dataset, cand, options.accept_unstated_quality)
    return dataset, cand, Grades(blend, _limits(dataset, cand, blend), returns, heat)


# --------------------------------------------------------------------------------------
# the LP


def limit_arcs(grades: Grades, offers: pd.DataFrame, offer: NDArray[np.integer],
               need: NDArray[np.integer], rule_key: NDArray[np.object_]
               ) -> Iterator[tuple[BlendLimit, NDArray[np.int64], NDArray[np.float64]]]:
    """Each blending limit of `grades` with the positions of its arcs (into its need, under
    its rule for a rule limit) among the arcs given by `offer`, `need` and `rule_key`
    (same length), and each arc's coefficient in the limit's row: the offer's value above a
    max limit (below a min limit), 0 where the offer states none. The mass-weighted average
    meets the limit exactly when the coefficients times the flows sum to at most 0."""
    q_cache: dict[str, NDArray[np.float64]] = {}
    for lim in grades.limits:
        into = need == lim.need
        if lim.rule_key is not None:
            into &= rule_key == lim.rule_key
        sel = np.flatnonzero(into).astype(np.int64)
        if not len(sel):
            continue
        if lim.attribute not in q_cache:
            col = f"q.{lim.attribute}"
            q_cache[lim.attribute] = offers[col].to_numpy(float) if col in offers \
                else np.full(len(offers), np.nan)
        v = q_cache[lim.attribute][offer[sel]]
        c = (v - lim.value) if lim.bound == "max" else (lim.value - v)
        yield lim, sel, np.nan_to_num(c, nan=0.0)


def solve_graded(dataset: Dataset, cand: Candidates, arcs: NDArray[np.integer],
                 grades: Grades, time_limit_s: float | None = None,
                 weights: NDArray[np.float64] | None = None) -> FlowSolution:
    """The graded LP (module docstring) over the arcs at `arcs`; flows in offer units.

    `weights` (None: the default objective) are a value objective's w_a per offer unit on
    every candidate arc (`matching.model.objective_weights`: the same coefficients as the
    min-cost-flow path). Then the stages are

        1. maximise sum w_a x_a                      (CNY, t CO2e or the weighted sum)
        2. minimise sum x_a over arcs with w_a <= 0   (no flow that adds nothing; if any)

    over the same rows, with stockpiles drawn like surplus (the value path offers
    quantity + stock). Arcs with w_a <= 0 stay in the LP (unlike the network path, which
    drops them without loss): a blend or a cascade may pay for one.

    The solution's `duals` are stage 1's, per unit of right-hand side and >= 0: `offer`
    and `need` (one entry per dataset offer and need, NaN outside these arcs: objective
    units per offer unit and per need unit of capacity) and `share` (per arc of `arcs`:
    min(u_o, w_a), the supplier's share at that dual point).

    Returns a FlowSolution with status ERROR (naming the stage) when HiGHS does not prove a
    stage optimal; its `stages` are the values of the stages that ran.
    """
    start = time.perf_counter()
    arcs = np.asarray(arcs, np.int64)
    offer, need = cand.offer[arcs].astype(np.int64), cand.need[arcs].astype(np.int64)
    ratio, km = cand.ratio[arcs], cand.distance_km[arcs]
    n_a = len(arcs)
    offers, needs = dataset.offers, dataset.needs
    off_u, off_l = np.unique(offer, return_inverse=True)
    need_u, need_l = np.unique(need, return_inverse=True)
    n_o, n_n = len(off_u), len(need_u)
    supply = offers["quantity"].to_numpy(float)[off_u]
    stock = np.nan_to_num(offers["stock"].to_numpy(float), nan=0.0)[off_u] \
        if "stock" in offers else np.zeros(n_o)
    is_return = np.isin(off_u, np.fromiter(grades.returns, np.int64))
    supply = np.where(is_return, 0.0, supply)
    stock = np.where(is_return, 0.0, stock)
    piles = np.flatnonzero(stock > 0)
    upper = np.concatenate([np.full(n_a, np.inf), stock[piles]])
    ar = np.arange(n_a, dtype=np.int64)
    rows = [off_l, n_o + need_l, piles.astype(np.int64)]
    cols = [ar, ar, n_a + np.arange(len(piles), dtype=np.int64)]
    coef = [np.ones(n_a), ratio, -np.ones(len(piles))]
    rhs = [supply, needs["quantity"].to_numpy(float)[need_u]]
    next_row = n_o + n_n
    # heat cascade: what a return offer gives is bounded by the heat its need receives
    for r_local in np.flatnonzero(is_return):
        n_pos, share = grades.returns[int(off_u[r_local])]
        into = np.flatnonzero(need == n_pos)
        rows.append(np.full(len(into), r_local, np.int64))
        cols.append(into)
        coef.append(-share * ratio[into])
    # blend rows
    rule_key = np.array([r.key for r in cand.rules], dtype=object)[cand.rule[arcs]] \
        if n_a else np.empty(0, dtype=object)
    blend_rows: list[BlendLimit] = []
    for lim, sel, c in limit_arcs(grades, offers, offer, need, rule_key):
        rows.append(np.full(len(sel), next_row, np.int64))
        cols.append(sel)
        coef.append(c)
        blend_rows.append(lim)
        next_row += 1
    rhs.append(np.zeros(next_row - n_o - n_n))
    lp = _HighsLP.from_entries(upper, np.concatenate(rows), np.concatenate(cols),
                               np.concatenate(coef), np.concatenate(rhs), time_limit_s)
    no_piles = np.zeros(len(piles))
    stages: list[tuple[str, NDArray[np.float64], bool]]
    if weights is None:
        w1 = (~is_return[off_l]).astype(float)  # stage 1 values each listed unit at 1
        stages = [("delivered", np.concatenate([w1, no_piles]), True)]
        if len(piles):
            stages.append(("stockpile drawn", np.concatenate([np.zeros(n_a),
                                                              np.ones(len(piles))]), False))
        if is_return.any():
            stages.append(("cascaded heat", np.concatenate(
                [is_return[off_l].astype(float), no_piles]), True))
        stages.append(("unit-km", np.concatenate([km, no_piles]), False))
    else:
        w1 = np.asarray(weights, float)[arcs]
        stages = [("value", np.concatenate([w1, no_piles]), True)]
        if (w1 <= 0).any():
            stages.append(("flow without value", np.concatenate(
                [(w1 <= 0).astype(float), no_piles]), False))
    values: list[float] = []
    held: list[tuple[int, float, bool]] = []  # stages held by a row (no duals to fix a face)
    widest = LP_STAGE_TOLERANCE
    duals: dict[str, NDArray[np.float64]] = {}
    for k, (name, c, maximize) in enumerate(stages):
        lp.set_objective(0, c, maximize)
        status, value, words = lp.solve()
        tolerance = LP_STAGE_TOLERANCE
        while status is SolverStatus.INFEASIBLE and held and tolerance < STAGE_TOLERANCE_MAX:
            # the solver's feasibility tolerance (about 1e-7 absolute) can leave a held
            # stage's optimum just out of reach: widen the holding rows
            tolerance *= 10
            for row, fixed, up in held:
                slack = tolerance * max(abs(fixed), 1.0)
                if up:
                    lp.set_row_bounds(row, fixed - slack, math.inf)
                else:
                    lp.set_row_bounds(row, -math.inf, fixed + slack)
            status, value, words = lp.solve()
        widest = max(widest, tolerance)
        if status is not SolverStatus.OPTIMAL:
            return FlowSolution(SolverStatus.ERROR, np.zeros(n_a), math.nan, math.nan,
                                time.perf_counter() - start, "lp_blend",
                                stages=tuple(values), detail=f"stage {k + 1} ({name}): {words}")
        values.append(value)
        if k == 0:
            duals = _stage_duals(lp, len(offers), len(needs), off_u, need_u, off_l, w1)
        if k + 1 < len(stages) and not lp.keep_optimal_face(
                float(np.abs(c).max(initial=1.0))):
            slack = LP_STAGE_TOLERANCE * max(abs(value), 1.0)
            held.append((lp.add_row(c, value - slack if maximize else -math.inf,
                                    math.inf if maximize else value + slack),
                         value, maximize))
    x = lp.columns(n_a)
    note = held_note(widest) if held else ""
    if weights is not None:
        flows = _drop_slack_flows(x, float(x.sum()))
        objective = float(flows @ w1)
        # an optimal LP's objective is its dual bound too (HiGHS' tolerances, 1e-7)
        return FlowSolution(SolverStatus.OPTIMAL, flows, objective,
                            max(values[0], objective), time.perf_counter() - start,
                            "lp_blend", stages=(objective,), detail=note, duals=duals)
    flows = _drop_slack_flows(x, values[0])
    objective = float(flows @ km)
    bound = min(values[-1], objective)
    return FlowSolution(SolverStatus.OPTIMAL, flows, objective, bound,
                        time.perf_counter() - start, "lp_blend",
                        stages=(*values[:-1], objective), detail=note, duals=duals)


def _stage_duals(lp: _HighsLP, n_offers: int, n_needs: int, off_u: NDArray[np.int64],
                 need_u: NDArray[np.int64], off_l: NDArray[np.int64],
                 w: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
    """Offer and need row duals of a maximisation (>= 0 per unit of rhs) spread to every
    dataset offer and need (NaN elsewhere), and each arc's supplier share min(u_o, w_a);
    empty when HiGHS has no dual solution."""
    rows = lp.duals(len(off_u), len(off_u) + len(need_u))
    if not rows:
        return {}
    offer = np.full(n_offers, np.nan)
    need = np.full(n_needs, np.nan)
    offer[off_u] = rows["supply"]
    need[need_u] = rows["demand"]
    return {"offer": offer, "need": need,
            "share": np.minimum(rows["supply"][off_l], w)}


# --------------------------------------------------------------------------------------
# reports


def blend_frame(dataset: Dataset, cand: Candidates, flows: NDArray[np.float64],
                grades: Grades) -> pd.DataFrame:
    """One row per blending need and limit (BLEND_COLUMNS): the mass-weighted average of
    the attribute over what the need receives (over the rule's arcs for a rule limit)
    against the limit, the quantity blended and the offers in the blend."""
    needs, offers = dataset.needs, dataset.offers
    live = flows > 0
    rule_key = np.array([r.key for r in cand.rules], dtype=object)[cand.rule] \
        if len(cand) else np.empty(0, dtype=object)
    rows = []
    for lim in grades.limits:
        sel = live & (cand.need == lim.need)
        if lim.rule_key is not None:
            sel &= rule_key == lim.rule_key
        idx = np.flatnonzero(sel)
        qty = float(flows[idx].sum())
        col = f"q.{lim.attribute}"
        v = offers[col].to_numpy(float)[cand.offer[idx]] if col in offers \
            else np.full(len(idx), np.nan)
        avg = float(v @ flows[idx] / qty) if qty > 0 else math.nan
        rows.append({
            "need_id": needs.index[lim.need],
            "need_enterprise_id": needs["enterprise_id"].iat[lim.need],
            "need_material": needs["material"].iat[lim.need],
            "attribute": lim.attribute, "bound": lim.bound, "limit": lim.value,
            "average": avg, "quantity": qty,
            "offers": ";".join(f"{offers.index[o]}={q:g}" for o, q in
                               zip(cand.offer[idx], flows[idx], strict=True)),
            "scope": "need" if lim.rule_key is None else lim.rule_key,
            "source": lim.source,
        })
    return pd.DataFrame(rows, columns=BLEND_COLUMNS)


def annotate(result: MatchResult, dataset: Dataset, cand: Candidates,
             flows: NDArray[np.float64], grades: Grades) -> MatchResult:
    """The result with its blends (`MatchResult.blends`, written as blends.csv) and, for
    heat judged at delivery, each heat exchange's medium and delivered temperature."""
    ex = result.exchanges.copy()
    if grades.heat and len(ex) and f"q.{TEMPERATURE}" in dataset.offers:
        pos = dataset.offers.index.get_indexer(ex["offer_id"])
        temp = dataset.offers[f"q.{TEMPERATURE}"].to_numpy(float)[pos]
        media = offer_media(dataset)[pos]
        arrived = delivered_temperature(temp, media, ex["distance_km"].to_numpy(float))
        ex["medium"] = media
        ex["supply_temperature_c"] = temp
        ex["delivered_temperature_c"] = arrived
        if "cascade_of" in dataset.offers:
            ex["cascade_of"] = dataset.offers["cascade_of"].to_numpy(dtype=object)[pos]
    offers = result.offers
    if grades.heat and "reason" in offers and "explanation" in offers:
        cold = offers["reason"].astype(str).str.contains("quality").to_numpy() & \
            (offers["unmatched"].to_numpy(float) > 0)
        rows = dataset.offers.index.get_indexer(offers.loc[cold, "offer_id"])
        texts = too_cold(dataset, cand, rows, cand.max_km)
        if texts:
            offers = offers.copy()
            expl = offers["explanation"].to_numpy(dtype=object).copy()
            for k, r in zip(np.flatnonzero(cold), rows, strict=True):
                if int(r) in texts:
                    expl[k] = texts[int(r)]
            offers["explanation"] = expl
    # blends.csv only where some need blends (heat at delivery alone has no blend)
    blends = blend_frame(dataset, cand, flows, grades) if grades.blend_need.any() \
        else result.blends
    return replace(result, exchanges=ex, offers=offers, blends=blends)
