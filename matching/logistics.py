"""Per-arc inputs of the integer logistics model (issue 16): lots, partner limits, contract
and pipe fixed costs, trucks and existing contracts, resolved once from the dataset and the
run options for the candidate arcs.

For candidate arc a from offer o to need n (ratio r_a, km_a), in offer units per year:

| symbol  | value                                                                         |
|---------|-------------------------------------------------------------------------------|
| U_a     | min(q_o + stock_o, d_n / r_a): the most the arc can carry (the tight big-M)   |
| L_a     | max(min_lot_o, min_lot_n / r_a): the least an exchange on it may carry        |
| F_a     | contract_cny_per_year of offer + need (CNY/yr); --contract-cost where neither |
|         | listing states one                                                            |
| P_a     | pipe_m x km_a (CNY/yr): heat and water, `matching.economics` (pipe_costs.csv, |
|         | annualised capital at a stated rate and life + O&M; transport.csv overrides)  |
| K_a     | truck payload (t), transport.csv `truck_capacity_t` of the offered material,  |
|         | else its default row; materials in t only                                     |
| c_a     | cny_per_trip_km x km_a: CNY per trip, where the material has a trip cost and  |
|         | a payload; its per-t road freight (rate_m x km_a) is then not charged again   |
| P_o/P_n | `max_partners` of the listing, else --max-partners (0 = no limit)             |

A truck trip carries at most K_a; trips are whole: T_a >= x_a / K_a. Existing contracts
(contracts.csv) name arcs that must carry at least max(L_a, their quantity).

Why contracts.csv and not `used_existing`: `used_existing` is what an offer already
utilises in-house or under contracts, outside its `quantity` (the surplus the plan may
place) and never reassigned (DESIGN.md, the official rate), so those contracts stay by
construction and have no arc. A contract on the listed surplus that must stay (signed, a
pipe already built) names its offer and need in contracts.csv.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from symbiosis.dataset import Dataset
from symbiosis.errors import InvalidDataError, Problem
from symbiosis.matching.candidates import Candidates
from symbiosis.matching.economics import ArcValues, EconomicSettings, material_rates
from symbiosis.matching.options import MatchParameters, Method
from symbiosis.types import FloatArray, IntArray

__all__ = ["ArcLogistics", "arc_logistics", "capital_recovery_factor",
           "integer_features", "truck_settings", "wants_milp"]


def capital_recovery_factor(rate: float, years: float) -> float:
    """Annual payment per unit of capital over `years` at interest `rate`, the standard
    annuity (capital recovery) factor CRF = i (1 + i)^n / ((1 + i)^n - 1); 1/n at i = 0.

    pipe_costs.csv states 8 %/yr over 20 years: CRF = 0.1019.

    Raises:
        ValueError: a negative rate or a life that is not positive.
    """
    if rate < 0 or years <= 0:
        raise ValueError(f"rate {rate} must be >= 0 and life {years} > 0")
    if rate == 0:
        return 1.0 / years
    growth = (1.0 + rate) ** years
    return rate * growth / (growth - 1.0)


def _column(frame: pd.DataFrame, name: str) -> FloatArray:
    if name not in frame:
        return np.full(len(frame), np.nan)
    return np.asarray(frame[name].to_numpy(float), float)


def _transport_value(table: pd.DataFrame, material: str, column: str) -> float | None:
    """The material's own transport.csv value, else the default row's (blank material)."""
    if column not in table:
        return None
    for key in (material, ""):
        rows = table.loc[table["material"] == key, column]
        if len(rows) and math.isfinite(float(rows.iloc[0])):
            return float(rows.iloc[0])
    return None


def truck_settings(dataset: Dataset, material: str) -> tuple[float, float]:
    """(payload t, CNY per trip-km) of a material moved by truck; NaN where not given.
    Only materials measured in t move by truck."""
    if dataset.taxonomy.materials[material].unit != "t":
        return math.nan, math.nan
    cap = _transport_value(dataset.transport, material, "truck_capacity_t")
    cost = _transport_value(dataset.transport, material, "cny_per_trip_km")
    return (cap if cap is not None else math.nan), (cost if cost is not None else math.nan)


def integer_features(dataset: Dataset, options: MatchParameters) -> list[str]:
    """Which integer features the run has (empty: the LP/min-cost-flow plan is the answer).

    Pipes alone are not one: their default cost exists for every heat and water material,
    and the continuous models already charge it (as the full-load share).
    """
    found: list[str] = []
    for column in ("min_lot", "max_partners", "contract_cny_per_year"):
        if any(column in f and f[column].notna().any()
               for f in (dataset.offers, dataset.needs)):
            found.append(column)
    if options.contract_cost and "contract_cost" not in found:
        found.append("contract_cost")
    if options.max_partners is not None and "max_partners" not in found:
        found.append("max_partners")
    if "truck_capacity_t" in dataset.transport and \
            dataset.transport["truck_capacity_t"].notna().any():
        found.append("trucks")
    if len(dataset.contracts):
        found.append("contracts")
    return found


@dataclass(frozen=True)
class ArcLogistics:
    """The symbols of the module docstring, one entry per candidate arc (or listing)."""

    upper: FloatArray  # U_a
    lot: FloatArray  # L_a (0 = none)
    contract_cny: FloatArray  # F_a
    pipe_cny: FloatArray  # P_a
    truck_t: FloatArray  # K_a (NaN = not by truck)
    trip_cny: FloatArray  # c_a (0 = trips not charged)
    road_unit_cny: FloatArray  # per-unit road freight replaced by trips (0 elsewhere)
    offer_partners: IntArray  # P_o per offer (0 = no limit)
    need_partners: IntArray  # P_n per need
    supply: FloatArray  # q_o + stock_o per offer
    demand: FloatArray  # d_n per need
    forced: IntArray  # arcs of existing contracts
    forced_min: FloatArray  # their least quantity (offer units)


def wants_milp(dataset: Dataset, options: MatchParameters) -> bool:
    """True when the run goes to the MILP: `--method milp`, or `auto` with an integer
    feature in the dataset or options (a stated minimum lot, partner limit, contract,
    contract cost or truck). Auto, because a plan that ignores a lot the user stated is a
    plan they cannot sign; pipes alone stay continuous (their cost exists by default)."""
    if options.method is Method.milp:
        return True
    return options.method is Method.auto and bool(integer_features(dataset, options))


def _partners(frame: pd.DataFrame, default: int | None) -> IntArray:
    own = _column(frame, "max_partners")
    fallback = 0 if default is None else int(default)
    return np.where(np.isfinite(own), own, fallback).astype(np.int64)


def _contract_arcs(dataset: Dataset, cand: Candidates, lot: FloatArray
                   ) -> tuple[IntArray, FloatArray]:
    """Arcs of contracts.csv and their least quantity.

    Raises:
        InvalidDataError: a contract whose pair is no candidate arc (materials that do not
            match, beyond reach, quality rejected), naming its contracts.csv row.
    """
    contracts = dataset.contracts
    if not len(contracts):
        return np.zeros(0, np.int64), np.zeros(0)
    o = dataset.offers.index.get_indexer(contracts["offer_id"])
    n = dataset.needs.index.get_indexer(contracts["need_id"])
    key = cand.offer.astype(np.int64) * len(dataset.needs) + cand.need
    order = np.argsort(key, kind="stable")
    want = o.astype(np.int64) * len(dataset.needs) + n
    pos = np.searchsorted(key[order], want)
    pos = np.minimum(pos, max(len(order) - 1, 0))
    found = (len(order) > 0) & (key[order][pos] == want) if len(order) else \
        np.zeros(len(want), bool)
    label = str(Path(dataset.source) / "contracts.csv") if dataset.source else "contracts"
    rows = contracts["row"].to_numpy() if "row" in contracts else np.arange(2, len(o) + 2)
    problems = [Problem(label, int(r), "need_id",
                        "this existing contract is not a candidate exchange of the run "
                        "(materials do not match, beyond reach or quality rejected)")
                for r in rows[~found]]
    if problems:
        raise InvalidDataError(problems)
    arcs = order[pos].astype(np.int64)
    kept = np.nan_to_num(contracts["quantity"].to_numpy(float), nan=0.0)
    return arcs, np.maximum(kept, lot[arcs])


def arc_logistics(dataset: Dataset, cand: Candidates, options: MatchParameters,
                  values: ArcValues) -> ArcLogistics:
    """Resolve the module docstring's symbols for every candidate arc.

    Raises:
        InvalidDataError: an existing contract that is no candidate arc.
    """
    offers, needs = dataset.offers, dataset.needs
    o, n, ratio = cand.offer, cand.need, cand.ratio
    stock = np.nan_to_num(_column(offers, "stock"), nan=0.0)
    supply = offers["quantity"].to_numpy(float) + stock
    demand = needs["quantity"].to_numpy(float)
    upper = np.minimum(supply[o], demand[n] / ratio)
    lot = np.maximum(np.nan_to_num(_column(offers, "min_lot"), nan=0.0)[o],
                     np.nan_to_num(_column(needs, "min_lot"), nan=0.0)[n] / ratio)
    c_o = _column(offers, "contract_cny_per_year")[o]
    c_n = _column(needs, "contract_cny_per_year")[n]
    neither = ~np.isfinite(c_o) & ~np.isfinite(c_n)
    contract = np.where(neither, float(options.contract_cost or 0.0),
                        np.nan_to_num(c_o, nan=0.0) + np.nan_to_num(c_n, nan=0.0))
    pipe = values.pipe_fixed if values.pipe_fixed is not None else np.zeros(len(cand))
    offer_mat = offers["material"].to_numpy(dtype=object)
    used = sorted({str(m) for m in offer_mat[np.unique(o)]}) if len(o) else []
    settings = EconomicSettings(options.transport_rate, options.loading_cost,
                                options.disposal_tax_floor)
    rates = material_rates(dataset, used, settings)
    truck = np.full(len(cand), np.nan)
    trip = np.zeros(len(cand))
    road = np.zeros(len(cand))
    arc_mat = offer_mat[o] if len(o) else np.zeros(0, dtype=object)
    km = cand.distance_km
    for m in used:
        cap, cost = truck_settings(dataset, m)
        if not math.isfinite(cap):
            continue
        sel = arc_mat == m
        truck[sel] = cap
        if math.isfinite(cost):
            trip[sel] = cost * km[sel]
            road[sel] = rates[m][0] * km[sel]
    forced, forced_min = _contract_arcs(dataset, cand, lot)
    return ArcLogistics(
        upper=upper, lot=lot, contract_cny=contract, pipe_cny=np.asarray(pipe, float),
        truck_t=truck, trip_cny=trip, road_unit_cny=road,
        offer_partners=_partners(offers, options.max_partners),
        need_partners=_partners(needs, options.max_partners),
        supply=supply, demand=demand, forced=forced, forced_min=forced_min)
