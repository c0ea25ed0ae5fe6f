"""Candidate arcs: every compatible (offer, need) pair within reach, with its distance.

An arc exists when a rule lets the offer's material serve the need's material, the two
belong to different enterprises, the offer meets the quality limits, and distance_km is
within the reach (the offered material's default reach, or `max_km` for every material).
distance_km is the one distance rule (`geo.distance.pair_km`): the dataset's
`distances.csv` entry for the enterprise pair where there is one, else great-circle x
circuity, or the road distance when a `geo.GeoDistances` with a road network is given
(which also applies restricted-zone rules); the reach is `reach_km`, the one reach rule.
Explanations, gaps and feedstock use the same two. Pairs are found by a vectorised radius
query per (offer material, need material) (`DistanceRule.within`), never by a Python loop
over offers x needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from symbiosis.dataset import Dataset
from symbiosis.geo.distance import DEFAULT_CIRCUITY, DistanceRule, DistanceSource
from symbiosis.taxonomy import QualityLimit, Rule, Taxonomy

if TYPE_CHECKING:
    from symbiosis.geo.provider import GeoDistances

__all__ = ["Candidates", "build_candidates", "reach_km", "rule_limit_check"]

IntArray = NDArray[np.int64]
Int32Array = NDArray[np.int32]


@dataclass(frozen=True)
class Candidates:
    """Arcs as parallel arrays; `offer` and `need` are row positions in the dataset frames.

    `rule` indexes `rules`; `from_table` marks distances taken from distances.csv;
    `quality_unverified` marks arcs allowed although the offer does not state an attribute
    a rule limits (the need itself did not ask for it). Indices are int32: a national
    instance has tens of millions of arcs, and memory is the binding limit there.
    `distance_code` is each arc's `geo.distance.DistanceSource` code (None: from_table
    alone tells); `distances` is the rule the arcs were measured with, so explanations
    measure every other pair the same way.
    """

    offer: Int32Array
    need: Int32Array
    distance_km: NDArray[np.float64]
    ratio: NDArray[np.float64]
    rule: Int32Array
    from_table: NDArray[np.bool_]
    quality_unverified: NDArray[np.bool_]
    rules: tuple[Rule, ...]
    max_km: float | None
    circuity: float
    distance_code: NDArray[np.int8] | None = None
    distances: DistanceRule | None = None

    def distance_labels(self, arcs: NDArray[np.integer] | None = None) -> NDArray[np.object_]:
        """Where the distance of each arc at `arcs` (None = all) came from, as written in
        exchanges.csv (`DistanceSource.label`); ask only for the arcs reported: labels are
        Python strings."""
        code = self.from_table.astype(np.int8) * np.int8(DistanceSource.TABLE.code) \
            if self.distance_code is None else self.distance_code
        return DistanceSource.labels(code if arcs is None else code[arcs], self.circuity)

    def distance_rule(self, dataset: Dataset) -> DistanceRule:
        """The rule these arcs were measured with (rebuilt from `dataset` and the circuity
        when the arcs were made without one)."""
        return self.distances if self.distances is not None \
            else DistanceRule.of(dataset, self.circuity)

    def __len__(self) -> int:
        return len(self.offer)

    def mixed_ratio_needs(self, n_needs: int) -> NDArray[np.bool_]:
        """Mask of needs reached at two different ratios (they need the generalised LP)."""
        lo = np.full(n_needs, np.inf)
        hi = np.full(n_needs, -np.inf)
        np.minimum.at(lo, self.need, self.ratio)
        np.maximum.at(hi, self.need, self.ratio)
        return lo < hi

    def lp_inputs(self, dataset: Dataset, arcs: NDArray[np.integer]
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64], IntArray, IntArray]:
        """An LP over the arcs at `arcs`: capacities of the offers and needs they touch, and
        each arc's offer and need index among those."""
        off_u, off_local = np.unique(self.offer[arcs], return_inverse=True)
        need_u, need_local = np.unique(self.need[arcs], return_inverse=True)
        return (dataset.offers["quantity"].to_numpy(float)[off_u],
                dataset.needs["quantity"].to_numpy(float)[need_u],
                off_local.astype(np.int64), need_local.astype(np.int64))

    def subset(self, arcs: NDArray[np.integer]) -> Candidates:
        """The arcs at positions `arcs` (same rules, reach and circuity)."""
        return replace(self, offer=self.offer[arcs], need=self.need[arcs],
                       distance_km=self.distance_km[arcs], ratio=self.ratio[arcs],
                       rule=self.rule[arcs], from_table=self.from_table[arcs],
                       quality_unverified=self.quality_unverified[arcs],
                       distance_code=None if self.distance_code is None
                       else self.distance_code[arcs])

    def frame(self, dataset: Dataset) -> pd.DataFrame:
        """The arcs as a readable table (ids, materials, distance, ratio, rule)."""
        offers, needs = dataset.offers, dataset.needs
        return pd.DataFrame({
            "offer_id": offers.index.to_numpy()[self.offer],
            "need_id": needs.index.to_numpy()[self.need],
            "offer_enterprise_id": offers["enterprise_id"].to_numpy()[self.offer],
            "need_enterprise_id": needs["enterprise_id"].to_numpy()[self.need],
            "offer_material": offers["material"].to_numpy()[self.offer],
            "need_material": needs["material"].to_numpy()[self.need],
            "distance_km": self.distance_km,
            "ratio": self.ratio,
            "rule": [self.rules[i].key for i in self.rule],
        })


def reach_km(taxonomy: Taxonomy, material: str, max_km: float | None) -> float:
    """The reach of an offered `material` in km, the one reach rule: `max_km` (the run's
    `MatchOptions.max_km`) overrides every material's default reach; a material without a
    default reach reaches everywhere (inf).

    Raises:
        KeyError: `material` is not in the taxonomy.
    """
    if max_km is not None:
        return float(max_km)
    reach = taxonomy.materials[material].default_reach_km
    return math.inf if reach is None else float(reach)


def rule_limit_check(offers: pd.DataFrame, limit: QualityLimit, rows: IntArray | None = None
                     ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """One rule limit over the offers (or the offers at `rows`): which state the attribute,
    and which pass; an offer that does not state it passes (the buyer checks on delivery)."""
    size = len(offers) if rows is None else len(rows)
    column = f"q.{limit.attribute}"
    if column not in offers.columns:
        return np.zeros(size, dtype=bool), np.ones(size, dtype=bool)
    value = offers[column].to_numpy(dtype=float)
    if rows is not None:
        value = value[rows]
    stated = np.isfinite(value)
    with np.errstate(invalid="ignore"):
        meets = value >= limit.value if limit.bound == "min" else value <= limit.value
    return stated, ~stated | meets


def _quality_mask(dataset: Dataset, rule: Rule, offer: IntArray,
                  need: IntArray) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Which arcs pass the rule's limits and the need's own min./max. requirements.

    A rule limit on an attribute the offer does not state passes but is flagged (standards
    are checked by the buyer on delivery); a need's own requirement must be met by a stated
    value, since the need asked for it explicitly.
    """
    offers, needs = dataset.offers, dataset.needs
    ok = np.ones(len(offer), dtype=bool)
    unverified = np.zeros(len(offer), dtype=bool)
    for limit in rule.limits:
        stated, passes = rule_limit_check(offers, limit, offer)
        unverified |= ~stated
        ok &= passes
    for column in needs.columns:
        if not column.startswith(("min.", "max.")):
            continue
        bound = needs[column].to_numpy(dtype=float)[need]
        active = np.isfinite(bound)
        if not active.any():
            continue
        q_column = "q." + column.split(".", 1)[1]
        if q_column not in offers.columns:
            ok &= ~active
            continue
        value = offers[q_column].to_numpy(dtype=float)[offer]
        with np.errstate(invalid="ignore"):
            passes = value >= bound if column.startswith("min.") else value <= bound
        ok &= ~active | (np.isfinite(value) & passes)
    return ok, unverified & ok


def build_candidates(
    dataset: Dataset,
    max_km: float | None = None,
    circuity: float = DEFAULT_CIRCUITY,
    distances: GeoDistances | None = None,
) -> Candidates:
    """All candidate arcs of `dataset` (see the module docstring for the exact rule).

    `distances` (geo.GeoDistances) replaces great-circle x circuity by road distances and
    applies zone rules to the computed (not distances.csv) arcs.
    """
    if circuity <= 0 or not math.isfinite(circuity):
        raise ValueError(f"circuity must be a positive number, got {circuity}")
    if max_km is not None and (max_km < 0 or math.isnan(max_km)):
        raise ValueError(f"max_km must be >= 0, got {max_km}")
    offers, needs, ent = dataset.offers, dataset.needs, dataset.enterprises
    off_ent = ent.index.get_indexer(offers["enterprise_id"]).astype(np.int64)
    need_ent = ent.index.get_indexer(needs["enterprise_id"]).astype(np.int64)
    measure = DistanceRule.of(dataset, circuity, distances)

    off_by_mat = _positions_by(offers["material"])
    need_by_mat = _positions_by(needs["material"])
    rules: list[Rule] = []
    parts: list[tuple[IntArray, IntArray, np.ndarray, np.ndarray, int]] = []
    codes: list[np.ndarray] = []
    if distances is not None:
        reach_of = {m: reach_km(dataset.taxonomy, m, max_km) for m in off_by_mat}
        per_offer = offers["material"].map(reach_of).to_numpy(float)
        limit = pd.Series(per_offer).groupby(off_ent).max()
        distances.prepare(limit.index.to_numpy(np.int64), limit.to_numpy(float))
    for need_mat, need_idx in need_by_mat.items():
        for offer_mat in dataset.taxonomy.offer_materials_for(need_mat):
            offer_idx = off_by_mat.get(offer_mat)
            rule = dataset.taxonomy.rule(need_mat, offer_mat)
            if offer_idx is None or rule is None:
                continue
            reach = reach_km(dataset.taxonomy, offer_mat, max_km)
            i, j, km, code = measure.within(off_ent[offer_idx], need_ent[need_idx], reach,
                                            offer_mat)
            o, n = offer_idx[i], need_idx[j]
            from_table = code == DistanceSource.TABLE.code
            ok, unverified = _quality_mask(dataset, rule, o, n)
            rules.append(rule)
            parts.append((o[ok].astype(np.int32), n[ok].astype(np.int32), km[ok],
                          np.column_stack([from_table[ok], unverified[ok]]), len(rules) - 1))
            if distances is not None:
                codes.append(code[ok])
    if parts:
        offer = np.concatenate([p[0] for p in parts])
        need = np.concatenate([p[1] for p in parts])
        dist = np.concatenate([p[2] for p in parts])
        flags = np.concatenate([p[3] for p in parts])
        rule_idx = np.concatenate([np.full(len(p[0]), p[4], np.int32) for p in parts])
        del parts
    else:
        offer = need = rule_idx = np.empty(0, np.int32)
        dist = np.empty(0)
        flags = np.empty((0, 2), dtype=bool)
    ratio = np.array([r.ratio for r in rules], float)[rule_idx] if rules else np.empty(0)
    return Candidates(offer=offer, need=need,
                      distance_km=dist, ratio=ratio, rule=rule_idx,
                      from_table=flags[:, 0].copy(), quality_unverified=flags[:, 1].copy(),
                      rules=tuple(rules), max_km=max_km, circuity=circuity,
                      distance_code=None if distances is None else
                      np.concatenate(codes or [np.empty(0, np.int8)]),
                      distances=measure)


def _positions_by(values: pd.Series) -> dict[str, IntArray]:
    codes, uniques = pd.factorize(values, sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {str(u): order[bounds[k]:bounds[k + 1]].astype(np.int64)
            for k, u in enumerate(uniques)}
