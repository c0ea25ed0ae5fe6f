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
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

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
    text = str(value)
    if text != text:  # pd.NA / NaT-like objects compare unequal to themselves
        return ""
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


def frame_csv_text(frame: pd.DataFrame, bom: bool = True) -> str:
    """A DataFrame (without its index) as `csv_text` writes it."""
    columns = [str(c) for c in frame.columns]
    return csv_text(columns, frame.itertuples(index=False, name=None), bom=bom)
