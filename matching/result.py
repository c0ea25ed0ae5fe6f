"""`MatchResult`: the exchanges, the KPIs and the solver facts of one run, and its files.

Everything downstream (CLI tables, files, the HTTP API) reads only this object. KPIs are
computed from the flows in floating point: the mass-family utilization rate is the figure
the provincial 57 % target (大宗工业固废综合利用率) speaks of.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from symbiosis.dataset import Dataset
from symbiosis.jsonio import atomic_write_text, json_safe
from symbiosis.matching.admission import with_admission_reasons
from symbiosis.matching.candidates import Candidates
from symbiosis.matching.explain import analyse_unmatched, explain_exchanges, reason_columns
from symbiosis.matching.flow import SolverStatus, relative_gap
from symbiosis.matching.hazardous import manifest_columns
from symbiosis.matching.official_rate import bulk_solid_waste
from symbiosis.matching.summary import Headline, MatchSummary, RunParameters, SolverSummary
from symbiosis.tabular import frame_csv_text

if TYPE_CHECKING:
    from symbiosis.matching.economics import ArcValues
    from symbiosis.matching.options import MatchOptions
    from symbiosis.matching.prices import Valuation

__all__ = ["EXCHANGE_COLUMNS", "MatchResult", "SolverFacts", "assemble_result",
           "write_outputs"]

# the first six are the CLI contract's; the rest explain each exchange
EXCHANGE_COLUMNS = [
    "offer_enterprise_id", "need_enterprise_id", "offer_material", "need_material",
    "quantity", "distance_km",
    "offer_enterprise_name", "need_enterprise_name",  # names beside the ids (issue 14)
    "offer_id", "need_id", "unit", "need_quantity", "ratio", "unit_km", "distance_source",
    "rule", "rule_source", "quality_note",
    "offer_estimated",  # yes: the offer's quantity was estimated (symbiosis.estimate)
]
# added when the run has economics: CNY and t CO2e per exchange per year, and the split
VALUE_COLUMNS = [
    "saving_cny", "avoided_disposal_cny", "avoided_virgin_cny", "transport_cny",
    "treatment_cny", "co2_avoided_t", "co2_transport_t", "co2_processing_t", "co2_net_t",
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
NO_COSTS = ("not computed: the dataset gives no costs (no disposal_cost on offers, no "
            "virgin_cost on needs)")
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
    exact: bool = True  # False: an integer scale rounded the data (see `note`)
    note: str = ""

    @property
    def gap(self) -> float:
        """Relative gap between objective and bound."""
        return relative_gap(self.objective, self.bound)

    def as_summary(self) -> SolverSummary:
        """The `solver` object of summary.json."""
        return SolverSummary(
            status=str(self.status), objective=self.objective, objective_meaning=self.meaning,
            sense="maximise" if self.sense == "maximise" else "minimise", bound=self.bound,
            gap=self.gap, seconds=round(self.seconds, 4), methods=list(self.methods),
            delivered=self.delivered, components=self.components,
            integer_scales={k: dict(v) for k, v in self.scales.items()},
            exact=self.exact, note=self.note)


@dataclass(frozen=True)
class MatchResult:
    """The outcome of a match run, immutable once built: everything downstream reads it.

    `exchanges` has EXCHANGE_COLUMNS (+ VALUE_COLUMNS with economics, + `alternatives`);
    `offers` gives each offer's matched and unmatched quantity with its reasons and an
    explanation; `needs` each need's fill and marginal value; `enterprises` each enterprise's
    gain; `summary` is summary.json (`matching.summary.MatchSummary`). Additions such as the
    geography sections come in through `with_summary`, which returns a new result.
    """

    exchanges: pd.DataFrame
    offers: pd.DataFrame
    summary: MatchSummary
    solver: SolverFacts
    candidates: int
    needs: pd.DataFrame = field(default_factory=pd.DataFrame)
    enterprises: pd.DataFrame = field(default_factory=pd.DataFrame)
    # graded runs (matching.blending): each blending need's average per limit
    blends: pd.DataFrame = field(default_factory=pd.DataFrame)
    # further tables written as <name>.csv (a monthly plan: exchanges_monthly, storage)
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def status(self) -> SolverStatus:
        """The solver status of the run."""
        return self.solver.status

    @property
    def timings(self) -> Mapping[str, float]:
        """Seconds per phase (summary.json's `timings_s`)."""
        return self.summary.timings_s

    def headline(self) -> Headline:
        """The headline figures (the web page's tiles, the API's run and scenario KPIs)."""
        return self.summary.headline()

    def with_timings(self, timings: Mapping[str, float]) -> MatchResult:
        """A copy whose summary carries `timings` (seconds per phase)."""
        rounded = {k: round(float(v), 4) for k, v in timings.items()}
        return replace(self, summary=self.summary.model_copy(update={"timings_s": rounded}))

    def with_summary(self, **changes: Any) -> MatchResult:
        """A copy whose summary has `changes` (e.g. `parks=...`, `warnings=[...]`),
        validated as the summary's own fields."""
        body = self.summary.model_dump()
        body.update(changes)
        return replace(self, summary=MatchSummary.model_validate(body))


def _family_of(dataset: Dataset, materials: pd.Series) -> np.ndarray:
    fam = {slug: str(m.family) for slug, m in dataset.taxonomy.materials.items()}
    return materials.map(fam).to_numpy(dtype=object)


def _rate(matched: float, offered: float) -> float | None:
    return matched / offered if offered > 0 else None


def _names(dataset: Dataset, ids: np.ndarray) -> np.ndarray:
    """The enterprises' names for `ids` ("" where a name is empty)."""
    names = dataset.enterprises["name"].astype(str)
    return names.reindex(ids).fillna("").to_numpy(dtype=object)


def _estimated(listings: pd.DataFrame) -> np.ndarray:
    """`yes`/`no` per listing: was its quantity estimated from capacities (symbiosis.estimate)?"""
    if "estimated" not in listings:
        return np.full(len(listings), "no", dtype=object)
    return np.where(listings["estimated"].to_numpy(dtype=object) == "yes", "yes", "no")


def _estimates(dataset: Dataset, status: pd.DataFrame, ex: pd.DataFrame,
               off_family: np.ndarray, need_family: np.ndarray,
               mass_matched: float) -> dict[str, Any] | None:
    """`summary["estimates"]`: how much of the plan rests on estimated listings (mass, t/yr).

    For the estimated offers: the tonnage offered (central, and the sums of the lows and
    highs), the tonnage the plan takes from them, that tonnage if every estimate were at its
    low end (sum over offers of min(matched, low): the plan's routes cannot carry more than
    the offer really gives) and its share of all mass matched. For the estimated needs: the
    tonnage the plan delivers into them. None when the dataset has no estimated listing.
    """
    offers, needs = dataset.offers, dataset.needs
    est_o = (_estimated(offers) == "yes") & (off_family == "mass")
    est_n = (_estimated(needs) == "yes") & (need_family == "mass")
    if not est_o.any() and not est_n.any():
        return None
    qty = offers["quantity"].to_numpy(float)
    low = offers["quantity_low"].to_numpy(float) if "quantity_low" in offers else qty
    high = offers["quantity_high"].to_numpy(float) if "quantity_high" in offers else qty
    low, high = np.where(np.isfinite(low), low, qty), np.where(np.isfinite(high), high, qty)
    matched = status["matched"].to_numpy(float)
    from_est = float(matched[est_o].sum())
    into = ex["need_id"].isin(needs.index[est_n]).to_numpy()
    return {
        "offers": int(est_o.sum()),
        "needs": int(est_n.sum()),
        "tonnes_offered": float(qty[est_o].sum()),
        "tonnes_offered_low": float(low[est_o].sum()),
        "tonnes_offered_high": float(high[est_o].sum()),
        "tonnes_matched": from_est,
        "tonnes_matched_if_low": float(np.minimum(matched[est_o], low[est_o]).sum()),
        "share_of_matched": _rate(from_est, mass_matched),
        "tonnes_into_estimated_needs": float(ex["need_quantity"].to_numpy(float)[into].sum()),
    }


def _offer_status(dataset: Dataset, cand: Candidates, flows: np.ndarray,
                  score: np.ndarray | None = None,
                  saving: np.ndarray | None = None,
                  not_explained: str | None = None) -> pd.DataFrame:
    """Each offer's matched and unmatched quantity, its compatible needs within reach, the
    reasons for what is left (`UnmatchedReason` codes, ';'-joined) and the English
    explanation (`matching.explain.analyse_unmatched`; `score` and `saving` as there); with
    `not_explained`, no reasons and that note as the explanation of every offer left
    unmatched."""
    offers = dataset.offers
    matched = np.bincount(cand.offer, weights=flows, minlength=len(offers))
    arcs = np.bincount(cand.offer, minlength=len(offers))
    qty = offers["quantity"].to_numpy(float)
    unmatched = np.maximum(qty - matched, 0.0)
    unmatched[unmatched <= FLOW_EPS * np.maximum(1.0, qty)] = 0.0
    if not_explained is None:
        why = reason_columns(analyse_unmatched(dataset, cand, flows, unmatched, score,
                                               saving))
    else:
        why = pd.DataFrame({"reason": np.full(len(offers), "", dtype=object),
                            "explanation": np.where(unmatched > 0, not_explained, "")})
    return pd.DataFrame({
        "offer_id": offers.index,
        "enterprise_id": offers["enterprise_id"].to_numpy(),
        "material": offers["material"].to_numpy(),
        "offered": qty,
        "matched": matched,
        "unmatched": unmatched,
        "candidate_needs": arcs,
        "reason": why["reason"].to_numpy(dtype=object),
        "explanation": why["explanation"].to_numpy(dtype=object),
        "estimated": _estimated(offers),
    })


def exchange_columns(dataset: Dataset, cand: Candidates, arcs: np.ndarray,
                     q: np.ndarray) -> dict[str, Any]:
    """The columns every exchange table shares (exchanges.csv, exchanges_monthly.csv) for
    the candidate arcs `arcs` carrying `q` (offer units): ids, materials, quantity, km,
    unit, the need's quantity (q x ratio) and unit-km."""
    offers, needs = dataset.offers, dataset.needs
    o, n = cand.offer[arcs], cand.need[arcs]
    km = cand.distance_km[arcs].astype(float)
    offer_mat = offers["material"].to_numpy(dtype=object)[o]
    return {
        "offer_enterprise_id": offers["enterprise_id"].to_numpy(dtype=object)[o],
        "need_enterprise_id": needs["enterprise_id"].to_numpy(dtype=object)[n],
        "offer_material": offer_mat,
        "need_material": needs["material"].to_numpy(dtype=object)[n],
        "quantity": q,
        "distance_km": km,
        "offer_id": offers.index.to_numpy(dtype=object)[o],
        "need_id": needs.index.to_numpy(dtype=object)[n],
        "unit": np.array([dataset.taxonomy.materials[m].unit for m in offer_mat],
                         dtype=object),
        "need_quantity": q * cand.ratio[arcs],
        "unit_km": q * km,
    }


def assemble_result(dataset: Dataset, cand: Candidates, flows: np.ndarray,
                    facts: SolverFacts, options: MatchOptions,
                    timings: dict[str, float], values: ArcValues | None = None,
                    valuation: Valuation | None = None,
                    score: np.ndarray | None = None,
                    warnings: tuple[str, ...] = (),
                    not_explained: str | None = None) -> MatchResult:
    """Exchanges, per-offer and per-need status, enterprise gains and KPIs from the flows.

    `values` adds money and carbon per exchange, `valuation` the core prices and marginal
    values, `score` (the objective's w_a) ranks the alternatives in the explanations.
    `not_explained` (a note) skips the explanations (`alternatives`, the offers' `reason`
    and `explanation`) and writes the note in their place (`matching.lean`: large runs).
    """
    offers, needs = dataset.offers, dataset.needs
    qty_scale = np.maximum(1.0, offers["quantity"].to_numpy(float)[cand.offer])
    live = np.flatnonzero(flows > FLOW_EPS * qty_scale)
    o, n = cand.offer[live], cand.need[live]
    q = flows[live]
    rule_keys = np.array([r.key for r in cand.rules], dtype=object)
    rule_src = np.array([r.source for r in cand.rules], dtype=object)
    ridx = cand.rule[live]
    quality = np.where(cand.quality_unverified[live],
                       "rule quality limits not checked: offer does not state them", "")
    columns: dict[str, Any] = {
        **exchange_columns(dataset, cand, live, q),
        "ratio": cand.ratio[live],
        "distance_source": cand.distance_labels(live),
        "rule": rule_keys[ridx] if len(ridx) else np.empty(0, dtype=object),
        "rule_source": rule_src[ridx] if len(ridx) else np.empty(0, dtype=object),
        "quality_note": quality,
        "offer_enterprise_name": _names(dataset, offers["enterprise_id"].to_numpy()[o]),
        "need_enterprise_name": _names(dataset, needs["enterprise_id"].to_numpy()[n]),
        "offer_estimated": _estimated(offers)[o],
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
    columns["alternatives"] = explain_exchanges(dataset, cand, flows, live, score, saving) \
        if not_explained is None else np.full(len(live), not_explained, dtype=object)
    order.append("alternatives")
    exchanges = pd.DataFrame(columns, columns=order)
    exchanges = exchanges.sort_values(["offer_material", "offer_enterprise_id",
                                       "need_enterprise_id", "offer_id", "need_id"],
                                      kind="stable").reset_index(drop=True)
    status = _offer_status(dataset, cand, flows, score, saving, not_explained)
    status = with_admission_reasons(status, cand)  # quality not stated, no licence
    if "stock" in offers and offers["stock"].notna().any():
        # matched counts this year's surplus first, then the stockpile (matching.flow)
        stock = np.nan_to_num(offers["stock"].to_numpy(float), nan=0.0)
        status["stock"] = stock
        status["stock_used"] = np.clip(status["matched"].to_numpy(float)
                                       - status["offered"].to_numpy(float), 0.0, stock)
    if valuation is not None:
        status["marginal_value"] = valuation.offer_marginal
    need_frame = _need_status(dataset, cand, flows, valuation, options)
    ent_frame = _enterprise_gains(dataset, exchanges)
    kpis = _kpis(dataset, cand, exchanges, status, options)
    if values is not None:
        kpis.update(_value_kpis(exchanges, values, options, price_method))
    kpis.update(solver=facts.as_summary(), timings_s=dict(timings), warnings=list(warnings))
    summary = MatchSummary.model_validate(json_safe(kpis))
    return MatchResult(exchanges, status, summary, facts, len(cand), need_frame, ent_frame)


def _value_columns(columns: dict[str, Any], values: ArcValues, valuation: Valuation | None,
                   live: np.ndarray, q: np.ndarray, options: MatchOptions) -> str:
    """Money, carbon and the price split of each exchange; returns the price method."""
    saving = values.saving[live]
    transport = q * values.transport[live]
    if values.pipe_fixed is not None and values.pipe_unit is not None:
        # an exchange by pipe pays the whole pipe, not the full-load share the LP saw
        transport += values.pipe_fixed[live] - q * values.pipe_unit[live]
    columns["avoided_disposal_cny"] = q * values.avoided_disposal[live]
    columns["avoided_virgin_cny"] = q * values.avoided_virgin[live]
    columns["transport_cny"] = transport
    columns["treatment_cny"] = q * values.treatment[live]
    columns["saving_cny"] = (columns["avoided_disposal_cny"] + columns["avoided_virgin_cny"]
                             - transport - columns["treatment_cny"])
    if not values.info.get("costs_given", True):  # no avoided cost given: no saving
        for name in ("saving_cny", "avoided_disposal_cny", "avoided_virgin_cny"):
            columns[name] = np.full(len(q), np.nan)
    columns["co2_avoided_t"] = q * values.co2_avoided_kg[live] / 1000.0
    columns["co2_transport_t"] = q * values.co2_transport_kg[live] / 1000.0
    processing = values.co2_processing_kg if values.co2_processing_kg is not None else \
        np.zeros(len(values.co2_avoided_kg))
    columns["co2_processing_t"] = q * processing[live] / 1000.0
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


def _per_material(materials: pd.Series, value: Callable[[str], Any]) -> list[Any]:
    """value(material) for each row, computed once per distinct material (a province's
    needs name a few dozen materials in 3,398 rows; a pandas text column iterated row by
    row cost 3-4 ms)."""
    rows = materials.to_numpy(dtype=object)
    of = {m: value(str(m)) for m in set(rows.tolist())}
    return [of[m] for m in rows.tolist()]


def _need_status(dataset: Dataset, cand: Candidates, flows: np.ndarray,
                 valuation: Valuation | None, options: MatchOptions) -> pd.DataFrame:
    needs = dataset.needs
    met = np.bincount(cand.need, weights=flows * cand.ratio, minlength=len(needs))
    qty = needs["quantity"].to_numpy(float)
    frame = pd.DataFrame({
        "need_id": needs.index,
        "enterprise_id": needs["enterprise_id"].to_numpy(),
        "material": needs["material"].to_numpy(),
        "unit": _per_material(needs["material"],
                              lambda m: dataset.taxonomy.materials[m].unit),
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
    known = bool(info.get("costs_given", True))
    return {
        "economics": {
            "currency": "CNY/yr",
            "computed": known,
            "note": "" if known else NO_COSTS,
            "saving_cny": total["saving_cny"] if known else None,
            "avoided_disposal_cny": total["avoided_disposal_cny"] if known else None,
            "avoided_virgin_cny": total["avoided_virgin_cny"] if known else None,
            "transport_cny": total["transport_cny"],
            "treatment_cny": total["treatment_cny"],
            "exchanges_losing_money": int((ex["saving_cny"] < 0).sum()) if known else None,
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
            "processing_t": total["co2_processing_t"],
            "net_t": total["co2_net_t"],
            "factors": info["carbon_factors"],
            "processing": info.get("processing", []),
        },
    }


def _listed_share(dataset: Dataset, status: pd.DataFrame, family: np.ndarray,
                  drawn: np.ndarray) -> float | None:
    """Share of listed surplus matched: matched / (offered + stockpile drawn) over the mass
    offers, leaving out products ground from another listed by-product (slag powder, steel
    slag powder; `symbiosis.bulk` derived_from): a grinding plant's powder is the same
    tonnes as the slag it took in, counted there already (issue 13, item 8)."""
    from symbiosis.bulk import load_bulk_scope

    scope = load_bulk_scope()
    derived = np.array(_per_material(dataset.offers["material"], scope.is_derived), dtype=bool)
    sel = (family == "mass") & ~derived
    offered = float(dataset.offers["quantity"].to_numpy(float)[sel].sum())
    matched = float(status["matched"].to_numpy(float)[sel].sum())
    return _rate(matched, offered + float(drawn[sel].sum()))


def _kpis(dataset: Dataset, cand: Candidates, ex: pd.DataFrame, status: pd.DataFrame,
          options: MatchOptions) -> dict[str, Any]:
    tax = dataset.taxonomy
    offers, needs = dataset.offers, dataset.needs
    off_family = _family_of(dataset, offers["material"])
    ex_family = _family_of(dataset, ex["offer_material"])
    need_family = _family_of(dataset, needs["material"])
    families: dict[str, Any] = {}
    # stockpile drawn per offer: counted with what was offered, so no share exceeds 1
    drawn = status["stock_used"].to_numpy(float) if "stock_used" in status else \
        np.zeros(len(status))
    for fam, unit in (("mass", "t"), ("energy", "GJ"), ("water", "m3")):
        offered = float(offers["quantity"].to_numpy()[off_family == fam].sum())
        from_stock = float(drawn[off_family == fam].sum())
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
            "utilization_rate": _rate(matched, offered + from_stock),
            "unit_km": unit_km,
            "exchanges": int(sel.sum()),
        }
    mass = families.get("mass", {"offered": 0.0, "matched": 0.0, "unit_km": 0.0})
    mass_drawn = float(drawn[off_family == "mass"].sum())
    tonne_km = float(mass["unit_km"])
    factor = tax.factors.get(CO2_FACTOR_KEY)
    co2_t = tonne_km * factor.value / 1000.0 if factor is not None else None

    by_offer = status.assign(drawn=drawn).groupby("material").agg(
        offered=("offered", "sum"), matched=("matched", "sum"), drawn=("drawn", "sum"))
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
            "unmatched": float(row["offered"] + row["drawn"] - row["matched"]),
            "utilization_rate": _rate(float(row["matched"]),
                                      float(row["offered"] + row["drawn"])),
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
    estimates = _estimates(dataset, status, ex, off_family, need_family,
                           float(mass["matched"]))
    return {
        "estimates": estimates,
        "dataset": dataset.source,
        "parameters": RunParameters(
            **options.parameters.model_dump(),
            distance="distances.csv where listed, else haversine (R = 6371.0088 km) "
                     f"x {options.circuity:g}",
            reach="max_km for every material" if options.max_km is not None
                  else "each offered material's default reach"),
        "enterprises": len(dataset.enterprises),
        "offers": len(offers),
        "needs": len(needs),
        "candidate_arcs": len(cand),
        "exchanges": len(ex),
        "enterprise_pairs": len(pairs.drop_duplicates()),
        "tonnes_offered": float(mass["offered"]),
        "tonnes_matched": float(mass["matched"]),
        "tonnes_unmatched": float(mass["offered"]) + mass_drawn - float(mass["matched"]),
        "utilization_rate": _rate(float(mass["matched"]), float(mass["offered"]) + mass_drawn),
        "listed_surplus_share_matched": _listed_share(dataset, status, off_family, drawn),
        "bulk_solid_waste": bulk_solid_waste(dataset, status["matched"].to_numpy(float)),
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


def write_outputs(result: MatchResult, out_dir: str | Path,
                  started_at: float | None = None) -> list[Path]:
    """Write exchanges.csv, offers.csv (matched/unmatched per offer), needs.csv (fill and
    marginal value per need), enterprises.csv (gains) and summary.json.

    The CSVs come from the one CSV writer (`symbiosis.tabular`): exact numbers, UTF-8 with a
    byte-order mark (Excel on Chinese Windows), formula-like text neutralised.

    Each file is written to a temporary name and renamed into place, so a reader never sees a
    half-written file. With `started_at` (a perf_counter value), summary.json's timings gain
    `write` and `total`.

    Raises:
        OSError: the folder cannot be written.
    """
    t_write = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, text: str) -> None:
        written.append(atomic_write_text(out / name, text))

    put("exchanges.csv", frame_csv_text(result.exchanges))
    put("offers.csv", frame_csv_text(result.offers))
    if len(result.needs.columns):
        put("needs.csv", frame_csv_text(result.needs))
    if len(result.enterprises.columns):
        put("enterprises.csv", frame_csv_text(result.enterprises))
    if len(result.blends.columns):
        put("blends.csv", frame_csv_text(result.blends))
    for name, table in result.tables.items():
        put(f"{name}.csv", frame_csv_text(table))
    summary = result.summary
    if started_at is not None:
        now = time.perf_counter()
        timings = {**summary.timings_s, "write": round(now - t_write, 4),
                   "total": round(now - started_at, 4)}
        summary = summary.model_copy(update={"timings_s": timings})
    put("summary.json", summary.to_json())
    return written
