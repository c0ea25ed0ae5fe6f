"""Why the plan looks as it does: the alternatives each exchange beat, and why an offer's
quantity is left unmatched, as reason codes (`matching.reasons.UnmatchedReason`) with the
facts behind them, rendered in English or Chinese from the message catalogue
(`symbiosis/i18n/explain.json`, keys `explain.*`).

The reasons of an offer with quantity left over (several may apply at once):

- `no_compatible_need`: no need of another enterprise takes the material under any rule
  (facts: the material);
- `beyond_reach`: compatible needs exist, none within reach (the nearest need and its km d
  under the one distance rule: distances.csv, road km with roads; the reach r);
- `forbidden_zone`: the run excluded a compatible pair because its routes cross a zone
  (the need);
- `quality` / `quality_not_stated`: a compatible need within reach rejects a stated
  attribute, or asks for one the offer does not state (attribute, value, limit, the need);
- `takers_full`: an arc that pays leads to a need the plan fills (the needs, by whom);
- `no_gain`: an arc does not pay under the objective, w_a <= 0 (how many, the best saving
  and its need), never said to face full needs when the need is open;
- `below_resolution`: an arc that pays leads to a need left open, so the remainder is
  below the solver's quantity resolution (the quantity).

"Within reach" and the km are those of the run (`Candidates.distances`, `candidates.reach_km`),
so an explanation never says a straight-line km where the run used a road km. Everything
is computed from the candidate arcs and the flows, vectorised where the arrays are large;
text is built only for the exchanges and unmatched offers that are reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from symbiosis.dataset import Dataset
from symbiosis.geo.distance import DistanceRule, haversine_km
from symbiosis.i18n import catalogue
from symbiosis.matching.candidates import Candidates, reach_km, rule_limit_check
from symbiosis.matching.reasons import UnmatchedReason
from symbiosis.taxonomy import Rule
from symbiosis.types import FloatArray, IntArray

__all__ = ["Fact", "UnmatchedExplanation", "analyse_unmatched", "explain_exchanges",
           "explain_unmatched", "reason_columns"]

ALTERNATIVES = 3  # alternatives listed per exchange
LISTED = 3  # needs named per reason
FULL_SHARE = 1 - 1e-7
_OPS = {"min": "≥", "max": "≤"}


@cache
def _template(key: str, lang: str) -> str | None:
    """The catalogue text `symbiosis.i18n.t` would format for `key` in `lang` (None: an
    unknown key, which `t` returns as it is). Looked up once per key and language: an
    explanation of a province renders tens of thousands of sentences."""
    texts = catalogue().get(key)
    if texts is None:
        return None
    return texts.get(lang) or texts.get("en") or key


def t(key: str, lang: str = "en", /, **params: Any) -> str:
    """Exactly `symbiosis.i18n.t`, with the catalogue lookup cached (`_template`)."""
    text = _template(key, lang)
    if text is None:
        return key
    return text.format(**params) if params else text


@dataclass(frozen=True)
class Fact:
    """One sentence of an explanation: a catalogue key and its parameters. A parameter may
    itself be a tuple of Facts (joined with the catalogue's separator) or of names (joined
    with its comma, "-" when empty)."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self, lang: str = "en") -> str:
        """The sentence in `lang`."""
        params = {k: _render_value(v, lang) for k, v in self.params.items()}
        return t(self.key, lang, **params)


_PLAIN_PARAMS = (str, int, float)  # rendered as they are (the usual parameter)


def _render_value(value: Any, lang: str) -> Any:
    if type(value) in _PLAIN_PARAMS:
        return value
    if isinstance(value, Fact):
        return value.render(lang)
    if isinstance(value, tuple) and value and all(isinstance(v, Fact) for v in value):
        return t("explain.sep", lang).join(v.render(lang) for v in value)
    if isinstance(value, tuple):  # names: joined as the language lists them
        return t("explain.comma", lang).join(str(v) for v in value) or "-"
    return value


@dataclass(frozen=True)
class UnmatchedExplanation:
    """Why one offer's quantity is left unmatched: its reason codes and the facts."""

    reasons: tuple[UnmatchedReason, ...]
    facts: tuple[Fact, ...]

    @property
    def codes(self) -> str:
        """The reason codes ';'-joined, as offers.csv's `reason` column holds them."""
        return ";".join(r.value for r in self.reasons)

    def text(self, lang: str = "en") -> str:
        """The explanation sentence in `lang`."""
        return t("explain.sep", lang).join(f.render(lang) for f in self.facts)

    def fact(self, key: str) -> Fact | None:
        """The first fact with catalogue key `key` (None if absent)."""
        return next((f for f in self.facts if f.key == key), None)


def _need_fill(dataset: Dataset, cand: Candidates, flows: FloatArray) -> FloatArray:
    """Share of each need's quantity met by the plan."""
    met = np.bincount(cand.need, weights=flows * cand.ratio, minlength=len(dataset.needs))
    return met / dataset.needs["quantity"].to_numpy(float)


class _Suppliers:
    """The supplying enterprises of each need, largest flow first, each named once: what a
    dict need row -> names would hold, made for a need only when asked for (`get`). The
    explanations name the suppliers of the needs they call full, a few thousand of a
    province's, and building every need's list took 70 ms at 30,000 enterprises."""

    def __init__(self, dataset: Dataset, cand: Candidates, flows: FloatArray,
                 live: NDArray[np.int64]) -> None:
        ranked = live[np.argsort(-flows[live], kind="stable")]
        # grouped by need, the ranking kept within each need
        self._arcs = ranked[np.argsort(cand.need[ranked], kind="stable")]
        self._starts = np.searchsorted(cand.need[self._arcs],
                                       np.arange(len(dataset.needs) + 1))
        self._ent = dataset.offers["enterprise_id"].to_numpy(dtype=object)[
            cand.offer[self._arcs]]
        self._memo: dict[int, list[str]] = {}

    def get(self, need: int, default: list[str]) -> list[str]:
        """The suppliers of need row `need`, or `default` when nothing flows into it."""
        names = self._memo.get(need)
        if names is not None:
            return names
        lo, hi = int(self._starts[need]), int(self._starts[need + 1])
        if lo == hi:
            return default
        names = []
        for ent in self._ent[lo:hi].tolist():
            ent = str(ent)
            if ent not in names:
                names.append(ent)
        self._memo[need] = names
        return names


def _suppliers_of(dataset: Dataset, cand: Candidates, flows: FloatArray,
                  live: NDArray[np.int64]) -> _Suppliers:
    """Supplying enterprises of each need, largest first (`_Suppliers`)."""
    return _Suppliers(dataset, cand, flows, live)


def _unit(dataset: Dataset, material: str) -> str:
    return dataset.taxonomy.materials[material].unit


def _names(names: Sequence[str], lang: str, limit: int = LISTED) -> str:
    return t("explain.comma", lang).join(names[:limit])


def explain_exchanges(dataset: Dataset, cand: Candidates, flows: FloatArray,
                      arcs: NDArray[np.int64], score: FloatArray | None,
                      saving: FloatArray | None, lang: str = "en") -> list[str]:
    """For each arc in `arcs` (the plan's exchanges), the best other needs its offer had,
    in `lang` ("en" or "zh").

    `score` ranks alternatives (higher is better; None = shorter distance is better, the
    default objective's tie-break); `saving` (CNY per offer unit) is shown when known.
    """
    if not len(arcs):
        return []
    arcs = np.asarray(arcs, dtype=np.int64)
    # only the offers of the reported arcs need their alternatives ranked
    wanted = np.zeros(len(dataset.offers), dtype=bool)
    wanted[cand.offer[arcs]] = True
    pool = np.flatnonzero(wanted[cand.offer])
    key = (-cand.distance_km if score is None else score)[pool]
    # each offer's ALTERNATIVES + 1 best arcs (ties: the lower arc index first)
    at = best_per_group(cand.offer[pool], key, ALTERNATIVES + 1, len(dataset.offers))
    best = np.where(at >= 0, pool[at], -1)
    fill = _need_fill(dataset, cand, flows)
    offer_mat = dataset.offers["material"].to_numpy(dtype=object)
    units = {str(m): _unit(dataset, str(m)) for m in set(offer_mat.tolist())}
    live = np.flatnonzero(flows > 0)
    suppliers = _suppliers_of(dataset, cand, flows, live)
    sep = t("explain.sep", lang)
    # each arc's alternatives: its offer's best arcs, the arc itself struck out, the first
    # ALTERNATIVES left kept
    heads = best[cand.offer[arcs]]
    heads = np.where(heads != arcs[:, None], heads, -1)
    alts = np.unique(heads[heads >= 0])
    # an alternative's text depends on its own arc only: an offer with several exchanges
    # lists the same alternatives, rendered once
    alt_text = dict(zip(alts.tolist(), _alternative_texts(
        dataset, cand, flows, alts, score, saving, fill, suppliers, units, lang),
        strict=True))
    only = t("explain.only_need", lang)
    texts: list[str] = []
    for row in heads.tolist():
        parts = [alt_text[b] for b in row if b >= 0][:ALTERNATIVES]
        texts.append(sep.join(parts) if parts else only)
    return texts


def _alternative_texts(dataset: Dataset, cand: Candidates, flows: FloatArray,
                       alts: IntArray, score: FloatArray | None, saving: FloatArray | None,
                       fill: FloatArray, suppliers: _Suppliers,
                       units: Mapping[str, str], lang: str) -> list[str]:
    """The sentence of each alternative arc in `alts`: its need and enterprise, km (and
    saving), and its state: also used by the plan, a full need (by whom), no gain under the
    objective, or worse. The states are decided for all arcs at once; the catalogue's
    templates are looked up once and formatted per arc."""
    needs = dataset.needs
    need_ids = needs.index.to_numpy(dtype=object)
    need_ent = needs["enterprise_id"].to_numpy(dtype=object)
    n_of = cand.need[alts].astype(np.int64)
    used = flows[alts] > 0
    full = ~used & (fill[n_of] >= FULL_SHARE)
    no_gain = ~used & ~full & (score[alts] <= 0 if score is not None
                               else np.zeros(len(alts), bool))
    state = np.where(used, t("explain.alt_also_used", lang),
                     np.where(no_gain, t("explain.alt_no_gain", lang),
                              t("explain.alt_worse", lang))).astype(object)
    full_text = t("explain.alt_full", lang)
    by_need: dict[int, str] = {}
    for i, n in zip(np.flatnonzero(full).tolist(), n_of[full].tolist(), strict=True):
        if n not in by_need:
            by = _names(suppliers.get(n, []), lang)
            by_need[n] = t("explain.alt_full_by", lang, by=by) if by else full_text
        state[i] = by_need[n]
    km_tpl = _template("explain.alt_km", lang) or "explain.alt_km"
    details = [km_tpl.format(km=km) for km in cand.distance_km[alts].astype(float).tolist()]
    if saving is not None:
        comma = t("explain.comma", lang)
        save_tpl = _template("explain.alt_saving", lang) or "explain.alt_saving"
        offer_mat = dataset.offers["material"].to_numpy(dtype=object)[cand.offer[alts]]
        details = [d + comma + save_tpl.format(saving=v, unit=units[str(m)])
                   for d, v, m in zip(details, saving[alts].astype(float).tolist(),
                                      offer_mat.tolist(), strict=True)]
    alt_tpl = _template("explain.alt", lang) or "explain.alt"
    return [alt_tpl.format(need=need, enterprise=ent, details=d, state=st)
            for need, ent, d, st in zip(need_ids[n_of].tolist(), need_ent[n_of].tolist(),
                                        details, state.tolist(), strict=True)]


def best_per_group(group: NDArray[np.integer[Any]], key: FloatArray, k: int,
                   n_groups: int) -> IntArray:
    """Positions of the `k` largest `key` of each group, best first: an (n_groups, k)
    array of positions into `group`/`key`, -1 where a group has fewer than k members.
    Ties go to the lower position, so row g equals the first k of
    `np.lexsort((-key, group))` restricted to group g.

    `group` holds ints in [0, n_groups). One stable sort by group (near-sorted candidate
    arcs make it cheap), then k passes of segmented max; a full lexsort of a province's
    250,000 arcs took 40 ms of the report. Keys that are not finite take the lexsort.
    """
    n = len(group)
    out = np.full((n_groups, k), -1, np.int64)
    if not n:
        return out
    if not np.isfinite(key).all():
        order = np.lexsort((-key, group))
        starts = np.searchsorted(group[order], np.arange(n_groups + 1))
        for j in range(k):
            has = starts[:-1] + j < starts[1:]
            out[has, j] = order[starts[:-1][has] + j]
        return out
    order = np.argsort(group, kind="stable")
    g = group[order]
    starts = np.searchsorted(g, np.arange(n_groups + 1))
    size = np.diff(starts)
    filled = np.flatnonzero(size > 0)
    seg = starts[filled]
    seg_of = np.repeat(np.arange(len(filled)), size[filled])
    values = key[order].astype(np.float64)  # a copy: taken members become -inf
    alive = np.ones(n, bool)
    position = np.arange(n)
    for j in range(k):
        top = np.maximum.reduceat(values, seg)
        hit = alive & (values == top[seg_of])
        first = np.minimum.reduceat(np.where(hit, position, n), seg)
        ok = first < n
        out[filled[ok], j] = order[first[ok]]
        values[first[ok]] = -np.inf
        alive[first[ok]] = False
    return out


# ----------------------------------------------------------------------------- unmatched


def _quality_fact(dataset: Dataset, rule: Rule, o: int, n: int) -> tuple[UnmatchedReason, Fact]:
    """The first limit that keeps offer row `o` from need row `n`: a rule limit its stated
    value fails, or a need's own min./max. requirement it fails or does not state."""
    offers, needs = dataset.offers, dataset.needs
    where = {"need": str(needs.index[n]), "enterprise": str(needs["enterprise_id"].iat[n])}
    row = np.array([o], np.int64)
    for limit in rule.limits:
        stated, passes = rule_limit_check(offers, limit, row)
        if stated[0] and not passes[0]:
            value = float(offers[f"q.{limit.attribute}"].iat[o])
            return UnmatchedReason.QUALITY, Fact("explain.quality", {
                **where, "attribute": limit.attribute, "op": _OPS[limit.bound],
                "limit": float(limit.value), "value": value})
    for column in needs.columns:
        if not column.startswith(("min.", "max.")):
            continue
        bound = float(needs[column].iat[n])
        if not math.isfinite(bound):
            continue
        kind, attribute = column.split(".", 1)
        q_column = f"q.{attribute}"
        value = float(offers[q_column].iat[o]) if q_column in offers.columns else math.nan
        params = {**where, "attribute": attribute, "op": _OPS[kind], "limit": bound}
        if not math.isfinite(value):
            return UnmatchedReason.QUALITY_NOT_STATED, Fact("explain.quality_not_stated",
                                                            params)
        if (value < bound) if kind == "min" else (value > bound):
            return UnmatchedReason.QUALITY, Fact("explain.quality", {**params, "value": value})
    # no stated limit fails: the arc was dropped for a reason this module cannot name
    return UnmatchedReason.QUALITY, Fact("explain.quality", {
        **where, "attribute": "?", "op": "", "limit": math.nan, "value": math.nan})


REJECTED_KEPT = 50  # rejected pairs examined per offer (the facts name at most LISTED)


def _rejected(dataset: Dataset, cand: Candidates, measure: DistanceRule, todo: IntArray,
              off_ent: IntArray, need_ent: IntArray) -> dict[int, list[tuple[int, Rule]]]:
    """Per offer in `todo`: compatible needs within reach under the run's rule that have no
    arc, i.e. that quality rejects, as (need row, rule), at most REJECTED_KEPT per offer.

    Only pairs quality could reject are searched: offers of `todo` failing a stated rule
    limit against every need of the rule's need material, and the other offers against
    the needs that state a min./max. requirement; so a run without quality data costs no
    radius query here.
    """
    tax = dataset.taxonomy
    offers, needs = dataset.offers, dataset.needs
    n_needs = len(needs)
    in_todo = np.zeros(len(offers), dtype=bool)
    in_todo[todo] = True
    sel = in_todo[cand.offer]
    arc_keys = np.sort(cand.offer[sel].astype(np.int64) * n_needs + cand.need[sel])
    req_cols = [c for c in needs.columns if c.startswith(("min.", "max."))]
    has_req = np.isfinite(needs[req_cols].to_numpy(float)).any(axis=1) if req_cols \
        else np.zeros(n_needs, dtype=bool)
    need_mat = needs["material"].to_numpy(dtype=object)
    todo_mat = offers["material"].to_numpy(dtype=object)[todo]
    found_o: list[IntArray] = []
    found_n: list[IntArray] = []
    found_r: list[IntArray] = []
    rules: list[Rule] = []
    for material in sorted(set(todo_mat.tolist())):
        rows = todo[todo_mat == material]
        reach = reach_km(tax, material, cand.max_km)
        for need_material in sorted(set(need_mat.tolist())):
            rule = tax.rule(need_material, material)
            if rule is None:
                continue
            need_rows = np.flatnonzero(need_mat == need_material)
            fails = np.zeros(len(rows), dtype=bool)
            for limit in rule.limits:
                stated, passes = rule_limit_check(offers, limit, rows)
                fails |= stated & ~passes
            for o_rows, n_rows in ((rows[fails], need_rows),
                                   (rows[~fails], need_rows[has_req[need_rows]])):
                if not len(o_rows) or not len(n_rows):
                    continue
                i, j, _, _ = measure.within(off_ent[o_rows], need_ent[n_rows], reach,
                                            material, log=False)
                o, n = o_rows[i], n_rows[j]
                key = o.astype(np.int64) * n_needs + n
                pos = np.minimum(np.searchsorted(arc_keys, key), max(len(arc_keys) - 1, 0))
                arc = arc_keys[pos] == key if len(arc_keys) else np.zeros(len(key), bool)
                found_o.append(o[~arc])
                found_n.append(n[~arc])
                found_r.append(np.full(int((~arc).sum()), len(rules), np.int64))
            rules.append(rule)
    if not found_o:
        return {}
    o_all, n_all, r_all = (np.concatenate(x) for x in (found_o, found_n, found_r))
    order = np.lexsort((n_all, o_all))
    o_all, n_all, r_all = o_all[order], n_all[order], r_all[order]
    first = np.searchsorted(o_all, o_all, side="left")
    keep = np.arange(len(o_all)) - first < REJECTED_KEPT
    out: dict[int, list[tuple[int, Rule]]] = {}
    for o, n, r in zip(o_all[keep].tolist(), n_all[keep].tolist(), r_all[keep].tolist(),
                       strict=True):
        out.setdefault(o, []).append((n, rules[r]))
    return out


def _nearest(measure: DistanceRule, src: int, dst: IntArray, material: str,
             reach: float) -> tuple[int, float] | None:
    """The position in `dst` of the nearest enterprise to `src` under the rule, and its km
    (None when no permitted route exists). Road searches are bounded, so the bound grows
    until the nearest found lies within it (great circle is a lower bound of road km)."""
    src_arr = np.full(len(dst), src, np.int64)
    if not measure.has_roads:
        km, _ = measure.km(src_arr, dst, material, log=False)
    else:
        gc = haversine_km(measure.lon[src], measure.lat[src], measure.lon[dst],
                          measure.lat[dst])
        start = float(np.min(gc)) if len(gc) else 1.0
        limit = max(reach if math.isfinite(reach) else 0.0, start, 1.0) * 2.0
        while True:
            km, _ = measure.km(src_arr, dst, material, limit_km=limit, log=False)
            finite = km[np.isfinite(km)]
            if (len(finite) and float(finite.min()) <= limit) or not math.isfinite(limit):
                break
            limit = limit * 4.0 if limit < 4.0e4 else math.inf
    if not np.isfinite(km).any():
        return None
    best = int(np.argmin(km))
    return best, float(km[best])


def _excluded_by_zone(cand: Candidates) -> dict[tuple[str, str], set[str]]:
    """(offer enterprise, material) -> need enterprises the run excluded by a zone."""
    roads = cand.distances.roads if cand.distances is not None else None
    events = getattr(roads, "events", None) or []
    out: dict[tuple[str, str], set[str]] = {}
    for e in events:
        if e.get("action") == "excluded":
            out.setdefault((str(e["offer_enterprise_id"]), str(e["material"])),
                           set()).add(str(e["need_enterprise_id"]))
    return out


def analyse_unmatched(dataset: Dataset, cand: Candidates, flows: FloatArray,
                      unmatched: FloatArray, score: FloatArray | None,
                      saving: FloatArray | None) -> list[UnmatchedExplanation | None]:
    """Per offer: None when fully matched, else its reasons and facts (module docstring).

    `unmatched` is each offer's quantity left (offer units); `score` the objective's w_a
    per arc (None for the default objective, where every arc pays); `saving` CNY per offer
    unit per arc, shown for the best losing arc when known.
    """
    offers, needs, tax = dataset.offers, dataset.needs, dataset.taxonomy
    n_o = len(offers)
    out: list[UnmatchedExplanation | None] = [None] * n_o
    todo = np.flatnonzero(unmatched > 0)
    if not len(todo):
        return out
    measure = cand.distance_rule(dataset)
    ents = dataset.enterprises.index
    off_ent = ents.get_indexer(offers["enterprise_id"]).astype(np.int64)
    need_ent = ents.get_indexer(needs["enterprise_id"]).astype(np.int64)
    fill = _need_fill(dataset, cand, flows)
    live = np.flatnonzero(flows > 0)
    suppliers = _suppliers_of(dataset, cand, flows, live)
    order = np.argsort(cand.offer, kind="stable")
    starts = np.searchsorted(cand.offer[order], np.arange(n_o + 1))
    need_ids = needs.index.to_numpy(dtype=object)
    need_ent_id = needs["enterprise_id"].to_numpy(dtype=object)
    need_mat = needs["material"].to_numpy(dtype=object)
    offer_mat = offers["material"].to_numpy(dtype=object)
    offer_ent_id = offers["enterprise_id"].to_numpy(dtype=object)
    rejected_by = _rejected(dataset, cand, measure, todo, off_ent, need_ent)
    zone_cut = _excluded_by_zone(cand)
    takers: dict[str, NDArray[np.bool_]] = {}  # per offered material: needs that take it
    # per offer, at once: its arcs that pay and lead to a full need (how many, the first
    # LISTED in arc order), to an open need (how many), and that do not pay (how many)
    pays = score[order] > 0 if score is not None else np.ones(len(order), bool)
    full_arc = pays & (fill[cand.need[order]] >= FULL_SHARE)
    n_full = np.bincount(cand.offer[order][full_arc], minlength=n_o)
    n_open = np.bincount(cand.offer[order][pays & ~full_arc], minlength=n_o)
    full_pos = np.flatnonzero(full_arc)  # positions in `order`, grouped by offer
    full_offer = cand.offer[order[full_pos]]
    rank = np.arange(len(full_pos)) - np.searchsorted(full_offer, full_offer)
    listed = full_pos[rank < LISTED]
    first_full: dict[int, list[int]] = {}
    for o, n in zip(cand.offer[order[listed]].tolist(), cand.need[order[listed]].tolist(),
                    strict=True):
        first_full.setdefault(o, []).append(n)
    # enterprises by position: an offer never ships to its own enterprise
    own_ent = need_ent if (need_ent >= 0).all() and (off_ent >= 0).all() else None
    for o in todo.tolist():
        material = str(offer_mat[o])
        unit = _unit(dataset, material)
        reasons: list[UnmatchedReason] = []
        facts: list[Fact] = []
        block = order[starts[o]:starts[o + 1]]
        losing = block[score[block] <= 0] if score is not None else block[:0]
        if n_full[o]:
            reasons.append(UnmatchedReason.TAKERS_FULL)
            named = tuple(Fact("explain.full_need", {
                "need": str(need_ids[n]), "by": tuple(suppliers.get(n, [])[:LISTED])})
                for n in first_full[o])
            more = Fact("explain.more", {"count": int(n_full[o]) - LISTED}) \
                if n_full[o] > LISTED else ""
            facts.append(Fact("explain.takers_full", {
                "full": int(n_full[o]), "total": len(block), "needs": named, "more": more}))
        if len(losing) and score is not None:
            reasons.append(UnmatchedReason.NO_GAIN)
            best = int(losing[np.argmax(score[losing])])
            target = str(need_ids[cand.need[best]])
            if saving is not None:
                facts.append(Fact("explain.no_gain_saving", {
                    "count": len(losing), "saving": float(saving[best]), "unit": unit,
                    "need": target}))
            else:
                facts.append(Fact("explain.no_gain_value", {
                    "count": len(losing), "value": float(score[best]), "need": target}))
        if n_open[o]:
            reasons.append(UnmatchedReason.BELOW_RESOLUTION)
            facts.append(Fact("explain.below_resolution",
                              {"quantity": float(unmatched[o]), "unit": unit}))
        rejected = rejected_by.get(o, [])
        quality: dict[UnmatchedReason, list[Fact]] = {}
        for n, rule in rejected:
            why, fact = _quality_fact(dataset, rule, o, n)
            quality.setdefault(why, []).append(fact)
        for why in (UnmatchedReason.QUALITY, UnmatchedReason.QUALITY_NOT_STATED):
            if why in quality:
                reasons.append(why)
                facts.extend(quality[why][:LISTED])
        cut = zone_cut.get((str(offer_ent_id[o]), material), set())
        if not len(block) and not rejected:
            if material not in takers:
                takers[material] = np.isin(need_mat, [m for m in tax.materials
                                                      if tax.rule(m, material) is not None])
            others = need_ent_id != offer_ent_id[o] if own_ent is None \
                else own_ent != off_ent[o]
            idx = np.flatnonzero(takers[material] & others)
            if not len(idx):
                reasons.append(UnmatchedReason.NO_COMPATIBLE_NEED)
                facts.append(Fact("explain.no_compatible_need", {"material": material}))
            else:
                reach = reach_km(tax, material, cand.max_km)
                near = _nearest(measure, int(off_ent[o]), need_ent[idx], material, reach)
                if near is not None and near[1] > reach:
                    n = int(idx[near[0]])
                    reasons.append(UnmatchedReason.BEYOND_REACH)
                    facts.append(Fact("explain.beyond_reach", {
                        "reach": reach, "need": str(need_ids[n]),
                        "enterprise": str(need_ent_id[n]), "km": near[1]}))
        if cut:
            hit = [int(n) for n in np.flatnonzero(np.isin(need_ent_id, sorted(cut))
                                                  & np.isin(need_mat, _uses(dataset,
                                                                            material)))]
            if hit:
                reasons.append(UnmatchedReason.FORBIDDEN_ZONE)
                facts.extend(Fact("explain.forbidden_zone", {
                    "need": str(need_ids[n]), "enterprise": str(need_ent_id[n])})
                    for n in hit[:LISTED])
        if not reasons:  # every pair within reach is zone-cut or otherwise unexplained
            reasons.append(UnmatchedReason.BELOW_RESOLUTION)
            facts.append(Fact("explain.below_resolution",
                              {"quantity": float(unmatched[o]), "unit": unit}))
        out[o] = UnmatchedExplanation(tuple(reasons), tuple(facts))
    return out


def _uses(dataset: Dataset, material: str) -> list[str]:
    tax = dataset.taxonomy
    return [m for m in tax.materials if tax.rule(m, material) is not None]


def explain_unmatched(dataset: Dataset, cand: Candidates, flows: FloatArray,
                      unmatched: FloatArray, score: FloatArray | None,
                      saving: FloatArray | None, lang: str = "en") -> list[str]:
    """One sentence per offer in `lang` ("en" or "zh"): empty when fully matched, else why
    the rest found no taker (see `analyse_unmatched`)."""
    return [e.text(lang) if e is not None else ""
            for e in analyse_unmatched(dataset, cand, flows, unmatched, score, saving)]


def reason_columns(explained: Sequence[UnmatchedExplanation | None],
                   lang: str = "en") -> pd.DataFrame:
    """offers.csv's `reason` (codes, ';'-joined) and `explanation` (sentence in `lang`)."""
    return pd.DataFrame({
        "reason": [e.codes if e is not None else "" for e in explained],
        "explanation": [e.text(lang) if e is not None else "" for e in explained],
    })
