"""Money and carbon per candidate arc: what one unit shipped along it saves and avoids.

For an arc a from offer o (material m, unit u) to need n, per offer unit shipped:

    saving_a   = disposal_o + ratio_a * virgin_n - (rate_m * km_a + loading_m) - treatment_o
    co2_net_a  = ratio_a * displaced_n - freight_m * km_a - kwh_a * grid        (kg CO2e)

| symbol       | attribute                                                             |
|--------------|-----------------------------------------------------------------------|
| disposal_o   | `offers.disposal_cost` (CNY/unit the supplier pays today; blank = 0)  |
| treatment_o  | `offers.treatment_cost` (CNY/unit of pre-processing; blank = 0)       |
| virgin_n     | `needs.virgin_cost` (CNY per need unit, delivered; blank = 0)         |
| rate_m       | CNY per unit-km: transport.csv row for m, else --transport-rate, else |
|              | transport.csv's default row, else factor road_freight_cost_cny_per_tkm |
| loading_m    | CNY per unit, resolved the same way (factor loading_cost_cny_per_t)   |
| displaced_n  | kg CO2e per need unit of what the need really stops using: its      |
|              | `replaces`, else carbon.csv, else the conservative default per need |
|              | material (need_replaces.csv), see `_displacement_per_need`          |
| freight_m    | kg CO2e per unit-km: transport.csv, else road_freight_co2_kg_per_tkm  |
|              | (GB/T 51366-2019 Appendix D, heavy 30 t diesel truck, 0.078)          |
| kwh_a        | grinding or treatment power per offer unit the use needs              |
|              | (`symbiosis/data/processing_energy.csv`, by need and offer material;  |
|              | 0 where no row: no processing step beyond what the need does anyway)  |
| grid         | factor grid_co2_kg_per_kwh: the national average electricity CO2      |
|              | factor (MEE and NBS, 2023 factor, 0.5306 kg CO2/kWh)                  |

Built-in road rates apply to materials measured in tonnes. Heat and water move by pipe:
a pipe costs per km per year whatever it carries (annualised capital plus operation,
`symbiosis/data/pipe_costs.csv`, overridden by transport.csv's `cny_per_km_year`). An
exchange's pipe costs pipe_m x km_a CNY/yr; in the cost objective (linear) each unit on the
arc carries pipe_m x km_a / cap_a with cap_a = min(offer quantity + stock, need / ratio),
the arc's full-load share (exact when the arc runs full, optimistic otherwise), while the
reported exchange figures charge the whole pipe.

Disposal cost floor: with `disposal_tax_floor` (a run option, off by default) an offer's
disposal cost is at least the environmental protection tax on its material
(`symbiosis/data/ep_tax_solid_waste.csv`, Environmental Protection Tax Law, schedule 1: coal
gangue 5, tailings 15, smelting slag, fly ash, bottom ash and other solid waste 25 CNY/t).
The tax is due on solid waste stored or disposed of other than in facilities meeting the
standards, so the floor applies only where the user states it.

`costs_given` (in `info`) says whether the dataset gives any avoided cost (disposal or
virgin cost, or the tax floor): without one no saving figure is computed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from symbiosis.dataset import Dataset
from symbiosis.matching.candidates import Candidates
from symbiosis.types import FloatArray

__all__ = ["ArcValues", "EconomicSettings", "arc_values", "disposal_tax", "material_rates"]

RATE_FACTOR = "road_freight_cost_cny_per_tkm"
LOADING_FACTOR = "loading_cost_cny_per_t"
FREIGHT_CO2_FACTOR = "road_freight_co2_kg_per_tkm"
GRID_FACTOR = "grid_co2_kg_per_kwh"


@dataclass(frozen=True)
class EconomicSettings:
    """Run-level overrides (the CLI flags) of the default road rate and loading cost."""

    transport_rate: float | None = None  # CNY per t-km, materials measured in tonnes
    loading_cost: float | None = None  # CNY per t
    disposal_tax_floor: bool = False  # disposal cost >= the environmental protection tax


@dataclass(frozen=True)
class ArcValues:
    """Per offer unit on each arc: CNY components and kg CO2e; `info` documents the factors."""

    avoided_disposal: FloatArray
    avoided_virgin: FloatArray
    transport: FloatArray
    treatment: FloatArray
    co2_avoided_kg: FloatArray
    co2_transport_kg: FloatArray
    info: dict[str, Any]
    pipe_fixed: FloatArray | None = None  # CNY/yr of the pipe an exchange on the arc needs
    pipe_unit: FloatArray | None = None  # its full-load share per unit (inside `transport`)
    co2_processing_kg: FloatArray | None = None  # grinding/treatment power, kg CO2e per unit

    @cached_property
    def saving(self) -> FloatArray:
        """CNY saved per offer unit shipped (may be negative); computed once: at 10^7 arcs
        each pass is a few hundred MB."""
        return self.avoided_disposal + self.avoided_virgin - self.transport - self.treatment

    @cached_property
    def co2_net_kg(self) -> FloatArray:
        """kg CO2e avoided net of haulage and processing power per offer unit shipped
        (may be negative)."""
        net = self.co2_avoided_kg - self.co2_transport_kg
        return net if self.co2_processing_kg is None else net - self.co2_processing_kg


def _value(frame: pd.DataFrame, material: str, column: str) -> float | None:
    rows = frame.loc[frame["material"] == material, column]
    if len(rows) and not math.isnan(float(rows.iloc[0])):
        return float(rows.iloc[0])
    return None


def _first_rows(frame: pd.DataFrame, columns: Iterable[str]
                ) -> dict[str, dict[str, float | None]]:
    """Per material, the first row's value of each column (None where it is NaN): what
    `_value` returns, for every material of the table at once."""
    out: dict[str, dict[str, float | None]] = {}
    if not len(frame):
        return out
    columns = list(columns)
    values = {c: frame[c].tolist() for c in columns}
    for k, material in enumerate(frame["material"].tolist()):
        if material not in out:
            out[material] = {c: None if math.isnan(float(values[c][k])) else float(values[c][k])
                             for c in columns}
    return out


def _material_rates(dataset: Dataset, materials: list[str],
                    settings: EconomicSettings) -> tuple[dict[str, tuple[float, float, float]],
                                                         list[dict[str, Any]]]:
    """(CNY/unit-km, CNY/unit loading, kg CO2e/unit-km) per offered material, and where
    each came from."""
    tax, table = dataset.taxonomy, dataset.transport
    built_in = {
        "cny_per_unit_km": (settings.transport_rate, tax.factors.get(RATE_FACTOR)),
        "loading_cny_per_unit": (settings.loading_cost, tax.factors.get(LOADING_FACTOR)),
        "kg_co2e_per_unit_km": (None, tax.factors.get(FREIGHT_CO2_FACTOR)),
    }
    rates: dict[str, tuple[float, float, float]] = {}
    origin: list[dict[str, Any]] = []
    first = _first_rows(table, built_in)  # transport.csv by material ("" = default row)
    for m in materials:
        tonnes = tax.materials[m].unit == "t"
        values: list[float] = []
        for column, (flag, factor) in built_in.items():
            own = first.get(m, {}).get(column)
            default = first.get("", {}).get(column) if tonnes else None
            if own is not None:
                value, src = own, f"{dataset.source}: transport.csv ({m})"
            elif flag is not None and tonnes and column != "kg_co2e_per_unit_km":
                value, src = float(flag), "command-line option"
            elif default is not None:
                value, src = default, f"{dataset.source}: transport.csv (default row)"
            elif tonnes and factor is not None:
                value, src = factor.value, f"factors.csv {factor.key}: {factor.source}"
            else:
                value, src = 0.0, "not modelled (pipeline; set it in transport.csv)"
            values.append(value)
            origin.append({"material": m, "field": column, "value": value, "source": src})
        rates[m] = (values[0], values[1], values[2])
    return rates, origin


def material_rates(dataset: Dataset, materials: Iterable[str],
                   settings: EconomicSettings | None = None
                   ) -> dict[str, tuple[float, float, float]]:
    """(CNY/unit-km, CNY/unit loading, kg CO2e/unit-km) per offered material, resolved as a
    match run resolves them (the table in the module docstring), for callers outside a run
    such as the feedstock search, so their figures agree with what a run charges."""
    return _material_rates(dataset, list(materials), settings or EconomicSettings())[0]


def _displacement_per_need(dataset: Dataset, used: np.ndarray
                           ) -> tuple[FloatArray, list[dict[str, Any]]]:
    """kg CO2e avoided per need unit for every need, against what it really stops using.

    Order: the need's own `replaces` (replaced_inputs.csv); else the dataset's carbon.csv
    row for its material; else the material's conservative default (need_replaces.csv);
    else, for a need of a by-product (a grinding plant's slag intake), `other_byproduct` (0:
    the intake is present demand, and switching supplier stops no virgin production); else
    the built-in carbon table. `used` flags the needs on some arc;
    factors are listed for those only.
    """
    needs = dataset.needs
    inputs = {r["key"]: r for r in _data_rows("replaced_inputs.csv")}
    defaults = {r["need_material"]: r["replaces"] for r in _data_rows("need_replaces.csv")}
    own_rows = set(dataset.carbon["need_material"])
    material = needs["material"].to_numpy(dtype=object)
    stated = needs["replaces"].to_numpy(dtype=object) if "replaces" in needs else \
        np.full(len(needs), "", dtype=object)
    tax = dataset.taxonomy
    keys = np.empty(len(needs), dtype=object)
    for i, (m, r) in enumerate(zip(material, stated, strict=True)):
        if r:
            keys[i] = ("input", r)
        elif m in own_rows:
            keys[i] = ("table", m)
        elif m in defaults:
            keys[i] = ("input", defaults[m])
        elif tax.materials[m].kind == "byproduct":
            keys[i] = ("input", "other_byproduct")
        elif m in tax.displacements:
            keys[i] = ("table", m)
        else:
            keys[i] = ("table", m)
    tables: dict[tuple[str, tuple[str, str]], tuple[float, dict[str, Any]]] = {}
    out = np.zeros(len(needs))
    factors: list[dict[str, Any]] = []
    listed: set[tuple[str, tuple[str, str]]] = set()  # pairs whose entry was looked for
    _, table_rows = _displacement(dataset, sorted({k[1] for k in keys if k[0] == "table"}))
    by_table = {row["need_material"]: row for row in table_rows}
    for i, (m, key, on_arc) in enumerate(zip(material.tolist(), keys.tolist(), used.tolist(),
                                             strict=True)):
        m = str(m)
        pair = (m, key)
        if pair not in tables:
            if key[0] == "input":
                row = inputs[key[1]]
                entry = {"need_material": m, "displaced": f"{key[1]}: {row['name_en']}",
                         "value": float(row["kg_co2e_per_unit"]), "unit": row["unit"],
                         "source": row["source"], "confidence": row["confidence"]}
            else:
                entry = dict(by_table[key[1]])
                entry["need_material"] = m
            tables[pair] = (float(str(entry["value"])), entry)
        value, entry = tables[pair]
        # a pair's entry is one object: once looked for in `factors`, the answer stays
        if on_arc and pair not in listed:
            listed.add(pair)
            if entry not in factors:
                factors.append(entry)
        out[i] = value
    return out, factors


def _displacement(dataset: Dataset, materials: list[str]) -> tuple[dict[str, float],
                                                                   list[dict[str, Any]]]:
    """kg CO2e avoided per need unit for each need material, with its source (the carbon
    tables: the dataset's carbon.csv, else the built-in one)."""
    tax, table = dataset.taxonomy, dataset.carbon
    own = dict(zip(table["need_material"], table["kg_co2e_per_unit"], strict=True))
    own_src = dict(zip(table["need_material"], table["source"], strict=True))
    own_what = dict(zip(table["need_material"], table["displaced"], strict=True))
    out: dict[str, float] = {}
    used: list[dict[str, Any]] = []
    for m in materials:
        unit = tax.materials[m].unit
        if m in own:
            out[m] = float(own[m])
            used.append({"need_material": m, "displaced": own_what[m] or "",
                         "value": out[m], "unit": f"kg CO2e/{unit}",
                         "source": own_src[m] or f"{dataset.source}: carbon.csv",
                         "confidence": "dataset"})
        elif m in tax.displacements:
            d = tax.displacements[m]
            out[m] = d.kg_co2e_per_unit
            used.append({"need_material": m, "displaced": d.displaced, "value": out[m],
                         "unit": d.unit, "source": d.source, "confidence": d.confidence})
        else:
            out[m] = 0.0
            used.append({"need_material": m, "displaced": "", "value": 0.0,
                         "unit": f"kg CO2e/{unit}",
                         "source": "none: an intermediate processor; the virgin material "
                                   "its product displaces is counted where that product "
                                   "is used", "confidence": "n/a"})
    return out, used


def _data_rows(name: str) -> list[dict[str, str]]:
    import csv
    from importlib import resources

    text = resources.files("symbiosis").joinpath("data", name).read_text(encoding="utf-8")
    return [{k: (v or "").strip() for k, v in row.items()}
            for row in csv.DictReader(text.splitlines())]


def _pipe_rates(dataset: Dataset, materials: list[str]) -> tuple[dict[str, float],
                                                                  list[dict[str, Any]]]:
    """CNY per km per year of pipe for each offered heat or water material, and its source:
    transport.csv's `cny_per_km_year` for the material, else pipe_costs.csv by family."""
    tax, table = dataset.taxonomy, dataset.transport
    built_in = {r["family"]: r for r in _data_rows("pipe_costs.csv")}
    out: dict[str, float] = {}
    origin: list[dict[str, Any]] = []
    for m in materials:
        family = str(tax.materials[m].family)
        if family not in built_in:
            continue
        own = _value(table, m, "cny_per_km_year") if "cny_per_km_year" in table else None
        if own is not None:
            value, src = own, f"{dataset.source}: transport.csv ({m})"
        else:
            row = built_in[family]
            value = float(row["cny_per_km_year"])
            src = f"pipe_costs.csv ({family}): {row['source']} [{row['confidence']}]"
        out[m] = value
        origin.append({"material": m, "field": "cny_per_km_year", "value": value,
                       "source": src})
    return out, origin


def _processing_power(dataset: Dataset, cand: Candidates, arcs: np.ndarray | None = None
                      ) -> tuple[FloatArray, list[dict[str, Any]]]:
    """kg CO2e per offer unit of the grinding or treatment power each arc's use needs
    (processing_energy.csv kWh/unit x the national grid factor), and the rows used by some
    arc. With `arcs`, the per-arc values are for the arcs at those positions only (the
    rows used are still those of every arc).

    A pair without a row needs no processing step beyond what the receiving plant does
    with its present input anyway, and is charged nothing. Looked up per rule (a rule is
    one (need material, offer material) pair), then spread to the arcs by their rule
    index: no per-arc material strings."""
    grid = dataset.taxonomy.factors.get(GRID_FACTOR)
    size = len(cand) if arcs is None else len(arcs)
    out = np.zeros(size)
    if grid is None or not len(cand):
        return out, []
    table = {(r["need_material"], r["offer_material"]): r
             for r in _data_rows("processing_energy.csv")}
    with_arcs = np.bincount(cand.rule, minlength=len(cand.rules)) > 0
    present = {(r.need_material, r.offer_material) for r, live in
               zip(cand.rules, with_arcs, strict=True) if live}
    per_rule = np.zeros(len(cand.rules))
    used: list[dict[str, Any]] = []
    for (need_m, offer_m), row in table.items():
        kwh = float(row["kwh_per_unit"])
        if (need_m, offer_m) not in present or kwh == 0:
            continue
        for i, r in enumerate(cand.rules):
            if (r.need_material, r.offer_material) == (need_m, offer_m):
                per_rule[i] = kwh * grid.value
        used.append({"need_material": need_m, "offer_material": offer_m,
                     "kwh_per_unit": kwh, "unit": row["unit"],
                     "kg_co2e_per_unit": kwh * grid.value, "source": row["source"],
                     "confidence": row["confidence"],
                     "grid_factor": {"value": grid.value, "unit": grid.unit,
                                     "source": grid.source, "confidence": grid.confidence}})
    out[:] = per_rule[cand.rule if arcs is None else cand.rule[arcs]]
    return out, used


def disposal_tax() -> dict[str, tuple[float, str]]:
    """CNY per t of environmental protection tax per material, and its source."""
    return {r["material"]: (float(r["cny_per_t"]), r["source"])
            for r in _data_rows("ep_tax_solid_waste.csv")}


def arc_values(dataset: Dataset, cand: Candidates,
               settings: EconomicSettings | None = None,
               arcs: np.ndarray | None = None) -> ArcValues:
    """CNY and kg CO2e per offer unit for every candidate arc (vectorised over arcs).

    With `arcs` (positions), the per-arc arrays cover those arcs only, in that order, while
    `info` (the rates, factors and processing rows used) still describes every arc: the
    lean report of a national run values its exchanges without six arrays of 10^7 arcs.
    """
    settings = settings or EconomicSettings()
    offers, needs = dataset.offers, dataset.needs
    offer_mat = offers["material"].to_numpy(dtype=object)
    has_arc = np.bincount(cand.offer, minlength=len(offers)) > 0
    used_offer = sorted({str(m) for m in offer_mat[has_arc]})
    rates, rate_origin = _material_rates(dataset, used_offer, settings)
    on_arc = np.zeros(len(needs), dtype=bool)
    on_arc[cand.need] = True
    disp_of_need, carbon_used = _displacement_per_need(dataset, on_arc)
    processing, processing_used = _processing_power(dataset, cand, arcs)
    if arcs is not None:
        cand = cand.subset(arcs)
    o, n = cand.offer, cand.need

    per_offer_mat = {m: i for i, m in enumerate(used_offer)}
    table = np.array([rates[m] for m in used_offer] or [(0.0, 0.0, 0.0)])
    mat_idx = np.array([per_offer_mat.get(str(m), 0) for m in offer_mat], np.int64)
    arc_rates = table[mat_idx[o]] if len(o) else np.zeros((0, 3))

    def cost(frame: pd.DataFrame, column: str) -> FloatArray:
        values = frame[column].to_numpy(dtype=float) if column in frame else \
            np.full(len(frame), np.nan)
        return np.nan_to_num(values, nan=0.0)

    km = cand.distance_km
    pipes, pipe_origin = _pipe_rates(dataset, used_offer)
    pipe_of_offer = np.array([pipes.get(str(m), 0.0) for m in offer_mat])
    pipe_fixed = pipe_of_offer[o] * km if len(o) else np.zeros(0)
    cap = np.zeros(len(o))
    if len(o):
        stock = offers["stock"].to_numpy(float) if "stock" in offers else \
            np.zeros(len(offers))
        avail = offers["quantity"].to_numpy(float) + np.nan_to_num(stock, nan=0.0)
        cap = np.minimum(avail[o], needs["quantity"].to_numpy(float)[n] / cand.ratio)
    pipe_unit = np.divide(pipe_fixed, cap, out=np.zeros(len(o)), where=cap > 0)
    disposal = cost(offers, "disposal_cost")
    floor_used: list[dict[str, Any]] = []
    if settings.disposal_tax_floor:
        schedule = disposal_tax()
        for m in sorted({str(x) for x in offer_mat}):
            if m in schedule and tax_unit(dataset, m) == "t":
                rows = offer_mat == m
                disposal[rows] = np.maximum(disposal[rows], schedule[m][0])
                floor_used.append({"material": m, "field": "disposal_cost_floor",
                                   "value": schedule[m][0], "source": schedule[m][1]})
    given = bool(offers["disposal_cost"].notna().any() or needs["virgin_cost"].notna().any()
                 or floor_used)
    info = {
        "rates": rate_origin + pipe_origin + floor_used,
        "costs_given": given,
        "carbon_factors": carbon_used,
        "processing": processing_used,
        "coverage": {
            "offers_with_disposal_cost": int(offers["disposal_cost"].notna().sum()),
            "offers_with_treatment_cost": int(offers["treatment_cost"].notna().sum()),
            "offers": len(offers),
            "needs_with_virgin_cost": int(needs["virgin_cost"].notna().sum()),
            "needs": len(needs),
        },
    }
    return ArcValues(
        avoided_disposal=disposal[o],
        avoided_virgin=cand.ratio * cost(needs, "virgin_cost")[n],
        transport=arc_rates[:, 0] * km + arc_rates[:, 1] + pipe_unit,
        treatment=cost(offers, "treatment_cost")[o],
        co2_avoided_kg=cand.ratio * disp_of_need[n],
        co2_transport_kg=arc_rates[:, 2] * km,
        info=info,
        pipe_fixed=pipe_fixed,
        pipe_unit=pipe_unit,
        co2_processing_kg=processing,
    )


def tax_unit(dataset: Dataset, material: str) -> str:
    """The unit a material is measured in (the tax schedule is per tonne)."""
    return dataset.taxonomy.materials[material].unit
