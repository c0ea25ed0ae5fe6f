"""The official indicator: bulk industrial solid waste comprehensive utilization rate
(大宗工业固废综合利用率), before and after the plan.

    utilization_rate = (used_existing + matched) / (generated + stock_used)
    baseline_rate    = used_existing / generated

over offers whose material is in the bulk scope (`symbiosis.bulk`), in t/yr, where per offer

- generated: this year's generation (产生量), column `generated`; blank = quantity +
  used_existing;
- used_existing: utilised today in-house or under existing contracts, kept as it is and
  never reassigned, column `used_existing`; blank = 0;
- matched: what the plan delivers, from this year's surplus first, then from the stockpile
  (column `stock`, blank = 0);
- stock_used: the part of matched drawn from the stockpile, max(0, matched - quantity).

This follows the national statistics' definition: 综合利用量 (which includes 利用往年贮存量)
over 产生量 + 综合利用往年贮存量. The solver draws an offer's stockpile only when no surplus
could take its place (`matching.flow.solve_transport_mcf`), so attributing delivered units
to this year's surplus first is exact.

Without any `generated` or `used_existing` value the rate covers the listed surplus only
(generated = quantity, used_existing = 0): it is reported with `official = False`, is not
the official indicator, and no target is claimed met.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from symbiosis.bulk import BulkScope, TargetEntry, load_bulk_scope
from symbiosis.dataset import Dataset

__all__ = ["bulk_solid_waste"]

FLOW_EPS = 1e-9  # relative: what the solvers' tolerances leave, as matching.result

NOTE_OFFICIAL = ("official indicator: (used_existing + matched) / (generated + stock_used) "
                 "over bulk industrial solid wastes, t/yr")
NOTE_LISTED = ("the dataset gives no generated or used_existing values: this rate covers the "
               "listed surplus only (matched / (listed + stock_used)); it is NOT the official "
               "大宗工业固废综合利用率 and no target is claimed met")


def _column(offers: pd.DataFrame, name: str) -> np.ndarray:
    if name not in offers:
        return np.full(len(offers), np.nan)
    return offers[name].to_numpy(float)


def _rate(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _target(entry: TargetEntry) -> dict[str, Any]:
    return {"value": entry.value, "sources": [s.strip() for s in entry.source.split("; ")],
            "confidence": entry.confidence, "note": entry.note}


def _totals(sel: np.ndarray, gen: np.ndarray, used: np.ndarray, matched: np.ndarray,
            stock: np.ndarray, stock_used: np.ndarray) -> dict[str, Any]:
    g, u, m = float(gen[sel].sum()), float(used[sel].sum()), float(matched[sel].sum())
    su = float(stock_used[sel].sum())
    return {"generated": g, "used_existing": u, "matched": m,
            "matched_from_surplus": m - su, "stock": float(stock[sel].sum()),
            "stock_used": su, "utilization_rate": _rate(u + m, g + su),
            "baseline_rate": _rate(u, g)}


def _met(rate: float | None, target: float, official: bool) -> bool | None:
    return None if not official or rate is None else rate >= target


def bulk_solid_waste(dataset: Dataset, matched_per_offer: np.ndarray,
                     scope: BulkScope | None = None) -> dict[str, Any]:
    """summary.json's `bulk_solid_waste` section (`matching.summary.BulkSolidWaste`).

    `matched_per_offer` is the quantity each offer delivers in the plan (offer units/yr,
    surplus and stockpile together), aligned with `dataset.offers`.
    """
    scope = scope or load_bulk_scope()
    tax = dataset.taxonomy
    offers = dataset.offers
    material = offers["material"].to_numpy(dtype=object)
    qty = offers["quantity"].to_numpy(float)
    used_raw = _column(offers, "used_existing")
    gen_raw = _column(offers, "generated")
    used = np.nan_to_num(used_raw, nan=0.0)
    gen = np.where(np.isfinite(gen_raw), gen_raw, qty + used)
    stock = np.nan_to_num(_column(offers, "stock"), nan=0.0)
    matched = np.asarray(matched_per_offer, float)
    stock_used = np.clip(matched - qty, 0.0, stock)
    stock_used[stock_used <= FLOW_EPS * np.maximum(1.0, qty)] = 0.0  # solver noise
    bulk = np.array([scope.is_bulk(str(m)) and tax.materials[str(m)].unit == "t"
                     for m in material], dtype=bool)
    stated = np.isfinite(gen_raw) | np.isfinite(used_raw)
    official = bool((stated & bulk).any())
    body = _totals(bulk, gen, used, matched, stock, stock_used)
    total = scope.total
    counted = sorted({str(m) for m in material[bulk]})
    excluded = sorted({str(m) for m in material[~bulk]})
    materials: dict[str, Any] = {}
    for slug in counted:
        sel = bulk & (material == slug)
        entry = scope.entries[slug]
        sub = scope.group_target(slug)
        row = _totals(sel, gen, used, matched, stock, stock_used)
        materials[slug] = {
            "name_en": tax.materials[slug].name_en, "name_zh": tax.materials[slug].name_zh,
            "group": entry.group, **row,
            "sub_target": None if sub is None else _target(sub),
            "sub_target_met": None if sub is None
            else _met(row["utilization_rate"], sub.value, official),
            "scope_source": entry.source, "scope_confidence": entry.confidence}
    groups: dict[str, Any] = {}
    for name, target in scope.targets.items():
        members = [m for m in counted if scope.entries[m].group == name]
        if not members:
            continue
        sel = bulk & np.isin(material, members)
        row = _totals(sel, gen, used, matched, stock, stock_used)
        groups[name] = {**row, "materials": members, "target": _target(target),
                        "target_met": _met(row["utilization_rate"], target.value, official)}
    if not official:  # no baseline given: today's rate is unknown, not 0
        body["baseline_rate"] = None
        for row in (*materials.values(), *groups.values()):
            row["baseline_rate"] = None
    return {
        "official": official,
        "unit": "t/yr",
        **body,
        "target": _target(total),
        "target_met": _met(body["utilization_rate"], total.value, official),
        "offers_counted": int(bulk.sum()),
        "offers_with_baseline": int((stated & bulk).sum()),
        "materials_counted": counted,
        "materials_excluded": excluded,
        "materials": materials,
        "groups": groups,
        "note": NOTE_OFFICIAL if official else NOTE_LISTED,
    }
