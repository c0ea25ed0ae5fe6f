"""The lean report of large runs: the plan's figures without the per-arc explanations.

At national scale (10^7 candidate arcs) the explanations (the best alternatives of every
exchange, the reasons of every offer left unmatched) and the dual values (core prices,
marginal values) cost more than the solve (64 s and 11 s of a 194 s run, measured
2026-11-30), and the per-arc money arrays the report builds (ten float64 arrays the size of
the arcs) more memory than the solver. Above `EXPLAIN_MAX_ARCS` candidate arcs a run
therefore skips them unless asked (`MatchOptions.explain`, `--explain`), says so in
summary.json's `warnings` and in the skipped columns, and values only the arcs that carry
flow. Every figure that is reported is the one the full report gives: the exchanges, their
money and carbon, the offers' and needs' status, the KPIs and the candidate counts
(`tests/matching/test_lean.py`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from symbiosis.dataset import Dataset
from symbiosis.i18n import t
from symbiosis.matching.candidates import Candidates
from symbiosis.matching.economics import ArcValues, arc_values
from symbiosis.matching.options import MatchOptions
from symbiosis.matching.result import MatchResult, SolverFacts, assemble_result

__all__ = ["EXPLAIN_MAX_ARCS", "explains", "for_park", "lean_result", "lean_warnings"]

# above this many candidate arcs the report is lean by default. A park or a city (the
# 300-enterprise benchmark park: 3,152 arcs) stays far below it. At the 3,000-enterprise
# benchmark province (332,199 arcs) the explanations and dual values took 0.19 s of a 0.57 s
# in-process run, three times the candidates and the solve together (2026-11-30), and
# the province's analysts ask for them with --explain. A run scoped to one park (`--park`)
# explains by default at any size: its manager reads them.
EXPLAIN_MAX_ARCS = 100_000


def explains(options: MatchOptions, n_arcs: int) -> bool:
    """Whether a run with `options` on `n_arcs` candidate arcs computes the explanations
    and dual values: as `options.explain` says, else up to EXPLAIN_MAX_ARCS arcs."""
    return options.explain if options.explain is not None else n_arcs <= EXPLAIN_MAX_ARCS


def for_park(options: MatchOptions) -> MatchOptions:
    """The options of a run scoped to one park (`symbiosis match --park`): explained at any
    size unless `options.explain` says otherwise, because the park's manager reads them."""
    return options if options.explain is not None else options.model_copy(
        update={"explain": True})


def lean_warnings(options: MatchOptions, n_arcs: int) -> list[str]:
    """What a lean run did not compute, for summary.json's `warnings` (empty when full)."""
    if explains(options, n_arcs):
        return []
    if options.explain is False:  # asked for: no size to quote
        return [t("lean.no_explanations_asked")] + (
            [t("lean.no_prices_asked")] if options.valuate else [])
    params = {"arcs": n_arcs, "limit": EXPLAIN_MAX_ARCS}
    notes = [t("lean.no_explanations", **params)]
    if options.valuate:
        notes.append(t("lean.no_prices", **params))
    return notes


def lean_result(dataset: Dataset, cand: Candidates, flows: np.ndarray, facts: SolverFacts,
                options: MatchOptions, timings: dict[str, float],
                values: ArcValues | None, warnings: tuple[str, ...]) -> MatchResult:
    """`assemble_result` without explanations or dual values, on the arcs that carry flow.

    `flows` is per arc of `cand` (offer units); `values` the per-arc money of `cand` when
    the objective needed it (else only the flowing arcs are valued here). The report is
    built on the flowing arcs alone, then the two figures that count every candidate arc
    (`candidate_arcs`, each offer's `candidate_needs`, each need's `candidate_offers`)
    are set from `cand`.
    """
    keep = np.flatnonzero(flows > 0)
    sub = cand.subset(keep)
    if values is None:
        sub_values = arc_values(dataset, cand, options.economics, arcs=keep)
    else:
        sub_values = _values_at(values, keep)
    result = assemble_result(dataset, sub, flows[keep], facts, options, timings, sub_values,
                             None, None, warnings, not_explained=t("lean.not_explained"))
    offers = result.offers.copy()
    offers["candidate_needs"] = np.bincount(cand.offer, minlength=len(dataset.offers))
    needs = result.needs.copy()
    needs["candidate_offers"] = np.bincount(cand.need, minlength=len(dataset.needs))
    return replace(result, offers=offers, needs=needs, candidates=len(cand)).with_summary(
        candidate_arcs=len(cand))


def _values_at(values: ArcValues, arcs: np.ndarray) -> ArcValues:
    """The per-arc money of `values` at `arcs` (same info)."""
    def at(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[arcs]

    return ArcValues(
        avoided_disposal=values.avoided_disposal[arcs],
        avoided_virgin=values.avoided_virgin[arcs], transport=values.transport[arcs],
        treatment=values.treatment[arcs], co2_avoided_kg=values.co2_avoided_kg[arcs],
        co2_transport_kg=values.co2_transport_kg[arcs], info=values.info,
        pipe_fixed=at(values.pipe_fixed), pipe_unit=at(values.pipe_unit),
        co2_processing_kg=at(values.co2_processing_kg))
