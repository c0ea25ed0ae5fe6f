"""Heat and water grades in the dataset: the heat medium, blending, heat cascades and the
GB/T 19923 water use classes, read and checked at load time.

Columns (all optional):

| table  | column                 | meaning                                                  |
|--------|------------------------|----------------------------------------------------------|
| offers | `medium`               | `steam` or `hot_water` (蒸汽 / 热水); blank: steam above  |
|        |                        | 100 °C, hot water at or below (`default_medium`)         |
| needs  | `blend`                | `yes` / `no` (是 / 否): the need takes a blend of offers |
|        |                        | judged on the mass-weighted average of each limit        |
| needs  | `water_class`          | a GB/T 19923 use class of `symbiosis/data/               |
|        |                        | water_classes.csv`; its limits become the need's own     |
|        |                        | `max.` requirements where the need sets none             |
| needs  | `return_temperature_c` | heat cascade: temperature at which the user's medium     |
|        |                        | leaves it (°C), below its own `min.temperature_c`        |
| needs  | `return_share`         | heat cascade: share (0-1] of the heat delivered to the   |
|        |                        | user that its return still carries                       |

Heat-pipe coefficients (temperature drop and heat loss per km, by medium) are in
`symbiosis/data/heat_pipes.csv` with their sources; they are assumptions marked unverified
there. The water classes' limits are in `symbiosis/data/water_classes.csv` (GB/T 19923
Table 1, values recalled from the 2005 edition, marked unverified).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

from symbiosis.errors import Problem
from symbiosis.taxonomy import Taxonomy

__all__ = ["BLEND_NO", "BLEND_YES", "MEDIA", "PipeCoefficients", "WaterLimit",
           "check_grades", "default_medium", "heat_pipes", "water_classes"]

MEDIA = {"steam": "steam", "蒸汽": "steam", "hot_water": "hot_water", "hot water": "hot_water",
         "热水": "hot_water"}
BLEND_YES = frozenset({"yes", "y", "true", "1", "是"})
BLEND_NO = frozenset({"", "no", "n", "false", "0", "否"})
ROW = "_row"
STEAM_ABOVE_C = 100.0  # blank medium: steam above the boiling point at 1 atm, else hot water


@dataclass(frozen=True)
class PipeCoefficients:
    """Per-km behaviour of a heat main carrying `medium` (heat_pipes.csv)."""

    medium: str
    temperature_drop_c_per_km: float
    heat_loss_frac_per_km: float
    source: str
    verification: str


@dataclass(frozen=True)
class WaterLimit:
    """One limit of a GB/T 19923 use class (water_classes.csv)."""

    water_class: str
    attribute: str
    bound: str
    value: float
    unit: str
    source: str


def _rows(name: str) -> list[dict[str, str]]:
    with resources.files("symbiosis.data").joinpath(name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@cache
def heat_pipes() -> Mapping[str, PipeCoefficients]:
    """The heat-pipe coefficients by medium (`steam`, `hot_water`)."""
    return {r["medium"]: PipeCoefficients(r["medium"], float(r["temperature_drop_c_per_km"]),
                                          float(r["heat_loss_frac_per_km"]), r["source"],
                                          r["verification"])
            for r in _rows("heat_pipes.csv")}


@cache
def water_classes() -> Mapping[str, tuple[WaterLimit, ...]]:
    """The GB/T 19923 use classes and their limits."""
    out: dict[str, list[WaterLimit]] = {}
    for r in _rows("water_classes.csv"):
        out.setdefault(r["water_class"], []).append(
            WaterLimit(r["water_class"], r["attribute"], r["bound"], float(r["value"]),
                       r["unit"], r["source"]))
    return {k: tuple(v) for k, v in out.items()}


def default_medium(temperature_c: float) -> str:
    """The medium assumed when an offer states none: steam above 100 °C, else hot water."""
    return "steam" if math.isfinite(temperature_c) and temperature_c > STEAM_ABOVE_C \
        else "hot_water"


def check_grades(offers: pd.DataFrame, needs: pd.DataFrame, labels: Mapping[str, str],
                 problems: list[Problem], taxonomy: Taxonomy | None = None) -> pd.DataFrame:
    """Check the grade columns (module docstring) and return `needs` with each
    `water_class`'s limits filled in as `max.<attribute>` where the need sets none.

    Offers' `medium` is normalised to `steam` / `hot_water`; needs' `blend` to `yes` / "".
    A class limit on an attribute no offer states (no `q.<attribute>` column) is not
    added: it could exclude every offer; a warning names it.

    Problems (file:row:column): an unknown medium, blend value or water class; a
    `return_share` above 1; a `return_temperature_c` without a `return_share` or the other
    way round, or not below the need's own `min.temperature_c`; a return on a need whose
    material is not heat (energy family of `taxonomy`).
    """
    lab_o, lab_n = labels.get("offers", "offers"), labels.get("needs", "needs")
    if "medium" in offers:
        text = offers["medium"].astype(str).str.strip()
        norm = text.str.lower().map(lambda v: MEDIA.get(v, "" if v == "" else None))
        for row, value in zip(offers.loc[norm.isna(), ROW], text[norm.isna()], strict=True):
            problems.append(Problem(lab_o, int(row), "medium",
                                    f"'{value}' is not a heat medium: steam or hot_water "
                                    "(蒸汽 / 热水)"))
        offers["medium"] = norm.fillna("").to_numpy(dtype=object)
    if "blend" in needs:
        text = needs["blend"].astype(str).str.strip()
        low = text.str.lower()
        bad = ~low.isin(BLEND_YES | BLEND_NO)
        for row, value in zip(needs.loc[bad, ROW], text[bad], strict=True):
            problems.append(Problem(lab_n, int(row), "blend",
                                    f"'{value}' is not yes or no (是 / 否)"))
        needs["blend"] = np.where(low.isin(BLEND_YES), "yes", "").astype(object)
    _check_cascade(needs, lab_n, problems, taxonomy)
    if "water_class" in needs:
        needs = _apply_water_classes(offers, needs, lab_n, problems)
    return needs


def _check_cascade(needs: pd.DataFrame, label: str, problems: list[Problem],
                   taxonomy: Taxonomy | None) -> None:
    if "return_temperature_c" not in needs and "return_share" not in needs:
        return
    temp = needs.get("return_temperature_c", pd.Series(np.nan, index=needs.index))
    share = needs.get("return_share", pd.Series(np.nan, index=needs.index))
    t, s = temp.to_numpy(float), share.to_numpy(float)
    rows = needs[ROW].to_numpy()
    if taxonomy is not None:
        family = {slug: str(m.family) for slug, m in taxonomy.materials.items()}
        heat = needs["material"].map(family).to_numpy(dtype=object) == "energy"
        for i in np.flatnonzero((np.isfinite(t) | np.isfinite(s)) & ~heat):
            problems.append(Problem(label, int(rows[i]), "return_share",
                                    f"only a heat need gives heat back; "
                                    f"'{needs['material'].iat[i]}' is not heat"))
    for i in np.flatnonzero(np.isfinite(s) & (s > 1)):
        problems.append(Problem(label, int(rows[i]), "return_share",
                                f"must be a share between 0 and 1, got {s[i]:g}"))
    for i in np.flatnonzero(np.isfinite(t) & ~np.isfinite(s)):
        problems.append(Problem(label, int(rows[i]), "return_share",
                                "return_temperature_c is given: state the return_share too"))
    for i in np.flatnonzero(~np.isfinite(t) & np.isfinite(s) & (s > 0)):
        problems.append(Problem(label, int(rows[i]), "return_temperature_c",
                                "return_share is given: state the return temperature too"))
    if "min.temperature_c" in needs:
        floor = needs["min.temperature_c"].to_numpy(float)
        for i in np.flatnonzero(np.isfinite(t) & np.isfinite(floor) & (t >= floor)):
            problems.append(Problem(label, int(rows[i]), "return_temperature_c",
                                    f"{t[i]:g} °C is not below the need's own "
                                    f"min.temperature_c {floor[i]:g} °C: a return leaves "
                                    "the user cooler than it came in"))


def _apply_water_classes(offers: pd.DataFrame, needs: pd.DataFrame, label: str,
                         problems: list[Problem]) -> pd.DataFrame:
    classes = water_classes()
    text = needs["water_class"].astype(str).str.strip()
    needs = needs.copy()
    needs["water_class"] = text.to_numpy(dtype=object)
    unchecked: set[str] = set()
    for pos, (row, name) in enumerate(zip(needs[ROW], text, strict=True)):
        if name == "":
            continue
        if name not in classes:
            problems.append(Problem(label, int(row), "water_class",
                                    f"'{name}' is not a GB/T 19923 use class: "
                                    f"{', '.join(sorted(classes))}"))
            continue
        for limit in classes[name]:
            if f"q.{limit.attribute}" not in offers:
                unchecked.add(limit.attribute)
                continue
            column = f"{limit.bound}.{limit.attribute}"
            if column not in needs:
                needs[column] = np.nan
            if not math.isfinite(float(needs[column].iat[pos])):
                needs.iloc[pos, needs.columns.get_loc(column)] = limit.value
    if unchecked:
        problems.append(Problem(label, 1, "water_class",
                                "use-class limits not checked because no offer states "
                                f"them: {', '.join(sorted(unchecked))}", "warning"))
    return needs
