"""Heat by temperature: the pipe's temperature drop and heat loss, limits checked where the
heat arrives, and the heat cascade's return offers.

A waste-heat offer states its supply temperature (`q.temperature_c`, °C) and medium
(`medium`: steam or hot water; blank: steam above 100 °C). Over an arc of d km:

    T_delivered = T_source - drop_m * d            (°C)
    ratio_a     = 1 - loss_m * d                   (GJ delivered per GJ sent)

| symbol  | attribute                                                     |
|---------|---------------------------------------------------------------|
| drop_m  | `temperature_drop_c_per_km` of medium m (heat_pipes.csv)      |
| loss_m  | `heat_loss_frac_per_km` of medium m (heat_pipes.csv)          |
| d       | `Candidates.distance_km`                                      |

An arc exists only when T_delivered meets the need's `min.temperature_c` and the rule's
temperature floor (rule_limits.csv); the rule's flat ratio (0.9 for process_heat <-
waste_heat, a stand-in for distribution loss) is replaced by ratio_a. Needs then see
different ratios and the component goes to the generalised LP. The coefficients are
assumptions marked unverified in the data file (no clause of CJJ 34-2010 or GB/T 28638 was
retrieved).

Heat cascade (process integration: heat passes down temperature intervals from hotter to
colder users; Linnhoff and Flower, "Synthesis of heat exchanger networks", AIChE Journal
24(4), 1978, the problem table; Linnhoff et al., "A User Guide on Process Integration for
the Efficient Use of Energy", IChemE 1982; cited from memory, not re-read): a heat user
that states `return_temperature_c` and `return_share` gives back `return_share` of the heat
delivered to it, as hot water at that temperature. The return is an offer
(`return:<need_id>`, material waste_heat, `cascade_of` = the need) whose arcs to colder
needs follow the same delivery rule; the LP bounds it by the heat the user really receives
(`matching.blending`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from symbiosis.dataset import Dataset
from symbiosis.grades import default_medium, heat_pipes
from symbiosis.i18n import t
from symbiosis.matching.candidates import BLOCK_QUALITY_NOT_STATED, Candidates, reach_km

__all__ = ["RETURN_PREFIX", "cascade_needs", "delivered_temperature", "heat_applies",
           "heat_listed", "heat_stated", "offer_media", "too_cold", "with_heat_at_delivery",
           "with_return_offers"]

RETURN_PREFIX = "return:"
TEMPERATURE = "temperature_c"
RETURN_MATERIAL = "waste_heat"


def cascade_needs(dataset: Dataset) -> NDArray[np.bool_]:
    """Needs that give back heat (a positive `return_share` and a return temperature)."""
    needs = dataset.needs
    if "return_share" not in needs or "return_temperature_c" not in needs:
        return np.zeros(len(needs), dtype=bool)
    share = needs["return_share"].to_numpy(float)
    temp = needs["return_temperature_c"].to_numpy(float)
    return np.isfinite(share) & (share > 0) & np.isfinite(temp)


def heat_listed(dataset: Dataset) -> bool:
    """Whether the dataset lists waste heat by temperature: an offer of an energy-family
    material (waste heat) that states `q.temperature_c`."""
    offers = dataset.offers
    column = f"q.{TEMPERATURE}"
    if column not in offers or not len(offers):
        return False
    family = {slug: str(m.family) for slug, m in dataset.taxonomy.materials.items()}
    energy = offers["material"].map(family).to_numpy(dtype=object) == "energy"
    return bool((energy & np.isfinite(offers[column].to_numpy(float))).any())


def heat_stated(dataset: Dataset, requested: bool) -> bool:
    """Whether heat at delivery is asked for explicitly: the option, or the dataset states
    a medium or a cascade return (the rule before delivery became the default)."""
    medium = dataset.offers.get("medium")
    stated = medium is not None and bool((medium.astype(str) != "").any())
    return requested or stated or bool(cascade_needs(dataset).any())


def heat_applies(dataset: Dataset, requested: bool, at_source: bool = False) -> bool:
    """Whether the run models heat at delivery: the default wherever the dataset lists
    waste heat with a temperature (`heat_listed`), a medium or a cascade return, or when
    asked for (`requested`); never with `at_source` (`--heat-at-source`: the old rule,
    temperature checked where the heat leaves, the rule's flat ratio). Datasets without
    waste heat never enter the graded path, so their runs stay min-cost flow."""
    if at_source:
        return False
    return heat_stated(dataset, requested) or heat_listed(dataset)


def offer_media(dataset: Dataset) -> NDArray[np.object_]:
    """Each offer's heat medium: the stated one, else `default_medium` of its temperature
    ("" for offers without a temperature)."""
    offers = dataset.offers
    temp = offers[f"q.{TEMPERATURE}"].to_numpy(float) if f"q.{TEMPERATURE}" in offers \
        else np.full(len(offers), np.nan)
    stated = offers["medium"].astype(str).to_numpy(dtype=object) if "medium" in offers \
        else np.full(len(offers), "", dtype=object)
    return np.array([m if m else (default_medium(t) if np.isfinite(t) else "")
                     for m, t in zip(stated, temp, strict=True)], dtype=object)


def delivered_temperature(temperature_c: NDArray[np.float64], media: NDArray[np.object_],
                          km: NDArray[np.float64]) -> NDArray[np.float64]:
    """T_source - drop_m x km per arc (°C); NaN where the medium is unknown."""
    drop = _per_medium(media, lambda m: heat_pipes()[m].temperature_drop_c_per_km, np.nan)
    return np.asarray(temperature_c, float) - drop * np.asarray(km, float)


def _loss(media: NDArray[np.object_]) -> NDArray[np.float64]:
    return _per_medium(media, lambda m: heat_pipes()[m].heat_loss_frac_per_km, 0.0)


def _per_medium(media: NDArray[np.object_], value: Callable[[str], float],
                none: float) -> NDArray[np.float64]:
    """`value(medium)` for each entry of `media` (`none` where it is ""), looked up once per
    distinct medium: the national instance's energy arcs are counted in hundreds of
    thousands, its media in ones."""
    kinds, where = np.unique(np.asarray(media, dtype=object).astype(str), return_inverse=True)
    return np.array([value(m) if m else none for m in kinds], float)[where]


def with_heat_at_delivery(dataset: Dataset, cand: Candidates,
                          accept_unstated: bool = False) -> Candidates:
    """The arcs with heat judged at delivery (module docstring), from arcs built without
    any temperature check: energy-family arcs whose offer states a temperature keep only
    what meets the temperature floor after the pipe's drop, at ratio 1 - loss x km. The
    floor is the need's own `min.temperature_c` where stated (a hot-water user at 70 °C is
    not held to the rule's steam floor), else the rule's (rule_limits.csv). An energy arc
    whose offer states no temperature is dropped where a floor applies, unless
    `accept_unstated` (then flagged `quality_unverified`). Other arcs are unchanged.

    Only the energy arcs are looked at (drops and losses looked up once per medium):
    on the national instance they are a small share of 31 M arcs, and a pass over every
    arc with per-arc Python lookups took 11 s and 3 GiB of temporaries."""
    offers, needs = dataset.offers, dataset.needs
    if not len(cand):
        return cand
    family = {slug: str(m.family) for slug, m in dataset.taxonomy.materials.items()}
    energy_offer = (offers["material"].map(family) == "energy").to_numpy(dtype=bool)
    pos = np.flatnonzero(energy_offer[cand.offer])  # the energy arcs
    if not len(pos):
        return cand
    o = cand.offer[pos]
    km = cand.distance_km[pos]
    column = f"q.{TEMPERATURE}"
    temp_offer = offers[column].to_numpy(float) if column in offers \
        else np.full(len(offers), np.nan)
    temp = temp_offer[o]
    tax = dataset.taxonomy
    originals = [tax.rule(r.need_material, r.offer_material) or r for r in cand.rules]
    rule_floor = np.array([max((lim.value for lim in r.limits
                                if lim.attribute == TEMPERATURE and lim.bound == "min"),
                               default=-np.inf) for r in originals], float)
    floor = rule_floor[cand.rule[pos]] if len(rule_floor) else np.full(len(pos), -np.inf)
    by_rule = np.isfinite(floor)  # a standard's floor (a need's own is explained apart)
    if f"min.{TEMPERATURE}" in needs:
        own = needs[f"min.{TEMPERATURE}"].to_numpy(float)[cand.need[pos]]
        by_rule &= ~np.isfinite(own)
        floor = np.where(np.isfinite(own), own, floor)
    heat = np.isfinite(temp)
    blind = ~heat & np.isfinite(floor)
    media = offer_media(dataset)[o]
    arrived = delivered_temperature(temp, media, km)
    ratio_pos = np.where(heat, 1.0 - _loss(media) * km, cand.ratio[pos])
    keep_pos = np.where(heat, (arrived >= floor) & (ratio_pos > 0), ~blind | accept_unstated)
    ratio = cand.ratio.copy()
    ratio[pos] = ratio_pos
    unverified = cand.quality_unverified.copy()
    unverified[pos] |= blind
    dropped = pos[~keep_pos]
    if not len(dropped):
        return replace(cand, ratio=ratio, quality_unverified=unverified)
    keep = np.ones(len(cand), bool)
    keep[dropped] = False
    arcs = np.flatnonzero(keep)
    # an offer that lost arcs to a standard's floor for want of a stated temperature is
    # told so (admission.py), as `build_candidates` tells it for every other limit
    unstated = np.unique(o[blind & by_rule & ~keep_pos])
    return replace(cand.subset(arcs), ratio=ratio[arcs], quality_unverified=unverified[arcs]
                   ).with_blocked([(unstated, BLOCK_QUALITY_NOT_STATED, TEMPERATURE)]
                                  if len(unstated) else [])


def with_return_offers(dataset: Dataset) -> Dataset:
    """`dataset` with one offer per cascade need (module docstring) appended: id
    `return:<need_id>`, at the need's enterprise, waste heat as hot water at the return
    temperature, quantity `return_share` x the need's quantity (the most it can give back;
    the LP bounds it by what the need receives), `cascade_of` = the need's id. Other offers
    get `cascade_of` "". Unchanged when no need gives heat back."""
    which = cascade_needs(dataset)
    if not which.any():
        return dataset
    needs = dataset.needs[which]
    offers = dataset.offers.copy()
    offers["cascade_of"] = ""
    extra = pd.DataFrame(index=pd.Index([RETURN_PREFIX + str(i) for i in needs.index],
                                        name=offers.index.name), columns=offers.columns)
    for column in offers.columns:
        if offers[column].dtype == object:
            extra[column] = ""
        else:
            extra[column] = np.nan
    extra["enterprise_id"] = needs["enterprise_id"].to_numpy(dtype=object)
    extra["material"] = RETURN_MATERIAL
    extra["quantity"] = needs["return_share"].to_numpy(float) \
        * needs["quantity"].to_numpy(float)
    extra[f"q.{TEMPERATURE}"] = needs["return_temperature_c"].to_numpy(float)
    extra["medium"] = "hot_water"
    extra["cascade_of"] = needs.index.to_numpy(dtype=object)
    extra = extra.astype(offers.dtypes.to_dict())
    return replace(dataset, offers=pd.concat([offers, extra]))


def too_cold(dataset: Dataset, cand: Candidates, offer_rows: NDArray[np.integer],
             max_km: float | None, lang: str = "en") -> dict[int, str]:
    """For heat offers at `offer_rows`: why the nearest compatible need in reach has no arc
    because the heat arrives below its floor, as a sentence (offer row -> text); offers with
    no such need are left out. Floors as in `with_heat_at_delivery`."""
    offers, needs, tax = dataset.offers, dataset.needs, dataset.taxonomy
    column = f"q.{TEMPERATURE}"
    if column not in offers or not len(offer_rows):
        return {}
    ent = dataset.enterprises.index
    off_ent = ent.get_indexer(offers["enterprise_id"]).astype(np.int64)
    need_ent = ent.get_indexer(needs["enterprise_id"]).astype(np.int64)
    measure = cand.distance_rule(dataset)
    media = offer_media(dataset)
    own = needs[f"min.{TEMPERATURE}"].to_numpy(float) if f"min.{TEMPERATURE}" in needs \
        else np.full(len(needs), np.nan)
    need_mat = needs["material"].to_numpy(dtype=object)
    out: dict[int, str] = {}
    for o in (int(x) for x in offer_rows):
        temp = float(offers[column].iat[o])
        if not np.isfinite(temp) or not media[o]:
            continue
        material = str(offers["material"].iat[o])
        best: tuple[float, int, float, float] | None = None
        for need_material in sorted(set(need_mat.tolist())):
            rule = tax.rule(need_material, material)
            if rule is None:
                continue
            rows = np.flatnonzero(need_mat == need_material)
            _, j, km, _ = measure.within(off_ent[[o]], need_ent[rows],
                                         reach_km(tax, material, max_km), material, log=False)
            rule_floor = max((lim.value for lim in rule.limits if lim.attribute == TEMPERATURE
                              and lim.bound == "min"), default=-np.inf)
            for n, d in zip(rows[j], km, strict=True):
                floor = own[n] if np.isfinite(own[n]) else rule_floor
                arrived = temp - heat_pipes()[media[o]].temperature_drop_c_per_km * d
                # a source already below the floor keeps the plain quality reason
                if temp >= floor > arrived and (best is None or d < best[0]):
                    best = (float(d), int(n), float(arrived), float(floor))
        if best is not None:
            d, n, arrived, floor = best
            out[o] = t("heat.too_cold", lang, need=str(needs.index[n]),
                       enterprise=str(needs["enterprise_id"].iat[n]), km=d, supply=temp,
                       medium=t(f"heat.medium_{media[o]}", lang), arrived=arrived,
                       floor=floor)
    return out
