"""Gap analysis: which by-products a run leaves unmatched, which kinds of enterprise would
absorb them, and where such a newcomer would sit to haul the least within reach (a park's
"open loops").

For each unmatched offered material X and each need material N a rule lets X serve (the
dataset's own substitutions included; X itself when a dataset or `need_sectors.csv` names
it as a need), an absorber lists the GB/T 4754-2017 industry classes that take N in
(`symbiosis/data/need_sectors.csv`), the quantity it could take (unmatched x ratio, in N's
unit), and an indicative location: the point p minimising the quantity-weighted haul

    f(p) = sum_i w_i * d(p, s_i)        w_i = unmatched quantity of supplier i (offer units)

with d the great-circle distance (haversine, R = 6371.0088 km), over the suppliers the
location serves: those within the offered material's reach of it (`candidates.reach_km`, so
the run's `max_km` overrides every default reach, as in the match). The served suppliers
are the largest quantity that one site can gather within reach: for each supplier site c,
the suppliers within reach of c under the run's distance rule (`geo.distance.pair_km`:
distances.csv both ways, road km with roads, great circle x circuity otherwise); the
heaviest such set is served, p is its weighted geometric median when every member lies
within reach of p, else the site c itself. Hauls are measured with the same rule where p is
an enterprise's site; from a free point they are great circle x circuity (no table lists
it, and a road route from a point that is no enterprise is not computed). The suppliers left
out are listed as beyond reach; the location is therefore never beyond the reach of a
supplier it serves. Offers whose stated quality fails the rule's limits are left out of
that absorber (`quality_excluded`); offers that do not state an attribute the rule limits
are left out too (`quality_not_stated`, with the attributes), as a match run leaves them
out, unless the run accepts unstated quality (then `quality_unverified`). Needs left
short are out of scope: a park manager looks for takers of its by-products here.

With integer logistics (min lots, partner limits, contracts, contract costs, trucks) the
unmatched quantities are those of the run's plan (the MILP's when `solve_match` sent it
there), but the absorbers are not re-solved: one MILP per candidate taker and location
would be too costly. Their figures are therefore the continuous relaxation's, and
`Gaps.integer` says so (`absorbers_basis: continuous_relaxation`) with the features. The
listing-level limits are applied exactly all the same: an offer whose own `min_lot`
exceeds what it has left, or that already trades with as many partners as its limit
allows, cannot start an exchange with a newcomer, and is counted as `integer_excluded`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from symbiosis.dataset import Dataset
from symbiosis.geo.distance import DistanceRule, haversine_km
from symbiosis.matching.candidates import reach_km, rule_limit_check
from symbiosis.matching.model import MatchOptions
from symbiosis.matching.result import MatchResult
from symbiosis.taxonomy import QualityLimit
from symbiosis.types import FloatArray

if TYPE_CHECKING:
    from symbiosis.geo.provider import GeoDistances

__all__ = [
    "Absorber",
    "Gaps",
    "NeedSector",
    "UnmatchedMaterial",
    "find_gaps",
    "load_need_sectors",
    "weighted_geometric_median",
]

COINCIDENT_RAD = 1e-15  # angular distance below which an iterate sits on a supplier
STEP_TOL_RAD = 1e-13  # about 0.6 mm on the ground: the iteration has converged
MAX_ITERATIONS = 10_000
SNAP_EVERY = 32  # iterations between checks whether the nearest supplier is the optimum


@dataclass(frozen=True)
class NeedSector:
    """An industry class (GB/T 4754-2017) whose enterprises typically take a need material."""

    need_material: str
    code: str
    name_en: str
    name_zh: str
    source: str
    confidence: str
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        """JSON form (without the need material, which the absorber names)."""
        return {"code": self.code, "name_en": self.name_en, "name_zh": self.name_zh,
                "confidence": self.confidence, "source": self.source, "note": self.note}


@cache
def load_need_sectors() -> Mapping[str, tuple[NeedSector, ...]]:
    """need material -> the industry classes that take it in (need_sectors.csv, read once)."""
    text = resources.files("symbiosis").joinpath("data", "need_sectors.csv") \
        .read_text(encoding="utf-8")
    out: dict[str, list[NeedSector]] = {}
    for row in csv.DictReader(text.splitlines()):
        cell = {k.strip(): (v or "").strip() for k, v in row.items()}
        out.setdefault(cell["need_material"], []).append(NeedSector(
            need_material=cell["need_material"], code=cell["code"], name_en=cell["name_en"],
            name_zh=cell["name_zh"], source=cell["source"], confidence=cell["confidence"],
            note=cell.get("note", "")))
    return MappingProxyType({k: tuple(v) for k, v in out.items()})


@dataclass(frozen=True)
class UnmatchedMaterial:
    """An offered material with quantity left over: how much, in how many offers, and why."""

    material: str
    name_en: str
    name_zh: str
    unit: str
    quantity: float
    offers: int
    reasons: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"material": self.material, "name_en": self.name_en, "name_zh": self.name_zh,
                "unit": self.unit, "quantity": self.quantity, "offers": self.offers,
                "reasons": dict(self.reasons)}


@dataclass(frozen=True)
class Absorber:
    """A kind of enterprise that would take an unmatched by-product in, and where.

    `quantity`, `quantity_within_reach` and `quality_excluded` are in the need material's
    unit per year; `lon`/`lat` is the location (module docstring), within `reach_km` of
    every supplier it serves; `mean_haul_km` is the quantity-weighted haul of the served
    suppliers to it; `suppliers` are all of them, `beyond_reach` those it does not serve.
    """

    offer_material: str
    need_material: str
    name_en: str
    name_zh: str
    unit: str
    ratio: float
    sectors: tuple[NeedSector, ...]
    quantity: float
    lon: float
    lat: float
    mean_haul_km: float
    reach_km: float | None
    quantity_within_reach: float
    beyond_reach: tuple[str, ...]
    suppliers: tuple[str, ...]
    quality_excluded: float
    quality_not_stated: float = 0.0
    attributes_not_stated: tuple[str, ...] = ()
    quality_unverified: float = 0.0
    # unmatched of offers that cannot start a new exchange: own min_lot above what is left,
    # or partner limit reached (integer logistics; module docstring), need units
    integer_excluded: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "offer_material": self.offer_material,
            "need_material": self.need_material,
            "name_en": self.name_en,
            "name_zh": self.name_zh,
            "unit": self.unit,
            "ratio": self.ratio,
            "sectors": [s.as_dict() for s in self.sectors],
            "quantity": self.quantity,
            "location": {"lon": self.lon, "lat": self.lat},
            "mean_haul_km": self.mean_haul_km,
            "within_reach": {"reach_km": self.reach_km,
                             "quantity": self.quantity_within_reach,
                             "beyond": list(self.beyond_reach)},
            "suppliers": list(self.suppliers),
            "quality_excluded": self.quality_excluded,
            "quality_not_stated": {"quantity": self.quality_not_stated,
                                   "attributes": list(self.attributes_not_stated)},
            "quality_unverified": self.quality_unverified,
            "integer_excluded": self.integer_excluded,
        }


@dataclass(frozen=True)
class Gaps:
    """Unmatched by-products (by material) and the absorbers that would take them,
    largest quantity first."""

    unmatched: tuple[UnmatchedMaterial, ...]
    absorbers: tuple[Absorber, ...]
    circuity: float
    # with integer logistics: {features, plan (milp/continuous), absorbers_basis
    # (continuous_relaxation), note}; None without (module docstring)
    integer: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form: circuity, unmatched, absorbers, integer."""
        return {"circuity": self.circuity,
                "unmatched": [u.as_dict() for u in self.unmatched],
                "absorbers": [a.as_dict() for a in self.absorbers],
                "integer": dict(self.integer) if self.integer is not None else None}


INTEGER_NOTE = ("the unmatched quantities are the {plan} plan's; the absorbers are not "
                "re-solved with integer logistics (one MILP per candidate taker would be too "
                "costly): their quantities and locations are the continuous relaxation's, "
                "and a newcomer's contract cost, lot or partner limit, or re-arranging the "
                "plan around it, may change them. Offers whose min_lot exceeds what they "
                "have left, or that reached their partner limit, are left out "
                "(integer_excluded).")


# ----------------------------------------------------------------------------- the median


def _unit_xyz(lon: FloatArray, lat: FloatArray) -> FloatArray:
    lam, phi = np.radians(lon), np.radians(lat)
    return np.column_stack((np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam),
                            np.sin(phi)))


def _directions(y: FloatArray, xyz: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Angular distance from y to each point and the unit tangent at y pointing to it
    (zero for a point at y): the sphere's log map, log_y(x_i) = theta_i * u_i."""
    dots = xyz @ y
    v = xyz - dots[:, None] * y
    s = np.linalg.norm(v, axis=1)
    theta = np.arctan2(s, dots)
    u = np.zeros_like(v)
    away = s > 0
    u[away] = v[away] / s[away, None]
    return theta, u


def _optimal_at(xyz: FloatArray, w: FloatArray, j: int) -> bool:
    """Point j minimises f iff the pull of the others, |sum_{i != j} w_i u_i|, is at most
    w_j (the subgradient condition at a data point; Kuhn 1973)."""
    _, u = _directions(xyz[j], xyz)
    others = np.arange(len(w)) != j
    pull = np.linalg.norm((w[others, None] * u[others]).sum(axis=0))
    return bool(pull <= w[j] * (1.0 + 1e-12))


def _step(xyz: FloatArray, w: FloatArray, y: FloatArray) -> FloatArray | None:
    """One Weiszfeld step in the tangent plane at y, with Vardi and Zhang's (2000) fix when
    y sits on a supplier; None when y is that supplier and it is optimal."""
    theta, u = _directions(y, xyz)
    on = theta <= COINCIDENT_RAD
    pull = (w[~on, None] * u[~on]).sum(axis=0)
    target = pull / float((w[~on] / theta[~on]).sum())
    eta = float(w[on].sum())
    if eta > 0.0:
        r = float(np.linalg.norm(pull))
        if r <= eta:
            return None
        target = target * (1.0 - eta / r)
    return target


def _nearest(xyz: FloatArray, y: FloatArray) -> int:
    return int(np.argmax(xyz @ y))


def _exp(y: FloatArray, v: FloatArray) -> FloatArray:
    """The sphere's exponential map: walk |v| radians from y along the tangent v."""
    a = float(np.linalg.norm(v))
    if a == 0.0:
        return y
    out = math.cos(a) * y + math.sin(a) * (v / a)
    return out / np.linalg.norm(out)


def weighted_geometric_median(lon: ArrayLike, lat: ArrayLike,
                              weights: ArrayLike) -> tuple[float, float]:
    """The point (lon, lat) minimising sum_i w_i x great-circle distance to (lon_i, lat_i).

    Weiszfeld's algorithm run on the sphere itself (the Riemannian form of Fletcher,
    Venkatasubramanian and Joshi 2009, NeuroImage 45: S143-S152): each step is the
    weighted mean of the log-mapped suppliers, w_i / theta_i, walked back onto the sphere.
    Working on the sphere rather than in a projection means the objective minimised is
    exactly the haversine haul reported, at any extent. Coincident suppliers are merged
    (weights added); one supplier, or one whose weight outweighs the pull of all others
    (e.g. more than half the total), is the answer exactly; an iterate that lands on a
    supplier takes Vardi and Zhang's (2000, PNAS 97: 1423) modified step. Suppliers are
    assumed to lie well within a hemisphere, as any region worth hauling across does.

    Raises:
        ValueError: arrays of different or zero length, or weights not finite and > 0.
    """
    lon_a, lat_a, w_a = (np.asarray(v, dtype=float).ravel() for v in (lon, lat, weights))
    if not (len(lon_a) == len(lat_a) == len(w_a)) or len(w_a) == 0:
        raise ValueError("lon, lat and weights must be equally long and not empty")
    if not (np.all(np.isfinite(w_a)) and np.all(w_a > 0)):
        raise ValueError("weights must be finite and > 0")
    points, inverse = np.unique(np.column_stack((lon_a, lat_a)), axis=0, return_inverse=True)
    w = np.bincount(inverse.ravel(), weights=w_a).astype(np.float64)
    if len(points) == 1:
        return float(points[0, 0]), float(points[0, 1])
    xyz = _unit_xyz(points[:, 0], points[:, 1])
    heaviest = int(np.argmax(w))
    if _optimal_at(xyz, w, heaviest):
        return float(points[heaviest, 0]), float(points[heaviest, 1])
    y = (w[:, None] * xyz).sum(axis=0)
    norm = float(np.linalg.norm(y))
    y = y / norm if norm > 1e-12 else xyz[heaviest]
    for k in range(MAX_ITERATIONS):
        step = _step(xyz, w, y)
        if step is None:
            break
        y = _exp(y, step)
        if float(np.linalg.norm(step)) < STEP_TOL_RAD:
            break
        if k % SNAP_EVERY == SNAP_EVERY - 1 and _optimal_at(xyz, w, _nearest(xyz, y)):
            break
    # the iteration creeps towards an optimal supplier without landing on it: snap
    nearest = _nearest(xyz, y)
    if _optimal_at(xyz, w, nearest):
        return float(points[nearest, 0]), float(points[nearest, 1])
    lat_out = math.degrees(math.asin(max(-1.0, min(1.0, float(y[2])))))
    lon_out = math.degrees(math.atan2(float(y[1]), float(y[0])))
    return lon_out, lat_out


# ----------------------------------------------------------------------------- the gaps


def _passes(offers: pd.DataFrame, limits: tuple[QualityLimit, ...]
            ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], dict[str, NDArray[np.bool_]]]:
    """Per offer: meets every stated limit; states every limited attribute; and per
    limited attribute, which offers do not state it (as candidate arcs judge them)."""
    ok = np.ones(len(offers), dtype=bool)
    stated_all = np.ones(len(offers), dtype=bool)
    missing: dict[str, NDArray[np.bool_]] = {}
    for limit in limits:
        stated, passes = rule_limit_check(offers, limit)
        ok &= passes
        stated_all &= stated
        missing[limit.attribute] = missing.get(limit.attribute, np.zeros(len(offers), bool)) \
            | ~stated
    return ok, stated_all, missing


def _uses(dataset: Dataset, material: str) -> list[str]:
    """Need materials an offer of `material` can serve, itself included when a dataset or
    need_sectors.csv names it as a need."""
    tax = dataset.taxonomy
    uses = {n for (n, o) in tax.rules if o == material}
    if material in load_need_sectors() or (dataset.needs["material"] == material).any():
        uses.add(material)
    return sorted(uses)


def _served(measure: DistanceRule, pos: NDArray[np.int64], w: FloatArray, reach: float,
            material: str) -> tuple[NDArray[np.bool_], float, float, FloatArray]:
    """Which suppliers (enterprise positions `pos`, weights `w`) one location serves within
    `reach`, the location (lon, lat) and the haul of each served supplier to it (km)."""
    lon, lat = measure.lon[pos], measure.lat[pos]
    n = len(pos)
    cover = w.copy()  # every site serves itself
    if not math.isfinite(reach):
        site = np.ones(n, dtype=bool)
    else:
        i, j, _, _ = measure.within(pos, pos, reach, material, log=False)
        np.add.at(cover, i, w[j])
        best = int(np.argmax(cover))
        site = np.zeros(n, dtype=bool)
        site[best] = True
        site[j[i == best]] = True
    members = np.flatnonzero(site)
    p_lon, p_lat = weighted_geometric_median(lon[members], lat[members], w[members])
    haul = _haul_from(measure, pos[members], p_lon, p_lat, material, reach)
    if math.isfinite(reach) and not bool((haul <= reach).all()):
        best = int(np.argmax(np.where(site, cover, -np.inf)))  # the gathering site itself
        p_lon, p_lat = float(lon[best]), float(lat[best])
        haul = _haul_from(measure, pos[members], p_lon, p_lat, material, reach)
    served = np.zeros(n, dtype=bool)
    served[members] = True
    return served, p_lon, p_lat, haul


def _haul_from(measure: DistanceRule, pos: NDArray[np.int64], p_lon: float, p_lat: float,
               material: str, reach: float) -> FloatArray:
    """km from the location to each supplier at `pos`: the one rule where the location is
    one of their sites, else great circle x circuity."""
    at = np.flatnonzero((measure.lon[pos] == p_lon) & (measure.lat[pos] == p_lat))
    if not len(at):
        return np.asarray(haversine_km(p_lon, p_lat, measure.lon[pos], measure.lat[pos]),
                          float) * measure.circuity
    origin = np.full(len(pos), pos[at[0]], np.int64)
    limit = reach * 4.0 if math.isfinite(reach) else math.inf
    km, _ = measure.km(origin, pos, material, limit_km=limit, log=False)
    km[pos == pos[at[0]]] = 0.0
    return km


def _integer_blocked(dataset: Dataset, result: MatchResult, status: pd.DataFrame,
                     options: MatchOptions) -> NDArray[np.bool_]:
    """Per row of `status` (offers with quantity left): True when the offer cannot start
    another exchange, its own min_lot above what it has left or its partner limit (its
    own max_partners, else the run's) reached by the plan's exchanges."""
    offers = dataset.offers.reindex(status["offer_id"].to_numpy())
    left = status["unmatched"].to_numpy(float)
    lot = (offers["min_lot"].to_numpy(float) if "min_lot" in offers
           else np.full(len(offers), np.nan))
    blocked = np.nan_to_num(lot, nan=0.0) > left * (1 + 1e-12)
    limit = (offers["max_partners"].to_numpy(float) if "max_partners" in offers
             else np.full(len(offers), np.nan))
    if options.max_partners is not None:
        limit = np.where(np.isnan(limit), float(options.max_partners), limit)
    ex = result.exchanges
    if len(ex) and "offer_id" in ex:
        partners = ex.groupby("offer_id")["need_id"].nunique()
        count = partners.reindex(status["offer_id"].to_numpy()).fillna(0).to_numpy(float)
        blocked |= ~np.isnan(limit) & (count >= np.nan_to_num(limit, nan=np.inf))
    return np.asarray(blocked, bool)


def _absorber(dataset: Dataset, left: pd.DataFrame, material: str, need: str,
              measure: DistanceRule, max_km: float | None,
              accept_unstated: bool = False) -> Absorber | None:
    """The absorber `need` for the unmatched offers `left` of `material`. Offers failing a
    stated limit are `quality_excluded`; offers not stating a limited attribute are left
    out as `quality_not_stated` (with the attributes), unless `accept_unstated`, which
    keeps them and counts them as `quality_unverified` (the run's rule, issue 13)."""
    tax = dataset.taxonomy
    rule = tax.rule(need, material)
    if rule is None:
        return None
    quality = dataset.offers.loc[left["offer_id"].to_numpy()]
    meets, stated, missing = _passes(quality, rule.limits)
    unmatched = left["unmatched"].to_numpy(float)
    excluded = float(unmatched[~meets].sum()) * rule.ratio
    silent = meets & ~stated
    ok = meets if accept_unstated else meets & stated
    not_stated = 0.0 if accept_unstated else float(unmatched[silent].sum()) * rule.ratio
    unverified = float(unmatched[silent].sum()) * rule.ratio if accept_unstated else 0.0
    attributes = tuple(sorted(a for a, gone in missing.items() if (gone & meets).any()))
    blocked = left["integer_blocked"].to_numpy(bool) if "integer_blocked" in left \
        else np.zeros(len(left), bool)
    integer_excluded = float(unmatched[ok & blocked].sum()) * rule.ratio
    ok = ok & ~blocked
    kept = left.loc[ok]
    if kept.empty:
        return None
    by_ent = kept.groupby("enterprise_id", sort=True)["unmatched"].sum() * rule.ratio
    by_ent = by_ent.sort_values(ascending=False, kind="stable")
    pos = dataset.enterprises.index.get_indexer(by_ent.index).astype(np.int64)
    w = by_ent.to_numpy(float)
    reach = reach_km(tax, material, max_km)
    served, p_lon, p_lat, haul = _served(measure, pos, w, reach, material)
    need_mat = tax.materials[need]
    return Absorber(
        offer_material=material,
        need_material=need,
        name_en=need_mat.name_en,
        name_zh=need_mat.name_zh,
        unit=need_mat.unit,
        ratio=rule.ratio,
        sectors=load_need_sectors().get(need, ()),
        quantity=float(w.sum()),
        lon=p_lon,
        lat=p_lat,
        mean_haul_km=float((w[served] * haul).sum() / w[served].sum()),
        reach_km=reach if math.isfinite(reach) else None,
        quantity_within_reach=float(w[served].sum()),
        beyond_reach=tuple(sorted(str(e) for e in by_ent.index[~served])),
        suppliers=tuple(str(e) for e in by_ent.index),
        quality_excluded=excluded,
        quality_not_stated=not_stated,
        attributes_not_stated=attributes,
        quality_unverified=unverified,
        integer_excluded=integer_excluded,
    )


def find_gaps(dataset: Dataset, result: MatchResult,
              options: MatchOptions | None = None,
              distances: GeoDistances | None = None) -> Gaps:
    """The unmatched by-products of `result` (a run of `dataset`) and their absorbers.

    `options` are the run's (`max_km`, `circuity`, and the integer features: `Gaps.integer`
    flags absorbers computed on the continuous relaxation); `distances` brings the run's
    road network. Read the
    location as "where a taker would haul least within reach", not a siting study: land
    and zoning are not considered (see the module docstring for the maths).

    """
    from symbiosis.matching.logistics import integer_features

    options = options if options is not None else MatchOptions()
    measure = DistanceRule.of(dataset, options.circuity, distances)
    tax = dataset.taxonomy
    status = result.offers
    left = status.loc[status["unmatched"] > 0,
                      ["offer_id", "enterprise_id", "material", "unmatched", "reason"]]
    features = integer_features(dataset, options)
    integer: dict[str, Any] | None = None
    if features:
        plan = "milp" if result.summary.solver.milp is not None else "continuous"
        integer = {"features": features, "plan": plan,
                   "absorbers_basis": "continuous_relaxation",
                   "note": INTEGER_NOTE.format(plan=plan)}
        left = left.assign(integer_blocked=_integer_blocked(dataset, result, left, options))
    unmatched: list[UnmatchedMaterial] = []
    absorbers: list[Absorber] = []
    for material, group in left.groupby("material", sort=True):
        slug = str(material)
        mat = tax.materials[slug]
        codes = group["reason"].astype(str).str.split(";").explode()
        reasons = codes[codes != ""].value_counts()
        unmatched.append(UnmatchedMaterial(
            material=slug, name_en=mat.name_en, name_zh=mat.name_zh, unit=mat.unit,
            quantity=float(group["unmatched"].sum()), offers=len(group),
            reasons=MappingProxyType({str(k): int(reasons[k]) for k in sorted(reasons.index)})))
        for need in _uses(dataset, slug):
            found = _absorber(dataset, group, slug, need, measure, options.max_km,
                              options.accept_unstated_quality)
            if found is not None:
                absorbers.append(found)
    unmatched.sort(key=lambda u: -u.quantity)
    absorbers.sort(key=lambda a: -a.quantity)
    return Gaps(tuple(unmatched), tuple(absorbers), options.circuity, integer)
