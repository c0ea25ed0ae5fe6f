"""Reading spreadsheets the way park offices keep them, before the dataset contract checks.

Three stages, called from `symbiosis.dataset` at its read stage:

* decoding and gridding: `decode` (UTF-8 with or without BOM, UTF-16 as Excel's "Unicode
  text" saves it, GB18030; an undecodable file names itself and the fix), `csv_grid`
  (comma or tab separated) and `xlsx_grids` (merged cells filled down, formulas without a
  saved value flagged, percent-formatted cells read as shown);
* `grid_table`: the header row found below title rows (a warning says which row), rows
  numbered as the spreadsheet shows them;
* `normalise`: headers and material names through the alias tables
  (`symbiosis.contract`), number cells (thousands separators, full-width digits, `12万`),
  and quantities converted from the row's `unit` (`symbiosis.units`) into the material's
  unit, with a warning for a quantity implausibly small for the enterprise's sector.

`restore` finally puts the user's own header text back into every `Problem`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from symbiosis import units
from symbiosis.contract import Contract, find_header, match_key, material_resolver
from symbiosis.errors import Problem
from symbiosis.taxonomy import Taxonomy

__all__ = ["ROW", "Renames", "csv_grid", "decode", "grid_table", "normalise", "restore",
           "xlsx_grids"]

ROW = "_row"  # the same name as symbiosis.dataset.ROW
_HEADER_SCAN = 20  # rows searched for the header below title rows


class _Raw(Protocol):
    """What `normalise` needs of symbiosis.dataset.RawTable (a frozen dataclass)."""

    @property
    def label(self) -> str: ...
    @property
    def header(self) -> list[str]: ...
    @property
    def frame(self) -> pd.DataFrame: ...


R = TypeVar("R", bound=_Raw)


@dataclass
class Renames:
    """Per table label: the user's header for each contract column, and the header's row."""

    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    header_row: dict[str, int] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)  # label -> contract table


# ----------------------------------------------------------------------------- decoding


def decode(path: Path, problems: list[Problem]) -> str | None:
    """The text of a CSV file, or None (with an error naming the file) if undecodable.

    UTF-8 (with or without BOM) first; UTF-16 with a BOM (Excel's "Unicode text") or
    without one but with the NUL bytes of UTF-16 ASCII; then GB18030, which Excel on a
    Chinese Windows writes, with a warning.
    """
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    else:
        head = data[:400]
        if len(head) >= 4 and head.count(b"\x00") * 3 >= len(head):
            order = "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
            try:
                text = data.decode(order)
                problems.append(Problem(str(path), None, None,
                                        f"read as {order.upper()} without a byte-order mark",
                                        "warning"))
                return text
            except UnicodeDecodeError:
                pass
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            pass
        else:
            # Excel on a Chinese Windows saves CSV as GBK/GB18030 by default
            problems.append(Problem(str(path), None, None, "not UTF-8; read as GB18030 (GBK)",
                                    "warning"))
            return text
    problems.append(Problem(str(path), None, None,
                            "cannot decode the file: it is not UTF-8, UTF-16 or GB18030 text. "
                            "Open it in Excel and save it as 'CSV UTF-8 (comma delimited)'"))
    return None


def csv_grid(text: str) -> list[list[str]]:
    """Every record of a CSV text as stripped cells; tab-separated when the first line has
    tabs and no commas (Excel's "Unicode text")."""
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    return [list(map(str.strip, rec))
            for rec in csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter)]


# ----------------------------------------------------------------------------- workbooks


@dataclass
class Sheet:
    """One worksheet as text cells, with what the reader had to do to get them."""

    name: str
    grid: list[list[str]]
    merged: list[tuple[str, int, str]] = field(default_factory=list)  # range, last row, value
    formulas: list[tuple[int, int]] = field(default_factory=list)  # (row, col), 0-based


def _cell_text(value: object, number_format: str = "General") -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, int | float) and "%" in number_format:
        return f"{float(value) * 100:.12g}%"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)


def _mark_formulas(sheet: Sheet, worksheet: Any) -> None:
    """List in `sheet.formulas` the empty cells that hold a formula without a saved value."""
    for r, row in enumerate(worksheet.iter_rows(values_only=True)):
        for c, value in enumerate(row):
            is_formula = (isinstance(value, str) and value.startswith("=")) or \
                type(value).__name__ in ("ArrayFormula", "DataTableFormula")
            if is_formula and r < len(sheet.grid) and c < len(sheet.grid[r]) \
                    and sheet.grid[r][c] == "":
                sheet.formulas.append((r, c))


def xlsx_grids(path: Path, problems: list[Problem]) -> dict[str, Sheet] | None:
    """Every worksheet of a workbook as text, by its own name; None if it cannot be opened.

    Merged ranges are filled from their top-left cell down their first column; a cell
    formatted as a percentage reads as shown (0.095 -> `9.5%`); a formula cell whose value
    was never saved (a file written by a program, not Excel) is listed in `formulas`.
    """
    import openpyxl  # lazy: only workbooks need it

    # the file is opened here, not by openpyxl: a workbook that fails to parse leaves no
    # file handle behind (openpyxl's own ZipFile is not closed when parsing raises)
    try:
        with path.open("rb") as handle:
            book = openpyxl.load_workbook(handle, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged or foreign file
        problems.append(Problem(str(path), None, None, f"cannot open workbook: {exc}"))
        return None
    sheets: dict[str, Sheet] = {}
    try:
        for ws in book.worksheets:
            grid = [[_cell_text(c.value, c.number_format) for c in row]
                    for row in ws.iter_rows()]
            sheet = Sheet(ws.title, grid)
            for rng in ws.merged_cells.ranges:
                r0, c0 = rng.min_row - 1, rng.min_col - 1
                if r0 >= len(grid):
                    continue
                value = grid[r0][c0] if c0 < len(grid[r0]) else ""
                for r in range(r0 + 1, min(rng.max_row, len(grid))):
                    while len(grid[r]) <= c0:
                        grid[r].append("")
                    grid[r][c0] = value
                if rng.max_row > rng.min_row and value:
                    sheet.merged.append((str(rng.coord), rng.max_row, value))
            sheets[ws.title] = sheet
    finally:
        book.close()
    blanks = [name for name, s in sheets.items() if any("" in row for row in s.grid)]
    if blanks:  # only an empty cell may hide a formula without a saved value
        with path.open("rb") as handle:
            try:
                formulas = openpyxl.load_workbook(handle, read_only=True, data_only=False)
            except Exception:
                return sheets
            try:
                for name in blanks:
                    _mark_formulas(sheets[name], formulas[name])
            finally:
                formulas.close()
    return sheets


# ----------------------------------------------------------------------------- header


def grid_table(label: str, table: str, grid: Sequence[Sequence[str]], contract: Contract,
               problems: list[Problem], sheet: Sheet | None = None, flag_long: bool = False
               ) -> tuple[list[str], pd.DataFrame, int] | None:
    """The header (found below any title rows), the body as a frame of text cells (columns
    0..n-1 plus `ROW`, the spreadsheet row number; blank rows dropped) and the header's row
    number; None (with an error) when there is no header. `flag_long` reports every row
    longer than the header (a CSV's stray delimiter), not only those with values beyond it.
    """
    at = find_header(contract, table, grid, _HEADER_SCAN)
    if at >= len(grid) or not any(grid[at]):
        problems.append(Problem(label, 1, None, "the file has no header row"))
        return None
    header = list(grid[at])
    while header and header[-1] == "":
        header.pop()
    width = len(header)
    if at > 0:
        problems.append(Problem(label, at + 1, None,
                                f"header taken from row {at + 1}; the {at} row(s) above it are "
                                "read as titles", "warning"))
    body: list[list[str]] = []
    numbers: list[int] = []
    records = grid[at + 1:]
    if set(map(len, records)) <= {width} and all(type(r) is list for r in records):
        # every record as wide as the header (the usual file): taken as they are
        body = list(records)  # type: ignore[arg-type]
        numbers = list(range(at + 2, len(grid) + 1))
    else:
        for i in range(at + 1, len(grid)):
            record = list(grid[i])
            if len(record) > width and (flag_long or any(record[width:])):
                problems.append(Problem(label, i + 1, None, f"row has {len(record)} fields "
                                        f"but the header has {width}"))
            body.append((record + [""] * width)[:width])
            numbers.append(i + 1)
    frame = pd.DataFrame(body, columns=list(range(width)), dtype=object).astype(str)
    frame[ROW] = np.array(numbers, dtype=np.int64)
    if width:
        frame = frame.loc[~(frame[list(range(width))] == "").all(axis=1)]
    frame = frame.reset_index(drop=True)
    if sheet is not None:
        for coord, last_row, value in sheet.merged:
            if last_row > at + 1:
                problems.append(Problem(label, None, None,
                                        f"merged cells {coord}: '{value}' filled into every "
                                        "row of the range", "warning"))
        for r, c in sheet.formulas:
            if r > at:
                name = header[c] if c < width else f"column {c + 1}"
                problems.append(Problem(label, r + 1, name,
                                        "formula without a saved value: open and save it in "
                                        "Excel"))
    return header, frame, at + 1


# ----------------------------------------------------------------------------- numbers

_THOUSANDS = re.compile(r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$")
_PLAIN = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_NUMBER_UNIT = re.compile(rf"^({_PLAIN})\s*(亿|万|千)?\s*(.*)$")
_MULTIPLIERS = {"亿": 1e8, "万": 1e4, "千": 1e3}  # Chinese numerals


@dataclass(frozen=True)
class Parsed:
    """A number cell taken apart: value (multiplier applied), unit text after it, and what
    was unusual about how it was written."""

    value: float | None
    unit: str = ""
    notes: tuple[str, ...] = ()


def parse_number(text: str) -> Parsed:
    """`12,000` -> 12000; `１２０` -> 120; `12万` -> 120000; `12万吨` -> 12 with unit `万吨`;
    `9.5%` -> 9.5 with the note `percent`. Text that is no number gives value None."""
    notes: list[str] = []
    plain = unicodedata.normalize("NFKC", text).strip()
    if plain != text.strip():
        notes.append("full-width characters")
    plain = plain.replace(" ", "")
    if plain.endswith("%"):
        notes.append("percent")
        plain = plain[:-1]
    if _THOUSANDS.match(plain):
        plain = plain.replace(",", "")
        notes.append("thousands separators")
    m = _NUMBER_UNIT.match(plain)
    if m is None:
        return Parsed(None)
    value = float(m.group(1))
    mult, rest = m.group(2), m.group(3)
    if mult and rest and units.lookup(mult + rest) is not None:
        return Parsed(value, mult + rest, (*notes, "unit in the cell"))
    if mult:
        value *= _MULTIPLIERS[mult]
        notes.append(f"'{mult}' multiplier")
    if rest:
        if units.lookup(rest) is None:
            return Parsed(None)
        return Parsed(value, rest, (*notes, "unit in the cell"))
    return Parsed(value, "", tuple(notes))


# ----------------------------------------------------------------------------- normalise


def _is_number_column(name: str, specs: Mapping[str, Any], prefixes: Sequence[str]) -> bool:
    spec = specs.get(name)
    if spec is not None:
        return bool(spec.kind == "number")
    return name.startswith(tuple(prefixes)) or name in units.RATE_COLUMNS


def _rows_text(rows: Iterable[int], limit: int = 5) -> str:
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def normalise(tables: MutableMapping[str, R], specs: Mapping[str, Iterable[Any]],
              prefixes: Mapping[str, Sequence[str]], taxonomy: Taxonomy, contract: Contract,
              problems: list[Problem], renames: Renames) -> dict[str, R]:
    """Contract headers, resolved material names, plain numbers and converted quantities.

    Each table's headers become contract names (the user's are kept in `renames`); material
    names in Chinese or synonyms become slugs; number cells lose thousands separators and
    full-width digits (one warning per column naming the rows); `quantity` with a `unit`
    (per row) is converted to the material's unit. Cells that stay unreadable are left as
    they are for the contract checks to report.
    """
    resolver = material_resolver(taxonomy)
    out: dict[str, R] = {}
    for kind, raw in tables.items():
        table_specs = {s.name: s for s in specs.get(kind, ())}
        table_prefixes = prefixes.get(kind, ())
        user: dict[str, str] = {}
        header: list[str] = []
        for name in raw.header:
            canon = contract.column_of(kind, name) if name else None
            if canon is None or canon in user:
                header.append(name)
                continue
            header.append(canon)
            if canon != name:
                user[canon] = name
        renames.columns[raw.label] = user
        renames.tables[raw.label] = kind
        frame = raw.frame.copy()
        positions = {n: i for i, n in reversed(list(enumerate(header))) if n}
        shown = {n: user.get(n, n) for n in positions}
        for col in ("material", "need_material", "offer_material"):
            if col in positions:
                _resolve_materials(frame, positions[col], raw.label, shown[col], resolver,
                                   taxonomy, problems)
        cell_units: dict[int, str] = {}
        for name, pos in positions.items():
            if not _is_number_column(name, table_specs, table_prefixes):
                continue
            cell_units.update(_normalise_numbers(frame, pos, raw.label, shown[name],
                                                 name, problems,
                                                 keep_units=name == "quantity"))
        if "quantity" in positions and kind in ("offers", "needs"):
            units.convert_quantities(frame, positions, shown, cell_units, raw.label, taxonomy,
                                     problems)
            for rate in units.RATE_COLUMNS:  # consumed by the conversion
                if rate in positions:
                    header[positions[rate]] = ""
                    frame[positions[rate]] = ""
        out[kind] = dataclasses.replace(raw, header=header, frame=frame)  # type: ignore[type-var]
    if "offers" in out and "enterprises" in out:
        units.warn_implausible(out["offers"], out["enterprises"], taxonomy, renames,
                               problems)
    return out


def _resolve_materials(frame: pd.DataFrame, pos: int, label: str, shown: str,
                       resolver: Mapping[str, str], taxonomy: Taxonomy,
                       problems: list[Problem]) -> None:
    values = frame[pos]
    mapped: dict[str, str] = {}
    for value in values.unique():
        if value == "" or value in taxonomy.materials:
            continue
        slug = resolver.get(match_key(value))
        if slug is not None:
            mapped[value] = slug
    if not mapped:
        return
    for value, slug in mapped.items():
        first = int(frame.loc[values == value, ROW].iloc[0])
        mat = taxonomy.materials[slug]
        problems.append(Problem(label, first, shown,
                                f"'{value}' read as material '{slug}' ({mat.name_zh}, "
                                f"{mat.name_en})", "warning"))
    frame[pos] = values.map(lambda v: mapped.get(v, v))


# a column of cells joined by newlines, every cell empty or a plain number; the atomic
# groups (Python 3.11) keep a failed match from backtracking across cells
_ALL_PLAIN = re.compile(rf"(?>(?:{_PLAIN})?)(?:\n(?>(?:{_PLAIN})?))*")


def _all_plain(values: pd.Series) -> bool:
    """True when every cell of the column is empty or a plain number: one regex over the
    joined column instead of pandas' per-cell `str.fullmatch` (a province's 36 number
    columns took ~20 ms that way). False whenever unsure (a cell with a line break or not
    text, a number the greedy match cuts short): the caller then checks cell by cell."""
    cells = values.tolist()
    if not set(map(type, cells)) <= {str}:
        return False
    text = "\n".join(cells)
    if text.count("\n") != max(len(cells) - 1, 0):  # a cell holds a line break itself
        return False
    return _ALL_PLAIN.fullmatch(text) is not None


def _normalise_numbers(frame: pd.DataFrame, pos: int, label: str, shown: str, name: str,
                       problems: list[Problem], keep_units: bool) -> dict[int, str]:
    """Rewrite the column's cells as plain numbers; return {frame index: unit text} for
    cells that carried a unit (only when `keep_units`)."""
    values = frame[pos]
    if _all_plain(values):
        return {}
    simple = values.str.fullmatch(_PLAIN) | (values == "")
    if simple.all():
        return {}
    found: dict[str, list[int]] = {}
    cell_units: dict[int, str] = {}
    new = values.copy()
    for i in np.flatnonzero(~simple.to_numpy()):
        parsed = parse_number(values.iat[i])
        if parsed.value is None or (parsed.unit and not keep_units):
            continue
        value = parsed.value
        if "percent" in parsed.notes and not name.endswith("_pct"):
            value /= 100
        new.iat[i] = f"{value:.15g}"
        if parsed.unit:
            cell_units[int(frame.index[i])] = parsed.unit
        row = int(frame[ROW].iat[i])
        for note in parsed.notes:
            found.setdefault(note, []).append(row)
    frame[pos] = new
    for note, rows in found.items():
        if note == "percent":
            what = ("read as the percentage shown (e.g. 0.095 shown as 9.5 % -> 9.5)"
                    if name.endswith("_pct") else "read as fractions (e.g. 9.5 % -> 0.095)")
            problems.append(Problem(label, rows[0], shown,
                                    f"percent values {what}: rows {_rows_text(rows)}",
                                    "warning"))
        else:
            problems.append(Problem(label, rows[0], shown,
                                    f"numbers written with {note} read as plain numbers: "
                                    f"rows {_rows_text(rows)}", "warning"))
    return cell_units


# ----------------------------------------------------------------------------- problems


def restore(problems: Iterable[Problem], renames: Renames) -> list[Problem]:
    """Problems naming columns as the user wrote them, header rows where the header is."""
    out: list[Problem] = []
    for p in problems:
        user = renames.columns.get(p.file, {})
        column, row, message = p.column, p.row, p.message
        if column in user:
            column = user[column]
        if row == 1 and p.file in renames.header_row:
            row = renames.header_row[p.file]
        out.append(dataclasses.replace(p, column=column, row=row, message=message)
                   if (column, row, message) != (p.column, p.row, p.message) else p)
    return out
