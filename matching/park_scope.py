"""A park is not an island: one park's figures out of a plan of the whole region.

A park-scoped run (`symbiosis match --park NAME`, an API run with `park`) plans the park's
enterprises together with every partner in reach, inside and outside the park: the model is
the region's own (the same plan the region's run finds, so a park and its province never
disagree), and this module reports the park's slice of it:

- `bulk_solid_waste`: the official-rate formula of `matching.official_rate` applied to the
  park's offers only: the park's generation, its existing utilisation, and what the plan
  delivers from them wherever the taker is (inside the park or 54 km away outside it);
- `listed_surplus_share_matched`: the same over the park's listed surplus (mass materials,
  slag powders left out as in the region's share);
- `exchanges`: the plan's exchanges that touch the park, split into `intra_park` (both ends
  in the park), `outbound` (park supplier, outside receiver) and `inbound` (outside
  supplier, park receiver): count, mass tonnes and t-km of each, and the offer units of
  every family.

An enterprise is in the park when its `park` cell equals the name (after `geo.parks`
assigned polygons, where given).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from symbiosis.bulk import load_bulk_scope
from symbiosis.dataset import Dataset
from symbiosis.errors import OptionsError
from symbiosis.matching.official_rate import bulk_solid_waste
from symbiosis.matching.result import MatchResult

__all__ = ["SCOPES", "exchange_scope", "park_enterprises", "park_result", "park_scope",
           "with_park_scope"]

SCOPES = ("intra_park", "outbound", "inbound")


def park_enterprises(dataset: Dataset, park: str) -> set[str]:
    """Ids of the enterprises whose `park` is `park` (exact, after trimming).

    Raises:
        OptionsError: no enterprise of the dataset is in that park (names the parks there).
    """
    ent = dataset.enterprises
    names = ent["park"].astype(str).str.strip() if "park" in ent else \
        pd.Series("", index=ent.index)
    inside = {str(i) for i in ent.index[(names == park.strip()).to_numpy()]}
    if not inside:
        known = sorted({n for n in names if n})
        listed = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        raise OptionsError("park", f"no enterprise is in park '{park}'"
                           + (f"; parks in the dataset: {listed}" if known else
                              "; the dataset names no parks (column `park`)"))
    return inside


def exchange_scope(exchanges: pd.DataFrame, inside: set[str]) -> np.ndarray:
    """Per exchange: 'intra_park', 'outbound', 'inbound' or '' (neither end in the park)."""
    src = exchanges["offer_enterprise_id"].astype(str).isin(inside).to_numpy()
    dst = exchanges["need_enterprise_id"].astype(str).isin(inside).to_numpy()
    out = np.full(len(exchanges), "", dtype=object)
    out[src & dst] = "intra_park"
    out[src & ~dst] = "outbound"
    out[~src & dst] = "inbound"
    return out


def _split(dataset: Dataset, ex: pd.DataFrame, scope: np.ndarray) -> dict[str, Any]:
    fam = {slug: str(m.family) for slug, m in dataset.taxonomy.materials.items()}
    family = ex["offer_material"].map(fam).to_numpy(dtype=object)
    qty = ex["quantity"].to_numpy(float)
    unit_km = ex["unit_km"].to_numpy(float)
    out: dict[str, Any] = {}
    for name in SCOPES:
        sel = scope == name
        mass = sel & (family == "mass")
        out[name] = {
            "exchanges": int(sel.sum()),
            "tonnes": float(qty[mass].sum()),
            "tonne_km": float(unit_km[mass].sum()),
            "by_family": {f: float(qty[sel & (family == f)].sum())
                          for f in ("mass", "energy", "water") if (sel & (family == f)).any()},
        }
    tonnes = sum(out[n]["tonnes"] for n in SCOPES)
    for name in SCOPES:
        out[name]["share_of_tonnes"] = out[name]["tonnes"] / tonnes if tonnes > 0 else None
    return out


def park_scope(dataset: Dataset, result: MatchResult, park: str) -> dict[str, Any]:
    """summary.json's `park_scope` section (`matching.summary.ParkScope`) for `park`, out of
    `result`, a plan of the whole `dataset` (every partner in reach, in or out of the park).

    Raises:
        OptionsError: no enterprise of the dataset is in `park`.
    """
    inside = park_enterprises(dataset, park)
    offers = dataset.offers
    mine = offers["enterprise_id"].astype(str).isin(inside).to_numpy()
    matched_by_id = result.offers.set_index("offer_id")["matched"]
    matched = matched_by_id.reindex(offers.index).fillna(0.0).to_numpy(float)
    own = replace(dataset, offers=offers[mine])
    rate = bulk_solid_waste(own, matched[mine])
    fam = {slug: str(m.family) for slug, m in dataset.taxonomy.materials.items()}
    scope_data = load_bulk_scope()
    mass = (offers["material"].map(fam).to_numpy(dtype=object) == "mass") & ~np.array(
        [scope_data.is_derived(str(m)) for m in offers["material"]], dtype=bool)
    stock = np.nan_to_num(offers["stock"].to_numpy(float), nan=0.0) if "stock" in offers \
        else np.zeros(len(offers))
    qty = offers["quantity"].to_numpy(float)
    drawn = np.clip(matched - qty, 0.0, stock)
    listed = float(qty[mine & mass].sum()) + float(drawn[mine & mass].sum())
    placed = float(matched[mine & mass].sum())
    ex = result.exchanges
    scope = exchange_scope(ex, inside)
    touch = scope != ""
    money = result.summary.economics
    needs = dataset.needs
    need_mine = needs["enterprise_id"].astype(str).isin(inside).to_numpy()
    return {
        "park": park.strip(),
        "enterprises": len(inside),
        "offers": int(mine.sum()),
        "needs": int(need_mine.sum()),
        "partners_outside": len(
            {str(e) for e, s in zip(ex["need_enterprise_id"], scope, strict=True)
             if s == "outbound"}
            | {str(e) for e, s in zip(ex["offer_enterprise_id"], scope, strict=True)
               if s == "inbound"}),
        "tonnes_offered": float(qty[mine & mass].sum()),
        "tonnes_matched": placed,
        "listed_surplus_share_matched": placed / listed if listed > 0 else None,
        "bulk_solid_waste": rate,
        "exchanges": _split(dataset, ex, scope),
        "co2_net_t": float(ex["co2_net_t"].to_numpy(float)[touch].sum())
        if "co2_net_t" in ex else None,
        "saving_cny": float(ex["saving_cny"].to_numpy(float)[touch].sum())
        if "saving_cny" in ex and money is not None and money.computed else None,
        "note": ("the park's enterprises planned with every partner in reach inside and "
                 "outside the park (the region's plan); the park's rate counts what its "
                 "offers deliver wherever the taker is"),
    }


def with_park_scope(result: MatchResult, dataset: Dataset, park: str) -> MatchResult:
    """`result` (a plan of the whole `dataset`) with summary.json's `park_scope` section.

    Raises:
        OptionsError: no enterprise of the dataset is in `park`.
    """
    return result.with_summary(park_scope=park_scope(dataset, result, park))


def park_result(result: MatchResult, dataset: Dataset, park: str) -> MatchResult:
    """What a park's manager is shown of the region's plan (an API park run): the summary
    with `park_scope`; the exchanges touching the park, each with its `park_scope` kind and
    the outside party's enterprise and listing ids blanked (its distance, material and
    quantity stay; the `alternatives` column, which names other parties, is dropped); the
    park's own offers, needs and enterprises.

    Raises:
        OptionsError: no enterprise of the dataset is in `park`.
    """
    inside = park_enterprises(dataset, park)
    scoped = with_park_scope(result, dataset, park)
    ex = scoped.exchanges
    kind = exchange_scope(ex, inside)
    keep = kind != ""
    shown = ex.loc[keep].copy()
    kind = kind[keep]
    for side, outside in (("offer", "inbound"), ("need", "outbound")):
        mask = kind == outside
        for column in (f"{side}_enterprise_id", f"{side}_id"):
            if column in shown:
                shown[column] = shown[column].astype(object)
                shown.loc[mask, column] = ""
    shown["park_scope"] = kind
    # the ranked alternatives name other suppliers and takers, outside ones included
    shown = shown.drop(columns=["alternatives"], errors="ignore")
    shown = shown.reset_index(drop=True)

    def own(frame: pd.DataFrame, column: str) -> pd.DataFrame:
        if column not in frame:
            return frame
        return frame.loc[frame[column].astype(str).isin(inside).to_numpy()]

    return replace(scoped, exchanges=shown, offers=own(scoped.offers, "enterprise_id"),
                   needs=own(scoped.needs, "enterprise_id"),
                   enterprises=own(scoped.enterprises, "enterprise_id"))
