"""The one CSV writer for every table a person opens (CLI output folders, HTTP downloads).

- Numbers are written exactly: integers as integers (228000, not 228000.0), floats with the
  shortest text that reads back to the same double (Python's repr), so the rows of
  exchanges.csv add up to the totals in summary.json. NaN and missing values are empty cells.
- Text cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab
  or carriage return) are prefixed with a single quote, following the OWASP guidance on CSV
  injection (https://owasp.org/www-community/attacks/CSV_Injection); numbers are never
  touched, so a negative saving stays a number.
- UTF-8 with a byte-order mark by default: Excel on a Chinese Windows otherwise decodes the
  file as GBK and garbles Chinese names. `bom=False` gives plain UTF-8 for programs.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMULA_PREFIXES", "csv_cell", "csv_text", "frame_csv_text"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def csv_cell(value: Any) -> str:
    """One cell's text: exact numbers, empty for missing, formula-like text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalar
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing markers
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]],
             bom: bool = True) -> str:
    """A CSV document: the header, then each row (a sequence in column order or a mapping
    by column name; a mapping's missing keys are empty cells)."""
    buffer = io.StringIO()
    if bom:
        buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_cell(c) for c in columns])
    for row in rows:
        values = [row.get(c) for c in columns] if isinstance(row, Mapping) else row
        writer.writerow([csv_cell(v) for v in values])
    return buffer.getvalue()


_EXACT_INT = 2.0**53  # floats below this that are whole are written as integers


def _float_cells(values: np.ndarray) -> list[str]:
    """`csv_cell` of every float of a float column, whole numbers and the rest each in one
    vectorised step (repr through `map`, C speed): a province's exchanges.csv has a
    hundred thousand of them."""
    values = values.astype(np.float64, copy=False)
    out = np.full(len(values), "", dtype=object)
    finite = np.isfinite(values)
    whole = finite & (np.floor(values) == values) & (np.abs(values) < _EXACT_INT)
    if whole.any():
        out[whole] = values[whole].astype(np.int64).astype(str).astype(object)
    rest = finite & ~whole
    if rest.any():
        out[rest] = list(map(repr, values[rest].tolist()))
    return out.tolist()


# a text cell starting with a formula prefix, in a column's cells joined by newlines
_FORMULA_START = re.compile("\n[=+\\-@\t\r]")
# what makes the csv module quote a cell (QUOTE_MINIMAL, delimiter ",", quotechar '"',
# lineterminator "\r\n"); `test_frame_csv_text_quotes_as_the_csv_module` holds us to it
_NEEDS_QUOTES = re.compile('[,"\r\n]')


def _object_cells(values: Iterable[Any]) -> list[str]:
    """`csv_cell` of every value of a text column, plain strings on a short path: a column
    of text of which none starts with a formula prefix is returned as it is (one search
    over the joined column instead of a test per cell)."""
    values = list(values)
    if set(map(type, values)) <= {str} and not _FORMULA_START.search("\n" + "\n".join(values)):
        return values
    out: list[str] = []
    for v in values:
        if type(v) is str:
            out.append("'" + v if v.startswith(FORMULA_PREFIXES) else v)
        else:
            out.append(csv_cell(v))
    return out


def _quoted(cells: list[str]) -> list[str]:
    """One column's cells as the csv module writes them: a cell holding a comma, a quote or
    a line break in quotes, its quotes doubled; a column needing none is returned as it is."""
    if not _NEEDS_QUOTES.search("\x00".join(cells)):
        return cells
    # such columns (rule sources, notes) repeat a few texts: each distinct one quoted once
    quoted = {c: '"' + c.replace('"', '""') + '"' if _NEEDS_QUOTES.search(c) else c
              for c in set(cells)}
    return [quoted[c] for c in cells]


def _column_cells(column: pd.Series) -> list[str]:
    """Every cell of one column as `csv_cell` writes it, by the column's dtype."""
    dtype = column.dtype
    kind = getattr(dtype, "kind", "O")
    if type(dtype).__name__ == "StringDtype":  # pandas text (pandas 3's default `str`)
        return _object_cells(column.to_numpy(dtype=object).tolist())
    if not isinstance(dtype, np.dtype):  # other pandas extension dtypes: the general path
        return [csv_cell(v) for v in column.tolist()]
    values = column.to_numpy()
    if kind == "b":
        return ["true" if v else "false" for v in values.tolist()]
    if kind in "iu":
        return values.astype(str).astype(object).tolist()
    if kind == "f":
        return _float_cells(values)
    if kind == "O":
        return _object_cells(values.tolist())
    return [csv_cell(v) for v in column.tolist()]


def frame_csv_text(frame: pd.DataFrame, bom: bool = True) -> str:
    """A DataFrame (without its index) as `csv_text` writes it: each column's cells are
    made at once by dtype (`_column_cells`) and quoted as the csv module would
    (`_quoted`), then each row joined with commas; the text is the same as `csv_text` over
    `frame.itertuples()` (joining is 3-4x faster than `csv.writer.writerows` on a
    province's exchanges). Frames of fewer than two columns go through `csv.writer`, which
    writes a lone empty cell as `""`."""
    columns = [str(c) for c in frame.columns]
    cells: list[list[str]] = []
    floats: list[tuple[np.ndarray, list[str]]] = []  # float columns made so far
    for k in range(frame.shape[1]):
        column = frame.iloc[:, k]
        if isinstance(column.dtype, np.dtype) and column.dtype.kind == "f":
            # a column equal to one before (exchanges' four price columns are one array
            # under the default objective) has the same cells: equal floats, or NaN, or
            # zeros of either sign, which are all written alike
            values = column.to_numpy()
            same = next((c for v, c in floats if np.array_equal(v, values, equal_nan=True)),
                        None)
            if same is None:
                same = _column_cells(column)
                floats.append((values, same))
            cells.append(same)
        else:
            cells.append(_column_cells(column))
    buffer = io.StringIO()
    if bom:
        buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_cell(c) for c in columns])
    if len(cells) < 2:
        writer.writerows(zip(*cells, strict=True) if cells else ([] for _ in range(len(frame))))
        return buffer.getvalue()
    if len(frame):
        buffer.write("\r\n".join(map(",".join, zip(*map(_quoted, cells), strict=True))))
        buffer.write("\r\n")
    return buffer.getvalue()
