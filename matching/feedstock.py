"""Feedstock search for recycling and building-materials firms: the offers of a material, or
of the by-products a rule lets stand in for it, within a radius of a point, filtered by
quality and ranked by distance or by delivered cost.

`material` is either a by-product slug (fly_ash: its offers; with substitutes, also offers
of by-products that serve one of the same uses, one hit per shared use) or an input slug
(wallboard_gypsum: offers of every material a rule lets serve it, with the rule's ratio).

    distance_km    = with `exclude_enterprise` (the searcher's own site): the one distance
                     rule of a match run between the supplier and the searcher
                     (`geo.distance.pair_km`: distances.csv either way, road km when
                     `distances` brings a road network, else great circle from (lon, lat)
                     x circuity); from a free point: great circle (R = 6371.0088 km) from
                     (lon, lat) x circuity
    delivered_cost = rate_m x distance_km + loading_m + treatment_o   (CNY per offered unit)

rate_m and loading_m are resolved per offered material exactly as a match run resolves
them (`matching.economics.material_rates`: transport.csv row, else its default row, else
the built-in factor; heat and water by pipe cost nothing unless transport.csv says so);
treatment_o is the offer's `treatment_cost` (blank = 0). The radius is the searcher's
own: the materials' default reaches do not apply here.

Quality: a hit must state and meet every limit of its rule, as a match run's candidate
arcs must (issue 13: unstated quality is blocked by default); with the run option
`accept_unstated_quality` an unstated attribute passes and is named in `unverified`, as
candidate arcs are flagged. `material` may also be a Chinese or English name or synonym
(粉煤灰, "fly ash"); an unknown one gets a did-you-mean in both languages. And
every `limits` bound the searcher gives with a stated value: an offer that does not state
an attribute the searcher asked for is left out, as a need's own min./max. requirement
leaves it out of a match run.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from symbiosis.bands import quantity_band
from symbiosis.contract import match_key, material_resolver, suggest_material
from symbiosis.dataset import Dataset
from symbiosis.errors import InvalidDataError, Problem
from symbiosis.geo.distance import DistanceRule, haversine_km
from symbiosis.matching.candidates import rule_limit_check
from symbiosis.matching.economics import material_rates
from symbiosis.matching.model import MatchOptions
from symbiosis.taxonomy import QualityLimit, Taxonomy

if TYPE_CHECKING:
    from symbiosis.geo.provider import GeoDistances

__all__ = ["FeedstockHit", "search_feedstock", "site_km"]

FILE = "search"
_LIMIT_KEY = re.compile(r"^(min|max)\.([a-z][a-z0-9_]*)$")
_DIVISION = re.compile(r"^[A-T]?(\d{2})")


@dataclass(frozen=True)
class FeedstockHit:
    """One offer a searcher could take in: exact figures (the HTTP layer anonymises them
    with `as_public`). `serves` is the use it is found for (None for the searched
    by-product itself), `ratio` the need units one offered unit meets there;
    `unverified` names the rule-limited attributes the offer does not state."""

    offer_id: str
    enterprise_id: str
    material: str
    serves: str | None
    ratio: float
    quantity: float
    unit: str
    distance_km: float
    delivered_cost_cny_per_unit: float
    quality: dict[str, float]
    sector: str | None
    park: str | None
    unverified: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """Exact JSON form (for the offer's owner or trusted callers)."""
        return {
            "offer_id": self.offer_id, "enterprise_id": self.enterprise_id,
            "material": self.material, "serves": self.serves, "ratio": self.ratio,
            "quantity": self.quantity, "unit": self.unit, "distance_km": self.distance_km,
            "delivered_cost_cny_per_unit": self.delivered_cost_cny_per_unit,
            "quality": dict(self.quality), "sector": self.sector, "park": self.park,
            "unverified": list(self.unverified),
        }

    def as_public(self, handle: str) -> dict[str, Any]:
        """Anonymised JSON form: `handle` instead of ids, a fixed quantity band instead of
        the quantity, distance to 1 km, cost to 0.01 CNY, the sector's 2-digit division."""
        division = _DIVISION.match(self.sector or "")
        return {
            "handle": handle,
            "material": self.material,
            "serves": self.serves,
            "ratio": self.ratio,
            "unit": self.unit,
            "quantity_band": quantity_band(self.quantity, self.unit).as_dict(),
            "distance_km": round(self.distance_km),
            "delivered_cost_cny_per_unit": round(self.delivered_cost_cny_per_unit, 2),
            "quality": dict(self.quality),
            "sector_division": division.group(1) if division else None,
            "park": self.park,
            "unverified": list(self.unverified),
        }


@dataclass(frozen=True)
class _Source:
    """Offers of `material` found for use `serves` at `ratio`, under the rule's limits."""

    material: str
    serves: str | None
    ratio: float
    limits: tuple[QualityLimit, ...]


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _is_need_side(tax: Taxonomy, material: str) -> bool:
    """An input category, or a dataset material its rules name only as a need."""
    kind = tax.materials[material].kind
    if kind == "input":
        return True
    if kind == "custom":
        as_need = any(n == material for n, _ in tax.rules)
        as_offer = any(o == material for _, o in tax.rules)
        return as_need and not as_offer
    return False


def _sources(tax: Taxonomy, material: str, include_substitutes: bool) -> list[_Source]:
    if _is_need_side(tax, material):
        out = []
        for offer_mat in tax.offer_materials_for(material):
            rule = tax.rule(material, offer_mat)
            if rule is not None:
                out.append(_Source(offer_mat, material, rule.ratio, rule.limits))
        return out
    found = [_Source(material, None, 1.0, ())]
    if include_substitutes:
        uses = sorted({n for n, o in tax.rules if o == material})
        for need in uses:
            for other in tax.offer_materials_for(need):
                rule = tax.rule(need, other)
                if other != material and rule is not None:
                    found.append(_Source(other, need, rule.ratio, rule.limits))
    return found


def _check(dataset: Dataset, material: str, lon: float, lat: float, radius_km: float,
           limits: Mapping[str, float], sort: str, limit: int, circuity: float,
           exclude_enterprise: str | None) -> list[Problem]:
    tax = dataset.taxonomy
    problems: list[Problem] = []

    def bad(column: str, message: str) -> None:
        problems.append(Problem(FILE, None, column, message))

    if material not in tax.materials:
        bad("material", f"unknown material '{material}'{suggest_material(material, tax)}")
    if not (isinstance(lon, int | float) and math.isfinite(lon) and abs(lon) <= 180):
        bad("lon", f"longitude must be a number in [-180, 180], got {lon!r}")
    if not (isinstance(lat, int | float) and math.isfinite(lat) and abs(lat) <= 90):
        bad("lat", f"latitude must be a number in [-90, 90], got {lat!r}")
    if not (isinstance(radius_km, int | float) and radius_km >= 0):
        bad("radius_km", f"radius_km must be a number >= 0, got {radius_km!r}")
    if not (isinstance(circuity, int | float) and math.isfinite(circuity) and circuity > 0):
        bad("circuity", f"circuity must be a positive number, got {circuity!r}")
    if sort not in ("distance", "delivered_cost"):
        bad("sort", f"sort must be 'distance' or 'delivered_cost', got {sort!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        bad("limit", f"limit must be a whole number >= 1, got {limit!r}")
    if exclude_enterprise is not None and exclude_enterprise not in dataset.enterprises.index:
        bad("exclude_enterprise", f"'{exclude_enterprise}' is not an enterprise id"
            f"{_suggest(str(exclude_enterprise), dataset.enterprises.index)}")
    known = ({c[2:] for c in dataset.quality_columns} | tax.quality_attributes()
             | {c.split(".", 1)[1] for c in dataset.needs.columns
                if c.startswith(("min.", "max."))})
    for key, value in limits.items():
        match = _LIMIT_KEY.match(str(key))
        if match is None:
            bad(str(key), "a limit is min.<attribute> or max.<attribute>, e.g. max.loi_pct")
        elif match.group(2) not in known:
            bad(str(key), f"no offer states and no rule limits '{match.group(2)}'"
                f"{_suggest(match.group(2), known)}")
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value):
            bad(str(key), f"the limit must be a finite number, got {value!r}")
    return problems


def site_km(dataset: Dataset, site: str, supplier: str,
            options: MatchOptions | None = None,
            distances: GeoDistances | None = None) -> float:
    """The km a search from enterprise `site` reports for `supplier`: the one distance
    rule (`geo.distance.pair_km`) from the supplier to the site under the run's `options`
    (circuity) and road network.

    Raises:
        KeyError: `site` or `supplier` is not an enterprise id.
        ValueError: circuity not a positive finite number.
    """
    options = options or MatchOptions()
    measure = DistanceRule.of(dataset, options.circuity, distances)
    ids = dataset.enterprises.index
    pos = ids.get_indexer([supplier, site])
    if (pos < 0).any():
        raise KeyError(f"not an enterprise id: {supplier if pos[0] < 0 else site}")
    km, _ = measure.km(pos[:1], pos[1:], log=False)
    return float(km[0])


def search_feedstock(
    dataset: Dataset,
    material: str,
    lon: float,
    lat: float,
    radius_km: float,
    *,
    include_substitutes: bool = True,
    limits: Mapping[str, float] | None = None,
    sort: Literal["distance", "delivered_cost"] = "distance",
    limit: int = 50,
    options: MatchOptions | None = None,
    exclude_enterprise: str | None = None,
    distances: GeoDistances | None = None,
) -> list[FeedstockHit]:
    """Offers within `radius_km` of (lon, lat) that supply `material` (see the module
    docstring), nearest or cheapest delivered first, at most `limit` of them.

    `exclude_enterprise` is the searching enterprise: its own offers are left out and the
    km are the match run's (listed distances, roads with `distances`); `options` gives the
    circuity (its reaches do not apply: the radius is the searcher's).

    `options.accept_unstated_quality` lets offers that do not state a rule-limited
    attribute through (named in `unverified`); by default they are left out.

    Raises:
        InvalidDataError: (file `search`) listing every bad argument, with a did-you-mean
            for an unknown material (slug, Chinese and English name) or attribute.
    """
    limits = dict(limits or {})
    options = options or MatchOptions()
    circuity = options.circuity
    if isinstance(material, str) and material not in dataset.taxonomy.materials:
        # a Chinese or English name or a synonym (粉煤灰, "fly ash") names the same material
        material = material_resolver(dataset.taxonomy).get(match_key(material), material)
    problems = _check(dataset, material, lon, lat, radius_km, limits, sort, limit, circuity,
                      exclude_enterprise)
    if problems:
        raise InvalidDataError(problems)
    tax = dataset.taxonomy
    offers, ents = dataset.offers, dataset.enterprises
    offer_mat = offers["material"].to_numpy(dtype=object)
    owner = offers["enterprise_id"].to_numpy(dtype=object)
    own = owner == exclude_enterprise if exclude_enterprise is not None \
        else np.zeros(len(offers), dtype=bool)

    # the searcher's own bounds: a stated value that meets every one
    meets_user = np.ones(len(offers), dtype=bool)
    for key, bound in limits.items():
        kind, attribute = key.split(".", 1)
        column = f"q.{attribute}"
        if column not in offers.columns:
            meets_user[:] = False
            continue
        value = offers[column].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            meets = value >= bound if kind == "min" else value <= bound
        meets_user &= np.isfinite(value) & meets

    # distance to every supplier once: the run's rule from the searcher's site, or great
    # circle x circuity from a free point
    ent_lon = ents["lon"].reindex(owner).to_numpy(float)
    ent_lat = ents["lat"].reindex(owner).to_numpy(float)
    sector = ents["sector"].reindex(owner).to_numpy(dtype=object)
    park = ents["park"].reindex(owner).to_numpy(dtype=object)
    gc = np.asarray(haversine_km(lon, lat, ent_lon, ent_lat), float)
    km = gc * circuity
    if exclude_enterprise is not None:
        measure = DistanceRule.of(dataset, circuity, distances)
        owner_pos = ents.index.get_indexer(owner).astype(np.int64)
        site = np.full(len(owner), ents.index.get_loc(exclude_enterprise), np.int64)
        for mat in sorted(set(offer_mat.tolist())):
            rows = np.flatnonzero((offer_mat == mat) & ~own)
            km[rows] = measure.km(owner_pos[rows], site[rows], str(mat), radius_km,
                                  gc[rows], log=False)[0]
    near = km <= radius_km

    sources = _sources(tax, material, include_substitutes)
    rates = material_rates(dataset, sorted({s.material for s in sources}))
    treatment = np.nan_to_num(offers["treatment_cost"].to_numpy(dtype=float), nan=0.0)
    q_cols = dataset.quality_columns
    q_values = offers[q_cols].to_numpy(dtype=float) if q_cols else np.empty((len(offers), 0))
    hits: list[FeedstockHit] = []
    for source in sources:
        pick = (offer_mat == source.material) & ~own & meets_user & near
        unverified: list[np.ndarray] = []
        names: list[str] = []
        for lim in source.limits:
            stated, passes = rule_limit_check(offers, lim)
            pick &= passes
            if not options.accept_unstated_quality:
                pick &= stated  # a standard's limit the offer does not state: no hit
            unverified.append(~stated)
            names.append(lim.attribute)
        rate, loading, _ = rates[source.material]
        unit = tax.materials[source.material].unit
        for i in np.flatnonzero(pick):
            quality = {c[2:]: float(v) for c, v in zip(q_cols, q_values[i], strict=True)
                       if math.isfinite(v)}
            missing = tuple(sorted({n for n, u in zip(names, unverified, strict=True)
                                    if u[i]}))
            hits.append(FeedstockHit(
                offer_id=str(offers.index[i]),
                enterprise_id=str(owner[i]),
                material=source.material,
                serves=source.serves,
                ratio=source.ratio,
                quantity=float(offers["quantity"].iat[i]),
                unit=unit,
                distance_km=float(km[i]),
                delivered_cost_cny_per_unit=rate * float(km[i]) + loading
                + float(treatment[i]),
                quality=quality,
                sector=str(sector[i]) or None,
                park=str(park[i]) or None,
                unverified=missing,
            ))
    # ties: the searched material itself before stand-ins, then by id and use
    if sort == "distance":
        hits.sort(key=lambda h: (h.distance_km, h.delivered_cost_cny_per_unit,
                                 h.serves is not None, h.offer_id, h.serves or ""))
    else:
        hits.sort(key=lambda h: (h.delivered_cost_cny_per_unit, h.distance_km,
                                 h.serves is not None, h.offer_id, h.serves or ""))
    return hits[:limit]
