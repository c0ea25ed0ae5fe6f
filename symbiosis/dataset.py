"""Dataset I/O and validation: a CSV folder or an .xlsx workbook -> a validated `Dataset`.

Validation is vectorised over whole columns (a province has hundreds of thousands of
rows) and collects every problem before failing, each located as `file:row:column` with
rows counted as a spreadsheet shows them (header = row 1). Columns the contract does not
know are warnings, not errors: users keep notes and contacts in their sheets.
"""

from __future__ import annotations

import csv
import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from symbiosis import logistics_checks, readers
from symbiosis import months as month_columns
from symbiosis import storage as storage_table
from symbiosis.contract import Contract, load_contract, suggest_material
from symbiosis.errors import InvalidDataError, Problem
from symbiosis.grades import check_grades
from symbiosis.taxonomy import HW_CODE, Taxonomy, load_taxonomy

__all__ = [
    "TABLES",
    "Dataset",
    "dataset_from_records",
    "load_dataset",
    "validate_dataset",
]

TABLES = ("enterprises", "offers", "needs", "substitutions", "distances", "transport",
          "carbon", "hazardous", "licences", "contracts",
          "storage")  # storage: issue 15, symbiosis.storage
REQUIRED_TABLES = ("enterprises", "offers", "needs")
ROW = "_row"  # spreadsheet row number carried alongside every parsed table

Check = Literal["positive", "surplus", "nonnegative", "lon", "lat"] | None


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column of the dataset contract: its type, whether it must exist and be filled."""

    name: str
    kind: Literal["text", "number"] = "text"
    required: bool = False
    nonempty: bool = False
    check: Check = None
    fill: bool = True  # False: an absent optional column stays absent (months, profile)


_TEXT_ID = ColumnSpec("id")
# estimated listings (symbiosis.estimate writes them; checked by _check_estimates)
_ESTIMATE_SPECS = (
    ColumnSpec("estimated"),
    ColumnSpec("quantity_low", "number", check="nonnegative"),
    ColumnSpec("quantity_high", "number", check="nonnegative"),
    ColumnSpec("estimate_basis"),
    ColumnSpec("estimate_source"),
    ColumnSpec("estimate_confidence"),
)
LOGISTICS_COLUMNS = (  # issue 16: lots, partners, contracts (symbiosis.logistics_checks)
    ColumnSpec("min_lot", "number", check="nonnegative"),
    ColumnSpec("max_partners", "number", check="positive"),
    ColumnSpec("contract_cny_per_year", "number", check="nonnegative"),
)
# issue 15: quantity per month (blank rows: spread by `profile` or evenly; symbiosis.months)
_MONTH_SPECS = (*(ColumnSpec(c, "number", check="nonnegative", fill=False)
                  for c in month_columns.MONTH_COLUMNS), ColumnSpec("profile", fill=False))
SPECS: dict[str, tuple[ColumnSpec, ...]] = {
    "enterprises": (
        ColumnSpec("id", required=True, nonempty=True),
        ColumnSpec("name", required=True),
        ColumnSpec("sector"),
        ColumnSpec("lon", "number", required=True, nonempty=True, check="lon"),
        ColumnSpec("lat", "number", required=True, nonempty=True, check="lat"),
        ColumnSpec("park"),
        ColumnSpec("crs"),  # wgs84 (default), gcj02, bd09 or EPSG:<code>; see symbiosis.crs
    ),
    "offers": (
        _TEXT_ID,
        ColumnSpec("enterprise_id", required=True, nonempty=True),
        ColumnSpec("material", required=True, nonempty=True),
        # > 0, or 0 on a row that states a baseline (see _check_baseline)
        # blank = the sum of m01..m12 (symbiosis.months.check_months reports an empty one)
        ColumnSpec("quantity", "number", required=True, check="surplus"),
        ColumnSpec("unit"),
        ColumnSpec("disposal_cost", "number", check="nonnegative"),
        ColumnSpec("treatment_cost", "number", check="nonnegative"),
        # the official rate's baseline, in the material's unit per year (_check_baseline)
        ColumnSpec("generated", "number", check="nonnegative"),
        ColumnSpec("used_existing", "number", check="nonnegative"),
        ColumnSpec("stock", "number", check="nonnegative"),
        ColumnSpec("medium"),  # heat: steam or hot_water (symbiosis.grades)
        *_ESTIMATE_SPECS,
        *LOGISTICS_COLUMNS,  # issue 16: symbiosis.logistics_checks
        # year-to-year coefficient of variation of quantity (`symbiosis robust`)
        ColumnSpec("cv", "number", check="nonnegative"),
        *_MONTH_SPECS,
    ),
    "needs": (
        _TEXT_ID,
        ColumnSpec("enterprise_id", required=True, nonempty=True),
        ColumnSpec("material", required=True, nonempty=True),
        ColumnSpec("quantity", "number", required=True, check="positive"),
        ColumnSpec("unit"),
        ColumnSpec("virgin_cost", "number", check="nonnegative"),
        ColumnSpec("replaces"),  # what the need uses today (symbiosis/data/replaced_inputs.csv)
        # grades (symbiosis.grades): blending, GB/T 19923 water class, heat cascade return
        ColumnSpec("blend"),
        ColumnSpec("water_class"),
        ColumnSpec("return_temperature_c", "number"),
        ColumnSpec("return_share", "number", check="nonnegative"),
        *_ESTIMATE_SPECS,
        *LOGISTICS_COLUMNS,  # issue 16: symbiosis.logistics_checks
        ColumnSpec("cv", "number", check="nonnegative"),  # as offers (`symbiosis robust`)
        *_MONTH_SPECS,
    ),
    "substitutions": (
        ColumnSpec("need_material", required=True, nonempty=True),
        ColumnSpec("offer_material", required=True, nonempty=True),
        ColumnSpec("ratio", "number", required=True, nonempty=True, check="positive"),
    ),
    "distances": (
        ColumnSpec("from_id", required=True, nonempty=True),
        ColumnSpec("to_id", required=True, nonempty=True),
        ColumnSpec("distance_km", "number", required=True, nonempty=True, check="nonnegative"),
    ),
    # economics overrides: a row with an empty material sets the dataset's default
    "transport": (
        ColumnSpec("material"),
        ColumnSpec("cny_per_unit_km", "number", check="nonnegative"),
        ColumnSpec("loading_cny_per_unit", "number", check="nonnegative"),
        ColumnSpec("kg_co2e_per_unit_km", "number", check="nonnegative"),
        ColumnSpec("cny_per_km_year", "number", check="nonnegative"),  # pipes: heat, water
        ColumnSpec("source"),
        ColumnSpec("truck_capacity_t", "number", check="positive"),  # issue 16: whole t
        ColumnSpec("cny_per_trip_km", "number", check="nonnegative"),
    ),
    # carbon overrides: kg CO2e of virgin production avoided per unit of a need material
    "carbon": (
        ColumnSpec("need_material", required=True, nonempty=True),
        ColumnSpec("kg_co2e_per_unit", "number", required=True, nonempty=True,
                   check="nonnegative"),
        ColumnSpec("displaced"),
        ColumnSpec("source"),
    ),
    # hazardous-waste declarations: a built-in or custom material is hazardous waste with
    # this National Hazardous Waste List (2025 edition) code in this dataset
    "hazardous": (
        ColumnSpec("material", required=True, nonempty=True),
        ColumnSpec("hw_code", required=True, nonempty=True),
    ),
    # hazardous-waste business licences (危险废物经营许可证) held by receivers: the code
    # they may take, the licensed capacity (t/yr) and the last day of validity (ISO date)
    "licences": (
        ColumnSpec("enterprise_id", required=True, nonempty=True),
        ColumnSpec("hw_code", required=True, nonempty=True),
        ColumnSpec("capacity", "number", required=True, nonempty=True, check="positive"),
        ColumnSpec("valid_until", required=True, nonempty=True),
    ),
    # existing contracts that must stay in the plan (issue 16, symbiosis.logistics_checks)
    "contracts": (
        ColumnSpec("offer_id", required=True, nonempty=True),
        ColumnSpec("need_id", required=True, nonempty=True),
        ColumnSpec("quantity", "number", check="positive"),
    ),
}
# issue 15: silos and yards, in the material's unit (symbiosis.storage checks the rest)
SPECS["storage"] = (
    ColumnSpec("enterprise_id", required=True, nonempty=True),
    ColumnSpec("material", required=True, nonempty=True),
    ColumnSpec("capacity", "number", required=True, nonempty=True, check="nonnegative"),
    ColumnSpec("initial", "number", check="nonnegative"),
    ColumnSpec("cost_per_unit_month", "number", check="nonnegative"),
    ColumnSpec("loss_pct_per_month", "number", check="nonnegative"),
)
# numeric attribute columns: quality on offers, requirements on needs
PREFIXES: dict[str, tuple[str, ...]] = {"offers": ("q.",), "needs": ("min.", "max.")}
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]*$")
_SECTOR = re.compile(r"^[A-T]?\d{2,4}$")


@dataclass(frozen=True)
class RawTable:
    """One sheet as read: every cell as stripped text, plus its spreadsheet row number."""

    label: str
    header: list[str]
    frame: pd.DataFrame  # columns = header positions 0..n-1 (str values) + ROW


@dataclass(frozen=True, repr=False)
class Dataset:
    """A validated dataset: frames with fixed index names, ready for the geo and matching layers.

    `enterprises` is indexed by `enterprise_id`, `offers` by `offer_id`, `needs` by `need_id`;
    `distances` has `from_id, to_id, distance_km`. Quality columns keep their `q.`/`min.`/`max.`
    prefix. `taxonomy` already includes the dataset's own substitutions. `transport` (material,
    cny_per_unit_km, loading_cny_per_unit, kg_co2e_per_unit_km, source; material "" = every
    material) and `carbon` (need_material, kg_co2e_per_unit, displaced, source) override the
    built-in economic and carbon factors; both are empty when the dataset has none.
    `licences` (enterprise_id, hw_code, capacity, valid_until as an ISO date text) lists the
    hazardous-waste licences of receivers; `hazardous.csv` declarations are already in
    `taxonomy`. A need whose licensed intake is capped (see `_apply_licence_caps`) has its
    quantity lowered to the capacity and the original in `needs["unlicensed_quantity"]`.
    """

    enterprises: pd.DataFrame
    offers: pd.DataFrame
    needs: pd.DataFrame
    distances: pd.DataFrame
    taxonomy: Taxonomy
    source: str = ""
    warnings: tuple[Problem, ...] = field(default=())
    transport: pd.DataFrame = field(default_factory=lambda: _empty_frame(SPECS["transport"]))
    carbon: pd.DataFrame = field(default_factory=lambda: _empty_frame(SPECS["carbon"]))
    licences: pd.DataFrame = field(default_factory=lambda: _empty_frame(SPECS["licences"]))
    # offer_id, need_id, quantity, row (contracts.csv row, for messages); issue 16
    contracts: pd.DataFrame = field(default_factory=lambda: _empty_frame(SPECS["contracts"]))
    # silos and yards (symbiosis.storage): enterprise_id, material, capacity, initial,
    # cost_per_unit_month, loss_pct_per_month; empty when the dataset has none
    storage: pd.DataFrame = field(default_factory=lambda: _empty_frame(SPECS["storage"]))

    @property
    def quality_columns(self) -> list[str]:
        """The `q.<attribute>` columns present on offers."""
        return [c for c in self.offers.columns if c.startswith("q.")]

    def __repr__(self) -> str:
        """Counts, not frames: a province's repr would be megabytes."""
        return (f"Dataset(source={self.source!r}, enterprises={len(self.enterprises)}, "
                f"offers={len(self.offers)}, needs={len(self.needs)}, "
                f"distances={len(self.distances)}, warnings={len(self.warnings)})")


def _empty_frame(specs: Iterable[ColumnSpec]) -> pd.DataFrame:
    return pd.DataFrame({s.name: pd.Series(dtype=object if s.kind == "text" else float)
                         for s in specs})


# ----------------------------------------------------------------------------- reading


def _contract() -> Contract:
    """The alias tables for the contract as SPECS states it now (symbiosis.contract)."""
    rates = readers.units.RATE_COLUMNS
    return load_contract(TABLES, tuple(
        (t, tuple(s.name for s in SPECS[t]) + (rates if t in ("offers", "needs") else ()))
        for t in TABLES))


def _decode(path: Path, problems: list[Problem]) -> str | None:
    """UTF-8 (BOM or not), UTF-16 (Excel's "Unicode text") or GB18030; see readers.decode."""
    return readers.decode(path, problems)


def _table_from_rows(label: str, header: list[str], rows: pd.DataFrame) -> RawTable:
    """Drop rows that are entirely blank, keeping original spreadsheet row numbers."""
    rows = rows.fillna("").astype(str)
    for col in rows.columns:
        rows[col] = rows[col].str.strip()
    rows[ROW] = np.arange(2, len(rows) + 2)
    data_cols = [c for c in rows.columns if c != ROW]
    if data_cols:
        blank = (rows[data_cols] == "").all(axis=1)
        rows = rows.loc[~blank]
    return RawTable(label, header, rows.reset_index(drop=True))


def _read_csv(path: Path, problems: list[Problem], table: str = "",
              renames: readers.Renames | None = None) -> RawTable | None:
    """One CSV file (comma- or tab-separated), its header found below any title rows."""
    text = _decode(path, problems)
    if text is None:
        return None
    label = str(path)
    found = readers.grid_table(label, table, readers.csv_grid(text), _contract(), problems,
                               flag_long=True)
    if found is None:
        return None
    header, frame, header_row = found
    if renames is not None:
        renames.header_row[label] = header_row
    return RawTable(label, header, frame)


def _not_a_file(path: Path, problems: list[Problem]) -> bool:
    """True, with a problem, if `path` is a folder, FIFO, device or socket: reading one
    would raise or block forever (issue 18). `stat` does not open it, so it never blocks."""
    import stat

    mode = path.stat().st_mode
    if stat.S_ISREG(mode):
        return False
    kind = ("a folder" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file")
    problems.append(Problem(str(path), None, None, f"is {kind}; expected a regular file"))
    return True


def _read_csv_folder(folder: Path, problems: list[Problem],
                     renames: readers.Renames | None = None) -> dict[str, RawTable]:
    tables: dict[str, RawTable] = {}
    named = _files_by_table(folder)
    for name in TABLES:
        path = named.get(name, folder / f"{name}.csv")
        if not path.exists():
            if name in REQUIRED_TABLES:
                problems.append(Problem(str(path), None, None, "required file is missing"))
            continue
        if _not_a_file(path, problems):
            continue
        table = _read_csv(path, problems, name, renames)
        if table is not None:
            tables[name] = table
    return tables


def _files_by_table(folder: Path) -> dict[str, Path]:
    """CSV (or tab-separated .txt) files named by a contract table or one of its aliases
    (企业.csv, 副产物供给.csv ...); the contract's own name wins."""
    contract = _contract()
    found: dict[str, Path] = {}
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return found
    for path in entries:
        if path.suffix.lower() not in (".csv", ".txt"):
            continue
        table = contract.table_of(path.stem)
        if table is not None and (table not in found or path.stem == table):
            found[table] = path
    return found


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)


def _read_xlsx(path: Path, problems: list[Problem],
               renames: readers.Renames | None = None) -> dict[str, RawTable]:
    """Sheets found by contract name or alias (企业, 副产物供给 ...); see readers.xlsx_grids
    for merged cells, formulas and percent formats."""
    sheets = readers.xlsx_grids(path, problems)
    if sheets is None:
        return {}
    contract = _contract()
    by_table: dict[str, str] = {}
    for title in sheets:
        table = contract.table_of(title)
        if table is not None and (table not in by_table or title.strip().lower() == table):
            by_table[table] = title
    tables: dict[str, RawTable] = {}
    for name in TABLES:
        if name not in by_table:
            if name in REQUIRED_TABLES:
                problems.append(Problem(str(path), None, None,
                                        f"required sheet '{name}' is missing; the workbook "
                                        f"has {', '.join(repr(t) for t in sheets)}"))
            continue
        title = by_table[name]
        label = f"{path}[{title}]"
        found = readers.grid_table(label, name, sheets[title].grid, contract, problems,
                                   sheet=sheets[title])
        if found is None:
            continue
        header, frame, header_row = found
        if renames is not None:
            renames.header_row[label] = header_row
        tables[name] = RawTable(label, header, frame)
    return tables


# ----------------------------------------------------------------------------- validation


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _parse_table(
    kind: str, raw: RawTable, problems: list[Problem]
) -> pd.DataFrame | None:
    """Check columns and values of one table; return it typed, or None if it is unusable."""
    specs = {s.name: s for s in SPECS[kind]}
    prefixes = PREFIXES.get(kind, ())
    label = raw.label
    positions: dict[str, int] = {}
    ignored: set[str] = set()  # unknown columns: warned about, never parsed
    usable = True
    for pos, name in enumerate(raw.header):
        if name == "":
            if (raw.frame[pos] != "").any():
                problems.append(Problem(label, 1, f"column {pos + 1}",
                                        "column has values but no header", "warning"))
            continue
        if name in positions:
            problems.append(Problem(label, 1, name, "duplicate column"))
            usable = False
            continue
        positions[name] = pos
        if name in specs:
            continue
        prefix = next((p for p in prefixes if name.startswith(p)), None)
        if prefix is not None:
            attribute = name[len(prefix):]
            if not _ATTRIBUTE.match(attribute):
                problems.append(Problem(label, 1, name,
                                        f"'{attribute}' is not a valid attribute name "
                                        "(lower case letters, digits and _)"))
                usable = False
            continue
        ignored.add(name)
        expected = [n for n, sp in specs.items() if sp.fill] + [f"{p}<attribute>"
                                                                for p in prefixes]
        problems.append(Problem(label, 1, name,
                                f"unknown column, ignored{_suggest(name, specs)}; "
                                f"expected columns: {', '.join(expected)}", "warning"))
    for spec in specs.values():
        if spec.required and spec.name not in positions:
            problems.append(Problem(label, 1, spec.name, "required column is missing"))
            usable = False
    if not usable:
        return None

    frame = raw.frame
    rows = frame[ROW].to_numpy()
    out: dict[str, object] = {}
    columns = [(n, specs.get(n, ColumnSpec(n, "number"))) for n in positions
               if n not in ignored]
    for name, spec in columns:
        values = frame[positions[name]]
        empty = (values == "").to_numpy()
        if spec.nonempty:
            for r in rows[empty]:
                problems.append(Problem(label, int(r), name, "value is empty"))
        if spec.kind == "text":
            out[name] = values.to_numpy(dtype=object)
            continue
        parsed = pd.to_numeric(values.where(~empty), errors="coerce")
        numbers = parsed.to_numpy(dtype=float, copy=True)
        bad = ~empty & ~np.isfinite(numbers)
        for i in np.flatnonzero(bad):
            problems.append(Problem(label, int(rows[i]), name,
                                    f"not a finite number: '{values.iat[i]}'"))
        numbers[bad] = np.nan
        ok = np.isfinite(numbers)
        if spec.check == "positive":
            fail = ok & (numbers <= 0)
            msg = "must be > 0, got {}"
        elif spec.check == "surplus":  # offers: 0 is judged by _check_baseline
            fail = ok & (numbers < 0)
            msg = "must be > 0, got {}"
        elif spec.check == "nonnegative":
            fail = ok & (numbers < 0)
            msg = "must be >= 0, got {}"
        elif spec.check == "lon":
            fail = ok & (np.abs(numbers) > 180) & ~_epsg_rows(frame, positions)
            msg = "longitude {} is outside [-180, 180]"
        elif spec.check == "lat":
            fail = ok & (np.abs(numbers) > 90) & ~_epsg_rows(frame, positions)
            msg = "latitude {} is outside [-90, 90]"
        else:
            fail = np.zeros(len(numbers), dtype=bool)
            msg = ""
        for i in np.flatnonzero(fail):
            hint = " (are lon and lat swapped?)" if spec.check == "lat" else ""
            problems.append(Problem(label, int(rows[i]), name,
                                    msg.format(values.iat[i]) + hint))
        numbers[fail] = np.nan
        out[name] = numbers
    for spec in specs.values():  # optional columns absent from the file
        if spec.name not in out and spec.fill:
            out[spec.name] = (np.full(len(frame), "", dtype=object) if spec.kind == "text"
                              else np.full(len(frame), np.nan))
    out[ROW] = rows
    return pd.DataFrame(out)


def _epsg_rows(frame: pd.DataFrame, positions: Mapping[str, int]) -> np.ndarray:
    """Rows whose `crs` is an EPSG code: their lon/lat may be metres, checked after
    conversion instead."""
    if "crs" not in positions:
        return np.zeros(len(frame), dtype=bool)
    return frame[positions["crs"]].str.strip().str.lower().str.startswith("epsg:").to_numpy()


def _to_wgs84(ent: pd.DataFrame, label: str, problems: list[Problem]) -> pd.DataFrame:
    """Convert rows declared in another `crs` to WGS 84 (the contract's datum) and say so."""
    from symbiosis import crs as c  # numpy-only datum maths; pyproj only for EPSG codes

    declared = ent["crs"].astype(str)
    canon = declared.map(lambda t: c.normalize_crs(t) or "?")
    for value, row in zip(declared[canon == "?"], ent.loc[canon == "?", ROW], strict=True):
        problems.append(Problem(label, int(row), "crs",
                                f"unknown coordinate system '{value}': use wgs84, gcj02, bd09 "
                                "or an EPSG code such as EPSG:4490"))
    lon, lat = ent["lon"].to_numpy(float).copy(), ent["lat"].to_numpy(float).copy()
    good = np.isfinite(lon) & np.isfinite(lat)
    for name in sorted(set(canon) - {"?", c.WGS84}):
        rows = (canon == name).to_numpy() & good
        if name in (c.GCJ02, c.BD09):  # the offsets exist only in China (c.in_china)
            abroad = rows & ~c.in_china(lon, lat)
            if abroad.any():
                listed = ", ".join(str(r) for r in ent.loc[abroad, ROW].head(5))
                more = f" and {int(abroad.sum()) - 5} more" if abroad.sum() > 5 else ""
                problems.append(Problem(label, int(ent.loc[abroad, ROW].iloc[0]), "crs",
                                        f"{c.CRS_NAMES[name]} applies only in China; "
                                        f"rows {listed}{more} lie outside it and are kept "
                                        "as given (read as WGS 84)", "warning"))
            rows &= ~abroad
        before = lon[rows].copy(), lat[rows].copy()
        if name == c.GCJ02:
            lon[rows], lat[rows] = c.gcj02_to_wgs84(lon[rows], lat[rows])
        elif name == c.BD09:
            lon[rows], lat[rows] = c.bd09_to_wgs84(lon[rows], lat[rows])
        else:
            try:
                lon[rows], lat[rows] = c.epsg_to_wgs84(name, lon[rows], lat[rows])
            except ValueError as exc:
                for row in ent.loc[rows, ROW]:
                    problems.append(Problem(label, int(row), "crs", str(exc)))
                continue
            bad = rows & ~((np.abs(lon) <= 180) & (np.abs(lat) <= 90))
            for row, x, y in zip(ent.loc[bad, ROW], ent.loc[bad, "lon"], ent.loc[bad, "lat"],
                                 strict=True):
                problems.append(Problem(label, int(row), "lon",
                                        f"({x:g}, {y:g}) is not a valid point in {name}"))
        moved = int(((lon[rows] != before[0]) | (lat[rows] != before[1])).sum())
        if moved:  # only rows whose coordinates changed
            problems.append(Problem(label, None, "crs",
                                    f"converted {moved} enterprise(s) from "
                                    f"{c.CRS_NAMES.get(name, name)} to WGS 84", "warning"))
    out = ent.copy()
    out["lon"], out["lat"] = lon, lat
    out["crs"] = np.where(canon == "?", declared, canon)
    return out


def _check_duplicates(frame: pd.DataFrame, column: str, label: str,
                      problems: list[Problem], blank: str | None = None) -> None:
    """Flag repeated values of `column`; empty values count only when `blank` names them."""
    values = frame[column]
    dup = values.duplicated(keep=False) & ((values != "") | (blank is not None))
    if not dup.any():
        return
    first = frame.loc[dup].groupby(column, sort=False)[ROW].min()
    what = "id" if column in {"id", "enterprise_id"} else "value"
    for value, row in zip(values[dup], frame.loc[dup, ROW], strict=True):
        if row != first[value]:
            shown = value if value != "" or blank is None else blank
            problems.append(Problem(label, int(row), column,
                                    f"duplicate {what} '{shown}' (first at row "
                                    f"{first[value]})"))


def _check_references(frame: pd.DataFrame, column: str, known: pd.Index, label: str,
                      target: str, problems: list[Problem]) -> np.ndarray:
    """Flag values of `column` that are not in `known`; return the mask of good rows."""
    values = frame[column]
    ok = values.isin(known).to_numpy() | (values == "").to_numpy()
    for value, row in zip(values[~ok], frame.loc[~ok, ROW], strict=True):
        problems.append(Problem(label, int(row), column,
                                f"'{value}' is not an id in {target}{_suggest(value, known)}"))
    return ok


def _check_materials(frame: pd.DataFrame, label: str, taxonomy: Taxonomy,
                     problems: list[Problem], column: str = "material") -> None:
    materials = taxonomy.materials
    unknown = ~frame[column].isin(list(materials)) & (frame[column] != "")
    for value, row in zip(frame.loc[unknown, column], frame.loc[unknown, ROW],
                          strict=True):
        problems.append(Problem(label, int(row), column,
                                f"unknown material '{value}'"
                                f"{suggest_material(value, taxonomy)}"))
    if "unit" not in frame:
        return
    given = (frame["unit"] != "") & ~unknown
    for value, unit, row in zip(frame.loc[given, "material"], frame.loc[given, "unit"],
                                frame.loc[given, ROW], strict=True):
        if unit != materials[value].unit:
            problems.append(Problem(label, int(row), "unit",
                                    f"'{value}' is measured in {materials[value].unit} "
                                    f"per year, not '{unit}'"))


_YES = {"yes": "yes", "y": "yes", "true": "yes", "1": "yes", "是": "yes", "估算": "yes",
        "no": "no", "n": "no", "false": "no", "0": "no", "否": "no", "": ""}


def _check_estimates(frame: pd.DataFrame, label: str, problems: list[Problem]) -> None:
    """`estimated` is yes/no (是/否; blank = no) and an estimated row's range holds its
    quantity: quantity_low <= quantity <= quantity_high (symbiosis.estimate writes them).
    The column is rewritten as `yes` or `no`."""
    flag = frame["estimated"].astype(str).str.strip().str.lower().map(_YES)
    for value, row in zip(frame.loc[flag.isna(), "estimated"], frame.loc[flag.isna(), ROW],
                          strict=True):
        problems.append(Problem(label, int(row), "estimated",
                                f"'{value}' is not yes or no (是/否)"))
    frame["estimated"] = flag.fillna("").replace("", "no").to_numpy(dtype=object)
    q = frame["quantity"].to_numpy(float)
    lo = frame["quantity_low"].to_numpy(float)
    hi = frame["quantity_high"].to_numpy(float)
    bad_lo = np.isfinite(lo) & np.isfinite(q) & (lo > q)
    bad_hi = np.isfinite(hi) & np.isfinite(q) & (hi < q)
    for i in np.flatnonzero(bad_lo | bad_hi):
        col = "quantity_low" if bad_lo[i] else "quantity_high"
        problems.append(Problem(label, int(frame[ROW].iat[i]), col,
                                f"the range {lo[i]:g}-{hi[i]:g} does not hold the quantity "
                                f"{q[i]:g}"))


BASELINE_COLUMNS = ("generated", "used_existing", "stock")


def _check_baseline(offers: pd.DataFrame, label: str, problems: list[Problem]) -> None:
    """The official rate's columns on offers, in the material's unit per year.

    `generated` (产生量, this year's generation; blank = quantity + used_existing),
    `used_existing` (already utilised in-house or under existing contracts; blank = 0),
    `stock` (historical stockpile that may also be offered, 往年贮存量; blank = 0).
    Errors: `quantity` 0 on a row that states none of them (nothing to offer: the contract's
    `quantity > 0`); `generated` below `used_existing` (more used than generated this year).
    Warning: `generated` below `used_existing + quantity` (the surplus offered cannot come
    from this year's generation; the rate is still computed as stated).
    """
    qty = offers["quantity"].to_numpy(float)
    gen = offers["generated"].to_numpy(float)
    used = offers["used_existing"].to_numpy(float)
    stated = np.zeros(len(offers), dtype=bool)
    for col in BASELINE_COLUMNS:
        stated |= np.isfinite(offers[col].to_numpy(float))
    rows = offers[ROW].to_numpy()
    for i in np.flatnonzero((qty == 0) & ~stated):
        problems.append(Problem(label, int(rows[i]), "quantity",
                                "must be > 0, got 0"))
    both = np.isfinite(gen) & np.isfinite(used)
    for i in np.flatnonzero(both & (gen < used)):
        problems.append(Problem(label, int(rows[i]), "generated",
                                f"generated {gen[i]:g} is below used_existing {used[i]:g}"))
    surplus = np.isfinite(gen) & np.isfinite(qty) & (gen >= np.nan_to_num(used))
    short = surplus & (gen < np.nan_to_num(used) + qty) & ~np.isclose(
        gen, np.nan_to_num(used) + qty, rtol=1e-12, atol=0.0)
    for i in np.flatnonzero(short):
        problems.append(Problem(label, int(rows[i]), "generated",
                                f"generated {gen[i]:g} is below used_existing + quantity "
                                f"({np.nan_to_num(used[i]) + qty[i]:g}): the offered surplus "
                                "cannot all come from this year's generation", "warning"))


def replaced_input_keys() -> list[str]:
    """The keys a need's `replaces` may take (symbiosis/data/replaced_inputs.csv)."""
    from importlib import resources

    text = resources.files("symbiosis").joinpath("data", "replaced_inputs.csv").read_text(
        encoding="utf-8")
    return [row["key"].strip() for row in csv.DictReader(text.splitlines())]


def _check_replaces(needs: pd.DataFrame, label: str, problems: list[Problem]) -> None:
    """`replaces` names what the need uses today, from the built-in list (blank = the need
    material's conservative default)."""
    if "replaces" not in needs:
        return
    keys = replaced_input_keys()
    given = needs["replaces"] != ""
    bad = given & ~needs["replaces"].isin(keys)
    for value, row in zip(needs.loc[bad, "replaces"], needs.loc[bad, ROW], strict=True):
        problems.append(Problem(label, int(row), "replaces",
                                f"'{value}' is not a replaced input{_suggest(value, keys)}; "
                                f"expected one of: {', '.join(keys)}"))


def _check_requirements(needs: pd.DataFrame, label: str, problems: list[Problem]) -> None:
    for col in needs.columns:
        if not col.startswith("min."):
            continue
        other = "max." + col[4:]
        if other not in needs.columns:
            continue
        bad = (needs[col] > needs[other]).to_numpy()
        for r, lo, hi in zip(needs.loc[bad, ROW], needs.loc[bad, col], needs.loc[bad, other],
                             strict=True):
            problems.append(Problem(label, int(r), col, f"{col} {lo:g} is above {other} {hi:g}"))


def _apply_substitutions(subs: pd.DataFrame, label: str, taxonomy: Taxonomy,
                         problems: list[Problem]) -> Taxonomy:
    rows: list[tuple[str, str, float]] = []
    seen: dict[tuple[str, str], int] = {}
    for need, offer, ratio, r in zip(subs["need_material"], subs["offer_material"],
                                     subs["ratio"], subs[ROW], strict=True):
        if not need or not offer or not math.isfinite(ratio):
            continue
        if need == offer:
            problems.append(Problem(label, int(r), "offer_material",
                                    f"'{offer}' always serves '{need}' at ratio 1; "
                                    "remove this row"))
            continue
        if (need, offer) in seen:
            problems.append(Problem(label, int(r), "offer_material",
                                    f"duplicate rule {offer} -> {need} "
                                    f"(first at row {seen[(need, offer)]})"))
            continue
        seen[(need, offer)] = int(r)
        rows.append((need, offer, float(ratio)))
    updated = taxonomy.with_substitutions(rows, source=label)
    for (need, offer), r in seen.items():
        fam_n = updated.materials[need].family
        fam_o = updated.materials[offer].family
        if fam_n != fam_o:
            problems.append(Problem(label, r, "offer_material",
                                    f"'{offer}' ({fam_o}) cannot serve '{need}' ({fam_n}): "
                                    "rules must stay within one unit family"))
    named_at: dict[str, tuple[int, str]] = {}  # where each rule's material first appears
    for (need, offer), r in seen.items():
        named_at.setdefault(need, (r, "need_material"))
        named_at.setdefault(offer, (r, "offer_material"))
    for slug, mat in updated.materials.items():
        if mat.kind == "custom":
            row, column = named_at[slug]
            problems.append(Problem(label, row, column,
                                    f"material '{slug}' is not built in"
                                    f"{_suggest(slug, taxonomy.materials)}: taken as "
                                    f"{mat.unit} ({mat.family}) with no default reach "
                                    "(only --max-km limits its haul)", "warning"))
    return updated


def _apply_hazardous(frame: pd.DataFrame, label: str, taxonomy: Taxonomy,
                     problems: list[Problem]) -> Taxonomy:
    """hazardous.csv: each material named becomes hazardous waste with its code."""
    _check_duplicates(frame, "material", label, problems)
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for material, code, r in zip(frame["material"], frame["hw_code"], frame[ROW],
                                 strict=True):
        if not material or not code or material in seen:
            continue
        seen.add(material)
        if not HW_CODE.match(code):
            problems.append(Problem(label, int(r), "hw_code",
                                    f"'{code}' is not a National Hazardous Waste List code "
                                    "(8 digits written ddd-ddd-dd, e.g. 321-004-48)"))
            continue
        known = taxonomy.materials.get(material)
        if known is not None and known.family != "mass":
            problems.append(Problem(label, int(r), "material",
                                    f"'{material}' is {known.family}, not a solid or "
                                    "liquid waste"))
            continue
        if known is not None and known.hazardous and known.hw_code != code:
            problems.append(Problem(label, int(r), "hw_code",
                                    f"'{material}' is built in as {known.hw_code}; "
                                    f"declared here as {code}", "warning"))
        if known is None:
            problems.append(Problem(label, int(r), "material",
                                    f"material '{material}' is not built in: taken as a "
                                    "hazardous waste in t with no cross-material rule "
                                    "(receivers state a need of it)", "warning"))
        rows.append((material, code))
    return taxonomy.with_hazardous(rows, source=label)


def _check_licences(frame: pd.DataFrame, label: str, known: pd.Index | None,
                    ent_file: str, problems: list[Problem]) -> None:
    """licences.csv: known receivers, well-formed codes and dates, one row per code."""
    if known is not None:
        _check_references(frame, "enterprise_id", known, label, ent_file, problems)
    for code, r in zip(frame["hw_code"], frame[ROW], strict=True):
        if code and not HW_CODE.match(code):
            problems.append(Problem(label, int(r), "hw_code",
                                    f"'{code}' is not a National Hazardous Waste List code "
                                    "(8 digits written ddd-ddd-dd, e.g. 321-004-48)"))
    dates = pd.to_datetime(frame["valid_until"], format="%Y-%m-%d", errors="coerce")
    for value, r in zip(frame.loc[dates.isna() & (frame["valid_until"] != ""), "valid_until"],
                        frame.loc[dates.isna() & (frame["valid_until"] != ""), ROW],
                        strict=True):
        problems.append(Problem(label, int(r), "valid_until",
                                f"'{value}' is not a date written YYYY-MM-DD"))
    pair = frame["enterprise_id"] + "\x1f" + frame["hw_code"]
    first: dict[str, int] = {}
    for p, r in zip(pair, frame[ROW], strict=True):
        if p in first:
            problems.append(Problem(label, int(r), "hw_code",
                                    f"licence listed twice for this enterprise and code "
                                    f"(first at row {first[p]})"))
        else:
            first[p] = int(r)


def _apply_licence_caps(needs: pd.DataFrame, needs_label: str, licences: pd.DataFrame,
                        label: str, taxonomy: Taxonomy,
                        problems: list[Problem]) -> pd.DataFrame:
    """Make each licence's capacity an exact bound on the receiver's intake of its code.

    The intake of code c at receiver r is the flow on every arc from an offer of a
    material with code c to a need of r. The bound sum(those flows) <= capacity is written
    on the need side: when exactly one need of r can take code c and only materials of
    code c serve it (a dedicated need), the need's quantity becomes min(quantity,
    capacity), which is the same constraint. When the capacity is at least the quantity of
    every need of r that code c can reach, it can never bind and nothing changes. Any
    other case (several needs, or a need also served by general materials, with a capacity
    that could bind) cannot be stated exactly on the need side and is an error naming the
    licence row: list the licensed intake as its own need of the hazardous material.
    """
    coded: dict[str, list[str]] = {}
    for slug, mat in taxonomy.materials.items():
        if mat.hazardous and mat.hw_code:
            coded.setdefault(mat.hw_code, []).append(slug)
    quantity = needs["quantity"].to_numpy(dtype=float).copy()
    original = np.full(len(needs), np.nan)
    ent = needs["enterprise_id"].to_numpy(dtype=object)
    mat_of = needs["material"].to_numpy(dtype=object)
    servers = {m: [o for o in taxonomy.materials if taxonomy.rule(m, o) is not None]
               for m in set(mat_of)}
    for r_id, code, capacity, row in zip(licences["enterprise_id"], licences["hw_code"],
                                         licences["capacity"], licences[ROW], strict=True):
        materials = set(coded.get(code, ()))
        if not materials:
            problems.append(Problem(label, int(row), "hw_code",
                                    f"no material of the dataset carries code {code}; the "
                                    "licence admits nothing", "warning"))
            continue
        reach = [i for i in np.flatnonzero(ent == r_id)
                 if materials & set(servers[mat_of[i]])]
        if not reach:
            problems.append(Problem(label, int(row), "enterprise_id",
                                    f"'{r_id}' has no need that a material of code {code} "
                                    "can serve; the licence admits nothing", "warning"))
            continue
        if capacity >= quantity[reach].sum():
            continue
        dedicated = len(reach) == 1 and set(servers[mat_of[reach[0]]]) <= materials
        if not dedicated:
            names = ", ".join(str(needs["id"].iat[i]) for i in reach)
            problems.append(Problem(label, int(row), "capacity",
                                    f"capacity {capacity:g} could bind across needs {names} "
                                    "that also take other materials or are several; state "
                                    f"the licensed intake as one need of the code-{code} "
                                    "material so the bound is exact"))
            continue
        i = reach[0]
        original[i] = quantity[i]
        quantity[i] = capacity
        problems.append(Problem(needs_label, int(needs[ROW].iat[i]), "quantity",
                                f"{quantity[i]:g} t/yr: capped from {original[i]:g} at the "
                                f"licensed capacity for {code} ({label} row {int(row)})",
                                "warning"))
    if np.isnan(original).all():
        return needs
    out = needs.copy()
    out["quantity"] = quantity
    out["unlicensed_quantity"] = original
    return out


def _build(tables: Mapping[str, RawTable], source: str, problems: list[Problem],
           taxonomy: Taxonomy) -> Dataset | None:
    parsed: dict[str, pd.DataFrame] = {}
    for kind, raw in tables.items():
        frame = _parse_table(kind, raw, problems)
        if frame is not None:
            parsed[kind] = frame
    # a table that is unusable (missing, or missing a column) is already reported; the
    # checks below still run on the others so that one run lists every problem
    ent = parsed.get("enterprises")
    offers = parsed.get("offers")
    needs = parsed.get("needs")
    labels = {kind: raw.label for kind, raw in tables.items()}
    ent_file = Path(labels.get("enterprises", "enterprises")).name
    known: pd.Index | None = None

    if ent is not None:
        _check_duplicates(ent, "id", labels["enterprises"], problems)
        for value, row in zip(ent["name"].tolist(), ent[ROW].tolist(), strict=True):
            if value == "":
                problems.append(Problem(labels["enterprises"], int(row), "name",
                                        "name is empty", "warning"))
        odd_sector = (ent["sector"] != "") & ~ent["sector"].str.match(_SECTOR)
        for value, row in zip(ent.loc[odd_sector, "sector"], ent.loc[odd_sector, ROW],
                              strict=True):
            problems.append(Problem(labels["enterprises"], int(row), "sector",
                                    f"'{value}' does not look like a GB/T 4754-2017 code "
                                    "(e.g. 4411, 3120, 3011)", "warning"))
        known = pd.Index(ent["id"].unique())
        ent = _to_wgs84(ent, labels["enterprises"], problems)

    if "substitutions" in parsed:
        taxonomy = _apply_substitutions(parsed["substitutions"], labels["substitutions"],
                                        taxonomy, problems)
    if "hazardous" in parsed:
        taxonomy = _apply_hazardous(parsed["hazardous"], labels["hazardous"], taxonomy,
                                    problems)
    if offers is not None:
        offers = month_columns.check_months(offers, labels["offers"], "offers", problems)
    if needs is not None:
        needs = month_columns.check_months(needs, labels["needs"], "needs", problems)
    for kind, frame, prefix in (("offers", offers, "O"), ("needs", needs, "N")):
        if frame is None:
            continue
        label = labels[kind]
        if known is not None:
            _check_references(frame, "enterprise_id", known, label,
                              ent_file, problems)
        _check_materials(frame, label, taxonomy, problems)
        missing = frame["id"] == ""
        frame.loc[missing, "id"] = [f"{prefix}{r}" for r in frame.loc[missing, ROW]]
        _check_duplicates(frame, "id", label, problems)
    for kind, frame in (("offers", offers), ("needs", needs)):
        if frame is not None:
            _check_estimates(frame, labels[kind], problems)
    if offers is not None:
        _check_baseline(offers, labels["offers"], problems)
    if needs is not None:
        _check_requirements(needs, labels["needs"], problems)
        _check_replaces(needs, labels["needs"], problems)
    for kind, frame in (("offers", offers), ("needs", needs)):
        if frame is not None:
            logistics_checks.check_listing_logistics(frame, labels[kind], problems)
    contracts = parsed.get("contracts")
    if contracts is not None:
        logistics_checks.check_contracts(contracts, labels["contracts"], offers, needs,
                                         problems)

    distances = parsed.get("distances")
    if distances is not None:
        label = labels["distances"]
        if known is not None:
            for col in ("from_id", "to_id"):
                _check_references(distances, col, known, label,
                                  ent_file, problems)
        same = (distances["from_id"] == distances["to_id"]) & (distances["from_id"] != "")
        for row in distances.loc[same, ROW]:
            problems.append(Problem(label, int(row), "to_id",
                                    "from_id and to_id are the same enterprise"))
        pair = distances["from_id"] + "\x1f" + distances["to_id"]
        first: dict[str, int] = {}
        for p, row in zip(pair, distances[ROW], strict=True):
            if p in first:
                problems.append(Problem(label, int(row), "to_id",
                                        f"pair listed twice (first at row {first[p]})"))
            else:
                first[p] = int(row)
    else:
        distances = pd.DataFrame({"from_id": pd.Series(dtype=object),
                                  "to_id": pd.Series(dtype=object),
                                  "distance_km": pd.Series(dtype=float)})

    transport = parsed.get("transport")
    if transport is not None:
        label = labels["transport"]
        named = transport[transport["material"] != ""]
        _check_materials(named, label, taxonomy, problems)
        _check_duplicates(transport, "material", label, problems, blank="(every material)")
        values = transport[["cny_per_unit_km", "loading_cny_per_unit", "kg_co2e_per_unit_km",
                            "cny_per_km_year", "truck_capacity_t", "cny_per_trip_km"]]
        logistics_checks.check_truck_columns(transport, label, problems)
        for row in transport.loc[values.isna().all(axis=1).to_numpy(), ROW]:
            problems.append(Problem(label, int(row), "cny_per_unit_km",
                                    "the row sets no value (cny_per_unit_km, "
                                    "loading_cny_per_unit or kg_co2e_per_unit_km)", "warning"))
    carbon = parsed.get("carbon")
    if carbon is not None:
        label = labels["carbon"]
        _check_materials(carbon, label, taxonomy, problems, column="need_material")
        _check_duplicates(carbon, "need_material", label, problems)

    licences = parsed.get("licences")
    if licences is not None:
        _check_licences(licences, labels["licences"], known, ent_file, problems)

    storage = parsed.get("storage")
    if storage is not None and offers is not None and needs is not None:
        storage = storage_table.check_storage(storage, labels["storage"], known, ent_file,
                                              taxonomy, offers, needs, problems)

    if ent is None or offers is None or needs is None:
        return None
    needs = check_grades(offers, needs, labels, problems, taxonomy)
    _warn_unused_attributes(offers, needs, labels, taxonomy, problems)
    if licences is not None and not any(p.severity == "error" for p in problems):
        needs = _apply_licence_caps(needs, labels["needs"], licences, labels["licences"],
                                    taxonomy, problems)
    if any(p.severity == "error" for p in problems):
        return None
    return Dataset(
        enterprises=ent.drop(columns=[ROW]).set_index("id").rename_axis("enterprise_id"),
        offers=offers.drop(columns=[ROW]).set_index("id").rename_axis("offer_id"),
        needs=needs.drop(columns=[ROW]).set_index("id").rename_axis("need_id"),
        distances=distances[["from_id", "to_id", "distance_km"]].reset_index(drop=True),
        taxonomy=taxonomy,
        source=source,
        warnings=tuple(p for p in problems if p.severity == "warning"),
        transport=(transport.drop(columns=[ROW]).reset_index(drop=True)
                   if transport is not None else _empty_frame(SPECS["transport"])),
        carbon=(carbon.drop(columns=[ROW]).reset_index(drop=True)
                if carbon is not None else _empty_frame(SPECS["carbon"])),
        licences=(licences.drop(columns=[ROW]).reset_index(drop=True)
                  if licences is not None else _empty_frame(SPECS["licences"])),
        contracts=(contracts.rename(columns={ROW: "row"}).reset_index(drop=True)
                   if contracts is not None else _empty_frame(SPECS["contracts"])),
        storage=(storage.drop(columns=[ROW]).reset_index(drop=True)
                 if storage is not None else _empty_frame(SPECS["storage"])),
    )


def _warn_unused_attributes(offers: pd.DataFrame, needs: pd.DataFrame,
                            labels: Mapping[str, str], taxonomy: Taxonomy,
                            problems: list[Problem]) -> None:
    """Catch attribute typos: a quality no rule or need reads, a requirement no offer states."""
    stated = {c[2:] for c in offers.columns if c.startswith("q.")}
    required = {c.split(".", 1)[1] for c in needs.columns if c.startswith(("min.", "max."))}
    used = taxonomy.quality_attributes() | required
    for attr in sorted(stated - used):
        problems.append(Problem(labels["offers"], 1, f"q.{attr}",
                                f"no rule or need limits '{attr}'; the column has no effect"
                                f"{_suggest(attr, used)}", "warning"))
    for attr in sorted(required - stated):
        problems.append(Problem(labels["needs"], 1, f"min/max.{attr}",
                                f"no offer states q.{attr}, so needs with this requirement "
                                f"cannot be served{_suggest(attr, stated)}", "warning"))


# ----------------------------------------------------------------------------- public API


def _read_tables(path: Path, problems: list[Problem],
                 renames: readers.Renames | None = None) -> dict[str, RawTable]:
    if path.is_dir():
        return _read_csv_folder(path, problems, renames)
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        if not path.exists():
            problems.append(Problem(str(path), None, None, "file not found"))
            return {}
        if _not_a_file(path, problems):
            return {}
        return _read_xlsx(path, problems, renames)
    if not path.exists():
        problems.append(Problem(str(path), None, None,
                                "not found (expected a folder of CSV files or an .xlsx)"))
    else:
        problems.append(Problem(str(path), None, None,
                                "expected a folder of CSV files or an .xlsx workbook"))
    return {}


def _normalised_build(tables: dict[str, RawTable], source: str, problems: list[Problem],
                      taxonomy: Taxonomy, renames: readers.Renames) -> Dataset | None:
    """Aliases, numbers and units as offices write them (symbiosis.readers.normalise), then
    the contract checks; problems name columns and rows as the user's sheet shows them."""
    contract = _contract()
    tables = readers.normalise(tables, SPECS, PREFIXES, taxonomy, contract, problems,
                               renames)
    dataset = _build(tables, source, problems, taxonomy)
    problems[:] = readers.restore(problems, renames)
    if dataset is not None:
        dataset = replace(dataset, warnings=tuple(p for p in problems
                                                  if p.severity == "warning"))
    return dataset


def validate_dataset(path: str | Path, taxonomy: Taxonomy | None = None) -> list[Problem]:
    """Every problem (errors and warnings) in the dataset at `path`, in file order."""
    problems: list[Problem] = []
    renames = readers.Renames()
    tables = _read_tables(Path(path), problems, renames)
    if tables:
        _normalised_build(tables, str(path), problems, taxonomy or load_taxonomy(), renames)
    return problems


def load_dataset(path: str | Path, taxonomy: Taxonomy | None = None) -> Dataset:
    """Read and validate a dataset; raise `InvalidDataError` listing every error.

    Raises:
        InvalidDataError: every error in the dataset (file, row, column), not only the
            first; warnings do not raise.
    """
    problems: list[Problem] = []
    renames = readers.Renames()
    tables = _read_tables(Path(path), problems, renames)
    dataset = _normalised_build(tables, str(path), problems, taxonomy or load_taxonomy(),
                                renames) if tables else None
    if dataset is None:
        raise InvalidDataError(problems)
    return dataset


def dataset_from_records(
    records: Mapping[str, list[Mapping[str, object]]],
    source: str = "records",
    taxonomy: Taxonomy | None = None,
    columns: Mapping[str, Iterable[str]] | None = None,
) -> Dataset:
    """Validate in-memory rows (the Python and HTTP APIs); labels name the table, e.g. `offers`.
    `columns` gives a table's header when its rows may not show every column (or none).

    Raises:
        InvalidDataError: every error in the records, as `load_dataset`.
    """
    problems: list[Problem] = []
    tables: dict[str, RawTable] = {}
    for name in TABLES:
        rows = records.get(name)
        if rows is None:
            if name in REQUIRED_TABLES:
                problems.append(Problem(name, None, None, "required table is missing"))
            continue
        header: list[str] = [str(c) for c in (columns or {}).get(name, ())]
        for row in rows:
            header += [str(k) for k in row if str(k) not in header]
        body = [[_cell_text(row.get(h)) for h in header] for row in rows]
        frame = pd.DataFrame(body, columns=list(range(len(header))), dtype=object)
        tables[name] = _table_from_rows(name, header, frame)
    dataset = _normalised_build(tables, source, problems, taxonomy or load_taxonomy(),
                                readers.Renames()) if not problems else None
    if dataset is None:
        raise InvalidDataError(problems)
    return dataset
