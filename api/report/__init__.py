"""The match report: the KPIs a Hunan park reports against, as one offline HTML page and an
XLSX workbook, in Chinese or English; and the plots of a utilization/cost/CO2 frontier.

The report is built from a match output folder (the files `matching.result.write_outputs`
writes: summary.json, exchanges.csv, offers.csv, and enterprises.csv / needs.csv when the run
produced them), not from the in-memory result, so a stored run can be reported again later.

- `model`: reads the folder (the only code that knows summary.json's keys) and builds one
  language-resolved `Report` (KPI rows and tables with a value kind per column);
- `html` + `templates/`: the page, from Jinja2 templates with autoescape;
- `xlsx`: the workbook (openpyxl);
- `plots`: the frontier PNG and interactive HTML;
- `numbers`: the one rule for writing amounts (three significant figures, 万/亿);
- `pdf`: report.html printed to PDF by headless Chromium;
- `fonts`: the CJK font for plots (and the warning when there is none);
- `files`: write_report, atomic writes.

Every word comes from the message catalogue (`symbiosis.i18n`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symbiosis.api.report.files import DEFAULT_FORMATS, REPORT_FORMATS, write_report
    from symbiosis.api.report.html import build_report_html
    from symbiosis.api.report.model import LANGS, fmt_value, read_outputs
    from symbiosis.api.report.numbers import fmt_amount
    from symbiosis.api.report.pdf import PdfUnavailableError, chromium_path
    from symbiosis.api.report.plots import FRONTIER_COLUMNS, write_frontier_plots
    from symbiosis.api.report.xlsx import build_report_xlsx

__all__ = [
    "DEFAULT_FORMATS",
    "FRONTIER_COLUMNS",
    "LANGS",
    "REPORT_FORMATS",
    "PdfUnavailableError",
    "build_report_html",
    "build_report_xlsx",
    "chromium_path",
    "fmt_amount",
    "fmt_value",
    "read_outputs",
    "write_frontier_plots",
    "write_report",
]

# name -> submodule: each loads on first use (PEP 562), so that importing one part does not
# load Jinja2 and the writers with it (~18 ms of a province run's start-up)
_HOME = {"DEFAULT_FORMATS": "files", "REPORT_FORMATS": "files", "write_report": "files",
         "build_report_html": "html", "LANGS": "model", "fmt_value": "model",
         "read_outputs": "model", "fmt_amount": "numbers", "PdfUnavailableError": "pdf",
         "chromium_path": "pdf", "FRONTIER_COLUMNS": "plots",
         "write_frontier_plots": "plots", "build_report_xlsx": "xlsx"}


def __getattr__(name: str) -> Any:
    """The public names, imported from their submodule when first asked for."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
