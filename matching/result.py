"""`MatchResult`: the exchanges, the KPIs and the solver facts of one run, and its files.

Everything downstream (CLI tables, files, the HTTP API) reads only this object. KPIs are
computed from the flows in floating point: the mass-family utilization rate is the figure
the provincial 57 % target (大宗工业固废综合利用率) speaks of.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from symbiosis.dataset import Dataset
from symbiosis.matching.admission import with_admission_reasons
from symbiosis.matching.candidates import Candidates
from symbiosis.matching.explain import explain_exchanges, explain_unmatched
from symbiosis.matching.flow import SolverStatus, relative_gap
from symbiosis.matching.hazardous import manifest_columns

if TYPE_CHECKING:
    from symbiosis.matching.economics import ArcValues
    from symbiosis.matching.model import MatchOptions
    from symbiosis.matching.prices import Valuation

__all__ = ["EXCHANGE_COLUMNS", "HEADLINE_KEYS", "MatchResult", "SolverFacts",
           "assemble_result", "headline_kpis", "write_outputs"]

# the first six are the CLI contract's; the rest explain each exchange
EXCHANGE_COLUMNS = [
    "offer_enterprise_id", "need_enterprise_id", "offer_material", "need_material",
    "quantity", "distance_km",
    "offer_id", "need_id", "unit", "need_quantity", "ratio", "unit_km", "distance_source",
    "rule", "rule_source", "quality_note",
]
# added when the run has economics: CNY and t CO2e per exchange per year, and the split
VALUE_COLUMNS = [
    "saving_cny", "avoided_disposal_cny", "avoided_virgin_cny", "transport_cny",
    "treatment_cny", "co2_avoided_t", "co2_transport_t", "co2_net_t",
    "price_cny_per_unit", "price_low_cny_per_unit", "price_high_cny_per_unit",
    "even_split_price_cny_per_unit", "supplier_gain_cny", "receiver_gain_cny",
]
MARGINAL_UNIT = {
    "utilization": "offer units delivered per extra need unit",
    "cost": "CNY/yr per extra need unit",
    "co2": "t CO2e/yr per extra need unit",
    "weighted": "weighted value per extra need unit",
}
PRICE_NOTE = {
    "core_midpoint": "delivered price per offered unit: the supplier pays treatment and "
                     "haulage and receives the price (negative = a gate fee it pays the "
                     "receiver); the midpoint of the core of the assignment game (Shapley "
                     "and Shubik 1971), low/high are the receiver- and supplier-optimal "
                     "ends; no supplier-receiver pair gains by trading outside the plan",
    "even_split": "delivered price per offered unit that splits each exchange's saving "
                  "evenly between supplier and receiver (the supplier pays treatment and "
                  "haulage; negative = a gate fee it pays the receiver)",
}
FLOW_EPS = 1e-9  # flows below this (in offer units) are solver noise, not exchanges
CO2_FACTOR_KEY = "road_freight_co2_kg_per_tkm"


@dataclass(frozen=True)
class SolverFacts:
    """What the solvers did: status, final-stage objective (sum of quantity x km over all
    families, 'unit-km'), its bound and gap, wall seconds, and which methods ran."""

    status: SolverStatus
    objective: float
    bound: float
    seconds: float
    methods: tuple[str, ...] = ()
    delivered: float = 0.0
    components: int = 0
    scales: dict[str, dict[str, int]] = field(default_factory=dict)
    meaning: str = ("sum of quantity x distance_km at maximum delivery "
                    "(t-km + GJ-km + m3-km)")
    sense: str = "minimise"

    @property
    def gap(self) -> float:
        """Relative gap between objective and bound."""
        return relative_gap(self.objective, self.bound)

    def as_dict(self) -> dict[str, Any]:
        """The `solver` object of summary.json."""
        return {
            "status": str(self.status),
            "objective": self.objective,
            "objective_meaning": self.meaning,
            "sense": self.sense,
            "bound": self.bound,
            "gap": self.gap,
            "seconds": round(self.seconds, 4),
            "methods": list(self.methods),
            "delivered": self.delivered,
            "components": self.components,
            "integer_scales": self.scales,
        }


@dataclass(frozen=True)
class MatchResult:
    """The outcome of a match run. `exchanges` has EXCHANGE_COLUMNS (+ VALUE_COLUMNS with
    economics, + `alternatives`); `offers` gives each offer's matched and unmatched quantity
    with a reason and an explanation; `needs` each need's fill and marginal value;
    `enterprises` each enterprise's gain; `kpis` is summary.json's body."""

    exchanges: pd.DataFrame
    offers: pd.DataFrame
    kpis: dict[str, Any]
    solver: SolverFacts
    candidates: int
    timings: dict[str, float]
    needs: pd.DataFrame = field(default_factory=pd.DataFrame)
    enterprises: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def status(self) -> SolverStatus:
        """The solver status of the run."""
        return self.solver.status

    def summary(self) -> dict[str, Any]:
        """summary.json as a dict."""
        out = dict(self.kpis)
        out["solver"] = self.solver.as_dict()
        out["timings_s"] = {k: round(v, 4) for k, v in self.timings.items()}
        return out

    def headline(self) -> dict[str, Any]:
        """The headline figures (the web page's tiles, the API's run and scenario KPIs)."""
        return headline_kpis(self.summary())


HEADLINE_KEYS = ("utilization_rate", "utilization_target", "tonnes_offered", "tonnes_matched",
                 "tonnes_unmatched", "tonne_km", "average_haul_km", "co2_net_t",
                 "co2_avoided_t", "co2_transport_t", "saving_cny", "transport_cny",
                 "exchanges", "enterprises")


def headline_kpis(summary: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a summary.json body (stored runs keep only the summary):
    utilization against the 57 % target, tonne-km, t CO2e/yr and CNY/yr."""
    carbon = summary.get("carbon") or {}
    money = summary.get("economics") or {}
    target = summary.get("utilization_target") or {}
    return {
        "utilization_rate": summary.get("utilization_rate"),
        "utilization_target": target.get("value", 0.57),
        "tonnes_offered": summary.get("tonnes_offered", 0.0),
        "tonnes_matched": summary.get("tonnes_matched", 0.0),
        "tonnes_unmatched": summary.get("tonnes_unmatched", 0.0),
        "tonne_km": summary.get("tonne_km", 0.0),
        "average_haul_km": summary.get("average_haul_km"),
        "co2_net_t": carbon.get("net_t"),
        "co2_avoided_t": carbon.get("avoided_t"),
        "co2_transport_t": carbon.get("transport_t"),
        "saving_cny": money.get("saving_cny"),
        "transport_cny": money.get("transport_cny"),
        "exchanges": summary.get("exchanges", 0),
        "enterprises": summary.get("enterprises", 0),
    }


def _family_of(dataset: Dataset, materials: pd.Series) -> np.ndarray:
    fam = {slug: str(m.family) for slug, m in dataset.taxonomy.materials.items()}
    return materials.map(fam).to_numpy(dtype=object)


def _rate(matched: float, offered: float) -> float | None:
    return matched / offered if offered > 0 else None


def _offer_status(dataset: Dataset, cand: Candidates, flows: np.ndarray) -> pd.DataFrame:
    offers = dataset.offers
    matched = np.bincount(cand.offer, weights=flows, minlength=len(offers))
    arcs = np.bincount(cand.offer, minlength=len(offers))
    qty = offers["quantity"].to_numpy(float)
    unmatched = np.maximum(qty - matched, 0.0)
    unmatched[unmatched <= FLOW_EPS * np.maximum(1.0, qty)] = 0.0
    reason = np.where(
        unmatched == 0, "",
        np.where(arcs == 0, "no compatible need within reach",
                 "compatible needs within reach are already full"))
    return pd.DataFrame({
        "offer_id": offers.index,
        "enterprise_id": offers["enterprise_id"].to_numpy(),
        "material": offers["material"].to_numpy(),
        "offered": qty,
        "matched": matched,
        "unmatched": unmatched,
        "candidate_needs": arcs,
        "reason": reason,
    })


def assemble_result(dataset: Dataset, cand: Candidates, flows: np.ndarray,
                    facts: SolverFacts, options: MatchOptions,
                    timings: dict[str, float], values: ArcValues | None = None,
                    valuation: Valuation | None = None,
                    score: np.ndarray | None = None) -> MatchResult:
    """Exchanges, per-offer and per-need status, enterprise gains and KPIs from the flows.

    `values` adds money and carbon per exchange, `valuation` the core prices and marginal
    values, `score` (the objective's w_a) ranks the alternatives in the explanations.
    """
    offers, needs, tax = dataset.offers, dataset.needs, dataset.taxonomy
    qty_scale = np.maximum(1.0, offers["quantity"].to_numpy(float)[cand.offer])
    live = np.flatnonzero(flows > FLOW_EPS * qty_scale)
    o, n = cand.offer[live], cand.need[live]
    q = flows[live]
    km = cand.distance_km[live]
    rule_keys = np.array([r.key for r in cand.rules], dtype=object)
    rule_src = np.array([r.source for r in cand.rules], dtype=object)
    ridx = cand.rule[live]
    offer_mat = offers["material"].to_numpy(dtype=object)[o]
    units = np.array([tax.materials[m].unit for m in offer_mat], dtype=object)
    quality = np.where(cand.quality_unverified[live],
                       "rule quality limits not checked: offer does not state them", "")
    columns: dict[str, Any] = {
        "offer_enterprise_id": offers["enterprise_id"].to_numpy(dtype=object)[o],
        "need_enterprise_id": needs["enterprise_id"].to_numpy(dtype=object)[n],
        "offer_material": offer_mat,
        "need_material": needs["material"].to_numpy(dtype=object)[n],
        "quantity": q,
        "distance_km": km,
        "offer_id": offers.index.to_numpy(dtype=object)[o],
        "need_id": needs.index.to_numpy(dtype=object)[n],
        "unit": units,
        "need_quantity": q * cand.ratio[live],
        "ratio": cand.ratio[live],
        "unit_km": q * km,
        "distance_source": cand.distance_labels(live),
        "rule": rule_keys[ridx] if len(ridx) else np.empty(0, dtype=object),
        "rule_source": rule_src[ridx] if len(ridx) else np.empty(0, dtype=object),
        "quality_note": quality,
    }
    order = list(EXCHANGE_COLUMNS)
    legal = manifest_columns(dataset, o, n)  # legal status, transfer-manifest fields
    columns.update(legal)
    order += list(legal)
    price_method = None
    if values is not None:
        price_method = _value_columns(columns, values, valuation, live, q, options)
        order += VALUE_COLUMNS
    saving = values.saving if values is not None else None
    columns["alternatives"] = explain_exchanges(dataset, cand, flows, live, score, saving)
    order.append("alternatives")
    exchanges = pd.DataFrame(columns, columns=order)
    exchanges = exchanges.sort_values(["offer_material", "offer_enterprise_id",
                                       "need_enterprise_id", "offer_id", "need_id"],
                                      kind="stable").reset_index(drop=True)
    status = _offer_status(dataset, cand, flows)
    status["explanation"] = explain_unmatched(dataset, cand, flows,
                                              status["unmatched"].to_numpy(float), score,
                                              saving)
    status = with_admission_reasons(status, cand)  # quality not stated, no licence
    if valuation is not None:
        status["marginal_value"] = valuation.offer_marginal
    need_frame = _need_status(dataset, cand, flows, valuation, options)
    ent_frame = _enterprise_gains(dataset, exchanges)
    kpis = _kpis(dataset, cand, exchanges, status, options)
    if values is not None:
        kpis.update(_value_kpis(exchanges, values, options, price_method))
    return MatchResult(exchanges, status, kpis, facts, len(cand), timings, need_frame,
                       ent_frame)


def _value_columns(columns: dict[str, Any], values: ArcValues, valuation: Valuation | None,
                   live: np.ndarray, q: np.ndarray, options: MatchOptions) -> str:
    """Money, carbon and the price split of each exchange; returns the price method."""
    saving = values.saving[live]
    columns["saving_cny"] = q * saving
    columns["avoided_disposal_cny"] = q * values.avoided_disposal[live]
    columns["avoided_virgin_cny"] = q * values.avoided_virgin[live]
    columns["transport_cny"] = q * values.transport[live]
    columns["treatment_cny"] = q * values.treatment[live]
    columns["co2_avoided_t"] = q * values.co2_avoided_kg[live] / 1000.0
    columns["co2_transport_t"] = q * values.co2_transport_kg[live] / 1000.0
    columns["co2_net_t"] = q * values.co2_net_kg[live] / 1000.0
    # what the supplier nets per unit before any price: avoided disposal - costs it bears
    own = (values.avoided_disposal[live] - values.treatment[live] - values.transport[live])
    even = saving / 2.0 - own
    columns["even_split_price_cny_per_unit"] = even
    if options.objective == "cost" and valuation is not None:
        share = valuation.supplier_mid[live]
        columns["price_cny_per_unit"] = share - own
        columns["price_low_cny_per_unit"] = valuation.supplier_low[live] - own
        columns["price_high_cny_per_unit"] = valuation.supplier_high[live] - own
        method = "core_midpoint"
    else:
        share = saving / 2.0
        columns["price_cny_per_unit"] = even
        columns["price_low_cny_per_unit"] = even
        columns["price_high_cny_per_unit"] = even
        method = "even_split"
    columns["supplier_gain_cny"] = q * share
    columns["receiver_gain_cny"] = q * (saving - share)
    return method


def _need_status(dataset: Dataset, cand: Candidates, flows: np.ndarray,
                 valuation: Valuation | None, options: MatchOptions) -> pd.DataFrame:
    needs = dataset.needs
    met = np.bincount(cand.need, weights=flows * cand.ratio, minlength=len(needs))
    qty = needs["quantity"].to_numpy(float)
    frame = pd.DataFrame({
        "need_id": needs.index,
        "enterprise_id": needs["enterprise_id"].to_numpy(),
        "material": needs["material"].to_numpy(),
        "unit": [dataset.taxonomy.materials[m].unit for m in needs["material"]],
        "needed": qty,
        "met": met,
        "met_rate": met / qty,
        "candidate_offers": np.bincount(cand.need, minlength=len(needs)),
    })
    if valuation is not None:
        frame["marginal_value"] = valuation.need_marginal
        frame["marginal_unit"] = MARGINAL_UNIT.get(options.objective, "")
    return frame


def _enterprise_gains(dataset: Dataset, ex: pd.DataFrame) -> pd.DataFrame:
    """Per enterprise: exchanges as supplier and receiver and, with economics, its gain."""
    ents = dataset.enterprises
    out = pd.DataFrame({"enterprise_id": ents.index, "name": ents["name"].to_numpy()})
    supplied = ex.groupby("offer_enterprise_id").size()
    received = ex.groupby("need_enterprise_id").size()
    out["exchanges_as_supplier"] = out["enterprise_id"].map(supplied).fillna(0).astype(int)
    out["exchanges_as_receiver"] = out["enterprise_id"].map(received).fillna(0).astype(int)
    if "supplier_gain_cny" in ex:
        sg = ex.groupby("offer_enterprise_id")["supplier_gain_cny"].sum()
        rg = ex.groupby("need_enterprise_id")["receiver_gain_cny"].sum()
        out["supplier_gain_cny"] = out["enterprise_id"].map(sg).fillna(0.0)
        out["receiver_gain_cny"] = out["enterprise_id"].map(rg).fillna(0.0)
        out["gain_cny"] = out["supplier_gain_cny"] + out["receiver_gain_cny"]
    return out


def _value_kpis(ex: pd.DataFrame, values: ArcValues, options: MatchOptions,
                price_method: str | None) -> dict[str, Any]:
    info = values.info
    # the road rate the run used for tonnes (the first tonne material's), for the headline
    tonne_rate = next((r for r in info["rates"] if r["field"] == "cny_per_unit_km"
                       and not r["source"].startswith("not modelled")), None)
    total = {c: float(ex[c].sum()) for c in VALUE_COLUMNS if c.endswith(("_cny", "_t"))}
    return {
        "economics": {
            "currency": "CNY/yr",
            "saving_cny": total["saving_cny"],
            "avoided_disposal_cny": total["avoided_disposal_cny"],
            "avoided_virgin_cny": total["avoided_virgin_cny"],
            "transport_cny": total["transport_cny"],
            "treatment_cny": total["treatment_cny"],
            "exchanges_losing_money": int((ex["saving_cny"] < 0).sum()),
            "transport_rate": None if tonne_rate is None else {
                "value": tonne_rate["value"], "unit": "CNY/t·km",
                "source": tonne_rate["source"],
                "confidence": "medium" if tonne_rate["source"].startswith("factors.csv")
                else "user"},
            "rates": info["rates"],
            "coverage": info["coverage"],
            "prices": {"method": price_method, "note": PRICE_NOTE.get(price_method or "", "")},
        },
        "carbon": {
            "unit": "t CO2e/yr",
            "avoided_t": total["co2_avoided_t"],
            "transport_t": total["co2_transport_t"],
            "net_t": total["co2_net_t"],
            "factors": info["carbon_factors"],
        },
    }


def _kpis(dataset: Dataset, cand: Candidates, ex: pd.DataFrame, status: pd.DataFrame,
          options: MatchOptions) -> dict[str, Any]:
    tax = dataset.taxonomy
    offers, needs = dataset.offers, dataset.needs
    off_family = _family_of(dataset, offers["material"])
    ex_family = _family_of(dataset, ex["offer_material"])
    need_family = _family_of(dataset, needs["material"])
    families: dict[str, Any] = {}
    for fam, unit in (("mass", "t"), ("energy", "GJ"), ("water", "m3")):
        offered = float(offers["quantity"].to_numpy()[off_family == fam].sum())
        needed = float(needs["quantity"].to_numpy()[need_family == fam].sum())
        sel = ex_family == fam
        matched = float(ex["quantity"].to_numpy()[sel].sum())
        unit_km = float(ex["unit_km"].to_numpy()[sel].sum())
        if offered == 0 and needed == 0:
            continue
        families[fam] = {
            "unit": f"{unit}/yr",
            "offered": offered,
            "needed": needed,
            "matched": matched,
            "met": float(ex["need_quantity"].to_numpy()[sel].sum()),
            "utilization_rate": _rate(matched, offered),
            f"{unit}_km": unit_km,
            "exchanges": int(sel.sum()),
        }
    mass = families.get("mass", {"offered": 0.0, "matched": 0.0, "t_km": 0.0})
    tonne_km = float(mass["t_km"])
    factor = tax.factors.get(CO2_FACTOR_KEY)
    co2_t = tonne_km * factor.value / 1000.0 if factor is not None else None

    by_offer = status.groupby("material").agg(offered=("offered", "sum"),
                                              matched=("matched", "sum"))
    ex_by_offer = ex.groupby("offer_material").agg(exchanges=("quantity", "size"),
                                                   unit_km=("unit_km", "sum"))
    materials: dict[str, Any] = {}
    for slug, row in by_offer.iterrows():
        m = tax.materials[str(slug)]
        extra = ex_by_offer.loc[slug] if slug in ex_by_offer.index else None
        materials[str(slug)] = {
            "name_en": m.name_en,
            "name_zh": m.name_zh,
            "unit": m.unit,
            "family": str(m.family),
            "offered": float(row["offered"]),
            "matched": float(row["matched"]),
            "unmatched": float(row["offered"] - row["matched"]),
            "utilization_rate": _rate(float(row["matched"]), float(row["offered"])),
            "exchanges": int(extra["exchanges"]) if extra is not None else 0,
            "unit_km": float(extra["unit_km"]) if extra is not None else 0.0,
        }
    met = ex.groupby("need_material")["need_quantity"].sum()
    need_materials: dict[str, Any] = {}
    for slug, needed in needs.groupby("material")["quantity"].sum().items():
        got = float(met.get(slug, 0.0))
        need_materials[str(slug)] = {
            "unit": tax.materials[str(slug)].unit,
            "needed": float(needed),
            "met": got,
            "met_rate": _rate(got, float(needed)),
        }
    pairs = ex[["offer_enterprise_id", "need_enterprise_id"]]
    return {
        "dataset": dataset.source,
        "parameters": {
            "objective": options.objective,
            "max_km": options.max_km,
            "circuity": options.circuity,
            "method": options.method,
            "distance": "distances.csv where listed, else haversine (R = 6371.0088 km) "
                        f"x {options.circuity:g}",
            "reach": "max_km for every material" if options.max_km is not None
                     else "each offered material's default reach",
        },
        "enterprises": len(dataset.enterprises),
        "offers": len(offers),
        "needs": len(needs),
        "candidate_arcs": len(cand),
        "exchanges": len(ex),
        "enterprise_pairs": len(pairs.drop_duplicates()),
        "tonnes_offered": float(mass["offered"]),
        "tonnes_matched": float(mass["matched"]),
        "tonnes_unmatched": float(mass["offered"]) - float(mass["matched"]),
        "utilization_rate": _rate(float(mass["matched"]), float(mass["offered"])),
        "utilization_target": {"value": 0.57, "source": "Hunan industrial green development "
                               "plan (2021-2025): bulk industrial solid waste comprehensive "
                               "utilization rate 57 % by 2025"},
        "tonne_km": tonne_km,
        "average_haul_km": tonne_km / float(mass["matched"]) if mass["matched"] else None,
        "transport_co2_t": co2_t,
        "transport_co2_factor": None if factor is None else {
            "value": factor.value, "unit": factor.unit, "source": factor.source,
            "confidence": factor.confidence},
        "families": families,
        "materials": materials,
        "need_materials": need_materials,
    }


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clean(value: Any) -> Any:
    """NaN/inf are not JSON; write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_outputs(result: MatchResult, out_dir: str | Path,
                  started_at: float | None = None) -> list[Path]:
    """Write exchanges.csv, offers.csv (matched/unmatched per offer), needs.csv (fill and
    marginal value per need), enterprises.csv (gains) and summary.json.

    Each file is written to a temporary name and renamed into place, so a reader never sees a
    half-written file. With `started_at` (a perf_counter value), summary.json's timings gain
    `write` and `total`.
    """
    t_write = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def _put(name: str, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        Path(tmp).replace(out / name)
        written.append(out / name)

    _put("exchanges.csv", result.exchanges.to_csv(index=False, float_format="%.10g"))
    _put("offers.csv", result.offers.to_csv(index=False, float_format="%.10g"))
    if len(result.needs.columns):
        _put("needs.csv", result.needs.to_csv(index=False, float_format="%.10g"))
    if len(result.enterprises.columns):
        _put("enterprises.csv", result.enterprises.to_csv(index=False, float_format="%.10g"))
    if started_at is not None:
        now = time.perf_counter()
        result.timings["write"] = now - t_write
        result.timings["total"] = now - started_at
    summary = _clean(result.summary())
    _put("summary.json", json.dumps(summary, indent=2, ensure_ascii=False,
                                    default=_json_default) + "\n")
    return written
