"""Estimating what enterprises do not report: by-product generation from their capacities.

Most enterprises know their output (MW and hours, coal burned, hot metal, crude steel,
alumina, P2O5, ore processed, cement), not their by-product tonnages. A `capacities` table
(sheet or CSV file; Chinese names such as 产能 are aliases, `symbiosis/data/aliases.csv`)
gives one row per enterprise (or per unit):

| column | meaning | unit |
| --- | --- | --- |
| enterprise_id | the enterprise | |
| boiler | `pc` pulverised coal (default) or `cfb` circulating fluidised bed | |
| installed_mw, operating_hours | coal units, when coal burned is not known | MW, h/yr |
| coal_t, coal_ash_pct, coal_sulphur_pct | coal burned, its ash (Aar), sulphur (St,ar) | t/yr, % |
| desulphurisation_pct | wet FGD SO2 removal efficiency | % |
| hot_metal_t, crude_steel_t, alumina_t, p2o5_t, cement_t | outputs | t/yr |
| ore_t, concentrate_t | ore processed and concentrate made | t/yr |
| unit | unit of every `_t` cell of the row (t by default; 万吨, kt ...) | |

Each estimate is a product of a measured input and coefficients from
`symbiosis/data/generation_factors.csv` (each with a low, central and high value, its
source, clause and confidence; what could not be verified says so), e.g.

    fly_ash   = coal_t x coal_ash_pct/100 x fly_ash_share_pc           (pc boilers)
    fgd_gypsum = coal_t x coal_sulphur_pct/100 x so2_per_sulphur
                 x desulphurisation_pct/100 x fgd_gypsum_per_so2
    coal_t    = installed_mw x operating_hours x net_coal_rate x tce_to_raw_coal

The range multiplies the lows and the highs (every factor is positive, so this bounds the
product); the quantity multiplies the central values. Values are kept to 4 significant
figures: an estimate is not more precise than that. Estimated listings carry
`estimated = yes`, `quantity_low`, `quantity_high`, `estimate_basis` (the formula with its
numbers), `estimate_source` and `estimate_confidence` (the weakest of its factors), and a
listing the enterprise reported itself (same enterprise and material) always wins.

Not yet estimated (no coefficient we could source): coal gangue from washing, waste heat,
slag powder, clinker-based needs. The MEE 2021 production and emission coefficient handbook
(第二次全国污染源普查 产排污系数手册) was searched for and not retrieved: no coefficient
here comes from it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from symbiosis import readers, units
from symbiosis.contract import Contract, load_contract
from symbiosis.errors import InvalidDataError, Problem

__all__ = [
    "CAPACITY_COLUMNS",
    "ESTIMATE_COLUMNS",
    "Capacities",
    "Estimate",
    "EstimateRun",
    "Factor",
    "estimate_dataset",
    "estimate_row",
    "load_factors",
    "read_capacities",
]

TABLE = "capacities"
TONNAGE_COLUMNS = ("coal_t", "hot_metal_t", "crude_steel_t", "alumina_t", "p2o5_t", "ore_t",
                   "concentrate_t", "cement_t")
PCT_COLUMNS = ("coal_ash_pct", "coal_sulphur_pct", "desulphurisation_pct")
NUMBER_COLUMNS = ("installed_mw", "operating_hours", *TONNAGE_COLUMNS, *PCT_COLUMNS)
CAPACITY_COLUMNS = ("enterprise_id", "boiler", "installed_mw", "operating_hours", "coal_t",
                    "coal_ash_pct", "coal_sulphur_pct", "desulphurisation_pct", "hot_metal_t",
                    "crude_steel_t", "alumina_t", "p2o5_t", "ore_t", "concentrate_t",
                    "cement_t", "unit")
# the columns an estimated listing adds to offers and needs (symbiosis.dataset SPECS)
ESTIMATE_COLUMNS = ("estimated", "quantity_low", "quantity_high", "estimate_basis",
                    "estimate_source", "estimate_confidence")
_BOILERS = {"": "pc", "pc": "pc", "煤粉炉": "pc", "cfb": "cfb", "循环流化床": "cfb",
            "循环流化床锅炉": "cfb"}
_RANK = {"unverified": 0, "low": 1, "medium": 2, "derived": 3, "high": 3}
_HOURS_PER_YEAR = 8784.0  # a leap year: the most hours a unit can run


@dataclass(frozen=True, slots=True)
class Factor:
    """One coefficient of generation_factors.csv (low <= central <= high, all > 0)."""

    key: str
    output: str
    low: float
    central: float
    high: float
    unit: str
    source: str
    clause: str
    confidence: str
    verification: str


@cache
def load_factors() -> dict[str, Factor]:
    """The coefficients by key (symbiosis/data/generation_factors.csv).

    Raises:
        ValueError: a row whose values are not 0 < low <= central <= high.
    """
    text = resources.files("symbiosis.data").joinpath("generation_factors.csv").read_text(
        encoding="utf-8")
    out: dict[str, Factor] = {}
    for row in csv.DictReader(text.splitlines()):
        low, central, high = float(row["low"]), float(row["central"]), float(row["high"])
        if not 0 < low <= central <= high:
            raise ValueError(f"generation_factors.csv {row['key']}: need 0 < low <= "
                             f"central <= high, got {low}, {central}, {high}")
        out[row["key"]] = Factor(row["key"], row["output"], low, central, high, row["unit"],
                                 row["source"], row["clause"], row["confidence"],
                                 row["verification"])
    return out


@dataclass(frozen=True, slots=True)
class _Range:
    """A positive quantity known as low <= central <= high, with how it was obtained."""

    low: float
    central: float
    high: float
    basis: str
    factors: tuple[str, ...] = ()

    @staticmethod
    def exact(value: float, basis: str) -> _Range:
        return _Range(value, value, value, basis)

    @staticmethod
    def of(factor: Factor) -> _Range:
        text = (f"{factor.key} {_g(factor.central)}" if factor.low == factor.high else
                f"{factor.key} {_g(factor.central)} ({_g(factor.low)}-{_g(factor.high)})")
        return _Range(factor.low, factor.central, factor.high, text, (factor.key,))

    def __mul__(self, other: _Range) -> _Range:
        return _Range(self.low * other.low, self.central * other.central,
                      self.high * other.high, f"{self.basis} x {other.basis}",
                      self.factors + other.factors)


def _g(value: float) -> str:
    return f"{value:.4g}"


def _sig(value: float) -> float:
    """Four significant figures."""
    return float(f"{value:.4g}") if value and math.isfinite(value) else value


@dataclass(frozen=True, slots=True)
class Estimate:
    """One estimated listing: an offer of a by-product (or a need of an input) with its
    range, the formula that gave it, and the sources and confidence of its coefficients.
    Quantities are in the material's unit per year (t/yr for every material here)."""

    table: Literal["offers", "needs"]
    enterprise_id: str
    material: str
    quantity: float
    low: float
    high: float
    basis: str
    factors: tuple[str, ...]
    source: str
    confidence: str
    row: int  # the capacities row it came from (spreadsheet numbering)

    @property
    def listing_id(self) -> str:
        """A stable id: `est-<enterprise>-<material>`."""
        return f"est-{self.enterprise_id}-{self.material}"


def _estimate(table: Literal["offers", "needs"], enterprise: str, material: str,
              value: _Range, row: int) -> Estimate:
    factors = load_factors()
    used = [factors[k] for k in value.factors]
    confidence = min((f.confidence for f in used), key=lambda c: _RANK.get(c, 0),
                     default="derived")
    source = "; ".join(f"{f.key}: {f.source}" + (f" [{f.clause}]" if f.clause else "")
                       for f in used)
    return Estimate(table, enterprise, material, _sig(value.central), _sig(value.low),
                    _sig(value.high), value.basis, value.factors, source, confidence, row)


def estimate_row(values: Mapping[str, float | str], row: int = 0, label: str = TABLE,
                 problems: list[Problem] | None = None) -> list[Estimate]:
    """The listings one capacities row gives (pure: hand-checkable).

    `values` maps capacity columns to numbers (tonnages already in t/yr, percentages as
    shown, e.g. 20 for 20 %) or, for `enterprise_id` and `boiler`, text; absent or NaN
    means not given. Problems (errors for contradictions, warnings for what could not be
    estimated) go to `problems`, located at `label`:`row`.
    """
    sink: list[Problem] = [] if problems is None else problems
    f = load_factors()
    ent = str(values.get("enterprise_id", ""))
    boiler = _BOILERS.get(str(values.get("boiler", "")).strip().lower())
    if boiler is None:
        sink.append(Problem(label, row, "boiler", f"unknown boiler type "
                            f"'{values.get('boiler')}': use pc (煤粉炉) or cfb (循环流化床)"))
        return []

    def num(name: str) -> float | None:
        value = values.get(name)
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
        return None

    out: list[Estimate] = []
    coal: _Range | None = None
    coal_t, mw, hours = num("coal_t"), num("installed_mw"), num("operating_hours")
    if coal_t is not None:
        coal = _Range.exact(coal_t, f"coal_t {_g(coal_t)}")
    elif mw is not None:
        if hours is None:
            sink.append(Problem(label, row, "operating_hours",
                                "installed_mw needs operating_hours (or give coal_t) to "
                                "estimate the coal burned"))
        else:
            mwh = _Range.exact(mw * hours, f"installed_mw {_g(mw)} x operating_hours "
                                           f"{_g(hours)}")
            coal = mwh * _Range.of(f["net_coal_rate"]) * _Range.of(f["tce_to_raw_coal"])
    if coal is not None:
        ash_pct = num("coal_ash_pct")
        ash = (_Range.exact(ash_pct / 100, f"coal_ash_pct {_g(ash_pct)} %")
               if ash_pct is not None else _Range.of(f["coal_ash_default"]))
        if ash_pct is None:
            sink.append(Problem(label, row, "coal_ash_pct",
                                "no ash content: the estimate uses Chinese thermal coal's "
                                "range (15-35 %), so it is wide", "warning"))
        if boiler == "pc":
            out.append(_estimate("offers", ent, "fly_ash",
                                 coal * ash * _Range.of(f["fly_ash_share_pc"]), row))
            out.append(_estimate("offers", ent, "bottom_ash",
                                 coal * ash * _Range.of(f["bottom_ash_share_pc"]), row))
        else:
            out.append(_estimate("offers", ent, "cfb_ash",
                                 coal * ash * _Range.of(f["cfb_ash_per_ash"]), row))
        sulphur = num("coal_sulphur_pct")
        if boiler == "pc" and sulphur is not None:
            eff_pct = num("desulphurisation_pct")
            eff = (_Range.exact(eff_pct / 100, f"desulphurisation_pct {_g(eff_pct)} %")
                   if eff_pct is not None else _Range.of(f["desulphurisation_default"]))
            gypsum = (coal * _Range.exact(sulphur / 100, f"coal_sulphur_pct {_g(sulphur)} %")
                      * _Range.of(f["so2_per_sulphur"]) * eff
                      * _Range.of(f["fgd_gypsum_per_so2"]))
            if gypsum.central > 0:
                out.append(_estimate("offers", ent, "fgd_gypsum", gypsum, row))
        elif boiler == "pc":
            sink.append(Problem(label, row, "coal_sulphur_pct",
                                "no sulphur content: FGD gypsum is not estimated", "warning"))
    simple = (("hot_metal_t", "bf_slag", "bf_slag_per_hot_metal"),
              ("crude_steel_t", "steel_slag", "steel_slag_per_crude_steel"),
              ("alumina_t", "red_mud", "red_mud_per_alumina"),
              ("p2o5_t", "phosphogypsum", "phosphogypsum_per_p2o5"))
    for column, material, key in simple:
        amount = num(column)
        if amount is not None and amount > 0:
            out.append(_estimate("offers", ent, material,
                                 _Range.exact(amount, f"{column} {_g(amount)}")
                                 * _Range.of(f[key]), row))
    ore, concentrate = num("ore_t"), num("concentrate_t")
    if ore is not None and concentrate is not None:
        if concentrate > ore:
            sink.append(Problem(label, row, "concentrate_t",
                                f"concentrate {_g(concentrate)} t is more than the ore "
                                f"processed ({_g(ore)} t)"))
        elif ore > concentrate:
            rest = _Range.exact(ore - concentrate, f"(ore_t {_g(ore)} - concentrate_t "
                                                   f"{_g(concentrate)})")
            out.append(_estimate("offers", ent, "tailings",
                                 rest * _Range.of(f["tailings_mass_balance"]), row))
    elif ore is not None or concentrate is not None:
        sink.append(Problem(label, row, "concentrate_t" if ore is not None else "ore_t",
                            "tailings need both ore_t and concentrate_t", "warning"))
    cement = num("cement_t")
    if cement is not None and cement > 0:
        out.append(_estimate("needs", ent, "set_retarder",
                             _Range.exact(cement, f"cement_t {_g(cement)}")
                             * _Range.of(f["gypsum_in_cement"]), row))
    return out


# ----------------------------------------------------------------------------- reading


@cache
def _contract() -> Contract:
    return load_contract((TABLE,), ((TABLE, CAPACITY_COLUMNS),))


def _check_number(name: str, shown: str, value: float, label: str, row: int,
                  problems: list[Problem]) -> bool:
    if value < 0:
        problems.append(Problem(label, row, shown, f"must be >= 0, got {_g(value)}"))
        return False
    if name.endswith("_pct") and value > 100:
        problems.append(Problem(label, row, shown, f"a percentage must be <= 100, got "
                                                  f"{_g(value)}"))
        return False
    if name == "operating_hours" and value > _HOURS_PER_YEAR:
        problems.append(Problem(label, row, shown, f"more hours than a year has "
                                                  f"({_g(value)} > {_HOURS_PER_YEAR:g})"))
        return False
    return True


def _find_grid(path: Path, problems: list[Problem]) -> tuple[str, list[list[str]],
                                                               readers.Sheet | None] | None:
    """The capacities sheet or file of the dataset at `path` as a text grid, or None."""
    contract = _contract()
    if path.is_dir():
        for entry in sorted(path.iterdir()):
            if entry.suffix.lower() in (".csv", ".txt") and contract.table_of(entry.stem):
                text = readers.decode(entry, problems)
                return None if text is None else (str(entry), readers.csv_grid(text), None)
        return None
    if path.suffix.lower() in (".xlsx", ".xlsm") and path.is_file():
        sheets = readers.xlsx_grids(path, problems)
        for title, sheet in (sheets or {}).items():
            if contract.table_of(title):
                return f"{path}[{title}]", sheet.grid, sheet
    return None


@dataclass(frozen=True)
class Capacities:
    """The capacities table as read: its label (file, or workbook[sheet]), (spreadsheet
    row, values) per usable row, and the user's header of each contract column."""

    label: str
    rows: list[tuple[int, dict[str, float | str]]]
    shown: dict[str, str]


def read_capacities(path: str | Path, problems: list[Problem]) -> Capacities:
    """(spreadsheet row, values) for every row of the dataset's capacities table; numbers
    as `readers.parse_number` reads them (12万, 12,000, full-width digits, 9.5 % in a
    percent cell = 9.5), tonnages converted from the row's `unit` to t. Problems name the
    file, row and the user's column."""
    found = _find_grid(Path(path), problems)
    if found is None:
        problems.append(Problem(str(path), None, None,
                                "no capacities sheet or file (capacities / 产能): nothing to "
                                "estimate from; `symbiosis template` writes one to fill in"))
        return Capacities(str(path), [], {})
    label, grid, sheet = found
    table = readers.grid_table(label, TABLE, grid, _contract(), problems, sheet=sheet)
    if table is None:
        return Capacities(label, [], {})
    header, frame, _ = table
    contract = _contract()
    columns: dict[str, int] = {}
    for pos, name in enumerate(header):
        canon = contract.column_of(TABLE, name) if name else None
        if canon is not None and canon not in columns:
            columns[canon] = pos
        elif name:
            problems.append(Problem(label, None, name, "unknown column, ignored; expected "
                                    f"{', '.join(CAPACITY_COLUMNS)}", "warning"))
    if "enterprise_id" not in columns:
        problems.append(Problem(label, 1, "enterprise_id", "required column is missing"))
        return Capacities(label, [], {})
    shown = {c: header[p] for c, p in columns.items()}
    out: list[tuple[int, dict[str, float | str]]] = []
    for record in frame.itertuples(index=False):
        cells = list(record)
        row = int(cells[-1])
        values: dict[str, float | str] = {}
        ok = True
        for name, pos in columns.items():
            text = str(cells[pos]).strip()
            if name in ("enterprise_id", "boiler", "unit") or not text:
                values[name] = text
                continue
            parsed = readers.parse_number(text)
            if parsed.value is None or parsed.unit:
                problems.append(Problem(label, row, shown[name],
                                        f"not a number: '{text}'" + (
                                            " (put the unit in the unit column)"
                                            if parsed.unit else "")))
                ok = False
                continue
            ok = _check_number(name, shown[name], parsed.value, label, row, problems) and ok
            values[name] = parsed.value
        if not values.get("enterprise_id"):
            problems.append(Problem(label, row, shown["enterprise_id"], "value is empty"))
            continue
        factor = 1.0
        unit_text = str(values.get("unit", ""))
        if unit_text:
            unit = units.lookup(unit_text)
            if unit is None or unit.family != "mass" or unit.per != "yr":
                problems.append(Problem(label, row, shown.get("unit", "unit"),
                                        f"'{unit_text}' is not a unit of tonnes per year "
                                        "(t, 万吨, kt ...)"))
                ok = False
            else:
                factor = unit.factor
        for name in TONNAGE_COLUMNS:
            value = values.get(name)
            if isinstance(value, float):
                values[name] = value * factor
        if ok:
            out.append((row, values))
    return Capacities(label, out, shown)


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class EstimateRun:
    """Every estimate of a dataset, which of them a reported listing replaces, and the
    problems found (warnings only when the run succeeded)."""

    estimates: tuple[Estimate, ...]
    superseded: tuple[Estimate, ...]  # the enterprise reported this material itself
    problems: tuple[Problem, ...]

    @property
    def used(self) -> tuple[Estimate, ...]:
        """The estimates that become listings."""
        return tuple(e for e in self.estimates if e not in self.superseded)


def estimate_dataset(path: str | Path,
                     reported: Mapping[str, Sequence[tuple[str, str]]] | None = None
                     ) -> EstimateRun:
    """Estimate the listings of the capacities table of the dataset at `path`.

    `reported` maps `offers` / `needs` to the (enterprise_id, material) pairs the dataset
    already lists; those estimates are kept in the run as superseded, not used.

    Raises:
        InvalidDataError: every error in the capacities table.
    """
    problems: list[Problem] = []
    table = read_capacities(path, problems)
    label, rows, shown = table.label, table.rows, table.shown
    estimates: list[Estimate] = []
    seen: dict[tuple[str, str, str], int] = {}
    for row, values in rows:
        found: list[Problem] = []
        listed = estimate_row(values, row, label, found)
        problems += [replace(p, column=shown.get(p.column or "", p.column)) for p in found]
        for est in listed:
            key = (est.table, est.enterprise_id, est.material)
            if key in seen:
                problems.append(Problem(label, row, "enterprise_id",
                                        f"'{est.enterprise_id}' already has an estimate of "
                                        f"{est.material} (row {seen[key]}); give one row per "
                                        "enterprise, or add the units' figures up"))
                continue
            seen[key] = row
            estimates.append(est)
    if any(p.severity == "error" for p in problems):
        raise InvalidDataError(problems)
    known = {t: set(pairs) for t, pairs in (reported or {}).items()}
    superseded = tuple(e for e in estimates
                       if (e.enterprise_id, e.material) in known.get(e.table, set()))
    return EstimateRun(tuple(estimates), superseded, tuple(problems))
