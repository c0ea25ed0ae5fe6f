"""Candidate arcs: every compatible (offer, need) pair within reach, with its distance.

An arc exists when a rule lets the offer's material serve the need's material, the two
belong to different enterprises, the offer states and meets the rule's quality limits
(an unstated limited attribute blocks the arc unless unstated quality is accepted), a
hazardous waste goes to a receiver licensed for its code, and distance_km is within the
reach (the offered material's default reach, or `max_km` for every material).
distance_km is the one distance rule (`geo.distance.pair_km`): the dataset's
`distances.csv` entry for the enterprise pair where there is one, else great-circle x
circuity, or the road distance when a `geo.GeoDistances` with a road network is given
(which also applies restricted-zone rules); the reach is `reach_km`, the one reach rule.
Explanations, gaps and feedstock use the same two. Pairs are found by a vectorised radius
query per (offer material, need material) (`DistanceRule.within`), never by a Python loop
over offers x needs.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from symbiosis.dataset import Dataset
from symbiosis.geo.distance import DEFAULT_CIRCUITY, DistanceRule, DistanceSource
from symbiosis.matching.parts import usable_cores
from symbiosis.taxonomy import QualityLimit, Rule, Taxonomy

if TYPE_CHECKING:
    from symbiosis.geo.provider import GeoDistances
    from symbiosis.matching.options import MatchOptions

__all__ = ["BLOCK_NO_LICENCE", "BLOCK_QUALITY_NOT_STATED", "Candidates", "build_candidates",
           "candidates_for", "licensed_mask", "reach_km", "rule_limit_check"]

# kinds of arcs dropped for a reason the offer's owner can act on (Candidates.blocked_*)
BLOCK_QUALITY_NOT_STATED = "quality_not_stated"  # detail: the attribute
BLOCK_NO_LICENCE = "no_licence"  # detail: the hazardous-waste code

IntArray = NDArray[np.int64]
Int32Array = NDArray[np.int32]

# streamed generation (`build_candidates(chunk_pairs=...)`): pairs a chunk aims at, and the
# offers of the first chunk (a block of at most that many offers is searched in one call)
CHUNK_PAIRS = 1_000_000
CHUNK_FIRST_OFFERS = 4096
CHUNK_MIN_OFFERS = 64
# from this many (offer, need) pairs in reach of a search (offers x needs of its blocks, an
# upper bound), the blocks are searched by one thread per usable core
PARALLEL_MIN_PAIRS = 50_000_000


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
    # offers with arcs in reach dropped only because the offer did not state an attribute a
    # rule limits, or because the receiver holds no valid licence for the offer's
    # hazardous-waste code: offer position, kind (BLOCK_*), detail (attribute or code);
    # one entry per (offer, kind, detail)
    blocked_offer: Int32Array = field(default_factory=lambda: np.empty(0, np.int32))
    blocked_kind: tuple[str, ...] = ()
    blocked_detail: tuple[str, ...] = ()

    def with_blocked(self, entries: list[tuple[IntArray, str, str]]) -> Candidates:
        """These arcs with the blocked offers of `entries` (offer positions, kind, detail)
        added to theirs, one entry per (offer, kind, detail)."""
        if not entries:
            return self
        offer, kind, detail = _blocked_fields(self.blocked_entries() + entries)
        return replace(self, blocked_offer=offer, blocked_kind=kind, blocked_detail=detail)

    def blocked_entries(self) -> list[tuple[IntArray, str, str]]:
        """The blocked offers as (offer positions, kind, detail) entries (`with_blocked`)."""
        return [(np.array([p]), k, d) for p, k, d in zip(self.blocked_offer.tolist(),
                                                         self.blocked_kind,
                                                         self.blocked_detail, strict=True)]

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


def _quality_mask(dataset: Dataset, rule: Rule, offer: IntArray, need: IntArray,
                  accept_unstated: bool = False
                  ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], list[tuple[str, IntArray]]]:
    """Which arcs pass the rule's limits and the need's own min./max. requirements.

    A rule limit (a standard's clause) on an attribute the offer does not state fails by
    default: cement and concrete plants may not take material of unknown quality. With
    `accept_unstated` it passes and the arc is flagged (the buyer checks on delivery). A
    need's own requirement must always be met by a stated value, since the need asked for
    it explicitly. Also returns, per limited attribute, the offers whose arcs were dropped
    only because they did not state it (empty with `accept_unstated`).
    """
    offers, needs = dataset.offers, dataset.needs
    ok = np.ones(len(offer), dtype=bool)
    unverified = np.zeros(len(offer), dtype=bool)
    missing: list[tuple[str, NDArray[np.bool_]]] = []
    for limit in rule.limits:
        stated, passes = rule_limit_check(offers, limit, offer)
        unverified |= ~stated
        ok &= passes
        missing.append((limit.attribute, ~stated))
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
    if accept_unstated:
        return ok, unverified & ok, []
    blocked = [(attr, np.unique(offer[ok & gone])) for attr, gone in missing
               if (ok & gone).any()]
    return ok & ~unverified, np.zeros(len(offer), dtype=bool), blocked


def licensed_mask(dataset: Dataset, offer_material: str, need: IntArray,
                  as_of: dt.date | None = None) -> NDArray[np.bool_] | None:
    """Which needs at `need` may receive `offer_material`: None when it is not hazardous
    waste with a National Hazardous Waste List code (a hazardous flag without a code only
    keeps the zone routing rule), else True where the need's enterprise holds a licence
    (licences.csv) for the material's code that is valid on `as_of` (default today).

    Solid Waste Law 2020 (Art. 80, 82; the 2004/2016 text Art. 49 forbids handing hazardous
    waste to a unit without a business licence): a hazardous waste goes only to a licensed
    receiver. The licensed capacity is a bound on the need side (symbiosis.dataset
    `_apply_licence_caps`).
    """
    mat = dataset.taxonomy.materials.get(offer_material)
    if mat is None or not mat.hazardous or not mat.hw_code:
        return None
    day = (as_of or dt.date.today()).isoformat()
    lic = dataset.licences
    valid = lic[(lic["hw_code"] == mat.hw_code) & (lic["valid_until"] >= day)
                & (lic["capacity"] > 0)]
    holders = np.isin(dataset.needs["enterprise_id"].to_numpy(dtype=object),
                      valid["enterprise_id"].to_numpy(dtype=object))
    return holders[need]


def build_candidates(
    dataset: Dataset,
    max_km: float | None = None,
    circuity: float = DEFAULT_CIRCUITY,
    distances: GeoDistances | None = None,
    *,
    accept_unstated_quality: bool = False,
    licences_as_of: dt.date | None = None,
    chunk_pairs: int | None = CHUNK_PAIRS,
    skip_needs: NDArray[np.bool_] | None = None,
    workers: int | None = None,
) -> Candidates:
    """All candidate arcs of `dataset` (see the module docstring for the exact rule).

    The pairs of each (need material, offer material) block are generated from the spatial
    index in chunks of offers sized to about `chunk_pairs` pairs, and each chunk is
    filtered (quality, licences) and stored compactly before the next one is searched, so
    the radius query's temporaries (about 150 bytes a pair: the k-d tree's pair list, the
    haversine inputs, the sort) never exist for a whole block at once (a national block has
    tens of millions of pairs); None searches each block in one call. The arcs, their order
    included, are the same whatever the chunking (`tests/matching/test_candidates_stream.py`).
    With `distances` (roads, zones) each block is searched in one call.

    `distances` (geo.GeoDistances) replaces great-circle x circuity by road distances and
    applies zone rules to the computed (not distances.csv) arcs. A rule limit the offer
    does not state drops the arc unless `accept_unstated_quality`, which keeps it flagged
    (`quality_unverified`). A hazardous-waste offer reaches only needs of enterprises
    licensed for its code on `licences_as_of` (default today). Arcs dropped for either
    reason are listed in `blocked_*`.

    `skip_needs` (a mask over the needs) leaves out the arcs into those needs (a graded run
    rebuilds them under other rules: `matching.blending.prepare_grades`). `workers` threads
    search the blocks side by side (default: the usable cores when the blocks may hold at
    least PARALLEL_MIN_PAIRS pairs, else 1; great-circle and listed distances only, roads
    and zones keep one thread): the radius queries and haversines are numpy and scipy work
    that releases the GIL, and the arcs come out in the same order whatever the count.

    Raises:
        ValueError: circuity not a positive finite number, or max_km negative or NaN.
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
    parts: list[tuple[Int32Array, Int32Array, np.ndarray, np.ndarray, np.ndarray, int]] = []
    codes: list[np.ndarray] = []
    blocked: list[tuple[IntArray, str, str]] = []
    if distances is not None:
        reach_of = {m: reach_km(dataset.taxonomy, m, max_km) for m in off_by_mat}
        per_offer = offers["material"].map(reach_of).to_numpy(float)
        limit = pd.Series(per_offer).groupby(off_ent).max()
        distances.prepare(limit.index.to_numpy(np.int64), limit.to_numpy(float))
    blocks: list[tuple[str, IntArray, IntArray, Rule, float]] = []
    for need_mat, need_idx in need_by_mat.items():
        if skip_needs is not None:
            need_idx = need_idx[~skip_needs[need_idx]]
            if not len(need_idx):
                continue
        for offer_mat in dataset.taxonomy.offer_materials_for(need_mat):
            offer_idx = off_by_mat.get(offer_mat)
            rule = dataset.taxonomy.rule(need_mat, offer_mat)
            if offer_idx is None or rule is None:
                continue
            reach = reach_km(dataset.taxonomy, offer_mat, max_km)
            rules.append(rule)
            blocks.append((offer_mat, offer_idx, need_idx, rule, reach))
    # roads and zones are measured in one call per block (their search is prepared for
    # it); the great-circle and listed distances are streamed in offer chunks
    chunked = None if distances is not None else chunk_pairs

    def filtered(k: int) -> list[tuple[Int32Array, Int32Array, NDArray[np.float64],
                                       NDArray[np.bool_], NDArray[np.bool_],
                                       NDArray[np.int8]]]:
        """The block's arcs that pass quality and licences, chunk by chunk (blocked
        offers appended to `blocked` by the caller's thread, in block order)."""
        offer_mat, offer_idx, need_idx, rule, reach = blocks[k]
        out = []
        for o, n, km, code in _block_pairs(measure, off_ent, need_ent, offer_idx, need_idx,
                                           reach, offer_mat, chunked):
            from_table = code == DistanceSource.TABLE.code
            ok, unverified, missing = _quality_mask(dataset, rule, o, n,
                                                    accept_unstated_quality)
            block_notes[k] += [(pos, BLOCK_QUALITY_NOT_STATED, attr) for attr, pos in missing]
            licensed = licensed_mask(dataset, offer_mat, n, licences_as_of)
            if licensed is not None:
                block_notes[k].append((np.unique(o[ok & ~licensed]), BLOCK_NO_LICENCE,
                                       dataset.taxonomy.materials[offer_mat].hw_code))
                ok &= licensed
            out.append((o[ok].astype(np.int32), n[ok].astype(np.int32), km[ok],
                        from_table[ok], unverified[ok], code[ok]))
        return out

    block_notes: list[list[tuple[IntArray, str, str]]] = [[] for _ in blocks]
    if workers is None:
        pairs = sum(len(b[1]) * len(b[2]) for b in blocks)
        workers = usable_cores() if pairs >= PARALLEL_MIN_PAIRS else 1
    from concurrent.futures import ThreadPoolExecutor

    threads = 1 if distances is not None or len(blocks) < 2 else max(1, workers)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for k, found in enumerate(pool.map(filtered, range(len(blocks)))):  # block order
            for o, n, km, from_table, unverified, code in found:
                parts.append((o, n, km, from_table, unverified, k))
                if distances is not None:
                    codes.append(code)
            blocked += block_notes[k]
            block_notes[k] = []
    # one field at a time, each field's chunks released as soon as it is joined: the chunks
    # and the joined arrays never coexist whole (a national instance: ~0.4 GiB less peak)
    sizes = np.array([len(p[0]) for p in parts], np.int64)
    rule_idx = np.repeat(np.array([p[5] for p in parts], np.int32), sizes)
    fields: list[list[np.ndarray]] = [[p[0] for p in parts], [p[1] for p in parts],
                                      [p[2] for p in parts], [p[3] for p in parts],
                                      [p[4] for p in parts]]
    del parts
    empty = (np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0),
             np.empty(0, bool), np.empty(0, bool))
    joined: list[np.ndarray] = []
    for k, chunks in enumerate(fields):
        joined.append(np.concatenate(chunks) if chunks else empty[k])
        chunks.clear()
    offer, need, dist, from_table_all, unverified_all = joined
    ratio = np.array([r.ratio for r in rules], float)[rule_idx] if rules else np.empty(0)
    b_offer, b_kind, b_detail = _blocked_fields(blocked)
    return Candidates(offer=offer, need=need,
                      distance_km=dist, ratio=ratio, rule=rule_idx,
                      from_table=from_table_all, quality_unverified=unverified_all,
                      rules=tuple(rules), max_km=max_km, circuity=circuity,
                      distance_code=None if distances is None else
                      np.concatenate(codes or [np.empty(0, np.int8)]),
                      distances=measure,
                      blocked_offer=b_offer, blocked_kind=b_kind, blocked_detail=b_detail)


def _block_pairs(measure: DistanceRule, off_ent: IntArray, need_ent: IntArray,
                 offer_idx: IntArray, need_idx: IntArray, reach: float, material: str,
                 chunk_pairs: int | None) -> Iterator[tuple[IntArray, IntArray,
                                                            NDArray[np.float64],
                                                            NDArray[np.int8]]]:
    """The pairs of one block as `DistanceRule.within` gives them for the whole block
    (offer row, need row, km, source code), in chunks of consecutive offers.

    `within` returns the computed pairs by offer then need, then the listed pairs
    (distances.csv) by listed key, offer, need. Chunks of consecutive offers keep the
    computed pairs' order; the listed pairs, few, are held back and yielded last, sorted
    the same way. A block that cannot exceed `chunk_pairs` pairs (offers x needs) is searched
    in one call; otherwise the first chunk has chunk_pairs / needs offers (as if every need
    were in reach, kept between CHUNK_MIN_OFFERS and CHUNK_FIRST_OFFERS), later ones are
    sized from the pairs per offer seen so far, to about `chunk_pairs` pairs.
    """
    first = min(CHUNK_FIRST_OFFERS,
                max(CHUNK_MIN_OFFERS, (chunk_pairs or 0) // max(len(need_idx), 1)))
    if chunk_pairs is None or len(offer_idx) * len(need_idx) <= chunk_pairs \
            or len(offer_idx) <= first:
        i, j, km, code = measure.within(off_ent[offer_idx], need_ent[need_idx], reach,
                                        material)
        yield offer_idx[i], need_idx[j], km, code
        return
    table_code = DistanceSource.TABLE.code
    listed: list[tuple[IntArray, IntArray, NDArray[np.float64]]] = []
    start, size, seen_offers, seen_pairs = 0, first, 0, 0
    while start < len(offer_idx):
        rows = offer_idx[start:start + size]
        i, j, km, code = measure.within(off_ent[rows], need_ent[need_idx], reach, material)
        table = code == table_code
        computed = ~table
        yield rows[i[computed]], need_idx[j[computed]], km[computed], code[computed]
        if table.any():
            listed.append((rows[i[table]], need_idx[j[table]], km[table]))
        seen_offers += len(rows)
        seen_pairs += len(i)
        start += len(rows)
        per_offer = max(seen_pairs / seen_offers, 1.0)
        size = max(CHUNK_MIN_OFFERS, int(chunk_pairs / per_offer))
    if listed:
        o, n, km = (np.concatenate(x) for x in zip(*listed, strict=True))
        order = np.lexsort((n, o, need_ent[n], off_ent[o]))  # by listed key (from, to)
        yield (o[order], n[order], km[order],
               np.full(len(o), table_code, np.int8))


def candidates_for(dataset: Dataset, options: MatchOptions,
                   distances: GeoDistances | None = None,
                   skip_needs: NDArray[np.bool_] | None = None) -> Candidates:
    """The candidate arcs a run with `options` solves on (reach, circuity and the
    unstated-quality switch from the options; `distances` brings roads and zones), without
    the arcs into `skip_needs`."""
    return build_candidates(dataset, options.max_km, options.circuity, distances,
                            accept_unstated_quality=options.accept_unstated_quality,
                            skip_needs=skip_needs)


def _blocked_fields(blocked: list[tuple[IntArray, str, str]]
                    ) -> tuple[Int32Array, tuple[str, ...], tuple[str, ...]]:
    """One entry per (offer, kind, detail) from the per-rule lists."""
    seen: dict[tuple[int, str, str], None] = {}
    for pos, kind, detail in blocked:
        for p in pos.tolist():
            seen.setdefault((int(p), kind, detail), None)
    keys = sorted(seen)
    return (np.array([k[0] for k in keys], dtype=np.int32), tuple(k[1] for k in keys),
            tuple(k[2] for k in keys))


def _positions_by(values: pd.Series) -> dict[str, IntArray]:
    codes, uniques = pd.factorize(values, sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {str(u): order[bounds[k]:bounds[k + 1]].astype(np.int64)
            for k, u in enumerate(uniques)}
