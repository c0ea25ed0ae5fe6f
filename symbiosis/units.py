"""Units as offices write them, converted into the taxonomy's units (t, GJ, m3 per year).

`symbiosis/data/units.csv` lists each unit with its family and its factor to the family's
base unit, with the source of the factor (SI Brochure, 9th edition 2019, for the SI ones;
1 MWh = 3.6 GJ exactly since 1 h = 3600 s). A unit may be per year (`t`, `t/a`, `万吨/年`),
per day (`t/d`, `吨/天`; the row then states `operating_days`, days a year the plant runs)
or per hour (`t/h`, `GJ/h`; with `operating_hours`, hours a year).
`symbiosis/data/plausible_quantities.csv` gives, per sector (GB/T 4754-2017 code prefix)
and material, an offer below which the figure is more likely in the wrong unit.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from symbiosis.errors import Problem
from symbiosis.taxonomy import UNIT_FAMILY, Taxonomy

__all__ = ["RATE_COLUMNS", "Unit", "convert_quantities", "lookup", "warn_implausible"]

ROW = "_row"  # the same name as symbiosis.dataset.ROW
RATE_COLUMNS = ("operating_days", "operating_hours")
_RATE_LIMITS = {"operating_days": 366.0, "operating_hours": 8784.0}  # a leap year
_PER_YEAR = re.compile(r"(/(年|a|yr|y|year|annum)|每年|peryear|pa)$")
_PER_DAY = re.compile(r"(/(d|天|日|day)|每天|每日|perday)$")
_PER_HOUR = re.compile(r"(/(h|小时|时|hr|hour)|每小时|perhour)$")
_BASE = {family: unit for unit, family in UNIT_FAMILY.items()}


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit read from a cell: family (mass, energy, water), factor to the family's base
    unit (t, GJ, m3), and the period it is stated per (`yr`, `d` or `h`)."""

    text: str
    family: str
    factor: float
    per: str

    @property
    def key(self) -> tuple[str, float, str]:
        """What makes two spellings the same unit (`t` and `吨`)."""
        return (self.family, self.factor, self.per)


def _key(text: str) -> str:
    import unicodedata

    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).casefold()).replace("³", "3")


@cache
def _table() -> dict[str, tuple[str, float]]:
    with resources.files("symbiosis.data").joinpath("units.csv").open(encoding="utf-8") as f:
        return {_key(r["unit"]): (r["family"], float(r["factor"])) for r in csv.DictReader(f)}


@cache
def lookup(text: str) -> Unit | None:
    """The unit a cell names, or None if it is not one we know."""
    key = _key(text)
    per = "yr"
    for pattern, period in ((_PER_DAY, "d"), (_PER_HOUR, "h"), (_PER_YEAR, "yr")):
        stripped = pattern.sub("", key)
        if stripped != key and stripped in _table():
            key, per = stripped, period
            break
    found = _table().get(key)
    if found is None:
        return None
    return Unit(text, found[0], found[1], per)


def known_units() -> str:
    """A short list of accepted units for messages."""
    return "t, 吨, kt, 千吨, 万吨, t/d, t/h, GJ, MJ, 万GJ, MWh, m3, 万m3 (per year unless /d or /h)"


def convert_quantities(frame: pd.DataFrame, positions: Mapping[str, int],
                       shown: Mapping[str, str], cell_units: Mapping[int, str], label: str,
                       taxonomy: Taxonomy, problems: list[Problem]) -> None:
    """Convert each row's `quantity` from its unit (the `unit` cell, or a unit written in the
    quantity cell) into its material's unit per year, in place; `unit` becomes the
    material's unit. Errors name the row: an unknown unit, a unit of the wrong family, a
    per-day or per-hour unit without `operating_days` / `operating_hours`."""
    q = positions["quantity"]
    u = positions.get("unit")
    m = positions.get("material")
    if u is None and not cell_units:
        return
    # plain lists: a province has hundreds of thousands of rows, and pandas per-cell access
    # costs microseconds each
    quantities = frame[q].tolist()
    unit_cells = frame[u].tolist() if u is not None else [""] * len(frame)
    materials = frame[m].tolist() if m is not None else [""] * len(frame)
    rows = frame[ROW].tolist()
    rates = {c: frame[positions[c]].tolist() for c in RATE_COLUMNS if c in positions}
    # issue 15: m01..m12 are in the row's unit too, converted with the same factor
    months = {c: frame[p].tolist() for c, p in positions.items()
              if len(c) == 3 and c[0] == "m" and c[1:].isdigit()}
    for i, idx in enumerate(frame.index.tolist()):
        in_cell = cell_units.get(int(idx), "")
        stated = str(unit_cells[i])
        material = taxonomy.materials.get(str(materials[i]))
        if not in_cell and (not stated or (material is not None and stated == material.unit)):
            continue
        text = in_cell or stated
        unit = lookup(text)
        row = int(rows[i])
        where = shown.get("unit", "unit") if not in_cell else shown["quantity"]
        if unit is None:
            problems.append(Problem(label, row, where,
                                    f"unknown unit '{text}'; use one of {known_units()}"))
            unit_cells[i] = ""  # reported here, not again as a mismatch
            continue
        other = lookup(stated) if in_cell and stated else None
        if in_cell and stated and (other is None or other.key != unit.key):
            problems.append(Problem(label, row, shown["quantity"],
                                    f"the cell says '{in_cell}' but the unit column says "
                                    f"'{stated}'"))
            unit_cells[i] = ""  # reported here, not again as a mismatch
            continue
        target = material.unit if material is not None else _BASE[unit.family]
        if UNIT_FAMILY.get(target, unit.family) != unit.family:
            problems.append(Problem(label, row, where,
                                    f"'{text}' is a unit of {unit.family} but "
                                    f"'{material.slug if material else ''}' is measured in "
                                    f"{target} ({UNIT_FAMILY.get(target)})"))
            unit_cells[i] = ""  # reported here, not again as a mismatch
            continue
        try:
            value: float | None = float(quantities[i])
        except ValueError:
            value = None  # reported by the contract checks (or blank: the months' sum)
        has_months = any(str(cells[i]).strip() for cells in months.values())
        if value is None and not has_months:
            continue
        if has_months and unit.per != "yr":
            problems.append(Problem(label, row, where,
                                    f"'{text}' is a rate; monthly columns take an amount "
                                    "(t, 吨, 万吨, GJ, m3 ...)"))
            unit_cells[i] = ""  # reported here, not again as a mismatch
            continue
        factor = unit.factor * _period_factor(rates, i, row, unit, shown, label, problems)
        if not np.isfinite(factor):
            unit_cells[i] = ""  # reported, not again as a mismatch
            continue
        if value is not None and (factor != 1.0 or in_cell):
            quantities[i] = f"{value * factor:.15g}"
        for cells in months.values():
            if factor != 1.0 and _is_number(cells[i]):  # else blank, or reported later
                cells[i] = f"{float(cells[i]) * factor:.15g}"
        unit_cells[i] = target
    frame[q] = pd.Series(quantities, index=frame.index, dtype=frame[q].dtype)
    for c, cells in months.items():
        frame[positions[c]] = pd.Series(cells, index=frame.index,
                                        dtype=frame[positions[c]].dtype)
    if u is not None:
        frame[u] = pd.Series(unit_cells, index=frame.index, dtype=frame[u].dtype)


def _is_number(text: Any) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _period_factor(rates: Mapping[str, list[Any]], i: int, row: int, unit: Unit,
                   shown: Mapping[str, str], label: str, problems: list[Problem]) -> float:
    """Periods per year for a per-day or per-hour unit (NaN, with an error, when the row
    does not say how long the plant runs)."""
    if unit.per == "yr":
        return 1.0
    column = "operating_days" if unit.per == "d" else "operating_hours"
    text = str(rates[column][i]) if column in rates else ""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not text or not np.isfinite(value):
        problems.append(Problem(label, row, shown.get(column, column),
                                f"'{unit.text}' needs {column} (how many "
                                f"{'days' if unit.per == 'd' else 'hours'} a year the plant "
                                "runs) on the row"))
        return float("nan")
    if not 0 < value <= _RATE_LIMITS[column]:
        problems.append(Problem(label, row, shown.get(column, column),
                                f"{column} must be in (0, {_RATE_LIMITS[column]:g}], got {text}"))
        return float("nan")
    return value


@cache
def _plausible() -> dict[tuple[str, str], tuple[float, str]]:
    name = "plausible_quantities.csv"
    with resources.files("symbiosis.data").joinpath(name).open(encoding="utf-8") as f:
        return {(r["sector_prefix"], r["material"]): (float(r["min_quantity"]),
                                                      r["sector_name"])
                for r in csv.DictReader(f)}


def warn_implausible(offers: Any, enterprises: Any, taxonomy: Taxonomy, renames: Any,
                     problems: list[Problem]) -> None:
    """A warning per offer whose quantity is below what the enterprise's sector makes of the
    material (e.g. a thermal power plant, GB/T 4754-2017 4411, offering under 1,000 t of fly
    ash): most often a figure in 万吨 read as tonnes, or a monthly figure."""
    eh, oh = enterprises.header, offers.header
    if not {"id", "sector"} <= set(eh) or not {"enterprise_id", "material", "quantity"} <= set(oh):
        return
    ef = enterprises.frame
    sector = dict(zip(ef[eh.index("id")].tolist(), ef[eh.index("sector")].tolist(),
                      strict=True))
    limits = _plausible()
    of = offers.frame
    user = renames.columns.get(offers.label, {})
    codes: dict[Any, str] = {}  # per enterprise, its sector code without a letter prefix
    for ent, mat, qty, row in zip(of[oh.index("enterprise_id")].tolist(),
                                  of[oh.index("material")].tolist(),
                                  of[oh.index("quantity")].tolist(), of[ROW].tolist(),
                                  strict=True):
        code = codes.get(ent)
        if code is None:
            code = codes[ent] = re.sub(r"^[A-Za-z]", "", str(sector.get(ent, "")))
        for prefix_len in (4, 3, 2):
            found = limits.get((code[:prefix_len], mat))
            if found is not None:
                break
        else:
            continue
        try:
            value = float(qty)
        except ValueError:
            continue
        low, sector_name = found
        if 0 < value < low:
            unit = taxonomy.materials[mat].unit if mat in taxonomy.materials else ""
            problems.append(Problem(offers.label, int(row), user.get("quantity", "quantity"),
                                    f"{value:g} {unit}/yr of {mat} is implausibly small for "
                                    f"sector {code} ({sector_name}; expected at least "
                                    f"{low:g} {unit}/yr): is it in 万吨, or a monthly "
                                    "figure? State the unit in a unit column", "warning"))
