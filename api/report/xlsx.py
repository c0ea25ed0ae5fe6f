"""The report as an XLSX workbook (openpyxl): one sheet per table of the report model, real
numbers with Excel number formats, text cells that never turn into formulas, a bold frozen
header row and column widths fitted to their text (openpyxl has no autofit; East Asian wide
characters count twice)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from symbiosis.api.report.model import (
    Column,
    Kind,
    Report,
    RunOutputs,
    build_report,
    fmt_value,
    is_missing,
    num,
)
from symbiosis.i18n import t
from symbiosis.matching.summary import MatchSummary

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

__all__ = ["build_report_xlsx", "render_report_xlsx"]

# Excel number format per value kind
_XLSX_FORMAT: dict[str, str] = {"int": "#,##0", "qty": "#,##0", "km": "#,##0.0",
                                "money": "#,##0", "co2": "#,##0.0", "price": "#,##0.00",
                                "pct": "0.0%", "ratio": "0.000", "gap": "0.0E+00",
                                "seconds": "0.000", "num": "#,##0.00", "factor": "General"}
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")  # characters Excel refuses in a sheet name


def _display_width(text: str) -> int:
    """Columns a string takes in Excel: East Asian wide characters count twice."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _put_cell(ws: Worksheet, row: int, col: int, value: object, kind: Kind) -> str:
    """Write one cell as a real number (with a number format) or as text; returns the text
    a reader sees, for fitting the column width."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    cell = ws.cell(row=row, column=col)
    number = num(value) if kind != "text" else None
    if kind != "text" and number is not None and not isinstance(value, str):
        cell.value = int(number) if kind == "int" and number.is_integer() else number
        cell.number_format = _XLSX_FORMAT[kind]
        return fmt_value(number, kind)
    if kind != "text" and is_missing(value):
        return ""
    text = ILLEGAL_CHARACTERS_RE.sub("", fmt_value(value, "text"))
    cell.value = text
    cell.data_type = "s"  # a value starting with "=" stays text, never a formula
    return text


def _write_sheet(ws: Worksheet, columns: Sequence[Column], rows: Iterable[Sequence[Any]],
                 kinds: Callable[[int, int, Kind], Kind] | None = None) -> None:
    """Header row in bold, frozen; rows below; column widths fitted to their text."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="F3F6F9")
    widths = [_display_width(c.label) for c in columns]
    for j, c in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=j, value=c.label)
        cell.font = bold
        cell.fill = fill
        cell.alignment = Alignment(vertical="top", wrap_text=False)
    for i, row in enumerate(rows, start=2):
        for j, (c, v) in enumerate(zip(columns, row, strict=True), start=1):
            kind = kinds(i, j, c.kind) if kinds else c.kind
            shown = _put_cell(ws, i, j, v, kind)
            widths[j - 1] = max(widths[j - 1], _display_width(shown))
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = min(max(w + 2, 8), 80)
    ws.freeze_panes = "A2"


def _sheet_title(name: str, used: set[str]) -> str:
    """A valid, unique Excel sheet name (at most 31 characters, none of []:*?/\\)."""
    base = _SHEET_BAD.sub(" ", name)[:31] or "Sheet"
    title, n = base, 2
    while title.lower() in used:
        suffix = f" {n}"
        title = base[:31 - len(suffix)] + suffix
        n += 1
    used.add(title.lower())
    return title


def render_report_xlsx(report: Report, path: Path) -> None:
    """Write a built report as a workbook at `path` (overwritten in place)."""
    from openpyxl import Workbook

    lang = report.lang
    book = Workbook()
    book.properties.title = t("report.title", lang)
    book.properties.creator = "symbiosis"
    used: set[str] = set()
    kpi_sheet = book.active
    assert kpi_sheet is not None
    kpi_sheet.title = _sheet_title(t("report.sheet_kpis", lang), used)
    kpi_cols = [Column("label", t("report.label", lang), "text"),
                Column("value", t("report.value", lang), "num"),
                Column("unit", t("report.unit", lang), "text"),
                Column("source", t("report.source", lang), "text"),
                Column("confidence", t("report.confidence", lang), "text"),
                Column("key", t("report.key", lang), "text")]
    kpi_rows = [[k.label, k.value, k.unit, k.shown_source,
                 t("report.unverified", lang)
                 if k.flagged and k.confidence.lower() in ("", "unverified") else k.confidence,
                 k.key] for k in report.kpis]
    kpi_kinds = [k.kind for k in report.kpis]
    _write_sheet(kpi_sheet, kpi_cols, kpi_rows,
                 lambda i, j, kind: kpi_kinds[i - 2] if j == 2 else kind)
    # the one-page summary's tables and the parks, in the page's order, then the details
    summary_tables = [report.top_exchanges, report.blockers, report.parks, report.park_split]
    for table in [*(x for x in summary_tables if x is not None), *report.tables]:
        ws = book.create_sheet(_sheet_title(table.sheet, used))
        _write_sheet(ws, table.columns, table.rows)
    sources = report.sources
    if report.solver:
        ws = book.create_sheet(_sheet_title(t("report.sheet_solver", lang), used))
        solver_kinds = [k.kind for k in report.solver]
        _write_sheet(ws, kpi_cols[:4] + kpi_cols[5:],
                     [[k.label, k.value, k.unit, k.shown_source, k.key] for k in report.solver],
                     lambda i, j, kind: solver_kinds[i - 2] if j == 2 else kind)
    ws = book.create_sheet(_sheet_title(sources.sheet, used))
    _write_sheet(ws, sources.columns, sources.rows,
                 lambda i, j, _kind: sources.kind(i - 2, j - 1))
    book.save(path)


def build_report_xlsx(summary: MatchSummary, exchanges: pd.DataFrame, offers: pd.DataFrame,
                      enterprises: pd.DataFrame | None, needs: pd.DataFrame | None,
                      lang: str, path: str | Path) -> Path:
    """The report as an XLSX workbook at `path` (overwritten in place; `write_report` gives
    the atomic write): one sheet per table, real numbers with number formats.

    Raises:
        ValueError: an unknown language.
    """
    report = build_report(RunOutputs(summary, exchanges, offers, enterprises, needs), lang,
                          page=False)
    render_report_xlsx(report, Path(path))
    return Path(path)
