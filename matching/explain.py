"""Why the plan looks as it does: the alternatives each exchange beat, and why an offer is
left unmatched (no taker, takers too far, takers full and by whom, or no saving).

Everything is computed from the candidate arcs and the flows, vectorised where the arrays
are large; text is built only for the exchanges and unmatched offers that are reported.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from symbiosis.dataset import Dataset
from symbiosis.geo.distance import haversine_km
from symbiosis.matching.candidates import Candidates

__all__ = ["explain_exchanges", "explain_unmatched"]

FloatArray = NDArray[np.float64]
ALTERNATIVES = 3  # alternatives listed per exchange
FULL_SHARE = 1 - 1e-7


def _need_fill(dataset: Dataset, cand: Candidates, flows: FloatArray) -> FloatArray:
    """Share of each need's quantity met by the plan."""
    met = np.bincount(cand.need, weights=flows * cand.ratio, minlength=len(dataset.needs))
    return met / dataset.needs["quantity"].to_numpy(float)


def _suppliers_of(dataset: Dataset, cand: Candidates, flows: FloatArray,
                  live: NDArray[np.int64]) -> dict[int, list[str]]:
    """Supplying enterprises of each need, largest first."""
    offer_ent = dataset.offers["enterprise_id"].to_numpy(dtype=object)
    out: dict[int, list[str]] = {}
    for a in live[np.argsort(-flows[live], kind="stable")]:
        names = out.setdefault(int(cand.need[a]), [])
        ent = str(offer_ent[cand.offer[a]])
        if ent not in names:
            names.append(ent)
    return out


def _unit(dataset: Dataset, material: str) -> str:
    return dataset.taxonomy.materials[material].unit


def explain_exchanges(dataset: Dataset, cand: Candidates, flows: FloatArray,
                      arcs: NDArray[np.int64], score: FloatArray | None,
                      saving: FloatArray | None) -> list[str]:
    """For each arc in `arcs` (the plan's exchanges), the best other needs its offer had.

    `score` ranks alternatives (higher is better; None = shorter distance is better, the
    default objective's tie-break); `saving` (CNY per offer unit) is shown when known.
    """
    if not len(arcs):
        return []
    key = -cand.distance_km if score is None else score
    order = np.lexsort((-key, cand.offer))  # by offer, best first
    starts = np.searchsorted(cand.offer[order], np.arange(len(dataset.offers) + 1))
    fill = _need_fill(dataset, cand, flows)
    needs = dataset.needs
    need_ids = needs.index.to_numpy(dtype=object)
    need_ent = needs["enterprise_id"].to_numpy(dtype=object)
    offer_unit = [_unit(dataset, str(m)) for m in dataset.offers["material"]]
    live = np.flatnonzero(flows > 0)
    suppliers = _suppliers_of(dataset, cand, flows, live)
    texts: list[str] = []
    for a in arcs:
        o = int(cand.offer[a])
        block = order[starts[o]:starts[o + 1]]
        block = block[block != a][:ALTERNATIVES]
        parts: list[str] = []
        for b in block:
            n = int(cand.need[b])
            bits = [f"{cand.distance_km[b]:.1f} km"]
            if saving is not None:
                bits.append(f"saving {saving[b]:.2f} CNY/{offer_unit[o]}")
            if flows[b] > 0:
                state = "also used"
            elif fill[n] >= FULL_SHARE:
                by = ", ".join(suppliers.get(n, [])[:3])
                state = f"full (served by {by})" if by else "full"
            elif score is not None and score[b] <= 0:
                state = "no gain"
            else:
                state = "worse"
            parts.append(f"{need_ids[n]} at {need_ent[n]} ({', '.join(bits)}): {state}")
        texts.append("; ".join(parts) if parts else "the only compatible need in reach")
    return texts


def explain_unmatched(dataset: Dataset, cand: Candidates, flows: FloatArray,
                      unmatched: FloatArray, score: FloatArray | None,
                      saving: FloatArray | None) -> list[str]:
    """One sentence per offer: empty when fully matched, else why the rest found no taker."""
    offers, needs, tax = dataset.offers, dataset.needs, dataset.taxonomy
    n_o = len(offers)
    texts = [""] * n_o
    todo = np.flatnonzero(unmatched > 0)
    if not len(todo):
        return texts
    fill = _need_fill(dataset, cand, flows)
    live = np.flatnonzero(flows > 0)
    suppliers = _suppliers_of(dataset, cand, flows, live)
    order = np.argsort(cand.offer, kind="stable")
    starts = np.searchsorted(cand.offer[order], np.arange(n_o + 1))
    need_ids = needs.index.to_numpy(dtype=object)
    need_ent = needs["enterprise_id"].to_numpy(dtype=object)
    need_mat = needs["material"].to_numpy(dtype=object)
    ents = dataset.enterprises
    lon = ents["lon"].reindex(needs["enterprise_id"]).to_numpy(float)
    lat = ents["lat"].reindex(needs["enterprise_id"]).to_numpy(float)
    offer_mat = offers["material"].to_numpy(dtype=object)
    offer_ent = offers["enterprise_id"].to_numpy(dtype=object)
    # listed road distances by enterprise: a pair listed one way serves both ways unless
    # the other way is listed too, as in the candidates
    listed: dict[str, dict[str, float]] = {}
    d = dataset.distances
    for a, b, km_ab in zip(d["from_id"], d["to_id"], d["distance_km"], strict=True):
        listed.setdefault(a, {})[b] = float(km_ab)
        listed.setdefault(b, {}).setdefault(a, float(km_ab))
    takers: dict[str, np.ndarray] = {}  # per offered material: needs that could take it
    for o in todo:
        material = str(offer_mat[o])
        unit = _unit(dataset, material)
        block = order[starts[o]:starts[o + 1]]
        if len(block):
            full = block[fill[cand.need[block]] >= FULL_SHARE]  # a national offer has
            losing = block[score[block] <= 0] if score is not None else block[:0]  # 10^4 arcs
            bits: list[str] = []
            if len(full):
                names = [f"{need_ids[cand.need[b]]} (served by "
                         f"{', '.join(suppliers.get(int(cand.need[b]), [])[:3]) or '-'})"
                         for b in full[:3]]
                more = f" and {len(full) - 3} more" if len(full) > 3 else ""
                bits.append(f"{len(full)} of {len(block)} compatible needs within reach "
                            f"are full: {'; '.join(names)}{more}")
            if len(losing) and score is not None:
                best = int(losing[np.argmax(score[losing])])
                shown = (f"best saving {saving[best]:.2f} CNY/{unit}" if saving is not None
                         else "no positive value")
                bits.append(f"{len(losing)} would not pay under this objective ({shown} to "
                            f"{need_ids[cand.need[best]]})")
            texts[o] = "; ".join(bits) or "compatible needs within reach are already full"
            continue
        if material not in takers:
            takers[material] = np.isin(need_mat, [m for m in tax.materials
                                                  if tax.rule(m, material) is not None])
        mask = takers[material] & (need_ent != offer_ent[o])
        if not mask.any():
            texts[o] = f"no need in the dataset takes {material}"
            continue
        row = ents.loc[offer_ent[o]]
        km = haversine_km(float(row["lon"]), float(row["lat"]), lon[mask], lat[mask]) \
            * cand.circuity
        idx = np.flatnonzero(mask)
        own = listed.get(str(offer_ent[o]))
        if own:  # a listed road distance wins
            table_km = np.array([own.get(str(e), np.nan) for e in need_ent[idx]])
            km = np.where(np.isnan(table_km), km, table_km)
        best = int(np.argmin(km))
        reach = cand.max_km if cand.max_km is not None else \
            tax.materials[material].default_reach_km
        where = f"{need_ids[idx[best]]} at {need_ent[idx[best]]}, {km[best]:.0f} km"
        if reach is not None and km[best] > reach:
            texts[o] = (f"no compatible need within the {reach:g} km reach; the nearest is "
                        f"{where}")
        else:
            texts[o] = (f"compatible needs within reach reject its quality or distance "
                        f"table entry (nearest: {where})")
    return texts
